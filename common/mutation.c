#include "mutation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "dbcall.h"
#include "log.h"
#include "util.h"

#define CONVENTIONAL_PARAMS 5
/* Attempts of a statement that PostgreSQL aborted for a serialization failure or a deadlock
 * before the client is told ABORTED: such a failure rolled everything back, so running the
 * same statement again is safe, and usually succeeds. */
#define MUTATION_ATTEMPTS 3

typedef struct mutation {
    ovop_call_t *call;
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer;
    const char *sql;     /* in the call's arena, for a retry */
    const char **params; /* idem */
    int n;
    int attempts;
} mutation_t;

static const struct refusal {
    const char *outcome;
    ovop_code_t code;
    const char *reason;
} refusals[] = {
    {"invalid", OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT"},
    {"not_found", OVOP_NOT_FOUND, "NOT_FOUND"},
    /* AIP-154: a stale version is ABORTED, and retrying it as it is cannot succeed. */
    {"stale", OVOP_ABORTED, "VERSION_MISMATCH"},
    {"precondition", OVOP_FAILED_PRECONDITION, "FAILED_PRECONDITION"},
    {"denied", OVOP_PERMISSION_DENIED, "PERMISSION_DENIED"},
    {"exists", OVOP_ALREADY_EXISTS, "ALREADY_EXISTS"},
};

static const struct refusal *refusal_of(const char *outcome)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(refusals); i++)
        if (strcmp(outcome, refusals[i].outcome) == 0)
            return &refusals[i];
    return NULL;
}

ovop_code_t ovop_mutation_status(const char *outcome)
{
    const struct refusal *r = refusal_of(outcome);
    return r ? r->code : OVOP_INTERNAL;
}

/* Adds the members of a JSON object of strings to the call's failure metadata. */
static void add_metadata(ovop_call_t *call, const char *json_text)
{
    if (!json_text[0])
        return;
    json_t *o = json_loads(json_text, 0, NULL);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (json_is_string(v))
            ovop_call_meta(call, key, "%s", json_string_value(v));
    }
    json_decref(o);
}

void ovop_mutation_explain(ovop_call_t *call, PGresult *res, int row)
{
    const char *reason = ovop_pg_value(res, row, "reason");
    const struct refusal *r = refusal_of(ovop_pg_value(res, row, "outcome"));
    ovop_call_reason(call, reason[0] ? reason : r ? r->reason : "INTERNAL");
    add_metadata(call, ovop_pg_value(res, row, "metadata"));
}

void ovop_mutation_finish(ovop_call_t *call, PGresult *res, int row, ovop_sequencer_t *seq)
{
    const char *outcome = ovop_pg_value(res, row, "outcome");
    const char *field = ovop_pg_value(res, row, "field");
    const char *message = ovop_pg_value(res, row, "message");
    if (strcmp(outcome, "ok") == 0 || strcmp(outcome, "replay") == 0) {
        size_t len = 0;
        unsigned char *raw =
            PQunescapeBytea((const unsigned char *)ovop_pg_value(res, row, "reply"), &len);
        if (!raw || len == 0) {
            PQfreemem(raw);
            log_error_rid(ovop_call_request_id(call), "%s stored no reply", ovop_call_method(call));
            ovop_call_fail_reason(call, OVOP_INTERNAL, "INTERNAL",
                                  "could not read the stored reply");
            return;
        }
        void *reply = xmemdup(raw, len);
        PQfreemem(raw);
        if (outcome[0] == 'o')
            ovop_sequencer_kick(seq);
        ovop_call_finish_encoded(call, reply, len);
        return;
    }
    const struct refusal *r = refusal_of(outcome);
    if (!r) {
        log_error_rid(ovop_call_request_id(call), "%s returned unknown outcome \"%s\"",
                      ovop_call_method(call), outcome);
        ovop_call_fail_reason(call, OVOP_INTERNAL, "INTERNAL",
                              "the mutation returned an unexpected result");
        return;
    }
    ovop_mutation_explain(call, res, row);
    if (r->code == OVOP_INVALID_ARGUMENT) {
        ovop_call_violation(call, field[0] ? field : "request", "%s", message);
        ovop_call_fail_violations(call);
        return;
    }
    if (field[0])
        ovop_call_violation(call, field, "%s", message);
    ovop_call_fail(call, r->code, "%s", message);
}

static void send_mutation(mutation_t *mu);

/* True when the statement lost to a twin of the same request on bus.idempotency's primary
 * key: the twin committed first, so running the statement again answers with its reply.
 * bus.replay() makes a twin wait for the first copy (0019), so this is only the fallback of a
 * function that stored a reply without looking it up first. */
static bool twin_committed(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    return state && constraint && strcmp(state, "23505") == 0 &&
           strcmp(constraint, "idempotency_pkey") == 0;
}

static void on_result(PGresult *res, const char *error, void *userdata)
{
    mutation_t *mu = userdata;
    ovop_call_t *call = mu->call;

    if (error && (ovop_db_retryable(res) || twin_committed(res)) &&
        ++mu->attempts < MUTATION_ATTEMPTS && !ovop_call_expired(call)) {
        log_info_rid(ovop_call_request_id(call), "%s: %s, running it again (attempt %d)",
                     ovop_call_method(call), error, mu->attempts + 1);
        send_mutation(mu);
        return;
    }
    ovop_sequencer_t *seq = mu->sequencer;
    free(mu);
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) != 1 || PQfnumber(res, "outcome") < 0 || PQfnumber(res, "reply") < 0) {
        log_error_rid(ovop_call_request_id(call), "%s returned %d rows of %d columns",
                      ovop_call_method(call), PQntuples(res), PQnfields(res));
        ovop_call_fail_reason(call, OVOP_INTERNAL, "INTERNAL",
                              "the mutation returned an unexpected result");
        return;
    }
    ovop_mutation_finish(call, res, 0, seq);
}

static void send_mutation(mutation_t *mu)
{
    ovop_call_query(mu->call, mu->pg, mu->sql, mu->n, mu->params, on_result, mu);
}

void ovop_mutate(ovop_call_t *call, const ovop_mutator_t *m, const char *function,
                 const ovop_arg_t *args, size_t n_args, const ProtobufCMessage *output)
{
    static const char *const conventional[CONVENTIONAL_PARAMS] = {"p_service", "p_request_id",
                                                                  "p_method", "p_fp", "p_reply"};
    char fingerprint[17];
    size_t len;
    uint8_t *reply = ovop_call_encode_ok(call, output, &len);
    char *reply_hex = ovop_bytea_hex(reply, len);
    free(reply);
    ovop_call_fingerprint(call, fingerprint);

    /* Kept in the call's arena: a retry after a serialization failure sends them again. The
     * last two are the principal and its territorial scope, which bus.act() makes the
     * transaction's settings ovop.principal and ovop.scope for the triggers that check them. */
    int n = CONVENTIONAL_PARAMS + (int)n_args;
    const char **params = ovop_call_alloc(call, (size_t)(n + 2) * sizeof(char *));
    const Ovop__V1__Principal *who = ovop_call_principal(call);
    params[n] = who->id;
    params[n + 1] = who->territory;
    params[0] = m->service;
    params[1] = ovop_call_request_id(call);
    params[2] = ovop_call_method(call);
    params[3] = ovop_call_strdup(call, fingerprint);
    params[4] = ovop_call_strdup(call, reply_hex);
    free(reply_hex);
    ovop_buf_t sql;
    ovop_buf_init(&sql);
    /* The function takes p_service from bus.act()'s result, so the settings are made before
     * it runs (a LATERAL item is evaluated after what it refers to). */
    ovop_buf_printf(&sql,
                    "SELECT f.* FROM bus.act($%d, $%d, $1) AS a(service), LATERAL %s(p_service => "
                    "a.service",
                    n + 1, n + 2, function);
    for (int i = 1; i < n; i++) {
        const char *name =
            i < CONVENTIONAL_PARAMS ? conventional[i] : args[i - CONVENTIONAL_PARAMS].name;
        ovop_buf_printf(&sql, ", %s => $%d", name, i + 1);
        if (i >= CONVENTIONAL_PARAMS) {
            const char *v = args[i - CONVENTIONAL_PARAMS].value;
            params[i] = v ? ovop_call_strdup(call, v) : NULL;
        }
    }
    ovop_buf_puts(&sql, ") f");

    mutation_t *mu = xcalloc(1, sizeof(*mu));
    mu->call = call;
    mu->pg = m->pg;
    mu->sequencer = m->sequencer;
    mu->sql = ovop_call_strdup(call, sql.data);
    mu->params = params;
    mu->n = n + 2;
    ovop_buf_free(&sql);
    send_mutation(mu);
}
