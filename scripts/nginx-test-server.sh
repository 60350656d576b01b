#!/usr/bin/env bash
# Starts a throw-away nginx in front of nexchat nodes, round-robin with no stickiness, and
# prints, on stdout, shell lines that export where it is:
#
#   eval "$(scripts/nginx-test-server.sh 127.0.0.1:8081 127.0.0.1:8082)"
#   curl "http://$NEXCHAT_NGINX_ADDR/healthz"
#   kill "$NEXCHAT_NGINX_PID"; rm -rf "$NEXCHAT_NGINX_DIR"
#
# The arguments are the nodes (host:port). The server is Debian's nginx (installed with apt-get
# when missing and this runs as root), listening on a free port of 127.0.0.1, with its
# configuration, pid, logs and temporary files in a fresh temporary folder: no root needed, no
# file outside that folder touched. The configuration is the one docs/deploy.md explains; its
# access log names the node that answered each request ($upstream_addr), and so does each
# answer (header X-Upstream-Addr, for the tests only).
#
# Any failure exits non-zero with a message on stderr and prints only `unset ...; false` on
# stdout, so an `eval` of the output fails too.
#
# Environment: NGINX (the binary, default nginx on PATH or /usr/sbin/nginx).
set -euo pipefail

die() {
  echo "nginx-test-server: $*" >&2
  echo "unset NEXCHAT_NGINX_ADDR NEXCHAT_NGINX_PID NEXCHAT_NGINX_DIR; false"
  exit 1
}

(($# > 0)) || die "usage: $0 HOST:PORT... (the nexchat nodes to balance)"

server="${NGINX:-}"
if [[ -z "$server" ]]; then
  server="$(command -v nginx || true)"
  [[ -n "$server" || ! -x /usr/sbin/nginx ]] || server=/usr/sbin/nginx
fi
if [[ -z "$server" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "nginx-test-server: installing nginx from Debian" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; } >&2 \
      || die "apt-get install nginx failed"
  fi
  server="$(command -v nginx || echo /usr/sbin/nginx)"
  [[ -x "$server" ]] || die "no nginx; install Debian's nginx or set NGINX"
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/nexchat-nginx.XXXXXX")" || die "could not make a temporary folder"
# nginx's workers run as nobody when the master is root: they need to reach the temp folders.
chmod 755 "$dir"
mkdir -p "$dir"/{logs,tmp}
chmod 1777 "$dir/tmp"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')" \
  || die "could not pick a free port"

upstreams=""
for node in "$@"; do
  upstreams+="        server $node;"$'\n'
done

cat >"$dir/nginx.conf" <<CONF
# nexchat behind nginx: every request and socket to any node, round-robin.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }

http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    # Which node answered: one line per request (per socket, when it closes).
    log_format nexchat '\$remote_addr "\$request_method \$uri" \$status \$upstream_addr';

    upstream nexchat {
        # Round-robin (nginx's default), no stickiness: any node serves any request.
$upstreams    }

    # A WebSocket upgrade is passed on as one; any other request gets a plain keep-alive.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      '';
    }

    server {
        listen 127.0.0.1:$port;
        access_log $dir/logs/access.log nexchat;
        # The chat's own limit on REST bodies is 64 KiB.
        client_max_body_size 128k;

        location / {
            proxy_pass http://nexchat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$http_host;
            # The client as nginx saw it, appended to what the client sent: the nodes trust
            # this proxy (--trusted-proxy) and read the right-most address.
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            # Sockets are quiet between the server's pings (every 20 s).
            proxy_read_timeout 120s;
            proxy_send_timeout 120s;
            # Small frames, sent as they come.
            proxy_buffering off;
            # Test only, not in docs/deploy.md (it would show clients the nodes' addresses):
            # each answer names the node that gave it, so a test knows at once, without
            # waiting for the access log, which nginx writes after the answer has gone out.
            add_header X-Upstream-Addr \$upstream_addr always;
        }
    }
}
CONF

"$server" -t -p "$dir" -c "$dir/nginx.conf" >"$dir/logs/check.log" 2>&1 \
  || { cat "$dir/logs/check.log" >&2; die "nginx refused the configuration"; }
# Detached from our stdout so that `$(...)` in the caller returns as soon as we exit.
nohup "$server" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/logs/stdout.log" 2>&1 </dev/null &
pid=$!

ready=""
deadline=$((SECONDS + 20))
while ((SECONDS < deadline)); do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 40 "$dir/logs/error.log" "$dir/logs/stdout.log" >&2 2>/dev/null || true
    die "nginx exited before listening on 127.0.0.1:$port"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  kill "$pid" 2>/dev/null || true
  die "nginx did not accept connections on 127.0.0.1:$port within 20 s"
fi

echo "nginx-test-server: $("$server" -v 2>&1) pid $pid on 127.0.0.1:$port (logs $dir/logs)" >&2
echo "export NEXCHAT_NGINX_ADDR=127.0.0.1:$port"
echo "export NEXCHAT_NGINX_PID=$pid"
echo "export NEXCHAT_NGINX_DIR=$dir"
