#!/usr/bin/env bash
# clssd-detect under valgrind's memcheck on a real model: the default COCO SSDLite-MobileNetV2
# (models/coco-ssdlite-mobilenet-v2.clssd) over samples/dog.jpg, through the shared libclssd.so
# exactly as a user program runs it. Complements scripts/sanitize.sh: an uninstrumented
# RelWithDebInfo build, and valgrind also sees what the OpenCL driver does with our buffers.
#
#   scripts/valgrind-detect.sh            build-vg; log in build-vg/valgrind-detect.log
#   VALGRIND_BUILD_DIR=dir scripts/valgrind-detect.sh
#
# Fails when memcheck reports any error (invalid read/write, uninitialised value used, bad
# free ...) or any definitely or indirectly lost block that tests/sanitizers/valgrind.supp does
# not suppress; that file holds only findings of glibc's loader and the OpenCL driver, matched
# on their own frames, and no leak at all, so a libclssd leak always fails.
#
# Time: the warm-up compiles the kernels for valgrind's CPU (see below) once per cache, about
# 10 CPU-minutes; afterwards the whole script takes about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bdir=${VALGRIND_BUILD_DIR:-build-vg}
model=$root/models/coco-ssdlite-mobilenet-v2.clssd
image=$root/samples/dog.jpg
start=$SECONDS

command -v valgrind >/dev/null || bash scripts/install-deps.sh --test
cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLSSD_BUILD_TESTS=OFF \
  -DCLSSD_BUILD_BENCH=OFF >/dev/null
cmake --build "$bdir" --target clssd-detect -j"$(nproc)"
detect=$root/$bdir/clssd-detect

# A warm kernel cache, so that memcheck times the detector rather than PoCL's compiler. It must
# be warmed under valgrind: valgrind's virtual CPU has no AVX-512, so PoCL names its device
# differently there (pthread-haswell-... instead of pthread-skylake-avx512-... on this
# machine's EPYC), and the device name is part of our cache key (and of PoCL's own cache of
# CLBlast's kernels). --tool=none runs that CPU at a fraction of memcheck's cost.
export CLSSD_CACHE_DIR=$root/$bdir/kernel-cache
mkdir -p "$CLSSD_CACHE_DIR"
t0=$SECONDS
valgrind --tool=none -q "$detect" --model "$model" "$image" >/dev/null 2>"$bdir/valgrind-warm.log" \
  || { echo "warm-up run failed:"; cat "$bdir/valgrind-warm.log"; exit 1; }
echo "warm-up (valgrind --tool=none): $((SECONDS - t0)) s"

log=$root/$bdir/valgrind-detect.log
t0=$SECONDS
rc=0
# --errors-for-leak-kinds=definite,indirect: a lost block counts as an error (exit 99);
# possibly lost and still reachable blocks are the driver's caches and thread pools at exit.
# --gen-suppressions=all: each report comes with the suppression that would match it, for
# the review of a new driver version (never to paste in one with a libclssd frame).
valgrind --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
  --suppressions="$root/tests/sanitizers/valgrind.supp" --gen-suppressions=all \
  --num-callers=40 --track-origins=yes --log-file="$log" \
  "$detect" --model "$model" --json "$root/$bdir/valgrind-detect.json" "$image" || rc=$?
echo "memcheck run: $((SECONDS - t0)) s, exit status $rc"
grep -E "ERROR SUMMARY| (definitely|indirectly|possibly) lost:|still reachable:|suppressed:" "$log" \
  | sed 's/^==[0-9]*== *//'

status=0
if [ $rc -ne 0 ]; then
  echo "valgrind-detect.sh: memcheck found errors (exit $rc); the reports:"
  # each report from its first line to the blank line after it
  sed 's/^==[0-9]*== \{0,1\}//' "$log" | awk '/^(Invalid|Conditional|Use of|Syscall|Mismatched|Source and|Argument|[0-9,]+ .*bytes in)/{p=1} p{print} /^$/{p=0}'
  status=1
fi
# a run that failed before detecting anything has no detections to show
grep -q '"detections"' "$bdir/valgrind-detect.json" || { echo "no detections written"; status=1; }
echo "valgrind-detect.sh: $([ $status -eq 0 ] && echo clean || echo FAILED) in $((SECONDS - start)) s"
exit $status
