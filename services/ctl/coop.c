/* ovopctl coop: found cooperatives, members joining and leaving, listing, and the capacity
 * a cooperative offers under an HS code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

static void print_coop(const ProtobufCMessage *m)
{
    const Ovop__V1__Cooperative *c = (const Ovop__V1__Cooperative *)m;
    printf("id             %lld\n", (long long)c->id);
    printf("name           %s\n", c->name);
    printf("territory      %s\n", c->territory_code);
    printf("founded on     %s\n", c->founded_on);
    printf("version        %d\n", c->version);
    printf("members        PRODUCER  JOINED      LEFT\n");
    for (size_t i = 0; i < c->n_members; i++) {
        const Ovop__V1__CooperativeMember *mb = c->members[i];
        printf("               ");
        ctl_print_int_cell(mb->producer_id, 9);
        ctl_print_cell(mb->joined_on, 11);
        printf("%s\n", mb->left_on[0] ? mb->left_on : "-");
    }
}

/* The producer ids of --member flags, each of which may list several separated by commas
 * (malloc'd). Returns 0, or CTL_EXIT_USAGE after saying which is not an id. */
static int parse_members(char **flags, size_t n_flags, int64_t **ret, size_t *ret_n)
{
    int64_t *members = NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_flags; i++) {
        char *buf = xstrdup(flags[i]), *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            members = xrealloc(members, (n + 1) * sizeof(*members));
            int r = ctl_parse_id("--member", tok, &members[n]);
            if (r != 0) {
                free(buf);
                free(members);
                return r;
            }
            n++;
        }
        free(buf);
    }
    *ret = members;
    *ret_n = n;
    return 0;
}

static int coop_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl coop create",
        .usage = "--name N --territory CODE --member ID --member ID... [--founded DATE]",
        .summary = "Founds a cooperative of at least two active producers.",
        .needs = "coop create needs --name, --territory and a --member for each founding "
                 "producer"};
    char *name = NULL, *territory = NULL, *founded = NULL;
    char **member_flags = NULL;
    size_t n_member_flags = 0;
    const ovop_opt_t opts[] = {
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "the cooperative's name", &name},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of its seat", &territory},
        {"founded", OVOP_OPT_STRING, NULL, 0, 0, "founding date YYYY-MM-DD (default: today)",
         &founded},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    int r = ctl_take_repeated(&argc, argv, "member", &member_flags, &n_member_flags);
    if (r == 0)
        r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!name || !territory || n_member_flags == 0))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = parse_members(member_flags, n_member_flags, &in.founding_members,
                          &in.n_founding_members);
    if (r == 0) {
        in.name = name;
        in.territory_code = territory;
        in.founded_on = founded ? founded : "";
        r = ctl_call_show(c, "ovop.registry", "CreateCooperative", &in.base,
                          &ovop__v1__cooperative__descriptor, print_coop);
    }
    ovop_config_free(opts, n);
    free(member_flags);
    free(in.founding_members);
    return r < 0 ? CTL_EXIT_OK : r;
}

#define MEMBERSHIP_USAGE "COOP_ID PRODUCER_ID --version V [--on YYYY-MM-DD]"
#define MEMBERSHIP_VERB(verb_, summary_)                                                           \
    {                                                                                              \
        .prog = "ovopctl coop " verb_, .usage = MEMBERSHIP_USAGE, .summary = (summary_),           \
        .n_args = 2, .flags_anywhere = true,                                                       \
        .needs =                                                                                   \
            "usage: ovopctl coop " verb_ " " MEMBERSHIP_USAGE " (the version `coop get` shows)"    \
    }

/* coop join (cmd->value 1) or leave COOP_ID PRODUCER_ID --version V [--on DATE] */
static int coop_membership(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const ctl_verb_t join_verb = MEMBERSHIP_VERB("join", "A producer joins a cooperative.");
    static const ctl_verb_t leave_verb = MEMBERSHIP_VERB("leave", "A member leaves.");
    bool join = cmd->value;
    const ctl_verb_t *verb = join ? &join_verb : &leave_verb;
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
    int r = ctl_verb_parse(verb, opts, n, &argc, argv, &argi);
    if (r == 0 && version <= 0)
        r = ctl_misuse(verb);
    if (r == 0 && (r = ctl_parse_id("cooperative id", argv[argi], &coop)) == 0)
        r = ctl_parse_id("producer id", argv[argi + 1], &producer);
    if (r == 0 && join) {
        Ovop__V1__JoinCooperativeRequest in = OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT;
        in.cooperative_id = coop;
        in.version = (int32_t)version;
        in.producer_id = producer;
        in.joined_on = on ? on : "";
        r = ctl_call_show(c, "ovop.registry", "JoinCooperative", &in.base,
                          &ovop__v1__cooperative__descriptor, print_coop);
    } else if (r == 0) {
        Ovop__V1__LeaveCooperativeRequest in = OVOP__V1__LEAVE_COOPERATIVE_REQUEST__INIT;
        in.cooperative_id = coop;
        in.version = (int32_t)version;
        in.producer_id = producer;
        in.left_on = on ? on : "";
        r = ctl_call_show(c, "ovop.registry", "LeaveCooperative", &in.base,
                          &ovop__v1__cooperative__descriptor, print_coop);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int coop_get(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl coop get",
                                    .usage = "ID",
                                    .summary = "Shows a cooperative and its members.",
                                    .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__GetCooperativeRequest in = OVOP__V1__GET_COOPERATIVE_REQUEST__INIT;
    if ((r = ctl_parse_id("cooperative id", argv[argi], &in.id)) != 0)
        return r;
    return ctl_call_show(c, "ovop.registry", "GetCooperative", &in.base,
                         &ovop__v1__cooperative__descriptor, print_coop);
}

/* Members on no end date. */
static unsigned current_members(const Ovop__V1__Cooperative *c)
{
    unsigned n = 0;
    for (size_t i = 0; i < c->n_members; i++)
        n += c->members[i]->left_on[0] == '\0';
    return n;
}

static const ctl_column_t list_columns[] = {
    {"ID", 8}, {"NAME", 36}, {"TERRITORY", 14}, {"FOUNDED", 10}, {"MEMBERS", 0},
};

static void print_list_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Cooperative *co = (const Ovop__V1__Cooperative *)m;
    ctl_print_int_cell(co->id, 8);
    ctl_print_cell(co->name, 36);
    ctl_print_cell(co->territory_code, 14);
    ctl_print_cell(co->founded_on, 10);
    printf("%u\n", current_members(co));
}

static const ctl_filter_t list_filters[] = {
    CTL_FILTER("territory", "SOATE code: seated within it", "territory_prefix"),
    CTL_FILTER("hs", "a member produces under this HS prefix", "hs_prefix"),
};

static const ctl_list_verb_t coop_list = {
    .verb = {.prog = "ovopctl coop list",
             .usage = "[options]",
             .summary = "Lists cooperatives.",
             .unexpected = true},
    .filters = list_filters,
    .n_filters = OVOP_ARRAY_SIZE(list_filters),
    .page_size_help = CTL_PAGE_SIZE_HELP,
    .request = &ovop__v1__list_cooperatives_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListCooperatives",
             .response = &ovop__v1__list_cooperatives_response__descriptor,
             .rows = "cooperatives",
             .columns = list_columns,
             .n_columns = OVOP_ARRAY_SIZE(list_columns),
             .print_row = print_list_row,
             .one = "cooperative",
             .many = "cooperatives"},
};

static void print_capacity(const ProtobufCMessage *m)
{
    const Ovop__V1__CooperativeCapacity *cap = (const Ovop__V1__CooperativeCapacity *)m;
    char amount[32];
    if (!cap->unit[0])
        printf("cooperative %lld: no member makes anything under HS %s\n",
               (long long)cap->cooperative_id, cap->hs_code);
    else
        printf("cooperative %lld, HS %s: %s %s a month from %u member%s\n",
               (long long)cap->cooperative_id, cap->hs_code,
               ctl_amount(cap->capacity_per_month, amount), cap->unit, cap->members_contributing,
               cap->members_contributing == 1 ? "" : "s");
}

/* coop capacity COOP_ID --hs CODE [--as-of DATE] */
static int coop_capacity(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl coop capacity",
        .usage = "COOP_ID --hs CODE [--as-of YYYY-MM-DD]",
        .summary = "What a cooperative's members make a month under an HS code.",
        .n_args = 1,
        .flags_anywhere = true};
    char *hs = NULL, *as_of = NULL;
    const ovop_opt_t opts[] = {
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code or prefix", &hs},
        {"as-of", OVOP_OPT_STRING, NULL, 0, 0, "members on this date (default: today)", &as_of},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__CooperativeCapacityRequest in = OVOP__V1__COOPERATIVE_CAPACITY_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !hs)
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_parse_id("cooperative id", argv[argi], &in.cooperative_id);
    if (r == 0) {
        in.hs_code = hs;
        in.as_of = as_of ? as_of : "";
        r = ctl_call_show(c, "ovop.registry", "GetCooperativeCapacity", &in.base,
                          &ovop__v1__cooperative_capacity__descriptor, print_capacity);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_coop(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = coop_create},
        {.name = "join", .run_with = coop_membership, .value = 1},
        {.name = "leave", .run_with = coop_membership, .value = 0},
        {.name = "get", .run = coop_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &coop_list},
        {.name = "capacity", .run = coop_capacity},
        {.name = "propose", .run = ctl_coop_propose},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl coop create|join|leave|get|list|capacity|propose ...");
}
