#!/usr/bin/env bash
# Runs every nexchat test suite, installing and starting what they need:
#   1. formatting and unused dependencies (cargo-machete, installed when missing);
#   2. one build of every target (`--workspace --all-targets --all-features`: one feature set), so
#      each crate is compiled once and later steps only choose what runs (the browser suite uses
#      the server binaries of this build); nexchat's own crates are compiled by clippy-driver,
#      so the build is also the lint run (`cargo clippy --workspace --all-targets --all-features
#      -- -D warnings`, without checking every dependency once more before building it);
#   3. Rust with cargo-nextest (installed when missing; the test binaries side by side, each test
#      in its own process; settings in .config/nextest.toml): unit and property tests, the
#      storage conformance suite in memory, on SQLite and on MongoDB (a MongoDB wire-protocol
#      server this script installs, PyPI nx-27017, and starts), the socket-level protocol suite
#      on SQLite;
#   4. then, side by side: the doctests and the socket-level protocol suite again on MongoDB,
#      with the tests of several nodes linked by a NATS server (Debian's nats-server, installed
#      when missing, and started), which share MongoDB between the nodes, three of them behind
#      nginx (Debian's, installed when missing; the test starts its own); and the browser client
#      in headless Chromium (installed from Debian when missing), which mostly waits on the
#      browser and the servers it starts.
# The steps of 4 write their output to log files in a temporary folder named at the start; the
# log of a step that fails is printed whole. Any suite that cannot run fails the whole command;
# nothing is skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each step's heading says how long the command has run so far (minutes:seconds).
step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

LOGS="$(mktemp -d "${TMPDIR:-/tmp}/nexchat-test.XXXXXX")"
echo "logs and service files: $LOGS"

# Runs the named function in the background, its output into "$LOGS/<name>.log", as a process
# group of its own (job control on while it forks), so that `cleanup` stops it whole.
declare -A PIDS=()
start() {
  step "$1: started, log $LOGS/$1.log"
  set -m
  "$1" </dev/null >"$LOGS/$1.log" 2>&1 &
  PIDS[$1]=$!
  set +m
}

# Waits for a step started with `start`: its last lines when it passed, its whole log when it
# failed. Returns non-zero when it failed.
finish() {
  local log="$LOGS/$1.log" pid="${PIDS[$1]}"
  unset "PIDS[$1]"
  if wait "$pid"; then
    step "$1: passed (last lines of $log)"
    tail -n 12 "$log"
  else
    step "$1: FAILED; its log, $log:"
    cat "$log"
    return 1
  fi
}

# On any exit: the steps still running in the background, and the services started below.
SERVICES=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  for pid in "${SERVICES[@]}"; do kill "$pid" 2>/dev/null || true; done
  [[ -z "${NEXCHAT_NATS_DIR:-}" ]] || rm -rf "$NEXCHAT_NATS_DIR"
}
trap cleanup EXIT

step "format"
cargo fmt --all -- --check

step "unused dependencies"
# A dependency no code uses fails the run, like a lint. Installed from crates.io when missing.
command -v cargo-machete >/dev/null || cargo install --locked --debug cargo-machete
cargo machete

# Installed from crates.io when missing, like cargo-machete.
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

step "MongoDB wire-protocol server for the MongoDB suites"
eval "$(NEXCHAT_MONGO_LOG="$LOGS/nx-27017.log" scripts/mongo-test-server.sh)"
SERVICES+=("$NEXCHAT_MONGO_PID")
[[ -n "${NEXCHAT_TEST_MONGODB_URI:-}" ]] || { echo "MongoDB test server did not start" >&2; exit 1; }
export NEXCHAT_TEST_MONGODB_URI

step "NATS server for the tests of several nodes"
eval "$(scripts/nats-test-server.sh)"
SERVICES+=("$NEXCHAT_NATS_PID")
[[ -n "${NEXCHAT_TEST_NATS_URL:-}" ]] || { echo "NATS test server did not start" >&2; exit 1; }
export NEXCHAT_TEST_NATS_URL

step "nginx for the load-balancer test"
# The test starts its own nginx (scripts/nginx-test-server.sh) in front of the nodes it starts;
# here it is installed from Debian when missing.
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] \
  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }

# Every cargo step selects the whole workspace with all features: the same feature set each
# time, so nothing is compiled after the build step.
ALL=(--workspace --all-features)

# The lints: clippy-driver compiles nexchat's crates as rustc would, after linting them with
# warnings denied (what `cargo clippy` does, which passes its arguments the same way); the
# dependencies are compiled by rustc. Exported for every cargo step below: the same compiler
# for each, so none of them compiles anything again.
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)" \
  || { echo "no clippy-driver: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

step "build and lints: every target, and the server binaries the browser suite starts"
cargo test "${ALL[@]}" --all-targets --no-run

# The binaries that build their chat on the test store (NEXCHAT_TEST_STORE): the socket-level
# protocol suite (nexchat-axum/tests), and the two examples that mount nexchat in a host app.
ON_TEST_STORE='(package(nexchat-axum) & kind(test))
  | (package(nexchat-examples) & (binary(embedding) | binary(host_state)))'
# The tests of several nodes: they share MongoDB between the nodes, so they run in that pass.
SEVERAL_NODES='package(nexchat-examples) & (binary(cluster) | binary(load_balancer))'

step "Rust on SQLite: everything but the tests of several nodes (they need MongoDB: below)"
# Before the browser suite starts, so that the Rust tests that wait on SQLite's writes do not
# share the machine with it.
NEXCHAT_TEST_STORE=sqlite cargo nextest run "${ALL[@]}" --no-fail-fast -E "not ($SEVERAL_NODES)"

rust_on_mongodb() {
  step "Rust: doctests"
  cargo test "${ALL[@]}" --doc
  step "Rust on MongoDB: the protocol suite on the test store, and the tests of several nodes"
  # NEXCHAT_TEST_NODES=3: the suites of several users spread them over three nodes linked by
  # the bus (nexchat-axum/tests/common's SPREAD_SUITES).
  NEXCHAT_TEST_STORE=mongodb NEXCHAT_TEST_NODES=3 cargo nextest run "${ALL[@]}" --no-fail-fast \
    -E "($ON_TEST_STORE) | ($SEVERAL_NODES)"
}

browser_suite() {
  # The binaries of the build above: nexchat-server, nexchat-mounted beside it (the host app
  # serving the client under /chat/), and the terminal client that chats with the browser in
  # client/tests/terminal.test.js (built there because nexchat-client's tests/cli.rs runs it).
  NEXCHAT_SERVER_BIN="$PWD/target/debug/nexchat-server" \
    NEXCHAT_CLI_BIN="$PWD/target/debug/nexchat" client/test.sh
}

start browser_suite
start rust_on_mongodb
failed=()
finish rust_on_mongodb || failed+=(rust_on_mongodb)
finish browser_suite || failed+=(browser_suite)

if ((${#failed[@]})); then
  step "FAILED: ${failed[*]} (logs in $LOGS)"
  exit 1
fi
step "all suites passed"
