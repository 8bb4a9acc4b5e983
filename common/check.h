/* Checks of request fields shared by the services, each adding a violation named after the
 * field to the call when the value is refused, and the text form of bytea parameters. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"

/* A text field: valid UTF-8, no control characters (C0 including tab and newline, DEL, C1),
 * at most max bytes, present when required. Returns its validity. */
bool ovop_check_text(ovop_call_t *call, const char *field, const char *value, size_t max,
                     bool required);

/* A keyset page token that the service issued for this request (see page.h) whose key is an
 * id: *ret_after = id (0 for an empty token). Adds a violation on page_token otherwise. */
bool ovop_check_page_token(ovop_call_t *call, const char *token, int64_t *ret_after);

/* page_size 0 means def; over max adds a violation. Returns the size to use. */
unsigned ovop_check_page_size(ovop_call_t *call, unsigned page_size, unsigned def, unsigned max);

/* PostgreSQL's hex text form of bytea ("\x0a1b..."), malloc'd. */
char *ovop_bytea_hex(const void *p, size_t n);
/* A message encoded, in that form. */
char *ovop_bytea_message(const ProtobufCMessage *m);
/* The same in the call's arena. */
char *ovop_call_bytea(ovop_call_t *call, const ProtobufCMessage *m);
/* A new random UUID (an event id) in the call's arena. */
char *ovop_call_uuid(ovop_call_t *call);
