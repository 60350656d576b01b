#!/usr/bin/env bash
# Starts a throw-away MongoDB wire-protocol server for the storage tests and prints, on stdout,
# shell lines that export where it is:
#
#   eval "$(scripts/mongo-test-server.sh)"
#   cargo test -p nexchat-store --features mongodb --test mongodb
#   kill "$NEXCHAT_MONGO_PID"
#
# The server is nx-27017 (a MongoDB wire-protocol server backed by SQLite, in memory), installed
# on first use into a virtualenv at .venv/ in the repository root (git-ignored). Any failure
# (no python, pip, the server not starting or not listening within ~20 s) exits non-zero with a
# message on stderr and prints only `unset ...; false` on stdout, so an `eval` of the output
# fails too (and the tests, finding no URI, panic) instead of silently testing nothing.
#
# Environment: PYTHON (interpreter that makes the venv, default python3),
# NEXCHAT_MONGO_LOG (server log file, default .venv/nx-27017-PORT.log; the pid file goes beside
# it, named like it with .pid).
set -euo pipefail

die() {
  echo "mongo-test-server: $*" >&2
  # For `eval "$(...)"` callers: forget a server from an earlier run and make the eval fail.
  echo "unset NEXCHAT_TEST_MONGODB_URI NEXCHAT_MONGO_PID; false"
  exit 1
}

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
python="${PYTHON:-python3}"
server="$venv/bin/nx-27017"

if [[ ! -x "$server" ]]; then
  command -v "$python" >/dev/null 2>&1 || die "no '$python' on PATH; install Python 3 or set PYTHON"
  if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2 || die "could not create the virtualenv at $venv"
  fi
  "$venv/bin/python" -m pip install --quiet 'nx-27017==0.8.1' 'neosqlite==1.17.2' >&2 \
    || die "pip install nx-27017==0.8.1 neosqlite==1.17.2 failed"
  [[ -x "$server" ]] || die "pip succeeded but $server is missing"
fi

# A free port: bind to port 0, read what the kernel chose, release it. (Another process could
# take it in between; the readiness check below then fails loudly rather than testing the
# wrong server, because we also check that our process is still alive.)
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')" \
  || die "could not pick a free port"

log="${NEXCHAT_MONGO_LOG:-$venv/nx-27017-$port.log}"
# Detached from our stdout so that `$(...)` in the caller returns as soon as we exit.
# Its own pid file beside its log (the server's default is one per machine), so runs side by
# side never collide.
pid_file="${log%.log}.pid"
nohup "$server" --db memory --host 127.0.0.1 -p "$port" --pid-file "$pid_file" >"$log" 2>&1 </dev/null &
pid=$!

ready=""
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "--- $log ---" >&2
    tail -n 40 "$log" >&2 || true
    die "nx-27017 exited before listening on 127.0.0.1:$port"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  kill "$pid" 2>/dev/null || true
  echo "--- $log ---" >&2
  tail -n 40 "$log" >&2 || true
  die "nx-27017 did not accept connections on 127.0.0.1:$port within 20 s"
fi

echo "mongo-test-server: nx-27017 pid $pid listening on 127.0.0.1:$port (log $log)" >&2
echo "export NEXCHAT_TEST_MONGODB_URI=mongodb://127.0.0.1:$port"
echo "export NEXCHAT_MONGO_PID=$pid"
