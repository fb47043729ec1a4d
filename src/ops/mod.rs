//! Operations that change the stack, and the one driver that runs them: [`execute`]. The panel
//! (`runner`) and the command line (`opcli`) build an [`OpRequest`] and call it; they differ only
//! in where progress goes (the panel turns [`Step`]s into messages, the CLI prints them) and in
//! how the outcome is announced (queued or delivered before exit, see [`Announce`]).
//!
//! Each operation is recorded in the store before it starts and finished after. Operations talk
//! to the engine only through the [`Backend`] seam, in terms of services.

pub mod backup;
mod deploy;
mod gate;
mod halt;
mod monitor;
pub mod pin;
mod recover;
mod release;
mod start;
mod startfirst;
mod stop;
mod strategy;
mod swarm_deploy;
mod target;

use crate::backend::{Backend, Report, ResolveError};
use crate::config::Stack;
use crate::domain::{Done, EngineError, OpError, OpRequest, Step};
use crate::logtext::{Masker, clean};
use crate::notify::{Notifier, Webhook};
use crate::store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

impl From<ResolveError> for OpError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Engine(e) => OpError::Failed(e.to_string()),
            other => OpError::Usage(other.to_string()),
        }
    }
}

impl From<EngineError> for OpError {
    fn from(e: EngineError) -> Self {
        OpError::Failed(e.to_string())
    }
}

/// How the outcome of an operation reaches the webhook.
#[derive(Debug, Clone, Default)]
pub enum Announce {
    #[default]
    Off,
    /// Queue it and go on (the panel: it must never wait for a webhook).
    Queue(Notifier),
    /// Deliver it before returning, with retries, and say how that went (the CLI: the process
    /// exits right after).
    Deliver(Webhook),
}

/// What an operation needs.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub backend: Arc<dyn Backend>,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub read_only: bool,
    /// Limit name resolution to one compose project.
    pub project: Option<String>,
    pub announce: Announce,
    /// `--local-state`: deploy on a remote engine although the history and locks are this
    /// machine's only.
    pub local_state: bool,
}

impl Ctx {
    pub fn store(&self) -> Result<Store, OpError> {
        Store::open(&self.state_dir).map(|s| s.with_masker(self.stack.masker.clone())).map_err(OpError::Failed)
    }

    /// A new progress for one operation, masking with the config's patterns.
    fn progress(&self, sink: &Sink) -> Progress {
        Progress::new(sink.clone(), self.stack.masker.clone())
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<(), OpError> {
        if self.read_only {
            Err(OpError::Refused(format!("{what} refused: stackdeck runs with --read-only")))
        } else {
            Ok(())
        }
    }

    fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }
}

/// Where progress goes: `None` keeps it in the store's transcript only.
pub type Sink = Option<mpsc::UnboundedSender<Step>>;

/// Run one operation: dispatch, then announce the outcome. The only caller of each
/// operation's entry point in the crate.
pub async fn execute(ctx: &Ctx, request: &OpRequest, sink: Sink, cancel: &CancellationToken) -> Result<Done, OpError> {
    let m = &ctx.stack.masker;
    let result = match dispatch(ctx, request, &sink, cancel).await {
        Ok(d) => Ok(Done { outcome: d.outcome, summary: clean(&d.summary, m) }),
        Err(OpError::Usage(e)) => Err(OpError::Usage(clean(&e, m))),
        Err(OpError::Refused(e)) => Err(OpError::Refused(clean(&e, m))),
        Err(OpError::Failed(e)) => Err(OpError::Failed(clean(&e, m))),
    };
    announce(ctx, request, &result, &sink).await;
    result
}

async fn dispatch(ctx: &Ctx, request: &OpRequest, sink: &Sink, cancel: &CancellationToken) -> Result<Done, OpError> {
    let mut p = ctx.progress(sink);
    match request {
        OpRequest::Stop { targets, reason } => stop::stop_all(ctx, targets, reason.as_deref(), sink).await,
        OpRequest::Start { target, reason } => start::start(ctx, target, reason.as_deref(), &mut p).await,
        OpRequest::Deploy { .. } | OpRequest::Rollback { .. } => deploy::run(ctx, request, &mut p, cancel).await,
        OpRequest::Release { targets, tag, stop_first } => {
            release::release(ctx, targets, tag, *stop_first, &mut p, cancel).await
        }
        OpRequest::UndoRelease { id } => release::undo(ctx, *id, &mut p, cancel).await,
        OpRequest::Backup { jobs } => backup::run(ctx, jobs, &mut p).await,
        OpRequest::Restore { backup, job } => backup::restore(ctx, backup, job, &mut p).await,
        OpRequest::Recover { target } => recover::recover(ctx, target, &mut p).await,
        OpRequest::Hold { target, container } => stop::hold(ctx, target, container, &mut p).await,
        OpRequest::Pin { target, line } => pin::pin(ctx, target, line, &mut p).await,
        OpRequest::Exec { .. } => {
            Err(OpError::Usage("exec runs in a terminal (stackdeck exec, or e in the panel)".into()))
        }
    }
}

async fn announce(ctx: &Ctx, request: &OpRequest, result: &Result<Done, OpError>, sink: &Sink) {
    // A hold that found nothing to do (another stackdeck held it, the container was down
    // already) is not news.
    if matches!(request, OpRequest::Hold { .. }) && result.as_ref().is_ok_and(|d| !d.summary.starts_with(stop::BLOCKED))
    {
        return;
    }
    let text = || {
        let t = crate::notify::outcome_text(
            &request.title(),
            &result.as_ref().map(|d| d.summary.clone()).map_err(ToString::to_string),
        );
        clean(&t, &ctx.stack.masker)
    };
    match &ctx.announce {
        Announce::Off => {}
        Announce::Queue(n) => n.send(text()),
        Announce::Deliver(hook) => {
            // After the operation is done and recorded: a slow webhook delays the exit, never
            // the action. Tries and timeouts bound the wait.
            let line = match hook.deliver(&text()).await {
                Ok(_) => "webhook notified".to_owned(),
                Err(e) => format!("webhook notification failed: {e}"),
            };
            ctx.progress(sink).step(None, line);
        }
    }
}

/// How long an operation keeps trying an engine it cannot reach (a restart, a short outage)
/// before it gives up and leaves a state `recover` repairs.
const ENGINE_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Run one engine call, again and again while the engine cannot be reached (the request never
/// got there, so trying again is safe), for up to [`ENGINE_RETRY`]. Says so once.
pub(super) async fn retry<T, Fut>(p: &mut Progress, what: &str, mut call: impl FnMut() -> Fut) -> Result<T, EngineError>
where
    Fut: std::future::Future<Output = Result<T, EngineError>>,
{
    let deadline = tokio::time::Instant::now() + ENGINE_RETRY;
    let mut said = false;
    loop {
        match call().await {
            Err(e @ EngineError::Unreachable(_)) if tokio::time::Instant::now() < deadline => {
                if !said {
                    // Into the record with the next step: the wait is a part of what happened.
                    crate::backend::Report::line(
                        p,
                        format!("{what}: {e}; trying again for up to {} s", ENGINE_RETRY.as_secs()),
                    );
                    said = true;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            r => {
                if said && r.is_ok() {
                    crate::backend::Report::line(p, format!("{what}: the engine answers again"));
                }
                return r;
            }
        }
    }
}

/// Run `cmd` in an instance and keep the start of its stdout (16 KiB): a hook's or a check's
/// answer, to be recorded.
pub(crate) async fn exec_output(
    ctx: &Ctx,
    id: &crate::domain::ContainerId,
    cmd: &[String],
    limit: std::time::Duration,
) -> Result<(crate::backend::ExecOutput, String), crate::domain::EngineError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let reader = async {
        let mut out = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if out.len() < 16 * 1024 {
                out.extend_from_slice(&chunk);
            }
        }
        out
    };
    let (ran, out) = tokio::join!(ctx.backend.exec(id, cmd, None, Some(tx), limit), reader);
    Ok((ran?, String::from_utf8_lossy(&out).into_owned()))
}

/// The word the operator types to confirm `request`, when "yes" is not enough: a restore
/// overwrites live data, so it takes the database's name.
pub fn confirmation_word(stack: &Stack, request: &OpRequest) -> Option<String> {
    match request {
        OpRequest::Restore { job, .. } => {
            Some(stack.restorable_jobs().into_iter().find(|(n, _)| n == job).map_or_else(|| job.clone(), |(_, w)| w))
        }
        _ => None,
    }
}

/// Progress of one operation: to the transcript in the store, and to whoever watches. Every
/// line is made inert and masked here, the one path to the terminal, the panel and the store.
#[derive(Debug)]
pub struct Progress {
    tx: Sink,
    record: Option<i64>,
    /// Lines a backend reported, waiting for the next [`Progress::step`] with a store.
    pending: Vec<String>,
    masker: Masker,
}

impl Progress {
    pub fn new(tx: Sink, masker: Masker) -> Progress {
        Progress { tx, record: None, pending: Vec::new(), masker }
    }

    pub fn step(&mut self, store: Option<&Store>, line: impl Into<String>) {
        let line = clean(&line.into(), &self.masker);
        tracing::info!("{line}");
        if let (Some(store), Some(id)) = (store, self.record) {
            for l in self.pending.drain(..) {
                let _ = store.note(id, &l);
            }
            let _ = store.note(id, &line);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(Step::Line(line));
        }
    }

    /// Say that cancelling is no longer possible.
    pub fn committed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Step::Committed);
        }
    }

    /// Write what a backend reported to the transcript.
    fn flush(&mut self, store: &Store) {
        if let Some(id) = self.record {
            for l in self.pending.drain(..) {
                let _ = store.note(id, &l);
            }
        }
    }
}

impl Report for Progress {
    fn line(&mut self, line: String) {
        let line = clean(&line, &self.masker);
        tracing::info!("{line}");
        if let Some(tx) = &self.tx {
            let _ = tx.send(Step::Line(line.clone()));
        }
        self.pending.push(line);
    }
}

#[cfg(test)]
mod memory;
#[cfg(test)]
mod memory_startfirst;
