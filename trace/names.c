/* names.c - the names of record kinds, enumerations, precision classes and status codes, as
 * they appear in `flopmeter dump`, in JSON and in reports. */
#include <stdio.h>
#include <string.h>

#include "flopmeter/trace_records.h"
#include "flopmeter/trace_status.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const kind_names[] = {
    [FM_REC_RUN_META] = "run_meta",
    [FM_REC_DEVICE] = "device",
    [FM_REC_STRING] = "string",
    [FM_REC_CALLSITE] = "callsite",
    [FM_REC_KERNEL_SIGNATURE] = "kernel_signature",
    [FM_REC_METRIC_GROUP] = "metric_group",
    [FM_REC_COUNTER_SAMPLE] = "counter_sample",
    [FM_REC_AGGREGATE] = "aggregate",
    [FM_REC_PHASE_DEF] = "phase_def",
    [FM_REC_PHASE_EVENT] = "phase_event",
    [FM_REC_DECLARATION] = "declaration",
    [FM_REC_DEGRADATION] = "degradation",
    [FM_REC_FINAL] = "final",
    [FM_REC_SIGNATURE] = "signature",
    [FM_REC_INPUT] = "input",
};

const char *fm_record_kind_name(uint32_t kind)
{
    if (kind < COUNT(kind_names) && kind_names[kind])
        return kind_names[kind];
    return "unknown";
}

static const char *const category_names[] = {
    [FM_PHASE_UNSPECIFIED] = "unspecified",
    [FM_PHASE_PRETRAINING] = "pretraining",
    [FM_PHASE_FINETUNING] = "finetuning",
    [FM_PHASE_REINFORCEMENT_LEARNING] = "reinforcement_learning",
    [FM_PHASE_SYNTHETIC_DATA] = "synthetic_data",
    [FM_PHASE_EVALUATION] = "evaluation",
    [FM_PHASE_RECOMPUTATION] = "recomputation",
    [FM_PHASE_AUXILIARY_MODEL] = "auxiliary_model",
    [FM_PHASE_CUSTOM] = "custom",
};

const char *fm_phase_category_name(uint64_t category)
{
    if (category < COUNT(category_names))
        return category_names[category];
    return "unknown";
}

static const char *const degradation_names[] = {
    [FM_DEGRADE_OTHER] = "other",
    [FM_DEGRADE_NO_DEVICE] = "no_device",
    [FM_DEGRADE_INSUFFICIENT_PRIVILEGES] = "insufficient_privileges",
    [FM_DEGRADE_OTHER_SUBSCRIBER] = "other_subscriber",
    [FM_DEGRADE_COUNTERS_BUSY] = "counters_busy",
    [FM_DEGRADE_UNSUPPORTED_DEVICE] = "unsupported_device",
    [FM_DEGRADE_RECORDS_DROPPED] = "records_dropped",
    [FM_DEGRADE_WRITE_FAILED] = "write_failed",
    [FM_DEGRADE_CONFIG_INVALID] = "config_invalid",
    [FM_DEGRADE_PROFILER_ERROR] = "profiler_error",
};

const char *fm_degradation_kind_name(uint64_t kind)
{
    if (kind < COUNT(degradation_names))
        return degradation_names[kind];
    return "unknown";
}

static const char *const exit_names[] = {
    [FM_EXIT_UNKNOWN] = "unknown",
    [FM_EXIT_NORMAL] = "normal",
    [FM_EXIT_SIGNAL] = "signal",
    [FM_EXIT_TOOL] = "tool",
};

const char *fm_exit_reason_name(uint64_t reason)
{
    if (reason < COUNT(exit_names))
        return exit_names[reason];
    return "unknown";
}

static const char *const format_names[FM_FMT_COUNT] = {
    [FM_FMT_FP64] = "fp64", [FM_FMT_FP32] = "fp32", [FM_FMT_TF32] = "tf32",
    [FM_FMT_FP16] = "fp16", [FM_FMT_BF16] = "bf16", [FM_FMT_FP8] = "fp8",
    [FM_FMT_FP6] = "fp6",   [FM_FMT_FP4] = "fp4",   [FM_FMT_INT8] = "int8",
    [FM_FMT_INT4] = "int4",
};

/* Which formats each unit executes. CUDA cores: fp64, fp32, fp16 and bf16 (scalar and packed)
 * and int8 (dp4a). Tensor cores: everything but plain fp32. 2:4 sparsity exists on tensor
 * cores for every format but fp64. */
static int format_on_cuda_cores(unsigned f)
{
    return f == FM_FMT_FP64 || f == FM_FMT_FP32 || f == FM_FMT_FP16 || f == FM_FMT_BF16 ||
           f == FM_FMT_INT8;
}

int fm_precision_class_valid(uint8_t c)
{
    unsigned f = c & FM_CLASS_FORMAT_MASK;
    if (c & ~(FM_CLASS_FORMAT_MASK | FM_CLASS_TENSOR | FM_CLASS_SPARSE))
        return 0;
    if (f >= FM_FMT_COUNT)
        return 0;
    if (!(c & FM_CLASS_TENSOR))
        return !(c & FM_CLASS_SPARSE) && format_on_cuda_cores(f);
    if (f == FM_FMT_FP32)
        return 0;
    return !((c & FM_CLASS_SPARSE) && f == FM_FMT_FP64);
}

int fm_precision_class_is_integer(uint8_t c)
{
    unsigned f = c & FM_CLASS_FORMAT_MASK;
    return f == FM_FMT_INT8 || f == FM_FMT_INT4;
}

const char *fm_precision_class_name(uint8_t c, char *buf, size_t buflen)
{
    if (!fm_precision_class_valid(c)) {
        snprintf(buf, buflen, "class_0x%02x", c);
        return buf;
    }
    snprintf(buf, buflen, "%s.%s%s", format_names[c & FM_CLASS_FORMAT_MASK],
             (c & FM_CLASS_TENSOR) ? "tensor" : "cuda", (c & FM_CLASS_SPARSE) ? ".sparse" : "");
    return buf;
}

int fm_precision_class_parse(const char *name, uint8_t *out)
{
    char buf[32];
    for (unsigned c = 0; c < 256; c++) {
        if (!fm_precision_class_valid((uint8_t)c))
            continue;
        if (strcmp(fm_precision_class_name((uint8_t)c, buf, sizeof buf), name) == 0) {
            *out = (uint8_t)c;
            return 0;
        }
    }
    return -1;
}

const char *fm_status_name(int status)
{
    switch (status) {
    case FM_OK: return "ok";
    case FM_END: return "end of trace";
    case FM_E_IO: return "input/output error";
    case FM_E_NOT_TRACE: return "not a flopmeter trace";
    case FM_E_VERSION: return "unsupported format version";
    case FM_E_CORRUPT: return "corrupt";
    case FM_E_TRUNCATED: return "truncated";
    case FM_E_CHAIN: return "hash chain broken";
    case FM_E_NOMEM: return "out of memory";
    case FM_E_INVALID: return "invalid argument";
    case FM_E_TOO_LARGE: return "too large";
    case FM_E_CRYPTO: return "cryptography error";
    case FM_E_CLOSED: return "writer closed";
    default: return "unknown status";
    }
}

fm_str fm_str_c(const char *s)
{
    fm_str r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}
