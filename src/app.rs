//! The event loop: one inbox of [`Msg`]s (keys, engine, probes, ticks, signals), `update`,
//! effects, and a coalesced redraw only when something visible changed.

use crate::config::{Keymap, Stack, Theme};
use crate::engine::{self, Endpoint};
use crate::msg::{Effect, Msg};
use crate::state::AppState;
use crate::terminal::Guard;
use crate::ui::{self, View};
use crate::update::update;
use color_eyre::Result;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// Wall-clock refresh for uptimes; they are shown in minutes, so this is plenty.
const TICK: Duration = Duration::from_secs(10);

pub struct Setup {
    pub endpoint: Endpoint,
    pub keymap: Keymap,
    pub theme: Theme,
    pub stack: Stack,
    pub read_only: bool,
    pub project: Option<String>,
    pub state_dir: std::path::PathBuf,
    pub local_state: bool,
    /// The environment operated (`--env`), if any.
    pub environment: Option<crate::domain::EnvBadge>,
    /// Every environment of the config, for the picker.
    pub environments: Vec<crate::envs::Target>,
}

/// Run the panel until it quits. `Ok(Some(name))`: the operator chose environment `name` in
/// the picker (the caller opens it).
pub async fn run(setup: Setup) -> Result<Option<String>> {
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let resync = setup.stack.resync();
    let handle = engine::spawn(
        setup.endpoint.clone(),
        engine::Options {
            project: setup.project.clone(),
            resync,
            masker: setup.stack.masker.clone(),
            timeline_since: setup.stack.timeline_since(),
            timeline_keep: setup.stack.timeline_keep(),
        },
        tx.clone(),
    );
    crate::probe::spawn_all(&setup.stack, &tx);
    let notifier = crate::notify::Notifier::spawn(&setup.stack.config.notify).with_lease(&setup.state_dir);
    let window_tx = crate::observe::configured(&setup.stack)
        .then(|| crate::observe::spawn(&setup.stack, tx.clone(), notifier.clone()));
    let host_on = setup.stack.config.host.enabled_for(&setup.endpoint.host);
    if host_on {
        crate::observe::host::spawn(setup.stack.config.host.clone(), tx.clone(), notifier.clone());
    } else if crate::domain::is_remote(&setup.endpoint.host) && setup.stack.config.host.enabled != Some(false) {
        // A remote engine's machine: its node metrics, when Prometheus is configured.
        crate::observe::node::spawn(&setup.stack, setup.stack.config.host.clone(), tx.clone(), notifier.clone());
    }
    crate::runner::spawn_history_poller(
        setup.state_dir.clone(),
        crate::ops::backup::root(&setup.state_dir, &setup.stack),
        Some(crate::runner::Readback {
            masker: setup.stack.masker.clone(),
            since: setup.stack.timeline_since(),
            keep: setup.stack.timeline_keep(),
            project: setup.project.clone(),
        }),
        tx.clone(),
    );
    let mut runner = crate::runner::Runner::new(
        setup.endpoint.clone(),
        setup.stack.clone(),
        setup.state_dir.clone(),
        setup.read_only,
        setup.project.clone(),
        tx.clone(),
        notifier,
    );
    runner.local_state = setup.local_state;
    spawn_signals(tx.clone())?;
    spawn_ticks(tx.clone());

    let mut state = AppState::new(
        &setup.endpoint.host,
        &setup.endpoint.source,
        jiff::Timestamp::now(),
        setup.stack.buffer_lines(),
        setup.stack.tail(),
    );
    state.read_only = setup.read_only;
    state.environment.clone_from(&setup.environment);
    state.environments = setup
        .environments
        .iter()
        .map(|t| crate::domain::EnvSummary {
            name: t.name.clone(),
            kind: t.kind.clone(),
            engine: None,
            alerts: None,
            latched: None,
        })
        .collect();
    state.shared_store = crate::store::shared::current().map(|s| s.shown());
    state.tz = crate::timearg::local_zone();
    state.kill_switch_targets = setup.stack.kill_switch_targets();
    state.backup_jobs = setup.stack.config.backup.jobs.iter().map(|j| j.name.clone()).collect();
    state.restorable = setup.stack.restorable_jobs();
    state.project = setup.project.clone();
    state.observe.configured = window_tx.is_some();
    state.services.hidden = setup.stack.hidden();

    // The compose files are on the engine's host: read here only when that is this machine.
    let (compose_tx, compose_rx) = tokio::sync::watch::channel(crate::drift::Sources::new());
    if !crate::domain::is_remote(&setup.endpoint.host) {
        crate::drift::watch(compose_rx, tx.clone(), setup.stack.masker.clone());
    }
    let mut sources_seen = 0;
    let mut guard = Guard::enter(setup.stack.mouse())?;
    let mut fatal_rx = catch_background_panics();
    #[cfg(debug_assertions)]
    if std::env::var_os("STACKDECK_TEST_TASK_PANIC").is_some() {
        // Test seam (debug builds only): a background task that dies, as a bad value once did.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            panic!("STACKDECK_TEST_TASK_PANIC: deliberate panic in a background task");
        });
    }
    let mut fatal: Option<String> = None;
    let input = crate::input::spawn(tx.clone())?;
    let mut pace = crate::pace::Pace::new(tokio::time::Instant::now());
    'panel: loop {
        if state.dirty && tokio::time::Instant::now() >= pace.due() {
            if state.ui.panel_log {
                // Our own log lines reach the widget's buffer here, not from a 10 ms
                // polling thread (tui-logger's init_logger would start one).
                tui_logger::move_events();
            }
            let view = View { state: &state, theme: &setup.theme, keymap: &setup.keymap, stack: &setup.stack };
            let area = match guard.terminal.draw(|f| ui::draw(f, &view)) {
                Ok(frame) => frame.area,
                // The terminal is gone (an ssh connection dropped: EIO, with the SIGHUP maybe
                // still on its way). End as on SIGHUP: running operations finish and are
                // recorded below; returning the error here would end the process under them.
                Err(e) => {
                    tracing::warn!("the terminal is gone ({e}): the panel ends");
                    break 'panel;
                }
            };
            let zones = ui::zones(&view, area);
            state.dirty = false;
            if (area.width, area.height) != state.ui.screen || zones != state.ui.zones {
                let (w, h) = (area.width, area.height);
                let fx = update(&mut state, &setup.keymap, Msg::Screen { w, h, zones });
                debug_assert!(fx.is_empty(), "the screen's layout starts nothing: {fx:?}");
            }
            pace.drawn(tokio::time::Instant::now());
            // Test seam (debug builds only): prove the panic path restores the terminal.
            #[cfg(debug_assertions)]
            if std::env::var_os("STACKDECK_TEST_PANIC").is_some() && state.engine.info.is_some() {
                panic!("STACKDECK_TEST_PANIC: deliberate panic after a frame");
            }
        }
        let frame_due = state.dirty.then(|| pace.due());
        let msg = tokio::select! {
            m = rx.recv() => m,
            f = fatal_rx.recv() => {
                fatal = f.or_else(|| Some("a background task failed".into()));
                break;
            }
            () = async { tokio::time::sleep_until(frame_due.unwrap_or_else(tokio::time::Instant::now)).await }, if frame_due.is_some() => None,
        };
        let Some(msg) = msg else { continue };
        // Take everything already waiting before drawing: one frame per burst.
        let mut batch = vec![msg];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        for m in batch {
            for fx in update(&mut state, &setup.keymap, m) {
                match fx {
                    Effect::FollowLogs { container, generation, tail, since } => {
                        handle.send(engine::Command::FollowLogs { container, generation, tail, since });
                    }
                    Effect::FollowMerged { sources, generation, tail, since } => {
                        handle.send(engine::Command::FollowMerged { sources, generation, tail, since });
                    }
                    Effect::StopLogs => handle.send(engine::Command::StopLogs),
                    Effect::Stats(on) => handle.send(engine::Command::Stats(on)),
                    Effect::RunOp { id, request } => runner.run(id, request),
                    Effect::CancelOp { id } => runner.cancel(id),
                    Effect::LoadTags { target, image } => runner.load_tags(target, image),
                    Effect::PinPreview { target } => runner.pin_preview(target),
                    Effect::SummarizeEnvironments => crate::envs::spawn(&setup.environments, &tx),
                    Effect::Inspect { container } => {
                        let (ep, tx, m) = (setup.endpoint.clone(), tx.clone(), setup.stack.masker.clone());
                        tokio::spawn(async move {
                            let r = engine::inspect::inspect(&ep, &container, &m).await;
                            let _ = tx.send(Msg::Inspected(r)).await;
                        });
                    }
                    Effect::Export(e) => {
                        let (dir, tx, m) = (setup.state_dir.clone(), tx.clone(), setup.stack.masker.clone());
                        tokio::spawn(async move {
                            let r = tokio::task::spawn_blocking(move || {
                                crate::export::write(&dir, &e, &m, jiff::Timestamp::now())
                            })
                            .await
                            .unwrap_or_else(|e| Err(format!("the export task failed: {e}")));
                            let _ = tx.send(Msg::Exported(r)).await;
                        });
                    }
                    Effect::Exec { target, cmd } => {
                        let x = crate::exec::Exec {
                            endpoint: &setup.endpoint,
                            state_dir: &setup.state_dir,
                            project: setup.project.as_deref(),
                            read_only: setup.read_only,
                            masker: &setup.stack.masker,
                        };
                        // Nothing of the panel reads or draws while the shell has the terminal.
                        input.pause();
                        crate::terminal::suspend(&target);
                        let r = crate::exec::run(&x, &target, &cmd, true).await;
                        if let Err(e) = crate::terminal::resume(&mut guard) {
                            tracing::warn!("the terminal is gone ({e}): the panel ends");
                            break 'panel;
                        }
                        input.resume();
                        state.ui.notice = Some(match r {
                            Ok(code) => format!(
                                "shell in {target} ended ({})",
                                code.map_or_else(|| "exit code unknown".into(), |c| format!("exit {c}"))
                            ),
                            Err(e) => format!("exec: {e}"),
                        });
                        state.dirty = true;
                    }
                    Effect::SetWindow(w) => {
                        if let Some(wt) = &window_tx {
                            let _ = wt.send(w);
                        }
                    }
                }
            }
        }
        if state.services.generation != sources_seen {
            sources_seen = state.services.generation;
            let sources = crate::state::compose::sources(state.services.containers.values());
            compose_tx.send_if_modified(|s| {
                let changed = *s != sources;
                if changed {
                    *s = sources;
                }
                changed
            });
        }
        if state.quit {
            break;
        }
    }
    drop(guard);
    if let Some(why) = &fatal {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "stackdeck: stopping: {why}");
    }
    let busy = runner.busy();
    if busy > 0 {
        use std::io::Write;
        // The terminal may be gone (SIGHUP): never panic on writing.
        let _ = writeln!(
            std::io::stderr(),
            "stackdeck: waiting for {busy} running operation(s) to finish (they are recorded in the history)…"
        );
        runner.finish_all().await;
    }
    match fatal {
        // The terminal is restored and running operations have ended: now say it and exit non-zero.
        Some(why) => Err(color_eyre::eyre::eyre!(
            "{why}\nThe panel stopped because one of its tasks failed; the terminal was restored. Operations that were running are marked interrupted when stackdeck next starts."
        )),
        None => Ok(state.switch_to.take()),
    }
}

/// A panic in a background task or thread (an engine, observer or operation task) must take
/// the panel down cleanly: without this, tokio keeps the panel running on a dead task (showing
/// "connected" while nothing updates) and ratatui's hook half-restores the terminal under it.
/// Such a panic is reported to the loop, which restores the terminal, says why, and exits 1.
/// A panic of the loop itself keeps the usual path (terminal restored, then the report). The
/// loop is the runtime's `block_on` on the UI thread, where the panel's tasks run too (a
/// current-thread runtime): a panic there is the loop's only outside of any task.
fn catch_background_panics() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let ui = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == ui && tokio::task::try_id().is_none() {
            previous(info);
            return;
        }
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let thread = match (tokio::task::try_id(), std::thread::current().name()) {
            (Some(_), _) => "a background task".to_owned(),
            (None, name) => name.unwrap_or("a background thread").to_owned(),
        };
        let _ = tx.send(crate::logtext::inert(&format!("internal error in {thread}{at}: {what}")).into_owned());
    }));
    rx
}

fn spawn_signals(tx: mpsc::Sender<Msg>) -> Result<()> {
    for (kind, name) in
        [(SignalKind::terminate(), "SIGTERM"), (SignalKind::hangup(), "SIGHUP"), (SignalKind::interrupt(), "SIGINT")]
    {
        let mut s = signal(kind)?;
        let tx = tx.clone();
        tokio::spawn(async move {
            if s.recv().await.is_some() {
                tracing::info!("received {name}, restoring the terminal and exiting");
                let _ = tx.send(Msg::Signal(name)).await;
            }
        });
    }
    // The terminal's size changed: the next frame is drawn at the new size.
    let mut winch = signal(SignalKind::window_change())?;
    tokio::spawn(async move {
        while winch.recv().await.is_some() {
            if tx.send(Msg::Resize).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

fn spawn_ticks(tx: mpsc::Sender<Msg>) {
    tokio::spawn(async move {
        let mut t = tokio::time::interval(TICK);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t.tick().await;
        loop {
            t.tick().await;
            if tx.send(Msg::Tick(jiff::Timestamp::now())).await.is_err() {
                return;
            }
        }
    });
}
