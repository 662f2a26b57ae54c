/* CENTER_SIZE decode with per-prior variances (docs/ops.md, Caffe DecodeBBox with
 * variance_encoded_in_target = false). One work-item per (image, prior). The priors are one
 * batch-constant copy unless prior_stride says otherwise. Halving is a multiplication by
 * 0.5f: exact, and equal to the reference's division by 2 (OpenCL's '/' may be inexact). */
__kernel void clssd_decode(__global const float *loc, __global const float *prior,
                           __global float *out, const int P, const int n_total,
                           const int prior_stride)
{
    const int i = get_global_id(0);
    if (i >= n_total) return;
    const int b = i / P, p = i % P;
    __global const float *pr = prior + (size_t)b * (size_t)prior_stride;
    const float4 l = vload4(i, loc);
    const float4 pb = vload4(p, pr);
    const float4 v = vload4(p, pr + (size_t)P * 4);
    const float pw = pb.z - pb.x, ph = pb.w - pb.y;
    const float pcx = (pb.x + pb.z) * 0.5f, pcy = (pb.y + pb.w) * 0.5f;
    const float cx = v.x * l.x * pw + pcx;
    const float cy = v.y * l.y * ph + pcy;
    const float w = exp(v.z * l.z) * pw;
    const float h = exp(v.w * l.w) * ph;
    const float hw = w * 0.5f, hh = h * 0.5f;
    vstore4((float4)(cx - hw, cy - hh, cx + hw, cy + hh), i, out);
}
