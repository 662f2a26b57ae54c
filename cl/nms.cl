/* Caffe DetectionOutput NMS on the device, bit-exact with the plain-C reference (docs/ops.md,
 * conformance D3-D7). Three kernels:
 *   clssd_nms_keys    score -> order-preserving uint key per (image, class, prior), 0 = not a
 *                     candidate (score <= conf_thresh). Transposed so that each class reads
 *                     its keys contiguously.
 *   clssd_nms_class   one work-group per (image, class): radix-select the top_k-th key,
 *                     ordered compaction (ties keep the lowest prior indices), bitonic sort by
 *                     (key desc, prior asc), blocked greedy NMS. Writes [count, kept priors].
 *   clssd_nms_gather  one work-group per image: keep_top_k over all classes by (score desc,
 *                     label asc, prior asc) and the output rows grouped by ascending label.
 * Every loop that contains a barrier has a trip count that is the same for the whole
 * work-group. The host picks a power-of-two work-group size <= NMS_MAXWG. */
#define NMS_MAXWG 256
#define NMS_LSORT 1024 /* candidate lists up to this length are sorted in local memory */
#define NMS_MASKW (NMS_MAXWG / 32)
/* clssd_nms_class carves one local array (uints) per phase: select (hist + 2 scans = 768),
 * local sort (2 * NMS_LSORT = 2048), NMS (boxes 4 * WG, flags WG, masks WG * WG / 32). */
#define NMS_LM_SUP (4 * NMS_MAXWG)
#define NMS_LM_MASK (5 * NMS_MAXWG)
#define NMS_LM (5 * NMS_MAXWG + NMS_MAXWG * NMS_MASKW)

/* Order-preserving key of a candidate score: equal floats give equal keys (-0 == +0), larger
 * floats larger keys, and 0 is left for "not a candidate" (strict score > thresh, D3). */
uint clssd_nms_key(float s, float thresh)
{
    if (!(s > thresh)) return 0u;
    if (s == 0.0f) return 0x80000000u;
    const uint u = as_uint(s);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Knuth's TwoSum: s + e == a + b exactly (FP_CONTRACT is off, so nothing is fused). */
void clssd_nms_two_sum(float a, float b, float *s, float *e)
{
    const float x = a + b;
    const float bb = x - a;
    *e = (a - (x - bb)) + (b - bb);
    *s = x;
}

/* Decides fl(inter / uni) <= t exactly as the reference's correctly rounded division would.
 * OpenCL C allows '/' an error of 5/2 ulp, and one ulp at IoU == nms_thresh flips a box.
 * fl(q) <= t  <=>  q below the midpoint m = t + ulp/2 (at m: ties to even), and the sign of
 * inter - m * uni is computed exactly: t * uni = p + pe (fma), (ulp/2) * uni is exact, and
 * the four terms are summed into a non-overlapping expansion whose largest nonzero
 * component carries the sign (Shewchuk's Grow-Expansion). */
int clssd_nms_iou_le(float inter, float uni, float t)
{
    if (!(uni > 0.0f) || isinf(uni) || !(inter >= 0.0f) || isinf(inter) || !(t >= FLT_MIN) ||
        !(t < 2.0f))
        return inter / uni <= t; /* special values, t == 0, or IoU <= 1 < t */
    /* Fast path: farther than 2^-18 (relative) from t, rounding cannot cross it: the
     * rounding of t * uni, of the band and of the quotient is 2^-24 each. */
    const float p = t * uni;
    if (p >= 1e-30f) {
        const float band = p * 3.814697265625e-6f; /* 2^-18, exact */
        if (inter < p - band) return 1;
        if (inter > p + band) return 0;
    }
    const float h = (nextafter(t, INFINITY) - t) * 0.5f;
    const float pe = fma(t, uni, -p);
    const float hb = h * uni;
    float e0, e1, q, g0, g1, g2;
    clssd_nms_two_sum(inter, -p, &e1, &e0);    /* [e0, e1] = inter - p */
    clssd_nms_two_sum(-pe, e0, &q, &g0);         /* grow with -pe */
    clssd_nms_two_sum(q, e1, &q, &g1);           /* [g0, g1, q] */
    clssd_nms_two_sum(-hb, g0, &e0, &g0);        /* grow with -hb */
    clssd_nms_two_sum(e0, g1, &e0, &g1);
    clssd_nms_two_sum(e0, q, &q, &g2);           /* [g0, g1, g2, q] */
    float top = q;
    if (top == 0.0f) top = g2;
    if (top == 0.0f) top = g1;
    if (top == 0.0f) top = g0;
    if (top != 0.0f) return top < 0.0f;
    return (as_uint(t) & 1u) == 0u; /* exactly the midpoint: ties to even */
}

float clssd_nms_area(float4 b)
{
    return (b.z < b.x || b.w < b.y) ? 0.0f : (b.z - b.x) * (b.w - b.y);
}

/* IoU(kept k, candidate c) <= t with the formula of docs/ops.md (no +1, zero area for
 * inverted boxes), written as the reference writes it so that even NaN and infinite
 * coordinates (decoded from wild logits) give the same answer: disjoint boxes have IoU 0
 * without a division (two empty boxes would give 0 / 0 = NaN and suppress), and min/max
 * are the reference's comparisons, not fmin/fmax, which treat NaN differently. */
int clssd_nms_iou_ok(float4 k, float ak, float4 c, float ac, float t)
{
    if (k.x > c.z || k.z < c.x || k.y > c.w || k.w < c.y) return 0.0f <= t;
    const float x1 = c.x > k.x ? c.x : k.x, y1 = c.y > k.y ? c.y : k.y;
    const float x2 = c.z < k.z ? c.z : k.z, y2 = c.w < k.w ? c.w : k.w;
    const float inter = (x2 - x1) * (y2 - y1);
    return clssd_nms_iou_le(inter, ac + ak - inter, t);
}

/* Inclusive prefix sums of a[0, wg) and b[0, wg) in place (Hillis-Steele). */
void clssd_nms_scan2(__local uint *a, __local uint *b, int lid, int wg)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int off = 1; off < wg; off <<= 1) {
        const uint x = lid >= off ? a[lid - off] : 0u;
        const uint y = lid >= off ? b[lid - off] : 0u;
        barrier(CLK_LOCAL_MEM_FENCE);
        a[lid] += x;
        b[lid] += y;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Radix-select step (one work-item): find the byte at `shift` of the rem-th largest key
 * among the histogrammed ones; sh[1] accumulates the key prefix, sh[2] the rank left. */
void clssd_nms_walk(__local const uint *hist, __local uint *sh, int shift)
{
    uint r = sh[2];
    int d = 255;
    while (d > 0 && hist[d] < r) {
        r -= hist[d];
        d--;
    }
    sh[1] |= (uint)d << shift;
    sh[2] = r;
}

/* (key desc, prior asc): the reference's stable descending sort by score. */
int clssd_nms_before(uint ka, uint pa, uint kb, uint pb)
{
    return ka > kb || (ka == kb && pa < pb);
}

/* One compare-exchange stage of a bitonic sort of L (a power of two) entries. OpenCL 1.2 has
 * no generic address space, so one body is instantiated for local and for global memory. */
#define CLSSD_NMS_SORT_STEP(NAME, SPACE)                                                         \
    void NAME(SPACE uint *k, SPACE uint *v, int L, int size, int stride, int lid, int wg)        \
    {                                                                                            \
        for (int t = lid; t < L / 2; t += wg) {                                                  \
            const int i = 2 * t - (t & (stride - 1)), j = i + stride;                            \
            const uint ka = k[i], kb = k[j], va = v[i], vb = v[j];                               \
            const int up = (i & size) == 0;                                                      \
            if (up ? clssd_nms_before(kb, vb, ka, va) : clssd_nms_before(ka, va, kb, vb)) {      \
                k[i] = kb;                                                                       \
                k[j] = ka;                                                                       \
                v[i] = vb;                                                                       \
                v[j] = va;                                                                       \
            }                                                                                    \
        }                                                                                        \
    }
CLSSD_NMS_SORT_STEP(clssd_nms_sort_step_local, __local)
CLSSD_NMS_SORT_STEP(clssd_nms_sort_step_global, __global)

/* keys[(b * Cn + ci) * P + p] (keys = ws + keys_off) for the Cn non-background classes.
 * Global size (P, B * Cn). */
__kernel void clssd_nms_keys(__global const float *conf, __global uint *ws, const uint keys_off,
                             const int P, const int C, const int Cn, const int bg,
                             const int n_rows, const int conf_stride, const float thresh)
{
    __global uint *keys = ws + keys_off;
    const int p = get_global_id(0), row = get_global_id(1);
    if (p >= P || row >= n_rows) return;
    const int b = row / Cn, ci = row % Cn;
    const int c = (bg >= 0 && ci >= bg) ? ci + 1 : ci;
    const float s = conf[(size_t)b * (size_t)conf_stride + (size_t)p * (size_t)C + (size_t)c];
    keys[(size_t)row * (size_t)P + (size_t)p] = clssd_nms_key(s, thresh);
}

/* One work-group per (image, class) row g0 + group id. Workspace: res = ws + row * (K + 1)
 * gets [count, kept prior indices in NMS order]; the group's slot (ws + slot_base + group id
 * * slot_uints) holds K kept boxes (float4), then Lmax sort keys and Lmax priors. */
__kernel void clssd_nms_class(__global uint *ws, const uint keys_off,
                              __global const float *boxes, const int box_stride, const int P,
                              const int Cn, const int K, const float nms_thresh, const int g0,
                              const uint slot_base, const uint slot_uints, const int Lmax)
{
    __local uint lm[NMS_LM];
    __local uint sh[4];
    const int lid = get_local_id(0), wg = get_local_size(0);
    const int row = g0 + get_group_id(0);
    const int b = row / Cn;
    __global const uint *key = ws + keys_off + (size_t)row * (size_t)P;
    __global const float *bx = boxes + (size_t)b * (size_t)box_stride;
    __global uint *res = ws + (size_t)row * (size_t)(K + 1);
    __global uint *slot = ws + slot_base + (size_t)get_group_id(0) * slot_uints;
    __global float *kbox = (__global float *)slot;
    __global uint *skey = slot + (size_t)K * 4;
    __global uint *spri = skey + Lmax;
    __local uint *hist = lm, *sa = lm + 256, *sb = lm + 512;

    /* (1) candidates: count them and histogram the top byte of their keys */
    for (int i = lid; i < 256; i += wg) hist[i] = 0u;
    if (lid == 0) {
        sh[0] = 0u;
        sh[1] = 0u;
        sh[2] = (uint)K;
        sh[3] = 0u;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint cnt = 0u;
    for (int p = lid; p < P; p += wg) {
        const uint k = key[p];
        if (k) {
            cnt++;
            atomic_inc(&hist[k >> 24]);
        }
    }
    if (cnt) atomic_add(&sh[0], cnt);
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint nvalid = sh[0];

    /* (2) more than top_k: radix-select the K-th largest key, one byte per pass. Afterwards
     * the keys > kth are K - rem candidates and the first rem keys == kth complete them.
     * The passes always run (idle when not needed): PoCL compiles barriers inside branches
     * very slowly, so every barrier of this kernel sits at the top level of a loop body. */
    const int need = nvalid > (uint)K;
    for (int shift = 24; shift >= 0; shift -= 8) {
        const int pass = need && shift < 24;
        const uint mask = pass ? 0xFFFFFFFFu << (shift + 8) : 0u, prefix = sh[1];
        if (pass)
            for (int i = lid; i < 256; i += wg) hist[i] = 0u;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (pass)
            for (int p = lid; p < P; p += wg) {
                const uint k = key[p];
                if (k && (k & mask) == prefix) atomic_inc(&hist[(k >> shift) & 255u]);
            }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (need && lid == 0) clssd_nms_walk(hist, sh, shift);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const uint kth = need ? sh[1] : 0u, rem = need ? sh[2] : 0u;
    const int n = (int)min(nvalid, (uint)K); /* 0: every loop below is empty */

    /* (3) ordered compaction into skey/spri: each work-item owns a contiguous prior range, so
     * one scan of its counts gives every position; ties at kth go to the lowest priors. */
    const int R = (P + wg - 1) / wg, lo = min(lid * R, P), hi = min(lo + R, P);
    uint gt = 0u, eq = 0u;
    for (int p = lo; p < hi; p++) {
        const uint k = key[p];
        gt += k > kth ? 1u : 0u;
        eq += (rem != 0u && k == kth) ? 1u : 0u;
    }
    sa[lid] = gt;
    sb[lid] = eq;
    clssd_nms_scan2(sa, sb, lid, wg);
    uint gt_run = sa[lid] - gt, eq_run = sb[lid] - eq;
    for (int p = lo; p < hi; p++) {
        const uint k = key[p];
        if (k > kth) {
            const uint pos = gt_run + min(eq_run, rem);
            skey[pos] = k;
            spri[pos] = (uint)p;
            gt_run++;
        } else if (rem != 0u && k == kth) {
            if (eq_run < rem) {
                skey[gt_run + eq_run] = k;
                spri[gt_run + eq_run] = (uint)p;
            }
            eq_run++;
        }
    }
    int L = 1;
    while (L < n) L <<= 1;
    for (int i = n + lid; i < L; i += wg) {
        skey[i] = 0u; /* padding sorts last */
        spri[i] = 0xFFFFFFFFu;
    }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);

    /* (4) sort by (key desc, prior asc), in local memory when the list fits */
    const int use_local = L <= NMS_LSORT;
    __local uint *lk = lm, *lp = lm + NMS_LSORT;
    if (use_local)
        for (int i = lid; i < L; i += wg) {
            lk[i] = skey[i];
            lp[i] = spri[i];
        }
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    for (int size = 2; size <= L; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            if (use_local)
                clssd_nms_sort_step_local(lk, lp, L, size, stride, lid, wg);
            else
                clssd_nms_sort_step_global(skey, spri, L, size, stride, lid, wg);
            barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
        }
    if (use_local)
        for (int i = lid; i < n; i += wg) spri[i] = lp[i];
    barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);

    /* (5) greedy NMS in blocks of wg candidates: (a) each candidate against the boxes kept by
     * earlier blocks, in parallel; (b) masks of the IoU conflicts inside the block; (c) one
     * work-item resolves the block in order. Kept boxes go to kbox, kept priors to res. */
    __local uint *lsup = lm + NMS_LM_SUP, *lmask = lm + NMS_LM_MASK;
    const int W = (wg + 31) / 32;
    for (int i0 = 0; i0 < n; i0 += wg) {
        const int j = i0 + lid;
        const uint kept = sh[3];
        float4 bj = (float4)(0.0f);
        float aj = 0.0f;
        int sup = 1;
        if (j < n) {
            bj = vload4(spri[j], bx);
            aj = clssd_nms_area(bj);
            sup = 0;
            for (uint q = 0u; q < kept && !sup; q++) {
                const float4 kb = vload4(q, kbox);
                sup = !clssd_nms_iou_ok(kb, clssd_nms_area(kb), bj, aj, nms_thresh);
            }
        }
        lm[4 * lid] = as_uint(bj.x);
        lm[4 * lid + 1] = as_uint(bj.y);
        lm[4 * lid + 2] = as_uint(bj.z);
        lm[4 * lid + 3] = as_uint(bj.w);
        lsup[lid] = (uint)sup;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int w = 0; w < W; w++) {
            uint bits = 0u;
            if (!sup) {
                const int m1 = min(lid, 32 * w + 32);
                for (int m = 32 * w; m < m1; m++) {
                    if (lsup[m]) continue;
                    const float4 bm = (float4)(as_float(lm[4 * m]), as_float(lm[4 * m + 1]),
                                               as_float(lm[4 * m + 2]), as_float(lm[4 * m + 3]));
                    if (!clssd_nms_iou_ok(bm, clssd_nms_area(bm), bj, aj, nms_thresh))
                        bits |= 1u << (m & 31);
                }
            }
            lmask[lid * W + w] = bits;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            uint kb[NMS_MASKW];
            for (int w = 0; w < NMS_MASKW; w++) kb[w] = 0u;
            uint kc = sh[3];
            const int bn = min(wg, n - i0);
            for (int m = 0; m < bn; m++) {
                if (lsup[m]) continue;
                uint hit = 0u;
                for (int w = 0; w <= (m >> 5); w++) hit |= lmask[m * W + w] & kb[w];
                if (hit) continue;
                kb[m >> 5] |= 1u << (m & 31);
                vstore4((float4)(as_float(lm[4 * m]), as_float(lm[4 * m + 1]),
                                 as_float(lm[4 * m + 2]), as_float(lm[4 * m + 3])),
                        kc, kbox);
                res[1 + kc] = spri[i0 + m];
                kc++;
            }
            sh[3] = kc;
        }
        barrier(CLK_GLOBAL_MEM_FENCE | CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) res[0] = sh[3];
}

/* One work-group per image: keep_top_k (keep >= 0) over the per-class lists and the output
 * rows [label, score, xmin, ymin, xmax, ymax, prior] after the count row. Each class list is
 * already in (key desc, prior asc) order, so the kept part of a class is a prefix of it. */
__kernel void clssd_nms_gather(__global const uint *ws, const uint keys_off,
                               __global const float *boxes, const int box_stride,
                               __global const float *conf, const int conf_stride, const int C,
                               const int bg, const int P, const int Cn, const int K,
                               const int keep, __global float *out, const int out_stride)
{
    __local uint hist[256], sa[NMS_MAXWG], sb[NMS_MAXWG], lsel[NMS_MAXWG], loff[NMS_MAXWG];
    __local uint sh[4];
    const int lid = get_local_id(0), wg = get_local_size(0), b = get_group_id(0);
    const size_t row0 = (size_t)b * (size_t)Cn, stride = (size_t)K + 1;
    __global const uint *res0 = ws + row0 * stride;
    __global const uint *key0 = ws + keys_off + row0 * (size_t)P;
    __global const float *bx = boxes + (size_t)b * (size_t)box_stride;
    __global const float *cf = conf + (size_t)b * (size_t)conf_stride;
    __global float *o = out + (size_t)b * (size_t)out_stride;

    if (lid == 0) {
        sh[0] = 0u;
        sh[1] = 0u;
        sh[2] = (uint)keep;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint t = 0u;
    for (int ci = lid; ci < Cn; ci += wg) t += res0[(size_t)ci * stride];
    if (t) atomic_add(&sh[0], t);
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint total = sh[0];

    /* more than keep: radix-select the keep-th largest key (passes idle otherwise, as in
     * clssd_nms_class); keep == 0 selects nothing, fewer than keep selects every key (> 0) */
    const int need = total > (uint)keep && keep > 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        const uint mask = shift == 24 ? 0u : 0xFFFFFFFFu << (shift + 8), prefix = sh[1];
        if (need)
            for (int i = lid; i < 256; i += wg) hist[i] = 0u;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (need)
            for (int ci = 0; ci < Cn; ci++) {
                __global const uint *r = res0 + (size_t)ci * stride;
                __global const uint *kc = key0 + (size_t)ci * (size_t)P;
                const uint cnt = r[0];
                for (uint q = (uint)lid; q < cnt; q += (uint)wg) {
                    const uint k = kc[r[1 + q]];
                    if (k && (k & mask) == prefix) atomic_inc(&hist[(k >> shift) & 255u]);
                }
            }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (need && lid == 0) clssd_nms_walk(hist, sh, shift);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const uint kth = need ? sh[1] : total > (uint)keep ? 0xFFFFFFFFu : 0u;
    const uint rem = need ? sh[2] : 0u;

    /* per class: gt = entries with key > kth (a prefix), eq = entries == kth right after it;
     * the rem ties are taken in label order, so with the exclusive sums over the classes
     * before, the class keeps gt + (min(eq_before + eq, rem) - min(eq_before, rem)) rows. */
    uint run_gt = 0u, run_eq = 0u;
    for (int c0 = 0; c0 < Cn; c0 += wg) {
        const int ci = c0 + lid;
        uint gt = 0u, eq = 0u;
        if (ci < Cn) {
            __global const uint *r = res0 + (size_t)ci * stride;
            __global const uint *kc = key0 + (size_t)ci * (size_t)P;
            const uint cnt = r[0];
            uint a = 0u, z = cnt;
            while (a < z) {
                const uint mid = (a + z) >> 1;
                if (kc[r[1 + mid]] > kth) a = mid + 1u;
                else z = mid;
            }
            gt = a;
            if (rem != 0u) {
                z = cnt;
                while (a < z) {
                    const uint mid = (a + z) >> 1;
                    if (kc[r[1 + mid]] >= kth) a = mid + 1u;
                    else z = mid;
                }
                eq = a - gt;
            }
        }
        sa[lid] = gt;
        sb[lid] = eq;
        clssd_nms_scan2(sa, sb, lid, wg);
        const uint eb = run_eq + sb[lid] - eq;
        lsel[lid] = gt + (min(eb + eq, rem) - min(eb, rem));
        loff[lid] = run_gt + sa[lid] - gt + min(eb, rem);
        run_gt += sa[wg - 1];
        run_eq += sb[wg - 1];
        barrier(CLK_LOCAL_MEM_FENCE);
        const int nc = min(wg, Cn - c0);
        for (int q = 0; q < nc; q++) {
            const uint sel = lsel[q], off = loff[q];
            const int cq = c0 + q;
            const int label = (bg >= 0 && cq >= bg) ? cq + 1 : cq;
            __global const uint *r = res0 + (size_t)cq * stride;
            for (uint i = (uint)lid; i < sel; i += (uint)wg) {
                const uint prior = r[1 + i];
                const float4 bb = vload4(prior, bx);
                __global float *row = o + (size_t)(1u + off + i) * 7;
                row[0] = (float)label;
                row[1] = cf[(size_t)prior * (size_t)C + (size_t)label];
                row[2] = bb.x;
                row[3] = bb.y;
                row[4] = bb.z;
                row[5] = bb.w;
                row[6] = (float)prior;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        o[0] = (float)(run_gt + min(run_eq, rem));
        for (int i = 1; i < 7; i++) o[i] = 0.0f;
    }
}
