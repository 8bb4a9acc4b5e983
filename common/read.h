/* Read methods as data: a get or a list is a statement and the message its rows decode to
 * (by column name, pbrow.h), described once in a static ovop_read_t; the handler checks its
 * request and calls one of these. No context struct, no decoder, no free: everything lives
 * in the call's arena.
 *
 *   static const ovop_read_t certificate = {
 *       .sql = "SELECT c.number, c.stars, ... FROM registry.certificates c WHERE c.number = $1",
 *       .row = &ovop__v1__certificate__descriptor,
 *       .noun = "certificate with number",
 *   };
 *   ovop_read_one(call, r->pg, &certificate, in->number, 1, params);
 */
#pragma once

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>

#include "dispatch.h"
#include "lookup.h"
#include "page.h"
#include "pg.h"
#include "util.h"

typedef struct ovop_read {
    const char *sql;                       /* NULL when the caller builds it (filters) */
    const ProtobufCMessageDescriptor *row; /* what one row is */
    const char *noun;                      /* NOT_FOUND says "no <noun> <key>" */
    ovop_page_t page;                      /* lists: the response, its rows and the key */
} ovop_read_t;

/* Runs r->sql with params and answers with its first row, or NOT_FOUND ("no <noun> <key>")
 * when it has none; database errors as dbcall.h maps them. */
void ovop_read_one(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *key,
                   int nparams, const char *const *params);

/* The same through a batched lookup (lookup.h): the row whose first column is key. */
void ovop_read_lookup(ovop_call_t *call, ovop_lookup_t *l, const ovop_read_t *r, const char *key);

/* Runs sql (r->sql when NULL) with params, fetching up to page_size + 1 rows in key order,
 * and answers with the page (page.h). */
void ovop_read_page(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *sql,
                    int nparams, const char *const *params, unsigned page_size);

/* Runs sql (r->sql when NULL) with params and answers with a r->page.response whose repeated
 * field r->page.rows holds every row (r->page.key unused): a list the client takes whole,
 * such as statistics. */
void ovop_read_all(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *sql,
                   int nparams, const char *const *params);

/* A list's statement built for the filters a request gives: only those become conditions,
 * each with its own parameter, so that each combination is its own prepared statement with a
 * plan made for what it asks (one statement with "$1 = '' OR ..." everywhere gets a generic
 * plan that suits no combination). */
#define OVOP_FILTER_PARAMS 16
typedef struct ovop_filter {
    ovop_buf_t sql;
    const char *params[OVOP_FILTER_PARAMS];
    int n;
} ovop_filter_t;

/* Starts the statement's text with head (ovop_buf_puts(&f->sql, ...) adds more). */
void ovop_filter_init(ovop_filter_t *f, const char *head);
/* Adds value as the next parameter and returns its number n (for "$n"). More than
 * OVOP_FILTER_PARAMS is a programming error: asserted. */
int ovop_filter_param(ovop_filter_t *f, const char *value);
/* Appends before, "$n" and after, value being the new parameter n. */
void ovop_filter_add(ovop_filter_t *f, const char *before, const char *after, const char *value);
/* The text, in the call's arena; frees what f holds (its parameters stay the caller's). */
const char *ovop_filter_sql(ovop_call_t *call, ovop_filter_t *f);

/* A handler's next step after ovop_read_then: row is the first row of res decoded as r->row
 * (in the call's arena), or NULL when the statement returned none. res is valid only during
 * the call. */
typedef void (*ovop_read_then_fn)(ovop_call_t *call, ProtobufCMessage *row, PGresult *res,
                                  void *userdata);

/* Runs r->sql with params and calls then with its first row: for methods that read a current
 * state (or a new id) before they change it. Without a row, fails with NOT_FOUND ("no <noun>
 * <key>") when r has a noun, else calls then with NULL. A database error, or a row that does
 * not decode, fails the call and then is not called. */
void ovop_read_then(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *key,
                    int nparams, const char *const *params, ovop_read_then_fn then, void *userdata);

/* Decodes row i of res as r->row into the call's arena; on a value that does not convert
 * (a bug), fails the call with INTERNAL and returns NULL. For handlers that read a current
 * state before changing it. */
ProtobufCMessage *ovop_read_row(ovop_call_t *call, const ovop_read_t *r, PGresult *res, int i);
