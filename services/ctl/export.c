/* ovopctl export: export shipments (create, show, list, history), their moves one by one or
 * in batches from a CSV file, documents, violation notices and the compliance state of an
 * exporter, and export statistics. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "money.h"
#include "ovop/v1/exports.pb-c.h"

#define SERVICE "ovop.exports"

/* --- enum names: the value's name without its prefix, in lowercase --- */

/* The name of v in desc without `prefix` and in lowercase ("-" when unknown); out: 48 bytes. */
static const char *enum_name(const ProtobufCEnumDescriptor *desc, int v, char out[static 48])
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(desc, v);
    if (!ev || v == 0)
        return "-";
    const char *name = ev->name;
    size_t skip = strlen(desc->short_name); /* "ShipmentStatus" -> "SHIPMENT_STATUS_" */
    size_t underscores = 0;
    for (const char *p = desc->short_name + 1; *p; p++)
        underscores += isupper((unsigned char)*p) != 0;
    skip += underscores + 1;
    if (strlen(name) <= skip)
        skip = 0;
    snprintf(out, 48, "%s", name + skip);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* The value of desc whose lowercase name is s (as enum_name writes it), or -1. */
static int enum_value(const ProtobufCEnumDescriptor *desc, const char *s)
{
    char name[48];
    for (unsigned i = 0; i < desc->n_values; i++)
        if (desc->values[i].value != 0 &&
            strcmp(enum_name(desc, desc->values[i].value, name), s) == 0)
            return desc->values[i].value;
    return -1;
}

static const char *status_name(int v)
{
    static char buf[48];
    return enum_name(&ovop__v1__shipment_status__descriptor, v, buf);
}

static const char *doc_type_name(int v)
{
    static char buf[48];
    return enum_name(&ovop__v1__document_type__descriptor, v, buf);
}

/* Writes a moment as Kyrgyzstan's local time (UTC+6) into out; "-" for 0. */
static const char *when(int64_t us, char out[static 32])
{
    if (!us)
        return "-";
    time_t t = (time_t)(us / 1000000) + 6 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%d %H:%M:%S +06", &tm);
    return out;
}

/* Parses an RFC 3339 moment (2026-11-27T10:00:00Z or ...+06:00) into microseconds. */
static int parse_time(const char *s, int64_t *ret)
{
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    long offset = 0;
    if (rest && (*rest == '+' || *rest == '-') && isdigit((unsigned char)rest[1])) {
        int h = 0, m = 0;
        if (sscanf(rest + 1, "%2d:%2d", &h, &m) != 2)
            rest = NULL;
        else {
            offset = (h * 3600L + m * 60L) * (*rest == '-' ? -1 : 1);
            rest += 6;
        }
    } else if (rest && *rest == 'Z') {
        rest++;
    } else {
        rest = NULL;
    }
    if (!rest || *rest) {
        fprintf(stderr,
                "ovopctl: --at must be an RFC 3339 time such as 2026-11-27T10:00:00+06:00, "
                "got \"%s\"\n",
                s);
        return CTL_EXIT_USAGE;
    }
    *ret = ((int64_t)timegm(&tm) - offset) * 1000000;
    return 0;
}

/* "producer:ID" or "cooperative:ID" (also "coop:ID"). */
static int parse_exporter(const char *s, Ovop__V1__ExporterRef *x)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (colon && strncmp(s, "producer:", 9) == 0)
        x->kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    else if (colon && (strncmp(s, "cooperative:", 12) == 0 || strncmp(s, "coop:", 5) == 0))
        x->kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
    else {
        fprintf(stderr, "ovopctl: the exporter is producer:ID or cooperative:ID, got \"%s\"\n",
                s ? s : "");
        return CTL_EXIT_USAGE;
    }
    return ctl_parse_id("the exporter's id", colon + 1, &x->id);
}

static void print_exporter(const Ovop__V1__ExporterRef *x)
{
    printf("%s %lld",
           x && x->kind == OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE ? "cooperative"
                                                                              : "producer",
           x ? (long long)x->id : 0LL);
}

/* --- showing --- */

static void human_shipment(const ProtobufCMessage *m)
{
    const Ovop__V1__Shipment *s = (const Ovop__V1__Shipment *)m;
    char a[32], usd[OVOP_MONEY_TEXT], som[OVOP_MONEY_TEXT], t[32], name[48];
    printf("id             %lld\n", (long long)s->id);
    printf("status         %s (version %d, since %s)\n", status_name(s->status), s->version,
           when(s->status_us, t));
    printf("exporter       ");
    print_exporter(s->exporter);
    printf(", %s, %s\n", s->exporter_name, s->origin_territory);
    if (s->buyer)
        printf("buyer          %s (%s)%s%s\n", s->buyer->name, s->buyer->country,
               s->buyer->address[0] ? ", " : "", s->buyer->address);
    enum_name(&ovop__v1__incoterm__descriptor, s->incoterm, name);
    for (char *p = name; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    printf("destination    %s, %s\n", s->destination, name);
    if (s->transport)
        printf("transport      %s %s %s\n",
               enum_name(&ovop__v1__transport_mode__descriptor, s->transport->mode, name),
               s->transport->vehicle, s->transport->consignment_note);
    printf("border point   %s%s%s\n", s->border_point, s->departed_via[0] ? ", left via " : "",
           s->departed_via);
    printf("planned        %s -> %s\n", s->planned_departure,
           s->planned_arrival[0] ? s->planned_arrival : "?");
    printf("goods          HS %s; %s kg net, %s USD, %s KGS\n", s->hs_code,
           ctl_amount(s->net_weight_kg, a), ovop_money_format(s->value_usd_cents, usd),
           ovop_money_format(s->value_som_tyiyn, som));
    printf("created        %s\n", when(s->created_us, t));
    if (s->declared_us)
        printf("declared       %s\n", when(s->declared_us, t));
    if (s->released_us)
        printf("released       %s\n", when(s->released_us, t));
    if (s->departed_us)
        printf("departed       %s\n", when(s->departed_us, t));
    if (s->delivered_us)
        printf("delivered      %s\n", when(s->delivered_us, t));
    printf("lots           PRODUCT  PRODUCER  HS      QUANTITY      NET KG        USD           "
           "NAME\n");
    for (size_t i = 0; i < s->n_lots; i++) {
        const Ovop__V1__Lot *l = s->lots[i];
        char q[48];
        snprintf(q, sizeof(q), "%s %s", ctl_amount(l->quantity, a), l->unit);
        printf("               ");
        ctl_print_int_cell(l->product_id, 8);
        ctl_print_int_cell(l->producer_id, 9);
        ctl_print_cell(l->hs_code, 7);
        ctl_print_cell(q, 13);
        ctl_print_cell(ctl_amount(l->net_weight_kg, a), 13);
        ctl_print_cell(ovop_money_format(l->value_usd_cents, usd), 13);
        printf("%s\n", l->product_name);
    }
    if (s->n_documents) {
        printf("documents      ID      TYPE                 NUMBER               STATUS     "
               "ISSUED      ISSUER\n");
        for (size_t i = 0; i < s->n_documents; i++) {
            const Ovop__V1__Document *d = s->documents[i];
            printf("               ");
            ctl_print_int_cell(d->id, 7);
            ctl_print_cell(doc_type_name(d->type), 20);
            ctl_print_cell(d->number, 20);
            ctl_print_cell(enum_name(&ovop__v1__document_status__descriptor, d->status, name), 10);
            ctl_print_cell(d->issued_on[0] ? d->issued_on : "-", 11);
            printf("%s\n", d->issuer);
        }
    }
    if (s->n_required_documents) {
        printf("required       ");
        for (size_t i = 0; i < s->n_required_documents; i++)
            printf("%s%s", i ? ", " : "", doc_type_name(s->required_documents[i]));
        printf("\nmissing        ");
        for (size_t i = 0; i < s->n_missing_documents; i++)
            printf("%s%s", i ? ", " : "", doc_type_name(s->missing_documents[i]));
        printf("%s\n", s->n_missing_documents ? "" : "none");
    }
}

static void human_result(const ProtobufCMessage *m)
{
    const Ovop__V1__TransitionResult *r = (const Ovop__V1__TransitionResult *)m;
    char t[32];
    printf("shipment %lld is %s since %s", (long long)r->shipment_id, status_name(r->status),
           when(r->at_us, t));
    if (r->version)
        printf(", version %d", r->version);
    printf(" (event %s)\n", r->event_id);
}

static void human_document(const ProtobufCMessage *m)
{
    const Ovop__V1__Document *d = (const Ovop__V1__Document *)m;
    char name[48];
    printf("document       %lld of shipment %lld\n", (long long)d->id, (long long)d->shipment_id);
    printf("type           %s\n", doc_type_name(d->type));
    printf("number         %s\n", d->number);
    printf("issuer         %s\n", d->issuer);
    printf("status         %s%s%s\n",
           enum_name(&ovop__v1__document_status__descriptor, d->status, name),
           d->status_reason[0] ? ": " : "", d->status_reason);
    printf("issued on      %s\n", d->issued_on[0] ? d->issued_on : "-");
    printf("valid until    %s\n", d->valid_until[0] ? d->valid_until : "-");
}

static void print_notice(const Ovop__V1__ViolationNotice *v)
{
    ctl_print_int_cell(v->id, 7);
    ctl_print_cell(v->noticed_on, 11);
    ctl_print_cell(v->country, 3);
    ctl_print_cell(v->authority, 10);
    ctl_print_cell(v->reference, 14);
    printf("%s\n", v->description);
}

static void human_notice(const ProtobufCMessage *m)
{
    const Ovop__V1__ViolationNotice *v = (const Ovop__V1__ViolationNotice *)m;
    printf("notice %lld recorded for ", (long long)v->id);
    print_exporter(v->exporter);
    printf(": %s, %s %s on %s\n", v->country, v->authority, v->reference, v->noticed_on);
    if (v->phyto_blocked_until[0])
        printf("the exporter is now blocked from new phytosanitary certificates until %s\n",
               v->phyto_blocked_until);
    else
        printf("the exporter is not blocked\n");
}

static void human_compliance(const ProtobufCMessage *m)
{
    const Ovop__V1__ExporterCompliance *x = (const Ovop__V1__ExporterCompliance *)m;
    printf("exporter       ");
    print_exporter(x->exporter);
    printf("\nphytosanitary  ");
    if (x->phyto_blocked_until[0])
        printf("BLOCKED until %s (violation notices from %s)\n", x->phyto_blocked_until,
               x->blocked_by_country);
    else
        printf("not blocked\n");
    printf("notices of the last 12 months: %zu\n", x->n_notices);
    if (x->n_notices) {
        printf("ID      NOTICED     CC  AUTHORITY  REFERENCE      DESCRIPTION\n");
        for (size_t i = 0; i < x->n_notices; i++)
            print_notice(x->notices[i]);
    }
}

/* --- create --- */

/* "PRODUCT:PRODUCER:QTY:NET_KG:USD[:SOM[:UNIT]]" into l (strings borrow spec). */
static int parse_lot(char *spec, Ovop__V1__Lot *l)
{
    char *f[7] = {0};
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(spec, ":", &save); tok && n < 7;
         tok = strtok_r(NULL, ":", &save))
        f[n++] = tok;
    if (n < 5) {
        fprintf(stderr, "ovopctl: --lot is PRODUCT:PRODUCER:QUANTITY:NET_KG:USD[:SOM[:UNIT]]\n");
        return CTL_EXIT_USAGE;
    }
    ovop__v1__lot__init(l);
    int r = ctl_parse_id("a lot's product", f[0], &l->product_id);
    if (!r)
        r = ctl_parse_id("a lot's producer", f[1], &l->producer_id);
    if (r)
        return r;
    l->quantity = strtod(f[2], NULL);
    l->net_weight_kg = strtod(f[3], NULL);
    if ((r = ctl_parse_money("a lot's USD", f[4], &l->value_usd_cents)) != 0 ||
        (n > 5 && (r = ctl_parse_money("a lot's SOM", f[5], &l->value_som_tyiyn)) != 0))
        return r;
    l->unit = n > 6 ? f[6] : "";
    return 0;
}

/* The --lot flags (n of them) as lots (malloc'd: *ret_lots, and *ret_ptrs to them). Returns 0,
 * or the exit code of the first lot refused (the arrays are then still the caller's to free). */
static int parse_lots(char **flags, size_t n, Ovop__V1__Lot **ret_lots, Ovop__V1__Lot ***ret_ptrs)
{
    Ovop__V1__Lot *lots = *ret_lots = xcalloc(n, sizeof(*lots));
    Ovop__V1__Lot **ptrs = *ret_ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        int r = parse_lot(flags[i], &lots[i]);
        if (r != 0)
            return r;
        ptrs[i] = &lots[i];
    }
    return 0;
}

/* --incoterm (in either case) and --mode into *ret_incoterm and t->mode. */
static int parse_terms(char *incoterm, const char *mode, int *ret_incoterm, Ovop__V1__Transport *t)
{
    int inco = enum_value(&ovop__v1__incoterm__descriptor, incoterm);
    for (char *p = incoterm; inco < 0 && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (inco < 0)
        inco = enum_value(&ovop__v1__incoterm__descriptor, incoterm);
    int m = enum_value(&ovop__v1__transport_mode__descriptor, mode);
    if (inco < 0 || m < 0) {
        fprintf(stderr, "ovopctl: --incoterm must be an Incoterms 2020 rule (EXW, FCA, CPT, CIP, "
                        "DAP, DPU, DDP, FAS, FOB, CFR, CIF) and --mode road, rail or air\n");
        return CTL_EXIT_USAGE;
    }
    *ret_incoterm = inco;
    t->mode = m;
    return 0;
}

/* The flags of export create. */
typedef struct create_flags {
    char *exporter, *buyer, *buyer_country, *buyer_address, *destination, *incoterm, *mode;
    char *vehicle, *note, *border, *depart, *arrive;
} create_flags_t;

static int export_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl export create",
        .usage = "--exporter producer:ID --buyer NAME --destination CC --lot "
                 "PRODUCT:PRODUCER:QTY:NET_KG:USD[:SOM[:UNIT]]... --border POINT --depart DATE "
                 "[options]",
        .summary = "Creates a draft export shipment.",
        .needs = "export create needs --exporter, --buyer, --destination, --border, --depart "
                 "and at least one --lot"};
    create_flags_t f = {0};
    const ovop_opt_t opts[] = {
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "producer:ID or cooperative:ID", &f.exporter},
        {"buyer", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's name", &f.buyer},
        {"buyer-country", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2 (default: destination)",
         &f.buyer_country},
        {"buyer-address", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's address", &f.buyer_address},
        {"destination", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2, e.g. CN", &f.destination},
        {"incoterm", OVOP_OPT_STRING, "FCA", 0, 0, "Incoterms 2020 rule, e.g. FCA, DAP, CIF",
         &f.incoterm},
        {"mode", OVOP_OPT_STRING, "road", 0, 0, "road, rail or air", &f.mode},
        {"vehicle", OVOP_OPT_STRING, NULL, 0, 0, "plate, wagon or flight number", &f.vehicle},
        {"note", OVOP_OPT_STRING, NULL, 0, 0, "CMR, SMGS or air waybill number", &f.note},
        {"border", OVOP_OPT_STRING, NULL, 0, 0, "crossing point, e.g. KG-IRKESHTAM", &f.border},
        {"depart", OVOP_OPT_STRING, NULL, 0, 0, "planned departure YYYY-MM-DD", &f.depart},
        {"arrive", OVOP_OPT_STRING, NULL, 0, 0, "planned arrival YYYY-MM-DD", &f.arrive},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    char **lot_flags = NULL;
    Ovop__V1__CreateShipmentRequest in = OVOP__V1__CREATE_SHIPMENT_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    Ovop__V1__Buyer b = OVOP__V1__BUYER__INIT;
    Ovop__V1__Transport t = OVOP__V1__TRANSPORT__INIT;
    Ovop__V1__Lot *lots = NULL;
    int incoterm = 0;
    int r = ctl_take_repeated(&argc, argv, "lot", &lot_flags, &in.n_lots);
    if (r == 0)
        r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 &&
        (!f.exporter || !f.buyer || !f.destination || !f.border || !f.depart || !in.n_lots))
        r = ctl_misuse(&verb);
    if (r == 0 && (r = parse_exporter(f.exporter, &x)) == 0 &&
        (r = parse_lots(lot_flags, in.n_lots, &lots, &in.lots)) == 0)
        r = parse_terms(f.incoterm, f.mode, &incoterm, &t);
    if (r == 0) {
        in.incoterm = incoterm;
        b.name = f.buyer;
        b.country = f.buyer_country ? f.buyer_country : f.destination;
        b.address = f.buyer_address ? f.buyer_address : "";
        t.vehicle = f.vehicle ? f.vehicle : "";
        t.consignment_note = f.note ? f.note : "";
        in.exporter = &x;
        in.buyer = &b;
        in.destination = f.destination;
        in.transport = &t;
        in.border_point = f.border;
        in.planned_departure = f.depart;
        in.planned_arrival = f.arrive ? f.arrive : "";
        r = ctl_call_show(c, SERVICE, "CreateShipment", &in.base, &ovop__v1__shipment__descriptor,
                          human_shipment);
    }
    free(lots);
    free(in.lots);
    free(lot_flags);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- get, history --- */

static int export_get(ctl_t *c, int argc, char **argv)
{
    Ovop__V1__GetShipmentRequest in = OVOP__V1__GET_SHIPMENT_REQUEST__INIT;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl export get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("the shipment id", argv[1], &in.id);
    if (r)
        return r;
    return ctl_call_show(c, SERVICE, "GetShipment", &in.base, &ovop__v1__shipment__descriptor,
                         human_shipment);
}

static void print_history_row(const ProtobufCMessage *m)
{
    const Ovop__V1__HistoryEntry *e = (const Ovop__V1__HistoryEntry *)m;
    char t[32];
    ctl_print_int_cell(e->version, 4);
    ctl_print_cell(e->from_status ? status_name(e->from_status) : "-", 20);
    ctl_print_cell(status_name(e->to_status), 20);
    ctl_print_cell(when(e->at_us, t), 24);
    ctl_print_cell(e->caller[0] ? e->caller : "-", 15);
    ctl_print_cell(e->agency[0] ? e->agency : "-", 17);
    printf("%s%s%s%s%s\n", e->reason, e->reason[0] && e->reference[0] ? "; " : "", e->reference,
           e->border_point[0] ? " via " : "", e->border_point);
}

static const ctl_column_t history_columns[] = {
    {"VER", 4}, {"FROM", 20}, {"TO", 20}, {"AT", 24}, {"CALLER", 15}, {"AGENCY", 17}, {"DETAIL", 0},
};

/* Every page of a shipment's history, without a summary line. */
static const ctl_list_t history = {.service = SERVICE,
                                   .method = "GetShipmentHistory",
                                   .response = &ovop__v1__shipment_history__descriptor,
                                   .rows = "entries",
                                   .columns = history_columns,
                                   .n_columns = OVOP_ARRAY_SIZE(history_columns),
                                   .print_row = print_history_row};

static int export_history(ctl_t *c, int argc, char **argv)
{
    Ovop__V1__GetShipmentHistoryRequest in = OVOP__V1__GET_SHIPMENT_HISTORY_REQUEST__INIT;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl export history ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("the shipment id", argv[1], &in.shipment_id);
    if (r)
        return r;
    return ctl_list_pages(c, &history, &in.base, NULL, true);
}

/* --- list --- */

static const ctl_column_t list_columns[] = {
    {"ID", 8}, {"STATUS", 19}, {"EXPORTER", 16}, {"TO", 4},
    {"HS", 7}, {"NET KG", 12}, {"USD", 12},      {"CREATED", 0},
};

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Shipment *s = (const Ovop__V1__Shipment *)m;
    char who[48], a[32], usd[OVOP_MONEY_TEXT], t[32];
    snprintf(who, sizeof(who), "%s %lld",
             s->exporter && s->exporter->kind == OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE
                 ? "coop"
                 : "producer",
             s->exporter ? (long long)s->exporter->id : 0LL);
    ctl_print_int_cell(s->id, 8);
    ctl_print_cell(status_name(s->status), 19);
    ctl_print_cell(who, 16);
    ctl_print_cell(s->destination, 4);
    ctl_print_cell(s->hs_code, 7);
    ctl_print_cell(ctl_amount(s->net_weight_kg, a), 12);
    ctl_print_cell(ovop_money_format(s->value_usd_cents, usd), 12);
    printf("%.10s\n", when(s->created_us, t));
}

static int exporter_filter(const char *s, ProtobufCMessage *ret)
{
    return parse_exporter(s, (Ovop__V1__ExporterRef *)ret);
}

static int status_filter(const char *s, int64_t *ret)
{
    int st = enum_value(&ovop__v1__shipment_status__descriptor, s);
    if (st < 0) {
        fprintf(stderr, "ovopctl: --status must be draft, declared, documents_complete, released, "
                        "departed, delivered, cancelled, rejected or returned\n");
        return CTL_EXIT_USAGE;
    }
    *ret = st;
    return 0;
}

static const ctl_filter_t list_filters[] = {
    {.name = "exporter",
     .type = OVOP_OPT_STRING,
     .help = "producer:ID or cooperative:ID",
     .field = "exporter",
     .parse_message = exporter_filter},
    CTL_FILTER("territory", "SOATE code of a region, district or village", "territory_prefix"),
    CTL_FILTER("hs", "with a lot under this HS prefix", "hs_prefix"),
    CTL_FILTER("destination", "ISO 3166-1 alpha-2", "destination"),
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "draft, declared, documents_complete, ...",
     .field = "status",
     .parse = status_filter},
    CTL_FILTER("from", "created (or departed) on or after YYYY-MM-DD", "from_date"),
    CTL_FILTER("to", "created (or departed) on or before YYYY-MM-DD", "to_date"),
    {.name = "departed",
     .type = OVOP_OPT_BOOL,
     .help = "dates are departure dates",
     .field = "date_basis",
     .when_set = OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED},
};

static const ctl_list_verb_t export_list = {
    .verb = {.prog = "ovopctl export list",
             .usage = "[options]",
             .summary = "Lists export shipments.",
             .unexpected = true},
    .filters = list_filters,
    .n_filters = OVOP_ARRAY_SIZE(list_filters),
    .filters_first = true,
    .page_size_help = CTL_PAGE_SIZE_HELP,
    .request = &ovop__v1__list_shipments_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListShipments",
             .response = &ovop__v1__list_shipments_response__descriptor,
             .rows = "shipments",
             .columns = list_columns,
             .n_columns = OVOP_ARRAY_SIZE(list_columns),
             .print_row = print_row,
             .one = "shipment",
             .many = "shipments"},
};

/* --- moves --- */

/* declare, complete, release, ...: cmd->value is the status the shipment moves to. */
static int export_move(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char needs[64];
    snprintf(needs, sizeof(needs), "usage: ovopctl export %s ID [options]", cmd->name);
    const ctl_verb_t verb = {
        .prog = "ovopctl export declare|complete|release|depart|deliver|cancel|reject|return",
        .usage = "ID [--agency A] [--reason R] [--reference R] [--at TIME] [--border POINT] "
                 "[--version V]",
        .summary = "Moves a shipment along its lifecycle, under the agency of your key's "
                   "principal (release and depart are customs' alone).",
        .n_args = 1,
        .flags_anywhere = true,
        .needs = needs};
    char *agency = NULL, *reason = NULL, *reference = NULL, *at = NULL, *border = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"agency", OVOP_OPT_STRING, NULL, 0, 0,
         "optional: the move is recorded under your principal's agency; any other is refused "
         "(PERMISSION_DENIED, AGENCY_NOT_YOURS)",
         &agency},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (cancel, reject, return)", &reason},
        {"reference", OVOP_OPT_STRING, NULL, 0, 0, "e.g. the customs release number", &reference},
        {"at", OVOP_OPT_STRING, NULL, 0, 0, "when it happened, RFC 3339 (default: now)", &at},
        {"border", OVOP_OPT_STRING, NULL, 0, 0, "depart: the crossing point used", &border},
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (optional check)",
         &version},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__ShipmentTransition in = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (r = ctl_parse_id("the shipment id", argv[argi], &in.shipment_id)) == 0 && at)
        r = parse_time(at, &in.at_us);
    if (r == 0) {
        in.to = cmd->value;
        in.agency = agency ? agency : "";
        in.reason = reason ? reason : "";
        in.reference = reference ? reference : "";
        in.border_point = border ? border : "";
        in.expected_version = (int32_t)version;
        r = ctl_call_show(c, SERVICE, "TransitionShipment", &in.base,
                          &ovop__v1__transition_result__descriptor, human_result);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- record: moves in batches from a CSV file --- */

typedef struct record_line {
    Ovop__V1__ShipmentTransition t;
    char *buf;
    unsigned line;
} record_line_t;

/* One CSV line "shipment_id,status[,agency[,reason[,reference[,border_point[,at]]]]]"
 * (no quoting: the fields hold no commas). Returns 0, 1 for a line to skip, or a usage exit. */
static int parse_record(char *text, unsigned line, record_line_t *rl)
{
    text[strcspn(text, "\r\n")] = '\0';
    if (!text[0] || text[0] == '#' || strncmp(text, "shipment_id", 11) == 0)
        return 1;
    rl->buf = xstrdup(text);
    rl->line = line;
    char *f[7] = {0};
    int n = 0;
    for (char *p = rl->buf; n < 7; n++) {
        f[n] = p;
        char *comma = strchr(p, ',');
        if (!comma) {
            n++;
            break;
        }
        *comma = '\0';
        p = comma + 1;
    }
    ovop__v1__shipment_transition__init(&rl->t);
    char what[48];
    snprintf(what, sizeof(what), "the shipment id on line %u", line);
    int r = ctl_parse_id(what, f[0], &rl->t.shipment_id);
    if (r)
        return r;
    int to = n > 1 ? enum_value(&ovop__v1__shipment_status__descriptor, f[1]) : -1;
    if (to < 0) {
        fprintf(stderr,
                "ovopctl: line %u: the status must be declared, documents_complete, "
                "released, departed, delivered, cancelled, rejected or returned\n",
                line);
        return CTL_EXIT_USAGE;
    }
    rl->t.to = to;
    rl->t.agency = n > 2 ? f[2] : "";
    rl->t.reason = n > 3 ? f[3] : "";
    rl->t.reference = n > 4 ? f[4] : "";
    rl->t.border_point = n > 5 ? f[5] : "";
    if (n > 6 && f[6][0] && (r = parse_time(f[6], &rl->t.at_us)) != 0)
        return r;
    return 0;
}

/* Sends lines [from, to) as one RecordShipmentEvents request. */
static int record_batch(ctl_t *c, record_line_t *lines, size_t from, size_t to)
{
    size_t n = to - from;
    Ovop__V1__ShipmentTransition **ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &lines[from + i].t;
    Ovop__V1__RecordShipmentEventsRequest in = OVOP__V1__RECORD_SHIPMENT_EVENTS_REQUEST__INIT;
    in.n_transitions = n;
    in.transitions = ptrs;
    ProtobufCMessage *res = NULL;
    int r = ctl_call(c, SERVICE, "RecordShipmentEvents", &in.base,
                     &ovop__v1__record_shipment_events_response__descriptor, &res);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(res);
        else
            printf("lines %u-%u: %zu moves recorded\n", lines[from].line, lines[to - 1].line, n);
        protobuf_c_message_free_unpacked(res, NULL);
    } else if (!c->json) {
        fprintf(stderr,
                "ovopctl: lines %u-%u were not recorded (transitions[i] is the i-th of "
                "them)\n",
                lines[from].line, lines[to - 1].line);
    }
    free(ptrs);
    return r;
}

/* Reads the moves of f, one a line, into *ret_lines (*ret_n of them, malloc'd, each line's
 * buffer too). Stops at the first line refused: returns its exit code (the lines before it
 * and that line are in *ret_lines). */
static int read_records(FILE *f, record_line_t **ret_lines, size_t *ret_n)
{
    record_line_t *lines = NULL;
    size_t n = 0, cap = 0;
    char *text = NULL;
    size_t text_cap = 0;
    unsigned line = 0;
    int r = 0;
    while (getline(&text, &text_cap, f) >= 0) {
        line++;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            lines = xrealloc(lines, cap * sizeof(*lines));
        }
        memset(&lines[n], 0, sizeof(lines[n]));
        int p = parse_record(text, line, &lines[n]);
        if (p == 1)
            continue;
        n++;
        if (p != 0) {
            r = p;
            break;
        }
    }
    free(text);
    *ret_lines = lines;
    *ret_n = n;
    return r;
}

static int export_record(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl export record",
        .usage = "FILE|- [--batch N]",
        .summary = "Records shipment moves from a CSV file: "
                   "shipment_id,status[,agency[,reason[,reference[,border_point[,at]]]]]; "
                   "every move is recorded under your principal's agency (an agency column "
                   "is empty or that agency), and a request is refused whole when one move "
                   "is not yours to record",
        .n_args = 1};
    int64_t batch = 500;
    const ovop_opt_t opts[] = {
        {"batch", OVOP_OPT_INT, "500", 1, 10000,
         "moves per request (each request is all or nothing)", &batch},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    FILE *f = strcmp(argv[argi], "-") == 0 ? stdin : fopen(argv[argi], "r");
    if (!f) {
        fprintf(stderr, "ovopctl: could not open %s: %s\n", argv[argi], strerror(errno));
        return CTL_EXIT_FAILURE;
    }
    record_line_t *lines = NULL;
    size_t n = 0;
    r = read_records(f, &lines, &n);
    if (f != stdin)
        fclose(f);
    for (size_t i = 0; r == 0 && i < n; i += (size_t)batch)
        r = record_batch(c, lines, i, i + (size_t)batch < n ? i + (size_t)batch : n);
    for (size_t i = 0; i < n; i++)
        free(lines[i].buf);
    free(lines);
    return r;
}

/* --- documents --- */

static int doc_attach(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl export doc attach",
        .usage = "SHIPMENT --type T --number N --issuer I [--issued-on D] [--valid-until D] "
                 "[--requested]",
        .summary = "Attaches a document to a shipment. The export desk attaches the exporter's "
                   "papers and applies for certificates (--requested); a certificate is "
                   "attached issued only by its agency: phytosanitary by plant_quarantine, "
                   "veterinary by veterinary, origin_* by chamber, customs_declaration by "
                   "customs.",
        .n_args = 1,
        .flags_anywhere = true,
        .needs = "usage: ovopctl export doc attach SHIPMENT --type T --number N --issuer I "
                 "[--issued-on D]"};
    char *type = NULL, *number = NULL, *issuer = NULL, *issued_on = NULL, *valid_until = NULL;
    bool requested = false;
    const ovop_opt_t opts[] = {
        {"type", OVOP_OPT_STRING, NULL, 0, 0,
         "contract, invoice, cmr, packing_list, origin_ct1, origin_form_a, origin_general, "
         "conformity, phytosanitary, veterinary, customs_declaration, transport_waybill",
         &type},
        {"number", OVOP_OPT_STRING, NULL, 0, 0, "the document's number", &number},
        {"issuer", OVOP_OPT_STRING, NULL, 0, 0, "who issued it", &issuer},
        {"issued-on", OVOP_OPT_STRING, NULL, 0, 0, "YYYY-MM-DD (required unless --requested)",
         &issued_on},
        {"valid-until", OVOP_OPT_STRING, NULL, 0, 0, "YYYY-MM-DD", &valid_until},
        {"requested", OVOP_OPT_BOOL, "false", 0, 0, "applied for, not issued yet", &requested},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__AttachDocumentRequest in = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!type || !number || !issuer))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_parse_id("the shipment id", argv[argi], &in.shipment_id);
    int t = r == 0 ? enum_value(&ovop__v1__document_type__descriptor, type) : 0;
    if (t < 0) {
        fprintf(stderr, "ovopctl: unknown document type \"%s\" (see --help)\n", type);
        r = CTL_EXIT_USAGE;
    }
    if (r == 0) {
        in.type = t;
        in.number = number;
        in.issuer = issuer;
        in.issued_on = issued_on ? issued_on : "";
        in.valid_until = valid_until ? valid_until : "";
        in.status = requested ? OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED
                              : OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
        r = ctl_call_show(c, SERVICE, "AttachDocument", &in.base, &ovop__v1__document__descriptor,
                          human_document);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* issue, reject, revoke: cmd->value is the document's new status. */
static int doc_status(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char needs[80];
    snprintf(needs, sizeof(needs), "usage: ovopctl export doc %s DOCUMENT_ID [--reason R]",
             cmd->name);
    const ctl_verb_t verb = {.prog = "ovopctl export doc issue|reject|revoke",
                             .usage = "DOCUMENT_ID [--reason R] [--issued-on D]",
                             .summary = "Changes a document's status: a certificate's by its "
                                        "agency alone, the exporter's papers' by the export "
                                        "desk.",
                             .n_args = 1,
                             .flags_anywhere = true,
                             .needs = needs};
    char *reason = NULL, *issued_on = NULL;
    const ovop_opt_t opts[] = {
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (reject, revoke)", &reason},
        {"issued-on", OVOP_OPT_STRING, NULL, 0, 0, "issue: the date of issue (default: today)",
         &issued_on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__SetDocumentStatusRequest in = OVOP__V1__SET_DOCUMENT_STATUS_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("the document id", argv[argi], &in.document_id);
    if (r == 0) {
        in.status = cmd->value;
        in.reason = reason ? reason : "";
        in.issued_on = issued_on ? issued_on : "";
        r = ctl_call_show(c, SERVICE, "SetDocumentStatus", &in.base,
                          &ovop__v1__document__descriptor, human_document);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int export_doc(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "attach", .run = doc_attach},
        {.name = "issue",
         .run_with = doc_status,
         .value = OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED},
        {.name = "reject",
         .run_with = doc_status,
         .value = OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REJECTED},
        {.name = "revoke",
         .run_with = doc_status,
         .value = OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REVOKED},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl export doc attach|issue|reject|revoke ...");
}

/* --- compliance --- */

static int export_violation(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl export violation",
        .usage = "--exporter producer:ID --country CC --on DATE --authority A [--reference R] "
                 "[--description D] [--shipment ID]",
        .summary = "Records a violation notice from a destination country.",
        .needs = "export violation needs --exporter, --country, --on and --authority"};
    char *exporter = NULL, *country = NULL, *on = NULL, *authority = NULL, *reference = NULL;
    char *description = NULL;
    int64_t shipment = 0;
    const ovop_opt_t opts[] = {
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "producer:ID or cooperative:ID", &exporter},
        {"country", OVOP_OPT_STRING, NULL, 0, 0, "the notifying country, ISO 3166-1 alpha-2",
         &country},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the notice's date YYYY-MM-DD", &on},
        {"authority", OVOP_OPT_STRING, NULL, 0, 0, "who notified, e.g. GACC", &authority},
        {"reference", OVOP_OPT_STRING, NULL, 0, 0, "the notice's number", &reference},
        {"description", OVOP_OPT_STRING, NULL, 0, 0, "what was found", &description},
        {"shipment", OVOP_OPT_INT, "0", 0, INT64_MAX, "the shipment concerned", &shipment},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!exporter || !country || !on || !authority))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = parse_exporter(exporter, &x);
    if (r == 0) {
        Ovop__V1__RecordViolationNoticeRequest in = OVOP__V1__RECORD_VIOLATION_NOTICE_REQUEST__INIT;
        in.exporter = &x;
        in.country = country;
        in.noticed_on = on;
        in.authority = authority;
        in.reference = reference ? reference : "";
        in.description = description ? description : "";
        in.shipment_id = shipment;
        r = ctl_call_show(c, SERVICE, "RecordViolationNotice", &in.base,
                          &ovop__v1__violation_notice__descriptor, human_notice);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int export_compliance(ctl_t *c, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl export compliance producer:ID|cooperative:ID\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    int r = parse_exporter(argv[1], &x);
    if (r)
        return r;
    Ovop__V1__GetExporterComplianceRequest in = OVOP__V1__GET_EXPORTER_COMPLIANCE_REQUEST__INIT;
    in.exporter = &x;
    return ctl_call_show(c, SERVICE, "GetExporterCompliance", &in.base,
                         &ovop__v1__exporter_compliance__descriptor, human_compliance);
}

/* --- stats --- */

/* The dimensions of --by (comma-separated; at most 8) into dims. Returns 0, or
 * CTL_EXIT_USAGE after naming the one not known. */
static int parse_dims(char *by, Ovop__V1__StatsDimension dims[static 8], size_t *ret_n)
{
    size_t n = 0;
    for (char *save = NULL, *tok = by ? strtok_r(by, ",", &save) : NULL; tok && n < 8;
         tok = strtok_r(NULL, ",", &save)) {
        int d = strcmp(tok, "hs") == 0 ? OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE
                                       : enum_value(&ovop__v1__stats_dimension__descriptor, tok);
        if (d < 0) {
            fprintf(stderr,
                    "ovopctl: --by takes month, region, district, hs, destination; got "
                    "\"%s\"\n",
                    tok);
            return CTL_EXIT_USAGE;
        }
        dims[n++] = d;
    }
    *ret_n = n;
    return 0;
}

/* The statistics as a table of the dimensions asked for (dims, n_dims), then the figures. */
static void print_stats(const Ovop__V1__ExportStatisticsResponse *s,
                        const Ovop__V1__StatsDimension *dims, size_t n_dims)
{
    static const char *const heads[] = {"", "MONTH", "REGION", "DISTRICT", "HS", "TO"};
    static const int widths[] = {0, 7, 14, 14, 6, 3};
    bool want[6] = {false};
    for (size_t i = 0; i < n_dims; i++)
        want[dims[i]] = true;
    for (int d = 1; d < 6; d++)
        if (want[d])
            ctl_print_cell(heads[d], widths[d]);
    printf("%-14s %-16s %s\n", "TONNES", "USD", "SHIPMENTS");
    for (size_t i = 0; i < s->n_rows; i++) {
        const Ovop__V1__StatsRow *row = s->rows[i];
        const char *vals[] = {"",           row->month,      row->region, row->district,
                              row->hs_code, row->destination};
        char t[32], u[OVOP_MONEY_TEXT];
        for (int d = 1; d < 6; d++)
            if (want[d])
                ctl_print_cell(vals[d], widths[d]);
        printf("%-14s %-16s %lld\n", ctl_amount(row->tonnes, t),
               ovop_money_format(row->value_usd_cents, u), (long long)row->shipments);
    }
}

static int export_stats(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl export stats",
        .usage = "[--by month,region,...] [filters]",
        .summary = "Export statistics: tonnes, USD and shipments, counted at departure.",
        .unexpected = true};
    char *by = NULL, *from = NULL, *to = NULL, *territory = NULL, *hs = NULL, *destination = NULL;
    const ovop_opt_t opts[] = {
        {"by", OVOP_OPT_STRING, NULL, 0, 0,
         "comma-separated: month, region, district, hs, destination", &by},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "first month YYYY-MM", &from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "last month YYYY-MM", &to},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of a region or district",
         &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS prefix", &hs},
        {"destination", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2", &destination},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__StatsDimension dims[8];
    Ovop__V1__ExportStatisticsRequest in = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0)
        r = parse_dims(by, dims, &in.n_group_by);
    ProtobufCMessage *res = NULL;
    if (r == 0) {
        in.group_by = dims;
        in.from_month = from ? from : "";
        in.to_month = to ? to : "";
        in.territory_prefix = territory ? territory : "";
        in.hs_prefix = hs ? hs : "";
        in.destination = destination ? destination : "";
        r = ctl_call(c, SERVICE, "GetExportStatistics", &in.base,
                     &ovop__v1__export_statistics_response__descriptor, &res);
    }
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(res);
        else
            print_stats((const Ovop__V1__ExportStatisticsResponse *)res, dims, in.n_group_by);
        protobuf_c_message_free_unpacked(res, NULL);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* A move verb and the status it moves a shipment to. */
#define MOVE(verb_, status_)                                                                       \
    {                                                                                              \
        .name = (verb_), .run_with = export_move, .value = OVOP__V1__SHIPMENT_STATUS__##status_    \
    }

int ctl_export(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = export_create},
        {.name = "get", .run = export_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &export_list},
        {.name = "history", .run = export_history},
        {.name = "record", .run = export_record},
        {.name = "doc", .run = export_doc},
        {.name = "violation", .run = export_violation},
        {.name = "compliance", .run = export_compliance},
        {.name = "stats", .run = export_stats},
        MOVE("declare", SHIPMENT_STATUS_DECLARED),
        MOVE("complete", SHIPMENT_STATUS_DOCUMENTS_COMPLETE),
        MOVE("release", SHIPMENT_STATUS_RELEASED),
        MOVE("depart", SHIPMENT_STATUS_DEPARTED),
        MOVE("deliver", SHIPMENT_STATUS_DELIVERED),
        MOVE("cancel", SHIPMENT_STATUS_CANCELLED),
        MOVE("reject", SHIPMENT_STATUS_REJECTED),
        MOVE("return", SHIPMENT_STATUS_RETURNED),
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl export create|get|list|history|declare|complete|release|depart|"
                   "deliver|cancel|reject|return|record|doc|violation|compliance|stats ...");
}
