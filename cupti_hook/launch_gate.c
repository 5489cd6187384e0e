/* launch_gate.c - keeps other threads' kernels out of a measurement (see launch_gate.h). */
#define _GNU_SOURCE
#include "launch_gate.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sysio.h"

/* How long a launch waits for another thread's measurement before it goes on regardless: a
 * measurement lasts as long as its kernel (milliseconds), and should the driver ever make the
 * measured launch wait for this thread, both go on after this long; the measurement is then
 * lost (two ranges), not wrong. */
#define WAIT_LIMIT_NS 5000000000ull

static _Alignas(64) fm_gate_flag flags[FM_GATE_THREADS];
static _Atomic uint32_t flags_used; /* high-water mark: the measurer scans this many */
int fm_gate_asymmetric;
static pthread_key_t release_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
_Thread_local fm_gate_flag *fm_gate_mine;
static _Thread_local int no_flag; /* none was free: this thread is not gated */

static void release_flag(void *p)
{
    fm_gate_flag *f = p;
    atomic_store_explicit(&f->context, 0, memory_order_release);
    atomic_store_explicit(&f->taken, 0, memory_order_release);
}

static void setup(void)
{
    pthread_key_create(&release_key, release_flag);
    fm_gate_asymmetric = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

void fm_gate_init(void)
{
    pthread_once(&once, setup);
}

/* The calling thread's flag, taken on its first launch. */
static fm_gate_flag *flag(void)
{
    if (fm_gate_mine || no_flag)
        return fm_gate_mine;
    fm_gate_init();
    for (uint32_t i = 0; i < FM_GATE_THREADS; i++) {
        int expected = 0;
        if (atomic_load_explicit(&flags[i].taken, memory_order_relaxed) ||
            !atomic_compare_exchange_strong(&flags[i].taken, &expected, 1))
            continue;
        uint32_t used = atomic_load(&flags_used);
        while (used < i + 1 && !atomic_compare_exchange_weak(&flags_used, &used, i + 1)) {
        }
        fm_gate_mine = &flags[i];
        pthread_setspecific(release_key, fm_gate_mine);
        return fm_gate_mine;
    }
    no_flag = 1;
    return NULL;
}

/* One round of a wait: spins at first, then yields the core. 0 once limit_ns have passed
 * since the first yield (*start keeps its time; 0 before it). */
static int keep_waiting(unsigned spin, uint64_t *start, uint64_t limit_ns)
{
    if (spin < 256)
        return 1;
    sched_yield();
    if (!*start) {
        *start = fm_now_mono_ns();
        return 1;
    }
    return (spin & 255) != 0 || fm_now_mono_ns() - *start <= limit_ns;
}

static void spin_while_set(const _Atomic int *measuring)
{
    uint64_t start = 0;
    for (unsigned spin = 0; atomic_load_explicit(measuring, memory_order_acquire) &&
                            keep_waiting(spin, &start, WAIT_LIMIT_NS);
         spin++) {
    }
}

void fm_gate_enter_slow(uint64_t context, const _Atomic int *measuring)
{
    fm_gate_flag *f = flag();
    if (!f) {
        spin_while_set(measuring);
        return;
    }
    for (;;) {
        atomic_store(&f->context, context); /* as in fm_gate_enter, the strong way */
        if (!atomic_load(measuring))
            return;
        atomic_store_explicit(&f->context, 0, memory_order_release);
        spin_while_set(measuring);
    }
}

int fm_gate_drain(uint64_t context, uint64_t limit_ns)
{
    /* every other thread's published launch is visible once each has passed a barrier (the
     * launch path stores without one); without membarrier, the launch path's sequentially
     * consistent store and this thread's sequentially consistent flag and loads suffice */
    if (fm_gate_asymmetric)
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
    uint64_t start = 0;
    uint32_t used = atomic_load_explicit(&flags_used, memory_order_acquire);
    for (uint32_t i = 0; i < used; i++) {
        fm_gate_flag *f = &flags[i];
        for (unsigned spin = 0; f != fm_gate_mine && atomic_load(&f->context) == context;
             spin++)
            if (!keep_waiting(spin, &start, limit_ns))
                return -1;
    }
    return 0;
}
