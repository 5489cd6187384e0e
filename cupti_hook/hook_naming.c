/* hook_naming.c - rank, run id and trace names (see hook_naming.h). */
#define _GNU_SOURCE
#include "hook_naming.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *first_of(const char *const *names, const char *(*lookup)(const char *, void *),
                            void *ctx)
{
    for (; *names; names++) {
        const char *v = lookup(*names, ctx);
        if (v && *v)
            return v;
    }
    return NULL;
}

static int64_t as_int(const char *v, int64_t fallback)
{
    if (!v)
        return fallback;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno || *end || x < 0 ? fallback : (int64_t)x;
}

/* Keeps a value usable in a file name: letters, digits, '.', '_', '-'. */
static void sanitise(char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            *s = '_';
}

void fm_identity_read(fm_identity *id, const char *configured_run_id, uint64_t start_unix_ns,
                      const char *(*lookup)(const char *, void *), void *ctx)
{
    static const char *const ranks[] = {"RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK",
                                        "PMI_RANK", "PMIX_RANK", NULL};
    static const char *const local[] = {"LOCAL_RANK", "SLURM_LOCALID",
                                        "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", NULL};
    static const char *const world[] = {"WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
                                        "PMI_SIZE", NULL};
    memset(id, 0, sizeof *id);
    if (gethostname(id->host, sizeof id->host - 1) != 0)
        snprintf(id->host, sizeof id->host, "unknown-host");
    sanitise(id->host);
    id->pid = (uint64_t)getpid();
    id->rank = as_int(first_of(ranks, lookup, ctx), -1);
    id->local_rank = as_int(first_of(local, lookup, ctx), -1);
    int64_t w = as_int(first_of(world, lookup, ctx), 0);
    id->world_size = w > 0 ? (uint64_t)w : 0;

    const char *run = configured_run_id && *configured_run_id ? configured_run_id : NULL;
    const char *slurm_job = lookup("SLURM_JOB_ID", ctx), *slurm_step = lookup("SLURM_STEP_ID", ctx);
    static const char *const jobs[] = {"TORCHELASTIC_RUN_ID", "PBS_JOBID", "LSB_JOBID", NULL};
    if (run)
        snprintf(id->run_id, sizeof id->run_id, "%s", run);
    else if (slurm_job && *slurm_job)
        snprintf(id->run_id, sizeof id->run_id, "slurm-%s%s%s", slurm_job,
                 slurm_step && *slurm_step ? "." : "", slurm_step ? slurm_step : "");
    else if ((run = first_of(jobs, lookup, ctx)))
        snprintf(id->run_id, sizeof id->run_id, "%s", run);
    else
        snprintf(id->run_id, sizeof id->run_id, "%s-%" PRIu64 "-%" PRIu64, id->host,
                 (uint64_t)(start_unix_ns / 1000000000ull), id->pid);
    sanitise(id->run_id);
    /* the run id is a directory under the output directory: "." and ".." would put the
     * traces in the output directory itself or above it */
    if (!strcmp(id->run_id, ".") || !strcmp(id->run_id, ".."))
        memset(id->run_id, '_', strlen(id->run_id));
}

int fm_trace_path(const fm_identity *id, const char *dir, char *out, size_t len)
{
    char rank[32];
    if (id->rank >= 0)
        snprintf(rank, sizeof rank, "r%05" PRId64, id->rank);
    else
        snprintf(rank, sizeof rank, "rx");
    int n = snprintf(out, len, "%s/%s/%s-%s-p%" PRIu64 ".fmtrace", dir, id->run_id, id->host,
                     rank, id->pid);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* mkdir that accepts an existing directory, and only a directory: EEXIST from a file of that
 * name would otherwise pass here and fail later, at open, with a less telling error. */
static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0)
        return 0;
    if (errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int fm_make_parent_dirs(const char *path)
{
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0; /* in the current directory, or in / */
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (make_dir(buf) != 0)
            return -1;
        *p = '/';
    }
    return make_dir(buf);
}
