#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz (libFuzzer), one target at a time, one job, niced.
#
#   fuzz/run.sh ci [SECONDS]     build, then each target for SECONDS (default 20) on its corpus
#   fuzz/run.sh long RUNS [T..]  each target (or just T..) for RUNS executions; prints the figures
#                                (PASSMINT_FUZZ_MAX_SECONDS caps each target's time as well)
#
# New inputs found go to a scratch folder, not into fuzz/corpus (what is in git stays small);
# a crash fails the run and leaves its input in fuzz/artifacts/<target>/.
# RUSTC_BOOTSTRAP=1 lets stable rustc take the few -Z flags cargo-fuzz passes; the sanitizer is
# off (-s none): the code is safe Rust, and AddressSanitizer would slow every run ~2x for
# memory errors safe Rust can't make (OpenSSL, the one C library, is the system's and isn't
# instrumented either way).
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-ci}"
shift || true
export RUSTC_BOOTSTRAP=1
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
target_dir="${PASSMINT_FUZZ_TARGET_DIR:-$PWD/target}"
build=(cargo fuzz build -s none --codegen-units 16 --target-dir "$target_dir")
targets=(template_zip pass_json strings signing_pem signing_p12 upload_form
         passkit_registration passkit_log passkit_request personalize_request render api_body
         signed_pkpass)

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

run() { # target, libFuzzer options...
  local t="$1"
  shift
  mkdir -p "$scratch/$t" "artifacts/$t"
  nice -n 19 "$target_dir/x86_64-unknown-linux-gnu/release/$t" \
    -artifact_prefix="artifacts/$t/" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$@" "$scratch/$t" "corpus/$t" 2>&1 | tee "$scratch/$t.log" | grep -E '^(#[0-9]+: |Done |stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|INFO: Seed)' || true
  # grep ate the exit status: libFuzzer's own is in PIPESTATUS.
  local rc="${PIPESTATUS[0]}"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz target $t FAILED (exit $rc); input in fuzz/artifacts/$t/" >&2
    tail -40 "$scratch/$t.log" >&2
    return "$rc"
  fi
}

case "$mode" in
  ci)
    seconds="${1:-20}"
    nice -n 19 "${build[@]}"
    for t in "${targets[@]}"; do
      echo "== $t: ${seconds}s"
      run "$t" -max_total_time="$seconds"
    done
    echo "fuzz: ${#targets[@]} passed, 0 failed"
    ;;
  long)
    runs="${1:?RUNS}"
    shift
    [ $# -gt 0 ] && targets=("$@")
    nice -n 19 "${build[@]}"
    for t in "${targets[@]}"; do
      echo "== $t: $runs runs ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
      run "$t" -runs="$runs" -max_total_time="${PASSMINT_FUZZ_MAX_SECONDS:-0}"
    done
    ;;
  *)
    echo "usage: $0 ci [SECONDS] | long RUNS [TARGET..]" >&2
    exit 2
    ;;
esac
