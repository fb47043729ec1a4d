//! An engine's answer read straight off its local socket, as the bytes it sent.
//!
//! For the swarm feed's read of the tasks and nodes every 2 s: the answer is compared with the
//! last one before anything is parsed. An idle swarm's answer does not change, byte for byte,
//! so an idle panel parses nothing (about 150 KB of JSON for 100 tasks, each time, through
//! bollard). Only for engines on a `unix://` socket, like [`super::log_wire`]; the others keep
//! bollard's calls.
//!
//! Bounded: the head and the body have caps, and a refused request gives the engine's message
//! as bollard would.

use super::wire_decode::{Body, HeadReader, get_request, percent_encode, server_error};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A task list's answer is about 1.5 KB a task: room for tens of thousands.
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;

/// `GET path` (with its query, already encoded) on the engine at `socket`: the whole body.
pub(super) async fn get(socket: &Path, path: &str) -> Result<Vec<u8>, bollard::errors::Error> {
    let mut sock = tokio::net::UnixStream::connect(socket).await?;
    sock.write_all(get_request(path).as_bytes()).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = HeadReader::default();
    let (parsed, first) = loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Err(fault("the engine closed the connection before its response head"));
        }
        if let Some(h) = head.push(&buf[..n]).map_err(fault)? {
            break h;
        }
    };
    let mut body = parsed.body();
    let mut out = Vec::new();
    take(&mut body, &first, &mut out)?;
    while !body.done() {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            body.eof().map_err(|_| fault("the engine closed the connection mid-answer"))?;
            break;
        }
        take(&mut body, &buf[..n], &mut out)?;
    }
    if parsed.status != 200 {
        return Err(server_error(parsed.status, &out[..out.len().min(16 * 1024)]));
    }
    Ok(out)
}

/// Decode body bytes onto `out`, up to [`MAX_BODY`].
/// The last answer to one GET, as the engine sent it: the same bytes again are not parsed.
#[derive(Debug, Default)]
pub(super) struct LastAnswer(Vec<u8>);

impl LastAnswer {
    /// `GET path` on the engine at `socket`, parsed only when its bytes differ from the last
    /// answer (`None`: the same, byte for byte).
    pub(super) async fn get_if_changed<T: serde::de::DeserializeOwned>(
        &mut self,
        socket: &Path,
        path: &str,
    ) -> Result<Option<T>, bollard::errors::Error> {
        let bytes = get(socket, path).await?;
        if bytes == self.0 {
            return Ok(None);
        }
        let parsed = serde_json::from_slice(&bytes)?;
        self.0 = bytes;
        Ok(Some(parsed))
    }
}

fn take(body: &mut Body, data: &[u8], out: &mut Vec<u8>) -> Result<(), bollard::errors::Error> {
    let mut over = false;
    body.feed(data, &mut |piece| {
        if out.len() + piece.len() > MAX_BODY {
            over = true;
        } else {
            out.extend_from_slice(piece);
        }
    })
    .map_err(fault)?;
    if over { Err(fault(format!("an answer longer than {} MB", MAX_BODY / (1024 * 1024)))) } else { Ok(()) }
}

/// A query's `filters` parameter: the JSON the engine expects, percent-encoded.
pub(super) fn filters(f: &std::collections::HashMap<String, Vec<String>>) -> String {
    let sorted: std::collections::BTreeMap<_, _> = f.iter().collect();
    percent_encode(&serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".into()))
}

fn fault(why: impl std::fmt::Display) -> bollard::errors::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the engine's answer: {why}")).into()
}

/// A local "engine" for tests: it answers each connection with the next of `bodies` (200, by
/// length) and gives back the request line of each.
#[cfg(test)]
pub(super) fn fake_engine(
    bodies: Vec<&'static str>,
) -> (tempfile::TempDir, std::path::PathBuf, std::thread::JoinHandle<Vec<String>>) {
    fake_engine_with(bodies.into_iter().map(|b| (200, b)).collect())
}

/// [`fake_engine`] with a status code for each answer.
#[cfg(test)]
pub(super) fn fake_engine_with(
    answers: Vec<(u16, &'static str)>,
) -> (tempfile::TempDir, std::path::PathBuf, std::thread::JoinHandle<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("engine.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let engine = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut asked = Vec::new();
        for (status, body) in answers {
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 4096];
            let n = c.read(&mut req).unwrap();
            asked.push(String::from_utf8_lossy(&req[..n]).lines().next().unwrap_or("").to_owned());
            write!(c, "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        }
        asked
    });
    (dir, sock, engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A local "engine" that answers one request with `answer`, then closes.
    fn engine(answer: Vec<u8>) -> (tempfile::TempDir, std::path::PathBuf, std::thread::JoinHandle<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 4096];
            let n = c.read(&mut req).unwrap();
            // In small pieces, as a busy engine may send them.
            for piece in answer.chunks(7) {
                c.write_all(piece).unwrap();
            }
            String::from_utf8_lossy(&req[..n]).into_owned()
        });
        (dir, path, t)
    }

    fn get_from(answer: &[u8], path: &str) -> (Result<Vec<u8>, bollard::errors::Error>, String) {
        let (_dir, sock, t) = engine(answer.to_vec());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let r = rt.block_on(get(&sock, path));
        (r, t.join().unwrap())
    }

    #[test]
    fn a_chunked_answer_comes_back_as_the_bytes_sent() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{\"a\"\r\n3\r\n:1}\r\n1\r\n]\r\n0\r\n\r\n";
        let (r, req) = get_from(answer, "/v1.41/tasks?filters=%7B%7D");
        assert_eq!(r.unwrap(), b"[{\"a\":1}]");
        assert!(req.starts_with("GET /v1.41/tasks?filters=%7B%7D HTTP/1.1\r\n"), "{req}");
    }

    #[test]
    fn an_answer_by_length_and_a_refusal() {
        let (r, _) = get_from(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]", "/nodes");
        assert_eq!(r.unwrap(), b"[]");
        let body = "{\"message\":\"This node is not a swarm manager.\\u001b[2J\"}\n";
        let answer = format!("HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let (r, _) = get_from(answer.as_bytes(), "/nodes");
        match r {
            Err(bollard::errors::Error::DockerResponseServerError { status_code, message }) => {
                assert_eq!(status_code, 503);
                // The words are the engine's: made inert where they are shown, not here.
                assert_eq!(message, "This node is not a swarm manager.\u{1b}[2J");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cut_or_broken_answer_is_an_error() {
        let (r, _) = get_from(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[{\"a\"", "/tasks");
        assert!(r.unwrap_err().to_string().contains("mid-answer"));
        let (r, _) = get_from(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "/tasks");
        assert!(r.is_err());
        let (r, _) = get_from(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "/tasks");
        assert!(r.unwrap_err().to_string().contains("not an HTTP response"));
    }

    #[test]
    fn filters_are_json_percent_encoded() {
        let mut f = std::collections::HashMap::new();
        f.insert("desired-state".to_owned(), vec!["running".to_owned()]);
        assert_eq!(filters(&f), "%7B%22desired-state%22%3A%5B%22running%22%5D%7D");
    }
}
