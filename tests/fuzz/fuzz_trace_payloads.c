/* fuzz_trace_payloads.c - libFuzzer target: the input is cut into chunk payloads at each
 * "\xff\xfe" marker, and every piece is wrapped into a correctly framed, hash-chained,
 * compressed chunk before the trace goes through the reader and the verifier. Random bytes
 * would almost never get past the CRC, zlib and SHA-256 checks; this way the fuzzer works on
 * what lies behind them: record decoding, limits, references and the FINAL checks.
 * Each piece starts with a byte that picks the chunk type and a little-endian 16-bit record
 * count for the chunk header; the rest is the payload. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int append(uint8_t **buf, size_t *len, const void *p, size_t n)
{
    uint8_t *nb = realloc(*buf, *len + n);
    if (!nb)
        return -1;
    memcpy(nb + *len, p, n);
    *buf = nb;
    *len += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_file_header fh = {FM_FORMAT_MAJOR, FM_FORMAT_MINOR, FM_FILE_HEADER_SIZE, 0, {0}, 0};
    uint8_t hdr[FM_FILE_HEADER_SIZE], prev[FM_HASH_LEN];
    fm_file_header_pack(&fh, hdr);
    fm_sha256_2(hdr, sizeof hdr, NULL, 0, prev);
    uint8_t *file = NULL;
    size_t file_len = 0;
    if (append(&file, &file_len, hdr, sizeof hdr) != 0)
        return 0;
    fm_chunk_builder cb;
    if (fm_chunk_builder_init(&cb, 1) != FM_OK) {
        free(file);
        return 0;
    }
    uint64_t seq = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        int at_end = i == size;
        if (!at_end && !(i + 1 < size && data[i] == 0xff && data[i + 1] == 0xfe))
            continue;
        const uint8_t *piece = data + start;
        size_t n = i - start;
        start = at_end ? i : i + 2;
        if (n < 3)
            continue;
        uint32_t type = 1 + piece[0] % 3;
        uint32_t records = (uint32_t)piece[1] | (uint32_t)piece[2] << 8;
        if (fm_chunk_build(&cb, type, seq++, prev, piece + 3, n - 3, records) != FM_OK)
            continue;
        fm_sha256_2(cb.out.data, cb.out.len, NULL, 0, prev);
        if (append(&file, &file_len, cb.out.data, cb.out.len) != 0)
            break;
        if (at_end)
            break;
    }
    fm_chunk_builder_free(&cb);

    fm_reader *r = NULL;
    if (fm_reader_open_memory(&r, file, file_len, "fuzz", NULL, 0) == FM_OK) {
        fm_verify_result res;
        fm_verify_reader(r, NULL, &res);
        fm_reader_close(r);
    }
    free(file);
    return 0;
}
