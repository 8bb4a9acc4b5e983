#include "client.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "mdp.h"
#include "msg.h"
#include "util.h"

#define UNAVAILABLE_PAUSE_MS 100

struct ovop_client {
    void *zctx;
    bool own_ctx;
    void *sock;
    char **endpoints;
    size_t n_endpoints;
    uint32_t timeout_ms;
    uint32_t deadline_ms;
    uint32_t retries;
    size_t max_msg;
    char *on_behalf_of;
    ovop_security_t security;
    void *monitor;          /* PAIR receiving the handshake failures of sock */
    int refused;            /* -EACCES or -EPROTO seen on sock's handshakes, else 0 */
    bool refused_temporary; /* the broker said 300: its keyring is not loaded yet */
    uint64_t retried;       /* attempts sent again, see ovop_client_retries() */
    char **live;            /* endpoints of sock's connections that completed a handshake */
    size_t n_live;
    bool lost; /* one of them ended since the attempt's request was sent */
};

#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                       \
     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |                        \
     ZMQ_EVENT_DISCONNECTED)

static void forget_live(ovop_client_t *c)
{
    for (size_t i = 0; i < c->n_live; i++)
        free(c->live[i]);
    free(c->live);
    c->live = NULL;
    c->n_live = 0;
    c->lost = false;
}

/* Follows the connections that carry requests: one that completed its handshake and then
 * ended may have taken our request with it (a broker stopping drops what it has not
 * answered), so the attempt is resent at once rather than after its timeout. The endpoint
 * string of both events names the connection; a handshake that failed was never live. */
static void note_connection(ovop_client_t *c, uint16_t event, const char *ep, size_t len)
{
    size_t i = 0;
    while (i < c->n_live && !(strlen(c->live[i]) == len && memcmp(c->live[i], ep, len) == 0))
        i++;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && i == c->n_live) {
        c->live = xrealloc(c->live, (c->n_live + 1) * sizeof(char *));
        c->live[c->n_live++] = xstrndup(ep, len);
    } else if (event == ZMQ_EVENT_DISCONNECTED && i < c->n_live) {
        free(c->live[i]);
        c->live[i] = c->live[--c->n_live];
        c->lost = true;
    }
}

static void close_sockets(ovop_client_t *c)
{
    if (c->sock) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(c->sock);
        c->sock = NULL;
    }
    if (c->monitor) {
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
    forget_live(c);
}

/* Watches s's handshakes, so that a refused key fails the call at once instead of timing out.
 * Returns 0 or -errno. */
static int watch_handshakes(ovop_client_t *c, void *s)
{
    /* Unique in the process: a client freed and another allocated at the same address on a
     * shared context must not collide with a monitor endpoint still being torn down. */
    static atomic_uint next_monitor;
    char ep[64];
    int linger = 0;
    snprintf(ep, sizeof(ep), "inproc://ovop-client-monitor-%u",
             atomic_fetch_add(&next_monitor, 1) + 1);
    if (zmq_socket_monitor(s, ep, HANDSHAKE_EVENTS) < 0)
        return -errno;
    c->monitor = zmq_socket(c->zctx, ZMQ_PAIR);
    if (!c->monitor)
        return -errno;
    zmq_setsockopt(c->monitor, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_connect(c->monitor, ep) < 0)
        return -errno;
    c->refused = 0;
    c->refused_temporary = false;
    return 0;
}

/* Reads the monitor's events: sets c->refused on a failed handshake. */
static void read_monitor(ovop_client_t *c)
{
    ovop_msg_t *ev = NULL;
    while (c->monitor && ovop_msg_recv(&ev, c->monitor, ZMQ_DONTWAIT) == 0) {
        if (ovop_msg_frames(ev) >= 1 && ovop_msg_len(ev, 0) == 6) {
            const uint8_t *p = ovop_msg_data(ev, 0);
            uint16_t event;
            uint32_t value;
            memcpy(&event, p, 2);
            memcpy(&value, p + 2, 4);
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
                c->refused_temporary = value == 300;
                if (!c->refused_temporary)
                    c->refused = -EACCES;
            } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
                c->refused = -EPROTO; /* e.g. CURVE against a plaintext broker */
            } else if ((event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED ||
                        event == ZMQ_EVENT_DISCONNECTED) &&
                       ovop_msg_frames(ev) >= 2) {
                note_connection(c, event, ovop_msg_data(ev, 1), ovop_msg_len(ev, 1));
            }
            /* NO_DETAIL: the connection broke during the handshake (a broker restarting):
             * not a refusal; libzmq reconnects. */
        }
        ovop_msg_destroy(&ev);
    }
}

/* Polls the socket for events and the monitor for handshake failures, up to left_ms.
 * Returns 1 when the socket is ready, 0 when not (only the monitor spoke, or the time ran
 * out), or -errno; what the monitor said is in c->refused and c->refused_temporary. */
static int poll_sock(ovop_client_t *c, short events, long left_ms)
{
    zmq_pollitem_t items[2] = {{.socket = c->sock, .events = events},
                               {.socket = c->monitor, .events = ZMQ_POLLIN}};
    int n = zmq_poll(items, c->monitor ? 2 : 1, left_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (c->monitor && (items[1].revents & ZMQ_POLLIN))
        read_monitor(c);
    return (items[0].revents & events) ? 1 : 0;
}

/* Opens a fresh DEALER connected to every broker, replacing the old one (lazy pirate: a
 * new socket cannot receive the stale replies of the old one). Returns 0 or -errno. */
static int client_reopen(ovop_client_t *c)
{
    int64_t maxsz = (int64_t)c->max_msg;
    int linger = 0;
    int immediate = 1;
    int r = 0;

    close_sockets(c);
    void *s = zmq_socket(c->zctx, ZMQ_DEALER);
    if (!s)
        return -errno;
    if ((r = ovop_security_apply_client(s, &c->security)) < 0 || (r = watch_handshakes(c, s)) < 0)
        goto fail_close;
    /* IMMEDIATE: with several brokers, never queue a request for one that is down. */
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) < 0 ||
        (c->max_msg > 0 && zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxsz, sizeof(maxsz)) < 0)) {
        r = -errno;
        goto fail_close;
    }
    for (size_t i = 0; i < c->n_endpoints; i++) {
        if (zmq_connect(s, c->endpoints[i]) < 0) {
            r = -errno;
            goto fail_close;
        }
    }
    c->sock = s;
    return 0;

fail_close:
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(s);
    if (c->monitor) {
        zmq_close(c->monitor);
        c->monitor = NULL;
    }
    return r;
}

int ovop_client_new(ovop_client_t **ret, void *zctx, const ovop_client_options_t *opts)
{
    int r;

    if (!opts->brokers || opts->timeout_ms == 0)
        return -EINVAL;
    ovop_client_t *c = xcalloc(1, sizeof(*c));
    c->zctx = zctx;
    if (!c->zctx) {
        c->zctx = zmq_ctx_new();
        if (!c->zctx) {
            r = -errno;
            free(c);
            return r;
        }
        c->own_ctx = true;
    }
    c->timeout_ms = opts->timeout_ms;
    uint64_t total = (uint64_t)opts->timeout_ms * ((uint64_t)opts->retries + 1);
    c->deadline_ms =
        opts->deadline_ms ? opts->deadline_ms : (uint32_t)(total > UINT32_MAX ? UINT32_MAX : total);
    c->retries = opts->retries;
    c->max_msg = opts->max_msg;
    c->on_behalf_of = opts->on_behalf_of ? xstrdup(opts->on_behalf_of) : NULL;
    if (opts->security)
        c->security = *opts->security;
    else
        c->security.plaintext = true;
    for (const char *p = opts->brokers; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && *p == ' ') {
            p++;
            n--;
        }
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0) {
            c->endpoints = xrealloc(c->endpoints, (c->n_endpoints + 1) * sizeof(char *));
            c->endpoints[c->n_endpoints++] = xstrndup(p, n);
        }
        if (!end)
            break;
        p = end + 1;
    }
    r = c->n_endpoints > 0 ? client_reopen(c) : -EINVAL;
    if (r < 0) {
        ovop_client_destroy(&c);
        return r == -EPROTONOSUPPORT || r == -ENOENT ? -EINVAL : r;
    }
    *ret = c;
    return 0;
}

void ovop_client_destroy(ovop_client_t **cp)
{
    ovop_client_t *c = *cp;
    if (!c)
        return;
    close_sockets(c);
    ovop_security_clear(&c->security);
    if (c->own_ctx)
        zmq_ctx_term(c->zctx);
    for (size_t i = 0; i < c->n_endpoints; i++)
        free(c->endpoints[i]);
    free(c->endpoints);
    free(c->on_behalf_of);
    free(c);
    *cp = NULL;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Milliseconds until deadline, rounded up; 0 once it has passed. */
static long ms_left(int64_t deadline)
{
    int64_t left = (deadline - ovop_mono_us() + 999) / 1000;
    return left > 0 ? (long)left : 0;
}

/* Sends req once a broker connection is up (the socket is IMMEDIATE), before deadline.
 * Returns 0, -ETIMEDOUT or -errno. */
static int client_send(ovop_client_t *c, ovop_msg_t **req, int64_t deadline)
{
    for (;;) {
        int r = ovop_msg_send(req, c->sock, ZMQ_DONTWAIT);
        if (r != -EAGAIN && r != -EINTR)
            return r;
        if (c->refused && c->n_endpoints == 1)
            return c->refused;
        if (c->refused_temporary) {
            /* The broker said "try again" (300): libzmq will not, so a new socket does. */
            sleep_ms(UNAVAILABLE_PAUSE_MS);
            int r2 = client_reopen(c);
            if (r2 < 0)
                return r2;
        }
        long left = ms_left(deadline);
        if (left == 0)
            return c->refused ? c->refused : -ETIMEDOUT;
        int n = poll_sock(c, ZMQ_POLLOUT, left > 50 ? 50 : left);
        if (n < 0)
            return n;
    }
}

/* One attempt: sends the request and waits up to timeout_ms (connecting included) for a
 * FINAL from service whose body accept approves. Returns 0 with the body, -ETIMEDOUT,
 * -ECONNRESET when a broker connection ended meanwhile (the request may have gone with it:
 * the caller sends it again), or -errno. */
static int client_attempt(ovop_client_t *c, const char *service, const void *body, size_t len,
                          ovop_client_accept_fn accept, void *userdata, void **ret_body,
                          size_t *ret_len)
{
    int64_t deadline = ovop_mono_us() + (int64_t)c->timeout_ms * 1000;
    ovop_msg_t *req = ovop_mdp_client_request(service, body, len);
    int r = client_send(c, &req, deadline);
    ovop_msg_destroy(&req);
    if (r < 0)
        return r;
    c->lost = false; /* a connection that ended before cannot have taken this request */

    for (;;) {
        long left_ms = ms_left(deadline);
        if (left_ms == 0)
            return -ETIMEDOUT;
        /* Once a connection is lost, take what has arrived, then send again. */
        int n = poll_sock(c, ZMQ_POLLIN, c->lost ? 0 : left_ms);
        if (n < 0)
            return n;
        if (n == 0 && c->lost)
            return -ECONNRESET;
        if (n == 0)
            continue;
        ovop_msg_t *m = NULL;
        r = ovop_msg_recv(&m, c->sock, ZMQ_DONTWAIT);
        if (r == -EAGAIN || r == -EINTR)
            continue;
        if (r < 0)
            return r;
        ovop_mdp_view_t v;
        bool ok = ovop_mdp_parse_client(m, 0, &v) == 0 && v.command == OVOP_MDPC_FINAL &&
                  v.service_len == strlen(service) &&
                  memcmp(v.service, service, v.service_len) == 0;
        /* Our replies carry one body frame. */
        if (ok && ovop_msg_frames(m) == v.body_first + 1) {
            const void *p = ovop_msg_data(m, v.body_first);
            size_t n_body = ovop_msg_len(m, v.body_first);
            if (!accept || accept(p, n_body, userdata)) {
                *ret_body = xmemdup(p, n_body);
                *ret_len = n_body;
                ovop_msg_destroy(&m);
                return 0;
            }
        }
        /* A PARTIAL, a stale reply of an earlier attempt or garbage: keep waiting. */
        ovop_msg_destroy(&m);
    }
}

int ovop_client_raw(ovop_client_t *c, const char *service, const void *body, size_t len,
                    ovop_client_accept_fn accept, void *userdata, void **ret_body, size_t *ret_len)
{
    int r = -ETIMEDOUT;

    if (!ovop_mdp_service_valid(service, strlen(service)))
        return -EINVAL;
    for (uint32_t attempt = 0; attempt <= c->retries; attempt++) {
        c->retried += attempt > 0;
        /* After a refusal a fresh socket tries a fresh handshake: the key may be back. */
        if (!c->sock || attempt > 0 || c->refused) {
            r = client_reopen(c);
            if (r < 0)
                return r;
        }
        r = client_attempt(c, service, body, len, accept, userdata, ret_body, ret_len);
        if (r == -ECONNRESET)
            r = -ETIMEDOUT; /* sent again at once on a new socket, as after a timeout */
        if (r != -ETIMEDOUT)
            return r;
        if (c->refused)
            return c->refused;
    }
    return r;
}

typedef struct call_match {
    const char *request_id;
    Ovop__V1__Reply *reply; /* decoded by the accept callback */
    bool undecodable;
} call_match_t;

/* Accepts the reply to our request_id; a body that is not a Reply at all is accepted too,
 * so that the call fails with -EBADMSG rather than waiting out its retries. */
static bool call_accept(const void *body, size_t len, void *userdata)
{
    call_match_t *cm = userdata;
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, len, body);
    if (!rep) {
        cm->undecodable = true;
        return true;
    }
    if (strcmp(rep->request_id, cm->request_id) != 0) {
        ovop__v1__reply__free_unpacked(rep, NULL);
        return false;
    }
    cm->reply = rep;
    return true;
}

int ovop_client_call(ovop_client_t *c, const char *service, const char *method,
                     const char *request_id, const ProtobufCMessage *in,
                     const ProtobufCMessageDescriptor *out_desc, Ovop__V1__Reply **ret_reply,
                     ProtobufCMessage **ret_out)
{
    char uuid[37];
    uint8_t *in_buf = NULL;
    size_t in_len = 0;
    int r = -ETIMEDOUT;

    if (!request_id) {
        ovop_uuid4(uuid);
        request_id = uuid;
    }
    if (!ovop_mdp_service_valid(service, strlen(service)))
        return -EINVAL;
    if (in) {
        in_len = protobuf_c_message_get_packed_size(in);
        in_buf = xmalloc(in_len);
        protobuf_c_message_pack(in, in_buf);
    }
    size_t env_len;
    void *env = ovop_request_encode(request_id, method, in_buf, in_len, c->deadline_ms,
                                    c->on_behalf_of, &env_len);
    free(in_buf);

    call_match_t cm = {.request_id = request_id};
    for (uint32_t attempt = 0; attempt <= c->retries; attempt++) {
        c->retried += attempt > 0;
        if (!c->sock || (attempt > 0 && r == -ETIMEDOUT) || (attempt == 0 && c->refused)) {
            r = client_reopen(c);
            if (r < 0)
                goto out_env;
        }
        void *rep_body = NULL;
        size_t rep_len = 0;
        cm.reply = NULL;
        cm.undecodable = false;
        r = client_attempt(c, service, env, env_len, call_accept, &cm, &rep_body, &rep_len);
        free(rep_body);
        if (r == -ECONNRESET)
            r = -ETIMEDOUT; /* sent again at once on a new socket, as after a timeout */
        if (r == -ETIMEDOUT && c->refused)
            r = c->refused;
        if (r == -ETIMEDOUT)
            continue;
        if (r < 0)
            goto out_env;
        if (cm.undecodable) {
            r = -EBADMSG;
            goto out_env;
        }
        int code = cm.reply->status ? (int)cm.reply->status->code : OVOP_OK;
        if (code == OVOP_UNAVAILABLE && attempt < c->retries) {
            ovop__v1__reply__free_unpacked(cm.reply, NULL);
            cm.reply = NULL;
            sleep_ms(UNAVAILABLE_PAUSE_MS * (attempt + 1));
            r = 0;
            continue;
        }
        break;
    }
    if (r < 0)
        goto out_env;

    ProtobufCMessage *out = NULL;
    int code = cm.reply->status ? (int)cm.reply->status->code : OVOP_OK;
    if (code == OVOP_OK && out_desc) {
        out = protobuf_c_message_unpack(out_desc, NULL, cm.reply->body.len, cm.reply->body.data);
        if (!out) {
            ovop__v1__reply__free_unpacked(cm.reply, NULL);
            r = -EBADMSG;
            goto out_env;
        }
    }
    *ret_reply = cm.reply;
    if (ret_out)
        *ret_out = out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    r = 0;

out_env:
    free(env);
    return r;
}

uint64_t ovop_client_retries(const ovop_client_t *c)
{
    return c->retried;
}

int ovop_client_mmi_service(ovop_client_t *c, const char *service)
{
    void *body = NULL;
    size_t len = 0;

    int r = ovop_client_raw(c, "mmi.service", service, strlen(service), NULL, NULL, &body, &len);
    if (r < 0)
        return r;
    if (len == 3 && memcmp(body, "200", 3) == 0)
        r = 0;
    else if (len == 3 && memcmp(body, "404", 3) == 0)
        r = -ENOENT;
    else if (len == 3 && memcmp(body, "501", 3) == 0)
        r = -EOPNOTSUPP;
    else
        r = -EBADMSG;
    free(body);
    return r;
}
