#!/usr/bin/env bash
# The test command: from a fresh Debian machine to a full test run against a real engine.
#   installs what the tests need, starts dockerd if none answers, builds the fixture images
#   (no registry), then runs the whole suite (unit, snapshot, real-engine, tmux end-to-end,
#   engine fault test) with cargo-nextest when present, else cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/engine.sh
./tests/fixtures/build.sh
export CI="${CI:-}"   # with CI=true, insta refuses to write new snapshots: they must be committed
if command -v cargo-nextest >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
