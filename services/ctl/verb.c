/* ovopctl: the frame of a verb: parsing its options, checking its positional arguments,
 * saying how it is called, and finding the command of a family. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl_parse_flags(const char *prog, const char *usage, const char *summary,
                    const ovop_opt_t *opts, size_t n, int argc, char **argv, int *ret_argi)
{
    ovop_config_t cfg = {prog, summary, usage, opts, n, true, true};
    char *err = NULL;
    int r = ovop_config_parse(&cfg, argc, argv, ret_argi, &err);
    if (r == 1)
        return CTL_HELP;
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

int ctl_misuse(const ctl_verb_t *v)
{
    if (v->needs)
        fprintf(stderr, "ovopctl: %s\n", v->needs);
    else
        fprintf(stderr, "ovopctl: usage: %s %s\n", v->usage_prog ? v->usage_prog : v->prog,
                v->usage);
    return CTL_EXIT_USAGE;
}

int ctl_verb_args(const ctl_verb_t *v, int argc, char **argv, int argi)
{
    int given = argc - argi;
    bool ok = v->n_args == CTL_ARGS_ANY || (v->n_args == CTL_ARGS_SOME && given >= 1) ||
              given == v->n_args;
    if (ok)
        return 0;
    if (v->unexpected && !v->needs && given > 0) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        return CTL_EXIT_USAGE;
    }
    return ctl_misuse(v);
}

int ctl_verb_parse(const ctl_verb_t *v, const ovop_opt_t *opts, size_t n, int *argc, char **argv,
                   int *ret_argi)
{
    if (v->flags_anywhere)
        ctl_flags_first(argc, argv, opts, n);
    int r = ctl_parse_flags(v->prog, v->usage, v->summary, opts, n, *argc, argv, ret_argi);
    return r != 0 ? r : ctl_verb_args(v, *argc, argv, *ret_argi);
}

int ctl_run(ctl_t *c, const ctl_cmd_t *cmds, size_t n, int argc, char **argv, const char *usage)
{
    for (size_t i = 0; argc >= 1 && i < n; i++) {
        if (cmds[i].name && strcmp(argv[0], cmds[i].name) != 0)
            continue;
        if (cmds[i].run_with)
            return cmds[i].run_with(c, &cmds[i], argc, argv);
        return cmds[i].run(c, argc, argv);
    }
    fprintf(stderr, "ovopctl: usage: %s\n", usage);
    return CTL_EXIT_USAGE;
}
