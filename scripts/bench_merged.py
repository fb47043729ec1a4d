"""Section 3b of the bench: merged logs under a flood, next to the one-service flood of section 3.

Ten containers of one project each write ~2 000 lines/s (20 000 lines/s in all) while the Logs
pane shows their merged logs (`m`). The same figures as section 3, read the same way: panel CPU
over the window, peak RSS, key press -> frame while the flood runs, and at the end whether the
screen shows the newest lines or says how many it skipped (never a silent loss).
"""

import re
import statistics
import time

SERVICES = 10
PER_SERVICE = 2000  # lines/s

WRITER = (
    "awk -v n={n} -v tag={tag} 'BEGIN {{ s = 0; while (s < n) {{ for (i = 0; i < 200 && s < n; i++) {{ s++; "
    "printf \"%s %09d flood line with some payload to look like a real log entry level=info\\n\", tag, s }} "
    "fflush(); system(\"usleep 100000\") }} }}'"
)


def run(b):
    """`b` is the bench module (its engine, panel driver and helpers)."""
    rows = []
    total = PER_SERVICE * b.FLOOD
    for _ in range(b.ROUNDS):
        b.clean_containers()
        names = [f"bench_m{i:02d}_1" for i in range(SERVICES)]
        for i, name in enumerate(names):
            b.docker("run", "-d", "--name", name, "--network", "host",
                     "--label", "com.docker.compose.project=bench", "--label", f"com.docker.compose.service=m{i:02d}",
                     "bb:1", "sh", "-c", "sleep 6; " + WRITER.format(n=total, tag=f"w{i:02d}") + "; sleep 86400")
        p = b.Panel("stackdeck", 120, 40)
        try:
            p.wait(lambda s: "m09" in s, limit=60)
            p.keys("Enter")
            p.keys("m")
            p.wait(lambda s: f"merged · {SERVICES} containers" in s, limit=60)
            t_start = time.monotonic()
            p0 = b.cpu_ticks(p.pid)
            lat = []
            while time.monotonic() - t_start < b.FLOOD + 6:
                time.sleep(1.0)
                lat.append(p.key_to_frame("?", lambda s: "or esc closes" in s))
                p.keys("Escape")
            secs = time.monotonic() - t_start
            ticks = b.cpu_ticks(p.pid) - p0
            last = f"{total:09d} flood line"
            for _ in range(600):
                if all(last in b.docker("logs", "--tail", "1", n) for n in names):
                    break
                time.sleep(0.1)
            time.sleep(2)
            s = p.screen()
            seqs = [int(x) for x in re.findall(r"\bw\d\d (\d{9}) flood line", s)]
            rows.append({
                "cpu": 100.0 * ticks / b.TICK / secs,
                "rss": b.hwm_kb(p.pid) / 1024,
                "key_ms": statistics.median(lat),
                "key_ms_max": max(lat),
                "last_seq": max(seqs) if seqs else 0,
                "produced": total,
                "skip_marker": "lines skipped" in s,
            })
        finally:
            p.close()
    b.clean_containers()
    return rows


def report(rows, single):
    """`single`: section 3's stackdeck rows (one service, the same 20 000 lines/s)."""
    med = lambda k, rs: statistics.median(r[k] for r in rs) if rs else float("nan")  # noqa: E731
    print(f"\n### 3b. Merged logs: {SERVICES} services x {PER_SERVICE} lines/s, merged view on screen\n")
    print("| | merged, 10 services | one service (section 3) |")
    print("|---|---|---|")
    print(f"| panel CPU | {med('cpu', rows):.1f} % | {med('cpu', single):.1f} % |")
    print(f"| peak RSS | {med('rss', rows):.1f} MB | {med('rss', single):.1f} MB |")
    print(f"| key press -> frame (median) | {med('key_ms', rows):.1f} ms | {med('key_ms', single):.1f} ms |")
    print(f"| key press -> frame (max) | {max((r['key_ms_max'] for r in rows), default=0):.1f} ms | "
          f"{max((r['key_ms_max'] for r in single), default=0):.1f} ms |")
    for r in rows:
        print(f"- merged: {r['produced']} lines per service, newest on screen #{r['last_seq']}, "
              f"'lines skipped' marker shown: {r['skip_marker']}")
