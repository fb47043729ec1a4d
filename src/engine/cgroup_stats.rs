//! Stats of the containers of an engine on this machine, read from the kernel's cgroup and
//! `/proc` files: the numbers the engine's stats stream is computed from, without the engine.
//!
//! With the Metrics pane on screen, one stats stream per running container costs the engine
//! a collector tick and a JSON document per container per second, and the panel a socket and
//! a parse each (issue 15 measured it). When the engine is local, the same figures are a few
//! small reads of files the kernel keeps anyway, for every container at once, once a second.
//!
//! A container is read this way only when this is provably its cgroup: the engine's socket is
//! a local one, the engine's pid for the container is visible here, and that process's cgroup
//! paths name the container's full id. Anything else (a remote engine, stackdeck in another
//! pid namespace, files it may not read, a cgroup layout it does not know) is `None` from
//! [`locate`], and the supervisor streams that container's stats from the engine as before.
//!
//! The reads are synchronous: cgroup and proc files are made by the kernel on read and never
//! wait for a disk.

use crate::domain::{ContainerId, StatsFrom, StatsSample};
use crate::msg::{EngineEvent, Msg};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The engine's stats stream sends one sample a second; so does this.
const PERIOD: Duration = Duration::from_secs(1);

/// Where one container's figures are, cgroup v1 or v2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Files {
    cpu: Cpu,
    mem: Mem,
    io: Option<Io>,
    /// `/proc/<pid>/net/dev`, or `None` when the container shares this machine's network
    /// namespace (the engine reports no network figures then either).
    net: Option<PathBuf>,
    /// The machine's memory, the limit shown when the cgroup sets none (as the engine does).
    host_mem: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cpu {
    /// `cpuacct.usage`: nanoseconds.
    V1(PathBuf),
    /// `cpu.stat`'s `usage_usec`.
    V2(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Mem {
    /// `memory.usage_in_bytes` (v1) or `memory.current` (v2).
    usage: PathBuf,
    /// `memory.stat`: its inactive file pages are not counted (the engine's CLI does the same).
    stat: PathBuf,
    /// `memory.limit_in_bytes` (v1) or `memory.max` (v2).
    limit: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Io {
    /// `blkio.throttle.io_service_bytes_recursive`: `maj:min Read N` lines.
    V1(PathBuf),
    /// `io.stat`: `maj:min rbytes=N wbytes=N ...` lines.
    V2(PathBuf),
}

/// One cgroup hierarchy as this process sees it mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// Mount point (`/sys/fs/cgroup/memory`).
    at: String,
    /// The cgroup path at that mount point (`/` unless in a cgroup namespace or a bind mount).
    root: String,
    /// v1: the controllers of the hierarchy (`memory`, `cpu,cpuacct`); v2: empty.
    controllers: Vec<String>,
    v2: bool,
}

/// The cgroup hierarchies in `/proc/self/mountinfo`.
fn mounts(mountinfo: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(at), Some(fstype)) = (left.get(3), left.get(4), right.first()) else { continue };
        let v2 = match *fstype {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            right.get(2).map_or_else(Vec::new, |o| {
                o.split(',').filter(|c| !matches!(*c, "rw" | "ro") && !c.contains('=')).map(str::to_owned).collect()
            })
        };
        out.push(Mount { at: (*at).to_owned(), root: (*root).to_owned(), controllers, v2 });
    }
    out
}

/// `/proc/<pid>/cgroup` → (controllers, path); the v2 line has no controllers.
fn memberships(cgroup: &str) -> Vec<(Vec<&str>, &str)> {
    cgroup
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctl, path) = (parts.next()?, parts.next()?, parts.next()?);
            let ctl = if ctl.is_empty() { Vec::new() } else { ctl.split(',').collect() };
            Some((ctl, path))
        })
        .collect()
}

/// The directory of the v1 hierarchy that has `controller`, for this process's cgroup there.
fn v1_dir(root: &Path, mounts: &[Mount], member: &[(Vec<&str>, &str)], controller: &str) -> Option<PathBuf> {
    let m = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
    let (_, path) = member.iter().find(|(ctl, _)| ctl.contains(&controller))?;
    Some(under(root, m, path))
}

fn v2_dir(root: &Path, mounts: &[Mount], member: &[(Vec<&str>, &str)]) -> Option<PathBuf> {
    let m = mounts.iter().find(|m| m.v2)?;
    let (_, path) = member.iter().find(|(ctl, _)| ctl.is_empty())?;
    Some(under(root, m, path))
}

/// The cgroup `path` under mount `m` (its part below the mount's own root), below `root`.
fn under(root: &Path, m: &Mount, path: &str) -> PathBuf {
    let rel = if m.root == "/" { path } else { path.strip_prefix(m.root.as_str()).unwrap_or(path) };
    let mut p = root.join(m.at.trim_start_matches('/'));
    p.push(rel.trim_start_matches('/'));
    p
}

/// The files of container `id`, whose main process the engine says is `pid`, below `root`
/// (`/` outside tests); `None` unless every one of them is there and names `id`.
pub(super) fn locate(root: &Path, pid: u32, id: &str) -> Option<Files> {
    if id.len() < 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let proc_ = root.join("proc");
    let mountinfo = std::fs::read_to_string(proc_.join("self/mountinfo")).ok()?;
    let cgroup = std::fs::read_to_string(proc_.join(format!("{pid}/cgroup"))).ok()?;
    let (mounts, member) = (mounts(&mountinfo), memberships(&cgroup));
    let names = |p: &Path| p.to_string_lossy().contains(id);
    let file =
        |dir: &Option<PathBuf>, name: &str| dir.as_ref().map(|d| d.join(name)).filter(|p| names(p) && p.is_file());
    let v2 = v2_dir(root, &mounts, &member);
    let acct = v1_dir(root, &mounts, &member, "cpuacct");
    let cpu = match (file(&acct, "cpuacct.usage"), file(&v2, "cpu.stat")) {
        (Some(p), _) => Cpu::V1(p),
        (None, Some(p)) => Cpu::V2(p),
        (None, None) => return None,
    };
    let memory = v1_dir(root, &mounts, &member, "memory");
    let mem = match file(&memory, "memory.usage_in_bytes") {
        Some(usage) => {
            Mem { usage, stat: file(&memory, "memory.stat")?, limit: file(&memory, "memory.limit_in_bytes")? }
        }
        None => Mem {
            usage: file(&v2, "memory.current")?,
            stat: file(&v2, "memory.stat")?,
            limit: file(&v2, "memory.max")?,
        },
    };
    let blkio = v1_dir(root, &mounts, &member, "blkio");
    let io = file(&blkio, "blkio.throttle.io_service_bytes_recursive")
        .map(Io::V1)
        .or_else(|| file(&v2, "io.stat").map(Io::V2));
    let ns = |p: &str| std::fs::read_link(proc_.join(p)).ok();
    let theirs = ns(&format!("{pid}/ns/net"))?;
    let shared = Some(&theirs) == ns("self/ns/net").as_ref() || Some(&theirs) == ns("1/ns/net").as_ref();
    let net = (!shared).then(|| proc_.join(format!("{pid}/net/dev")));
    let meminfo = std::fs::read_to_string(proc_.join("meminfo")).ok()?;
    let host_mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        * 1024;
    Some(Files { cpu, mem, io, net, host_mem })
}

/// What one read of the files says; CPU is a counter, the percentage needs two reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reading {
    cpu_ns: u64,
    mem_bytes: u64,
    mem_limit: u64,
    net: (u64, u64),
    blk: (u64, u64),
}

/// A located container's files, opened once. Each reading is a `pread` from offset 0 of every
/// one (the kernel makes the text anew on each read): no open, stat and close per file per
/// second, which was most of the panel's system time with 100 containers.
struct Open {
    cpu: File,
    usage: File,
    stat: File,
    limit: File,
    io: Option<File>,
    net: Option<File>,
}

impl Open {
    fn new(f: &Files) -> Option<Open> {
        let open = |p: &Path| File::open(p).ok();
        let io = match &f.io {
            Some(Io::V1(p) | Io::V2(p)) => open(p),
            None => None,
        };
        let cpu = match &f.cpu {
            Cpu::V1(p) | Cpu::V2(p) => open(p)?,
        };
        Some(Open {
            cpu,
            usage: open(&f.mem.usage)?,
            stat: open(&f.mem.stat)?,
            limit: open(&f.mem.limit)?,
            io,
            net: f.net.as_deref().and_then(open),
        })
    }
}

/// The whole text of an open kernel file, read from its start into `buf` (reused).
fn text<'b>(file: &File, buf: &'b mut Vec<u8>) -> Option<&'b str> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read_at(&mut chunk, buf.len() as u64).ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    std::str::from_utf8(buf).ok()
}

fn read(f: &Files, o: &Open, buf: &mut Vec<u8>) -> Option<Reading> {
    let cpu_ns = match &f.cpu {
        Cpu::V1(_) => text(&o.cpu, buf)?.trim().parse().ok()?,
        Cpu::V2(_) => keyed(text(&o.cpu, buf)?, "usage_usec")?.saturating_mul(1000),
    };
    let usage: u64 = text(&o.usage, buf)?.trim().parse().ok()?;
    let stat = text(&o.stat, buf)?;
    let inactive = keyed(stat, "total_inactive_file").or_else(|| keyed(stat, "inactive_file")).unwrap_or(0);
    let limit = text(&o.limit, buf)?.trim().parse::<u64>().unwrap_or(u64::MAX); // v2 says "max"
    let blk = match (&f.io, &o.io) {
        (Some(Io::V1(_)), Some(h)) => text(h, buf).map_or((0, 0), blkio_v1),
        (Some(Io::V2(_)), Some(h)) => text(h, buf).map_or((0, 0), io_v2),
        _ => (0, 0),
    };
    let net = o.net.as_ref().and_then(|h| text(h, buf)).map_or((0, 0), net_dev);
    Some(Reading { cpu_ns, mem_bytes: usage.saturating_sub(inactive), mem_limit: limit.min(f.host_mem), net, blk })
}

/// `key value` lines (`memory.stat`, `cpu.stat`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

fn blkio_v1(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (it.next(), it.next(), it.next()) else { continue };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => r = r.saturating_add(v),
            "Write" => w = w.saturating_add(v),
            _ => {}
        }
    }
    (r, w)
}

fn io_v2(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0u64, 0u64);
    for kv in text.split_whitespace() {
        if let Some(v) = kv.strip_prefix("rbytes=") {
            r = r.saturating_add(v.parse().unwrap_or(0));
        } else if let Some(v) = kv.strip_prefix("wbytes=") {
            w = w.saturating_add(v.parse().unwrap_or(0));
        }
    }
    (r, w)
}

/// `/proc/<pid>/net/dev`: received and sent bytes of every interface but loopback.
fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0u64, 0u64);
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let cols: Vec<u64> = rest.split_whitespace().map(|c| c.parse().unwrap_or(0)).collect();
        rx = rx.saturating_add(cols.first().copied().unwrap_or(0));
        tx = tx.saturating_add(cols.get(8).copied().unwrap_or(0));
    }
    (rx, tx)
}

/// The sample the panel gets; CPU in percent of one core over the time between two readings.
fn sample(now: &Reading, before: Option<(Instant, Reading)>, at: Instant) -> StatsSample {
    let cpu_percent = before.map_or(0.0, |(t, b)| {
        let wall = at.duration_since(t).as_nanos() as f64;
        if wall > 0.0 { now.cpu_ns.saturating_sub(b.cpu_ns) as f64 / wall * 100.0 } else { 0.0 }
    });
    StatsSample {
        cpu_percent,
        mem_bytes: now.mem_bytes,
        mem_limit: now.mem_limit,
        net_rx: now.net.0,
        net_tx: now.net.1,
        blk_read: now.blk.0,
        blk_write: now.blk.1,
        from: StatsFrom::Cgroup,
    }
}

struct Watched {
    id: ContainerId,
    files: Files,
    open: Option<Open>,
    token: CancellationToken,
    last: Option<(Instant, Reading)>,
}

/// One task that reads every watched container's files once a second and sends a sample for
/// each (dropped, never queued, when the app is busy: like the streams). Idle while nothing is
/// watched. Stopped when dropped.
pub(super) struct Sampler {
    add: mpsc::UnboundedSender<Watched>,
    stop: CancellationToken,
}

impl Sampler {
    pub(super) fn spawn(tx: mpsc::Sender<Msg>) -> Sampler {
        let (add, mut added) = mpsc::unbounded_channel::<Watched>();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let mut watched: Vec<Watched> = Vec::new();
            let mut buf = Vec::with_capacity(8192);
            let mut next = tokio::time::Instant::now() + PERIOD;
            loop {
                let tick = tokio::time::sleep_until(next);
                tokio::select! {
                    () = s.cancelled() => return,
                    w = added.recv() => match w {
                        None => return,
                        Some(mut w) => {
                            if watched.is_empty() {
                                next = tokio::time::Instant::now() + PERIOD;
                            }
                            // The first reading at once: memory, I/O and network need no second.
                            w.open = Open::new(&w.files);
                            if !send(&tx, reading(&mut w, &mut buf).into_iter().collect()) {
                                return;
                            }
                            watched.push(w);
                        }
                    },
                    () = tick, if !watched.is_empty() => {
                        next += PERIOD;
                        if next < tokio::time::Instant::now() {
                            next = tokio::time::Instant::now() + PERIOD;
                        }
                        watched.retain(|w| !w.token.is_cancelled());
                        let batch = watched.iter_mut().filter_map(|w| reading(w, &mut buf)).collect();
                        if !send(&tx, batch) {
                            return;
                        }
                    }
                }
            }
        });
        Sampler { add, stop }
    }

    /// Read `id`'s files from now on, until the token it returns is cancelled.
    pub(super) fn watch(&self, id: ContainerId, files: Files) -> CancellationToken {
        let token = CancellationToken::new();
        let _ = self.add.send(Watched { id, files, open: None, token: token.clone(), last: None });
        token
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One container's sample now. A container whose files are gone (it stopped: its cgroup is
/// removed) gives none until the supervisor stops watching it.
fn reading(w: &mut Watched, buf: &mut Vec<u8>) -> Option<(ContainerId, StatsSample)> {
    let now = read(&w.files, w.open.as_ref()?, buf)?;
    let at = Instant::now();
    let s = sample(&now, w.last, at);
    w.last = Some((at, now));
    Some((w.id.clone(), s))
}

/// Send the samples read together as one message (dropped, not queued, when the app is busy);
/// false once the app is gone.
fn send(tx: &mpsc::Sender<Msg>, batch: Vec<(ContainerId, StatsSample)>) -> bool {
    if batch.is_empty() {
        return true;
    }
    !matches!(tx.try_send(Msg::Engine(EngineEvent::Stats(batch))), Err(mpsc::error::TrySendError::Closed(_)))
}

#[cfg(test)]
#[path = "cgroup_stats_tests.rs"]
mod tests;
