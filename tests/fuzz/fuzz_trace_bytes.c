/* fuzz_trace_bytes.c - libFuzzer target: arbitrary bytes as a trace file, through the reader
 * and the whole verifier. Exercises the file and chunk framing; see fuzz_trace_payloads.c for
 * the record decoder behind the checksums. */
#include <stddef.h>
#include <stdint.h>

#include "flopmeter/trace_reader.h"
#include "flopmeter/trace_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_reader *r = NULL;
    if (fm_reader_open_memory(&r, data, size, "fuzz", NULL, 0) != FM_OK)
        return 0;
    fm_verify_result res;
    fm_verify_reader(r, NULL, &res);
    fm_reader_close(r);
    return 0;
}
