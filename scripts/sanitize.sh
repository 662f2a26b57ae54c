#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer:
# the library, the tests and the tools are all instrumented (CMake option CLSSD_SANITIZE), built
# in build-asan with gcc and warnings as errors, then every ctest test runs.
#
#   scripts/sanitize.sh                          build-asan, ctest -j1
#   SANITIZE_BUILD_DIR=dir CTEST_PARALLEL_LEVEL=2 scripts/sanitize.sh
#   scripts/sanitize.sh -R test_api              extra arguments go to ctest
#
# Fails when a test fails or when any sanitizer report was written, including one from a tool
# whose non-zero exit a CLI test expects (a leak on an error path would otherwise pass unseen).
#
# gcc, not clang: gcc is the compiler of CI and of scripts/test.sh, so this build sees the same
# -Werror warnings and code generation; its shared libasan/libubsan serve libclssd.so, the
# static test programs and the dlopen()ed PoCL driver alike. What clang's -fsanitize=undefined
# checks beyond gcc's in C is float-cast-overflow (float -> int out of range), added below.
# clang stays the compiler of scripts/fuzz.sh (libFuzzer). The one thing clang would do better
# here: its UBSan shares ASan's runtime and so honours log_path (see UBSAN_OPTIONS below).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bdir=${SANITIZE_BUILD_DIR:-build-asan}
start=$SECONDS

bash scripts/install-deps.sh
cmake -S . -B "$bdir" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCLSSD_SANITIZE=ON -DCLSSD_WERROR=ON -DCMAKE_C_FLAGS=-fsanitize=float-cast-overflow >/dev/null
cmake --build "$bdir" -j"$(nproc)"

# PoCL compiles a kernel in seconds to minutes, and while it does LLVM leaks (suppressed, see
# tests/sanitizers/lsan.supp): start from the kernel binaries of the normal build when there are.
mkdir -p "$bdir/kernel-cache"
if [ -d build/kernel-cache ]; then cp -rn build/kernel-cache/. "$bdir/kernel-cache/"; fi

logs=$root/$bdir/sanitizer-logs
rm -rf "$logs"
mkdir -p "$logs"
# ASAN_OPTIONS (PoCL, CLBlast and the ocl-icd loader run with the defaults; nothing had to be
# relaxed for them):
#   detect_leaks=1     LeakSanitizer at every process exit (the default on x86-64 Linux, said
#                      here so that an environment that turns it off cannot).
#   log_path=...       each report goes to $logs/asan.PID instead of stderr: the CLI tests
#                      keep a tool's stderr in a scratch folder and only look at its exit status,
#                      and a tool that leaks on a path that exits 1 anyway would pass. Every
#                      file there fails this script and is printed.
# Left at their defaults on purpose: allocator_may_return_null=0 (a hostile size must be
# refused before malloc, an allocation ASan cannot serve is a report), detect_odr_violation
# (no instrumented global is defined twice: the driver libraries are not instrumented).
export ASAN_OPTIONS="detect_leaks=1:log_path=$logs/asan"
# LSAN_OPTIONS:
#   suppressions=...       leaks inside the OpenCL driver and its LLVM only (each one explained
#                          in the file); never one of ours.
#   print_suppressions=0   no "Suppressions used" table: it would go to $logs and count as a
#                          report although every leak in it is the driver's.
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# UBSAN_OPTIONS:
#   print_stacktrace=1   where it happened, not just the line.
#   halt_on_error=1      stop at the first error (the build already makes UB fatal with
#                        -fno-sanitize-recover=undefined; this covers any check left recoverable).
#   exitcode=86          instead of 1, which the tools use for their own errors: a CLI test that
#                        expects exit 1 or 2 fails on UB. log_path does not work here: gcc's
#                        libubsan runs as a plugin of libasan and keeps writing to stderr, so
#                        tests/cli_common.sh also fails a run whose stderr has a UBSan report.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86"

# tests/test_faults.c: every allocation index up to 200, then every 16th. The normal suite has
# already failed each index of each call; here ASan checks the error paths' memory safety, and
# the full TF.js sweep (27,000 loads) would take half an hour instrumented.
export CLSSD_FAULT_STRIDE=${CLSSD_FAULT_STRIDE:-16}

status=0
# The test programs' own TIMEOUTs (300..3000 s) hold under ASan (host code 2-10x slower; the
# kernels run uninstrumented in PoCL); -j1 because each test already uses every core.
# soak_* is left out of ctest: it fails when the RSS grows by more than 1 kB a detect, and under
# ASan the RSS grows by design (freed blocks wait in ASan's quarantine, 256 MB by default: +70 MB
# over 200 detects); with the quarantine off the allocator's own warm-up still adds ~2 MB.
# The same soak loop runs below without the RSS limit, so its detects are still checked.
(cd "$bdir" && ctest -j"${CTEST_PARALLEL_LEVEL:-1}" --output-on-failure --timeout 3000 \
  -E '^soak_' "$@") || status=1
if [ -x "$bdir/clssd-soak" ] && [ $# -eq 0 ]; then
  echo "== clssd-soak, 200 detects, no RSS limit"
  CLSSD_CACHE_DIR=$root/$bdir/kernel-cache "$bdir/clssd-soak" --iterations 200 \
    --model models/yufacedetectnet-v2.clssd --image samples/dog.jpg --max-growth-kb 1048576 \
    | tail -1 || status=1
fi
shopt -s nullglob
reports=("$logs"/*)
if [ ${#reports[@]} -gt 0 ]; then
  echo "== ${#reports[@]} sanitizer report(s) in $logs:"
  for r in "${reports[@]}"; do echo "-- $r"; cat "$r"; done
  status=1
fi
echo "sanitize.sh: $([ $status -eq 0 ] && echo clean || echo FAILED) in $((SECONDS - start)) s"
exit $status
