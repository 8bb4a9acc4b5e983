/* ovopctl spec: village (town, district, region) specializations: declare, withdraw, list,
 * the territories without one, and counts per region. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

/* A spec verb: flags may follow its arguments, and its usage line names the family. */
#define SPEC_VERB(prog_, usage_, summary_, n_args_)                                                \
    {                                                                                              \
        .prog = (prog_), .usage = (usage_), .summary = (summary_), .n_args = (n_args_),            \
        .flags_anywhere = true, .usage_prog = "ovopctl spec"                                       \
    }

static void print_specialization(const ProtobufCMessage *m)
{
    const Ovop__V1__Specialization *s = (const Ovop__V1__Specialization *)m;
    printf("id             %lld\n", (long long)s->id);
    printf("territory      %s\n", s->territory_code);
    printf("hs code        %s\n", s->hs_code);
    if (s->narrative[0])
        printf("narrative      %s\n", s->narrative);
    printf("declared on    %s\n", s->declared_on);
    if (s->withdrawn_on[0])
        printf("withdrawn on   %s\n", s->withdrawn_on);
    printf("version        %d\n", s->version);
}

static int spec_declare(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = SPEC_VERB(
        "ovopctl spec declare", "declare TERRITORY HS_CODE [--narrative TEXT] [--on YYYY-MM-DD]",
        "Declares that a village, town, city, aiyl aimak, district or region "
        "specializes in a product.",
        2);
    char *narrative = NULL, *on = NULL;
    const ovop_opt_t opts[] = {
        {"narrative", OVOP_OPT_STRING, NULL, 0, 0, "what the territory is known for (2000 bytes)",
         &narrative},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the day it was declared (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__DeclareSpecializationRequest in = OVOP__V1__DECLARE_SPECIALIZATION_REQUEST__INIT;
        in.territory_code = argv[argi];
        in.hs_code = argv[argi + 1];
        in.narrative = narrative ? narrative : "";
        in.declared_on = on ? on : "";
        r = ctl_call_show(c, "ovop.registry", "DeclareSpecialization", &in.base,
                          &ovop__v1__specialization__descriptor, print_specialization);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int spec_withdraw(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        SPEC_VERB("ovopctl spec withdraw", "withdraw ID --version V [--on YYYY-MM-DD]",
                  "Withdraws a specialization.", 1);
    char *on = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (required)", &version},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the day it ends (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    char *end = NULL;
    long long id = r == 0 ? strtoll(argv[argi], &end, 10) : 0;
    if (r == 0 && (id <= 0 || !end || *end || version <= 0))
        r = ctl_misuse(&verb);
    if (r == 0) {
        Ovop__V1__WithdrawSpecializationRequest in =
            OVOP__V1__WITHDRAW_SPECIALIZATION_REQUEST__INIT;
        in.id = id;
        in.version = (int32_t)version;
        in.withdrawn_on = on ? on : "";
        r = ctl_call_show(c, "ovop.registry", "WithdrawSpecialization", &in.base,
                          &ovop__v1__specialization__descriptor, print_specialization);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static const ctl_column_t spec_columns[] = {
    {"ID", 8}, {"TERRITORY", 14}, {"HS", 6}, {"DECLARED", 10}, {"WITHDRAWN", 10}, {"VERSION", 0},
};

static void print_spec_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Specialization *s = (const Ovop__V1__Specialization *)m;
    ctl_print_int_cell(s->id, 8);
    ctl_print_cell(s->territory_code, 14);
    ctl_print_cell(s->hs_code, 6);
    ctl_print_cell(s->declared_on, 10);
    ctl_print_cell(s->withdrawn_on[0] ? s->withdrawn_on : "-", 10);
    printf("%d\n", s->version);
}

static const ctl_filter_t spec_filters[] = {
    CTL_FILTER("territory", "only in this territory and under it", "territory_prefix"),
    CTL_FILTER("hs", "only HS codes starting with this", "hs_prefix"),
};

static const ctl_list_verb_t spec_list = {
    .verb = SPEC_VERB("ovopctl spec list",
                      "list [--territory CODE] [--hs PREFIX] [--page-size N] [--page-token T] "
                      "[--all]",
                      "Lists specializations, current and withdrawn, oldest first.", 0),
    .filters = spec_filters,
    .n_filters = OVOP_ARRAY_SIZE(spec_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_specializations_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListSpecializations",
             .response = &ovop__v1__list_specializations_response__descriptor,
             .rows = "specializations",
             .columns = spec_columns,
             .n_columns = OVOP_ARRAY_SIZE(spec_columns),
             .print_row = print_spec_row,
             .one = "specialization",
             .many = "specializations"},
};

static const ctl_column_t unspecialized_columns[] = {
    {"CODE", 14},
    {"KIND", 10},
    {"NAME (RU)", 30},
    {"NAME", 0},
};

static void print_unspecialized_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Territory *t = (const Ovop__V1__Territory *)m;
    ctl_print_cell(t->code, 14);
    ctl_print_cell(t->kind, 10);
    ctl_print_cell(t->name ? t->name->ru : "", 30);
    printf("%s\n", t->name ? t->name->en : "");
}

#define KIND_HELP "village (default), town, city_oblast, aiyl_aimak, rayon or oblast"

static const ctl_filter_t unspecialized_filters[] = {
    CTL_FILTER("territory", "only under this territory (e.g. a region)", "territory_prefix"),
    CTL_FILTER("kind", KIND_HELP, "kind"),
};

static const ctl_list_verb_t spec_unspecialized = {
    .verb = SPEC_VERB("ovopctl spec unspecialized",
                      "unspecialized [--territory CODE] [--kind KIND] [--page-size N] "
                      "[--page-token T] [--all]",
                      "Lists the territories (villages by default) that have declared no "
                      "specialization yet.",
                      0),
    .filters = unspecialized_filters,
    .n_filters = OVOP_ARRAY_SIZE(unspecialized_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__unspecialized_territories_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListUnspecializedTerritories",
             .response = &ovop__v1__list_territories_response__descriptor,
             .rows = "territories",
             .columns = unspecialized_columns,
             .n_columns = OVOP_ARRAY_SIZE(unspecialized_columns),
             .print_row = print_unspecialized_row,
             .one = "territory without a specialization",
             .many = "territories without a specialization"},
};

static void print_counts(const ProtobufCMessage *m)
{
    static const ctl_column_t columns[] = {
        {"REGION", 14}, {"NAME", 24}, {"COUNT", 7}, {"TOTAL", 0}};
    const Ovop__V1__SpecializationCountsResponse *resp =
        (const Ovop__V1__SpecializationCountsResponse *)m;
    ctl_print_header(columns, OVOP_ARRAY_SIZE(columns));
    for (size_t i = 0; i < resp->n_regions; i++) {
        const Ovop__V1__RegionCount *g = resp->regions[i];
        ctl_print_cell(g->region_code, 14);
        ctl_print_cell(g->region_name ? g->region_name->en : "", 24);
        ctl_print_int_cell(g->count, 7);
        printf("%u\n", g->total);
    }
}

static int spec_counts(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        SPEC_VERB("ovopctl spec counts", "counts [--hs PREFIX] [--kind KIND]",
                  "Counts, per region, the territories of a kind that specialize in a product, "
                  "out of all of that kind.",
                  0);
    char *hs = NULL, *kind = NULL;
    const ovop_opt_t opts[] = {
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code or prefix (e.g. 0409 for honey)", &hs},
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, KIND_HELP, &kind},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__SpecializationCountsRequest in = OVOP__V1__SPECIALIZATION_COUNTS_REQUEST__INIT;
        in.hs_prefix = hs ? hs : "";
        in.kind = kind ? kind : "";
        r = ctl_call_show(c, "ovop.registry", "CountSpecializations", &in.base,
                          &ovop__v1__specialization_counts_response__descriptor, print_counts);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_spec(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "declare", .run = spec_declare},
        {.name = "withdraw", .run = spec_withdraw},
        {.name = "list", .run_with = ctl_list_cmd, .list = &spec_list},
        {.name = "unspecialized", .run_with = ctl_list_cmd, .list = &spec_unspecialized},
        {.name = "counts", .run = spec_counts},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl spec declare|withdraw|list|unspecialized|counts ... (--help after the "
                   "verb)");
}
