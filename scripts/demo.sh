#!/usr/bin/env bash
# The main job on a laptop, end to end (`npm run demo`): starts the demo service with injected
# faults, starts an OpStream daemon in a private OPSTREAM_HOME, profiles the service for about a
# minute while showing progress, prints the report, and stops everything it started.
#
#   DEMO_DURATION=1m DEMO_INTERVAL=5s DEMO_FAULTS=slow-endpoint,dependency-timeout,memory-growth npm run demo
#   KEEP_HOME=1 npm run demo     # keep the OPSTREAM_HOME afterwards (to run `opstream report` again)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION=${DEMO_DURATION:-1m}
INTERVAL=${DEMO_INTERVAL:-5s}
FAULTS=${DEMO_FAULTS:-slow-endpoint,dependency-timeout,memory-growth}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ ! -d node_modules ]; then say "installing dependencies (npm ci)"; npm ci --no-audit --no-fund; fi
if [ ! -f dist/commands/start.js ] || [ ! -f dist/ops-server/main.js ]; then say "building"; npm run build:run >/dev/null; fi

OPSTREAM_HOME=$(mktemp -d "${TMPDIR:-/tmp}/opstream-demo-XXXXXX")
export OPSTREAM_HOME
opstream() { node "$ROOT/bin/run.js" "$@"; }
SERVICE_PID=""
cleanup() {
  set +e
  opstream daemon stop >/dev/null 2>&1
  [ -n "$SERVICE_PID" ] && kill "$SERVICE_PID" 2>/dev/null && wait "$SERVICE_PID" 2>/dev/null
  if [ -n "${KEEP_HOME:-}" ]; then echo "kept OPSTREAM_HOME=$OPSTREAM_HOME"; else rm -rf "$OPSTREAM_HOME"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the demo service with faults: $FAULTS"
LOG="$OPSTREAM_HOME/demo-service.log"
READY="$OPSTREAM_HOME/demo-service.out"
node examples/demo-service/server.js --port 0 --log "$LOG" --fault "$FAULTS" --leak-mb-per-s 2 >"$READY" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 100); do grep -q 'demo-service ready' "$READY" && break; sleep 0.1; done
grep 'demo-service ready' "$READY" || { cat "$READY"; exit 1; }
URL=$(sed -n 's/.* url=\([^ ]*\).*/\1/p' "$READY" | head -1)

say "starting the OpStream daemon (OPSTREAM_HOME=$OPSTREAM_HOME)"
opstream daemon start

say "opstream start profile demo-service for $DURATION ..."
ID=$(opstream start profile demo-service for "$DURATION" "interval=$INTERVAL" "url=$URL" \
  'endpoints=/health,/api/orders,/api/search?q=a,/api/checkout' "pid=$SERVICE_PID" "log=$LOG")
echo "started run $ID; sampling in the background (you could walk away now)"

# progress, as `opstream status` shows it, until the run ends
while :; do
  LINE=$(opstream status "$ID" --json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const r = JSON.parse(s);
      const p = r.progress || {};
      const pct = p.fraction == null ? "" : `${Math.round(p.fraction * 100)}%`;
      const eta = p.eta && r.status !== "succeeded" ? `, eta ${Math.max(0, Math.round((Date.parse(p.eta) - Date.now()) / 1000))}s` : "";
      const samples = (r.steps.find((x) => x.id === "sample") || {}).output;
      console.log(`${r.status} ${pct}${eta}${Array.isArray(samples) ? `, ${samples.length} samples` : ""} (step ${r.current_step || "-"})`);
    });')
  echo "  $(date +%H:%M:%S)  $LINE"
  case "$LINE" in succeeded*|failed*|cancelled*) break ;; esac
  sleep 5
done

say "opstream report $ID"
opstream report "$ID"
