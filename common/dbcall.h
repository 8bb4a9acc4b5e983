/* Calls and the database: statements run under the call's deadline, and a failed statement's
 * error becomes the status the client gets, decided by its SQLSTATE class:
 *
 *   deadline (not started / cancelled)        DEADLINE_EXCEEDED  DEADLINE_EXCEEDED
 *   no server answer, 08 connection, 53 resources, 57 operator intervention, 58 system
 *                                             UNAVAILABLE        DATABASE_UNAVAILABLE
 *   40 transaction rollback (serialization, deadlock), after the daemon's own retries
 *                                             ABORTED            CONCURRENT_CHANGE
 *   23505 unique violation                    ALREADY_EXISTS     ALREADY_EXISTS
 *   other 23 integrity violations             FAILED_PRECONDITION CONSTRAINT_VIOLATED
 *   OV409 (request id reused, bus.replay)     INVALID_ARGUMENT   REQUEST_ID_REUSED
 *   OV403 (outside the principal's territory, 0017's triggers)
 *                                             PERMISSION_DENIED  OUT_OF_SCOPE
 *   anything else (a bug: 42 syntax, 22 data...)  INTERNAL       INTERNAL
 *
 * UNAVAILABLE and ABORTED invite a retry; INTERNAL is logged with the request id and is not
 * worth retrying. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>

#include "dispatch.h"
#include "pg.h"

typedef struct ovop_db_status {
    ovop_code_t code;
    const char *reason; /* static */
    bool log;           /* worth an error line: a bug or a surprise, not a passing outage */
} ovop_db_status_t;

/* The status for a failed statement (res may be NULL; error is the pool's message). */
ovop_db_status_t ovop_db_status(const PGresult *res, const char *error);
/* The same from its parts: the SQLSTATE (NULL when the server gave none) and the name of the
 * constraint it names (may be NULL). */
ovop_db_status_t ovop_db_status_of(const char *sqlstate, const char *constraint, const char *error);

/* True for errors worth retrying the same statement at once (40001, 40P01). */
bool ovop_db_retryable(const PGresult *res);

/* Adds the members of a JSON object of strings (json_text may be NULL or empty) to the
 * call's failure metadata; empty values are left out. */
void ovop_call_meta_json(ovop_call_t *call, const char *json_text);

/* Fails call with the status of the failed statement, logging it once when it is a bug. An
 * OV403 refusal carries the database's message and, as metadata, its detail's JSON object. */
void ovop_call_fail_db(ovop_call_t *call, const PGresult *res, const char *error);

/* ovop_pg_query_until() under the call's deadline. */
void ovop_call_query(ovop_call_t *call, ovop_pg_t *pg, const char *sql, int nparams,
                     const char *const *values, ovop_pg_cb cb, void *userdata);
