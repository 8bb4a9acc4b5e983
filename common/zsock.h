/* A ZeroMQ socket driven by a libuv loop.
 *
 * ZMQ_FD is edge-triggered: it signals only when ZMQ_EVENTS changes, and both a receive and a
 * send can consume the edge. So every wake-up drains the socket until ZMQ_EVENTS shows nothing
 * more to do, every send re-checks ZMQ_EVENTS, and a receive burst past the per-turn budget
 * is resumed from an idle handle instead of waiting for an edge that will not come. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "msg.h"

typedef struct ovop_zsock ovop_zsock_t;

/* Called once per received message. The callback may take *msg (and null it); otherwise it
 * is destroyed on return. The callback may send on, or destroy, the socket. */
typedef void (*ovop_zsock_recv_cb)(ovop_zsock_t *s, ovop_msg_t **msg, void *userdata);

/* Creates a socket of ZeroMQ `type` on zctx, with ZMQ_MAXMSGSIZE = max_msg (a larger message
 * makes libzmq drop the connection before we see a byte), ZMQ_LINGER 0, and registers it with
 * loop. Returns 0 or -errno. */
int ovop_zsock_new(ovop_zsock_t **ret, uv_loop_t *loop, void *zctx, int type, size_t max_msg,
                   ovop_zsock_recv_cb cb, void *userdata);

/* Closes the ZeroMQ socket now and frees the rest from the libuv close callback. Queued
 * outgoing messages are dropped. Accepts NULL; nulls *s. Safe inside the receive callback. */
void ovop_zsock_destroy(ovop_zsock_t **s);

int ovop_zsock_bind(ovop_zsock_t *s, const char *endpoint);
int ovop_zsock_connect(ovop_zsock_t *s, const char *endpoint);
/* The raw libzmq socket, for setsockopt and getsockopt. */
void *ovop_zsock_raw(ovop_zsock_t *s);

/* Queues *msg for sending and takes it. Sends at once when the socket can take it;
 * otherwise it waits in a bounded queue (OVOP_ZSOCK_MAX_QUEUE messages). Returns 0, or
 * -ENOBUFS when the queue is full (the message is dropped), or another -errno from libzmq
 * (the message is dropped). It never calls the receive callback itself (pending input is
 * drained later on the same loop iteration), so it is safe while walking one's own lists. */
#define OVOP_ZSOCK_MAX_QUEUE 100000
int ovop_zsock_send(ovop_zsock_t *s, ovop_msg_t **msg);

/* Number of messages waiting in the outgoing queue. */
size_t ovop_zsock_queued(const ovop_zsock_t *s);
