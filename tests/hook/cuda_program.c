/* cuda_program.c - a program that initialises CUDA through the driver library it is linked
 * with; in the tests that is the driver stub, whose cuInit fails as on a machine without a
 * GPU. What it prints does not depend on whether libflopmeter.so is loaded.
 *
 * usage: hook_cuda_program MODE
 *   init       cuInit, print its result, exit 3
 *   nvtx       NVTX ranges (phases and others) and the flopmeter C API, found with dlsym as a
 *              Python package would, around cuInit; exit 0
 *   sleep      cuInit, print "ready", then wait to be killed (exit 9 after 20 s)
 *   fork       cuInit, fork: the child prints and exits 0, the parent waits and exits 0
 *   fork-term  cuInit, fork: the child is killed by SIGTERM, the parent waits, declares
 *              after.child and exits 0 */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <nvtx3/nvToolsExt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef int (*declare_fn)(const char *, double, const char *);
typedef int (*step_fn)(double);

/* The C API when libflopmeter.so is loaded; calls that do nothing when it is not. */
static int no_declare(const char *k, double v, const char *t)
{
    (void)k;
    (void)v;
    (void)t;
    return 0;
}
static int no_step(double t)
{
    (void)t;
    return 0;
}
static declare_fn declare = no_declare;
static step_fn step = no_step;

static void find_api(void)
{
    void *d = dlsym(RTLD_DEFAULT, "flopmeter_declare");
    void *s = dlsym(RTLD_DEFAULT, "flopmeter_step");
    if (d)
        *(void **)&declare = d;
    if (s)
        *(void **)&step = s;
}

static int init(void)
{
    CUresult r = cuInit(0);
    printf("cuInit returned %d\n", (int)r);
    fflush(stdout);
    return (int)r;
}

static nvtxEventAttributes_t attributes(const char *message, uint32_t category)
{
    nvtxEventAttributes_t a;
    memset(&a, 0, sizeof a);
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.category = category;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = message;
    return a;
}

static int nvtx(void)
{
    nvtxRangePushA("flopmeter:pretraining"); /* a phase, before CUDA starts */
    init();
    declare("model.parameters", 7e9, NULL);
    for (int i = 0; i < 3; i++)
        step(1024);
    nvtxRangePushA("data-loading"); /* someone else's range: no phase */
    declare("data.note", 1, "inside an unrelated range");
    nvtxRangePop();
    nvtxRangePop(); /* pretraining */

    nvtxDomainHandle_t fm = nvtxDomainCreateA("flopmeter");
    nvtxEventAttributes_t holdout = attributes("holdout", 5); /* 5: evaluation */
    nvtxDomainRangePushEx(fm, &holdout);
    declare("eval.loss", 2.25, NULL);
    nvtxDomainRangePop(fm);

    nvtxDomainHandle_t other = nvtxDomainCreateA("another-library");
    nvtxEventAttributes_t theirs = attributes("flopmeter:not-a-phase", 1);
    nvtxDomainRangePushEx(other, &theirs); /* only the default domain reads the prefix */
    declare("outside", 3, NULL);
    nvtxDomainRangePop(other);
    nvtxRangePushA("flopmeter:"); /* the prefix alone names nothing */
    nvtxRangePop();
    printf("nvtx done\n");
    return 0;
}

static int sleep_until_killed(void)
{
    init();
    printf("ready\n");
    fflush(stdout);
    struct timespec ten_ms = {0, 10000000};
    for (int i = 0; i < 2000; i++)
        nanosleep(&ten_ms, NULL);
    return 9;
}

static int forking(int terminate_child)
{
    init();
    pid_t pid = fork();
    if (pid < 0)
        return 5;
    if (pid == 0) {
        if (terminate_child) {
            kill(getpid(), SIGTERM);
            sleep(10);
            _exit(8); /* not reached: SIGTERM ends the child */
        }
        printf("child done\n");
        return 0; /* through exit(): the atexit handlers run in the child too */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st))
        printf("parent: child exited %d\n", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("parent: child killed by signal %d\n", WTERMSIG(st));
    declare("after.child", 1, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "init";
    find_api();
    if (!strcmp(mode, "init"))
        return init() == CUDA_SUCCESS ? 0 : 3;
    if (!strcmp(mode, "nvtx"))
        return nvtx();
    if (!strcmp(mode, "sleep"))
        return sleep_until_killed();
    if (!strcmp(mode, "fork"))
        return forking(0);
    if (!strcmp(mode, "fork-term"))
        return forking(1);
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
