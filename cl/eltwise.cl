/* Element-wise ops. */

/* Leaky ReLU, then capped at `cap` when cap > 0 (RELU's `max`, ReLU6); the same comparisons
 * as the reference, so NaN goes through both alike. */
__kernel void clssd_relu(__global const float *x, __global float *y, const int n,
                         const float slope, const float cap)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[i];
    const float r = v > 0.0f ? v : v * slope;
    y[i] = cap > 0.0f && r > cap ? cap : r;
}

/* Caffe Eltwise, one input at a time: first == 1 starts y from x, otherwise y is combined
 * with x. PROD = 0, SUM = 1 (y += coeff * x), MAX = 2. */
__kernel void clssd_eltwise_acc(__global const float *x, __global float *y, const int n,
                                const int method, const float coeff, const int first)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[i];
    if (first) {
        y[i] = method == 1 ? coeff * v : v;
    } else {
        const float a = y[i];
        y[i] = method == 0 ? a * v : method == 1 ? a + coeff * v : fmax(a, v);
    }
}

/* Per-channel affine y = x * s[c] (+ b[c]) over [B, C, HW]. */
__kernel void clssd_scale_channel(__global const float *x, __global float *y, const int n,
                                  const int C, const int HW, __global const float *s,
                                  __global const float *b, const int has_bias)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const int c = (i / HW) % C;
    float v = x[i] * s[c];
    if (has_bias) v += b[c];
    y[i] = v;
}

/* Logistic sigmoid y = 1 / (1 + exp(-x)). exp() only ever sees -|x| <= 0, so it cannot
 * overflow to inf for large |x| (exp(100) is inf in float); for x < 0 the equivalent
 * e / (1 + e) with e = exp(x) is used. Same branches and operation order as the reference. */
__kernel void clssd_sigmoid(__global const float *x, __global float *y, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[i];
    const float e = exp(-fabs(v));
    y[i] = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}
