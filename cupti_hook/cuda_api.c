/* cuda_api.c - finds the CUDA driver and CUPTI at run time (see cuda_api.h). */
#define _GNU_SOURCE
#include "cuda_api.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flopmeter/trace_format.h"

fm_cuda_api fm_api;

/* A library of this process whose file name starts with prefix, if one is loaded. */
static int find_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    char **want = data;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (strncmp(base, "libcupti.so", 11) == 0) {
        *want = strdup(name);
        return 1;
    }
    return 0;
}

static void *open_cupti(char *path, size_t len)
{
    char *loaded = NULL;
    dl_iterate_phdr(find_loaded, &loaded);
    void *h = NULL;
    if (loaded) { /* the program's own copy (PyTorch's): use it, never load a second */
        h = dlopen(loaded, RTLD_NOW | RTLD_NOLOAD);
        snprintf(path, len, "%s", loaded);
        free(loaded);
        if (h)
            return h;
    }
    const char *configured = getenv("FLOPMETER_CUPTI");
    static const char *const names[] = {"libcupti.so.13", "libcupti.so.12", "libcupti.so"};
    if (configured && *configured) {
        snprintf(path, len, "%s", configured);
        return dlopen(configured, RTLD_NOW | RTLD_LOCAL);
    }
    for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (h)
            snprintf(path, len, "%s", names[i]);
    }
    return h;
}

/* CUPTI, or NULL with the one-line reason in err. */
static void *open_cupti_or_say(char *err, size_t errlen)
{
    void *cupti = open_cupti(fm_api.cupti_path, sizeof fm_api.cupti_path);
    if (!cupti)
        snprintf(err, errlen, "CUPTI not found (%s); set FLOPMETER_CUPTI to libcupti.so's path",
                 dlerror());
    return cupti;
}

/* A set of optional functions, resolved all or none, so that one pointer tells whether the
 * set exists. 0 when all were found. */
typedef struct wanted_fn {
    const char *name;
    void **slot;
} wanted_fn;

static int resolve_all_or_none(void *lib, const wanted_fn *fns, size_t n)
{
    int complete = 1;
    for (size_t i = 0; i < n; i++)
        complete &= (*fns[i].slot = dlsym(lib, fns[i].name)) != NULL;
    for (size_t i = 0; i < n && !complete; i++)
        *fns[i].slot = NULL;
    return complete ? 0 : -1;
}

#define FM_WANTED(ret, fn, args) {#fn, (void **)&fm_api.fn},

/* The profiler host functions (CUPTI 12.6 and newer). */
static int resolve_profiler_host(void *cupti)
{
    static const wanted_fn fns[] = {FM_PROFILER_HOST_FUNCTIONS(FM_WANTED)};
    return resolve_all_or_none(cupti, fns, sizeof fns / sizeof *fns);
}

/* The range profiler's functions, likewise. */
static void resolve_range_profiler(void *cupti)
{
    static const wanted_fn fns[] = {FM_RANGE_PROFILER_FUNCTIONS(FM_WANTED)};
    resolve_all_or_none(cupti, fns, sizeof fns / sizeof *fns);
}

int fm_cupti_host_api_load(char *err, size_t errlen)
{
    if (fm_api.cuptiProfilerHostInitialize && fm_api.cuptiGetResultString)
        return 0;
    void *cupti = open_cupti_or_say(err, errlen);
    if (!cupti)
        return -1;
    fm_api.cuptiGetResultString =
        (CUptiResult(CUDAAPI *)(CUptiResult, const char **))dlsym(cupti, "cuptiGetResultString");
    if (!fm_api.cuptiGetResultString || resolve_profiler_host(cupti) != 0) {
        snprintf(err, errlen, "%s lacks the profiler host API (CUPTI 12.6 or newer needed)",
                 fm_api.cupti_path);
        return -1;
    }
    return 0;
}

int fm_cuda_api_load(char *err, size_t errlen)
{
    memset(&fm_api, 0, sizeof fm_api);
    void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (!driver)
        driver = dlopen("libcuda.so", RTLD_NOW | RTLD_NOLOAD);
    if (!driver) {
        snprintf(err, errlen, "the CUDA driver library is not loaded in this process");
        return -1;
    }
    void *cupti = open_cupti_or_say(err, errlen);
    if (!cupti)
        return -1;
    /* one table of (library, name, slot), built from the same lists as the struct */
    struct {
        int from_cupti;
        const char *name;
        void **slot;
    } wanted[] = {
#define FM_WANT_DRIVER(ret, fn, args) {.from_cupti = 0, .name = #fn, .slot = (void **)&fm_api.fn},
#define FM_WANT_CUPTI(ret, fn, args) {.from_cupti = 1, .name = #fn, .slot = (void **)&fm_api.fn},
        FM_DRIVER_FUNCTIONS(FM_WANT_DRIVER) FM_CUPTI_FUNCTIONS(FM_WANT_CUPTI)
#undef FM_WANT_DRIVER
#undef FM_WANT_CUPTI
    };
    for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++) {
        *wanted[i].slot = dlsym(wanted[i].from_cupti ? cupti : driver, wanted[i].name);
        if (!*wanted[i].slot) {
            snprintf(err, errlen, "%s lacks %s (too old a version?)",
                     wanted[i].from_cupti ? fm_api.cupti_path : "the CUDA driver",
                     wanted[i].name);
            return -1;
        }
    }
    /* optional: without them only the counters are lost */
    resolve_profiler_host(cupti);
    resolve_range_profiler(cupti);
    return 0;
}

CUptiResult fm_cupti_chip_name(uint32_t device, char *buf, size_t len)
{
    CUpti_Device_GetChipName_Params p;
    memset(&p, 0, sizeof p);
    p.structSize = CUpti_Device_GetChipName_Params_STRUCT_SIZE;
    p.deviceIndex = device;
    CUptiResult r = fm_api.cuptiDeviceGetChipName(&p);
    snprintf(buf, len, "%s", r == CUPTI_SUCCESS && p.pChipName ? p.pChipName : "");
    return r;
}

uint32_t fm_cupti_degrade_kind(CUptiResult r)
{
    switch (r) {
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED: return FM_DEGRADE_OTHER_SUBSCRIBER;
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES: return FM_DEGRADE_INSUFFICIENT_PRIVILEGES;
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_NOT_SUPPORTED: return FM_DEGRADE_UNSUPPORTED_DEVICE;
    case CUPTI_ERROR_HARDWARE_BUSY: return FM_DEGRADE_COUNTERS_BUSY;
    case CUPTI_ERROR_NOT_INITIALIZED: return FM_DEGRADE_NO_DEVICE;
    default: return FM_DEGRADE_PROFILER_ERROR;
    }
}
