#!/usr/bin/env bash
# Starts a throw-away NATS server for the tests of several nodes linked by a bus, and prints,
# on stdout, shell lines that export where it is:
#
#   eval "$(scripts/nats-test-server.sh)"
#   cargo test -p nexchat-examples --all-features --test cluster
#   kill "$NEXCHAT_NATS_PID"
#
# The server is Debian's nats-server (installed with apt-get when missing and this runs as
# root), on a free port of 127.0.0.1, with its pid and log files in a fresh temporary folder.
# Any failure (no nats-server, the server not starting or not listening within ~20 s) exits
# non-zero with a message on stderr and prints only `unset ...; false` on stdout, so an `eval`
# of the output fails too (and the tests, finding no URL, panic) instead of testing nothing.
#
# Environment: NATS_SERVER (the binary, default nats-server on PATH).
set -euo pipefail

die() {
  echo "nats-test-server: $*" >&2
  echo "unset NEXCHAT_TEST_NATS_URL NEXCHAT_NATS_PID NEXCHAT_NATS_DIR; false"
  exit 1
}

server="${NATS_SERVER:-nats-server}"
if ! command -v "$server" >/dev/null 2>&1; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "nats-test-server: installing nats-server from Debian" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server; } >&2 \
      || die "apt-get install nats-server failed"
  fi
  command -v "$server" >/dev/null 2>&1 || die "no '$server' on PATH; install Debian's nats-server or set NATS_SERVER"
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/nexchat-nats.XXXXXX")" || die "could not make a temporary folder"

# A free port: bind to port 0, read what the kernel chose, release it. (Another process could
# take it in between; the readiness check below then fails loudly, because it also checks that
# our process is still alive.)
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')" \
  || die "could not pick a free port"

log="$dir/nats-server.log"
# Detached from our stdout so that `$(...)` in the caller returns as soon as we exit.
nohup "$server" -a 127.0.0.1 -p "$port" -P "$dir/nats-server.pid" -l "$log" >"$dir/stdout.log" 2>&1 </dev/null &
pid=$!

ready=""
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 40 "$log" "$dir/stdout.log" >&2 2>/dev/null || true
    die "nats-server exited before listening on 127.0.0.1:$port"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  kill "$pid" 2>/dev/null || true
  tail -n 40 "$log" >&2 2>/dev/null || true
  die "nats-server did not accept connections on 127.0.0.1:$port within 20 s"
fi

echo "nats-test-server: $("$server" --version) pid $pid on 127.0.0.1:$port (log $log)" >&2
echo "export NEXCHAT_TEST_NATS_URL=nats://127.0.0.1:$port"
echo "export NEXCHAT_NATS_PID=$pid"
echo "export NEXCHAT_NATS_DIR=$dir"
