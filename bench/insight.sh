#!/usr/bin/env bash
# What recording the timeline and the statistics (issue 15) costs the PassKit hot paths:
# registrations (new device, 201, durable), the changed-serials query (200) and 304 fetches,
# wrk against one release binary on two copies of one seeded SQLite database:
#   - "before": migration 0008's triggers dropped from the copy, so the registrar's
#     transactions record nothing (what they did before insight). It is the same binary, so the
#     read paths still hand their notes to the insight writer, which appends them in the
#     background: a read never waits for it, in either variant;
#   - "after": as shipped, every registration writes its timeline entries and counters in the
#     registrar's transaction, and reads are noted through the insight writer.
# Two rounds, alternating before/after, so a change of machine load hits both. wrk runs on the
# same cores as the server. Prints the load before and after and one table.
#
#   bench/insight.sh [DURATION_SECONDS=8]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-8}
port=${BENCH_PORT:-18690}
passes=${BENCH_PASSES:-10000}

need() { command -v "$1" >/dev/null 2>&1; }
for tool in wrk sqlite3; do
  if ! need "$tool"; then
    apt-get install -y "$tool" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$tool" >/dev/null; }
  fi
done
# BENCH_PROFILE=debug measures the debug build (when a release build is out of reach; slower
# overall, so compare the before/after ratio only).
profile=${BENCH_PROFILE:-release}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  if [ "$profile" = release ]; then
    cargo build --release -p passmint --bin passmint --example seed_load --quiet
  else
    cargo build -p passmint --bin passmint --example seed_load --quiet
  fi
fi
bin=target/$profile

tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

export PASSMINT_LISTEN="127.0.0.1:$port"
export PASSMINT_PUBLIC_URL="http://127.0.0.1:$port"
export PASSMINT_APNS_URL="https://127.0.0.1:9" # nothing here updates a pass
export PASSMINT_ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
export RUST_LOG=warn
export PASSMINT_PUBLIC_RATE_LIMIT=off # wrk is one client address
export BENCH_PASSES=$passes

$bin/examples/seed_load "$tmp/seed" "$PASSMINT_PUBLIC_URL" "$passes" >/dev/null
triggers=$(sqlite3 "$tmp/seed/passmint.db" "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'insight_%'")

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

start_server() { # data dir
  PASSMINT_DATA_DIR=$1 $bin/passmint serve >"$tmp/server.log" 2>&1 &
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

declare -A fig
echo "load before: $(uptime)"
echo "profile: $profile; $passes passes seeded; wrk -t2, ${duration}s per figure"
for round in 1 2; do
  for variant in before after; do
    data=$tmp/$variant-$round
    cp -r "$tmp/seed" "$data"
    if [ "$variant" = before ]; then
      for t in $triggers; do sqlite3 "$data/passmint.db" "DROP TRIGGER $t"; done
    fi
    start_server "$data"
    export BENCH_RUN=$variant$round$(date +%s%N)
    fig[register_${variant}_$round]=$(wrk_rps register.lua "http://127.0.0.1:$port" 64)
    fig[serials_${variant}_$round]=$(wrk_rps serials.lua "http://127.0.0.1:$port" 16)
    fig[not_modified_${variant}_$round]=$(wrk_rps not_modified.lua "http://127.0.0.1:$port" 16)
    if [ "$variant" = after ]; then
      fig[entries_$round]=$(sqlite3 "$data/passmint.db" "SELECT COUNT(*) FROM pass_timeline")
    fi
    stop_server
  done
done
echo "load after: $(uptime)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "| req/s (wrk -t2, ${duration}s each) | before, round 1 | after, round 1 | before, round 2 | after, round 2 | after / before (both rounds) |"
echo "|---|---:|---:|---:|---:|---:|"
for f in register serials not_modified; do
  b=$((fig[${f}_before_1] + fig[${f}_before_2]))
  a=$((fig[${f}_after_1] + fig[${f}_after_2]))
  echo "| $f | ${fig[${f}_before_1]} | ${fig[${f}_after_1]} | ${fig[${f}_before_2]} | ${fig[${f}_after_2]} | $(ratio "$a" "$b") |"
done
echo
echo "timeline entries written in the 'after' runs: ${fig[entries_1]}, ${fig[entries_2]}"
