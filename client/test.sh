#!/usr/bin/env bash
# Browser tests of the nexchat demo client, in real headless Chromium against the real server.
#
#   client/test.sh                      # uses ../target/release/nexchat-server (built if missing)
#   NEXCHAT_SERVER_BIN=/path/to/nexchat-server client/test.sh
#   NEXCHAT_BROWSER_CONCURRENCY=3 client/test.sh   # three test files side by side (default 1)
#
# The host app that serves the client under /chat/ (nexchat-mounted) and the terminal client
# (nexchat, for tests/terminal.test.js) are taken from beside the server binary, or from
# NEXCHAT_MOUNTED_BIN and NEXCHAT_CLI_BIN.
#
# Installs what it needs on a fresh machine (Debian chromium, the npm dev dependency) and fails
# loudly when something cannot run: no test is ever skipped quietly.
set -euo pipefail

cd "$(dirname "$0")"
CLIENT_DIR=$(pwd)

say() { echo "client/test.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian chromium and chromium-driver"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after the install"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing node and npm"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node >= 20 is needed, found $(node --version)"

if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi

default_bin=../target/release/nexchat-server
bin=${NEXCHAT_SERVER_BIN:-$default_bin}
case "$bin" in
  /*) ;;
  *) bin="$CLIENT_DIR/$bin" ;;
esac
mounted=${NEXCHAT_MOUNTED_BIN:-$(dirname "$bin")/nexchat-mounted}
cli=${NEXCHAT_CLI_BIN:-$(dirname "$bin")/nexchat}
case "$cli" in
  /*) ;;
  *) cli="$CLIENT_DIR/$cli" ;;
esac
if [ ! -x "$bin" ] || [ ! -x "$mounted" ] || [ ! -x "$cli" ]; then
  if [ -z "${NEXCHAT_SERVER_BIN:-}" ]; then
    say "building the servers and the terminal client: cargo build --release --bin nexchat-server --bin nexchat-mounted --bin nexchat"
    (cd .. && cargo build --release --bin nexchat-server --bin nexchat-mounted --bin nexchat)
  fi
  [ -x "$bin" ] || die "server binary not found or not executable: $bin"
  [ -x "$mounted" ] || die "nexchat-mounted binary not found or not executable: $mounted"
  [ -x "$cli" ] || die "nexchat (terminal client) binary not found or not executable: $cli (set NEXCHAT_CLI_BIN)"
fi
export NEXCHAT_SERVER_BIN="$bin"
export NEXCHAT_MOUNTED_BIN="$mounted"
export NEXCHAT_CLI_BIN="$cli"

mkdir -p test-results
say "server: $NEXCHAT_SERVER_BIN"
say "host app: $NEXCHAT_MOUNTED_BIN"
say "terminal client: $NEXCHAT_CLI_BIN"
say "browser: $(/usr/bin/chromium --version 2>/dev/null || echo unknown)"
# Each test file starts its own server (free port, fresh database folder) and its own browser,
# so files can run side by side: NEXCHAT_BROWSER_CONCURRENCY at a time. The default is 1: on two
# cores, three at once overran a registration's 60 s wait, and two at once let a late push
# re-render the friend list under the keyboard test's walk. The longest files go first so the
# run does not end waiting on one of them; every other file follows in name order.
concurrency=${NEXCHAT_BROWSER_CONCURRENCY:-1}
[[ "$concurrency" =~ ^[1-9][0-9]*$ ]] || die "NEXCHAT_BROWSER_CONCURRENCY must be a positive number, not '$concurrency'"
longest=(tests/keyboard.test.js tests/a11y.test.js tests/devices.test.js tests/chat.test.js)
files=("${longest[@]}")
for file in tests/*.test.js; do
  [[ " ${longest[*]} " == *" $file "* ]] || files+=("$file")
done
say "test files, $concurrency at a time: ${files[*]}"
exec node --test --test-concurrency="$concurrency" "${files[@]}"
