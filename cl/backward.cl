/* Backward passes (issue 6), checked against src/train/backward_ref.c. Every kernel writes each
 * of its outputs exactly once, as a gather over the forward's reads, so no atomics are needed
 * and the results do not depend on scheduling: a gradient is the same number on every run. */

/* ---------------------------------------------------------------- ReLU */

/* dx = dy * (x > 0 ? 1 : slope), and 0 where the capped op (max > 0) clamps: v >= max with v
 * the leaky output. x == 0 takes the slope (Caffe) and v == max passes nothing (TensorFlow's
 * Relu6Grad): the rules of clssd__relu_backward_ref. The convolution's fused activation uses
 * this kernel too, on the forward output y with slope 0: 0 < y < max is exactly 0 < z < max. */
__kernel void clssd_relu_backward(__global const float *x, __global const float *dy,
                                  __global float *dx, const int n, const float slope,
                                  const float max_v)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float xi = x[i];
    const float v = xi > 0.0f ? xi : xi * slope;
    const float d = xi > 0.0f ? 1.0f : slope;
    dx[i] = max_v > 0.0f && v >= max_v ? 0.0f : dy[i] * d;
}

/* ---------------------------------------------------------------- pooling */

/* The first output index whose window [o * s - p, o * s - p + k) contains position t, and
 * the last one below n_out. Windows are clipped the same way as clssd__pool_window: the
 * clipping only shortens a window, so containment of an in-image t is unchanged by it. */
inline int pool_first(const int t, const int k, const int s, const int p)
{
    /* o * s - p + k > t  <=>  o > (t + p - k) / s */
    const int a = t + p - k;
    return a < 0 ? 0 : a / s + 1;
}

/* Index (row * W + column) of the maximum of x over rows [hs, he) and columns [ws, we): the
 * forward's scan (row-major, strict >, from -FLT_MAX), so ties go to the first in scan order;
 * -1 when nothing exceeds -FLT_MAX (a window of -inf / -FLT_MAX / NaN). */
inline int window_argmax(__global const float *xp, const int W, const int hs,
                         const int ws, const int he, const int we)
{
    float v = -FLT_MAX;
    int arg = -1;
    for (int yy = hs; yy < he; yy++)
        for (int xx = ws; xx < we; xx++)
            if (xp[yy * W + xx] > v) {
                v = xp[yy * W + xx];
                arg = yy * W + xx;
            }
    return arg;
}

/* One work-item per input element (b, c, u, t): the sum over the output windows that hold
 * it, visited in the reference's order (row-major over outputs), so the float additions of
 * overlapping shares happen in the same order as in clssd__pool_backward_ref.
 * MAX: an output's gradient goes to its window's argmax, recomputed from x by the forward's
 * scan (row-major, strict >, from -FLT_MAX): ties go to the first in scan order, a window of
 * only -inf / -FLT_MAX / NaN passes nothing. AVE: dy / pool_size, Caffe's divisor that counts
 * the padding cells up to H + ph, W + pw. */
__kernel void clssd_pool_backward(__global const float *x, __global const float *dy,
                                  __global float *dx, const int n, const int H, const int W,
                                  const int Ho, const int Wo, const int kh, const int kw,
                                  const int sh, const int sw, const int ph, const int pw,
                                  const int method)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int t = i % W, u = (i / W) % H, plane = i / (W * H);
    __global const float *xp = x + (size_t)plane * (size_t)H * (size_t)W;
    __global const float *g = dy + (size_t)plane * (size_t)Ho * (size_t)Wo;
    const int i0 = pool_first(u, kh, sh, ph), i1 = min(Ho - 1, (u + ph) / sh);
    const int j0 = pool_first(t, kw, sw, pw), j1 = min(Wo - 1, (t + pw) / sw);
    float acc = 0.0f;
    for (int r = i0; r <= i1; r++)
        for (int q = j0; q <= j1; q++) {
            const int h0 = r * sh - ph, w0 = q * sw - pw;
            const int h1 = min(h0 + kh, H + ph), w1 = min(w0 + kw, W + pw);
            if (method == 0) {
                const int arg = window_argmax(xp, W, max(h0, 0), max(w0, 0), min(h1, H),
                                              min(w1, W));
                if (arg == u * W + t) acc += g[r * Wo + q];
            } else {
                acc += g[r * Wo + q] / (float)((h1 - h0) * (w1 - w0));
            }
        }
    dx[i] = acc;
}

/* MAX pooling whose windows do not overlap (kh <= sh, kw <= sw) and whose stride cells
 * [r*sh - ph, (r+1)*sh - ph) x [q*sw - pw, (q+1)*sw - pw) cover the input (the host checks
 * it; SSD's 2x2 / 2 pools): every input element lies in at most one window, so one
 * work-item per output writes its whole cell, dy at the window's argmax (the forward's
 * scan, as in clssd_pool_backward) and 0 elsewhere -- the same numbers as the gather
 * kernel (0.0f + g, as its sum), a quarter of the work-items and no search over windows. */
__kernel void clssd_pool_backward_max_cells(__global const float *x, __global const float *dy,
                                            __global float *dx, const int n_out, const int H,
                                            const int W, const int Ho, const int Wo,
                                            const int kh, const int kw, const int sh,
                                            const int sw, const int ph, const int pw)
{
    const int i = get_global_id(0);
    if (i >= n_out) return;
    const int q = i % Wo, r = (i / Wo) % Ho, plane = i / (Wo * Ho);
    __global const float *xp = x + (size_t)plane * (size_t)H * (size_t)W;
    __global float *dp = dx + (size_t)plane * (size_t)H * (size_t)W;
    const int h0 = r * sh - ph, w0 = q * sw - pw;
    const int hs = max(h0, 0), ws = max(w0, 0);
    const int he = min(min(h0 + kh, H + ph), H), we = min(min(w0 + kw, W + pw), W);
    const int arg = window_argmax(xp, W, hs, ws, he, we);
    const float g = 0.0f + dy[i];
    const int ce = min(h0 + sh, H), cwe = min(w0 + sw, W);
    for (int yy = hs; yy < ce; yy++)
        for (int xx = ws; xx < cwe; xx++) dp[yy * W + xx] = yy * W + xx == arg ? g : 0.0f;
}

/* ---------------------------------------------------------------- L2Norm */

/* across_spatial 0: one work-item per (image, pixel), the norm over its C channels:
 *   dx_k = s_k g_k / N - x_k (sum_j s_j g_j x_j) / N^3,   N = sqrt(sum x^2 + eps).
 * inv_norm[b * HW + p] = 1 / N is kept for the scale gradient (clssd_l2norm_dscale). */
__kernel void clssd_l2norm_backward_pixel(__global const float *x, __global const float *dy,
                                          __global const float *scale, const int channel_shared,
                                          const float eps, const int B, const int C,
                                          const int HW, __global float *dx, const int want_dx,
                                          __global float *inv_norm)
{
    const int i = get_global_id(0);
    if (i >= B * HW) return;
    const int b = i / HW, p = i - b * HW;
    const size_t base = (size_t)b * (size_t)C * (size_t)HW + (size_t)p;
    float ss = 0.0f, dot = 0.0f;
    for (int c = 0; c < C; c++) {
        const float xv = x[base + (size_t)c * (size_t)HW];
        ss += xv * xv;
        dot += scale[channel_shared ? 0 : c] * dy[base + (size_t)c * (size_t)HW] * xv;
    }
    const float norm = sqrt(ss + eps), inv = 1.0f / norm, inv3 = inv * inv * inv;
    inv_norm[i] = inv;
    if (!want_dx) return;
    for (int c = 0; c < C; c++) {
        const size_t k = base + (size_t)c * (size_t)HW;
        dx[k] = scale[channel_shared ? 0 : c] * dy[k] * inv - x[k] * dot * inv3;
    }
}

/* across_spatial 1: one work-group per image; the two sums are tree reductions over
 * CLSSD_WG lanes in a fixed order, so the result does not depend on scheduling. */
__kernel void clssd_l2norm_backward_image(__global const float *x, __global const float *dy,
                                          __global const float *scale,
                                          const int channel_shared, const float eps,
                                          const int C, const int HW, __global float *dx,
                                          const int want_dx, __global float *inv_norm)
{
    __local float ss_part[CLSSD_WG], dot_part[CLSSD_WG];
    const int b = get_group_id(0), lid = get_local_id(0), n = C * HW;
    __global const float *xi = x + (size_t)b * (size_t)n;
    __global const float *gi = dy + (size_t)b * (size_t)n;
    float ss = 0.0f, dot = 0.0f;
    for (int k = lid; k < n; k += CLSSD_WG) {
        ss += xi[k] * xi[k];
        dot += scale[channel_shared ? 0 : k / HW] * gi[k] * xi[k];
    }
    ss_part[lid] = ss;
    dot_part[lid] = dot;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = CLSSD_WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            ss_part[lid] += ss_part[lid + s];
            dot_part[lid] += dot_part[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / sqrt(ss_part[0] + eps), inv3 = inv * inv * inv;
    const float d = dot_part[0];
    if (lid == 0) inv_norm[b] = inv;
    if (!want_dx) return;
    __global float *dxi = dx + (size_t)b * (size_t)n;
    for (int k = lid; k < n; k += CLSSD_WG)
        dxi[k] = scale[channel_shared ? 0 : k / HW] * gi[k] * inv - xi[k] * d * inv3;
}

/* dscale[c] = sum over the batch and the positions of dy * x / N: one work-group per scale
 * value (channel_shared: one for all channels), lanes stride over (b, c, p) and a tree
 * reduction adds them up -- deterministic, no atomics. inv_norm is per (b, p) for
 * across_spatial 0, per b for across_spatial 1. */
__kernel void clssd_l2norm_dscale(__global const float *x, __global const float *dy,
                                  __global const float *inv_norm, const int across_spatial,
                                  const int channel_shared, const int B, const int C,
                                  const int HW, __global float *dscale)
{
    __local float part[CLSSD_WG];
    const int sc = get_group_id(0), lid = get_local_id(0);
    const int c0 = channel_shared ? 0 : sc, nc = channel_shared ? C : 1;
    const int per_img = nc * HW, n = B * per_img;
    float acc = 0.0f;
    for (int k = lid; k < n; k += CLSSD_WG) {
        const int b = k / per_img, r = k - b * per_img, c = c0 + r / HW, p = r % HW;
        const size_t e = ((size_t)b * (size_t)C + (size_t)c) * (size_t)HW + (size_t)p;
        acc += dy[e] * x[e] * inv_norm[across_spatial ? b : b * HW + p];
    }
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = CLSSD_WG / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) dscale[sc] = part[0];
}

/* ---------------------------------------------------------------- convolution */

/* The adjoint of clssd_im2col for one image and the output rows [row0, row0 + rows) it wrote
 * (n_cols = rows * Wo columns): dx[x_off + (c * H + y) * W + xx] gets the sum of
 * col[col_off + ((c * kh + u) * kw + v) * n_cols + (r - row0) * Wo + q] over the taps (u, v)
 * and outputs (r, q) in those rows that read input (y, xx): y = r * sh - ph + u * dh,
 * xx = q * sw - pw + v * dw. One work-item per input element of the rows [y0, y0 + ny) (a
 * gather, no atomics); accumulate = 0 overwrites them, 1 adds to them (the later chunks of a
 * tall image, whose reach the host narrows to y0, ny). Groups need nothing here: the column
 * rows of all groups are stacked in channel order, as im2col writes them. TensorFlow's extra
 * bottom/right padding needs nothing either: it only makes Ho, Wo larger, and the taps that
 * land in it belong to no input element. */
__kernel void clssd_col2im(__global const float *col, const ulong col_off, const int C,
                           const int H, const int W, const int kh, const int kw, const int sh,
                           const int sw, const int ph, const int pw, const int dh, const int dw,
                           const int Wo, const int row0, const int rows, const int y0,
                           const int ny, __global float *dx, const ulong x_off,
                           const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= C * ny * W) return;
    const int xx = i % W, y = y0 + (i / W) % ny, c = i / (W * ny);
    const size_t n_cols = (size_t)rows * (size_t)Wo;
    float acc = 0.0f;
    for (int u = 0; u < kh; u++) {
        const int ry = y + ph - u * dh; /* = r * sh */
        if (ry < 0 || ry % sh != 0) continue;
        const int r = ry / sh - row0;
        if (r < 0 || r >= rows) continue;
        for (int v = 0; v < kw; v++) {
            const int qx = xx + pw - v * dw;
            if (qx < 0 || qx % sw != 0) continue;
            const int q = qx / sw;
            if (q >= Wo) continue;
            acc += col[col_off + (size_t)((c * kh + u) * kw + v) * n_cols + (size_t)(r * Wo + q)];
        }
    }
    const size_t e = x_off + ((size_t)c * (size_t)H + (size_t)y) * (size_t)W + (size_t)xx;
    dx[e] = accumulate ? dx[e] + acc : acc;
}

/* dbias[o] = sum over the batch and the output positions of dz[b][o][p], in two passes
 * with fixed orders (deterministic, no atomics). Pass 1, one work-item per 256-float chunk
 * of a plane (b, o): the chunk's sum in float16 lanes, then the lanes in order, into
 * partial[(b*M + o)*nch + chunk]; with relu it first applies the convolution's fused
 * activation mask, dz = dy where 0 < y (< max_v when max_v > 0), else 0 (clssd_relu_backward
 * on y with slope 0), and writes dz out for the weight and input gradients -- one pass over
 * dy for both. A work-item per chunk of contiguous floats, not a work-group per channel
 * striding over the batch: in the tiny SSD's backward profile on PoCL, mask + bias went from
 * about a quarter of the convolution time to 3.5x less. */
#define CLSSD_BIAS_CHUNK 256

__kernel void clssd_bias_partial(__global const float *y, __global const float *dy,
                                 const int relu, const float max_v, __global float *dz,
                                 const int HW, const int nch, __global float *partial)
{
    const int ch = get_global_id(0), plane = get_global_id(1);
    if (ch >= nch) return;
    const size_t base = (size_t)plane * (size_t)HW;
    const int p1 = min(HW, (ch + 1) * CLSSD_BIAS_CHUNK);
    int p = ch * CLSSD_BIAS_CHUNK;
    float16 acc16 = (float16)(0.0f);
    for (; p + 16 <= p1; p += 16) {
        float16 g = vload16(0, dy + base + (size_t)p);
        if (relu) {
            const float16 yv = vload16(0, y + base + (size_t)p);
            const int16 pos = yv > (float16)(0.0f);
            const float16 v = select(yv * 0.0f, yv, pos);
            g = g * select((float16)(0.0f), (float16)(1.0f), pos);
            if (max_v > 0.0f) g = select(g, (float16)(0.0f), v >= (float16)(max_v));
            vstore16(g, 0, dz + base + (size_t)p);
        }
        acc16 += g;
    }
    float acc = 0.0f;
    for (; p < p1; p++) {
        float g = dy[base + (size_t)p];
        if (relu) {
            const float yv = y[base + (size_t)p];
            const float v = yv > 0.0f ? yv : yv * 0.0f;
            g = max_v > 0.0f && v >= max_v ? 0.0f : g * (yv > 0.0f ? 1.0f : 0.0f);
            dz[base + (size_t)p] = g;
        }
        acc += g;
    }
    const float8 h8 = acc16.lo + acc16.hi;
    const float4 h4 = h8.lo + h8.hi;
    const float2 h2 = h4.lo + h4.hi;
    partial[(size_t)plane * (size_t)nch + (size_t)ch] = (h2.x + h2.y) + acc;
}

/* Pass 2: dbias[o] = the partials of channel o over b and the chunks, in order. */
__kernel void clssd_bias_sum(__global const float *partial, const int B, const int M,
                             const int nch, __global float *dbias)
{
    const int o = get_global_id(0);
    if (o >= M) return;
    float acc = 0.0f;
    for (int b = 0; b < B; b++) {
        __global const float *pp = partial + ((size_t)b * (size_t)M + (size_t)o) * (size_t)nch;
        for (int c = 0; c < nch; c++) acc += pp[c];
    }
    dbias[o] = acc;
}

/* ---------------------------------------------------------------- graph plumbing (trainer) */
/* Kernels of src/train/trainer.c: the backward passes of the layout ops and the gradient
 * sums at fan-out points. `accumulate` adds into dst (a second consumer's share of a node's
 * gradient) instead of overwriting it. One work-item per destination element: no atomics. */

/* CONCAT axis 1, backward for one input: dx[b][k] (+)= dy[b * total + off + k], k < len. */
__kernel void clssd_concat_backward(__global const float *dy, const int total, const int off,
                                    __global float *dx, const int len, const int n,
                                    const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int b = i / len, k = i - b * len;
    const float v = dy[(size_t)b * (size_t)total + (size_t)(off + k)];
    dx[i] = accumulate ? dx[i] + v : v;
}

/* PERMUTE (NCHW -> NHWC) backward: dx[b][c][p] (+)= dy[b][p][c], p < HW. */
__kernel void clssd_permute_nhwc_backward(__global const float *dy, __global float *dx,
                                          const int n, const int C, const int HW,
                                          const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int per = C * HW, b = i / per, r = i - b * per, c = r / HW, p = r - c * HW;
    const float v = dy[(size_t)b * (size_t)per + (size_t)p * (size_t)C + (size_t)c];
    dx[i] = accumulate ? dx[i] + v : v;
}

/* dst += src over n elements: gradients that reach a buffer from several consumers. */
__kernel void clssd_grad_add(__global float *dst, __global const float *src, const int n)
{
    const int i = get_global_id(0);
    if (i < n) dst[i] += src[i];
}

/* Caffe's SGDSolver step for one parameter blob (Normalize, Regularize L2,
 * ComputeUpdateValue, Update), one work-item per element:
 *   g = grad * grad_scale + decay * w         (grad_scale = 1 / iter_size,
 *                                              decay = weight_decay * decay_mult)
 *   v = momentum * v + rate * g               (rate = lr * lr_mult)
 *   w = w - v
 * Caffe computes the same three steps with separate BLAS calls in this order, in float. */
__kernel void clssd_sgd_update(__global float *w, __global const float *grad,
                               __global float *v, const int n, const float grad_scale,
                               const float decay, const float momentum, const float rate)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float wi = w[i];
    const float g = grad[i] * grad_scale + decay * wi;
    const float vi = momentum * v[i] + rate * g;
    v[i] = vi;
    w[i] = wi - vi;
}
