/* Moves of the shipment lifecycle: TransitionShipment (one move) and RecordShipmentEvents (a
 * batch, all or nothing). Each request becomes a "group" of moves, with its reply
 * (TransitionResult, or the batch's results) and the per-request part of each event built
 * here from the request alone. Groups wait in a queue; whenever a lane is free
 * (--move-lanes), the single moves queued by the end of the loop turn go to the database
 * together in one call of exports.apply_transitions: one transaction and one commit for all,
 * each request with its own outcome (a refused one does not hold back the others; the
 * reasons of refusals come from a second statement, exports.move_refusals). A batch goes
 * alone to exports.apply_moves. Under load the coalescing is where the throughput comes
 * from; an idle service sends each request on its own at once. A move is recorded under the
 * principal's agency, never the request's (authority.c checks both before anything is
 * queued). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exports.h"
#include "log.h"
#include "util.h"

/* A statement per kind: single moves of many requests, a batch, and the reasons of the single
 * moves that apply_transitions did not make. */
static const char transitions_sql[] =
    "SELECT * FROM exports.apply_transitions($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
    "$13, $14, $15, $16)";
static const char batch_sql[] =
    "SELECT * FROM exports.apply_moves($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
    "$14, $15, $16, $17, $18)";
static const char refusals_sql[] =
    "SELECT * FROM exports.move_refusals($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/* How often a single move whose shipment kept changing under it is tried again. */
#define MOVE_ATTEMPTS 3

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

/* Checks one move; fields are named prefix + name ("transitions[3].to"). Its agency is
 * checked before (exports_authorize_moves): the move is recorded under the principal's. */
static void check_move(ovop_call_t *call, const char *prefix, const Ovop__V1__ShipmentTransition *t,
                       int64_t now)
{
    char f[96];
#define FIELD(name) (snprintf(f, sizeof(f), "%s%s", prefix, name), f)
    if (t->shipment_id <= 0)
        ovop_call_violation(call, FIELD("shipment_id"), "must be a shipment id, got %lld",
                            (long long)t->shipment_id);
    if (t->to < OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED ||
        !ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)t->to)[0])
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

/* The array elements of one move, in exports.apply_moves' order. */
enum {
    F_ID,
    F_TO,
    F_AT,
    F_AGENCY,
    F_REASON,
    F_REFERENCE,
    F_BORDER,
    F_EXPECTED,
    F_EVENT_ID,
    F_TYPE,
    F_HEAD,
    MOVE_FIELDS
};

/* One request waiting for, or in, a statement. */
struct exports_group {
    exports_group_t *next;
    ovop_call_t *call;
    bool batch;      /* RecordShipmentEvents: problems are named transitions[i].field */
    bool alone;      /* after its statement failed as a whole: retried in one of its own */
    int attempts;    /* statements it was in without being answered */
    size_t n;        /* moves */
    int64_t *ids;    /* the shipments it moves */
    char **fields;   /* n * MOVE_FIELDS strings */
    char *reply_hex; /* the reply when it succeeds, as bytea text */
    char fingerprint[17];
};

typedef enum { STMT_TRANSITIONS, STMT_BATCH, STMT_REFUSALS } stmt_kind_t;

/* A statement out: its kind and groups, in order (group g is row grp = g + 1). */
typedef struct applied {
    exports_t *e;
    stmt_kind_t kind;
    exports_group_t **groups;
    size_t n;
} applied_t;

static void group_free(exports_group_t *g)
{
    for (size_t i = 0; i < g->n * MOVE_FIELDS; i++)
        free(g->fields[i]);
    free(g->fields);
    free(g->ids);
    free(g->reply_hex);
    free(g);
}

/* A group for the moves of call (checked), filling results[i] (TransitionResult of move i:
 * the event ids point into the group). The reply is encoded by the caller once the results
 * are complete (group_seal). */
static exports_group_t *group_new(ovop_call_t *call, bool batch,
                                  Ovop__V1__ShipmentTransition *const *items, size_t n, int64_t now,
                                  Ovop__V1__TransitionResult *results)
{
    exports_group_t *g = xcalloc(1, sizeof(*g));
    g->call = call;
    g->batch = batch;
    g->n = n;
    g->ids = xcalloc(n, sizeof(*g->ids));
    g->fields = xcalloc(n * MOVE_FIELDS, sizeof(char *));
    /* Never the request's field: that one is the principal's or empty (authority.c). */
    const char *agency = exports_agency(call);
    for (size_t i = 0; i < n; i++) {
        const Ovop__V1__ShipmentTransition *t = items[i];
        char **f = g->fields + i * MOVE_FIELDS;
        int64_t at = t->at_us ? t->at_us : now;
        char uuid[37], type[64];
        ovop_uuid4(uuid);
        snprintf(type, sizeof(type), "ovop.exports.shipment.%s",
                 exports_move_kind((int)t->to)->type);
        g->ids[i] = t->shipment_id;
        f[F_ID] = xasprintf("%lld", (long long)t->shipment_id);
        f[F_TO] = xstrdup(ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)t->to));
        f[F_AT] = xasprintf("%lld", (long long)at);
        f[F_AGENCY] = xstrdup(agency);
        f[F_REASON] = xstrdup(t->reason);
        f[F_REFERENCE] = xstrdup(t->reference);
        f[F_BORDER] = xstrdup(t->border_point);
        f[F_EXPECTED] = xasprintf("%d", t->expected_version);
        f[F_EVENT_ID] = xstrdup(uuid);
        f[F_TYPE] = xstrdup(type);
        f[F_HEAD] =
            exports_event_head(t->shipment_id, (int)t->to, at, agency, ovop_call_caller(call),
                               t->reason, t->reference, t->border_point, NULL);

        Ovop__V1__TransitionResult *r = &results[i];
        ovop__v1__transition_result__init(r);
        r->shipment_id = t->shipment_id;
        r->status = t->to;
        r->version = t->expected_version ? t->expected_version + 1 : 0;
        r->at_us = at;
        r->event_id = f[F_EVENT_ID];
    }
    return g;
}

/* Stores the reply the group answers with when it succeeds, and its fingerprint. */
static void group_seal(exports_group_t *g, const ProtobufCMessage *reply)
{
    size_t len;
    uint8_t *raw = ovop_call_encode_ok(g->call, reply, &len);
    g->reply_hex = ovop_bytea_hex(raw, len);
    free(raw);
    ovop_call_fingerprint(g->call, g->fingerprint);
}

static void enqueue(exports_t *e, exports_group_t *g, bool front);
static void on_moves_check(uv_check_t *h);
static bool lane_wanted(const exports_t *e);
static void on_applied(PGresult *res, const char *error, void *userdata);

/* --- finishing a group from its row: (outcome, reply, field, message, grp, problems) --- */

/* A refused batch: every refused move as a violation, the first one's outcome as status. */
static void fail_batch(exports_group_t *g, PGresult *res, int row, const char *outcome,
                       const char *field, const char *message, const char *problems_json)
{
    json_t *problems = json_loads(problems_json, 0, NULL);
    size_t n = json_is_array(problems) ? json_array_size(problems) : 0;
    long long first_bad = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(problems, i);
        /* A batch has a statement of its own: move indexes are the request's. */
        long long idx = (long long)json_integer_value(json_array_get(p, 0));
        if (first_bad < 0)
            first_bad = idx;
        char name[96];
        snprintf(name, sizeof(name), "transitions[%lld].%s", idx,
                 json_string_value(json_array_get(p, 1)) ?: "to");
        ovop_call_violation(g->call, name, "%s",
                            json_string_value(json_array_get(p, 2)) ?: "refused");
    }
    json_decref(problems);
    ovop_mutation_explain(g->call, res, row);
    ovop_call_fail(g->call, ovop_mutation_status(outcome),
                   "%zu of %zu transitions refused, none recorded; first: "
                   "transitions[%lld].%s: %s",
                   n, g->n, first_bad, field, message);
}

static void finish_group(exports_t *e, exports_group_t *g, PGresult *res, int row)
{
    const char *outcome = ovop_pg_value(res, row, "outcome");
    const char *problems = ovop_pg_value(res, row, "problems");
    if (g->batch && problems[0])
        fail_batch(g, res, row, outcome, ovop_pg_value(res, row, "field"),
                   ovop_pg_value(res, row, "message"), problems);
    else
        /* A batch's numbering is worth a kick; single moves wait for the sequencer's timer
         * (one numbering transaction per move would double the work under load). */
        ovop_mutation_finish(g->call, res, row, g->batch ? e->sequencer : NULL);
}

/* --- statements --- */

/* The columns of a statement's arrays: per group, then per move (the F_ fields). */
enum { C_METHOD = MOVE_FIELDS, C_REQUEST, C_FP, C_REPLY, C_CALLER, C_GROUP };

/* Sends a statement of kind over a's groups: the service, then one array per column. */
static void send_arrays(exports_t *e, applied_t *a, const char *sql, const int *cols, size_t n_cols)
{
    ovop_buf_t arrays[24];
    const char *params[25];
    params[0] = EXPORTS_SERVICE;
    for (size_t k = 0; k < n_cols; k++) {
        ovop_buf_init(&arrays[k]);
        ovop_buf_puts(&arrays[k], "{");
    }
    for (size_t i = 0; i < a->n; i++) {
        exports_group_t *g = a->groups[i];
        char num[24];
        snprintf(num, sizeof(num), "%zu", i + 1);
        for (size_t k = 0; k < n_cols; k++) {
            switch (cols[k]) {
            case C_METHOD:
                exports_array_add(&arrays[k], ovop_call_method(g->call));
                break;
            case C_REQUEST:
                exports_array_add(&arrays[k], ovop_call_request_id(g->call));
                break;
            case C_FP:
                exports_array_add(&arrays[k], g->fingerprint);
                break;
            case C_REPLY:
                exports_array_add(&arrays[k], g->reply_hex);
                break;
            case C_CALLER:
                exports_array_add(&arrays[k], ovop_call_caller(g->call));
                break;
            case C_GROUP:
                for (size_t m = 0; m < g->n; m++)
                    exports_array_add(&arrays[k], num);
                break;
            default:
                for (size_t m = 0; m < g->n; m++)
                    exports_array_add(&arrays[k], g->fields[m * MOVE_FIELDS + (size_t)cols[k]]);
            }
        }
    }
    for (size_t k = 0; k < n_cols; k++) {
        ovop_buf_puts(&arrays[k], "}");
        params[k + 1] = arrays[k].data;
    }
    ovop_pg_query(e->pg, sql, (int)n_cols + 1, params, on_applied, a);
    for (size_t k = 0; k < n_cols; k++)
        ovop_buf_free(&arrays[k]);
}

static void send_kind(exports_t *e, applied_t *a)
{
    static const int transitions[] = {C_REQUEST, C_FP,       C_REPLY,    C_CALLER, F_ID,
                                      F_TO,      F_AT,       F_AGENCY,   F_REASON, F_REFERENCE,
                                      F_BORDER,  F_EXPECTED, F_EVENT_ID, F_TYPE,   F_HEAD};
    static const int batch[] = {C_METHOD, C_REQUEST,  C_FP,       C_REPLY,  C_CALLER, C_GROUP,
                                F_ID,     F_TO,       F_AT,       F_AGENCY, F_REASON, F_REFERENCE,
                                F_BORDER, F_EXPECTED, F_EVENT_ID, F_TYPE,   F_HEAD};
    static const int refusals[] = {C_REQUEST, C_FP,     F_ID,     F_TO,
                                   F_AT,      F_AGENCY, F_BORDER, F_EXPECTED};
    ovop_metric_inc(e->move_statements[a->kind]);
    if (a->kind != STMT_REFUSALS) /* a second look at requests counted already */
        ovop_metric_observe(e->move_requests, (double)a->n);
    switch (a->kind) {
    case STMT_TRANSITIONS:
        send_arrays(e, a, transitions_sql, transitions, OVOP_ARRAY_SIZE(transitions));
        break;
    case STMT_BATCH:
        send_arrays(e, a, batch_sql, batch, OVOP_ARRAY_SIZE(batch));
        break;
    case STMT_REFUSALS:
        send_arrays(e, a, refusals_sql, refusals, OVOP_ARRAY_SIZE(refusals));
        break;
    }
}

static applied_t *applied_new(exports_t *e, stmt_kind_t kind, size_t cap)
{
    applied_t *a = xcalloc(1, sizeof(*a));
    a->e = e;
    a->kind = kind;
    a->groups = xcalloc(cap ? cap : 1, sizeof(*a->groups));
    return a;
}

/* Handles the rows of a statement: finishes the groups answered, sends the single moves that
 * were not made to exports.move_refusals, and queues again those it found nothing against. */
static void on_rows(exports_t *e, applied_t *a, PGresult *res)
{
    applied_t *check = applied_new(e, STMT_REFUSALS, a->n);
    bool *answered = xcalloc(a->n, sizeof(bool));
    int rows = PQntuples(res);
    for (int r = 0; r < rows && PQnfields(res) >= 5; r++) {
        long gi = strtol(PQgetvalue(res, r, 4), NULL, 10);
        if (gi < 1 || (size_t)gi > a->n || answered[gi - 1])
            continue;
        exports_group_t *g = a->groups[gi - 1];
        const char *outcome = PQgetvalue(res, r, 0);
        answered[gi - 1] = true;
        if (strcmp(outcome, "check") == 0) {
            check->groups[check->n++] = g;
        } else if (strcmp(outcome, "none") == 0 && ++g->attempts < MOVE_ATTEMPTS) {
            enqueue(e, g, true);
        } else if (strcmp(outcome, "none") == 0) {
            ovop_call_fail(g->call, OVOP_ABORTED,
                           "shipment %lld kept changing under the move, retry",
                           (long long)g->ids[0]);
            group_free(g);
        } else {
            finish_group(e, g, res, r);
            group_free(g);
        }
    }
    for (size_t i = 0; i < a->n; i++) {
        if (answered[i])
            continue;
        log_error_rid(ovop_call_request_id(a->groups[i]->call),
                      "a statement of moves returned no row for request %zu of %zu", i + 1, a->n);
        ovop_call_fail(a->groups[i]->call, OVOP_INTERNAL,
                       "the mutation returned an unexpected result");
        group_free(a->groups[i]);
    }
    free(answered);
    if (check->n > 0) {
        send_kind(e, check);
    } else {
        free(check->groups);
        free(check);
    }
}

static void on_applied(PGresult *res, const char *error, void *userdata)
{
    applied_t *a = userdata;
    exports_t *e = a->e;
    if (a->kind != STMT_REFUSALS)
        e->lanes_busy--;
    if (error && a->n > 1) {
        /* One request broke the statement for all (a retried twin committing first, a lock
         * timeout...): each goes again in a statement of its own, to get its own answer. */
        log_warn("a statement of %zu requests failed, retrying each alone: %s", a->n, error);
        for (size_t i = a->n; i-- > 0;) {
            a->groups[i]->alone = true;
            enqueue(e, a->groups[i], true);
        }
    } else if (error) {
        ovop_call_fail_db(a->groups[0]->call, res, error);
        group_free(a->groups[0]);
    } else {
        on_rows(e, a, res);
    }
    free(a->groups);
    free(a);
    if (lane_wanted(e) && !e->moves_stopped)
        uv_check_start(&e->moves_check, on_moves_check);
}

/* --- the queue --- */

/* A set of shipment ids (open addressing; ids are > 0, 0 marks a free slot). */
typedef struct id_set {
    int64_t *slots;
    size_t mask;
} id_set_t;

static bool id_set_has(const id_set_t *s, int64_t id)
{
    for (size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u) & s->mask;;
         i = (i + 1) & s->mask) {
        if (s->slots[i] == id)
            return true;
        if (s->slots[i] == 0)
            return false;
    }
}

static void id_set_add(id_set_t *s, int64_t id)
{
    size_t i = (size_t)((uint64_t)id * 0x9E3779B97F4A7C15u) & s->mask;
    while (s->slots[i] != 0 && s->slots[i] != id)
        i = (i + 1) & s->mask;
    s->slots[i] = id;
}

/* True when g moves a shipment that set already holds, or twice itself. A batch may move
 * one shipment several times (a chain); requests in one statement may not share one. */
static bool group_clashes(const exports_group_t *g, const id_set_t *set)
{
    for (size_t i = 0; i < g->n; i++)
        if (id_set_has(set, g->ids[i]))
            return true;
    return false;
}

/* Sends the groups at the head of the queue as one statement: a batch on its own; single
 * moves, in order, as many as fit in --batch-max, up to the first that moves a shipment
 * already in the statement (it waits for the next one, so that each move meets its
 * shipment as the previous one left it) or that must go alone. */
static void send_statement(exports_t *e)
{
    exports_group_t *head = e->queue_head;
    applied_t *a =
        applied_new(e, head->batch ? STMT_BATCH : STMT_TRANSITIONS, head->batch ? 1 : e->batch_max);
    if (head->batch || head->alone) {
        e->queue_head = head->next;
        e->queued--;
        a->groups[a->n++] = head;
    } else {
        size_t cap = 16;
        while (cap < 2 * (size_t)e->batch_max)
            cap *= 2;
        id_set_t set = {xcalloc(cap, sizeof(int64_t)), cap - 1};
        while (e->queue_head && a->n < e->batch_max) {
            exports_group_t *g = e->queue_head;
            if (g->batch || g->alone || group_clashes(g, &set))
                break;
            e->queue_head = g->next;
            e->queued--;
            id_set_add(&set, g->ids[0]);
            a->groups[a->n++] = g;
        }
        free(set.slots);
    }
    if (!e->queue_head)
        e->queue_tail = NULL;
    for (size_t i = 0; i < a->n; i++)
        a->groups[i]->next = NULL;
    e->lanes_busy++;
    send_kind(e, a);
}

/* After the loop turn's I/O: sends what the turn queued while a lane is free. */
/* True when another statement should go now: the first lane takes whatever waits (an idle
 * service answers at once); another opens only for a backlog worth a statement of its own,
 * so that lanes do not split the batches the first one would carry. */
static bool lane_wanted(const exports_t *e)
{
    return e->queue_head && e->lanes_busy < e->move_lanes &&
           (e->lanes_busy == 0 || e->queued >= EXPORTS_LANE_MIN);
}

/* Requests whose deadline passed while they waited are answered DEADLINE_EXCEEDED and never
 * sent. (A statement in flight carries many requests: it is not cancelled for one.) */
static void drop_expired(exports_t *e)
{
    exports_group_t **link = &e->queue_head, *prev = NULL;
    while (*link) {
        exports_group_t *g = *link;
        if (!ovop_call_expired(g->call)) {
            prev = g;
            link = &g->next;
            continue;
        }
        *link = g->next;
        e->queued--;
        ovop_call_fail_reason(g->call, OVOP_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED",
                              "the request's deadline passed before it could start; nothing "
                              "was changed");
        group_free(g);
    }
    e->queue_tail = prev;
}

static void on_moves_check(uv_check_t *h)
{
    exports_t *e = h->data;
    drop_expired(e);
    while (lane_wanted(e))
        send_statement(e);
    uv_check_stop(h);
}

static void enqueue(exports_t *e, exports_group_t *g, bool front)
{
    if (e->moves_stopped) {
        ovop_call_fail(g->call, OVOP_UNAVAILABLE, "the service is stopping, retry");
        group_free(g);
        return;
    }
    if (front) {
        g->next = e->queue_head;
        e->queue_head = g;
        if (!e->queue_tail)
            e->queue_tail = g;
    } else {
        g->next = NULL;
        if (e->queue_tail)
            e->queue_tail->next = g;
        else
            e->queue_head = g;
        e->queue_tail = g;
    }
    e->queued++;
    if (lane_wanted(e))
        uv_check_start(&e->moves_check, on_moves_check);
}

/* --- TransitionShipment --- */

static void transition_shipment(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    Ovop__V1__ShipmentTransition *in = (Ovop__V1__ShipmentTransition *)input;
    exports_t *e = userdata;
    int64_t now = ovop_now_us();
    if (!exports_authorize_moves(call, false, &in, 1))
        return;
    check_move(call, "", in, now);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__TransitionResult r;
    exports_group_t *g = group_new(call, false, &in, 1, now, &r);
    group_seal(g, &r.base);
    enqueue(e, g, false);
}

/* --- RecordShipmentEvents --- */

/* Every move checked here first (the agencies, then the fields: all violations listed), then
 * the batch is one group: a refusal in the database lists every bad move too (fail_batch). */
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
    if (!exports_authorize_moves(call, true, in->transitions, in->n_transitions))
        return;
    for (size_t i = 0; i < in->n_transitions; i++) {
        char prefix[48];
        snprintf(prefix, sizeof(prefix), "transitions[%zu].", i);
        check_move(call, prefix, in->transitions[i], now);
    }
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    size_t n = in->n_transitions;
    Ovop__V1__TransitionResult *results = xcalloc(n, sizeof(*results));
    Ovop__V1__TransitionResult **ptrs = xcalloc(n, sizeof(*ptrs));
    exports_group_t *g = group_new(call, true, in->transitions, n, now, results);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &results[i];
    Ovop__V1__RecordShipmentEventsResponse out = OVOP__V1__RECORD_SHIPMENT_EVENTS_RESPONSE__INIT;
    out.n_results = n;
    out.results = ptrs;
    group_seal(g, &out.base);
    free(ptrs);
    free(results);
    enqueue(e, g, false);
}

static const ovop_method_t methods[] = {
    {"TransitionShipment", transition_shipment},
    {"RecordShipmentEvents", record_events},
};

void exports_moves_register(exports_t *e)
{
    static const double sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
    static const char *const kinds[] = {"kind=\"transitions\"", "kind=\"batch\"",
                                        "kind=\"refusals\""};
    ovop_metrics_t *metrics = ovop_daemon_metrics(e->d);
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(kinds); k++)
        e->move_statements[k] = ovop_metrics_counter(
            metrics, "ovop_exports_move_statements_total",
            "Statements of lifecycle moves sent to the database, by kind", kinds[k]);
    e->move_requests = ovop_metrics_histogram(
        metrics, "ovop_exports_move_requests_per_statement",
        "Requests answered by one statement of moves (single moves are coalesced)", NULL, sizes,
        OVOP_ARRAY_SIZE(sizes));
    uv_check_init(ovop_daemon_loop(e->d), &e->moves_check);
    e->moves_check.data = e;
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}

void exports_moves_stop(exports_t *e)
{
    e->moves_stopped = true;
    while (e->queue_head) {
        exports_group_t *g = e->queue_head;
        e->queue_head = g->next;
        ovop_call_fail(g->call, OVOP_UNAVAILABLE, "the service is stopping, retry");
        group_free(g);
    }
    e->queue_tail = NULL;
    e->queued = 0;
    if (!uv_is_closing((uv_handle_t *)&e->moves_check))
        uv_close((uv_handle_t *)&e->moves_check, NULL);
}
