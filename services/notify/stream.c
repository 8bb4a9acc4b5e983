/* The stream endpoint (proto/ovop/v1/notify.proto, "STREAM PROTOCOL"): a ROUTER with CURVE,
 * guarded by a ZAP handler on the broker's keyring rules (common/zap.c), one protobuf per
 * frame. A session is a connection (its routing id) of one principal; its subscriptions
 * are delivered with a credit window and cumulative acks. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "notifyd.h"

#define MAX_FRAME 65536

struct notify_session {
    uint64_t serial;
    uint8_t rid[256];
    size_t rid_len;
    char principal[64];
    char user[48]; /* the ZMQ User-Id its messages came with: the CURVE key, Z85 */
    char agency[40];
    bool admin;
    bool subscriber;
    int64_t last_seen_us;
    struct notify_session *next;
};

static uint64_t session_serial;

/* The session's rights, from its principal as the keyring has it now. */
static void session_roles(notify_session_t *ss, const ovop_principal_t *p)
{
    snprintf(ss->agency, sizeof(ss->agency), "%s", p->agency ? p->agency : "");
    ss->admin = ovop_principal_has_role(p, "notify.admin");
    ss->subscriber = ovop_principal_has_role(p, "notify.subscriber");
}

/* ---- sending ---- */

static void send_reply(notifyd_t *n, const notify_session_t *ss, const Ovop__V1__StreamReply *r)
{
    if (!n->router)
        return;
    size_t len = ovop__v1__stream_reply__get_packed_size(r);
    uint8_t *buf = xmalloc(len ? len : 1);
    ovop__v1__stream_reply__pack(r, buf);
    ovop_msg_t *m = ovop_msg_new();
    ovop_msg_addmem(m, ss->rid, ss->rid_len);
    ovop_msg_addmem_take(m, buf, len);
    if (ovop_zsock_send(n->router, &m) < 0)
        ovop_msg_destroy(&m);
}

static void send_error(notifyd_t *n, const notify_session_t *ss, const char *sub, int code,
                       const char *reason, const char *message)
{
    Ovop__V1__StreamError e = OVOP__V1__STREAM_ERROR__INIT;
    e.subscription_id = (char *)(sub ? sub : "");
    e.code = (Ovop__V1__Status__Code)code;
    e.reason = (char *)reason;
    e.message = (char *)message;
    Ovop__V1__StreamReply r = OVOP__V1__STREAM_REPLY__INIT;
    r.kind_case = OVOP__V1__STREAM_REPLY__KIND_ERROR;
    r.error = &e;
    send_reply(n, ss, &r);
}

void stream_sub_error(notifyd_t *n, notify_sub_t *s, int code, const char *reason,
                      const char *message)
{
    if (s->session)
        send_error(n, s->session, s->id, code, reason, message);
}

/* row->packed is not read: notify_row_from fills rows that are not initialised. */
void stream_pack_event(notify_row_t *row)
{
    Ovop__V1__Event ev = OVOP__V1__EVENT__INIT;
    ev.id = row->id;
    ev.source = row->source;
    ev.type = row->type;
    ev.subject = row->subject;
    ev.time_us = row->time_us;
    ev.sequence = row->seq;
    ev.data_content_type = "application/protobuf";
    ev.data_schema = row->data_schema;
    ev.data.data = row->data;
    ev.data.len = row->len;
    row->packed_len = ovop__v1__event__get_packed_size(&ev);
    row->packed = xmalloc(row->packed_len ? row->packed_len : 1);
    ovop__v1__event__pack(&ev, row->packed);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t k = 0;
    while (v >= 0x80) {
        p[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[k++] = (uint8_t)v;
    return k;
}

static size_t varint_len(uint64_t v)
{
    size_t k = 1;
    while (v >= 0x80) {
        v >>= 7;
        k++;
    }
    return k;
}

/* The length of StreamDelivery{subscription_id, event} and of the StreamReply around it. */
static size_t delivery_len(size_t id_len, const notify_row_t *row, size_t *ret_d_len)
{
    size_t d_len = (id_len ? 1 + varint_len(id_len) + id_len : 0) + 1 +
                   varint_len(row->packed_len) + row->packed_len;
    *ret_d_len = d_len;
    return 1 + varint_len(d_len) + d_len;
}

/* StreamReply{delivery: StreamDelivery{subscription_id, event}} written by hand around the
 * Event packed once per row: the bytes protobuf-c would produce (fields in number order,
 * length-delimited), without packing the Event again for each of the subscriptions. */
static void delivery_write(uint8_t *p, const char *sub_id, size_t id_len, size_t d_len,
                           const notify_row_t *row)
{
    *p++ = (2 << 3) | 2; /* StreamReply.delivery = 2, length-delimited */
    p += put_varint(p, d_len);
    if (id_len) {
        *p++ = (1 << 3) | 2; /* StreamDelivery.subscription_id = 1 */
        p += put_varint(p, id_len);
        memcpy(p, sub_id, id_len);
        p += id_len;
    }
    *p++ = (2 << 3) | 2; /* StreamDelivery.event = 2 */
    p += put_varint(p, row->packed_len);
    memcpy(p, row->packed, row->packed_len);
}

void stream_deliver(notifyd_t *n, notify_sub_t *s, const notify_row_t *row)
{
    if (n->router && s->session) {
        /* Written on the stack and copied once into the frame: no allocation of its own
         * for the usual event (a few hundred bytes). */
        uint8_t stack[2048];
        size_t id_len = strlen(s->id), d_len, len = delivery_len(id_len, row, &d_len);
        uint8_t *buf = len <= sizeof(stack) ? stack : xmalloc(len);
        delivery_write(buf, s->id, id_len, d_len, row);
        ovop_msg_t *m = ovop_msg_new();
        ovop_msg_addmem(m, s->session->rid, s->session->rid_len);
        ovop_msg_addmem(m, buf, len);
        if (buf != stack)
            free(buf);
        if (ovop_zsock_send(n->router, &m) < 0)
            ovop_msg_destroy(&m);
    }
    if (s->n_inflight == s->cap_inflight) {
        s->cap_inflight = s->cap_inflight ? 2 * s->cap_inflight : 64;
        s->inflight = xrealloc(s->inflight, s->cap_inflight * sizeof(uint64_t));
    }
    s->inflight[s->n_inflight++] = row->seq;
    ovop_metric_inc(n->m_delivered_stream);
}

/* ---- sessions ---- */

static notify_session_t *session_find(notifyd_t *n, const void *rid, size_t len)
{
    for (notify_session_t *ss = n->sessions; ss; ss = ss->next)
        if (ss->rid_len == len && memcmp(ss->rid, rid, len) == 0)
            return ss;
    return NULL;
}

static notify_session_t *session_by_serial(notifyd_t *n, uint64_t serial)
{
    for (notify_session_t *ss = n->sessions; ss; ss = ss->next)
        if (ss->serial == serial)
            return ss;
    return NULL;
}

/* Ends a session: its subscriptions' cursors are written and their leases released. */
static void session_end(notifyd_t *n, notify_session_t *ss)
{
    notify_sub_t *next;
    for (notify_sub_t *s = n->subs; s; s = next) {
        next = s->next;
        if (s->session == ss)
            feed_sub_drop(n, s, true);
    }
    for (notify_session_t **p = &n->sessions; *p; p = &(*p)->next)
        if (*p == ss) {
            *p = ss->next;
            break;
        }
    free(ss);
}

void stream_tick(notifyd_t *n)
{
    int64_t now = ovop_mono_us();
    notify_session_t *next;
    for (notify_session_t *ss = n->sessions; ss; ss = next) {
        next = ss->next;
        if (now - ss->last_seen_us > NOTIFY_SILENT_US) {
            log_info("stream session of %s silent for 15 s, ended", ss->principal);
            session_end(n, ss);
        }
    }
}

/* ---- Subscribe ---- */

typedef struct take {
    notifyd_t *n;
    uint64_t serial;
    char id[37];
    char holder[128];
    uint64_t from;
    uint32_t window;
} take_t;

static void on_take(PGresult *res, const char *error, void *userdata)
{
    take_t *t = userdata;
    notifyd_t *n = t->n;
    notify_session_t *ss = session_by_serial(n, t->serial);
    if (!ss) {
        free(t);
        return; /* the session ended meanwhile: its lease expires (or is renewed by nobody) */
    }
    if (error || PQntuples(res) != 1) {
        log_warn("could not take subscription %s: %s", t->id, error ? error : "no row");
        send_error(n, ss, t->id, OVOP__V1__STATUS__CODE__UNAVAILABLE, "UNAVAILABLE",
                   "the database is unavailable, subscribe again");
        free(t);
        return;
    }
    const char *reason = ovop_pg_value(res, 0, "reason");
    if (*reason) {
        int code = strcmp(reason, "NOT_FOUND") == 0   ? OVOP__V1__STATUS__CODE__NOT_FOUND
                   : strcmp(reason, "NOT_YOURS") == 0 ? OVOP__V1__STATUS__CODE__PERMISSION_DENIED
                   : strcmp(reason, "GAP_NOT_ALLOWED") == 0
                       ? OVOP__V1__STATUS__CODE__OUT_OF_RANGE
                       : OVOP__V1__STATUS__CODE__FAILED_PRECONDITION;
        send_error(n, ss, t->id, code, reason, ovop_pg_value(res, 0, "message"));
        free(t);
        return;
    }
    /* The same subscription held here by another session (a reconnect): the newest wins. */
    uint64_t stored = strtoull(ovop_pg_value(res, 0, "cursor"), NULL, 10);
    uint64_t cursor = stored;
    notify_sub_t *old = feed_sub_find(n, t->id);
    if (old) {
        /* Its acks not yet written count: the new lease holder writes them. */
        if (old->cursor > cursor)
            cursor = old->cursor;
        if (old->session != ss)
            stream_sub_error(n, old, OVOP__V1__STATUS__CODE__ABORTED, "SUBSCRIPTION_TAKEN_OVER",
                             "a newer Subscribe took this subscription over");
        feed_sub_drop(n, old, false);
    }
    if (t->from > cursor + 1) {
        send_error(n, ss, t->id, OVOP__V1__STATUS__CODE__OUT_OF_RANGE, "GAP_NOT_ALLOWED",
                   "from_sequence is beyond the cursor + 1");
        free(t);
        return;
    }
    notify_sub_t *s = feed_sub_new(n, t->id, t->holder, true);
    s->session = ss;
    s->window = t->window;
    s->cursor = cursor;
    s->persisted = stored;
    s->scanned = t->from ? t->from - 1 : s->cursor;
    feed_set_exporters(s, ovop_pg_value(res, 0, "exporters"));
    feed_set_rules(s, ovop_pg_value(res, 0, "rules"));
    uint64_t head = strtoull(ovop_pg_value(res, 0, "head"), NULL, 10);
    if (head > n->head)
        n->head = head;
    Ovop__V1__StreamSubscribed ok = OVOP__V1__STREAM_SUBSCRIBED__INIT;
    ok.subscription_id = s->id;
    ok.cursor = s->cursor;
    ok.head = n->head;
    Ovop__V1__StreamReply r = OVOP__V1__STREAM_REPLY__INIT;
    r.kind_case = OVOP__V1__STREAM_REPLY__KIND_SUBSCRIBED;
    r.subscribed = &ok;
    send_reply(n, ss, &r);
    log_info("stream subscription %s of %s from %" PRIu64 " (cursor %" PRIu64 ", window %u)", s->id,
             ss->principal, s->scanned + 1, s->cursor, s->window);
    free(t);
    feed_pump(n, s);
}

static void on_subscribe(notifyd_t *n, notify_session_t *ss, const Ovop__V1__StreamSubscribe *in)
{
    const char *id = in->subscription_id;
    if (!notify_uuid_valid(id)) {
        send_error(n, ss, id, OVOP__V1__STATUS__CODE__INVALID_ARGUMENT, "NOT_FOUND",
                   "subscription_id must be a subscription's UUID");
        return;
    }
    if (in->window > 1000) {
        send_error(n, ss, id, OVOP__V1__STATUS__CODE__INVALID_ARGUMENT, "WINDOW_INVALID",
                   "window must be 1..1000 (0 = 100)");
        return;
    }
    if (!ss->admin && (!ss->subscriber || !*ss->agency)) {
        send_error(n, ss, id, OVOP__V1__STATUS__CODE__PERMISSION_DENIED, "MISSING_ROLE",
                   "receiving a stream needs role notify.subscriber (of an agency)");
        return;
    }
    take_t *t = xcalloc(1, sizeof(*t));
    t->n = n;
    t->serial = ss->serial;
    snprintf(t->id, sizeof(t->id), "%s", id);
    feed_new_holder(n, t->holder);
    t->from = in->from_sequence;
    t->window = in->window ? in->window : 100;
    char from[24];
    snprintf(from, sizeof(from), "%" PRIu64, in->from_sequence);
    const char *params[] = {id, t->holder, ss->admin ? "" : ss->agency, from};
    ovop_pg_query(n->pg,
                  "SELECT reason, message, cursor, head, exporters, rules "
                  "FROM notify.take_stream($1::uuid, $2, $3, $4::bigint)",
                  4, params, on_take, t);
}

static void on_ack(notifyd_t *n, notify_session_t *ss, const Ovop__V1__StreamAck *in)
{
    notify_sub_t *s =
        notify_uuid_valid(in->subscription_id) ? feed_sub_find(n, in->subscription_id) : NULL;
    if (!s || s->session != ss) {
        send_error(n, ss, in->subscription_id, OVOP__V1__STATUS__CODE__FAILED_PRECONDITION,
                   "NOT_SUBSCRIBED", "ack of a subscription this session has not subscribed to");
        return;
    }
    if (in->sequence > s->scanned) {
        send_error(n, ss, s->id, OVOP__V1__STATUS__CODE__INVALID_ARGUMENT, "ACK_BEYOND_SENT",
                   "ack of a sequence not delivered yet");
        return;
    }
    if (in->sequence > s->cursor)
        s->cursor = in->sequence;
    /* The acked sequence, not the cursor: events delivered again (from_sequence below the
     * cursor) each take their place in the window until acknowledged. */
    size_t k = 0;
    while (k < s->n_inflight && s->inflight[k] <= in->sequence)
        k++;
    memmove(s->inflight, s->inflight + k, (s->n_inflight - k) * sizeof(uint64_t));
    s->n_inflight -= k;
    if (s->n_inflight == 0 && s->cursor < s->scanned)
        s->cursor = s->scanned; /* what lies between was filtered out */
    feed_pump(n, s);
}

/* ---- receiving ---- */

static notify_session_t *session_for(notifyd_t *n, ovop_msg_t *m)
{
    const char *user = zmq_msg_gets(ovop_msg_frame(m, 0), "User-Id");
    if ((!user || !*user) && ovop_daemon_security(n->d)->plaintext)
        user = OVOP_PLAINTEXT_USER;
    const ovop_principal_t *p = user ? ovop_keyring_find(n->keyring, user) : NULL;
    notify_session_t *ss = session_find(n, ovop_msg_data(m, 0), ovop_msg_len(m, 0));
    if (!p) {
        /* The key was revoked or its principal disabled since the handshake. */
        notify_session_t tmp = {0};
        tmp.rid_len = ovop_msg_len(m, 0);
        memcpy(tmp.rid, ovop_msg_data(m, 0), tmp.rid_len);
        send_error(n, &tmp, "", OVOP__V1__STATUS__CODE__UNAUTHENTICATED, "KEY_NOT_CURRENT",
                   "this key is no longer current");
        if (ss)
            session_end(n, ss);
        return NULL;
    }
    if (!ss) {
        ss = xcalloc(1, sizeof(*ss));
        ss->serial = ++session_serial;
        ss->rid_len = ovop_msg_len(m, 0);
        memcpy(ss->rid, ovop_msg_data(m, 0), ss->rid_len);
        snprintf(ss->principal, sizeof(ss->principal), "%s", p->id);
        snprintf(ss->user, sizeof(ss->user), "%s", user);
        ss->next = n->sessions;
        n->sessions = ss;
    }
    session_roles(ss, p);
    ss->last_seen_us = ovop_mono_us();
    return ss;
}

static void on_recv(ovop_zsock_t *sock, ovop_msg_t **msg, void *userdata)
{
    (void)sock;
    notifyd_t *n = userdata;
    ovop_msg_t *m = *msg;
    if (ovop_msg_frames(m) != 2 || ovop_msg_len(m, 0) > 255)
        return;
    notify_session_t *ss = session_for(n, m);
    if (!ss)
        return;
    Ovop__V1__StreamRequest *rq = NULL;
    if (ovop_msg_len(m, 1) <= MAX_FRAME)
        rq = ovop__v1__stream_request__unpack(NULL, ovop_msg_len(m, 1), ovop_msg_data(m, 1));
    if (!rq || rq->kind_case == OVOP__V1__STREAM_REQUEST__KIND__NOT_SET ||
        (rq->kind_case == OVOP__V1__STREAM_REQUEST__KIND_SUBSCRIBE && !rq->subscribe) ||
        (rq->kind_case == OVOP__V1__STREAM_REQUEST__KIND_ACK && !rq->ack)) {
        send_error(n, ss, "", OVOP__V1__STATUS__CODE__INVALID_ARGUMENT, "MALFORMED",
                   "a frame must hold one ovop.v1.StreamRequest");
    } else if (rq->kind_case == OVOP__V1__STREAM_REQUEST__KIND_SUBSCRIBE) {
        on_subscribe(n, ss, rq->subscribe);
    } else if (rq->kind_case == OVOP__V1__STREAM_REQUEST__KIND_ACK) {
        on_ack(n, ss, rq->ack);
    } else {
        Ovop__V1__StreamPong pong = OVOP__V1__STREAM_PONG__INIT;
        Ovop__V1__StreamReply r = OVOP__V1__STREAM_REPLY__INIT;
        r.kind_case = OVOP__V1__STREAM_REPLY__KIND_PONG;
        r.pong = &pong;
        send_reply(n, ss, &r);
    }
    if (rq)
        ovop__v1__stream_request__free_unpacked(rq, NULL);
}

/* A principal disabled, a key revoked or a role withdrawn ends the live sessions it
 * concerns at the keyring's next load (within --auth-refresh-ms), as the broker closes such
 * connections: their subscriptions stop at once and their leases are released. */
static void on_keyring_changed(void *userdata)
{
    notifyd_t *n = userdata;
    ovop_zap_keyring_changed(n->zap);
    notify_session_t *next;
    for (notify_session_t *ss = n->sessions; ss; ss = next) {
        next = ss->next;
        const ovop_principal_t *p = ovop_keyring_find(n->keyring, ss->user);
        if (p && strcmp(p->id, ss->principal) == 0) {
            session_roles(ss, p);
            if (ss->admin || (ss->subscriber && *ss->agency))
                continue;
            send_error(n, ss, "", OVOP__V1__STATUS__CODE__PERMISSION_DENIED, "MISSING_ROLE",
                       "receiving a stream needs role notify.subscriber (of an agency)");
        } else {
            send_error(n, ss, "", OVOP__V1__STATUS__CODE__UNAUTHENTICATED, "KEY_NOT_CURRENT",
                       "this key is no longer current");
        }
        log_info("stream session of %s ended: its key or roles changed", ss->principal);
        session_end(n, ss);
    }
}

int stream_start(notifyd_t *n)
{
    if (!n->stream_bind || !*n->stream_bind) {
        log_info("no --stream-bind: stream delivery off");
        return 0;
    }
    const ovop_security_t *sec = ovop_daemon_security(n->d);
    if (sec->plaintext && !ovop_endpoints_loopback(n->stream_bind)) {
        log_error("refusing to start: plaintext stream endpoint %s is not on loopback",
                  n->stream_bind);
        return -EINVAL;
    }
    n->keyring = ovop_keyring_new(n->loop, n->pg, 1000, sec->plaintext, n->metrics);
    ovop_keyring_on_change(n->keyring, on_keyring_changed, n);
    void *zctx = ovop_daemon_zctx(n->d);
    int r = ovop_zap_new(&n->zap, n->loop, zctx, n->keyring, sec->plaintext, n->metrics);
    if (r < 0) {
        log_error("could not start the ZAP handler: %s", zmq_strerror(-r));
        return r;
    }
    r = ovop_zsock_new(&n->router, n->loop, zctx, ZMQ_ROUTER, MAX_FRAME, on_recv, n);
    if (r < 0)
        return r;
    /* A ROUTER drops what it cannot queue, silently: a delivery lost that way is a gap the
     * subscriber's cumulative ack then covers. The credit windows bound what a session has
     * in flight, so the pipes need no high-water mark of their own; with libzmq's default
     * (1,000, seen by the writer with a lag of up to half of it) a window of 1,000 whose
     * I/O thread falls behind lost deliveries under load. */
    int hwm = 0;
    if (zmq_setsockopt(ovop_zsock_raw(n->router), ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0)
        return -errno;
    r = ovop_security_apply_server(ovop_zsock_raw(n->router), sec);
    if (r == 0)
        r = ovop_zsock_bind(n->router, n->stream_bind);
    if (r < 0) {
        log_error("could not bind the stream endpoint %s: %s", n->stream_bind, zmq_strerror(-r));
        return r;
    }
    log_info("stream endpoint on %s (%s)", n->stream_bind, sec->plaintext ? "plaintext" : "CURVE");
    return 0;
}

void stream_stop(notifyd_t *n)
{
    while (n->sessions)
        session_end(n, n->sessions);
    ovop_zsock_destroy(&n->router);
    ovop_zap_destroy(&n->zap);
    ovop_keyring_destroy(&n->keyring);
}
