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
 * the launch path falls back to a full fence.
 *
 * Threads beyond FM_GATE_THREADS launching at once are not gated; a kernel of theirs inside a
 * measurement makes that measurement lost (the profiler sees two ranges), never wrong. */
#ifndef FM_HOOK_LAUNCH_GATE_H
#define FM_HOOK_LAUNCH_GATE_H

#include <stdatomic.h>
#include <stdint.h>

#define FM_GATE_THREADS 1024

/* Once, before any launch uses the gate. */
void fm_gate_init(void);

/* A launch on `context` begins. Waits while another thread measures on it (measuring: the
 * context's flag), then returns with the launch published. */
void fm_gate_enter(uint64_t context, const _Atomic int *measuring);

/* The calling thread's launch is over (or becomes the measured one). */
void fm_gate_leave(void);

/* The measurer, after raising the context's flag: waits until the launches of other threads
 * published on `context` have left (at most limit_ns). 0, or -1 when it gave up waiting. */
int fm_gate_drain(uint64_t context, uint64_t limit_ns);

#endif
