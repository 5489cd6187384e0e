/* cuda_api.h - the CUDA driver and CUPTI functions the hook calls, found at run time.
 *
 * The library links neither libcuda nor libcupti: it must load and stay harmless in
 * processes without a GPU or driver, and a process that already holds a copy of CUPTI (as
 * PyTorch does, from its own wheels) must not get a second one. fm_cuda_api_load looks for
 * a copy already loaded first, then FLOPMETER_CUPTI, then the usual sonames. */
#ifndef FM_HOOK_CUDA_API_H
#define FM_HOOK_CUDA_API_H

#include <cuda.h>
#include <cupti.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>

#include <stdint.h>

#include "cupti_host_abi.h"

#define FM_DRIVER_FUNCTIONS(X)                                                                 \
    X(CUresult, cuDriverGetVersion, (int *))                                                   \
    X(CUresult, cuFuncGetParamInfo, (CUfunction, size_t, size_t *, size_t *))                  \
    X(CUresult, cuDeviceGet, (CUdevice *, int))                                                \
    X(CUresult, cuDeviceGetName, (char *, int, CUdevice))                                      \
    X(CUresult, cuDeviceGetUuid_v2, (CUuuid *, CUdevice))                                      \
    X(CUresult, cuDeviceGetAttribute, (int *, CUdevice_attribute, CUdevice))                   \
    X(CUresult, cuDeviceTotalMem_v2, (size_t *, CUdevice))                                     \
    X(CUresult, cuDeviceGetPCIBusId, (char *, int, CUdevice))                                  \
    X(CUresult, cuStreamIsCapturing, (CUstream, CUstreamCaptureStatus *))

#define FM_CUPTI_FUNCTIONS(X)                                                                  \
    X(CUptiResult, cuptiGetResultString, (CUptiResult, const char **))                         \
    X(CUptiResult, cuptiGetVersion, (uint32_t *))                                              \
    X(CUptiResult, cuptiSubscribe_v2,                                                          \
      (CUpti_SubscriberHandle *, CUpti_CallbackFunc, void *, CUpti_SubscriberParams *))        \
    X(CUptiResult, cuptiEnableCallback,                                                        \
      (uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain, CUpti_CallbackId))              \
    X(CUptiResult, cuptiGetDeviceId, (CUcontext, uint32_t *))                                  \
    X(CUptiResult, cuptiDeviceGetChipName, (CUpti_Device_GetChipName_Params *))                \
    X(CUptiResult, cuptiActivityRegisterCallbacks,                                             \
      (CUpti_BuffersCallbackRequestFunc, CUpti_BuffersCallbackCompleteFunc))                   \
    X(CUptiResult, cuptiActivityEnable, (CUpti_ActivityKind))                                  \
    X(CUptiResult, cuptiActivityGetNextRecord, (uint8_t *, size_t, CUpti_Activity **))         \
    X(CUptiResult, cuptiActivityFlushAll, (uint32_t))

/* CUPTI's profiler host API (CUPTI 12.6 and newer): builds a counter configuration for a chip
 * named by string and counts its passes, with no GPU and no driver. Optional: all of them, or
 * none (NULL) when the CUPTI in use is older; then only the counters are lost. */
#define FM_PROFILER_HOST_FUNCTIONS(X)                                                          \
    X(CUptiResult, cuptiProfilerHostGetSupportedChips, (fm_cupti_host_supported_chips *))      \
    X(CUptiResult, cuptiProfilerHostInitialize, (fm_cupti_host_initialize *))                  \
    X(CUptiResult, cuptiProfilerHostDeinitialize, (fm_cupti_host_deinitialize *))              \
    X(CUptiResult, cuptiProfilerHostConfigAddMetrics, (fm_cupti_host_add_metrics *))           \
    X(CUptiResult, cuptiProfilerHostGetConfigImageSize, (fm_cupti_host_config_size *))         \
    X(CUptiResult, cuptiProfilerHostGetConfigImage, (fm_cupti_host_config_image *))            \
    X(CUptiResult, cuptiProfilerHostGetNumOfPasses, (fm_cupti_host_num_passes *))            \
    X(CUptiResult, cuptiProfilerHostEvaluateToGpuValues, (fm_cupti_host_evaluate *))

/* CUPTI's range profiler (CUPTI 12.6 and newer), which reads the counters on the device.
 * Optional like the host API: all or none. */
#define FM_RANGE_PROFILER_FUNCTIONS(X)                                                         \
    X(CUptiResult, cuptiProfilerInitialize, (CUpti_Profiler_Initialize_Params *))             \
    X(CUptiResult, cuptiProfilerDeviceSupported, (CUpti_Profiler_DeviceSupported_Params *))   \
    X(CUptiResult, cuptiProfilerGetCounterAvailability,                                       \
      (CUpti_Profiler_GetCounterAvailability_Params *))                                       \
    X(CUptiResult, cuptiRangeProfilerEnable, (CUpti_RangeProfiler_Enable_Params *))           \
    X(CUptiResult, cuptiRangeProfilerDisable, (CUpti_RangeProfiler_Disable_Params *))         \
    X(CUptiResult, cuptiRangeProfilerGetCounterDataSize,                                      \
      (CUpti_RangeProfiler_GetCounterDataSize_Params *))                                      \
    X(CUptiResult, cuptiRangeProfilerCounterDataImageInitialize,                              \
      (CUpti_RangeProfiler_CounterDataImage_Initialize_Params *))                             \
    X(CUptiResult, cuptiRangeProfilerSetConfig, (CUpti_RangeProfiler_SetConfig_Params *))     \
    X(CUptiResult, cuptiRangeProfilerStart, (CUpti_RangeProfiler_Start_Params *))             \
    X(CUptiResult, cuptiRangeProfilerStop, (CUpti_RangeProfiler_Stop_Params *))               \
    X(CUptiResult, cuptiRangeProfilerDecodeData, (CUpti_RangeProfiler_DecodeData_Params *))   \
    X(CUptiResult, cuptiRangeProfilerGetCounterDataInfo,                                      \
      (CUpti_RangeProfiler_GetCounterDataInfo_Params *))

typedef struct fm_cuda_api {
#define FM_API_FIELD(ret, name, args) ret(CUDAAPI *name) args;
    FM_DRIVER_FUNCTIONS(FM_API_FIELD)
    FM_CUPTI_FUNCTIONS(FM_API_FIELD)
    FM_PROFILER_HOST_FUNCTIONS(FM_API_FIELD)
    FM_RANGE_PROFILER_FUNCTIONS(FM_API_FIELD)
#undef FM_API_FIELD
    char cupti_path[512];     /* the CUPTI library in use */
} fm_cuda_api;

extern fm_cuda_api fm_api;

/* Loads every function. 0, or -1 with a one-line reason in err (what is missing). */
int fm_cuda_api_load(char *err, size_t errlen);

/* Loads CUPTI alone, for its profiler host API and cuptiGetResultString: what building metric
 * groups for a chip needs, where no driver is loaded (tools, tests). Does nothing when they
 * are loaded already. Not thread-safe: call before any thread uses fm_api. 0, or -1 with a
 * one-line reason in err. */
int fm_cupti_host_api_load(char *err, size_t errlen);

/* The chip name of a CUDA device ordinal ("GH100"), as CUPTI names it, into buf ("" on
 * failure). CUPTI_SUCCESS or the failing result. */
CUptiResult fm_cupti_chip_name(uint32_t device, char *buf, size_t len);

/* The degradation kind (trace_format.h) a CUPTI failure stands for. */
uint32_t fm_cupti_degrade_kind(CUptiResult r);

#endif
