#include "broker.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

#include "envelope.h"
#include "log.h"
#include "mdp.h"
#include "msg.h"
#include "pending.h"
#include "table.h"
#include "util.h"
#include "zsock.h"

#define DEFAULT_MAX_QUEUE   100000
#define DEFAULT_QUEUE_BYTES ((size_t)512 << 20) /* over all services */
#define MAX_SERVICES        10000
/* Services that have no worker (made by client requests, or left with a queue by their last
 * worker): at most this many, so that they never take the room of a worker's READY. */
#define MAX_IDLE_SERVICES 1000
/* Services with their own metric series: the series outlive their service (counters must
 * not go back), so there are at most this many names; later ones count in _unregistered. */
#define MAX_SERIES 1000
/* Bytes of requests freed after which the heap is handed back to the system (glibc keeps
 * freed memory otherwise: a burst of expired requests stayed resident). */
#define TRIM_AFTER_BYTES     ((size_t)8 << 20)
#define MAX_WORKERS          100000
#define SOCKET_HWM           100000
#define DISCONNECT_LINGER_MS 100
#define UNREGISTERED_LABEL   "service=\"_unregistered\""
/* Status codes 0..16 (gRPC's) in ovop_broker_replies_total{service,status}. */
#define N_CODES (OVOP_UNAUTHENTICATED + 1)
/* A value of a worker's READY metadata kept for the status; longer ones are cut. */
#define WORKER_META_VALUE 255

typedef enum drop_reason {
    DROP_BAD_HEADER,
    DROP_BAD_CLIENT_FRAME,
    DROP_BAD_WORKER_FRAME,
    DROP_UNKNOWN_WORKER,
    DROP_UNEXPECTED_COMMAND,
    DROP_RESERVED_SERVICE,
    DROP_QUEUE_FULL,
    DROP_EXPIRED,
    DROP_TOO_MANY_SERVICES,
    DROP_TOO_MANY_WORKERS,
    DROP_SEND_FAILED,
    DROP_DRAINING,
    DROP_UNAUTHENTICATED,
    DROP_UNAUTHORIZED_WORKER,
    DROP_UNSOLICITED_REPLY,
    DROP_HELD_EXPIRED,
    DROP_TOO_LARGE,
    DROP_QUEUE_FULL_SERVICE,
    DROP_QUEUE_FULL_CLIENT,
    DROP_QUEUE_FULL_PRINCIPAL,
    DROP__MAX,
} drop_reason_t;

static const char *const drop_reason_names[DROP__MAX] = {
    [DROP_BAD_HEADER] = "bad_header",
    [DROP_BAD_CLIENT_FRAME] = "bad_client_frame",
    [DROP_BAD_WORKER_FRAME] = "bad_worker_frame",
    [DROP_UNKNOWN_WORKER] = "unknown_worker",
    [DROP_UNEXPECTED_COMMAND] = "unexpected_command",
    [DROP_RESERVED_SERVICE] = "reserved_service",
    [DROP_QUEUE_FULL] = "queue_full",
    [DROP_EXPIRED] = "expired",
    [DROP_TOO_MANY_SERVICES] = "too_many_services",
    [DROP_TOO_MANY_WORKERS] = "too_many_workers",
    [DROP_SEND_FAILED] = "send_failed",
    [DROP_DRAINING] = "draining",
    [DROP_UNAUTHENTICATED] = "unauthenticated",
    [DROP_UNAUTHORIZED_WORKER] = "unauthorized_worker",
    [DROP_UNSOLICITED_REPLY] = "unsolicited_reply",
    [DROP_HELD_EXPIRED] = "held_expired",
    [DROP_TOO_LARGE] = "too_large",
    [DROP_QUEUE_FULL_SERVICE] = "queue_full_service",
    [DROP_QUEUE_FULL_CLIENT] = "queue_full_client",
    [DROP_QUEUE_FULL_PRINCIPAL] = "queue_full_principal",
};

static const char *drop_reason_to_string(drop_reason_t r)
{
    return (unsigned)r < DROP__MAX ? drop_reason_names[r] : "unknown";
}

typedef struct service service_t;

/* A client connection (key 'c' + routing id) or a principal (key 'p' + id) with requests in
 * hand: the memory they are charged, bounded by their share. Freed when it drops to 0. */
typedef struct tenant {
    table_entry_t entry;
    size_t charged;
    size_t key_len;
    unsigned char key[];
} tenant_t;

/* The metric series of one service name; kept when the service is forgotten. */
typedef struct series {
    table_entry_t entry;
    ovop_metric_t *requests, *workers, *queue;
    ovop_metric_t *replies[N_CODES]; /* by status code, made at a code's first reply */
    char name[];
} series_t;

typedef struct worker {
    table_entry_t entry;        /* keyed by identity */
    struct worker *prev, *next; /* in the service's list */
    service_t *service;
    plist_t outstanding; /* oldest first */
    uint32_t credit;
    int64_t last_heard_us;
    uint64_t last_used;
    bool draining;               /* said DRAINING: is sent nothing new */
    char user[OVOP_KEY_LEN + 1]; /* the ZAP user id it connected with */
    /* What it said of itself in READY (mdp.h's metadata frame), for the status. */
    char instance[WORKER_META_VALUE + 1];
    char ops_url[WORKER_META_VALUE + 1];
    int64_t connected_us; /* wall clock */
    size_t id_len;
    unsigned char id[];
} worker_t;

struct service {
    table_entry_t entry; /* keyed by name */
    char *name;
    size_t name_len;
    plist_t queue;
    worker_t *workers;
    size_t n_workers;
    bool labelled;  /* has had a worker: its gauges are its own (or none past MAX_SERIES) */
    size_t charged; /* memory of its requests, queued or held */
    ovop_metric_t *m_requests;
    series_t *series; /* its replies by status; NULL past MAX_SERIES or before a worker */
    ovop_metric_t *m_workers;
    ovop_metric_t *m_queue;
};

struct ovop_broker {
    uv_loop_t *loop;
    ovop_zsock_t *sock;
    uv_timer_t timer;
    ovop_broker_options_t opts;
    table_t services;
    table_t workers;
    table_t tenants;
    table_t series;
    size_t n_served; /* services with at least one worker */
    size_t charged;  /* memory of all requests in hand */
    size_t released; /* bytes freed since the heap was last trimmed */
    size_t queued_bytes;
    size_t unregistered_queued;
    uint64_t dispatch_seq;
    pending_pool_t pool;
    ovop_metrics_t *metrics;
    ovop_metric_t *m_dropped[DROP__MAX];
    ovop_metric_t *m_requeued;
    ovop_metric_t *m_unreg_requests;
    ovop_metric_t *m_unreg_queue;
    bool draining;               /* stopping: new client requests are dropped, the rest finish */
    ovop_keyring_t *own_keyring; /* when none was given (plaintext only) */
    const ovop_keyring_t *keyring;
    size_t internal_inflight;
    /* The ZAP user id of the last message seen on each TCP connection, by its descriptor, so
     * that a key no longer accepted has its connections closed (libzmq has no call to drop
     * one peer of a ROUTER; shutdown(2) of the descriptor makes its I/O thread close it).
     * A monitor forgets descriptors whose connection ended. */
    char (*conn_user)[OVOP_KEY_LEN + 1];
    size_t n_conn_user;
    ovop_zsock_t *monitor;
    ovop_metric_t *m_closed;
    ovop_metric_t *m_disconnects;
    ovop_metric_t *m_services;
    ovop_metric_t *m_charged;
};

struct ovop_broker_reply {
    ovop_broker_t *b;
    ovop_msg_t *client; /* one frame: the client's routing id */
    char *service;
};

/* ---- metrics and small helpers ---- */

static void drop(ovop_broker_t *b, drop_reason_t reason)
{
    ovop_metric_inc(b->m_dropped[reason]);
}

/* The label set service="name", with " and \ escaped (names are printable ASCII). */
static char *service_labels(const char *name)
{
    ovop_buf_t buf;
    ovop_buf_init(&buf);
    ovop_buf_puts(&buf, "service=\"");
    for (const char *p = name; *p; p++) {
        if (*p == '"' || *p == '\\')
            ovop_buf_append(&buf, "\\", 1);
        ovop_buf_append(&buf, p, 1);
    }
    ovop_buf_puts(&buf, "\"");
    return buf.data;
}

/* Queue depth for the gauge: a service without its own series counts in _unregistered. */
static void queue_changed(ovop_broker_t *b, service_t *s, ptrdiff_t delta)
{
    if (s->labelled) {
        ovop_metric_set(s->m_queue, (double)s->queue.n);
    } else {
        b->unregistered_queued = (size_t)((ptrdiff_t)b->unregistered_queued + delta);
        ovop_metric_set(b->m_unreg_queue, (double)b->unregistered_queued);
    }
}

/* The series of this name, made on first use; NULL once MAX_SERIES names have series. */
static series_t *series_require(ovop_broker_t *b, const char *name, size_t len)
{
    table_entry_t *e = table_find(&b->series, name, len);
    if (e)
        return (series_t *)e;
    if (b->series.count >= MAX_SERIES)
        return NULL;
    series_t *se = xcalloc(1, sizeof(*se) + len + 1);
    memcpy(se->name, name, len);
    se->entry.key = se->name;
    se->entry.key_len = len;
    char *labels = service_labels(se->name);
    se->requests = ovop_metrics_counter(b->metrics, "ovop_broker_requests_total",
                                        "Client requests accepted, by service", labels);
    se->workers = ovop_metrics_gauge(b->metrics, "ovop_broker_workers",
                                     "Workers registered, by service", labels);
    se->queue = ovop_metrics_gauge(b->metrics, "ovop_broker_queue_depth",
                                   "Requests waiting for a worker, by service", labels);
    free(labels);
    table_insert(&b->series, &se->entry);
    return se;
}

static void service_label(ovop_broker_t *b, service_t *s)
{
    if (s->labelled)
        return;
    series_t *se = series_require(b, s->name, s->name_len);
    if (se) {
        s->m_requests = se->requests;
        s->series = se;
        s->m_workers = se->workers;
        s->m_queue = se->queue;
    }
    b->unregistered_queued -= s->queue.n;
    ovop_metric_set(b->m_unreg_queue, (double)b->unregistered_queued);
    s->labelled = true;
    ovop_metric_set(s->m_queue, (double)s->queue.n);
}

/* Counts a FINAL reply to a client of s (a worker's, or the broker's own refusal of a
 * request it had queued) in ovop_broker_replies_total{service,status}. */
static void count_reply(ovop_broker_t *b, service_t *s, int code)
{
    series_t *se = s->series;
    if (!se)
        return;
    if (code < 0 || code >= N_CODES)
        code = OVOP__V1__STATUS__CODE__UNKNOWN;
    if (!se->replies[code]) {
        char *service = service_labels(se->name);
        char *labels = xasprintf("%s,status=\"%s\"", service, ovop_code_to_string(code));
        se->replies[code] = ovop_metrics_counter(
            b->metrics, "ovop_broker_replies_total",
            "FINAL replies sent to clients, by service and status (the broker's own refusals "
            "of queued requests included)",
            labels);
        free(labels);
        free(service);
    }
    ovop_metric_inc(se->replies[code]);
}

/* The request id in frame i of m (an encoded Request or Reply: field 1 in both), or "". */
static void frame_rid(ovop_msg_t *m, size_t i, char rid[static OVOP_MAX_REQUEST_ID + 1])
{
    rid[0] = '\0';
    if (ovop_msg_frames(m) > i)
        ovop_request_peek_id(ovop_msg_data(m, i), ovop_msg_len(m, i), rid);
}

static void id_hex(const void *id, size_t len, char buf[static 41])
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = id;
    size_t n = len > 20 ? 20 : len;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[p[i] >> 4];
        buf[2 * i + 1] = hex[p[i] & 15];
    }
    buf[2 * n] = '\0';
}

static void send_msg(ovop_broker_t *b, ovop_msg_t **m)
{
    if (ovop_zsock_send(b->sock, m) < 0)
        drop(b, DROP_SEND_FAILED);
}

/* Sends a worker command with no further frames to the peer with this identity. */
static void send_command(ovop_broker_t *b, const void *id, size_t id_len, ovop_mdpw_cmd_t cmd)
{
    ovop_msg_t *m = ovop_msg_new();
    unsigned char c = (unsigned char)cmd;
    ovop_msg_addmem(m, id, id_len);
    ovop_msg_addmem(m, OVOP_MDPW, 6);
    ovop_msg_addmem(m, &c, 1);
    send_msg(b, &m);
}

/* ---- identity ---- */

/* The ZAP user id of the connection m came on (frame 0 is the routing id). Messages handed
 * in by tests carry none: they count as plaintext, which only a plaintext broker accepts. */
static const char *sender_user(ovop_broker_t *b, ovop_msg_t *m)
{
    const char *u = zmq_msg_gets(ovop_msg_frame(m, 0), "User-Id");
    if ((!u || !*u) && b->opts.security->plaintext)
        return OVOP_PLAINTEXT_USER;
    return u;
}

/* The principal that sent m, when its key is current; NULL otherwise. */
static const ovop_principal_t *sender(ovop_broker_t *b, ovop_msg_t *m, const char **ret_user)
{
    const char *u = sender_user(b, m);
    *ret_user = u ? u : "";
    return u ? ovop_keyring_find(b->keyring, u) : NULL;
}

/* Answers a client's REQUEST with an error Reply that echoes its request id; key and value
 * (or NULL) one metadata entry of the status. */
static void refuse_client_meta(ovop_broker_t *b, ovop_msg_t *m, const ovop_mdp_view_t *v,
                               ovop_code_t code, const char *reason, const char *text,
                               const char *key, const char *value)
{
    char rid[OVOP_MAX_REQUEST_ID + 1] = "";
    if (ovop_msg_frames(m) > v->body_first)
        ovop_request_peek_id(ovop_msg_data(m, v->body_first), ovop_msg_len(m, v->body_first), rid);
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    Ovop__V1__Status__MetadataEntry meta = OVOP__V1__STATUS__METADATA_ENTRY__INIT;
    Ovop__V1__Status__MetadataEntry *metas[] = {&meta};
    st.code = code;
    st.reason = (char *)reason;
    st.message = (char *)text;
    st.domain = "ovop.broker";
    log_info_rid(rid[0] ? rid : NULL, "refused a request for %.*s: %s %s (%s)", (int)v->service_len,
                 v->service, ovop_code_to_string(code), reason, text);
    if (key) {
        meta.key = (char *)key;
        meta.value = (char *)value;
        st.metadata = metas;
        st.n_metadata = 1;
    }
    size_t len;
    void *rep = ovop_reply_encode(rid, &st, NULL, 0, &len);
    unsigned char cmd = OVOP_MDPC_FINAL;
    ovop_msg_t *out = ovop_msg_new();
    ovop_msg_copy_frame(out, m, 0);
    ovop_msg_addmem(out, OVOP_MDPC, 6);
    ovop_msg_addmem(out, &cmd, 1);
    ovop_msg_addmem(out, v->service, v->service_len);
    ovop_msg_addmem_take(out, rep, len);
    send_msg(b, &out);
}

static void refuse_client(ovop_broker_t *b, ovop_msg_t *m, const ovop_mdp_view_t *v,
                          ovop_code_t code, const char *reason, const char *text)
{
    refuse_client_meta(b, m, v, code, reason, text, NULL, NULL);
}

/* The handler of the broker's own service of this name (ovop.iam, ovop.broker), or NULL. */
static ovop_broker_internal_fn internal_for(const ovop_broker_t *b, const char *name, size_t len,
                                            void **ret_userdata)
{
    const ovop_broker_options_t *o = &b->opts;
    if (o->internal_fn && len == strlen(o->internal_service) &&
        memcmp(name, o->internal_service, len) == 0) {
        *ret_userdata = o->internal_userdata;
        return o->internal_fn;
    }
    if (o->status_fn && len == strlen(o->status_service) &&
        memcmp(name, o->status_service, len) == 0) {
        *ret_userdata = o->status_userdata;
        return o->status_fn;
    }
    return NULL;
}

/* ---- shares of memory ---- */

static tenant_t *tenant_require(ovop_broker_t *b, char kind, const void *id, size_t len)
{
    unsigned char key[1 + 256];
    if (len > sizeof(key) - 1)
        len = sizeof(key) - 1; /* routing ids are at most 255 bytes, principal ids shorter */
    key[0] = (unsigned char)kind;
    memcpy(key + 1, id, len);
    table_entry_t *e = table_find(&b->tenants, key, len + 1);
    if (e)
        return (tenant_t *)e;
    tenant_t *t = xcalloc(1, sizeof(*t) + len + 1);
    memcpy(t->key, key, len + 1);
    t->key_len = len + 1;
    t->entry.key = t->key;
    t->entry.key_len = t->key_len;
    table_insert(&b->tenants, &t->entry);
    return t;
}

static void tenant_release(ovop_broker_t *b, tenant_t *t, size_t cost)
{
    if (!t)
        return;
    t->charged -= cost;
    if (t->charged == 0) {
        table_remove(&b->tenants, &t->entry);
        free(t);
    }
}

/* Frees a request of service s that is on no list, with its charges. */
static void release(ovop_broker_t *b, service_t *s, pending_t *p)
{
    s->charged -= p->cost;
    b->charged -= p->cost;
    b->released += p->cost;
    ovop_metric_set(b->m_charged, (double)b->charged);
    tenant_release(b, p->client, p->cost);
    tenant_release(b, p->principal, p->cost);
    pending_free(&b->pool, p);
}

/* ---- services ---- */

static service_t *service_find(ovop_broker_t *b, const char *name, size_t len)
{
    table_entry_t *e = table_find(&b->services, name, len);
    return e ? (service_t *)e : NULL;
}

/* Finds or creates the service; NULL when the table is full. A client's request may create
 * only one of MAX_IDLE_SERVICES services without workers, so that a worker always finds room. */
static service_t *service_require(ovop_broker_t *b, const char *name, size_t len, bool for_worker)
{
    service_t *s = service_find(b, name, len);
    if (s)
        return s;
    if (b->services.count >= MAX_SERVICES ||
        (!for_worker && b->services.count - b->n_served >= MAX_IDLE_SERVICES))
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->name = xstrndup(name, len);
    s->name_len = len;
    s->entry.key = s->name;
    s->entry.key_len = len;
    s->m_requests = b->m_unreg_requests;
    table_insert(&b->services, &s->entry);
    ovop_metric_set(b->m_services, (double)b->services.count);
    return s;
}

static void service_free(ovop_broker_t *b, service_t *s)
{
    while (s->queue.head) {
        pending_t *p = s->queue.head;
        plist_remove(&s->queue, p);
        b->queued_bytes -= p->bytes;
        queue_changed(b, s, -1);
        release(b, s, p);
    }
    if (s->labelled) {
        ovop_metric_set(s->m_workers, 0);
        ovop_metric_set(s->m_queue, 0);
    }
    table_remove(&b->services, &s->entry);
    ovop_metric_set(b->m_services, (double)b->services.count);
    free(s->name);
    free(s);
}

/* Sends one request to a worker and keeps it on the worker's outstanding list. The body
 * frames are shared with the kept copy (reference counts, no byte copies). */
static void send_request(ovop_broker_t *b, worker_t *w, pending_t *p)
{
    ovop_msg_t *m = ovop_msg_new();
    unsigned char cmd = OVOP_MDPW_REQUEST;
    ovop_msg_addmem(m, w->id, w->id_len);
    ovop_msg_addmem(m, OVOP_MDPW, 6);
    ovop_msg_addmem(m, &cmd, 1);
    ovop_msg_copy_frame(m, p->msg, 0);
    ovop_msg_addmem(m, NULL, 0);
    size_t n = ovop_msg_frames(p->msg);
    for (size_t i = 4; i < n; i++)
        ovop_msg_copy_frame(m, p->msg, i);
    p->enqueued_us = ovop_mono_us(); /* from now on held: see expire_held() */
    plist_push_back(&w->outstanding, p);
    w->last_used = ++b->dispatch_seq;
    if (ovop_log_min_level <= OVOP_LOG_DEBUG) {
        char rid[OVOP_MAX_REQUEST_ID + 1];
        frame_rid(p->msg, 4, rid);
        log_debug_rid(rid, "dispatching a request for %s to a worker with %zu outstanding",
                      w->service->name, w->outstanding.n);
    }
    send_msg(b, &m);
}

/* Hands queued requests to the workers with the most free credit (least recently used on a
 * tie) while both exist. */
static void dispatch(ovop_broker_t *b, service_t *s)
{
    size_t sent = 0;
    while (s->queue.head) {
        worker_t *best = NULL;
        uint32_t best_free = 0;
        for (worker_t *w = s->workers; w; w = w->next) {
            uint32_t free_credit = w->draining ? 0 : w->credit - (uint32_t)w->outstanding.n;
            if (free_credit > best_free ||
                (free_credit == best_free && free_credit > 0 && w->last_used < best->last_used)) {
                best = w;
                best_free = free_credit;
            }
        }
        if (!best)
            break;
        pending_t *p = s->queue.head;
        plist_remove(&s->queue, p);
        b->queued_bytes -= p->bytes;
        send_request(b, best, p);
        sent++;
    }
    if (sent)
        queue_changed(b, s, -(ptrdiff_t)sent);
}

/* ---- workers ---- */

static worker_t *worker_find(ovop_broker_t *b, const void *id, size_t len)
{
    table_entry_t *e = table_find(&b->workers, id, len);
    return e ? (worker_t *)e : NULL;
}

/* Forgets a worker. With requeue, its outstanding requests go back to the head of the
 * service queue in their original order, to be dispatched again at once. */
static void worker_remove(ovop_broker_t *b, worker_t *w, bool requeue)
{
    service_t *s = w->service;
    size_t n = w->outstanding.n;

    if (w->prev)
        w->prev->next = w->next;
    else
        s->workers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    s->n_workers--;
    if (s->n_workers == 0)
        b->n_served--;
    ovop_metric_set(s->m_workers, (double)s->n_workers);
    table_remove(&b->workers, &w->entry);
    while (w->outstanding.tail) {
        pending_t *p = w->outstanding.tail;
        plist_remove(&w->outstanding, p);
        if (requeue) {
            char rid[OVOP_MAX_REQUEST_ID + 1];
            frame_rid(p->msg, 4, rid);
            log_info_rid(rid, "re-queueing a request for %s: its worker went away", s->name);
            p->enqueued_us = ovop_mono_us();
            plist_push_front(&s->queue, p);
            b->queued_bytes += p->bytes;
            ovop_metric_inc(b->m_requeued);
        } else {
            release(b, s, p);
        }
    }
    free(w);
    if (requeue && n > 0) {
        queue_changed(b, s, (ptrdiff_t)n);
        dispatch(b, s);
    }
}

/* The peer broke the protocol with a well-formed but unexpected command: tell it to go and
 * forget it, so that it starts over with READY. */
static void worker_reject(ovop_broker_t *b, const void *id, size_t len, worker_t *w, int cmd)
{
    char hex[41];
    id_hex(id, len, hex);
    log_warn("unexpected %s from %s worker %s, disconnecting it", ovop_mdpw_cmd_to_string(cmd),
             w ? "registered" : "unknown", hex);
    drop(b, DROP_UNEXPECTED_COMMAND);
    if (w)
        worker_remove(b, w, true);
    send_command(b, id, len, OVOP_MDPW_DISCONNECT);
}

static void worker_ready(ovop_broker_t *b, const void *id, size_t len, const ovop_mdp_view_t *v,
                         const ovop_principal_t *who, const char *user)
{
    char hex[41];
    char role[8 + OVOP_MDP_MAX_SERVICE + 1];
    drop_reason_t reason;

    void *ud;
    if ((v->service_len >= 4 && memcmp(v->service, "mmi.", 4) == 0) ||
        internal_for(b, v->service, v->service_len, &ud)) {
        reason = DROP_RESERVED_SERVICE;
        goto reject;
    }
    snprintf(role, sizeof(role), "worker:%.*s", (int)v->service_len, v->service);
    if (!ovop_principal_has_role(who, role)) {
        id_hex(id, len, hex);
        log_warn("refusing worker %s of principal %s for service %.*s: it lacks the role %s", hex,
                 who->id, (int)v->service_len, v->service, role);
        drop(b, DROP_UNAUTHORIZED_WORKER);
        send_command(b, id, len, OVOP_MDPW_DISCONNECT);
        return;
    }
    if (b->workers.count >= MAX_WORKERS) {
        reason = DROP_TOO_MANY_WORKERS;
        goto reject;
    }
    service_t *s = service_require(b, v->service, v->service_len, true);
    if (!s) {
        reason = DROP_TOO_MANY_SERVICES;
        goto reject;
    }
    service_label(b, s);
    worker_t *w = xcalloc(1, sizeof(*w) + len);
    memcpy(w->id, id, len);
    w->id_len = len;
    w->entry.key = w->id;
    w->entry.key_len = len;
    w->service = s;
    w->credit = v->credit;
    snprintf(w->user, sizeof(w->user), "%s", user);
    if (v->meta) {
        ovop_mdp_meta_get(v->meta, v->meta_len, "instance", w->instance, sizeof(w->instance));
        ovop_mdp_meta_get(v->meta, v->meta_len, "ops", w->ops_url, sizeof(w->ops_url));
    }
    w->connected_us = ovop_now_us();
    w->last_heard_us = ovop_mono_us();
    table_insert(&b->workers, &w->entry);
    w->next = s->workers;
    if (s->workers)
        s->workers->prev = w;
    s->workers = w;
    if (s->n_workers++ == 0)
        b->n_served++;
    ovop_metric_set(s->m_workers, (double)s->n_workers);
    id_hex(id, len, hex);
    log_info("worker %s of principal %s ready for service %s with credit %u", hex, who->id, s->name,
             w->credit);
    dispatch(b, s);
    return;

reject:
    id_hex(id, len, hex);
    log_warn("refusing worker %s for service %.*s: %s", hex, (int)v->service_len, v->service,
             drop_reason_to_string(reason));
    drop(b, reason);
    send_command(b, id, len, OVOP_MDPW_DISCONNECT);
}

/* The oldest request of this client held by w whose request id is the reply's (an
 * envelope's field 1 in both), so that a late reply to a request the broker already answered
 * (expire_held) matches no other request of the same client. A reply without a request id
 * (the worker could not read the request's) takes the client's oldest request. */
static pending_t *held_request(worker_t *w, ovop_msg_t *m, const ovop_mdp_view_t *v)
{
    char rid[OVOP_MAX_REQUEST_ID + 1], held_rid[OVOP_MAX_REQUEST_ID + 1];
    bool peeked = false;
    for (pending_t *p = w->outstanding.head; p; p = p->next) {
        if (!ovop_msg_eq(p->msg, 0, v->address, v->address_len))
            continue;
        if (!peeked) {
            rid[0] = '\0';
            if (ovop_msg_frames(m) > v->body_first)
                ovop_request_peek_id(ovop_msg_data(m, v->body_first),
                                     ovop_msg_len(m, v->body_first), rid);
            peeked = true;
        }
        ovop_request_peek_id(ovop_msg_data(p->msg, 4), ovop_msg_len(p->msg, 4), held_rid);
        if (!rid[0] || strcmp(rid, held_rid) == 0)
            return p;
    }
    return NULL;
}

/* A PARTIAL or FINAL: forwarded to the client as MDPC02 PARTIAL/FINAL by moving the frames.
 * A FINAL completes the oldest outstanding request of that client on this worker. */
static void worker_reply(ovop_broker_t *b, worker_t *w, ovop_msg_t *m, const ovop_mdp_view_t *v)
{
    service_t *s = w->service;
    bool final = v->command == OVOP_MDPW_FINAL;
    unsigned char cmd = final ? OVOP_MDPC_FINAL : OVOP_MDPC_PARTIAL;

    pending_t *held = held_request(w, m, v);
    char rid[OVOP_MAX_REQUEST_ID + 1];
    frame_rid(m, v->body_first, rid);
    if (!held) {
        /* Not a client whose request this worker holds: a forged or a late reply. */
        drop(b, DROP_UNSOLICITED_REPLY);
        log_info_rid(rid[0] ? rid : NULL,
                     "dropping a %s from a worker of %s for a client it holds no request of "
                     "(late or forged)",
                     final ? "FINAL" : "PARTIAL", s->name);
        return;
    }
    int code = OVOP_OK;
    if (final && ovop_msg_frames(m) > v->body_first)
        code =
            ovop_reply_peek_code(ovop_msg_data(m, v->body_first), ovop_msg_len(m, v->body_first));
    if (final) {
        plist_remove(&w->outstanding, held);
        release(b, s, held);
    }
    ovop_msg_t *out = ovop_msg_new();
    /* The client address frame follows the identity, the header and the command. */
    ovop_msg_move_frame(out, m, v->body_first - 2);
    ovop_msg_addmem(out, OVOP_MDPC, 6);
    ovop_msg_addmem(out, &cmd, 1);
    ovop_msg_addmem(out, s->name, s->name_len);
    size_t n = ovop_msg_frames(m);
    for (size_t i = v->body_first; i < n; i++)
        ovop_msg_move_frame(out, m, i);
    send_msg(b, &out);
    log_debug_rid(rid[0] ? rid : NULL, "forwarded a %s from %s: %s", final ? "FINAL" : "PARTIAL",
                  s->name, ovop_code_to_string(code));
    if (final) {
        count_reply(b, s, code);
        dispatch(b, s);
    }
}

static void on_worker(ovop_broker_t *b, ovop_msg_t *m)
{
    const void *id = ovop_msg_data(m, 0);
    size_t id_len = ovop_msg_len(m, 0);
    worker_t *w = worker_find(b, id, id_len);
    ovop_mdp_view_t v;

    if (ovop_mdp_parse_worker(m, 1, &v) < 0) {
        drop(b, DROP_BAD_WORKER_FRAME);
        return;
    }
    const char *user;
    const ovop_principal_t *who = sender(b, m, &user);
    if (!who) {
        drop(b, DROP_UNAUTHENTICATED);
        if (w)
            worker_remove(b, w, true);
        send_command(b, id, id_len, OVOP_MDPW_DISCONNECT);
        return;
    }
    if (w)
        w->last_heard_us = ovop_mono_us();
    switch (v.command) {
    case OVOP_MDPW_READY:
        if (w)
            worker_reject(b, id, id_len, w, v.command);
        else
            worker_ready(b, id, id_len, &v, who, user);
        break;
    case OVOP_MDPW_PARTIAL:
    case OVOP_MDPW_FINAL:
    case OVOP_MDPW_HEARTBEAT:
    case OVOP_MDPW_DRAINING:
        if (!w) {
            /* Typically a worker of a broker that restarted: make it register again. */
            drop(b, DROP_UNKNOWN_WORKER);
            send_command(b, id, id_len, OVOP_MDPW_DISCONNECT);
        } else if (v.command == OVOP_MDPW_DRAINING) {
            /* Stopping: its requests in hand stay its own, new ones go to the others. */
            char hex[41];
            id_hex(id, id_len, hex);
            log_info("worker %s of service %s is draining %zu requests: sending it no more", hex,
                     w->service->name, w->outstanding.n);
            w->draining = true;
        } else if (v.command != OVOP_MDPW_HEARTBEAT) {
            worker_reply(b, w, m, &v);
        }
        break;
    case OVOP_MDPW_DISCONNECT:
        if (w) {
            char hex[41];
            id_hex(id, id_len, hex);
            log_info("worker %s of service %s disconnected, re-queueing %zu requests", hex,
                     w->service->name, w->outstanding.n);
            worker_remove(b, w, true);
        }
        break;
    default: /* REQUEST */
        worker_reject(b, id, id_len, w, v.command);
        break;
    }
}

/* ---- clients ---- */

/* mmi.service (RFC 8) answers "200" when the service has a worker, else "404"; any other
 * mmi.* name "501". */
static void on_mmi(ovop_broker_t *b, ovop_msg_t *m, const ovop_mdp_view_t *v)
{
    const char *code = "501";
    unsigned char cmd = OVOP_MDPC_FINAL;

    if (v->service_len == 11 && memcmp(v->service, "mmi.service", 11) == 0) {
        const char *name = ovop_msg_data(m, v->body_first);
        size_t len = ovop_msg_len(m, v->body_first);
        service_t *s = service_find(b, name, len);
        void *ud;
        bool internal = internal_for(b, name, len, &ud) != NULL;
        code = internal || (s && s->n_workers > 0) ? "200" : "404";
    }
    ovop_msg_t *out = ovop_msg_new();
    ovop_msg_move_frame(out, m, 0);
    ovop_msg_addmem(out, OVOP_MDPC, 6);
    ovop_msg_addmem(out, &cmd, 1);
    ovop_msg_addmem(out, v->service, v->service_len);
    ovop_msg_addstr(out, code);
    send_msg(b, &out);
}

/* A request for the broker's own service: handed to internal_fn with the principal. */
static void on_internal(ovop_broker_t *b, ovop_msg_t *m, const ovop_mdp_view_t *v,
                        const ovop_principal_t *who, ovop_broker_internal_fn fn, void *ud)
{
    ovop_broker_reply_t *r = xcalloc(1, sizeof(*r));
    r->b = b;
    r->client = ovop_msg_new();
    ovop_msg_copy_frame(r->client, m, 0);
    r->service = xstrndup(v->service, v->service_len);
    b->internal_inflight++;
    fn(ud, r, ovop_msg_data(m, v->body_first), ovop_msg_len(m, v->body_first), who->encoded,
       who->encoded_len);
}

void ovop_broker_reply_send(ovop_broker_reply_t **rp, const void *body, size_t len)
{
    ovop_broker_reply_t *r = *rp;
    *rp = NULL;
    unsigned char cmd = OVOP_MDPC_FINAL;
    ovop_msg_t *out = ovop_msg_new();
    ovop_msg_copy_frame(out, r->client, 0);
    ovop_msg_addmem(out, OVOP_MDPC, 6);
    ovop_msg_addmem(out, &cmd, 1);
    ovop_msg_addstr(out, r->service);
    ovop_msg_addmem(out, body, len);
    send_msg(r->b, &out);
    r->b->internal_inflight--;
    ovop_msg_destroy(&r->client);
    free(r->service);
    free(r);
}

/* Which share a request of this cost would overflow (its drop reason), or -1 if none. */
static int over_share(ovop_broker_t *b, const service_t *s, const tenant_t *client,
                      const tenant_t *principal, size_t cost, const char **bound)
{
    size_t max = b->opts.max_queue_bytes;
    if (client->charged + cost > max / 8) {
        *bound = "client";
        return DROP_QUEUE_FULL_CLIENT;
    }
    if (principal->charged + cost > max / 4) {
        *bound = "principal";
        return DROP_QUEUE_FULL_PRINCIPAL;
    }
    if (s->queue.n >= b->opts.max_queue || s->charged + cost > max / 4) {
        *bound = "service";
        return DROP_QUEUE_FULL_SERVICE;
    }
    if (b->charged + cost > max) {
        *bound = "broker";
        return DROP_QUEUE_FULL;
    }
    return -1;
}

/* Charges the request to its client connection, its principal, its service and the broker,
 * each within its share, and queues it; a request over a share is answered QUEUE_FULL. */
static void enqueue(ovop_broker_t *b, service_t *s, ovop_msg_t **msg, const ovop_mdp_view_t *v,
                    const ovop_principal_t *who)
{
    /* The principal travels with the request: the worker takes identity from it alone. */
    ovop_msg_addmem(*msg, who->encoded, who->encoded_len);
    size_t cost = pending_cost(*msg);
    tenant_t *client = tenant_require(b, 'c', ovop_msg_data(*msg, 0), ovop_msg_len(*msg, 0));
    tenant_t *principal = tenant_require(b, 'p', who->id, strlen(who->id));
    const char *bound = NULL;
    int reason = over_share(b, s, client, principal, cost, &bound);
    if (reason >= 0) {
        drop(b, (drop_reason_t)reason);
        count_reply(b, s, OVOP_RESOURCE_EXHAUSTED);
        refuse_client_meta(b, *msg, v, OVOP_RESOURCE_EXHAUSTED, "QUEUE_FULL",
                           "too many requests in hand; retry later", "bound", bound);
        tenant_release(b, client, 0);
        tenant_release(b, principal, 0);
        return;
    }
    ovop_metric_inc(s->m_requests);
    if (ovop_log_min_level <= OVOP_LOG_DEBUG) {
        char rid[OVOP_MAX_REQUEST_ID + 1];
        frame_rid(*msg, v->body_first, rid);
        log_debug_rid(rid, "request for %s from principal %s, %zu queued", s->name, who->id,
                      s->queue.n);
    }
    pending_t *p = pending_new(&b->pool, msg);
    p->client = client;
    p->principal = principal;
    client->charged += p->cost;
    principal->charged += p->cost;
    s->charged += p->cost;
    b->charged += p->cost;
    ovop_metric_set(b->m_charged, (double)b->charged);
    plist_push_back(&s->queue, p);
    b->queued_bytes += p->bytes;
    queue_changed(b, s, 1);
    dispatch(b, s);
}

static void on_client(ovop_broker_t *b, ovop_msg_t **msg)
{
    ovop_mdp_view_t v;

    if (ovop_mdp_parse_client(*msg, 1, &v) < 0 || v.command != OVOP_MDPC_REQUEST) {
        drop(b, DROP_BAD_CLIENT_FRAME);
        return;
    }
    const char *user;
    const ovop_principal_t *who = sender(b, *msg, &user);
    if (!who) {
        drop(b, DROP_UNAUTHENTICATED);
        refuse_client(b, *msg, &v, OVOP_UNAUTHENTICATED, "KEY_NOT_CURRENT",
                      "this connection's key is no longer accepted (principal disabled, key "
                      "revoked or expired)");
        return;
    }
    if (v.service_len >= 4 && memcmp(v.service, "mmi.", 4) == 0) {
        on_mmi(b, *msg, &v);
        return;
    }
    if (b->draining) {
        /* Answered rather than dropped, so that the client retries (same request id) at once,
         * on the other broker or on this one restarted, instead of after its timeout. */
        char rid[OVOP_MAX_REQUEST_ID + 1];
        frame_rid(*msg, v.body_first, rid);
        drop(b, DROP_DRAINING);
        log_info_rid(rid, "refusing a request for %.*s: the broker is stopping", (int)v.service_len,
                     v.service);
        refuse_client(b, *msg, &v, OVOP_UNAVAILABLE, "BROKER_DRAINING",
                      "this broker is shutting down; retry");
        return;
    }
    if (b->opts.max_msg && ovop_msg_bytes(*msg) > b->opts.max_msg) {
        /* ZMQ_MAXMSGSIZE limits each frame: the whole message is checked here. */
        char max[32];
        snprintf(max, sizeof(max), "%zu", b->opts.max_msg);
        drop(b, DROP_TOO_LARGE);
        refuse_client_meta(b, *msg, &v, OVOP_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE",
                           "the request is larger than the broker accepts", "max_bytes", max);
        return;
    }
    if (ovop_msg_frames(*msg) != v.body_first + 1) {
        /* Requests are one envelope frame; the principal frame is the broker's to add. */
        drop(b, DROP_BAD_CLIENT_FRAME);
        refuse_client(b, *msg, &v, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                      "a request is exactly one body frame (an ovop.v1.Request)");
        return;
    }
    void *ud;
    ovop_broker_internal_fn fn = internal_for(b, v.service, v.service_len, &ud);
    if (fn) {
        on_internal(b, *msg, &v, who, fn, ud);
        return;
    }
    service_t *s = service_require(b, v.service, v.service_len, false);
    if (!s) {
        drop(b, DROP_TOO_MANY_SERVICES);
        refuse_client_meta(b, *msg, &v, OVOP_RESOURCE_EXHAUSTED, "TOO_MANY_SERVICES",
                           "too many services without a worker have requests waiting", "bound",
                           "services");
        return;
    }
    enqueue(b, s, msg, &v, who);
}

/* Remembers which key the connection of m uses (see conn_user). */
static void note_connection(ovop_broker_t *b, ovop_msg_t *m)
{
    int fd = zmq_msg_get(ovop_msg_frame(m, 0), ZMQ_SRCFD);
    const char *u = zmq_msg_gets(ovop_msg_frame(m, 0), "User-Id");
    if (fd < 0 || fd > 1 << 20 || !u || strlen(u) != OVOP_KEY_LEN)
        return;
    if ((size_t)fd >= b->n_conn_user) {
        size_t n = b->n_conn_user ? b->n_conn_user : 256;
        while (n <= (size_t)fd)
            n *= 2;
        b->conn_user = xrealloc(b->conn_user, n * sizeof(*b->conn_user));
        memset(b->conn_user + b->n_conn_user, 0, (n - b->n_conn_user) * sizeof(*b->conn_user));
        b->n_conn_user = n;
    }
    if (strcmp(b->conn_user[fd], u) != 0)
        memcpy(b->conn_user[fd], u, OVOP_KEY_LEN + 1);
}

/* Closes the connections whose key is no longer accepted. */
static void close_stale_connections(ovop_broker_t *b)
{
    for (size_t fd = 0; fd < b->n_conn_user; fd++) {
        if (!b->conn_user[fd][0] || ovop_keyring_find(b->keyring, b->conn_user[fd]))
            continue;
        log_info("closing a connection of key %s: no longer accepted", b->conn_user[fd]);
        shutdown((int)fd, SHUT_RDWR);
        b->conn_user[fd][0] = '\0';
        ovop_metric_inc(b->m_closed);
    }
}

/* ZMQ_EVENT_DISCONNECTED from the socket monitor: that descriptor's connection is gone. */
static void on_monitor(ovop_zsock_t *sock, ovop_msg_t **msg, void *userdata)
{
    ovop_broker_t *b = userdata;
    OVOP_UNUSED(sock);
    if (ovop_msg_frames(*msg) < 1 || ovop_msg_len(*msg, 0) != 6)
        return;
    const uint8_t *p = ovop_msg_data(*msg, 0);
    uint16_t event;
    uint32_t fd;
    memcpy(&event, p, 2);
    memcpy(&fd, p + 2, 4);
    if (event != ZMQ_EVENT_DISCONNECTED)
        return;
    /* Every end of a connection, including the ones libzmq ends for a frame over
     * ZMQ_MAXMSGSIZE (it tells no reason). */
    ovop_metric_inc(b->m_disconnects);
    if (fd < b->n_conn_user)
        b->conn_user[fd][0] = '\0';
}

static void on_recv(ovop_zsock_t *sock, ovop_msg_t **msg, void *userdata)
{
    ovop_broker_t *b = userdata;

    OVOP_UNUSED(sock);
    if (!b->opts.security->plaintext)
        note_connection(b, *msg);
    if (ovop_msg_frames(*msg) < 2)
        drop(b, DROP_BAD_HEADER);
    else if (ovop_mdp_is_client(*msg, 1))
        on_client(b, msg);
    else if (ovop_mdp_is_worker(*msg, 1))
        on_worker(b, *msg);
    else
        drop(b, DROP_BAD_HEADER);
}

/* ---- heartbeats and expiry ---- */

/* Answers the requests w has held longer than the broker's bound (DEADLINE_EXCEEDED,
 * WORKER_TIMEOUT) and gives w its credit back, so that a worker that swallows requests
 * cannot starve its service for good; its late FINAL then matches nothing and is dropped.
 * The request is not re-queued (it may be what the worker chokes on), and w goes to the
 * back of the least-recently-used order. Returns how many expired. */
static size_t expire_held(ovop_broker_t *b, worker_t *w, int64_t now)
{
    int64_t max_held = (int64_t)b->opts.held_timeout_ms * 1000;
    size_t n = 0;
    while (w->outstanding.head && now - w->outstanding.head->enqueued_us > max_held) {
        pending_t *p = w->outstanding.head;
        plist_remove(&w->outstanding, p);
        ovop_mdp_view_t v;
        if (ovop_mdp_parse_client(p->msg, 1, &v) == 0) {
            count_reply(b, w->service, OVOP_DEADLINE_EXCEEDED);
            refuse_client(b, p->msg, &v, OVOP_DEADLINE_EXCEEDED, "WORKER_TIMEOUT",
                          "the worker did not answer in time; the request may or may not have "
                          "been carried out");
        }
        release(b, w->service, p);
        drop(b, DROP_HELD_EXPIRED);
        n++;
    }
    if (n) {
        char hex[41];
        id_hex(w->id, w->id_len, hex);
        log_warn("worker %s of service %s held %zu requests over %u ms: answered them "
                 "DEADLINE_EXCEEDED",
                 hex, w->service->name, n, b->opts.held_timeout_ms);
        w->last_used = ++b->dispatch_seq;
    }
    return n;
}

/* For each service: heartbeat live workers, remove silent ones, answer requests held too
 * long, drop requests that waited too long (the queue is oldest first except for re-queued
 * requests, so expiry stops at the first young one), and forget services that have no
 * worker and nothing queued. */
static void tick_service(table_entry_t *e, void *userdata)
{
    ovop_broker_t *b = userdata;
    service_t *s = (service_t *)e;
    int64_t now = ovop_mono_us();
    int64_t limit = (int64_t)b->opts.liveness * b->opts.heartbeat_ms * 1000;
    int64_t max_wait = (int64_t)b->opts.request_timeout_ms * 1000;
    size_t held_expired = 0;

    for (worker_t *w = s->workers, *next; w; w = next) {
        next = w->next;
        if (now - w->last_heard_us > limit) {
            char hex[41];
            id_hex(w->id, w->id_len, hex);
            log_warn("worker %s of service %s silent for %d ms, removing it and re-queueing %zu "
                     "requests",
                     hex, s->name, (int)((now - w->last_heard_us) / 1000), w->outstanding.n);
            worker_remove(b, w, true);
        } else {
            send_command(b, w->id, w->id_len, OVOP_MDPW_HEARTBEAT);
            held_expired += expire_held(b, w, now);
        }
    }
    if (held_expired)
        dispatch(b, s);
    size_t expired = 0;
    while (s->queue.head && now - s->queue.head->enqueued_us > max_wait) {
        pending_t *p = s->queue.head;
        char rid[OVOP_MAX_REQUEST_ID + 1];
        frame_rid(p->msg, 4, rid);
        log_warn_rid(rid, "dropping a request for %s: no worker took it within %u ms", s->name,
                     b->opts.request_timeout_ms);
        plist_remove(&s->queue, p);
        b->queued_bytes -= p->bytes;
        release(b, s, p);
        drop(b, DROP_EXPIRED);
        expired++;
    }
    if (expired) {
        queue_changed(b, s, -(ptrdiff_t)expired);
        log_warn("dropped %zu requests for service %s after waiting %u ms for a worker", expired,
                 s->name, b->opts.request_timeout_ms);
    }
    /* Forgotten when it has neither workers nor requests (its series stay: MAX_SERIES). */
    if (s->n_workers == 0 && s->queue.n == 0)
        service_free(b, s);
}

static void on_tick(uv_timer_t *t)
{
    ovop_broker_t *b = t->data;
    table_foreach(&b->services, tick_service, b);
    close_stale_connections(b); /* keys whose expiry passed need no reload */
    if (b->released >= TRIM_AFTER_BYTES) {
        malloc_trim(0);
        b->released = 0;
    }
}

/* ---- life cycle ---- */

static void free_entry(table_entry_t *e, void *userdata)
{
    OVOP_UNUSED(userdata);
    free(e);
}

static void on_timer_closed(uv_handle_t *h)
{
    ovop_broker_t *b = h->data;
    pending_pool_clear(&b->pool);
    table_foreach(&b->series, free_entry, NULL);
    table_free(&b->services);
    table_free(&b->workers);
    table_free(&b->tenants);
    table_free(&b->series);
    free(b->conn_user);
    free((char *)b->opts.bind);
    free(b);
}

typedef struct stale {
    ovop_broker_t *b;
    worker_t **list;
    size_t n;
} stale_t;

static void find_stale(table_entry_t *e, void *userdata)
{
    stale_t *st = userdata;
    worker_t *w = (worker_t *)e;
    const ovop_principal_t *p = ovop_keyring_find(st->b->keyring, w->user);
    char role[8 + OVOP_MDP_MAX_SERVICE + 1];
    snprintf(role, sizeof(role), "worker:%s", w->service->name);
    if (!p || !ovop_principal_has_role(p, role)) {
        st->list = xrealloc(st->list, (st->n + 1) * sizeof(worker_t *));
        st->list[st->n++] = w;
    }
}

void ovop_broker_recheck(ovop_broker_t *b)
{
    /* The connections themselves close at the next tick: a DISCONNECT sent now has that
     * long to leave before its connection goes. */
    stale_t st = {.b = b};
    table_foreach(&b->workers, find_stale, &st);
    for (size_t i = 0; i < st.n; i++) {
        worker_t *w = st.list[i];
        char hex[41];
        id_hex(w->id, w->id_len, hex);
        log_warn("worker %s of service %s: its key is no longer accepted or its principal lost "
                 "the worker role, disconnecting it and re-queueing %zu requests",
                 hex, w->service->name, w->outstanding.n);
        drop(b, DROP_UNAUTHENTICATED);
        send_command(b, w->id, w->id_len, OVOP_MDPW_DISCONNECT);
        worker_remove(b, w, true);
    }
    free(st.list);
}

static int bind_all(ovop_broker_t *b, const char *list)
{
    char *copy = xstrdup(list);
    char *save = NULL;
    int r = 0;
    for (char *ep = strtok_r(copy, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ')
            ep++;
        r = ovop_zsock_bind(b->sock, ep);
        if (r < 0) {
            log_error("could not bind %s: %s", ep, zmq_strerror(-r));
            break;
        }
    }
    free(copy);
    return r;
}

static void make_metrics(ovop_broker_t *b, ovop_metrics_t *metrics)
{
    for (int i = 0; i < DROP__MAX; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "reason=\"%s\"", drop_reason_to_string(i));
        b->m_dropped[i] = ovop_metrics_counter(metrics, "ovop_broker_dropped_total",
                                               "Messages dropped, by reason", labels);
    }
    b->m_closed = ovop_metrics_counter(metrics, "ovop_broker_connections_closed_total",
                                       "Connections closed because their key is no longer "
                                       "accepted",
                                       NULL);
    b->m_disconnects = ovop_metrics_counter(
        metrics, "ovop_broker_disconnects_total",
        "Connections that ended (closed by their peer, or by libzmq for a frame over twice "
        "--max-msg)",
        NULL);
    b->m_services =
        ovop_metrics_gauge(metrics, "ovop_broker_services",
                           "Services known: with workers or with requests waiting", NULL);
    b->m_charged = ovop_metrics_gauge(metrics, "ovop_broker_requests_bytes",
                                      "Memory of the requests in hand, queued or held, with "
                                      "the broker's overhead",
                                      NULL);
    b->m_requeued = ovop_metrics_counter(metrics, "ovop_broker_requeued_total",
                                         "Requests re-queued after their worker went away", NULL);
    b->m_unreg_requests =
        ovop_metrics_counter(metrics, "ovop_broker_requests_total",
                             "Client requests accepted, by service", UNREGISTERED_LABEL);
    b->m_unreg_queue =
        ovop_metrics_gauge(metrics, "ovop_broker_queue_depth",
                           "Requests waiting for a worker, by service", UNREGISTERED_LABEL);
}

static int watch_disconnects(ovop_broker_t *b, void *zctx)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "inproc://ovop-broker-monitor-%p", (void *)b);
    if (zmq_socket_monitor(ovop_zsock_raw(b->sock), ep, ZMQ_EVENT_DISCONNECTED) < 0)
        return -errno;
    int r = ovop_zsock_new(&b->monitor, b->loop, zctx, ZMQ_PAIR, 1024, on_monitor, b);
    if (r == 0)
        r = ovop_zsock_connect(b->monitor, ep);
    if (r == 0) {
        /* An inproc pipe signals its reader only once the reader found it empty: ask now,
         * or the first events would raise no edge on ZMQ_FD and none would ever arrive. */
        int events;
        size_t events_len = sizeof(events);
        zmq_getsockopt(ovop_zsock_raw(b->monitor), ZMQ_EVENTS, &events, &events_len);
    }
    if (r < 0)
        ovop_zsock_destroy(&b->monitor);
    return r;
}

int ovop_broker_new(ovop_broker_t **ret, uv_loop_t *loop, void *zctx,
                    const ovop_broker_options_t *opts, ovop_metrics_t *metrics)
{
    int hwm = SOCKET_HWM;
    int r;

    static const ovop_security_t plaintext = {.plaintext = true};
    if (!opts->bind || !*opts->bind || opts->heartbeat_ms == 0 || opts->liveness == 0 ||
        (opts->internal_fn && !opts->internal_service) ||
        (opts->status_fn && !opts->status_service))
        return -EINVAL;
    if ((!opts->security || opts->security->plaintext) && !ovop_endpoints_loopback(opts->bind)) {
        log_error("refusing plaintext on %s: plaintext is for loopback only", opts->bind);
        return -EINVAL;
    }
    if (!opts->keyring && opts->security && !opts->security->plaintext)
        return -EINVAL; /* CURVE needs a keyring to know who is who */
    ovop_broker_t *b = xcalloc(1, sizeof(*b));
    b->loop = loop;
    b->opts = *opts;
    if (!b->opts.security)
        b->opts.security = &plaintext;
    b->keyring = opts->keyring;
    if (!b->keyring)
        b->keyring = b->own_keyring = ovop_keyring_new(loop, NULL, 0, true, NULL);
    b->opts.bind = xstrdup(opts->bind);
    if (b->opts.max_queue == 0)
        b->opts.max_queue = DEFAULT_MAX_QUEUE;
    if (b->opts.max_queue_bytes == 0)
        b->opts.max_queue_bytes = DEFAULT_QUEUE_BYTES;
    if (b->opts.held_timeout_ms == 0)
        b->opts.held_timeout_ms = b->opts.request_timeout_ms * 3;
    b->metrics = metrics;
    table_init(&b->services);
    table_init(&b->workers);
    table_init(&b->tenants);
    table_init(&b->series);
    make_metrics(b, metrics);

    r = ovop_zsock_new(&b->sock, loop, zctx, ZMQ_ROUTER, opts->max_msg, on_recv, b);
    if (r < 0) {
        log_error("could not create the broker socket: %s", zmq_strerror(-r));
        goto fail_tables;
    }
    zmq_setsockopt(ovop_zsock_raw(b->sock), ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (opts->max_msg) {
        /* Per frame: twice the limit, so that a request a little too large is still read and
         * answered MESSAGE_TOO_LARGE (on_client checks the whole message). */
        int64_t frame_max = (int64_t)opts->max_msg * 2;
        zmq_setsockopt(ovop_zsock_raw(b->sock), ZMQ_MAXMSGSIZE, &frame_max, sizeof(frame_max));
    }
    zmq_setsockopt(ovop_zsock_raw(b->sock), ZMQ_RCVHWM, &hwm, sizeof(hwm));
    r = ovop_security_apply_server(ovop_zsock_raw(b->sock), b->opts.security);
    if (r < 0) {
        log_error("could not set up the socket's security (CURVE, ZAP enforcement): %s",
                  zmq_strerror(-r));
        goto fail_sock;
    }
    r = bind_all(b, b->opts.bind);
    if (r < 0)
        goto fail_sock;
    if (!b->opts.security->plaintext && watch_disconnects(b, zctx) < 0)
        log_warn("could not monitor the broker socket: connections of revoked keys are refused "
                 "message by message but not closed");
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, on_tick, opts->heartbeat_ms, opts->heartbeat_ms);
    *ret = b;
    return 0;

fail_sock:
    ovop_zsock_destroy(&b->sock);
fail_tables:
    table_free(&b->services);
    table_free(&b->workers);
    table_free(&b->tenants);
    table_free(&b->series);
    ovop_keyring_destroy(&b->own_keyring);
    free((char *)b->opts.bind);
    free(b);
    return r;
}

static void destroy_service(table_entry_t *e, void *userdata)
{
    ovop_broker_t *b = userdata;
    service_t *s = (service_t *)e;
    while (s->workers) {
        send_command(b, s->workers->id, s->workers->id_len, OVOP_MDPW_DISCONNECT);
        worker_remove(b, s->workers, false);
    }
    service_free(b, s);
}

void ovop_broker_destroy(ovop_broker_t **bp)
{
    ovop_broker_t *b = *bp;
    int linger = DISCONNECT_LINGER_MS;
    if (!b)
        return;
    *bp = NULL;
    table_foreach(&b->services, destroy_service, b);
    /* Give the DISCONNECTs a moment to leave; zmq_ctx_term waits at most this long. */
    zmq_setsockopt(ovop_zsock_raw(b->sock), ZMQ_LINGER, &linger, sizeof(linger));
    if (b->monitor)
        zmq_socket_monitor(ovop_zsock_raw(b->sock), NULL, 0);
    ovop_zsock_destroy(&b->monitor);
    ovop_zsock_destroy(&b->sock);
    ovop_keyring_destroy(&b->own_keyring);
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, on_timer_closed);
}

static void count_pending(table_entry_t *e, void *userdata)
{
    service_t *s = (service_t *)e; /* entry is the first member */
    size_t *n = userdata;
    *n += s->queue.n;
    for (worker_t *w = s->workers; w; w = w->next)
        *n += w->outstanding.n;
}

size_t ovop_broker_pending(ovop_broker_t *b)
{
    size_t n = b->internal_inflight;
    table_foreach(&b->services, count_pending, &n);
    return n;
}

void ovop_broker_drain(ovop_broker_t *b)
{
    b->draining = true;
}

bool ovop_broker_draining(const ovop_broker_t *b)
{
    return b->draining;
}

size_t ovop_broker_workers(const ovop_broker_t *b)
{
    return b->workers.count;
}

void ovop_broker_handle(ovop_broker_t *b, ovop_msg_t **msg)
{
    on_recv(b->sock, msg, b);
    ovop_msg_destroy(msg);
}

typedef struct check {
    size_t queued_bytes;
    size_t unregistered_queued;
    size_t workers;
    size_t charged;
    size_t served;
    bool ok;
} check_t;

static void check_service(table_entry_t *e, void *userdata)
{
    check_t *c = userdata;
    service_t *s = (service_t *)e;
    size_t n = 0, n_workers = 0, charged = 0;
    for (pending_t *p = s->queue.head; p; p = p->next) {
        c->queued_bytes += p->bytes;
        charged += p->cost;
        n++;
        c->ok &= p->next ? p->next->prev == p : s->queue.tail == p;
    }
    c->ok &= n == s->queue.n;
    if (!s->labelled)
        c->unregistered_queued += n;
    for (worker_t *w = s->workers; w; w = w->next) {
        size_t out = 0;
        for (pending_t *p = w->outstanding.head; p; p = p->next) {
            out++;
            charged += p->cost;
        }
        c->ok &= w->service == s && out == w->outstanding.n && out <= w->credit;
        n_workers++;
    }
    c->ok &= n_workers == s->n_workers && (n_workers == 0 || s->labelled);
    c->workers += n_workers;
    c->served += n_workers > 0;
    c->ok &= charged == s->charged;
    c->charged += charged;
}

bool ovop_broker_check(ovop_broker_t *b)
{
    check_t c = {.ok = true};
    table_foreach(&b->services, check_service, &c);
    return c.ok && c.queued_bytes == b->queued_bytes &&
           c.unregistered_queued == b->unregistered_queued && c.workers == b->workers.count &&
           c.charged == b->charged && c.served == b->n_served;
}

/* ---- status ---- */

typedef struct walk {
    ovop_broker_t *b;
    void (*service_fn)(void *userdata, const ovop_broker_service_info_t *s);
    void (*worker_fn)(void *userdata, const ovop_broker_worker_info_t *w);
    void *userdata;
    int64_t now;
} walk_t;

static void walk_service(table_entry_t *e, void *userdata)
{
    walk_t *wk = userdata;
    service_t *s = (service_t *)e;
    ovop_broker_service_info_t si = {
        .name = s->name, .workers = s->n_workers, .queued = s->queue.n};
    for (pending_t *p = s->queue.head; p; p = p->next)
        si.queued_bytes += p->bytes;
    for (worker_t *w = s->workers; w; w = w->next)
        si.held += w->outstanding.n;
    wk->service_fn(wk->userdata, &si);
    for (worker_t *w = s->workers; w; w = w->next) {
        ovop_broker_worker_info_t wi = {
            .service = s->name,
            .instance = w->instance,
            .ops_url = w->ops_url,
            .credit = w->credit,
            .held = w->outstanding.n,
            .connected_us = w->connected_us,
            .last_heard_ms = (wk->now - w->last_heard_us) / 1000,
        };
        wk->worker_fn(wk->userdata, &wi);
    }
}

/* A name with a metric series had workers once: shown with none when it has no service now
 * (forgotten once its last worker left with nothing queued). */
static void walk_series(table_entry_t *e, void *userdata)
{
    walk_t *wk = userdata;
    series_t *se = (series_t *)e;
    if (service_find(wk->b, se->name, se->entry.key_len))
        return;
    ovop_broker_service_info_t si = {.name = se->name};
    wk->service_fn(wk->userdata, &si);
}

void ovop_broker_walk(ovop_broker_t *b,
                      void (*service_fn)(void *userdata, const ovop_broker_service_info_t *s),
                      void (*worker_fn)(void *userdata, const ovop_broker_worker_info_t *w),
                      void *userdata)
{
    walk_t wk = {b, service_fn, worker_fn, userdata, ovop_mono_us()};
    table_foreach(&b->services, walk_service, &wk);
    table_foreach(&b->series, walk_series, &wk);
}
