/* hook_api.c - the public C API (include/flopmeter/flopmeter.h): thin, exported wrappers over
 * the collector. They work whatever the collector's state: phases and declarations made before
 * CUDA starts are kept and written once the trace exists; after the trace is closed, or when
 * the hook is off, they change nothing the program can see. */
#include "flopmeter/flopmeter.h"

#include "hook_core.h"
#include "flopmeter/trace_format.h"

#define FM_EXPORT __attribute__((visibility("default")))

FM_EXPORT int flopmeter_phase_push(const char *name)
{
    if (!name || !*name)
        return 0;
    return fm_hook_phase_push(name, -1);
}

FM_EXPORT int flopmeter_phase_push_category(const char *name, int category)
{
    if (!name || !*name)
        return 0;
    if (category < 0 || category > FM_PHASE_CATEGORY_MAX)
        category = -1; /* unknown category: from the name, as for flopmeter_phase_push */
    return fm_hook_phase_push(name, category);
}

FM_EXPORT int flopmeter_phase_pop(void)
{
    return fm_hook_phase_pop();
}

FM_EXPORT int flopmeter_declare(const char *key, double value, const char *text)
{
    return fm_hook_declare(key, value, text);
}

FM_EXPORT int flopmeter_step(double tokens)
{
    return fm_hook_step(tokens);
}

FM_EXPORT int flopmeter_active(void)
{
    return fm_hook_state() == FM_HOOK_RUNNING;
}

FM_EXPORT const char *flopmeter_trace_path(void)
{
    return fm_hook_trace_path();
}
