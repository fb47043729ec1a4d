#!/usr/bin/env bash
# The benchmark suite (issue 5): stackdeck vs oxker on a real engine, whole-process figures read
# from outside (/proc, the pty byte stream, docker events), then the in-process criterion benches.
# Not part of the test run. BENCH_QUICK=1 is the short smoke CI can run; see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/engine.sh
./tests/fixtures/build.sh >/dev/null 2>&1 || ./tests/fixtures/build.sh
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
  # The CI smoke: keeps the suite working, measures nothing. It reuses the debug build the
  # tests made and runs each criterion bench once in test mode (cargo test --bench), instead of
  # two more whole-tree compiles (release, then bench with dev-dependencies' features).
  cargo build --quiet
  BENCH_QUICK=1 BENCH_NO_OXKER=1 BENCH_BIN="$PWD/target/debug/stackdeck" python3 scripts/bench.py
  exec cargo test --quiet --bench panel
fi
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
