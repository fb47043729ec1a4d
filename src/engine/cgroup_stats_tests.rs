use super::*;

/// Open and read, as the sampler does.
fn read_now(f: &Files) -> Option<Reading> {
    read(f, &Open::new(f)?, &mut Vec::new())
}

const ID: &str = "ea00d635ff855708b815de3a3975e17c0c0e826ec112f9e0b2c77f12aa0fe675";

/// A machine's /proc and /sys/fs/cgroup as files under a temporary root.
struct Tree(tempfile::TempDir);

impl Tree {
    fn new() -> Tree {
        Tree(tempfile::tempdir().unwrap())
    }
    fn put(&self, path: &str, text: &str) {
        let p = self.0.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    fn ns(&self, path: &str, target: &str) {
        let p = self.0.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
    }
    fn root(&self) -> &Path {
        self.0.path()
    }
    fn common(&self, mountinfo: &str, cgroup: &str) {
        self.put("proc/self/mountinfo", mountinfo);
        self.put("proc/4242/cgroup", cgroup);
        self.put("proc/meminfo", "MemTotal:       24683664 kB\nMemFree:  1 kB\n");
        self.ns("proc/self/ns/net", "net:[4026531992]");
        self.ns("proc/1/ns/net", "net:[4026531992]");
        self.ns("proc/4242/ns/net", "net:[4026532700]");
        self.put(
            "proc/4242/net/dev",
            "Inter-|   Receive                            |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n    lo:  999 9 0 0 0 0 0 0  999 9 0 0 0 0 0 0\n  eth0:  1500 10 0 0 0 0 0 0  700 5 0 0 0 0 0 0\n",
        );
    }
}

/// Read off this machine (Docker 20.10, cgroupfs driver, hybrid v1 with an empty unified).
const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

fn v1_tree() -> Tree {
    let t = Tree::new();
    let cg = format!(
        "9:name=systemd:/docker/{ID}\n7:blkio:/docker/{ID}\n4:memory:/docker/{ID}\n2:cpuacct:/docker/{ID}\n0::/docker/{ID}\n"
    );
    t.common(MOUNTINFO_V1, &cg);
    let d = |c: &str, f: &str| format!("sys/fs/cgroup/{c}/docker/{ID}/{f}");
    t.put(&d("cpuacct", "cpuacct.usage"), "47943573\n");
    t.put(&d("memory", "memory.usage_in_bytes"), "36151296\n");
    t.put(&d("memory", "memory.limit_in_bytes"), "9223372036854771712\n");
    t.put(&d("memory", "memory.stat"), "cache 35540992\ninactive_file 1\ntotal_inactive_file 729088\n");
    t.put(
        &d("blkio", "blkio.throttle.io_service_bytes_recursive"),
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:16 Read 1\n8:0 Total 12288\nTotal 12289\n",
    );
    // The unified hierarchy has the directory but none of the controllers' files.
    t.put(&format!("sys/fs/cgroup/unified/docker/{ID}/cgroup.procs"), "4242\n");
    t
}

#[test]
fn a_v1_container_reads_like_the_engine_reports_it() {
    let t = v1_tree();
    let f = locate(t.root(), 4242, ID).expect("located");
    let r = read_now(&f).unwrap();
    // The engine's CLI said 33.78MiB / 23.54GiB for this container: usage - total_inactive_file,
    // and the machine's memory for a limit the cgroup does not set.
    assert_eq!(r.mem_bytes, 36151296 - 729088);
    assert_eq!(r.mem_limit, 24683664 * 1024);
    assert_eq!(r.cpu_ns, 47943573);
    assert_eq!(r.blk, (4097, 8192));
    assert_eq!(r.net, (1500, 700), "loopback is not counted");
}

#[test]
fn a_v2_container_reads_its_unified_files() {
    let t = Tree::new();
    let mi = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
    t.common(mi, &format!("0::/system.slice/docker-{ID}.scope\n"));
    let d = |f: &str| format!("sys/fs/cgroup/system.slice/docker-{ID}.scope/{f}");
    t.put(&d("cpu.stat"), "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
    t.put(&d("memory.current"), "10485760\n");
    t.put(&d("memory.max"), "max\n");
    t.put(&d("memory.stat"), "anon 1\nfile 2\ninactive_file 485760\n");
    t.put(&d("io.stat"), "8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2 rios=0 wios=0\n");
    let f = locate(t.root(), 4242, ID).expect("located");
    let r = read_now(&f).unwrap();
    assert_eq!(r.cpu_ns, 2_500_000);
    assert_eq!(r.mem_bytes, 10_000_000);
    assert_eq!(r.mem_limit, 24683664 * 1024, "'max' is the machine's memory");
    assert_eq!(r.blk, (101, 202));
    // A limit below the machine's memory is the limit; the files opened once read it anew.
    let open = Open::new(&f).unwrap();
    let mut buf = Vec::new();
    assert_eq!(read(&f, &open, &mut buf).unwrap().mem_limit, 24683664 * 1024);
    t.put(&d("memory.max"), "268435456\n");
    t.put(&d("memory.current"), "20485760\n");
    let again = read(&f, &open, &mut buf).unwrap();
    assert_eq!((again.mem_limit, again.mem_bytes), (268435456, 20_000_000));
}

#[test]
fn a_cgroup_that_does_not_name_the_container_is_not_read() {
    let t = v1_tree();
    let other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_eq!(locate(t.root(), 4242, other), None, "a pid the engine reused, or another pid namespace");
    assert_eq!(locate(t.root(), 4243, ID), None, "a pid not visible here");
    assert_eq!(locate(t.root(), 4242, "docker"), None, "only a full hex id is matched");
    // A controller's file that cannot be read: not located (the stream is used instead).
    std::fs::remove_file(t.root().join(format!("sys/fs/cgroup/memory/docker/{ID}/memory.stat"))).unwrap();
    assert_eq!(locate(t.root(), 4242, ID), None);
}

#[test]
fn a_container_on_the_machines_network_has_no_network_figures() {
    let t = v1_tree();
    std::fs::remove_file(t.root().join("proc/4242/ns/net")).unwrap();
    t.ns("proc/4242/ns/net", "net:[4026531992]");
    let f = locate(t.root(), 4242, ID).expect("located");
    assert_eq!(read_now(&f).unwrap().net, (0, 0), "the host's interfaces are not the container's");
}

#[test]
fn a_mount_inside_a_cgroup_namespace_is_followed_from_its_root() {
    let mi = "35 31 0:32 /docker /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let m = mounts(mi);
    assert_eq!(m[0].controllers, vec!["memory"]);
    assert_eq!(
        under(Path::new("/"), &m[0], &format!("/docker/{ID}")),
        PathBuf::from(format!("/sys/fs/cgroup/memory/{ID}"))
    );
}

#[test]
fn cpu_is_a_share_of_one_core_between_two_readings() {
    let r = |cpu_ns| Reading { cpu_ns, mem_bytes: 1, mem_limit: 2, net: (0, 0), blk: (0, 0) };
    let t0 = Instant::now();
    let t1 = t0 + Duration::from_millis(500);
    assert_eq!(sample(&r(0), None, t0).cpu_percent, 0.0, "one reading has no rate");
    let s = sample(&r(750_000_000), Some((t0, r(0))), t1);
    assert!((s.cpu_percent - 150.0).abs() < 1e-9, "{}", s.cpu_percent);
    // A counter that went backwards (a new cgroup under the same id) is not a negative rate.
    assert_eq!(sample(&r(10), Some((t0, r(750_000_000))), t1).cpu_percent, 0.0);
    assert_eq!(s.from, StatsFrom::Cgroup);
}

#[test]
fn hostile_file_contents_give_zeros_not_panics() {
    assert_eq!(blkio_v1("8:0 Read 99999999999999999999999\n\u{1b}[2J Write x\n"), (0, 0));
    assert_eq!(io_v2("rbytes=18446744073709551615 rbytes=5"), (u64::MAX, 0));
    assert_eq!(net_dev("junk\njunk\n eth0: a b c\n\n:::\n"), (0, 0));
    assert_eq!(keyed("usage_usec\nusage_usec -1\n", "usage_usec"), None);
    assert!(mounts("no separator\n1 2 3 - cgroup\n").is_empty());
    assert!(memberships("garbage").is_empty());
}
