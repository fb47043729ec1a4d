//! Backup files on disk: streamed through gzip and sha256 (never whole in memory), created 0600
//! and never overwritten; and their verification (checksum re-read, everything decompressed).

use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// A writer that counts and hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Create a file that only the owner can read (backups hold secrets); never overwrite.
pub(super) fn open_new(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

pub(super) type Written = (u64, String, u64);

fn gzip_sink(path: &Path) -> std::io::Result<GzEncoder<Hashing<std::fs::File>>> {
    Ok(GzEncoder::new(Hashing { inner: open_new(path)?, hasher: Sha256::new(), count: 0 }, Compression::default()))
}

fn finish(enc: GzEncoder<Hashing<std::fs::File>>, raw: u64) -> std::io::Result<Written> {
    let h = enc.finish()?;
    h.inner.sync_all()?;
    Ok((h.count, hex(&h.hasher.finalize()), raw))
}

pub(super) fn gzip_from_channel(path: &Path, mut rx: mpsc::Receiver<Bytes>) -> std::io::Result<Written> {
    let mut enc = gzip_sink(path)?;
    let mut raw = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        raw += chunk.len() as u64;
        enc.write_all(&chunk)?;
    }
    finish(enc, raw)
}

pub(super) fn first_file_of_tar(tar_path: &Path, out: &Path) -> Result<Written, String> {
    let mut ar = tar::Archive::new(std::fs::File::open(tar_path).map_err(|e| e.to_string())?);
    for entry in ar.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type().is_file() {
            let mut enc = gzip_sink(out).map_err(|e| e.to_string())?;
            let raw = std::io::copy(&mut entry, &mut enc).map_err(|e| e.to_string())?;
            return finish(enc, raw).map_err(|e| e.to_string());
        }
    }
    Err("the engine's archive held no regular file".into())
}

pub(super) fn tar_paths(out: &Path, paths: &[String]) -> Result<Written, String> {
    let enc = gzip_sink(out).map_err(|e| e.to_string())?;
    let mut b = tar::Builder::new(enc);
    b.follow_symlinks(false);
    let mut raw = 0u64;
    for p in paths {
        let path = Path::new(p);
        let name = p.trim_start_matches('/');
        let meta = std::fs::metadata(path).map_err(|e| format!("{p}: {e}"))?;
        if meta.is_dir() {
            b.append_dir_all(name, path).map_err(|e| format!("{p}: {e}"))?;
            raw += dir_size(path);
        } else {
            b.append_path_with_name(path, name).map_err(|e| format!("{p}: {e}"))?;
            raw += meta.len();
        }
    }
    let enc = b.into_inner().map_err(|e| e.to_string())?;
    finish(enc, raw).map_err(|e| e.to_string())
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| match e.metadata() {
                Ok(m) if m.is_dir() => dir_size(&e.path()),
                Ok(m) => m.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

/// Re-read the checksum and decompress everything.
pub(super) fn check_file(path: &Path, sha: &str, is_tar: bool) -> Result<(), String> {
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    if hex(&h.finalize()) != sha {
        return Err(format!("{}: sha256 does not match the manifest", path.display()));
    }
    let dec = GzDecoder::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    if is_tar {
        let mut ar = tar::Archive::new(dec);
        for e in ar.entries().map_err(|e| format!("not a tar.gz: {e}"))? {
            let mut e = e.map_err(|e| format!("damaged archive: {e}"))?;
            std::io::copy(&mut e, &mut std::io::sink()).map_err(|e| format!("damaged archive: {e}"))?;
        }
    } else {
        let mut dec = dec;
        std::io::copy(&mut dec, &mut std::io::sink()).map_err(|e| format!("does not decompress: {e}"))?;
    }
    Ok(())
}

/// Stream a gzip file, decompressed, into a channel (for a process's stdin).
pub(super) fn feed_decompressed(path: PathBuf) -> (mpsc::Receiver<Bytes>, tokio::task::JoinHandle<Result<(), String>>) {
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let h = tokio::task::spawn_blocking(move || {
        let mut dec = GzDecoder::new(std::fs::File::open(&path).map_err(|e| e.to_string())?);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = dec.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(());
            }
            if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                return Err("the process stopped reading".into());
            }
        }
    });
    (rx, h)
}
