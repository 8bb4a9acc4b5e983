/* Moves of the shipment lifecycle: TransitionShipment (one, exports.record_move) and
 * RecordShipmentEvents (a batch, all or nothing, exports.record_moves). Each request is one
 * statement without a read before it: the reply (TransitionResult) and the per-request part
 * of each event are built here from the request alone; the database checks each move with
 * the same function (exports.move_problem). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exports.h"
#include "log.h"

static const char move_sql[] =
    "SELECT * FROM exports.record_move($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14, $15, $16, $17)";
static const char moves_sql[] =
    "SELECT * FROM exports.record_moves($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14, $15, $16, $17)";

/* Writes a moment as 2026-11-27T05:36:52Z into out. */
static void format_us(int64_t us, char out[static 32])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* True for the moves that must say why (CANCELLED, REJECTED, RETURNED). */
static bool needs_reason(int to)
{
    return to == OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_CANCELLED ||
           to == OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_REJECTED ||
           to == OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_RETURNED;
}

/* Checks one move; fields are named prefix + name ("transitions[3].to"). */
static void check_move(ovop_call_t *call, const char *prefix, const Ovop__V1__ShipmentTransition *t,
                       int64_t now)
{
    char f[96];
#define FIELD(name) (snprintf(f, sizeof(f), "%s%s", prefix, name), f)
    if (t->shipment_id <= 0)
        ovop_call_violation(call, FIELD("shipment_id"), "must be a shipment id, got %lld",
                            (long long)t->shipment_id);
    if (t->to < OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED ||
        !exports_name(&exports_statuses, (int)t->to)[0])
        ovop_call_violation(call, FIELD("to"),
                            "must be one of DECLARED, DOCUMENTS_COMPLETE, RELEASED, DEPARTED, "
                            "DELIVERED, CANCELLED, REJECTED, RETURNED");
    if (t->at_us < 0) {
        ovop_call_violation(call, FIELD("at_us"),
                            "must be microseconds since 1970 (or 0 for now), got %lld",
                            (long long)t->at_us);
    } else if (t->at_us > now + EXPORTS_CLOCK_SKEW_US) {
        char at[32], nw[32];
        format_us(t->at_us, at);
        format_us(now, nw);
        ovop_call_violation(call, FIELD("at_us"),
                            "%s is in the future (now %s): a move records what happened", at, nw);
    }
    exports_check_agency(call, FIELD("agency"), t->agency);
    ovop_check_text(call, FIELD("reason"), t->reason, 500, needs_reason((int)t->to));
    ovop_check_text(call, FIELD("reference"), t->reference, 100, false);
    if (exports_check_border_point(call, FIELD("border_point"), t->border_point) &&
        t->border_point[0] && t->to != OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED)
        ovop_call_violation(call, FIELD("border_point"),
                            "only a move to DEPARTED names a crossing point");
    if (t->expected_version < 0)
        ovop_call_violation(call, FIELD("expected_version"),
                            "must be the version you read, or 0 for none; got %d",
                            t->expected_version);
#undef FIELD
}

/* The parameters of exports.record_moves for a list of moves, and the results to reply. */
typedef struct moves {
    ovop_buf_t ids, to, at, agency, reason, reference, border, expected, event_ids, types, heads;
    Ovop__V1__TransitionResult *results;
    Ovop__V1__TransitionResult **result_ptrs;
    char (*uuids)[37];
    size_t n;
} moves_t;

/* Fills m with the arrays of moves (at 0 becomes now) and their results. */
static void moves_build(moves_t *m, ovop_call_t *call, Ovop__V1__ShipmentTransition *const *items,
                        size_t n, int64_t now)
{
    ovop_buf_t *arrays[] = {&m->ids,       &m->to,        &m->at,     &m->agency,
                            &m->reason,    &m->reference, &m->border, &m->expected,
                            &m->event_ids, &m->types,     &m->heads};
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(arrays); k++) {
        ovop_buf_init(arrays[k]);
        ovop_buf_puts(arrays[k], "{");
    }
    m->n = n;
    m->results = xcalloc(n, sizeof(*m->results));
    m->result_ptrs = xcalloc(n, sizeof(*m->result_ptrs));
    m->uuids = xcalloc(n, sizeof(*m->uuids));
    for (size_t i = 0; i < n; i++) {
        const Ovop__V1__ShipmentTransition *t = items[i];
        int64_t at = t->at_us ? t->at_us : now;
        char num[32], type[64];
        ovop_uuid4(m->uuids[i]);
        snprintf(num, sizeof(num), "%lld", (long long)t->shipment_id);
        exports_array_add(&m->ids, num);
        exports_array_add(&m->to, exports_name(&exports_statuses, (int)t->to));
        snprintf(num, sizeof(num), "%lld", (long long)at);
        exports_array_add(&m->at, num);
        exports_array_add(&m->agency, t->agency);
        exports_array_add(&m->reason, t->reason);
        exports_array_add(&m->reference, t->reference);
        exports_array_add(&m->border, t->border_point);
        snprintf(num, sizeof(num), "%d", t->expected_version);
        exports_array_add(&m->expected, num);
        exports_array_add(&m->event_ids, m->uuids[i]);
        snprintf(type, sizeof(type), "ovop.exports.shipment.%s",
                 exports_move_kind((int)t->to)->type);
        exports_array_add(&m->types, type);
        char *head =
            exports_event_head(t->shipment_id, (int)t->to, at, t->agency, ovop_call_caller(call),
                               t->reason, t->reference, t->border_point, NULL);
        exports_array_add(&m->heads, head);
        free(head);

        Ovop__V1__TransitionResult *r = &m->results[i];
        ovop__v1__transition_result__init(r);
        r->shipment_id = t->shipment_id;
        r->status = t->to;
        r->version = t->expected_version ? t->expected_version + 1 : 0;
        r->at_us = at;
        r->event_id = m->uuids[i];
        m->result_ptrs[i] = r;
    }
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(arrays); k++)
        ovop_buf_puts(arrays[k], "}");
}

/* Frees what moves_build allocated. */
static void moves_free(moves_t *m)
{
    ovop_buf_t *arrays[] = {&m->ids,       &m->to,        &m->at,     &m->agency,
                            &m->reason,    &m->reference, &m->border, &m->expected,
                            &m->event_ids, &m->types,     &m->heads};
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(arrays); k++)
        ovop_buf_free(arrays[k]);
    free(m->results);
    free(m->result_ptrs);
    free(m->uuids);
}

/* The arguments of exports.record_moves after the five conventional ones. */
static void moves_args(const moves_t *m, ovop_call_t *call, const char *args[static 12])
{
    args[0] = ovop_call_caller(call);
    args[1] = m->ids.data;
    args[2] = m->to.data;
    args[3] = m->at.data;
    args[4] = m->agency.data;
    args[5] = m->reason.data;
    args[6] = m->reference.data;
    args[7] = m->border.data;
    args[8] = m->expected.data;
    args[9] = m->event_ids.data;
    args[10] = m->types.data;
    args[11] = m->heads.data;
}

/* --- TransitionShipment --- */

static void transition_shipment(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ShipmentTransition *in = (const Ovop__V1__ShipmentTransition *)input;
    exports_t *e = userdata;
    int64_t now = ovop_now_us();
    check_move(call, "", in, now);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    int64_t at = in->at_us ? in->at_us : now;
    char id[24], at_s[24], expected[16], type[64], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)in->shipment_id);
    snprintf(at_s, sizeof(at_s), "%lld", (long long)at);
    snprintf(expected, sizeof(expected), "%d", in->expected_version);
    snprintf(type, sizeof(type), "ovop.exports.shipment.%s", exports_move_kind((int)in->to)->type);
    ovop_uuid4(uuid);
    char *head =
        exports_event_head(in->shipment_id, (int)in->to, at, in->agency, ovop_call_caller(call),
                           in->reason, in->reference, in->border_point, NULL);
    Ovop__V1__TransitionResult r = OVOP__V1__TRANSITION_RESULT__INIT;
    r.shipment_id = in->shipment_id;
    r.status = in->to;
    r.version = in->expected_version ? in->expected_version + 1 : 0;
    r.at_us = at;
    r.event_id = uuid;
    const char *args[] = {ovop_call_caller(call),
                          id,
                          exports_name(&exports_statuses, (int)in->to),
                          at_s,
                          in->agency,
                          in->reason,
                          in->reference,
                          in->border_point,
                          expected,
                          uuid,
                          type,
                          head};
    /* The outcomes (not_found, stale, precondition, invalid) are the convention's. */
    ovop_mutate(call, &e->mutator, move_sql, (int)OVOP_ARRAY_SIZE(args), args, &r.base);
    free(head);
}

/* --- RecordShipmentEvents --- */

typedef struct batch_ctx {
    ovop_call_t *call;
    ovop_sequencer_t *sequencer;
    size_t n;
} batch_ctx_t;

/* Like ovop_mutate's, but a refusal lists every bad move (column 5: [[field, message]...]). */
static void on_batch(PGresult *res, const char *error, void *userdata)
{
    batch_ctx_t *b = userdata;
    ovop_call_t *call = b->call;
    if (error) {
        ovop_mutation_fail_db(call, res, error);
        goto out;
    }
    if (PQntuples(res) != 1 || PQnfields(res) < 5) {
        log_error_rid(ovop_call_request_id(call), "record_moves returned %d rows of %d columns",
                      PQntuples(res), PQnfields(res));
        ovop_call_fail(call, OVOP_INTERNAL, "the mutation returned an unexpected result");
        goto out;
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "ok") == 0 || strcmp(outcome, "replay") == 0) {
        size_t len = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1), &len);
        if (!raw) {
            ovop_call_fail(call, OVOP_INTERNAL, "could not read the stored reply");
            goto out;
        }
        void *reply = xmemdup(raw, len);
        PQfreemem(raw);
        if (outcome[0] == 'o')
            ovop_sequencer_kick(b->sequencer);
        ovop_call_finish_encoded(call, reply, len);
        goto out;
    }
    json_t *problems = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
    size_t n = json_is_array(problems) ? json_array_size(problems) : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(problems, i);
        ovop_call_violation(call, json_string_value(json_array_get(p, 0)) ?: "transitions", "%s",
                            json_string_value(json_array_get(p, 1)) ?: "refused");
    }
    json_decref(problems);
    const char *message = PQgetvalue(res, 0, 3);
    ovop_code_t code = strcmp(outcome, "not_found") == 0 ? OVOP_NOT_FOUND
                       : strcmp(outcome, "invalid") == 0 ? OVOP_INVALID_ARGUMENT
                                                         : OVOP_FAILED_PRECONDITION;
    ovop_call_fail(call, code, "%zu of %zu transitions refused, none recorded; first: %s: %s", n,
                   b->n, PQgetvalue(res, 0, 2), message);
out:
    free(b);
}

/* RecordShipmentEvents: every move checked here first (all violations listed), then
 * one statement for the batch; a refusal there lists every bad move too (on_batch). */
static void record_events(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RecordShipmentEventsRequest *in =
        (const Ovop__V1__RecordShipmentEventsRequest *)input;
    exports_t *e = userdata;
    int64_t now = ovop_now_us();
    if (in->n_transitions == 0 || in->n_transitions > e->batch_max) {
        ovop_call_violation(call, "transitions", "must hold 1 to %u transitions, got %zu",
                            e->batch_max, in->n_transitions);
        ovop_call_fail_violations(call);
        return;
    }
    for (size_t i = 0; i < in->n_transitions; i++) {
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "transitions[%zu].", i);
        check_move(call, prefix, in->transitions[i], now);
    }
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }

    moves_t m;
    moves_build(&m, call, in->transitions, in->n_transitions, now);
    Ovop__V1__RecordShipmentEventsResponse out = OVOP__V1__RECORD_SHIPMENT_EVENTS_RESPONSE__INIT;
    out.n_results = m.n;
    out.results = m.result_ptrs;

    char fingerprint[17];
    size_t len;
    uint8_t *reply = ovop_call_encode_ok(call, &out.base, &len);
    char *reply_hex = ovop_bytea_hex(reply, len);
    free(reply);
    ovop_call_fingerprint(call, fingerprint);
    const char *params[17] = {EXPORTS_SERVICE, ovop_call_request_id(call), ovop_call_method(call),
                              fingerprint, reply_hex};
    moves_args(&m, call, params + 5);

    batch_ctx_t *b = xmalloc(sizeof(*b));
    b->call = call;
    b->sequencer = e->sequencer;
    b->n = m.n;
    ovop_pg_query(e->pg, moves_sql, 17, params, on_batch, b);
    free(reply_hex);
    moves_free(&m);
}

void exports_moves_register(exports_t *e)
{
    ovop_dispatch_t *d = ovop_daemon_dispatch(e->d);
    ovop_dispatch_register(d, "TransitionShipment", transition_shipment, e);
    ovop_dispatch_register(d, "RecordShipmentEvents", record_events, e);
}
