#include "worker.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <zmq.h>

#include "envelope.h"
#include "log.h"
#include "mdp.h"
#include "msg.h"
#include "util.h"
#include "zsock.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* How long a closing socket may still try to deliver DISCONNECT. */
#define DISCONNECT_LINGER_MS 100

/* One broker endpoint: its socket (NULL while waiting to reconnect) and a timer that ticks
 * every heartbeat while connected and fires once at the end of a back-off otherwise. */
typedef struct broker_conn {
    ovop_worker_t *w;
    char *endpoint;
    ovop_zsock_t *sock;
    uv_timer_t timer;
    uint64_t generation; /* changes with every new socket */
    int64_t last_heard_us;
    bool heard; /* something arrived on this socket */
    uint32_t backoff_ms;
} broker_conn_t;

struct ovop_request {
    ovop_worker_t *w;
    size_t conn;
    uint64_t generation;
    ovop_msg_t *msg; /* the REQUEST as received; address and body borrow from it */
    size_t address_i;
    size_t body_i;
    size_t principal_i;
    ovop_request_t *prev, *next;
};

struct ovop_worker {
    uv_loop_t *loop;
    void *zctx;
    char *service;
    char *ready_meta; /* READY's metadata frame (mdp.h), NULL: none */
    uint32_t credit;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    size_t max_msg;
    ovop_security_t security;
    broker_conn_t *conns;
    size_t n_conns;
    uint64_t next_generation;
    ovop_request_t *requests; /* outstanding, newest first */
    unsigned inflight;
    unsigned closing_handles;
    bool draining; /* ovop_worker_drain(): no reconnect */
    ovop_worker_request_fn fn;
    void *userdata;
    ovop_metric_t *m_requests;
    ovop_metric_t *m_replies;
    ovop_metric_t *m_dropped;
    ovop_metric_t *m_reconnects;
    ovop_metric_t *m_malformed;
};

static void on_reconnect(uv_timer_t *t);

static int64_t silence_limit_us(const ovop_worker_t *w)
{
    return (int64_t)w->liveness * w->heartbeat_ms * 1000;
}

static void conn_send(broker_conn_t *c, ovop_msg_t **m)
{
    if (!c->sock) {
        ovop_msg_destroy(m);
        return;
    }
    int r = ovop_zsock_send(c->sock, m);
    if (r < 0)
        log_warn("could not send to broker %s: %s, the broker will time us out", c->endpoint,
                 zmq_strerror(-r));
}

/* Closes the socket and arms the timer for a reconnect after the current back-off, which
 * then doubles. Requests taken on the old socket stay outstanding; their replies are
 * dropped because the generation moved on. */
static void conn_reset(broker_conn_t *c, const char *why, int64_t silent_ms)
{
    ovop_worker_t *w = c->w;
    uint32_t delay = c->backoff_ms;

    ovop_zsock_destroy(&c->sock);
    c->generation = 0;
    ovop_metric_inc(w->m_reconnects);
    if (silent_ms >= 0)
        log_warn("broker %s silent for %d ms, reconnecting in %d ms", c->endpoint, (int)silent_ms,
                 (int)delay);
    else
        log_warn("broker %s %s, reconnecting in %d ms", c->endpoint, why, (int)delay);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_reconnect, delay, 0);
}

/* Answers a REQUEST we cannot take but whose client address is intact with
 * INVALID_ARGUMENT (reason MALFORMED_REQUEST), so that the client learns it and the broker
 * gets its credit back instead of holding the request until it expires. body (the first
 * body frame, may be NULL) gives the request id when it holds a valid one. */
static void answer_malformed(broker_conn_t *c, const void *address, size_t address_len,
                             const void *body, size_t body_len, const char *why)
{
    ovop_worker_t *w = c->w;
    char rid[OVOP_MAX_REQUEST_ID + 1] = "";
    if (body)
        ovop_request_peek_id(body, body_len, rid);
    size_t len;
    void *rep =
        ovop_reply_error(rid, w->service, OVOP_INVALID_ARGUMENT, "MALFORMED_REQUEST", why, &len);
    ovop_msg_t *m = ovop_mdp_worker_reply(OVOP_MDPW_FINAL, address, address_len, rep, len);
    free(rep);
    ovop_metric_inc(w->m_malformed);
    log_warn("answering a malformed request from broker %s: %s", c->endpoint, why);
    conn_send(c, &m);
}

static void on_request(broker_conn_t *c, ovop_msg_t **msg, const ovop_mdp_view_t *v)
{
    ovop_worker_t *w = c->w;

    if (ovop_msg_frames(*msg) != v->body_first + 2) {
        /* Our envelope is exactly one body frame, and the broker appends the principal. */
        answer_malformed(c, v->address, v->address_len, ovop_msg_data(*msg, v->body_first),
                         ovop_msg_len(*msg, v->body_first),
                         "a request must be one envelope frame and the broker's principal frame");
        return;
    }
    ovop_request_t *req = xcalloc(1, sizeof(*req));
    req->w = w;
    req->conn = (size_t)(c - w->conns);
    req->generation = c->generation;
    req->msg = *msg;
    *msg = NULL;
    req->address_i = 2;
    req->body_i = v->body_first;
    req->principal_i = v->body_first + 1;
    req->next = w->requests;
    if (w->requests)
        w->requests->prev = req;
    w->requests = req;
    w->inflight++;
    ovop_metric_inc(w->m_requests);
    log_debug("request from broker %s, %u in flight", c->endpoint, w->inflight);
    w->fn(w, req, ovop_msg_data(req->msg, req->body_i), ovop_msg_len(req->msg, req->body_i),
          ovop_msg_data(req->msg, req->principal_i), ovop_msg_len(req->msg, req->principal_i),
          w->userdata);
}

/* True when m, which did not parse, is still a REQUEST with a client address (frame 2), so
 * that an answer can reach its client. */
static bool request_address(const ovop_msg_t *m)
{
    return ovop_msg_frames(m) >= 3 && ovop_mdp_is_worker(m, 0) && ovop_msg_len(m, 1) == 1 &&
           *(const unsigned char *)ovop_msg_data(m, 1) == OVOP_MDPW_REQUEST &&
           ovop_msg_len(m, 2) > 0;
}

/* Everything a broker sends. Any well-formed message proves it alive. */
static void on_recv(ovop_zsock_t *s, ovop_msg_t **msg, void *userdata)
{
    broker_conn_t *c = userdata;
    ovop_worker_t *w = c->w;
    ovop_mdp_view_t v;

    OVOP_UNUSED(s);
    if (ovop_mdp_parse_worker(*msg, 0, &v) < 0) {
        if (request_address(*msg)) {
            answer_malformed(c, ovop_msg_data(*msg, 2), ovop_msg_len(*msg, 2), NULL, 0,
                             "a request must carry a client address, an empty frame and a body");
            return;
        }
        ovop_metric_inc(w->m_malformed);
        log_debug("dropping a malformed message of %zu frames from broker %s",
                  ovop_msg_frames(*msg), c->endpoint);
        return;
    }
    c->last_heard_us = ovop_mono_us();
    if (!c->heard) {
        c->heard = true;
        c->backoff_ms = BACKOFF_MIN_MS;
        log_info("connected to broker %s for service %s", c->endpoint, w->service);
    }
    switch (v.command) {
    case OVOP_MDPW_REQUEST:
        on_request(c, msg, &v);
        break;
    case OVOP_MDPW_HEARTBEAT:
        break;
    case OVOP_MDPW_DISCONNECT:
        conn_reset(c, "sent DISCONNECT", -1);
        break;
    default:
        /* READY, PARTIAL, FINAL make no sense from a broker. */
        ovop_metric_inc(w->m_malformed);
        log_debug("dropping %s from broker %s", ovop_mdpw_cmd_to_string(v.command), c->endpoint);
        break;
    }
}

static void on_tick(uv_timer_t *t)
{
    broker_conn_t *c = t->data;
    int64_t silent = ovop_mono_us() - c->last_heard_us;

    if (silent > silence_limit_us(c->w)) {
        conn_reset(c, NULL, silent / 1000);
        return;
    }
    ovop_msg_t *hb = ovop_mdp_worker_command(OVOP_MDPW_HEARTBEAT);
    conn_send(c, &hb);
}

/* Opens a new socket to the endpoint, sends READY and starts heartbeating. Returns 0 or
 * -errno (nothing opened). */
static int conn_open(broker_conn_t *c)
{
    ovop_worker_t *w = c->w;
    int r = ovop_zsock_new(&c->sock, w->loop, w->zctx, ZMQ_DEALER, w->max_msg, on_recv, c);
    if (r < 0)
        return r;
    r = ovop_security_apply_client(ovop_zsock_raw(c->sock), &w->security);
    if (r == 0)
        r = ovop_zsock_connect(c->sock, c->endpoint);
    if (r < 0) {
        ovop_zsock_destroy(&c->sock);
        return r;
    }
    c->generation = ++w->next_generation;
    c->last_heard_us = ovop_mono_us();
    c->heard = false;
    ovop_msg_t *ready = ovop_mdp_worker_ready_meta(w->service, w->credit, w->ready_meta);
    conn_send(c, &ready);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_tick, w->heartbeat_ms, w->heartbeat_ms);
    return 0;
}

/* The end of a back-off: open again, or back off further. */
static void on_reconnect(uv_timer_t *t)
{
    broker_conn_t *c = t->data;
    if (c->w->draining)
        return; /* a new registration would be handed new requests */
    int r = conn_open(c);
    if (r < 0)
        conn_reset(c, zmq_strerror(-r), -1);
}

static void on_handle_closed(uv_handle_t *h)
{
    ovop_worker_t *w = ((broker_conn_t *)h->data)->w;
    if (--w->closing_handles > 0)
        return;
    for (size_t i = 0; i < w->n_conns; i++)
        free(w->conns[i].endpoint);
    free(w->conns);
    free(w->service);
    free(w->ready_meta);
    ovop_security_clear(&w->security);
    free(w);
}

static ovop_metric_t *counter(ovop_metrics_t *m, const char *name, const char *help,
                              const char *labels)
{
    return ovop_metrics_counter(m, name, help, labels);
}

/* Splits the comma-separated broker list into conns. Returns 0 or -EINVAL. */
static int parse_brokers(ovop_worker_t *w, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0) {
            w->conns = xrealloc(w->conns, (w->n_conns + 1) * sizeof(*w->conns));
            broker_conn_t *c = &w->conns[w->n_conns++];
            memset(c, 0, sizeof(*c));
            c->endpoint = xstrndup(p, n);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return w->n_conns > 0 ? 0 : -EINVAL;
}

int ovop_worker_new(ovop_worker_t **ret, uv_loop_t *loop, void *zctx,
                    const ovop_worker_options_t *opts, ovop_metrics_t *metrics,
                    ovop_worker_request_fn fn, void *userdata)
{
    int r;

    if (!opts->brokers || !opts->service ||
        !ovop_mdp_service_valid(opts->service, strlen(opts->service)) || opts->credit < 1 ||
        opts->credit > OVOP_MDP_MAX_CREDIT || opts->heartbeat_ms < 1 || opts->liveness < 1 || !fn ||
        (opts->ready_meta && *opts->ready_meta &&
         !ovop_mdp_meta_valid(opts->ready_meta, strlen(opts->ready_meta))))
        return -EINVAL;

    /* Requests of up to max_msg arrive in buffers libzmq mallocs. glibc raises its mmap
     * threshold to the size of each mapped block freed, after which such buffers come from
     * the heap and stay resident once freed: 64 refused 1 MiB requests left registryd 25 MB
     * bigger. A fixed threshold keeps every large buffer mapped, so it goes back at free. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    ovop_worker_t *w = xcalloc(1, sizeof(*w));
    w->loop = loop;
    w->zctx = zctx;
    w->service = xstrdup(opts->service);
    if (opts->ready_meta && *opts->ready_meta)
        w->ready_meta = xstrdup(opts->ready_meta);
    w->credit = opts->credit;
    w->heartbeat_ms = opts->heartbeat_ms;
    w->liveness = opts->liveness;
    w->max_msg = opts->max_msg;
    if (opts->security)
        w->security = *opts->security;
    else
        w->security.plaintext = true;
    w->fn = fn;
    w->userdata = userdata;
    r = parse_brokers(w, opts->brokers);
    if (r < 0)
        goto fail_free;

    char *labels = xasprintf("service=\"%s\"", w->service);
    w->m_requests =
        counter(metrics, "ovop_worker_requests_total", "Requests received from brokers", labels);
    w->m_replies = counter(metrics, "ovop_worker_replies_total", "Replies sent to brokers", labels);
    w->m_dropped = counter(metrics, "ovop_worker_replies_dropped_total",
                           "Replies dropped because their broker connection was reset", labels);
    w->m_reconnects = counter(metrics, "ovop_worker_broker_reconnects_total",
                              "Broker connections reset and reopened", labels);
    w->m_malformed = counter(metrics, "ovop_worker_malformed_total",
                             "Messages from brokers dropped as malformed", labels);
    free(labels);

    for (size_t i = 0; i < w->n_conns; i++) {
        broker_conn_t *c = &w->conns[i];
        c->w = w;
        c->backoff_ms = BACKOFF_MIN_MS;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
    }
    /* A bad endpoint is a configuration error, not something to retry. */
    for (size_t i = 0; i < w->n_conns; i++) {
        r = conn_open(&w->conns[i]);
        if (r < 0) {
            ovop_worker_destroy(&w);
            return r == -EPROTONOSUPPORT || r == -ENOENT ? -EINVAL : r;
        }
    }
    *ret = w;
    return 0;

fail_free:
    for (size_t i = 0; i < w->n_conns; i++)
        free(w->conns[i].endpoint);
    free(w->conns);
    free(w->service);
    free(w->ready_meta);
    ovop_security_clear(&w->security);
    free(w);
    return r;
}

/* Unlinks and frees a request. */
static void request_free(ovop_request_t *req)
{
    ovop_worker_t *w = req->w;
    if (req->prev)
        req->prev->next = req->next;
    else
        w->requests = req->next;
    if (req->next)
        req->next->prev = req->prev;
    w->inflight--;
    ovop_msg_destroy(&req->msg);
    free(req);
}

void ovop_request_reply(ovop_request_t **reqp, const void *body, size_t len)
{
    ovop_request_t *req = *reqp;
    assert(req);
    ovop_worker_t *w = req->w;
    broker_conn_t *c = &w->conns[req->conn];
    ovop_msg_t *m = NULL;

    *reqp = NULL;
    if (c->sock && c->generation == req->generation)
        m = ovop_mdp_worker_reply(OVOP_MDPW_FINAL, ovop_msg_data(req->msg, req->address_i),
                                  ovop_msg_len(req->msg, req->address_i), body, len);
    request_free(req);
    if (!m) {
        ovop_metric_inc(w->m_dropped);
        log_debug("dropping a reply: its connection to broker %s was reset", c->endpoint);
        return;
    }
    if (ovop_zsock_send(c->sock, &m) < 0) {
        ovop_metric_inc(w->m_dropped);
        return;
    }
    ovop_metric_inc(w->m_replies);
}

void ovop_worker_drain(ovop_worker_t *w)
{
    w->draining = true;
    for (size_t i = 0; i < w->n_conns; i++) {
        ovop_msg_t *m = ovop_mdp_worker_command(OVOP_MDPW_DRAINING);
        conn_send(&w->conns[i], &m);
    }
}

unsigned ovop_worker_inflight(const ovop_worker_t *w)
{
    return w->inflight;
}

bool ovop_worker_connected(const ovop_worker_t *w)
{
    int64_t now = ovop_mono_us();
    for (size_t i = 0; i < w->n_conns; i++) {
        const broker_conn_t *c = &w->conns[i];
        if (c->sock && c->heard && now - c->last_heard_us <= silence_limit_us(w))
            return true;
    }
    return false;
}

void ovop_worker_destroy(ovop_worker_t **wp)
{
    ovop_worker_t *w = *wp;
    if (!w)
        return;
    *wp = NULL;
    while (w->requests)
        request_free(w->requests);
    w->closing_handles = (unsigned)w->n_conns;
    for (size_t i = 0; i < w->n_conns; i++) {
        broker_conn_t *c = &w->conns[i];
        if (c->sock) {
            int linger = DISCONNECT_LINGER_MS;
            ovop_msg_t *bye = ovop_mdp_worker_command(OVOP_MDPW_DISCONNECT);
            zmq_setsockopt(ovop_zsock_raw(c->sock), ZMQ_LINGER, &linger, sizeof(linger));
            conn_send(c, &bye);
            ovop_zsock_destroy(&c->sock);
        }
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    }
}
