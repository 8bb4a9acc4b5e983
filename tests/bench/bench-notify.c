/* bench-notify: notifyd's two deliveries beside raw ZeroMQ PUB/SUB, measured in one run.
 *
 *   1. latency from the writer's commit to the stream subscriber: a writer commits the events
 *      due (bus.emit, one transaction per batch; a second connection calls
 *      bus.sequence_events() every millisecond, as the writers' sequencers do) at RATE / 10
 *      and at RATE events/s; notifyd streams each to N_SUBS stream subscriptions (one CURVE
 *      DEALER each, acknowledging cumulatively); p50/p99 of (received - committed), and the
 *      deliveries per second it reached. Beside it: raw ZeroMQ PUB -> N_SUBS SUBs on loopback
 *      TCP at RATE, plain and with CURVE, p50/p99 of (received - sent);
 *   2. webhook deliveries per second to a local HTTP sink (libmicrohttpd, keep-alive): the
 *      webhook client module alone (notify_webhook_post, signed 1 KiB bodies, WEBHOOK_SUBS
 *      requests in flight), then notifyd delivering WEBHOOK_EVENTS events to WEBHOOK_SUBS
 *      webhook subscriptions of one endpoint (head of line each: WEBHOOK_SUBS in flight at
 *      most); beside them raw ZeroMQ PUB -> SUB throughput.
 *
 * Everything talks CURVE as in production (tests/support/ident.h principals; the agency is
 * customs with notify.subscriber). Needs OVOP_TEST_PG_URL (`./deploy/ovop bench` gives one).
 * Usage: bench-notify [SECONDS]. Not a test: prints figures and ratios, exits 0 unless it
 * cannot start. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <libpq-fe.h>
#include <uv.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "httpsink.h"
#include "ident.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/notify.pb-c.h"
#include "seal.h"
#include "sign.h"
#include "util.h"
#include "webhook.h"

#define DB_NAME        "ovop_bench_notify"
#define RATE           2000 /* events per second written */
#define N_SUBS         50   /* stream subscriptions */
#define WEBHOOK_SUBS   16
#define WEBHOOK_EVENTS 1000
#define AGENCY         "customs"
#define NOTIFIER       "notify-admin"
#define STREAM_TYPE    "ovop.exports.shipment.released"
#define HOOK_TYPE      "ovop.exports.shipment.departed"

static double seconds = 5;

/* ---- small helpers ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat {
    uint32_t *us;
    size_t n, cap;
} lat_t;

static void lat_add(lat_t *l, int64_t us)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->us = xrealloc(l->us, l->cap * sizeof(*l->us));
    }
    l->us[l->n++] = (uint32_t)(us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : us);
}

static void lat_sort(lat_t *l)
{
    if (l->n)
        qsort(l->us, l->n, sizeof(*l->us), cmp_u32);
}

/* After lat_sort. */
static double lat_pct(const lat_t *l, double q)
{
    return l->n ? l->us[(size_t)(q * (double)(l->n - 1))] : 0;
}

/* Sleeps until monotonic time t_us. */
static void sleep_until(int64_t t_us)
{
    int64_t d = t_us - ovop_mono_us();
    if (d > 0) {
        struct timespec ts = {d / 1000000, (d % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- raw ZeroMQ PUB/SUB ---- */

typedef struct raw_msg {
    uint64_t index;
    int64_t sent_us;
    char pad[48]; /* 64 bytes in all */
} raw_msg_t;

typedef struct raw_pub {
    void *pub;
    uint64_t n;  /* messages to send */
    double rate; /* per second; 0: as fast as possible */
} raw_pub_t;

static void *raw_pub_main(void *p)
{
    raw_pub_t *a = p;
    int64_t start = ovop_mono_us();
    for (uint64_t i = 0; i < a->n; i++) {
        if (a->rate > 0)
            sleep_until(start + (int64_t)((double)i * 1e6 / a->rate));
        raw_msg_t m = {.index = i, .sent_us = ovop_mono_us()};
        zmq_send(a->pub, &m, sizeof(m), 0);
    }
    return NULL;
}

/* A PUB bound on loopback and n SUBs connected to it and joined (each got a warm-up message:
 * PUB/SUB drops what is sent before a subscriber joined). */
static void *raw_setup(void *ctx, void **subs, int n, bool curve)
{
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    int hwm = 0, one = 1;
    char server_pub[41], server_sec[41], pub_key[41], sec_key[41];
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (curve) { /* no ZAP handler: the PUB takes any client key */
        zmq_curve_keypair(server_pub, server_sec);
        zmq_setsockopt(pub, ZMQ_CURVE_SERVER, &one, sizeof(one));
        zmq_setsockopt(pub, ZMQ_CURVE_SECRETKEY, server_sec, 40);
    }
    zmq_bind(pub, "tcp://127.0.0.1:*");
    char ep[64];
    size_t len = sizeof(ep);
    zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, ep, &len);
    for (int i = 0; i < n; i++) {
        subs[i] = zmq_socket(ctx, ZMQ_SUB);
        zmq_setsockopt(subs[i], ZMQ_RCVHWM, &hwm, sizeof(hwm));
        if (curve) {
            zmq_curve_keypair(pub_key, sec_key);
            zmq_setsockopt(subs[i], ZMQ_CURVE_SERVERKEY, server_pub, 40);
            zmq_setsockopt(subs[i], ZMQ_CURVE_PUBLICKEY, pub_key, 40);
            zmq_setsockopt(subs[i], ZMQ_CURVE_SECRETKEY, sec_key, 40);
        }
        zmq_setsockopt(subs[i], ZMQ_SUBSCRIBE, "", 0);
        zmq_connect(subs[i], ep);
    }
    for (int i = 0; i < n; i++) {
        char b[8];
        while (zmq_recv(subs[i], b, sizeof(b), ZMQ_DONTWAIT) < 0) {
            zmq_send(pub, "warm", 4, 0);
            usleep(1000);
        }
    }
    /* Drain the rest of the warm-up messages. */
    usleep(20000);
    for (int i = 0; i < n; i++) {
        char b[8];
        while (zmq_recv(subs[i], b, sizeof(b), ZMQ_DONTWAIT) >= 0)
            ;
    }
    return pub;
}

/* Latency of n_subs SUBs at RATE messages/s for `seconds`. */
static void raw_pubsub_latency(int n_subs, bool curve, lat_t *out)
{
    void *ctx = zmq_ctx_new();
    void *subs[N_SUBS];
    void *pub = raw_setup(ctx, subs, n_subs, curve);
    raw_pub_t a = {.pub = pub, .n = (uint64_t)(RATE * seconds), .rate = RATE};
    pthread_t t;
    pthread_create(&t, NULL, raw_pub_main, &a);
    zmq_pollitem_t items[N_SUBS];
    for (int i = 0; i < n_subs; i++)
        items[i] = (zmq_pollitem_t){.socket = subs[i], .events = ZMQ_POLLIN};
    uint64_t want = a.n * (uint64_t)n_subs, got = 0;
    int64_t deadline = ovop_mono_us() + (int64_t)(seconds * 1e6) + 10000000;
    while (got < want && ovop_mono_us() < deadline) {
        if (zmq_poll(items, n_subs, 100) <= 0)
            continue;
        for (int i = 0; i < n_subs; i++) {
            raw_msg_t m;
            while (zmq_recv(subs[i], &m, sizeof(m), ZMQ_DONTWAIT) == sizeof(m)) {
                lat_add(out, ovop_mono_us() - m.sent_us);
                got++;
            }
        }
    }
    pthread_join(t, NULL);
    for (int i = 0; i < n_subs; i++)
        zmq_close(subs[i]);
    zmq_close(pub);
    zmq_ctx_term(ctx);
}

/* Messages per second one SUB receives from a PUB sending as fast as it can. */
static double raw_pubsub_throughput(uint64_t n)
{
    void *ctx = zmq_ctx_new();
    void *sub;
    void *pub = raw_setup(ctx, &sub, 1, false);
    raw_pub_t a = {.pub = pub, .n = n};
    int64_t start = ovop_mono_us();
    pthread_t t;
    pthread_create(&t, NULL, raw_pub_main, &a);
    uint64_t got = 0;
    raw_msg_t m;
    int timeout = 5000;
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
    while (got < n && zmq_recv(sub, &m, sizeof(m), 0) == sizeof(m))
        got++;
    double s = (double)(ovop_mono_us() - start) / 1e6;
    pthread_join(t, NULL);
    zmq_close(sub);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    return (double)got / s;
}

/* ---- the webhook client module alone ---- */

typedef struct hook_chain {
    notify_webhook_t *w;
    const char *url, *secret, *body;
    int64_t until_us;
    uint64_t done, failed;
    lat_t *lat;
    bool running;
} hook_chain_t;

/* One signed POST, as notifyd sends it (signature computed per request). */
static void hook_post(hook_chain_t *c);

static void on_hook(void *userdata, const notify_webhook_result_t *r)
{
    hook_chain_t *c = userdata;
    if (r->status >= 200 && r->status < 300) {
        c->done++;
        lat_add(c->lat, (int64_t)(r->latency_ms * 1000));
    } else {
        c->failed++;
    }
    if (ovop_mono_us() < c->until_us)
        hook_post(c);
    else
        c->running = false;
}

static void hook_post(hook_chain_t *c)
{
    char id[37], h_id[64], h_ts[64], *h_sig;
    ovop_uuid4(id);
    int64_t now = ovop_now_us() / 1000000;
    char *sig = notify_sign(&c->secret, 1, id, now, c->body, strlen(c->body));
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %" PRId64, now);
    h_sig = xasprintf("webhook-signature: %s", sig);
    const char *h[] = {"Content-Type: application/cloudevents+json", h_id, h_ts, h_sig, NULL};
    if (notify_webhook_post(c->w, c->url, h, c->body, strlen(c->body), on_hook, c) < 0) {
        c->failed++;
        c->running = false;
    }
    free(h_sig);
    free(sig);
}

/* Posts per second of WEBHOOK_SUBS chains (each posts the next when the last is answered). */
static double webhook_module(httpsink_t *sink, lat_t *lat, uint64_t *ret_failed)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8"};
    if (notify_webhook_new(&w, &loop, &o, NULL) < 0)
        return 0;
    char *url = httpsink_url(sink, "/module"), *secret = notify_secret_generate();
    /* A body of the size of a CloudEvents JSON export event. */
    char body[1025];
    memset(body, 'x', sizeof(body) - 1);
    body[0] = '{', body[sizeof(body) - 2] = '}', body[sizeof(body) - 1] = '\0';
    hook_chain_t c[WEBHOOK_SUBS];
    int64_t start = ovop_mono_us();
    for (int i = 0; i < WEBHOOK_SUBS; i++) {
        c[i] = (hook_chain_t){.w = w,
                              .url = url,
                              .secret = secret,
                              .body = body,
                              .lat = lat,
                              .until_us = start + (int64_t)(seconds * 1e6),
                              .running = true};
        hook_post(&c[i]);
    }
    for (;;) {
        bool any = false;
        for (int i = 0; i < WEBHOOK_SUBS; i++)
            any |= c[i].running;
        if (!any)
            break;
        uv_run(&loop, UV_RUN_ONCE);
    }
    double s = (double)(ovop_mono_us() - start) / 1e6;
    uint64_t done = 0, failed = 0;
    for (int i = 0; i < WEBHOOK_SUBS; i++)
        done += c[i].done, failed += c[i].failed;
    notify_webhook_destroy(&w);
    while (uv_loop_alive(&loop))
        uv_run(&loop, UV_RUN_ONCE);
    uv_loop_close(&loop);
    free(url);
    free(secret);
    *ret_failed = failed;
    return (double)done / s;
}

/* ---- notifyd ---- */

typedef struct env {
    char *db;
    ident_t id;
    bench_bus_t bus;
    pid_t notifyd;
    char stream[64];
    ovop_client_t *admin, *agency;
} env_t;

static ovop_client_t *client_as(env_t *e, const char *who)
{
    ovop_security_t sec;
    if (ident_security(&e->id, who, &sec) < 0)
        return NULL;
    ovop_client_options_t o = {
        .brokers = e->bus.endpoint, .timeout_ms = 10000, .retries = 1, .security = &sec};
    ovop_client_t *c = NULL;
    ovop_client_new(&c, NULL, &o);
    ovop_security_clear(&sec);
    return c;
}

/* A NotifyService call that must succeed; out decoded as out_desc (caller frees). */
static ProtobufCMessage *call(ovop_client_t *c, const char *method, const ProtobufCMessage *in,
                              const ProtobufCMessageDescriptor *out_desc)
{
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, "ovop.notify", method, NULL, in, out_desc, &rep, &out);
    if (r < 0 || !rep || (rep->status && rep->status->code != 0)) {
        fprintf(stderr, "bench: %s failed: %s %s\n", method,
                rep && rep->status ? rep->status->reason : strerror(-r),
                rep && rep->status ? rep->status->message : "");
        exit(1);
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    return out;
}

static int env_start(env_t *e)
{
    const char *log_level = getenv("OVOP_BENCH_LOG") ? getenv("OVOP_BENCH_LOG") : "warn";
    e->db = bench_database(DB_NAME);
    bench_ident(&e->id, e->db, "bench_notify");
    PGconn *c = PQconnectdb(e->db);
    /* Added before anything starts: no keyring reload to wait for. */
    if (ident_add(&e->id, c, AGENCY, "agency", "customs notify.subscriber", NULL, AGENCY) < 0 ||
        ident_add(&e->id, c, NOTIFIER, "operator", "notify.admin", NULL, NULL) < 0)
        return -1;
    PQfinish(c);
    if (bench_bus_start(&e->bus, &e->id, e->db, "broker", NULL) < 0)
        return -1;
    char *key = xasprintf("%s/bench-notify-secrets.key", harness_tmpdir()), *err = NULL;
    if (notify_seal_key_write(key, &err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    uint16_t port, http;
    harness_free_port(&port);
    harness_free_port(&http);
    snprintf(e->stream, sizeof(e->stream), "tcp://127.0.0.1:%u", port);
    char http_arg[32];
    snprintf(http_arg, sizeof(http_arg), "127.0.0.1:%u", http);
    const char *args[] = {"--database-url",
                          e->db,
                          "--stream-bind",
                          e->stream,
                          "--http",
                          http_arg,
                          "--secrets-key",
                          key,
                          "--webhook-allow",
                          "127.0.0.0/8",
                          "--log-level",
                          log_level,
                          NULL};
    int r =
        bench_bus_spawn(&e->bus, "ovop-notifyd", "svc-ovop.notify", args, "notifyd", &e->notifyd);
    free(key);
    if (r < 0 || bench_bus_wait(&e->bus, "ovop.notify", 15000) < 0)
        return -1;
    e->admin = client_as(e, NOTIFIER);
    e->agency = client_as(e, AGENCY);
    char *all[] = {"*"}, *types[] = {"ovop.exports.*"};
    Ovop__V1__AgencyScope scope = OVOP__V1__AGENCY_SCOPE__INIT;
    scope.agency = AGENCY;
    scope.n_event_types = 1, scope.event_types = types;
    scope.n_soate_prefixes = 1, scope.soate_prefixes = all;
    scope.n_hs_prefixes = 1, scope.hs_prefixes = all;
    scope.n_destinations = 1, scope.destinations = all;
    protobuf_c_message_free_unpacked(
        call(e->admin, "SetAgencyScope", &scope.base, &ovop__v1__agency_scope__descriptor), NULL);
    return 0;
}

static void env_stop(env_t *e)
{
    ovop_client_destroy(&e->admin);
    ovop_client_destroy(&e->agency);
    harness_stop(e->notifyd);
    bench_bus_stop(&e->bus);
}

/* A subscription of the agency to events of `type`; stream, or webhook to endpoint. */
static char *subscribe(env_t *e, const char *type, const char *endpoint)
{
    char *types[] = {(char *)type};
    Ovop__V1__SubscriptionFilter f = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
    f.n_event_types = 1, f.event_types = types;
    Ovop__V1__CreateSubscriptionRequest in = OVOP__V1__CREATE_SUBSCRIPTION_REQUEST__INIT;
    in.delivery = endpoint ? OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_WEBHOOK
                           : OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_STREAM;
    in.endpoint_id = (char *)(endpoint ? endpoint : "");
    in.filter = &f;
    Ovop__V1__Subscription *s = (Ovop__V1__Subscription *)call(
        e->agency, "CreateSubscription", &in.base, &ovop__v1__subscription__descriptor);
    char *id = xstrdup(s->id);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return id;
}

/* The writer: the events due by now (at `rate`) in one transaction (one statement of
 * bus.emit calls, commit), so that it keeps the rate when a commit takes longer than the gap
 * between two events; commit_us[i] is when event i's commit returned. A second connection
 * plays the writers' sequencer: bus.sequence_events() every millisecond, as a daemon's
 * sequencer runs after its commits. */
#define WRITER_BATCH_MAX 200

typedef struct writer {
    const char *db, *type;
    uint64_t n;
    double rate; /* 0: as fast as possible */
    _Atomic int64_t *commit_us;
    int64_t elapsed_us;
    uint64_t commits;
    int failed;
    atomic_bool done;
} writer_t;

static void *sequencer_main(void *p)
{
    writer_t *w = p;
    PGconn *c = PQconnectdb(w->db);
    while (!atomic_load(&w->done)) {
        PQclear(PQexec(c, "SELECT bus.sequence_events()"));
        usleep(1000);
    }
    PQclear(PQexec(c, "SELECT bus.sequence_events()"));
    PQfinish(c);
    return NULL;
}

/* Emits events [from, to) in one statement (one transaction). */
static void emit_batch(writer_t *w, PGconn *c, const uint8_t *data, int len, uint64_t from,
                       uint64_t to)
{
    ovop_buf_t ids, subjects;
    ovop_buf_init(&ids);
    ovop_buf_init(&subjects);
    ovop_buf_puts(&ids, "{");
    ovop_buf_puts(&subjects, "{");
    for (uint64_t i = from; i < to; i++) {
        char id[37];
        ovop_uuid4(id);
        ovop_buf_printf(&ids, "%s%s", i > from ? "," : "", id);
        ovop_buf_printf(&subjects, "%sbench/%" PRIu64, i > from ? "," : "", i);
    }
    ovop_buf_puts(&ids, "}");
    ovop_buf_puts(&subjects, "}");
    const char *v[] = {w->type, (const char *)data, ids.data, subjects.data};
    int lens[] = {0, len, 0, 0}, fmts[] = {0, 1, 0, 0};
    PGresult *r = PQexecParams(c,
                               "SELECT bus.emit(t.id, '/ovop/exports', $1, t.subject, "
                               "'ovop.v1.ExportEvent', $2::bytea, '081310', '41705214000000', "
                               "'CN') FROM unnest($3::uuid[], $4::text[]) AS t(id, subject)",
                               4, NULL, v, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        w->failed++;
    PQclear(r);
    int64_t now = ovop_mono_us();
    for (uint64_t i = from; w->commit_us && i < to; i++)
        atomic_store(&w->commit_us[i], now);
    w->commits++;
    ovop_buf_free(&ids);
    ovop_buf_free(&subjects);
}

static void *writer_main(void *p)
{
    writer_t *w = p;
    PGconn *c = PQconnectdb(w->db);
    /* A commit is visible (and delivered) before its WAL flush is waited for: on this
     * machine's disk one flush per commit would cap the writer far below RATE. */
    PQclear(PQexec(c, "SET synchronous_commit = off"));
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    Ovop__V1__ExporterRef ref = OVOP__V1__EXPORTER_REF__INIT;
    ref.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER, ref.id = 9001;
    ev.shipment_id = 1, ev.exporter = &ref, ev.destination = "CN", ev.biz_step = "shipping";
    uint8_t data[256];
    int len = (int)ovop__v1__export_event__pack(&ev, data);
    pthread_t seq;
    pthread_create(&seq, NULL, sequencer_main, w);
    int64_t start = ovop_mono_us();
    for (uint64_t i = 0; i < w->n;) {
        uint64_t due = w->n;
        if (w->rate > 0) {
            sleep_until(start + (int64_t)((double)i * 1e6 / w->rate));
            due = (uint64_t)((double)(ovop_mono_us() - start) * w->rate / 1e6) + 1;
        }
        uint64_t to = due > w->n ? w->n : due;
        if (to <= i)
            to = i + 1;
        if (to - i > WRITER_BATCH_MAX)
            to = i + WRITER_BATCH_MAX;
        emit_batch(w, c, data, len, i, to);
        i = to;
    }
    w->elapsed_us = ovop_mono_us() - start;
    atomic_store(&w->done, true);
    pthread_join(seq, NULL);
    PQfinish(c);
    return NULL;
}

/* The stream sessions: one DEALER per subscription, CURVE with the agency's keys. */
static void *stream_open(env_t *e, void *ctx, const char *sub)
{
    ovop_security_t sec;
    char *server = ident_public(&e->id, "svc-ovop.notify"), *err = NULL;
    ident_security(&e->id, AGENCY, &sec);
    ovop_key_load_public(server, sec.server_key, &err);
    free(server);
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int hwm = 0;
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    ovop_security_apply_client(s, &sec);
    ovop_security_clear(&sec);
    zmq_connect(s, e->stream);
    Ovop__V1__StreamSubscribe ss = OVOP__V1__STREAM_SUBSCRIBE__INIT;
    ss.subscription_id = (char *)sub;
    ss.window = 1000;
    Ovop__V1__StreamRequest req = OVOP__V1__STREAM_REQUEST__INIT;
    req.kind_case = OVOP__V1__STREAM_REQUEST__KIND_SUBSCRIBE;
    req.subscribe = &ss;
    uint8_t buf[256];
    zmq_send(s, buf, ovop__v1__stream_request__pack(&req, buf), 0);
    return s;
}

static void stream_ack(void *s, const char *sub, uint64_t seq)
{
    Ovop__V1__StreamAck a = OVOP__V1__STREAM_ACK__INIT;
    a.subscription_id = (char *)sub;
    a.sequence = seq;
    Ovop__V1__StreamRequest req = OVOP__V1__STREAM_REQUEST__INIT;
    req.kind_case = OVOP__V1__STREAM_REQUEST__KIND_ACK;
    req.ack = &a;
    uint8_t buf[256];
    zmq_send(s, buf, ovop__v1__stream_request__pack(&req, buf), ZMQ_DONTWAIT);
}

/* Reads what socket i has: Subscribed (counted), deliveries (latency against commit_us),
 * then one cumulative Ack. */
static void stream_drain(void *s, const char *sub, _Atomic int64_t *commit_us, uint64_t n,
                         lat_t *lat, int *subscribed, uint64_t *got)
{
    uint64_t last = 0;
    char buf[4096];
    int len;
    while ((len = zmq_recv(s, buf, sizeof(buf), ZMQ_DONTWAIT)) >= 0) {
        int64_t now = ovop_mono_us();
        Ovop__V1__StreamReply *rep =
            ovop__v1__stream_reply__unpack(NULL, (size_t)len, (const uint8_t *)buf);
        if (!rep)
            continue;
        if (rep->kind_case == OVOP__V1__STREAM_REPLY__KIND_SUBSCRIBED)
            (*subscribed)++;
        else if (rep->kind_case == OVOP__V1__STREAM_REPLY__KIND_ERROR)
            fprintf(stderr, "bench: stream error %s: %s\n", rep->error->reason,
                    rep->error->message);
        else if (rep->kind_case == OVOP__V1__STREAM_REPLY__KIND_DELIVERY) {
            const Ovop__V1__Event *ev = rep->delivery->event;
            uint64_t i = strtoull(ev->subject + strlen("bench/"), NULL, 10);
            if (i < n && atomic_load(&commit_us[i]))
                lat_add(lat, now - atomic_load(&commit_us[i]));
            last = ev->sequence;
            (*got)++;
        }
        ovop__v1__stream_reply__free_unpacked(rep, NULL);
    }
    if (last)
        stream_ack(s, sub, last);
}

static void stream_ping(void *s)
{
    Ovop__V1__StreamPing p = OVOP__V1__STREAM_PING__INIT;
    Ovop__V1__StreamRequest req = OVOP__V1__STREAM_REQUEST__INIT;
    req.kind_case = OVOP__V1__STREAM_REQUEST__KIND_PING;
    req.ping = &p;
    uint8_t buf[16];
    zmq_send(s, buf, ovop__v1__stream_request__pack(&req, buf), ZMQ_DONTWAIT);
}

/* Commit -> subscriber latency at RATE events/s to N_SUBS stream subscriptions. Returns the
 * deliveries received; *ret_wanted the deliveries expected. */
static uint64_t stream_latency(env_t *e, double rate, lat_t *lat, uint64_t *ret_wanted,
                               double *ret_rate, double *ret_per_commit, double *ret_delivered_rate)
{
    char *subs[N_SUBS];
    void *ctx = zmq_ctx_new(), *socks[N_SUBS];
    zmq_pollitem_t items[N_SUBS];
    for (int i = 0; i < N_SUBS; i++) {
        subs[i] = subscribe(e, STREAM_TYPE, NULL);
        socks[i] = stream_open(e, ctx, subs[i]);
        items[i] = (zmq_pollitem_t){.socket = socks[i], .events = ZMQ_POLLIN};
    }
    writer_t w = {.db = e->db, .type = STREAM_TYPE, .n = (uint64_t)(rate * seconds), .rate = rate};
    w.commit_us = xcalloc(w.n, sizeof(*w.commit_us));
    int subscribed = 0;
    uint64_t got = 0, want = w.n * N_SUBS;
    int64_t deadline = ovop_mono_us() + 15000000, last_ping = ovop_mono_us();
    bool writing = false;
    int64_t t0 = 0, t_last = 0;
    pthread_t t;
    while (got < want && ovop_mono_us() < deadline) {
        if (!writing && subscribed == N_SUBS) {
            pthread_create(&t, NULL, writer_main, &w);
            writing = true;
            t0 = ovop_mono_us();
            deadline = ovop_mono_us() + (int64_t)(seconds * 1e6) + 30000000;
        }
        if (ovop_mono_us() - last_ping > 2000000) {
            for (int i = 0; i < N_SUBS; i++)
                stream_ping(socks[i]);
            last_ping = ovop_mono_us();
        }
        if (zmq_poll(items, N_SUBS, 100) <= 0)
            continue;
        uint64_t before = got;
        for (int i = 0; i < N_SUBS; i++)
            if (items[i].revents & ZMQ_POLLIN)
                stream_drain(socks[i], subs[i], w.commit_us, w.n, lat, &subscribed, &got);
        if (got > before)
            t_last = ovop_mono_us();
    }
    *ret_delivered_rate = t_last > t0 && t0 ? (double)got * 1e6 / (double)(t_last - t0) : 0;
    if (writing)
        pthread_join(t, NULL);
    else
        fprintf(stderr, "bench: only %d of %d stream subscriptions answered Subscribed\n",
                subscribed, N_SUBS);
    *ret_rate = w.elapsed_us ? (double)w.n * 1e6 / (double)w.elapsed_us : 0;
    *ret_per_commit = w.commits ? (double)w.n / (double)w.commits : 0;
    for (int i = 0; i < N_SUBS; i++) {
        zmq_close(socks[i]);
        free(subs[i]);
    }
    zmq_ctx_term(ctx);
    free(w.commit_us);
    *ret_wanted = want;
    return got;
}

/* notifyd's webhook deliveries per second: WEBHOOK_EVENTS events to WEBHOOK_SUBS
 * subscriptions of one endpoint on the sink, from the first commit to the last answer. */
static double webhook_notifyd(env_t *e, httpsink_t *sink, uint64_t *ret_got, uint64_t *ret_want)
{
    char *url = httpsink_url(sink, "/notifyd");
    Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
    in.url = url;
    in.format = OVOP__V1__ENDPOINT_FORMAT__ENDPOINT_FORMAT_CLOUDEVENTS_JSON;
    Ovop__V1__EndpointSecret *es = (Ovop__V1__EndpointSecret *)call(
        e->agency, "CreateEndpoint", &in.base, &ovop__v1__endpoint_secret__descriptor);
    char *subs[WEBHOOK_SUBS];
    for (int i = 0; i < WEBHOOK_SUBS; i++)
        subs[i] = subscribe(e, HOOK_TYPE, es->endpoint->id);
    size_t before = httpsink_count(sink);
    writer_t w = {.db = e->db, .type = HOOK_TYPE, .n = WEBHOOK_EVENTS};
    int64_t start = ovop_mono_us();
    pthread_t t;
    pthread_create(&t, NULL, writer_main, &w);
    uint64_t want = (uint64_t)WEBHOOK_EVENTS * WEBHOOK_SUBS;
    /* Until every delivery arrived, or nothing arrived for 10 s. */
    int64_t end = ovop_mono_us();
    size_t seen = before;
    while (!httpsink_wait(sink, before + want, 1000)) {
        size_t now = httpsink_count(sink);
        if (now != seen)
            seen = now, end = ovop_mono_us();
        else if (ovop_mono_us() - end > 10000000)
            break;
    }
    if (httpsink_count(sink) >= before + want)
        end = ovop_mono_us();
    pthread_join(t, NULL);
    *ret_got = httpsink_count(sink) - before;
    *ret_want = want;
    /* The last request signed like the others: check it verifies with the endpoint secret. */
    const httpsink_request_t *last = httpsink_get(sink, httpsink_count(sink) - 1);
    const char *secret = es->secret;
    if (last && httpsink_verify(last, &secret, 1) != 0)
        fprintf(stderr, "bench: a webhook's signature did not verify\n");
    for (int i = 0; i < WEBHOOK_SUBS; i++)
        free(subs[i]);
    protobuf_c_message_free_unpacked(&es->base, NULL);
    free(url);
    return (double)*ret_got * 1e6 / (double)(end - start);
}

static void stream_figure(env_t *e, double rate, double raw_p50, double raw_p99)
{
    lat_t st = {0};
    uint64_t want = 0;
    double wrote = 0, per_commit = 0, delivered_rate = 0;
    uint64_t got = stream_latency(e, rate, &st, &want, &wrote, &per_commit, &delivered_rate);
    lat_sort(&st);
    double p50 = lat_pct(&st, 0.5), p99 = lat_pct(&st, 0.99);
    printf("notifyd stream, commit -> subscriber, %d subs, %4.0f events/s: p50 %8.0f us  p99 %8.0f "
           "us  (%" PRIu64 " of %" PRIu64 " deliveries; written at %.0f events/s, %.1f per "
           "commit)\n",
           N_SUBS, rate, p50, p99, got, want, wrote, per_commit);
    printf("  delivered at %.0f deliveries/s (first commit to last delivery); vs raw PUB/SUB "
           "at %d msg/s: p50 x%.1f, p99 x%.1f\n",
           delivered_rate, RATE, raw_p50 > 0 ? p50 / raw_p50 : 0, raw_p99 > 0 ? p99 / raw_p99 : 0);
    free(st.us);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 || (argc == 2 && (seconds = atof(argv[1])) <= 0)) {
        fprintf(stderr, "usage: bench-notify [SECONDS]\n");
        return 64;
    }
    printf("bench-notify: %.1f s per figure, %d events/s to %d stream subscriptions, %d webhook "
           "subscriptions, loopback (logs in %s)\n",
           seconds, RATE, N_SUBS, WEBHOOK_SUBS, harness_tmpdir());

    lat_t raw = {0}, rawc = {0};
    raw_pubsub_latency(N_SUBS, false, &raw);
    lat_sort(&raw);
    double raw_p50 = lat_pct(&raw, 0.5), raw_p99 = lat_pct(&raw, 0.99);
    raw_pubsub_latency(N_SUBS, true, &rawc);
    lat_sort(&rawc);
    printf("raw zmq PUB -> %d SUBs, %d msg/s, CURVE:           p50 %8.0f us  p99 %8.0f us  "
           "(%zu samples)\n",
           N_SUBS, RATE, lat_pct(&rawc, 0.5), lat_pct(&rawc, 0.99), rawc.n);
    free(rawc.us);
    printf("raw zmq PUB -> %d SUBs, %d msg/s:                  p50 %8.0f us  p99 %8.0f us  "
           "(%zu samples)\n",
           N_SUBS, RATE, raw_p50, raw_p99, raw.n);
    double raw_tput = raw_pubsub_throughput(500000);
    printf("raw zmq PUB -> SUB, as fast as it goes:            %10.0f msg/s\n", raw_tput);

    httpsink_t *sink = httpsink_start(0);
    lat_t mod = {0};
    uint64_t mod_failed = 0;
    double mod_rate = webhook_module(sink, &mod, &mod_failed);
    lat_sort(&mod);
    printf("webhook module -> HTTP sink, keep-alive, %d in flight: %9.0f posts/s  p50 %6.0f us  "
           "p99 %6.0f us  (%" PRIu64 " failed, %u connections)\n",
           WEBHOOK_SUBS, mod_rate, lat_pct(&mod, 0.5), lat_pct(&mod, 0.99), mod_failed,
           httpsink_connections(sink));

    env_t e = {0};
    if (env_start(&e) < 0) {
        fprintf(stderr, "bench: could not start the broker and ovop-notifyd\n");
        return 1;
    }
    const char *only = getenv("OVOP_BENCH_ONLY");
    if (!only || strcmp(only, "webhook") != 0) {
        /* A tenth of the rate first (below saturation), then the rate itself. */
        stream_figure(&e, RATE / 10.0, raw_p50, raw_p99);
        stream_figure(&e, RATE, raw_p50, raw_p99);
    }

    unsigned conns0 = httpsink_connections(sink);
    uint64_t hgot = 0, hwant = 0;
    double hrate = webhook_notifyd(&e, sink, &hgot, &hwant);
    printf("notifyd webhooks -> HTTP sink, %d subscriptions:   %9.0f deliveries/s  (%" PRIu64
           " of %" PRIu64 ", %u new connections)\n",
           WEBHOOK_SUBS, hrate, hgot, hwant, httpsink_connections(sink) - conns0);
    printf("  vs the webhook module alone x%.2f, vs raw PUB/SUB throughput x%.4f\n",
           mod_rate > 0 ? hrate / mod_rate : 0, raw_tput > 0 ? hrate / raw_tput : 0);

    env_stop(&e);
    httpsink_stop(&sink);
    free(raw.us);
    free(mod.us);
    return 0;
}
