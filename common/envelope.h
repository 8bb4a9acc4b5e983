/* The request/reply envelope (proto/ovop/v1/envelope.proto) with its limits. Sizes are
 * checked before any decoding, and decoding uses protobuf-c, whose message types here are
 * not self-recursive, so a hostile body costs at most a bounded amount of memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ovop/v1/envelope.pb-c.h"

#define OVOP_DEFAULT_MAX_MSG (1024 * 1024)
#define OVOP_MAX_REQUEST_ID  128
#define OVOP_MAX_METHOD      64
#define OVOP_MAX_CALLER      128

typedef Ovop__V1__Status__Code ovop_code_t;
#define OVOP_OK                  OVOP__V1__STATUS__CODE__OK
#define OVOP_INVALID_ARGUMENT    OVOP__V1__STATUS__CODE__INVALID_ARGUMENT
#define OVOP_DEADLINE_EXCEEDED   OVOP__V1__STATUS__CODE__DEADLINE_EXCEEDED
#define OVOP_NOT_FOUND           OVOP__V1__STATUS__CODE__NOT_FOUND
#define OVOP_ALREADY_EXISTS      OVOP__V1__STATUS__CODE__ALREADY_EXISTS
#define OVOP_PERMISSION_DENIED   OVOP__V1__STATUS__CODE__PERMISSION_DENIED
#define OVOP_RESOURCE_EXHAUSTED  OVOP__V1__STATUS__CODE__RESOURCE_EXHAUSTED
#define OVOP_FAILED_PRECONDITION OVOP__V1__STATUS__CODE__FAILED_PRECONDITION
#define OVOP_ABORTED             OVOP__V1__STATUS__CODE__ABORTED
#define OVOP_UNIMPLEMENTED       OVOP__V1__STATUS__CODE__UNIMPLEMENTED
#define OVOP_INTERNAL            OVOP__V1__STATUS__CODE__INTERNAL
#define OVOP_UNAVAILABLE         OVOP__V1__STATUS__CODE__UNAVAILABLE
#define OVOP_UNAUTHENTICATED     OVOP__V1__STATUS__CODE__UNAUTHENTICATED

/* "INVALID_ARGUMENT" for OVOP_INVALID_ARGUMENT; "UNKNOWN" for values out of range. */
const char *ovop_code_to_string(int code);

/* Decodes a Request of n bytes. Returns 0 and *ret_req (free with
 * ovop__v1__request__free_unpacked), or -EMSGSIZE when n > max (nothing decoded),
 * -EBADMSG for bytes that are not a Request, -EINVAL for a Request whose fields break the
 * limits (request id missing or over 128 bytes, method over 64, not UTF-8...). *ret_err
 * (static string) says which. */
int ovop_request_decode(const void *p, size_t n, size_t max, Ovop__V1__Request **ret_req,
                        const char **ret_err);

/* The request_id of an encoded Request, read without decoding the rest (for a refusal by
 * the broker): copied into out when it is UTF-8 of 1..128 bytes, else out is "". */
void ovop_request_peek_id(const void *p, size_t n, char out[static OVOP_MAX_REQUEST_ID + 1]);

/* Serializes a Request; returns a malloc'd buffer and its size. on_behalf_of may be NULL. */
void *ovop_request_encode(const char *request_id, const char *method, const void *body,
                          size_t body_len, unsigned deadline_ms, const char *on_behalf_of,
                          size_t *ret_len);

/* Serializes a Reply. status may be NULL for OK. body may be NULL. */
void *ovop_reply_encode(const char *request_id, const Ovop__V1__Status *status, const void *body,
                        size_t body_len, size_t *ret_len);

/* A Reply with just a status, for errors found before a handler runs; domain (the service)
 * and reason may be NULL. */
void *ovop_reply_error(const char *request_id, const char *domain, ovop_code_t code,
                       const char *reason, const char *message, size_t *ret_len);
