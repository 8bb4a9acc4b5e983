/* ovopctl spec: village (town, district, region) specializations: declare, withdraw, list,
 * the territories without one, and counts per region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

static int parse(const char *prog, const char *usage, const char *summary, const ovop_opt_t *opts,
                 size_t n, int *argc, char **argv, int *ret_argi)
{
    ctl_flags_first(argc, argv, opts, n);
    return ctl_parse_flags(prog, usage, summary, opts, n, *argc, argv, ret_argi);
}

static int usage_error(const char *usage)
{
    fprintf(stderr, "ovopctl: usage: ovopctl spec %s\n", usage);
    return CTL_EXIT_USAGE;
}

static void print_specialization(const Ovop__V1__Specialization *s)
{
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

static int print_one(ctl_t *c, int r, ProtobufCMessage *out)
{
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            print_specialization((const Ovop__V1__Specialization *)out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
    return r;
}

static int spec_declare(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "declare TERRITORY HS_CODE [--narrative TEXT] [--on YYYY-MM-DD]";
    char *narrative = NULL, *on = NULL;
    const ovop_opt_t opts[] = {
        {"narrative", OVOP_OPT_STRING, NULL, 0, 0, "what the territory is known for (2000 bytes)",
         &narrative},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the day it was declared (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = parse("ovopctl spec declare", usage,
                  "Declares that a village, town, city, aiyl aimak, district or region "
                  "specializes in a product.",
                  opts, n, &argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 2) {
        r = usage_error(usage);
        goto out;
    }
    Ovop__V1__DeclareSpecializationRequest in = OVOP__V1__DECLARE_SPECIALIZATION_REQUEST__INIT;
    in.territory_code = argv[argi];
    in.hs_code = argv[argi + 1];
    in.narrative = narrative ? narrative : "";
    in.declared_on = on ? on : "";
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "DeclareSpecialization", &in.base,
                 &ovop__v1__specialization__descriptor, &out);
    r = print_one(c, r, out);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int spec_withdraw(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "withdraw ID --version V [--on YYYY-MM-DD]";
    char *on = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (required)", &version},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the day it ends (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = parse("ovopctl spec withdraw", usage, "Withdraws a specialization.", opts, n, &argc,
                  argv, &argi);
    if (r != 0)
        goto out;
    char *end = NULL;
    long long id = argi == argc - 1 ? strtoll(argv[argi], &end, 10) : 0;
    if (id <= 0 || !end || *end || version <= 0) {
        r = usage_error(usage);
        goto out;
    }
    Ovop__V1__WithdrawSpecializationRequest in = OVOP__V1__WITHDRAW_SPECIALIZATION_REQUEST__INIT;
    in.id = id;
    in.version = (int32_t)version;
    in.withdrawn_on = on ? on : "";
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "WithdrawSpecialization", &in.base,
                 &ovop__v1__specialization__descriptor, &out);
    r = print_one(c, r, out);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* Options shared by the two paged listings. */
typedef struct paging {
    char *territory, *token;
    int64_t page_size;
    bool all;
} paging_t;

static void print_spec_header(void)
{
    ctl_print_cell("ID", 8);
    ctl_print_cell("TERRITORY", 14);
    ctl_print_cell("HS", 6);
    ctl_print_cell("DECLARED", 10);
    ctl_print_cell("WITHDRAWN", 10);
    printf("VERSION\n");
}

static void print_spec_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Specialization *s = (const Ovop__V1__Specialization *)m;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)s->id);
    ctl_print_cell(id, 8);
    ctl_print_cell(s->territory_code, 14);
    ctl_print_cell(s->hs_code, 6);
    ctl_print_cell(s->declared_on, 10);
    ctl_print_cell(s->withdrawn_on[0] ? s->withdrawn_on : "-", 10);
    printf("%d\n", s->version);
}

static int spec_list(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "list [--territory CODE] [--hs PREFIX] [--page-size N] "
                                "[--page-token T] [--all]";
    paging_t pg = {0};
    char *hs = NULL;
    const ovop_opt_t opts[] = {
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "only in this territory and under it",
         &pg.territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "only HS codes starting with this", &hs},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page (0: the server's default)",
         &pg.page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &pg.token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &pg.all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = parse("ovopctl spec list", usage,
                  "Lists specializations, current and withdrawn, oldest first.", opts, n, &argc,
                  argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        r = usage_error(usage);
        goto out;
    }
    Ovop__V1__ListSpecializationsRequest in = OVOP__V1__LIST_SPECIALIZATIONS_REQUEST__INIT;
    in.territory_prefix = pg.territory ? pg.territory : "";
    in.hs_prefix = hs ? hs : "";
    in.page_size = (uint32_t)pg.page_size;
    r = ctl_list_pages(
        c, &(ctl_list_t){.service = "ovop.registry",
                         .method = "ListSpecializations",
                         .request = &in.base,
                         .response = &ovop__v1__list_specializations_response__descriptor,
                         .rows = "specializations",
                         .page_token = pg.token,
                         .all = pg.all,
                         .print_header = print_spec_header,
                         .print_row = print_spec_row,
                         .one = "specialization",
                         .many = "specializations"});
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_unspecialized_header(void)
{
    ctl_print_cell("CODE", 14);
    ctl_print_cell("KIND", 10);
    ctl_print_cell("NAME (RU)", 30);
    printf("NAME\n");
}

static void print_unspecialized_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Territory *t = (const Ovop__V1__Territory *)m;
    ctl_print_cell(t->code, 14);
    ctl_print_cell(t->kind, 10);
    ctl_print_cell(t->name ? t->name->ru : "", 30);
    printf("%s\n", t->name ? t->name->en : "");
}

static int spec_unspecialized(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "unspecialized [--territory CODE] [--kind KIND] [--page-size N] "
                                "[--page-token T] [--all]";
    paging_t pg = {0};
    char *kind = NULL;
    const ovop_opt_t opts[] = {
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "only under this territory (e.g. a region)",
         &pg.territory},
        {"kind", OVOP_OPT_STRING, NULL, 0, 0,
         "village (default), town, city_oblast, aiyl_aimak, rayon or oblast", &kind},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page (0: the server's default)",
         &pg.page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &pg.token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &pg.all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = parse("ovopctl spec unspecialized", usage,
                  "Lists the territories (villages by default) that have declared no "
                  "specialization yet.",
                  opts, n, &argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        r = usage_error(usage);
        goto out;
    }
    Ovop__V1__UnspecializedTerritoriesRequest in =
        OVOP__V1__UNSPECIALIZED_TERRITORIES_REQUEST__INIT;
    in.territory_prefix = pg.territory ? pg.territory : "";
    in.kind = kind ? kind : "";
    in.page_size = (uint32_t)pg.page_size;
    r = ctl_list_pages(c,
                       &(ctl_list_t){.service = "ovop.registry",
                                     .method = "ListUnspecializedTerritories",
                                     .request = &in.base,
                                     .response = &ovop__v1__list_territories_response__descriptor,
                                     .rows = "territories",
                                     .page_token = pg.token,
                                     .all = pg.all,
                                     .print_header = print_unspecialized_header,
                                     .print_row = print_unspecialized_row,
                                     .one = "territory without a specialization",
                                     .many = "territories without a specialization"});
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int spec_counts(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "counts [--hs PREFIX] [--kind KIND]";
    char *hs = NULL, *kind = NULL;
    const ovop_opt_t opts[] = {
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code or prefix (e.g. 0409 for honey)", &hs},
        {"kind", OVOP_OPT_STRING, NULL, 0, 0,
         "village (default), town, city_oblast, aiyl_aimak, rayon or oblast", &kind},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = parse("ovopctl spec counts", usage,
                  "Counts, per region, the territories of a kind that specialize in a product, "
                  "out of all of that kind.",
                  opts, n, &argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        r = usage_error(usage);
        goto out;
    }
    Ovop__V1__SpecializationCountsRequest in = OVOP__V1__SPECIALIZATION_COUNTS_REQUEST__INIT;
    in.hs_prefix = hs ? hs : "";
    in.kind = kind ? kind : "";
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "CountSpecializations", &in.base,
                 &ovop__v1__specialization_counts_response__descriptor, &out);
    if (r == CTL_EXIT_OK) {
        const Ovop__V1__SpecializationCountsResponse *resp =
            (const Ovop__V1__SpecializationCountsResponse *)out;
        if (c->json) {
            ctl_print_json(out);
        } else {
            ctl_print_cell("REGION", 14);
            ctl_print_cell("NAME", 24);
            ctl_print_cell("COUNT", 7);
            printf("TOTAL\n");
            for (size_t i = 0; i < resp->n_regions; i++) {
                const Ovop__V1__RegionCount *g = resp->regions[i];
                char count[16];
                snprintf(count, sizeof(count), "%u", g->count);
                ctl_print_cell(g->region_code, 14);
                ctl_print_cell(g->region_name ? g->region_name->en : "", 24);
                ctl_print_cell(count, 7);
                printf("%u\n", g->total);
            }
        }
        protobuf_c_message_free_unpacked(out, NULL);
    }
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_spec(ctl_t *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "declare") == 0)
        return spec_declare(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "withdraw") == 0)
        return spec_withdraw(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return spec_list(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "unspecialized") == 0)
        return spec_unspecialized(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "counts") == 0)
        return spec_counts(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl spec declare|withdraw|list|unspecialized|counts "
                    "... (--help after the verb)\n");
    return CTL_EXIT_USAGE;
}
