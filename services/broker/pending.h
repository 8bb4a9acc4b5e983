/* The broker's record of one client request while it waits in a service queue or sits with
 * a worker: the message exactly as received, so that it can be sent again when its worker
 * dies. Records live on intrusive doubly linked lists and are recycled through a pool, so
 * that routing a request costs no allocation of its own in the steady state. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct tenant;

typedef struct pending {
    struct pending *prev, *next;
    ovop_msg_t *msg; /* [client][MDPC02][0x01][service][body][principal] */
    size_t bytes;    /* of the frames */
    size_t cost;     /* the frames plus the record, the message and the frames' overhead */
    struct tenant *client, *principal; /* whose shares it is charged to */
    int64_t enqueued_us; /* ovop_mono_us() when it last entered a queue or went to a worker */
} pending_t;

typedef struct plist {
    pending_t *head, *tail;
    size_t n;
} plist_t;

typedef struct pending_pool {
    pending_t *free;
    size_t n_free;
} pending_pool_t;

void plist_push_back(plist_t *l, pending_t *p);
void plist_push_front(plist_t *l, pending_t *p);
/* Removes p, which must be on l. */
void plist_remove(plist_t *l, pending_t *p);

/* What a request costs the broker in memory: its frames, this record, the message and
 * each frame's zmq_msg_t and content header (a frame over 33 bytes is malloc'd with a
 * header; the estimate errs on the high side). */
size_t pending_cost(const ovop_msg_t *m);

/* A record that takes *msg (and nulls it), stamped now. */
pending_t *pending_new(pending_pool_t *pool, ovop_msg_t **msg);
/* Destroys the message and recycles the record, which must be on no list. */
void pending_free(pending_pool_t *pool, pending_t *p);
/* Frees the recycled records. */
void pending_pool_clear(pending_pool_t *pool);
