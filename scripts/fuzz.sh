#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-16, ASan + UBSan) in build-fuzz/ and runs each for a bounded
# time, seeded from the vendored age test vectors and freshly made age files and bundles. The
# corpus is kept in build-fuzz/corpus/ between runs. Exits non-zero if a target crashes, leaks,
# times out or breaks an invariant; the input that did it is left in build-fuzz/artifacts/.
#   FUZZ_SECONDS  run time per target (default 60)
#   FUZZ_TARGETS  space-separated targets to run (default: fuzz_age_decrypt fuzz_bundle_reader)
#   FUZZ_MAX_LEN  largest input in bytes (default 140000: a header and just over two chunks)
#   JOBS          build parallelism (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

build=build-fuzz
seconds=${FUZZ_SECONDS:-60}
max_len=${FUZZ_MAX_LEN:-140000}
jobs=${JOBS:-$(nproc)}

for tool in clang-16 clang++-16 cmake ninja perl; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool is missing (scripts/deps.sh build fuzz)" >&2; exit 1; }
done

targets=(fuzz_age_decrypt fuzz_bundle_reader)
if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
fi

CC=clang-16 CXX=clang++-16 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DKEYFLEET_FUZZ=ON -DKEYFLEET_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]}" fuzz_make_seeds

# Seeds: every vendored vector's age file (the part after the first blank line; the zlib-compressed
# ones are left out, the fresh seeds cover multi-chunk files), then fresh files under the fuzzers'
# passphrase and file key.
seeds=$build/seeds
rm -rf "$seeds"
mkdir -p "$seeds/age" "$seeds/bundle" "$build/artifacts"
for vector in tests/fixtures/age/*; do
  name=$(basename "$vector")
  [[ $name == *.md ]] && continue
  grep -qa '^compressed: ' "$vector" && continue
  perl -0777 -ne 'print substr($_, index($_, "\n\n") + 2)' "$vector" >"$seeds/age/$name"
  { printf '\0'; cat "$seeds/age/$name"; } >"$seeds/bundle/$name"
done
"$build/tests/fuzz/fuzz_make_seeds" "$seeds/age" "$seeds/bundle"

status=0
for target in "${targets[@]}"; do
  case $target in
    fuzz_age_decrypt) seed_dir=$seeds/age ;;
    *) seed_dir=$seeds/bundle ;;
  esac
  corpus=$build/corpus/$target
  log=$build/$target.log
  mkdir -p "$corpus"
  echo "fuzz.sh: running $target for ${seconds}s (log: $log)"
  if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=20 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" \
      "$corpus" "$seed_dir" >"$log" 2>&1; then
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || true
  else
    status=1
    echo "fuzz.sh: $target FAILED; the input is in $build/artifacts/; end of $log:" >&2
    tail -n 60 "$log" >&2
  fi
done
exit "$status"
