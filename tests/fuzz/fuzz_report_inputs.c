/* fuzz_report_inputs.c - libFuzzer target for the report's text inputs: the first byte picks
 * the parser (model spec, threshold profile or peak table), the rest is the file. Every input
 * must end in a clean result or a one-line error, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "report_facts.h"
#include "rules_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char err[1024];
    switch (data[0] % 3) {
    case 0: {
        rp_facts f;
        rp_facts_init(&f);
        if (rp_facts_from_spec_text(&f, "fuzz.ini", text, len, err, sizeof err) == 0)
            (void)rp_facts_check(&f, err, sizeof err);
        break;
    }
    case 1:
    case 2: {
        rp_data d;
        memset(&d, 0, sizeof d);
        if (rp_data_add_text(&d, data[0] % 3 == 1 ? "thresholds" : "peaks", "fuzz.ini", text, len,
                             err, sizeof err) == 0 &&
            d.n_peaks)
            (void)rp_peaks_for(&d, "NVIDIA H100 80GB HBM3");
        rp_data_free(&d);
        break;
    }
    }
    return 0;
}
