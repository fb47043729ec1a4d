//! The command-line side of the operations: confirmation, progress printing, signals, exit codes.

use crate::config::Stack;
use crate::engine::{Endpoint, actions::Actions};
use crate::ops::{self, Ctx, OpError, Progress, deploy::Kind};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Which operation the command line asked for.
#[derive(Debug, Clone)]
pub enum Request {
    Stop { service: String, reason: Option<String> },
    Start { service: String },
    Deploy { service: String, image: String },
    Rollback { service: String },
    Backup { jobs: Vec<String> },
    Restore { backup: String, job: String, database: String },
}

impl Request {
    fn describe(&self) -> String {
        match self {
            Request::Stop { service, .. } => format!("EMERGENCY STOP {service}"),
            Request::Start { service } => format!("start {service}"),
            Request::Deploy { service, image } => format!("deploy {image} to {service}"),
            Request::Rollback { service } => format!("roll back {service}"),
            Request::Backup { jobs } if jobs.is_empty() => "run every backup job".into(),
            Request::Backup { jobs } => format!("run backup jobs {}", jobs.join(", ")),
            Request::Restore { backup, job, database } => {
                format!("RESTORE {backup}/{job} INTO THE RUNNING DATABASE {database}")
            }
        }
    }
}

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

pub fn run(
    req: Request,
    yes: bool,
    ep: Endpoint,
    stack: Stack,
    state_dir: PathBuf,
    read_only: bool,
    project: Option<String>,
) -> ExitCode {
    if read_only {
        eprintln!("stackdeck: {} refused: --read-only", req.describe());
        return ExitCode::from(3);
    }
    // A restore overwrites live data: the operator types the database's name.
    let word = match &req {
        Request::Restore { database, .. } => database.clone(),
        _ => "yes".to_owned(),
    };
    if !yes
        && !matches!(req, Request::Backup { .. })
        && let Err((code, msg)) = confirm(&req.describe(), &word)
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
        let actions = match Actions::connect(&ep).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("stackdeck: engine unreachable: {e}");
                return ExitCode::from(1);
            }
        };
        // The webhook (if configured) hears the outcome; a missing variable is said up front.
        let hook = match crate::notify::Webhook::from_config(&stack.config.notify) {
            Ok(h) => h,
            Err(why) => {
                say(&why);
                None
            }
        };
        let ctx = Ctx { actions, stack, state_dir, read_only };
        let (tx, mut rx) = mpsc::unbounded_channel::<ops::Step>();
        let printer = tokio::spawn(async move {
            while let Some(step) = rx.recv().await {
                let ops::Step::Line(line) = step else { continue };
                say(&format!("{}  {line}", jiff::Zoned::now().strftime("%H:%M:%S")));
            }
        });
        let mut p = Progress::new(Some(tx));
        let proj = project.as_deref();
        let r = match &req {
            Request::Stop { service, reason } => ops::stop::stop(&ctx, service, proj, reason.clone(), &mut p).await,
            Request::Start { service } => ops::stop::start(&ctx, service, proj, &mut p).await,
            Request::Deploy { service, image } => {
                ops::deploy::run(&ctx, Kind::Deploy, service, proj, Some(image), &mut p, &cancel).await
            }
            Request::Rollback { service } => {
                ops::deploy::run(&ctx, Kind::Rollback, service, proj, None, &mut p, &cancel).await
            }
            Request::Backup { jobs } => ops::backup::run(&ctx, jobs, proj, &mut p).await,
            Request::Restore { backup, job, .. } => ops::backup::restore(&ctx, backup, job, proj, &mut p).await,
        };
        drop(p);
        let _ = printer.await;
        if let Some(hook) = hook {
            // After the operation is done and recorded: a slow webhook delays the exit, never
            // the action. Tries and timeouts bound the wait.
            let text = crate::notify::outcome_text(
                &req.describe(),
                &r.as_ref().map(|d| d.summary.clone()).map_err(ToString::to_string),
            );
            match hook.deliver(&text).await {
                Ok(_) => say("webhook notified"),
                Err(e) => say(&format!("webhook notification failed: {e}")),
            }
        }
        match r {
            Ok(done) => {
                say(&format!("done: {}", done.summary));
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "stackdeck: {e}");
                ExitCode::from(OpError::exit_code(&e))
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
    if json {
        let v: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "action": r.action, "service": r.service,
                    "from_image": r.from_image, "from_image_id": r.from_image_id,
                    "to_image": r.to_image, "to_image_id": r.to_image_id,
                    "actor": r.actor, "started_at": r.started_at.to_string(),
                    "finished_at": r.finished_at.map(|t| t.to_string()),
                    "outcome": r.outcome.as_str(), "reason": r.reason,
                    "transcript": store.transcript(r.id).unwrap_or_default(),
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
                r.action,
                r.service,
                r.outcome.as_str(),
                r.to_image.as_deref().unwrap_or("-"),
                r.actor,
                r.reason.as_deref().map(|x| format!("  ({x})")).unwrap_or_default()
            ));
        }
        if records.is_empty() {
            say("(no operations recorded)");
        }
    }
    ExitCode::SUCCESS
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
            .map_or_else(|_| "?".into(), |t| crate::ui::human_age(now.as_second() - t.as_second()));
        let jobs: Vec<String> =
            m.jobs.iter().map(|j| format!("{}{}", j.name, if j.error.is_some() { "(FAILED)" } else { "" })).collect();
        say(&format!(
            "{}  {:<6} {:>10}  {:>6} old  {}",
            m.id,
            m.status,
            crate::ui::human_bytes(m.total_bytes()),
            age,
            jobs.join(" ")
        ));
    }
    if list.is_empty() {
        say(&format!("(no backups in {})", root.display()));
    }
    ExitCode::SUCCESS
}
