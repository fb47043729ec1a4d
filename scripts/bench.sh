#!/usr/bin/env bash
# The benchmark suite (issue 5): stackdeck vs oxker on a real engine, whole-process figures read
# from outside (/proc, the pty byte stream, docker events), then the in-process criterion benches.
# Not part of the test run. BENCH_QUICK=1 is the short smoke CI can run; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/engine.sh
./tests/fixtures/build.sh >/dev/null 2>&1 || ./tests/fixtures/build.sh
cargo build --release --quiet
if [ "${BENCH_NO_OXKER:-0}" != 1 ] && ! command -v oxker >/dev/null && [ ! -x "$HOME/.cargo/bin/oxker" ]; then
  echo "installing oxker (cargo install oxker --locked, about 3 minutes)" >&2
  cargo install oxker --locked --quiet
fi
python3 scripts/bench.py
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  cargo bench --bench panel -- --quick --noplot
else
  cargo bench --bench panel -- --noplot
fi
