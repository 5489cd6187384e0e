/* trace_paths.c - directory expansion and progress for the verbs that read many traces (see
 * trace_paths.h). */
#define _GNU_SOURCE
#include "trace_paths.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(char ***list, int *n, char *s)
{
    if (!s)
        return -1;
    char **nl = realloc(*list, sizeof *nl * (size_t)(*n + 1));
    if (!nl) {
        free(s);
        return -1;
    }
    nl[(*n)++] = s;
    *list = nl;
    return 0;
}

/* dir/name with one slash between them however many dir ends with ("job/" gives
 * "job/rank.fmtrace", not "job//rank.fmtrace": paths are shown and recorded, in INPUT records
 * among others, and should read as the user would write them). NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    char *p = NULL;
    if (len == 1 && dir[0] == '/')
        len = 0; /* the root: "/" + name */
    if (asprintf(&p, "%.*s/%s", (int)len, dir, name) < 0)
        return NULL;
    return p;
}

int fm_expand_trace_paths(char *const *args, int n_args, char ***out, int *n_out, char *err,
                          size_t errlen)
{
    char **list = NULL;
    int n = 0;
    for (int i = 0; i < n_args; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (push(&list, &n, strdup(args[i])) != 0)
                goto oom;
            continue;
        }
        DIR *d = opendir(args[i]);
        if (!d) {
            snprintf(err, errlen, "%s: cannot open the directory", args[i]);
            goto fail;
        }
        int first = n;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 9 || strcmp(de->d_name + l - 8, ".fmtrace") != 0)
                continue;
            if (push(&list, &n, join_path(args[i], de->d_name)) != 0) {
                closedir(d);
                goto oom;
            }
        }
        closedir(d);
        if (n == first) {
            snprintf(err, errlen, "%s: a directory without *.fmtrace files", args[i]);
            goto fail;
        }
        qsort(list + first, (size_t)(n - first), sizeof *list, cmp_str);
    }
    *out = list;
    *n_out = n;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    fm_free_trace_paths(list, n);
    return -1;
}

void fm_free_trace_paths(char **paths, int n)
{
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

static int progress_shown;

void fm_progress(int done, int total, const char *path)
{
    if (total < 2 || !isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\r\033[Kreading %d of %d: %s", done + 1, total, path);
    fflush(stderr);
    progress_shown = 1;
}

void fm_progress_done(void)
{
    if (progress_shown)
        fputs("\r\033[K", stderr);
    progress_shown = 0;
}
