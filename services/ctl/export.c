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

static void print_shipment(const Ovop__V1__Shipment *s)
{
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
        char id[24], pr[24], q[48];
        snprintf(id, sizeof(id), "%lld", (long long)l->product_id);
        snprintf(pr, sizeof(pr), "%lld", (long long)l->producer_id);
        snprintf(q, sizeof(q), "%s %s", ctl_amount(l->quantity, a), l->unit);
        printf("               ");
        ctl_print_cell(id, 8);
        ctl_print_cell(pr, 9);
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
            char id[24];
            snprintf(id, sizeof(id), "%lld", (long long)d->id);
            printf("               ");
            ctl_print_cell(id, 7);
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

/* Prints a successful call's output (owned: freed here) with `human`, or as JSON. */
static void show(ctl_t *c, ProtobufCMessage *out, void (*human)(const ProtobufCMessage *))
{
    if (c->json)
        ctl_print_json(out);
    else
        human(out);
    protobuf_c_message_free_unpacked(out, NULL);
}

static void human_shipment(const ProtobufCMessage *m)
{
    print_shipment((const Ovop__V1__Shipment *)m);
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
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)v->id);
    ctl_print_cell(id, 7);
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

static int export_create(ctl_t *c, int argc, char **argv)
{
    char *exporter = NULL, *buyer = NULL, *buyer_country = NULL, *buyer_address = NULL;
    char *destination = NULL, *incoterm = NULL, *mode = NULL, *vehicle = NULL, *note = NULL;
    char *border = NULL, *depart = NULL, *arrive = NULL;
    char **lot_flags = NULL;
    size_t n_lots = 0;
    const ovop_opt_t opts[] = {
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "producer:ID or cooperative:ID", &exporter},
        {"buyer", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's name", &buyer},
        {"buyer-country", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2 (default: destination)",
         &buyer_country},
        {"buyer-address", OVOP_OPT_STRING, NULL, 0, 0, "the buyer's address", &buyer_address},
        {"destination", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2, e.g. CN", &destination},
        {"incoterm", OVOP_OPT_STRING, "FCA", 0, 0, "Incoterms 2020 rule, e.g. FCA, DAP, CIF",
         &incoterm},
        {"mode", OVOP_OPT_STRING, "road", 0, 0, "road, rail or air", &mode},
        {"vehicle", OVOP_OPT_STRING, NULL, 0, 0, "plate, wagon or flight number", &vehicle},
        {"note", OVOP_OPT_STRING, NULL, 0, 0, "CMR, SMGS or air waybill number", &note},
        {"border", OVOP_OPT_STRING, NULL, 0, 0, "crossing point, e.g. KG-IRKESHTAM", &border},
        {"depart", OVOP_OPT_STRING, NULL, 0, 0, "planned departure YYYY-MM-DD", &depart},
        {"arrive", OVOP_OPT_STRING, NULL, 0, 0, "planned arrival YYYY-MM-DD", &arrive},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__Lot *lots = NULL;
    Ovop__V1__Lot **lot_ptrs = NULL;
    int r = ctl_take_repeated(&argc, argv, "lot", &lot_flags, &n_lots);
    if (r != 0)
        goto out;
    r = ctl_parse_flags("ovopctl export create",
                        "--exporter producer:ID --buyer NAME --destination CC "
                        "--lot PRODUCT:PRODUCER:QTY:NET_KG:USD[:SOM[:UNIT]]... --border POINT "
                        "--depart DATE [options]",
                        "Creates a draft export shipment.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc || !exporter || !buyer || !destination || !border || !depart || !n_lots) {
        fprintf(stderr, "ovopctl: export create needs --exporter, --buyer, --destination, "
                        "--border, --depart and at least one --lot\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__CreateShipmentRequest in = OVOP__V1__CREATE_SHIPMENT_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    Ovop__V1__Buyer b = OVOP__V1__BUYER__INIT;
    Ovop__V1__Transport t = OVOP__V1__TRANSPORT__INIT;
    if ((r = parse_exporter(exporter, &x)) != 0)
        goto out;
    lots = xcalloc(n_lots, sizeof(*lots));
    lot_ptrs = xcalloc(n_lots, sizeof(*lot_ptrs));
    for (size_t i = 0; i < n_lots; i++) {
        if ((r = parse_lot(lot_flags[i], &lots[i])) != 0)
            goto out;
        lot_ptrs[i] = &lots[i];
    }
    int inco = enum_value(&ovop__v1__incoterm__descriptor, incoterm);
    for (char *p = incoterm; inco < 0 && *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (inco < 0)
        inco = enum_value(&ovop__v1__incoterm__descriptor, incoterm);
    int m = enum_value(&ovop__v1__transport_mode__descriptor, mode);
    if (inco < 0 || m < 0) {
        fprintf(stderr, "ovopctl: --incoterm must be an Incoterms 2020 rule (EXW, FCA, CPT, CIP, "
                        "DAP, DPU, DDP, FAS, FOB, CFR, CIF) and --mode road, rail or air\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    b.name = buyer;
    b.country = buyer_country ? buyer_country : destination;
    b.address = buyer_address ? buyer_address : "";
    t.mode = m;
    t.vehicle = vehicle ? vehicle : "";
    t.consignment_note = note ? note : "";
    in.exporter = &x;
    in.buyer = &b;
    in.destination = destination;
    in.incoterm = inco;
    in.n_lots = n_lots;
    in.lots = lot_ptrs;
    in.transport = &t;
    in.border_point = border;
    in.planned_departure = depart;
    in.planned_arrival = arrive ? arrive : "";
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "CreateShipment", &in.base, &ovop__v1__shipment__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_shipment);
out:
    free(lots);
    free(lot_ptrs);
    free(lot_flags);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- get, history --- */

static int export_get(ctl_t *c, int argc, char **argv)
{
    int64_t id;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl export get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("the shipment id", argv[1], &id);
    if (r)
        return r;
    Ovop__V1__GetShipmentRequest in = OVOP__V1__GET_SHIPMENT_REQUEST__INIT;
    in.id = id;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "GetShipment", &in.base, &ovop__v1__shipment__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_shipment);
    return r;
}

static int export_history(ctl_t *c, int argc, char **argv)
{
    int64_t id;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl export history ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("the shipment id", argv[1], &id);
    if (r)
        return r;
    char *token = xstrdup("");
    if (!c->json)
        printf("VER  FROM                 TO                   AT                       "
               "CALLER          AGENCY            DETAIL\n");
    do {
        Ovop__V1__GetShipmentHistoryRequest in = OVOP__V1__GET_SHIPMENT_HISTORY_REQUEST__INIT;
        in.shipment_id = id;
        in.page_token = token;
        ProtobufCMessage *res = NULL;
        r = ctl_call(c, SERVICE, "GetShipmentHistory", &in.base,
                     &ovop__v1__shipment_history__descriptor, &res);
        if (r != CTL_EXIT_OK)
            break;
        const Ovop__V1__ShipmentHistory *h = (const Ovop__V1__ShipmentHistory *)res;
        if (c->json)
            ctl_print_json(res);
        for (size_t i = 0; !c->json && i < h->n_entries; i++) {
            const Ovop__V1__HistoryEntry *e = h->entries[i];
            char v[16], t[32];
            snprintf(v, sizeof(v), "%d", e->version);
            ctl_print_cell(v, 4);
            ctl_print_cell(e->from_status ? status_name(e->from_status) : "-", 20);
            ctl_print_cell(status_name(e->to_status), 20);
            ctl_print_cell(when(e->at_us, t), 24);
            ctl_print_cell(e->caller[0] ? e->caller : "-", 15);
            ctl_print_cell(e->agency[0] ? e->agency : "-", 17);
            printf("%s%s%s%s%s\n", e->reason, e->reason[0] && e->reference[0] ? "; " : "",
                   e->reference, e->border_point[0] ? " via " : "", e->border_point);
        }
        free(token);
        token = xstrdup(h->next_page_token);
        protobuf_c_message_free_unpacked(res, NULL);
    } while (token[0]);
    free(token);
    return r;
}

/* --- list --- */

static void print_header(void)
{
    printf("ID       STATUS              EXPORTER         TO   HS      NET KG       USD          "
           "CREATED\n");
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Shipment *s = (const Ovop__V1__Shipment *)m;
    char id[24], who[48], a[32], usd[OVOP_MONEY_TEXT], t[32];
    snprintf(id, sizeof(id), "%lld", (long long)s->id);
    snprintf(who, sizeof(who), "%s %lld",
             s->exporter && s->exporter->kind == OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE
                 ? "coop"
                 : "producer",
             s->exporter ? (long long)s->exporter->id : 0LL);
    ctl_print_cell(id, 8);
    ctl_print_cell(status_name(s->status), 19);
    ctl_print_cell(who, 16);
    ctl_print_cell(s->destination, 4);
    ctl_print_cell(s->hs_code, 7);
    ctl_print_cell(ctl_amount(s->net_weight_kg, a), 12);
    ctl_print_cell(ovop_money_format(s->value_usd_cents, usd), 12);
    printf("%.10s\n", when(s->created_us, t));
}

static int export_list(ctl_t *c, int argc, char **argv)
{
    char *exporter = NULL, *territory = NULL, *hs = NULL, *destination = NULL, *status = NULL;
    char *from = NULL, *to = NULL, *token = NULL;
    int64_t page_size = 0;
    bool departed = false, all = false;
    const ovop_opt_t opts[] = {
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "producer:ID or cooperative:ID", &exporter},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code of a region, district or village",
         &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "with a lot under this HS prefix", &hs},
        {"destination", OVOP_OPT_STRING, NULL, 0, 0, "ISO 3166-1 alpha-2", &destination},
        {"status", OVOP_OPT_STRING, NULL, 0, 0, "draft, declared, documents_complete, ...",
         &status},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "created (or departed) on or after YYYY-MM-DD",
         &from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "created (or departed) on or before YYYY-MM-DD", &to},
        {"departed", OVOP_OPT_BOOL, "false", 0, 0, "dates are departure dates", &departed},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page", &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_parse_flags("ovopctl export list", "[options]", "Lists export shipments.", opts, n,
                            argc, argv, &argi);
    if (r != 0)
        goto out;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    if (exporter && (r = parse_exporter(exporter, &x)) != 0)
        goto out;
    int st = 0;
    if (status && (st = enum_value(&ovop__v1__shipment_status__descriptor, status)) < 0) {
        fprintf(stderr, "ovopctl: --status must be draft, declared, documents_complete, released, "
                        "departed, delivered, cancelled, rejected or returned\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ListShipmentsRequest in = OVOP__V1__LIST_SHIPMENTS_REQUEST__INIT;
    in.exporter = exporter ? &x : NULL;
    in.territory_prefix = territory ? territory : "";
    in.hs_prefix = hs ? hs : "";
    in.destination = destination ? destination : "";
    in.status = st;
    in.from_date = from ? from : "";
    in.to_date = to ? to : "";
    in.date_basis = departed ? OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED
                             : OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_UNSPECIFIED;
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c, &(ctl_list_t){.service = SERVICE,
                                        .method = "ListShipments",
                                        .request = &in.base,
                                        .response = &ovop__v1__list_shipments_response__descriptor,
                                        .rows = "shipments",
                                        .page_token = token,
                                        .all = all,
                                        .print_header = print_header,
                                        .print_row = print_row,
                                        .one = "shipment",
                                        .many = "shipments"});
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- moves --- */

static const struct {
    const char *verb;
    int to;
} move_verbs[] = {
    {"declare", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED},
    {"complete", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DOCUMENTS_COMPLETE},
    {"release", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_RELEASED},
    {"depart", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED},
    {"deliver", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DELIVERED},
    {"cancel", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_CANCELLED},
    {"reject", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_REJECTED},
    {"return", OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_RETURNED},
};

static int export_move(ctl_t *c, int to, int argc, char **argv)
{
    char *agency = NULL, *reason = NULL, *reference = NULL, *at = NULL, *border = NULL;
    int64_t version = 0;
    const ovop_opt_t opts[] = {
        {"agency", OVOP_OPT_STRING, NULL, 0, 0, "the acting agency, e.g. customs", &agency},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (cancel, reject, return)", &reason},
        {"reference", OVOP_OPT_STRING, NULL, 0, 0, "e.g. the customs release number", &reference},
        {"at", OVOP_OPT_STRING, NULL, 0, 0, "when it happened, RFC 3339 (default: now)", &at},
        {"border", OVOP_OPT_STRING, NULL, 0, 0, "depart: the crossing point used", &border},
        {"version", OVOP_OPT_INT, "0", 0, 1000000000, "the version you read (optional check)",
         &version},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int64_t id = 0;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags("ovopctl export declare|complete|release|depart|deliver|cancel|"
                            "reject|return",
                            "ID [--agency A] [--reason R] [--reference R] [--at TIME] "
                            "[--border POINT] [--version V]",
                            "Moves a shipment along its lifecycle.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl export %s ID [options]\n", argv[0]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ShipmentTransition in = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    if ((r = ctl_parse_id("the shipment id", argv[argi], &id)) != 0)
        goto out;
    if (at && (r = parse_time(at, &in.at_us)) != 0)
        goto out;
    in.shipment_id = id;
    in.to = to;
    in.agency = agency ? agency : "";
    in.reason = reason ? reason : "";
    in.reference = reference ? reference : "";
    in.border_point = border ? border : "";
    in.expected_version = (int32_t)version;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "TransitionShipment", &in.base,
                 &ovop__v1__transition_result__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_result);
out:
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

static int export_record(ctl_t *c, int argc, char **argv)
{
    int64_t batch = 500;
    const ovop_opt_t opts[] = {
        {"batch", OVOP_OPT_INT, "500", 1, 10000,
         "moves per request (each request is all or nothing)", &batch},
    };
    int argi;
    int r = ctl_parse_flags("ovopctl export record", "FILE|- [--batch N]",
                            "Records shipment moves from a CSV file: "
                            "shipment_id,status[,agency[,reason[,reference[,border_point[,at]]]]]",
                            opts, 1, argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl export record FILE|- [--batch N]\n");
        return CTL_EXIT_USAGE;
    }
    FILE *f = strcmp(argv[argi], "-") == 0 ? stdin : fopen(argv[argi], "r");
    if (!f) {
        fprintf(stderr, "ovopctl: could not open %s: %s\n", argv[argi], strerror(errno));
        return CTL_EXIT_FAILURE;
    }
    record_line_t *lines = NULL;
    size_t n = 0, cap = 0;
    char *text = NULL;
    size_t text_cap = 0;
    unsigned line = 0;
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
    int64_t id = 0;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags("ovopctl export doc attach",
                            "SHIPMENT --type T --number N --issuer I [--issued-on D] "
                            "[--valid-until D] [--requested]",
                            "Attaches a document to a shipment.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1 || !type || !number || !issuer) {
        fprintf(stderr, "ovopctl: usage: ovopctl export doc attach SHIPMENT --type T --number N "
                        "--issuer I [--issued-on D]\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((r = ctl_parse_id("the shipment id", argv[argi], &id)) != 0)
        goto out;
    int t = enum_value(&ovop__v1__document_type__descriptor, type);
    if (t < 0) {
        fprintf(stderr, "ovopctl: unknown document type \"%s\" (see --help)\n", type);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__AttachDocumentRequest in = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    in.shipment_id = id;
    in.type = t;
    in.number = number;
    in.issuer = issuer;
    in.issued_on = issued_on ? issued_on : "";
    in.valid_until = valid_until ? valid_until : "";
    in.status = requested ? OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED
                          : OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "AttachDocument", &in.base, &ovop__v1__document__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_document);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int doc_status(ctl_t *c, int status, int argc, char **argv)
{
    char *reason = NULL, *issued_on = NULL;
    const ovop_opt_t opts[] = {
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why (reject, revoke)", &reason},
        {"issued-on", OVOP_OPT_STRING, NULL, 0, 0, "issue: the date of issue (default: today)",
         &issued_on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int64_t id = 0;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags("ovopctl export doc issue|reject|revoke",
                            "DOCUMENT_ID [--reason R] [--issued-on D]",
                            "Changes a document's status.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl export doc %s DOCUMENT_ID [--reason R]\n",
                argv[0]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((r = ctl_parse_id("the document id", argv[argi], &id)) != 0)
        goto out;
    Ovop__V1__SetDocumentStatusRequest in = OVOP__V1__SET_DOCUMENT_STATUS_REQUEST__INIT;
    in.document_id = id;
    in.status = status;
    in.reason = reason ? reason : "";
    in.issued_on = issued_on ? issued_on : "";
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "SetDocumentStatus", &in.base, &ovop__v1__document__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_document);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int export_doc(ctl_t *c, int argc, char **argv)
{
    const char *v = argc >= 2 ? argv[1] : "";
    if (strcmp(v, "attach") == 0)
        return doc_attach(c, argc - 1, argv + 1);
    if (strcmp(v, "issue") == 0)
        return doc_status(c, OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED, argc - 1, argv + 1);
    if (strcmp(v, "reject") == 0)
        return doc_status(c, OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REJECTED, argc - 1,
                          argv + 1);
    if (strcmp(v, "revoke") == 0)
        return doc_status(c, OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REVOKED, argc - 1,
                          argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl export doc attach|issue|reject|revoke ...\n");
    return CTL_EXIT_USAGE;
}

/* --- compliance --- */

static int export_violation(ctl_t *c, int argc, char **argv)
{
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
    int r = ctl_parse_flags("ovopctl export violation",
                            "--exporter producer:ID --country CC --on DATE --authority A "
                            "[--reference R] [--description D] [--shipment ID]",
                            "Records a violation notice from a destination country.", opts, n, argc,
                            argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc || !exporter || !country || !on || !authority) {
        fprintf(stderr, "ovopctl: export violation needs --exporter, --country, --on and "
                        "--authority\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    if ((r = parse_exporter(exporter, &x)) != 0)
        goto out;
    Ovop__V1__RecordViolationNoticeRequest in = OVOP__V1__RECORD_VIOLATION_NOTICE_REQUEST__INIT;
    in.exporter = &x;
    in.country = country;
    in.noticed_on = on;
    in.authority = authority;
    in.reference = reference ? reference : "";
    in.description = description ? description : "";
    in.shipment_id = shipment;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "RecordViolationNotice", &in.base,
                 &ovop__v1__violation_notice__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_notice);
out:
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
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "GetExporterCompliance", &in.base,
                 &ovop__v1__exporter_compliance__descriptor, &res);
    if (r == CTL_EXIT_OK)
        show(c, res, human_compliance);
    return r;
}

/* --- stats --- */

static int export_stats(ctl_t *c, int argc, char **argv)
{
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
    size_t n_dims = 0;
    int r = ctl_parse_flags("ovopctl export stats", "[--by month,region,...] [filters]",
                            "Export statistics: tonnes, USD and shipments, counted at departure.",
                            opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    for (char *save = NULL, *tok = by ? strtok_r(by, ",", &save) : NULL; tok && n_dims < 8;
         tok = strtok_r(NULL, ",", &save)) {
        int d = strcmp(tok, "hs") == 0 ? OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE
                                       : enum_value(&ovop__v1__stats_dimension__descriptor, tok);
        if (d < 0) {
            fprintf(stderr,
                    "ovopctl: --by takes month, region, district, hs, destination; got "
                    "\"%s\"\n",
                    tok);
            r = CTL_EXIT_USAGE;
            goto out;
        }
        dims[n_dims++] = d;
    }
    Ovop__V1__ExportStatisticsRequest in = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    in.n_group_by = n_dims;
    in.group_by = dims;
    in.from_month = from ? from : "";
    in.to_month = to ? to : "";
    in.territory_prefix = territory ? territory : "";
    in.hs_prefix = hs ? hs : "";
    in.destination = destination ? destination : "";
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, SERVICE, "GetExportStatistics", &in.base,
                 &ovop__v1__export_statistics_response__descriptor, &res);
    if (r != CTL_EXIT_OK)
        goto out;
    if (c->json) {
        ctl_print_json(res);
    } else {
        const Ovop__V1__ExportStatisticsResponse *s =
            (const Ovop__V1__ExportStatisticsResponse *)res;
        bool want[6] = {false};
        for (size_t i = 0; i < n_dims; i++)
            want[dims[i]] = true;
        static const char *const heads[] = {"", "MONTH", "REGION", "DISTRICT", "HS", "TO"};
        static const int widths[] = {0, 7, 14, 14, 6, 3};
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
    protobuf_c_message_free_unpacked(res, NULL);
out:
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_export(ctl_t *c, int argc, char **argv)
{
    const char *v = argc >= 2 ? argv[1] : "";
    if (strcmp(v, "create") == 0)
        return export_create(c, argc - 1, argv + 1);
    if (strcmp(v, "get") == 0)
        return export_get(c, argc - 1, argv + 1);
    if (strcmp(v, "list") == 0)
        return export_list(c, argc - 1, argv + 1);
    if (strcmp(v, "history") == 0)
        return export_history(c, argc - 1, argv + 1);
    if (strcmp(v, "record") == 0)
        return export_record(c, argc - 1, argv + 1);
    if (strcmp(v, "doc") == 0)
        return export_doc(c, argc - 1, argv + 1);
    if (strcmp(v, "violation") == 0)
        return export_violation(c, argc - 1, argv + 1);
    if (strcmp(v, "compliance") == 0)
        return export_compliance(c, argc - 1, argv + 1);
    if (strcmp(v, "stats") == 0)
        return export_stats(c, argc - 1, argv + 1);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(move_verbs); i++)
        if (strcmp(v, move_verbs[i].verb) == 0)
            return export_move(c, move_verbs[i].to, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl export create|get|list|history|declare|complete|"
                    "release|depart|deliver|cancel|reject|return|record|doc|violation|"
                    "compliance|stats ...\n");
    return CTL_EXIT_USAGE;
}
