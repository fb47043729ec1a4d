#!/usr/bin/env bash
# One command from a fresh Debian machine to a live panel on the demo trading stack:
#   installs docker.io & co, starts an engine if none answers, builds every image locally
#   (no registry), starts the 9-service compose project "trading" (host network, 127.0.0.1 only),
#   builds stackdeck and opens it. Re-running is quick: everything is cached.
#   DEMO_NO_PANEL=1 only brings the stack up.   DEMO_DOWN=1 removes the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
COMPOSE=(docker-compose -p trading -f tests/fixtures/compose/docker-compose.yml
         -f tests/fixtures/compose/docker-compose.monitoring.yml -f tests/fixtures/compose/docker-compose.extras.yml)
# Every step says what it does and roughly how long it takes, so a first run is never silent.
step() { printf '\n\033[1m==> [%s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*" >&2; }
step "1/5 engine: starting dockerd unless one answers (and installing docker.io & co on a fresh machine)"
./scripts/engine.sh
if [ "${DEMO_DOWN:-0}" = 1 ]; then step "removing the demo stack"; "${COMPOSE[@]}" down -v; exit 0; fi
step "2/5 images: building the stack's images locally, no registry (first run: several minutes, then cached)"
FX_MONITORING=1 ./tests/fixtures/build.sh
step "3/5 stack: starting the 9-service compose project \"trading\" on 127.0.0.1"
"${COMPOSE[@]}" up -d
if [ -x target/release/stackdeck ]; then
  step "4/5 stackdeck: building the release binary (cargo's progress follows; seconds when up to date)"
else
  step "4/5 stackdeck: building the release binary for the first time (about 8 minutes on 2 cores; cargo's progress follows)"
fi
cargo build --release
if [ "${DEMO_NO_PANEL:-0}" = 1 ]; then
  step "5/5 done: the stack is up (DEMO_NO_PANEL=1), its status:"
  ./target/release/stackdeck --config scripts/demo.toml --project trading status
  exit 0
fi
step "5/5 opening stackdeck on the stack (q quits; X is the emergency stop; ? lists every key)"
exec ./target/release/stackdeck --config scripts/demo.toml --project trading "$@"
