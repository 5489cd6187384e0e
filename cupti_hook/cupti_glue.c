/* cupti_glue.c - CUPTI to the collector: subscribes to the driver API's launch and
 * allocation callbacks and to kernel execution records, translates them, and reports every
 * CUPTI failure as a degradation instead of failing the program.
 *
 * What a launch callback does, at the launch's entry: reads the launch's parameters from
 * CUPTI's callback data, hashes the arguments (device pointers masked, device_ranges.h), and
 * hands the launch to measured_launch.c, which counts it and, when the sampler chooses it,
 * arms the counters (range_profiler.c); at the launch's exit the counters are read. It calls
 * no CUDA function except cuFuncGetParamInfo on the first launch of each function (cached;
 * off with FLOPMETER_ARGS=0), under a thread-local guard so that our own calls are not seen
 * as the program's, and the range profiler's calls on measured launches. Execution records
 * are read on CUPTI's buffer thread. */
#define _GNU_SOURCE
#include "cupti_glue.h"

#include <cuda.h>
#include <cupti.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_api.h"
#include "device_ranges.h"
#include "flopmeter/trace_format.h"
#include "hook_core.h"
#include "measured_launch.h"
#include "profiler_host.h"
#include "range_profiler.h"
#include "sampler.h"

#define MAX_PARAMS 256
#define FUNCTIONS 4096 /* functions whose parameter layout is remembered */

typedef struct function_info {
    _Atomic uint64_t function; /* 0: free */
    _Atomic int ready;         /* 1: n and sizes valid; -1: sizes unknown (no argument hash) */
    int never_measure;         /* its name matches FLOPMETER_PROFILE_SKIP */
    uint32_t n;
    uint32_t sizes[MAX_PARAMS];
} function_info;

static CUpti_SubscriberHandle subscriber;
static fm_device_ranges ranges;
static function_info *functions;
static int hash_arguments = 1;
static const char *skip_list = "";      /* FLOPMETER_PROFILE_SKIP */
static int activity_on; /* execution records were enabled: flush them at exit */
static _Thread_local int inside; /* our own CUDA calls: not the program's */
/* Stream captures in progress. A launch into a capturing stream does not run: it becomes a
 * graph node, counted when the graph runs (from its execution records). While no capture is
 * in progress (nearly always) the launch path does not ask the driver. */
static _Atomic int capturing;

static const char *result_name(CUptiResult r)
{
    return fm_profiler_host_result_string((int)r);
}

/* Fills a function's entry: its parameter sizes, asked once from the driver, and whether it
 * is never measured. */
static void describe(function_info *fi, CUfunction f, const char *name)
{
    fi->never_measure = fm_hook_config_skips(skip_list, name);
    uint32_t n = 0;
    int ok = hash_arguments;
    inside = 1;
    for (; ok && n < MAX_PARAMS; n++) {
        size_t offset = 0, size = 0;
        CUresult r = fm_api.cuFuncGetParamInfo(f, n, &offset, &size);
        if (r == CUDA_ERROR_INVALID_VALUE)
            break; /* past the last parameter */
        if (r != CUDA_SUCCESS)
            ok = 0;
        else
            fi->sizes[n] = (uint32_t)size;
    }
    inside = 0;
    fi->n = n;
    atomic_store_explicit(&fi->ready, ok && n < MAX_PARAMS ? 1 : -1, memory_order_release);
}

static const function_info *wait_ready(const function_info *fi)
{
    while (atomic_load_explicit(&fi->ready, memory_order_acquire) == 0) {
    }
    return fi;
}

/* What is known of a function, found out on its first launch. NULL when the table is full. */
static const function_info *info_of(CUfunction f, const char *name)
{
    uint64_t key = (uint64_t)(uintptr_t)f;
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (uint32_t probe = 0, i = (uint32_t)(h >> 40) & (FUNCTIONS - 1); probe < FUNCTIONS;
         probe++, i = (i + 1) & (FUNCTIONS - 1)) {
        function_info *fi = &functions[i];
        uint64_t cur = atomic_load_explicit(&fi->function, memory_order_acquire);
        if (cur == key)
            return wait_ready(fi);
        if (cur != 0)
            continue;
        uint64_t expected = 0;
        if (!atomic_compare_exchange_strong(&fi->function, &expected, key)) {
            if (expected == key)
                return wait_ready(fi);
            continue;
        }
        describe(fi, f, name); /* ours to fill */
        return fi;
    }
    return NULL; /* full: these launches are identified without arguments, and measured */
}

/* Contexts destroyed so far: a context made later at the same address may be on another
 * device, so what a thread remembers of a context holds only while this has not moved. */
static _Atomic uint32_t contexts_destroyed;

/* The GPU of a launch's context: asked of CUPTI once per context and thread (a context's
 * device never changes; a thread launches on one context at a time, nearly always the same). */
static uint32_t device_of(const CUpti_CallbackData *cb)
{
    static _Thread_local CUcontext last_context;
    static _Thread_local uint32_t last_device, last_epoch;
    uint32_t epoch = atomic_load_explicit(&contexts_destroyed, memory_order_acquire);
    if (cb->context && cb->context == last_context && epoch == last_epoch)
        return last_device;
    uint32_t dev = 0;
    if (cb->context && fm_api.cuptiGetDeviceId(cb->context, &dev) != CUPTI_SUCCESS)
        dev = 0;
    last_context = cb->context;
    last_device = dev;
    last_epoch = epoch;
    return dev;
}

/* 1 when the launch goes into a stream being captured. */
static int captured(CUstream stream)
{
    if (!atomic_load_explicit(&capturing, memory_order_relaxed))
        return 0;
    CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
    inside = 1;
    CUresult r = fm_api.cuStreamIsCapturing(stream, &st);
    inside = 0;
    /* a legacy-stream query during another stream's global-mode capture fails: that launch
     * is illegal and will not run either */
    return r == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT || (r == CUDA_SUCCESS &&
                                                      st != CU_STREAM_CAPTURE_STATUS_NONE);
}

static void launch(const CUpti_CallbackData *cb, CUfunction f, const unsigned grid[3],
                   const unsigned block[3], unsigned shared, void **params, CUstream stream)
{
    if (captured(stream))
        return;
    fm_launch_info l;
    l.function = (uint64_t)(uintptr_t)f;
    l.name = cb->symbolName ? cb->symbolName : "(unnamed kernel)";
    for (int i = 0; i < 3; i++) {
        l.grid[i] = grid[i];
        l.block[i] = block[i];
    }
    l.shared_mem = shared;
    l.device = device_of(cb);
    const function_info *fi =
        functions && (hash_arguments || fm_measuring_on()) ? info_of(f, l.name) : NULL;
    l.arg_hash = params && fi && fi->ready > 0 ? fm_arg_hash(&ranges, params, fi->sizes, fi->n)
                                               : 0;
    l.correlation_id = cb->correlationId;
    fm_measuring_launch((uint64_t)(uintptr_t)cb->context, l.device, &l,
                        fi ? fi->never_measure : 0);
}

static int is_launch(CUpti_CallbackId cbid)
{
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz: return 1;
    default: return 0;
    }
}

static void on_launch(CUpti_CallbackId cbid, const CUpti_CallbackData *cb)
{
    const void *p = cb->functionParams;
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz: {
        const cuLaunchKernel_params *a = p; /* the _ptsz struct has the same layout */
        unsigned grid[3] = {a->gridDimX, a->gridDimY, a->gridDimZ};
        unsigned block[3] = {a->blockDimX, a->blockDimY, a->blockDimZ};
        launch(cb, a->f, grid, block, a->sharedMemBytes, a->kernelParams, a->hStream);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz: {
        const cuLaunchCooperativeKernel_params *a = p;
        unsigned grid[3] = {a->gridDimX, a->gridDimY, a->gridDimZ};
        unsigned block[3] = {a->blockDimX, a->blockDimY, a->blockDimZ};
        launch(cb, a->f, grid, block, a->sharedMemBytes, a->kernelParams, a->hStream);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx:
    case CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz: {
        const cuLaunchKernelEx_params *a = p;
        if (!a->config)
            break;
        unsigned grid[3] = {a->config->gridDimX, a->config->gridDimY, a->config->gridDimZ};
        unsigned block[3] = {a->config->blockDimX, a->config->blockDimY, a->config->blockDimZ};
        launch(cb, a->f, grid, block, a->config->sharedMemBytes, a->kernelParams,
               a->config->hStream);
        break;
    }
    default:
        break;
    }
}

/* Allocations and frees, and stream captures, at their exits (when the call succeeded). */
static void on_api_exit(CUpti_CallbackId cbid, const CUpti_CallbackData *cb)
{
    if (cb->callbackSite != CUPTI_API_EXIT)
        return;
    const void *p = cb->functionParams;
    CUresult ok = cb->functionReturnValue ? *(const CUresult *)cb->functionReturnValue
                                          : CUDA_ERROR_UNKNOWN;
    if (is_launch(cbid)) { /* a measurement armed at its entry ends here */
        fm_measuring_launch_done(ok == CUDA_SUCCESS);
        return;
    }
    if (ok != CUDA_SUCCESS) {
        /* a failed end of capture still ends it (the capture is invalidated) */
        if (cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture ||
            cbid == CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz) {
            if (atomic_load(&capturing) > 0)
                atomic_fetch_sub(&capturing, 1);
        }
        return;
    }
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph_ptsz:
        atomic_fetch_add(&capturing, 1);
        break;
    case CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture:
    case CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz:
        if (atomic_load(&capturing) > 0)
            atomic_fetch_sub(&capturing, 1);
        break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2: {
        const cuMemAlloc_v2_params *a = p;
        fm_device_ranges_add(&ranges, *a->dptr, a->bytesize);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2: {
        const cuMemAllocPitch_v2_params *a = p;
        fm_device_ranges_add(&ranges, *a->dptr, (uint64_t)*a->pPitch * a->Height);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged: {
        const cuMemAllocManaged_params *a = p;
        fm_device_ranges_add(&ranges, *a->dptr, a->bytesize);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz: {
        const cuMemAllocAsync_params *a = p;
        fm_device_ranges_add(&ranges, *a->dptr, a->bytesize);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz: {
        const cuMemAllocFromPoolAsync_params *a = p;
        fm_device_ranges_add(&ranges, *a->dptr, a->bytesize);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAddressReserve: {
        /* virtual memory management (PyTorch's expandable segments): the whole reservation */
        const cuMemAddressReserve_params *a = p;
        fm_device_ranges_add(&ranges, *a->ptr, a->size);
        break;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2:
        fm_device_ranges_remove(&ranges, ((const cuMemFree_v2_params *)p)->dptr);
        break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz:
        fm_device_ranges_remove(&ranges, ((const cuMemFreeAsync_params *)p)->dptr);
        break;
    case CUPTI_DRIVER_TRACE_CBID_cuMemAddressFree:
        fm_device_ranges_remove(&ranges, ((const cuMemAddressFree_params *)p)->ptr);
        break;
    default:
        break;
    }
}

static void on_context_created(const CUpti_ResourceData *rd)
{
    uint32_t dev = 0;
    if (fm_api.cuptiGetDeviceId(rd->context, &dev) != CUPTI_SUCCESS)
        return;
    CUdevice d;
    char name[256] = "";
    CUuuid uuid;
    memset(&uuid, 0, sizeof uuid);
    int major = 0, minor = 0, sms = 0;
    size_t mem = 0;
    char bus[64] = "";
    inside = 1;
    if (fm_api.cuDeviceGet(&d, (int)dev) == CUDA_SUCCESS) {
        fm_api.cuDeviceGetName(name, sizeof name, d);
        fm_api.cuDeviceGetUuid_v2(&uuid, d);
        fm_api.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, d);
        fm_api.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, d);
        fm_api.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
        fm_api.cuDeviceTotalMem_v2(&mem, d);
        fm_api.cuDeviceGetPCIBusId(bus, sizeof bus, d);
    }
    inside = 0;
    char chip[64];
    fm_cupti_chip_name(dev, chip, sizeof chip);
    fm_hook_device(dev, name, (const uint8_t *)uuid.bytes, chip, (uint32_t)major,
                   (uint32_t)minor, (uint32_t)sms, (uint64_t)mem, bus);
}

static void CUPTIAPI on_callback(void *ud, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                 const void *data)
{
    (void)ud;
    if (inside)
        return;
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API) {
        const CUpti_CallbackData *cb = data;
        if (cb->callbackSite == CUPTI_API_ENTER)
            on_launch(cbid, cb);
        on_api_exit(cbid, cb);
    } else if (domain == CUPTI_CB_DOMAIN_RESOURCE && cbid == CUPTI_CBID_RESOURCE_CONTEXT_CREATED) {
        on_context_created(data);
    } else if (domain == CUPTI_CB_DOMAIN_RESOURCE &&
               cbid == CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING) {
        atomic_fetch_add_explicit(&contexts_destroyed, 1, memory_order_release);
        fm_measuring_context_gone((uint64_t)(uintptr_t)((const CUpti_ResourceData *)data)->context);
    }
}

/* ---- kernel execution records --------------------------------------------------------------- */

#define BUFFER_SIZE (4u << 20)

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
    *buffer = aligned_alloc(8, BUFFER_SIZE);
    *size = *buffer ? BUFFER_SIZE : 0;
    *max_records = 0;
}

/* A function key for a kernel known only by name (graph kernels): a hash of the name with
 * the top bit set, so it cannot equal a real function handle (a user-space address). */
static uint64_t name_key(const char *name)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name ? name : ""; *c; c++) {
        h ^= (unsigned char)*c;
        h *= 1099511628211ull;
    }
    return h | (1ull << 63);
}

static void CUPTIAPI buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer,
                                      size_t size, size_t valid)
{
    (void)ctx;
    (void)stream;
    (void)size;
    CUpti_Activity *rec = NULL;
    while (fm_api.cuptiActivityGetNextRecord(buffer, valid, &rec) == CUPTI_SUCCESS) {
        if (rec->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL)
            continue;
        const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)rec;
        uint64_t dur = k->end > k->start ? k->end - k->start : 0;
        if (k->graphId) {
            /* inside a CUDA graph: no launch callback saw it, so it is counted here; the
             * function handle is unknown: the name stands for it */
            fm_launch_info l;
            memset(&l, 0, sizeof l);
            l.function = name_key(k->name);
            l.name = k->name;
            l.grid[0] = (uint32_t)k->gridX;
            l.grid[1] = (uint32_t)k->gridY;
            l.grid[2] = (uint32_t)k->gridZ;
            l.block[0] = (uint32_t)k->blockX;
            l.block[1] = (uint32_t)k->blockY;
            l.block[2] = (uint32_t)k->blockZ;
            l.shared_mem = (uint32_t)k->dynamicSharedMemory;
            l.device = k->deviceId;
            fm_hook_graph_kernel(&l, dur);
        } else {
            fm_hook_kernel_executed(k->correlationId, dur);
        }
    }
    free(buffer);
}

/* ---- starting and stopping ------------------------------------------------------------------ */

static const CUpti_CallbackId driver_ids[] = {
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchCooperativeKernel_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx,
    CUPTI_DRIVER_TRACE_CBID_cuLaunchKernelEx_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync,
    CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAddressReserve,
    CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2,
    CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync,
    CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuMemAddressFree,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCapture_v2_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph,
    CUPTI_DRIVER_TRACE_CBID_cuStreamBeginCaptureToGraph_ptsz,
    CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture,
    CUPTI_DRIVER_TRACE_CBID_cuStreamEndCapture_ptsz,
};

/* Hardware counters around the launches the sampler chooses (measured_launch.h). */
static void start_counters(const fm_hook_config *cfg)
{
    if (cfg->profile == FM_PROFILE_OFF)
        return;
    const fm_counter_backend *b = fm_range_profiler_backend();
    if (!b) {
        fm_hook_degrade(FM_DEGRADE_PROFILER_ERROR, 0, 0,
                        "%s lacks the range profiler (CUPTI 12.6 or newer needed): launches "
                        "are counted, not measured",
                        fm_api.cupti_path);
        return;
    }
    fm_measuring_start(b, cfg->profile, cfg->profile_budget);
}

int fm_glue_start(void)
{
    char why[512];
    if (fm_cuda_api_load(why, sizeof why) != 0) {
        /* the collector still starts: the trace says why nothing was measured */
        fm_hook_versions none = {0, 0, 0};
        if (fm_hook_start(&none) == 0)
            fm_hook_degrade(FM_DEGRADE_PROFILER_ERROR, 0, 0, "%s: no kernel launch will be seen",
                            why);
        return -1;
    }
    fm_hook_versions v = {0, 0, CUPTI_API_VERSION};
    int drv = 0;
    inside = 1;
    if (fm_api.cuDriverGetVersion(&drv) == CUDA_SUCCESS)
        v.cuda_driver = (uint64_t)drv;
    inside = 0;
    uint32_t cupti_version = 0;
    if (fm_api.cuptiGetVersion(&cupti_version) == CUPTI_SUCCESS)
        v.cupti = cupti_version;
    if (fm_hook_start(&v) != 0)
        return -1;
    const fm_hook_config *cfg = fm_hook_config_in_use();
    hash_arguments = cfg->hash_args;
    skip_list = cfg->profile_skip;
    fm_device_ranges_init(&ranges);
    functions = calloc(FUNCTIONS, sizeof *functions);

    char holder[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = "";
    CUpti_SubscriberParams sp;
    memset(&sp, 0, sizeof sp);
    sp.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
    sp.subscriberName = "flopmeter";
    sp.oldSubscriberName = holder;
    sp.oldSubscriberSize = sizeof holder - 1;
    CUptiResult r = fm_api.cuptiSubscribe_v2(&subscriber, on_callback, NULL, &sp);
    if (r != CUPTI_SUCCESS) {
        fm_hook_degrade(fm_cupti_degrade_kind(r), r, 0,
                        "cannot subscribe to CUPTI (%s%s%s): no kernel launch will be seen",
                        result_name(r), holder[0] ? "; held by " : "", holder);
        return -1;
    }
    for (size_t i = 0; i < sizeof driver_ids / sizeof *driver_ids && r == CUPTI_SUCCESS; i++)
        r = fm_api.cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_DRIVER_API, driver_ids[i]);
    if (r == CUPTI_SUCCESS)
        r = fm_api.cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RESOURCE,
                                       CUPTI_CBID_RESOURCE_CONTEXT_CREATED);
    if (r == CUPTI_SUCCESS)
        r = fm_api.cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RESOURCE,
                                       CUPTI_CBID_RESOURCE_CONTEXT_DESTROY_STARTING);
    if (r != CUPTI_SUCCESS) {
        fm_hook_degrade(fm_cupti_degrade_kind(r), r, 0, "cannot enable CUPTI callbacks (%s)", result_name(r));
        return -1;
    }
    r = fm_api.cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    if (r == CUPTI_SUCCESS)
        r = fm_api.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    activity_on = r == CUPTI_SUCCESS;
    if (r != CUPTI_SUCCESS)
        fm_hook_degrade(fm_cupti_degrade_kind(r), r, 0,
                        "cannot record kernel executions (%s): launches are counted, their "
                        "durations and the kernels inside CUDA graphs are not",
                        result_name(r));
    start_counters(cfg);
    return 0;
}

void fm_glue_stop(void)
{
    if (fm_hook_state() != FM_HOOK_RUNNING)
        return;
    /* deliver the execution records still buffered, then close the trace */
    if (activity_on) {
        inside = 1;
        fm_api.cuptiActivityFlushAll(1);
        inside = 0;
    }
    fm_hook_stop(FM_EXIT_NORMAL);
}
