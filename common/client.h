/* The client side of MDP/0.2, synchronous, for ovopctl, agency tools, tests and benchmarks.
 * It follows RFC 18's recommended recovery: poll with a timeout; on no reply close the
 * socket, open a new one and resend the same bytes (so the same request_id); after the
 * retries, fail. With several brokers it connects its DEALER to all of them, and a request
 * goes only to one whose connection is up (ZMQ_IMMEDIATE), so one broker down costs nothing.
 * When a broker connection ends while a request waits for its reply (the broker stopped or
 * restarted, and may have taken the request with it), the attempt ends at once and the next
 * one is sent on a new socket, counted among the retries, instead of waiting out timeout_ms.
 * One client object belongs to one thread. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "keys.h"

typedef struct ovop_client ovop_client_t;

typedef struct ovop_client_options {
    const char *brokers; /* comma-separated endpoints */
    uint32_t timeout_ms; /* per attempt */
    uint32_t retries;    /* attempts after the first */
    size_t max_msg;      /* ZMQ_MAXMSGSIZE of the socket */
    /* CURVE keys (copied), or NULL for plaintext, which a broker accepts only when it runs
     * with --insecure-plaintext on loopback. */
    const ovop_security_t *security;
    /* For a service principal acting for someone: Request.on_behalf_of; may be NULL. */
    const char *on_behalf_of;
    /* The deadline_ms stamped into requests: how long the service may work on one; 0 means
     * all the time the client will wait, timeout_ms × (retries + 1): a retry carries the
     * same request id, so a slow first attempt that completes is answered to the retry. */
    uint32_t deadline_ms;
} ovop_client_options_t;

/* zctx may be NULL: the client then owns a context of its own. */
int ovop_client_new(ovop_client_t **ret, void *zctx, const ovop_client_options_t *opts);
void ovop_client_destroy(ovop_client_t **c);

/* Sends one MDP REQUEST with an opaque body to service and waits for the FINAL reply whose
 * body `accept` approves (NULL accepts any), skipping PARTIALs and stale replies of earlier
 * attempts. Returns 0 with *ret_body (malloc'd) and *ret_len, -ETIMEDOUT after the retries,
 * or -errno. */
typedef bool (*ovop_client_accept_fn)(const void *body, size_t len, void *userdata);
int ovop_client_raw(ovop_client_t *c, const char *service, const void *body, size_t len,
                    ovop_client_accept_fn accept, void *userdata, void **ret_body, size_t *ret_len);

/* -EACCES: the broker refused our key (unknown, disabled, revoked or expired, or no key
 * where it wants one); -EPROTO: the security of the two ends does not match (CURVE against a
 * plaintext broker or the other way round). Both are returned at once, not after retries. */

/* Calls method of service with input `in`. request_id NULL makes a fresh UUID. Retries
 * (same request_id) on timeout and on UNAVAILABLE replies.
 * Returns 0 with *ret_reply (free with ovop__v1__reply__free_unpacked) whatever its status;
 * when the status is OK and out_desc is given, *ret_out is the decoded body (free with
 * protobuf_c_message_free_unpacked), else NULL. Returns -ETIMEDOUT, -EBADMSG for a reply
 * that does not decode, or -errno. */
int ovop_client_call(ovop_client_t *c, const char *service, const char *method,
                     const char *request_id, const ProtobufCMessage *in,
                     const ProtobufCMessageDescriptor *out_desc, Ovop__V1__Reply **ret_reply,
                     ProtobufCMessage **ret_out);

/* How many attempts this client has sent again (same bytes, so the same request id) after a
 * timeout or an UNAVAILABLE reply, over its whole life: what restarts and failovers cost it. */
uint64_t ovop_client_retries(const ovop_client_t *c);

/* Asks the broker's mmi.service whether service has workers: 0 when "200", -ENOENT when
 * "404", -EOPNOTSUPP when "501" (an unknown mmi.* name), -EBADMSG for any other answer,
 * -ETIMEDOUT or -errno otherwise. */
int ovop_client_mmi_service(ovop_client_t *c, const char *service);
