/* One page of a list method's answer. Its query fetched up to page_size + 1 rows in key
 * order (the extra row only says that a next page exists); each shown row is decoded into
 * a record whose first member is the row's message, the records fill the response's
 * repeated field, and next_page_token is the prefix and the key column of the last row
 * shown (the column the query orders by and continues after). */
#pragma once

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "dispatch.h"

typedef struct ovop_page {
    const ProtobufCMessageDescriptor *response; /* has `rows` and next_page_token */
    const char *rows;                           /* its repeated message field */
    size_t row_size;                            /* a decoded record, its message first */
    /* Decodes row i of res into the zeroed record row. */
    void (*decode)(PGresult *res, int i, void *row);
    /* Frees what decode allocated in row (not row itself); may be NULL. */
    void (*free_row)(void *row);
    const char *token_prefix;
    int key_column;
} ovop_page_t;

/* The field `name` of desc, which must exist with the given label and type (a message that
 * lacks it is a programming error: asserted). For code that fills messages by descriptor,
 * like this and ovopctl's paging. */
const ProtobufCFieldDescriptor *ovop_pb_field(const ProtobufCMessageDescriptor *desc,
                                              const char *name, ProtobufCLabel label,
                                              ProtobufCType type);

/* Finishes call with the page of res (rows beyond page_size are not shown). */
void ovop_page_finish(ovop_call_t *call, PGresult *res, unsigned page_size,
                      const ovop_page_t *page);
