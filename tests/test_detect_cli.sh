#!/usr/bin/env bash
# clssd-detect end to end: JSON output and its structure, --draw PNGs, directory arguments,
# --batch, bad images (exit 1, an "error" entry, the good image still done), a corrupt model
# and usage errors (exit 2). Narrow random SSD300 (--width-div 8) so that it runs in seconds.
#
#   tests/test_detect_cli.sh BUILD_DIR       (BUILD_DIR/clssd-detect)
#
# Exit 0 all passed, 1 a check failed, 77 no OpenCL device (skipped).
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
TOOL=$(cd "$BUILD" && pwd)/clssd-detect
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES=$ROOT/../shared/data/demo_images
export CLSSD_CACHE_DIR=${CLSSD_CACHE_DIR:-$(cd "$BUILD" && pwd)/kernel-cache}

[[ -x $TOOL ]] || { echo "no $TOOL"; echo "0 passed, 1 failed"; exit 1; }
[[ -f $IMAGES/dog.jpg && -f $IMAGES/person.jpg ]] || {
    echo "no demo images in $IMAGES"; echo "0 passed, 1 failed"; exit 1; }

source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh"
NET=(--random ssd300 --width-div 8)
is_png() { [[ -f $1 && $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; }

# The JSON's structure: top-level keys, one entry per image in order, detections with a
# label, a name, a score >= the threshold and a box inside the image.
STRUCT='
import json, sys
d = json.load(open(sys.argv[1])); thr = float(sys.argv[2]); files = sys.argv[3:]
assert set(d) == {"model", "device", "images"}, d.keys()
assert isinstance(d["model"], str) and d["model"] and isinstance(d["device"], str) and d["device"]
assert [i["file"].split("/")[-1] for i in d["images"]] == files, [i["file"] for i in d["images"]]
for i in d["images"]:
    if "error" in i:
        assert set(i) == {"file", "error"} and isinstance(i["error"], str) and i["error"]; continue
    assert set(i) == {"file", "width", "height", "detections"}, i.keys()
    W, H = i["width"], i["height"]; assert W > 0 and H > 0
    for t in i["detections"]:
        assert set(t) == {"label", "name", "score", "box"}, t.keys()
        assert isinstance(t["label"], int) and t["label"] >= 1
        assert t["name"] is None or isinstance(t["name"], str)
        assert thr <= t["score"] <= 1, t
        x1, y1, x2, y2 = t["box"]
        assert 0 <= x1 <= x2 <= W and 0 <= y1 <= y2 <= H, t
'
structure() { python3 -c "$STRUCT" "$@"; }

# 1. Two good images, JSON to a file, drawn PNGs.
run good "${NET[@]}" --threshold 0.2 --json "$T/good.json" --draw "$T/draw" \
    "$IMAGES/dog.jpg" "$IMAGES/person.jpg"
if [[ $rc -eq 2 ]] && grep -qi "no OpenCL device" "$T/good.err"; then
    cat "$T/good.err"; echo "no OpenCL device: skipped"; exit 77
fi
check "good images: exit status 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || cat "$T/good.err"
check "good images: valid JSON" python3 -m json.tool "$T/good.json" /dev/null
check "good images: JSON structure" structure "$T/good.json" 0.2 dog.jpg person.jpg
check "good images: VOC label names and detections present" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
dets = [t for i in d["images"] for t in i["detections"]]
assert dets and all(t["name"] for t in dets)' "$T/good.json"
check "good images: stable number format" python3 -c '
import re, sys; s = open(sys.argv[1]).read()
assert re.search(r"\"score\": \d\.\d{6},", s) and re.search(r"\"box\": \[\d+\.\d\d, \d+\.\d\d, \d+\.\d\d, \d+\.\d\d\]", s)
assert not re.search(r"\"score\": \d\.(\d{0,5}|\d{7,})[,}]", s)' "$T/good.json"
check "good images: dog.png is a PNG" is_png "$T/draw/dog.png"
check "good images: person.png is a PNG" is_png "$T/draw/person.png"

# 2. JSON to stdout; the same detections as run 1 (the run is deterministic).
rc=0
"$TOOL" "${NET[@]}" --threshold 0.2 "$IMAGES/dog.jpg" "$IMAGES/person.jpg" \
    >"$T/stdout.json" 2>"$T/stdout.err" || rc=$?
check "stdout: exit status 0 (got $rc)" test "$rc" -eq 0
check "stdout: same JSON as --json FILE" cmp -s "$T/good.json" "$T/stdout.json"

# 3. A directory argument (only *.jpg/*.jpeg/*.png, sorted by name), --batch 2, --threshold 0.
mkdir -p "$T/dir"
cp "$IMAGES/person.jpg" "$T/dir/b.jpeg"
cp "$IMAGES/dog.jpg" "$T/dir/a.JPG"
echo "not an image" >"$T/dir/notes.txt"
run dir "${NET[@]}" --batch 2 --threshold 0 --json "$T/dir.json" "$T/dir"
check "directory: exit status 0 (got $rc)" test "$rc" -eq 0
check "directory: sorted images, structure" structure "$T/dir.json" 0 a.JPG b.jpeg
check "directory + --batch 2: same detections as one at a time above 0.2" python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["images"]; b = json.load(open(sys.argv[2]))["images"]
for x, y in zip(a, b):
    dx = [t for t in x["detections"]]; dy = [t for t in y["detections"] if t["score"] >= 0.2]
    assert len(dx) == len(dy), (len(dx), len(dy))
    for p, q in zip(dx, dy):
        assert p["label"] == q["label"] and abs(p["score"] - q["score"]) <= 2e-3, (p, q)
        assert all(abs(u - v) <= 1.0 for u, v in zip(p["box"], q["box"])), (p, q)' \
    "$T/good.json" "$T/dir.json"

# 4. Bad images: a missing file and a truncated JPEG between good ones.
head -c 2000 "$IMAGES/dog.jpg" >"$T/truncated.jpg"
run badimg "${NET[@]}" --threshold 0.2 --json "$T/bad.json" \
    "$IMAGES/dog.jpg" "$T/missing.jpg" "$T/truncated.jpg"
check "bad images: exit status 1 (got $rc)" test "$rc" -eq 1
check "bad images: valid JSON" python3 -m json.tool "$T/bad.json" /dev/null
check "bad images: JSON structure" structure "$T/bad.json" 0.2 dog.jpg missing.jpg truncated.jpg
check "bad images: error entries, the good image done" python3 -c '
import json, sys; i = json.load(open(sys.argv[1]))["images"]
assert "error" not in i[0] and i[0]["width"] == 768 and i[0]["detections"], i[0]
assert "error" in i[1] and "error" in i[2], i' "$T/bad.json"
check "bad images: stderr names the missing file" grep -q "missing.jpg" "$T/badimg.err"
check "bad images: stderr names the truncated file" grep -q "truncated.jpg" "$T/badimg.err"

# 5. A corrupt model file, a missing one, usage errors: exit 2.
head -c 4096 "$IMAGES/dog.jpg" >"$T/corrupt.clssd"
run model --model "$T/corrupt.clssd" --json "$T/model.json" "$IMAGES/dog.jpg"
check "corrupt model: exit status 2 (got $rc)" test "$rc" -eq 2
check "corrupt model: message names the file" grep -q "corrupt.clssd" "$T/model.err"
run nomodel --model "$T/nonexistent.clssd" "$IMAGES/dog.jpg"
check "missing model: exit status 2 (got $rc)" test "$rc" -eq 2
run noargs
check "no arguments: exit status 2 (got $rc)" test "$rc" -eq 2
run badopt "${NET[@]}" --threshold high "$IMAGES/dog.jpg"
check "bad --threshold: exit status 2 (got $rc)" test "$rc" -eq 2
run both --model "$T/corrupt.clssd" --random ssd300 "$IMAGES/dog.jpg"
check "--model and --random: exit status 2 (got $rc)" test "$rc" -eq 2
run help --help
check "--help: exit status 0 (got $rc)" test "$rc" -eq 0

# 6. The default model (no --model): the README's main job on the shipped sample picture
#    finds what a person sees, where it is; the JSON is stable from run to run.
SAMPLE=$ROOT/samples/dog.jpg
run default --json "$T/default.json" --draw "$T/default" "$SAMPLE"
check "default model: exit status 0 (got $rc)" test "$rc" -eq 0
[[ $rc -eq 0 ]] || cat "$T/default.err"
check "default model: JSON structure" structure "$T/default.json" 0.5 dog.jpg
check "default model: a dog, a bicycle and a car, in place" python3 -c '
import json, sys; d = json.load(open(sys.argv[1]))
assert d["model"] == "coco-ssdlite-mobilenet-v2", d["model"]
dets = d["images"][0]["detections"]
want = {"dog": [133, 220, 315, 541], "bicycle": [146, 120, 568, 429], "car": [458, 80, 691, 172]}
for name, box in want.items():
    assert any(t["name"] == name and all(abs(a - b) < 8 for a, b in zip(t["box"], box)) for t in dets), (name, dets)
assert all(t["name"] in want or t["name"] == "cat" for t in dets), dets' "$T/default.json"
check "default model: drawn PNG" is_png "$T/default/dog.png"
run default2 --json "$T/default2.json" "$SAMPLE"
check "default model: the same JSON twice" cmp -s "$T/default.json" "$T/default2.json"
run keepall --threshold 0 --json "$T/keepall.json" "$SAMPLE"
check "--threshold 0: everything the model emits (up to its 100 per image)" python3 -c '
import json, sys; n = len(json.load(open(sys.argv[1]))["images"][0]["detections"])
assert 50 <= n <= 100, n' "$T/keepall.json"
export CLSSD_MODEL=$T/corrupt.clssd
run envmodel "$SAMPLE"
unset CLSSD_MODEL
check "CLSSD_MODEL names the default model: a corrupt one is exit 2 (got $rc)" test "$rc" -eq 2
TFJS=$ROOT/../shared/models/coco_ssdlite_mobilenet_v2_tfjs/model.json
if [[ -f $TFJS ]]; then
    run tfjs --model "$TFJS" --json "$T/tfjs.json" "$SAMPLE"
    check "--model model.json (TF.js, converted on load): exit status 0 (got $rc)" test "$rc" -eq 0
    check "--model model.json: the same detections as the shipped model" python3 -c '
import json, sys; a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
assert a["images"] == b["images"], (a, b)' "$T/default.json" "$T/tfjs.json"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
