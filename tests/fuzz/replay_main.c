/* replay_main.c - runs a libFuzzer target over files given on the command line, so the
 * targets build and run in every build (with any compiler) as regression tests over the seed
 * corpus and every crash ever found. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "%s: cannot open\n", argv[i]);
            return 1;
        }
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, got;
        uint8_t chunk[65536];
        while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
            if (len + got > cap) {
                cap = (len + got) * 2;
                uint8_t *nb = realloc(buf, cap);
                if (!nb) {
                    fclose(f);
                    free(buf);
                    return 1;
                }
                buf = nb;
            }
            for (size_t k = 0; k < got; k++)
                buf[len + k] = chunk[k];
            len += got;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf ? buf : (const uint8_t *)"", len);
        free(buf);
        n++;
    }
    printf("replayed %d inputs\n", n);
    return 0;
}
