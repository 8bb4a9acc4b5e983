/* Configuration as a table: each option has a name, a type, bounds and a default. The same
 * option is read from the environment (OVOP_LOG_FORMAT) and from a flag (--log-format), the
 * flag winning over the variable and the variable over the default. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ovop_opt_type {
    OVOP_OPT_STRING, /* target: char ** (owned by the caller after parsing; free it) */
    OVOP_OPT_INT,    /* target: int64_t *, checked against [min, max] */
    OVOP_OPT_BOOL,   /* target: bool *; accepts 1/0, true/false, yes/no, on/off */
} ovop_opt_type_t;

typedef struct ovop_opt {
    const char *name; /* lowercase with dashes, e.g. "log-format" */
    ovop_opt_type_t type;
    const char *def; /* default, written as on the command line; NULL for "unset" strings */
    int64_t min;
    int64_t max;
    const char *help;
    void *target;
} ovop_opt_t;

typedef struct ovop_config {
    const char *prog;    /* program name for --help */
    const char *summary; /* one line for --help */
    const char *usage;   /* e.g. "[options]" or "[options] VERB ..." */
    const ovop_opt_t *opts;
    size_t n_opts;
    bool allow_positional; /* stop at the first non-option instead of rejecting it */
    bool no_env;           /* flags only: a subcommand's options are not read from OVOP_* */
} ovop_config_t;

/* Parses defaults, environment and argv into the targets.
 * Returns 0 on success (*ret_argi: index of the first positional argument),
 * 1 when --help or --version (programs' tables only, not no_env ones) was printed to
 * stdout (the caller exits 0),
 * -EINVAL with *ret_err set (malloc'd, caller frees) on a bad option or value;
 * the targets are then left in an unspecified but freeable state. */
int ovop_config_parse(const ovop_config_t *cfg, int argc, char **argv, int *ret_argi,
                      char **ret_err);

/* Frees the strings the table's STRING targets hold and nulls them. */
void ovop_config_free(const ovop_opt_t *opts, size_t n_opts);

/* Writes "OVOP_LOG_FORMAT" for "log-format" into buf. */
void ovop_config_env_name(const char *name, char *buf, size_t size);
