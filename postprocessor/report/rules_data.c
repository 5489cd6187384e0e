/* rules_data.c - loads threshold profiles and peak tables (docs/data-files.md) and checks
 * them strictly: a data file with a missing field, an unknown basis or category, or a number
 * that is not one is refused with its file and line. */
#define _GNU_SOURCE
#include "rules_data.h"
#include "report_format.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded_data.h"
#include "kvfile.h"
#include "flopmeter/trace_records.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A required text field. */
static int need(const kv_file *f, const char *type, const char *name, const char *key,
                char **out, char *err, size_t errlen)
{
    const char *v = kv_get(f, type, name, key);
    if (!v || !*v)
        return rp_fail(err, errlen, "%s: [%s%s%s] lacks '%s'", f->name, type, *name ? " " : "",
                    name, key);
    *out = strdup(v);
    return *out ? 0 : rp_fail(err, errlen, "%s: out of memory", f->name);
}

static int yes_no(const kv_file *f, const char *type, const char *name, const char *key,
                  int required, int *out, char *err, size_t errlen)
{
    const kv_entry *e = kv_find(f, type, name, key);
    if (!e) {
        *out = 0;
        return required ? rp_fail(err, errlen, "%s: [%s] lacks '%s'", f->name, type, key) : 0;
    }
    if (strcmp(e->value, "yes") && strcmp(e->value, "no"))
        return rp_fail(err, errlen, "%s:%d: %s: expected yes or no", f->name, e->line, key);
    *out = strcmp(e->value, "yes") == 0;
    return 0;
}

int rp_modalities_parse(const char *s, uint32_t *out)
{
    static const char *const names[] = {"text", "audio", "image", "video", "biology"};
    *out = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",+ ");
        if (n) {
            int found = 0;
            for (unsigned i = 0; i < 5; i++)
                if (strlen(names[i]) == n && strncmp(p, names[i], n) == 0) {
                    *out |= 1u << i;
                    found = 1;
                }
            if (!found)
                return -1;
        }
        p += n;
        if (*p)
            p++;
    }
    return *out ? 0 : -1;
}

void rp_modalities_name(uint32_t bits, char *buf, size_t len)
{
    static const char *const names[] = {"text", "audio", "image", "video", "biology"};
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 5; i++)
        if (bits & (1u << i))
            used += (size_t)snprintf(buf + used, used < len ? len - used : 0, "%s%s",
                                     used ? "+" : "", names[i]);
}

/* Phase categories named by words, as in docs/trace-format.md. */
static int categories_parse(const char *s, uint32_t *out)
{
    *out = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n) {
            int found = 0;
            for (unsigned c = 0; c <= FM_PHASE_CATEGORY_MAX; c++) {
                const char *name = fm_phase_category_name(c);
                if (strlen(name) == n && strncmp(p, name, n) == 0) {
                    *out |= 1u << c;
                    found = 1;
                }
            }
            if (!found)
                return -1;
        }
        p += n;
        if (*p)
            p++;
    }
    return 0;
}

static int is_date(const char *s)
{
    int y, m, d;
    char tail;
    return strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
           m <= 12 && d >= 1 && d <= 31;
}

static void free_profile(rp_profile *p)
{
    free(p->id);
    free(p->title);
    free(p->jurisdiction);
    free(p->instrument);
    free(p->document);
    free(p->status);
    free(p->status_note);
    free(p->source);
    free(p->notes);
    free(p->in_force_from);
    free(p->revoked_on);
    for (uint32_t i = 0; i < p->n_bases; i++) {
        free(p->bases[i].name);
        free(p->bases[i].title);
        free(p->bases[i].source);
    }
    free(p->bases);
    for (uint32_t i = 0; i < p->n_thresholds; i++) {
        rp_threshold *t = &p->thresholds[i];
        free(t->name);
        free(t->title);
        free(t->source);
        free(t->consequence);
        free(t->other_conditions);
        free(t->condition_note);
    }
    free(p->thresholds);
}

static void free_peaks(rp_peaks *p)
{
    free(p->id);
    free(p->title);
    free(p->source);
    free(p->notes);
    for (uint32_t i = 0; i < p->n_match; i++)
        free(p->match[i]);
    free(p->match);
}

void rp_data_free(rp_data *d)
{
    for (uint32_t i = 0; i < d->n_profiles; i++)
        free_profile(&d->profiles[i]);
    free(d->profiles);
    for (uint32_t i = 0; i < d->n_peaks; i++)
        free_peaks(&d->peaks[i]);
    free(d->peaks);
    memset(d, 0, sizeof *d);
}

/* Sections of one type, in file order: returns how many, names in out (pointers into f). */
static uint32_t sections_of(const kv_file *f, const char *type, const char **out, uint32_t max)
{
    uint32_t n = 0;
    size_t tl = strlen(type);
    for (size_t i = 0; i < f->n_sections && n < max; i++)
        if (strncmp(f->sections[i], type, tl) == 0 && f->sections[i][tl] == ' ')
            out[n++] = f->sections[i] + tl + 1;
    return n;
}

/* Every key of a section must be one this version knows: a misspelt key must not silently
 * drop a condition. */
static int known_keys(const kv_file *f, const char *type, const char *const *keys, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < f->n_entries; i++) {
        const kv_entry *e = &f->entries[i];
        if (strcmp(e->section_type, type) != 0)
            continue;
        int ok = 0;
        for (const char *const *k = keys; *k; k++)
            ok |= strcmp(*k, e->key) == 0;
        if (!ok)
            return rp_fail(err, errlen, "%s:%d: unknown key '%s' in [%s]", f->name, e->line, e->key,
                        type);
    }
    return 0;
}

static int number(const kv_file *f, const char *type, const char *name, const char *key,
                  double *out, char *err, size_t errlen)
{
    const kv_entry *e = kv_find(f, type, name, key);
    if (!e)
        return 1; /* absent */
    if (kv_number(f, e, out, err, errlen) != 0)
        return -1;
    if (!(*out > 0))
        return rp_fail(err, errlen, "%s:%d: %s must be positive", f->name, e->line, key);
    return 0;
}

#define MAX_SECTIONS 64

static int parse_threshold(const kv_file *f, rp_profile *p, const char *name, rp_threshold *t,
                           char *err, size_t errlen)
{
    char *basis = NULL, *cmp = NULL;
    if (need(f, "threshold", name, "title", &t->title, err, errlen) ||
        need(f, "threshold", name, "basis", &basis, err, errlen) ||
        need(f, "threshold", name, "source", &t->source, err, errlen))
        goto bad;
    t->name = strdup(name);
    t->consequence = dup_or_null(kv_get(f, "threshold", name, "consequence"));
    t->other_conditions = dup_or_null(kv_get(f, "threshold", name, "other_conditions"));
    t->condition_note = dup_or_null(kv_get(f, "threshold", name, "condition_note"));
    t->verified = p->verified;
    if (yes_no(f, "threshold", name, "verified", 0, &t->verified, err, errlen) != 0)
        goto bad;
    if (!kv_find(f, "threshold", name, "verified"))
        t->verified = p->verified;
    t->basis = UINT32_MAX;
    for (uint32_t i = 0; i < p->n_bases; i++)
        if (strcmp(p->bases[i].name, basis) == 0)
            t->basis = i;
    if (t->basis == UINT32_MAX) {
        rp_fail(err, errlen, "%s: threshold %s: basis '%s' is not defined", f->name, name, basis);
        goto bad;
    }
    int has_value = number(f, "threshold", name, "value", &t->value, err, errlen);
    int has_rel = number(f, "threshold", name, "relative_to_original", &t->relative, err, errlen);
    if (has_value < 0 || has_rel < 0)
        goto bad;
    if ((has_value == 0) == (has_rel == 0)) {
        rp_fail(err, errlen, "%s: threshold %s needs exactly one of value and "
                          "relative_to_original", f->name, name);
        goto bad;
    }
    t->absolute = has_value == 0;
    if (!t->absolute) {
        int fb = number(f, "threshold", name, "fallback", &t->fallback, err, errlen);
        int fbs = number(f, "threshold", name, "fallback_systemic", &t->fallback_systemic, err,
                         errlen);
        if (fb < 0 || fbs < 0)
            goto bad;
        if (fb || fbs) {
            rp_fail(err, errlen, "%s: threshold %s: relative thresholds need fallback and "
                              "fallback_systemic", f->name, name);
            goto bad;
        }
    }
    if (need(f, "threshold", name, "comparison", &cmp, err, errlen))
        goto bad;
    if (strcmp(cmp, "greater") && strcmp(cmp, "greater-or-equal")) {
        rp_fail(err, errlen, "%s: threshold %s: comparison must be greater or greater-or-equal",
             f->name, name);
        goto bad;
    }
    t->or_equal = strcmp(cmp, "greater-or-equal") == 0;
    const char *cond = kv_get(f, "threshold", name, "condition");
    if (cond) {
        if (strncmp(cond, "modality:", 9) != 0 || rp_modalities_parse(cond + 9, &t->modalities)) {
            rp_fail(err, errlen, "%s: threshold %s: condition must be modality:<m>,<m>... with "
                              "text audio image video biology", f->name, name);
            goto bad;
        }
    }
    free(basis);
    free(cmp);
    return t->name ? 0 : rp_fail(err, errlen, "out of memory");
bad:
    free(basis);
    free(cmp);
    return -1;
}

static int add_profile(rp_data *d, const kv_file *f, char *err, size_t errlen)
{
    static const char *const profile_keys[] = {
        "id", "title", "jurisdiction", "instrument", "document", "status", "status_note",
        "counts_integer_operations", "source", "verified", "notes", "in_force_from",
        "revoked_on", NULL};
    static const char *const basis_keys[] = {"title", "includes", "includes_prior", "source",
                                             "verified", NULL};
    static const char *const threshold_keys[] = {
        "title", "basis", "value", "relative_to_original", "fallback", "fallback_systemic",
        "comparison", "condition", "condition_note", "other_conditions", "consequence",
        "source", "verified", NULL};
    if (known_keys(f, "profile", profile_keys, err, errlen) ||
        known_keys(f, "basis", basis_keys, err, errlen) ||
        known_keys(f, "threshold", threshold_keys, err, errlen))
        return -1;
    for (size_t i = 0; i < f->n_sections; i++) {
        const char *s = f->sections[i];
        if (strcmp(s, "profile ") && strncmp(s, "basis ", 6) && strncmp(s, "threshold ", 10))
            return rp_fail(err, errlen, "%s: unknown section [%s]", f->name, s);
    }
    rp_profile *np = realloc(d->profiles, sizeof *np * (d->n_profiles + 1));
    if (!np)
        return rp_fail(err, errlen, "out of memory");
    d->profiles = np;
    rp_profile *p = &d->profiles[d->n_profiles];
    memset(p, 0, sizeof *p);
    int rc = -1;
    if (need(f, "profile", "", "id", &p->id, err, errlen) ||
        need(f, "profile", "", "title", &p->title, err, errlen) ||
        need(f, "profile", "", "jurisdiction", &p->jurisdiction, err, errlen) ||
        need(f, "profile", "", "document", &p->document, err, errlen) ||
        need(f, "profile", "", "status", &p->status, err, errlen) ||
        need(f, "profile", "", "source", &p->source, err, errlen) ||
        yes_no(f, "profile", "", "counts_integer_operations", 1, &p->counts_integer, err,
               errlen) ||
        yes_no(f, "profile", "", "verified", 1, &p->verified, err, errlen))
        goto done;
    p->instrument = dup_or_null(kv_get(f, "profile", "", "instrument"));
    p->status_note = dup_or_null(kv_get(f, "profile", "", "status_note"));
    p->notes = dup_or_null(kv_get(f, "profile", "", "notes"));
    p->in_force_from = dup_or_null(kv_get(f, "profile", "", "in_force_from"));
    p->revoked_on = dup_or_null(kv_get(f, "profile", "", "revoked_on"));
    if ((p->in_force_from && !is_date(p->in_force_from)) ||
        (p->revoked_on && !is_date(p->revoked_on))) {
        rp_fail(err, errlen, "%s: in_force_from and revoked_on are dates as YYYY-MM-DD", f->name);
        goto done;
    }
    if (strcmp(p->status, "in-force") && strcmp(p->status, "adopted") &&
        strcmp(p->status, "draft") && strcmp(p->status, "revoked")) {
        rp_fail(err, errlen, "%s: status must be in-force, adopted, draft or revoked", f->name);
        goto done;
    }
    for (uint32_t i = 0; i < d->n_profiles; i++)
        if (strcmp(d->profiles[i].id, p->id) == 0) {
            rp_fail(err, errlen, "%s: profile id '%s' is used twice", f->name, p->id);
            goto done;
        }

    const char *names[MAX_SECTIONS];
    uint32_t nb = sections_of(f, "basis", names, MAX_SECTIONS);
    p->bases = calloc(nb ? nb : 1, sizeof *p->bases);
    if (!p->bases)
        goto done;
    for (uint32_t i = 0; i < nb; i++) {
        rp_basis *b = &p->bases[p->n_bases++];
        char *inc = NULL;
        b->name = strdup(names[i]);
        if (!b->name || need(f, "basis", names[i], "title", &b->title, err, errlen) ||
            need(f, "basis", names[i], "source", &b->source, err, errlen) ||
            need(f, "basis", names[i], "includes", &inc, err, errlen))
            goto done;
        if (yes_no(f, "basis", names[i], "includes_prior", 0, &b->includes_prior, err, errlen) ||
            yes_no(f, "basis", names[i], "verified", 0, &b->verified, err, errlen)) {
            free(inc);
            goto done;
        }
        if (!kv_find(f, "basis", names[i], "verified"))
            b->verified = p->verified;
        if (categories_parse(inc, &b->categories) != 0 || !b->categories) {
            rp_fail(err, errlen, "%s: basis %s: includes must list phase categories (%s ...)",
                 f->name, names[i], fm_phase_category_name(1));
            free(inc);
            goto done;
        }
        free(inc);
    }
    uint32_t nt = sections_of(f, "threshold", names, MAX_SECTIONS);
    p->thresholds = calloc(nt ? nt : 1, sizeof *p->thresholds);
    if (!p->thresholds)
        goto done;
    for (uint32_t i = 0; i < nt; i++)
        if (parse_threshold(f, p, names[i], &p->thresholds[p->n_thresholds++], err, errlen))
            goto done;
    if (!nb || !nt) {
        rp_fail(err, errlen, "%s: a profile needs at least one basis and one threshold", f->name);
        goto done;
    }
    rc = 0;
done:
    if (rc == 0)
        d->n_profiles++;
    else
        free_profile(p);
    return rc;
}

static int add_peaks(rp_data *d, const kv_file *f, char *err, size_t errlen)
{
    static const char *const gpu_keys[] = {"id", "title", "match", "source", "verified", "notes",
                                           NULL};
    if (known_keys(f, "gpu", gpu_keys, err, errlen))
        return -1;
    for (size_t i = 0; i < f->n_sections; i++)
        if (strcmp(f->sections[i], "gpu ") && strcmp(f->sections[i], "dense "))
            return rp_fail(err, errlen, "%s: unknown section [%s]", f->name, f->sections[i]);
    rp_peaks *np = realloc(d->peaks, sizeof *np * (d->n_peaks + 1));
    if (!np)
        return rp_fail(err, errlen, "out of memory");
    d->peaks = np;
    rp_peaks *p = &d->peaks[d->n_peaks];
    memset(p, 0, sizeof *p);
    for (int c = 0; c < 256; c++)
        p->dense_tflops[c] = NAN;
    char *match = NULL;
    int rc = -1;
    if (need(f, "gpu", "", "id", &p->id, err, errlen) ||
        need(f, "gpu", "", "title", &p->title, err, errlen) ||
        need(f, "gpu", "", "source", &p->source, err, errlen) ||
        need(f, "gpu", "", "match", &match, err, errlen) ||
        yes_no(f, "gpu", "", "verified", 1, &p->verified, err, errlen))
        goto done;
    p->notes = dup_or_null(kv_get(f, "gpu", "", "notes"));
    p->match = calloc(strlen(match) + 1, sizeof *p->match);
    if (!p->match)
        goto done;
    for (char *save = NULL, *tok = strtok_r(match, "|", &save); tok;
         tok = strtok_r(NULL, "|", &save)) {
        while (*tok == ' ')
            tok++;
        size_t n = strlen(tok);
        while (n && tok[n - 1] == ' ')
            tok[--n] = '\0';
        if (n && !(p->match[p->n_match++] = strdup(tok)))
            goto done;
    }
    if (!p->n_match) {
        rp_fail(err, errlen, "%s: match lists no device name", f->name);
        goto done;
    }
    for (size_t i = 0; i < f->n_entries; i++) {
        const kv_entry *e = &f->entries[i];
        if (strcmp(e->section_type, "dense") != 0)
            continue;
        uint8_t c;
        double v;
        if (fm_precision_class_parse(e->key, &c) != 0) {
            rp_fail(err, errlen, "%s:%d: '%s' is not a precision class name", f->name, e->line,
                 e->key);
            goto done;
        }
        if (kv_number(f, e, &v, err, errlen) != 0)
            goto done;
        if (!(v > 0)) {
            rp_fail(err, errlen, "%s:%d: %s must be positive", f->name, e->line, e->key);
            goto done;
        }
        p->dense_tflops[c] = v;
    }
    /* a table may list no figure: a GPU that is known but has no sourced peak */
    rc = 0;
done:
    free(match);
    if (rc == 0)
        d->n_peaks++;
    else
        free_peaks(p);
    return rc;
}

int rp_data_add_text(rp_data *d, const char *kind, const char *name, const char *text,
                     size_t len, char *err, size_t errlen)
{
    kv_file f;
    if (kv_parse(text, len, name, &f, err, errlen) != 0)
        return -1;
    int rc;
    if (strcmp(kind, "thresholds") == 0)
        rc = add_profile(d, &f, err, errlen);
    else if (strcmp(kind, "peaks") == 0)
        rc = add_peaks(d, &f, err, errlen);
    else
        rc = rp_fail(err, errlen, "%s: unknown kind of data file", name);
    kv_free(&f);
    return rc;
}

int rp_data_load_builtin(rp_data *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    snprintf(d->origin, sizeof d->origin, "built in");
    for (size_t i = 0; i < fm_embedded_count; i++) {
        const fm_embedded_file *e = &fm_embedded_files[i];
        if (rp_data_add_text(d, e->kind, e->name, e->text, e->len, err, errlen) != 0) {
            rp_data_free(d);
            return -1;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_kind(rp_data *d, const char *dir, const char *kind, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, kind);
    DIR *dh = opendir(path);
    if (!dh)
        return rp_fail(err, errlen, "%s: cannot open the directory", path);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dh))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".ini") != 0)
            continue;
        char **nn = realloc(names, sizeof *nn * (n + 1));
        if (!nn || !(nn[n] = strdup(de->d_name))) {
            names = nn ? nn : names;
            rc = rp_fail(err, errlen, "out of memory");
            break;
        }
        names = nn;
        n++;
    }
    closedir(dh);
    qsort(names, n, sizeof *names, cmp_str); /* a stable order whatever the directory's */
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char file[8192];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        kv_file f;
        if (kv_parse_file(file, &f, err, errlen) != 0) {
            rc = -1;
            break;
        }
        rc = strcmp(kind, "thresholds") == 0 ? add_profile(d, &f, err, errlen)
                                             : add_peaks(d, &f, err, errlen);
        kv_free(&f);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int rp_data_load_dir(rp_data *d, const char *dir, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    snprintf(d->origin, sizeof d->origin, "%s", dir);
    if (load_kind(d, dir, "thresholds", err, errlen) || load_kind(d, dir, "peaks", err, errlen)) {
        rp_data_free(d);
        return -1;
    }
    if (!d->n_profiles) {
        rp_data_free(d);
        return rp_fail(err, errlen, "%s/thresholds: no threshold profile (*.ini)", dir);
    }
    return 0;
}

const rp_peaks *rp_peaks_for(const rp_data *d, const char *device_name)
{
    const rp_peaks *best = NULL;
    size_t best_len = 0;
    if (!device_name)
        return NULL;
    for (uint32_t i = 0; i < d->n_peaks; i++)
        for (uint32_t k = 0; k < d->peaks[i].n_match; k++) {
            size_t l = strlen(d->peaks[i].match[k]);
            if (l > best_len && strstr(device_name, d->peaks[i].match[k])) {
                best = &d->peaks[i];
                best_len = l;
            }
        }
    return best;
}
