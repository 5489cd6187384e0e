/* trace_status.h - result codes shared by every function of the trace library.
 *
 * Zero is success, positive values are normal events, negative values are errors. */
#ifndef FLOPMETER_TRACE_STATUS_H
#define FLOPMETER_TRACE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum fm_status {
    FM_OK = 0,
    FM_END = 1,             /* reader: no more records */
    FM_E_IO = -1,           /* the operating system refused a read or write */
    FM_E_NOT_TRACE = -2,    /* the file does not start with a flopmeter header */
    FM_E_VERSION = -3,      /* a newer major version or an unknown required flag */
    FM_E_CORRUPT = -4,      /* a size, checksum, sequence or field is wrong */
    FM_E_TRUNCATED = -5,    /* the file ends inside a chunk */
    FM_E_CHAIN = -6,        /* a chunk's prev_hash does not match the chunk before it */
    FM_E_NOMEM = -7,
    FM_E_INVALID = -8,      /* the caller passed an invalid argument or record */
    FM_E_TOO_LARGE = -9,    /* a record exceeds FM_MAX_RECORD_BODY */
    FM_E_CRYPTO = -10,      /* libcrypto failed or a key could not be used */
    FM_E_CLOSED = -11,      /* the writer was already closed */
};

/* A short English name for a status code, never NULL. */
const char *fm_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
