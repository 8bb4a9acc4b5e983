/* The Majordomo broker (MDP/0.2, ZeroMQ RFC 18, with the credit extension of mdp.h and the
 * mmi.service discovery of RFC 8). One ROUTER socket serves clients and workers alike; the
 * protocol header of each message tells which is which.
 *
 * Each service has a bounded FIFO of requests and a set of workers. A request goes to the
 * worker with the most free credit (the least recently used on a tie) and stays on that
 * worker's outstanding list until its FINAL comes back, so that when the worker dies (falls
 * silent for liveness heartbeats, or sends DISCONNECT) its requests go back to the head of
 * the queue and another worker answers them. The broker never reads a body, except for the
 * request id of a request it refuses and the requests of its own internal service.
 *
 * Identity: every connection is authenticated by the ZAP handler (zap.h); each message's
 * sender is looked up in the keyring. A request goes to its worker with the sender's
 * principal appended as one frame after the body; a worker registers only with the role
 * worker:<service>; a worker's reply goes only to a client whose request it holds. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "keyring.h"
#include "keys.h"
#include "metrics.h"
#include "msg.h"

typedef struct ovop_broker ovop_broker_t;
typedef struct ovop_broker_reply ovop_broker_reply_t;

/* A service the broker answers itself (ovop.iam): its requests never reach a worker. handle
 * gets the one body frame and the caller's serialized ovop.v1.Principal, and must answer
 * exactly once with ovop_broker_reply_send(). */
typedef void (*ovop_broker_internal_fn)(void *userdata, ovop_broker_reply_t *reply,
                                        const void *body, size_t len, const void *principal,
                                        size_t principal_len);

typedef struct ovop_broker_options {
    const char *bind;      /* comma-separated endpoints, e.g. "tcp://127.0.0.1:5555" */
    uint32_t heartbeat_ms; /* interval of HEARTBEATs to workers; workers use the same */
    uint32_t liveness;     /* heartbeats a worker may miss before it is taken as dead */
    /* Largest request over all its frames: a larger one is answered RESOURCE_EXHAUSTED
     * (MESSAGE_TOO_LARGE). ZMQ_MAXMSGSIZE is twice this: a frame over that drops its peer. */
    size_t max_msg;
    uint32_t request_timeout_ms; /* how long a request may wait in a queue before it is dropped */
    /* How long a worker may hold a request: past it the client is answered DEADLINE_EXCEEDED
     * (WORKER_TIMEOUT) and the worker's credit returned; 0 for request_timeout_ms * 3. */
    uint32_t held_timeout_ms;
    size_t max_queue; /* requests queued per service; 0 for the default (100000) */
    /* Memory of the requests in hand (queued or held: frames plus the broker's overhead);
     * a service or a principal may use a quarter of it, a client connection an eighth.
     * 0 for the default (512 MiB). */
    size_t max_queue_bytes;
    /* CURVE server key, or plaintext (loopback only); every endpoint goes through ZAP. */
    const ovop_security_t *security;
    /* Who may connect (the ZAP handler's keyring): each message's sender is looked up, so a
     * principal disabled or a key revoked while connected is refused from the next message. */
    const ovop_keyring_t *keyring;
    const char *internal_service; /* e.g. "ovop.iam"; NULL: none */
    ovop_broker_internal_fn internal_fn;
    void *internal_userdata;
    /* A second service the broker answers itself the same way (ovop.broker: its status);
     * NULL: none. */
    const char *status_service;
    ovop_broker_internal_fn status_fn;
    void *status_userdata;
} ovop_broker_options_t;

/* Binds and starts serving on loop. metrics may be NULL. Logs and returns -errno when an
 * endpoint cannot be bound, -EINVAL for bad options. */
int ovop_broker_new(ovop_broker_t **ret, uv_loop_t *loop, void *zctx,
                    const ovop_broker_options_t *opts, ovop_metrics_t *metrics);

/* Sends DISCONNECT to every worker, drops queued requests, closes the socket; the rest is
 * freed once the loop has run the close callbacks. Accepts NULL; nulls *b. */
void ovop_broker_destroy(ovop_broker_t **b);

/* Starts a graceful stop: from now on new client requests are dropped (counted as
 * ovop_broker_dropped_total{reason="draining"}; their clients retry elsewhere), while queued
 * and outstanding requests still reach their workers and their replies their clients. */
void ovop_broker_drain(ovop_broker_t *b);
/* True once ovop_broker_drain() was called. */
bool ovop_broker_draining(const ovop_broker_t *b);
/* Requests queued or held by workers. */
size_t ovop_broker_pending(ovop_broker_t *b);

/* Sends the FINAL of an internal request (body copied) and frees the reply handle. */
void ovop_broker_reply_send(ovop_broker_reply_t **reply, const void *body, size_t len);

/* Re-checks every registered worker against the keyring: a worker whose key is no longer
 * current, or whose principal lost the role worker:<service>, is told DISCONNECT and its
 * requests go to others. Call after a keyring reload. */
void ovop_broker_recheck(ovop_broker_t *b);

/* Workers registered right now, over all services. */
size_t ovop_broker_workers(const ovop_broker_t *b);

/* What ovop_broker_walk() tells of a service: one that has workers or requests waiting, or
 * that had workers since the broker started (then with none now: a service gone down). */
typedef struct ovop_broker_service_info {
    const char *name;
    size_t workers;
    size_t queued;       /* requests waiting for a worker */
    size_t queued_bytes; /* their frames */
    size_t held;         /* requests with its workers */
} ovop_broker_service_info_t;

/* What ovop_broker_walk() tells of a worker: what it said of itself in READY (mdp.h; "" when
 * it said nothing) and the broker's record of it. */
typedef struct ovop_broker_worker_info {
    const char *service;
    const char *instance;
    const char *ops_url;
    uint32_t credit;
    size_t held;
    int64_t connected_us;  /* wall clock (ovop_now_us) of its READY */
    int64_t last_heard_ms; /* since it was last heard from */
} ovop_broker_worker_info_t;

/* Calls service_fn for every service (see ovop_broker_service_info_t) and worker_fn for each
 * of its workers after it, now; the infos are valid during the call only. */
void ovop_broker_walk(ovop_broker_t *b,
                      void (*service_fn)(void *userdata, const ovop_broker_service_info_t *s),
                      void (*worker_fn)(void *userdata, const ovop_broker_worker_info_t *w),
                      void *userdata);

/* For tests and fuzzing: handles *msg (frame 0 the peer identity) as if it had arrived on
 * the socket, and consumes it. */
void ovop_broker_handle(ovop_broker_t *b, ovop_msg_t **msg);

/* For tests and fuzzing: true when the broker's bookkeeping is consistent (queue lengths and
 * bytes, workers per service, outstanding within credit). Walks everything: not for
 * production paths. */
bool ovop_broker_check(ovop_broker_t *b);
