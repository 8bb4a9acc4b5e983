/* ovopctl coop: found cooperatives, members joining and leaving, listing, and the capacity
 * a cooperative offers under an HS code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

static void print_coop(const Ovop__V1__Cooperative *c)
{
    printf("id             %lld\n", (long long)c->id);
    printf("name           %s\n", c->name);
    printf("territory      %s\n", c->territory_code);
    printf("founded on     %s\n", c->founded_on);
    printf("version        %d\n", c->version);
    printf("members        PRODUCER  JOINED      LEFT\n");
    for (size_t i = 0; i < c->n_members; i++) {
        const Ovop__V1__CooperativeMember *m = c->members[i];
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)m->producer_id);
        printf("               ");
        ctl_print_cell(id, 9);
        ctl_print_cell(m->joined_on, 11);
        printf("%s\n", m->left_on[0] ? m->left_on : "-");
    }
}

/* Prints the cooperative of a successful call (owned: freed here). */
static void show(ctl_t *c, ProtobufCMessage *res)
{
    if (c->json)
        ctl_print_json(res);
    else
        print_coop((const Ovop__V1__Cooperative *)res);
    protobuf_c_message_free_unpacked(res, NULL);
}

static int coop_create(ctl_t *c, int argc, char **argv)
{
    char *name = NULL, *territory = NULL, *founded = NULL;
    char **member_flags = NULL;
    size_t n_member_flags = 0, n_members = 0;
    int64_t *members = NULL;
    const ovop_opt_t opts[] = {
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "the cooperative's name", &name},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of its seat", &territory},
        {"founded", OVOP_OPT_STRING, NULL, 0, 0, "founding date YYYY-MM-DD (default: today)",
         &founded},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_take_repeated(&argc, argv, "member", &member_flags, &n_member_flags);
    if (r != 0)
        goto out;
    r = ctl_parse_flags("ovopctl coop create",
                        "--name N --territory CODE --member ID --member ID... [--founded DATE]",
                        "Founds a cooperative of at least two active producers.", opts, n, argc,
                        argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc || !name || !territory || n_member_flags == 0) {
        fprintf(stderr, "ovopctl: coop create needs --name, --territory and a --member for each "
                        "founding producer\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    /* Each --member may also list several ids separated by commas. */
    for (size_t i = 0; i < n_member_flags; i++) {
        char *buf = xstrdup(member_flags[i]), *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            members = xrealloc(members, (n_members + 1) * sizeof(*members));
            if ((r = ctl_parse_id("--member", tok, &members[n_members])) != 0) {
                free(buf);
                goto out;
            }
            n_members++;
        }
        free(buf);
    }
    Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    in.name = name;
    in.territory_code = territory;
    in.founded_on = founded ? founded : "";
    in.founding_members = members;
    in.n_founding_members = n_members;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, "ovop.registry", "CreateCooperative", &in.base,
                 &ovop__v1__cooperative__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res);
out:
    ovop_config_free(opts, n);
    free(member_flags);
    free(members);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* coop join|leave COOP_ID PRODUCER_ID --version V [--on DATE] */
static int coop_membership(ctl_t *c, bool join, int argc, char **argv)
{
    char *on = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the cooperative's version, as read",
         &version},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "date YYYY-MM-DD (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int64_t coop = 0, producer = 0;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags(join ? "ovopctl coop join" : "ovopctl coop leave",
                            "COOP_ID PRODUCER_ID --version V [--on YYYY-MM-DD]",
                            join ? "A producer joins a cooperative." : "A member leaves.", opts, n,
                            argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 2 || version <= 0) {
        fprintf(stderr,
                "ovopctl: usage: ovopctl coop %s COOP_ID PRODUCER_ID --version V "
                "[--on YYYY-MM-DD] (the version `coop get` shows)\n",
                join ? "join" : "leave");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((r = ctl_parse_id("cooperative id", argv[argi], &coop)) != 0 ||
        (r = ctl_parse_id("producer id", argv[argi + 1], &producer)) != 0)
        goto out;
    ProtobufCMessage *res = NULL;
    if (join) {
        Ovop__V1__JoinCooperativeRequest in = OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT;
        in.cooperative_id = coop;
        in.version = (int32_t)version;
        in.producer_id = producer;
        in.joined_on = on ? on : "";
        r = ctl_call(c, "ovop.registry", "JoinCooperative", &in.base,
                     &ovop__v1__cooperative__descriptor, &res);
    } else {
        Ovop__V1__LeaveCooperativeRequest in = OVOP__V1__LEAVE_COOPERATIVE_REQUEST__INIT;
        in.cooperative_id = coop;
        in.version = (int32_t)version;
        in.producer_id = producer;
        in.left_on = on ? on : "";
        r = ctl_call(c, "ovop.registry", "LeaveCooperative", &in.base,
                     &ovop__v1__cooperative__descriptor, &res);
    }
    if (r == CTL_EXIT_OK)
        show(c, res);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int coop_get(ctl_t *c, int argc, char **argv)
{
    int argi;
    int r = ctl_parse_flags("ovopctl coop get", "ID", "Shows a cooperative and its members.", NULL,
                            0, argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl coop get ID\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__GetCooperativeRequest in = OVOP__V1__GET_COOPERATIVE_REQUEST__INIT;
    if ((r = ctl_parse_id("cooperative id", argv[argi], &in.id)) != 0)
        return r;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, "ovop.registry", "GetCooperative", &in.base, &ovop__v1__cooperative__descriptor,
                 &res);
    if (r == CTL_EXIT_OK)
        show(c, res);
    return r;
}

/* Members on no end date. */
static unsigned current_members(const Ovop__V1__Cooperative *c)
{
    unsigned n = 0;
    for (size_t i = 0; i < c->n_members; i++)
        n += c->members[i]->left_on[0] == '\0';
    return n;
}

static void print_list_header(void)
{
    ctl_print_cell("ID", 8);
    ctl_print_cell("NAME", 36);
    ctl_print_cell("TERRITORY", 14);
    ctl_print_cell("FOUNDED", 10);
    printf("MEMBERS\n");
}

static void print_list_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Cooperative *co = (const Ovop__V1__Cooperative *)m;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)co->id);
    ctl_print_cell(id, 8);
    ctl_print_cell(co->name, 36);
    ctl_print_cell(co->territory_code, 14);
    ctl_print_cell(co->founded_on, 10);
    printf("%u\n", current_members(co));
}

static int coop_list(ctl_t *c, int argc, char **argv)
{
    char *territory = NULL, *hs = NULL, *token = NULL;
    int64_t page_size = 0;
    bool all = false;
    const ovop_opt_t opts[] = {
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code: seated within it", &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "a member produces under this HS prefix", &hs},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page", &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_parse_flags("ovopctl coop list", "[options]", "Lists cooperatives.", opts, n, argc,
                            argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ListCooperativesRequest in = OVOP__V1__LIST_COOPERATIVES_REQUEST__INIT;
    in.territory_prefix = territory ? territory : "";
    in.hs_prefix = hs ? hs : "";
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c,
                       &(ctl_list_t){.service = "ovop.registry",
                                     .method = "ListCooperatives",
                                     .request = &in.base,
                                     .response = &ovop__v1__list_cooperatives_response__descriptor,
                                     .rows = "cooperatives",
                                     .page_token = token,
                                     .all = all,
                                     .print_header = print_list_header,
                                     .print_row = print_list_row,
                                     .one = "cooperative",
                                     .many = "cooperatives"});
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* coop capacity COOP_ID --hs CODE [--as-of DATE] */
static int coop_capacity(ctl_t *c, int argc, char **argv)
{
    char *hs = NULL, *as_of = NULL;
    const ovop_opt_t opts[] = {
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code or prefix", &hs},
        {"as-of", OVOP_OPT_STRING, NULL, 0, 0, "members on this date (default: today)", &as_of},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags("ovopctl coop capacity", "COOP_ID --hs CODE [--as-of YYYY-MM-DD]",
                            "What a cooperative's members make a month under an HS code.", opts, n,
                            argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1 || !hs) {
        fprintf(stderr, "ovopctl: usage: ovopctl coop capacity COOP_ID --hs CODE "
                        "[--as-of YYYY-MM-DD]\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__CooperativeCapacityRequest in = OVOP__V1__COOPERATIVE_CAPACITY_REQUEST__INIT;
    if ((r = ctl_parse_id("cooperative id", argv[argi], &in.cooperative_id)) != 0)
        goto out;
    in.hs_code = hs;
    in.as_of = as_of ? as_of : "";
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, "ovop.registry", "GetCooperativeCapacity", &in.base,
                 &ovop__v1__cooperative_capacity__descriptor, &res);
    if (r == CTL_EXIT_OK) {
        const Ovop__V1__CooperativeCapacity *cap = (const Ovop__V1__CooperativeCapacity *)res;
        char amount[32];
        if (c->json)
            ctl_print_json(res);
        else if (!cap->unit[0])
            printf("cooperative %lld: no member makes anything under HS %s\n",
                   (long long)cap->cooperative_id, cap->hs_code);
        else
            printf("cooperative %lld, HS %s: %s %s a month from %u member%s\n",
                   (long long)cap->cooperative_id, cap->hs_code,
                   ctl_amount(cap->capacity_per_month, amount), cap->unit,
                   cap->members_contributing, cap->members_contributing == 1 ? "" : "s");
        protobuf_c_message_free_unpacked(res, NULL);
    }
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_coop(ctl_t *c, int argc, char **argv)
{
    const char *v = argc >= 2 ? argv[1] : "";
    if (strcmp(v, "create") == 0)
        return coop_create(c, argc - 1, argv + 1);
    if (strcmp(v, "join") == 0)
        return coop_membership(c, true, argc - 1, argv + 1);
    if (strcmp(v, "leave") == 0)
        return coop_membership(c, false, argc - 1, argv + 1);
    if (strcmp(v, "get") == 0)
        return coop_get(c, argc - 1, argv + 1);
    if (strcmp(v, "list") == 0)
        return coop_list(c, argc - 1, argv + 1);
    if (strcmp(v, "capacity") == 0)
        return coop_capacity(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl coop create|join|leave|get|list|capacity ...\n");
    return CTL_EXIT_USAGE;
}
