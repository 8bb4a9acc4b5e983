#include "dbcall.h"

#include <string.h>

#include <jansson.h>

#include "log.h"

ovop_db_status_t ovop_db_status(const PGresult *res, const char *error)
{
    return ovop_db_status_of(res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL,
                             res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL, error);
}

ovop_db_status_t ovop_db_status_of(const char *state, const char *constraint, const char *error)
{
    if (ovop_pg_deadline_error(error))
        return (ovop_db_status_t){OVOP_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", false};
    if (!state || strlen(state) != 5)
        /* The pool's own errors: connection lost, shutting down, queue full. */
        return (ovop_db_status_t){OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE", false};
    if (strcmp(state, "OV409") == 0)
        return (ovop_db_status_t){OVOP_INVALID_ARGUMENT, "REQUEST_ID_REUSED", false};
    if (strcmp(state, "OV403") == 0)
        /* The principal's territorial scope (0017_registry_scope.sql): the client's request,
         * not a fault. PostgreSQL's own 42501 (a missing grant) stays INTERNAL. */
        return (ovop_db_status_t){OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE", false};
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "57", 2) == 0 || strncmp(state, "58", 2) == 0)
        return (ovop_db_status_t){OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE", true};
    if (strncmp(state, "40", 2) == 0)
        return (ovop_db_status_t){OVOP_ABORTED, "CONCURRENT_CHANGE", false};
    if (strcmp(state, "23505") == 0) {
        if (constraint && strcmp(constraint, "idempotency_pkey") == 0)
            /* The twin of a retried request committed first: a retry gets its reply. */
            return (ovop_db_status_t){OVOP_ABORTED, "REQUEST_IN_PROGRESS", false};
        return (ovop_db_status_t){OVOP_ALREADY_EXISTS, "ALREADY_EXISTS", false};
    }
    if (strncmp(state, "23", 2) == 0)
        return (ovop_db_status_t){OVOP_FAILED_PRECONDITION, "CONSTRAINT_VIOLATED", true};
    return (ovop_db_status_t){OVOP_INTERNAL, "INTERNAL", true};
}

bool ovop_db_retryable(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0);
}

static const char *message_for(ovop_code_t code, const char *reason)
{
    if (strcmp(reason, "REQUEST_IN_PROGRESS") == 0)
        return "the same request is being processed, retry";
    if (strcmp(reason, "ALREADY_EXISTS") == 0)
        return "a record with the same unique value was created concurrently";
    switch (code) {
    case OVOP_DEADLINE_EXCEEDED:
        return "the request's deadline passed before it completed; nothing was changed";
    case OVOP_UNAVAILABLE:
        return "the database is unavailable, retry later";
    case OVOP_ABORTED:
        return "a concurrent change interfered, retry";
    case OVOP_FAILED_PRECONDITION:
        return "the change conflicts with the service's rules";
    default:
        return "internal error";
    }
}

void ovop_call_meta_json(ovop_call_t *call, const char *json_text)
{
    json_t *o = json_text && json_text[0] ? json_loads(json_text, 0, NULL) : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (json_is_string(v) && json_string_value(v)[0])
            ovop_call_meta(call, key, "%s", json_string_value(v));
    }
    json_decref(o);
}

void ovop_call_fail_db(ovop_call_t *call, const PGresult *res, const char *error)
{
    ovop_db_status_t st = ovop_db_status(res, error);
    const char *rid = ovop_call_request_id(call);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (st.code == OVOP_PERMISSION_DENIED) {
        /* A rule the database enforces for every change refused this one: its message names
         * what lay outside what, its detail carries the codes. */
        const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        log_info_rid(rid, "%s refused: %s", ovop_call_method(call), message ? message : "");
        ovop_call_meta_json(call, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
        ovop_call_fail_reason(call, st.code, st.reason, "%s",
                              message ? message : "the change is outside the principal's scope");
        return;
    }
    if (st.code == OVOP_INVALID_ARGUMENT) {
        ovop_call_violation(call, "request_id", "was already used for a different request");
        ovop_call_reason(call, st.reason);
        ovop_call_fail_violations(call);
        return;
    }
    if (st.log)
        log_error_rid(rid, "%s failed (SQLSTATE %s): %s", ovop_call_method(call),
                      state ? state : "none", error ? error : "");
    else
        log_warn_rid(rid, "%s failed: %s", ovop_call_method(call), error ? error : "");
    if (st.code == OVOP_INTERNAL)
        ovop_call_fail_internal(call);
    else
        ovop_call_fail_reason(call, st.code, st.reason, "%s", message_for(st.code, st.reason));
}

void ovop_call_query(ovop_call_t *call, ovop_pg_t *pg, const char *sql, int nparams,
                     const char *const *values, ovop_pg_cb cb, void *userdata)
{
    ovop_pg_query_until(pg, ovop_call_deadline(call), sql, nparams, values, cb, userdata);
}
