/* Export orders: creation, reads, matching (allocation from the index and the reservations in
 * PostgreSQL, recorded by matching.propose under per-product locks), acceptance and rejection.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "check.h"
#include "dbcall.h"
#include "log.h"
#include "matchd.h"
#include "pbrow.h"
#include "read.h"
#include "util.h"

#define MAX_QUANTITY 1e12
#define MAX_CERTS    10
#define MAX_PAGE     500
#define DEFAULT_PAGE 50
#define CONVENTIONAL 5

static const ovop_read_t order_read = {
    .sql = "SELECT " ORDER_COLUMNS " FROM matching.orders o WHERE o.id = $1::bigint",
    .row = &ovop__v1__order__descriptor,
    .noun = "order with id",
};

static const ovop_read_t order_list = {
    .page = {.response = &ovop__v1__list_orders_response__descriptor,
             .rows = "orders",
             .key = "id"},
};

static char *num(ovop_call_t *call, int64_t v)
{
    return ovop_call_printf(call, "%lld", (long long)v);
}

static char *dbl(ovop_call_t *call, double v)
{
    return ovop_call_printf(call, "%.17g", v);
}

/* --- the mutation convention, with a look at refusals before they finish the call --- */

typedef struct mq {
    ovop_call_t *call;
    matchd_t *m;
    const char *sql;
    const char **params;
    int n, attempts;
    /* Called instead of finishing on a CAPACITY_TAKEN refusal (may be NULL). */
    void (*on_taken)(void *ctx);
    void *ctx;
    bool kick_ship; /* after an accepted order */
} mq_t;

static void mq_send(mq_t *q);

static void mq_done(PGresult *res, const char *error, void *userdata)
{
    mq_t *q = userdata;
    ovop_call_t *call = q->call;
    if (error && ovop_db_retryable(res) && ++q->attempts < 3 && !ovop_call_expired(call)) {
        mq_send(q);
        return;
    }
    matchd_t *m = q->m;
    mq_t copy = *q;
    free(q);
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    const char *outcome = ovop_pg_value(res, 0, "outcome");
    if (copy.on_taken && strcmp(outcome, "stale") == 0 &&
        strcmp(ovop_pg_value(res, 0, "reason"), "CAPACITY_TAKEN") == 0) {
        copy.on_taken(copy.ctx);
        return;
    }
    bool ok = strcmp(outcome, "ok") == 0;
    /* No kick of the sequencer per change: under load that is one numbering transaction per
     * order; its timer numbers them in batches within --sequencer-ms. */
    ovop_mutation_finish(call, res, 0, NULL);
    if (ok && copy.kick_ship)
        matchd_ship_kick(m);
}

static void mq_send(mq_t *q)
{
    ovop_call_query(q->call, q->m->pg, q->sql, q->n, q->params, mq_done, q);
}

/* As ovop_mutate (mutation.h), with the hooks of mq_t. */
static void mutate(ovop_call_t *call, matchd_t *m, const char *function, const ovop_arg_t *args,
                   size_t n_args, const ProtobufCMessage *output, mq_t hooks)
{
    static const char *const conventional[CONVENTIONAL] = {"p_service", "p_request_id", "p_method",
                                                           "p_fp", "p_reply"};
    char fp[17];
    size_t len;
    uint8_t *reply = ovop_call_encode_ok(call, output, &len);
    char *hex = ovop_bytea_hex(reply, len);
    free(reply);
    ovop_call_fingerprint(call, fp);
    int n = CONVENTIONAL + (int)n_args;
    const char **params = ovop_call_alloc(call, (size_t)(n + 2) * sizeof(char *));
    const Ovop__V1__Principal *who = ovop_call_principal(call);
    params[0] = MATCHING_SERVICE;
    params[1] = ovop_call_request_id(call);
    params[2] = ovop_call_method(call);
    params[3] = ovop_call_strdup(call, fp);
    params[4] = ovop_call_strdup(call, hex);
    params[n] = who->id;
    params[n + 1] = who->territory;
    free(hex);
    ovop_buf_t sql;
    ovop_buf_init(&sql);
    ovop_buf_printf(&sql,
                    "SELECT f.* FROM bus.act($%d, $%d, $1) AS a(service), LATERAL %s(p_service => "
                    "a.service",
                    n + 1, n + 2, function);
    for (int i = 1; i < n; i++) {
        const char *name = i < CONVENTIONAL ? conventional[i] : args[i - CONVENTIONAL].name;
        ovop_buf_printf(&sql, ", %s => $%d", name, i + 1);
        if (i >= CONVENTIONAL)
            params[i] = args[i - CONVENTIONAL].value;
    }
    ovop_buf_puts(&sql, ") f");
    mq_t *q = xcalloc(1, sizeof(*q));
    *q = hooks;
    q->call = call;
    q->m = m;
    q->sql = ovop_call_strdup(call, sql.data);
    q->params = params;
    q->n = n + 2;
    ovop_buf_free(&sql);
    mq_send(q);
}

/* --- CreateOrder --- */

static bool country_ok(const char *c)
{
    return strlen(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z';
}

static bool cert_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* The first reason set wins: the status names the first problem. */
static void reason_once(ovop_call_t *call, bool *set, const char *reason)
{
    if (!*set)
        ovop_call_reason(call, reason);
    *set = true;
}

static void check_window(ovop_call_t *call, const Ovop__V1__Order *o, bool *rs)
{
    bool from_ok = ovop_date_valid(o->window_from), to_ok = ovop_date_valid(o->window_to);
    if (!from_ok)
        ovop_call_violation(call, "order.window_from", "must be a date written YYYY-MM-DD");
    if (!to_ok)
        ovop_call_violation(call, "order.window_to", "must be a date written YYYY-MM-DD");
    if (from_ok && to_ok && strcmp(o->window_to, o->window_from) < 0) {
        reason_once(call, rs, "EMPTY_WINDOW");
        ovop_call_violation(call, "order.window_to",
                            "the delivery window is empty: %s is before %s", o->window_to,
                            o->window_from);
    }
}

static void check_certs(ovop_call_t *call, const Ovop__V1__Order *o)
{
    if (o->n_certifications > MAX_CERTS)
        ovop_call_violation(call, "order.certifications", "at most %d, got %zu", MAX_CERTS,
                            o->n_certifications);
    for (size_t i = 0; i < o->n_certifications && i < MAX_CERTS; i++)
        if (!cert_name_ok(o->certifications[i]))
            ovop_call_violation(call, ovop_call_printf(call, "order.certifications[%zu]", i),
                                "must be 1 to 32 of a-z, 0-9, '_' and '-' (e.g. organic)");
}

/* Where the lots meet: a known territory's coordinates, or coordinates given. */
static void check_point(ovop_call_t *call, matchd_t *m, Ovop__V1__ConsolidationPoint *c, bool *rs)
{
    const char *name;
    if (!c || (!c->territory_code[0] && c->lat == 0 && c->lon == 0)) {
        reason_once(call, rs, "UNKNOWN_CONSOLIDATION_POINT");
        ovop_call_violation(call, "order.consolidation",
                            "is required: a SOATE territory code or coordinates");
        return;
    }
    ovop_check_text(call, "order.consolidation.name", c->name, 200, false);
    if (c->territory_code[0]) {
        if (!mx_index_place(m->index, c->territory_code, &c->lat, &c->lon, &name)) {
            reason_once(call, rs, "UNKNOWN_CONSOLIDATION_POINT");
            ovop_call_violation(call, "order.consolidation.territory_code",
                                "no current territory %s with coordinates", c->territory_code);
        } else if (!c->name[0]) {
            c->name = ovop_call_strdup(call, name);
        }
    } else if (!isfinite(c->lat) || !isfinite(c->lon) || fabs(c->lat) > 90 || fabs(c->lon) > 180) {
        reason_once(call, rs, "UNKNOWN_CONSOLIDATION_POINT");
        ovop_call_violation(call, "order.consolidation",
                            "lat must be within -90..90 and lon "
                            "within -180..180");
    }
}

static void check_order(ovop_call_t *call, matchd_t *m, Ovop__V1__Order *o)
{
    bool rs = false;
    if (!o->buyer || !ovop_check_text(call, "order.buyer.name", o->buyer->name, 300, true)) {
        if (!o->buyer)
            ovop_call_violation(call, "order.buyer", "is required");
    } else {
        if (!country_ok(o->buyer->country))
            ovop_call_violation(call, "order.buyer.country", "must be an ISO 3166-1 alpha-2 code");
        ovop_check_text(call, "order.buyer.address", o->buyer->address, 500, false);
    }
    if (!country_ok(o->destination))
        ovop_call_violation(call, "order.destination", "must be an ISO 3166-1 alpha-2 code");
    const char *unit = NULL;
    if (strlen(o->hs_code) != 6 || !ovop_all_digits(o->hs_code, 6)) {
        reason_once(call, &rs, "UNKNOWN_HS_CODE");
        ovop_call_violation(call, "order.hs_code", "must be 6 digits");
    } else if (!(unit = mx_index_hs_unit(m->index, o->hs_code))) {
        reason_once(call, &rs, "UNKNOWN_HS_CODE");
        ovop_call_violation(call, "order.hs_code", "no HS code %s in the registry", o->hs_code);
    }
    ovop_check_text(call, "order.category", o->category, 100, false);
    if (!(o->quantity > 0) || !isfinite(o->quantity) || o->quantity > MAX_QUANTITY) {
        reason_once(call, &rs, "INVALID_QUANTITY");
        ovop_call_violation(call, "order.quantity", "must be positive and at most 1e12, got %g",
                            o->quantity);
    }
    if (unit && !o->unit[0])
        o->unit = (char *)unit;
    else if (unit && strcmp(o->unit, unit) != 0)
        ovop_call_violation(call, "order.unit", "HS code %s is counted in %s, not %s", o->hs_code,
                            unit, o->unit);
    if (o->min_stars < 0 || o->min_stars > 5)
        ovop_call_violation(call, "order.min_stars", "must be 0 (any) to 5");
    check_certs(call, o);
    check_window(call, o, &rs);
    check_point(call, m, o->consolidation, &rs);
    if (o->price_ceiling_cents < 0)
        ovop_call_violation(call, "order.price_ceiling_cents", "must be 0 (none) or positive");
}

static char *text_array(ovop_call_t *call, char **items, size_t n)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        ovop_buf_printf(&b, "%s\"%s\"", i ? "," : "", items[i]); /* checked: a-z0-9_- */
    ovop_buf_puts(&b, "}");
    char *s = ovop_call_strdup(call, b.data);
    ovop_buf_free(&b);
    return s;
}

typedef struct create_ctx {
    ovop_call_t *call;
    matchd_t *m;
    Ovop__V1__Order *o;
} create_ctx_t;

static void on_new_id(PGresult *res, const char *error, void *userdata)
{
    create_ctx_t *cx = userdata;
    ovop_call_t *call = cx->call;
    Ovop__V1__Order *o = cx->o;
    matchd_t *m = cx->m;
    free(cx);
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    o->id = strtoll(ovop_pg_value(res, 0, "id"), NULL, 10);
    o->status = OVOP__V1__ORDER_STATUS__ORDER_STATUS_OPEN;
    o->version = 1;
    o->created_by = (char *)ovop_call_principal(call)->id;
    o->created_us = ovop_now_us();
    const Ovop__V1__ConsolidationPoint *c = o->consolidation;
    const ovop_arg_t args[] = {
        {"p_id", num(call, o->id)},
        {"p_buyer_name", o->buyer->name},
        {"p_buyer_country", o->buyer->country},
        {"p_buyer_address", o->buyer->address},
        {"p_destination", o->destination},
        {"p_hs6", o->hs_code},
        {"p_category", o->category},
        {"p_quantity", dbl(call, o->quantity)},
        {"p_unit", o->unit},
        {"p_min_stars", num(call, o->min_stars)},
        {"p_certifications", text_array(call, o->certifications, o->n_certifications)},
        {"p_window_from", o->window_from},
        {"p_window_to", o->window_to},
        {"p_cons_territory", c->territory_code},
        {"p_cons_lat", dbl(call, c->lat)},
        {"p_cons_lon", dbl(call, c->lon)},
        {"p_cons_name", c->name},
        {"p_price_ceiling_cents", num(call, o->price_ceiling_cents)},
        {"p_allow_partial", o->allow_partial ? "true" : "false"},
        {"p_at_us", num(call, o->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &o->base)},
    };
    mutate(call, m, "matching.create_order", args, OVOP_ARRAY_SIZE(args), &o->base, (mq_t){0});
}

static void create_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    matchd_t *m = userdata;
    const Ovop__V1__CreateOrderRequest *in = (const Ovop__V1__CreateOrderRequest *)input;
    if (!mx_index_stats(m->index).ready) {
        ovop_call_fail_reason(call, OVOP_UNAVAILABLE, "INDEX_LOADING",
                              "the producers' index is still loading; try again");
        return;
    }
    if (!in->order) {
        ovop_call_violation(call, "order", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    /* The order as stored: the request's, without what the service fills. */
    Ovop__V1__Order *o = (Ovop__V1__Order *)ovop_call_message(call, &ovop__v1__order__descriptor);
    *o = *in->order;
    o->n_lines = o->n_shortfalls = 0;
    o->filled = 0;
    o->total_cost_cents = o->cooperative_id = o->shipment_id = 0;
    o->proposed_us = o->expires_us = 0;
    o->accepted_by = o->status_reason = o->created_by = "";
    if (o->consolidation) {
        Ovop__V1__ConsolidationPoint *c = (Ovop__V1__ConsolidationPoint *)ovop_call_message(
            call, &ovop__v1__consolidation_point__descriptor);
        *c = *o->consolidation;
        o->consolidation = c;
    }
    check_order(call, m, o);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    create_ctx_t *cx = xcalloc(1, sizeof(*cx));
    *cx = (create_ctx_t){call, m, o};
    ovop_call_query(call, m->pg, "SELECT nextval('matching.order_ids') AS id", 0, NULL, on_new_id,
                    cx);
}

/* --- GetOrder, ListOrders --- */

static void get_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    matchd_t *m = userdata;
    const Ovop__V1__GetOrderRequest *in = (const Ovop__V1__GetOrderRequest *)input;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be an order id");
        ovop_call_fail_violations(call);
        return;
    }
    const char *key = num(call, in->id);
    ovop_read_one(call, m->pg, &order_read, key, 1, &key);
}

static void list_orders(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    matchd_t *m = userdata;
    const Ovop__V1__ListOrdersRequest *in = (const Ovop__V1__ListOrdersRequest *)input;
    int64_t after = 0;
    unsigned page = ovop_check_page_size(call, (unsigned)(in->page_size < 0 ? 0 : in->page_size),
                                         DEFAULT_PAGE, MAX_PAGE);
    if (in->page_size < 0)
        ovop_call_violation(call, "page_size", "must not be negative");
    ovop_check_page_token(call, in->page_token, &after);
    if (in->hs_code[0] && (strlen(in->hs_code) != 6 || !ovop_all_digits(in->hs_code, 6)))
        ovop_call_violation(call, "hs_code", "must be 6 digits or empty");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    ovop_filter_t f;
    ovop_filter_init(&f, "SELECT " ORDER_COLUMNS " FROM matching.orders o WHERE ");
    if (in->status)
        ovop_filter_add(&f, "o.status = ", " AND ",
                        ovop_enum_text(&ovop__v1__order_status__descriptor, (int)in->status));
    if (in->hs_code[0])
        ovop_filter_add(&f, "o.hs6 = ", " AND ", in->hs_code);
    ovop_filter_add(&f, "o.id > ", "::bigint ", num(call, after));
    ovop_filter_add(&f, "ORDER BY o.id LIMIT ", "::int", ovop_call_printf(call, "%u", page + 1));
    const char *sql = ovop_filter_sql(call, &f);
    ovop_read_page(call, m->pg, &order_list, sql, f.n, f.params, page);
}

/* --- RejectOrder and AcceptOrder: read, build the new state, store --- */

typedef struct decide_ctx {
    matchd_t *m;
    const Ovop__V1__AcceptOrderRequest *accept; /* NULL: reject */
    const Ovop__V1__RejectOrderRequest *reject;
    int32_t expected_version;
} decide_ctx_t;

static void on_decide_read(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *ud)
{
    decide_ctx_t *cx = ud;
    Ovop__V1__Order *o = (Ovop__V1__Order *)row;
    /* The version and status are checked by matching.decide after its replay lookup, so that
     * a retry of an acceptance that went through gets its first reply rather than a refusal
     * about the state it made. The version it checks: the client's, or the one read here (the
     * reply is built from it). */
    const char *version = num(call, cx->expected_version ? cx->expected_version : o->version);
    o->version++;
    const char *accept_hex = NULL, *reason = "";
    if (cx->accept) {
        o->status = OVOP__V1__ORDER_STATUS__ORDER_STATUS_ACCEPTED;
        o->accepted_by = (char *)ovop_call_principal(call)->id;
        accept_hex = ovop_call_bytea(call, &cx->accept->base);
    } else {
        o->status = OVOP__V1__ORDER_STATUS__ORDER_STATUS_REJECTED;
        reason = cx->reject->reason;
    }
    o->status_reason = (char *)reason;
    const ovop_arg_t args[] = {
        {"p_id", num(call, o->id)},
        {"p_version", version},
        {"p_accept", accept_hex},
        {"p_reason", reason},
        {"p_at_us", num(call, ovop_now_us())},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &o->base)},
    };
    mutate(call, cx->m, "matching.decide", args, OVOP_ARRAY_SIZE(args), &o->base,
           (mq_t){.kick_ship = cx->accept != NULL});
}

static void read_for_decide(ovop_call_t *call, matchd_t *m, int64_t id, decide_ctx_t *cx)
{
    const char *key = num(call, id);
    decide_ctx_t *c = ovop_call_alloc(call, sizeof(*c));
    *c = *cx;
    c->m = m;
    ovop_read_then(call, m->pg, &order_read, key, 1, &key, on_decide_read, c);
}

static void check_accept(ovop_call_t *call, const Ovop__V1__AcceptOrderRequest *in)
{
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be an order id");
    if (!in->exporter || in->exporter->id <= 0 || !in->exporter->kind)
        ovop_call_violation(call, "exporter", "is required: a producer or cooperative and its id");
    if (!in->incoterm)
        ovop_call_violation(call, "incoterm", "is required");
    if (!in->transport || !in->transport->mode)
        ovop_call_violation(call, "transport.mode", "is required");
    if (strncmp(in->border_point, "KG-", 3) != 0)
        ovop_call_violation(call, "border_point", "is required: a crossing point code KG-...");
    if (!ovop_date_valid(in->planned_departure))
        ovop_call_violation(call, "planned_departure", "must be a date written YYYY-MM-DD");
    if (!(in->kg_per_unit >= 0) || !isfinite(in->kg_per_unit) || in->kg_per_unit > 1e6)
        ovop_call_violation(call, "kg_per_unit", "must be 0 (unit kg) or a positive weight");
}

static void accept_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AcceptOrderRequest *in = (const Ovop__V1__AcceptOrderRequest *)input;
    check_accept(call, in);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    read_for_decide(call, userdata, in->id,
                    &(decide_ctx_t){.accept = in, .expected_version = in->expected_version});
}

static void reject_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RejectOrderRequest *in = (const Ovop__V1__RejectOrderRequest *)input;
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be an order id");
    ovop_check_text(call, "reason", in->reason, 500, true);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    read_for_decide(call, userdata, in->id,
                    &(decide_ctx_t){.reject = in, .expected_version = in->expected_version});
}

/* --- MatchOrder (the allocation itself is in match.c) --- */

void matchd_match_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata);

void matchd_orders_register(matchd_t *m)
{
    static const ovop_method_t methods[] = {
        {"CreateOrder", create_order}, {"GetOrder", get_order},
        {"ListOrders", list_orders},   {"MatchOrder", matchd_match_order},
        {"AcceptOrder", accept_order}, {"RejectOrder", reject_order},
    };
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(m->d), methods, m);
}

/* Shared with match.c. */
void matchd_mutate(ovop_call_t *call, matchd_t *m, const char *function, const ovop_arg_t *args,
                   size_t n_args, const ProtobufCMessage *output, void (*on_taken)(void *),
                   void *ctx)
{
    mutate(call, m, function, args, n_args, output, (mq_t){.on_taken = on_taken, .ctx = ctx});
}
