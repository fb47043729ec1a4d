"""Section 8 of the bench: a Swarm of 3 nodes with 30 services and 100 tasks, next to the same
figures for 100 compose containers on one engine (issue 14's performance part).

The swarm is scripts/swarm.sh's (three dockerd in their own network namespaces on this machine);
the panel is connected to the manager. The services are one stack, "bench" (what the panel's
--project names): 10 services of 4 replicas and 20 of 3, busybox sleeping, with a healthcheck
like the compose case's. Figures read from outside the process:

  start-up          tmux start to the first screen with the swarm's nodes and the first task
  panel CPU         utime+stime of the panel over the idle window
  engine CPU        the manager's dockerd, containerd and shims (/proc), minus a window without
                    the panel (the workers' engines are not counted: the panel talks to the
                    manager only)
  change -> screen  `docker service scale` (one more task) returns -> the new task's row on
                    screen; the compose case: `docker run` of one more container returns (it
                    started) -> its row on screen
  placed -> screen  the same row, timed from the moment the manager's API first shows the new
                    task placed on a node (a thread asks for the service's tasks back to back):
                    the panel's own share, without the time Swarm takes to make and place it
"""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWARM = os.path.join(ROOT, "scripts/swarm.sh")
SWARM_DIR = os.environ.get("STACKDECK_SWARM_DIR", "/tmp/sdswarm")


def swarm(*args):
    return subprocess.run([SWARM, *args], check=True, capture_output=True, text=True).stdout.strip()


def on_manager(host, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=host)
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout.strip()


def stack_file(path, services):
    with open(path, "w") as f:
        f.write('version: "3.8"\nservices:\n')
        for name, replicas in services:
            f.write(f"  {name}:\n    image: bb:1\n    command: [\"sleep\", \"86400\"]\n"
                    "    healthcheck: {test: [\"CMD\", \"true\"], interval: 5s}\n"
                    f"    deploy: {{replicas: {replicas}}}\n")


def manager_ticks(b):
    # The manager's dockerd, containerd and shims (their command lines name its directory).
    return sum(b.cpu_ticks(p) for p in b.engine_pids(f"{SWARM_DIR}/n1/"))


# A watcher in its own process (a thread of the bench's would share the interpreter with the
# screen polling, and was seen to notice the task only after the panel had shown it). It asks
# the manager for one service's tasks every millisecond and prints, on CLOCK_MONOTONIC (the
# same clock as the bench's time.monotonic()), when the task of the slot first exists and when
# it first has a node. Not back to back: each read costs the manager about 1 ms of CPU, so a
# watcher reading back to back kept one of the machine's two cores busy on the manager during
# the very change it timed (load average 18-30 in the 2026-12-02 runs), which the compose case,
# with no watcher, never paid.
WATCHER = r"""
import json, socket, sys, time, urllib.parse
sock_path, service, slot = sys.argv[1], sys.argv[2], int(sys.argv[3])
flt = urllib.parse.quote(json.dumps({"service": [service]}))
req = f"GET /tasks?filters={flt} HTTP/1.0\r\nHost: docker\r\n\r\n".encode()
print("ready", flush=True)
seen = placed = None
deadline = time.monotonic() + 60
while placed is None and time.monotonic() < deadline:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(req)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    now = time.monotonic()
    time.sleep(0.001)
    for t in json.loads(data.split(b"\r\n\r\n", 1)[1] or b"[]") or []:
        if t.get("Slot") == slot:
            seen = seen or now
            if t.get("NodeID"):
                placed = now
print(json.dumps({"seen": seen, "placed": placed}), flush=True)
"""


class TaskWatch:
    """The watcher above, started and ready before the change is made."""

    def __init__(self, host, service, slot):
        self.p = subprocess.Popen([sys.executable, "-c", WATCHER, host.removeprefix("unix://"), service, str(slot)],
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def result(self):
        try:
            out, _ = self.p.communicate(timeout=70)
            return json.loads(out.strip().splitlines()[-1])
        except Exception:  # noqa: BLE001 - a missed watch leaves the figure out
            self.p.kill()
            return {"seen": None, "placed": None}


def all_running(host, services):
    out = on_manager(host, "service", "ls", "--filter", "label=com.docker.stack.namespace=bench",
                     "--format", "{{.Replicas}}")
    rows = out.split()
    return len(rows) == len(services) and all(r.split("/")[0] == r.split("/")[1].split(" ")[0] for r in rows)


def run(b):
    swarm("up")
    host = swarm("host", "1")
    services = [(f"s{i:03d}", 4 if i < 10 else 3) for i in range(30)]
    path = f"{b.BENCH_DIR}/swarm-stack.yml"
    stack_file(path, services)
    res = {"swarm": [], "compose": []}
    try:
        on_manager(host, "stack", "deploy", "-c", path, "bench")
        for _ in range(900):
            if all_running(host, services):
                break
            time.sleep(1)
        else:
            raise RuntimeError("the bench stack's 100 tasks did not all run within 15 minutes")
        base = []
        for r in range(b.ROUNDS):
            e0 = manager_ticks(b)
            time.sleep(b.IDLE)
            base.append(100.0 * (manager_ticks(b) - e0) / b.TICK / b.IDLE)
            p = b.Panel("stackdeck", 160, 60, extra=("--host", host))
            try:
                p.wait(lambda s: "swarm 3/3 nodes ready" in s and "s000." in s and "running" in s, limit=120,
                       step=0.001)
                m = {"startup_ms": (time.monotonic() - p.t0) * 1000}
                time.sleep(b.WARMUP)
                e0, p0 = manager_ticks(b), b.cpu_ticks(p.pid)
                time.sleep(b.IDLE)
                m["cpu"] = 100.0 * (b.cpu_ticks(p.pid) - p0) / b.TICK / b.IDLE
                m["engine"] = 100.0 * (manager_ticks(b) - e0) / b.TICK / b.IDLE
                m["rss"] = b.hwm_kb(p.pid) / 1024
                # One more task of the first service (its rows are at the top of the list).
                want = 5 + r
                watch = TaskWatch(host, "bench_s000", want)
                t = time.monotonic()
                on_manager(host, "service", "scale", "-d", f"bench_s000={want}")
                p.wait(lambda s, w=want: f"s000.{w}@" in s, limit=60, step=0.002)
                shown = time.monotonic()
                m["change_ms"] = (shown - t) * 1000
                w = watch.result()
                # From the task first in the API to its row (None if the watcher missed it), and
                # Swarm's own share before that.
                m["seen_ms"] = (shown - w["seen"]) * 1000 if w["seen"] else None
                m["swarm_ms"] = (w["seen"] - t) * 1000 if w["seen"] else None
                m["placed_after_ms"] = (w["placed"] - w["seen"]) * 1000 if w["placed"] and w["seen"] else None
                res["swarm"].append(m)
            finally:
                p.close()
            on_manager(host, "service", "scale", "-d", "bench_s000=4")
        res["swarm_base"] = statistics.median(base)
    finally:
        on_manager(host, "stack", "rm", "bench", check=False)
    # The compose case on the bench's private engine, measured the same way.
    b.run_idle_containers(100)
    base = []
    for r in range(b.ROUNDS):
        base.append(b.baseline(b.IDLE))
        p = b.Panel("stackdeck", 160, 60)
        try:
            p.wait(lambda s: "svc000" in s and "healthy" in s, limit=120, step=0.001)
            m = {"startup_ms": (time.monotonic() - p.t0) * 1000}
            time.sleep(b.WARMUP)
            w = b.measure_window(p, b.IDLE)
            m.update(cpu=w["cpu"], engine=w["engine"], rss=w["rss"])
            # One more container of the first service: its row sorts right under svc000's.
            name = f"bench_svc000_{2 + r}"
            b.docker("run", "-d", "--name", name, "--network", "host", "--label", "com.docker.compose.project=bench",
                     "--label", "com.docker.compose.service=svc000", "bb:1", "sleep", "86400")
            # From the moment the engine says it started (docker run returns after its start event).
            t = time.monotonic()
            p.wait(lambda s, n=name: n in s, limit=60, step=0.002)
            m["change_ms"] = (time.monotonic() - t) * 1000
            res["compose"].append(m)
        finally:
            p.close()
    res["compose_base"] = statistics.median(base)
    for m in res["compose"]:
        m["engine"] -= res["compose_base"]
    for m in res["swarm"]:
        m["engine"] -= res["swarm_base"]
    b.clean_containers()
    return res


def report(res):
    med = lambda k, rows: statistics.median(r[k] for r in rows) if rows else float("nan")  # noqa: E731
    s, c = res["swarm"], res["compose"]
    print("\n### 8. Swarm: 3 nodes, 30 services, 100 tasks, 160x60, next to 100 compose containers\n")
    print(f"Engine baselines without a panel: the swarm's manager {res['swarm_base']:.2f} %, "
          f"the single engine {res['compose_base']:.2f} %.\n")
    print("| figure | swarm (manager) | compose (one engine) | swarm/compose |")
    print("|---|---|---|---|")
    for k, label, unit in (("startup_ms", "start-up to the full first frame", "ms"), ("cpu", "panel CPU", "%"),
                           ("engine", "engine CPU attributable", "%"), ("rss", "peak RSS", "MB"),
                           ("change_ms", "a new task / container -> its row on screen", "ms")):
        a, b2 = med(k, s), med(k, c)
        ratio = f"{a / b2:.2f}" if b2 > 0.05 else "-"
        print(f"| {label} | {a:.2f} {unit} | {b2:.2f} {unit} | {ratio} |")
    seen = [r["seen_ms"] for r in s if r.get("seen_ms") is not None]
    if seen:
        sched = [r["swarm_ms"] for r in s if r.get("swarm_ms") is not None]
        placed = [r["placed_after_ms"] for r in s if r.get("placed_after_ms") is not None]
        a, b2 = statistics.median(seen), med("change_ms", c)
        print(f"| of which Swarm's own: `scale` returns -> the task in the API | {statistics.median(sched):.2f} ms"
              f" (placed on a node {statistics.median(placed) if placed else float('nan'):.2f} ms later) | - | - |")
        print(f"| the task in the API -> its row on screen | {a:.2f} ms | {b2:.2f} ms | "
              f"{a / b2 if b2 > 0.05 else float('nan'):.2f} |")
    print("\nPer swarm round: " + "; ".join(
        f"{r['change_ms']:.0f} ms to the row, the task in the API after {r.get('swarm_ms') or float('nan'):.0f} ms"
        for r in s))
    # Start-up swings from run to run on this 2-core machine; the medians hide how much.
    for k in ("swarm", "compose"):
        print(f"Start-up per {k} round: " + ", ".join(f"{r['startup_ms']:.0f} ms" for r in res[k]))
