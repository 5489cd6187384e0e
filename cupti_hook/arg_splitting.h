/* arg_splitting.h - learns, per kernel family, whether the argument hash predicts the work.
 *
 * A family is a signature without its arguments: function, grid, block, dynamic shared memory
 * (and device, as in the signature). Splitting a family by argument hash is right for a GEMM,
 * whose K is an argument, and wrong for a dropout kernel, whose random seed and offset change
 * on every launch without changing the work: there every launch becomes a new signature, each
 * one's first launches are measured unconditionally, and sampling is defeated. The learner
 * watches the measured work of a family's argument hashes, metric group by metric group, and
 * decides:
 *
 *   SPLIT (final)       two argument hashes measured clearly different work, beyond the known
 *                       launch-to-launch noise (below): the hash predicts the work (a GEMM's K);
 *   FOLD, same work     at least min_hashes distinct hashes, at least two of them in every
 *                       metric group, and no two differ: the arguments do not matter (a
 *                       dropout kernel's seed);
 *   FOLD, no repeats    at least unique_hashes distinct hashes and none measured twice in one
 *                       group, whatever their work: a hash that never comes back cannot
 *                       predict anything, and splitting on it only buys an unconditional
 *                       measurement of every launch (its spread then shows in the report);
 *   LEARNING            otherwise: the launch path keeps splitting, as without the learner.
 *
 * "Differ", for hash means a and b of one group with n_a and n_b samples:
 *     |a - b| > tolerance x max(|a|, |b|) + noise_z x s_w x sqrt(1/n_a + 1/n_b)
 * where s_w is the pooled standard deviation within hashes of that group: a one-way analysis
 * of variance in its pairwise form, with a relative tolerance for counters that wobble by a
 * few instructions. noise_z is widened for a spread estimated from few launches, as Student's
 * t is (6.8 at six degrees of freedom for noise_z = 4). A difference is "beyond the known
 * noise" only once the noise is known: repeated launches of one hash measured identical work
 * (s_w = 0 with at least one degree of freedom), or s_w has at least six degrees of freedom.
 * Before that a difference only blocks the fold for the same work. So a family whose work
 * varies from launch to launch and whose hashes repeat is not split on noise, and one whose
 * hashes never repeat is folded by the third rule. The per-group statistics keep the first
 * four hashes of each group; every later hash is compared with them.
 *
 * Single observations are checked against the pooled mean of the group's tracked hashes,
 * allowing 2 x tolerance + noise_z x s_w (s_w then also learns from the folded signature's
 * fitting observations): those of hashes beyond the tracked four before a verdict, and those
 * of the folded signature (arg hash FM_ARGS_FOLDED) after a fold for the same work. When 4 of
 * the last 16 checked do not fit, the family splits (final): a K that changes only later is
 * not hidden for long, while a rare chance misfit of noisy work does not undo a fold. A fold
 * for no repeats is not watched: its folded signature's spread is real and shows in the
 * report as work that varies between launches.
 *
 * Threads: the launch path calls fm_arg_split_folded (lock-free, allocation-free, O(1): a hash
 * probe of a preallocated table of 16-byte slots); the thread that decodes profiler results
 * calls fm_arg_split_observe, which takes the learner's mutex. A family enters the table at
 * its first observation; the launch path never adds one.
 *
 * Wiring (launch_table.c, not done here): before looking up the signature, the launch path
 * computes the family hash and, when fm_arg_split_folded says so, replaces the key's arg_hash
 * by FM_ARGS_FOLDED, which the launch table already knows as the folded signature. */
#ifndef FM_HOOK_ARG_SPLITTING_H
#define FM_HOOK_ARG_SPLITTING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum fm_arg_verdict {
    FM_ARG_LEARNING = 0,
    FM_ARG_SPLIT = 1,
    FM_ARG_FOLD_SAME_WORK = 2,
    FM_ARG_FOLD_NO_REPEATS = 3,
};

/* Defaults, with why:
 *   min_hashes 8     eight hashes agreeing is unlikely to be chance for a kernel whose work
 *                    depends on them, and a per-step kernel reaches it within eight steps
 *   unique_hashes 32 well below the launch table's fold after 64 variants of a function, so
 *                    this learner acts first where it can
 *   tolerance 0.01   measured FLOP of identical work agree far better; 1% leaves room for
 *                    counters that include a few bookkeeping instructions
 *   noise_z 4        differences up to 4 standard errors of the within-hash spread are noise */
#define FM_ARG_DEFAULT_MIN_HASHES 8
#define FM_ARG_DEFAULT_UNIQUE_HASHES 32
#define FM_ARG_DEFAULT_TOLERANCE 0.01
#define FM_ARG_DEFAULT_NOISE_Z 4.0

typedef struct fm_arg_split_config {
    uint32_t families;        /* families the table holds; later ones keep splitting */
    uint32_t n_groups;        /* metric groups, as the sampler's (1 .. FM_SAMPLER_MAX_GROUPS) */
    uint32_t min_hashes;      /* distinct hashes that must agree before folding (>= 2) */
    uint32_t unique_hashes;   /* distinct, never repeated hashes before folding (>= 2) */
    double tolerance;         /* relative difference of work that counts as equal (>= 0) */
    double noise_z;           /* standard errors of the within-hash spread allowed (>= 0) */
} fm_arg_split_config;

void fm_arg_split_config_defaults(fm_arg_split_config *c);

typedef struct fm_arg_split fm_arg_split;

/* NULL when the configuration is out of range or memory is short. */
fm_arg_split *fm_arg_split_new(const fm_arg_split_config *c);
void fm_arg_split_free(fm_arg_split *a);

/* The family of a launch key: its hash without the argument hash (never 0). */
uint64_t fm_arg_family_hash(uint64_t function, const uint32_t grid[3], const uint32_t block[3],
                            uint32_t shared_mem, uint32_t device);

/* The launch path: 1 when launches of this family go under its folded signature. */
int fm_arg_split_folded(const fm_arg_split *a, uint64_t family);

/* One measured group of one launch of the family with this argument hash (FM_ARGS_FOLDED for
 * the folded signature; FM_ARGS_NOT_READ is ignored: there is nothing to learn). Returns the
 * family's verdict after it (enum fm_arg_verdict), or -1 when the family did not fit. */
int fm_arg_split_observe(fm_arg_split *a, uint64_t family, uint64_t arg_hash, uint32_t group,
                         double ops);

/* The family's verdict (FM_ARG_LEARNING for a family never observed). */
int fm_arg_split_verdict(const fm_arg_split *a, uint64_t family);

typedef struct fm_arg_split_stats {
    uint32_t families;        /* in the table */
    uint32_t folded;          /* folded now */
    uint32_t split;           /* decided to split (including unfolded ones) */
    uint32_t unfolded;        /* folds ended by a measurement that did not fit */
    uint64_t not_tracked;     /* observations of families that did not fit */
} fm_arg_split_stats;

void fm_arg_split_get_stats(fm_arg_split *a, fm_arg_split_stats *out);

#ifdef __cplusplus
}
#endif

#endif
