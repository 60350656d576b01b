#!/usr/bin/env bash
# A soak of nexchat-server (release build, SQLite), all traffic on 127.0.0.1: ordinary messages
# at a steady rate beside hostile clients (never-reading sockets asking for history, 40 KiB
# floods, junk frames, half-sent request heads) for MINUTES minutes, with the server's resident
# memory sampled once a minute. Flat memory is the target.
#
#   bash benches/scripts/soak.sh                    # 30 minutes
#   MINUTES=5 SKIP_BUILD=1 bash benches/scripts/soak.sh
#
# Settings (environment): MINUTES, RATE (ordinary messages/s), USERS, PAIRS (hostile pairs),
# SLOWLORIS (half-header connections), OUT (the RSS samples, one "minute rss_kib" line each),
# SKIP_BUILD=1 to use the binaries already in target/release.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/target/release"
MINUTES="${MINUTES:-30}"
RATE="${RATE:-500}"
USERS="${USERS:-50}"
PAIRS="${PAIRS:-4}"
SLOWLORIS="${SLOWLORIS:-20}"
OUT="${OUT:-/tmp/nexchat-soak.txt}"
SERVER_ADDR="${SERVER_ADDR:-127.0.0.1:18090}"
DB_DIR="$(mktemp -d /tmp/nexchat-soak.XXXXXX)"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release -j 2 -p nexchat-benches --bins && cargo build --release -j 2 --bin nexchat-server)
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

RUST_LOG=error "$BIN/nexchat-server" --addr "$SERVER_ADDR" --sqlite "$DB_DIR/soak.db" \
  --bcrypt-cost 4 --rate-burst 1000000 --rate-per-sec 1000000 --registrations-per-hour 0 &
SERVER=$!; PIDS+=("$SERVER")
wait_port "$SERVER_ADDR"

SECONDS_TOTAL=$((MINUTES * 60))
"$BIN/nexchat-load" --url "http://$SERVER_ADDR" --json-only messages --users "$USERS" \
  --rate "$RATE" --duration "$SECONDS_TOTAL" --warmup 0 >"$DB_DIR/messages.json" &
PIDS+=("$!")
"$BIN/nexchat-load" --url "http://$SERVER_ADDR" --json-only hostile --pairs "$PAIRS" \
  --slowloris "$SLOWLORIS" --duration "$SECONDS_TOTAL" >"$DB_DIR/hostile.json" &
PIDS+=("$!")

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
: >"$OUT"
echo "minute rss_kib" | tee -a "$OUT"
for minute in $(seq 0 "$MINUTES"); do
  echo "$minute $(rss)" | tee -a "$OUT"
  [[ "$minute" -lt "$MINUTES" ]] && sleep 60
done
wait "${PIDS[1]}" "${PIDS[2]}" || true
echo "messages: $(cat "$DB_DIR/messages.json")"
echo "hostile:  $(cat "$DB_DIR/hostile.json")"
