//! A container's log stream read straight off a local engine socket, in paced reads.
//!
//! Through bollard, every log line the engine flushes is one wake-up of the connection task, a
//! hand-over to the follow task and a wake-up of that: under a 20 000 lines/s flood the panel
//! spent most of its time in `epoll_wait`, `futex` and context switches, not on the lines
//! (`docs/benchmarks.md`, round 2). Pausing between reads inside the runtime does not help: the
//! socket stays in the runtime's epoll set, and every line the engine writes wakes a worker
//! anyway (strace: one `epoll_wait` return per write).
//!
//! So a followed stream has its own small thread. It sleeps in `poll(2)` on the socket and on a
//! stop pipe, reads what the kernel holds, decodes HTTP chunks and the engine's stream frames in
//! place, hands the pieces to the follow task, and then sleeps on the stop pipe alone for a
//! pause ([`Pace`]): writes during the pause wake nobody, so a flood arrives as a few large reads
//! while a quiet stream's next line still comes at once. Under a flood the decoded pieces are
//! also [`Held`] for a few reads and handed over together, so the follow task wakes about 50
//! times a second, not once a read. Dropping the stream closes the pipe's write end, which ends
//! the thread at once, whatever it waits for.
//!
//! Only for engines on a `unix://` socket (a local engine, or the local end of an ssh forward);
//! TLS and TCP engines keep bollard's stream. Everything read is bounded: a chunk-size line, an
//! error body and the response head have caps, and frame payloads are passed on as they come,
//! never collected whole, so a hostile length cannot make us allocate.

use super::wire_decode::{Body, Demux, HeadReader, get_request, percent_encode};
use bollard::container::LogOutput;
use bytes::Bytes;
use futures::Stream;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The pause after a read that emptied the socket, adapted to the stream's rate.
///
/// The engine writes each log line as one flush, and its socket buffer (212 992 bytes by
/// default) holds only about 200 of them, whatever their size: the kernel charges about 1 KB for
/// each small write. A fixed pause would cap a stream at 200 lines a pause (10 000 lines/s at
/// 20 ms, below the bench's flood). So the pause halves when a read found the buffer half full
/// or more, and doubles when it found little, between 1 and 20 ms: a quiet stream is read at
/// once (its first line ends a long wait) and a flood in ~64-line reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pace(Duration);

impl Pace {
    const MIN: Duration = Duration::from_millis(1);
    /// Below the follow loop's batching delay (50 ms): a quiet stream's lines wait no longer.
    const MAX: Duration = Duration::from_millis(20);
    /// Flushes read at once that mean the engine's buffer was half full (it may have waited).
    const MANY: usize = 96;
    const FEW: usize = 24;

    pub(super) fn new() -> Pace {
        Pace(Pace::MAX)
    }

    /// The pause before the next read, after one that took `chunks` of the engine's flushes.
    pub(super) fn after(&mut self, chunks: usize) -> Duration {
        if chunks >= Pace::MANY {
            self.0 = (self.0 / 2).max(Pace::MIN);
        } else if chunks <= Pace::FEW {
            self.0 = (self.0 * 2).min(Pace::MAX);
        }
        self.0
    }
}
/// Decoded pieces waiting to be handed over, each run of one stream in one piece.
///
/// A quiet stream's piece goes on at once. Under a flood (the pace below its maximum) pieces
/// wait up to [`Held::HOLD`] or until [`Held::BYTES`] have gathered: the follow task batches
/// its lines for 50 ms anyway, and each hand-over wakes it.
#[derive(Debug, Default)]
pub(super) struct Held {
    pieces: VecDeque<(bool, Vec<u8>)>,
    bytes: usize,
    since: Option<Instant>,
}

impl Held {
    const HOLD: Duration = Duration::from_millis(20);
    const BYTES: usize = 1024 * 1024;

    pub(super) fn push(&mut self, stderr: bool, part: &[u8], now: Instant) {
        match self.pieces.back_mut() {
            Some((s, bytes)) if *s == stderr => bytes.extend_from_slice(part),
            _ => self.pieces.push_back((stderr, part.to_vec())),
        }
        self.bytes += part.len();
        self.since.get_or_insert(now);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The time the held pieces must go on by.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.since.map(|t| t + Held::HOLD)
    }

    /// Whether to hand over now: the stream is quiet (its pace at the maximum), the pieces have
    /// waited long enough, or they are many.
    pub(super) fn due(&self, now: Instant, quiet: bool) -> bool {
        !self.is_empty() && (quiet || self.bytes >= Held::BYTES || self.deadline().is_some_and(|d| now >= d))
    }

    pub(super) fn take(&mut self) -> impl Iterator<Item = LogOutput> + use<> {
        self.bytes = 0;
        self.since = None;
        std::mem::take(&mut self.pieces).into_iter().map(|(stderr, bytes)| {
            let message = Bytes::from(bytes);
            if stderr { LogOutput::StdErr { message } } else { LogOutput::StdOut { message } }
        })
    }
}

/// Bytes read at once at most (about 450 lines of the demo mix; the engine's socket buffer
/// holds about 200 of its writes): a read that fills it is followed at once.
const READ_SIZE: usize = 64 * 1024;
/// An error's body is read up to this size.
const MAX_ERROR_BODY: usize = 16 * 1024;

type Item = Result<LogOutput, bollard::errors::Error>;

/// The query of a follow request: the same parameters bollard's `LogsOptions` sends.
pub(super) fn query(tail: Option<u32>, since: Option<i64>) -> String {
    let mut q = String::from("follow=1&stdout=1&stderr=1&timestamps=1");
    match (since, tail) {
        (Some(s), _) => q.push_str(&format!("&since={s}&tail=all")),
        (None, Some(n)) => q.push_str(&format!("&tail={n}")),
        (None, None) => q.push_str("&tail=all"),
    }
    q
}

/// Follow one container's log on the engine at `socket`, as a stream of the frames bollard's
/// `logs` would give: the same lines, in fewer, larger pieces.
pub(super) fn follow(socket: PathBuf, container: String, query: String) -> impl Stream<Item = Item> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Item>(64);
    let started = nix::unistd::pipe().map_err(std::io::Error::from).and_then(|(stop, stop_tx)| {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("log-wire".into())
            .spawn(move || {
                if let Err(e) = read_all(&socket, &container, &query, &stop, &tx) {
                    let _ = tx.blocking_send(Err(e));
                }
            })
            .map(|_| stop_tx)
    });
    let stop_tx = match started {
        Ok(fd) => Some(fd),
        Err(e) => {
            let _ = tx.try_send(Err(e.into()));
            None
        }
    };
    drop(tx);
    // The pipe's write end lives as long as the stream: dropped with it, it stops the thread.
    futures::stream::unfold((rx, stop_tx), |(mut rx, stop_tx)| async move {
        rx.recv().await.map(|item| (item, (rx, stop_tx)))
    })
}

/// The reader thread: connect, ask, then read and hand over until the body ends, the
/// connection fails, or the stream is dropped (the stop pipe closes: `Ok`).
fn read_all(
    socket: &Path,
    container: &str,
    query: &str,
    stop: &OwnedFd,
    tx: &mpsc::Sender<Item>,
) -> Result<(), bollard::errors::Error> {
    let Some((mut wire, fault)) = Wire::open(socket, container, query, stop)? else { return Ok(()) };
    let mut pace = Pace::new();
    // What came with the head goes on at once, then a fault in it; a closed channel means the
    // stream was dropped.
    let hand_over = |held: &mut Held| held.take().all(|item| tx.blocking_send(Ok(item)).is_ok());
    if !hand_over(&mut wire.held) {
        return Ok(());
    }
    if let Some(f) = fault {
        return Err(protocol(f));
    }
    loop {
        if wire.body.done() {
            hand_over(&mut wire.held);
            return Ok(());
        }
        // Held pieces wait for the socket no longer than their deadline.
        let timeout = wire.held.deadline().map(|d| d.saturating_duration_since(Instant::now()));
        match wait(wire.sock.as_fd(), stop, timeout)? {
            Ready::Stopped => return Ok(()),
            Ready::TimedOut => {
                if !hand_over(&mut wire.held) {
                    return Ok(());
                }
                continue;
            }
            Ready::Readable => {}
        }
        let n = match wire.sock.read(&mut wire.buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                hand_over(&mut wire.held);
                return Err(e.into());
            }
        };
        if n == 0 && wire.body.eof().is_err() {
            hand_over(&mut wire.held);
            return Err(eof("mid-stream"));
        }
        let buf = std::mem::take(&mut wire.buf);
        let chunks = wire.take(&buf[..n]);
        wire.buf = buf;
        // A read that filled the buffer is followed at once; any other, after the pause.
        let full = n == wire.buf.len();
        let next = if full { pace.after(Pace::MANY) } else { pace.after(*chunks.as_ref().unwrap_or(&0)) };
        // What was decoded before a fault still goes on, then the fault.
        if (chunks.is_err() || wire.body.done() || wire.held.due(Instant::now(), next == Pace::MAX))
            && !hand_over(&mut wire.held)
        {
            return Ok(());
        }
        chunks.map_err(protocol)?;
        if !full && n > 0 && !pause(stop, next)? {
            return Ok(());
        }
    }
}

/// What [`wait`] saw first.
#[derive(Debug, PartialEq, Eq)]
enum Ready {
    Readable,
    Stopped,
    TimedOut,
}

/// Wait for `sock` to be readable (or to fail: the read says how), for the stop pipe to close,
/// or for `timeout` to pass.
fn wait(sock: std::os::fd::BorrowedFd<'_>, stop: &OwnedFd, timeout: Option<Duration>) -> std::io::Result<Ready> {
    let timeout = timeout.map_or(PollTimeout::NONE, |t| PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX));
    loop {
        let mut fds = [PollFd::new(sock, PollFlags::POLLIN), PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(Ready::TimedOut),
            Ok(_) if fds[1].any().unwrap_or(true) => return Ok(Ready::Stopped),
            Ok(_) => return Ok(Ready::Readable),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sleep `d` on the stop pipe alone: the socket's writes wake nobody. False when it closed.
fn pause(stop: &OwnedFd, d: Duration) -> std::io::Result<bool> {
    let mut fds = [PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
    let timeout = PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, timeout) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

struct Wire {
    sock: UnixStream,
    body: Body,
    demux: Demux,
    buf: Box<[u8]>,
    /// Decoded pieces not yet handed over.
    held: Held,
}

impl Wire {
    /// Connect and read the response head; `None` when stopped meanwhile. With the wire, a
    /// fault in the body bytes that came with the head.
    fn open(
        socket: &Path,
        container: &str,
        query: &str,
        stop: &OwnedFd,
    ) -> Result<Option<(Wire, Option<String>)>, bollard::errors::Error> {
        let mut sock = UnixStream::connect(socket)?;
        sock.write_all(get_request(&format!("/containers/{}/logs?{query}", percent_encode(container))).as_bytes())?;
        let mut buf = vec![0u8; READ_SIZE].into_boxed_slice();
        let mut head = HeadReader::default();
        let (parsed, rest) = loop {
            if wait(sock.as_fd(), stop, None)? != Ready::Readable {
                return Ok(None);
            }
            let n = sock.read(&mut buf)?;
            if n == 0 {
                return Err(eof("before its response head"));
            }
            if let Some(h) = head.push(&buf[..n]).map_err(protocol)? {
                break h;
            }
        };
        let mut wire =
            Wire { sock, body: parsed.body(), demux: Demux::new(parsed.multiplexed), buf, held: Held::default() };
        if parsed.status != 200 {
            return Err(wire.error_body(parsed.status, rest, stop));
        }
        // Body bytes that came with the head; a fault in them is said after what they held.
        let fault = wire.take(&rest).err();
        Ok(Some((wire, fault)))
    }

    /// Decode bytes of the response body into the held pieces. Says how many of the engine's
    /// chunks began.
    fn take(&mut self, data: &[u8]) -> Result<usize, String> {
        let Wire { body, demux, held, .. } = self;
        let now = Instant::now();
        let mut failed = None;
        // What decoded before a fault is held all the same; the fault comes after it.
        let fed = body.feed(data, &mut |payload| {
            if failed.is_some() {
                return;
            }
            if let Err(e) = demux.feed(payload, &mut |stderr, part| held.push(stderr, part, now)) {
                failed = Some(e);
            }
        });
        if body.done() {
            // A TTY log shorter than a frame header is all there was.
            demux.finish(&mut |stderr, part| held.push(stderr, part, now));
        }
        match failed {
            Some(e) => Err(e),
            None => fed,
        }
    }

    /// The engine's error for a refused request: its JSON `message`, or the body's text.
    fn error_body(&mut self, status: u16, rest: Vec<u8>, stop: &OwnedFd) -> bollard::errors::Error {
        let mut text = Vec::new();
        let mut pending = rest;
        loop {
            let fed = self.body.feed(&pending, &mut |b| {
                let room = MAX_ERROR_BODY.saturating_sub(text.len());
                text.extend_from_slice(&b[..b.len().min(room)]);
            });
            if fed.is_err() || self.body.done() || text.len() >= MAX_ERROR_BODY {
                break;
            }
            // An error body comes at once: a few seconds at most for the rest of it.
            if !matches!(wait(self.sock.as_fd(), stop, Some(Duration::from_secs(5))), Ok(Ready::Readable)) {
                break;
            }
            match self.sock.read(&mut self.buf) {
                Ok(n) if n > 0 => pending = self.buf[..n].to_vec(),
                _ => break,
            }
        }
        super::wire_decode::server_error(status, &text)
    }
}

fn eof(when: &str) -> bollard::errors::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("the engine closed the log stream {when}")).into()
}

fn protocol(why: String) -> bollard::errors::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the engine's log stream: {why}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_follows_the_streams_rate() {
        let mut p = Pace::new();
        // A flood: each read finds the engine's buffer full, the pause halves down to 1 ms.
        let flood: Vec<u128> = (0..6).map(|_| p.after(200).as_millis()).collect();
        assert_eq!(flood, [10, 5, 2, 1, 1, 1]);
        // A rate that fills about half of it between reads: the pause holds.
        assert_eq!(p.after(50), Duration::from_millis(1));
        // Quiet again: back up to 20 ms, no further.
        let quiet: Vec<u128> = (0..6).map(|_| p.after(1).as_millis()).collect();
        assert_eq!(quiet, [2, 4, 8, 16, 20, 20]);
    }

    #[test]
    fn held_pieces_go_on_when_quiet_late_or_many() {
        let t0 = Instant::now();
        let mut h = Held::default();
        assert!(!h.due(t0, true), "nothing held, nothing to hand over");
        h.push(false, b"a\n", t0);
        h.push(false, b"b\n", t0 + Duration::from_millis(3));
        h.push(true, b"e\n", t0 + Duration::from_millis(4));
        h.push(false, b"c\n", t0 + Duration::from_millis(5));
        // Quiet: at once. A flood: not before the deadline, counted from the first piece.
        assert!(h.due(t0, true));
        assert!(!h.due(t0 + Duration::from_millis(19), false));
        assert_eq!(h.deadline(), Some(t0 + Held::HOLD));
        assert!(h.due(t0 + Held::HOLD, false));
        // One piece per run of one stream, in order.
        let got: Vec<(bool, Vec<u8>)> = h
            .take()
            .map(|o| match o {
                LogOutput::StdErr { message } => (true, message.to_vec()),
                other => (false, other.into_bytes().to_vec()),
            })
            .collect();
        assert_eq!(got, [(false, b"a\nb\n".to_vec()), (true, b"e\n".to_vec()), (false, b"c\n".to_vec())]);
        assert!(h.is_empty() && h.deadline().is_none());
        // Many bytes: at once, whatever the pace.
        h.push(false, &vec![b'x'; Held::BYTES], t0);
        assert!(h.due(t0, false));
    }

    #[test]
    fn a_name_cannot_change_the_request() {
        assert_eq!(percent_encode("abc123"), "abc123");
        assert_eq!(percent_encode("a/../b?x=1 HTTP/1.1\r\n"), "a%2F..%2Fb%3Fx%3D1%20HTTP%2F1.1%0D%0A");
    }

    #[test]
    fn the_query_asks_what_bollards_did() {
        assert_eq!(query(Some(200), None), "follow=1&stdout=1&stderr=1&timestamps=1&tail=200");
        assert_eq!(
            query(Some(200), Some(1_700_000_000)),
            "follow=1&stdout=1&stderr=1&timestamps=1&since=1700000000&tail=all"
        );
    }
}
