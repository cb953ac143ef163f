#!/usr/bin/env bash
# Push fan-out, tried as a user would: one template, N devices spread over many passes (a few
# devices per pass), every pass PATCHed at once through the management API, the pushes going to
# the independent APNs stand-in (Node's http2, crates/apns-testserver/node/standin.mjs: TLS with
# client-certificate auth, 1,000 concurrent streams). ROUNDS rounds back to back; in each round,
# after passmint, pass-js (npm @walletpass/pass-js 6.9.8, its own `pushUpdates`, 100 in flight)
# pushes the same tokens to the same stand-in. Release build, SQLite. Prints one table row per
# round and tool.
#
#   bench/push-fanout.sh [PASSES=2500] [DEVICES_PER_PASS=4] [ROUNDS=5]
#
# Per round: pushes/s (distinct tokens / first-to-last accepted push, stand-in clock), duplicate
# pushes (200s beyond the first per token), the slowest device's delay after the last PATCH's
# commit (its answer), and the worker's ConnectionError count (passmint_push_failed_total).
# BENCH_STANDIN_OPTIONS (JSON) adds stand-in behaviours (see the script), e.g.
# '{"goawayEvery":3000,"resetRate":0.001}'.
set -euo pipefail
cd "$(dirname "$0")/.."

passes=${1:-2500}
per_pass=${2:-4}
rounds=${3:-5}
port=${BENCH_PORT:-18490}
standin_port=${BENCH_STANDIN_PORT:-18491}
control_port=${BENCH_STANDIN_CONTROL_PORT:-18492}

command -v node >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs; }
command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }

[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release -j2 -p passmint --bin passmint --example seed_load --quiet

tmp=$(mktemp -d)
server_pid=""
standin_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  [ -n "$standin_pid" ] && kill "$standin_pid" 2>/dev/null && wait "$standin_pid" 2>/dev/null || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

# pass-js, pinned, in a throwaway directory.
passjs_dir=${BENCH_PASSJS_DIR:-$tmp/passjs}
if [ ! -d "$passjs_dir/node_modules/@walletpass/pass-js" ]; then
  mkdir -p "$passjs_dir"
  (cd "$passjs_dir" && echo '{"name":"bench","private":true}' > package.json &&
    npm install --silent --no-audit --no-fund @walletpass/pass-js@6.9.8 >/dev/null)
fi

# The stand-in's own CA and server certificate (127.0.0.1).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=stand-in CA" \
  -keyout "$tmp/ca-key.pem" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$tmp/server-key.pem" -out "$tmp/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$tmp/ext.cnf"
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca-key.pem" -CAcreateserial \
  -days 2 -extfile "$tmp/ext.cnf" -out "$tmp/server.pem" 2>/dev/null

export PASSMINT_DATA_DIR="$tmp/data"
export PASSMINT_LISTEN="127.0.0.1:$port"
export PASSMINT_PUBLIC_URL="http://127.0.0.1:$port"
export PASSMINT_ADMIN_TOKEN="bench-admin-token-0123456789abcdef"
export PASSMINT_APNS_URL="https://127.0.0.1:$standin_port"
export PASSMINT_APNS_CA_FILE="$tmp/ca.pem"
export RUST_LOG=warn

devices=$((passes * per_pass))
echo "seeding $passes passes with $per_pass devices each ($devices push tokens)..."
SEED_DEVICES_PER_PASS=$per_pass SEED_OUT="$tmp/seed" \
  target/release/examples/seed_load "$PASSMINT_DATA_DIR" "$PASSMINT_PUBLIC_URL" "$passes" >/dev/null

STANDIN_CERT=$(cat "$tmp/server.pem") STANDIN_KEY=$(cat "$tmp/server-key.pem") \
STANDIN_CLIENT_CA=$(cat "$tmp/seed/client-ca.pem") STANDIN_PORT=$standin_port STANDIN_CONTROL_PORT=$control_port \
STANDIN_OPTIONS=${BENCH_STANDIN_OPTIONS:-'{}'} \
  node crates/apns-testserver/node/standin.mjs > "$tmp/standin.out" 2>"$tmp/standin.err" </dev/null &
standin_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/standin.out" ] && break; sleep 0.1; done
[ -s "$tmp/standin.out" ] || { cat "$tmp/standin.err" >&2; exit 1; }

target/release/passmint serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

echo "uptime before: $(uptime)"
echo "nproc: $(nproc); $devices devices on $passes passes; $rounds rounds; SQLite; release build; stand-in options: ${BENCH_STANDIN_OPTIONS:-none}"
echo
PASSMINT_URL="http://127.0.0.1:$port" ADMIN_TOKEN=$PASSMINT_ADMIN_TOKEN STANDIN_CONTROL=$control_port \
STANDIN_PORT=$standin_port STANDIN_CA="$tmp/ca.pem" SEED_DIR="$tmp/seed" ROUNDS=$rounds PASSJS_DIR="$passjs_dir" \
  node bench/push-fanout.mjs > "$tmp/results.jsonl"

python3 - "$tmp/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| round | sender | delivered | pushes/s | all PATCHes took | duplicates | slowest device after last commit | ConnectionError | load (1/5/15) |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    slow = f"{r['slowestAfterCommitMs']} ms" if r["who"] == "passmint" else "–"
    errors = r.get("connectionErrors", r.get("failed", 0))
    patch = f"{r['patchMs']:,} ms" if r["who"] == "passmint" else "–"
    print(f"| {r['round']} | {r['who']} | {r['delivered']:,}/{r['devices']:,} | {r['rate']:,} | {patch} | {r['duplicates']} | {slow} | {errors} | {r['load']} |")
for who in ("passmint", "pass-js"):
    rates = [r["rate"] for r in rows if r["who"] == who]
    print(f"\nmedian {who}: {statistics.median(rates):,.0f} pushes/s over {len(rates)} rounds", end="")
print()
pm = [r for r in rows if r["who"] == "passmint"]
ok = all(r["duplicates"] == 0 and r["connectionErrors"] == 0 and r["delivered"] == r["devices"]
         and r["slowestAfterCommitMs"] <= 2000 for r in pm)
print("targets (0 duplicates, 0 connection errors, all within 2 s of the last commit):", "met" if ok else "NOT met")
PY
echo
echo "uptime after: $(uptime)"
grep -c "" "$tmp/standin.err" >/dev/null && [ -s "$tmp/standin.err" ] && { echo "stand-in stderr:"; head -5 "$tmp/standin.err"; }
true
