/* ovopctl producer: register, show, list, update and change the status of producers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

#define KINDS    (&ovop__v1__producer_kind__descriptor)
#define STATUSES (&ovop__v1__producer_status__descriptor)

#define NAME_OF(desc, v) ctl_enum_name((desc), (int)(v))

static void print_producer(const ProtobufCMessage *m)
{
    const Ovop__V1__Producer *p = (const Ovop__V1__Producer *)m;
    printf("id             %lld\n", (long long)p->id);
    printf("kind           %s\n", NAME_OF(KINDS, p->kind));
    printf("legal name     %s\n", p->legal_name);
    printf("tax id (INN)   %s\n", p->tax_id);
    printf("territory      %s\n", p->territory_code);
    if (p->location && p->location->set)
        printf("location       %.5f, %.5f\n", p->location->lat, p->location->lon);
    if (p->contact && p->contact->phone[0])
        printf("phone          %s\n", p->contact->phone);
    if (p->contact && p->contact->email[0])
        printf("e-mail         %s\n", p->contact->email);
    if (p->contact && p->contact->address[0])
        printf("address        %s\n", p->contact->address);
    printf("status         %s%s%s\n", NAME_OF(STATUSES, p->status), p->status_reason[0] ? ": " : "",
           p->status_reason);
    printf("stars          %u\n", p->stars);
    printf("version        %d\n", p->version);
    for (size_t i = 0; i < p->n_members; i++)
        printf("member         %s%s%s\n", p->members[i]->name, p->members[i]->role[0] ? ", " : "",
               p->members[i]->role);
}

/* The flags a producer's details are given with, for register and update. */
typedef struct details {
    char *kind, *name, *tax_id, *territory, *phone, *email, *address, *members;
    char *lat, *lon;
} details_t;

#define DETAIL_OPTS(d)                                                                             \
    {"kind",   OVOP_OPT_STRING, NULL, 0, 0, "individual, family_group, cooperative or sme",        \
     &(d).kind},                                                                                   \
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "legal name", &(d).name},                            \
        {"tax-id", OVOP_OPT_STRING, NULL, 0, 0, "INN, 14 digits", &(d).tax_id},                    \
        {"territory",   OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of the village or town",          \
         &(d).territory},                                                                          \
        {"phone", OVOP_OPT_STRING, NULL, 0, 0, "contact phone", &(d).phone},                       \
        {"email", OVOP_OPT_STRING, NULL, 0, 0, "contact e-mail", &(d).email},                      \
        {"address", OVOP_OPT_STRING, NULL, 0, 0, "postal address", &(d).address},                  \
        {"lat", OVOP_OPT_STRING, NULL, 0, 0, "latitude, decimal degrees", &(d).lat},               \
        {"lon", OVOP_OPT_STRING, NULL, 0, 0, "longitude, decimal degrees", &(d).lon},              \
    {                                                                                              \
        "members", OVOP_OPT_STRING, NULL, 0, 0, "group members: \"NAME[:ROLE[:INN]];NAME...\"",    \
            &(d).members                                                                           \
    }

/* Members parsed from "NAME[:ROLE[:INN]];..." into arrays owned by the caller. */
typedef struct member_list {
    Ovop__V1__Member *items;
    Ovop__V1__Member **ptrs;
    size_t n;
    char *buf;
} member_list_t;

static void parse_members(const char *spec, member_list_t *ml)
{
    memset(ml, 0, sizeof(*ml));
    if (!spec || !*spec)
        return;
    ml->buf = xstrdup(spec);
    size_t cap = 1;
    for (const char *p = spec; *p; p++)
        cap += *p == ';';
    ml->items = xcalloc(cap, sizeof(*ml->items));
    ml->ptrs = xcalloc(cap, sizeof(*ml->ptrs));
    char *save = NULL;
    for (char *tok = strtok_r(ml->buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
        Ovop__V1__Member *m = &ml->items[ml->n];
        ovop__v1__member__init(m);
        char *role = strchr(tok, ':');
        if (role) {
            *role++ = '\0';
            char *inn = strchr(role, ':');
            if (inn) {
                *inn++ = '\0';
                m->tax_id = inn;
            }
            m->role = role;
        }
        m->name = tok;
        ml->ptrs[ml->n] = m;
        ml->n++;
    }
}

static void free_members(member_list_t *ml)
{
    free(ml->items);
    free(ml->ptrs);
    free(ml->buf);
}

/* The parts of a producer that register and update send alike, from the flags given: the
 * contact (empty fields for flags not given), the location (set when --lat and --lon are) and
 * the members. */
static void build_details(const details_t *d, Ovop__V1__Contact *contact, Ovop__V1__GeoPoint *loc,
                          member_list_t *ml)
{
    ovop__v1__contact__init(contact);
    ovop__v1__geo_point__init(loc);
    contact->phone = d->phone ? d->phone : "";
    contact->email = d->email ? d->email : "";
    contact->address = d->address ? d->address : "";
    if (d->lat && d->lon) {
        loc->set = true;
        loc->lat = strtod(d->lat, NULL);
        loc->lon = strtod(d->lon, NULL);
    }
    parse_members(d->members, ml);
}

static int parse_kind(const char *s, int64_t *ret)
{
    int k = ctl_enum_index(KINDS, s);
    if (k < 0) {
        fprintf(stderr, "ovopctl: --kind must be individual, family_group, cooperative or sme\n");
        return CTL_EXIT_USAGE;
    }
    *ret = k;
    return 0;
}

static int parse_status(const char *s, int64_t *ret)
{
    int v = ctl_enum_index(STATUSES, s);
    if (v < 0) {
        fprintf(stderr, "ovopctl: --status must be active, suspended or closed\n");
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

static int producer_register(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl producer register",
        .usage = "--kind K --name N --tax-id INN --territory CODE [options]",
        .summary = "Registers a producer.",
        .needs = "producer register needs --kind, --name, --tax-id and --territory"};
    details_t d = {0};
    const ovop_opt_t opts[] = {DETAIL_OPTS(d)};
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int64_t kind = 0;
    member_list_t ml = {0};
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!d.kind || !d.name || !d.tax_id || !d.territory))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = parse_kind(d.kind, &kind);
    if (r == 0) {
        Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
        Ovop__V1__Contact contact;
        Ovop__V1__GeoPoint loc;
        build_details(&d, &contact, &loc, &ml);
        in.kind = (int)kind;
        in.legal_name = d.name;
        in.tax_id = d.tax_id;
        in.contact = &contact;
        in.territory_code = d.territory;
        in.location = &loc;
        in.n_members = ml.n;
        in.members = ml.ptrs;
        r = ctl_call_show(c, "ovop.registry", "RegisterProducer", &in.base,
                          &ovop__v1__producer__descriptor, print_producer);
    }
    free_members(&ml);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int parse_id(const char *s, int64_t *ret)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "ovopctl: \"%s\" is not an id\n", s);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

static int producer_get(ctl_t *c, int argc, char **argv)
{
    Ovop__V1__GetProducerRequest in = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl producer get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = parse_id(argv[1], &in.id);
    if (r)
        return r;
    return ctl_call_show(c, "ovop.registry", "GetProducer", &in.base,
                         &ovop__v1__producer__descriptor, print_producer);
}

/* Sends the flags given with an update_mask naming exactly their fields: the others keep
 * their stored values. No read first: --version is the version you read. */
static int producer_update(ctl_t *c, int argc, char **argv)
{
    static const char prog[] = "ovopctl producer update";
    details_t d = {0};
    const ovop_opt_t opts[] = {DETAIL_OPTS(d)};
    size_t n = OVOP_ARRAY_SIZE(opts);
    int64_t kind = 0;
    member_list_t ml = {0};
    Ovop__V1__UpdateProducerRequest in = OVOP__V1__UPDATE_PRODUCER_REQUEST__INIT;
    int r = ctl_parse_update(prog,
                             "Changes the details given, and only those, of a producer "
                             "(--members \"\" clears the members).",
                             opts, n, argc, argv, &in.id, &in.version);
    if (r != 0 || (d.kind && (r = parse_kind(d.kind, &kind)) != 0))
        goto out;
    if (!d.lat != !d.lon) {
        fprintf(stderr, "ovopctl: --lat and --lon go together\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    const ctl_mask_flag_t flags[] = {
        {d.kind, "kind"},
        {d.name, "legal_name"},
        {d.tax_id, "tax_id"},
        {d.territory, "territory_code"},
        {d.phone, "contact.phone"},
        {d.email, "contact.email"},
        {d.address, "contact.address"},
        {d.lat, "location"},
        {d.members, "members"},
    };
    char *paths[OVOP_ARRAY_SIZE(flags)];
    Ovop__V1__FieldMask mask;
    if ((r = ctl_update_mask(prog, flags, OVOP_ARRAY_SIZE(flags), paths, &mask)) != 0)
        goto out;
    Ovop__V1__Contact contact;
    Ovop__V1__GeoPoint loc;
    build_details(&d, &contact, &loc, &ml);
    in.kind = (int)kind;
    in.legal_name = d.name ? d.name : "";
    in.tax_id = d.tax_id ? d.tax_id : "";
    in.territory_code = d.territory ? d.territory : "";
    in.contact = &contact;
    in.location = &loc;
    in.n_members = ml.n;
    in.members = ml.ptrs;
    in.update_mask = &mask;
    r = ctl_call_show(c, "ovop.registry", "UpdateProducer", &in.base,
                      &ovop__v1__producer__descriptor, print_producer);
out:
    free_members(&ml);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* suspend, reactivate, close: cmd->value is the status. */
static int producer_status(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char needs[96];
    snprintf(needs, sizeof(needs), "usage: ovopctl producer %s ID --version V [--reason R]",
             cmd->name);
    const ctl_verb_t verb = {.prog = "ovopctl producer suspend|reactivate|close",
                             .usage = "ID --version V [--reason R]",
                             .summary = "Changes a producer's status.",
                             .n_args = 1,
                             .flags_anywhere = true,
                             .needs = needs};
    char *reason = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (required)", &version},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (required to suspend or close)", &reason},
    };
    int argi;
    Ovop__V1__SetProducerStatusRequest in = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, 2, &argc, argv, &argi);
    if (r == 0 && version <= 0)
        r = ctl_misuse(&verb);
    if (r == 0)
        r = parse_id(argv[argi], &in.id);
    if (r == 0) {
        in.version = (int32_t)version;
        in.status = cmd->value;
        in.reason = reason ? reason : "";
        r = ctl_call_show(c, "ovop.registry", "SetProducerStatus", &in.base,
                          &ovop__v1__producer__descriptor, print_producer);
    }
    ovop_config_free(opts, 2);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Producer *p = (const Ovop__V1__Producer *)m;
    ctl_print_int_cell(p->id, 8);
    ctl_print_cell(NAME_OF(KINDS, p->kind), 12);
    ctl_print_cell(p->legal_name, 40);
    ctl_print_cell(p->territory_code, 14);
    ctl_print_cell(NAME_OF(STATUSES, p->status), 9);
    printf("%u\n", p->stars);
}

static const ctl_column_t columns[] = {
    {"ID", 8}, {"KIND", 12}, {"LEGAL NAME", 40}, {"TERRITORY", 14}, {"STATUS", 9}, {"STARS", 0},
};

static const ctl_filter_t filters[] = {
    CTL_FILTER("territory", "SOATE code: a region covers its villages", "territory_prefix"),
    CTL_FILTER("hs", "with a product under this HS prefix", "hs_prefix"),
    CTL_FILTER("category", "with a product of this category", "category"),
    {.name = "min-stars",
     .type = OVOP_OPT_INT,
     .max = 5,
     .help = "certified with at least this many stars",
     .field = "min_stars"},
    {.name = "certified",
     .type = OVOP_OPT_BOOL,
     .help = "holding a certificate valid today",
     .field = "certified_only"},
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "active, suspended or closed",
     .field = "status",
     .parse = parse_status},
    {.name = "kind",
     .type = OVOP_OPT_STRING,
     .help = "individual, family_group, cooperative, sme",
     .field = "kind",
     .parse = parse_kind},
};

static const ctl_list_verb_t producer_list = {
    .verb = {.prog = "ovopctl producer list",
             .usage = "[options]",
             .summary = "Lists producers.",
             .unexpected = true},
    .filters = filters,
    .n_filters = OVOP_ARRAY_SIZE(filters),
    .filters_first = true,
    .page_size_help = CTL_PAGE_SIZE_HELP,
    .request = &ovop__v1__list_producers_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListProducers",
             .response = &ovop__v1__list_producers_response__descriptor,
             .rows = "producers",
             .columns = columns,
             .n_columns = OVOP_ARRAY_SIZE(columns),
             .print_row = print_row,
             .one = "producer",
             .many = "producers"},
};

int ctl_producer(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "register", .run = producer_register},
        {.name = "get", .run = producer_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &producer_list},
        {.name = "update", .run = producer_update},
        {.name = "suspend", .run_with = producer_status, .value = 2},
        {.name = "reactivate", .run_with = producer_status, .value = 1},
        {.name = "close", .run_with = producer_status, .value = 3},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl producer register|get|list|update|suspend|reactivate|close ...");
}
