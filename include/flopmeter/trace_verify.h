/* trace_verify.h - checks a whole trace: framing, hash chain, completeness, the FINAL record's
 * counts and totals, references between records, and signatures.
 *
 * What a passing check means and what it cannot mean is in docs/trace-format.md
 * ("Integrity"): the chain makes any edit, reordering, insertion or removal of chunks visible,
 * except a rewrite of the whole tail after some point, which only a signature (or a chain head
 * recorded elsewhere) rules out. */
#ifndef FLOPMETER_TRACE_VERIFY_H
#define FLOPMETER_TRACE_VERIFY_H

#include <stdint.h>

#include "trace_format.h"
#include "trace_reader.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_verify_options {
    int have_trusted_key;        /* 1: require a valid signature by trusted_key */
    uint8_t trusted_key[FM_ED25519_PUBKEY_LEN];
} fm_verify_options;

typedef struct fm_verify_result {
    int status;              /* FM_OK only when everything checked out */
    int complete;            /* a FINAL chunk was found (the writer closed the trace) */
    char message[640];       /* the first problem, one line, naming the file; "" when intact */
    uint64_t offset;         /* where the problem was found */
    fm_reader_info info;
    uint64_t records_by_kind[FM_REC_KIND_MAX + 1]; /* [0]: records of unknown kinds */
    uint64_t signatures;         /* SIGNATURE records */
    uint64_t signatures_valid;   /* ... whose Ed25519 signature checks out */
    int trusted_signature_found; /* a valid signature by the trusted key */
    uint64_t launches;           /* sum of AGGREGATE launches */
    uint64_t exit_reason, records_dropped, end_unix_ns; /* from FINAL, when complete */
    uint64_t inputs;             /* merged traces (1.1 or newer): INPUT records */
    uint64_t inputs_incomplete;  /* ... of inputs that were not complete when merged */
} fm_verify_result;

/* Verifies the trace at path. Returns res->status. A trace without a FINAL chunk (its writer
 * was killed or is still running) is reported with status FM_E_TRUNCATED and complete == 0,
 * after everything present was checked. */
int fm_verify_file(const char *path, const fm_verify_options *opt, fm_verify_result *res);

/* The same over an open reader that has not delivered any record yet. */
int fm_verify_reader(fm_reader *r, const fm_verify_options *opt, fm_verify_result *res);

/* The same checks for a consumer that reads the records itself (the report reads each trace
 * once): create a verifier on the reader, hand it every record fm_reader_next delivers, then
 * finish with the status fm_reader_next ended with. opt must outlive the verifier. */
typedef struct fm_verifier fm_verifier;
fm_verifier *fm_verifier_new(fm_reader *r, const fm_verify_options *opt);
/* Checks one record; returns the verifier's (sticky) status. */
int fm_verifier_record(fm_verifier *v, const fm_record *rec);
/* Fills *res and returns res->status. */
int fm_verifier_finish(fm_verifier *v, int reader_status, fm_verify_result *res);
void fm_verifier_free(fm_verifier *v);

#ifdef __cplusplus
}
#endif
#endif
