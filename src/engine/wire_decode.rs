//! The byte-level parts of [`super::log_wire`], kept pure so each can be fed any split of its
//! input in tests: an HTTP/1.1 response head, the body's framing (chunked, by length, or to the
//! end of the connection) and the engine's stream frames (8-byte header: stream, three zero
//! bytes, big-endian length; none at all for a container with a TTY).
//!
//! Every state is bounded: a chunk-size line has a cap, and payloads are passed on in the pieces
//! they arrive in, whatever length a header claims.

/// A chunk-size line longer than this is not HTTP.
const MAX_SIZE_LINE: usize = 1024;

/// What the response head says.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub status: u16,
    chunked: bool,
    length: Option<u64>,
    /// The engine said the body is multiplexed (API 1.42 and later); an older engine says
    /// nothing either way and the first bytes tell.
    pub multiplexed: Option<bool>,
}

impl Head {
    /// The head and where the body starts, once the whole head is in `buf`.
    pub(super) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(None) };
        let text = std::str::from_utf8(&buf[..end]).map_err(|_| "a response head that is not text".to_owned())?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = match status_line.split(' ').collect::<Vec<_>>()[..] {
            [v, code, ..] if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
            _ => None,
        }
        .ok_or_else(|| format!("not an HTTP response: {:?}", crate::logtext::inert(status_line)))?;
        let mut head = Head { status, chunked: false, length: None, multiplexed: None };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                head.chunked = value.to_ascii_lowercase().split(',').any(|v| v.trim() == "chunked");
            } else if name.eq_ignore_ascii_case("content-length") {
                head.length = Some(value.parse().map_err(|_| "a content length that is not a number".to_owned())?);
            } else if name.eq_ignore_ascii_case("content-type") {
                let t = value.to_ascii_lowercase();
                if t.starts_with("application/vnd.docker.multiplexed-stream") {
                    head.multiplexed = Some(true);
                }
            }
        }
        Ok(Some((head, end + 4)))
    }

    pub(super) fn body(&self) -> Body {
        if self.chunked {
            Body::Chunked(Chunk::Size(Vec::new()))
        } else if let Some(n) = self.length {
            if n == 0 { Body::Done } else { Body::Length(n) }
        } else {
            Body::UntilClose
        }
    }
}

/// The response head is read up to this size.
const MAX_HEAD: usize = 64 * 1024;

/// A GET request for `path` (its query already encoded), the connection's only one.
pub(super) fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: stackdeck\r\nConnection: close\r\n\r\n")
}

/// A response head as it comes in, in pieces.
#[derive(Debug, Default)]
pub(super) struct HeadReader(Vec<u8>);

impl HeadReader {
    /// Add what was read: once the head is whole, the head and the body bytes that came with it.
    pub(super) fn push(&mut self, data: &[u8]) -> Result<Option<(Head, Vec<u8>)>, String> {
        self.0.extend_from_slice(data);
        if let Some((head, start)) = Head::parse(&self.0)? {
            return Ok(Some((head, self.0[start..].to_vec())));
        }
        if self.0.len() > MAX_HEAD {
            return Err(format!("a response head longer than {MAX_HEAD} bytes"));
        }
        Ok(None)
    }
}

/// Text as one URL path segment or query value: every byte outside the unreserved set
/// percent-encoded, so nothing in it can change the request.
pub(super) fn percent_encode(s: &str) -> String {
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

/// The engine's error for a refused request: its JSON `message`, or the body's text.
pub(super) fn server_error(status: u16, body: &[u8]) -> bollard::errors::Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    bollard::errors::Error::DockerResponseServerError { status_code: status, message }
}

/// The body's framing, as a state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Body {
    Chunked(Chunk),
    Length(u64),
    UntilClose,
    Done,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    /// Reading a chunk-size line (what of it has come).
    Size(Vec<u8>),
    /// Bytes of the current chunk still to come.
    Data(u64),
    /// The CRLF after a chunk's data: how many of its two bytes have come.
    DataEnd(u8),
}

impl Body {
    pub(super) fn done(&self) -> bool {
        matches!(self, Body::Done)
    }

    /// The connection ended: the end of a body that runs to it, an error for any other.
    pub(super) fn eof(&mut self) -> Result<(), String> {
        match self {
            Body::UntilClose | Body::Done => {
                *self = Body::Done;
                Ok(())
            }
            _ => Err("the connection ended inside the body".to_owned()),
        }
    }

    /// Feed bytes off the connection; each run of body data goes to `out`. Bytes after the end
    /// of the body are ignored. Says how many chunks began (each is one flush of the engine's).
    pub(super) fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<usize, String> {
        let mut chunks = 0;
        while !input.is_empty() {
            match self {
                Body::Done => return Ok(chunks),
                Body::UntilClose => {
                    out(input);
                    return Ok(chunks);
                }
                Body::Length(n) => {
                    let take = usize::try_from(*n).unwrap_or(usize::MAX).min(input.len());
                    out(&input[..take]);
                    *n -= take as u64;
                    input = &input[take..];
                    if *n == 0 {
                        *self = Body::Done;
                    }
                }
                Body::Chunked(Chunk::Size(line)) => {
                    let nl = input.iter().position(|&b| b == b'\n');
                    let part = &input[..nl.map_or(input.len(), |i| i + 1)];
                    if line.len() + part.len() > MAX_SIZE_LINE {
                        return Err(format!("a chunk-size line longer than {MAX_SIZE_LINE} bytes"));
                    }
                    line.extend_from_slice(part);
                    input = &input[part.len()..];
                    if nl.is_some() {
                        let size = chunk_size(line)?;
                        chunks += usize::from(size > 0);
                        *self = if size == 0 { Body::Done } else { Body::Chunked(Chunk::Data(size)) };
                    }
                }
                Body::Chunked(Chunk::Data(n)) => {
                    let take = usize::try_from(*n).unwrap_or(usize::MAX).min(input.len());
                    out(&input[..take]);
                    *n -= take as u64;
                    input = &input[take..];
                    if *n == 0 {
                        *self = Body::Chunked(Chunk::DataEnd(0));
                    }
                }
                Body::Chunked(Chunk::DataEnd(seen)) => {
                    let want = if *seen == 0 { b'\r' } else { b'\n' };
                    if input[0] != want {
                        return Err("a chunk not followed by CRLF".to_owned());
                    }
                    input = &input[1..];
                    *self = if *seen == 0 {
                        Body::Chunked(Chunk::DataEnd(1))
                    } else {
                        Body::Chunked(Chunk::Size(Vec::new()))
                    };
                }
            }
        }
        Ok(chunks)
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(line).map_err(|_| "a chunk size that is not text".to_owned())?;
    let digits = text.split(';').next().unwrap_or_default().trim();
    if digits.is_empty() || digits.len() > 15 {
        return Err(format!("a chunk size that is not a size: {:?}", crate::logtext::inert(digits)));
    }
    u64::from_str_radix(digits, 16)
        .map_err(|_| format!("a chunk size that is not hexadecimal: {:?}", crate::logtext::inert(digits)))
}

/// The engine's stream frames, undone: each payload byte goes out with its stream.
#[derive(Debug)]
pub(super) struct Demux {
    mode: Mode,
    header: [u8; 8],
    have: usize,
    /// The current frame: stderr or not, and its payload bytes still to come.
    frame: Option<(bool, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not known until the first eight bytes have come.
    Unknown,
    Multiplexed,
    /// A TTY container's log: no frames, all of it stdout.
    Raw,
}

impl Demux {
    pub(super) fn new(multiplexed: Option<bool>) -> Demux {
        let mode = match multiplexed {
            Some(true) => Mode::Multiplexed,
            Some(false) => Mode::Raw,
            None => Mode::Unknown,
        };
        Demux { mode, header: [0; 8], have: 0, frame: None }
    }

    pub(super) fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(bool, &[u8])) -> Result<(), String> {
        while !input.is_empty() {
            if self.mode == Mode::Raw {
                out(false, input);
                return Ok(());
            }
            if let Some((stderr, left)) = &mut self.frame {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(input.len());
                out(*stderr, &input[..take]);
                *left -= take as u64;
                input = &input[take..];
                if *left == 0 {
                    self.frame = None;
                }
                continue;
            }
            let take = (8 - self.have).min(input.len());
            self.header[self.have..self.have + take].copy_from_slice(&input[..take]);
            self.have += take;
            input = &input[take..];
            if self.have < 8 {
                continue;
            }
            self.have = 0;
            let h = self.header;
            let framed = h[0] <= 3 && h[1..4] == [0, 0, 0];
            if self.mode == Mode::Unknown {
                if !framed {
                    // A TTY's log: the eight bytes were text.
                    self.mode = Mode::Raw;
                    out(false, &h);
                    continue;
                }
                self.mode = Mode::Multiplexed;
            }
            if !framed {
                return Err("a frame header that is not one".to_owned());
            }
            let len = u64::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]]));
            // 0 stdin, 1 stdout (shown as stdout), 2 stderr, 3 the engine's own error.
            if len > 0 {
                self.frame = Some((h[0] >= 2, len));
            }
        }
        Ok(())
    }

    /// Bytes held back at the end: the start of a TTY log shorter than a header.
    pub(super) fn finish(&mut self, out: &mut impl FnMut(bool, &[u8])) {
        if self.mode == Mode::Unknown && self.have > 0 {
            out(false, &self.header[..self.have]);
            self.have = 0;
        }
    }
}

#[cfg(test)]
#[path = "wire_decode_tests.rs"]
mod tests;
