/* One page of a list method's answer. Its query fetched up to page_size + 1 rows in key
 * order (the extra row only says that a next page exists); each shown row is decoded into
 * a record whose first member is the row's message, the records fill the response's
 * repeated field, and next_page_token carries the key column of the last row shown (the
 * column the query orders by and continues after).
 *
 * Page tokens are opaque (base64url) and bound to the request they continue (AIP-158): they
 * hold the key and a hash of the method and of every field of the request but page_token and
 * page_size, so a token reused with other filters is refused (PAGE_TOKEN_INVALID), never
 * silently applied to another listing. */
#pragma once

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "dispatch.h"

typedef struct ovop_page {
    const ProtobufCMessageDescriptor *response; /* has `rows` and next_page_token */
    const char *rows;                           /* its repeated message field */
    const char *key; /* the column the query orders by and continues after */
    /* Rows decode by column name into the rows field's message type (pbrow.h). */
} ovop_page_t;

/* The token continuing after `key` for the call's request (in the call's arena). */
char *ovop_page_token_make(ovop_call_t *call, const char *key);
/* Reads a token issued by ovop_page_token_make for a request like the call's: *ret_key (in
 * the call's arena; "" for an empty token). Otherwise adds a violation on page_token, sets
 * the reason PAGE_TOKEN_INVALID and returns false. */
bool ovop_page_token_read(ovop_call_t *call, const char *token, const char **ret_key);

/* The field `name` of desc, which must exist with the given label and type (a message that
 * lacks it is a programming error: asserted). For code that fills messages by descriptor,
 * like this and ovopctl's paging. */
const ProtobufCFieldDescriptor *ovop_pb_field(const ProtobufCMessageDescriptor *desc,
                                              const char *name, ProtobufCLabel label,
                                              ProtobufCType type);

/* A new `page->response` in the call's arena whose rows field holds rows [0, n) of res
 * decoded by name; NULL after failing the call (INTERNAL) when a row does not convert. */
ProtobufCMessage *ovop_page_response(ovop_call_t *call, const ovop_page_t *page, PGresult *res,
                                     size_t n);

/* Finishes call with the page of res (rows beyond page_size are not shown). */
void ovop_page_finish(ovop_call_t *call, PGresult *res, unsigned page_size,
                      const ovop_page_t *page);
