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

/* Decodes row i of res as r->row into the call's arena; on a value that does not convert
 * (a bug), fails the call with INTERNAL and returns NULL. For handlers that read a current
 * state before changing it. */
ProtobufCMessage *ovop_read_row(ovop_call_t *call, const ovop_read_t *r, PGresult *res, int i);
