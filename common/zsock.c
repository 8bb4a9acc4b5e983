#include "zsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RECV_BUDGET 256

typedef struct outq_item {
    ovop_msg_t *msg;
    struct outq_item *next;
} outq_item_t;

struct ovop_zsock {
    uv_poll_t poll;
    uv_idle_t idle;
    void *sock;
    ovop_zsock_recv_cb cb;
    void *userdata;
    outq_item_t *head, *tail;
    size_t queued;
    unsigned closing_handles;
    bool processing;
    bool again;
    bool destroyed;
    bool idle_active;
};

static void process(ovop_zsock_t *s);
static void kick(ovop_zsock_t *s);

static void on_handle_closed(uv_handle_t *h)
{
    ovop_zsock_t *s = h->data;
    if (--s->closing_handles == 0)
        free(s);
}

static void release(ovop_zsock_t *s)
{
    while (s->head) {
        outq_item_t *it = s->head;
        s->head = it->next;
        ovop_msg_destroy(&it->msg);
        free(it);
    }
    s->tail = NULL;
    s->queued = 0;
    if (s->sock) {
        zmq_close(s->sock);
        s->sock = NULL;
    }
    s->closing_handles = 2;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->idle, on_handle_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    OVOP_UNUSED(status);
    OVOP_UNUSED(events);
    process(h->data);
}

static void on_idle(uv_idle_t *h)
{
    ovop_zsock_t *s = h->data;
    uv_idle_stop(&s->idle);
    s->idle_active = false;
    process(s);
}

int ovop_zsock_new(ovop_zsock_t **ret, uv_loop_t *loop, void *zctx, int type, size_t max_msg,
                   ovop_zsock_recv_cb cb, void *userdata)
{
    int64_t maxsz = (int64_t)max_msg;
    int linger = 0;
    int fd;
    size_t fdlen = sizeof(fd);
    int r;

    void *sock = zmq_socket(zctx, type);
    if (!sock)
        return -errno;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxsz, sizeof(maxsz)) < 0 ||
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_getsockopt(sock, ZMQ_FD, &fd, &fdlen) < 0) {
        r = -errno;
        zmq_close(sock);
        return r;
    }
    ovop_zsock_t *s = xcalloc(1, sizeof(*s));
    s->sock = sock;
    s->cb = cb;
    s->userdata = userdata;
    r = uv_poll_init(loop, &s->poll, fd);
    if (r < 0) {
        zmq_close(sock);
        free(s);
        return r;
    }
    uv_idle_init(loop, &s->idle);
    s->poll.data = s;
    s->idle.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    *ret = s;
    return 0;
}

void ovop_zsock_destroy(ovop_zsock_t **sp)
{
    ovop_zsock_t *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    if (s->processing) {
        /* We are inside process(): let it finish the turn, then release. */
        s->destroyed = true;
        return;
    }
    release(s);
}

int ovop_zsock_bind(ovop_zsock_t *s, const char *endpoint)
{
    return zmq_bind(s->sock, endpoint) < 0 ? -errno : 0;
}

int ovop_zsock_connect(ovop_zsock_t *s, const char *endpoint)
{
    return zmq_connect(s->sock, endpoint) < 0 ? -errno : 0;
}

void *ovop_zsock_raw(ovop_zsock_t *s)
{
    return s->sock;
}

size_t ovop_zsock_queued(const ovop_zsock_t *s)
{
    return s->queued;
}

int ovop_zsock_send(ovop_zsock_t *s, ovop_msg_t **msg)
{
    if (s->destroyed) {
        ovop_msg_destroy(msg);
        return -EBADF;
    }
    if (!s->head) {
        int r = ovop_msg_send(msg, s->sock, ZMQ_DONTWAIT);
        if (r == 0) {
            /* The send may have consumed the edge that announces pending input. */
            kick(s);
            return 0;
        }
        if (r != -EAGAIN) {
            ovop_msg_destroy(msg);
            return r;
        }
    }
    if (s->queued >= OVOP_ZSOCK_MAX_QUEUE) {
        ovop_msg_destroy(msg);
        return -ENOBUFS;
    }
    outq_item_t *it = xmalloc(sizeof(*it));
    it->msg = *msg;
    it->next = NULL;
    *msg = NULL;
    if (s->tail)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    s->queued++;
    kick(s);
    return 0;
}

/* Schedules a drain of the socket without running it here: a send never calls the receive
 * callback, so a caller may send while it walks its own lists. Inside a turn the running
 * turn goes round again; outside, the idle handle runs it on this loop iteration. */
static void kick(ovop_zsock_t *s)
{
    if (s->processing) {
        s->again = true;
        return;
    }
    if (!s->idle_active) {
        uv_idle_start(&s->idle, on_idle);
        s->idle_active = true;
    }
}

/* Drains the socket: sends what is queued while ZMQ_POLLOUT holds, receives while ZMQ_POLLIN
 * holds, up to a budget per turn. Re-entrant calls (a send from inside the receive callback)
 * only ask the running turn to go round again. */
static void process(ovop_zsock_t *s)
{
    if (s->processing) {
        s->again = true;
        return;
    }
    s->processing = true;
    unsigned received = 0;
    do {
        s->again = false;
        /* Attempts, not ZMQ_EVENTS checks, drive the loop: a send or receive that would
         * block has processed libzmq's pending commands exactly as ZMQ_EVENTS would, and
         * each ZMQ_EVENTS query costs a poll() of its own (and a getpid()). */
        while (!s->destroyed) {
            bool progress = false;
            if (s->head) {
                outq_item_t *it = s->head;
                int r = ovop_msg_send(&it->msg, s->sock, ZMQ_DONTWAIT);
                if (r != -EAGAIN) {
                    ovop_msg_destroy(&it->msg); /* sent (already NULL) or failed: drop */
                    s->head = it->next;
                    if (!s->head)
                        s->tail = NULL;
                    s->queued--;
                    free(it);
                    progress = true;
                }
            }
            if (!s->destroyed) {
                if (received >= RECV_BUDGET) {
                    /* Let the loop breathe; resume on the next iteration. */
                    if (!s->idle_active) {
                        uv_idle_start(&s->idle, on_idle);
                        s->idle_active = true;
                    }
                    break;
                }
                ovop_msg_t *m = NULL;
                if (ovop_msg_recv(&m, s->sock, ZMQ_DONTWAIT) == 0) {
                    received++;
                    s->cb(s, &m, s->userdata);
                    ovop_msg_destroy(&m);
                    progress = true;
                }
            }
            if (!progress)
                break;
        }
    } while (s->again && !s->destroyed);
    s->processing = false;
    if (s->destroyed)
        release(s);
}
