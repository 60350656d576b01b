#!/usr/bin/env bash
# Runs every nexchat test suite, installing and starting what they need:
#   1. formatting, lints and unused dependencies (cargo-machete, installed when missing);
#   2. Rust: unit tests, doctests, the storage conformance suite in memory, on SQLite and on
#      MongoDB (a MongoDB wire-protocol server this script installs, PyPI nx-27017, and
#      starts), and the socket-level protocol suite on SQLite;
#   3. the whole socket-level protocol suite again on MongoDB, and the tests of several nodes
#      linked by a NATS server (Debian's nats-server, installed when missing, and started);
#   4. the browser client in headless Chromium (installed from Debian when missing).
# Any suite that cannot run fails the whole command; nothing is skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "unused dependencies"
# A dependency no code uses fails the run, like a lint. Installed from crates.io when missing.
command -v cargo-machete >/dev/null || cargo install --locked --debug cargo-machete
cargo machete

step "MongoDB wire-protocol server for the MongoDB suites"
eval "$(scripts/mongo-test-server.sh)"
trap 'kill "$NEXCHAT_MONGO_PID" 2>/dev/null || true' EXIT
[[ -n "${NEXCHAT_TEST_MONGODB_URI:-}" ]] || { echo "MongoDB test server did not start" >&2; exit 1; }
export NEXCHAT_TEST_MONGODB_URI

step "NATS server for the tests of several nodes"
eval "$(scripts/nats-test-server.sh)"
trap 'kill "$NEXCHAT_MONGO_PID" "$NEXCHAT_NATS_PID" 2>/dev/null || true; rm -rf "$NEXCHAT_NATS_DIR"' EXIT
[[ -n "${NEXCHAT_TEST_NATS_URL:-}" ]] || { echo "NATS test server did not start" >&2; exit 1; }
export NEXCHAT_TEST_NATS_URL

# Every cargo step below selects the whole workspace with all features: the same feature set
# each time, so each crate is compiled once and later steps only choose what runs.
ALL=(--workspace --all-features)

step "Rust: unit tests, doctests, both storage conformance suites, the protocol suite on SQLite"
NEXCHAT_TEST_STORE=sqlite cargo test "${ALL[@]}"

step "Rust: the protocol suite again, on MongoDB"
NEXCHAT_TEST_STORE=mongodb NEXCHAT_TEST_NODES=3 cargo test "${ALL[@]}" --tests

step "browser client in headless Chromium"
# The server binaries the test build above already made (integration tests build the package's
# binaries with the same features): nexchat-server, and nexchat-mounted beside it (the host app
# serving the client under /chat/). Nothing is compiled for this step.
NEXCHAT_SERVER_BIN="$PWD/target/debug/nexchat-server" client/test.sh

step "all suites passed"
