#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void ovop_config_env_name(const char *name, char *buf, size_t size)
{
    size_t i = 0;
    int n = snprintf(buf, size, "OVOP_");
    if (n < 0 || (size_t)n >= size)
        return;
    for (i = (size_t)n; *name && i + 1 < size; name++, i++)
        buf[i] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    buf[i] = '\0';
}

static int parse_bool(const char *v, bool *ret)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

/* Stores value v into opt's target; on failure writes a message for the origin `from`. */
static int set_value(const ovop_opt_t *o, const char *v, const char *from, char **ret_err)
{
    switch (o->type) {
    case OVOP_OPT_STRING: {
        char **t = o->target;
        free(*t);
        *t = v ? xstrdup(v) : NULL;
        return 0;
    }
    case OVOP_OPT_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end != '\0') {
            *ret_err = xasprintf("%s: %s must be an integer, got \"%s\"", from, o->name, v);
            return -EINVAL;
        }
        if (x < o->min || x > o->max) {
            *ret_err = xasprintf("%s: %s must be between %lld and %lld, got %lld", from, o->name,
                                 (long long)o->min, (long long)o->max, x);
            return -EINVAL;
        }
        *(int64_t *)o->target = x;
        return 0;
    }
    case OVOP_OPT_BOOL:
        if (parse_bool(v, o->target) < 0) {
            *ret_err = xasprintf("%s: %s must be true or false, got \"%s\"", from, o->name, v);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

static void print_help(const ovop_config_t *cfg)
{
    char env[128];
    printf("Usage: %s %s\n%s\n\nOptions%s:\n", cfg->prog, cfg->usage ? cfg->usage : "[options]",
           cfg->summary ? cfg->summary : "",
           cfg->no_env ? "" : " (each also read from the environment variable shown)");
    for (size_t i = 0; i < cfg->n_opts; i++) {
        const ovop_opt_t *o = &cfg->opts[i];
        ovop_config_env_name(o->name, env, sizeof(env));
        printf("  --%-22s %s\n  %-24s [%s%sdefault: %s", o->name, o->help, "",
               cfg->no_env ? "" : env, cfg->no_env ? "" : "; ", o->def ? o->def : "(none)");
        if (o->type == OVOP_OPT_INT)
            printf("; %lld..%lld", (long long)o->min, (long long)o->max);
        printf("]\n");
    }
    printf("  --%-22s %s\n", "help", "show this help and exit");
    if (!cfg->no_env) /* a program's table, not a subcommand's */
        printf("  --%-22s %s\n", "version", "show the version and exit");
}

static const ovop_opt_t *find_opt(const ovop_config_t *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->n_opts; i++)
        if (strlen(cfg->opts[i].name) == len && strncmp(cfg->opts[i].name, name, len) == 0)
            return &cfg->opts[i];
    return NULL;
}

int ovop_config_parse(const ovop_config_t *cfg, int argc, char **argv, int *ret_argi,
                      char **ret_err)
{
    char env[128];
    int r;

    *ret_err = NULL;
    for (size_t i = 0; i < cfg->n_opts; i++) {
        const ovop_opt_t *o = &cfg->opts[i];
        if (o->def || o->type == OVOP_OPT_STRING) {
            r = set_value(o, o->def, "default", ret_err);
            if (r < 0)
                return r;
        }
    }
    for (size_t i = 0; i < cfg->n_opts && !cfg->no_env; i++) {
        const ovop_opt_t *o = &cfg->opts[i];
        ovop_config_env_name(o->name, env, sizeof(env));
        const char *v = getenv(env);
        if (v && *v) {
            r = set_value(o, v, env, ret_err);
            if (r < 0)
                return r;
        }
    }

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (cfg->allow_positional)
                break;
            *ret_err = xasprintf("unexpected argument \"%s\" (see --help)", a);
            return -EINVAL;
        }
        const char *name = a + 2;
        if (strcmp(name, "help") == 0) {
            print_help(cfg);
            return 1;
        }
        if (strcmp(name, "version") == 0 && !cfg->no_env) {
            printf("%s %s\n", cfg->prog, OVOP_VERSION);
            return 1;
        }
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const ovop_opt_t *o = find_opt(cfg, name, len);
        char from[160];
        snprintf(from, sizeof(from), "--%.*s", (int)len, name);
        if (!o && !eq && strncmp(name, "no-", 3) == 0) {
            o = find_opt(cfg, name + 3, len - 3);
            if (o && o->type == OVOP_OPT_BOOL) {
                *(bool *)o->target = false;
                continue;
            }
            o = NULL;
        }
        if (!o) {
            *ret_err = xasprintf("unknown option %s (see --help)", from);
            return -EINVAL;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == OVOP_OPT_BOOL) {
            v = "true";
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            *ret_err = xasprintf("option %s needs a value", from);
            return -EINVAL;
        }
        r = set_value(o, v, from, ret_err);
        if (r < 0)
            return r;
    }
    if (ret_argi)
        *ret_argi = i;
    return 0;
}

void ovop_config_free(const ovop_opt_t *opts, size_t n_opts)
{
    for (size_t i = 0; i < n_opts; i++)
        if (opts[i].type == OVOP_OPT_STRING)
            xfree(*(char **)opts[i].target);
}
