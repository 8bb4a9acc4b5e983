/* ovopctl producer: register, show, list, update and change the status of producers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

static const char *const kinds[] = {"-", "individual", "family_group", "cooperative", "sme"};
static const char *const statuses[] = {"-", "active", "suspended", "closed"};

static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

#define NAME_OF(names, v) ((unsigned)(v) < OVOP_ARRAY_SIZE(names) ? names[v] : "?")

static void print_producer(const Ovop__V1__Producer *p)
{
    printf("id             %lld\n", (long long)p->id);
    printf("kind           %s\n", NAME_OF(kinds, p->kind));
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
    printf("status         %s%s%s\n", NAME_OF(statuses, p->status), p->status_reason[0] ? ": " : "",
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

static int parse_kind(const char *s, int *ret)
{
    int k = lookup(kinds, OVOP_ARRAY_SIZE(kinds), s);
    if (k < 0) {
        fprintf(stderr, "ovopctl: --kind must be individual, family_group, cooperative or sme\n");
        return CTL_EXIT_USAGE;
    }
    *ret = k;
    return 0;
}

static int producer_register(ctl_t *c, int argc, char **argv)
{
    details_t d = {0};
    const ovop_opt_t opts[] = {DETAIL_OPTS(d)};
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, kind = 0;
    member_list_t ml = {0};
    int r = ctl_parse_flags("ovopctl producer register",
                            "--kind K --name N --tax-id INN "
                            "--territory CODE [options]",
                            "Registers a producer.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc || !d.kind || !d.name || !d.tax_id || !d.territory) {
        fprintf(stderr, "ovopctl: producer register needs --kind, --name, --tax-id and "
                        "--territory\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((r = parse_kind(d.kind, &kind)) != 0)
        goto out;
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    Ovop__V1__Contact contact = OVOP__V1__CONTACT__INIT;
    Ovop__V1__GeoPoint loc = OVOP__V1__GEO_POINT__INIT;
    contact.phone = d.phone ? d.phone : "";
    contact.email = d.email ? d.email : "";
    contact.address = d.address ? d.address : "";
    if (d.lat && d.lon) {
        loc.set = true;
        loc.lat = strtod(d.lat, NULL);
        loc.lon = strtod(d.lon, NULL);
    }
    parse_members(d.members, &ml);
    in.kind = kind;
    in.legal_name = d.name;
    in.tax_id = d.tax_id;
    in.contact = &contact;
    in.territory_code = d.territory;
    in.location = &loc;
    in.n_members = ml.n;
    in.members = ml.ptrs;
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "RegisterProducer", &in.base, &ovop__v1__producer__descriptor,
                 &out);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            print_producer((const Ovop__V1__Producer *)out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
out:
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

static int fetch(ctl_t *c, int64_t id, Ovop__V1__Producer **ret)
{
    Ovop__V1__GetProducerRequest in = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    in.id = id;
    return ctl_call(c, "ovop.registry", "GetProducer", &in.base, &ovop__v1__producer__descriptor,
                    (ProtobufCMessage **)ret);
}

static int producer_get(ctl_t *c, int argc, char **argv)
{
    int64_t id;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl producer get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = parse_id(argv[1], &id);
    if (r)
        return r;
    Ovop__V1__Producer *p = NULL;
    r = fetch(c, id, &p);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(&p->base);
        else
            print_producer(p);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    return r;
}

/* Sends the flags given with an update_mask naming exactly their fields: the others keep
 * their stored values. No read first: --version is the version you read. */
static int producer_update(ctl_t *c, int argc, char **argv)
{
    static const char prog[] = "ovopctl producer update";
    details_t d = {0};
    const ovop_opt_t opts[] = {DETAIL_OPTS(d)};
    size_t n = OVOP_ARRAY_SIZE(opts);
    int kind = 0;
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
    Ovop__V1__Contact contact = OVOP__V1__CONTACT__INIT;
    Ovop__V1__GeoPoint loc = OVOP__V1__GEO_POINT__INIT;
    in.kind = kind;
    in.legal_name = d.name ? d.name : "";
    in.tax_id = d.tax_id ? d.tax_id : "";
    in.territory_code = d.territory ? d.territory : "";
    contact.phone = d.phone ? d.phone : "";
    contact.email = d.email ? d.email : "";
    contact.address = d.address ? d.address : "";
    in.contact = &contact;
    if (d.lat) {
        loc.set = true;
        loc.lat = strtod(d.lat, NULL);
        loc.lon = strtod(d.lon, NULL);
    }
    in.location = &loc;
    parse_members(d.members, &ml);
    in.n_members = ml.n;
    in.members = ml.ptrs;
    in.update_mask = &mask;
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "UpdateProducer", &in.base, &ovop__v1__producer__descriptor,
                 &out);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            print_producer((const Ovop__V1__Producer *)out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
out:
    free_members(&ml);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int producer_status(ctl_t *c, int status, int argc, char **argv)
{
    char *reason = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (required)", &version},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (required to suspend or close)", &reason},
    };
    int argi;
    int64_t id = 0;
    ctl_flags_first(&argc, argv, opts, 2);
    int r = ctl_parse_flags("ovopctl producer suspend|reactivate|close",
                            "ID --version V "
                            "[--reason R]",
                            "Changes a producer's status.", opts, 2, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1 || version <= 0) {
        fprintf(stderr, "ovopctl: usage: ovopctl producer %s ID --version V [--reason R]\n",
                argv[0]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((r = parse_id(argv[argi], &id)) != 0)
        goto out;
    Ovop__V1__SetProducerStatusRequest in = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    in.id = id;
    in.version = (int32_t)version;
    in.status = status;
    in.reason = reason ? reason : "";
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "SetProducerStatus", &in.base, &ovop__v1__producer__descriptor,
                 &out);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            print_producer((const Ovop__V1__Producer *)out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
out:
    ovop_config_free(opts, 2);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Producer *p = (const Ovop__V1__Producer *)m;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)p->id);
    ctl_print_cell(id, 8);
    ctl_print_cell(NAME_OF(kinds, p->kind), 12);
    ctl_print_cell(p->legal_name, 40);
    ctl_print_cell(p->territory_code, 14);
    ctl_print_cell(NAME_OF(statuses, p->status), 9);
    printf("%u\n", p->stars);
}

static void print_header(void)
{
    ctl_print_cell("ID", 8);
    ctl_print_cell("KIND", 12);
    ctl_print_cell("LEGAL NAME", 40);
    ctl_print_cell("TERRITORY", 14);
    ctl_print_cell("STATUS", 9);
    printf("STARS\n");
}

static int producer_list(ctl_t *c, int argc, char **argv)
{
    char *territory = NULL, *hs = NULL, *category = NULL, *status = NULL, *kind = NULL;
    char *token = NULL;
    int64_t min_stars = 0, page_size = 0;
    bool certified = false, all = false;
    const ovop_opt_t opts[] = {
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code: a region covers its villages",
         &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "with a product under this HS prefix", &hs},
        {"category", OVOP_OPT_STRING, NULL, 0, 0, "with a product of this category", &category},
        {"min-stars", OVOP_OPT_INT, "0", 0, 5, "certified with at least this many stars",
         &min_stars},
        {"certified", OVOP_OPT_BOOL, "false", 0, 0, "holding a certificate valid today",
         &certified},
        {"status", OVOP_OPT_STRING, NULL, 0, 0, "active, suspended or closed", &status},
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "individual, family_group, cooperative, sme", &kind},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page", &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_parse_flags("ovopctl producer list", "[options]", "Lists producers.", opts, n, argc,
                            argv, &argi);
    if (r != 0)
        goto out;
    int st = 0, kd = 0;
    if (status && (st = lookup(statuses, OVOP_ARRAY_SIZE(statuses), status)) < 0) {
        fprintf(stderr, "ovopctl: --status must be active, suspended or closed\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if (kind && (r = parse_kind(kind, &kd)) != 0)
        goto out;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ListProducersRequest in = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    in.territory_prefix = territory ? territory : "";
    in.hs_prefix = hs ? hs : "";
    in.category = category ? category : "";
    in.min_stars = (uint32_t)min_stars;
    in.certified_only = certified;
    in.status = st;
    in.kind = kd;
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c, &(ctl_list_t){.service = "ovop.registry",
                                        .method = "ListProducers",
                                        .request = &in.base,
                                        .response = &ovop__v1__list_producers_response__descriptor,
                                        .rows = "producers",
                                        .page_token = token,
                                        .all = all,
                                        .print_header = print_header,
                                        .print_row = print_row,
                                        .one = "producer",
                                        .many = "producers"});
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_producer(ctl_t *c, int argc, char **argv)
{
    const char *v = argc >= 2 ? argv[1] : "";
    if (strcmp(v, "register") == 0)
        return producer_register(c, argc - 1, argv + 1);
    if (strcmp(v, "get") == 0)
        return producer_get(c, argc - 1, argv + 1);
    if (strcmp(v, "list") == 0)
        return producer_list(c, argc - 1, argv + 1);
    if (strcmp(v, "update") == 0)
        return producer_update(c, argc - 1, argv + 1);
    if (strcmp(v, "suspend") == 0)
        return producer_status(c, 2, argc - 1, argv + 1);
    if (strcmp(v, "reactivate") == 0)
        return producer_status(c, 1, argc - 1, argv + 1);
    if (strcmp(v, "close") == 0)
        return producer_status(c, 3, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl producer "
                    "register|get|list|update|suspend|reactivate|close ...\n");
    return CTL_EXIT_USAGE;
}
