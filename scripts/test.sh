#!/usr/bin/env bash
# The whole test suite: install, configure with warnings as errors, build, run ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLSSD_WERROR=ON
cmake --build build -j"$(nproc)"
# Kernels must not use double or unsuffixed float literals (devices without fp64).
perl -ne 's{//.*}{}; s{/\*.*?\*/}{}g; if (/\bdouble\b/ || /(?<![\w.])\d+\.\d*(?:[eE][-+]?\d+)?(?![fFeE.\d])/) { print "$ARGV:$.: $_"; $bad = 1 } close ARGV if eof; END { exit($bad ? 1 : 0) }' cl/*.cl cl/*.clh \
  || { echo "cl/: double or a float literal without the f suffix (above)"; exit 1; }
clinfo -l || true
cd build && ctest --output-on-failure --timeout 3000
