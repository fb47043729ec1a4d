#!/usr/bin/env bash
# The test command: from a fresh Debian machine to a full test run against a real engine.
#   installs what the tests need, starts dockerd if none answers, builds the fixture images
#   (no registry), then runs the whole suite (unit, snapshot, real-engine, tmux end-to-end,
#   engine fault test) with cargo-nextest when present, else cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/engine.sh
./tests/fixtures/build.sh
# The tests never see this machine's own stackdeck state or config: a demo's emergency stop (a
# kill switch in ~/.local/share/stackdeck) or a config copied to ~/.config/stackdeck would
# otherwise show up in every panel a test starts without a --state-dir, and a test must not
# change an operator's real state either. One fresh directory per run.
sd_home="$(mktemp -d /tmp/stackdeck-test-home.XXXXXX)"
export XDG_DATA_HOME="$sd_home/data" XDG_CONFIG_HOME="$sd_home/config" XDG_STATE_HOME="$sd_home/state"
export CI="${CI:-}"   # with CI=true, insta refuses to write new snapshots: they must be committed
if command -v cargo-nextest >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
