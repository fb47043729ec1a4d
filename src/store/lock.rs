//! Per-service action locks between stackdeck processes: advisory file locks in the state dir,
//! or, on a shared store, PostgreSQL advisory locks that hold across machines (released by the
//! server when the holder's connection ends, however it ends). The holder writes who it is, so
//! a refused operator learns who holds the lock and since when.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

#[derive(Debug)]
pub struct ServiceLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    File(File),
    /// The lock lives as long as this connection.
    Shared(super::pg::Pg),
}

/// An advisory lock on `path` that says who holds it: `Ok(file)` (held while the file is
/// open), or `Err(Some(holder))` with what the holder wrote, `Err(None)` with the I/O error
/// text when the file cannot be locked at all.
pub fn take(path: &Path, holder: &str) -> Result<File, Result<String, String>> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Err(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(holder.as_bytes()))
                .map_err(|e| Err(e.to_string()))?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut who = String::new();
            let _ = file.read_to_string(&mut who);
            Err(Ok(who))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Err(format!("cannot lock {}: {e}", path.display()))),
    }
}

impl ServiceLock {
    /// Try to take the lock for `service`; on contention, the error says who holds it.
    pub fn try_take(state_dir: &Path, service: &str, action: &str) -> Result<ServiceLock, String> {
        let dir = state_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let name: String =
            service.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let holder = format!(
            "{action} by {} (pid {} on {}) since {}",
            super::actor(),
            std::process::id(),
            super::hostname(),
            jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
        );
        let refused = |who: String| {
            format!("{service} is locked: {}", if who.is_empty() { "another stackdeck process".into() } else { who })
        };
        if let Some(shared) = super::shared::current() {
            let wait = std::time::Duration::from_secs(10);
            let pg = super::pg::Pg::connect(&shared, wait, wait, wait)?;
            pg.set_up()?;
            return match pg.try_lock(service, &holder) {
                Ok(()) => Ok(ServiceLock { held: Held::Shared(pg) }),
                Err(Ok(who)) => Err(refused(who)),
                Err(Err(e)) => Err(e),
            };
        }
        match take(&dir.join(format!("{name}.lock")), &holder) {
            Ok(file) => Ok(ServiceLock { held: Held::File(file) }),
            Err(Ok(who)) => Err(refused(who)),
            Err(Err(e)) => Err(e),
        }
    }
}

impl Drop for ServiceLock {
    fn drop(&mut self) {
        match &self.held {
            Held::File(file) => {
                let _ = file.set_len(0);
                let _ = file.unlock();
            }
            // It would end with the connection anyway (dropped with this); say so at once.
            Held::Shared(pg) => {
                let _ = pg.call(|c| c.execute("SELECT pg_advisory_unlock_all()", &[]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_is_refused_with_the_holder_named() {
        let d = std::env::temp_dir().join(format!("sd-lock-{}", std::process::id()));
        let first = ServiceLock::try_take(&d, "p/bot", "deploy").unwrap();
        let err = ServiceLock::try_take(&d, "p/bot", "rollback").unwrap_err();
        assert!(err.contains("p/bot is locked: deploy by"), "{err}");
        drop(first);
        assert!(ServiceLock::try_take(&d, "p/bot", "rollback").is_ok());
        std::fs::remove_dir_all(d).ok();
    }
}
