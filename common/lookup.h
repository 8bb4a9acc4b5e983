/* Batched point lookups: requests for rows by key that arrive in the same turn of the loop
 * are answered by one query, `... WHERE key = ANY($1)`, instead of one query each. Under
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

/* sql takes the keys as $1, a text array literal ({k1,k2,...}), and returns the key as its
 * first column. Keys must be plain tokens (digits, letters, '-', '.'): they are not quoted. */
int ovop_lookup_new(ovop_lookup_t **ret, uv_loop_t *loop, ovop_pg_t *pg, const char *sql,
                    unsigned max_batch);
void ovop_lookup_get(ovop_lookup_t *l, const char *key, ovop_lookup_cb cb, void *userdata);
/* Keys waiting to be sent get an error callback. Accepts NULL. */
void ovop_lookup_destroy(ovop_lookup_t **l);
