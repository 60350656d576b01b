#!/usr/bin/env bash
# One short, bounded measurement of the bare relay and of nexchat-server (release builds), all
# traffic on 127.0.0.1. Prints each run's table and appends its JSON line to $OUT.
#
#   bash benches/scripts/measure.sh            # everything (about 4 minutes)
#   SKIP_BUILD=1 CONNS=5000 bash benches/scripts/measure.sh
#
# Settings (environment): OUT (results file), USERS (messages runs), DURATION (measured seconds),
# RATE (fixed-rate runs, msg/s), CONNS (idle connections), CONNS_PER_USER (nexchat idle run),
# SOURCE_IPS, DB_DIR (where nexchat-server's SQLite file goes; its disk is what a commit waits
# for), SKIP_BUILD=1 to use the binaries already in target/release.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/target/release"
OUT="${OUT:-/tmp/nexchat-measure.jsonl}"
USERS="${USERS:-100}"
DURATION="${DURATION:-10}"
RATE="${RATE:-10000}"
CONNS="${CONNS:-19000}"
CONNS_PER_USER="${CONNS_PER_USER:-2}"
SOURCE_IPS="${SOURCE_IPS:-2}"
DB_DIR="${DB_DIR:-$(mktemp -d /tmp/nexchat-measure.XXXXXX)}"
RELAY_ADDR="${RELAY_ADDR:-127.0.0.1:19000}"
SERVER_ADDR="${SERVER_ADDR:-127.0.0.1:18080}"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release -j 2 -p nexchat-benches --bins && cargo build --release -j 2 --bin nexchat-server)
fi

# One fd per socket on both sides: raise the soft limit to the hard one (raising the hard limit
# itself needs root with CAP_SYS_RESOURCE: `ulimit -Hn 1048576` before running this script).
ulimit -n "$(ulimit -Hn)"
echo "RLIMIT_NOFILE $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

load() { # label, then nexchat-load arguments
  local label="$1"; shift
  echo; echo "== $label: nexchat-load $*"
  timeout 600 "$BIN/nexchat-load" "$@" | tee /tmp/nexchat-measure.last
  tail -n 1 /tmp/nexchat-measure.last | sed "s/^{/{\"label\":\"$label\",/" >>"$OUT"
}

# --- the bare relay -------------------------------------------------------------------------
"$BIN/bare-relay" --addr "$RELAY_ADDR" & RELAY=$!; PIDS+=("$RELAY")
wait_port "$RELAY_ADDR"
B=(--url "http://$RELAY_ADDR" --target bare --server-pid "$RELAY")
load bare-window "${B[@]}" messages --users "$USERS" --window 8 --duration "$DURATION"
load bare-rate "${B[@]}" messages --users "$USERS" --rate "$RATE" --duration "$DURATION"
load bare-idle "${B[@]}" --source-ips "$SOURCE_IPS" connections --conns "$CONNS" --hold 5
kill "$RELAY"; wait "$RELAY" 2>/dev/null || true

# --- nexchat-server ---------------------------------------------------------------------------
rm -f "$DB_DIR"/bench.db*
RUST_LOG=warn "$BIN/nexchat-server" --addr "$SERVER_ADDR" --sqlite "$DB_DIR/bench.db" \
  --bcrypt-cost 4 --rate-burst 1000000 --rate-per-sec 1000000 --registrations-per-hour 0 --sockets-per-user 10 & SERVER=$!
PIDS+=("$SERVER")
wait_port "$SERVER_ADDR"
N=(--url "http://$SERVER_ADDR" --target nexchat --server-pid "$SERVER")
load nexchat-window "${N[@]}" messages --users "$USERS" --window 8 --duration "$DURATION"
load nexchat-rate "${N[@]}" messages --users "$USERS" --rate "$RATE" --duration "$DURATION"
load nexchat-idle "${N[@]}" --source-ips "$SOURCE_IPS" connections --conns "$CONNS" \
  --conns-per-user "$CONNS_PER_USER" --hold 5
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
echo; echo "JSON lines appended to $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
