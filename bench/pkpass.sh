#!/usr/bin/env bash
# Measures pkpass's pass issuance against OpenSSL's own single-core RSA-2048 sign rate, in one run,
# on the realistic ~1 MB store-card template. Prints both figures, their ratio and the load.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 bench/make-bench-template.py "$tmp/template" >/dev/null
echo "template: $(du -sb "$tmp/template" | cut -f1) bytes, $(find "$tmp/template" -type f | wc -l) files"

# Build first so compiling doesn't overlap the measurements.
cargo bench -p pkpass --bench issue --no-run --quiet 2>/dev/null || cargo bench -p pkpass --bench issue --no-run

echo "load before: $(uptime)"
echo "== openssl speed -seconds 5 rsa2048 (one process, one core)"
openssl speed -seconds 5 rsa2048 2>/dev/null | tee "$tmp/speed.txt" | grep -E '^(version|rsa 2048|OpenSSL)' || true
signs=$(awk '/^rsa 2048 bits/ {print $6}' "$tmp/speed.txt")

echo "== cargo bench -p pkpass --bench issue"
cargo bench -p pkpass --bench issue --quiet -- "$tmp/template" | tee "$tmp/bench.txt"
passes=$(sed -n 's/^pkpass_passes_per_second=//p' "$tmp/bench.txt")
echo "load after: $(uptime)"

ratio=$(awk -v p="$passes" -v s="$signs" 'BEGIN { printf "%.0f", 100 * p / s }')
echo
echo "pkpass: ${passes} passes/s; OpenSSL: ${signs} RSA-2048 signs/s; ratio: ${ratio}%"
