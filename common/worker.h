/* The worker side of MDP/0.2 on a libuv loop. One worker object serves one service and
 * holds one DEALER socket per broker (two brokers can run side by side). It announces its
 * credit in READY (see mdp.h), heartbeats each broker, and when a broker falls silent for
 * `liveness` heartbeats or sends DISCONNECT, it closes that socket and reconnects on a new
 * one with back-off, sending READY again.
 *
 * A REQUEST is [client address] [""] [body] [principal]: the broker appends the caller's
 * authenticated principal after the one body frame. A REQUEST of another shape whose client
 * address is intact is answered INVALID_ARGUMENT (reason MALFORMED_REQUEST) at once, so its
 * client learns it and the broker its credit; anything else is dropped and counted
 * (ovop_worker_malformed_total counts both).
 *
 * Each REQUEST reaches the callback with an ovop_request_t that must be answered exactly once
 * with ovop_request_reply(); the reply goes back over the socket the request came on. A reply
 * for a broker connection that has since been reset is dropped: the client retries. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keys.h"
#include "metrics.h"

typedef struct ovop_worker ovop_worker_t;
typedef struct ovop_request ovop_request_t;

/* body and principal (the serialized ovop.v1.Principal the broker authenticated, the frame
 * after the body) borrow the request; they stay valid until ovop_request_reply(). */
typedef void (*ovop_worker_request_fn)(ovop_worker_t *w, ovop_request_t *req, const void *body,
                                       size_t len, const void *principal, size_t principal_len,
                                       void *userdata);

typedef struct ovop_worker_options {
    const char *brokers;   /* comma-separated endpoints, e.g. "tcp://127.0.0.1:5555" */
    const char *service;   /* e.g. "ovop.registry" */
    uint32_t credit;       /* requests held at once, 1..OVOP_MDP_MAX_CREDIT */
    uint32_t heartbeat_ms; /* interval; the broker must use the same */
    uint32_t liveness;     /* missed heartbeats before a broker is taken as dead (3..) */
    size_t max_msg;        /* ZMQ_MAXMSGSIZE */
    /* Our service principal's CURVE keys and the broker's public key (copied); NULL for
     * plaintext (a broker accepts it only with --insecure-plaintext, on loopback). */
    const ovop_security_t *security;
    /* Who this worker is, for the broker's status: READY's metadata frame (mdp.h), e.g.
     * "instance=host:4242 ops=http://127.0.0.1:9101"; NULL for none. */
    const char *ready_meta;
} ovop_worker_options_t;

/* Starts connecting at once. metrics may be NULL. Returns 0 or -errno
 * (-EINVAL for an empty broker list, a bad endpoint, an invalid service name or metadata). */
int ovop_worker_new(ovop_worker_t **ret, uv_loop_t *loop, void *zctx,
                    const ovop_worker_options_t *opts, ovop_metrics_t *metrics,
                    ovop_worker_request_fn fn, void *userdata);

/* Sends the FINAL reply (body copied) and frees the request; nulls *req. A reply whose
 * broker connection was reset since the request arrived is dropped and counted. Never calls
 * the request callback itself. */
void ovop_request_reply(ovop_request_t **req, const void *body, size_t len);

/* The worker is stopping: says DRAINING to every broker (send no new request; mdp.h) and
 * no longer reconnects to one that goes away. Requests it holds are still answered; a request
 * that crossed DRAINING on the wire is best left unanswered: at ovop_worker_destroy() the
 * broker re-queues it for another worker. */
void ovop_worker_drain(ovop_worker_t *w);

/* Requests received and not yet answered. */
unsigned ovop_worker_inflight(const ovop_worker_t *w);
/* True when at least one broker has been heard from within the liveness window. */
bool ovop_worker_connected(const ovop_worker_t *w);

/* Sends DISCONNECT to every broker and closes the sockets; pending requests are dropped
 * (their clients retry elsewhere) and freed: every ovop_request_t of this worker is invalid
 * afterwards, and calling ovop_request_reply() on one is a programming error (use after
 * free). Call once in-flight work is done. Accepts NULL; nulls *w. Safe inside the request
 * callback. */
void ovop_worker_destroy(ovop_worker_t **w);
