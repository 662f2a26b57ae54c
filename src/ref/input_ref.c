/* The INPUT node's data are written by the caller (a copy or PREPROCESS) before the
 * forward runs, so there is nothing to compute. */
#include "clssd_internal.h"

clssd_status clssd__input_ref(const clssd_ref_args *a)
{
    (void)a;
    return CLSSD_OK;
}
