"""Issue 15's last two sections of the bench: the Metrics pane on screen (stats live for every
container, next to oxker, which always streams them), and how cost grows from 10 to 1000
containers.

BENCH_ONLY=metrics   10 services at 80x24 and 100 containers at 160x60; stackdeck with its
                     Metrics pane on screen (key 3) and every running container reporting
                     ("stack N/N reporting"), oxker on its main screen (CPU and memory of
                     every container, always). Panel CPU, engine CPU attributable (the private
                     engine's dockerd, containerd and shims minus a window without a panel),
                     peak RSS.
BENCH_ONLY=scale     stackdeck alone at 10, 100, 300 and 1000 containers, 160x60: start-up to the
                     first frame whose title counts all of them running, then idle and with the
                     Metrics pane on screen: panel CPU, engine CPU attributable, peak RSS and key
                     press -> frame (Down/Up in the list). The containers have no healthcheck here:
                     1000 healthchecks every 5 s would be the engine's whole load and drown what the
                     panel costs it. Printed as a table and a small text plot.

Containers are busybox `sleep`, host network, compose-labelled as project "bench", created
eight at a time.
"""

import statistics
import subprocess
import time

SIZES = (10, 100, 300, 1000)


def add_containers(b, upto, health):
    """Grow the bench project to `upto` containers named bench_svcNNNN_1 (created in parallel)."""
    have = set(b.docker("ps", "-a", "--format", "{{.Names}}").split())
    want = [f"svc{i:04d}" for i in range(upto) if f"bench_svc{i:04d}_1" not in have]
    procs = []
    for svc in want:
        args = ["docker", "run", "-d", "--name", f"bench_{svc}_1", "--network", "host",
                "--label", "com.docker.compose.project=bench", "--label", f"com.docker.compose.service={svc}"]
        if health:
            args += ["--health-cmd", "true", "--health-interval", "5s"]
        procs.append(subprocess.Popen([*args, "bb:1", "sleep", "86400"], env=b.ENV, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        if len(procs) >= 8:
            procs.pop(0).wait()
    for p in procs:
        p.wait()
    for _ in range(600):
        if len(b.docker("ps", "-q").split()) >= upto:
            return
        time.sleep(0.5)
    raise RuntimeError(f"bench: {upto} containers did not all run")


def open_metrics(p, n):
    p.keys("3")
    # Builds before 61c3b16 said "(N of N running reporting)" at the end of the line (cut at 80
    # columns after "ru"): accepted, to measure them next to the current one.
    p.wait(lambda s: f"stack {n}/{n} reporting" in s or f"({n} of {n} r" in s, limit=120, step=0.05)


def metrics(b):
    """Both tools showing live CPU and memory for every container."""
    out = {}
    for n, (w, h) in ((10, (80, 24)), (100, (160, 60))):
        b.clean_containers()
        add_containers(b, n, health=True)
        res = {t: [] for t in b.tools()}
        base = []
        for r in range(b.ROUNDS):
            base.append(b.baseline(b.IDLE))
            for tool in (b.tools() if r % 2 == 0 else list(reversed(b.tools()))):
                p = b.Panel(tool, w, h)
                try:
                    p.wait(lambda s: "svc0000" in s, limit=120)
                    if tool == "stackdeck":
                        open_metrics(p, n)
                    time.sleep(b.WARMUP)
                    res[tool].append(b.measure_window(p, b.IDLE))
                finally:
                    p.close()
        bl = statistics.median(base)
        for rows in res.values():
            for m in rows:
                m["engine"] -= bl
        out[n] = (res, bl)
    b.clean_containers()
    return out


def report_metrics(out, b):
    for n, (res, bl) in out.items():
        size = "80x24" if n == 10 else "160x60"
        b.table(f"9. Stats live for every container: {n} containers, {size}, {b.IDLE} s "
                f"(stackdeck's Metrics pane on screen; engine baseline {bl:.2f} %)", res,
                [("cpu", "panel CPU", "%"), ("engine", "engine CPU attributable", "%"), ("rss", "peak RSS", "MB")])
        # The RSS budget is a ratio near its limit: the rounds behind the medians, to two places.
        print("\nPeak RSS per round: " + "; ".join(
            f"{tool} " + ", ".join(f"{m['rss']:.2f}" for m in rows) + " MB" for tool, rows in res.items()))


def keys(p, count):
    lat = []
    for i in range(count):
        lat.append(p.key_to_frame("Down" if i % 2 == 0 else "Up"))
        time.sleep(0.3)
    return statistics.median(lat)


def scale(b):
    rows = {}
    b.clean_containers()
    for n in SIZES:
        add_containers(b, n, health=False)
        ms, idle, met = [], [], []
        for _ in range(b.ROUNDS):
            base = b.baseline(b.IDLE)
            p = b.Panel("stackdeck", 160, 60)
            try:
                p.wait(lambda s, n=n: f"{n}/{n} running" in s and "svc0000" in s, limit=120, step=0.001)
                ms.append((time.monotonic() - p.t0) * 1000)
                time.sleep(b.WARMUP)
                m = b.measure_window(p, b.IDLE)
                m["engine"] -= base
                m["key_ms"] = keys(p, 3 if b.QUICK else 8)
                idle.append(m)
                open_metrics(p, n)
                time.sleep(b.WARMUP)
                m = b.measure_window(p, b.IDLE)
                m["engine"] -= base
                m["key_ms"] = keys(p, 3 if b.QUICK else 8)
                met.append(m)
            finally:
                p.close()
        rows[n] = {"startup_ms": statistics.median(ms), "idle": idle, "metrics": met}
    b.clean_containers()
    return rows


def report_scale(rows, b):
    print(f"\n### 10. Scaling, stackdeck at 160x60, medians of {b.ROUNDS} rounds, {b.IDLE} s windows\n")
    print("| containers | start-up | idle: panel CPU | idle: RSS | idle: engine CPU | idle: key -> frame "
          "| Metrics: panel CPU | Metrics: RSS | Metrics: engine CPU | Metrics: key -> frame |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, r in rows.items():
        i, m = r["idle"], r["metrics"]
        print(f"| {n} | {r['startup_ms']:.0f} ms | {b.fmt(b.med(i, 'cpu'), '%')} | {b.fmt(b.med(i, 'rss'), 'MB')} "
              f"| {b.fmt(b.med(i, 'engine'), '%')} | {b.fmt(b.med(i, 'key_ms'), 'ms')} "
              f"| {b.fmt(b.med(m, 'cpu'), '%')} | {b.fmt(b.med(m, 'rss'), 'MB')} "
              f"| {b.fmt(b.med(m, 'engine'), '%')} | {b.fmt(b.med(m, 'key_ms'), 'ms')} |")
    # A small text plot: each figure as a share of its value at the largest size, per size.
    figs = [("start-up", lambda r: r["startup_ms"]),
            ("idle panel CPU", lambda r: b.med(r["idle"], "cpu")),
            ("RSS", lambda r: b.med(r["idle"], "rss")),
            ("Metrics panel CPU", lambda r: b.med(r["metrics"], "cpu"))]
    top = max(rows)
    print(f"\n```\nshare of the value at {top} containers (a straight line from 0 is linear growth)\n")
    for label, f in figs:
        hi = f(rows[top]) or 1e-9
        print(label)
        for n, r in rows.items():
            v = f(r) or 0.0
            bar = "#" * max(1, round(40 * v / hi))
            print(f"  {n:>5} |{bar:<40}| {v:.1f}")
    print("```")

