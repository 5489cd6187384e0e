/* trace_records.h - the records of a flopmeter trace as C structures.
 *
 * The writer encodes these structures and the reader decodes into them; the encoding itself is
 * private to the trace library (trace/record_codec.c) and described in docs/trace-format.md.
 * Strings inside records are referred to by the id of a STRING record, except where a field is
 * marked "inline". Id 0 always means "none". Pointers in a decoded record point into the
 * reader's buffers and stay valid until the next call to fm_reader_next. */
#ifndef FLOPMETER_TRACE_RECORDS_H
#define FLOPMETER_TRACE_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "trace_format.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A string given with its length; not NUL-terminated when it comes from a reader. */
typedef struct fm_str {
    const char *ptr;
    size_t len;
} fm_str;

typedef struct fm_config_entry {
    fm_str key;
    fm_str value;
} fm_config_entry;

typedef struct fm_rec_run_meta {
    fm_str tool_version;    /* inline */
    fm_str run_id;          /* inline; identical for every rank of one run */
    fm_str host;            /* inline */
    uint64_t pid;
    int64_t rank;           /* -1 when unknown */
    int64_t local_rank;     /* -1 when unknown */
    uint64_t world_size;    /* 0 when unknown */
    uint64_t start_unix_ns;
    uint64_t cuda_driver_version;  /* as cuDriverGetVersion reports it; 0 when unknown */
    uint64_t cuda_runtime_version; /* 0 when unknown */
    uint64_t cupti_version;        /* CUPTI API version; 0 when unknown */
    fm_str command;         /* inline; the command line */
    uint64_t n_config;
    const fm_config_entry *config; /* inline key/value pairs: the effective configuration */
} fm_rec_run_meta;

typedef struct fm_rec_device {
    uint64_t device;        /* CUDA device ordinal in the traced process */
    fm_str name;            /* inline, e.g. "NVIDIA H100 80GB HBM3" */
    uint8_t uuid[16];
    fm_str chip;            /* inline, e.g. "GH100" */
    uint64_t cc_major, cc_minor;
    uint64_t sm_count;
    uint64_t memory_bytes;
    fm_str pci_bus_id;      /* inline */
} fm_rec_device;

typedef struct fm_rec_string {
    uint64_t id;            /* >= 1, each id defined once per trace */
    fm_str text;
} fm_rec_string;

typedef struct fm_frame {
    uint64_t module;        /* string id of the shared object or executable */
    uint64_t symbol;        /* string id of the function, 0 when not resolved in process */
    uint64_t offset;        /* instruction offset inside the module */
} fm_frame;

typedef struct fm_rec_callsite {
    uint64_t id;            /* >= 1 */
    uint64_t n_frames;
    const fm_frame *frames; /* innermost first */
} fm_rec_callsite;

typedef struct fm_rec_kernel_signature {
    uint64_t id;            /* >= 1 */
    uint64_t name;          /* string id of the (mangled) kernel name */
    uint64_t device;
    uint64_t grid[3];
    uint64_t block[3];
    uint64_t shared_mem_dynamic;
    uint64_t arg_hash;      /* hash of the argument bytes with device pointers masked out */
    uint64_t callsite;      /* callsite id of the first launch, 0 when unknown */
    uint64_t first_seen_ns;
} fm_rec_kernel_signature;

typedef struct fm_metric_def {
    uint64_t name;          /* string id of the CUPTI metric name */
    uint8_t precision_class;/* FM_CLASS_NONE when the metric counts no operations */
    double weight;          /* operations per counted unit (2 for an FMA counter) */
} fm_metric_def;

typedef struct fm_rec_metric_group {
    uint64_t id;            /* >= 1 */
    fm_str chip;            /* inline */
    uint64_t n_metrics;
    const fm_metric_def *metrics;
} fm_rec_metric_group;

typedef struct fm_rec_counter_sample {
    uint64_t signature;
    uint64_t launch_ordinal;/* 0-based index of this launch among the signature's launches */
    uint64_t group;
    uint64_t time_ns;
    uint64_t duration_ns;
    uint64_t passes;        /* kernel replays needed; 1 when no replay was needed */
    uint64_t n_values;      /* equals the group's n_metrics */
    const double *values;   /* raw metric values in the group's order: the evidence */
} fm_rec_counter_sample;

typedef struct fm_class_flop {
    uint8_t precision_class;
    double measured;        /* operations counted by hardware on profiled launches */
    double extrapolated;    /* operations credited to unprofiled launches from samples */
} fm_class_flop;

typedef struct fm_rec_aggregate {
    uint64_t interval_start_ns;
    uint64_t interval_end_ns;
    uint64_t signature;
    uint64_t phase;         /* phase id, 0 = outside any phase */
    uint64_t launches;
    uint64_t launches_measured;     /* launches whose counters were read */
    uint64_t launches_extrapolated; /* launches credited with their signature's mean */
    uint64_t busy_ns;       /* summed kernel execution time */
    uint64_t n_classes;
    const fm_class_flop *classes;
} fm_rec_aggregate;

typedef struct fm_rec_phase_def {
    uint64_t id;            /* >= 1 */
    uint64_t name;          /* string id */
    uint64_t category;      /* enum fm_phase_category */
} fm_rec_phase_def;

typedef struct fm_rec_phase_event {
    uint64_t time_ns;
    uint64_t thread_id;
    uint64_t phase;
    uint64_t action;        /* enum fm_phase_action */
} fm_rec_phase_event;

typedef struct fm_rec_declaration {
    uint64_t time_ns;
    uint64_t key;           /* string id; vocabulary in docs/trace-format.md */
    double value;
    uint64_t text;          /* string id, 0 when the declaration has no text */
    uint64_t phase;
} fm_rec_declaration;

typedef struct fm_rec_degradation {
    uint64_t time_ns;
    uint64_t kind;          /* enum fm_degradation_kind */
    int64_t api_result;     /* the CUDA/CUPTI result code, 0 when none */
    uint64_t launches_affected;
    fm_str message;         /* inline */
} fm_rec_degradation;

typedef struct fm_rec_final {
    uint64_t end_unix_ns;
    uint64_t exit_reason;   /* enum fm_exit_reason */
    uint64_t chunk_count;   /* chunks before the FINAL chunk */
    uint64_t record_count;  /* records before the FINAL record */
    uint64_t records_dropped;
    uint64_t launches_total;/* sum of AGGREGATE launches */
    uint64_t n_classes;
    const fm_class_flop *classes; /* sums of AGGREGATE figures per class, ascending class */
    uint8_t chain_head[FM_HASH_LEN]; /* hash of the last chunk before FINAL */
} fm_rec_final;

typedef struct fm_rec_signature {
    uint64_t algorithm;     /* enum fm_signature_algorithm */
    fm_str public_key;      /* inline raw key bytes */
    uint8_t signed_head[FM_HASH_LEN];
    uint64_t time_ns;
    fm_str signer;          /* inline, free text naming the signer */
    fm_str signature;       /* inline raw signature bytes */
} fm_rec_signature;

/* In a merged trace, after the records of each input: where they came from. */
typedef struct fm_rec_input {
    uint64_t index;         /* 0-based position among the inputs */
    fm_str path;            /* inline, as given to the merge */
    uint8_t trace_id[16];
    uint8_t chain_head[FM_HASH_LEN]; /* of the input as it was read */
    uint64_t chunks, records;
    uint64_t complete;      /* 1: the input had its FINAL chunk and was intact */
    uint64_t signatures, signatures_valid;
    int64_t rank;           /* from the input's RUN_META, -1 unknown */
    uint64_t end_unix_ns;   /* from the input's FINAL record, 0 when it had none */
    uint64_t exit_reason;   /* likewise */
    uint64_t records_dropped; /* likewise */
} fm_rec_input;

typedef struct fm_record {
    uint32_t kind;          /* enum fm_record_kind, or an unknown kind from a newer writer */
    union {
        fm_rec_run_meta run_meta;
        fm_rec_device device;
        fm_rec_string string;
        fm_rec_callsite callsite;
        fm_rec_kernel_signature kernel_signature;
        fm_rec_metric_group metric_group;
        fm_rec_counter_sample counter_sample;
        fm_rec_aggregate aggregate;
        fm_rec_phase_def phase_def;
        fm_rec_phase_event phase_event;
        fm_rec_declaration declaration;
        fm_rec_degradation degradation;
        fm_rec_final final;
        fm_rec_signature signature;
        fm_rec_input input;
        fm_str unknown_body; /* raw body of a record kind this reader does not know */
    } u;
} fm_record;

/* Helpers for the enumerations. They never return NULL. */
const char *fm_record_kind_name(uint32_t kind);
const char *fm_phase_category_name(uint64_t category);
const char *fm_degradation_kind_name(uint64_t kind);
const char *fm_exit_reason_name(uint64_t reason);

/* The name of a precision class such as "bf16.tensor" or "fp16.tensor.sparse" written into buf
 * (at least 32 bytes). Returns buf. */
const char *fm_precision_class_name(uint8_t precision_class, char *buf, size_t buflen);
/* Parses a name written by fm_precision_class_name. Returns 0 on success. */
int fm_precision_class_parse(const char *name, uint8_t *out);
/* 1 when the class is a valid combination (for example tf32 exists only on tensor cores). */
int fm_precision_class_valid(uint8_t precision_class);
/* 1 when the class counts integer operations rather than floating-point ones. */
int fm_precision_class_is_integer(uint8_t precision_class);

/* fm_str from a NUL-terminated C string (NULL gives the empty string). */
fm_str fm_str_c(const char *s);

#ifdef __cplusplus
}
#endif
#endif
