/* MatchOrder: the order read, its candidates taken from the index (with the reasons producers
 * are excluded), their reservations by other orders read from PostgreSQL, the allocation
 * solved (alloc.h), and the proposal recorded by matching.propose, which checks it again under
 * per-product locks: when another instance took the capacity meanwhile (CAPACITY_TAKEN), the
 * whole computation runs again with fresh reservations, up to --match-retries times. The order
 * and the reservations come in one statement. */
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
#include "util.h"

/* Exclusion reasons, indexed as ShortfallReason. */
#define N_REASONS 10

typedef struct match_ctx {
    ovop_call_t *call;
    matchd_t *m;
    int64_t id;
    int32_t expected_version;
    unsigned attempts;
    Ovop__V1__Order *o;
    /* candidates of this attempt */
    mx_product_t **cands;
    double *window_cap; /* capacity in the window */
    size_t n;
    int excluded[N_REASONS];
    size_t any;      /* products of the HS code, category and unit */
    size_t eligible; /* of those, not excluded (before capacity) */
} match_ctx_t;

static void start(void *ctx);

static bool has_cert(const mx_product_t *p, const char *name)
{
    char key[40];
    snprintf(key, sizeof(key), ",%s,", name);
    return strstr(p->certs, key) != NULL;
}

/* 0 when p may fill o, else the ShortfallReason excluding it. */
static int exclusion(const Ovop__V1__Order *o, const mx_product_t *p, int32_t to_day,
                     const int months[12], int all_months, double *ret_cap)
{
    if (p->status != 'a')
        return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_PRODUCER_SUSPENDED;
    for (size_t i = 0; i < o->n_certifications; i++)
        if (!has_cert(p, o->certifications[i]))
            return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_CERTIFIED_PRODUCER;
    if (o->min_stars > 0) {
        bool enough = false, current = false;
        for (size_t i = 0; i < p->n_ovop; i++)
            if (p->ovop[i].active && p->ovop[i].stars >= o->min_stars) {
                enough = true;
                current |= p->ovop[i].expires_day >= to_day;
            }
        if (!enough)
            return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_BELOW_MIN_STARS;
        if (!current)
            return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CERTIFICATE_EXPIRED;
    }
    if (o->price_ceiling_cents && p->price_cents > o->price_ceiling_cents)
        return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_ABOVE_PRICE_CEILING;
    if (!p->located)
        return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_LOCATION;
    /* All year (most products): no need to walk the months. */
    *ret_cap = p->season ? mx_window_capacity(p, months) : p->cap_month * all_months;
    if (*ret_cap <= 0)
        return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_OUT_OF_SEASON;
    return 0;
}

/* The per-candidate arrays of one order, kept by the daemon and grown to the largest HS code
 * seen: gather, reserved_of and solve use them synchronously within one callback (the loop
 * runs one at a time), and nothing of them outlives it (line_of copies what the reply keeps). */
typedef struct match_scratch {
    size_t cap;
    mx_product_t **cands;
    double *window_cap, *reserved;
    match_cand_t *mc;
} match_scratch_t;

static match_scratch_t *scratch_for(matchd_t *m, size_t n)
{
    if (!m->scratch)
        m->scratch = xcalloc(1, sizeof(*m->scratch));
    match_scratch_t *s = m->scratch;
    if (n + 1 > s->cap) {
        s->cap = n + 1;
        s->cands = xrealloc(s->cands, s->cap * sizeof(*s->cands));
        s->window_cap = xrealloc(s->window_cap, s->cap * sizeof(*s->window_cap));
        s->reserved = xrealloc(s->reserved, s->cap * sizeof(*s->reserved));
        s->mc = xrealloc(s->mc, s->cap * sizeof(*s->mc));
    }
    return s;
}

void matchd_match_free(matchd_t *m)
{
    match_scratch_t *s = m->scratch;
    if (!s)
        return;
    free(s->cands);
    free(s->window_cap);
    free(s->reserved);
    free(s->mc);
    free(s);
    m->scratch = NULL;
}

static void gather(match_ctx_t *cx)
{
    const Ovop__V1__Order *o = cx->o;
    size_t n;
    mx_product_t *const *all = mx_index_hs(cx->m->index, o->hs_code, &n);
    match_scratch_t *sc = scratch_for(cx->m, n);
    cx->cands = sc->cands;
    cx->window_cap = sc->window_cap;
    cx->n = cx->any = 0;
    memset(cx->excluded, 0, sizeof(cx->excluded));
    int32_t to_day = mx_day(o->window_to);
    int months[12];
    mx_window_months(o->window_from, o->window_to, months);
    int all_months = 0;
    for (int m = 0; m < 12; m++)
        all_months += months[m];
    size_t ulen = strlen(o->unit);
    bool short_unit = ulen > 0 && ulen < sizeof(all[0]->unit_key);
    for (size_t i = 0; i < n; i++) {
        const mx_product_t *p = all[i];
        if (short_unit ? strcmp(p->unit_key, o->unit) != 0 : strcmp(p->unit, o->unit) != 0)
            continue;
        if (o->category[0] && strcmp(p->category, o->category) != 0)
            continue;
        cx->any++;
        double cap = 0;
        int why = exclusion(o, p, to_day, months, all_months, &cap);
        if (why) {
            cx->excluded[why]++;
            continue;
        }
        cx->window_cap[cx->n] = cap;
        cx->cands[cx->n++] = (mx_product_t *)p;
    }
    cx->eligible = cx->n;
}

/* v with at most 3 decimals and no trailing zeros, in the call's arena. */
static const char *amount(ovop_call_t *call, double v)
{
    char *s = ovop_call_printf(call, "%.3f", v);
    char *end = s + strlen(s) - 1;
    while (end > s && *end == '0')
        *end-- = '\0';
    if (*end == '.')
        *end = '\0';
    return s;
}

static const char *reason_text(int r)
{
    return ovop_enum_text(&ovop__v1__shortfall_reason__descriptor, r);
}

static const char *reason_words(int r)
{
    switch (r) {
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_PRODUCER_SUSPENDED:
        return "the producer is suspended or closed";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_CERTIFIED_PRODUCER:
        return "a required certification is missing";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_BELOW_MIN_STARS:
        return "no active OVOP certificate with enough stars";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CERTIFICATE_EXPIRED:
        return "the OVOP certificate expires before the delivery window ends";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_ABOVE_PRICE_CEILING:
        return "the price is above the ceiling";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_LOCATION:
        return "no coordinates for the producer's village";
    case OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_OUT_OF_SEASON:
        return "no season month in the delivery window";
    default:
        return "excluded";
    }
}

static Ovop__V1__Shortfall *shortfall(ovop_call_t *call, int reason, double qty, int producers,
                                      const char *msg)
{
    Ovop__V1__Shortfall *s =
        (Ovop__V1__Shortfall *)ovop_call_message(call, &ovop__v1__shortfall__descriptor);
    s->reason = reason;
    s->quantity = qty;
    s->producers = producers;
    s->message = ovop_call_strdup(call, msg);
    return s;
}

/* The shortfalls of a fill of `filled` out of the order: the exclusions, then what is
 * missing; and the main reason (what a refusal names). */
static int explain(match_ctx_t *cx, double filled, double free_total)
{
    ovop_call_t *call = cx->call;
    Ovop__V1__Order *o = cx->o;
    double missing = o->quantity - filled;
    o->shortfalls = ovop_call_alloc(call, (N_REASONS + 1) * sizeof(*o->shortfalls));
    o->n_shortfalls = 0;
    int main = OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CAPACITY_SHORT, most = 0;
    if (cx->any == 0) {
        o->shortfalls[o->n_shortfalls++] = shortfall(
            call, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_PRODUCER, missing, 0,
            ovop_call_printf(call, "no registered producer makes %s%s%s in %s", o->hs_code,
                             o->category[0] ? " of category " : "", o->category, o->unit));
        return OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_NO_PRODUCER;
    }
    for (int r = 1; r < N_REASONS; r++) {
        if (!cx->excluded[r])
            continue;
        o->shortfalls[o->n_shortfalls++] =
            shortfall(call, r, 0, cx->excluded[r],
                      ovop_call_printf(call, "%d producer%s excluded: %s", cx->excluded[r],
                                       cx->excluded[r] == 1 ? "" : "s", reason_words(r)));
        if (cx->eligible == 0 && cx->excluded[r] > most) {
            most = cx->excluded[r];
            main = r;
        }
    }
    o->shortfalls[o->n_shortfalls++] = shortfall(
        call, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CAPACITY_SHORT, missing, (int)cx->n,
        ovop_call_printf(call,
                         "capacity short by %s %s: %zu of %zu eligible producers have %s %s "
                         "free in %s..%s%s",
                         amount(call, missing), o->unit, cx->n, cx->eligible,
                         amount(call, free_total), o->unit, o->window_from, o->window_to,
                         cx->n < cx->eligible ? " (the rest is promised to other orders)" : ""));
    return main;
}

static void refuse(match_ctx_t *cx, int main)
{
    Ovop__V1__Order *o = cx->o;
    ovop_buf_t b;
    ovop_buf_init(&b);
    for (size_t i = 0; i < o->n_shortfalls; i++)
        ovop_buf_printf(&b, "%s%s", i ? "; " : "", o->shortfalls[i]->message);
    char reason[48];
    snprintf(reason, sizeof(reason), "%s", reason_text(main));
    for (char *p = reason; *p; p++)
        *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    for (size_t i = 0; i < o->n_shortfalls; i++)
        ovop_call_meta(cx->call, reason_text((int)o->shortfalls[i]->reason), "%.3f",
                       o->shortfalls[i]->quantity);
    ovop_call_fail_reason(cx->call, OVOP_FAILED_PRECONDITION, reason, "order %lld cannot be %s: %s",
                          (long long)o->id, o->allow_partial ? "filled at all" : "filled whole",
                          b.data);
    ovop_buf_free(&b);
}

static char *lines_json(match_ctx_t *cx)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "[");
    for (size_t i = 0; i < cx->o->n_lines; i++) {
        const Ovop__V1__AllocationLine *l = cx->o->lines[i];
        json_t *j = json_pack(
            "{sIsIsfsfsIsIsssssI}", "producer_id", (json_int_t)l->producer_id, "product_id",
            (json_int_t)l->product_id, "quantity", l->quantity, "km", l->km, "transport_cost_cents",
            (json_int_t)l->transport_cost_cents, "coordination_cost_cents",
            (json_int_t)l->coordination_cost_cents, "territory_code", l->territory_code,
            "producer_name", l->producer_name, "unit_price_cents", (json_int_t)l->unit_price_cents);
        char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
        ovop_buf_printf(&b, "%s%s", i ? "," : "", s);
        free(s);
        json_decref(j);
    }
    ovop_buf_puts(&b, "]");
    char *s = ovop_call_strdup(cx->call, b.data);
    ovop_buf_free(&b);
    return s;
}

static char *shortfalls_json(match_ctx_t *cx)
{
    json_t *a = json_array();
    for (size_t i = 0; i < cx->o->n_shortfalls; i++) {
        const Ovop__V1__Shortfall *s = cx->o->shortfalls[i];
        json_array_append_new(a, json_pack("{sssfsiss}", "reason", reason_text((int)s->reason),
                                           "quantity", s->quantity, "producers", s->producers,
                                           "message", s->message));
    }
    char *t = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(a);
    char *s = ovop_call_strdup(cx->call, t);
    free(t);
    return s;
}

static void record(match_ctx_t *cx, const char *version)
{
    ovop_call_t *call = cx->call;
    Ovop__V1__Order *o = cx->o;
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)o->id)},
        {"p_version", version},
        {"p_lines", lines_json(cx)},
        {"p_filled", ovop_call_printf(call, "%.3f", o->filled)},
        {"p_total_cost_cents", ovop_call_printf(call, "%lld", (long long)o->total_cost_cents)},
        {"p_cooperative_id", ovop_call_printf(call, "%lld", (long long)o->cooperative_id)},
        {"p_shortfalls", shortfalls_json(cx)},
        {"p_valid_seconds", ovop_call_printf(call, "%lld", (long long)cx->m->valid_seconds)},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)o->proposed_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &o->base)},
    };
    matchd_mutate(call, cx->m, "matching.propose", args, OVOP_ARRAY_SIZE(args), &o->base, start,
                  cx);
}

static Ovop__V1__AllocationLine *line_of(match_ctx_t *cx, const match_line_t *l,
                                         const match_cand_t *cands)
{
    const mx_product_t *p = cx->cands[l->cand];
    Ovop__V1__AllocationLine *a = (Ovop__V1__AllocationLine *)ovop_call_message(
        cx->call, &ovop__v1__allocation_line__descriptor);
    a->producer_id = cands[l->cand].producer_id;
    a->product_id = cands[l->cand].product_id;
    a->quantity = round(l->quantity * 1000) / 1000;
    a->km = round(l->km * 10) / 10;
    a->transport_cost_cents = llround(l->transport_cost);
    a->coordination_cost_cents = llround(l->coord_cost);
    a->territory_code = ovop_call_strdup(cx->call, p->territory);
    a->producer_name = ovop_call_strdup(cx->call, p->name);
    a->unit_price_cents = p->price_cents;
    return a;
}

/* The candidates' free capacities known: solve, then record or refuse. */
static void solve(match_ctx_t *cx, const double *reserved)
{
    Ovop__V1__Order *o = cx->o;
    match_cand_t *cands = cx->m->scratch->mc;
    size_t k = 0;
    double free_total = 0;
    for (size_t i = 0; i < cx->n; i++) {
        const mx_product_t *p = cx->cands[i];
        double cap = floor((cx->window_cap[i] - reserved[i]) * 1000 + 1e-6) / 1000;
        if (cap <= 0)
            continue;
        cx->cands[k] = cx->cands[i];
        cands[k++] =
            (match_cand_t){p->producer_id, p->id, p->lat, p->lon, cap, p->coops, p->n_coops};
        free_total += cap;
    }
    cx->n = k;
    match_problem_t pr = {o->quantity,
                          o->consolidation->lat,
                          o->consolidation->lon,
                          cx->m->rate_cents,
                          cx->m->coord_cents,
                          cx->m->coop_discount,
                          o->allow_partial,
                          cands,
                          k};
    match_solution_t s = {0};
    int r = k ? match_solve(&pr, &s) : -ENOSPC;
    if (r < 0 && r != -ENOSPC) {
        log_error_rid(ovop_call_request_id(cx->call), "match_solve: %s", strerror(-r));
        match_solution_free(&s);
        ovop_call_fail_internal(cx->call);
        return;
    }
    o->n_lines = s.n_lines;
    o->lines = ovop_call_alloc(cx->call, (s.n_lines + 1) * sizeof(*o->lines));
    o->filled = 0;
    o->total_cost_cents = 0;
    for (size_t i = 0; i < s.n_lines; i++) {
        o->lines[i] = line_of(cx, &s.lines[i], cands);
        o->filled += o->lines[i]->quantity;
        o->total_cost_cents +=
            o->lines[i]->transport_cost_cents + o->lines[i]->coordination_cost_cents;
    }
    o->cooperative_id = s.coop_id;
    match_solution_free(&s);
    o->n_shortfalls = 0;
    if (r == -ENOSPC) {
        int main = explain(cx, o->filled, free_total);
        if (!o->allow_partial || o->n_lines == 0) {
            refuse(cx, main);
            return;
        }
    }
    const char *version = ovop_call_printf(cx->call, "%d", o->version);
    o->status = OVOP__V1__ORDER_STATUS__ORDER_STATUS_PROPOSED;
    o->version++;
    o->proposed_us = ovop_now_us();
    o->expires_us = o->proposed_us + cx->m->valid_seconds * 1000000;
    int64_t window_end = ((int64_t)mx_day(o->window_to) + 1 + 10957) * 86400 * INT64_C(1000000);
    if (o->expires_us > window_end)
        o->expires_us = window_end;
    o->status_reason = "";
    record(cx, version);
}

/* The order with the reservations other orders hold of its HS code in its window, by
 * product: one statement (few rows: only reserved products). */
static const ovop_read_t order_and_reserved = {
    .sql = "SELECT " ORDER_COLUMNS ", "
           "(SELECT coalesce(json_agg(json_build_array(x.product_id, x.q)), '[]') "
           "   FROM (SELECT r.product_id, sum(r.quantity)::float8 AS q "
           "           FROM matching.reservations r "
           "          WHERE r.held AND r.hs6 = o.hs6 AND r.order_id <> o.id "
           "            AND r.window_from <= o.window_to AND r.window_to >= o.window_from "
           "          GROUP BY r.product_id) x) AS reserved "
           "FROM matching.orders o WHERE o.id = $1::bigint",
    .row = &ovop__v1__order__descriptor,
    .noun = "order with id",
};

typedef struct held {
    int64_t product_id;
    double quantity;
} held_t;

static int cmp_held(const void *a, const void *b)
{
    int64_t x = ((const held_t *)a)->product_id, y = ((const held_t *)b)->product_id;
    return x < y ? -1 : x > y;
}

/* The reserved quantity of each candidate, from the JSON [[product_id, quantity], ...]: the
 * few reserved products sorted, each candidate looked up among them (sorting the thousands of
 * candidates instead cost more than the whole solver). */
static double *reserved_of(match_ctx_t *cx, const char *json)
{
    double *reserved = cx->m->scratch->reserved;
    memset(reserved, 0, (cx->n + 1) * sizeof(*reserved));
    json_t *a = json_loads(json, 0, NULL);
    size_t nh = json_array_size(a);
    if (!nh) {
        json_decref(a);
        return reserved;
    }
    held_t *h = ovop_call_alloc(cx->call, nh * sizeof(*h));
    size_t k;
    json_t *e;
    json_array_foreach(a, k, e)
    {
        h[k] = (held_t){(int64_t)json_integer_value(json_array_get(e, 0)),
                        json_number_value(json_array_get(e, 1))};
    }
    json_decref(a);
    qsort(h, nh, sizeof(*h), cmp_held);
    for (size_t i = 0; i < cx->n; i++) {
        held_t key = {cx->cands[i]->id, 0};
        const held_t *hit = bsearch(&key, h, nh, sizeof(*h), cmp_held);
        if (hit)
            reserved[i] = hit->quantity;
    }
    return reserved;
}

static void on_order(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    match_ctx_t *cx = userdata;
    Ovop__V1__Order *o = cx->o = (Ovop__V1__Order *)row;
    if (cx->expected_version && o->version != cx->expected_version) {
        ovop_call_fail_reason(call, OVOP_ABORTED, "VERSION_MISMATCH",
                              "order %lld is at version %d, not %d", (long long)o->id, o->version,
                              cx->expected_version);
        return;
    }
    if (o->status != OVOP__V1__ORDER_STATUS__ORDER_STATUS_OPEN &&
        o->status != OVOP__V1__ORDER_STATUS__ORDER_STATUS_PROPOSED) {
        ovop_call_fail_reason(call, OVOP_FAILED_PRECONDITION, "ORDER_STATUS",
                              "order %lld is %s; only an open or proposed order is matched",
                              (long long)o->id,
                              ovop_enum_text(&ovop__v1__order_status__descriptor, (int)o->status));
        return;
    }
    gather(cx);
    solve(cx, reserved_of(cx, ovop_pg_value(res, 0, "reserved")));
}

static void start(void *ctx)
{
    match_ctx_t *cx = ctx;
    if (cx->attempts++ > cx->m->match_retries) {
        ovop_call_fail_reason(cx->call, OVOP_ABORTED, "CAPACITY_TAKEN",
                              "order %lld: other orders kept taking the capacity of this "
                              "allocation (%u attempts); match it again",
                              (long long)cx->id, cx->attempts - 1);
        return;
    }
    const char *key = ovop_call_printf(cx->call, "%lld", (long long)cx->id);
    ovop_read_then(cx->call, cx->m->pg, &order_and_reserved, key, 1, &key, on_order, cx);
}

void matchd_match_order(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    matchd_t *m = userdata;
    const Ovop__V1__MatchOrderRequest *in = (const Ovop__V1__MatchOrderRequest *)input;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be an order id");
        ovop_call_fail_violations(call);
        return;
    }
    if (!mx_index_stats(m->index).ready) {
        ovop_call_fail_reason(call, OVOP_UNAVAILABLE, "INDEX_LOADING",
                              "the producers' index is still loading; try again");
        return;
    }
    match_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx =
        (match_ctx_t){.call = call, .m = m, .id = in->id, .expected_version = in->expected_version};
    start(cx);
}
