//! Writing log lines to a file in the state dir, for the panel's export keys: one new file per
//! export under `<state dir>/exports/`, mode 0600 in a 0700 directory, plain text or JSON lines
//! (`logtext::export`), every field inert and masked. A failed write (a full disk) removes the
//! partial file and says why; nothing is left half-written under a name that looks complete.

use crate::logtext::Masker;
pub use crate::logtext::export::Export;
use crate::logtext::export::{json, text};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name: kind, service (only `[A-Za-z0-9._-]`, at most 60), UTC time, extension.
fn file_name(e: &Export, now: jiff::Timestamp, n: u32) -> String {
    let safe: String = e
        .service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(60)
        .collect();
    let when = now.strftime("%Y%m%dT%H%M%SZ");
    let again = if n > 0 { format!("-{n}") } else { String::new() };
    format!("{}-{safe}-{when}{again}.{}", e.kind, if e.json { "jsonl" } else { "txt" })
}

/// Write the export; returns the file and the number of lines.
pub fn write(state_dir: &Path, e: &Export, masker: &Masker, now: jiff::Timestamp) -> Result<(PathBuf, usize), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = state_dir.join("exports");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|err| format!("creating {}: {err}", dir.display()))?;
    // A new file every time (never over another export); a second one in the same second
    // gets a number.
    let (path, file) = (0..100)
        .find_map(|n| {
            let path = dir.join(file_name(e, now, n));
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => None,
                r => Some((path, r)),
            }
        })
        .ok_or_else(|| format!("{}: 100 exports in one second", dir.display()))?;
    let file = file.map_err(|err| format!("creating {}: {err}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let written = e.sourced().try_for_each(|(origin, l)| {
        let row = if e.json { json(origin, &l, masker) } else { text(origin, &l, masker) };
        writeln!(w, "{row}")
    });
    let done = written.and_then(|()| w.flush()).and_then(|()| w.get_ref().sync_all());
    if let Err(err) = done {
        let _ = std::fs::remove_file(&path);
        return Err(format!("writing {}: {err} (the partial file was removed)", path.display()));
    }
    Ok((path, e.lines.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logtext::LogLine;
    use std::os::unix::fs::PermissionsExt;

    fn export(json: bool) -> Export {
        let m = Masker::default();
        Export {
            kind: "logs",
            service: "trading/bot\x1b[2J/../x".into(),
            container: "c1".into(),
            lines: vec![
                LogLine::from_raw(b"2026-11-30T03:12:00Z token=abcdef123456 ok", false, &m),
                LogLine::from_raw(b"2026-11-30T03:12:01Z {\"level\":\"error\",\"msg\":\"x\"}", true, &m),
            ],
            json,
            merged: false,
        }
    }

    #[test]
    fn a_new_0600_file_in_a_0700_dir_masked_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let (a, n) = write(dir.path(), &export(false), &Masker::default(), now).unwrap();
        let (b, _) = write(dir.path(), &export(true), &Masker::default(), now).unwrap();
        let (c, _) = write(dir.path(), &export(false), &Masker::default(), now).unwrap();
        assert_eq!(n, 2);
        assert!(a != c && a.parent() == c.parent(), "{a:?} {c:?}");
        let name = a.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("logs-trading_bot__2J_.._x-") && name.ends_with(".txt"), "{name}");
        assert!(b.to_str().unwrap().ends_with(".jsonl"));
        assert_eq!(std::fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(a.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let text = std::fs::read_to_string(&a).unwrap();
        assert!(text.contains("token=****") && !text.contains("abcdef123456"), "{text}");
        assert!(!text.contains('\x1b'));
        for l in std::fs::read_to_string(&b).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["time"].as_str().unwrap().starts_with("2026-11-30T03:12:0"));
        }
    }

    #[test]
    fn a_state_dir_that_cannot_be_made_says_why() {
        // (A full disk is tested on a real tmpfs, in tests/export.rs.)
        let r = write(Path::new("/dev/full/state"), &export(false), &Masker::default(), jiff::Timestamp::now());
        let err = r.unwrap_err();
        assert!(err.starts_with("creating /dev/full/state/exports"), "{err}");
    }
}
