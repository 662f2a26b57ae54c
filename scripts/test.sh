#!/usr/bin/env bash
# The whole test suite: install, configure with warnings as errors, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLSSD_WERROR=ON
cmake --build build -j"$(nproc)"
# Kernels must not use double or unsuffixed float literals (devices without fp64).
for f in cl/*.cl cl/*.clh; do
  # whole file, comments removed (block comments span lines), then look for offenders
  perl -0777 -ne 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g;
    while (/(\bdouble\b|(?<![\w.])\d+\.\d*(?:[eE][-+]?\d+)?(?![fFeE.\d]))/g) { print "$ARGV: $1\n"; $bad = 1 }
    END { exit($bad ? 1 : 0) }' "$f" \
    || { echo "cl/: double or a float literal without the f suffix (above)"; exit 1; }
done
clinfo -l || true
cd build && ctest --output-on-failure --timeout 3000
cd ..
# Robustness (docs/robustness.md): the whole suite again under ASan + UBSan, every fuzz harness
# for a bounded time, and clssd-detect under valgrind. The kernel cache of the run above warms
# the sanitized one.
bash scripts/sanitize.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-30} bash scripts/fuzz.sh
bash scripts/valgrind-detect.sh
