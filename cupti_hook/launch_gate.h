/* launch_gate.h - keeps other threads' kernels out of a measurement.
 *
 * The range profiler measures every kernel launched on a context between its start and its
 * stop. While one thread measures its launch, a launch of another thread on the same context
 * must wait, and launches already under way must finish before the counters are armed.
 *
 * Each launching thread publishes the context of the launch it is in (its own cache line);
 * a launch checks the context's "measuring" flag after publishing, and the measurer checks
 * the published contexts after raising the flag: a Dekker handshake, in which one of the two
 * always sees the other. So that the launch path needs no full fence, the measurer issues a
 * process-wide barrier (membarrier(2), private expedited) instead; where the kernel lacks it,
 * the launch path falls back to sequentially consistent operations.
 *
 * Threads beyond FM_GATE_THREADS launching at once are not gated; a kernel of theirs inside a
 * measurement makes that measurement lost (the profiler sees two ranges), never wrong. */
#ifndef FM_HOOK_LAUNCH_GATE_H
#define FM_HOOK_LAUNCH_GATE_H

#include <stdatomic.h>
#include <stdint.h>

#define FM_GATE_THREADS 1024

/* A thread's published launch: its own cache line. */
typedef struct fm_gate_flag {
    _Atomic uint64_t context; /* of the launch in progress; 0: none */
    _Atomic int taken;        /* owned by a thread */
    char pad[64 - sizeof(uint64_t) - sizeof(int)];
} fm_gate_flag;

extern _Thread_local fm_gate_flag *fm_gate_mine; /* NULL until the thread's first launch */
extern int fm_gate_asymmetric; /* membarrier available: the launch path needs no fence */

/* Once, before any launch uses the gate. */
void fm_gate_init(void);

/* fm_gate_enter's rest: the thread's first launch, or a measurement to wait for. */
void fm_gate_enter_slow(uint64_t context, const _Atomic int *measuring);

/* A launch on `context` begins. Waits while another thread measures on it (measuring: the
 * context's flag), then returns with the launch published. Inline: a plain store, a compiler
 * barrier and a plain load on the launch path. */
static inline void fm_gate_enter(uint64_t context, const _Atomic int *measuring)
{
    fm_gate_flag *f = fm_gate_mine;
    if (f) {
        /* the store must be visible before the flag is read: the measurer's membarrier
         * orders the two for us; without it, both sequentially consistent */
        if (fm_gate_asymmetric) {
            atomic_store_explicit(&f->context, context, memory_order_relaxed);
            atomic_signal_fence(memory_order_seq_cst);
            if (!atomic_load_explicit(measuring, memory_order_relaxed))
                return;
        } else {
            atomic_store(&f->context, context);
            if (!atomic_load(measuring))
                return;
        }
    }
    fm_gate_enter_slow(context, measuring);
}

/* The calling thread's launch is over (or becomes the measured one). */
static inline void fm_gate_leave(void)
{
    if (fm_gate_mine)
        atomic_store_explicit(&fm_gate_mine->context, 0, memory_order_release);
}

/* The measurer, after raising the context's flag: waits until the launches of other threads
 * published on `context` have left (at most limit_ns). 0, or -1 when it gave up waiting. */
int fm_gate_drain(uint64_t context, uint64_t limit_ns);

#endif
