//! Carries out the panel's operation effects in background tasks, through the same driver as
//! the command line (`ops::execute`): each operation's steps become messages, and its outcome a
//! message and a queued webhook. The store is polled for history and kill switches (other
//! operators' actions show up too).

use crate::config::Stack;
use crate::domain::{OpRequest, Step};
use crate::engine::Endpoint;
use crate::msg::{Msg, OpEvent};
use crate::ops;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the store is read for the History pane and the kill-switch banner.
const HISTORY_POLL: Duration = Duration::from_secs(2);

pub struct Runner {
    pub endpoint: Endpoint,
    pub stack: Stack,
    pub state_dir: PathBuf,
    pub read_only: bool,
    pub project: Option<String>,
    pub tx: mpsc::Sender<Msg>,
    /// Webhook for operation outcomes.
    pub notifier: crate::notify::Notifier,
    /// `--local-state` (see `ops::Ctx::local_state`).
    pub local_state: bool,
    running: HashMap<u64, (CancellationToken, JoinHandle<()>)>,
}

impl Runner {
    pub fn new(
        endpoint: Endpoint,
        stack: Stack,
        state_dir: PathBuf,
        read_only: bool,
        project: Option<String>,
        tx: mpsc::Sender<Msg>,
        notifier: crate::notify::Notifier,
    ) -> Runner {
        Runner {
            endpoint,
            stack,
            state_dir,
            read_only,
            project,
            tx,
            notifier,
            local_state: false,
            running: HashMap::new(),
        }
    }

    pub fn run(&mut self, id: u64, request: OpRequest) {
        self.running.retain(|_, (_, h)| !h.is_finished());
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        let (ep, tx) = (self.endpoint.clone(), self.tx.clone());
        let (stack, state_dir, read_only, project, local_state) =
            (self.stack.clone(), self.state_dir.clone(), self.read_only, self.project.clone(), self.local_state);
        let announce = ops::Announce::Queue(self.notifier.clone());
        let done_tx = tx.clone();
        let op = async move {
            let (ptx, mut prx) = mpsc::unbounded_channel::<Step>();
            let fwd_tx = tx.clone();
            let forward = tokio::spawn(async move {
                while let Some(step) = prx.recv().await {
                    let ev = match step {
                        Step::Line(line) => OpEvent::Progress { id, line },
                        Step::Committed => OpEvent::Committed { id },
                    };
                    let _ = fwd_tx.send(Msg::Op(ev)).await;
                }
            });
            let result = match crate::engine::backend(&ep).await {
                Err(e) => Err(format!("engine unreachable: {e}")),
                Ok(backend) => {
                    let ctx = ops::Ctx { backend, stack, state_dir, read_only, project, announce, local_state };
                    ops::execute(&ctx, &request, Some(ptx), &c).await.map(|d| d.summary).map_err(|e| e.to_string())
                }
            };
            let _ = forward.await;
            match &result {
                Ok(s) => tracing::info!("operation {id}: {s}"),
                Err(e) => tracing::warn!("operation {id} failed: {e}"),
            }
            let _ = tx.send(Msg::Op(OpEvent::Done { id, result })).await;
        };
        let handle = tokio::task::spawn_blocking(move || {
            on_own_runtime(op, |why| {
                tracing::warn!("operation {id} not started: {why}");
                let _ = done_tx.blocking_send(Msg::Op(OpEvent::Done { id, result: Err(why) }));
            });
        });
        self.running.insert(id, (cancel, handle));
    }

    pub fn cancel(&self, id: u64) {
        if let Some((c, _)) = self.running.get(&id) {
            c.cancel();
        }
    }

    pub fn load_tags(&self, target: String, image: String) {
        let (ep, tx) = (self.endpoint.clone(), self.tx.clone());
        tokio::spawn(async move {
            let tags = match crate::engine::backend(&ep).await {
                Ok(b) => b
                    .local_tags(&image)
                    .await
                    .map(|t| t.iter().map(|t| crate::logtext::inert(t).into_owned()).collect())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send(Msg::Tags { target, tags }).await;
        });
    }

    /// The diff a pin would write, read in the background (compose files and `.env`).
    pub fn pin_preview(&self, target: String) {
        let (ep, tx) = (self.endpoint.clone(), self.tx.clone());
        let (stack, state_dir, read_only, project) =
            (self.stack.clone(), self.state_dir.clone(), self.read_only, self.project.clone());
        // It reads the compose files and `.env` from disk: off the panel's thread, like an
        // operation.
        let (fail_tx, fail_target) = (tx.clone(), target.clone());
        let preview = async move {
            let preview = match crate::engine::backend(&ep).await {
                Ok(backend) => {
                    let announce = ops::Announce::Off;
                    let ctx = ops::Ctx { backend, stack, state_dir, read_only, project, announce, local_state: false };
                    ops::pin::preview(&ctx, &target).await.map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("engine unreachable: {e}")),
            };
            let _ = tx.send(Msg::PinPreview { target, preview }).await;
        };
        tokio::task::spawn_blocking(move || {
            on_own_runtime(preview, |why| {
                let preview = Err(why);
                let _ = fail_tx.blocking_send(Msg::PinPreview { target: fail_target, preview });
            });
        });
    }

    pub fn busy(&self) -> usize {
        self.running.values().filter(|(_, h)| !h.is_finished()).count()
    }

    /// Wait for every running operation: quitting (or losing the SSH link) must not leave a
    /// half-done deploy.
    pub async fn finish_all(self) {
        for (_, (_, h)) in self.running {
            let _ = h.await;
        }
    }
}

/// Run `work` (an operation, or a preview that reads files) to its end on a runtime of its
/// own, on a thread of the blocking pool; `failed` says why when no runtime can be made.
///
/// An operation waits on the history store synchronously: SQLite's busy wait lasts up to 10 s
/// while another process holds a write lock. On the panel's runtime that wait held up every
/// other task: the engine's events, the timers, and an emergency stop pressed meanwhile, which
/// took 11 s instead of 2 s behind a backup waiting on a locked store (with the runtime's one
/// worker then; the panel's own thread now). Here each blocks only itself.
fn on_own_runtime(work: impl std::future::Future<Output = ()>, failed: impl FnOnce(String)) {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(work),
        Err(e) => failed(format!("cannot start it: no runtime for it ({e})")),
    }
}

/// The timeline rows the guard kept in the store for the last `since` (the engine's own
/// read-back reaches only its last 256 events), read once at start by the history poller.
/// They arrive as engine rows; the ones the engine's catch-up also sends are kept once.
pub struct Readback {
    pub masker: crate::logtext::Masker,
    pub since: Duration,
    pub keep: usize,
    pub project: Option<String>,
}

/// Read history and kill switches now and every [`HISTORY_POLL`]; mark records of killed
/// stackdeck processes as interrupted first. With `readback`, send the kept timeline rows
/// first, through the same connection.
pub fn spawn_history_poller(
    state_dir: PathBuf,
    backup_root: PathBuf,
    readback: Option<Readback>,
    tx: mpsc::Sender<Msg>,
) {
    // A plain thread, not spawn_blocking: the runtime waits for blocking tasks when it shuts
    // down, and this loop never ends by itself (it ends when the app's inbox is gone). The
    // read-back runs on it too, not on a thread of its own: a thread that ends leaves its
    // malloc arena behind, resident (its SQLite connection's pages, about 0.4 MB).
    let spawned = std::thread::Builder::new().name("history-poller".into()).spawn(move || {
        let store = loop {
            match crate::store::Store::open(&state_dir) {
                Ok(s) => break s,
                Err(e) => {
                    tracing::warn!("history store unavailable: {e}");
                    std::thread::sleep(Duration::from_secs(10));
                }
            }
        };
        let store = match readback {
            Some(r) => {
                let store = store.with_masker(r.masker.clone());
                read_back(&store, &r, &tx);
                store
            }
            None => store,
        };
        match store.mark_interrupted() {
            Ok(list) => {
                for r in list {
                    let hint = match r.action.as_str() {
                        "release" => format!(
                            "; stackdeck rollback --release {} puts back what it moved, stackdeck recover SERVICE a container it left aside",
                            r.id
                        ),
                        _ => String::new(),
                    };
                    tracing::warn!(
                        "{} of {} (started {}) was interrupted: check what is running{hint}",
                        r.action,
                        r.service,
                        r.started_at
                    );
                }
            }
            Err(e) => tracing::warn!("cannot check for interrupted operations: {e}"),
        }
        let mut last = None;
        let mut seen_version = None;
        loop {
            // Only read when another connection committed something (every action does, and a
            // backup finishes its record after writing its manifest).
            let version = store.data_version().ok();
            if version.is_none() || version != seen_version {
                let now = (store.recent(200, None), store.kill_switches());
                if let (Ok(records), Ok(kill_switches)) = now {
                    let backups = ops::backup::list(&backup_root);
                    let chain = match store.verify() {
                        Ok(crate::store::Chain::Intact(_)) => None,
                        Ok(crate::store::Chain::Broken { what, .. }) => Some(what),
                        Err(e) => Some(format!("cannot be read: {e}")),
                    };
                    let key = fingerprint(&(&records, &kill_switches, &backups, &chain));
                    if last != Some(key) {
                        if tx.blocking_send(Msg::History { records, kill_switches, backups, chain }).is_err() {
                            return;
                        }
                        last = Some(key);
                    }
                    seen_version = version;
                }
            }
            std::thread::sleep(HISTORY_POLL);
            if tx.is_closed() {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the history poller: {e}");
    }
}

/// What the poller sent last, as a 64-bit hash of its `Debug` text (every field: the types
/// derive it), streamed into the hasher. Keeping a copy to compare with held a second set of
/// the 200 records resident in the poller's malloc arena (issue 15's RSS budget). Two different
/// reads with the same hash (odds 2^-64) would leave the panel one change behind until the next.
fn fingerprint(v: &impl std::fmt::Debug) -> u64 {
    use std::hash::Hasher;
    struct Feed(std::collections::hash_map::DefaultHasher);
    impl std::fmt::Write for Feed {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut feed = Feed(std::collections::hash_map::DefaultHasher::new());
    let _ = std::fmt::Write::write_fmt(&mut feed, format_args!("{v:?}"));
    feed.0.finish()
}

/// Send the kept timeline rows of `r` (nothing when it keeps none).
fn read_back(store: &crate::store::Store, r: &Readback, tx: &mpsc::Sender<Msg>) {
    if r.since.is_zero() || r.keep == 0 {
        return;
    }
    let from = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(r.since).unwrap_or(jiff::SignedDuration::ZERO))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    match store.happenings(from, r.keep, r.project.as_deref()) {
        Ok(rows) if !rows.is_empty() => {
            let _ = tx.blocking_send(Msg::Engine(crate::msg::EngineEvent::Happened(rows)));
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("the timeline's kept rows cannot be read: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn the_fingerprint_follows_every_field() {
        let a = (vec!["deploy".to_owned(), "api".to_owned()], Some("row 3 altered".to_owned()));
        let mut b = a.clone();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.1 = None;
        assert_ne!(fingerprint(&a), fingerprint(&b));
        // The same bytes split differently between fields are a different value.
        let c = (vec!["deplo".to_owned(), "yapi".to_owned()], Some("row 3 altered".to_owned()));
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }
}
