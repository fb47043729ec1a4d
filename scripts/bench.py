#!/usr/bin/env python3
"""stackdeck vs oxker on a real engine: whole-process figures read from outside.

Runs on a private dockerd of its own (own socket, data root, exec root), so the engine CPU
attributable to a panel is that engine's CPU with the panel minus without, and nothing else on
the machine is counted. Each scenario alternates stackdeck and oxker runs (and a no-panel
baseline where engine CPU is measured) and prints medians and the stackdeck/oxker ratio.

  panel CPU %      utime+stime of the panel process from /proc/PID/stat over the window
  engine CPU %     dockerd + containerd + shims of the private engine (/proc), minus the baseline
  peak RSS         VmHWM from /proc/PID/status
  terminal B/s     bytes the panel wrote to its pty, from `tmux pipe-pane` (the byte stream)
  key -> frame     tmux send-keys, then capture-pane every 2 ms until the screen changes
  start-up         tmux start to the first screen listing every service with its health
  stop             stackdeck X, y -> the engine's `die` event (docker events, TimeNano)
  latch exposure   an emergency-stopped container started by hand: the engine's `start` event ->
                   its `die` event, with only the guard running, then with only a panel

Environment: BENCH_QUICK=1 (short windows, 1 round: the CI smoke), BENCH_ROUNDS (default 3),
BENCH_IDLE_SECS (default 60), BENCH_FLOOD_SECS (default 30), BENCH_NO_OXKER=1,
BENCH_ONLY=exposure (section 6 alone), BENCH_ONLY=ssh (section 7 alone: over ssh next to the
local socket, see scripts/bench_ssh.py), BENCH_ONLY=swarm (section 8 alone: a three-node swarm
with 100 tasks next to 100 compose containers, see scripts/bench_swarm.py), BENCH_ONLY=merged
(section 3b alone: merged logs of 10 services under the same flood, see scripts/bench_merged.py),
BENCH_ONLY=startup (issue 15: start-up on 10 and 100 containers, idle RSS with 10 services),
BENCH_ONLY=stop (section 5 alone: the emergency stop, key -> die), BENCH_ONLY=flood (section 3
alone), BENCH_ONLY=metrics (section 9:
stats live for every container, next to oxker) and BENCH_ONLY=scale (section 10: 10 to 1000
containers), both in scripts/bench_scale.py.
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import bench_merged
import bench_scale
import bench_ssh
import bench_swarm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
IDLE = int(os.environ.get("BENCH_IDLE_SECS", "8" if QUICK else "60"))
FLOOD = int(os.environ.get("BENCH_FLOOD_SECS", "6" if QUICK else "30"))
WARMUP = 3 if QUICK else 10
TICK = os.sysconf("SC_CLK_TCK")
BENCH_DIR = "/tmp/sdbench"
SOCK = f"unix://{BENCH_DIR}/d.sock"
ENV = dict(os.environ, DOCKER_HOST=SOCK, XDG_CONFIG_HOME=f"{BENCH_DIR}/cfg", XDG_DATA_HOME=f"{BENCH_DIR}/state",
           TERM="xterm-256color")
# BENCH_BIN: the CI smoke points this at the debug build the tests already made (no second
# whole-tree compile); measurements use the release build.
STACKDECK = os.environ.get("BENCH_BIN") or os.path.join(ROOT, "target/release/stackdeck")
OXKER = shutil.which("oxker") or os.path.expanduser("~/.cargo/bin/oxker")


def sh(*args, env=ENV, check=True, **kw):
    r = subprocess.run(args, env=env, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def docker(*args, check=True):
    return sh("docker", *args, check=check)


# ---- the private engine ---------------------------------------------------------------------

def start_engine():
    os.makedirs(BENCH_DIR, exist_ok=True)
    if subprocess.run(["docker", "version"], env=ENV, capture_output=True).returncode == 0:
        return None
    log = open(f"{BENCH_DIR}/dockerd.log", "a")
    p = subprocess.Popen(["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false", "-H", SOCK,
                          "--data-root", f"{BENCH_DIR}/data", "--exec-root", f"{BENCH_DIR}/x",
                          "--pidfile", f"{BENCH_DIR}/d.pid"], stdout=log, stderr=log)
    for _ in range(300):
        if subprocess.run(["docker", "ps"], env=ENV, capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    else:
        sys.exit("bench: the private dockerd did not come up (see /tmp/sdbench/dockerd.log)")
    return p


def load_images(images):
    have = docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    missing = [i for i in images if i not in have]
    if missing:
        save = subprocess.run(["docker", "save", *missing], capture_output=True, check=True)
        subprocess.run(["docker", "load", "-q"], input=save.stdout, env=ENV, capture_output=True, check=True)


def engine_pids(mark=BENCH_DIR):
    """dockerd, containerd and shims of an engine whose command lines name `mark` (by default the
    private engine's directory)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = cmd.split(" ")[0].rsplit("/", 1)[-1]
        if name in ("dockerd", "containerd") or name.startswith("containerd-shim"):
            if mark in cmd:
                pids.append(int(d))
    return pids


def cpu_ticks(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0


def engine_ticks():
    return sum(cpu_ticks(p) for p in engine_pids())


def hwm_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def restart_engine():
    """Stop the private dockerd (by its pid file) and start it again."""
    try:
        pid = int(open(f"{BENCH_DIR}/d.pid").read().strip())
        os.kill(pid, 15)
        for _ in range(300):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
    except (OSError, ValueError):
        pass
    ENGINE[0] = start_engine() or ENGINE[0]


# The private dockerd this run started (None when one was already running).
ENGINE = [None]


def clean_containers():
    """Remove every container, ten at a time. A dockerd 20.10 asked to remove 100 running
    containers in one call was seen to hang for good (its shims gone, the call never answered);
    a batch that does not finish within 60 s restarts the private engine, then tries again."""
    for _ in range(3):
        ids = docker("ps", "-aq").split()
        if not ids:
            return
        try:
            for i in range(0, len(ids), 10):
                subprocess.run(["docker", "rm", "-fv", *ids[i:i + 10]], env=ENV, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            print("bench: removing containers hung; restarting the private engine", file=sys.stderr)
            restart_engine()
    if docker("ps", "-aq"):
        sys.exit("bench: the private engine's containers could not be removed (see /tmp/sdbench/dockerd.log)")


def run_idle_containers(n, prefix="svc"):
    """n compose-labelled busybox containers with healthchecks, nothing else changing."""
    for i in range(n):
        docker("run", "-d", "--name", f"bench_{prefix}{i:03d}_1", "--network", "host",
               "--label", "com.docker.compose.project=bench", "--label", f"com.docker.compose.service={prefix}{i:03d}",
               "--health-cmd", "true", "--health-interval", "5s", "bb:1", "sleep", "86400")
    for _ in range(300):
        out = docker("ps", "--format", "{{.Status}}")
        if out.count("(healthy)") >= n:
            return
        time.sleep(0.2)
    sys.exit("bench: the idle containers did not all become healthy")


# ---- panels under tmux ----------------------------------------------------------------------

class Panel:
    def __init__(self, tool, w=80, h=24, extra=()):
        self.tool = tool
        self.session = f"sdbench-{tool}-{os.getpid()}"
        self.pipe = f"{BENCH_DIR}/pty-{tool}.bytes"
        if tool == "stackdeck":
            cmd = [STACKDECK, "--project", "bench", *extra]
        else:
            cmd = [OXKER, *extra]
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)
        env_args = []
        for k in ("DOCKER_HOST", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "TERM"):
            env_args += ["-e", f"{k}={ENV[k]}"]
        self.t0 = time.monotonic()
        sh("tmux", "new-session", "-d", "-s", self.session, "-x", str(w), "-y", str(h), *env_args,
           "exec " + " ".join(cmd))
        self.pid = int(sh("tmux", "display-message", "-p", "-t", self.session, "#{pane_pid}"))

    def screen(self):
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True,
                              text=True).stdout

    def wait(self, pred, limit=60.0, step=0.002):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            s = self.screen()
            if pred(s):
                return s
            time.sleep(step)
        raise TimeoutError(f"{self.tool}: screen never matched; last screen:\n{self.screen()}")

    def keys(self, *k):
        sh("tmux", "send-keys", "-t", self.session, *k)

    def start_pipe(self):
        if os.path.exists(self.pipe):
            os.remove(self.pipe)
        sh("tmux", "pipe-pane", "-o", "-t", self.session, f"cat > {self.pipe}")

    def piped_bytes(self):
        sh("tmux", "pipe-pane", "-t", self.session)
        time.sleep(0.2)
        return os.path.getsize(self.pipe) if os.path.exists(self.pipe) else 0

    def key_to_frame(self, key, changed=None):
        before = self.screen()
        t = time.monotonic()
        self.keys(key)
        self.wait(changed or (lambda s: s != before), limit=10)
        return (time.monotonic() - t) * 1000

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)
        for _ in range(100):
            if not os.path.exists(f"/proc/{self.pid}"):
                return
            time.sleep(0.1)
        # A panel that outlives its terminal would load every figure after it: said and killed.
        print(f"bench: {self.tool} (pid {self.pid}) outlived its terminal by 10 s; killed", file=sys.stderr)
        subprocess.run(["kill", "-9", str(self.pid)], capture_output=True)


def listed(n):
    """The screen names every idle service and shows its health (both tools show 'healthy')."""
    def pred(s):
        return all(f"svc{i:03d}" in s for i in range(n)) and s.count("healthy") >= n
    return pred


def measure_window(panel, secs):
    """Panel CPU %, engine CPU %, peak RSS MB, terminal B/s over `secs` of idling."""
    e0, p0 = engine_ticks(), cpu_ticks(panel.pid)
    panel.start_pipe()
    time.sleep(secs)
    b = panel.piped_bytes()
    e1, p1 = engine_ticks(), cpu_ticks(panel.pid)
    return {
        "cpu": 100.0 * (p1 - p0) / TICK / secs,
        "engine": 100.0 * (e1 - e0) / TICK / secs,
        "rss": hwm_kb(panel.pid) / 1024,
        "bps": b / secs,
    }


def baseline(secs):
    e0 = engine_ticks()
    time.sleep(secs)
    return 100.0 * (engine_ticks() - e0) / TICK / secs


# ---- scenarios ------------------------------------------------------------------------------

def tools():
    return ["stackdeck"] + ([] if os.environ.get("BENCH_NO_OXKER") == "1" else ["oxker"])


def idle(n, w=80, h=24, keys=0):
    res = {t: [] for t in tools()}
    base = []
    for r in range(ROUNDS):
        base.append(baseline(IDLE))
        for tool in (tools() if r % 2 == 0 else list(reversed(tools()))):
            p = Panel(tool, w, h)
            try:
                # Ready: the list is up with health (oxker's list shows only a few rows at 80x24).
                p.wait(lambda s: "svc000" in s and "healthy" in s, limit=120)
                time.sleep(WARMUP)
                m = measure_window(p, IDLE)
                if keys:
                    lat = []
                    for i in range(keys):
                        lat.append(p.key_to_frame("Down" if i % 2 == 0 else "Up"))
                        time.sleep(0.3)
                    m["key_ms"] = statistics.median(lat)
                res[tool].append(m)
            finally:
                p.close()
    b = statistics.median(base)
    for tool in res:
        for m in res[tool]:
            m["engine"] -= b
    return res, b


FLOOD_WRITER = (
    "awk -v n={n} 'BEGIN {{ s = 0; while (s < n) {{ for (i = 0; i < 2000 && s < n; i++) {{ s++; "
    "printf \"%09d flood line with some payload to look like a real log entry level=info k=v\\n\", s }} "
    "fflush(); system(\"usleep 100000\") }} }}'"
)


def flood():
    """One container writing ~20 000 lines/s while its logs are on screen."""
    res = {t: [] for t in tools()}
    total = 20000 * FLOOD
    for r in range(ROUNDS):
        for tool in (tools() if r % 2 == 0 else list(reversed(tools()))):
            clean_containers()
            docker("run", "-d", "--name", "bench_flood_1", "--network", "host",
                   "--label", "com.docker.compose.project=bench", "--label", "com.docker.compose.service=flood",
                   "bb:1", "sh", "-c", "sleep 4; " + FLOOD_WRITER.format(n=total) + "; sleep 86400")
            p = Panel(tool, 120, 40)
            try:
                p.wait(lambda s: "flood" in s, limit=60)
                if tool == "stackdeck":
                    p.keys("Enter")  # the selected (only) service's logs
                t_start = time.monotonic()
                p0 = cpu_ticks(p.pid)
                lat = []
                while time.monotonic() - t_start < FLOOD + 4:
                    time.sleep(1.0)
                    if tool == "stackdeck":
                        lat.append(p.key_to_frame("?", lambda s: "or esc closes" in s))
                        p.keys("Escape")
                    else:
                        lat.append(p.key_to_frame("h", lambda s: "Keymap" in s))
                        p.keys("h")
                secs = time.monotonic() - t_start
                cpu_ticks_flood = cpu_ticks(p.pid) - p0
                # The writer is done when its last line is in the engine's log; then the screen
                # must show that line (kept up) or say how many lines it skipped.
                last = f"{total:09d} flood line"
                for _ in range(600):
                    if last in docker("logs", "--tail", "1", "bench_flood_1"):
                        break
                    time.sleep(0.1)
                time.sleep(2)
                s = p.screen()
                seqs = [int(x) for x in re.findall(r"\b(\d{9}) flood line", s)]
                m = {
                    "cpu": 100.0 * cpu_ticks_flood / TICK / secs,
                    "rss": hwm_kb(p.pid) / 1024,
                    "key_ms": statistics.median(lat),
                    "key_ms_max": max(lat),
                    "last_seq": max(seqs) if seqs else 0,
                    "produced": total,
                    "skip_marker": "lines skipped" in s,
                }
                res[tool].append(m)
            finally:
                p.close()
    clean_containers()
    return res


def startup(n, only=None):
    names = only or tools()
    res = {t: [] for t in names}
    for r in range(ROUNDS * 3):
        for tool in (names if r % 2 == 0 else list(reversed(names))):
            # Tall enough for oxker to list all n (its list is a third of the screen).
            p = Panel(tool, 160, max(70, 3 * n + 40))
            try:
                p.wait(listed(n), limit=60, step=0.001)
                res[tool].append({"ms": (time.monotonic() - p.t0) * 1000})
            finally:
                p.close()
    return res


def emergency_stop(runs):
    cfg_dir = f"{BENCH_DIR}/cfg/stackdeck"
    os.makedirs(cfg_dir, exist_ok=True)
    with open(f"{cfg_dir}/config.toml", "w") as f:
        f.write("[engine]\npull = false\n[services.trading-bot]\nkill_switch = true\nstop_grace_secs = 0\n")
    docker("run", "-d", "--name", "bench_trading-bot_1", "--network", "host",
           "--label", "com.docker.compose.project=bench", "--label", "com.docker.compose.service=trading-bot",
           "bb:1", "sleep", "86400")
    times = []
    try:
        for _ in range(runs):
            p = Panel("stackdeck", 100, 30)
            try:
                p.wait(lambda s: "trading-bot" in s and "running" in s, limit=60)
                ev = subprocess.Popen(["docker", "events", "--filter", "container=bench_trading-bot_1",
                                       "--filter", "event=die", "--format", "{{.TimeNano}}"],
                                      env=ENV, stdout=subprocess.PIPE, text=True)
                time.sleep(0.5)
                p.keys("X")
                p.wait(lambda s: "EMERGENCY STOP" in s, limit=10)
                t_key = time.time_ns()
                p.keys("y")
                line = ev.stdout.readline()
                ev.kill()
                times.append((int(line.strip()) - t_key) / 1e6)
                p.wait(lambda s: "STOPPED" in s, limit=30)
            finally:
                p.close()
            sh(STACKDECK, "--project", "bench", "start", "trading-bot", "--yes", "--reason", "bench: next run")
    finally:
        os.remove(f"{cfg_dir}/config.toml")
        docker("rm", "-fv", "bench_trading-bot_1", check=False)
    return times


def latch_exposure(runs, holder):
    """`docker start` of a latched bot -> the engine's `die` event, held by `holder`."""
    cfg_dir = f"{BENCH_DIR}/cfg/stackdeck"
    os.makedirs(cfg_dir, exist_ok=True)
    with open(f"{cfg_dir}/config.toml", "w") as f:
        f.write("[engine]\npull = false\n[services.trading-bot]\nkill_switch = true\n"
                "[guard]\nmetrics = \"127.0.0.1:59266\"\n")
    name = "bench_trading-bot_1"
    docker("run", "-d", "--name", name, "--network", "host", "--restart", "unless-stopped",
           "--label", "com.docker.compose.project=bench", "--label", "com.docker.compose.service=trading-bot",
           "bb:1", "sleep", "86400")
    sh(STACKDECK, "--project", "bench", "stop", "trading-bot", "--yes", "--reason", "bench: latch")
    times = []
    guard = panel = None
    try:
        if holder == "guard":
            guard = subprocess.Popen([STACKDECK, "--project", "bench", "guard"], env=ENV,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            end = time.monotonic() + 60
            while time.monotonic() < end:
                r = subprocess.run(["curl", "-s", "http://127.0.0.1:59266/metrics"], capture_output=True, text=True)
                if "stackdeck_latched_services 1" in r.stdout and "stackdeck_engine_connected 1" in r.stdout:
                    break
                time.sleep(0.2)
            else:
                sys.exit("bench: the guard never reported the latch")
        else:
            panel = Panel("stackdeck", 100, 30)
            panel.wait(lambda s: "STOPPED" in s, limit=60)
        time.sleep(1)
        for _ in range(runs):
            ev = subprocess.Popen(["docker", "events", "--filter", f"container={name}", "--filter", "event=start",
                                   "--filter", "event=die", "--format", "{{.Status}} {{.TimeNano}}"],
                                  env=ENV, stdout=subprocess.PIPE, text=True)
            time.sleep(0.3)
            docker("start", name)
            seen = {}
            while "die" not in seen:
                line = ev.stdout.readline().split()
                if len(line) == 2 and line[0] in ("start", "die") and (line[0] == "start" or "start" in seen):
                    seen[line[0]] = int(line[1])
            ev.kill()
            times.append((seen["die"] - seen["start"]) / 1e6)
            time.sleep(0.5)  # the hold records its row; the next start is a new event
    finally:
        if guard is not None:
            guard.terminate()
            guard.wait()
        if panel is not None:
            panel.close()
        sh(STACKDECK, "--project", "bench", "start", "trading-bot", "--yes", "--reason", "bench: done", check=False)
        os.remove(f"{cfg_dir}/config.toml")
        docker("rm", "-fv", name, check=False)
    return times


def percentiles(t):
    t = sorted(t)
    p95 = t[min(len(t) - 1, int(round(0.95 * (len(t) - 1))))]
    return f"p50 {statistics.median(t):.0f} ms, p95 {p95:.0f} ms (min {t[0]:.0f}, max {t[-1]:.0f})"


# ---- report ---------------------------------------------------------------------------------

def med(rows, k):
    v = [r[k] for r in rows if k in r]
    return statistics.median(v) if v else None


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "%":
        return f"{v:.2f} %"
    if unit == "MB":
        return f"{v:.1f} MB"
    if unit == "B/s":
        return f"{v:.0f} B/s"
    if unit == "ms":
        return f"{v:.0f} ms"
    return f"{v}"


def table(title, res, figs):
    print(f"\n### {title}\n")
    print("| figure | stackdeck | oxker | stackdeck/oxker |")
    print("|---|---|---|---|")
    for key, label, unit in figs:
        a = med(res.get("stackdeck", []), key)
        b = med(res.get("oxker", []), key)
        ratio = f"{a / b:.2f}" if a is not None and b not in (None, 0) else "-"
        print(f"| {label} | {fmt(a, unit)} | {fmt(b, unit)} | {ratio} |")


def report_flood(f):
    table(f"3. Log flood: ~20 000 lines/s for {FLOOD} s, logs on screen", f,
          [("cpu", "panel CPU", "%"), ("rss", "peak RSS", "MB"), ("key_ms", "key press -> frame (median)", "ms"),
           ("key_ms_max", "key press -> frame (max)", "ms")])
    for tool, rows in f.items():
        for m in rows:
            print(f"- {tool}: produced {m['produced']} lines, newest on screen #{m['last_seq']}, "
                  f"'lines skipped' marker shown: {m['skip_marker']}")


def defined_symbols(binary):
    """The names `binary` defines (its symbol table, by nm), or None without nm or symbols."""
    if not shutil.which("nm"):
        return None
    nm = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True)
    if nm.returncode != 0:
        return None
    return {line.split()[-1] for line in nm.stdout.splitlines() if line.strip()}


def order_list_coverage():
    """How much of contrib/link-order.txt the binary under test has: the names it lacks are
    functions that ran when the list was made and now sit outside the ordered text, each
    costing the pages around it (the RSS figures read higher with a stale list)."""
    path = os.path.join(ROOT, "contrib/link-order.txt")
    if "/debug/" in STACKDECK:
        return "order list: not checked (a debug build is linked without it)"
    have = defined_symbols(STACKDECK)
    if have is None or not os.path.exists(path):
        return "order list: not checked (no nm, no symbols, or no list)"
    names = [n.strip() for n in open(path) if n.strip() and not n.startswith("#")]
    found = sum(n in have for n in names)
    stale = "" if found >= 0.98 * len(names) else "; stale: run scripts/link_order.py after a release build"
    return f"order list: {found} of {len(names)} names in this build{stale}"


def main():
    for t in ("tmux", "dockerd"):
        if not shutil.which(t):
            sys.exit(f"bench: {t} is missing: run scripts/engine.sh first")
    if not os.path.exists(STACKDECK):
        sys.exit(f"bench: {STACKDECK} is missing: build it first (cargo build --release)")
    if "oxker" in tools() and not os.path.exists(OXKER):
        sys.exit("bench: oxker is missing: cargo install oxker --locked (or BENCH_NO_OXKER=1)")
    ENGINE[0] = start_engine()
    try:
        load_images(["bb:1"])
        clean_containers()
        cpu = open("/proc/cpuinfo").read()
        model = re.search(r"model name\s*:\s*(.*)", cpu)
        print(f"# stackdeck bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"machine: {os.cpu_count()} cores, {model.group(1) if model else '?'}, "
              f"engine {docker('version', '--format', '{{.Server.Version}}')} (private, {BENCH_DIR}), "
              f"rounds {ROUNDS}, idle window {IDLE} s, flood {FLOOD} s")
        print(f"stackdeck {sh(STACKDECK, '--version')}; "
              f"{sh(OXKER, '--version') if 'oxker' in tools() else 'oxker not run'}")
        print(order_list_coverage())

        if os.environ.get("BENCH_ONLY") == "ssh":
            bench_ssh.report(bench_ssh.run(sys.modules[__name__]))
            return
        if os.environ.get("BENCH_ONLY") == "merged":
            bench_merged.report(bench_merged.run(sys.modules[__name__]), [])
            return
        if os.environ.get("BENCH_ONLY") == "swarm":
            bench_swarm.report(bench_swarm.run(sys.modules[__name__]))
            return
        if os.environ.get("BENCH_ONLY") == "startup":
            # Issue 15: start-up on 10 and on 100 containers, and idle RSS with 10 services.
            for n in (10, 100):
                run_idle_containers(n)
                # oxker never listed all 100 on one screen (tried at 160x340): stackdeck alone there.
                table(f"4. Start-up to the first frame listing every service with its health ({n} services)",
                      startup(n, None if n == 10 else ["stackdeck"]), [("ms", "start-up", "ms")])
                if n == 10:
                    r, b = idle(10)
                    table(f"1. Idle, 10 services, 80x24, {IDLE} s (engine baseline without a panel: {b:.2f} %)", r,
                          [("cpu", "panel CPU", "%"), ("rss", "peak RSS", "MB")])
                clean_containers()
            return
        if os.environ.get("BENCH_ONLY") == "metrics":
            bench_scale.report_metrics(bench_scale.metrics(sys.modules[__name__]), sys.modules[__name__])
            return
        if os.environ.get("BENCH_ONLY") == "scale":
            bench_scale.report_scale(bench_scale.scale(sys.modules[__name__]), sys.modules[__name__])
            return
        if os.environ.get("BENCH_ONLY") == "flood":
            report_flood(flood())
            return
        if os.environ.get("BENCH_ONLY") == "stop":
            t = emergency_stop(3 if QUICK else 20)
            print(f"- emergency stop, key -> die, {len(t)} runs: {percentiles(t)}")
            return
        if os.environ.get("BENCH_ONLY") == "exposure":
            for holder in ("guard", "panel"):
                ex = latch_exposure(3 if QUICK else 20, holder)
                print(f"- latch exposure, only the {holder} running, {len(ex)} runs: {percentiles(ex)}")
            return
        run_idle_containers(10)
        r, b = idle(10)
        table(f"1. Idle, 10 services, 80x24, {IDLE} s (engine baseline without a panel: {b:.2f} %)", r,
              [("cpu", "panel CPU", "%"), ("engine", "engine CPU attributable", "%"),
               ("rss", "peak RSS", "MB"), ("bps", "terminal bytes/s", "B/s")])
        s = startup(10)
        table("4. Start-up to the first frame listing every service with its health (10 services)", s,
              [("ms", "start-up", "ms")])
        clean_containers()

        run_idle_containers(100)
        r, b = idle(100, 160, 60, keys=10 if not QUICK else 3)
        table(f"2. Idle, 100 containers, 160x60, {IDLE} s (engine baseline: {b:.2f} %)", r,
              [("cpu", "panel CPU", "%"), ("engine", "engine CPU attributable", "%"),
               ("rss", "peak RSS", "MB"), ("bps", "terminal bytes/s", "B/s"), ("key_ms", "key press -> frame", "ms")])
        clean_containers()

        f = flood()
        report_flood(f)
        merged = bench_merged.run(sys.modules[__name__])
        bench_merged.report(merged, f.get("stackdeck", []))

        t = emergency_stop(3 if QUICK else 20)
        t.sort()
        p95 = t[min(len(t) - 1, int(round(0.95 * (len(t) - 1))))]
        print(f"\n### 5. Emergency stop, key press -> engine reports the container dead (grace 0), {len(t)} runs\n")
        print(f"p50 {statistics.median(t):.0f} ms, p95 {p95:.0f} ms (min {t[0]:.0f}, max {t[-1]:.0f})")
        exposure = {}
        for holder in ("guard", "panel"):
            exposure[holder] = latch_exposure(3 if QUICK else 20, holder)
        print("\n### 6. Latch exposure: an emergency-stopped bot started by hand, engine `start` -> `die`\n")
        for holder, ex in exposure.items():
            print(f"- only the {holder} running, {len(ex)} runs: {percentiles(ex)}")
        over_ssh = bench_ssh.run(sys.modules[__name__])
        bench_ssh.report(over_ssh)
        on_swarm = bench_swarm.run(sys.modules[__name__])
        bench_swarm.report(on_swarm)
        with open(f"{BENCH_DIR}/last.json", "w") as out:
            json.dump({"idle": r, "flood": f, "merged_flood": merged, "startup": s, "stop_ms": t,
                       "exposure_ms": exposure, "ssh": over_ssh,
                       "swarm": on_swarm}, out)
    finally:
        clean_containers()
        if ENGINE[0] is not None:
            ENGINE[0].terminate()
            ENGINE[0].wait()


if __name__ == "__main__":
    main()
