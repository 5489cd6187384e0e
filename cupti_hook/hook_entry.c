/* hook_entry.c - how libflopmeter.so gets into a process and out of it cleanly.
 *
 * In: loaded with LD_PRELOAD, its constructor points CUDA_INJECTION64_PATH at this library
 * (unless another tool is injected), so the CUDA driver calls InitializeInjection when the
 * program initialises CUDA; loaded through CUDA_INJECTION64_PATH directly, the same happens.
 * Nothing is created before CUDA is initialised: processes that never use CUDA (data loader
 * workers) write nothing. A cuInit that fails (no GPU, no driver, the driver stub) is seen
 * through an interposed cuInit when preloaded, and recorded.
 *
 * Out: normal exit and exit() from any thread (atexit), SIGTERM/SIGINT/SIGHUP when the
 * program left them at their default (a watcher thread closes the trace, then the signal
 * takes its default course), fork (the child drops the parent's trace). SIGKILL loses at most
 * the last flush interval. */
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "cupti_glue.h"
#include "hook_core.h"
#include "measured_launch.h"
#include "flopmeter/trace_format.h"

/* ---- native stacks ------------------------------------------------------------------------ */

/* The first frames are the hook's own and CUPTI's; they are kept (the report skips them by
 * module), since telling them apart here would cost time in the launch path. */
static int capture_stack(uint64_t *pcs, int max)
{
    void *buf[FM_MAX_STACK];
    int n = unw_backtrace(buf, max < FM_MAX_STACK ? max : FM_MAX_STACK);
    for (int i = 0; i < n; i++)
        pcs[i] = (uint64_t)(uintptr_t)buf[i];
    return n > 0 ? n : 0;
}

/* ---- exits -------------------------------------------------------------------------------- */

static int pipe_fds[2] = {-1, -1};
static pid_t watcher_pid; /* the process whose watcher thread reads pipe_fds */
static _Atomic int stopped_by_signal;
static struct sigaction previous[65];
static const int caught[] = {SIGTERM, SIGINT, SIGHUP};

static void at_exit(void)
{
    fm_glue_stop();
}

static void *signal_watcher(void *arg)
{
    (void)arg;
    char sig;
    while (read(pipe_fds[0], &sig, 1) < 0 && errno == EINTR) {
    }
    /* no CUPTI flush here: the interrupted thread may hold the driver's locks */
    fm_hook_stop(FM_EXIT_SIGNAL);
    atomic_store(&stopped_by_signal, 1);
    return NULL;
}

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    /* A forked child inherits this handler and the pipe, but not the watcher: its signal
     * must neither wait for a watcher that does not exist nor wake the parent's, which would
     * close the parent's trace as if the parent had been signalled. getpid is
     * async-signal-safe. */
    if (getpid() == watcher_pid && write(pipe_fds[1], &c, 1) == 1) {
        /* give the watcher up to five seconds to close the trace */
        struct timespec ten_ms = {0, 10000000};
        for (int i = 0; i < 500 && !atomic_load(&stopped_by_signal); i++)
            nanosleep(&ten_ms, NULL);
    }
    sigaction(sig, &previous[sig], NULL); /* the program's own disposition: the default */
    errno = saved;
    raise(sig);
}

/* Catches the terminating signals the program left at their default, and only those. */
static void catch_signals(void)
{
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return;
    watcher_pid = getpid();
    pthread_t t;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, NULL, signal_watcher, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return;
    pthread_detach(t);
    for (size_t i = 0; i < sizeof caught / sizeof *caught; i++) {
        int sig = caught[i];
        if (sigaction(sig, NULL, &previous[sig]) != 0 || previous[sig].sa_handler != SIG_DFL ||
            (previous[sig].sa_flags & SA_SIGINFO))
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(sig, &sa, NULL);
    }
}

static pthread_once_t exits_once = PTHREAD_ONCE_INIT;

static void install_exits(void)
{
    atexit(at_exit);
    catch_signals();
}

/* ---- in ------------------------------------------------------------------------------------ */

/* The path of this library, for CUDA_INJECTION64_PATH. */
static const char *self_path(void)
{
    static char path[4096];
    Dl_info info;
    if (!path[0] && dladdr((void *)self_path, &info) && info.dli_fname)
        snprintf(path, sizeof path, "%s", info.dli_fname);
    return path;
}

/* Is this library named in LD_PRELOAD (so that we run before main, single-threaded)? */
static int preloaded(void)
{
    const char *pre = getenv("LD_PRELOAD"), *self = self_path();
    if (!pre || !*self)
        return 0;
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", self);
    const char *base = basename(copy);
    return strstr(pre, base) != NULL;
}

/* FLOPMETER_QUIET as the configuration reads it (FLOPMETER_QUIET=0 is not quiet). */
static int quiet(void)
{
    fm_hook_config c;
    char err[16];
    return fm_hook_config_read(&c, err, sizeof err) == 0 && c.quiet;
}

/* Names this library in an injection variable, unless another tool is named there. */
static void point_at_self(const char *var, const char *consequence)
{
    const char *cur = getenv(var);
    if (!cur || !*cur)
        setenv(var, self_path(), 1);
    else if (strcmp(cur, self_path()) != 0 && !quiet())
        fprintf(stderr, "flopmeter: %s names another tool (%s): %s\n", var, cur, consequence);
}

__attribute__((constructor)) static void on_load(void)
{
    fm_hook_capture_stack = capture_stack;
    pthread_atfork(NULL, NULL, fm_measuring_after_fork_child);
    pthread_atfork(NULL, NULL, fm_hook_after_fork_child);
    const char *off = getenv("FLOPMETER_MODE");
    if ((off && strcmp(off, "off") == 0) || !preloaded())
        return;
    /* before main, one thread: setenv is safe here and nowhere later */
    point_at_self("CUDA_INJECTION64_PATH", "the CUDA driver will not call flopmeter");
    point_at_self("NVTX_INJECTION64_PATH", "NVTX ranges will not mark phases");
}

/* Called by the CUDA driver during cuInit (CUDA_INJECTION64_PATH). Returns 1: the driver
 * must go on whatever happens here. */
__attribute__((visibility("default"))) int InitializeInjection(void)
{
    fm_glue_start();
    pthread_once(&exits_once, install_exits);
    return 1;
}

/* Seen only when preloaded and the program calls cuInit through its own link to the driver
 * (not through dlsym): then a failed cuInit is recorded, which the driver cannot tell us. */
__attribute__((visibility("default"))) CUresult CUDAAPI cuInit(unsigned int flags)
{
    static CUresult(CUDAAPI * _Atomic real)(unsigned int);
    CUresult(CUDAAPI * next)(unsigned int) = atomic_load(&real);
    if (!next) {
        *(void **)&next = dlsym(RTLD_NEXT, "cuInit");
        /* Loaded with RTLD_GLOBAL before the driver (a plugin host, an interpreter), this
         * function is what a global lookup of cuInit finds, and no driver comes after it yet:
         * load the driver as the program would have. */
        void *driver = next ? NULL : dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
        if (driver)
            *(void **)&next = dlsym(driver, "cuInit");
        if (!next)
            return CUDA_ERROR_NOT_INITIALIZED; /* no driver on this machine */
        atomic_store(&real, next);
    }
    CUresult r = next(flags);
    if (r != CUDA_SUCCESS && fm_hook_state() == FM_HOOK_IDLE) {
        fm_hook_versions none = {0, 0, 0};
        if (fm_hook_start(&none) == 0) {
            fm_hook_degrade(FM_DEGRADE_NO_DEVICE, r, 0,
                            "cuInit failed (CUDA error %d): no GPU work can be measured", (int)r);
            pthread_once(&exits_once, install_exits);
        }
    }
    return r;
}
