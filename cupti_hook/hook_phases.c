/* hook_phases.c - phase registry, per-thread stacks and the event buffer (see
 * hook_phases.h). */
#define _GNU_SOURCE
#include "hook_phases.h"

#include <ctype.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "flopmeter/trace_format.h"

static _Thread_local uint32_t stack[FM_PHASE_DEPTH];
static _Thread_local uint32_t depth;
static _Thread_local uint32_t overflow; /* pushes beyond the stack, popped without effect */
static _Thread_local uint8_t kept[FM_PHASE_DEPTH]; /* the push's event is in the buffer */

/* The phase of the threads that entered none: the innermost phase of the first thread that
 * entered one, the program's main loop as a rule. Frameworks run work on threads of their own
 * (PyTorch's autograd engine runs the backward pass on one per device), and that work belongs
 * to the phase the loop is in. A thread that enters a phase of its own counts in it. */
static _Atomic uint32_t inherited;
static atomic_flag anchor_taken = ATOMIC_FLAG_INIT;
static _Thread_local int is_anchor;

static void update_inherited(void)
{
    if (!is_anchor)
        is_anchor = !atomic_flag_test_and_set(&anchor_taken);
    if (is_anchor)
        atomic_store_explicit(&inherited, depth ? stack[depth - 1] : 0, memory_order_relaxed);
}

void fm_phases_init(fm_phases *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
}

uint64_t fm_thread_id(void)
{
    return (uint64_t)syscall(SYS_gettid);
}

/* Lower-case, with '-' and ' ' read as '_', for matching the vocabulary. */
static void normalise(const char *in, char *out, size_t len)
{
    size_t i = 0;
    for (; in[i] && i + 1 < len; i++) {
        char c = (char)tolower((unsigned char)in[i]);
        out[i] = (c == '-' || c == ' ') ? '_' : c;
    }
    out[i] = '\0';
}

uint32_t fm_phase_category_for(const char *name)
{
    static const struct {
        const char *word;
        uint32_t category;
    } words[] = {
        {"pretraining", FM_PHASE_PRETRAINING},      {"pre_training", FM_PHASE_PRETRAINING},
        {"pretrain", FM_PHASE_PRETRAINING},         {"finetuning", FM_PHASE_FINETUNING},
        {"fine_tuning", FM_PHASE_FINETUNING},       {"finetune", FM_PHASE_FINETUNING},
        {"sft", FM_PHASE_FINETUNING},               {"reinforcement_learning", FM_PHASE_REINFORCEMENT_LEARNING},
        {"rl", FM_PHASE_REINFORCEMENT_LEARNING},    {"rlhf", FM_PHASE_REINFORCEMENT_LEARNING},
        {"synthetic_data", FM_PHASE_SYNTHETIC_DATA}, {"synthetic_data_generation", FM_PHASE_SYNTHETIC_DATA},
        {"evaluation", FM_PHASE_EVALUATION},        {"eval", FM_PHASE_EVALUATION},
        {"recomputation", FM_PHASE_RECOMPUTATION},  {"activation_recomputation", FM_PHASE_RECOMPUTATION},
        {"recompute", FM_PHASE_RECOMPUTATION},      {"auxiliary_model", FM_PHASE_AUXILIARY_MODEL},
        {"auxiliary", FM_PHASE_AUXILIARY_MODEL},    {"reward_model", FM_PHASE_AUXILIARY_MODEL},
    };
    char n[64];
    normalise(name, n, sizeof n);
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcmp(n, words[i].word) == 0)
            return words[i].category;
    return FM_PHASE_CUSTOM;
}

uint32_t fm_phases_define(fm_phases *p, const char *name, int category)
{
    if (!name || !*name)
        return 0;
    uint32_t cat = category < 0 || category > (int)FM_PHASE_CATEGORY_MAX
                       ? fm_phase_category_for(name)
                       : (uint32_t)category;
    pthread_mutex_lock(&p->mu);
    uint32_t id = 0;
    for (uint32_t i = 1; i <= p->n && !id; i++)
        if (p->categories[i] == cat && strncmp(p->names[i], name, FM_PHASE_NAME_MAX - 1) == 0)
            id = i;
    if (!id && p->n < FM_MAX_PHASES) {
        id = ++p->n;
        strncpy(p->names[id], name, FM_PHASE_NAME_MAX - 1);
        p->names[id][FM_PHASE_NAME_MAX - 1] = '\0';
        p->categories[id] = cat;
    } else if (!id) {
        p->dropped++;
    }
    pthread_mutex_unlock(&p->mu);
    return id;
}

/* A push is kept only while the buffer has room for it and for the pop of every kept push
 * still open, its own included: a kept push always gets its pop, and a dropped push drops its
 * pop too, so the events in the trace stay balanced however full the buffer was. Returns 1
 * when kept. */
static int record_push(fm_phases *p, uint32_t phase, uint64_t now_ns)
{
    pthread_mutex_lock(&p->mu);
    int kept = p->n_events + p->open_pushes + 2 <= FM_PHASE_EVENTS;
    if (kept) {
        p->events[p->n_events++] =
            (fm_phase_event_rec){now_ns, fm_thread_id(), phase, FM_PHASE_PUSH};
        p->open_pushes++;
    } else {
        p->dropped++;
    }
    pthread_mutex_unlock(&p->mu);
    return kept;
}

static void record_pop(fm_phases *p, uint32_t phase, uint64_t now_ns)
{
    pthread_mutex_lock(&p->mu);
    p->events[p->n_events++] = (fm_phase_event_rec){now_ns, fm_thread_id(), phase, FM_PHASE_POP};
    p->open_pushes--;
    pthread_mutex_unlock(&p->mu);
}

void fm_phases_push(fm_phases *p, uint32_t phase, uint64_t now_ns)
{
    if (depth >= FM_PHASE_DEPTH) {
        /* deeper than any sensible nesting: ignored, and so is the matching pop */
        overflow++;
        pthread_mutex_lock(&p->mu);
        p->dropped++;
        pthread_mutex_unlock(&p->mu);
        return;
    }
    /* phase 0 (the registry was full) is pushed too, without an event: its work counts
     * outside any phase, and its pop must not end the enclosing phase */
    kept[depth] = phase && record_push(p, phase, now_ns);
    stack[depth++] = phase;
    update_inherited();
}

void fm_phases_pop(fm_phases *p, uint64_t now_ns)
{
    if (overflow) {
        overflow--;
        return;
    }
    if (!depth)
        return; /* a pop without a push: nothing to end */
    uint32_t phase = stack[--depth];
    if (kept[depth])
        record_pop(p, phase, now_ns);
    update_inherited();
}

void fm_phases_reset_anchor(void)
{
    /* only the forking thread lives on: if it was not the one the others followed, the child
     * starts without one (the next thread to enter a phase becomes it) */
    if (!is_anchor) {
        atomic_flag_clear(&anchor_taken);
        atomic_store(&inherited, 0);
    }
}

void fm_phases_forget_anchor(void)
{
    is_anchor = 0;
    atomic_flag_clear(&anchor_taken);
    atomic_store(&inherited, 0);
}

uint32_t fm_phases_current(void)
{
    return depth ? stack[depth - 1] : atomic_load_explicit(&inherited, memory_order_relaxed);
}

uint32_t fm_phases_take_events(fm_phases *p, fm_phase_event_rec *out, uint32_t max)
{
    pthread_mutex_lock(&p->mu);
    uint32_t n = p->n_events < max ? p->n_events : max;
    memcpy(out, p->events, n * sizeof *out);
    memmove(p->events, p->events + n, (p->n_events - n) * sizeof *out);
    p->n_events -= n;
    pthread_mutex_unlock(&p->mu);
    return n;
}
