/* ovopctl order: export orders filled from village producers (ovop.matching); and
 * coop propose: proposed cooperatives for a product and region. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/matching.pb-c.h"

static const char *usd(int64_t cents, char out[static 32])
{
    snprintf(out, 32, "%s%lld.%02lld", cents < 0 ? "-" : "", llabs(cents) / 100,
             llabs(cents) % 100);
    return out;
}

static void print_lines(const Ovop__V1__Order *o)
{
    static const ctl_column_t cols[] = {{"PRODUCER", 9},   {"NAME", 30},     {"VILLAGE", 15},
                                        {"PRODUCT", 8},    {"QUANTITY", 10}, {"KM", 7},
                                        {"TRANSPORT", 10}, {"COORD.", 0}};
    char a[32], b[32];
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < o->n_lines; i++) {
        const Ovop__V1__AllocationLine *l = o->lines[i];
        ctl_print_int_cell(l->producer_id, 9);
        ctl_print_cell(l->producer_name, 30);
        ctl_print_cell(l->territory_code, 15);
        ctl_print_int_cell(l->product_id, 8);
        ctl_print_cell(ctl_amount(l->quantity, a), 10);
        printf("%-7.1f ", l->km);
        ctl_print_cell(usd(l->transport_cost_cents, b), 10);
        printf("%s\n", usd(l->coordination_cost_cents, a));
    }
}

void ctl_print_order(const ProtobufCMessage *m)
{
    const Ovop__V1__Order *o = (const Ovop__V1__Order *)m;
    char a[32], b[32];
    printf("order          %lld (version %d)\n", (long long)o->id, o->version);
    printf("status         %s%s%s\n", ctl_enum_name(&ovop__v1__order_status__descriptor, o->status),
           o->status_reason[0] ? ": " : "", o->status_reason);
    if (o->buyer)
        printf("buyer          %s (%s), to %s\n", o->buyer->name, o->buyer->country,
               o->destination);
    printf("product        HS %s%s%s, %s %s\n", o->hs_code, o->category[0] ? " " : "", o->category,
           ctl_amount(o->quantity, a), o->unit);
    if (o->min_stars)
        printf("stars          at least %d\n", o->min_stars);
    for (size_t i = 0; i < o->n_certifications; i++)
        printf("certification  %s\n", o->certifications[i]);
    printf("window         %s .. %s\n", o->window_from, o->window_to);
    if (o->consolidation)
        printf("consolidation  %s%s%.5f, %.5f%s%s\n", o->consolidation->territory_code,
               o->consolidation->territory_code[0] ? " " : "", o->consolidation->lat,
               o->consolidation->lon, o->consolidation->name[0] ? " " : "", o->consolidation->name);
    if (o->n_lines) {
        char cost[32];
        printf("filled         %s of %s %s, total cost USD %s\n", ctl_amount(o->filled, a),
               ctl_amount(o->quantity, b), o->unit, usd(o->total_cost_cents, cost));
        if (o->cooperative_id)
            printf("cooperative    %lld (preferred)\n", (long long)o->cooperative_id);
        print_lines(o);
    }
    for (size_t i = 0; i < o->n_shortfalls; i++)
        printf("missing        %s: %s\n",
               ctl_enum_name(&ovop__v1__shortfall_reason__descriptor, o->shortfalls[i]->reason),
               o->shortfalls[i]->message);
    if (o->shipment_id)
        printf("shipment       %lld\n", (long long)o->shipment_id);
}

static int parse_number(const char *flag, const char *s, double *ret)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || end == s || *end || !isfinite(v)) {
        fprintf(stderr, "ovopctl: --%s must be a number\n", flag);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

/* "organic,halal" split in place. */
static char **split(char *s, size_t *n)
{
    *n = 0;
    if (!s || !*s)
        return NULL;
    char **v = xcalloc(strlen(s) + 1, sizeof(*v));
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ","))
        v[(*n)++] = tok;
    return v;
}

typedef struct create_flags {
    char *buyer, *country, *address, *dest, *hs, *category, *qty, *unit, *certs, *from, *to, *at,
        *lat, *lon, *point, *ceiling;
    int64_t stars;
    bool partial;
} create_flags_t;

static int fill_order(create_flags_t *f, Ovop__V1__Order *o, Ovop__V1__Buyer *b,
                      Ovop__V1__ConsolidationPoint *cp)
{
    int r = parse_number("quantity", f->qty, &o->quantity);
    if (r == 0 && f->lat)
        r = parse_number("lat", f->lat, &cp->lat);
    if (r == 0 && f->lon)
        r = parse_number("lon", f->lon, &cp->lon);
    if (r == 0 && f->ceiling)
        r = ctl_parse_money("--price-ceiling", f->ceiling, &o->price_ceiling_cents);
    b->name = f->buyer;
    b->country = f->country;
    b->address = f->address ? f->address : "";
    o->buyer = b;
    o->destination = f->dest ? f->dest : f->country;
    o->hs_code = f->hs;
    o->category = f->category ? f->category : "";
    o->unit = f->unit ? f->unit : "";
    o->min_stars = (int32_t)f->stars;
    o->certifications = split(f->certs, &o->n_certifications);
    o->window_from = f->from;
    o->window_to = f->to;
    cp->territory_code = f->at ? f->at : "";
    cp->name = f->point ? f->point : "";
    o->consolidation = cp;
    o->allow_partial = f->partial;
    return r;
}

static int order_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl order create",
        .usage = "--buyer NAME --country CC --hs CODE --quantity Q --from DATE --to DATE "
                 "(--at SOATE | --lat X --lon Y) [options]",
        .summary = "Creates an export order (then: order match ID).",
        .needs = "order create needs --buyer, --country, --hs, --quantity, --from, --to and "
                 "--at or --lat/--lon",
        .unexpected = true};
    create_flags_t f = {0};
    const ovop_opt_t opts[] = {
        {"buyer", OVOP_OPT_STRING, NULL, 0, 0, "the foreign buyer's name", &f.buyer},
        {"country", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's country (ISO 3166-1)", &f.country},
        {"address", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's address", &f.address},
        {"destination", OVOP_OPT_STRING, NULL, 0, 0, "destination country (default: --country)",
         &f.dest},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code (6 digits)", &f.hs},
        {"category", OVOP_OPT_STRING, NULL, 0, 0, "only products of this category", &f.category},
        {"quantity", OVOP_OPT_STRING, NULL, 0, 0, "how much, in the HS code's unit", &f.qty},
        {"unit", OVOP_OPT_STRING, NULL, 0, 0, "the unit (default: the HS code's)", &f.unit},
        {"min-stars", OVOP_OPT_INT, "0", 0, 5, "OVOP brand stars required", &f.stars},
        {"certs", OVOP_OPT_STRING, NULL, 0, 0, "required certifications, e.g. organic,halal",
         &f.certs},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "delivery window start (YYYY-MM-DD)", &f.from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "delivery window end (YYYY-MM-DD)", &f.to},
        {"at", OVOP_OPT_STRING, NULL, 0, 0, "consolidation point: a SOATE town", &f.at},
        {"lat", OVOP_OPT_STRING, NULL, 0, 0, "consolidation point latitude", &f.lat},
        {"lon", OVOP_OPT_STRING, NULL, 0, 0, "consolidation point longitude", &f.lon},
        {"point-name", OVOP_OPT_STRING, NULL, 0, 0, "consolidation point label", &f.point},
        {"price-ceiling", OVOP_OPT_STRING, NULL, 0, 0, "most USD per unit, e.g. 4.50", &f.ceiling},
        {"partial", OVOP_OPT_BOOL, "false", 0, 0, "accept a partial fill", &f.partial},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!f.buyer || !f.country || !f.hs || !f.qty || !f.from || !f.to ||
                   (!f.at && (!f.lat || !f.lon))))
        r = ctl_misuse(&verb);
    Ovop__V1__Order o = OVOP__V1__ORDER__INIT;
    Ovop__V1__Buyer b = OVOP__V1__BUYER__INIT;
    Ovop__V1__ConsolidationPoint cp = OVOP__V1__CONSOLIDATION_POINT__INIT;
    if (r == 0)
        r = fill_order(&f, &o, &b, &cp);
    if (r == 0) {
        Ovop__V1__CreateOrderRequest in = OVOP__V1__CREATE_ORDER_REQUEST__INIT;
        in.order = &o;
        r = ctl_call_show(c, "ovop.matching", "CreateOrder", &in.base, &ovop__v1__order__descriptor,
                          ctl_print_order);
    }
    free(o.certifications);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* get ID, match ID [--version V] */
static int order_by_id(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    bool get = strcmp(cmd->method, "GetOrder") == 0;
    ctl_verb_t verb = {.prog = get ? "ovopctl order get" : "ovopctl order match",
                       .usage = get ? "ID" : "ID [--version V]",
                       .summary = get ? "Shows an order and its proposal."
                                      : "Computes the allocation of an order and reserves it "
                                        "(again for a proposed order).",
                       .n_args = 1,
                       .flags_anywhere = true};
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the version you read (0: no check)",
         &version},
    };
    int argi;
    int64_t id = 0;
    int r = ctl_verb_parse(&verb, opts, get ? 0 : 1, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("order id", argv[argi], &id);
    if (r == 0 && get) {
        Ovop__V1__GetOrderRequest in = OVOP__V1__GET_ORDER_REQUEST__INIT;
        in.id = id;
        r = ctl_call_show(c, "ovop.matching", "GetOrder", &in.base, &ovop__v1__order__descriptor,
                          ctl_print_order);
    } else if (r == 0) {
        Ovop__V1__MatchOrderRequest in = OVOP__V1__MATCH_ORDER_REQUEST__INIT;
        in.id = id;
        in.expected_version = (int32_t)version;
        r = ctl_call_show(c, "ovop.matching", "MatchOrder", &in.base, &ovop__v1__order__descriptor,
                          ctl_print_order);
    }
    return r < 0 ? CTL_EXIT_OK : r;
}

static int parse_exporter(const char *s, Ovop__V1__ExporterRef *x)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon)
        goto bad;
    if (strncmp(s, "cooperative:", 12) == 0)
        x->kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
    else if (strncmp(s, "producer:", 9) == 0)
        x->kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    else
        goto bad;
    return ctl_parse_id("--exporter id", colon + 1, &x->id);
bad:
    fprintf(stderr, "ovopctl: --exporter must be cooperative:ID or producer:ID\n");
    return CTL_EXIT_USAGE;
}

typedef struct accept_flags {
    char *exporter, *border, *depart, *incoterm, *mode, *kg;
    int64_t version;
} accept_flags_t;

static int fill_accept(accept_flags_t *f, Ovop__V1__AcceptOrderRequest *in,
                       Ovop__V1__ExporterRef *x, Ovop__V1__Transport *t)
{
    int r = parse_exporter(f->exporter, x);
    for (char *p = f->incoterm; p && *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    int inco = ctl_enum_index(&ovop__v1__incoterm__descriptor, f->incoterm);
    int mode = ctl_enum_index(&ovop__v1__transport_mode__descriptor, f->mode);
    if (r == 0 && (inco < 0 || mode < 0)) {
        fprintf(stderr, "ovopctl: --incoterm must be an Incoterms 2020 rule (FCA, DAP...) and "
                        "--mode road, rail or air\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0 && f->kg)
        r = parse_number("kg-per-unit", f->kg, &in->kg_per_unit);
    t->mode = mode;
    in->exporter = x;
    in->transport = t;
    in->incoterm = inco;
    in->border_point = f->border;
    in->planned_departure = f->depart;
    in->expected_version = (int32_t)f->version;
    return r;
}

static int order_accept(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl order accept",
        .usage = "ID --exporter cooperative:ID --border KG-... --depart DATE [options]",
        .summary = "Accepts an order's proposal; matchd then creates its export shipment.",
        .n_args = 1,
        .flags_anywhere = true};
    accept_flags_t f = {0};
    const ovop_opt_t opts[] = {
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "cooperative:ID or producer:ID", &f.exporter},
        {"border", OVOP_OPT_STRING, NULL, 0, 0, "crossing point, e.g. KG-TORUGART", &f.border},
        {"depart", OVOP_OPT_STRING, NULL, 0, 0, "planned departure (YYYY-MM-DD)", &f.depart},
        {"incoterm", OVOP_OPT_STRING, "FCA", 0, 0, "Incoterms 2020 rule", &f.incoterm},
        {"mode", OVOP_OPT_STRING, "road", 0, 0, "road, rail or air", &f.mode},
        {"kg-per-unit", OVOP_OPT_STRING, NULL, 0, 0, "net kg of one unit (unit kg: 1)", &f.kg},
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the version you read", &f.version},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__AcceptOrderRequest in = OVOP__V1__ACCEPT_ORDER_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    Ovop__V1__Transport t = OVOP__V1__TRANSPORT__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!f.exporter || !f.border || !f.depart))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_parse_id("order id", argv[argi], &in.id);
    if (r == 0)
        r = fill_accept(&f, &in, &x, &t);
    if (r == 0)
        r = ctl_call_show(c, "ovop.matching", "AcceptOrder", &in.base, &ovop__v1__order__descriptor,
                          ctl_print_order);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int order_reject(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl order reject",
                                    .usage = "ID --reason R [--version V]",
                                    .summary = "Rejects an order's proposal (its reservations "
                                               "are released).",
                                    .n_args = 1,
                                    .flags_anywhere = true};
    char *reason = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why", &reason},
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the version you read", &version},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__RejectOrderRequest in = OVOP__V1__REJECT_ORDER_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !reason)
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_parse_id("order id", argv[argi], &in.id);
    if (r == 0) {
        in.reason = reason;
        in.expected_version = (int32_t)version;
        r = ctl_call_show(c, "ovop.matching", "RejectOrder", &in.base, &ovop__v1__order__descriptor,
                          ctl_print_order);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Order *o = (const Ovop__V1__Order *)m;
    char a[32], b[32];
    ctl_print_int_cell(o->id, 7);
    ctl_print_cell(ctl_enum_name(&ovop__v1__order_status__descriptor, o->status), 17);
    ctl_print_cell(o->hs_code, 7);
    ctl_print_cell(ctl_amount(o->quantity, a), 10);
    ctl_print_cell(ctl_amount(o->filled, b), 10);
    ctl_print_cell(o->destination, 5);
    printf("%s\n", o->buyer ? o->buyer->name : "");
}

static const ctl_column_t columns[] = {
    {"ID", 7}, {"STATUS", 17}, {"HS", 7}, {"QUANTITY", 10}, {"FILLED", 10}, {"TO", 5}, {"BUYER", 0},
};

static int parse_status(const char *s, int64_t *ret)
{
    int v = ctl_enum_index(&ovop__v1__order_status__descriptor, s);
    if (v < 0) {
        fprintf(stderr, "ovopctl: --status must be open, proposed, accepted, shipment_created, "
                        "fulfilled, rejected or expired\n");
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

static const ctl_filter_t filters[] = {
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "only orders in this status",
     .field = "status",
     .parse = parse_status},
    CTL_FILTER("hs", "only orders of this HS code", "hs_code"),
};

static const ctl_list_verb_t order_list = {
    .verb = {.prog = "ovopctl order list",
             .usage = "[options]",
             .summary = "Lists export orders.",
             .unexpected = true},
    .filters = filters,
    .n_filters = OVOP_ARRAY_SIZE(filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_orders_request__descriptor,
    .list = {.service = "ovop.matching",
             .method = "ListOrders",
             .response = &ovop__v1__list_orders_response__descriptor,
             .rows = "orders",
             .columns = columns,
             .n_columns = OVOP_ARRAY_SIZE(columns),
             .print_row = print_row,
             .one = "order",
             .many = "orders"},
};

int ctl_order(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = order_create},
        {.name = "get", .run_with = order_by_id, .method = "GetOrder"},
        {.name = "match", .run_with = order_by_id, .method = "MatchOrder"},
        {.name = "accept", .run = order_accept},
        {.name = "reject", .run = order_reject},
        {.name = "list", .run_with = ctl_list_cmd, .list = &order_list},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl order create|get|list|match|accept|reject ...");
}

/* --- coop propose --- */

static void print_proposals(const ProtobufCMessage *m)
{
    const Ovop__V1__ProposeCooperativesResponse *r =
        (const Ovop__V1__ProposeCooperativesResponse *)m;
    char a[32];
    printf("%zu proposed cooperative%s from %d producers (%s left unassigned)\n", r->n_proposals,
           r->n_proposals == 1 ? "" : "s", r->candidates, ctl_amount(r->unassigned_capacity, a));
    for (size_t i = 0; i < r->n_proposals; i++) {
        const Ovop__V1__ProposedCooperative *p = r->proposals[i];
        printf("\n#%zu  %s\n    members:", i + 1, p->explanation);
        for (size_t k = 0; k < p->n_producer_ids; k++)
            printf(" %lld", (long long)p->producer_ids[k]);
        printf("\n");
    }
}

int ctl_coop_propose(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl coop propose",
        .usage = "--hs CODE --territory SOATE --target Q --max-km KM [--max-members N] "
                 "[--from DATE --to DATE]",
        .summary = "Proposes cooperatives of nearby producers reaching an export lot.",
        .needs = "coop propose needs --hs, --territory, --target and --max-km",
        .unexpected = true};
    char *hs = NULL, *territory = NULL, *target = NULL, *km = NULL, *from = NULL, *to = NULL;
    int64_t members = 0;
    const ovop_opt_t opts[] = {
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code (6 digits)", &hs},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of the region or district",
         &territory},
        {"target", OVOP_OPT_STRING, NULL, 0, 0, "the lot to reach, e.g. 20000 (kg)", &target},
        {"max-km", OVOP_OPT_STRING, NULL, 0, 0, "members within this of the hub", &km},
        {"max-members", OVOP_OPT_INT, "0", 0, 1000, "most members (0: no limit)", &members},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "capacity window start (default: today)", &from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "capacity window end (default: +30 days)", &to},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__ProposeCooperativesRequest in = OVOP__V1__PROPOSE_COOPERATIVES_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!hs || !territory || !target || !km))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = parse_number("target", target, &in.target);
    if (r == 0)
        r = parse_number("max-km", km, &in.max_km);
    if (r == 0) {
        in.hs_code = hs;
        in.territory_code = territory;
        in.max_members = (int32_t)members;
        in.window_from = from ? from : "";
        in.window_to = to ? to : "";
        r = ctl_call_show(c, "ovop.matching", "ProposeCooperatives", &in.base,
                          &ovop__v1__propose_cooperatives_response__descriptor, print_proposals);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}
