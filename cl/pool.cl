/* Max and average pooling with Caffe's window rules (see docs/ops.md). One work-item per
 * output row of [B, C, Ho, Wo]: an element per work-item cost more in index arithmetic than
 * in pooling on CPU devices (pool1 of SSD300: 6.3 ms on PoCL). */
inline float pool_one(__global const float *plane, const int r, const int q, const int H,
                      const int W, const int kh, const int kw, const int sh, const int sw,
                      const int ph, const int pw, const int method)
{
    int hs = r * sh - ph, ws = q * sw - pw;
    if (method == 0) {
        const int he = min(hs + kh, H), we = min(ws + kw, W);
        hs = max(hs, 0);
        ws = max(ws, 0);
        float m = -FLT_MAX;
        for (int yy = hs; yy < he; yy++)
            for (int xx = ws; xx < we; xx++) m = fmax(m, plane[yy * W + xx]);
        return m;
    } else {
        int he = min(hs + kh, H + ph), we = min(ws + kw, W + pw);
        const int pool_size = (he - hs) * (we - ws);
        hs = max(hs, 0);
        ws = max(ws, 0);
        he = min(he, H);
        we = min(we, W);
        float s = 0.0f;
        for (int yy = hs; yy < he; yy++)
            for (int xx = ws; xx < we; xx++) s += plane[yy * W + xx];
        return s / (float)pool_size;
    }
}

__kernel void clssd_pool(__global const float *x, __global float *y, const int n_rows,
                         const int C, const int H, const int W, const int Ho, const int Wo,
                         const int kh, const int kw, const int sh, const int sw, const int ph,
                         const int pw, const int method)
{
    const int row = get_global_id(0); /* (b * C + c) * Ho + r */
    if (row >= n_rows) return;
    const int r = row % Ho, bc = row / Ho;
    __global const float *plane = x + (size_t)bc * (size_t)H * (size_t)W;
    __global float *out = y + (size_t)row * (size_t)Wo;
    /* VGG's 2x2 stride-2 max pool: 16 outputs from two rows of 32 inputs as vectors while
     * the window lies inside the plane (the same fmax chain from -FLT_MAX as pool_one) */
    const int vgg = method == 0 && kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 &&
                    pw == 0 && 2 * r + 1 < H;
    int q = 0;
    if (vgg) {
        __global const float *r0 = plane + (size_t)(2 * r) * (size_t)W, *r1 = r0 + W;
        for (; q + 16 <= Wo && 2 * q + 32 <= W; q += 16) {
            const float16 a0 = vload16(0, r0 + 2 * q), a1 = vload16(1, r0 + 2 * q);
            const float16 b0 = vload16(0, r1 + 2 * q), b1 = vload16(1, r1 + 2 * q);
            const float16 top_l = (float16)(a0.even, a1.even), top_r = (float16)(a0.odd, a1.odd);
            const float16 bot_l = (float16)(b0.even, b1.even), bot_r = (float16)(b0.odd, b1.odd);
            float16 m = fmax((float16)(-FLT_MAX), top_l);
            m = fmax(m, top_r);
            m = fmax(m, bot_l);
            m = fmax(m, bot_r);
            vstore16(m, 0, out + q);
        }
    }
    for (; q < Wo; q++) out[q] = pool_one(plane, r, q, H, W, kh, kw, sh, sw, ph, pw, method);
}
