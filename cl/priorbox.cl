/* Caffe PriorBox (docs/ops.md). One work-item per (cell, prior of the cell). The host passes
 * each prior's width and height (computed exactly as the reference does), so the kernel only
 * places them: cx = (w + offset) * step_w in float, then (cx -/+ bw / 2) / img_w. */

/* (a - h) / d for floats a, h, d > 0, nearly correctly rounded. The reference evaluates this
 * in higher precision and rounds once; here the difference is kept exactly as s + e (TwoSum)
 * and the quotient gets one fma-based correction, because OpenCL C allows '/' an error of
 * 5/2 ulp, which alone could exceed the test tolerance on values above one. */
float clssd_prior_coord(float a, float h, float d)
{
    const float s = a - h;
    const float bb = s - a;
    const float e = (a - (s - bb)) + (-h - bb);
    const float q = s / d;
    const float r = fma(-q, d, s) + e;
    return q + r / d;
}

__kernel void clssd_priorbox(__global float *out, const int W, const int H, const int np,
                             __global const float *sizes, const float img_w, const float img_h,
                             const float step_w, const float step_h, const float offset,
                             const int clip, const float4 var)
{
    const int i = get_global_id(0);
    if (i >= W * H * np) return;
    const int k = i % np, cell = i / np;
    const int w = cell % W, h = cell / W;
    const float cx = ((float)w + offset) * step_w;
    const float cy = ((float)h + offset) * step_h;
    const float hw = sizes[2 * k] * 0.5f, hh = sizes[2 * k + 1] * 0.5f;
    float4 b = (float4)(clssd_prior_coord(cx, hw, img_w), clssd_prior_coord(cy, hh, img_h),
                        clssd_prior_coord(cx, -hw, img_w), clssd_prior_coord(cy, -hh, img_h));
    if (clip) b = fmin(fmax(b, (float4)(0.0f)), (float4)(1.0f));
    vstore4(b, i, out);
    /* channel 1: the variances, right after the H*W*np*4 box values */
    vstore4(var, i + W * H * np, out);
}
