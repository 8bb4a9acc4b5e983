/* ovopctl territory: SOATE territories. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

void ctl_print_territory(const struct Ovop__V1__Territory *t)
{
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
    char *as_of = NULL;
    int argi;
    const ovop_opt_t opts[] = {
        {"as-of", OVOP_OPT_STRING, NULL, 0, 0, "the version valid on this date (YYYY-MM-DD)",
         &as_of},
    };
    ctl_flags_first(&argc, argv, opts, 1);
    int r = ctl_parse_flags("ovopctl territory get", "CODE [--as-of YYYY-MM-DD]",
                            "Shows one territory.", opts, 1, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl territory get CODE [--as-of YYYY-MM-DD]\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = argv[argi];
    in.as_of = as_of ? as_of : "";
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "GetTerritory", &in.base, &ovop__v1__territory__descriptor,
                 &out);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            ctl_print_territory((const Ovop__V1__Territory *)out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
out:
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

static void print_header(void)
{
    ctl_print_cell("CODE", 14);
    ctl_print_cell("KIND", 15);
    ctl_print_cell("NAME", 24);
    ctl_print_cell("NAME (RU)", 30);
    printf("CHILDREN\n");
}

static int territory_list(ctl_t *c, int argc, char **argv)
{
    char *parent = NULL, *kind = NULL, *token = NULL;
    int64_t page_size = 0;
    bool all = false;
    int argi;
    const ovop_opt_t opts[] = {
        {"parent", OVOP_OPT_STRING, NULL, 0, 0, "only children of this code", &parent},
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "only this kind (oblast, rayon, village...)", &kind},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page (0: the server's default)",
         &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int r = ctl_parse_flags("ovopctl territory list", "[options]", "Lists territories.", opts,
                            n_opts, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ListTerritoriesRequest in = OVOP__V1__LIST_TERRITORIES_REQUEST__INIT;
    in.parent_code = parent ? parent : "";
    in.kind = kind ? kind : "";
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c,
                       &(ctl_list_t){.service = "ovop.registry",
                                     .method = "ListTerritories",
                                     .request = &in.base,
                                     .response = &ovop__v1__list_territories_response__descriptor,
                                     .rows = "territories",
                                     .page_token = token,
                                     .all = all,
                                     .print_header = print_header,
                                     .print_row = print_row,
                                     .one = "territory",
                                     .many = "territories"});
out:
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_territory(ctl_t *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "get") == 0)
        return territory_get(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return territory_list(c, argc - 1, argv + 1);
    if (argc >= 2)
        return ctl_territory_admin(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl territory get|list|create|rename|reparent|retire|"
                    "import ...\n");
    return CTL_EXIT_USAGE;
}
