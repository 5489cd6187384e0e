/* cupti_host_abi.h - the parameter blocks of CUPTI's profiler host API, declared for C.
 *
 * CUPTI 13.0's cupti_profiler_host.h includes the C++ header <string> and so cannot be
 * compiled as C. The hook only needs a few of its functions (cuda_api.h), whose parameter
 * blocks are declared here with the same layout. CUPTI versions these blocks by structSize:
 * fields are only ever appended, so a block that stops at the field named in its *_SIZE
 * macro stays valid with newer CUPTI versions. tests/hook/test_metric_catalog.cpp compiles
 * these next to NVIDIA's header and checks that every offset and size agrees. */
#ifndef FM_HOOK_CUPTI_HOST_ABI_H
#define FM_HOOK_CUPTI_HOST_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CUpti_ProfilerType */
#define FM_CUPTI_PROFILER_TYPE_RANGE_PROFILER 0

#define FM_CUPTI_STRUCT_SIZE(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

typedef struct fm_cupti_host_object fm_cupti_host_object; /* CUpti_Profiler_Host_Object */

typedef struct fm_cupti_host_initialize {          /* CUpti_Profiler_Host_Initialize_Params */
    size_t structSize;
    void *pPriv;
    int profilerType;                              /* CUpti_ProfilerType, an int-sized enum */
    const char *pChipName;
    const uint8_t *pCounterAvailabilityImage;
    fm_cupti_host_object *pHostObject;             /* out */
} fm_cupti_host_initialize;
#define FM_CUPTI_HOST_INITIALIZE_SIZE FM_CUPTI_STRUCT_SIZE(fm_cupti_host_initialize, pHostObject)

typedef struct fm_cupti_host_deinitialize {        /* CUpti_Profiler_Host_Deinitialize_Params */
    size_t structSize;
    void *pPriv;
    fm_cupti_host_object *pHostObject;
} fm_cupti_host_deinitialize;
#define FM_CUPTI_HOST_DEINITIALIZE_SIZE                                                        \
    FM_CUPTI_STRUCT_SIZE(fm_cupti_host_deinitialize, pHostObject)

typedef struct fm_cupti_host_supported_chips { /* CUpti_Profiler_Host_GetSupportedChips_Params */
    size_t structSize;
    void *pPriv;
    size_t numChips;                               /* out */
    const char *const *ppChipNames;                /* out, owned by CUPTI */
} fm_cupti_host_supported_chips;
#define FM_CUPTI_HOST_SUPPORTED_CHIPS_SIZE                                                     \
    FM_CUPTI_STRUCT_SIZE(fm_cupti_host_supported_chips, ppChipNames)

typedef struct fm_cupti_host_add_metrics {     /* CUpti_Profiler_Host_ConfigAddMetrics_Params */
    size_t structSize;
    void *pPriv;
    fm_cupti_host_object *pHostObject;
    const char **ppMetricNames;
    size_t numMetrics;
} fm_cupti_host_add_metrics;
#define FM_CUPTI_HOST_ADD_METRICS_SIZE FM_CUPTI_STRUCT_SIZE(fm_cupti_host_add_metrics, numMetrics)

typedef struct fm_cupti_host_config_size { /* CUpti_Profiler_Host_GetConfigImageSize_Params */
    size_t structSize;
    void *pPriv;
    fm_cupti_host_object *pHostObject;
    size_t configImageSize;                        /* out */
} fm_cupti_host_config_size;
#define FM_CUPTI_HOST_CONFIG_SIZE_SIZE                                                         \
    FM_CUPTI_STRUCT_SIZE(fm_cupti_host_config_size, configImageSize)

typedef struct fm_cupti_host_config_image {    /* CUpti_Profiler_Host_GetConfigImage_Params */
    size_t structSize;
    void *pPriv;
    fm_cupti_host_object *pHostObject;
    size_t configImageSize;
    uint8_t *pConfigImage;                         /* filled by CUPTI */
} fm_cupti_host_config_image;
#define FM_CUPTI_HOST_CONFIG_IMAGE_SIZE                                                        \
    FM_CUPTI_STRUCT_SIZE(fm_cupti_host_config_image, pConfigImage)

typedef struct fm_cupti_host_num_passes {      /* CUpti_Profiler_Host_GetNumOfPasses_Params */
    size_t structSize;
    void *pPriv;
    size_t configImageSize;
    uint8_t *pConfigImage;
    size_t numOfPasses;                            /* out */
} fm_cupti_host_num_passes;
#define FM_CUPTI_HOST_NUM_PASSES_SIZE FM_CUPTI_STRUCT_SIZE(fm_cupti_host_num_passes, numOfPasses)

typedef struct fm_cupti_host_evaluate {   /* CUpti_Profiler_Host_EvaluateToGpuValues_Params */
    size_t structSize;
    void *pPriv;
    fm_cupti_host_object *pHostObject;
    const uint8_t *pCounterDataImage;              /* decoded by the range profiler */
    size_t counterDataImageSize;
    size_t rangeIndex;
    const char **ppMetricNames;
    size_t numMetrics;
    double *pMetricValues;                         /* out, numMetrics values */
} fm_cupti_host_evaluate;
#define FM_CUPTI_HOST_EVALUATE_SIZE FM_CUPTI_STRUCT_SIZE(fm_cupti_host_evaluate, pMetricValues)

#ifdef __cplusplus
}
#endif
#endif
