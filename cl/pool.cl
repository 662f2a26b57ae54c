/* Max and average pooling with Caffe's window rules (see docs/ops.md). One work-item per
 * output element of [B, C, Ho, Wo]. */
__kernel void clssd_pool(__global const float *x, __global float *y, const int n_out,
                         const int C, const int H, const int W, const int Ho, const int Wo,
                         const int kh, const int kw, const int sh, const int sw, const int ph,
                         const int pw, const int method)
{
    const int i = get_global_id(0);
    if (i >= n_out) return;
    const int q = i % Wo;
    const int r = (i / Wo) % Ho;
    const int bc = i / (Wo * Ho); /* b * C + c */
    __global const float *plane = x + (size_t)bc * (size_t)(H * W);
    int hs = r * sh - ph, ws = q * sw - pw;
    if (method == 0) {
        const int he = min(hs + kh, H), we = min(ws + kw, W);
        hs = max(hs, 0);
        ws = max(ws, 0);
        float m = -FLT_MAX;
        for (int yy = hs; yy < he; yy++)
            for (int xx = ws; xx < we; xx++) m = fmax(m, plane[yy * W + xx]);
        y[i] = m;
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
        y[i] = s / (float)pool_size;
    }
}
