#!/usr/bin/env bash
# clssd-bench end to end on the small shipped face model: a normal run with --profile (and
# --compare-blas when built with OpenBLAS) exits 0 and writes JSON with the expected keys;
# bad arguments exit 2 (usage) or 1 (library) with a message and no crash. No timing value
# is checked: they depend on the machine.
#
#   tests/test_bench_cli.sh BUILD_DIR       (BUILD_DIR/clssd-bench)
#
# Exit 0 all passed, 1 a check failed, 77 no OpenCL device (skipped).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
TOOL=$(cd "$BUILD" && pwd)/clssd-bench
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODEL=$ROOT/models/yufacedetectnet-v2.clssd
export CLSSD_CACHE_DIR=${CLSSD_CACHE_DIR:-$(cd "$BUILD" && pwd)/kernel-cache}

[[ -x $TOOL ]] || { echo "no $TOOL"; echo "0 passed, 1 failed"; exit 1; }
[[ -f $MODEL ]] || { echo "no $MODEL"; echo "0 passed, 1 failed"; exit 1; }

source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh"
# A failure the tool reports itself: exit 1 or 2 (not a signal: 128+) and a message.
clean_failure() { # clean_failure NAME
    [[ ($rc -eq 1 || $rc -eq 2) && -s $T/$1.err ]] && grep -q "clssd-bench" "$T/$1.err"
}

# 1. --help says whether the build has OpenBLAS; --compare-blas is tested only then.
run help --help
check "--help: exit status 0 (got $rc)" test "$rc" -eq 0
BLAS=()
if grep -q "built with OpenBLAS: yes" "$T/help.out"; then BLAS=(--compare-blas); fi

# 2. A normal run: one timed run per measurement, batches 1 and 2, profile, JSON.
run normal --model "$MODEL" --batch 1,2 --runs 1 --warmup 0 --profile "${BLAS[@]}" \
    --json "$T/out.json"
if [[ $rc -ne 0 ]] && grep -qi "no OpenCL device" "$T/normal.err"; then
    cat "$T/normal.err"; echo "no OpenCL device: skipped"; exit 77
fi
check "normal run: exit status 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || cat "$T/normal.err"
check "normal run: device, model and cold start printed" grep -q "^cold start" "$T/normal.out"
check "normal run: end2end, network and postproc rows" \
    bash -c '[[ $(grep -cE "^[12] +(end2end|network|postproc) " "$1") -eq 6 ]]' _ "$T/normal.out"
check "normal run: per-node profile table" grep -q "^profile, batch 2" "$T/normal.out"
if [[ ${#BLAS[@]} -gt 0 ]]; then
    check "normal run: OpenBLAS roofline" grep -q "of the OpenBLAS GEMM roofline" "$T/normal.out"
fi

if command -v python3 >/dev/null; then
    check "JSON parses and has the expected keys" python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); blas = sys.argv[2] == "1"
for k in ("device", "model", "cold_start", "batches", "runs", "warmup", "image"):
    assert k in d, k
assert set(d["device"]) >= {"platform", "name", "driver"}, d["device"]
assert d["model"]["name"] == "yufacedetectnet-v2", d["model"]
assert d["model"]["precision"] == "fp32" and d["model"]["conv_layers"] > 0
assert d["model"]["gflop_per_image"] > 0
assert set(d["cold_start"]) >= {"context_ms", "programs_ms", "cache_hits", "cache_misses",
    "model_ms", "first_detect_ms", "algo_measured", "algo_cached"}, d["cold_start"]
assert [b["batch"] for b in d["batches"]] == [1, 2], d["batches"]
timing = {"median_ms", "min_ms", "max_ms", "ms_per_image", "images_per_s"}
for b in d["batches"]:
    for t in ("end2end", "network", "postproc"):
        assert set(b[t]) == timing, b[t]
    p = b["profile"]
    assert set(p) >= {"device_ms", "network_device_ms", "network_wall_ms", "nodes", "ops"}, p.keys()
    assert p["nodes"] and all(set(n) == {"index", "name", "op", "shape", "ms", "percent",
        "gflop_per_s", "gb_per_s"} for n in p["nodes"]), p["nodes"][0]
    assert any(o["op"] == "conv2d" for o in p["ops"]), p["ops"]
    if blas:
        assert set(b["blas"]) >= {"roofline_ms", "end2end_percent", "network_percent", "layers"}
        assert len(b["blas"]["layers"]) == d["model"]["conv_layers"]
    else:
        assert "blas" not in b
if blas:
    assert set(d["openblas"]) >= {"config", "corename", "threads"}, d["openblas"]
' "$T/out.json" "${#BLAS[@]}"
else
    echo "skip JSON checks (no python3)"
fi

# 3. Bad arguments: a message and exit 2 (usage) or 1 (library), never a crash.
run batch0 --model "$MODEL" --batch 0
check "--batch 0: exit 2 with a message (got $rc)" bash -c '[[ $0 -eq 2 ]]' "$rc"
check "--batch 0: message" clean_failure batch0
run nofile --model "$T/nonexistent.clssd"
check "--model nonexistent.clssd: exit 1 or 2 with a message (got $rc)" clean_failure nofile
run runsx --model "$MODEL" --runs x
check "--runs x: exit 2 with a message (got $rc)" bash -c '[[ $0 -eq 2 ]]' "$rc"
check "--runs x: message" clean_failure runsx
run unknown --model "$MODEL" --frobnicate
check "unknown option: exit 2 (got $rc)" bash -c '[[ $0 -eq 2 ]]' "$rc"
printf 'not a model' >"$T/corrupt.clssd"
run corrupt --model "$T/corrupt.clssd" --runs 1 --warmup 0
check "corrupt model: exit 1 or 2 with a message (got $rc)" clean_failure corrupt
if [[ ${#BLAS[@]} -eq 0 ]]; then
    run noblas --model "$MODEL" --compare-blas
    check "--compare-blas without OpenBLAS: exit 2 (got $rc)" bash -c '[[ $0 -eq 2 ]]' "$rc"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
