/* trace_format.h - the on-disk layout of a flopmeter trace, version 1.
 *
 * This header is the contract between the in-process hook (which writes traces) and the
 * post-processor (which reads them). It depends on nothing but <stdint.h> so that any tool can
 * include it. docs/trace-format.md is the prose specification of the same layout; the two must
 * change together.
 *
 * Everything on disk is little-endian. A trace is a 64-byte file header followed by chunks; each
 * chunk is a 64-byte chunk header and a zlib payload holding length-prefixed records. */
#ifndef FLOPMETER_TRACE_FORMAT_H
#define FLOPMETER_TRACE_FORMAT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- file header (64 bytes) ------------------------------------------------------------- */

/* The first byte is non-ASCII and the magic contains CR LF and ^Z, so a text-mode transfer or
 * a file that is not a trace is recognised at once (the trick PNG uses). */
#define FM_FILE_MAGIC "\x89" "FLOP\r\n\x1a"
#define FM_FILE_MAGIC_LEN 8u
#define FM_FILE_HEADER_SIZE 64u

/* A reader refuses a newer major version. Minor versions only append fields to records and add
 * record kinds, so a reader of an older minor version reads a newer file and skips what it does
 * not know. */
#define FM_FORMAT_MAJOR 1u
#define FM_FORMAT_MINOR 1u /* 1.1 added the INPUT record of merged traces */

/* File header field offsets. */
#define FM_FH_OFF_MAGIC 0u        /* 8 bytes */
#define FM_FH_OFF_MAJOR 8u        /* u16 */
#define FM_FH_OFF_MINOR 10u       /* u16 */
#define FM_FH_OFF_HEADER_SIZE 12u /* u32, always 64 in version 1 */
#define FM_FH_OFF_FLAGS 16u       /* u64 */
#define FM_FH_OFF_TRACE_ID 24u    /* 16 bytes, random per trace */
#define FM_FH_OFF_CREATED 40u     /* u64, Unix time in ns when the writer opened the file */
/* bytes 48..63 are reserved and must be zero */

/* File flags. The low 32 bits are "required": a reader that does not know a set required bit
 * must refuse the file. The high 32 bits are informational. */
#define FM_FILE_FLAG_MERGED (1ull << 32) /* produced by merging several traces */
#define FM_FILE_FLAGS_REQUIRED_MASK 0xffffffffull

/* ---- chunk header (64 bytes) ------------------------------------------------------------ */

#define FM_CHUNK_MAGIC 0x4b434d46u /* "FMCK" as stored bytes */
#define FM_CHUNK_HEADER_SIZE 64u

#define FM_CH_OFF_MAGIC 0u        /* u32 */
#define FM_CH_OFF_TYPE 4u         /* u16, enum fm_chunk_type */
#define FM_CH_OFF_CODEC 6u        /* u16, enum fm_codec */
#define FM_CH_OFF_SEQ 8u          /* u32, 0 for the first chunk, +1 for each next one */
#define FM_CH_OFF_PAYLOAD_CRC 12u /* u32, CRC-32 (zlib) of the stored payload */
#define FM_CH_OFF_RAW_LEN 16u     /* u32, payload size after decompression */
#define FM_CH_OFF_COMP_LEN 20u    /* u32, payload size as stored */
#define FM_CH_OFF_RECORDS 24u     /* u32, number of records in the payload */
#define FM_CH_OFF_PREV_HASH 28u   /* 32 bytes, see below */
#define FM_CH_OFF_HEADER_CRC 60u  /* u32, CRC-32 (zlib) of header bytes 0..59 */

/* prev_hash of chunk 0 is SHA-256 of the 64-byte file header; prev_hash of chunk n > 0 is
 * SHA-256 of the complete bytes (header and payload) of chunk n-1. The chain head of a trace is
 * SHA-256 of its last chunk. */
#define FM_HASH_LEN 32u

/* A trace holds at most 2^32 chunks (at one chunk a second, 136 years). */
#define FM_MAX_CHUNKS 0xffffffffull

/* Limits every reader enforces before allocating anything. */
#define FM_MAX_CHUNK_RAW (16u * 1024u * 1024u)
#define FM_MAX_RECORD_BODY (4u * 1024u * 1024u)
/* Element limits of the arrays inside records. */
#define FM_MAX_CONFIG_ENTRIES 4096u
#define FM_MAX_FRAMES 512u
#define FM_MAX_METRICS 1024u
#define FM_MAX_CLASSES 256u
/* Decoded arrays of one record never need more than this (the config limit dominates). */
#define FM_MAX_ARRAY_BYTES (FM_MAX_CONFIG_ENTRIES * 64u)

enum fm_chunk_type {
    FM_CHUNK_RECORDS = 1,   /* data records */
    FM_CHUNK_FINAL = 2,     /* exactly one FINAL record; the writer closed the trace cleanly */
    FM_CHUNK_SIGNATURE = 3, /* exactly one SIGNATURE record; only after the FINAL chunk */
};

enum fm_codec {
    FM_CODEC_ZLIB = 1, /* RFC 1950 stream (with its Adler-32), one per chunk */
};

/* ---- records ---------------------------------------------------------------------------- */

/* A record is: kind (varint), body length (varint), body. Bodies are sequences of fields in a
 * fixed order (docs/trace-format.md lists them); newer minor versions may append fields, which
 * older readers skip, and a reader gives fields missing at the end of a body their default. */
enum fm_record_kind {
    FM_REC_RUN_META = 1,
    FM_REC_DEVICE = 2,
    FM_REC_STRING = 3,
    FM_REC_CALLSITE = 4,
    FM_REC_KERNEL_SIGNATURE = 5,
    FM_REC_METRIC_GROUP = 6,
    FM_REC_COUNTER_SAMPLE = 7,
    FM_REC_AGGREGATE = 8,
    FM_REC_PHASE_DEF = 9,
    FM_REC_PHASE_EVENT = 10,
    FM_REC_DECLARATION = 11,
    FM_REC_DEGRADATION = 12,
    FM_REC_FINAL = 13,
    FM_REC_SIGNATURE = 14,
    FM_REC_INPUT = 15, /* since 1.1: one input of a merged trace */
};
#define FM_REC_KIND_MAX 15

/* ---- precision classes ------------------------------------------------------------------ */

/* A precision class is one byte: the number format in bits 0-3, the execution unit in bit 4
 * (0 = CUDA cores, 1 = tensor cores) and 2:4 structured sparsity in bit 5. Integer formats
 * count integer operations, which the reports keep apart from FLOP. */
enum fm_number_format {
    FM_FMT_FP64 = 0,
    FM_FMT_FP32 = 1,
    FM_FMT_TF32 = 2,
    FM_FMT_FP16 = 3,
    FM_FMT_BF16 = 4,
    FM_FMT_FP8 = 5,
    FM_FMT_FP6 = 6,
    FM_FMT_FP4 = 7,
    FM_FMT_INT8 = 8,
    FM_FMT_INT4 = 9,
};
#define FM_FMT_COUNT 10
#define FM_CLASS_TENSOR 0x10u
#define FM_CLASS_SPARSE 0x20u
#define FM_CLASS_FORMAT_MASK 0x0fu
#define FM_CLASS_NONE 0xffu /* a metric that measures no operations (for example a duration) */

/* ---- enumerations stored in records ----------------------------------------------------- */

/* What the rules distinguish about a phase (docs/trace-format.md, "Phase categories"). */
enum fm_phase_category {
    FM_PHASE_UNSPECIFIED = 0, /* work outside any declared phase */
    FM_PHASE_PRETRAINING = 1,
    FM_PHASE_FINETUNING = 2,
    FM_PHASE_REINFORCEMENT_LEARNING = 3,
    FM_PHASE_SYNTHETIC_DATA = 4, /* generation of training data, kept or discarded */
    FM_PHASE_EVALUATION = 5,
    FM_PHASE_RECOMPUTATION = 6, /* activation recomputation to save memory */
    FM_PHASE_AUXILIARY_MODEL = 7, /* reward, value and other auxiliary models */
    FM_PHASE_CUSTOM = 8,          /* a user-defined phase the rules say nothing about */
};
#define FM_PHASE_CATEGORY_MAX 8

enum fm_phase_action {
    FM_PHASE_PUSH = 1,
    FM_PHASE_POP = 2,
};

/* What went wrong inside the tool (DEGRADATION records). */
enum fm_degradation_kind {
    FM_DEGRADE_OTHER = 0,
    FM_DEGRADE_NO_DEVICE = 1,           /* no GPU, or cuInit failed */
    FM_DEGRADE_INSUFFICIENT_PRIVILEGES = 2,
    FM_DEGRADE_OTHER_SUBSCRIBER = 3,    /* another CUPTI client holds the callbacks */
    FM_DEGRADE_COUNTERS_BUSY = 4,       /* for example DCGM profiling */
    FM_DEGRADE_UNSUPPORTED_DEVICE = 5,  /* chip, MIG, vGPU, confidential computing, ... */
    FM_DEGRADE_RECORDS_DROPPED = 6,     /* a preallocated pool ran out */
    FM_DEGRADE_WRITE_FAILED = 7,        /* the trace itself could not be written completely */
    FM_DEGRADE_CONFIG_INVALID = 8,
    FM_DEGRADE_PROFILER_ERROR = 9,      /* a counter collection failed */
};
#define FM_DEGRADE_KIND_MAX 9

/* How the traced process ended (FINAL records). */
enum fm_exit_reason {
    FM_EXIT_UNKNOWN = 0,
    FM_EXIT_NORMAL = 1,  /* main returned or exit() was called */
    FM_EXIT_SIGNAL = 2,  /* a terminating signal was caught */
    FM_EXIT_TOOL = 3,    /* the tool was shut down explicitly (API call, tests, tools) */
};

enum fm_signature_algorithm {
    FM_SIGALG_ED25519 = 1,
};
#define FM_ED25519_PUBKEY_LEN 32u
#define FM_ED25519_SIG_LEN 64u

/* A signature signs these bytes: the 24-byte ASCII domain string below, the 16-byte trace id
 * and the 32-byte chain head it covers (the prev_hash of the signature chunk). */
#define FM_SIGN_DOMAIN "flopmeter trace v1 head\n"
#define FM_SIGN_DOMAIN_LEN 24u

#ifdef __cplusplus
}
#endif
#endif
