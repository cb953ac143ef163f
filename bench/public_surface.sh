#!/usr/bin/env bash
# Issue 9's floods against the real `passmint serve`, with the server's RSS before and after
# each (printed by the tests). Bounded: ten tests, about a minute on an idle 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
uptime
cargo test -j2 -p passmint --test public_surface -- --nocapture --test-threads 1 2>&1 |
  grep -E "^test |RSS|SIGTERM|/metrics after|test result"
uptime
