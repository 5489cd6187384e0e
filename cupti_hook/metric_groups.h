/* metric_groups.h - partitions a chip family's catalog into metric groups that are each read
 * in a single pass, so that a launch measured with one group needs no kernel replay.
 *
 * Which metrics fit together is the counter hardware's business; the builder only asks an
 * oracle "how many passes do these metrics need together?". The hook's oracle is CUPTI's
 * profiler host API (profiler_host.h); tests use a fake one. The partition is greedy and
 * deterministic: the same catalog and the same oracle answers give the same groups in the
 * same order, so that group ids mean the same in every process of a run. */
#ifndef FM_HOOK_METRIC_GROUPS_H
#define FM_HOOK_METRIC_GROUPS_H

#include <stddef.h>

#include "metric_catalog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How many passes the n metrics need when read together: 0 and *out_passes set, or nonzero
 * when the oracle rejects them (a metric the chip does not have, for example). */
typedef int (*fm_pass_oracle)(void *ctx, const char *const *metrics, size_t n,
                              size_t *out_passes);

/* A group holds at most every leaf plus the duration. */
#define FM_GROUP_MAX_METRICS (FM_CATALOG_MAX_METRICS + 1)

typedef struct fm_metric_group {
    size_t n;
    /* 1 when metrics[0] is the duration (fm_catalog_duration). The groups of instrumented
     * (sass) metrics cannot carry it: their launches take their time from elsewhere (the
     * kernel's execution record), and that time includes the instrumentation. */
    int has_duration;
    const fm_catalog_metric *metrics[FM_GROUP_MAX_METRICS]; /* into the catalog */
    const char *names[FM_GROUP_MAX_METRICS];   /* metrics[i]->name, as CUPTI takes them */
} fm_metric_group;

/* The groups of one chip: about 40 KiB, fixed size so that building needs no allocation; keep
 * one per chip (static or on the heap), not on a small thread stack. */
typedef struct fm_group_plan {
    const fm_chip_family *family;
    size_t n_groups;
    fm_metric_group groups[FM_CATALOG_MAX_METRICS];
    /* Leaves that need more than one pass even alone: not measurable in one pass, so no
     * group holds them. Their work goes uncounted; the hook says so rather than replay. */
    size_t n_multipass;
    const fm_catalog_metric *multipass[FM_CATALOG_MAX_METRICS];
    /* Leaves the oracle rejected even alone (not on this chip, or counters taken). */
    size_t n_rejected;
    const fm_catalog_metric *rejected[FM_CATALOG_MAX_METRICS];
    size_t oracle_calls; /* questions asked: the cost of building the plan */
} fm_group_plan;

/* Builds the groups of a family. Each leaf, in catalog order, goes into the first group it
 * fits in with one pass; a leaf that fits none opens a new group, which starts with the
 * duration when the two fit one pass together. 0 on success, whether or not some leaves
 * went to multipass or rejected; -1 when family or plan is NULL. */
int fm_groups_build(const fm_chip_family *family, fm_pass_oracle oracle, void *ctx,
                    fm_group_plan *plan);

/* The number of leaves placed in groups: family->n_metrics minus the multipass and rejected
 * ones. */
size_t fm_groups_leaves_placed(const fm_group_plan *plan);

#ifdef __cplusplus
}
#endif
#endif
