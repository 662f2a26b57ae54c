#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan) in build-fuzz and runs
# each one, bounded:
#   scripts/fuzz.sh                       every fuzzer for FUZZ_SECONDS (default 30) seconds
#   FUZZ_RUNS=1000000 scripts/fuzz.sh     every fuzzer for that many executions
#   scripts/fuzz.sh caffe_text json       only these (names without the fuzz_ prefix)
# Seeds come from tests/fuzz/corpus/NAME (never written to); the growing corpus lives in
# build-fuzz/corpus/NAME; crashes land in build-fuzz/artifacts/NAME and fail the script.
# A crash becomes a regression test by copying its input to tests/fuzz/regress/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bdir=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$bdir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCLSSD_FUZZ=ON -DCLSSD_BUILD_TESTS=OFF -DCLSSD_BUILD_BENCH=OFF -DCLSSD_BUILD_TOOLS=OFF >/dev/null
cmake --build "$bdir" -j"$(nproc)"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi
limit=(-max_total_time="${FUZZ_SECONDS:-30}")
[ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-16s %12s %10s %8s\n' fuzzer executions exec/s corpus > "$bdir/fuzz-summary.txt"
for n in "${names[@]}"; do
  bin="$bdir/fuzz/fuzz_$n"
  mkdir -p "$bdir/corpus/$n" "$bdir/artifacts/$n"
  dict=()
  [ -f "tests/fuzz/$n.dict" ] && dict=(-dict="tests/fuzz/$n.dict")
  echo "== fuzz_$n (${limit[*]})"
  log="$bdir/fuzz-$n.log"
  # -rss_limit_mb: a parser must refuse hostile sizes before allocating, so 2 GiB is plenty;
  # -timeout: one input may not take longer than 10 s (no hangs).
  if ! "$bin" "${limit[@]}" "${dict[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 \
      -print_final_stats=1 -artifact_prefix="$bdir/artifacts/$n/" \
      "$bdir/corpus/$n" "tests/fuzz/corpus/$n" > "$log" 2>&1; then
    echo "fuzz_$n FAILED; log: $bdir/fuzz-$n.log; inputs: $bdir/artifacts/$n/"
    tail -40 "$log"
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corp=$(ls "$bdir/corpus/$n" | wc -l)
  printf '%-16s %12s %10s %8s\n' "$n" "${runs:-?}" "${speed:-?}" "$corp" | tee -a "$bdir/fuzz-summary.txt"
done
cat "$bdir/fuzz-summary.txt"
exit $status
