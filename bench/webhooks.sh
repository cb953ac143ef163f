#!/usr/bin/env bash
# Webhook deliveries/s to a local receiver for N pass updates with one webhook, next to the push
# fan-out of the same updates (crates/passmint/benches/webhooks.rs). SQLite by default; set
# PASSMINT_BENCH_DATABASE_URL to an empty, disposable PostgreSQL database to measure that.
#   PASSMINT_BENCH_UPDATES=10000 ./bench/webhooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "load before: $(uptime)"
cargo bench -j2 -p passmint --bench webhooks
echo "load after:  $(uptime)"
