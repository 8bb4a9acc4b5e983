#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "notify_testlib.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "keys.h"
#include "ovop/v1/exports.pb-c.h"
#include "pgtest.h"
#include "seal.h"
#include "util.h"

static svcenv_t *env;
static char secrets_key[600];

struct nt_stream {
    void *ctx;
    void *sock;
};

const char *nt_secrets_key(void)
{
    return secrets_key;
}

static void add_principals(svcenv_t *e)
{
    assert_int_equal(ident_add(&e->ident, e->conn, "customs", "agency", "customs notify.subscriber",
                               NULL, "customs"),
                     0);
    assert_int_equal(ident_add(&e->ident, e->conn, "statistics", "agency", "notify.subscriber",
                               NULL, "statistics"),
                     0);
    assert_int_equal(
        ident_add(&e->ident, e->conn, "intruder", "agency", "notify.subscriber", NULL, "intruder"),
        0);
    assert_int_equal(
        ident_add(&e->ident, e->conn, NT_ADMIN, "operator", "notify.admin", NULL, NULL), 0);
    /* The broker and notifyd reload the keyring within a second (--auth-refresh-ms). */
    harness_sleep_ms(1600);
}

void nt_start(svcenv_t *e, const char *db, uint16_t ports[2], int instances,
              const char *const *extra_args)
{
    env = e;
    snprintf(secrets_key, sizeof(secrets_key), "%s/%s-secrets.key", harness_tmpdir(), db);
    remove(secrets_key);
    char *err = NULL;
    if (notify_seal_key_write(secrets_key, &err) < 0)
        fail_msg("secrets key: %s", err);
    assert_int_equal(harness_free_port(&ports[0]), 0);
    assert_int_equal(harness_free_port(&ports[1]), 0);
    char bind[64];
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", ports[0]);
    setenv("OVOP_STREAM_BIND", bind, 1);
    static const char *args[32];
    size_t n = 0;
    static const char *const base[] = {"--secrets-key", secrets_key,    "--webhook-allow",
                                       "127.0.0.0/8",   "--log-format", "text"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(base); i++)
        args[n++] = base[i];
    for (size_t i = 0; extra_args && extra_args[i] && n < 30; i++)
        args[n++] = extra_args[i];
    args[n] = NULL;
    svcenv_config_t cfg = {
        .db_name = db,
        .daemon = "ovop-notifyd",
        .service = "ovop.notify",
        .instances = 1,
        .daemon_args = args,
        .client = {.timeout_ms = 10000, .retries = 1},
    };
    svcenv_start(e, &cfg);
    add_principals(e);
    if (instances > 1)
        nt_spawn_second(e, ports);
}

void nt_spawn_second(svcenv_t *e, uint16_t ports[2])
{
    char bind[64];
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", ports[1]);
    setenv("OVOP_STREAM_BIND", bind, 1);
    assert_int_equal(harness_free_port(&e->daemon_http[1]), 0);
    e->daemon[1] = svcenv_spawn_daemon(e, 1, e->db, "notifyd-1");
    /* Its stream answers once its keyring loaded. */
    nt_stream_t *s = nt_connect(e, "customs", ports[1]);
    nt_ping(s);
    nt_close(s);
}

int nt_reset(void **state)
{
    (void)state;
    /* notifyd may log a delivery meanwhile: the statement is retried until it wins. */
    for (int i = 0; i < 20; i++) {
        const char *st = pgtest_sqlstate(env->conn, "WITH a AS (DELETE FROM notify.deliveries), "
                                                    "b AS (DELETE FROM notify.dead_letters), "
                                                    "c AS (DELETE FROM notify.subscriptions), "
                                                    "d AS (DELETE FROM notify.endpoints), "
                                                    "e AS (DELETE FROM notify.scopes) SELECT 1");
        if (strcmp(st, "00000") == 0)
            return 0;
        harness_sleep_ms(100);
    }
    fail_msg("could not empty the notify tables");
    return -1;
}

/* ---- calls ---- */

/* Splits a comma-separated list into *ret (pointers into a copy kept in *ret_buf). */
static size_t split(const char *list, char ***ret, char **ret_buf)
{
    *ret = NULL;
    *ret_buf = NULL;
    if (!list)
        return 0;
    char *buf = xstrdup(list);
    size_t n = 0;
    char **v = xcalloc(strlen(list) + 2, sizeof(char *));
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        v[n++] = t;
    *ret = v;
    *ret_buf = buf;
    return n;
}

void nt_scope(svcenv_t *e, const char *agency, const char *types, const char *soate, const char *hs,
              const char *dest)
{
    Ovop__V1__AgencyScope in = OVOP__V1__AGENCY_SCOPE__INIT;
    char *b[4];
    in.agency = (char *)agency;
    in.n_event_types = split(types, &in.event_types, &b[0]);
    in.n_soate_prefixes = split(soate, &in.soate_prefixes, &b[1]);
    in.n_hs_prefixes = split(hs, &in.hs_prefixes, &b[2]);
    in.n_destinations = split(dest, &in.destinations, &b[3]);
    Ovop__V1__Reply *rep = NULL;
    int code = svcenv_call_as(e, NT_ADMIN, "SetAgencyScope", NULL, &in.base,
                              &ovop__v1__agency_scope__descriptor, NULL, &rep);
    if (code)
        fail_msg("SetAgencyScope: %s %s", rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(in.event_types);
    free(in.soate_prefixes);
    free(in.hs_prefixes);
    free(in.destinations);
    for (int i = 0; i < 4; i++)
        free(b[i]);
}

static int create(svcenv_t *e, const char *who, const char *agency, const char *endpoint,
                  const char *types, const char *soate, const char *dest, const char *exporters,
                  Ovop__V1__Reply **ret_rep, char **ret_id)
{
    Ovop__V1__SubscriptionFilter f = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
    char *b[4];
    f.n_event_types = split(types, &f.event_types, &b[0]);
    f.n_soate_prefixes = split(soate, &f.soate_prefixes, &b[1]);
    f.n_destinations = split(dest, &f.destinations, &b[2]);
    f.n_exporters = split(exporters, &f.exporters, &b[3]);
    Ovop__V1__CreateSubscriptionRequest in = OVOP__V1__CREATE_SUBSCRIPTION_REQUEST__INIT;
    in.agency = (char *)agency;
    in.delivery = endpoint ? OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_WEBHOOK
                           : OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_STREAM;
    in.endpoint_id = (char *)(endpoint ? endpoint : "");
    in.filter = &f;
    Ovop__V1__Subscription *out = NULL;
    int code =
        svcenv_call_as(e, who, "CreateSubscription", NULL, &in.base,
                       &ovop__v1__subscription__descriptor, (ProtobufCMessage **)&out, ret_rep);
    if (out) {
        *ret_id = xstrdup(out->id);
        assert_int_equal(out->cursor, out->head); /* starts now */
        protobuf_c_message_free_unpacked(&out->base, NULL);
    }
    free(f.event_types);
    free(f.soate_prefixes);
    free(f.destinations);
    free(f.exporters);
    for (int i = 0; i < 4; i++)
        free(b[i]);
    return code;
}

int nt_try_subscribe(svcenv_t *e, const char *who, const char *agency, const char *types,
                     const char *soate, const char *exporters, Ovop__V1__Reply **ret_rep)
{
    char *id = NULL;
    int code = create(e, who, agency, NULL, types, soate, NULL, exporters, ret_rep, &id);
    free(id);
    return code;
}

char *nt_subscribe(svcenv_t *e, const char *who, const char *types, const char *soate,
                   const char *dest, const char *exporters)
{
    char *id = NULL;
    Ovop__V1__Reply *rep = NULL;
    int code = create(e, who, "", NULL, types, soate, dest, exporters, &rep, &id);
    if (code)
        fail_msg("CreateSubscription: %s %s", rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return id;
}

char *nt_subscribe_webhook(svcenv_t *e, const char *who, const char *endpoint, const char *types,
                           const char *soate)
{
    char *id = NULL;
    Ovop__V1__Reply *rep = NULL;
    int code = create(e, who, "", endpoint, types, soate, NULL, NULL, &rep, &id);
    if (code)
        fail_msg("CreateSubscription: %s %s", rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return id;
}

void nt_set_status(svcenv_t *e, const char *who, const char *method, const char *sub)
{
    Ovop__V1__SubscriptionRef in = OVOP__V1__SUBSCRIPTION_REF__INIT;
    in.id = (char *)sub;
    Ovop__V1__Reply *rep = NULL;
    int code = svcenv_call_as(e, who, method, NULL, &in.base, &ovop__v1__subscription__descriptor,
                              NULL, &rep);
    if (code)
        fail_msg("%s: %s %s", method, rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

char *nt_endpoint(svcenv_t *e, const char *who, const char *url, char **ret_secret)
{
    return nt_endpoint_format(e, who, url, 0, ret_secret);
}

char *nt_endpoint_format(svcenv_t *e, const char *who, const char *url, int format,
                         char **ret_secret)
{
    Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
    in.url = (char *)url;
    in.format = (Ovop__V1__EndpointFormat)format;
    Ovop__V1__EndpointSecret *out = NULL;
    Ovop__V1__Reply *rep = NULL;
    int code =
        svcenv_call_as(e, who, "CreateEndpoint", NULL, &in.base,
                       &ovop__v1__endpoint_secret__descriptor, (ProtobufCMessage **)&out, &rep);
    if (code)
        fail_msg("CreateEndpoint: %s %s", rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    char *id = xstrdup(out->endpoint->id);
    *ret_secret = xstrdup(out->secret);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    return id;
}

/* ---- events ---- */

uint64_t nt_emit(svcenv_t *e, const char *type, const char *soate, const char *hs6,
                 const char *dest, int64_t exporter)
{
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    Ovop__V1__ExporterRef ref = OVOP__V1__EXPORTER_REF__INIT;
    ev.shipment_id = 1;
    if (exporter) {
        ref.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
        ref.id = exporter;
        ev.exporter = &ref;
    }
    ev.destination = (char *)(dest ? dest : "");
    size_t len = ovop__v1__export_event__get_packed_size(&ev);
    uint8_t *buf = xmalloc(len + 1);
    ovop__v1__export_event__pack(&ev, buf);
    char *hex = xmalloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", buf[i]);
    hex[len * 2] = '\0';
    const char *params[] = {type, hex, hs6, soate, dest};
    PGresult *r = PQexecParams(e->conn,
                               "SELECT bus.emit(gen_random_uuid(), '/ovop/exports', $1, "
                               "'shipment/1', 'ovop.v1.ExportEvent', decode($2, 'hex'), $3, $4, "
                               "$5)",
                               5, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("emit: %s", PQerrorMessage(e->conn));
    PQclear(r);
    free(buf);
    free(hex);
    free(pgtest_scalar(e->conn, "SELECT bus.sequence_events()"));
    char *v = pgtest_scalar(e->conn, "SELECT max(seq) FROM bus.events");
    uint64_t seq = strtoull(v, NULL, 10);
    free(v);
    return seq;
}

void nt_wait_cursor(svcenv_t *e, const char *sub, uint64_t seq)
{
    long c = -1;
    for (int i = 0; i < 100; i++) {
        c = svcenv_countf(e, "SELECT cursor FROM notify.subscriptions WHERE id = '%s'", sub);
        if (c == (long)seq)
            return;
        harness_sleep_ms(50);
    }
    fail_msg("cursor of %s is %ld, expected %" PRIu64, sub, c, seq);
}

/* ---- the stream client ---- */

static nt_stream_t *open_stream(ovop_security_t *sec, uint16_t port)
{
    nt_stream_t *s = xcalloc(1, sizeof(*s));
    s->ctx = zmq_ctx_new();
    s->sock = zmq_socket(s->ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(ovop_security_apply_client(s->sock, sec), 0);
    char ep[64];
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", port);
    assert_int_equal(zmq_connect(s->sock, ep), 0);
    ovop_security_clear(sec);
    return s;
}

static void notify_server_key(svcenv_t *e, ovop_security_t *sec)
{
    char *pub = ident_public(&e->ident, "svc-ovop.notify");
    char *err = NULL;
    if (ovop_key_load_public(pub, sec->server_key, &err) < 0)
        fail_msg("%s", err);
    free(pub);
}

nt_stream_t *nt_connect(svcenv_t *e, const char *who, uint16_t port)
{
    ovop_security_t sec;
    assert_int_equal(ident_security(&e->ident, who, &sec), 0);
    notify_server_key(e, &sec);
    return open_stream(&sec, port);
}

nt_stream_t *nt_connect_unknown(svcenv_t *e, uint16_t port)
{
    ovop_security_t sec = {0};
    assert_int_equal(ovop_key_generate(sec.public_key, sec.secret_key), 0);
    notify_server_key(e, &sec);
    return open_stream(&sec, port);
}

nt_stream_t *nt_connect_wrong_server(svcenv_t *e, const char *who, uint16_t port)
{
    ovop_security_t sec;
    assert_int_equal(ident_security(&e->ident, who, &sec), 0); /* server key: the broker's */
    return open_stream(&sec, port);
}

void nt_close(nt_stream_t *s)
{
    zmq_close(s->sock);
    zmq_ctx_term(s->ctx);
    free(s);
}

static void send_request(nt_stream_t *s, const Ovop__V1__StreamRequest *rq)
{
    size_t len = ovop__v1__stream_request__get_packed_size(rq);
    uint8_t *buf = xmalloc(len + 1);
    ovop__v1__stream_request__pack(rq, buf);
    nt_send_raw(s, buf, len);
    free(buf);
}

void nt_send_raw(nt_stream_t *s, const void *p, size_t n)
{
    assert_true(zmq_send(s->sock, p, n, 0) >= 0);
}

void nt_send_subscribe(nt_stream_t *s, const char *sub, uint64_t from, uint32_t window)
{
    Ovop__V1__StreamSubscribe sb = OVOP__V1__STREAM_SUBSCRIBE__INIT;
    sb.subscription_id = (char *)sub;
    sb.from_sequence = from;
    sb.window = window;
    Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
    rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_SUBSCRIBE;
    rq.subscribe = &sb;
    send_request(s, &rq);
}

static Ovop__V1__StreamReply *recv_reply(nt_stream_t *s, unsigned ms)
{
    zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, (long)ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, s->sock, 0) >= 0);
    Ovop__V1__StreamReply *r =
        ovop__v1__stream_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
    zmq_msg_close(&m);
    assert_non_null(r);
    return r;
}

static Ovop__V1__StreamReply *expect(nt_stream_t *s, int kind)
{
    Ovop__V1__StreamReply *r = recv_reply(s, 5000);
    if (!r)
        fail_msg("nothing received within 5 s (expected kind %d)", kind);
    if ((int)r->kind_case != kind) {
        if (r->kind_case == OVOP__V1__STREAM_REPLY__KIND_ERROR)
            fail_msg("StreamError %s: %s", r->error->reason, r->error->message);
        if (r->kind_case == OVOP__V1__STREAM_REPLY__KIND_DELIVERY)
            fail_msg("delivery of %" PRIu64 ", expected kind %d", r->delivery->event->sequence,
                     kind);
        fail_msg("reply kind %d, expected %d", (int)r->kind_case, kind);
    }
    return r;
}

uint64_t nt_subscribe_stream(nt_stream_t *s, const char *sub, uint64_t from, uint32_t window,
                             const char *reason)
{
    nt_send_subscribe(s, sub, from, window);
    if (*reason) {
        nt_expect_error(s, reason);
        return 0;
    }
    Ovop__V1__StreamReply *r = expect(s, OVOP__V1__STREAM_REPLY__KIND_SUBSCRIBED);
    assert_string_equal(r->subscribed->subscription_id, sub);
    uint64_t cursor = r->subscribed->cursor;
    ovop__v1__stream_reply__free_unpacked(r, NULL);
    return cursor;
}

uint64_t nt_expect_event(nt_stream_t *s, const char *sub)
{
    Ovop__V1__StreamReply *r = expect(s, OVOP__V1__STREAM_REPLY__KIND_DELIVERY);
    assert_string_equal(r->delivery->subscription_id, sub);
    assert_non_null(r->delivery->event);
    assert_string_equal(r->delivery->event->data_schema, "ovop.v1.ExportEvent");
    uint64_t seq = r->delivery->event->sequence;
    ovop__v1__stream_reply__free_unpacked(r, NULL);
    return seq;
}

void nt_expect_error(nt_stream_t *s, const char *reason)
{
    Ovop__V1__StreamReply *r = expect(s, OVOP__V1__STREAM_REPLY__KIND_ERROR);
    if (strcmp(r->error->reason, reason) != 0)
        fail_msg("StreamError %s (%s), expected %s", r->error->reason, r->error->message, reason);
    ovop__v1__stream_reply__free_unpacked(r, NULL);
}

void nt_expect_nothing(nt_stream_t *s, unsigned ms)
{
    Ovop__V1__StreamReply *r = recv_reply(s, ms);
    if (r) {
        if (r->kind_case == OVOP__V1__STREAM_REPLY__KIND_DELIVERY)
            fail_msg("unexpected delivery of %" PRIu64, r->delivery->event->sequence);
        fail_msg("unexpected reply of kind %d", (int)r->kind_case);
    }
}

void nt_ack(nt_stream_t *s, const char *sub, uint64_t seq)
{
    Ovop__V1__StreamAck a = OVOP__V1__STREAM_ACK__INIT;
    a.subscription_id = (char *)sub;
    a.sequence = seq;
    Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
    rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_ACK;
    rq.ack = &a;
    send_request(s, &rq);
}

void nt_ack_expect(nt_stream_t *s, const char *sub, uint64_t seq, const char *reason)
{
    nt_ack(s, sub, seq);
    nt_expect_error(s, reason);
}

void nt_ping(nt_stream_t *s)
{
    Ovop__V1__StreamPing p = OVOP__V1__STREAM_PING__INIT;
    Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
    rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_PING;
    rq.ping = &p;
    send_request(s, &rq);
    ovop__v1__stream_reply__free_unpacked(expect(s, OVOP__V1__STREAM_REPLY__KIND_PONG), NULL);
}
