/* libclssd OpenCL interop: wrap a cl_context / cl_command_queue the application owns.
 * Includes CL/cl.h; the plain API in clssd.h does not need it. */
#ifndef CLSSD_CL_H
#define CLSSD_CL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "clssd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a libclssd context on the caller's objects. libclssd retains them (clRetain*) and
 * releases them on clssd_context_destroy(); the caller keeps its own references. The queue
 * must be in-order and belong to `context` and `device`. params may be NULL (only cache_dir,
 * flags and log are read from it). */
CLSSD_API clssd_status clssd_context_create_from_cl(cl_context context, cl_device_id device,
                                                    cl_command_queue queue,
                                                    const clssd_context_params *params,
                                                    clssd_context **out);

/* The objects a context runs on (not retained for the caller). */
CLSSD_API clssd_status clssd_context_get_cl(const clssd_context *ctx, cl_context *context,
                                            cl_device_id *device, cl_command_queue *queue);

#ifdef __cplusplus
}
#endif
#endif /* CLSSD_CL_H */
