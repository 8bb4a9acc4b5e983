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
 * -EBADMSG for bytes that are not a Request, -E2BIG for one beyond the wire limits
 * (ovop_wire_scan: too many unknown fields...), -EINVAL for a Request whose fields break the
 * limits (request id missing or over 128 bytes, method over 64, not UTF-8...). *ret_err
 * (static string) says which. */
int ovop_request_decode(const void *p, size_t n, size_t max, Ovop__V1__Request **ret_req,
                        const char **ret_err);

/* The request_id of an encoded Request, read without decoding the rest (for a refusal by
 * the broker): copied into out when it is UTF-8 of 1..128 bytes, else out is "". */
void ovop_request_peek_id(const void *p, size_t n, char out[static OVOP_MAX_REQUEST_ID + 1]);

/* The status code of an encoded Reply, read without decoding the rest (for the broker's
 * and the dispatcher's metrics): OVOP_OK when the Reply has no status or no code. */
int ovop_reply_peek_code(const void *p, size_t n);

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

/* Limits of one encoded message, checked on the wire before protobuf-c decodes it: protobuf-c
 * allocates every element and keeps every unknown field before any check could run, so a
 * 1 MiB message of 2-byte fields would cost tens of megabytes. */
typedef struct ovop_wire_limits {
    unsigned max_depth;       /* nested messages below the top one */
    size_t max_elements;      /* elements of one repeated field of one message */
    size_t max_fields;        /* fields and packed elements over the whole message */
    size_t max_unknown;       /* fields the descriptor does not know, over the whole message */
    unsigned max_bad_strings; /* string findings reported before the scan stops reporting */
} ovop_wire_limits_t;

/* Depth 32, 10,000 elements of a repeated field (ten times the largest list a method
 * accepts), 200,000 fields, 256 unknown fields, 16 string findings. */
extern const ovop_wire_limits_t ovop_wire_default_limits;

/* Called for a string field whose bytes are not UTF-8 or hold a NUL; path names it as the
 * violations do ("rows[3].name"), why says what is wrong. */
typedef void (*ovop_wire_string_fn)(void *userdata, const char *path, const char *why);

/* Scans the encoded message p[0..n) of type desc, recursively through nested messages,
 * before decoding. Returns 0 (every string found wrong reported to bad, which may be NULL),
 * -E2BIG when a limit is broken (*ret_why, static, says which: the reply's reason is
 * MESSAGE_TOO_COMPLEX), or -EBADMSG for bytes that are not a protobuf message at all. */
int ovop_wire_scan(const ProtobufCMessageDescriptor *desc, const void *p, size_t n,
                   const ovop_wire_limits_t *lim, ovop_wire_string_fn bad, void *userdata,
                   const char **ret_why);
