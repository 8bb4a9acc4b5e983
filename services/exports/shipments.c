/* Shipments: creation of drafts, and the queries (one shipment, lists, history). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"
#include "money.h"

/* A lot's value: USD 1,000,000,000 (in cents) and its worth in som (in tyiyn), far beyond any
 * shipment, while the totals of 100 such lots still fit the columns. */
#define MAX_LOT_USD_CENTS INT64_C(100000000000)
#define MAX_LOT_SOM_TYIYN INT64_C(10000000000000)

/* A Shipment, its columns named as its fields (read by name, pbrow.h); lots as a JSON array
 * of records named like Lot's fields. The incoterm is stored in capitals (exports.h).
 *
 * json_agg takes the lots in the order of the subquery that sorts them (a subquery with ORDER
 * BY is never merged into the query above it, and nothing comes between the two): the order
 * of the primary key (shipment_id, ord), read without a sort, where an ORDER BY inside
 * json_agg would sort each shipment's lots (3% more work for the statement of ListShipments,
 * counted with callgrind). Documents have no index in their order, so there json_agg sorts. */
#define SHIPMENT_COLUMNS                                                                           \
    "s.id, s.exporter_kind AS \"exporter.kind\", s.exporter_id AS \"exporter.id\", "               \
    "s.exporter_name, s.buyer_name AS \"buyer.name\", s.buyer_country AS \"buyer.country\", "      \
    "s.buyer_address AS \"buyer.address\", s.destination, lower(s.incoterm) AS incoterm, "         \
    "s.transport_mode AS \"transport.mode\", s.vehicle AS \"transport.vehicle\", "                 \
    "s.consignment_note AS \"transport.consignment_note\", s.border_point, "                       \
    "s.planned_departure::text, s.planned_arrival::text, s.status, s.version, "                    \
    "exports.us_of(s.created_at) AS created_us, exports.us_of(s.status_at) AS status_us, "         \
    "s.origin_territory, s.hs6 AS hs_code, s.net_kg AS net_weight_kg, "                            \
    "(s.value_usd * 100)::bigint AS value_usd_cents, "                                             \
    "(s.value_som * 100)::bigint AS value_som_tyiyn, "                                             \
    "exports.us_of(s.declared_at) AS declared_us, exports.us_of(s.released_at) AS released_us, "   \
    "exports.us_of(s.departed_at) AS departed_us, "                                                \
    "exports.us_of(s.delivered_at) AS delivered_us, s.departed_via, "                              \
    "(SELECT json_agg(l) "                                                                         \
    "   FROM (SELECT x.product_id, x.producer_id, x.quantity, x.unit, "                            \
    "                x.net_kg AS net_weight_kg, (x.value_usd * 100)::bigint AS value_usd_cents, "  \
    "                (x.value_som * 100)::bigint AS value_som_tyiyn, x.hs6 AS hs_code, "           \
    "                x.product_name, x.territory_code "                                            \
    "           FROM exports.lots x WHERE x.shipment_id = s.id ORDER BY x.ord) l) AS lots"

/* GetShipment's: SHIPMENT_COLUMNS and the documents (objects named like Document's fields),
 * the required and the missing document types. Batched by common/lookup.h: the GetShipment
 * requests of one loop turn share a statement. */
static const ovop_read_t shipment = {
    .sql = "SELECT " SHIPMENT_COLUMNS ", "
           "(SELECT json_agg(d ORDER BY d.id) "
           "   FROM (SELECT x.id, x.shipment_id, x.doc_type AS type, x.number, x.issuer, "
           "                x.issued_on, x.valid_until, x.status, x.status_reason, "
           "                exports.us_of(x.created_at) AS created_us, "
           "                exports.us_of(x.updated_at) AS updated_us "
           "           FROM exports.documents x WHERE x.shipment_id = s.id) d) AS documents, "
           "to_json(s.required_docs) AS required_documents, "
           "(SELECT to_json(m.missing) FROM exports.missing_docs(s.id, s.required_docs) m) "
           "AS missing_documents "
           "FROM exports.shipments s WHERE s.id IN ($1, $2, $3, $4, $5, $6, $7, $8)",
    .row = &ovop__v1__shipment__descriptor,
    .noun = "shipment with id",
};

/* --- CreateShipment: check, read the registry, build the draft and its events, store --- */

/* What the registry says about the request's exporter, products and crossing point, and the
 * documents the shipment will need, with a new id: the start of the draft Shipment. No row
 * when the registry has no such exporter; its lots in the request's order (n, which names no
 * field), the registry's part only (product_id NULL for a product it does not have); beside
 * them the crossing point's SOATE (border_soate). $3 are the lots' product ids. */
static const ovop_read_t preread = {
    .sql = "SELECT nextval('exports.ids') AS id, x.exporter_name, x.origin_territory, "
           "  (SELECT json_agg(l ORDER BY l.n) "
           "     FROM (SELECT r.n, p.id AS product_id, p.hs6 AS hs_code, p.unit, "
           "                  coalesce(nullif(p.name_en, ''), nullif(p.name_ru, ''), p.name_ky) "
           "                  AS product_name, pr.territory_code "
           "             FROM unnest($3::bigint[]) WITH ORDINALITY AS r(product_id, n) "
           "             LEFT JOIN (registry_api.products p "
           "                        JOIN registry_api.hs_codes h ON h.hs6 = p.hs6 "
           "                        JOIN registry_api.producers pr ON pr.id = p.producer_id) "
           "               ON p.id = r.product_id) l) AS lots, "
           "  coalesce((SELECT b.soate FROM exports.border_points b WHERE b.code = $4), '') "
           "  AS border_soate, "
           "  to_json(exports.required_documents($5, ARRAY(SELECT DISTINCT h.origin "
           "      FROM registry_api.products p JOIN registry_api.hs_codes h ON h.hs6 = p.hs6 "
           "      WHERE p.id = ANY ($3::bigint[])), $6)) AS required_documents "
           "  FROM (SELECT p.legal_name, p.territory_code FROM registry_api.producers p "
           "         WHERE $1 = 'producer' AND p.id = $2::bigint "
           "        UNION ALL "
           "        SELECT c.name, c.territory_code FROM registry_api.cooperatives c "
           "         WHERE $1 = 'cooperative' AND c.id = $2::bigint) "
           "       AS x(exporter_name, origin_territory)",
    .row = &ovop__v1__shipment__descriptor,
};

/* An amount stored with `decimals` places: positive (or zero when !positive), at most max. */
static void check_amount(ovop_call_t *call, const char *field, double v, double max, int decimals,
                         bool positive)
{
    if (!isfinite(v))
        ovop_call_violation(call, field, "must be a number");
    else if (positive && v <= 0)
        ovop_call_violation(call, field, "must be positive, got %g", v);
    else if (!positive && v < 0)
        ovop_call_violation(call, field, "must be zero or positive, got %g", v);
    else if (v > max)
        ovop_call_violation(call, field, "must be at most %g, got %g", max, v);
    else if (positive && exports_round(v, decimals) <= 0)
        ovop_call_violation(call, field, "must be at least %s, got %g",
                            decimals == 3 ? "0.001" : "0.01", v);
}

/* An amount of money in minor units: positive (or zero when !positive), at most max. */
static void check_money(ovop_call_t *call, const char *field, int64_t v, int64_t max, bool positive)
{
    if (positive && v <= 0)
        ovop_call_violation(call, field, "must be positive, got %lld", (long long)v);
    else if (!positive && v < 0)
        ovop_call_violation(call, field, "must be zero or positive, got %lld", (long long)v);
    else if (v > max)
        ovop_call_violation(call, field, "must be at most %lld, got %lld", (long long)max,
                            (long long)v);
}

/* Checks lot i of a CreateShipmentRequest; the registry checks are the database's. */
static void check_lot(ovop_call_t *call, size_t i, const Ovop__V1__Lot *l)
{
    char f[48];
#define LOT_FIELD(name) (snprintf(f, sizeof(f), "lots[%zu]." name, i), f)
    if (l->product_id <= 0)
        ovop_call_violation(call, LOT_FIELD("product_id"), "must be a product id, got %lld",
                            (long long)l->product_id);
    if (l->producer_id <= 0)
        ovop_call_violation(call, LOT_FIELD("producer_id"), "must be a producer id, got %lld",
                            (long long)l->producer_id);
    check_amount(call, LOT_FIELD("quantity"), l->quantity, 1e9, 3, true);
    ovop_check_text(call, LOT_FIELD("unit"), l->unit, 8, false);
    check_amount(call, LOT_FIELD("net_weight_kg"), l->net_weight_kg, 1e9, 3, true);
    check_money(call, LOT_FIELD("value_usd_cents"), l->value_usd_cents, MAX_LOT_USD_CENTS, true);
    check_money(call, LOT_FIELD("value_som_tyiyn"), l->value_som_tyiyn, MAX_LOT_SOM_TYIYN, false);
#undef LOT_FIELD
}

/* Checks the fields of a CreateShipmentRequest that need no database. */
static void check_create(ovop_call_t *call, const Ovop__V1__CreateShipmentRequest *in)
{
    exports_check_exporter(call, "exporter", in->exporter);
    if (!in->buyer) {
        ovop_call_violation(call, "buyer", "is required (name and country)");
    } else {
        ovop_check_text(call, "buyer.name", in->buyer->name, 300, true);
        exports_check_country(call, "buyer.country", in->buyer->country);
        ovop_check_text(call, "buyer.address", in->buyer->address, 500, false);
    }
    if (exports_check_country(call, "destination", in->destination) &&
        strcmp(in->destination, "KG") == 0)
        ovop_call_violation(call, "destination",
                            "an export leaves Kyrgyzstan: the destination cannot be KG");
    if (!exports_incoterm_text((int)in->incoterm)[0])
        ovop_call_violation(call, "incoterm",
                            "must be an Incoterms 2020 rule: EXW, FCA, CPT, CIP, DAP, DPU, DDP, "
                            "FAS, FOB, CFR or CIF");
    if (in->n_lots == 0 || in->n_lots > EXPORTS_MAX_LOTS)
        ovop_call_violation(call, "lots", "must list 1 to %d lots, got %zu", EXPORTS_MAX_LOTS,
                            in->n_lots);
    else
        for (size_t i = 0; i < in->n_lots; i++)
            check_lot(call, i, in->lots[i]);
    if (!in->transport ||
        !ovop_enum_text(&ovop__v1__transport_mode__descriptor, (int)in->transport->mode)[0]) {
        ovop_call_violation(call, "transport.mode", "must be ROAD, RAIL or AIR");
    } else {
        ovop_check_text(call, "transport.vehicle", in->transport->vehicle, 32, false);
        ovop_check_text(call, "transport.consignment_note", in->transport->consignment_note, 64,
                        false);
    }
    if (!in->border_point[0])
        ovop_call_violation(call, "border_point", "is required, e.g. KG-IRKESHTAM");
    else
        exports_check_border_point(call, "border_point", in->border_point);
    bool dep = exports_check_date(call, "planned_departure", in->planned_departure, true);
    bool arr = exports_check_date(call, "planned_arrival", in->planned_arrival, false);
    if (dep && arr && in->planned_arrival[0] &&
        strcmp(in->planned_arrival, in->planned_departure) < 0)
        ovop_call_violation(call, "planned_arrival", "%s is before the planned departure %s",
                            in->planned_arrival, in->planned_departure);
}

/* The registry's part of each lot of s (in the request's order) completed from the request:
 * the lots as stored, amounts rounded as the columns keep them. Adds a violation for each
 * product the registry does not have. */
static void complete_lots(ovop_call_t *call, const Ovop__V1__CreateShipmentRequest *in,
                          Ovop__V1__Shipment *s)
{
    for (size_t i = 0; i < in->n_lots; i++) {
        const Ovop__V1__Lot *src = in->lots[i];
        Ovop__V1__Lot *l = s->lots[i];
        if (!l->product_id) {
            char f[40];
            snprintf(f, sizeof(f), "lots[%zu].product_id", i);
            ovop_call_violation(call, f, "no product with id %lld", (long long)src->product_id);
            continue;
        }
        l->producer_id = src->producer_id;
        l->quantity = exports_round(src->quantity, 3);
        if (src->unit[0])
            l->unit = src->unit;
        l->net_weight_kg = exports_round(src->net_weight_kg, 3);
        l->value_usd_cents = src->value_usd_cents;
        l->value_som_tyiyn = src->value_som_tyiyn;
    }
}

/* The draft s (read, lots completed) with the request's fields, its status and totals: the
 * reply. Weights are summed in thousandths so that totals equal the database's sums; the
 * HS code is the heaviest lot's (the first of equals). */
static void fill_draft(const Ovop__V1__CreateShipmentRequest *in, Ovop__V1__Shipment *s)
{
    s->exporter = in->exporter;
    s->buyer = in->buyer;
    s->destination = in->destination;
    s->incoterm = in->incoterm;
    s->transport = in->transport;
    s->border_point = in->border_point;
    s->planned_departure = in->planned_departure;
    s->planned_arrival = in->planned_arrival;
    s->status = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DRAFT;
    s->version = 1;
    s->created_us = s->status_us = ovop_now_us();
    s->n_missing_documents = s->n_required_documents;
    s->missing_documents = s->required_documents;
    long long kg_milli = 0, heaviest = -1;
    for (size_t i = 0; i < s->n_lots; i++) {
        long long kg = llround(in->lots[i]->net_weight_kg * 1000);
        kg_milli += kg;
        s->value_usd_cents += in->lots[i]->value_usd_cents;
        s->value_som_tyiyn += in->lots[i]->value_som_tyiyn;
        if (kg > heaviest) {
            heaviest = kg;
            s->hs_code = s->lots[i]->hs_code;
        }
    }
    s->net_weight_kg = (double)kg_milli / 1000.0;
}

/* The lots as the create_shipment function takes them: a JSON array of arrays. */
static char *lots_param(ovop_call_t *call, const Ovop__V1__Shipment *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_lots; i++) {
        const Ovop__V1__Lot *l = s->lots[i];
        char q[40], kg[40], usd[OVOP_MONEY_TEXT], som[OVOP_MONEY_TEXT];
        snprintf(q, sizeof(q), "%.3f", l->quantity);
        snprintf(kg, sizeof(kg), "%.3f", l->net_weight_kg);
        ovop_money_format(l->value_usd_cents, usd);
        ovop_money_format(l->value_som_tyiyn, som);
        json_array_append_new(a, json_pack("[IIsssss]", (json_int_t)l->product_id,
                                           (json_int_t)l->producer_id, q, l->unit, kg, usd, som));
    }
    char *text = json_dumps(a, JSON_COMPACT);
    char *copy = ovop_call_strdup(call, text);
    free(text);
    json_decref(a);
    return copy;
}

/* The goods and route of every event of shipment s (ExportEvent fields 20-26), as bytea text
 * in the call's arena. */
static char *goods_and_route(ovop_call_t *call, const Ovop__V1__Shipment *s,
                             const char *border_soate)
{
    Ovop__V1__EventItem **what = ovop_call_alloc(call, (s->n_lots + 1) * sizeof(*what));
    for (size_t i = 0; i < s->n_lots; i++) {
        const Ovop__V1__Lot *l = s->lots[i];
        Ovop__V1__EventItem *it =
            (Ovop__V1__EventItem *)ovop_call_message(call, &ovop__v1__event_item__descriptor);
        it->product_id = l->product_id;
        it->product_name = l->product_name;
        it->hs_code = l->hs_code;
        it->quantity = l->quantity;
        it->unit = l->unit;
        it->net_weight_kg = l->net_weight_kg;
        it->value_usd_cents = l->value_usd_cents;
        it->producer_id = l->producer_id;
        it->territory_code = l->territory_code;
        what[i] = it;
    }
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    ev.exporter = s->exporter;
    ev.n_what = s->n_lots;
    ev.what = what;
    ev.origin_soate = s->origin_territory;
    ev.border_point = s->border_point;
    ev.border_soate = (char *)border_soate;
    ev.destination = s->destination;
    ev.incoterm = s->incoterm;
    return ovop_call_bytea(call, &ev.base);
}

/* Stores the draft s of request in with its creation's event, in one statement. */
static void store_shipment(ovop_call_t *call, exports_t *e,
                           const Ovop__V1__CreateShipmentRequest *in, Ovop__V1__Shipment *s,
                           const char *border_soate)
{
    const ovop_arg_t args[] = {
        {"p_id", exports_number(call, s->id)},
        {"p_caller", ovop_call_caller(call)},
        {"p_exporter_kind", exports_kind_text(in->exporter)},
        {"p_exporter_id", exports_number(call, in->exporter->id)},
        {"p_buyer_name", in->buyer->name},
        {"p_buyer_country", in->buyer->country},
        {"p_buyer_address", in->buyer->address},
        {"p_destination", in->destination},
        {"p_incoterm", exports_incoterm_text((int)in->incoterm)},
        {"p_mode", ovop_enum_text(&ovop__v1__transport_mode__descriptor, (int)in->transport->mode)},
        {"p_vehicle", in->transport->vehicle},
        {"p_note", in->transport->consignment_note},
        {"p_border", in->border_point},
        {"p_departure", in->planned_departure},
        {"p_arrival", in->planned_arrival[0] ? in->planned_arrival : NULL},
        {"p_lots", lots_param(call, s)},
        {"p_at_us", exports_number(call, s->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_head", exports_call_event_head(call, s->id, s->status, s->created_us, "", NULL)},
        {"p_static", goods_and_route(call, s, border_soate)},
    };
    OVOP_MUTATE(call, &e->mutator, "exports.create_shipment", args, &s->base);
}

/* With the registry's answer (the draft s, NULL when the exporter is unknown): completes the
 * draft and stores it. */
static void on_preread(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    exports_t *e = userdata;
    const Ovop__V1__CreateShipmentRequest *in =
        (const Ovop__V1__CreateShipmentRequest *)ovop_call_input(call);
    Ovop__V1__Shipment *s = (Ovop__V1__Shipment *)row;
    if (!s) {
        ovop_call_violation(call, "exporter.id", "no %s with id %lld",
                            exports_kind_text(in->exporter), (long long)in->exporter->id);
        ovop_call_fail_violations(call);
        return;
    }
    if (s->n_lots != in->n_lots) { /* one per product id sent: a bug in the statement */
        log_error_rid(ovop_call_request_id(call), "CreateShipment: %zu lots read for %zu sent",
                      s->n_lots, in->n_lots);
        ovop_call_fail_internal(call);
        return;
    }
    complete_lots(call, in, s);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    fill_draft(in, s);
    store_shipment(call, e, in, s, ovop_pg_value(res, 0, "border_soate"));
}

/* The lots' product ids as a PostgreSQL array, in the call's arena. */
static char *product_ids(ovop_call_t *call, const Ovop__V1__CreateShipmentRequest *in)
{
    ovop_buf_t ids;
    ovop_buf_init(&ids);
    ovop_buf_puts(&ids, "{");
    for (size_t i = 0; i < in->n_lots; i++)
        ovop_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)in->lots[i]->product_id);
    ovop_buf_puts(&ids, "}");
    char *text = ovop_call_strdup(call, ids.data);
    ovop_buf_free(&ids);
    return text;
}

/* CreateShipment: checks, then one read of the registry (exporter, products, crossing
 * point, required documents) and one statement. */
static void create_shipment(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateShipmentRequest *in = (const Ovop__V1__CreateShipmentRequest *)input;
    exports_t *e = userdata;
    check_create(call, in);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {
        exports_kind_text(in->exporter),
        exports_number(call, in->exporter->id),
        product_ids(call, in),
        in->border_point,
        in->destination,
        ovop_enum_text(&ovop__v1__transport_mode__descriptor, (int)in->transport->mode),
    };
    ovop_read_then(call, e->pg, &preread, NULL, (int)OVOP_ARRAY_SIZE(params), params, on_preread,
                   e);
}

/* --- GetShipment --- */

/* GetShipment: the shipment with its documents and what it still misses. */
static void get_shipment(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetShipmentRequest *in = (const Ovop__V1__GetShipmentRequest *)input;
    exports_t *e = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a shipment id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    ovop_read_lookup(call, e->shipment_lookup, &shipment, exports_number(call, in->id));
}

/* --- ListShipments --- */

/* Without documents, required and missing documents; the statement is built for the filters
 * present (list_sql). */
static const ovop_read_t shipment_list = {
    .page = {.response = &ovop__v1__list_shipments_response__descriptor,
             .rows = "shipments",
             .key = "id"},
};

/* Checks a ListShipmentsRequest; *ret_prefix is the territory's significant prefix. */
static void check_list(ovop_call_t *call, const Ovop__V1__ListShipmentsRequest *in,
                       char ret_prefix[static 15])
{
    if (in->exporter && (in->exporter->id != 0 || in->exporter->kind != 0))
        exports_check_exporter(call, "exporter", in->exporter);
    exports_check_territory_prefix(call, "territory_prefix", in->territory_prefix, ret_prefix);
    exports_check_hs_prefix(call, "hs_prefix", in->hs_prefix);
    if (in->destination[0])
        exports_check_country(call, "destination", in->destination);
    if (in->status != 0 &&
        !ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)in->status)[0])
        ovop_call_violation(call, "status", "unknown status %d", (int)in->status);
    bool from_ok = exports_check_date(call, "from_date", in->from_date, false);
    bool to_ok = exports_check_date(call, "to_date", in->to_date, false);
    if (from_ok && to_ok && in->from_date[0] && in->to_date[0] &&
        strcmp(in->to_date, in->from_date) < 0)
        ovop_call_violation(call, "to_date", "%s is before from_date %s", in->to_date,
                            in->from_date);
    /* UNSPECIFIED is the default, CREATED. */
    if (in->date_basis != OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED &&
        in->date_basis != OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_CREATED &&
        in->date_basis != OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_UNSPECIFIED)
        ovop_call_violation(call, "date_basis", "must be CREATED or DEPARTED (unset: CREATED)");
}

/* The filters present become conditions with their own parameters (ovop_filter_t: at most
 * 2^7 texts, prepared per connection as they come). */
static const char *list_sql(ovop_call_t *call, const Ovop__V1__ListShipmentsRequest *in,
                            const char *prefix, int64_t after, unsigned page, ovop_filter_t *f)
{
    bool departed = in->date_basis == OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED;
    const char *date_col = departed ? "s.departed_at" : "s.created_at";
    ovop_filter_init(f, "SELECT " SHIPMENT_COLUMNS " FROM exports.shipments s WHERE ");
    if (in->exporter && (in->exporter->id != 0 || in->exporter->kind != 0)) {
        ovop_filter_add(f, "s.exporter_kind = ", " AND ", exports_kind_text(in->exporter));
        ovop_filter_add(f, "s.exporter_id = ", "::bigint AND ",
                        exports_number(call, in->exporter->id));
    }
    if (prefix[0])
        ovop_filter_add(f, "s.origin_territory LIKE ", " || '%' AND ", prefix);
    if (in->hs_prefix[0])
        ovop_filter_add(
            f, "EXISTS (SELECT 1 FROM exports.lots l WHERE l.shipment_id = s.id AND l.hs6 LIKE ",
            " || '%') AND ", in->hs_prefix);
    if (in->destination[0])
        ovop_filter_add(f, "s.destination = ", " AND ", in->destination);
    if (in->status)
        ovop_filter_add(f, "s.status = ", " AND ",
                        ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)in->status));
    if (departed)
        ovop_buf_puts(&f->sql, "s.departed_at IS NOT NULL AND ");
    if (in->from_date[0])
        ovop_filter_add(f, ovop_call_printf(call, "%s >= (", date_col),
                        "::date::timestamp AT TIME ZONE 'Asia/Bishkek') AND ", in->from_date);
    if (in->to_date[0])
        ovop_filter_add(f, ovop_call_printf(call, "%s < ((", date_col),
                        "::date + 1)::timestamp AT TIME ZONE 'Asia/Bishkek') AND ", in->to_date);
    ovop_filter_add(f, "s.id > ", "::bigint ", exports_number(call, after));
    ovop_filter_add(f, "ORDER BY s.id LIMIT ", "::int", ovop_call_printf(call, "%u", page + 1));
    return ovop_filter_sql(call, f);
}

static void list_shipments(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListShipmentsRequest *in = (const Ovop__V1__ListShipmentsRequest *)input;
    exports_t *e = userdata;
    char prefix[15];
    int64_t after = 0;
    check_list(call, in, prefix);
    unsigned page = exports_page_size(call, in->page_size);
    ovop_check_page_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    ovop_filter_t f;
    const char *sql = list_sql(call, in, prefix, after, page, &f);
    ovop_read_page(call, ovop_daemon_pg_read(e->d), &shipment_list, sql, f.n, f.params, page);
}

/* --- GetShipmentHistory --- */

static const ovop_read_t history = {
    .sql = "SELECT h.version, h.from_status, h.to_status, exports.us_of(h.at) AS at_us, "
           "       exports.us_of(h.recorded_at) AS recorded_us, h.caller, h.agency, h.reason, "
           "       h.reference, h.border_point, h.request_id, h.event_id::text "
           "  FROM exports.shipment_history h "
           " WHERE h.shipment_id = $1::bigint AND h.version > $2::int "
           " ORDER BY h.version LIMIT $3::int",
    .page = {.response = &ovop__v1__shipment_history__descriptor,
             .rows = "entries",
             .key = "version"},
};

typedef struct history_ctx {
    ovop_call_t *call;
    unsigned page_size;
} history_ctx_t;

/* Answers a page of history, or NOT_FOUND when the first page is empty. */
static void on_history(PGresult *res, const char *error, void *userdata)
{
    history_ctx_t *h = userdata;
    const Ovop__V1__GetShipmentHistoryRequest *in =
        (const Ovop__V1__GetShipmentHistoryRequest *)ovop_call_input(h->call);
    if (error)
        ovop_call_fail_db(h->call, res, error);
    else if (PQntuples(res) == 0 && !in->page_token[0]) /* every shipment has its creation */
        ovop_call_fail(h->call, OVOP_NOT_FOUND, "no shipment with id %lld",
                       (long long)in->shipment_id);
    else
        ovop_page_finish(h->call, res, h->page_size, &history.page);
}

/* GetShipmentHistory: every move, oldest first, by version. */
static void get_history(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetShipmentHistoryRequest *in =
        (const Ovop__V1__GetShipmentHistoryRequest *)input;
    exports_t *e = userdata;
    int64_t after = 0;
    if (in->shipment_id <= 0)
        ovop_call_violation(call, "shipment_id", "must be a shipment id, got %lld",
                            (long long)in->shipment_id);
    unsigned page = exports_page_size(call, in->page_size);
    ovop_check_page_token(call, in->page_token, &after);
    if (after > INT32_MAX)
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    history_ctx_t *h = ovop_call_alloc(call, sizeof(*h));
    *h = (history_ctx_t){call, page};
    const char *params[] = {exports_number(call, in->shipment_id), exports_number(call, after),
                            ovop_call_printf(call, "%u", page + 1)};
    ovop_call_query(call, e->pg, history.sql, 3, params, on_history, h);
}

static const ovop_method_t methods[] = {
    {"CreateShipment", create_shipment},
    {"GetShipment", get_shipment},
    {"ListShipments", list_shipments},
    {"GetShipmentHistory", get_history},
};

void exports_shipments_register(exports_t *e)
{
    ovop_lookup_new(&e->shipment_lookup, ovop_daemon_loop(e->d), e->pg, shipment.sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
