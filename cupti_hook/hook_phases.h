/* hook_phases.h - phases as the program declares them (C API, NVTX ranges, the Python
 * package): a registry of phase names with their rule category, a per-thread stack whose top
 * the launch path reads (a thread-local load, no lock), and a bounded buffer of push and pop
 * events that the flusher turns into PHASE_EVENT records. Phases are per thread because
 * autograd runs the backward pass on a thread of its own. */
#ifndef FM_HOOK_PHASES_H
#define FM_HOOK_PHASES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define FM_MAX_PHASES 256
#define FM_PHASE_NAME_MAX 96
#define FM_PHASE_DEPTH 32
#define FM_PHASE_EVENTS 4096

typedef struct fm_phase_event_rec {
    uint64_t time_ns, thread_id;
    uint32_t phase, action;
} fm_phase_event_rec;

typedef struct fm_phases {
    pthread_mutex_t mu;       /* registration and the event buffer: program rate, not launches */
    uint32_t n;               /* phases defined, ids 1..n */
    char names[FM_MAX_PHASES + 1][FM_PHASE_NAME_MAX];
    uint32_t categories[FM_MAX_PHASES + 1];
    uint32_t written;         /* phases the flusher has written out */
    fm_phase_event_rec events[FM_PHASE_EVENTS];
    uint32_t n_events;
    uint32_t open_pushes;     /* pushes in the buffer or written whose pop is still to come */
    uint64_t dropped;         /* events or phases that did not fit */
} fm_phases;

void fm_phases_init(fm_phases *p);

/* The rule category a phase name implies: "pretraining", "fine-tuning", "rlhf", "eval", ...
 * (docs/hook.md lists the words); anything else is a custom phase. */
uint32_t fm_phase_category_for(const char *name);

/* Finds or defines a phase; 0 when the registry is full (the work then counts outside any
 * phase, and the drop is recorded). category < 0: from the name. */
uint32_t fm_phases_define(fm_phases *p, const char *name, int category);

/* Push and pop on the calling thread. Phase 0 (one the registry had no room for) is pushed
 * too, without an event, so that its pop ends it and not the phase around it. When the event
 * buffer is full a push is dropped with its pop, never one of the two alone (room is kept for
 * the pops of the pushes kept; a thread that ends with phases open keeps theirs). */
void fm_phases_push(fm_phases *p, uint32_t phase, uint64_t now_ns);
void fm_phases_pop(fm_phases *p, uint64_t now_ns);

/* Forgets which thread the others follow, unless it is the calling thread: in the child of
 * a fork, whose only thread is the forking one. */
void fm_phases_reset_anchor(void);
/* Forgets it whichever thread it is (tests, between scenarios; no thread may be in a
 * phase). */
void fm_phases_forget_anchor(void);

/* The calling thread's current phase: its innermost; for a thread that entered none, the
 * innermost phase of the first thread that entered one (0: none). The launch path's only
 * access. */
uint32_t fm_phases_current(void);

/* Takes the buffered events (up to max) and the phases not yet written; for the flusher. */
uint32_t fm_phases_take_events(fm_phases *p, fm_phase_event_rec *out, uint32_t max);

/* The calling thread's id as the kernel knows it. */
uint64_t fm_thread_id(void);

#endif
