#!/usr/bin/env bash
# clssd-eval end to end on the real VOC2007 test files in ../shared/data/voc2007_test.
# The expected numbers are worked out here, independently of the evaluator: detections made
# from the ground truth itself score AP 1 on every class; one confident false positive put
# above n true positives gives precision k/(k+1) at recall k/n, so both VOC APs are
# n/(n+1); the same detections as COCO results score 1.000 too. Then the default model run
# over the 18 images (--model), the same through clssd-detect's JSON (--det), the TSV with
# --skip-missing, plots, JSON output and bad input.
#
#   tests/test_eval_cli.sh BUILD_DIR [SHARED_DIR]
#
# Exit 0 all passed, 1 a check failed, 77 no OpenCL device (the model part is skipped).
set -euo pipefail

BUILD=$(cd "${1:?usage: $0 BUILD_DIR [SHARED_DIR]}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED=${2:-$ROOT/../shared}
TOOL=$BUILD/clssd-eval
VOC=$SHARED/data/voc2007_test
export CLSSD_CACHE_DIR=${CLSSD_CACHE_DIR:-$BUILD/kernel-cache}

[[ -x $TOOL ]] || { echo "no $TOOL"; echo "0 passed, 1 failed"; exit 1; }
[[ -d $VOC/Annotations ]] || { echo "no $VOC"; echo "0 passed, 1 failed"; exit 1; }

source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh"
jget() { # jget FILE PYTHON-EXPR-ON-d
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---------------------------------------------------------------- usage errors
run noargs
check "no arguments: exit 2 (got $rc)" test "$rc" -eq 2
run badmetric --gt "$VOC" --det x.json --metric voc12
check "--metric voc12: exit 2 (got $rc)" test "$rc" -eq 2
check "--metric voc12: says which metrics exist" grep -q "voc07, voc10, coco" "$T/badmetric.err"
run both --gt "$VOC" --det x.json --model y.clssd
check "--det and --model together: exit 2 (got $rc)" test "$rc" -eq 2
run nogt --gt "$T/nothere" --det "$T/nothere.json"
check "missing ground truth: exit 2 (got $rc)" test "$rc" -eq 2
check "missing ground truth: message names the file" grep -q "nothere" "$T/nogt.err"

# ---------------------------------------------------------------- detections from the GT
# The 18 annotated images, every object (difficult ones too) as a detection, in
# clssd-detect's JSON: continuous 0-based pixels = VOC xmin-1 .. xmax.
python3 - "$VOC" "$T" <<'EOF'
import json, os, sys, xml.etree.ElementTree as ET
voc, out = sys.argv[1], sys.argv[2]
images, coco, npos = [], [], {}
ids = sorted(f[:-4] for f in os.listdir(os.path.join(voc, "Annotations")) if f.endswith(".xml"))
classes = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
           "train", "tvmonitor"]
for i in ids:
    r = ET.parse(os.path.join(voc, "Annotations", i + ".xml")).getroot()
    w, h = int(r.find("size/width").text), int(r.find("size/height").text)
    dets = []
    for o in r.findall("object"):
        n = o.find("name").text
        b = [float(o.find("bndbox/" + k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
        box = [b[0] - 1, b[1] - 1, b[2], b[3]]
        dets.append({"label": 0, "name": n, "score": 0.9, "box": box})
        coco.append({"image_id": int(i), "category_id": classes.index(n) + 1,
                     "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]], "score": 0.9})
        d = o.find("difficult")
        if d is None or d.text.strip() == "0":
            npos[n] = npos.get(n, 0) + 1
    images.append({"file": "JPEGImages/%s.jpg" % i, "width": w, "height": h, "detections": dets})
json.dump({"model": "ground truth", "device": "none", "images": images}, open(out + "/perfect.json", "w"))
json.dump(coco, open(out + "/perfect_coco.json", "w"))
# one confident false positive for the class with the most objects: a "dog" box on an image
# with no dog, scored above everything
top = max(npos, key=lambda k: (npos[k], k))
fp_img = next(im for im in images if all(t["name"] != top for t in im["detections"]))
fp_img["detections"].append({"label": 0, "name": top, "score": 0.99, "box": [0, 0, 20, 20]})
json.dump({"model": "ground truth", "device": "none", "images": images}, open(out + "/onefp.json", "w"))
open(out + "/onefp.txt", "w").write("%s %d %d\n" % (top, npos[top], len([k for k in npos if npos[k] > 0])))
EOF
read -r FP_CLASS FP_N N_CLASSES <"$T/onefp.txt"

run perfect --gt "$VOC" --det "$T/perfect.json" --metric voc07,voc10 --json "$T/perfect.out.json"
check "GT as detections: exit 0 (got $rc)" test "$rc" -eq 0
check "GT as detections: VOC07 mAP is 1" test "$(jget "$T/perfect.out.json" 'd["voc07"]["map"]')" = "1.0"
check "GT as detections: VOC2010+ mAP is 1" test "$(jget "$T/perfect.out.json" 'd["voc10"]["map"]')" = "1.0"
check "GT as detections: $N_CLASSES classes with ground truth in the mean" \
    test "$(jget "$T/perfect.out.json" 'd["voc07"]["classes_in_map"]')" = "$N_CLASSES"
check "GT as detections: classes without ground truth have no AP (null)" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert all((c["ap"] is None) == (c["gt"] == 0) for c in d["voc07"]["per_class"]), d' "$T/perfect.out.json"
check "GT as detections: difficult objects neither TP nor FP" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert all(c["tp"] == c["gt"] and c["fp"] == 0 for c in d["voc07"]["per_class"]), d' "$T/perfect.out.json"
check "GT as detections: the table prints the mAP" grep -q "mAP VOC07 11-point (IoU > 0.5): 100.00" "$T/perfect.out"

run onefp --gt "$VOC" --det "$T/onefp.json" --json "$T/onefp.out.json"
check "one false positive on top: exit 0 (got $rc)" test "$rc" -eq 0
check "one false positive on top: $FP_CLASS AP07 = AP10 = n/(n+1), n = $FP_N" python3 -c '
import json, sys; d = json.load(open(sys.argv[1])); cls, n = sys.argv[2], int(sys.argv[3])
for m in ("voc07", "voc10"):
    c = next(c for c in d[m]["per_class"] if c["class"] == cls)
    assert abs(c["ap"] - n / (n + 1)) < 1e-6 and c["fp"] == 1, (m, c)' "$T/onefp.out.json" "$FP_CLASS" "$FP_N"

run coco_perfect --gt "$VOC" --det "$T/perfect_coco.json" --metric coco --json "$T/coco.out.json"
check "COCO results JSON, COCO metric on VOC ground truth: exit 0 (got $rc)" test "$rc" -eq 0
check "COCO metric, GT as detections: AP, AP50, AP75, AR100 = 1" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))["coco"]
assert all(abs(d[k] - 1) < 1e-9 for k in ("AP", "AP50", "AP75", "AR100")), d' "$T/coco.out.json"
check "COCO metric: the pycocotools summary lines" grep -q "Average Precision  (AP) @\[ IoU=0.50:0.95 | area=   all | maxDets=100 \] = 1.000" "$T/coco_perfect.out"

# ---------------------------------------------------------------- the reference tools' numbers
# tests/data/eval_golden (tests/tools/gen_eval_golden.py): random sets with crowds, every COCO
# area range, tied scores, difficult objects and images without objects; expected.json is
# what pycocotools' COCOeval and voc_eval.py (with VOCevaldet.m's 0:0.1:1 thresholds) gave.
G=$ROOT/tests/data/eval_golden
run golden_coco --gt "$G/coco_gt.json" --det "$G/coco_dets.json" --json "$T/golden_coco.json" --quiet
check "golden COCO set: exit 0 (got $rc)" test "$rc" -eq 0
check "golden COCO set: the 12 pycocotools stats to 1e-9" python3 -c '
import json, sys; e = json.load(open(sys.argv[1]))["coco"]; d = json.load(open(sys.argv[2]))["coco"]
bad = {k: (e[k], d[k]) for k in e if abs(e[k] - d[k]) > 1e-9}; assert not bad, bad' "$G/expected.json" "$T/golden_coco.json"
run golden_voc --gt "$G/voc_gt.tsv" --image-set "$G/voc_ids.txt" --det "$G/voc_dets.json" --json "$T/golden_voc.json" --quiet
check "golden VOC set: exit 0 (got $rc)" test "$rc" -eq 0
check "golden VOC set: per-class VOC07 and VOC2010+ AP to 1e-9" python3 -c '
import json, sys; e = json.load(open(sys.argv[1])); d = json.load(open(sys.argv[2]))
for m in ("voc07", "voc10"):
    got = {c["class"]: c["ap"] for c in d[m]["per_class"] if c["ap"] is not None}
    assert got.keys() == e[m].keys(), (got, e[m])
    bad = {k: (e[m][k], got[k]) for k in got if abs(e[m][k] - got[k]) > 1e-9}; assert not bad, (m, bad)' \
    "$G/expected.json" "$T/golden_voc.json"
run golden_voc_noset --gt "$G/voc_gt.tsv" --det "$G/voc_dets.json" --quiet
check "TSV without --image-set: detections on images without objects are left out, with a warning" \
    grep -q "left out (a TSV lists only images with objects" "$T/golden_voc_noset.err"

printf '{"images": [' >"$T/trunc.json"
run trunc --gt "$VOC" --det "$T/trunc.json"
check "truncated detections JSON: exit 2 (got $rc)" test "$rc" -eq 2
check "truncated detections JSON: says where" grep -q "trunc.json" "$T/trunc.err"

# ---------------------------------------------------------------- running the model
MODEL=$ROOT/models/coco-ssdlite-mobilenet-v2.clssd
if ! "$BUILD/clssd-detect" --list-devices >/dev/null 2>&1 || [[ -z $("$BUILD/clssd-detect" --list-devices 2>/dev/null) ]]; then
    echo "no OpenCL device: the --model part is skipped"
    echo "$passed passed, $failed failed"
    [[ $failed -eq 0 ]] && exit 77 || exit 1
fi
run model --gt "$VOC" --model "$MODEL" --class-map coco-voc --json "$T/model.json" \
    --plots "$T/plots" --save-det "$T/model_coco.json" --batch 6
check "--model on the 18 VOC images: exit 0 (got $rc)" test "$rc" -eq 0
MAP=$(jget "$T/model.json" 'd["voc07"]["map"]')
echo "     (default COCO SSDLite on the 18 VOC2007 test images, COCO->VOC: VOC07 mAP $MAP)"
check "--model: a plausible VOC07 mAP (0.3 .. 1)" python3 -c 'import sys; assert 0.3 < float(sys.argv[1]) <= 1' "$MAP"
check "--model: one PR plot per class with ground truth" test "$(ls "$T/plots"/pr_*.png | wc -l)" -eq "$N_CLASSES"
check "--model: plots are PNGs" bash -c 'head -c 8 "$1" | od -An -tx1 | grep -q "89 50 4e 47 0d 0a 1a 0a"' _ "$T/plots/pr_person.png"
run resaved --gt "$VOC" --det "$T/model_coco.json" --json "$T/resaved.json"
check "--save-det results read back: the same mAP" test "$(jget "$T/resaved.json" 'd["voc07"]["map"]')" = "$MAP"

"$BUILD/clssd-detect" --model "$MODEL" --threshold 0 --batch 6 --json "$T/detect.json" "$VOC/JPEGImages" 2>/dev/null
run viadetect --gt "$VOC" --det "$T/detect.json" --class-map coco-voc --json "$T/viadetect.json"
check "clssd-detect --threshold 0 JSON: exit 0 (got $rc)" test "$rc" -eq 0
check "clssd-detect JSON gives the --model mAP (to 1e-3)" python3 -c '
import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); assert abs(a - b) < 1e-3, (a, b)' \
    "$(jget "$T/viadetect.json" 'd["voc07"]["map"]')" "$MAP"

run tsv_missing --gt "$VOC/voc2007_test_gt.tsv" --model "$MODEL" --class-map coco-voc
check "TSV of 4952 images, 18 image files: exit 2 without --skip-missing (got $rc)" test "$rc" -eq 2
check "TSV, missing images: the message says what to do" grep -q -- "--skip-missing" "$T/tsv_missing.err"
run tsv --gt "$VOC/voc2007_test_gt.tsv" --model "$MODEL" --class-map coco-voc --skip-missing --json "$T/tsv.json"
check "TSV with --skip-missing: exit 0 (got $rc)" test "$rc" -eq 0
check "TSV with --skip-missing: 18 images, the VOC directory's mAP" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert d["images"] == 18 and d["voc07"]["map"] == float(sys.argv[2]), d' "$T/tsv.json" "$MAP"

cli_summary
