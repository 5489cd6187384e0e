/* dlopen_api_program.c - a program that loads libflopmeter.so late, with dlopen, as the CUDA
 * driver loads the library CUDA_INJECTION64_PATH names, and calls its C API from several
 * threads: the library's thread-local variables then live in dynamically allocated TLS,
 * which the library must reach (it is built with TLS descriptors where the compiler offers
 * them). argv[1]: the library. Prints "ok" and exits 0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

typedef int (*push_fn)(const char *);
typedef int (*pop_fn)(void);
typedef int (*step_fn)(double);

static push_fn push;
static pop_fn pop;
static step_fn step;

static void *work(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        if (push("pretraining") != 0 || step(128) != 0 || pop() != 0)
            return (void *)1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("cannot load %s: %s\n", argv[1], dlerror());
        return 4;
    }
    *(void **)&push = dlsym(h, "flopmeter_phase_push");
    *(void **)&pop = dlsym(h, "flopmeter_phase_pop");
    *(void **)&step = dlsym(h, "flopmeter_step");
    if (!push || !pop || !step) {
        printf("missing C API\n");
        return 5;
    }
    pthread_t t[4];
    int failed = 0;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, work, NULL);
    failed |= work(NULL) != NULL;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed |= r != NULL;
    }
    printf(failed ? "a call failed\n" : "ok\n");
    return failed;
}
