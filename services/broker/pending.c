#include "pending.h"

#include <zmq.h>

#include "util.h"

/* Recycled records kept at most: a burst's records beyond this go back to malloc. */
#define MAX_FREE_PENDING 1024
#define MSG_OVERHEAD     64
#define FRAME_OVERHEAD   (sizeof(zmq_msg_t) + 64)

size_t pending_cost(const ovop_msg_t *m)
{
    return ovop_msg_bytes(m) + sizeof(pending_t) + MSG_OVERHEAD +
           ovop_msg_frames(m) * FRAME_OVERHEAD;
}

void plist_push_back(plist_t *l, pending_t *p)
{
    p->next = NULL;
    p->prev = l->tail;
    if (l->tail)
        l->tail->next = p;
    else
        l->head = p;
    l->tail = p;
    l->n++;
}

void plist_push_front(plist_t *l, pending_t *p)
{
    p->prev = NULL;
    p->next = l->head;
    if (l->head)
        l->head->prev = p;
    else
        l->tail = p;
    l->head = p;
    l->n++;
}

void plist_remove(plist_t *l, pending_t *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        l->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        l->tail = p->prev;
    p->prev = p->next = NULL;
    l->n--;
}

pending_t *pending_new(pending_pool_t *pool, ovop_msg_t **msg)
{
    pending_t *p = pool->free;
    if (p) {
        pool->free = p->next;
        pool->n_free--;
    } else {
        p = xmalloc(sizeof(*p));
    }
    p->prev = p->next = NULL;
    p->msg = *msg;
    *msg = NULL;
    p->bytes = ovop_msg_bytes(p->msg);
    p->cost = pending_cost(p->msg);
    p->client = p->principal = NULL;
    p->enqueued_us = ovop_mono_us();
    return p;
}

void pending_free(pending_pool_t *pool, pending_t *p)
{
    ovop_msg_destroy(&p->msg);
    if (pool->n_free < MAX_FREE_PENDING) {
        p->next = pool->free;
        pool->free = p;
        pool->n_free++;
    } else {
        free(p);
    }
}

void pending_pool_clear(pending_pool_t *pool)
{
    while (pool->free) {
        pending_t *p = pool->free;
        pool->free = p->next;
        free(p);
    }
    pool->n_free = 0;
}
