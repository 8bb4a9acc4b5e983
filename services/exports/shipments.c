/* Shipments: creation of drafts, and the queries (one shipment, lists, history). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"
#include "money.h"
#include "page.h"

#define MAX_DOCS      64 /* document types a shipment can need: fewer than this */
/* A lot's value: USD 1,000,000,000 (in cents) and its worth in som (in tyiyn), far beyond any
 * shipment, while the totals of 100 such lots still fit the columns. */
#define MAX_LOT_USD_CENTS INT64_C(100000000000)
#define MAX_LOT_SOM_TYIYN INT64_C(10000000000000)

/* Columns of a shipment, in the order shipment_from_row reads them; GET_COLUMNS adds the
 * documents, required and missing documents. */
#define SHIPMENT_COLUMNS                                                                           \
    "s.id, s.exporter_kind, s.exporter_id, s.exporter_name, s.buyer_name, s.buyer_country, "       \
    "s.buyer_address, s.destination, s.incoterm, s.transport_mode, s.vehicle, "                    \
    "s.consignment_note, s.border_point, s.planned_departure::text, "                              \
    "coalesce(s.planned_arrival::text, ''), s.status, s.version, exports.us_of(s.created_at), "    \
    "exports.us_of(s.status_at), s.origin_territory, s.hs6, s.net_kg::text, "                      \
    "(s.value_usd * 100)::bigint, (s.value_som * 100)::bigint, "                                   \
    "coalesce(exports.us_of(s.declared_at), 0), "                                                  \
    "coalesce(exports.us_of(s.released_at), 0), coalesce(exports.us_of(s.departed_at), 0), "       \
    "coalesce(exports.us_of(s.delivered_at), 0), coalesce(s.departed_via, ''), "                   \
    "(SELECT json_agg(json_build_array(l.product_id, l.producer_id, l.quantity::text, l.unit, "    \
    "         l.net_kg::text, (l.value_usd * 100)::bigint, (l.value_som * 100)::bigint, l.hs6, "   \
    "         l.product_name, "                                                                    \
    "         l.territory_code) ORDER BY l.ord) "                                                  \
    "   FROM exports.lots l WHERE l.shipment_id = s.id)"
#define N_SHIPMENT_COLUMNS 30

#define GET_COLUMNS                                                                                \
    SHIPMENT_COLUMNS                                                                               \
    ", (SELECT json_agg(json_build_array(d.id, d.doc_type, d.number, d.issuer, "                   \
    "            coalesce(d.issued_on::text, ''), coalesce(d.valid_until::text, ''), d.status, "   \
    "            d.status_reason, exports.us_of(d.created_at), exports.us_of(d.updated_at)) "      \
    "            ORDER BY d.id) "                                                                  \
    "     FROM exports.documents d WHERE d.shipment_id = s.id), "                                  \
    "s.required_docs, "                                                                            \
    "(SELECT m.missing FROM exports.missing_docs(s.id, s.required_docs) m)"

/* Batched by common/lookup.h: the GetShipment requests of one loop turn share a statement. */
static const char get_sql[] = "SELECT " GET_COLUMNS " FROM exports.shipments s "
                              "WHERE s.id IN ($1, $2, $3, $4, $5, $6, $7, $8)";

/* A Shipment decoded from a row; strings borrow the PGresult and the JSON it holds. */
typedef struct shipment_row {
    Ovop__V1__Shipment s;
    Ovop__V1__ExporterRef exporter;
    Ovop__V1__Buyer buyer;
    Ovop__V1__Transport transport;
    Ovop__V1__Lot *lots;
    Ovop__V1__Lot **lot_ptrs;
    Ovop__V1__Document *docs;
    Ovop__V1__Document **doc_ptrs;
    int required[MAX_DOCS];
    int missing[MAX_DOCS];
    json_t *lots_json;
    json_t *docs_json;
} shipment_row_t;

/* Frees what shipment_from_row allocated (the row's strings belong to the PGresult). */
static void shipment_row_free(shipment_row_t *r)
{
    free(r->lots);
    free(r->lot_ptrs);
    free(r->docs);
    free(r->doc_ptrs);
    json_decref(r->lots_json);
    json_decref(r->docs_json);
}

static const char *jstr(json_t *a, size_t i)
{
    const char *s = json_string_value(json_array_get(a, i));
    return s ? s : "";
}

/* Element i of a JSON array as an integer (0 when absent). */
static int64_t jint(json_t *a, size_t i)
{
    return (int64_t)json_integer_value(json_array_get(a, i));
}

/* Element i of a JSON array, a decimal written as a string, as a double. */
static double jnum(json_t *a, size_t i)
{
    return strtod(jstr(a, i), NULL);
}

/* A column of a result as an integer. */
static int64_t col_int(PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Decodes row i of a SHIPMENT_COLUMNS (full: GET_COLUMNS) result into r. */
static void shipment_from_row(PGresult *res, int i, shipment_row_t *r, bool full)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__shipment__init(&r->s);
    ovop__v1__exporter_ref__init(&r->exporter);
    ovop__v1__buyer__init(&r->buyer);
    ovop__v1__transport__init(&r->transport);
    Ovop__V1__Shipment *s = &r->s;
    s->id = col_int(res, i, 0);
    r->exporter.kind = exports_value(&exports_exporter_kinds, PQgetvalue(res, i, 1));
    r->exporter.id = col_int(res, i, 2);
    s->exporter = &r->exporter;
    s->exporter_name = PQgetvalue(res, i, 3);
    r->buyer.name = PQgetvalue(res, i, 4);
    r->buyer.country = PQgetvalue(res, i, 5);
    r->buyer.address = PQgetvalue(res, i, 6);
    s->buyer = &r->buyer;
    s->destination = PQgetvalue(res, i, 7);
    s->incoterm = exports_value(&exports_incoterms, PQgetvalue(res, i, 8));
    r->transport.mode = exports_value(&exports_modes, PQgetvalue(res, i, 9));
    r->transport.vehicle = PQgetvalue(res, i, 10);
    r->transport.consignment_note = PQgetvalue(res, i, 11);
    s->transport = &r->transport;
    s->border_point = PQgetvalue(res, i, 12);
    s->planned_departure = PQgetvalue(res, i, 13);
    s->planned_arrival = PQgetvalue(res, i, 14);
    s->status = exports_value(&exports_statuses, PQgetvalue(res, i, 15));
    s->version = (int32_t)col_int(res, i, 16);
    s->created_us = col_int(res, i, 17);
    s->status_us = col_int(res, i, 18);
    s->origin_territory = PQgetvalue(res, i, 19);
    s->hs_code = PQgetvalue(res, i, 20);
    s->net_weight_kg = strtod(PQgetvalue(res, i, 21), NULL);
    s->value_usd_cents = col_int(res, i, 22);
    s->value_som_tyiyn = col_int(res, i, 23);
    s->declared_us = col_int(res, i, 24);
    s->released_us = col_int(res, i, 25);
    s->departed_us = col_int(res, i, 26);
    s->delivered_us = col_int(res, i, 27);
    s->departed_via = PQgetvalue(res, i, 28);

    r->lots_json = json_loads(PQgetvalue(res, i, 29), 0, NULL);
    size_t n = json_is_array(r->lots_json) ? json_array_size(r->lots_json) : 0;
    r->lots = xcalloc(n ? n : 1, sizeof(*r->lots));
    r->lot_ptrs = xcalloc(n ? n : 1, sizeof(*r->lot_ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *a = json_array_get(r->lots_json, k);
        Ovop__V1__Lot *l = &r->lots[k];
        ovop__v1__lot__init(l);
        l->product_id = jint(a, 0);
        l->producer_id = jint(a, 1);
        l->quantity = jnum(a, 2);
        l->unit = (char *)jstr(a, 3);
        l->net_weight_kg = jnum(a, 4);
        l->value_usd_cents = jint(a, 5);
        l->value_som_tyiyn = jint(a, 6);
        l->hs_code = (char *)jstr(a, 7);
        l->product_name = (char *)jstr(a, 8);
        l->territory_code = (char *)jstr(a, 9);
        r->lot_ptrs[k] = l;
    }
    s->n_lots = n;
    s->lots = r->lot_ptrs;
    if (!full)
        return;

    r->docs_json = json_loads(PQgetvalue(res, i, N_SHIPMENT_COLUMNS), 0, NULL);
    n = json_is_array(r->docs_json) ? json_array_size(r->docs_json) : 0;
    r->docs = xcalloc(n ? n : 1, sizeof(*r->docs));
    r->doc_ptrs = xcalloc(n ? n : 1, sizeof(*r->doc_ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *a = json_array_get(r->docs_json, k);
        Ovop__V1__Document *d = &r->docs[k];
        ovop__v1__document__init(d);
        d->id = jint(a, 0);
        d->shipment_id = s->id;
        d->type = exports_value(&exports_doc_types, jstr(a, 1));
        d->number = (char *)jstr(a, 2);
        d->issuer = (char *)jstr(a, 3);
        d->issued_on = (char *)jstr(a, 4);
        d->valid_until = (char *)jstr(a, 5);
        d->status = exports_value(&exports_doc_statuses, jstr(a, 6));
        d->status_reason = (char *)jstr(a, 7);
        d->created_us = jint(a, 8);
        d->updated_us = jint(a, 9);
        r->doc_ptrs[k] = d;
    }
    s->n_documents = n;
    s->documents = r->doc_ptrs;
    s->n_required_documents = exports_parse_enum_array(PQgetvalue(res, i, N_SHIPMENT_COLUMNS + 1),
                                                       &exports_doc_types, r->required, MAX_DOCS);
    s->required_documents = (Ovop__V1__DocumentType *)r->required;
    s->n_missing_documents = exports_parse_enum_array(PQgetvalue(res, i, N_SHIPMENT_COLUMNS + 2),
                                                      &exports_doc_types, r->missing, MAX_DOCS);
    s->missing_documents = (Ovop__V1__DocumentType *)r->missing;
}

/* --- CreateShipment --- */

/* What the registry says about the request's exporter, products and crossing point, and the
 * documents the shipment will need; a new id too. */
static const char preread_sql[] =
    "SELECT nextval('exports.ids'), "
    "  CASE $1 WHEN 'producer' THEN (SELECT json_build_array(p.legal_name, p.territory_code) "
    "                                  FROM registry_api.producers p WHERE p.id = $2::bigint) "
    "          ELSE (SELECT json_build_array(c.name, c.territory_code) "
    "                  FROM registry_api.cooperatives c WHERE c.id = $2::bigint) END, "
    "  (SELECT json_object_agg(p.id, json_build_array(p.hs6, p.unit, "
    "            coalesce(nullif(p.name_en, ''), nullif(p.name_ru, ''), p.name_ky), h.origin, "
    "            pr.territory_code)) "
    "     FROM registry_api.products p JOIN registry_api.hs_codes h ON h.hs6 = p.hs6 "
    "     JOIN registry_api.producers pr ON pr.id = p.producer_id "
    "    WHERE p.id = ANY ($3::bigint[])), "
    "  coalesce((SELECT b.soate FROM exports.border_points b WHERE b.code = $4), ''), "
    "  exports.required_documents($5, ARRAY(SELECT DISTINCT h.origin "
    "      FROM registry_api.products p JOIN registry_api.hs_codes h ON h.hs6 = p.hs6 "
    "      WHERE p.id = ANY ($3::bigint[])), $6)";

typedef struct create_ctx {
    ovop_call_t *call;
    exports_t *e;
    const Ovop__V1__CreateShipmentRequest *in;
} create_ctx_t;

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
    if (!exports_name(&exports_incoterms, (int)in->incoterm)[0])
        ovop_call_violation(call, "incoterm",
                            "must be an Incoterms 2020 rule: EXW, FCA, CPT, CIP, DAP, DPU, DDP, "
                            "FAS, FOB, CFR or CIF");
    if (in->n_lots == 0 || in->n_lots > EXPORTS_MAX_LOTS)
        ovop_call_violation(call, "lots", "must list 1 to %d lots, got %zu", EXPORTS_MAX_LOTS,
                            in->n_lots);
    else
        for (size_t i = 0; i < in->n_lots; i++)
            check_lot(call, i, in->lots[i]);
    if (!in->transport || !exports_name(&exports_modes, (int)in->transport->mode)[0]) {
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

/* The lots as the create_shipment function takes them: a JSON array of arrays. */
static char *lots_param(const Ovop__V1__Lot *lots, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        char q[40], kg[40], usd[OVOP_MONEY_TEXT], som[OVOP_MONEY_TEXT];
        snprintf(q, sizeof(q), "%.3f", lots[i].quantity);
        snprintf(kg, sizeof(kg), "%.3f", lots[i].net_weight_kg);
        ovop_money_format(lots[i].value_usd_cents, usd);
        ovop_money_format(lots[i].value_som_tyiyn, som);
        json_array_append_new(a, json_pack("[IIsssss]", (json_int_t)lots[i].product_id,
                                           (json_int_t)lots[i].producer_id, q, lots[i].unit, kg,
                                           usd, som));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* With the registry's answer: builds the Shipment (reply), the goods-and-route part of
 * its events and the creation's move part, and stores them in one statement. */
static void on_preread(PGresult *res, const char *error, void *userdata)
{
    create_ctx_t *cx = userdata;
    ovop_call_t *call = cx->call;
    const Ovop__V1__CreateShipmentRequest *in = cx->in;
    json_t *exporter = NULL, *products = NULL;
    size_t n = in->n_lots;
    Ovop__V1__Lot *lots = NULL;
    Ovop__V1__Lot **lot_ptrs = NULL;
    Ovop__V1__EventItem *items = NULL;
    Ovop__V1__EventItem **item_ptrs = NULL;

    if (error) {
        ovop_call_fail_db(call, res, error);
        goto out;
    }
    int64_t id = col_int(res, 0, 0);
    exporter = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    products = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
    const char *border_soate = PQgetvalue(res, 0, 3);
    const char *kind = exports_name(&exports_exporter_kinds, (int)in->exporter->kind);
    if (!json_is_array(exporter)) {
        ovop_call_violation(call, "exporter.id", "no %s with id %lld", kind,
                            (long long)in->exporter->id);
        ovop_call_fail_violations(call);
        goto out;
    }

    /* The lots as stored: amounts rounded as the columns keep them, the rest from the
     * registry; weights in thousandths so that totals equal the database's sums. */
    lots = xcalloc(n, sizeof(*lots));
    lot_ptrs = xcalloc(n, sizeof(*lot_ptrs));
    items = xcalloc(n, sizeof(*items));
    item_ptrs = xcalloc(n, sizeof(*item_ptrs));
    long long kg_milli = 0, heaviest = -1;
    int64_t usd_cents = 0, som_tyiyn = 0;
    size_t main_lot = 0;
    for (size_t i = 0; i < n; i++) {
        const Ovop__V1__Lot *src = in->lots[i];
        char key[24];
        snprintf(key, sizeof(key), "%lld", (long long)src->product_id);
        json_t *p = json_object_get(products, key);
        if (!p) {
            char f[40];
            snprintf(f, sizeof(f), "lots[%zu].product_id", i);
            ovop_call_violation(call, f, "no product with id %lld", (long long)src->product_id);
            continue;
        }
        Ovop__V1__Lot *l = &lots[i];
        ovop__v1__lot__init(l);
        l->product_id = src->product_id;
        l->producer_id = src->producer_id;
        l->quantity = exports_round(src->quantity, 3);
        l->unit = src->unit[0] ? src->unit : (char *)jstr(p, 1);
        l->net_weight_kg = exports_round(src->net_weight_kg, 3);
        l->value_usd_cents = src->value_usd_cents;
        l->value_som_tyiyn = src->value_som_tyiyn;
        l->hs_code = (char *)jstr(p, 0);
        l->product_name = (char *)jstr(p, 2);
        l->territory_code = (char *)jstr(p, 4);
        lot_ptrs[i] = l;
        long long kg = llround(src->net_weight_kg * 1000);
        kg_milli += kg;
        usd_cents += src->value_usd_cents;
        som_tyiyn += src->value_som_tyiyn;
        if (kg > heaviest) {
            heaviest = kg;
            main_lot = i;
        }
        Ovop__V1__EventItem *it = &items[i];
        ovop__v1__event_item__init(it);
        it->product_id = l->product_id;
        it->product_name = l->product_name;
        it->hs_code = l->hs_code;
        it->quantity = l->quantity;
        it->unit = l->unit;
        it->net_weight_kg = l->net_weight_kg;
        it->value_usd_cents = l->value_usd_cents;
        it->producer_id = l->producer_id;
        it->territory_code = l->territory_code;
        item_ptrs[i] = it;
    }
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        goto out;
    }

    int64_t now = ovop_now_us();
    int required[MAX_DOCS];
    size_t n_required =
        exports_parse_enum_array(PQgetvalue(res, 0, 4), &exports_doc_types, required, MAX_DOCS);
    Ovop__V1__Shipment s = OVOP__V1__SHIPMENT__INIT;
    s.id = id;
    s.exporter = in->exporter;
    s.exporter_name = (char *)jstr(exporter, 0);
    s.buyer = in->buyer;
    s.destination = in->destination;
    s.incoterm = in->incoterm;
    s.n_lots = n;
    s.lots = lot_ptrs;
    s.transport = in->transport;
    s.border_point = in->border_point;
    s.planned_departure = in->planned_departure;
    s.planned_arrival = in->planned_arrival;
    s.status = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DRAFT;
    s.version = 1;
    s.created_us = s.status_us = now;
    s.origin_territory = (char *)jstr(exporter, 1);
    s.hs_code = lots[main_lot].hs_code;
    s.net_weight_kg = (double)kg_milli / 1000.0;
    s.value_usd_cents = usd_cents;
    s.value_som_tyiyn = som_tyiyn;
    s.n_required_documents = s.n_missing_documents = n_required;
    s.required_documents = s.missing_documents = (Ovop__V1__DocumentType *)required;

    /* The goods and route of every event of this shipment. */
    Ovop__V1__ExportEvent st = OVOP__V1__EXPORT_EVENT__INIT;
    st.exporter = in->exporter;
    st.n_what = n;
    st.what = item_ptrs;
    st.origin_soate = s.origin_territory;
    st.border_point = in->border_point;
    st.border_soate = (char *)border_soate;
    st.destination = in->destination;
    st.incoterm = in->incoterm;

    char id_s[24], exporter_id[24], at[24], uuid[37];
    snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
    snprintf(exporter_id, sizeof(exporter_id), "%lld", (long long)in->exporter->id);
    snprintf(at, sizeof(at), "%lld", (long long)now);
    ovop_uuid4(uuid);
    char *lots_json = lots_param(lots, n);
    char *stat = ovop_bytea_message(&st.base);
    char *head =
        exports_event_head(id, s.status, now, "", ovop_call_caller(call), "", "", "", NULL);
    const char *args[] = {id_s,
                          ovop_call_caller(call),
                          kind,
                          exporter_id,
                          in->buyer->name,
                          in->buyer->country,
                          in->buyer->address,
                          in->destination,
                          exports_name(&exports_incoterms, (int)in->incoterm),
                          exports_name(&exports_modes, (int)in->transport->mode),
                          in->transport->vehicle,
                          in->transport->consignment_note,
                          in->border_point,
                          in->planned_departure,
                          in->planned_arrival[0] ? in->planned_arrival : NULL,
                          lots_json,
                          at,
                          uuid,
                          head,
                          stat};
    ovop_mutate_sql(call, &cx->e->mutator,
                "SELECT * FROM exports.create_shipment($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)",
                (int)OVOP_ARRAY_SIZE(args), args, &s.base);
    free(lots_json);
    free(stat);
    free(head);
out:
    json_decref(exporter);
    json_decref(products);
    free(lots);
    free(lot_ptrs);
    free(items);
    free(item_ptrs);
    free(cx);
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
    create_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->e = e;
    cx->in = in;
    ovop_buf_t ids;
    ovop_buf_init(&ids);
    ovop_buf_puts(&ids, "{");
    for (size_t i = 0; i < in->n_lots; i++)
        ovop_buf_printf(&ids, "%s%lld", i ? "," : "", (long long)in->lots[i]->product_id);
    ovop_buf_puts(&ids, "}");
    char exporter_id[24];
    snprintf(exporter_id, sizeof(exporter_id), "%lld", (long long)in->exporter->id);
    const char *params[] = {exports_name(&exports_exporter_kinds, (int)in->exporter->kind),
                            exporter_id,
                            ids.data,
                            in->border_point,
                            in->destination,
                            exports_name(&exports_modes, (int)in->transport->mode)};
    ovop_call_query(call, e->pg, preread_sql, (int)OVOP_ARRAY_SIZE(params), params, on_preread, cx);
    ovop_buf_free(&ids);
}

/* --- GetShipment --- */

typedef struct get_ctx {
    ovop_call_t *call;
    long long id;
} get_ctx_t;

/* Answers GetShipment from its row, or NOT_FOUND. */
static void on_get(PGresult *res, int i, const char *error, void *userdata)
{
    get_ctx_t *g = userdata;
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (i < 0) {
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no shipment with id %lld", g->id);
    } else {
        shipment_row_t row;
        shipment_from_row(res, i, &row, true);
        ovop_call_finish(g->call, &row.s.base);
        shipment_row_free(&row);
    }
    free(g);
}

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
    get_ctx_t *g = xmalloc(sizeof(*g));
    g->call = call;
    g->id = (long long)in->id;
    char id[24];
    snprintf(id, sizeof(id), "%lld", g->id);
    ovop_lookup_get(e->shipment_lookup, id, on_get, g);
}

/* --- ListShipments --- */

typedef struct list_ctx {
    ovop_call_t *call;
    unsigned page_size;
} list_ctx_t;

static void shipment_decode(PGresult *res, int i, void *row)
{
    shipment_from_row(res, i, row, false);
}

static void shipment_free(void *row)
{
    shipment_row_free(row);
}

static const ovop_page_t shipment_page = {
    .response = &ovop__v1__list_shipments_response__descriptor,
    .rows = "shipments",
    .row_size = sizeof(shipment_row_t),
    .decode = shipment_decode,
    .free_row = shipment_free,
    .key = "id",
};

/* Answers a page, with a token when a further row exists. */
static void on_list(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
        free(l);
        return;
    }
    ovop_page_finish(l->call, res, l->page_size, &shipment_page);
    free(l);
}

/* The filters present become conditions with their own parameters, so each combination is
 * planned for what it asks (at most 2^7 texts, prepared per connection as they come). */
static void list_shipments(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListShipmentsRequest *in = (const Ovop__V1__ListShipmentsRequest *)input;
    exports_t *e = userdata;
    char prefix[15];
    int64_t after = 0;
    bool by_exporter = in->exporter && (in->exporter->id != 0 || in->exporter->kind != 0);
    /* UNSPECIFIED is the default, CREATED. */
    bool departed = in->date_basis == OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED;

    if (by_exporter)
        exports_check_exporter(call, "exporter", in->exporter);
    exports_check_territory_prefix(call, "territory_prefix", in->territory_prefix, prefix);
    exports_check_hs_prefix(call, "hs_prefix", in->hs_prefix);
    if (in->destination[0])
        exports_check_country(call, "destination", in->destination);
    if (in->status != 0 && !exports_name(&exports_statuses, (int)in->status)[0])
        ovop_call_violation(call, "status", "unknown status %d", (int)in->status);
    bool from_ok = exports_check_date(call, "from_date", in->from_date, false);
    bool to_ok = exports_check_date(call, "to_date", in->to_date, false);
    if (from_ok && to_ok && in->from_date[0] && in->to_date[0] &&
        strcmp(in->to_date, in->from_date) < 0)
        ovop_call_violation(call, "to_date", "%s is before from_date %s", in->to_date,
                            in->from_date);
    if (!departed && in->date_basis != OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_CREATED &&
        in->date_basis != OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_UNSPECIFIED)
        ovop_call_violation(call, "date_basis", "must be CREATED or DEPARTED (unset: CREATED)");
    unsigned page = exports_page_size(call, in->page_size);
    ovop_check_page_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }

    char exporter_id[24], after_s[24], limit[16];
    const char *params[12];
    int np = 0;
    ovop_buf_t sql;
    ovop_buf_init(&sql);
    ovop_buf_puts(&sql, "SELECT " SHIPMENT_COLUMNS " FROM exports.shipments s WHERE ");
    const char *date_col = departed ? "s.departed_at" : "s.created_at";
    if (by_exporter) {
        snprintf(exporter_id, sizeof(exporter_id), "%lld", (long long)in->exporter->id);
        params[np++] = exports_name(&exports_exporter_kinds, (int)in->exporter->kind);
        params[np++] = exporter_id;
        ovop_buf_printf(&sql, "s.exporter_kind = $%d AND s.exporter_id = $%d::bigint AND ", np - 1,
                        np);
    }
    if (prefix[0]) {
        params[np++] = prefix;
        ovop_buf_printf(&sql, "s.origin_territory LIKE $%d || '%%' AND ", np);
    }
    if (in->hs_prefix[0]) {
        params[np++] = in->hs_prefix;
        ovop_buf_printf(&sql,
                        "EXISTS (SELECT 1 FROM exports.lots l WHERE l.shipment_id = s.id "
                        "AND l.hs6 LIKE $%d || '%%') AND ",
                        np);
    }
    if (in->destination[0]) {
        params[np++] = in->destination;
        ovop_buf_printf(&sql, "s.destination = $%d AND ", np);
    }
    if (in->status) {
        params[np++] = exports_name(&exports_statuses, (int)in->status);
        ovop_buf_printf(&sql, "s.status = $%d AND ", np);
    }
    if (departed)
        ovop_buf_puts(&sql, "s.departed_at IS NOT NULL AND ");
    if (in->from_date[0]) {
        params[np++] = in->from_date;
        ovop_buf_printf(&sql, "%s >= ($%d::date::timestamp AT TIME ZONE 'Asia/Bishkek') AND ",
                        date_col, np);
    }
    if (in->to_date[0]) {
        params[np++] = in->to_date;
        ovop_buf_printf(&sql, "%s < (($%d::date + 1)::timestamp AT TIME ZONE 'Asia/Bishkek') AND ",
                        date_col, np);
    }
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    params[np++] = after_s;
    params[np++] = limit;
    ovop_buf_printf(&sql, "s.id > $%d::bigint ORDER BY s.id LIMIT $%d::int", np - 1, np);

    list_ctx_t *l = xmalloc(sizeof(*l));
    l->call = call;
    l->page_size = page;
    ovop_call_query(call, e->pg, sql.data, np, params, on_list, l);
    ovop_buf_free(&sql);
}

/* --- GetShipmentHistory --- */

static const char history_sql[] =
    "SELECT h.version, coalesce(h.from_status, ''), h.to_status, exports.us_of(h.at), "
    "       exports.us_of(h.recorded_at), h.caller, h.agency, h.reason, h.reference, "
    "       coalesce(h.border_point, ''), h.request_id, h.event_id::text "
    "  FROM exports.shipment_history h "
    " WHERE h.shipment_id = $1::bigint AND h.version > $2::int "
    " ORDER BY h.version LIMIT $3::int";

typedef struct history_ctx {
    ovop_call_t *call;
    long long id;
    unsigned page_size;
    bool first_page;
} history_ctx_t;

static void history_decode(PGresult *res, int i, void *row)
{
    Ovop__V1__HistoryEntry *x = row;
    ovop__v1__history_entry__init(x);
    x->version = (int32_t)col_int(res, i, 0);
    x->from_status = exports_value(&exports_statuses, PQgetvalue(res, i, 1));
    x->to_status = exports_value(&exports_statuses, PQgetvalue(res, i, 2));
    x->at_us = col_int(res, i, 3);
    x->recorded_us = col_int(res, i, 4);
    x->caller = PQgetvalue(res, i, 5);
    x->agency = PQgetvalue(res, i, 6);
    x->reason = PQgetvalue(res, i, 7);
    x->reference = PQgetvalue(res, i, 8);
    x->border_point = PQgetvalue(res, i, 9);
    x->request_id = PQgetvalue(res, i, 10);
    x->event_id = PQgetvalue(res, i, 11);
}

static const ovop_page_t history_page = {
    .response = &ovop__v1__shipment_history__descriptor,
    .rows = "entries",
    .row_size = sizeof(Ovop__V1__HistoryEntry),
    .decode = history_decode,
    .free_row = NULL,
    .key = "version",
};

/* Answers a page of history, or NOT_FOUND when the first page is empty. */
static void on_history(PGresult *res, const char *error, void *userdata)
{
    history_ctx_t *h = userdata;
    if (error) {
        ovop_call_fail_db(h->call, res, error);
        free(h);
        return;
    }
    int n = PQntuples(res);
    if (n == 0 && h->first_page) {
        /* Every shipment has its creation in the history. */
        ovop_call_fail(h->call, OVOP_NOT_FOUND, "no shipment with id %lld", h->id);
        free(h);
        return;
    }
    ovop_page_finish(h->call, res, h->page_size, &history_page);
    free(h);
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
    history_ctx_t *h = xmalloc(sizeof(*h));
    h->call = call;
    h->id = (long long)in->shipment_id;
    h->page_size = page;
    h->first_page = !in->page_token[0];
    char id[24], after_s[24], limit[16];
    snprintf(id, sizeof(id), "%lld", h->id);
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {id, after_s, limit};
    ovop_call_query(call, e->pg, history_sql, 3, params, on_history, h);
}

static const ovop_method_t methods[] = {
    {"CreateShipment", create_shipment, NULL},
    {"GetShipment", get_shipment, NULL},
    {"ListShipments", list_shipments, NULL},
    {"GetShipmentHistory", get_history, NULL},
};

void exports_shipments_register(exports_t *e)
{
    ovop_lookup_new(&e->shipment_lookup, ovop_daemon_loop(e->d), e->pg, get_sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
