/* ovopctl territory: SOATE territories. */
#include <stdio.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

void ctl_print_territory(const ProtobufCMessage *m)
{
    const Ovop__V1__Territory *t = (const Ovop__V1__Territory *)m;
    printf("code           %s\n", t->code);
    printf("kind           %s\n", t->kind);
    if (t->name) {
        printf("name (en)      %s\n", t->name->en);
        printf("name (ru)      %s\n", t->name->ru);
        if (t->name->ky[0])
            printf("name (ky)      %s\n", t->name->ky);
    }
    printf("parent         %s\n", t->parent_code[0] ? t->parent_code : "-");
    if (t->location && t->location->set)
        printf("location       %.5f, %.5f\n", t->location->lat, t->location->lon);
    printf("valid          from %s%s%s\n", t->valid_from, t->valid_to[0] ? " to " : "",
           t->valid_to);
    if (t->superseded_by[0])
        printf("superseded by  %s\n", t->superseded_by);
    printf("children       %u\n", t->children);
}

static int territory_get(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl territory get",
                                    .usage = "CODE [--as-of YYYY-MM-DD]",
                                    .summary = "Shows one territory.",
                                    .n_args = 1,
                                    .flags_anywhere = true};
    char *as_of = NULL;
    const ovop_opt_t opts[] = {
        {"as-of", OVOP_OPT_STRING, NULL, 0, 0, "the version valid on this date (YYYY-MM-DD)",
         &as_of},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
        in.code = argv[argi];
        in.as_of = as_of ? as_of : "";
        r = ctl_call_show(c, "ovop.registry", "GetTerritory", &in.base,
                          &ovop__v1__territory__descriptor, ctl_print_territory);
    }
    ovop_config_free(opts, 1);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Territory *t = (const Ovop__V1__Territory *)m;
    ctl_print_cell(t->code, 14);
    ctl_print_cell(t->kind, 15);
    ctl_print_cell(t->name ? t->name->en : "", 24);
    ctl_print_cell(t->name ? t->name->ru : "", 30);
    printf("%u\n", t->children);
}

static const ctl_column_t columns[] = {
    {"CODE", 14}, {"KIND", 15}, {"NAME", 24}, {"NAME (RU)", 30}, {"CHILDREN", 0},
};

static const ctl_filter_t filters[] = {
    CTL_FILTER("parent", "only children of this code", "parent_code"),
    CTL_FILTER("kind", "only this kind (oblast, rayon, village...)", "kind"),
};

static const ctl_list_verb_t territory_list = {
    .verb = {.prog = "ovopctl territory list",
             .usage = "[options]",
             .summary = "Lists territories.",
             .unexpected = true},
    .filters = filters,
    .n_filters = OVOP_ARRAY_SIZE(filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_territories_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListTerritories",
             .response = &ovop__v1__list_territories_response__descriptor,
             .rows = "territories",
             .columns = columns,
             .n_columns = OVOP_ARRAY_SIZE(columns),
             .print_row = print_row,
             .one = "territory",
             .many = "territories"},
};

int ctl_territory(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "get", .run = territory_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &territory_list},
        {.name = NULL, .run = ctl_territory_admin}, /* the changes: territory_admin.c */
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl territory get|list|create|rename|reparent|retire|import ...");
}
