/* Batched point lookups: requests for rows by key that arrive in the same turn of the loop
 * are answered by one query for up to OVOP_LOOKUP_KEYS keys, instead of one query each. Under
 * load this divides the database round trips (and their per-statement cost) by the batch
 * size; with a single request it costs nothing extra, as the batch is sent when the loop
 * finishes handling the input that produced it. */
#pragma once

#include <libpq-fe.h>
#include <uv.h>

#include "pg.h"

typedef struct ovop_lookup ovop_lookup_t;

/* Called once per requested key: row is the index in res of the first row whose first
 * column equals the key, or -1 when there is none; on failure res may be NULL and error
 * says why. res is valid only during the call. */
typedef void (*ovop_lookup_cb)(PGresult *res, int row, const char *error, void *userdata);

/* Keys per statement. The statement takes them as OVOP_LOOKUP_KEYS scalar parameters
 * ($1..$8, e.g. `WHERE id IN ($1, $2, $3, $4, $5, $6, $7, $8)`), unused ones repeating the
 * first key: with scalar parameters PostgreSQL settles on one generic plan, whereas a single
 * array parameter (`= ANY($1)`) makes it plan every execution anew, which costs more than
 * running the query. */
#define OVOP_LOOKUP_KEYS 8

/* sql takes OVOP_LOOKUP_KEYS keys as described above and returns the key as its first column
 * (text output of the key must equal the key as given, e.g. digits without leading zeros). */
int ovop_lookup_new(ovop_lookup_t **ret, uv_loop_t *loop, ovop_pg_t *pg, const char *sql);
void ovop_lookup_get(ovop_lookup_t *l, const char *key, ovop_lookup_cb cb, void *userdata);
/* The same for a call with a deadline (monotonic µs, 0 for none): a batch's statement is not
 * started, or is cancelled, once the deadlines of all its keys have passed. */
void ovop_lookup_get_until(ovop_lookup_t *l, const char *key, int64_t deadline_us,
                           ovop_lookup_cb cb, void *userdata);
/* Keys waiting to be sent get an error callback. Accepts NULL. */
void ovop_lookup_destroy(ovop_lookup_t **l);
