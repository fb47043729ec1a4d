//! A container's log stream read straight off a local engine socket, in paced reads.
//!
//! Through bollard, every log line the engine flushes is one wake-up of the connection task, a
//! hand-over to the follow task and a wake-up of that: under a 20 000 lines/s flood the panel
//! spent most of its time in `epoll_wait`, `futex` and context switches, not on the lines
//! (`docs/benchmarks.md`, round 2). Here one task reads the socket itself: it drains what the
//! kernel holds, decodes HTTP chunks and the engine's stream frames in place, and reads again
//! only after a pause ([`Pace`]), so a flood arrives as a few large reads and a quiet stream's
//! next line still comes at once.
//!
//! Only for engines on a `unix://` socket (a local engine, or the local end of an ssh forward);
//! TLS and TCP engines keep bollard's stream. Everything read is bounded: a chunk-size line, an
//! error body and the response head have caps, and frame payloads are passed on as they come,
//! never collected whole, so a hostile length cannot make us allocate.

use super::wire_decode::{Body, Demux, Head};
use bollard::container::LogOutput;
use bytes::Bytes;
use futures::Stream;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

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
    /// Below the follow loop's batching delay: no line waits longer than it did before.
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
/// Bytes read per wake-up at most; when the socket still holds more, the next read is not paced.
const READ_BUDGET: usize = 512 * 1024;
const READ_SIZE: usize = 64 * 1024;
/// The response head and an error's body are read up to these sizes.
const MAX_HEAD: usize = 64 * 1024;
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
    futures::stream::unfold(State::Start { socket, container, query }, |st| async move {
        let mut wire = match st {
            State::Start { socket, container, query } => match Wire::open(&socket, &container, &query).await {
                Ok(w) => w,
                Err(e) => return Some((Err(e), State::Ended)),
            },
            State::Open(w) => w,
            State::Ended => return None,
        };
        loop {
            if let Some(item) = wire.queue.pop_front() {
                return Some((Ok(item), State::Open(wire)));
            }
            match wire.read().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some((Err(e), State::Ended)),
            }
        }
    })
}

enum State {
    Start { socket: PathBuf, container: String, query: String },
    Open(Box<Wire>),
    Ended,
}

struct Wire {
    sock: UnixStream,
    body: Body,
    demux: Demux,
    buf: Box<[u8]>,
    /// Decoded pieces not yet taken.
    queue: VecDeque<LogOutput>,
    /// No read before this, when the last one drained the socket.
    not_before: Option<tokio::time::Instant>,
    pace: Pace,
}

impl Wire {
    async fn open(socket: &Path, container: &str, query: &str) -> Result<Box<Wire>, bollard::errors::Error> {
        let mut sock = UnixStream::connect(socket).await?;
        let req = format!(
            "GET /containers/{}/logs?{query} HTTP/1.1\r\nHost: docker\r\nUser-Agent: stackdeck\r\nConnection: close\r\n\r\n",
            path_segment(container)
        );
        sock.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; READ_SIZE].into_boxed_slice();
        let mut head = Vec::new();
        let (parsed, rest) = loop {
            let n = read_some(&mut sock, &mut buf).await?;
            if n == 0 {
                return Err(eof("before its response head"));
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(h) = Head::parse(&head).map_err(protocol)? {
                break h;
            }
            if head.len() > MAX_HEAD {
                return Err(protocol(format!("a response head longer than {MAX_HEAD} bytes")));
            }
        };
        let rest = head[rest..].to_vec();
        let mut wire = Wire {
            sock,
            body: parsed.body(),
            demux: Demux::new(parsed.multiplexed),
            buf,
            queue: VecDeque::new(),
            not_before: None,
            pace: Pace::new(),
        };
        if parsed.status != 200 {
            return Err(wire.error_body(parsed.status, rest).await);
        }
        wire.take(&rest).map_err(protocol)?;
        Ok(Box::new(wire))
    }

    /// Read what the socket holds (paced), into the queue. False at the end of the stream.
    async fn read(&mut self) -> Result<bool, bollard::errors::Error> {
        if self.body.done() {
            return Ok(false);
        }
        if let Some(t) = self.not_before.take() {
            tokio::time::sleep_until(t).await;
        }
        let (mut got, mut chunks) = (0, 0);
        loop {
            self.sock.readable().await?;
            match self.sock.try_read(&mut self.buf) {
                Ok(0) => {
                    self.body.eof().map_err(|_| eof("mid-stream"))?;
                    self.take(&[]).map_err(protocol)?;
                    return Ok(true);
                }
                Ok(n) => {
                    let data = self.buf[..n].to_vec();
                    chunks += self.take(&data).map_err(protocol)?;
                    got += n;
                    if self.body.done() || got >= READ_BUDGET {
                        // More may be waiting: the next read is not paced.
                        self.pace.after(Pace::MANY);
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if got > 0 {
                        self.not_before = Some(tokio::time::Instant::now() + self.pace.after(chunks));
                        return Ok(true);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Decode bytes of the response body into the queue, one piece per run of one stream. Says
    /// how many of the engine's chunks began.
    fn take(&mut self, data: &[u8]) -> Result<usize, String> {
        let Wire { body, demux, queue, .. } = self;
        let mut last: Option<(bool, Vec<u8>)> = None;
        let flush = |queue: &mut VecDeque<LogOutput>, last: Option<(bool, Vec<u8>)>| {
            if let Some((stderr, bytes)) = last {
                let message = Bytes::from(bytes);
                queue.push_back(if stderr { LogOutput::StdErr { message } } else { LogOutput::StdOut { message } });
            }
        };
        let mut failed = None;
        let chunks = body.feed(data, &mut |payload| {
            if failed.is_some() {
                return;
            }
            let r = demux.feed(payload, &mut |stderr, part| match &mut last {
                Some((s, bytes)) if *s == stderr => bytes.extend_from_slice(part),
                _ => {
                    let done = last.replace((stderr, part.to_vec()));
                    flush(queue, done);
                }
            });
            if let Err(e) = r {
                failed = Some(e);
            }
        })?;
        if body.done() {
            // A TTY log shorter than a frame header is all there was.
            demux.finish(&mut |stderr, part| match &mut last {
                Some((s, bytes)) if *s == stderr => bytes.extend_from_slice(part),
                _ => flush(queue, last.replace((stderr, part.to_vec()))),
            });
        }
        flush(queue, last);
        failed.map_or(Ok(chunks), Err)
    }

    /// The engine's error for a refused request: its JSON `message`, or the body's text.
    async fn error_body(&mut self, status: u16, rest: Vec<u8>) -> bollard::errors::Error {
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
            match read_some(&mut self.sock, &mut self.buf).await {
                Ok(n) if n > 0 => pending = self.buf[..n].to_vec(),
                _ => break,
            }
        }
        let message = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&text).trim().to_owned());
        bollard::errors::Error::DockerResponseServerError { status_code: status, message }
    }
}

async fn read_some(sock: &mut UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    sock.read(buf).await
}

fn eof(when: &str) -> bollard::errors::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("the engine closed the log stream {when}")).into()
}

fn protocol(why: String) -> bollard::errors::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the engine's log stream: {why}")).into()
}

/// A container id or name as one URL path segment: every byte outside the unreserved set
/// percent-encoded, so nothing in it can change the request.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    fn a_name_cannot_change_the_request() {
        assert_eq!(path_segment("abc123"), "abc123");
        assert_eq!(path_segment("a/../b?x=1 HTTP/1.1\r\n"), "a%2F..%2Fb%3Fx%3D1%20HTTP%2F1.1%0D%0A");
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
