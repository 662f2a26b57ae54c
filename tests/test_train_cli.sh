#!/usr/bin/env bash
# clssd-train end to end on a tiny synthetic dataset (clssd-synth): a few iterations of the
# tiny SSD, the outputs (model, solver state, CSV log, loss curve), resume, --init, and
# usage errors. Correctness of the training maths is test_trainer's and test_train's job;
# this checks the tool around it.
#
#   tests/test_train_cli.sh BUILD_DIR [SHARED_DIR]
#
# Exit 0 all passed, 1 a check failed, 77 no OpenCL device (skipped).
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR [SHARED_DIR]}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL=$BUILD/clssd-train
export CLSSD_CACHE_DIR=${CLSSD_CACHE_DIR:-$BUILD/kernel-cache}

[[ -x $TOOL && -x $BUILD/clssd-synth && -x $BUILD/clssd-eval ]] || {
    echo "no $TOOL, clssd-synth or clssd-eval"; echo "0 passed, 1 failed"; exit 1; }
source "$ROOT/tests/cli_common.sh"

# ---------------------------------------------------------------- usage errors (no device needed)
run noargs
check "no arguments: exit 2 (got $rc)" test "$rc" -eq 2
run badlr --data "$T" --model tiny --lr -1
check "--lr -1: exit 2 (got $rc)" test "$rc" -eq 2
check "--lr -1: names the option" grep -q -- "--lr" "$T/badlr.err"
run badsteps --data "$T" --model tiny --lr-steps 30,20
check "--lr-steps not ascending: exit 2 (got $rc)" test "$rc" -eq 2
run nodata --data "$T/nothere" --model tiny
check "missing dataset: exit 2 (got $rc)" test "$rc" -eq 2
check "missing dataset: message names it" grep -q "nothere" "$T/nodata.err"

if [[ -z $("$BUILD/clssd-detect" --list-devices 2>/dev/null) ]]; then
    echo "no OpenCL device: training is skipped"
    cli_summary && exit 77 || exit 1
fi

"$BUILD/clssd-synth" --out "$T/data" --count 24 --size 96 --seed 3 --quiet
NET=(--model tiny --size 64 --width-div 8 --batch 4 --seed 5)

run train --data "$T/data" "${NET[@]}" --iters 6 --snapshot 3 --out "$T/m.clssd" --quiet
check "6 iterations: exit 0 (got $rc)" test "$rc" -eq 0
check "model, state, log and curve written" test -s "$T/m.clssd" -a -s "$T/m.state" -a -s "$T/m.csv" -a -s "$T/m.png"
check "the log: a header and 6 rows with finite losses" python3 -c '
import csv, math, sys; r = list(csv.DictReader(open(sys.argv[1])))
assert [int(x["iter"]) for x in r] == list(range(1, 7)), r
assert all(math.isfinite(float(x["loss"])) and float(x["loss"]) > 0 for x in r), r' "$T/m.csv"
check "the curve is a PNG" bash -c 'head -c 8 "$1" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a"' _ "$T/m.png"
check "the trained model runs in clssd-eval on the test split" \
    "$BUILD/clssd-eval" --gt "$T/data" --image-set test --model "$T/m.clssd" --quiet
check "... and carries the dataset's class names" grep -q "circle" <("$BUILD/clssd-eval" --gt "$T/data" --image-set test --model "$T/m.clssd")

run resume --data "$T/data" --model "$T/m.clssd" --resume "$T/m.state" --iters 8 --batch 4 \
    --out "$T/m.clssd" --quiet
check "--resume: exit 0 (got $rc)" test "$rc" -eq 0
check "--resume: the log continues at iteration 7" python3 -c '
import csv, sys; r = list(csv.DictReader(open(sys.argv[1])))
assert [int(x["iter"]) for x in r] == list(range(1, 9)), [x["iter"] for x in r]' "$T/m.csv"
run badstate --data "$T/data" --model "$T/m.clssd" --resume "$T/m.csv" --iters 9 --batch 4 --out "$T/x.clssd"
check "--resume with a file that is no state: exit 2 (got $rc)" test "$rc" -eq 2

run init --data "$T/data" "${NET[@]}" --init "$T/m.clssd" --iters 1 --out "$T/i.clssd" --quiet
check "--init from a trained model: exit 0 (got $rc)" test "$rc" -eq 0
check "--init: every tensor copied" grep -q "tensors copied, 0 keep" "$T/init.err"

# The same images as COCO instances JSON (file_name relative to --images, crowd regions skipped).
python3 - "$T/data" "$T/coco.json" <<'PY'
import json, os, sys, xml.etree.ElementTree as ET
d, out = sys.argv[1], sys.argv[2]
names = [l.strip() for l in open(os.path.join(d, "labels.txt")) if l.strip()]
imgs, anns = [], []
for k, f in enumerate(sorted(os.listdir(os.path.join(d, "Annotations")))):
    r = ET.parse(os.path.join(d, "Annotations", f)).getroot()
    imgs.append({"id": k + 1, "file_name": f[:-4] + ".jpg",
                 "width": int(r.find("size/width").text), "height": int(r.find("size/height").text)})
    for o in r.findall("object"):
        b = [float(o.find("bndbox/" + t).text) for t in ("xmin", "ymin", "xmax", "ymax")]
        anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": names.index(o.find("name").text) + 1,
                     "bbox": [b[0] - 1, b[1] - 1, b[2] - b[0] + 1, b[3] - b[1] + 1], "iscrowd": 0})
json.dump({"images": imgs, "annotations": anns,
           "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}, open(out, "w"))
PY
run coco --data "$T/coco.json" --images "$T/data/JPEGImages" "${NET[@]}" --iters 2 --out "$T/c.clssd" --quiet
check "COCO instances JSON as the dataset: exit 0 (got $rc)" test "$rc" -eq 0
check "COCO dataset: the model is written and carries the category names" \
    grep -q "star" <("$BUILD/clssd-eval" --gt "$T/coco.json" --model "$T/c.clssd" --images "$T/data/JPEGImages" --metric voc10)
run coco_noimages --data "$T/coco.json" "${NET[@]}" --iters 1 --out "$T/c2.clssd" --quiet
check "COCO dataset without --images: exit 1, a missing image named (got $rc)" \
    bash -c '[[ $1 -eq 1 ]] && grep -q "[0-9]\.jpg: cannot open" "$2"' _ "$rc" "$T/coco_noimages.err"

cli_summary
