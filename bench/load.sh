#!/usr/bin/env bash
# Load benchmark of the PassKit web service and pass issuance, on loopback, against a release
# build on SQLite (the default store). Seeds 10,000 passes and 20,000 registrations, then runs
# wrk on: serial-number queries, 304 answers, new registrations, pass issuance; and, in the
# same run, a trivial static file from nginx as the machine's baseline. Prints one table.
#
#   bench/load.sh [DURATION_SECONDS=15] [CONNECTIONS=64] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-15}
connections=${2:-64}
threads=${3:-2}
passes=${BENCH_PASSES:-10000}
port=${BENCH_PORT:-18480}
static_port=${BENCH_STATIC_PORT:-18481}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! [ -x /usr/sbin/nginx ]; then
  apt-get install -y wrk nginx-light >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk nginx-light >/dev/null; }
fi

[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -p passmint --bin passmint --example seed_load --quiet

tmp=$(mktemp -d)
server_pid=""
nginx_started=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$nginx_started" ] && /usr/sbin/nginx -c "$tmp/nginx.conf" -p "$tmp" -s quit 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export PASSMINT_DATA_DIR="$tmp/data"
export PASSMINT_LISTEN="127.0.0.1:$port"
export PASSMINT_PUBLIC_URL="http://127.0.0.1:$port"
# Pushes go nowhere real: a closed local port (nothing in this benchmark updates a pass).
export PASSMINT_APNS_URL="https://127.0.0.1:9"
export PASSMINT_ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
# wrk sends every request from one address: the per-client limit would answer 429.
export PASSMINT_PUBLIC_RATE_LIMIT=off
export RUST_LOG=warn

echo "seeding $passes passes and $((passes * 2)) registrations..."
start=$(date +%s)
template_id=$(target/release/examples/seed_load "$PASSMINT_DATA_DIR" "$PASSMINT_PUBLIC_URL" "$passes")
echo "seeded in $(( $(date +%s) - start ))s (template $template_id)"

target/release/passmint serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

# Static baseline: nginx serving a 20-byte file, one worker per core.
mkdir -p "$tmp/www" "$tmp/logs"
echo "passmint static file" > "$tmp/www/index.html"
# nginx workers run as www-data: let them read the file.
chmod 755 "$tmp" "$tmp/www"; chmod 644 "$tmp/www/index.html"
cat > "$tmp/nginx.conf" <<CONF
worker_processes auto;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server { listen 127.0.0.1:$static_port; root $tmp/www; }
}
CONF
/usr/sbin/nginx -c "$tmp/nginx.conf" -p "$tmp" && nginx_started=1

export BENCH_PASSES=$passes BENCH_TEMPLATE_ID=$template_id BENCH_ADMIN_TOKEN=$PASSMINT_ADMIN_TOKEN
export BENCH_RUN=$(date +%s%N)

run() { # name url script
  local name=$1 url=$2 script=$3
  cat "bench/load/$script" bench/load/latency.lua > "$tmp/$script"
  curl_check "$name" "$url" "$script"
  local out
  out=$(wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$tmp/$script" "$url")
  local line
  line=$(grep '^RESULT' <<<"$out")
  printf "| %-34s | %8s | %8s | %s |\n" "$name" \
    "$(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$line")" \
    "$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$line")" \
    "$(sed 's/.*errors=\([0-9]*\) non2xx3xx=\([0-9]*\).*/\1 errors, \2 non-2xx\/3xx/' <<<"$line")"
}

# One request of each kind by hand first, so a broken setup fails loudly instead of measuring
# error pages.
curl_check() {
  local name=$1
  case $name in
    serials*) code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/passkit/v1/devices/bench-device-1/registrations/pass.com.example.test?passesUpdatedSince=0"); want=200 ;;
    304*) code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ApplePass bench-token-1-0123456789abcdef0123456789" -H "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT" "http://127.0.0.1:$port/passkit/v1/passes/pass.com.example.test/bench-1"); want=304 ;;
    register*) code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: ApplePass bench-token-2-0123456789abcdef0123456789" -H 'Content-Type: application/json' -d "{\"pushToken\":\"$(printf 'cd%.0s' $(seq 32))\"}" "http://127.0.0.1:$port/passkit/v1/devices/check-device/registrations/pass.com.example.test/bench-2"); want=201 ;;
    issue*) code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $PASSMINT_ADMIN_TOKEN" -H 'Content-Type: application/json' -d "{\"templateId\":\"$template_id\",\"payload\":{\"member\":{\"id\":\"1\",\"name\":\"x\",\"tier\":\"y\"},\"points\":1,\"balance\":1}}" "http://127.0.0.1:$port/v2/credentials/compact/digital-pass/apple"); want=201 ;;
    *) code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$static_port/index.html"); want=200 ;;
  esac
  if [ "$code" != "$want" ]; then
    echo "setup check for '$name' answered $code, expected $want" >&2
    tail -20 "$tmp/server.log" >&2
    exit 1
  fi
}

echo
echo "uptime before: $(uptime)"
echo "nproc: $(nproc); wrk -t$threads -c$connections -d${duration}s; SQLite; release build"
echo
echo "| workload                           |    req/s |  p99 ms | errors |"
echo "|------------------------------------|---------:|--------:|--------|"
run "static file (nginx)"                "http://127.0.0.1:$static_port/index.html" static.lua
run "serials (GET registrations, 200)"   "http://127.0.0.1:$port" serials.lua
run "304 (GET pass, If-Modified-Since)"  "http://127.0.0.1:$port" not_modified.lua
run "register (POST, new device, 201)"   "http://127.0.0.1:$port" register.lua
run "issue (POST B, signed pass, 201)"   "http://127.0.0.1:$port/v2/credentials/compact/digital-pass/apple" issue.lua
echo
echo "uptime after: $(uptime)"
