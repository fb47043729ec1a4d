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
  state change -> screen
                    the same row, timed from the engine's own record of the change: the task's
                    CreatedAt, which the manager stamps when it writes the new task (Docker 20.10
                    sends no task events; the panel lists a task from its creation), and the
                    compose container's `start` event, its timeNano (the panel asks for the
                    container on its `create` event, and the engine answers that inspect only
                    once the start is done, 200-470 ms later here: the row first shows the
                    container running). Both on this machine's CLOCK_REALTIME (the swarm's nodes are
                    network namespaces, not clocks of their own). This is the figure issue 14
                    names: "the time from a task's state change to the screen", the same start
                    for both cases, with nothing of the bench's asking the manager meanwhile
"""

import calendar
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


def go_time(text):
    """Seconds since the epoch from Go's RFC 3339 text with nanoseconds ("...T19:50:01.123456789Z")."""
    text = text.strip().strip('"')
    base, _, frac = text.rstrip("Z").partition(".")
    whole = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return whole + (float("0." + frac) if frac else 0.0)


def task_created(host, service, slot):
    """When the manager wrote the task of the slot that is meant to run (seconds since the epoch)."""
    rows = on_manager(host, "service", "ps", service, "--filter", "desired-state=running", "--no-trunc",
                      "--format", "{{.ID}} {{.Name}}").splitlines()
    ids = [r.split()[0] for r in rows if r.split()[1:] == [f"{service}.{slot}"]]
    if len(ids) != 1:
        return None
    return go_time(on_manager(host, "inspect", "--type", "task", "--format", "{{json .CreatedAt}}", ids[0]))


def container_started(b, name, since, until):
    """The timeNano of the engine's `start` event for the container (seconds since the epoch)."""
    out = b.docker("events", "--since", f"{since:.3f}", "--until", f"{until:.3f}", "--filter", f"container={name}",
                   "--filter", "event=start", "--format", "{{.TimeNano}}")
    stamps = [int(x) for x in out.split()]
    return stamps[0] / 1e9 if len(stamps) == 1 else None


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
                t, wall = time.monotonic(), time.time()
                on_manager(host, "service", "scale", "-d", f"bench_s000={want}")
                p.wait(lambda s, w=want: f"s000.{w}@" in s, limit=60, step=0.002)
                shown, shown_wall = time.monotonic(), time.time()
                m["change_ms"] = (shown - t) * 1000
                # From the manager's own record of the new task to its row, and Swarm's share
                # before that (None if the task is not found).
                created = task_created(host, "bench_s000", want)
                m["seen_ms"] = (shown_wall - created) * 1000 if created else None
                m["swarm_ms"] = (created - wall) * 1000 if created else None
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
            wall = time.time()
            b.docker("run", "-d", "--name", name, "--network", "host", "--label", "com.docker.compose.project=bench",
                     "--label", "com.docker.compose.service=svc000", "bb:1", "sleep", "86400")
            # From the moment the engine says it started (docker run returns after its start event).
            t = time.monotonic()
            p.wait(lambda s, n=name: n in s, limit=60, step=0.002)
            shown, shown_wall = time.monotonic(), time.time()
            m["change_ms"] = (shown - t) * 1000
            # From the engine's own record of the change (its `start` event) to the row.
            started = container_started(b, name, wall - 1, shown_wall + 1)
            m["seen_ms"] = (shown_wall - started) * 1000 if started else None
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
    seen_c = [r["seen_ms"] for r in c if r.get("seen_ms") is not None]
    if seen:
        sched = [r["swarm_ms"] for r in s if r.get("swarm_ms") is not None]
        print(f"| of which Swarm's own: `scale` returns -> the task written | {statistics.median(sched):.2f} ms | - | - |")
        a = statistics.median(seen)
        b2 = statistics.median(seen_c) if seen_c else float("nan")
        print(f"| state change -> its row on screen (the task's CreatedAt / the `start` event) | {a:.2f} ms | "
              f"{b2:.2f} ms | {a / b2 if b2 > 0.05 else float('nan'):.2f} |")
    print("\nPer swarm round: " + "; ".join(
        f"{r['change_ms']:.0f} ms to the row, {r.get('seen_ms') or float('nan'):.1f} ms after the task was written, "
        f"which was {r.get('swarm_ms') or float('nan'):.0f} ms after `scale` returned" for r in s))
    print("Per compose round: " + "; ".join(
        f"{r['change_ms']:.0f} ms to the row, {r.get('seen_ms') or float('nan'):.1f} ms after the `start` event"
        for r in c))
    # Start-up swings from run to run on this 2-core machine; the medians hide how much.
    for k in ("swarm", "compose"):
        print(f"Start-up per {k} round: " + ", ".join(f"{r['startup_ms']:.0f} ms" for r in res[k]))
