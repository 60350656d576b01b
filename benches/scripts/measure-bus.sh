#!/usr/bin/env bash
# What the bus between nodes costs: the same workloads against one node and against two nodes
# linked by NATS, back to back, on one MongoDB store, all traffic on 127.0.0.1. Prints each
# run's table and appends its JSON line to $OUT.
#
#   bash benches/scripts/measure-bus.sh
#   SKIP_BUILD=1 DURATION=20 bash benches/scripts/measure-bus.sh
#
# Runs, in this order, each on a fresh database:
#   1. one node, no bus:             messages at RATE msg/s, then as fast as acknowledged (window 8)
#   2. two nodes over NATS:          the same, each user's friend on the other node, so every
#                                    message, tick and presence change crosses the bus
#   3. idle sockets (CONNS) on one node without the bus, then on one node of two with it:
#                                    memory per idle connection
# Settings (environment): OUT, USERS, DURATION, RATE (150: below the test store's ceiling), CONNS,
# BIN (the binaries' folder), SKIP_BUILD=1 (use the binaries in
# target/release). The MongoDB store is the test wire-protocol server (scripts/mongo-test-server.sh)
# and NATS is Debian's nats-server (scripts/nats-test-server.sh): both run on the same two cores.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${BIN:-$ROOT/target/release}"
OUT="${OUT:-/tmp/nexchat-measure-bus.jsonl}"
USERS="${USERS:-100}"
DURATION="${DURATION:-10}"
RATE="${RATE:-150}"
CONNS="${CONNS:-5000}"
A_ADDR="${A_ADDR:-127.0.0.1:18081}"
B_ADDR="${B_ADDR:-127.0.0.1:18082}"
SECRET="bus measurement secret that is long enough for HS256"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release -j 2 -p nexchat-benches --bin nexchat-load \
    && cargo build --release -j 2 -p nexchat-examples --features mongodb,nats --bin nexchat-server)
fi

ulimit -n "$(ulimit -Hn)"
echo "RLIMIT_NOFILE $(ulimit -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

eval "$("$ROOT/scripts/mongo-test-server.sh")"
PIDS+=("$NEXCHAT_MONGO_PID")
eval "$("$ROOT/scripts/nats-test-server.sh")"
PIDS+=("$NEXCHAT_NATS_PID")

wait_port() { for _ in $(seq 200); do (echo >"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

node() { # address, database, then extra flags; prints the pid
  NEXCHAT_JWT_SECRET="$SECRET" RUST_LOG=warn "$BIN/nexchat-server" --addr "$1" \
    --mongodb "$NEXCHAT_TEST_MONGODB_URI" --mongodb-database "$2" \
    --bcrypt-cost 4 --rate-burst 1000000 --rate-per-sec 1000000 --registrations-per-hour 0 \
    --sockets-per-user 10 "${@:3}" >/dev/null 2>&1 &
  echo $!
}

load() { # label, then nexchat-load arguments
  local label="$1"; shift
  echo; echo "== $label: nexchat-load $*"
  timeout 600 "$BIN/nexchat-load" "$@" | tee /tmp/nexchat-measure-bus.last
  tail -n 1 /tmp/nexchat-measure-bus.last | sed "s/^{/{\"label\":\"$label\",/" >>"$OUT"
}

# The nodes are not this shell's children (started in $(...)): poll until they are gone, so the
# next node finds its port free.
stop() { kill "$@" 2>/dev/null || true; for p in "$@"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done; }

run_id="$(date +%s)"
BUS=(--nats "$NEXCHAT_TEST_NATS_URL" --bus-prefix "bench$run_id")

# --- 1. one node, no bus ------------------------------------------------------------------------
A=$(node "$A_ADDR" "single$run_id"); PIDS+=("$A"); wait_port "$A_ADDR"
ONE=(--url "http://$A_ADDR" --server-pid "$A")
load one-node-rate "${ONE[@]}" messages --users "$USERS" --rate "$RATE" --duration "$DURATION"
load one-node-window "${ONE[@]}" messages --users "$USERS" --window 8 --duration "$DURATION"
stop "$A"

# --- 2. two nodes over NATS -----------------------------------------------------------------------
A=$(node "$A_ADDR" "pair$run_id" "${BUS[@]}"); PIDS+=("$A")
B=$(node "$B_ADDR" "pair$run_id" "${BUS[@]}"); PIDS+=("$B")
wait_port "$A_ADDR"; wait_port "$B_ADDR"
TWO=(--url "http://$A_ADDR" --server-pid "$A" --node "http://$B_ADDR" --node-pid "$B")
load two-nodes-rate "${TWO[@]}" messages --users "$USERS" --rate "$RATE" --duration "$DURATION"
load two-nodes-window "${TWO[@]}" messages --users "$USERS" --window 8 --duration "$DURATION"
stop "$A" "$B"

# --- 3. memory per idle connection, without and with the bus ---------------------------------------
A=$(node "$A_ADDR" "idle$run_id"); PIDS+=("$A"); wait_port "$A_ADDR"
load idle-no-bus --url "http://$A_ADDR" --server-pid "$A" connections --conns "$CONNS" \
  --conns-per-user 2 --hold 5
stop "$A"
A=$(node "$A_ADDR" "idlebus$run_id" "${BUS[@]}"); PIDS+=("$A")
B=$(node "$B_ADDR" "idlebus$run_id" "${BUS[@]}"); PIDS+=("$B")
wait_port "$A_ADDR"; wait_port "$B_ADDR"
load idle-bus --url "http://$A_ADDR" --server-pid "$A" connections --conns "$CONNS" \
  --conns-per-user 2 --hold 5
stop "$A" "$B"
echo; echo "JSON lines appended to $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
