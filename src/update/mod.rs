//! The state machine: `update(state, msg) -> effects`. Pure: no I/O, no clocks, no ratatui.
//!
//! - this file: messages from the engine, the observers, the store and the operations;
//! - `keys`: a key press, handled by the focused pane's handler, falling back to the global one;
//! - `popups`: the actions' popups (confirmations, pickers) and starting operations.

mod environments;
mod keys;
mod mouse;
mod popups;
mod timeline;

pub use popups::picker_choices;

use crate::config::Keymap;
use crate::domain::Pane;
use crate::logtext::LogLine;
use crate::msg::{Effect, EngineEvent, Msg, OpEvent};
use crate::state::logs::StreamState;
use crate::state::services::Probe;
use crate::state::{AppState, Conn, Popup};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Apply one message. Sets `state.dirty` when something visible changed.
pub fn update(state: &mut AppState, keymap: &Keymap, msg: Msg) -> Vec<Effect> {
    let mut fx = Vec::new();
    match msg {
        Msg::Key(k) => {
            if k.kind != KeyEventKind::Release {
                state.ui.notice = None;
                keys::on_key(state, keymap, &k, &mut fx);
                state.dirty = true;
            }
        }
        Msg::Resize => state.dirty = true,
        Msg::Screen { w, h, zones } => {
            state.ui.screen = (w, h);
            state.ui.zones = zones;
            keys::clamp_help(state, keymap);
        }
        Msg::Mouse(m) => mouse::on_mouse(state, keymap, &m, &mut fx),
        Msg::Tick(now) => {
            state.now = now;
            sample_availability(state, now);
            state.dirty = true;
        }
        Msg::Observed(o) => {
            let ob = &mut state.observe;
            let visible = ob.source != o.source
                || ob.alerts != o.alerts
                || (matches!(state.ui.detail, Pane::Charts) && ob.panels != o.panels);
            ob.source = o.source;
            ob.panels = o.panels;
            ob.alerts = o.alerts;
            ob.last_round = Some(state.now);
            ob.selected = ob.selected.min(ob.panels.len().saturating_sub(1));
            state.timeline.alerts(ob.alerts.iter().chain(&ob.host_alerts), state.now);
            if visible {
                state.dirty = true;
            }
        }
        Msg::Host(r) => {
            let ob = &mut state.observe;
            let visible = ob.host_alerts != r.alerts || matches!(state.ui.detail, Pane::Alerts);
            ob.host = Some(r.sample);
            ob.host_alerts = r.alerts;
            state.timeline.alerts(ob.alerts.iter().chain(&ob.host_alerts), state.now);
            if visible {
                state.dirty = true;
            }
        }
        Msg::Signal(_) => state.quit = true,
        Msg::Environment(s) => environments::summary(state, s),
        Msg::Inspected(r) => {
            if let Some(Popup::Inspect { view, .. }) = &mut state.ui.popup {
                *view = Some(r);
                state.dirty = true;
            }
        }
        Msg::Probe(p) => {
            let new = Probe { ok: p.ok, detail: p.detail };
            if state.services.probes.get(&p.key) != Some(&new) {
                state.services.probes.insert(p.key, new);
                state.dirty = true;
            }
        }
        Msg::Swarm(view) => {
            if state.swarm != view {
                state.swarm = view;
                state.dirty = true;
            }
        }
        Msg::Engine(ev) => {
            let containers = matches!(ev, EngineEvent::Snapshot(_) | EngineEvent::Upsert(_) | EngineEvent::Removed(_));
            on_engine(state, ev, &mut fx);
            if containers {
                state.compose.refresh(&state.services.containers, &state.history.records);
            }
        }
        Msg::Op(OpEvent::Progress { id, line }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                if op.lines.len() >= 500 {
                    op.lines.remove(0);
                }
                op.lines.push(line);
                state.dirty = true;
            }
        }
        Msg::Op(OpEvent::Committed { id }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                op.cancellable = false;
                state.dirty = true;
            }
        }
        Msg::Op(OpEvent::Done { id, result }) => {
            if let Some(op) = state.ops.iter_mut().find(|o| o.id == id) {
                state.ui.notice = Some(match &result {
                    Ok(s) => s.clone(),
                    Err(e) => format!("FAILED: {e}"),
                });
                // A start-first deploy that cannot be done: offer the same deploy stop-first,
                // confirmed on its own (the service is down while the new container starts).
                let offer = match (&op.request, &result) {
                    (crate::domain::OpRequest::Deploy { target, image, stop_first: false }, Err(e))
                        if e.contains(crate::domain::START_FIRST_BLOCKED) =>
                    {
                        Some(crate::domain::OpRequest::Deploy {
                            target: target.clone(),
                            image: image.clone(),
                            stop_first: true,
                        })
                    }
                    (crate::domain::OpRequest::Release { targets, tag, stop_first: false }, Err(e))
                        if e.contains(crate::domain::START_FIRST_BLOCKED) =>
                    {
                        Some(crate::domain::OpRequest::Release {
                            targets: targets.clone(),
                            tag: tag.clone(),
                            stop_first: true,
                        })
                    }
                    _ => None,
                };
                op.done = Some(result);
                op.cancellable = false;
                op.dismissed = false;
                state.dirty = true;
                if let Some(req) = offer {
                    op.dismissed = true;
                    let popup = popups::confirmation(state, req);
                    state.offer_popup(popup);
                }
            }
        }
        Msg::Compose(read) => {
            let changed = state.compose.set(read);
            if state.compose.refresh(&state.services.containers, &state.history.records) || changed {
                state.dirty = true;
            }
        }
        Msg::History { records, kill_switches, backups, chain } => {
            let h = &mut state.history;
            if h.chain_broken != chain {
                h.chain_broken = chain;
                state.dirty = true;
            }
            if !h.store_attached || h.records != records || h.kill_switches != kill_switches || h.backups != backups {
                h.records = records;
                h.order = crate::state::history::threaded(&h.records);
                h.kill_switches = kill_switches;
                h.backups = backups;
                h.store_attached = true;
                h.scroll = h.scroll.min(h.order.len().saturating_sub(1));
                // A removed latched service keeps a row, inside the panel's scope only: with
                // `--project` another project's latch (same state dir) is in the banner, not in
                // the list or its count.
                let latched = h
                    .kill_switches
                    .iter()
                    .map(|k| crate::domain::ServiceKey::parse(&k.service))
                    .filter(|k| state.project.as_deref().is_none_or(|p| k.project.as_deref() == Some(p)))
                    .collect();
                state.services.set_latched(latched);
                state.timeline.history(&h.records, &h.kill_switches);
                state.compose.refresh(&state.services.containers, &state.history.records);
                state.dirty = true;
                hold_latches(state, &mut fx);
            }
        }
        Msg::PinPreview { target, preview } => {
            state.dirty = true;
            match preview {
                Ok((diff, line)) => {
                    let diff = diff.lines().map(|l| crate::logtext::inert(l).into_owned()).collect();
                    state.offer_popup(Popup::Pin { target, diff, line: crate::logtext::inert(&line).into_owned() });
                }
                Err(e) => state.ui.notice = Some(format!("pin {target}: {}", crate::logtext::inert(&e))),
            }
        }
        Msg::Exported(r) => {
            state.ui.notice = Some(match r {
                Ok((path, n)) => format!("exported {n} lines to {}", path.display()),
                Err(e) => format!("export failed: {}", crate::logtext::inert(&e)),
            });
            state.dirty = true;
        }
        Msg::Tags { target, tags } => {
            if let Some(Popup::Picker { target: t, tags: slot, .. }) = state.ui.popup.as_mut()
                && *t == target
            {
                *slot = Some(tags);
                state.dirty = true;
            }
        }
    }
    timeline::refresh_if_shown(state);
    fx
}

/// Focus a pane (any but Services also becomes the pane shown below Services); the log follow
/// and the stats stream follow what is shown.
pub(super) fn focus(state: &mut AppState, pane: Pane, fx: &mut Vec<Effect>) {
    state.ui.focus = pane;
    if pane != Pane::Services {
        state.ui.detail = pane;
    }
    sync_log_target(state, fx);
    let want = state.ui.detail == Pane::Metrics;
    if want != state.metrics.streaming {
        state.metrics.streaming = want;
        fx.push(Effect::Stats(want));
    }
}

/// The longest text a prompt takes.
const MAX_INPUT: usize = 256;

/// A printable key typed into a prompt (no control or alt chords).
fn typed_char(k: &KeyEvent) -> Option<char> {
    match k.code {
        KeyCode::Char(c) if !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => Some(c),
        _ => None,
    }
}

/// One health sample per service (all its containers running and not unhealthy/starting).
fn sample_availability(state: &mut AppState, now: jiff::Timestamp) {
    use crate::domain::{Health, RunState};
    let mut per: std::collections::BTreeMap<crate::domain::ServiceKey, bool> = std::collections::BTreeMap::new();
    for c in state.services.ordered() {
        let ok = c.state == RunState::Running && matches!(state.services.health(c), Health::Healthy | Health::None);
        *per.entry(c.key.clone()).or_insert(true) &= ok;
    }
    for (k, ok) in per {
        state.observe.availability.sample(&k, ok, now);
    }
}

fn on_engine(state: &mut AppState, ev: EngineEvent, fx: &mut Vec<Effect>) {
    if !matches!(ev, EngineEvent::Unreachable { .. }) {
        state.engine.last_contact = Some(state.now);
    }
    match ev {
        EngineEvent::Connected(info) => {
            state.engine.info = Some(info);
            state.engine.conn = Conn::Connected;
            state.dirty = true;
            // Resume the log view where it was (or open it if none was open yet).
            if state.logs.container.is_some() {
                resume_logs(state, fx);
            } else {
                sync_log_target(state, fx);
            }
        }
        EngineEvent::Unreachable { reason, retry_in_secs } => {
            let since = match &state.engine.conn {
                Conn::Unreachable { since, .. } => *since,
                _ => state.now,
            };
            state.engine.conn = Conn::Unreachable { since, reason, retry_in_secs };
            state.dirty = true;
        }
        EngineEvent::Snapshot(list) => {
            let ids: std::collections::HashSet<_> = list.iter().map(|c| c.id.clone()).collect();
            let gone: Vec<_> = state.services.containers.keys().filter(|id| !ids.contains(*id)).cloned().collect();
            for id in &gone {
                state.metrics.forget(id);
            }
            state.services.replace_all(list);
            state.dirty = true;
            hold_latches(state, fx);
            sync_log_target(state, fx);
        }
        EngineEvent::Upsert(c) => {
            let id = c.id.clone();
            let running = c.state == crate::domain::RunState::Running;
            state.services.upsert(c);
            state.dirty = true;
            hold_latches(state, fx);
            if state.logs.container.as_ref() == Some(&id)
                && running
                && matches!(state.logs.stream, StreamState::Ended(_))
            {
                resume_logs(state, fx); // the container was restarted: keep following it
            } else {
                sync_log_target(state, fx);
            }
        }
        EngineEvent::Removed(id) => {
            state.metrics.forget(&id);
            state.services.remove(&id);
            state.dirty = true;
            sync_log_target(state, fx);
        }
        EngineEvent::Health(id, h) => {
            if state.services.set_health(&id, h) {
                state.dirty = true;
            }
        }
        EngineEvent::Happened(rows) => state.timeline.engine(rows),
        EngineEvent::Stats(samples) => {
            let shown = state.ui.detail == Pane::Metrics || state.ui.focus == Pane::Metrics;
            for (id, s) in samples {
                state.metrics.push(id, s);
            }
            if shown {
                state.dirty = true;
            }
        }
        EngineEvent::Logs(batch) => {
            if batch.generation != state.logs.generation {
                return; // a stream the user already left
            }
            if batch.skipped > 0 {
                state.logs.skipped_total += batch.skipped;
                state.logs.push(std::iter::once(LogLine::marker(format!(
                    "··· {} lines skipped: the panel could not keep up (see `docker logs` for all of them) ···",
                    batch.skipped
                ))));
            }
            state.logs.push(batch.lines);
            if let Some(t) = state.logs.jump_at
                && state.logs.jump_to_time(t)
            {
                state.logs.jump_at = None;
            }
            state.logs.stream = match batch.ended {
                Some(reason) => {
                    state.logs.push(std::iter::once(LogLine::marker(format!("··· {reason} ···"))));
                    StreamState::Ended(reason)
                }
                None => StreamState::Live,
            };
            if state.ui.detail == Pane::Logs {
                state.dirty = true;
            }
        }
    }
}

/// A container of an emergency-stopped service runs again (started by hand, by compose, by a
/// restart policy): have it stopped again, once per start. The latch is the store's kill
/// switch, as every panel and process sees it. Read-only panels only watch.
fn hold_latches(state: &mut AppState, fx: &mut Vec<Effect>) {
    use crate::domain::RunState;
    // Only a start after the latch: a container still winding down in the stop's own grace
    // period is the stop's business.
    let latched: std::collections::HashMap<&str, jiff::Timestamp> =
        state.history.kill_switches.iter().map(|k| (k.service.as_str(), k.at)).collect();
    let mut starts = Vec::new();
    for c in state.services.containers.values() {
        let running = matches!(c.state, RunState::Running | RunState::Restarting);
        let after_latch =
            latched.get(c.key.to_string().as_str()).is_some_and(|at| c.started_at.is_some_and(|s| s > *at));
        if running && after_latch && !state.holding.contains(&c.id) {
            starts.push((c.key.to_string(), c.id.clone()));
        }
    }
    // Forget the ones that are down again, so that the next start is held too.
    let down: Vec<_> = state
        .holding
        .iter()
        .filter(|id| {
            state
                .services
                .containers
                .get(*id)
                .is_none_or(|c| !matches!(c.state, RunState::Running | RunState::Restarting))
        })
        .cloned()
        .collect();
    for id in down {
        state.holding.remove(&id);
    }
    if state.read_only {
        return;
    }
    for (target, id) in starts {
        state.holding.insert(id.clone());
        let op = state.next_op;
        state.next_op += 1;
        fx.push(Effect::RunOp { id: op, request: crate::domain::OpRequest::Hold { target, container: id.0 } });
    }
}

/// The log view shows the selected container while the Logs pane is on screen, and nothing
/// (no stream) otherwise.
/// Lines of a replaced container kept above its successor's.
const KEPT_LINES: usize = 50;

pub(super) fn sync_log_target(state: &mut AppState, fx: &mut Vec<Effect>) {
    if state.logs.merged {
        sync_merged(state, fx);
        return;
    }
    let want = if state.ui.detail == Pane::Logs && matches!(state.engine.conn, Conn::Connected) {
        // A removed container's row has no logs to follow.
        state.services.selected.clone().filter(|id| !id.0.starts_with(crate::domain::GONE_PREFIX))
    } else {
        None
    };
    if want == state.logs.container {
        return;
    }
    // The same service's new container (a deploy replaced it): keep the last lines of the old.
    let key_of = |id: &Option<crate::domain::ContainerId>| {
        id.as_ref().and_then(|i| state.services.containers.get(i)).map(|c| c.key.clone())
    };
    let same_service = want.is_some() && state.logs.service.is_some() && key_of(&want) == state.logs.service;
    let generation = if same_service {
        let old = state.logs.container.as_ref().map(|c| crate::domain::short_image_id(&c.0)).unwrap_or_default();
        state.logs.carry_over(
            want.clone(),
            KEPT_LINES,
            Some(format!("··· the previous container ({old}) of this service ended: its last lines are above ···")),
        )
    } else {
        state.logs.retarget(want.clone())
    };
    state.logs.service = key_of(&want);
    match want {
        Some(container) => fx.push(Effect::FollowLogs { container, generation, tail: state.tail, since: None }),
        None => fx.push(Effect::StopLogs),
    }
}

fn resume_logs(state: &mut AppState, fx: &mut Vec<Effect>) {
    let Some(container) = state.logs.container.clone() else { return };
    state.logs.generation += 1;
    state.logs.stream = StreamState::Connecting;
    let since = state.logs.last_timestamp().map(str::to_owned);
    fx.push(Effect::FollowLogs { container, generation: state.logs.generation, tail: state.tail, since });
}

/// At most this many containers in merged logs (each one is a stream from the engine).
const MAX_MERGED: usize = 64;

/// Merged mode: follow every container of the selected service's project (of the marked
/// services when some are), each line tagged with its service. When that set changes (a deploy
/// replaced a container, one was added), the kept lines stay and the follow resumes after them.
fn sync_merged(state: &mut AppState, fx: &mut Vec<Effect>) {
    merged_follow(state, fx, None);
}

/// Follow the merged logs of the selected project (or the marked services) when they changed;
/// with `from`, read them again from that engine time whatever was loaded (a timeline jump).
fn merged_follow(state: &mut AppState, fx: &mut Vec<Effect>, from: Option<String>) {
    let connected = state.ui.detail == Pane::Logs && matches!(state.engine.conn, Conn::Connected);
    let project = state.services.selected().map(|c| c.key.project.clone());
    let marked = &state.services.marked;
    let mut sources: Vec<(crate::domain::ContainerId, String)> = state
        .services
        .containers
        .values()
        .filter(|c| connected && !c.id.0.starts_with(crate::domain::GONE_PREFIX))
        .filter(|c| {
            if marked.is_empty() {
                project.as_ref().is_some_and(|p| *p == c.key.project)
            } else {
                marked.contains(&c.key.to_string())
            }
        })
        .map(|c| {
            let many = state.services.containers.values().filter(|o| o.key == c.key).count() > 1;
            let tag = if many { &c.name } else { &c.key.service };
            // One word: the view tells the tag from the text at the first space.
            (c.id.clone(), tag.replace(char::is_whitespace, "_"))
        })
        .collect();
    sources.sort_by(|a, b| (&a.1, &a.0.0).cmp(&(&b.1, &b.0.0)));
    if sources.len() > MAX_MERGED {
        state.ui.notice = Some(format!("merged logs: the first {MAX_MERGED} of {} containers", sources.len()));
        sources.truncate(MAX_MERGED);
    }
    let ids: Vec<crate::domain::ContainerId> = sources.iter().map(|(id, _)| id.clone()).collect();
    if from.is_none() && ids == state.logs.sources && state.logs.container.is_some() != ids.is_empty() {
        return;
    }
    let first = ids.first().cloned();
    // The same stack still (a container came or went): keep what is loaded. Another project:
    // start from its tails.
    let resume = from.is_none() && ids.iter().any(|id| state.logs.sources.contains(id));
    state.logs.jump_at = None;
    let generation = if resume {
        state.logs.carry_over(first.clone(), usize::MAX, None)
    } else {
        state.logs.retarget(first.clone())
    };
    state.logs.sources = ids;
    state.logs.service = None;
    state.logs.stream = StreamState::Connecting;
    if first.is_none() {
        fx.push(Effect::StopLogs);
        return;
    }
    let since = if resume { state.logs.last_timestamp().map(str::to_owned) } else { from };
    fx.push(Effect::FollowMerged { sources, generation, tail: state.tail, since });
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_actions;
#[cfg(test)]
mod tests_incident;
#[cfg(test)]
mod tests_timeline;
