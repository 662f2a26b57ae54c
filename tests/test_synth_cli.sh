#!/usr/bin/env bash
# clssd-synth end to end: byte-identical output for the same arguments, another seed differs,
# the VOC layout (file counts, XML structure, boxes inside the image, split files that
# partition the ids), box tightness checked independently on lossless PNGs over a plain
# background, protection of foreign directories, stale files removed on a rerun, and usage
# errors (exit 2) and runtime errors (exit 1) with a message.
#
#   tests/test_synth_cli.sh BUILD_DIR [SHARED_DIR]       (BUILD_DIR/clssd-synth)
#
# Exit 0 all passed, 1 a check failed.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR [SHARED_DIR]}
TOOL=$(cd "$BUILD" && pwd)/clssd-synth
[[ -x $TOOL ]] || { echo "no $TOOL"; echo "0 passed, 1 failed"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed"; echo "0 passed, 1 failed"; exit 1; }

source "$(dirname "${BASH_SOURCE[0]}")/cli_common.sh"
# expect_fail NAME CODE ARGS...: exits CODE with a one-line "clssd-synth: ..." message
expect_fail() {
    local name=$1 code=$2; shift 2
    run "$name" "$@"
    if [[ $rc == "$code" ]] && grep -q '^clssd-synth: ' "$T/$name.err" &&
        [[ $(wc -l <"$T/$name.err") -le 2 ]]; then
        ok "$name (exit $code: $(head -1 "$T/$name.err"))"
    else
        bad "$name: exit $rc, stderr: $(head -c 300 "$T/$name.err")"
    fi
}

# ---------------------------------------------------------------- determinism
ARGS=(--count 20 --size 128 --seed 7)
run gen_a --out "$T/a" "${ARGS[@]}"
check "generate 20 images (exit 0)" test "$rc" = 0
run gen_b --out "$T/b" "${ARGS[@]}" --quiet
check "generate again into another directory" test "$rc" = 0
check "same arguments: byte-identical trees" diff -r "$T/a" "$T/b"
check "--quiet prints nothing" test ! -s "$T/gen_b.out"
check "summary line without --quiet" grep -q 'wrote 20 images (16 trainval, 4 test)' "$T/gen_a.out"
run gen_c --out "$T/c" --count 20 --size 128 --seed 8 --quiet
check "another seed: different images" bash -c "! cmp -s '$T/a/JPEGImages/000001.jpg' '$T/c/JPEGImages/000001.jpg'"
check "another seed: different annotations" bash -c "! diff -rq '$T/a/Annotations' '$T/c/Annotations' >/dev/null"

# ---------------------------------------------------------------- layout
check "20 JPEGs" test "$(ls "$T/a/JPEGImages" | grep -c '^[0-9]\{6\}\.jpg$')" = 20
check "20 annotations" test "$(ls "$T/a/Annotations" | grep -c '^[0-9]\{6\}\.xml$')" = 20
check "JPEG magic" test "$(head -c 3 "$T/a/JPEGImages/000001.jpg" | od -An -tx1 | tr -d ' \n')" = ffd8ff
check "labels.txt: the default classes in order" \
    test "$(cat "$T/a/labels.txt" | tr '\n' ,)" = "circle,square,triangle,star,ring,"
check "README.txt names the command and seed" \
    grep -q '^command: clssd-synth --out DIR --count 20 --size 128x128 --seed 7 ' "$T/a/README.txt"

cat >"$T/layout.py" <<'PY'
import os, sys, xml.etree.ElementTree as ET
d, n, k, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ext = sys.argv[6] if len(sys.argv) > 6 else "jpg"
labels = open(os.path.join(d, "labels.txt")).read().split()
ids = ["%06d" % (i + 1) for i in range(n)]
errs = []
counts = {}
for i in ids:
    root = ET.parse(os.path.join(d, "Annotations", i + ".xml")).getroot()
    if root.tag != "annotation": errs.append(i + ": root " + root.tag)
    if root.findtext("filename") != i + "." + ext: errs.append(i + ": filename")
    if not os.path.isfile(os.path.join(d, "JPEGImages", i + "." + ext)): errs.append(i + ": no image")
    sz = root.find("size")
    if (int(sz.findtext("width")), int(sz.findtext("height")), int(sz.findtext("depth"))) != (w, h, 3):
        errs.append(i + ": size")
    objs = root.findall("object")
    if not 1 <= len(objs) <= k: errs.append("%s: %d objects" % (i, len(objs)))
    for o in objs:
        name = o.findtext("name")
        if name not in labels: errs.append(i + ": class " + str(name))
        counts[name] = counts.get(name, 0) + 1
        if o.findtext("pose") != "Unspecified" or o.findtext("truncated") != "0": errs.append(i + ": pose/truncated")
        if o.findtext("difficult") not in ("0", "1"): errs.append(i + ": difficult")
        b = o.find("bndbox")
        x0, y0, x1, y1 = (int(b.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
        if not (1 <= x0 <= x1 <= w and 1 <= y0 <= y1 <= h): errs.append("%s: box %d %d %d %d" % (i, x0, y0, x1, y1))
tv = open(os.path.join(d, "ImageSets/Main/trainval.txt")).read().split()
te = open(os.path.join(d, "ImageSets/Main/test.txt")).read().split()
if sorted(tv + te) != ids or set(tv) & set(te): errs.append("split files do not partition the ids")
if len(te) != round(n * 0.2): errs.append("test set has %d images" % len(te))
if tv != sorted(tv) or te != sorted(te): errs.append("split files not sorted")
for e in errs[:10]: print("  " + e)
sys.exit(1 if errs else 0)
PY
check "XMLs: 1..4 objects of known classes, boxes within 1..W x 1..H, split partitions ids" \
    python3 "$T/layout.py" "$T/a" 20 4 128 128

# ---------------------------------------------------------------- tightness (lossless, plain)
run gen_png --out "$T/p" --count 12 --size 160x120 --seed 3 --png --background plain \
    --size-range 0.05,0.7 --classes circle,square,triangle,star,ring,cross,hexagon --quiet
check "--png --background plain (exit 0)" test "$rc" = 0
check "PNG layout, non-square size" python3 "$T/layout.py" "$T/p" 12 4 160 120 png
cat >"$T/tight.py" <<'PY'
import os, struct, sys, zlib, xml.etree.ElementTree as ET
def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype == 2, "expected 8-bit RGB"
        elif typ == b"IDAT":
            idat += body
        pos += 12 + ln
    raw, stride, bpp = zlib.decompress(idat), w * 3, 3
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], (prev[x - bpp] if x >= bpp else 0)
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows
d, n = sys.argv[1], int(sys.argv[2])
errs, nobj = [], 0
for i in range(1, n + 1):
    iid = "%06d" % i
    w, h, rows = read_png(os.path.join(d, "JPEGImages", iid + ".png"))
    bg = rows[0][0:3]
    fg = [[rows[y][3 * x:3 * x + 3] != bg for x in range(w)] for y in range(h)]
    boxes = []
    for o in ET.parse(os.path.join(d, "Annotations", iid + ".xml")).getroot().findall("object"):
        b = o.find("bndbox")
        x0, y0, x1, y1 = (int(b.findtext(t)) - 1 for t in ("xmin", "ymin", "xmax", "ymax"))
        boxes.append((x0, y0, x1, y1))
    nobj += len(boxes)
    inbox = [[False] * w for _ in range(h)]
    for (x0, y0, x1, y1) in boxes:
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1): inbox[y][x] = True
        edges = {"top": any(fg[y0][x] for x in range(x0, x1 + 1)),
                 "bottom": any(fg[y1][x] for x in range(x0, x1 + 1)),
                 "left": any(fg[y][x0] for y in range(y0, y1 + 1)),
                 "right": any(fg[y][x1] for y in range(y0, y1 + 1))}
        for e, hit in edges.items():
            if not hit: errs.append("%s: box %s: %s edge touches no shape pixel" % (iid, (x0, y0, x1, y1), e))
    outside = sum(1 for y in range(h) for x in range(w) if fg[y][x] and not inbox[y][x])
    if outside: errs.append("%s: %d changed pixels outside every box" % (iid, outside))
    if not any(fg[y][x] for y in range(h) for x in range(w)): errs.append(iid + ": nothing drawn")
for e in errs[:10]: print("  " + e)
print("  checked %d images, %d boxes" % (n, nobj))
sys.exit(1 if errs else 0)
PY
check "boxes exactly enclose the drawn pixels (PNG, plain background)" python3 "$T/tight.py" "$T/p" 12

# ---------------------------------------------------------------- directories
run rerun --out "$T/a" --count 10 --size 128 --seed 7 --quiet
check "rerun into its own output (exit 0)" test "$rc" = 0
check "rerun with fewer images removes the stale ones" \
    test "$(ls "$T/a/JPEGImages" | wc -l)" = 10 -a "$(ls "$T/a/Annotations" | wc -l)" = 10
check "image i does not depend on --count" cmp "$T/a/JPEGImages/000005.jpg" "$T/b/JPEGImages/000005.jpg"
mkdir -p "$T/foreign" && echo keep >"$T/foreign/notes.txt"
expect_fail "non-empty foreign directory refused" 1 --out "$T/foreign" --count 2 --size 64
check "foreign directory untouched" test ! -e "$T/foreign/JPEGImages" -a -f "$T/foreign/notes.txt"
run force --out "$T/foreign" --count 2 --size 64 --force --quiet
check "--force writes into it, other files kept" \
    test "$rc" = 0 -a -f "$T/foreign/notes.txt" -a -f "$T/foreign/JPEGImages/000002.jpg"
run deep --out "$T/new/deeper/ds" --count 2 --size 64 --quiet
check "creates missing parent directories (mkdir -p)" test "$rc" = 0 -a -f "$T/new/deeper/ds/labels.txt"
: >"$T/plainfile"
expect_fail "cannot create directory under a file" 1 --out "$T/plainfile/ds" --count 2
expect_fail "--out is a file" 1 --out "$T/plainfile" --count 2

# ---------------------------------------------------------------- usage errors
expect_fail "no --out" 2 --count 3
expect_fail "unknown option" 2 --out "$T/u" --bogus
expect_fail "--count 0" 2 --out "$T/u" --count 0
expect_fail "--count not a number" 2 --out "$T/u" --count 12x
expect_fail "--size too small" 2 --out "$T/u" --size 8
expect_fail "--size malformed" 2 --out "$T/u" --size 100x
expect_fail "unknown class" 2 --out "$T/u" --classes circle,blob
expect_fail "class twice" 2 --out "$T/u" --classes circle,circle
expect_fail "--test-fraction out of range" 2 --out "$T/u" --test-fraction 1.5
expect_fail "--size-range reversed" 2 --out "$T/u" --size-range 0.5,0.1
expect_fail "--max-objects 0" 2 --out "$T/u" --max-objects 0
expect_fail "--jpeg-quality 101" 2 --out "$T/u" --jpeg-quality 101
expect_fail "unknown background" 2 --out "$T/u" --background wood
expect_fail "option without its value" 2 --out "$T/u" --seed
check "usage errors create nothing" test ! -e "$T/u"
run help --help
check "--help (exit 0, usage on stdout)" bash -c "[[ $rc == 0 ]] && grep -q '^usage: clssd-synth' '$T/help.out'"

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
