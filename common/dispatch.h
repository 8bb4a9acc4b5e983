/* A generic dispatcher from an envelope's method name to a handler, driven by protobuf-c's
 * generated service descriptor: the descriptor gives each method's input and output message
 * types, so the dispatcher decodes the input and encodes the output for every handler.
 *
 * Methods are declared, not registered one by one: each service file has a static table of
 * ovop_method_t rows (as sd-bus vtables) that it hands to ovop_dispatch_declare(); the daemon
 * then calls ovop_dispatch_verify(), which fails when an rpc of the descriptor has no row.
 *
 * Handlers are asynchronous: each gets a call and finishes it exactly once, now or later
 * from a database callback, with ovop_call_finish() or ovop_call_fail(). A call owns an arena
 * (ovop_call_arena) freed when the reply is sent: what a handler builds for its reply goes
 * there, and the decoded input lives there too. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "envelope.h"
#include "metrics.h"
#include "util.h"

typedef struct ovop_dispatch ovop_dispatch_t;
typedef struct ovop_call ovop_call_t;

typedef void (*ovop_handler_fn)(ovop_call_t *call, const ProtobufCMessage *input, void *userdata);
/* Receives the encoded Reply (ownership moves: free() it). */
typedef void (*ovop_dispatch_done_fn)(void *done_userdata, void *reply, size_t len);

/* metrics may be NULL. service is the MDP service name, used in metric labels. */
ovop_dispatch_t *ovop_dispatch_new(const ProtobufCServiceDescriptor *desc, const char *service,
                                   size_t max_msg, ovop_metrics_t *metrics);
void ovop_dispatch_destroy(ovop_dispatch_t **d);

/* One row of a service's method table. Who may call it is not here but in the one
 * permission table of every service (services/permissions.tsv, see permissions.h), so that
 * all permissions are reviewed in one place. */
typedef struct ovop_method {
    const char *name; /* the rpc's name in the service descriptor */
    ovop_handler_fn fn;
} ovop_method_t;

/* Binds each row of table to its rpc, with userdata. A row whose name the descriptor does
 * not have, or whose rpc is bound already, is a programming error the daemon must not start
 * with: the first such row makes this return -ENOENT or -EEXIST and is remembered for
 * ovop_dispatch_verify(), which reports it. */
int ovop_dispatch_declare(ovop_dispatch_t *d, const ovop_method_t *table, size_t n, void *userdata);
#define OVOP_DECLARE_METHODS(d, table, userdata)                                                   \
    ovop_dispatch_declare((d), (table), OVOP_ARRAY_SIZE(table), (userdata))

/* Takes the rows of this service from a permission table (permissions.h; daemons pass
 * ovop_permissions_tsv). A row naming a method the service does not have, or a table that
 * does not parse, is remembered for ovop_dispatch_verify(). */
void ovop_dispatch_permit(ovop_dispatch_t *d, const char *table);

/* Checks the declarations against the service descriptor: 0 when every rpc has exactly one
 * handler and one permission row; otherwise -ENOENT, -EEXIST or -EACCES with *ret_why
 * (static until the dispatcher is destroyed) naming the method. */
int ovop_dispatch_verify(const ovop_dispatch_t *d, const char **ret_why);

/* The declared row of a method, or NULL. */
const ovop_method_t *ovop_dispatch_method(const ovop_dispatch_t *d, const char *name);

/* The memory a method's input may take to decode: 256 KiB and 8 bytes per byte of body, at
 * most 8 MiB. Legitimate inputs take about 3 bytes per byte (1000 territory rows: 71 kB on
 * the wire, 200 kB decoded); an empty nested message costs a struct for 2 bytes, so 1000
 * near-empty rows fit in the base while 9000 empty rows are refused as MESSAGE_TOO_COMPLEX. */
#define OVOP_DECODE_BUDGET(n)                                                                      \
    ((n) > (8u * 1024 * 1024 - 262144) / 8 ? 8u * 1024 * 1024 : 262144 + 8 * (size_t)(n))

/* Handles one encoded Request from the principal the broker authenticated (a serialized
 * ovop.v1.Principal; NULL or undecodable: UNAUTHENTICATED). done is called exactly once,
 * possibly before this returns. Errors found before a handler runs (oversized, undecodable
 * envelope or body, unknown method, no principal, a role missing) are answered here with
 * INVALID_ARGUMENT, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED and counted; the
 * body is decoded only after the principal is allowed the method, and only after a scan of
 * its wire form (ovop_wire_scan) found it within the limits (else INVALID_ARGUMENT with
 * reason MESSAGE_TOO_COMPLEX) and every string field NUL-free UTF-8 (else INVALID_ARGUMENT
 * with a violation naming the field path), under the budget OVOP_DECODE_BUDGET. */
void ovop_dispatch_handle(ovop_dispatch_t *d, const void *body, size_t len, const void *principal,
                          size_t principal_len, ovop_dispatch_done_fn done, void *done_userdata);

/* Calls being handled right now. */
unsigned ovop_dispatch_inflight(const ovop_dispatch_t *d);

const char *ovop_call_request_id(const ovop_call_t *c);
const char *ovop_call_method(const ovop_call_t *c);
/* Who calls, to be recorded with a change: the authenticated principal's id (never what the
 * client wrote), or "ID for ON_BEHALF_OF" when a service acts for someone. */
const char *ovop_call_caller(const ovop_call_t *c);
/* The authenticated principal (in the call's arena). */
const Ovop__V1__Principal *ovop_call_principal(const ovop_call_t *c);
/* True when the principal holds role. */
bool ovop_call_has_role(const ovop_call_t *c, const char *role);
/* Request.on_behalf_of: "" unless a service principal acts for someone. */
const char *ovop_call_on_behalf_of(const ovop_call_t *c);
/* The decoded input message (of the method's input type). */
const ProtobufCMessage *ovop_call_input(const ovop_call_t *c);
/* Monotonic deadline in µs (ovop_mono_us() scale), counted from the request's arrival; 0 when
 * the caller set none. Pass it to ovop_pg_query_until() (or use ovop_call_query()). */
int64_t ovop_call_deadline(const ovop_call_t *c);
/* True once the call's deadline has passed. */
bool ovop_call_expired(const ovop_call_t *c);

/* The call's arena: freed when the call finishes (after the reply is encoded). */
ovop_arena_t *ovop_call_arena(ovop_call_t *c);
/* Shorthands for allocating in the call's arena. */
void *ovop_call_alloc(ovop_call_t *c, size_t n);
char *ovop_call_strdup(ovop_call_t *c, const char *s);
char *ovop_call_printf(ovop_call_t *c, const char *fmt, ...) OVOP_PRINTF(2, 3);
/* A zeroed, initialised message of type desc in the call's arena. */
ProtobufCMessage *ovop_call_message(ovop_call_t *c, const ProtobufCMessageDescriptor *desc);

/* Adds a per-field violation; the call then fails with INVALID_ARGUMENT when finished with
 * ovop_call_fail_violations(). */
void ovop_call_violation(ovop_call_t *c, const char *field, const char *fmt, ...) OVOP_PRINTF(3, 4);
bool ovop_call_has_violations(const ovop_call_t *c);
/* Fails with INVALID_ARGUMENT, a message listing the violations, and the violations. */
void ovop_call_fail_violations(ovop_call_t *c);

/* Finishes with OK and the output (of the method's output type), and frees the call. */
void ovop_call_finish(ovop_call_t *c, const ProtobufCMessage *output);
/* The Reply that ovop_call_finish(c, output) would send, encoded (malloc'd), without
 * finishing: mutations store it with their change so that a retry gets the same bytes. */
void *ovop_call_encode_ok(const ovop_call_t *c, const ProtobufCMessage *output, size_t *ret_len);
/* Finishes with an already encoded Reply (ownership moves in), and frees the call. */
void ovop_call_finish_encoded(ovop_call_t *c, void *reply, size_t len);
/* A fingerprint of the request (caller, method and body), 16 hex digits and a NUL: a retry
 * has the same one, another request under the same id (or the same request from another
 * principal) almost surely not. */
void ovop_call_fingerprint(const ovop_call_t *c, char out[static 17]);

/* Finishes with an error, and frees the call. The status's reason is the one set with
 * ovop_call_reason() if any, else the code's name (NOT_FOUND...). */
void ovop_call_fail(ovop_call_t *c, ovop_code_t code, const char *fmt, ...) OVOP_PRINTF(3, 4);
/* Finishes with an error and a stable reason (UPPER_SNAKE_CASE, e.g. "VERSION_MISMATCH"). */
void ovop_call_fail_reason(ovop_call_t *c, ovop_code_t code, const char *reason, const char *fmt,
                           ...) OVOP_PRINTF(4, 5);
/* Fails with INTERNAL for a bug the caller has logged: the client learns only the request id
 * it was logged with, never SQL or internals. */
void ovop_call_fail_internal(ovop_call_t *c);
/* Sets the reason the next failure carries (copied). */
void ovop_call_reason(ovop_call_t *c, const char *reason);
/* Adds a metadata entry to the failure's status (copied; at most 16 entries). */
void ovop_call_meta(ovop_call_t *c, const char *key, const char *fmt, ...) OVOP_PRINTF(3, 4);

/* The stable reason of a code when nothing more specific is known: its name. */
const char *ovop_code_reason(ovop_code_t code);
