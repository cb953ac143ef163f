#!/usr/bin/env bash
# Scale benchmark of template rollouts on PostgreSQL (SPEC 7, issue 10), against release builds
# on loopback. Seeds N passes (default 1,000,000) and N*R registrations (default R=5: device d
# holds passes d..d+4, one push token per device, so N distinct tokens) straight through SQL
# (generate_series), then measures:
#   1. EXPLAIN of the device serial-number query (must be index lookups);
#   2. wrk: serial-number queries and 304 answers, p50/p99, while nothing else runs;
#   3. a template PUT over all N passes with one `serve`: PUT latency, time to the rollout's end,
#      first and last push into the test APNs server, peak RSS (VmHWM) of serve;
#   4. a second PUT with two `serve` processes on the same database, the rollout's holder
#      killed with SIGKILL half way: time until the other finished, every pass updated, and
#      how often each token was pushed (over both PUTs: 2 = once per PUT).
# Cleans up: drops its database, stops its processes, removes its temp dir.
#
#   bench/rollout-scale.sh            # BENCH_PASSES=1000000 BENCH_REGS_PER_PASS=5
#   BENCH_PASSES=100000 bench/rollout-scale.sh
# Needs: PostgreSQL on BENCH_PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres), psql, wrk.
set -euo pipefail
cd "$(dirname "$0")/.."

passes=${BENCH_PASSES:-1000000}
regs=${BENCH_REGS_PER_PASS:-5}
duration=${BENCH_WRK_SECONDS:-15}
admin_url=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
port_a=${BENCH_PORT:-18580}
port_b=$((port_a + 1))
db=passmint_bench_rollout_$$
db_url=${admin_url%/*}/$db
token=bench-admin-token-0123456789abcdef
B=/v2/credentials/compact/digital-pass/apple

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -j2 -p passmint --bin passmint --example apns_sink --quiet

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
sql() { psql -qtA "$db_url" -c "$1"; }
now_ms() { date +%s%3N; }
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
export PASSMINT_DATABASE_URL=$db_url
export PASSMINT_ADMIN_TOKEN=$token
export PASSMINT_MASTER_KEY=$(openssl rand -base64 32)   # shared by both serve processes
export PASSMINT_ROLLOUT_LEASE_SECONDS=${BENCH_LEASE_SECONDS:-5}
export RUST_LOG=warn

# The test APNs server, in its own process (its memory is not serve's).
mkfifo "$tmp/sink.in"
target/release/examples/apns_sink "$tmp/apns-ca.pem" <"$tmp/sink.in" >"$tmp/sink.out" &
pids+=($!)
exec 7>"$tmp/sink.in"
for _ in $(seq 100); do grep -q '^url=' "$tmp/sink.out" 2>/dev/null && break; sleep 0.1; done
export PASSMINT_APNS_URL=$(sed -n 's/^url=//p' "$tmp/sink.out")
export PASSMINT_APNS_CA_FILE=$tmp/apns-ca.pem
sink() { local before; before=$(wc -l <"$tmp/sink.out"); echo "$1" >&7; for _ in $(seq 600); do [ "$(wc -l <"$tmp/sink.out")" -gt "$before" ] && break; sleep 0.1; done; tail -1 "$tmp/sink.out"; }

start_serve() { # port data-dir → pid
  PASSMINT_LISTEN=127.0.0.1:$1 PASSMINT_PUBLIC_URL=http://127.0.0.1:$1 PASSMINT_DATA_DIR=$2 \
    target/release/passmint serve >"$2.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$pid"
}
target/release/passmint migrate >/dev/null
pid_a=$(start_serve "$port_a" "$tmp/a"); pids+=("$pid_a")

# A template from the example store card, signed by a throwaway chain.
target/release/passmint dev-certs "$tmp/certs" >/dev/null
make_zip() { # org out.zip
  python3 - "$1" "$2" <<'PY'
import json, os, sys, zipfile
org, out = sys.argv[1], sys.argv[2]
src = "examples/storecard.pass"
with zipfile.ZipFile(out, "w") as z:
    for root, _, files in os.walk(src):
        for f in files:
            path = os.path.join(root, f); name = os.path.relpath(path, src)
            data = open(path, "rb").read()
            if name == "pass.json":
                j = json.loads(data); j["organizationName"] = org; data = json.dumps(j).encode()
            z.writestr(name, data)
PY
}
upload() { # method url zip
  curl -sS -X "$1" -H "Authorization: Bearer $token" "$2" -F template=@"$3" -F name="Bench card" \
    -F fileName=bench.pkpass -F teamIdentifier=TEAM123456 -F passTypeIdentifier=pass.com.example.test \
    -F wwdr="<$tmp/certs/wwdr.pem" -F signerCert="<$tmp/certs/signer.pem" \
    -F signerKey="<$tmp/certs/signer.pkcs8.key" -F signerKeyPassphrase=passmint-dev-only
}
make_zip "Bench Coffee" "$tmp/v1.zip"
template_id=$(upload POST "http://127.0.0.1:$port_a$B/templates" "$tmp/v1.zip" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

say "seeding $passes passes and $((passes * regs)) registrations through SQL..."
seed_start=$(now_ms)
payload='{"member":{"id":"M-1","name":"Ada Lovelace","tier":"Gold"},"points":120,"balance":21.75}'
sql "INSERT INTO passes (id, template_id, pass_type_identifier, serial_number, auth_token, payload, overrides,
       voided, fingerprint, fingerprint_revision, update_tag, last_modified, created_at, updated_at)
     SELECT md5('p' || i)::uuid::text, '$template_id', 'pass.com.example.test', 'bench-' || i,
       'bench-token-' || i || '-0123456789abcdef0123456789', '$payload', '{}', false, NULL, 1, 1,
       extract(epoch FROM now())::bigint - 60, 0, 0
     FROM generate_series(0, $passes - 1) i"
pass_ms=$(( $(now_ms) - seed_start ))
sql "INSERT INTO registrations (device_library_identifier, pass_id, pass_type_identifier, push_token, created_at, updated_at)
     SELECT 'bench-device-' || d, md5('p' || ((d + k) % $passes))::uuid::text, 'pass.com.example.test',
       md5('t' || d) || md5('u' || d), 0, 0
     FROM generate_series(0, $passes - 1) d, generate_series(0, $regs - 1) k"
sql "UPDATE counters SET value = 1 WHERE name = 'update_tag'; ANALYZE"
seed_ms=$(( $(now_ms) - seed_start ))
say "seeded in $((seed_ms / 1000)) s (passes $((pass_ms / 1000)) s)"

echo "## EXPLAIN (serial-number query, device bench-device-4242)"
echo '```'
sql "EXPLAIN SELECT p.serial_number, p.update_tag FROM registrations r JOIN passes p ON p.id = r.pass_id
     WHERE r.device_library_identifier = 'bench-device-4242' AND r.pass_type_identifier = 'pass.com.example.test'
     AND p.update_tag > 0 ORDER BY p.update_tag LIMIT 1000"
echo '```'

wrk_run() { # name script
  cat "bench/load/$2" bench/load/latency.lua >"$tmp/$2"
  local line
  line=$(BENCH_PASSES=$passes wrk -t2 -c64 -d"${duration}s" --latency -s "$tmp/$2" "http://127.0.0.1:$port_a" | grep '^RESULT')
  echo "| $1 | $(sed 's/.*rps=\([0-9]*\).*/\1/' <<<"$line") | $(sed 's/.*p50_ms=\([0-9.]*\).*/\1/' <<<"$line") | $(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$line") | $(sed 's/.*errors=\([0-9]*\) non2xx3xx=\([0-9]*\).*/\1 errors, \2 non-2xx\/3xx/' <<<"$line") |"
}
echo
echo "load before wrk: $(uptime)"
echo "| workload (PostgreSQL, $passes passes, $((passes * regs)) registrations) | req/s | p50 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---|"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_a/passkit/v1/devices/bench-device-1/registrations/pass.com.example.test?passesUpdatedSince=0")
[ "$code" = 200 ] || { echo "serials check answered $code" >&2; exit 1; }
wrk_run "serials (GET registrations, 200, 5 serials)" serials.lua
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: ApplePass bench-token-1-0123456789abcdef0123456789" -H "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT" "http://127.0.0.1:$port_a/passkit/v1/passes/pass.com.example.test/bench-1")
[ "$code" = 304 ] || { echo "304 check answered $code" >&2; exit 1; }
wrk_run "304 (GET pass, If-Modified-Since)" not_modified.lua

rss_watch() { # pid out-file: peak VmHWM (kB) is in /proc until the process ends; sample it
  while kill -0 "$1" 2>/dev/null; do grep VmHWM "/proc/$1/status" 2>/dev/null | awk '{print $2}' >"$2.tmp" && mv "$2.tmp" "$2"; sleep 0.5; done
}
rollout_of() { curl -sS -H "Authorization: Bearer $token" "http://127.0.0.1:$1$B/templates/$template_id" | python3 -c 'import json,sys; r=json.load(sys.stdin).get("rollout") or {}; print(r.get("status"), r.get("passesChecked"), r.get("passesUpdated"), r.get("id"))'; }
wait_done() { # port → prints ms when done
  while :; do set -- "$1" $(rollout_of "$1"); [ "$2" = done ] && break; sleep 0.2; done; now_ms
}
wait_outbox_empty() { while [ "$(sql 'SELECT COUNT(*) FROM push_outbox')" != 0 ]; do sleep 0.5; done; }

echo
echo "## One serve: PUT over $passes passes"
echo "load before: $(uptime)"
rss_before=$(grep VmHWM "/proc/$pid_a/status" | awk '{print $2}')
rss_watch "$pid_a" "$tmp/rss_a" & pids+=($!)
make_zip "Bench Coffee v2" "$tmp/v2.zip"
put_start=$(now_ms)
upload PUT "http://127.0.0.1:$port_a$B/templates/$template_id" "$tmp/v2.zip" >/dev/null
put_ms=$(( $(now_ms) - put_start ))
done_at=$(wait_done "$port_a")
wait_outbox_empty
read -r requests first last < <(sink count | sed 's/requests=\([0-9]*\) first_ms=\([0-9]*\) last_ms=\([0-9]*\)/\1 \2 \3/')
set -- $(rollout_of "$port_a")
echo "PUT answered in ${put_ms} ms; rollout done after $(( done_at - put_start )) ms (checked $2, updated $3)"
echo "first push $(( first - put_start )) ms after the PUT, last push $(( last - put_start )) ms after; $requests pushes"
echo "serve peak RSS (VmHWM): $((rss_before / 1024)) MiB before the PUT, $(( $(cat "$tmp/rss_a") / 1024 )) MiB after"
echo "passes not updated: $(sql "SELECT COUNT(*) FROM passes WHERE update_tag <= 1")"
echo "load after: $(uptime)"

echo
echo "## Two serve processes, the rollout's holder killed with SIGKILL half way"
echo "load before: $(uptime)"
tag_before=$(sql "SELECT value FROM counters WHERE name = 'update_tag'")
make_zip "Bench Coffee v3" "$tmp/v3.zip"
put_start=$(now_ms)
upload PUT "http://127.0.0.1:$port_a$B/templates/$template_id" "$tmp/v3.zip" >/dev/null
# A claims it at once (woken by its own PUT); B starts once A holds it, so B can only take over.
while [ "$(sql "SELECT passes_checked FROM rollouts WHERE status = 'running'")" = 0 ]; do sleep 0.1; done
pid_b=$(start_serve "$port_b" "$tmp/b"); pids+=("$pid_b")
rss_watch "$pid_b" "$tmp/rss_b" & pids+=($!)
while [ "$(sql "SELECT passes_checked FROM rollouts WHERE status = 'running'")" -lt $((passes / 2)) ]; do sleep 0.2; done
kill -9 "$pid_a"
killed_at=$(now_ms)
at_kill=$(sql "SELECT passes_checked FROM rollouts WHERE status = 'running'")
echo "killed serve A (SIGKILL) at $(( killed_at - put_start )) ms, $at_kill passes checked"
done_at=$(wait_done "$port_b")
wait_outbox_empty
read -r requests2 first2 last2 < <(sink count | sed 's/requests=\([0-9]*\) first_ms=\([0-9]*\) last_ms=\([0-9]*\)/\1 \2 \3/')
set -- $(rollout_of "$port_b")
echo "serve B finished the rollout $(( done_at - killed_at )) ms after the kill (lease ${PASSMINT_ROLLOUT_LEASE_SECONDS} s); checked $2, updated $3"
echo "passes not updated by this PUT: $(sql "SELECT COUNT(*) FROM passes WHERE update_tag <= $tag_before")"
echo "pushes for this PUT: $(( requests2 - requests )); last push $(( last2 - put_start )) ms after the PUT"
echo "per token over both PUTs (2 = once each): $(sink tokens)"
echo "serve B peak RSS (VmHWM): $(( $(cat "$tmp/rss_b") / 1024 )) MiB"
echo "load after: $(uptime)"
