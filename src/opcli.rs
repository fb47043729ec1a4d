//! The command-line side of the operations: confirmation, progress printing, signals, exit codes.

use crate::config::Stack;
use crate::domain::{OpRequest, Step};
use crate::engine::Endpoint;
use crate::ops;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Print without panicking when the terminal is gone (SIGHUP).
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn confirm(what: &str, word: &str) -> Result<(), (u8, String)> {
    if !std::io::stdin().is_terminal() {
        return Err((2, format!("refusing to {what} without confirmation: pass --yes")));
    }
    eprint!("{what}? Type {word} to go ahead: ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| (2, e.to_string()))?;
    if answer.trim() == word { Ok(()) } else { Err((3, "not confirmed: nothing was done".into())) }
}

/// Everything the command line's operations need besides the request.
#[derive(Debug, Clone)]
pub struct Setup {
    pub endpoint: Endpoint,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub read_only: bool,
    pub project: Option<String>,
    pub local_state: bool,
}

/// `stackdeck exec`: a command in the service's container on this terminal.
pub fn exec(target: &str, cmd: Vec<String>, yes: bool, production: bool, setup: &Setup) -> ExitCode {
    if setup.read_only {
        eprintln!("stackdeck: exec refused: --read-only");
        return ExitCode::from(3);
    }
    let cmd = if cmd.is_empty() { vec!["sh".to_owned()] } else { cmd };
    if production && !yes {
        let word = target.rsplit('/').next().unwrap_or(target);
        if let Err((code, msg)) = confirm(&format!("run {} in {target} (production)", cmd.join(" ")), word) {
            eprintln!("stackdeck: {msg}");
            return ExitCode::from(code);
        }
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(1);
        }
    };
    if tty && let Err(e) = crossterm::terminal::enable_raw_mode() {
        eprintln!("stackdeck: {e}");
        return ExitCode::from(1);
    }
    let x = crate::exec::Exec {
        endpoint: &setup.endpoint,
        state_dir: &setup.state_dir,
        project: setup.project.as_deref(),
        read_only: setup.read_only,
        masker: &setup.stack.masker,
    };
    let r = rt.block_on(crate::exec::run(&x, target, &cmd, tty));
    if tty {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    match r {
        Ok(code) => ExitCode::from(code.map_or(0, |c| c.clamp(0, 255) as u8)),
        Err(e) => {
            eprintln!("stackdeck: {e}");
            ExitCode::from(1)
        }
    }
}

/// `stackdeck pin`: show the diff, then run the pin (confirmed unless `yes`) through the driver.
pub fn pin(target: &str, yes: bool, setup: Setup) -> ExitCode {
    if setup.read_only {
        eprintln!("stackdeck: pin refused: --read-only");
        return ExitCode::from(3);
    }
    let preview =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(|rt| {
            rt.block_on(async {
                let backend =
                    crate::engine::backend(&setup.endpoint).await.map_err(|e| format!("engine unreachable: {e}"))?;
                let ctx = ops::Ctx {
                    backend,
                    stack: setup.stack.clone(),
                    state_dir: setup.state_dir.clone(),
                    read_only: setup.read_only,
                    project: setup.project.clone(),
                    announce: ops::Announce::Off,
                    local_state: setup.local_state,
                };
                ops::pin::preview(&ctx, target).await.map_err(|e| e.to_string())
            })
        });
    match preview {
        Ok((diff, line)) => {
            for l in diff.lines() {
                say(&crate::logtext::clean(l, &setup.stack.masker));
            }
            run(OpRequest::Pin { target: target.to_owned(), line }, yes, setup)
        }
        Err(e) => {
            eprintln!("stackdeck: {}", crate::logtext::clean(&e, &setup.stack.masker));
            ExitCode::from(2)
        }
    }
}

/// Confirm (unless `yes`), run the request through the one driver, print progress with a clock,
/// and turn the outcome into the exit code.
pub fn run(request: OpRequest, yes: bool, setup: Setup) -> ExitCode {
    if setup.read_only {
        eprintln!("stackdeck: {} refused: --read-only", request.title());
        return ExitCode::from(3);
    }
    let word = ops::confirmation_word(&setup.stack, &request).unwrap_or_else(|| "yes".to_owned());
    if !yes
        && !matches!(request, OpRequest::Backup { .. })
        && let Err((code, msg)) = confirm(&request.title(), &word)
    {
        eprintln!("stackdeck: {msg}");
        return ExitCode::from(code);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let cancel = CancellationToken::new();
        // A dropped SSH link must not leave a half-done operation: SIGHUP is noted, not obeyed.
        // Ctrl-C cancels a deploy (back to the old container) while that is still possible.
        spawn_signal_watch(cancel.clone());
        let backend = match crate::engine::backend(&setup.endpoint).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("stackdeck: engine unreachable: {e}");
                return ExitCode::from(1);
            }
        };
        // The webhook (if configured) hears the outcome; a missing variable is said up front.
        let announce = match crate::notify::Webhook::from_config(&setup.stack.config.notify) {
            Ok(Some(h)) => ops::Announce::Deliver(h),
            Ok(None) => ops::Announce::Off,
            Err(why) => {
                say(&why);
                ops::Announce::Off
            }
        };
        let ctx = ops::Ctx {
            backend,
            stack: setup.stack,
            state_dir: setup.state_dir,
            read_only: setup.read_only,
            project: setup.project,
            announce,
            local_state: setup.local_state,
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Step>();
        let printer = tokio::spawn(async move {
            while let Some(step) = rx.recv().await {
                let Step::Line(line) = step else { continue };
                say(&format!("{}  {line}", jiff::Zoned::now().strftime("%H:%M:%S")));
            }
        });
        let r = ops::execute(&ctx, &request, Some(tx), &cancel).await;
        let _ = printer.await;
        match r {
            Ok(done) => {
                say(&format!("done: {}", done.summary));
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "stackdeck: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    })
}

fn spawn_signal_watch(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut hup) = signal(SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::warn!("SIGHUP: the terminal is gone; finishing the operation anyway");
            }
        });
    }
    if let Ok(mut int) = signal(SignalKind::interrupt()) {
        tokio::spawn(async move {
            while int.recv().await.is_some() {
                let _ = writeln!(
                    std::io::stderr(),
                    "stackdeck: interrupt: cancelling (a deploy goes back to the old container)"
                );
                cancel.cancel();
            }
        });
    }
}

/// `stackdeck history`.
pub fn history(state_dir: &std::path::Path, json: bool, service: Option<&str>, limit: usize) -> ExitCode {
    let store = match crate::store::Store::open(state_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = store.mark_interrupted();
    let records = match store.recent(limit, service) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("stackdeck: {e}");
            return ExitCode::from(1);
        }
    };
    // Rows are stored inert; they are printed inert as well, whoever wrote them.
    let i = |s: &str| crate::logtext::inert(s).into_owned();
    let io = |s: &Option<String>| s.as_deref().map(i);
    if json {
        let v: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let transcript = store.transcript(r.id).unwrap_or_default();
                let transcript: Vec<String> = transcript.lines().map(i).collect();
                serde_json::json!({
                    "id": r.id, "action": i(&r.action), "service": i(&r.service),
                    "from_image": io(&r.from_image), "from_image_id": io(&r.from_image_id),
                    "to_image": io(&r.to_image), "to_image_id": io(&r.to_image_id),
                    "actor": i(&r.actor), "started_at": r.started_at.to_string(),
                    "finished_at": r.finished_at.map(|t| t.to_string()),
                    "outcome": r.outcome.as_str(), "reason": io(&r.reason), "release": r.parent,
                    "transcript": transcript.join("\n") + if transcript.is_empty() { "" } else { "\n" },
                    "audit": store.audit_of(r.id).unwrap_or_default(),
                })
            })
            .collect();
        say(&serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for r in &records {
            say(&format!(
                "{:>4}  {}  {:<8} {:<28} {:<11} {:<24} {}{}",
                r.id,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                // A release's rows name it: `└#12 deploy`.
                r.parent.map_or_else(|| i(&r.action), |p| format!("└#{p} {}", i(&r.action))),
                i(&r.service),
                r.outcome.as_str(),
                i(r.to_image.as_deref().unwrap_or("-")),
                i(&r.actor),
                r.reason.as_deref().map(|x| format!("  ({})", i(x))).unwrap_or_default()
            ));
        }
        if records.is_empty() {
            say("(no operations recorded)");
        }
    }
    ExitCode::SUCCESS
}

/// `stackdeck history --verify`: walk the audit chain.
pub fn verify(state_dir: &std::path::Path) -> ExitCode {
    let verdict = crate::store::Store::open(state_dir).and_then(|s| s.verify());
    match verdict {
        Ok(crate::store::Chain::Intact(n)) => {
            say(&format!("audit chain intact: {n} rows in {}", state_dir.join("history.sqlite").display()));
            ExitCode::SUCCESS
        }
        Ok(crate::store::Chain::Broken { what, .. }) => {
            say(&format!("audit chain BROKEN at {what}"));
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("stackdeck: {e}");
            ExitCode::from(1)
        }
    }
}

/// The state dir: `--state-dir`, else `[state] dir`, else the XDG data dir.
pub fn state_dir(flag: Option<PathBuf>, stack: &Stack) -> PathBuf {
    flag.or_else(|| stack.config.state.dir.clone())
        .or_else(crate::store::default_dir)
        .unwrap_or_else(|| PathBuf::from("/var/lib/stackdeck"))
}

/// `stackdeck backups`.
pub fn backups(state_dir: &std::path::Path, stack: &Stack, json: bool) -> ExitCode {
    let root = ops::backup::root(state_dir, stack);
    let list = ops::backup::list(&root);
    if json {
        say(&serde_json::to_string_pretty(&list).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let now = jiff::Timestamp::now();
    for m in &list {
        let age = m
            .created
            .parse::<jiff::Timestamp>()
            .map_or_else(|_| "?".into(), |t| crate::format::human_age(now.as_second() - t.as_second()));
        let jobs: Vec<String> =
            m.jobs.iter().map(|j| format!("{}{}", j.name, if j.error.is_some() { "(FAILED)" } else { "" })).collect();
        say(&format!(
            "{}  {:<6} {:>10}  {:>6} old  {}",
            m.id,
            m.status.as_str(),
            crate::format::human_bytes(m.total_bytes()),
            age,
            jobs.join(" ")
        ));
    }
    if list.is_empty() {
        say(&format!("(no backups in {})", root.display()));
    }
    ExitCode::SUCCESS
}
