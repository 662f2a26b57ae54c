#!/usr/bin/env python3
"""Known-answer values for tests/test_ref_kat.c.

This is an INDEPENDENT re-implementation, in plain Python, of the rules of
weiliu89/caffe (branch ssd): src/caffe/layers/prior_box_layer.cpp (priors),
src/caffe/util/bbox_util.cpp (JaccardOverlap, DecodeBBox, EncodeBBox) and the
small hand cases of the other ops. It shares no code with src/ref/*.c and must
never be changed to "agree" with them: if the C reference and this script
disagree, re-read Caffe, not the C code.

Float32 emulation: every value Caffe keeps in a float is rounded with f32()
(struct pack/unpack). A single +, -, *, / or sqrt of float32 operands done in
double and rounded once to float32 equals the float32 operation (53 >= 2*24+2),
so this emulates Caffe's float arithmetic exactly.

Usage:
  python3 tests/tools/gen_prior_kat.py priors variants
      prints, byte for byte, the C tables between the BEGIN/END GENERATED markers
      of tests/test_ref_kat.c (whole-layer sums and spot-checked priors);
  python3 tests/tools/gen_prior_kat.py iou decode conv softmax pre
      prints, as C comments, the numbers the other tests use as literals (and
      asserts the IoU boundary boxes really give IoU == 0.45f, > and < it).
With no argument it prints everything.
"""
import math
import struct
import sys


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def cfloat(x):
    """A C float literal that reads back to exactly the float32 x."""
    x = f32(x)
    s = '%.9g' % x
    if 'e' not in s and '.' not in s:
        s += '.0'
    return s + 'f'


# ----------------------------------------------------------------- priors
# Source-layer tables, read off shared/models/ssd_vgg16_caffe_defs/*.prototxt
# (min_size, max_size, aspect_ratio, step; flip true, clip false, offset 0.5,
# variance 0.1 0.1 0.2 0.2 everywhere).
NETS = {
    'voc300': dict(img=300, layers=[
        ('conv4_3_norm', 38, 30.0, 60.0, [2], 8),
        ('fc7', 19, 60.0, 111.0, [2, 3], 16),
        ('conv6_2', 10, 111.0, 162.0, [2, 3], 32),
        ('conv7_2', 5, 162.0, 213.0, [2, 3], 64),
        ('conv8_2', 3, 213.0, 264.0, [2], 100),
        ('conv9_2', 1, 264.0, 315.0, [2], 300)]),
    'coco300': dict(img=300, layers=[
        ('conv4_3_norm', 38, 21.0, 45.0, [2], 8),
        ('fc7', 19, 45.0, 99.0, [2, 3], 16),
        ('conv6_2', 10, 99.0, 153.0, [2, 3], 32),
        ('conv7_2', 5, 153.0, 207.0, [2, 3], 64),
        ('conv8_2', 3, 207.0, 261.0, [2], 100),
        ('conv9_2', 1, 261.0, 315.0, [2], 300)]),
    'voc512': dict(img=512, layers=[
        ('conv4_3_norm', 64, 35.84, 76.8, [2], 8),
        ('fc7', 32, 76.8, 153.6, [2, 3], 16),
        ('conv6_2', 16, 153.6, 230.4, [2, 3], 32),
        ('conv7_2', 8, 230.4, 307.2, [2, 3], 64),
        ('conv8_2', 4, 307.2, 384.0, [2, 3], 128),
        ('conv9_2', 2, 384.0, 460.8, [2], 256),
        ('conv10_2', 1, 460.8, 537.6, [2], 512)]),
    'coco512': dict(img=512, layers=[
        ('conv4_3_norm', 64, 20.48, 51.2, [2], 8),
        ('fc7', 32, 51.2, 133.12, [2, 3], 16),
        ('conv6_2', 16, 133.12, 215.04, [2, 3], 32),
        ('conv7_2', 8, 215.04, 296.96, [2, 3], 64),
        ('conv8_2', 4, 296.96, 378.88, [2, 3], 128),
        ('conv9_2', 2, 378.88, 460.8, [2], 256),
        ('conv10_2', 1, 460.8, 542.72, [2], 512)]),
}


def aspect_ratios(ars, flip):
    # PriorBoxLayer::LayerSetUp: list led by 1., dedup within 1e-6, flip appends 1./ar
    out = [1.0]
    for a in ars:
        a = f32(a)
        if any(abs(a - e) < 1e-6 for e in out):
            continue
        out.append(a)
        if flip:
            out.append(f32(1.0 / a))
    return out


def priors(H, W, img_w, img_h, mins, maxs, ars, flip, clip, step_w, step_h, offset=0.5):
    """Returns the flat list of box values (channel 0) of one PriorBox layer."""
    arl = aspect_ratios(ars, flip)
    if step_w == 0:
        step_w = f32(float(img_w) / W)  # static_cast<float>(img_width) / layer_width
    if step_h == 0:
        step_h = f32(float(img_h) / H)
    step_w, step_h, offset = f32(step_w), f32(step_h), f32(offset)
    out = []

    def emit(cx, cy, bw, bh):
        # (center_x - box_width / 2.) / img_width: double arithmetic, stored as float
        out.append(f32((cx - bw / 2.0) / img_w))
        out.append(f32((cy - bh / 2.0) / img_h))
        out.append(f32((cx + bw / 2.0) / img_w))
        out.append(f32((cy + bh / 2.0) / img_h))

    for h in range(H):
        for w in range(W):
            cx = f32(f32(w + offset) * step_w)  # float center_x = (w + offset_) * step_w
            cy = f32(f32(h + offset) * step_h)
            for s in range(len(mins)):
                ms = int(f32(mins[s]))  # int min_size_ = min_sizes_[s]  (P4)
                emit(cx, cy, float(ms), float(ms))
                if maxs:
                    Ms = int(f32(maxs[s]))
                    side = f32(math.sqrt(ms * Ms))  # sqrt of an int product, into a float
                    emit(cx, cy, side, side)
                for a in arl:
                    if abs(a - 1.0) < 1e-6:
                        continue
                    sq = f32(math.sqrt(a))  # sqrtf(ar)
                    emit(cx, cy, f32(ms * sq), f32(ms / sq))
    if clip:
        out = [min(max(v, 0.0), 1.0) for v in out]
    return out, len(arl) * len(mins) + len(maxs)


def weighted_sum(vals):
    # sum_i (i % 7 + 1) * v_i in double: sensitive to order as well as values
    return math.fsum((i % 7 + 1) * v for i, v in enumerate(vals))


def gen_priors():
    print('/* ---- BEGIN GENERATED by tests/tools/gen_prior_kat.py (priors) ---- */')
    print('typedef struct kat_layer {\n    const char *name;\n    int32_t fm, np, step;\n'
          '    float min_size, max_size;\n    int32_t n_ar;\n    float ar[2];\n'
          '    double wsum; /* sum_i (i % 7 + 1) * box[i] over the whole layer */\n} kat_layer;')
    print('typedef struct kat_prior {\n    int32_t layer, index; /* prior index inside the layer */\n'
          '    float box[4];\n} kat_prior;')
    for net, cfg in NETS.items():
        img = cfg['img']
        rows, total = [], 0
        print('static const kat_layer kat_%s_layers[] = {' % net)
        for li, (name, fm, mn, mx, ars, step) in enumerate(cfg['layers']):
            vals, np_ = priors(fm, fm, img, img, [mn], [mx], ars, True, False, step, step)
            assert len(vals) == fm * fm * np_ * 4
            total += fm * fm * np_
            print('    {"%s", %d, %d, %d, %s, %s, %d, {%s}, %.17g},' % (
                name, fm, np_, step, cfloat(mn), cfloat(mx), len(ars),
                ', '.join(cfloat(a) for a in ars + [0] * (2 - len(ars))), weighted_sum(vals)))
            # chosen priors: first and last of the layer, every prior of one cell with h != w
            # (catches an h/w swap and the in-cell order P2), the conv4_3 cell on the edge
            hm, wm = fm // 2, (fm // 3 if fm != 3 else 0)
            pick = [0, fm * fm * np_ - 1]
            pick += [(hm * fm + wm) * np_ + k for k in range(np_)]
            if name == 'conv4_3_norm':
                pick.append(((fm - 1) * fm + (fm - 1)) * np_)  # last cell, AR 1 at min
            for idx in sorted(set(pick)):
                b = vals[4 * idx:4 * idx + 4]
                rows.append('    {%d, %d, {%s}},' % (li, idx, ', '.join(cfloat(v) for v in b)))
        print('};')
        print('/* total priors: %d */' % total)
        print('static const kat_prior kat_%s_priors[] = {' % net)
        print('\n'.join(rows))
        print('};')
    print('/* ---- END GENERATED (priors) ---- */')


def gen_prior_variants():
    print('/* ---- BEGIN GENERATED by tests/tools/gen_prior_kat.py (prior variants) ---- */')
    # SSD300 VOC conv4_3 with clip; derived step (step 0) for conv4_3 and conv7_2 (5x5)
    cases = [
        ('clip_conv4_3', 38, 30.0, 60.0, [2], 8, True, [0, 1, 2, 3, (37 * 38 + 37) * 4]),
        ('derived_conv4_3', 38, 30.0, 60.0, [2], 0, False, [0, (37 * 38 + 37) * 4, (19 * 38 + 12) * 4 + 3]),
        ('derived_conv7_2', 5, 162.0, 213.0, [2, 3], 0, False, [0, (4 * 5 + 4) * 6 + 5]),
        ('explicit_conv7_2', 5, 162.0, 213.0, [2, 3], 64, False, [0, (4 * 5 + 4) * 6 + 5]),
    ]
    for name, fm, mn, mx, ars, step, clip, pick in cases:
        vals, np_ = priors(fm, fm, 300, 300, [mn], [mx], ars, True, clip, step, step)
        print('static const kat_prior kat_%s[] = {' % name)
        for idx in pick:
            print('    {0, %d, {%s}},' % (idx, ', '.join(cfloat(v) for v in vals[4 * idx:4 * idx + 4])))
        print('};')
        print('static const double kat_%s_wsum = %.17g;' % (name, weighted_sum(vals)))
    print('/* ---- END GENERATED (prior variants) ---- */')


# ----------------------------------------------------------------- IoU (bbox_util.cpp)
def bbox_size(b):
    if b[2] < b[0] or b[3] < b[1]:
        return 0.0
    return f32(f32(b[2] - b[0]) * f32(b[3] - b[1]))


def jaccard(a, b):
    if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
        return 0.0
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = f32(f32(ix2 - ix1) * f32(iy2 - iy1))
    union = f32(f32(bbox_size(a) + bbox_size(b)) - inter)
    return f32(inter / union)


def gen_iou():
    print('/* ---- IoU checks (float32-emulated JaccardOverlap) ---- */')
    t = f32(0.45)
    A = [0.0, 0.0, f32(29 / 64), 1.0]
    B = [f32(11 / 64), 0.0, f32(11 / 64 + 29 / 64), 1.0]
    iou = jaccard(A, B)
    print('/* A=%r B=%r iou=%r (0.45f=%r) equal=%s */' % (A, B, iou, t, iou == t))
    assert iou == t
    # B shifted left by 1/1024: IoU just above 0.45
    C = [f32(11 / 64 - 1 / 1024), 0.0, f32(11 / 64 - 1 / 1024 + 29 / 64), 1.0]
    iou2 = jaccard(A, C)
    print('/* C=%r iou=%r > 0.45f: %s */' % (C, iou2, iou2 > t))
    assert iou2 > t
    # and shifted right by 1/1024: just below (kept)
    D = [f32(11 / 64 + 1 / 1024), 0.0, f32(11 / 64 + 1 / 1024 + 29 / 64), 1.0]
    iou3 = jaccard(A, D)
    print('/* D=%r iou=%r < 0.45f: %s */' % (D, iou3, iou3 < t))
    assert iou3 < t
    # E: IoU with A below the threshold, with C (suppressed by A) above it; greedy NMS
    # compares only against kept boxes, so E must survive
    E = [f32(41 / 128), 0.0, f32(41 / 128 + 29 / 64), 1.0]
    print('/* E=%r iou(A,E)=%r iou(C,E)=%r */' % (E, jaccard(A, E), jaccard(C, E)))
    assert jaccard(A, E) < t < jaccard(C, E)
    for b in (A, B, C, D, E):
        print('/*   {%s} */' % ', '.join(cfloat(v) for v in b))


# ----------------------------------------------------------------- decode / encode
def decode(prior, var, loc):
    pw, ph = f32(prior[2] - prior[0]), f32(prior[3] - prior[1])
    pcx, pcy = f32(f32(prior[0] + prior[2]) / 2), f32(f32(prior[1] + prior[3]) / 2)
    cx = f32(f32(f32(var[0] * loc[0]) * pw) + pcx)
    cy = f32(f32(f32(var[1] * loc[1]) * ph) + pcy)
    w = f32(math.exp(f32(var[2] * loc[2])) * pw)
    h = f32(math.exp(f32(var[3] * loc[3])) * ph)
    return [f32(cx - w / 2), f32(cy - h / 2), f32(cx + w / 2), f32(cy + h / 2)]


def encode(prior, var, gt):
    # EncodeBBox, CENTER_SIZE, variance_encoded_in_target = false (T2), in double
    pw, ph = prior[2] - prior[0], prior[3] - prior[1]
    pcx, pcy = (prior[0] + prior[2]) / 2, (prior[1] + prior[3]) / 2
    gw, gh = gt[2] - gt[0], gt[3] - gt[1]
    gcx, gcy = (gt[0] + gt[2]) / 2, (gt[1] + gt[3]) / 2
    return [(gcx - pcx) / pw / var[0], (gcy - pcy) / ph / var[1],
            math.log(gw / pw) / var[2], math.log(gh / ph) / var[3]]


def gen_decode():
    print('/* ---- decode ---- */')
    var = [f32(0.1), f32(0.1), f32(0.2), f32(0.2)]
    prior = [f32(0.1), f32(0.2), f32(0.5), f32(0.6)]
    loc = [1.0, -2.0, 0.0, f32(math.log(2) / 0.2)]
    print('/* hand case: prior %r loc %r -> %r */' % (prior, loc, decode(prior, var, loc)))
    prior2 = [f32(0.8), f32(-0.1), f32(1.1), f32(0.3)]
    loc2 = [2.0, 0.0, 1.0, -1.0]
    print('/* out of [0,1]: prior %s loc %r -> {%s} */' % (
        prior2, loc2, ', '.join(cfloat(v) for v in decode(prior2, var, loc2))))
    gt = [0.2, 0.25, 0.7, 0.9]
    prior3 = [f32(0.3), f32(0.35), f32(0.6), f32(0.75)]
    l = encode(prior3, [0.1, 0.1, 0.2, 0.2], gt)
    print('/* round trip: prior {%s} gt %r -> loc {%s} */' % (
        ', '.join(cfloat(v) for v in prior3), gt, ', '.join(cfloat(v) for v in l)))
    print('/*   decoded back {%s} */' % ', '.join(cfloat(v) for v in decode(prior3, var, [f32(v) for v in l])))


# ----------------------------------------------------------------- conv (direct formula)
def conv(x, C, H, W, w, bias, cout, kh, kw, sh, sw, ph, pw, dh, dw, groups, relu):
    Ho = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    Wo = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    Cg, Mg = C // groups, cout // groups
    y = []
    for o in range(cout):
        g = o // Mg
        for i in range(Ho):
            for j in range(Wo):
                acc = bias[o] if bias else 0.0
                for c in range(g * Cg, (g + 1) * Cg):
                    for u in range(kh):
                        for v in range(kw):
                            r, q = i * sh - ph + u * dh, j * sw - pw + v * dw
                            if 0 <= r < H and 0 <= q < W:
                                acc += w[((o * Cg) + (c - g * Cg)) * kh * kw + u * kw + v] * x[(c * H + r) * W + q]
                y.append(max(acc, 0.0) if relu else acc)
    return Ho, Wo, y


def gen_conv():
    print('/* ---- conv ---- */')
    x = [float(i + 1) for i in range(16)]
    w = [float(k + 1) for k in range(9)]
    Ho, Wo, y = conv(x, 1, 4, 4, w, None, 1, 3, 3, 1, 1, 2, 2, 2, 2, 1, False)
    print('/* dilated: %dx%d {%s} */' % (Ho, Wo, ', '.join('%g' % v for v in y)))
    # groups = 2: C = 4 (2 per group), cout = 4 (2 per group), 2x2 kernel on 3x3, bias, relu
    x = [float((c * 9 + k) % 7 - 3) for c in range(4) for k in range(9)]
    w = [float((k * 5) % 9 - 4) for k in range(4 * 2 * 4)]
    b = [0.5, -1.0, 2.0, -30.0]
    Ho, Wo, y = conv(x, 4, 3, 3, w, b, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2, True)
    print('/* groups: x {%s} */' % ', '.join('%g' % v for v in x))
    print('/*   w {%s} */' % ', '.join('%g' % v for v in w))
    print('/*   %dx%d y {%s} */' % (Ho, Wo, ', '.join('%g' % v for v in y)))
    Ho, Wo, y = conv(x, 4, 3, 3, w, b, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2, False)
    print('/*   no relu y {%s} */' % ', '.join('%g' % v for v in y))


def gen_softmax():
    print('/* ---- softmax ---- */')
    for xs in ([1.0, 2.0, 3.0], [1000.0, 1001.0], [-5.0, 0.0, 5.0]):
        m = max(xs)
        e = [math.exp(v - m) for v in xs]
        s = sum(e)
        print('/* %r -> {%s} */' % (xs, ', '.join(cfloat(v / s) for v in e)))


def gen_preprocess():
    print('/* ---- preprocess 2x2 -> 4x4 ---- */')
    R = [[0, 128], [64, 32]]
    G = [[16, 48], [240, 80]]
    B = [[255, 0], [96, 160]]
    in_w = in_h = 2
    out_w = out_h = 4

    def coords(o, n_in, n_out):
        s = f32(f32(f32(o + 0.5) * f32(n_in / n_out)) - 0.5)
        s = max(s, 0.0)
        i0 = min(int(math.floor(s)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        return i0, i1, f32(s - i0)

    for name, P in (('R', R), ('G', G), ('B', B)):
        vals = []
        for y in range(out_h):
            y0, y1, fy = coords(y, in_h, out_h)
            for x in range(out_w):
                x0, x1, fx = coords(x, in_w, out_w)
                top = f32(f32((1 - fx) * P[y0][x0]) + f32(fx * P[y0][x1]))
                bot = f32(f32((1 - fx) * P[y1][x0]) + f32(fx * P[y1][x1]))
                vals.append(f32(f32((1 - fy) * top) + f32(fy * bot)))
        print('/* %s: {%s} */' % (name, ', '.join(cfloat(v) for v in vals)))


if __name__ == '__main__':
    what = sys.argv[1:] or ['priors', 'variants', 'iou', 'decode', 'conv', 'softmax', 'pre']
    for w in what:
        {'priors': gen_priors, 'variants': gen_prior_variants, 'iou': gen_iou,
         'decode': gen_decode, 'conv': gen_conv, 'softmax': gen_softmax,
         'pre': gen_preprocess}[w]()
