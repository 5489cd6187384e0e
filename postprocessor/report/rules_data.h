/* rules_data.h - threshold profiles and peak tables, loaded from the data files described in
 * docs/data-files.md: the copies built into the command, or a directory given at run time. */
#ifndef FM_REPORT_RULES_DATA_H
#define FM_REPORT_RULES_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct rp_basis {
    char *name, *title, *source;
    uint32_t categories;      /* bit per enum fm_phase_category */
    int includes_prior;       /* compute of earlier runs (prior.compute) counts too */
    int verified;             /* checked against the primary source (default: the profile's) */
} rp_basis;

typedef struct rp_threshold {
    char *name, *title, *source, *consequence, *other_conditions, *condition_note;
    uint32_t basis;           /* index into the profile's bases */
    int verified;             /* checked against the primary source (default: the profile's) */
    int absolute;             /* 1: value; 0: relative_to_original with fallbacks */
    double value;
    double relative, fallback, fallback_systemic;
    int or_equal;             /* comparison = greater-or-equal */
    uint32_t modalities;      /* bit per RP_MODALITY_*; 0 = no condition */
} rp_threshold;

enum {
    RP_MODALITY_TEXT = 1,
    RP_MODALITY_AUDIO = 2,
    RP_MODALITY_IMAGE = 4,
    RP_MODALITY_VIDEO = 8,
    RP_MODALITY_BIOLOGY = 16,
};

typedef struct rp_profile {
    char *id, *title, *jurisdiction, *instrument, *document, *status, *status_note, *source,
        *notes, *in_force_from, *revoked_on;
    int counts_integer;
    int verified;
    rp_basis *bases;
    uint32_t n_bases;
    rp_threshold *thresholds;
    uint32_t n_thresholds;
} rp_profile;

typedef struct rp_peaks {
    char *id, *title, *source, *notes;
    int verified;
    char **match;             /* substrings of CUDA device names */
    uint32_t n_match;
    double dense_tflops[256]; /* per precision class; NAN = not listed (a table may list
                                 none: a GPU that is known but has no sourced figure) */
} rp_peaks;

typedef struct rp_data {
    rp_profile *profiles;
    uint32_t n_profiles;
    rp_peaks *peaks;
    uint32_t n_peaks;
    char origin[512];         /* "built in" or the directory */
} rp_data;

/* Loads the built-in data files. 0, or -1 with a message. */
int rp_data_load_builtin(rp_data *d, char *err, size_t errlen);
/* Loads DIR/thresholds/ *.ini and DIR/peaks/ *.ini. */
int rp_data_load_dir(rp_data *d, const char *dir, char *err, size_t errlen);
void rp_data_free(rp_data *d);

/* Parses one file's text into the data (exposed for tests and the fuzzer). kind is
 * "thresholds" or "peaks". */
int rp_data_add_text(rp_data *d, const char *kind, const char *name, const char *text,
                     size_t len, char *err, size_t errlen);

/* The peak table whose match string is the longest substring of device_name, or NULL. */
const rp_peaks *rp_peaks_for(const rp_data *d, const char *device_name);

/* Parses "text,audio" (commas or '+') into modality bits; -1 on an unknown word. */
int rp_modalities_parse(const char *s, uint32_t *out);
/* Writes the names of the modality bits, joined by '+'. */
void rp_modalities_name(uint32_t bits, char *buf, size_t len);

#endif
