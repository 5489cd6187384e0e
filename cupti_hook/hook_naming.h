/* hook_naming.h - who this process is in its job (rank, world size, run id) from the
 * launchers' environment variables, and the name of its trace, unique among thousands of
 * ranks: OUTPUT_DIR/RUN_ID/HOST-rRANK-pPID.fmtrace. */
#ifndef FM_HOOK_NAMING_H
#define FM_HOOK_NAMING_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_identity {
    char host[256];
    char run_id[320];
    int64_t rank, local_rank;  /* -1 when unknown */
    uint64_t world_size;       /* 0 when unknown */
    uint64_t pid;
} fm_identity;

/* Reads the identity through lookup (getenv in the hook). rank: the first set of RANK,
 * SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK; local_rank: of LOCAL_RANK,
 * SLURM_LOCALID, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID; world_size: of WORLD_SIZE,
 * SLURM_NTASKS, OMPI_COMM_WORLD_SIZE, PMI_SIZE (a value that is not a whole number: unknown).
 * run_id: the configured one if given; else slurm-SLURM_JOB_ID[.SLURM_STEP_ID] (before
 * TORCHELASTIC_RUN_ID, which torchrun sets to "none" unless told otherwise); else
 * TORCHELASTIC_RUN_ID, PBS_JOBID, LSB_JOBID; else one made from the host, the start time and
 * the pid (a lone process). Characters other than letters, digits, '.', '_', '-' become '_'. */
void fm_identity_read(fm_identity *id, const char *configured_run_id, uint64_t start_unix_ns,
                      const char *(*lookup)(const char *name, void *ctx), void *ctx);

/* The trace's path under dir. Returns 0, or -1 when it does not fit. */
int fm_trace_path(const fm_identity *id, const char *dir, char *out, size_t len);

/* Makes the directories of a path (like mkdir -p of its parent). 0 or -1 with errno. */
int fm_make_parent_dirs(const char *path);

#endif
