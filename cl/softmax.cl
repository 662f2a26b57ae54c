/* Softmax over groups of G consecutive values (the classes of one prior). One work-item per
 * group; subtracting the group maximum keeps exp() in range. The exponentials are stored in
 * y on the way and divided in place, so exp() runs once per value. */
__kernel void clssd_softmax(__global const float *x, __global float *y, const int n_groups,
                            const int G)
{
    const int g = get_global_id(0);
    if (g >= n_groups) return;
    __global const float *xi = x + (size_t)g * (size_t)G;
    __global float *yi = y + (size_t)g * (size_t)G;
    float m = xi[0];
    for (int k = 1; k < G; k++) m = fmax(m, xi[k]);
    float s = 0.0f;
    for (int k = 0; k < G; k++) {
        const float e = exp(xi[k] - m);
        yi[k] = e;
        s += e;
    }
    for (int k = 0; k < G; k++) yi[k] = yi[k] / s;
}
