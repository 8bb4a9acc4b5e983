/* Asynchronous PostgreSQL on the daemon's libuv loop: a small pool of libpq connections,
 * each driven by a uv_poll on its socket, with a bounded queue of pending queries and
 * reconnection with exponential back-off (100 ms doubling to 5 s) when a connection drops. */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

#include "metrics.h"

typedef struct ovop_pg ovop_pg_t;

/* Called exactly once per query. On success res is the query's result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK) and error is NULL. On failure res is the error result when the server
 * produced one (for its SQLSTATE via PQresultErrorField), or NULL, and error says what
 * happened in words fit for a log. res is freed after the callback returns. */
typedef void (*ovop_pg_cb)(PGresult *res, const char *error, void *userdata);

#define OVOP_PG_MAX_QUEUE  10000
#define OVOP_PG_MAX_PARAMS 64

/* Starts pool_size connections to conninfo (a URL or key=value string); returns at once.
 * A connection attempt is abandoned after conninfo's connect_timeout (10 s when unset) times
 * its number of hosts (up to 8; a multi-host conninfo tries them in turn) and retried with
 * the back-off. TCP keepalives are on by default (ovop_pg_conninfo_defaults). Returns 0 or -EINVAL
 * for an unparsable conninfo or no pool. */
int ovop_pg_new(ovop_pg_t **ret, uv_loop_t *loop, const char *conninfo, unsigned pool_size,
                ovop_metrics_t *metrics);

/* Runs one statement with text parameters (values[i] NULL for SQL NULL); results in text
 * format. Parameters are copied. A single statement is its own transaction, so database
 * functions that write several rows are atomic. When no connection is up the query waits
 * (up to OVOP_PG_MAX_QUEUE queued; beyond that, or when the pool is shutting down, cb gets
 * an error at once from the loop).
 * Each connection prepares the first 128 distinct SQL texts it runs and executes them by name
 * afterwards, so pass values as parameters, never spliced into sql. Named statements need a
 * session per connection: a pooler in front must not pool by transaction. */
void ovop_pg_query(ovop_pg_t *pg, const char *sql, int nparams, const char *const *values,
                   ovop_pg_cb cb, void *userdata);

/* The same with a deadline (monotonic µs, ovop_mono_us() scale; 0 for none): a query still
 * waiting for a connection at its deadline is never sent, and a running one is cancelled
 * (PQcancel, from libuv's thread pool; the connection takes no other query until the cancel
 * request has been delivered). Either way cb gets an error for which
 * ovop_pg_deadline_error() is true; a cancelled statement's transaction rolled back. */
void ovop_pg_query_until(ovop_pg_t *pg, int64_t deadline_us, const char *sql, int nparams,
                         const char *const *values, ovop_pg_cb cb, void *userdata);

/* True for the errors of a query ended by its deadline (see ovop_pg_query_until). */
bool ovop_pg_deadline_error(const char *error);

/* Column `name` of row `row` of res as text: "" when the result has no such column or the
 * value is NULL. Reading by name keeps a statement and its reader from drifting apart. */
const char *ovop_pg_value(const PGresult *res, int row, const char *name);

/* conninfo (a URL or key=value string) with the value of keyword (dbname, user...) replaced
 * by value, as a key='value' string (values quoted and escaped; malloc'd). Every other setting,
 * passfile included, is kept. NULL with *ret_err (malloc'd) when conninfo does not parse. */
char *ovop_pg_conninfo_with(const char *conninfo, const char *keyword, const char *value,
                            char **ret_err);

/* conninfo with TCP keepalives and tcp_user_timeout set where it leaves them unset, so that
 * a server gone without a word (host down, network cut) is noticed within about 30 s
 * (malloc'd; conninfo itself, copied, when it does not parse). The pool applies it; so
 * should any other long-lived connection (LISTEN). */
char *ovop_pg_conninfo_defaults(const char *conninfo);

/* True when at least one connection is established. */
bool ovop_pg_ready(const ovop_pg_t *pg);
/* Queries running or queued. */
unsigned ovop_pg_pending(const ovop_pg_t *pg);

/* Closes every connection; queued and running queries get an error callback first. */
void ovop_pg_destroy(ovop_pg_t **pg);
