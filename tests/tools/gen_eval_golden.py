#!/usr/bin/env python3
"""Writes the random evaluation sets of tests/data/eval_golden/ (seeded, reproducible).

    gen_eval_golden.py OUT_DIR

coco_gt.json / coco_dets.json: 80 images, 5 categories, boxes of every COCO area range,
8% crowd regions, "area" fields unlike the box area, detections jittered from the ground
truth plus random ones, scores rounded to 0.01 so that ties are common.
voc_gt.tsv / voc_ids.txt / voc_dets.json: 120 images of which some have no object, integer
VOC boxes, 15% difficult, continuous detections (COCO results form) with distinct scores.

expected.json holds what the reference tools give on these files; it is NOT written by this
script. It was made by running pycocotools' COCOeval (bbox) and py-faster-rcnn's
voc_eval.py with the VOC07 thresholds built as MATLAB's 0:0.1:1 (VOCevaldet.m) -- see
tests/test_eval_cli.sh -- and must be remade with them if the sets change.
"""
import json
import os
import random
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

rng = random.Random(7)
imgs, anns, dets = [], [], []
aid = 1
for i in range(1, 81):
    W, H = 640, 480
    imgs.append({"id": i, "file_name": "%06d.jpg" % i, "width": W, "height": H})
    for _ in range(rng.randint(0, 6)):
        s = rng.choice([8, 20, 40, 80, 200])
        w, h = s * rng.uniform(0.6, 1.6), s * rng.uniform(0.6, 1.6)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        c = rng.randint(1, 5)
        anns.append({"id": aid, "image_id": i, "category_id": c, "bbox": [round(v, 3) for v in (x, y, w, h)],
                     "area": round(w * h * rng.uniform(0.7, 1.0), 3), "iscrowd": 1 if rng.random() < 0.08 else 0})
        aid += 1
        for _ in range(rng.randint(0, 3)):
            j = lambda v, f: v + rng.gauss(0, f)
            dets.append({"image_id": i, "category_id": c if rng.random() < 0.9 else rng.randint(1, 5),
                         "bbox": [round(v, 3) for v in (j(x, w * .1), j(y, h * .1), max(1, j(w, w * .1)), max(1, j(h, h * .1)))],
                         "score": round(rng.random(), 2)})
    for _ in range(rng.randint(0, 25)):
        dets.append({"image_id": i, "category_id": rng.randint(1, 5),
                     "bbox": [round(v, 3) for v in (rng.uniform(0, 600), rng.uniform(0, 440), rng.uniform(4, 200), rng.uniform(4, 200))],
                     "score": round(rng.random() * 0.5, 2)})
json.dump({"images": imgs, "annotations": anns,
           "categories": [{"id": c, "name": "c%d" % c} for c in range(1, 6)]},
          open(os.path.join(out, "coco_gt.json"), "w"), separators=(",", ":"))
json.dump(dets, open(os.path.join(out, "coco_dets.json"), "w"), separators=(",", ":"))

names = ["aeroplane", "bicycle", "bird", "boat", "bottle"]
lines = ["# image_id\twidth\theight\tclass\txmin\tymin\txmax\tymax\tdifficult"]
vdets = []
for i in range(1, 121):
    W, H = 500, 375
    for _ in range(rng.randint(0, 5)):
        w, h = rng.randint(10, 200), rng.randint(10, 200)
        x, y = rng.randint(1, W - w), rng.randint(1, H - h)
        c = rng.randint(0, 4)
        lines.append("%06d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d" % (i, W, H, names[c], x, y, x + w - 1, y + h - 1, rng.random() < 0.15))
        for _ in range(rng.randint(0, 3)):
            j = lambda v, f: v + rng.gauss(0, f)
            vdets.append({"image_id": i, "category_id": c + 1 if rng.random() < 0.9 else rng.randint(1, 5),
                          "bbox": [round(v, 4) for v in (j(x - 1, w * .12), j(y - 1, h * .12), max(1, j(w, w * .12)), max(1, j(h, h * .12)))],
                          "score": round(rng.random(), 9)})
    for _ in range(rng.randint(0, 12)):
        vdets.append({"image_id": i, "category_id": rng.randint(1, 5),
                      "bbox": [round(v, 4) for v in (rng.uniform(0, 450), rng.uniform(0, 330), rng.uniform(4, 150), rng.uniform(4, 150))],
                      "score": round(rng.random() * 0.6, 9)})
open(os.path.join(out, "voc_gt.tsv"), "w").write("\n".join(lines) + "\n")
open(os.path.join(out, "voc_ids.txt"), "w").write("".join("%06d\n" % i for i in range(1, 121)))
json.dump(vdets, open(os.path.join(out, "voc_dets.json"), "w"), separators=(",", ":"))
