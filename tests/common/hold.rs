//! A unix-socket proxy in front of the real engine that holds back the answer to the first
//! request matching a pattern, and says when that request went through. It makes a window
//! between "the engine read its state" and "the client got it" as wide as a test needs, with
//! the real engine on both sides of it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

pub struct HoldingProxy {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl HoldingProxy {
    /// Proxy to `upstream` (a socket path). The first request whose bytes contain every one of
    /// `pattern` is forwarded at once; its connection's next answer is held for `hold`. `seen`
    /// gets one message when that request has been forwarded.
    pub fn start(upstream: &str, pattern: &'static [&'static str], hold: Duration, seen: mpsc::Sender<()>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let upstream = upstream.to_owned();
        let fired = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = UnixStream::connect(&upstream) else { return };
                let held = Arc::new(AtomicBool::new(false));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (fired, held2, seen) = (fired.clone(), held.clone(), seen.clone());
                // Client -> engine: spot the request (marked held before it goes out).
                std::thread::spawn(move || {
                    pump(
                        c2,
                        s2,
                        |bytes| {
                            let text = String::from_utf8_lossy(bytes);
                            let first = pattern.iter().all(|p| text.contains(p)) && !fired.swap(true, Ordering::SeqCst);
                            if first {
                                held2.store(true, Ordering::SeqCst);
                            }
                            first
                        },
                        || {
                            let _ = seen.send(());
                        },
                    );
                });
                // Engine -> client: hold the answer to it.
                std::thread::spawn(move || {
                    pump(
                        server,
                        client,
                        |_| {
                            if held.swap(false, Ordering::SeqCst) {
                                std::thread::sleep(hold);
                            }
                            false
                        },
                        || {},
                    );
                });
            }
        });
        HoldingProxy { path, _dir: dir }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

/// Copy `from` to `to` until either ends. `before` sees each chunk before it is written; when it
/// says true, `after` runs once the chunk has been written.
fn pump(mut from: UnixStream, mut to: UnixStream, mut before: impl FnMut(&[u8]) -> bool, mut after: impl FnMut()) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let marked = before(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if marked {
            after();
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
