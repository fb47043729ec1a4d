//! The guard's log: one line per event on stdout (journald and `docker logs` keep it), UTC
//! timestamp first, every line inert: no escape sequence or control byte from a container
//! name, an engine error or a webhook answer reaches the log reader's terminal.

use std::io::Write;

/// One event.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    for l in line.lines() {
        let _ = writeln!(out, "{} {}", jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"), crate::logtext::inert(l));
    }
    let _ = out.flush();
}

/// The library's own log (tracing) goes the same way: warnings and errors, and webhook
/// deliveries (operations' steps are said by the guard itself; `STACKDECK_LOG` overrides).
pub fn init() {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("STACKDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,stackdeck::notify=info"));
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_level(true)
        .with_writer(|| Lines(Vec::new()));
    let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
}

/// Collects one formatted event and says it when dropped (the formatter writes an event in
/// pieces).
struct Lines(Vec<u8>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let text = text.trim_end();
        if !text.is_empty() {
            say(text);
        }
    }
}
