/* kernel_pool.h - the simulated kernels of the synthesizer: names, shapes, the hardware
 * counter values each launch produces, and the metric groups those counters belong to. */
#ifndef FM_SYNTH_KERNEL_POOL_H
#define FM_SYNTH_KERNEL_POOL_H

#include <stdint.h>

#include "rng.h"

/* Metric groups of the simulated chip, modelled on the single-pass partition known for GH100
 * (docs/trace-format.md lists them only as an example; the hook's catalog is authoritative). */
#define SYNTH_GROUPS 5
#define SYNTH_MAX_METRICS 9

typedef struct synth_metric {
    const char *name;
    uint8_t precision_class;
    double weight;
} synth_metric;

typedef struct synth_group {
    int n;
    synth_metric m[SYNTH_MAX_METRICS];
} synth_group;

extern const synth_group synth_groups[SYNTH_GROUPS];

/* One hardware counter a kernel increments: group, metric within it, count per launch. */
typedef struct synth_component {
    uint8_t group, metric;
    double count;
} synth_component;

enum synth_role { ROLE_FORWARD, ROLE_BACKWARD, ROLE_OPTIMIZER, ROLE_COMMUNICATION };

#define SYNTH_MAX_COMPONENTS 4
#define SYNTH_MAX_CLASSES 3

typedef struct synth_kernel {
    char name[384];
    int kind;
    int role;                 /* enum synth_role */
    double rate;              /* expected launches per training step */
    double noise;             /* relative spread of the work between launches (0: fixed) */
    int n_comp;
    synth_component comp[SYNTH_MAX_COMPONENTS];
    int n_classes;            /* distinct precision classes, ascending */
    uint8_t classes[SYNTH_MAX_CLASSES];
    uint64_t duration_ns;
    uint32_t grid[3], block[3];
    uint64_t shared_mem, arg_hash;
    int callsite;             /* index into the simulated call sites */
} synth_kernel;

/* Model shape that sizes the kernels. */
typedef struct synth_model {
    uint32_t layers, hidden, heads, seq_len, vocab, micro_batch;
} synth_model;

/* Fills k with a randomly drawn kernel. */
void synth_kernel_draw(synth_kernel *k, const synth_model *m, fm_rng *rng);

/* Operations one launch executes (counts times metric weights). */
double synth_kernel_work(const synth_kernel *k);
/* Multiplies the kernel's counters by factor (whole counts) and recomputes its duration. */
void synth_kernel_scale(synth_kernel *k, double factor);

/* Precision class of a component. */
uint8_t synth_component_class(const synth_component *c);

/* Number of simulated call sites and their frames (module, symbol) innermost first. */
#define SYNTH_CALLSITES 14
#define SYNTH_FRAMES 4
extern const char *const synth_callsite_frames[SYNTH_CALLSITES][SYNTH_FRAMES][2];

#endif
