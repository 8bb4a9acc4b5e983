#include "mutation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log.h"
#include "util.h"

#define CONVENTIONAL_PARAMS 5

typedef struct mutation {
    ovop_call_t *call;
    ovop_sequencer_t *sequencer;
} mutation_t;

void ovop_mutation_fail_db(ovop_call_t *call, PGresult *res, const char *error)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *rid = ovop_call_request_id(call);
    if (state && strcmp(state, "OV409") == 0) {
        ovop_call_violation(call, "request_id", "was already used for a different request");
        ovop_call_fail_violations(call);
    } else if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)) {
        log_warn_rid(rid, "%s conflicted with a concurrent change: %s", ovop_call_method(call),
                     error);
        ovop_call_fail(call, OVOP_ABORTED, "a concurrent change interfered, retry");
    } else if (state && strcmp(state, "23505") == 0) {
        const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        if (constraint && strcmp(constraint, "idempotency_pkey") == 0)
            /* The twin of a retried request committed first: a retry gets its reply. */
            ovop_call_fail(call, OVOP_ABORTED, "the same request is being processed, retry");
        else
            /* A concurrent request took the same unique value between check and insert. */
            ovop_call_fail(call, OVOP_ALREADY_EXISTS,
                           "a record with the same unique value was created concurrently");
    } else if (state && strncmp(state, "23", 2) == 0) {
        log_error_rid(rid, "%s broke a constraint the checks missed: %s", ovop_call_method(call),
                      error);
        ovop_call_fail(call, OVOP_FAILED_PRECONDITION,
                       "the change conflicts with the registry's rules");
    } else {
        log_error_rid(rid, "%s failed: %s", ovop_call_method(call), error);
        ovop_call_fail(call, OVOP_UNAVAILABLE, "the database is unavailable, retry later");
    }
}

ovop_code_t ovop_mutation_status(const char *outcome)
{
    static const struct {
        const char *outcome;
        ovop_code_t code;
    } refusals[] = {
        {"invalid", OVOP_INVALID_ARGUMENT},  {"not_found", OVOP_NOT_FOUND},
        {"stale", OVOP_FAILED_PRECONDITION}, {"precondition", OVOP_FAILED_PRECONDITION},
        {"denied", OVOP_PERMISSION_DENIED},  {"exists", OVOP_ALREADY_EXISTS},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(refusals); i++)
        if (strcmp(outcome, refusals[i].outcome) == 0)
            return refusals[i].code;
    return OVOP_INTERNAL;
}

void ovop_mutation_finish(ovop_call_t *call, PGresult *res, int row, ovop_sequencer_t *seq)
{
    const char *outcome = PQgetvalue(res, row, 0);
    const char *field = PQgetvalue(res, row, 2);
    const char *message = PQgetvalue(res, row, 3);
    if (strcmp(outcome, "ok") == 0 || strcmp(outcome, "replay") == 0) {
        size_t len = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 1), &len);
        if (!raw) {
            ovop_call_fail(call, OVOP_INTERNAL, "could not read the stored reply");
            return;
        }
        void *reply = xmemdup(raw, len);
        PQfreemem(raw);
        if (outcome[0] == 'o')
            ovop_sequencer_kick(seq);
        ovop_call_finish_encoded(call, reply, len);
        return;
    }
    ovop_code_t code = ovop_mutation_status(outcome);
    if (code == OVOP_INVALID_ARGUMENT) {
        ovop_call_violation(call, field[0] ? field : "request", "%s", message);
        ovop_call_fail_violations(call);
        return;
    }
    if (code != OVOP_INTERNAL) {
        if (field[0])
            ovop_call_violation(call, field, "%s", message);
        ovop_call_fail(call, code, "%s", message);
        return;
    }
    log_error_rid(ovop_call_request_id(call), "%s returned unknown outcome \"%s\"",
                  ovop_call_method(call), outcome);
    ovop_call_fail(call, OVOP_INTERNAL, "the mutation returned an unexpected result");
}

static void on_result(PGresult *res, const char *error, void *userdata)
{
    mutation_t *mu = userdata;
    ovop_call_t *call = mu->call;
    ovop_sequencer_t *seq = mu->sequencer;
    free(mu);

    if (error) {
        ovop_mutation_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) != 1 || PQnfields(res) < 4) {
        log_error_rid(ovop_call_request_id(call), "%s returned %d rows of %d columns",
                      ovop_call_method(call), PQntuples(res), PQnfields(res));
        ovop_call_fail(call, OVOP_INTERNAL, "the mutation returned an unexpected result");
        return;
    }
    ovop_mutation_finish(call, res, 0, seq);
}

void ovop_mutate(ovop_call_t *call, const ovop_mutator_t *m, const char *sql, int n_args,
                 const char *const *args, const ProtobufCMessage *output)
{
    char fingerprint[17];
    size_t len;
    uint8_t *reply = ovop_call_encode_ok(call, output, &len);
    char *reply_hex = ovop_bytea_hex(reply, len);
    free(reply);
    ovop_call_fingerprint(call, fingerprint);

    int n = CONVENTIONAL_PARAMS + n_args;
    const char **params = xcalloc((size_t)n, sizeof(char *));
    params[0] = m->service;
    params[1] = ovop_call_request_id(call);
    params[2] = ovop_call_method(call);
    params[3] = fingerprint;
    params[4] = reply_hex;
    for (int i = 0; i < n_args; i++)
        params[CONVENTIONAL_PARAMS + i] = args[i];

    mutation_t *mu = xcalloc(1, sizeof(*mu));
    mu->call = call;
    mu->sequencer = m->sequencer;
    ovop_pg_query(m->pg, sql, n, params, on_result, mu);
    free(params);
    free(reply_hex);
}
