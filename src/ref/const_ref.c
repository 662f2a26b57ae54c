/* Reference CONST: the weight tensor, once (the node is batch_const). */
#include <string.h>

#include "clssd_internal.h"

clssd_status clssd__const_ref(const clssd_ref_args *a)
{
    const clssd_node *n = a->node;
    if (!a->weight || !a->dst) return CLSSD_ERR_INVALID_ARG;
    const size_t count = clssd__shape_count(&n->out);
    /* dst was sized from n->out: refuse a tensor of another size */
    if (count == 0 || clssd__shape_count(&a->weight_shape) != count) return CLSSD_ERR_INVALID_ARG;
    memcpy(a->dst, a->weight, count * sizeof(float));
    return CLSSD_OK;
}
