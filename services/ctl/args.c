/* ovopctl: argument values: repeated flags, flags after the IDs, the update verbs' frame and
 * mask, ids and amounts of money. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "money.h"
#include "ovop/v1/common.pb-c.h"

int ctl_take_repeated(int *argc, char **argv, const char *name, char ***values, size_t *n)
{
    size_t len = strlen(name);
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, len) != 0 ||
            (a[2 + len] != '\0' && a[2 + len] != '=')) {
            argv[out++] = argv[i];
            continue;
        }
        const char *v;
        if (a[2 + len] == '=') {
            v = a + 3 + len;
        } else if (i + 1 < *argc) {
            v = argv[++i];
        } else {
            fprintf(stderr, "ovopctl: option --%s needs a value\n", name);
            return CTL_EXIT_USAGE;
        }
        *values = xrealloc(*values, (*n + 1) * sizeof(**values));
        (*values)[(*n)++] = (char *)v;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

static const ovop_opt_t *find(const ovop_opt_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

int ctl_parse_update(const char *prog, const char *summary, const ovop_opt_t *opts, size_t n,
                     int argc, char **argv, int64_t *ret_id, int32_t *ret_version)
{
    const ctl_verb_t verb = {.prog = prog,
                             .usage = "ID --version V [options]",
                             .summary = summary,
                             .n_args = 1,
                             .flags_anywhere = true};
    int64_t version = 0;
    ovop_opt_t *all = xcalloc(n + 1, sizeof(*all));
    memcpy(all, opts, n * sizeof(*opts));
    all[n] = (ovop_opt_t){
        "version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the version you read (required)", &version};
    int argi;
    int r = ctl_verb_parse(&verb, all, n + 1, &argc, argv, &argi);
    free(all);
    if (r != 0)
        return r;
    if (version <= 0)
        return ctl_misuse(&verb);
    *ret_version = (int32_t)version;
    return ctl_parse_id("the id", argv[argi], ret_id);
}

int ctl_update_mask(const char *prog, const ctl_mask_flag_t *flags, size_t n, char **paths,
                    Ovop__V1__FieldMask *mask)
{
    ovop__v1__field_mask__init(mask);
    for (size_t i = 0; i < n; i++)
        if (flags[i].given)
            paths[mask->n_paths++] = flags[i].path;
    mask->paths = paths;
    if (mask->n_paths == 0) {
        fprintf(stderr, "%s: give at least one detail to change\n", prog);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

void ctl_flags_first(int *argc, char **argv, const ovop_opt_t *opts, size_t n)
{
    char **flags = xcalloc((size_t)*argc + 1, sizeof(*flags));
    char **positional = xcalloc((size_t)*argc + 1, sizeof(*positional));
    size_t nf = 0, np = 0;
    bool rest = false;
    for (int i = 1; i < *argc; i++) {
        char *a = argv[i];
        if (!rest && strcmp(a, "--") == 0) {
            rest = true;
            continue;
        }
        if (rest || strncmp(a, "--", 2) != 0) {
            positional[np++] = a;
            continue;
        }
        flags[nf++] = a;
        const char *eq = strchr(a + 2, '=');
        const ovop_opt_t *o = find(opts, n, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
        if (!eq && o && o->type != OVOP_OPT_BOOL && i + 1 < *argc)
            flags[nf++] = argv[++i];
    }
    int k = 1;
    for (size_t j = 0; j < nf; j++)
        argv[k++] = flags[j];
    for (size_t j = 0; j < np; j++)
        argv[k++] = positional[j];
    argv[k] = NULL;
    *argc = k;
    free(flags);
    free(positional);
}

int ctl_parse_id(const char *what, const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || end == s || v <= 0) {
        fprintf(stderr, "ovopctl: %s must be a positive number, got \"%s\"\n", what, s);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

int ctl_parse_money(const char *flag, const char *s, int64_t *ret)
{
    int r = ovop_money_parse(s, ret);
    if (r == -ERANGE) {
        fprintf(stderr, "ovopctl: %s is too large, got \"%s\"\n", flag, s);
        return CTL_EXIT_USAGE;
    }
    if (r < 0) {
        fprintf(stderr,
                "ovopctl: %s must be an amount with at most two decimals, like 8200 or 12.50; "
                "got \"%s\"\n",
                flag, s);
        return CTL_EXIT_USAGE;
    }
    return 0;
}
