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
./scripts/engine.sh
if [ "${DEMO_DOWN:-0}" = 1 ]; then "${COMPOSE[@]}" down -v; exit 0; fi
FX_MONITORING=1 ./tests/fixtures/build.sh
"${COMPOSE[@]}" up -d
cargo build --release --quiet
if [ "${DEMO_NO_PANEL:-0}" = 1 ]; then
  ./target/release/stackdeck --config scripts/demo.toml --project trading status
  exit 0
fi
exec ./target/release/stackdeck --config scripts/demo.toml --project trading "$@"
