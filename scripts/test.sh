#!/usr/bin/env bash
# Runs every nexchat test suite, installing and starting what they need:
#   1. formatting and lints;
#   2. Rust: unit tests, doctests, the storage conformance suite and the socket-level protocol
#      suite on SQLite;
#   3. MongoDB: the conformance suite and the whole socket-level protocol suite again, against a
#      MongoDB wire-protocol server this script installs (PyPI nx-27017) and starts;
#   4. the browser client in headless Chromium (installed from Debian when missing).
# Any suite that cannot run fails the whole command; nothing is skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "Rust suites on SQLite"
# One feature set for every cargo step below, so nothing is compiled twice.
cargo test --workspace --all-features --exclude nexchat-store
cargo test -p nexchat-store --all-features --lib --test sqlite
cargo test -p nexchat-store --all-features --doc

step "MongoDB suites (conformance and protocol) on a local wire-protocol server"
eval "$(scripts/mongo-test-server.sh)"
trap 'kill "$NEXCHAT_MONGO_PID" 2>/dev/null || true' EXIT
[[ -n "${NEXCHAT_TEST_MONGODB_URI:-}" ]] || { echo "MongoDB test server did not start" >&2; exit 1; }
export NEXCHAT_TEST_MONGODB_URI
cargo test -p nexchat-store --all-features --test mongodb
cargo test -p nexchat-examples --all-features --tests
unset NEXCHAT_TEST_MONGODB_URI

step "browser client in headless Chromium"
cargo build --all-features --bin nexchat-server
NEXCHAT_SERVER_BIN="$PWD/target/debug/nexchat-server" client/test.sh

step "all suites passed"
