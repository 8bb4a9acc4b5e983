#include "msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ovop_msg {
    zmq_msg_t *frames;
    size_t start; /* frames before start were dropped */
    size_t n;     /* frames in use, including dropped ones */
    size_t cap;
};

ovop_msg_t *ovop_msg_new(void)
{
    return xcalloc(1, sizeof(ovop_msg_t));
}

void ovop_msg_destroy(ovop_msg_t **mp)
{
    ovop_msg_t *m = *mp;
    if (!m)
        return;
    for (size_t i = m->start; i < m->n; i++)
        zmq_msg_close(&m->frames[i]);
    free(m->frames);
    free(m);
    *mp = NULL;
}

size_t ovop_msg_frames(const ovop_msg_t *m)
{
    return m->n - m->start;
}

size_t ovop_msg_bytes(const ovop_msg_t *m)
{
    size_t t = 0;
    for (size_t i = m->start; i < m->n; i++)
        t += zmq_msg_size(&m->frames[i]);
    return t;
}

zmq_msg_t *ovop_msg_frame(ovop_msg_t *m, size_t i)
{
    return &m->frames[m->start + i];
}

const void *ovop_msg_data(const ovop_msg_t *m, size_t i)
{
    return zmq_msg_data((zmq_msg_t *)&m->frames[m->start + i]);
}

size_t ovop_msg_len(const ovop_msg_t *m, size_t i)
{
    return zmq_msg_size(&m->frames[m->start + i]);
}

bool ovop_msg_eq(const ovop_msg_t *m, size_t i, const void *p, size_t n)
{
    if (i >= ovop_msg_frames(m) || ovop_msg_len(m, i) != n)
        return false;
    return n == 0 || memcmp(ovop_msg_data(m, i), p, n) == 0;
}

bool ovop_msg_streq(const ovop_msg_t *m, size_t i, const char *s)
{
    return ovop_msg_eq(m, i, s, strlen(s));
}

char *ovop_msg_strdup(const ovop_msg_t *m, size_t i)
{
    size_t n = ovop_msg_len(m, i);
    char *s = xmalloc(n + 1);
    memcpy(s, ovop_msg_data(m, i), n);
    s[n] = '\0';
    return s;
}

static zmq_msg_t *append_slot(ovop_msg_t *m)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->frames = xrealloc(m->frames, m->cap * sizeof(zmq_msg_t));
    }
    return &m->frames[m->n++];
}

void ovop_msg_addmem(ovop_msg_t *m, const void *p, size_t n)
{
    zmq_msg_t *f = append_slot(m);
    if (zmq_msg_init_size(f, n) != 0) {
        m->n--;
        xmalloc(SIZE_MAX); /* aborts with the out-of-memory message */
    }
    if (n)
        memcpy(zmq_msg_data(f), p, n);
}

void ovop_msg_addstr(ovop_msg_t *m, const char *s)
{
    ovop_msg_addmem(m, s, strlen(s));
}

static void free_taken(void *data, void *hint)
{
    OVOP_UNUSED(hint);
    free(data);
}

void ovop_msg_addmem_take(ovop_msg_t *m, void *data, size_t n)
{
    zmq_msg_t *f = append_slot(m);
    zmq_msg_init_data(f, data, n, free_taken, NULL);
}

void ovop_msg_pushmem(ovop_msg_t *m, const void *p, size_t n)
{
    if (m->start > 0) {
        zmq_msg_t *f = &m->frames[--m->start];
        zmq_msg_init_size(f, n);
        if (n)
            memcpy(zmq_msg_data(f), p, n);
        return;
    }
    append_slot(m);
    memmove(&m->frames[1], &m->frames[0], (m->n - 1) * sizeof(zmq_msg_t));
    zmq_msg_init_size(&m->frames[0], n);
    if (n)
        memcpy(zmq_msg_data(&m->frames[0]), p, n);
}

void ovop_msg_pushstr(ovop_msg_t *m, const char *s)
{
    ovop_msg_pushmem(m, s, strlen(s));
}

void ovop_msg_move_frame(ovop_msg_t *dst, ovop_msg_t *src, size_t i)
{
    zmq_msg_t *f = append_slot(dst);
    zmq_msg_init(f);
    zmq_msg_move(f, ovop_msg_frame(src, i));
}

void ovop_msg_copy_frame(ovop_msg_t *dst, const ovop_msg_t *src, size_t i)
{
    zmq_msg_t *f = append_slot(dst);
    zmq_msg_init(f);
    zmq_msg_copy(f, (zmq_msg_t *)&src->frames[src->start + i]);
}

void ovop_msg_drop_front(ovop_msg_t *m, size_t n)
{
    for (size_t k = 0; k < n && m->start < m->n; k++)
        zmq_msg_close(&m->frames[m->start++]);
}

int ovop_msg_recv(ovop_msg_t **ret, void *sock, int flags)
{
    ovop_msg_t *m = NULL;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        /* Only the first frame can block or fail with EAGAIN: the rest arrive atomically. */
        if (zmq_msg_recv(&part, sock, m ? 0 : flags) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            ovop_msg_destroy(&m);
            return -e;
        }
        if (!m)
            m = ovop_msg_new();
        zmq_msg_t *f = append_slot(m);
        zmq_msg_init(f);
        zmq_msg_move(f, &part);
        zmq_msg_close(&part);
        if (!zmq_msg_more(f))
            break;
    }
    *ret = m;
    return 0;
}

int ovop_msg_send(ovop_msg_t **mp, void *sock, int flags)
{
    ovop_msg_t *m = *mp;
    size_t count = ovop_msg_frames(m);
    if (count == 0) {
        ovop_msg_destroy(mp);
        return 0;
    }
    /* Send copies so that *m stays intact if the first frame cannot go. Copies are
     * reference counts for large frames, not byte copies. */
    for (size_t i = 0; i < count; i++) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        zmq_msg_copy(&part, ovop_msg_frame(m, i));
        int more = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_msg_send(&part, sock, (i == 0 ? flags : 0) | more) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            /* After the first frame, libzmq guarantees the rest are accepted. */
            return -e;
        }
    }
    ovop_msg_destroy(mp);
    return 0;
}
