#!/usr/bin/env python3
"""Write contrib/link-order.txt: the functions a panel runs, hottest first (issue 15).

Most of an idle panel's RSS was the binary's own code pages: the functions it runs are spread
over all 15 MB of `.text`, and every page one of them sits on is mapped (with the pages the
kernel maps around each fault). The release build hands this file to the linker (build.rs:
lld's `--symbol-ordering-file`), which puts these functions first in `.text`, side by side, so
the code a panel runs fills a few contiguous megabytes and the rest of the binary stays on disk.

How the list is made: the release binary (Cargo.toml keeps its symbols) runs under callgrind on
the bench's private engine (scripts/bench.py) with 10 idle services at 80x24, as an operator
would use it: start-up, idling, the Metrics, Logs and Services panes, help, quit. Every function
of the binary that ran is listed, by instructions spent in it, most first. A function the run
never reached (a deploy, a backup, an error path) stays where the linker puts it and is paged in
when it runs; a name the build no longer has is skipped by the linker. Rerun after changes that
move much code:

    cargo build --release && python3 scripts/link_order.py && cargo build --release

(`cargo build --release` right before it: `cargo bench` writes target/release/stackdeck too,
with other symbol names.)

Needs valgrind and tmux; about two minutes.
"""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench  # noqa: E402  (the private engine, the idle services and the tmux panel)

BIN = os.path.join(ROOT, "target/release/stackdeck")
OUT = os.path.join(ROOT, "contrib/link-order.txt")
PROFILE = f"{bench.BENCH_DIR}/link-order.callgrind"
LOGGER = (
    "while true; do "
    "echo '{\"level\":\"info\",\"msg\":\"order filled\",\"symbol\":\"BTC-USD\",\"qty\":0.5}'; "
    "echo 'level=warn msg=\"slow tick\" latency_ms=120 exchange=binance'; "
    "echo 'GET /api/v1/positions Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc.def 200'; "
    "echo 'ERROR order rejected: insufficient margin password=hunter2' >&2; "
    "echo 'prix du café: 4,20 € ſecret=shh'; "
    "usleep 200000; done"
)


def self_costs(path, binary):
    """{mangled function name: instructions spent in it} for the functions of `binary` in the
    callgrind file at `path` (uncompressed names, `--dump-instr=no`)."""
    costs = {}
    ob = fn = None
    after_call = False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("ob="):
            ob = line[3:]
        elif line.startswith("fn="):
            # Callgrind tells a recursive call's levels apart as name'2, name'3: one function.
            fn = re.sub(r"'[0-9]+$", "", line[3:])
            costs.setdefault((ob, fn), 0)
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the callee's, inclusive
        elif line[:1].isdigit() or line[:1] in "+-*":
            if after_call:
                after_call = False
                continue
            parts = line.split()
            if fn is not None and len(parts) >= 2 and parts[1].isdigit():
                costs[(ob, fn)] = costs.get((ob, fn), 0) + int(parts[1])
    return {f: c for (o, f), c in costs.items() if o == binary and not f.startswith("0x")}


def profile():
    if "not stripped" not in subprocess.run(["file", BIN], capture_output=True, text=True).stdout:
        sys.exit(f"link_order: {BIN} has no symbols; build it with Cargo.toml's release profile (strip = false)")
    engine = bench.start_engine()
    try:
        bench.load_images(["bb:1"])
        bench.clean_containers()
        bench.run_idle_containers(10)
        # One service that logs the demo bot's mix (JSON, logfmt, a Bearer header, an error, a
        # line that is not ASCII), so that the log path is in the list too.
        bench.docker("run", "-d", "--name", "bench_logger_1", "--network", "host",
                     "--label", "com.docker.compose.project=bench", "--label", "com.docker.compose.service=logger",
                     "bb:1", "sh", "-c", LOGGER)
        if os.path.exists(PROFILE):
            os.remove(PROFILE)
        bench.STACKDECK = (f"valgrind --tool=callgrind --callgrind-out-file={PROFILE} --dump-instr=no "
                           f"--compress-strings=no --compress-pos=no --demangle=no {BIN}")
        p = bench.Panel("stackdeck", 80, 24)
        try:
            p.wait(lambda s: "svc000" in s and "healthy" in s, limit=300)
            time.sleep(30)  # idling: the clock, health checks, the engine's events
            # The logger's logs (the first row), the Metrics pane, the Logs pane, help.
            for keys, pause in ((["g", "Enter"], 10), (["1", "Down", "Up"], 2), (["3"], 15), (["2", "Down", "Up"], 5),
                                (["1", "?"], 3), (["Escape"], 3)):
                for k in keys:
                    p.keys(k)
                    time.sleep(pause)
            p.keys("q")
            for _ in range(600):
                if os.path.exists(PROFILE):
                    break
                time.sleep(0.1)
            time.sleep(2)
        finally:
            p.close()
        bench.clean_containers()
    finally:
        if engine is not None:
            engine.terminate()
            engine.wait()


def main():
    profile()
    costs = self_costs(PROFILE, BIN)
    if len(costs) < 100:
        sys.exit(f"link_order: only {len(costs)} functions of {BIN} in {PROFILE}; is the binary stripped?")
    names = sorted(costs, key=lambda f: (-costs[f], f))
    # Callgrind names what it ran; the linker matches the names of the build it links. A
    # `cargo bench` build writes the same path with other symbol hashes (its profile is part of
    # them): a list made from it matched two names in three of the release build's.
    have = bench.defined_symbols(BIN) or set()
    found = sum(n in have for n in names)
    if found < 0.95 * len(names):
        sys.exit(f"link_order: only {found} of {len(names)} names are in {BIN}'s symbol table")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("# Made by scripts/link_order.py: the functions a panel runs, most instructions first.\n")
        f.write("".join(n + "\n" for n in names))
    print(f"link_order: {len(names)} functions, {sum(costs.values())} instructions -> {OUT}")


if __name__ == "__main__":
    main()
