//! Following one container's logs: frames -> complete lines -> sanitized, masked [`LogLine`]s,
//! sent in batches. The work happens here, off the UI loop.
//!
//! Memory is bounded twice: a partial line never grows past the display cap (the rest is only
//! counted), and when the app falls behind, at most [`MAX_PENDING`] lines wait here; older ones
//! are dropped *and counted*, so the view can say "N lines skipped" instead of losing silently.

use super::log_wire;
use super::service_tasks::ServiceTasks;
use crate::domain::ContainerId;
use crate::logtext::inert;
use crate::logtext::{LogLine, MAX_LINE_BYTES, Masker};
use crate::msg::{EngineEvent, LogBatch, Msg};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::{LogsOptions, LogsOptionsBuilder};
use futures::StreamExt;
use futures::stream::SelectAll;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const BATCH_LINES: usize = 1024;
/// How long the first pending line waits for others before they go to the panel together. Each
/// batch is a frame: at 50 ms a flood is drawn 20 times a second (a third fewer frames than at
/// 25 ms, measured in `docs/benchmarks.md`), and a single line still shows within a glance.
const BATCH_DELAY: Duration = Duration::from_millis(50);
pub const MAX_PENDING: usize = 20_000;

/// What to follow: one container, tagged with the app's generation number.
#[derive(Debug, Clone)]
pub(super) struct Follow {
    pub id: ContainerId,
    pub generation: u64,
    /// Lines of history to start with (when not resuming).
    pub tail: u32,
    /// Resume after this engine timestamp instead of tailing.
    pub since: Option<String>,
    /// Where the lines come from.
    pub source: Source,
}

/// A container's own logs, or a Swarm service's: the merged logs of all its tasks, read through
/// the manager from whichever nodes run them, each line prefixed with its task's slot and node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    Container,
    /// The service (its id) of the task `id`: the logs of every task of it that is meant to
    /// run, merged, each line prefixed with its task's slot and node.
    Service(String),
    /// Several containers' logs merged by time, each line prefixed with its label (the
    /// service's name): the merged logs of a project.
    Containers(Vec<(ContainerId, String)>),
}

/// How often a followed service's tasks are listed, to follow the new ones.
const TASK_REFRESH: Duration = Duration::from_secs(2);

/// Follow `f` on `docker`; a container's own log is read straight off `socket` when the engine
/// is on one ([`log_wire`]).
pub(super) fn spawn(
    docker: Docker,
    socket: Option<PathBuf>,
    f: Follow,
    masker: Masker,
    tx: mpsc::Sender<Msg>,
) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = t.cancelled() => {}
            () = follow(docker, socket, f, masker, tx) => {}
        }
    });
    token
}

/// One stream of frames, tagged with the index of its origin (the task it comes from).
type Tagged = futures::stream::BoxStream<'static, (usize, Result<LogOutput, bollard::errors::Error>)>;

/// One container's log stream: off the engine's socket when it is local, else bollard's.
fn container_log(docker: &Docker, socket: Option<&Path>, id: &str, opts: &LogsOptions, query: &str) -> Raw {
    match socket {
        Some(s) => log_wire::follow(s.to_owned(), id.to_owned(), query.to_owned()).boxed(),
        None => docker.logs(id, Some(opts.clone())).boxed(),
    }
}

type Raw = futures::stream::BoxStream<'static, Result<LogOutput, bollard::errors::Error>>;

async fn follow(docker: Docker, socket: Option<PathBuf>, f: Follow, masker: Masker, tx: mpsc::Sender<Msg>) {
    let Follow { id, generation, tail, since, source } = f;
    let since_ts: Option<jiff::Timestamp> = since.as_deref().and_then(|s| s.parse().ok());
    let base = LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).timestamps(true);
    let first = match since_ts {
        // Resuming after a reconnect: everything since the last line we have (whole seconds,
        // so lines of that second are filtered below).
        Some(ts) => base.clone().since(i32::try_from(ts.as_second()).unwrap_or(0)).tail("all"),
        None => base.clone().tail(&tail.to_string()),
    }
    .build();
    let first_query = log_wire::query(Some(tail), since_ts.map(|t| t.as_second()));
    let mut streams: SelectAll<Tagged> = SelectAll::new();
    // The label each stream's lines get (none for a container's own logs).
    let mut labels: Vec<Option<String>> = Vec::new();
    let mut tasks = match &source {
        Source::Container => {
            streams
                .push(container_log(&docker, socket.as_deref(), &id.0, &first, &first_query).map(|i| (0, i)).boxed());
            labels.push(None);
            None
        }
        Source::Service(svc) => Some(ServiceTasks::new(svc.clone())),
        Source::Containers(list) => {
            for (i, (c, label)) in list.iter().enumerate() {
                let raw = container_log(&docker, socket.as_deref(), &c.0, &first, &first_query);
                streams.push(raw.map(move |x| (i, x)).boxed());
                // Names are inert from the engine's boundary; masked here as every label is.
                labels.push(Some(masker.mask(label).into_owned()));
            }
            None
        }
    };
    let merged = !matches!(source, Source::Container);
    // A task that starts after the first read is followed from its first line.
    let started = i32::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
    let later = base.since(started).tail("all").build();
    let mut refresh = tokio::time::interval(TASK_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = Outbox { generation, container: id, pending: VecDeque::new(), skipped: 0, tx, by_time: merged };
    let mut asm: HashMap<(usize, bool), Assembler> = HashMap::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    let ended = loop {
        let flush_at = deadline;
        tokio::select! {
            item = streams.next(), if !streams.is_empty() => {
                let Some((i, item)) = item else {
                    // Every stream ended: a container's log ends with it; a service's tasks
                    // come and go (the refresh goes on).
                    if tasks.is_none() {
                        break if merged {
                            "every log stream ended (the containers stopped)".to_owned()
                        } else {
                            "log stream ended (container stopped)".to_owned()
                        };
                    }
                    continue;
                };
                let label = labels.get(i).cloned().flatten();
                let (bytes, stderr) = match item {
                    Err(e) if label.is_some() => {
                        // One task's stream ends (its node went away, say); the others go on.
                        let why = masker.mask(&inert(&e.to_string())).into_owned();
                        out.push(LogLine::marker(format!("{} log stream ended: {why}", label.unwrap_or_default())));
                        continue;
                    }
                    // The engine's words (or a proxy's): inert and masked like any line.
                    Err(e) => break format!("log stream ended: {}", masker.mask(&inert(&e.to_string()))),
                    Ok(LogOutput::StdErr { message }) => (message, true),
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message } | LogOutput::StdIn { message }) => (message, false),
                };
                asm.entry((i, stderr)).or_default().push(&bytes, |raw, cut| {
                    let line = labelled(raw, cut, stderr, &masker, label.as_deref());
                    if let (Some(since), Some(ts)) = (since_ts, line.stamp())
                        && ts.parse::<jiff::Timestamp>().is_ok_and(|t| t <= since) {
                            return;
                        }
                    out.push(line);
                });
                if out.pending.len() >= BATCH_LINES {
                    if !out.flush() { return; }
                    deadline = None;
                } else if deadline.is_none() && !out.pending.is_empty() {
                    deadline = Some(tokio::time::Instant::now() + BATCH_DELAY);
                }
            }
            () = async { tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now)).await }, if flush_at.is_some() => {
                if !out.flush() { return; }
                deadline = if out.pending.is_empty() { None } else { Some(tokio::time::Instant::now() + BATCH_DELAY) };
            }
            _ = refresh.tick(), if tasks.is_some() => {
                let Some(t) = tasks.as_mut() else { continue };
                let opts = if labels.is_empty() { &first } else { &later };
                for (task, label) in t.new_tasks(&docker).await {
                    let i = labels.len();
                    streams.push(docker.task_logs(&task, Some(opts.clone())).map(move |x| (i, x)).boxed());
                    // Made of the engine's words (the node's name): masked once, here.
                    labels.push(Some(masker.mask(&label).into_owned()));
                }
            }
        }
    };
    for ((i, stderr), a) in &mut asm {
        let label = labels.get(*i).cloned().flatten();
        a.finish(|raw, cut| out.push(labelled(raw, cut, *stderr, &masker, label.as_deref())));
    }
    out.finish(ended).await;
}

/// A line made inert and masked, prefixed with the task it comes from when it has one.
pub(super) fn labelled(raw: &[u8], cut: usize, stderr: bool, masker: &Masker, label: Option<&str>) -> LogLine {
    let mut line = LogLine::from_raw(raw, stderr, masker);
    line.cut_bytes += cut;
    if let Some(l) = label {
        line.text = format!("{l} {}", line.text);
    }
    line
}

struct Outbox {
    generation: u64,
    container: ContainerId,
    pending: VecDeque<LogLine>,
    skipped: u64,
    tx: mpsc::Sender<Msg>,
    /// Lines from several tasks: each batch is put in time order (the first batch holds every
    /// task's tail).
    by_time: bool,
}

impl Outbox {
    fn push(&mut self, line: LogLine) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            self.skipped += 1;
        }
        self.pending.push_back(line);
    }

    fn batch(&mut self, ended: Option<String>) -> Msg {
        if self.by_time {
            self.pending
                .make_contiguous()
                .sort_by_cached_key(|l| l.stamp().and_then(|t| t.parse::<jiff::Timestamp>().ok()));
        }
        Msg::Engine(EngineEvent::Logs(LogBatch {
            generation: self.generation,
            container: self.container.clone(),
            lines: self.pending.drain(..).collect(),
            skipped: std::mem::take(&mut self.skipped),
            ended,
        }))
    }

    /// Try to hand the pending lines over; if the app is busy, keep them (bounded). Returns
    /// false when the app is gone.
    fn flush(&mut self) -> bool {
        if self.pending.is_empty() && self.skipped == 0 {
            return true;
        }
        let tx = self.tx.clone();
        let permit = match tx.try_reserve() {
            Ok(p) => p,
            Err(mpsc::error::TrySendError::Full(())) => return true,
            Err(mpsc::error::TrySendError::Closed(())) => return false,
        };
        permit.send(self.batch(None));
        true
    }

    async fn finish(mut self, ended: String) {
        let msg = self.batch(Some(ended));
        let _ = self.tx.send(msg).await;
    }
}

/// Reassembles lines from frames that may split or join them.
#[derive(Default)]
pub(super) struct Assembler {
    buf: Vec<u8>,
    /// Bytes of the current line beyond what we keep.
    cut: usize,
}

impl Assembler {
    pub(super) fn push(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8], usize)) {
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            let line = &bytes[..nl];
            if self.buf.is_empty() && self.cut == 0 && line.len() <= MAX_LINE_BYTES + 4 {
                // A whole line in this piece (most of them): passed on where it lies.
                emit(line, 0);
            } else {
                self.take(line);
                emit(&self.buf, self.cut);
                self.buf.clear();
                self.cut = 0;
            }
            bytes = &bytes[nl + 1..];
        }
        self.take(bytes);
    }

    fn take(&mut self, part: &[u8]) {
        // Keep a little more than the display cap so sanitize can count what it cuts itself.
        let room = (MAX_LINE_BYTES + 4).saturating_sub(self.buf.len());
        let keep = part.len().min(room);
        self.buf.extend_from_slice(&part[..keep]);
        self.cut += part.len() - keep;
    }

    pub(super) fn finish(&mut self, mut emit: impl FnMut(&[u8], usize)) {
        if !self.buf.is_empty() || self.cut > 0 {
            emit(&self.buf, self.cut);
            self.buf.clear();
            self.cut = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(chunks: &[&[u8]]) -> Vec<(Vec<u8>, usize)> {
        let mut a = Assembler::default();
        let mut out = Vec::new();
        for c in chunks {
            a.push(c, |l, cut| out.push((l.to_vec(), cut)));
        }
        a.finish(|l, cut| out.push((l.to_vec(), cut)));
        out
    }

    /// A local "engine" that answers a log request with `answer` and keeps the connection.
    fn fake_engine(answer: &'static [u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 4096];
            let _ = c.read(&mut req);
            c.write_all(answer).unwrap();
            std::thread::sleep(Duration::from_secs(5));
        });
        (dir, path)
    }

    async fn follow_fake(answer: &'static [u8]) -> LogBatch {
        let (_dir, path) = fake_engine(answer);
        let docker = Docker::connect_with_unix(path.to_str().unwrap(), 5, bollard::API_DEFAULT_VERSION).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let f =
            Follow { id: ContainerId("c1".into()), generation: 1, tail: 10, since: None, source: Source::Container };
        let _t = spawn(docker, Some(path), f, Masker::default(), tx);
        // Every line of every batch, and the end.
        let mut lines = Vec::new();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            if let Msg::Engine(EngineEvent::Logs(b)) = m {
                lines.extend(b.lines);
                if b.ended.is_some() {
                    return LogBatch { lines, ..b };
                }
            }
        }
    }

    #[tokio::test]
    async fn a_hostile_engine_error_ends_the_stream_inert_and_masked() {
        let b = follow_fake(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"message\":\"\\u001b]0;pwned\\u0007 token=abc123def\"}",
        )
        .await;
        let why = b.ended.unwrap();
        assert!(why.contains("500") && why.contains("␛]0;pwned␇"), "{why}");
        assert!(!why.chars().any(char::is_control) && !why.contains("abc123def"), "{why}");
    }

    #[tokio::test]
    async fn hostile_bytes_in_a_streamed_line_are_inert_and_a_broken_stream_says_so() {
        // One line (a frame with an escape sequence and a secret), then a chunk whose size is
        // not hexadecimal.
        let b = follow_fake(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n26\r\n\x01\0\0\0\0\0\0\x1e\x1b[2Jwiped password=hunter22 x\n\r\nzz\r\n",
        )
        .await;
        let texts: Vec<&str> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert!(texts.contains(&"␛[2Jwiped password=**** x"), "{texts:?} {:?}", b.ended);
        let why = b.ended.unwrap();
        assert!(why.contains("not hexadecimal"), "{why}");
    }

    #[test]
    fn joins_split_lines_and_splits_joined_ones() {
        let out = lines(&[b"he", b"llo\nwor", b"ld\nx\n", b"tail"]);
        let texts: Vec<&[u8]> = out.iter().map(|(l, _)| l.as_slice()).collect();
        assert_eq!(texts, vec![&b"hello"[..], b"world", b"x", b"tail"]);
    }

    #[test]
    fn a_megabyte_line_is_bounded_and_counted() {
        let big = vec![b'a'; 1 << 20];
        let out = lines(&[&big[..300_000], &big[300_000..], b"\nnext\n"]);
        assert_eq!(out.len(), 2);
        assert!(out[0].0.len() <= MAX_LINE_BYTES + 4);
        assert_eq!(out[0].0.len() + out[0].1, 1 << 20);
        assert_eq!(out[1].0, b"next");
    }
}
