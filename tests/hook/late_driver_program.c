/* late_driver_program.c - a program that loads a library with RTLD_GLOBAL before the CUDA
 * driver is loaded, then finds cuInit by a global lookup, as a plugin host or an interpreter
 * may. argv[1]: the library to load first ("none": the driver itself). Prints what cuInit
 * returned and exits 0. With libflopmeter.so loaded first, the global lookup finds the
 * library's cuInit, which must reach the driver even though the driver is not loaded yet. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int (*cu_init_fn)(unsigned int);

int main(int argc, char **argv)
{
    const char *first = argc > 1 ? argv[1] : "none";
    if (strcmp(first, "none") != 0 && !dlopen(first, RTLD_NOW | RTLD_GLOBAL)) {
        printf("cannot load %s: %s\n", first, dlerror());
        return 4;
    }
    if (strcmp(first, "none") == 0 && !dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL)) {
        printf("cannot load the driver: %s\n", dlerror());
        return 4;
    }
    cu_init_fn cu_init;
    *(void **)&cu_init = dlsym(RTLD_DEFAULT, "cuInit");
    if (!cu_init) {
        printf("no cuInit\n");
        return 5;
    }
    printf("cuInit returned %d\n", cu_init(0));
    return 0;
}
