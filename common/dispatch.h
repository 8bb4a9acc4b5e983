/* A generic dispatcher from an envelope's method name to a handler, driven by protobuf-c's
 * generated service descriptor: the descriptor gives each method's input and output message
 * types, so the dispatcher decodes the input and encodes the output for every handler.
 *
 * Handlers are asynchronous: each gets a call and finishes it exactly once, now or later
 * from a database callback, with ovop_call_finish() or ovop_call_fail(). */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Binds a handler to an rpc of the descriptor. Returns 0 or -ENOENT for a name the service
 * does not have. Methods left unbound answer UNIMPLEMENTED. */
int ovop_dispatch_register(ovop_dispatch_t *d, const char *method, ovop_handler_fn fn,
                           void *userdata);

/* Handles one encoded Request. done is called exactly once, possibly before this returns.
 * Errors found before a handler runs (oversized, undecodable envelope or body, unknown
 * method) are answered here with INVALID_ARGUMENT or UNIMPLEMENTED and counted. */
void ovop_dispatch_handle(ovop_dispatch_t *d, const void *body, size_t len,
                          ovop_dispatch_done_fn done, void *done_userdata);

/* Calls being handled right now. */
unsigned ovop_dispatch_inflight(const ovop_dispatch_t *d);

const char *ovop_call_request_id(const ovop_call_t *c);
const char *ovop_call_method(const ovop_call_t *c);
const char *ovop_call_caller(const ovop_call_t *c);
/* Monotonic deadline in µs (ovop_mono_us() scale); 0 when the caller set none. */
int64_t ovop_call_deadline(const ovop_call_t *c);

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
/* A fingerprint of the request (method and body), 16 hex digits and a NUL: a retry has the
 * same one, another request under the same id almost surely not. */
void ovop_call_fingerprint(const ovop_call_t *c, char out[static 17]);

/* Finishes with an error, and frees the call. */
void ovop_call_fail(ovop_call_t *c, ovop_code_t code, const char *fmt, ...) OVOP_PRINTF(3, 4);
