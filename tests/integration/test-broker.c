/* The broker against real processes: ovop-broker on a free port, echo-worker processes
 * (tests/support/echo-worker.c) and ovop_client, all on CURVE as in production. The group
 * makes one scratch database with the principals (tests/support/ident.h) and the test
 * services' worker roles; each case starts its own broker on it. Clients and raw client
 * sockets are IDENT_ADMIN, echo workers the service principal svc-echo (worker:echo), raw
 * worker sockets svc-raw (worker:raw). Needs OVOP_TEST_PG_URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "client.h"
#include "envelope.h"
#include "harness.h"
#include "ident.h"
#include "mdp.h"
#include "migrate.h"
#include "msg.h"
#include "ovop/v1/broker.pb-c.h"
#include "ovop/v1/envelope.pb-c.h"
#include "pgtest.h"
#include "util.h"

#define HEARTBEAT_MS "200"
#define MAX_WORKERS  4
#define ECHO_WORKER  "svc-echo" /* the echo workers' principal: worker:echo */
#define RAW_WORKER   "svc-raw"  /* the raw worker sockets' principal: worker:raw */

/* What every case shares: the database of the principals and their keys. */
typedef struct group {
    char *db;
    PGconn *conn;
    ident_t ident;
    ovop_security_t admin; /* IDENT_ADMIN's keys: clients and raw client sockets */
    ovop_security_t raw;   /* RAW_WORKER's keys: raw worker sockets */
    char *echo_secret;     /* ECHO_WORKER's secret file: the echo workers' --key */
} group_t;

static group_t G;

typedef struct env {
    uint16_t port;
    uint16_t http_port;
    char endpoint[64];
    pid_t broker;
    pid_t workers[MAX_WORKERS];
    size_t n_workers;
} env_t;

/* Waits until the broker says it is ready (/readyz: its keyring is loaded). Before that its
 * ZAP handler answers "not yet" (300), and libzmq does not reconnect a socket refused so:
 * a client that connected too early would wait in vain. */
static void wait_ready(env_t *e)
{
    for (int i = 0; i < 200; i++) {
        ovop_buf_t page;
        ovop_buf_init(&page);
        int status = harness_http_get(e->http_port, "/readyz", &page);
        ovop_buf_free(&page);
        if (status == 200)
            return;
        harness_sleep_ms(50);
    }
    fail_msg("the broker was not ready within 10 s");
}

/* extra: more arguments (name, value...), NULL-terminated; NULL for none. */
static void spawn_broker_with(env_t *e, const char *request_timeout_ms, const char *const *extra)
{
    char bind[64], http[64];
    assert_int_equal(harness_free_port(&e->http_port), 0);
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", e->port);
    snprintf(http, sizeof(http), "127.0.0.1:%u", e->http_port);
    const char *args[] = {"--bind",
                          bind,
                          "--http",
                          http,
                          "--heartbeat-ms",
                          HEARTBEAT_MS,
                          "--liveness",
                          "3",
                          "--request-timeout-ms",
                          request_timeout_ms,
                          "--log-level",
                          "debug",
                          "--key",
                          G.ident.broker_secret,
                          "--database-url",
                          G.db,
                          NULL};
    const char *all[64];
    size_t n = 0;
    for (size_t i = 0; args[i]; i++)
        all[n++] = args[i];
    for (size_t i = 0; extra && extra[i] && n + 1 < OVOP_ARRAY_SIZE(all); i++)
        all[n++] = extra[i];
    all[n] = NULL;
    char *bin = harness_bin("ovop-broker");
    assert_int_equal(harness_spawn(&e->broker, bin, all, NULL, "broker"), 0);
    free(bin);
    wait_ready(e);
}

static void spawn_broker(env_t *e, const char *request_timeout_ms)
{
    spawn_broker_with(e, request_timeout_ms, NULL);
}

/* The broker's resident memory in KiB, from /proc/PID/status. */
static long broker_rss_kb(const env_t *e)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)e->broker);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static pid_t spawn_worker_with(env_t *e, const char *name, const char *credit, const char *delay_ms,
                               const char *unavailable)
{
    const char *args[] = {"--broker",    e->endpoint,     "--name",
                          name,          "--credit",      credit,
                          "--delay-ms",  delay_ms,        "--heartbeat-ms",
                          HEARTBEAT_MS,  "--unavailable", unavailable,
                          "--log-level", "debug",         "--key",
                          G.echo_secret, "--broker-key",  G.ident.broker_key,
                          NULL};
    char *bin = harness_bin("echo-worker");
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, bin, args, NULL, name), 0);
    free(bin);
    assert_true(e->n_workers < MAX_WORKERS);
    e->workers[e->n_workers++] = pid;
    return pid;
}

static pid_t spawn_worker(env_t *e, const char *name, const char *credit, const char *delay_ms)
{
    return spawn_worker_with(e, name, credit, delay_ms, "0");
}

/* Waits until the broker answers mmi.service at all (404 is fine). */
static void wait_broker(env_t *e)
{
    ovop_client_options_t o = {
        .brokers = e->endpoint, .timeout_ms = 200, .max_msg = 1 << 20, .security = &G.admin};
    ovop_client_t *c = NULL;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    int r = -ETIMEDOUT;
    for (int i = 0; i < 50 && r == -ETIMEDOUT; i++)
        r = ovop_client_mmi_service(c, "echo");
    ovop_client_destroy(&c);
    assert_true(r == 0 || r == -ENOENT);
}

static double metric(env_t *e, const char *series)
{
    ovop_buf_t page;
    ovop_buf_init(&page);
    int status = harness_http_get(e->http_port, "/metrics", &page);
    assert_int_equal(status, 200);
    double v = harness_metric(page.data, series);
    ovop_buf_free(&page);
    return v;
}

/* Polls /metrics until series reaches at least min (3 s at most); returns its last value.
 * Metrics are read over another connection than the traffic that moves them. */
static double wait_metric(env_t *e, const char *series, double min)
{
    double v = metric(e, series);
    for (int i = 0; i < 60 && v < min; i++) {
        harness_sleep_ms(50);
        v = metric(e, series);
    }
    return v;
}

static int group_setup(void **state)
{
    OVOP_UNUSED(state);
    char *err = NULL;
    G.db = pgtest_create("broker");
    G.conn = pgtest_connect(G.db);
    if (ovop_migrate(G.conn, NULL, &err) < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(ident_setup(&G.ident, G.conn, "broker"), 0);
    assert_int_equal(ident_role(G.conn, "worker:echo"), 0);
    assert_int_equal(ident_role(G.conn, "worker:raw"), 0);
    assert_int_equal(ident_add(&G.ident, G.conn, ECHO_WORKER, "service", "worker:echo", NULL, NULL),
                     0);
    assert_int_equal(ident_add(&G.ident, G.conn, RAW_WORKER, "service", "worker:raw", NULL, NULL),
                     0);
    assert_int_equal(ident_security(&G.ident, IDENT_ADMIN, &G.admin), 0);
    assert_int_equal(ident_security(&G.ident, RAW_WORKER, &G.raw), 0);
    G.echo_secret = ident_secret(&G.ident, ECHO_WORKER);
    return 0;
}

static int group_teardown(void **state)
{
    OVOP_UNUSED(state);
    if (G.conn)
        PQfinish(G.conn);
    pgtest_drop(&G.db);
    ovop_security_clear(&G.admin);
    ovop_security_clear(&G.raw);
    xfree(G.echo_secret);
    return 0;
}

static int setup(void **state)
{
    env_t *e = xcalloc(1, sizeof(*e));
    if (harness_free_port(&e->port) < 0)
        return -1;
    snprintf(e->endpoint, sizeof(e->endpoint), "tcp://127.0.0.1:%u", e->port);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    for (size_t i = 0; i < e->n_workers; i++)
        harness_stop(e->workers[i]);
    harness_stop(e->broker);
    free(e);
    return 0;
}

static ovop_client_t *client(env_t *e, unsigned timeout_ms, unsigned retries)
{
    ovop_client_options_t o = {.brokers = e->endpoint,
                               .timeout_ms = timeout_ms,
                               .retries = retries,
                               .max_msg = 1 << 20,
                               .security = &G.admin};
    ovop_client_t *c = NULL;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    return c;
}

/* ---- load from several client threads ---- */

typedef struct load {
    const char *endpoint;
    int requests;
    unsigned timeout_ms;
    unsigned retries;
    int answered; /* correct replies */
    int failed;
    int by_worker[2]; /* replies from w1, w2 */
} load_t;

/* Calls echo `requests` times with a Status as input and checks the echoed copy. */
static void *load_thread(void *p)
{
    load_t *l = p;
    ovop_client_options_t o = {.brokers = l->endpoint,
                               .timeout_ms = l->timeout_ms,
                               .retries = l->retries,
                               .max_msg = 1 << 20,
                               .security = &G.admin};
    ovop_client_t *c = NULL;
    if (ovop_client_new(&c, NULL, &o) < 0) {
        l->failed = l->requests;
        return NULL;
    }
    for (int i = 0; i < l->requests; i++) {
        char text[32];
        Ovop__V1__Status in = OVOP__V1__STATUS__INIT;
        Ovop__V1__Reply *rep = NULL;
        ProtobufCMessage *out = NULL;
        snprintf(text, sizeof(text), "req-%d", i);
        in.code = i;
        in.message = text;
        int r = ovop_client_call(c, "echo", "Echo", NULL, &in.base, &ovop__v1__status__descriptor,
                                 &rep, &out);
        Ovop__V1__Status *echoed = (Ovop__V1__Status *)out;
        if (r == 0 && echoed && (int)echoed->code == i && strcmp(echoed->message, text) == 0) {
            l->answered++;
            if (strcmp(rep->status->message, "w1") == 0)
                l->by_worker[0]++;
            else if (strcmp(rep->status->message, "w2") == 0)
                l->by_worker[1]++;
        } else {
            fprintf(stderr, "request %d failed: %s\n", i, r < 0 ? strerror(-r) : "wrong reply");
            l->failed++;
        }
        if (out)
            protobuf_c_message_free_unpacked(out, NULL);
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
    }
    ovop_client_destroy(&c);
    return NULL;
}

typedef struct load_run {
    pthread_t threads[16];
    load_t loads[16];
    int n;
} load_run_t;

static void load_start(load_run_t *run, env_t *e, int threads, int requests, unsigned timeout_ms,
                       unsigned retries)
{
    memset(run, 0, sizeof(*run));
    run->n = threads;
    for (int i = 0; i < threads; i++) {
        run->loads[i] = (load_t){.endpoint = e->endpoint,
                                 .requests = requests,
                                 .timeout_ms = timeout_ms,
                                 .retries = retries};
        assert_int_equal(pthread_create(&run->threads[i], NULL, load_thread, &run->loads[i]), 0);
    }
}

/* Joins the threads and sums into *ret. */
static void load_finish(load_run_t *run, load_t *ret)
{
    memset(ret, 0, sizeof(*ret));
    for (int i = 0; i < run->n; i++) {
        pthread_join(run->threads[i], NULL);
        ret->requests += run->loads[i].requests;
        ret->answered += run->loads[i].answered;
        ret->failed += run->loads[i].failed;
        ret->by_worker[0] += run->loads[i].by_worker[0];
        ret->by_worker[1] += run->loads[i].by_worker[1];
    }
}

/* The metadata "principal" of an echo worker's reply: whom the broker said is calling. */
static const char *reply_principal(const Ovop__V1__Reply *rep)
{
    for (size_t i = 0; rep->status && i < rep->status->n_metadata; i++)
        if (strcmp(rep->status->metadata[i]->key, "principal") == 0)
            return rep->status->metadata[i]->value;
    return "(none)";
}

/* ---- cases ---- */

static void test_request_reply(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "4", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);

    ovop_client_t *c = client(e, 2000, 2);
    void *body = NULL;
    size_t len = 0;
    assert_int_equal(ovop_client_raw(c, "echo", "hello", 5, NULL, NULL, &body, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "hello", 5);
    free(body);

    Ovop__V1__Status in = OVOP__V1__STATUS__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    in.code = 7;
    in.message = "seven";
    assert_int_equal(ovop_client_call(c, "echo", "Echo", "rid-1", &in.base,
                                      &ovop__v1__status__descriptor, &rep, &out),
                     0);
    assert_string_equal(rep->request_id, "rid-1");
    assert_int_equal(rep->status->code, OVOP_OK);
    assert_string_equal(rep->status->message, "w1");
    assert_string_equal(reply_principal(rep), IDENT_ADMIN);
    assert_int_equal(((Ovop__V1__Status *)out)->code, 7);
    assert_string_equal(((Ovop__V1__Status *)out)->message, "seven");
    protobuf_c_message_free_unpacked(out, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);

    /* The worker is told who the broker authenticated: another key, another principal. */
    ovop_security_t customs;
    assert_int_equal(ident_security(&G.ident, "customs", &customs), 0);
    ovop_client_options_t o = {.brokers = e->endpoint,
                               .timeout_ms = 2000,
                               .retries = 2,
                               .max_msg = 1 << 20,
                               .security = &customs};
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    ovop_security_clear(&customs);
    assert_int_equal(ovop_client_call(c, "echo", "Echo", "rid-2", &in.base,
                                      &ovop__v1__status__descriptor, &rep, &out),
                     0);
    assert_int_equal(rep->status->code, OVOP_OK);
    assert_string_equal(reply_principal(rep), "customs");
    protobuf_c_message_free_unpacked(out, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);

    assert_true(metric(e, "ovop_broker_requests_total{service=\"echo\"}") >= 3);
    assert_true(metric(e, "ovop_broker_replies_total{service=\"echo\",status=\"OK\"}") >= 3);
    assert_int_equal(metric(e, "ovop_broker_workers{service=\"echo\"}"), 1);

    /* SIGTERM stops the broker cleanly. */
    int status;
    assert_int_equal(harness_kill(e->broker, SIGTERM), 0);
    assert_int_equal(harness_wait_exit(e->broker, 5000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    e->broker = 0;
}

/* SIGTERM with requests in hand: the broker takes no new ones but forwards the replies of
 * those its worker holds (the clients here never retry), then exits 0. */
static void test_sigterm_drains_requests_in_hand(void **state)
{
    env_t *e = *state;
    load_run_t run;
    load_t sum;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "8", "600");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    load_start(&run, e, 4, 1, 5000, 0);
    assert_true(wait_metric(e, "ovop_broker_requests_total{service=\"echo\"}", 4) >= 4);
    int status = -1;
    assert_int_equal(harness_kill(e->broker, SIGTERM), 0);
    load_finish(&run, &sum);
    assert_int_equal(sum.failed, 0);
    assert_int_equal(sum.answered, 4);
    assert_int_equal(harness_wait_exit(e->broker, 5000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    e->broker = 0;
}

static void test_mmi(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    wait_broker(e);
    ovop_client_t *c = client(e, 1000, 1);
    assert_int_equal(ovop_client_mmi_service(c, "echo"), -ENOENT);
    spawn_worker(e, "w1", "1", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    assert_int_equal(ovop_client_mmi_service(c, "echo"), 0);
    assert_int_equal(ovop_client_mmi_service(c, "nosuch"), -ENOENT);

    void *body = NULL;
    size_t len = 0;
    assert_int_equal(ovop_client_raw(c, "mmi.nosuch", "echo", 4, NULL, NULL, &body, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(body, "501", 3);
    free(body);
    ovop_client_destroy(&c);

    /* The worker goes: after its DISCONNECT the service is unknown again. */
    assert_int_equal(harness_kill(e->workers[0], SIGTERM), 0);
    assert_int_equal(harness_wait_exit(e->workers[0], 5000, NULL), 0);
    e->n_workers = 0;
    c = client(e, 1000, 1);
    assert_int_equal(ovop_client_mmi_service(c, "echo"), -ENOENT);
    ovop_client_destroy(&c);
}

static void test_two_workers_share_load(void **state)
{
    env_t *e = *state;
    load_run_t run;
    load_t sum;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "8", "1");
    spawn_worker(e, "w2", "8", "1");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    assert_int_equal(wait_metric(e, "ovop_broker_workers{service=\"echo\"}", 2), 2);

    load_start(&run, e, 8, 100, 5000, 2);
    load_finish(&run, &sum);
    printf("# %d answered, %d failed, w1 %d, w2 %d\n", sum.answered, sum.failed, sum.by_worker[0],
           sum.by_worker[1]);
    assert_int_equal(sum.failed, 0);
    assert_int_equal(sum.answered, 800);
    assert_true(sum.by_worker[0] > 100);
    assert_true(sum.by_worker[1] > 100);
    assert_int_equal(sum.by_worker[0] + sum.by_worker[1], 800);
}

static void test_worker_killed_mid_load(void **state)
{
    env_t *e = *state;
    load_run_t run;
    load_t sum;
    spawn_broker(e, "10000");
    pid_t w1 = spawn_worker(e, "w1", "8", "20");
    spawn_worker(e, "w2", "8", "20");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    assert_int_equal(wait_metric(e, "ovop_broker_workers{service=\"echo\"}", 2), 2);

    /* Client timeouts well above the broker's detection time (3 x 200 ms): the requests the
     * dead worker held must come back through the broker's re-queue, not client retries. */
    load_start(&run, e, 8, 60, 5000, 3);
    harness_sleep_ms(400);
    assert_int_equal(harness_kill(w1, SIGKILL), 0);
    load_finish(&run, &sum);
    printf("# %d answered, %d failed, w1 %d, w2 %d\n", sum.answered, sum.failed, sum.by_worker[0],
           sum.by_worker[1]);
    assert_int_equal(sum.failed, 0);
    assert_int_equal(sum.answered, 480);
    assert_true(sum.by_worker[0] > 0);
    assert_true(metric(e, "ovop_broker_requeued_total") >= 1);
    assert_int_equal(metric(e, "ovop_broker_workers{service=\"echo\"}"), 1);
}

static void test_broker_restart_mid_load(void **state)
{
    env_t *e = *state;
    load_run_t run;
    load_t sum;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "8", "5");
    spawn_worker(e, "w2", "8", "5");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    assert_int_equal(wait_metric(e, "ovop_broker_workers{service=\"echo\"}", 2), 2);

    load_start(&run, e, 8, 60, 500, 30);
    harness_sleep_ms(300);
    harness_stop(e->broker);
    harness_sleep_ms(300);
    spawn_broker(e, "10000");
    load_finish(&run, &sum);
    printf("# %d answered, %d failed\n", sum.answered, sum.failed);
    assert_int_equal(sum.failed, 0);
    assert_int_equal(sum.answered, 480);
    /* Both workers found the new broker (they may still be on their way when the load ends). */
    assert_int_equal(wait_metric(e, "ovop_broker_workers{service=\"echo\"}", 2), 2);
}

static void send_frames(void *sock, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *p = va_arg(ap, const char *);
        size_t len = va_arg(ap, size_t);
        assert_int_equal(zmq_send(sock, p, len, i + 1 < n ? ZMQ_SNDMORE : 0), (int)len);
    }
    va_end(ap);
}

#define F(s) (s), sizeof(s) - 1

/* A raw DEALER connected to the broker with sec's keys (CURVE options before connecting). */
static void *raw_socket(void *zctx, const env_t *e, const ovop_security_t *sec, int linger)
{
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    assert_non_null(d);
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof(linger));
    assert_int_equal(ovop_security_apply_client(d, sec), 0);
    assert_int_equal(zmq_connect(d, e->endpoint), 0);
    return d;
}

/* The next message on sock that is not a worker HEARTBEAT, within timeout_ms; NULL if none. */
static ovop_msg_t *recv_within(void *sock, unsigned timeout_ms)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int64_t left = (deadline - ovop_mono_us()) / 1000;
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (left <= 0 || zmq_poll(&item, 1, (long)left) <= 0) {
            if (ovop_mono_us() >= deadline)
                return NULL;
            continue;
        }
        ovop_msg_t *m = NULL;
        if (ovop_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0)
            continue;
        unsigned char heartbeat = OVOP_MDPW_HEARTBEAT;
        if (ovop_msg_frames(m) == 2 && ovop_msg_streq(m, 0, OVOP_MDPW) &&
            ovop_msg_eq(m, 1, &heartbeat, 1)) {
            ovop_msg_destroy(&m);
            continue;
        }
        return m;
    }
}

static void test_garbage_is_dropped(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "4", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    double header0 = metric(e, "ovop_broker_dropped_total{reason=\"bad_header\"}");
    double client0 = metric(e, "ovop_broker_dropped_total{reason=\"bad_client_frame\"}");
    double worker0 = metric(e, "ovop_broker_dropped_total{reason=\"bad_worker_frame\"}");
    double unknown0 = metric(e, "ovop_broker_dropped_total{reason=\"unknown_worker\"}");

    void *zctx = zmq_ctx_new();
    void *d = raw_socket(zctx, e, &G.admin, 1000);
    unsigned char random_bytes[64];
    for (size_t i = 0; i < sizeof(random_bytes); i++)
        random_bytes[i] = (unsigned char)(i * 37 + 11);
    send_frames(d, 1, (const char *)random_bytes, sizeof(random_bytes));
    send_frames(d, 3, F("x"), F(""), (const char *)random_bytes, sizeof(random_bytes));
    send_frames(d, 1, F(""));
    send_frames(d, 4, F("MDPC02"), F("\x09"), F("echo"), F("body")); /* bad command */
    send_frames(d, 1, F("MDPC02"));                                  /* truncated */
    send_frames(d, 3, F("MDPC02"), F("\x01"), F("echo"));            /* no body */
    send_frames(d, 4, F("MDPC02"), F("\x01"), F("bad service"), F("b"));
    send_frames(d, 4, F("MDPC02"), F("\x03"), F("echo"), F("b"));     /* FINAL from a client */
    send_frames(d, 4, F("MDPW02"), F("\x01"), F("echo"), F("abc"));   /* bad credit */
    send_frames(d, 4, F("MDPW02"), F("\x01"), F("echo"), F("0"));     /* bad credit */
    send_frames(d, 4, F("MDPW02"), F("\x01"), F("echo"), F("99999")); /* bad credit */
    send_frames(d, 2, F("MDPW02"), F("\x77"));                        /* bad command */
    send_frames(d, 4, F("MDPW02"), F("\x04"), F("addr"), F("body"));  /* no delimiter */
    send_frames(d, 5, F("MDPW02"), F("\x04"), F("addr"), F(""), F("body")); /* unknown worker */
    send_frames(d, 2, F("MDPW02"), F("\x05"));                              /* unknown worker */
    zmq_close(d);
    zmq_ctx_term(zctx);

    ovop_client_t *c = client(e, 2000, 2);
    void *body = NULL;
    size_t len = 0;
    assert_int_equal(ovop_client_raw(c, "echo", "still", 5, NULL, NULL, &body, &len), 0);
    assert_memory_equal(body, "still", 5);
    free(body);
    ovop_client_destroy(&c);

    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"bad_header\"}", header0 + 3) >=
                header0 + 3);
    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"bad_client_frame\"}",
                            client0 + 5) >= client0 + 5);
    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"bad_worker_frame\"}",
                            worker0 + 5) >= worker0 + 5);
    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"unknown_worker\"}",
                            unknown0 + 2) >= unknown0 + 2);
    assert_int_equal(metric(e, "ovop_broker_workers{service=\"echo\"}"), 1);
}

/* m is the broker's FINAL refusal of a request: its Reply has this status from ovop.broker
 * and echoes rid; metadata key (or NULL) has value. Consumes m. */
static void assert_refusal(ovop_msg_t **m, const char *rid, int code, const char *reason,
                           const char *key, const char *value)
{
    assert_non_null(*m);
    assert_int_equal(ovop_msg_frames(*m), 4);
    assert_true(ovop_msg_streq(*m, 0, OVOP_MDPC) && ovop_msg_eq(*m, 1, "\x03", 1));
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, ovop_msg_len(*m, 3), ovop_msg_data(*m, 3));
    assert_non_null(rep);
    assert_string_equal(rep->request_id, rid);
    assert_non_null(rep->status);
    assert_int_equal(rep->status->code, code);
    assert_string_equal(rep->status->reason, reason);
    assert_string_equal(rep->status->domain, "ovop.broker");
    if (key) {
        assert_int_equal(rep->status->n_metadata, 1);
        assert_string_equal(rep->status->metadata[0]->key, key);
        if (value)
            assert_string_equal(rep->status->metadata[0]->value, value);
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_msg_destroy(m);
}

/* The size limit is the whole message's: a body over --max-msg, or 200 frames that are
 * small one by one, are answered RESOURCE_EXHAUSTED (MESSAGE_TOO_LARGE) and counted; a frame
 * over twice the limit is dropped by libzmq with its connection, which is counted as a
 * disconnect. The service keeps answering. */
static void test_oversized_message(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "4", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    double gone0 = metric(e, "ovop_broker_disconnects_total");

    void *zctx = zmq_ctx_new();
    void *d = raw_socket(zctx, e, &G.admin, 2000);
    size_t big = 1024 * 1024, len;
    char *huge = xcalloc(1, 3 * big);
    void *req = ovop_request_encode("rid-big", "Echo", huge, big, 0, NULL, &len);
    send_frames(d, 4, F("MDPC02"), F("\x01"), F("echo"), (const char *)req, len);
    free(req);
    ovop_msg_t *m = recv_within(d, 3000);
    assert_refusal(&m, "rid-big", OVOP_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE", "max_bytes",
                   "1048576");

    /* 200 frames of 8 KiB: each small, 1.6 MB together. */
    req = ovop_request_encode("rid-200", "Echo", "x", 1, 0, NULL, &len);
    assert_int_equal(zmq_send(d, "MDPC02", 6, ZMQ_SNDMORE), 6);
    assert_int_equal(zmq_send(d, "\x01", 1, ZMQ_SNDMORE), 1);
    assert_int_equal(zmq_send(d, "echo", 4, ZMQ_SNDMORE), 4);
    assert_int_equal(zmq_send(d, req, len, ZMQ_SNDMORE), (int)len);
    for (int i = 0; i < 199; i++)
        assert_int_equal(zmq_send(d, huge, 8192, i < 198 ? ZMQ_SNDMORE : 0), 8192);
    free(req);
    m = recv_within(d, 3000);
    assert_refusal(&m, "rid-200", OVOP_RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE", "max_bytes",
                   "1048576");

    /* One frame of 3 MiB: past ZMQ_MAXMSGSIZE (2 MiB), libzmq closes the connection. */
    void *d2 = raw_socket(zctx, e, &G.admin, 2000);
    send_frames(d2, 4, F("MDPC02"), F("\x01"), F("echo"), huge, 3 * big);
    free(huge);
    assert_null(m = recv_within(d2, 500));
    zmq_close(d2);
    zmq_close(d);
    zmq_ctx_term(zctx);
    double gone = wait_metric(e, "ovop_broker_disconnects_total", gone0 + 1);
    print_message("disconnects %g -> %g\n", gone0, gone);
    assert_true(gone >= gone0 + 1);

    ovop_client_t *c = client(e, 2000, 2);
    void *body = NULL;
    assert_int_equal(ovop_client_raw(c, "echo", "small", 5, NULL, NULL, &body, &len), 0);
    assert_memory_equal(body, "small", 5);
    free(body);
    ovop_client_destroy(&c);
    assert_int_equal(metric(e, "ovop_broker_requests_total{service=\"echo\"}"), 1);
    assert_int_equal(metric(e, "ovop_broker_dropped_total{reason=\"too_large\"}"), 2);
}

static void *spawn_late(void *p)
{
    env_t *e = p;
    harness_sleep_ms(500);
    spawn_worker(e, "w1", "2", "0");
    return NULL;
}

static void test_unknown_service_waits_then_expires(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "1000");
    wait_broker(e);

    /* Nobody serves nosuch: the request waits request-timeout-ms, then is dropped. */
    ovop_client_t *c = client(e, 300, 0);
    void *body = NULL;
    size_t len = 0;
    assert_int_equal(ovop_client_raw(c, "nosuch", "x", 1, NULL, NULL, &body, &len), -ETIMEDOUT);
    ovop_client_destroy(&c);
    harness_sleep_ms(1500);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"expired\"}") >= 1);

    /* A request for a service whose worker starts a moment later is answered. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, spawn_late, e), 0);
    c = client(e, 5000, 0);
    int r = ovop_client_raw(c, "echo", "late", 4, NULL, NULL, &body, &len);
    pthread_join(t, NULL);
    assert_int_equal(r, 0);
    assert_memory_equal(body, "late", 4);
    free(body);
    ovop_client_destroy(&c);
}

static void test_unavailable_is_retried(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    spawn_worker_with(e, "w1", "1", "0", "3");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);

    Ovop__V1__Status in = OVOP__V1__STATUS__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    in.message = "again";

    /* One retry is not enough for three UNAVAILABLE answers: the last reply is returned. */
    ovop_client_t *c = client(e, 2000, 1);
    assert_int_equal(ovop_client_call(c, "echo", "Echo", "rid-u1", &in.base,
                                      &ovop__v1__status__descriptor, &rep, &out),
                     0);
    assert_int_equal(rep->status->code, OVOP_UNAVAILABLE);
    assert_null(out);
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* The third UNAVAILABLE, then OK, all with the same request id. */
    int64_t start = ovop_mono_us();
    assert_int_equal(ovop_client_call(c, "echo", "Echo", "rid-u2", &in.base,
                                      &ovop__v1__status__descriptor, &rep, &out),
                     0);
    assert_string_equal(rep->request_id, "rid-u2");
    assert_int_equal(rep->status->code, OVOP_OK);
    assert_string_equal(((Ovop__V1__Status *)out)->message, "again");
    /* It paused 100 ms after the UNAVAILABLE. */
    assert_true(ovop_mono_us() - start >= 100000);
    protobuf_c_message_free_unpacked(out, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
}

/* Receives on a raw DEALER until a worker command `cmd` arrives (skipping HEARTBEATs), or
 * 3 s pass. */
static bool expect_command(void *d, int cmd)
{
    int64_t deadline = ovop_mono_us() + 3000000;
    while (ovop_mono_us() < deadline) {
        zmq_pollitem_t item = {.socket = d, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        char f0[16], f1[16];
        int n0 = zmq_recv(d, f0, sizeof(f0), 0);
        int more = 0;
        size_t more_len = sizeof(more);
        zmq_getsockopt(d, ZMQ_RCVMORE, &more, &more_len);
        int n1 = more ? zmq_recv(d, f1, sizeof(f1), 0) : -1;
        while (zmq_getsockopt(d, ZMQ_RCVMORE, &more, &more_len) == 0 && more)
            zmq_recv(d, f0, sizeof(f0), 0);
        if (n0 == 6 && memcmp(f0, "MDPW02", 6) == 0 && n1 == 1 && f1[0] == cmd)
            return true;
    }
    return false;
}

static void test_protocol_violations_disconnect(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    wait_broker(e);

    void *zctx = zmq_ctx_new();
    void *d = raw_socket(zctx, e, &G.raw, 0);

    /* A raw worker registers; READY a second time gets it disconnected and forgotten. */
    send_frames(d, 4, F("MDPW02"), F("\x01"), F("raw"), F("2"));
    assert_int_equal(harness_wait_service(e->endpoint, "raw", 5000, &G.admin), 0);
    assert_true(expect_command(d, 0x05)); /* the broker heartbeats it */
    send_frames(d, 3, F("MDPW02"), F("\x01"), F("raw"));
    assert_true(expect_command(d, 0x06));
    ovop_client_t *c = client(e, 1000, 1);
    assert_int_equal(ovop_client_mmi_service(c, "raw"), -ENOENT);

    /* Registered again, a REQUEST from it (a client command in worker clothes) does the same. */
    send_frames(d, 3, F("MDPW02"), F("\x01"), F("raw"));
    assert_int_equal(harness_wait_service(e->endpoint, "raw", 5000, &G.admin), 0);
    send_frames(d, 5, F("MDPW02"), F("\x02"), F("addr"), F(""), F("body"));
    assert_true(expect_command(d, 0x06));
    assert_int_equal(ovop_client_mmi_service(c, "raw"), -ENOENT);

    /* mmi.* is reserved: a worker cannot serve it. */
    send_frames(d, 3, F("MDPW02"), F("\x01"), F("mmi.service"));
    assert_true(expect_command(d, 0x06));

    /* A client's key cannot register a worker: IDENT_ADMIN lacks worker:raw. */
    void *a = raw_socket(zctx, e, &G.admin, 0);
    send_frames(a, 4, F("MDPW02"), F("\x01"), F("raw"), F("2"));
    assert_true(expect_command(a, 0x06));
    assert_int_equal(ovop_client_mmi_service(c, "raw"), -ENOENT);
    ovop_client_destroy(&c);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"unexpected_command\"}") >= 2);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"reserved_service\"}") >= 1);
    assert_int_equal(metric(e, "ovop_broker_dropped_total{reason=\"unauthorized_worker\"}"), 1);
    zmq_close(a);
    zmq_close(d);
    zmq_ctx_term(zctx);
}

/* ovop.broker GetStatus as IDENT_ADMIN (iam.admin); the response, which must come. */
static Ovop__V1__GetStatusResponse *get_status(env_t *e)
{
    ovop_client_t *c = client(e, 2000, 1);
    Ovop__V1__GetStatusRequest in = OVOP__V1__GET_STATUS_REQUEST__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(ovop_client_call(c, "ovop.broker", "GetStatus", NULL, &in.base,
                                      &ovop__v1__get_status_response__descriptor, &rep, &out),
                     0);
    assert_int_equal(rep->status ? rep->status->code : 0, OVOP_OK);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    return (Ovop__V1__GetStatusResponse *)out;
}

static const Ovop__V1__BrokerService *status_service(const Ovop__V1__GetStatusResponse *st,
                                                     const char *name)
{
    for (size_t i = 0; i < st->n_services; i++)
        if (strcmp(st->services[i]->name, name) == 0)
            return st->services[i];
    fail_msg("GetStatus names no service %s", name);
    return NULL;
}

/* READY's metadata frame reaches the status; a plain RFC 18 READY still registers (with no
 * instance or ops URL); a service whose workers all left stays listed with none; a worker
 * cannot serve ovop.broker. */
static void test_status_of_workers(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    wait_broker(e);
    void *zctx = zmq_ctx_new();
    void *d1 = raw_socket(zctx, e, &G.raw, 0);
    void *d2 = raw_socket(zctx, e, &G.raw, 0);
    send_frames(d1, 5, F("MDPW02"), F("\x01"), F("raw"), F("3"),
                F("instance=raw-1 ops=http://127.0.0.1:9 future=x"));
    send_frames(d2, 3, F("MDPW02"), F("\x01"), F("raw"));
    assert_int_equal(harness_wait_service(e->endpoint, "raw", 5000, &G.admin), 0);
    Ovop__V1__GetStatusResponse *st = NULL;
    for (int i = 0; i < 50; i++) { /* both READYs are in once two workers show */
        if (st)
            protobuf_c_message_free_unpacked(&st->base, NULL);
        st = get_status(e);
        if (status_service(st, "raw")->n_workers == 2)
            break;
        usleep(50 * 1000);
    }
    const Ovop__V1__BrokerService *s = status_service(st, "raw");
    assert_int_equal(s->n_workers, 2);
    const Ovop__V1__BrokerWorker *w1 = s->workers[0]->instance[0] ? s->workers[0] : s->workers[1];
    const Ovop__V1__BrokerWorker *w2 = w1 == s->workers[0] ? s->workers[1] : s->workers[0];
    assert_string_equal(w1->instance, "raw-1");
    assert_string_equal(w1->ops_url, "http://127.0.0.1:9");
    assert_int_equal(w1->credit, 3);
    assert_string_equal(w2->instance, "");
    assert_string_equal(w2->ops_url, "");
    assert_int_equal(w2->credit, 1);
    assert_true(w1->connected_since[0] != '\0');
    assert_false(st->draining);
    protobuf_c_message_free_unpacked(&st->base, NULL);

    void *d3 = raw_socket(zctx, e, &G.raw, 0);
    send_frames(d3, 3, F("MDPW02"), F("\x01"), F("ovop.broker"));
    assert_true(expect_command(d3, 0x06));
    zmq_close(d3);
    send_frames(d1, 2, F("MDPW02"), F("\x06"));
    send_frames(d2, 2, F("MDPW02"), F("\x06"));
    for (int i = 0; i < 50; i++) {
        st = get_status(e);
        if (status_service(st, "raw")->n_workers == 0)
            break;
        protobuf_c_message_free_unpacked(&st->base, NULL);
        st = NULL;
        usleep(50 * 1000);
    }
    assert_non_null(st);
    assert_int_equal(status_service(st, "raw")->n_workers, 0);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"reserved_service\"}") >= 1);
    zmq_close(d1);
    zmq_close(d2);
    zmq_ctx_term(zctx);
}

/* A request is one body frame: a second one (say, a principal of the client's making) is
 * refused with INVALID_ARGUMENT from the broker and never reaches a worker. */
static void test_request_is_one_body_frame(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    spawn_worker(e, "w1", "4", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);

    void *zctx = zmq_ctx_new();
    void *d = raw_socket(zctx, e, &G.admin, 0);
    size_t len;
    void *req = ovop_request_encode("rid-2f", "Echo", "x", 1, 0, NULL, &len);
    Ovop__V1__Principal forged = OVOP__V1__PRINCIPAL__INIT;
    char *roles[] = {"*"};
    forged.id = "root";
    forged.roles = roles;
    forged.n_roles = 1;
    uint8_t principal[64];
    size_t principal_len = ovop__v1__principal__pack(&forged, principal);
    send_frames(d, 5, F("MDPC02"), F("\x01"), F("echo"), (const char *)req, len,
                (const char *)principal, principal_len);
    free(req);

    ovop_msg_t *m = recv_within(d, 3000);
    assert_non_null(m);
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_true(ovop_msg_streq(m, 0, OVOP_MDPC) && ovop_msg_eq(m, 1, "\x03", 1) &&
                ovop_msg_streq(m, 2, "echo"));
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, ovop_msg_len(m, 3), ovop_msg_data(m, 3));
    assert_non_null(rep);
    assert_string_equal(rep->request_id, "rid-2f");
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep->status->reason, "INVALID_ARGUMENT");
    assert_string_equal(rep->status->domain, "ovop.broker");
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_msg_destroy(&m);
    zmq_close(d);
    zmq_ctx_term(zctx);
    assert_int_equal(metric(e, "ovop_broker_requests_total{service=\"echo\"}"), 0);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"bad_client_frame\"}") >= 1);
}

/* A worker's FINAL reaches only the client whose request it holds: one addressed to another
 * connected client, or a second FINAL for a request already answered, is dropped. The
 * request reaches the worker with the principal the broker authenticated as its last frame. */
static void test_reply_reaches_only_its_client(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "10000");
    wait_broker(e);

    void *zctx = zmq_ctx_new();
    void *w = raw_socket(zctx, e, &G.raw, 0);
    send_frames(w, 4, F("MDPW02"), F("\x01"), F("raw"), F("2"));
    assert_int_equal(harness_wait_service(e->endpoint, "raw", 5000, &G.admin), 0);

    /* The victim: a client the broker knows (it asked mmi.service) under a known address. */
    void *victim = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(victim, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(victim, ZMQ_ROUTING_ID, "victim", 6);
    assert_int_equal(ovop_security_apply_client(victim, &G.admin), 0);
    assert_int_equal(zmq_connect(victim, e->endpoint), 0);
    send_frames(victim, 4, F("MDPC02"), F("\x01"), F("mmi.service"), F("raw"));
    ovop_msg_t *m = recv_within(victim, 3000);
    assert_non_null(m);
    ovop_msg_destroy(&m);
    /* The raw worker does not heartbeat on its own: say it is alive before the broker's
     * liveness (3 x 200 ms) runs out on a slow machine. */
    send_frames(w, 2, F("MDPW02"), F("\x05"));

    void *asker = raw_socket(zctx, e, &G.admin, 0);
    send_frames(asker, 4, F("MDPC02"), F("\x01"), F("raw"), F("ask"));
    m = recv_within(w, 3000);
    assert_non_null(m);
    /* MDPW02, REQUEST, client address, empty, body, principal */
    assert_int_equal(ovop_msg_frames(m), 6);
    assert_true(ovop_msg_eq(m, 1, "\x02", 1));
    assert_true(ovop_msg_streq(m, 4, "ask"));
    Ovop__V1__Principal *who =
        ovop__v1__principal__unpack(NULL, ovop_msg_len(m, 5), ovop_msg_data(m, 5));
    assert_non_null(who);
    assert_string_equal(who->id, IDENT_ADMIN);
    ovop__v1__principal__free_unpacked(who, NULL);
    char *addr = xmemdup(ovop_msg_data(m, 2), ovop_msg_len(m, 2));
    size_t addr_len = ovop_msg_len(m, 2);
    ovop_msg_destroy(&m);

    send_frames(w, 5, F("MDPW02"), F("\x04"), F("victim"), F(""), F("forged"));
    send_frames(w, 5, F("MDPW02"), F("\x04"), addr, addr_len, F(""), F("answer"));
    send_frames(w, 5, F("MDPW02"), F("\x04"), addr, addr_len, F(""), F("again"));
    free(addr);
    m = recv_within(asker, 3000);
    assert_non_null(m);
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_true(ovop_msg_streq(m, 3, "answer"));
    ovop_msg_destroy(&m);
    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"unsolicited_reply\"}", 2) == 2);
    assert_null(m = recv_within(victim, 300));
    assert_null(m = recv_within(asker, 100));
    assert_int_equal(metric(e, "ovop_broker_replies_total{service=\"raw\",status=\"OK\"}"), 1);
    zmq_close(asker);
    zmq_close(victim);
    zmq_close(w);
    zmq_ctx_term(zctx);
}

/* Two brokers configured, one of them down: neither the worker nor the client loses a
 * request to the dead one. */
static void test_one_of_two_brokers_down(void **state)
{
    env_t *e = *state;
    uint16_t dead;
    char both[160];
    assert_int_equal(harness_free_port(&dead), 0);
    snprintf(both, sizeof(both), "tcp://127.0.0.1:%u,%s", dead, e->endpoint);
    spawn_broker(e, "10000");

    const char *args[] = {"--broker",   both,    "--name",      "w1",           "--heartbeat-ms",
                          HEARTBEAT_MS, "--key", G.echo_secret, "--broker-key", G.ident.broker_key,
                          NULL};
    char *bin = harness_bin("echo-worker");
    assert_int_equal(harness_spawn(&e->workers[e->n_workers++], bin, args, NULL, "w1"), 0);
    free(bin);
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);

    ovop_client_options_t o = {
        .brokers = both, .timeout_ms = 1000, .max_msg = 1 << 20, .security = &G.admin};
    ovop_client_t *c = NULL;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    for (int i = 0; i < 20; i++) {
        void *body = NULL;
        size_t len = 0;
        assert_int_equal(ovop_client_raw(c, "echo", "two", 3, NULL, NULL, &body, &len), 0);
        assert_memory_equal(body, "two", 3);
        free(body);
    }
    ovop_client_destroy(&c);
}

/* The next message on sock within timeout_ms while the raw workers keep heartbeating (the
 * broker takes a worker silent for 3 x 200 ms as dead). */
static ovop_msg_t *recv_beating(void *sock, unsigned timeout_ms, void **workers, size_t n)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000;
    while (ovop_mono_us() < deadline) {
        for (size_t i = 0; i < n; i++)
            send_frames(workers[i], 2, F("MDPW02"), F("\x05"));
        ovop_msg_t *m = recv_within(sock, 100);
        if (m)
            return m;
    }
    return NULL;
}

/* Item 1 of issue 10: a live worker that swallows a request. Its client is answered
 * DEADLINE_EXCEEDED (WORKER_TIMEOUT) within --held-timeout-ms and a tick, the worker's
 * credit comes back, the next request goes to a worker that answers, and the late FINAL of
 * the swallowed request is dropped as unsolicited. */
static void test_swallowed_request_is_answered(void **state)
{
    env_t *e = *state;
    const char *extra[] = {"--held-timeout-ms", "800", NULL};
    spawn_broker_with(e, "10000", extra);
    wait_broker(e);

    void *zctx = zmq_ctx_new();
    void *w[2] = {raw_socket(zctx, e, &G.raw, 0), NULL};
    send_frames(w[0], 4, F("MDPW02"), F("\x01"), F("raw"), F("1"));
    assert_int_equal(harness_wait_service(e->endpoint, "raw", 5000, &G.admin), 0);

    void *asker = raw_socket(zctx, e, &G.admin, 0);
    size_t len;
    void *req = ovop_request_encode("rid-h1", "Echo", "x", 1, 0, NULL, &len);
    int64_t t0 = ovop_mono_us();
    send_frames(asker, 4, F("MDPC02"), F("\x01"), F("raw"), (const char *)req, len);
    free(req);
    ovop_msg_t *m = recv_beating(w[0], 3000, w, 1);
    assert_non_null(m); /* the request: swallowed */
    char *addr = xmemdup(ovop_msg_data(m, 2), ovop_msg_len(m, 2));
    size_t addr_len = ovop_msg_len(m, 2);
    ovop_msg_destroy(&m);
    m = recv_beating(asker, 3000, w, 1);
    int64_t waited_ms = (ovop_mono_us() - t0) / 1000;
    print_message("swallowed: %s after %lld ms\n", m ? "answered" : "no answer",
                  (long long)waited_ms);
    assert_refusal(&m, "rid-h1", OVOP_DEADLINE_EXCEEDED, "WORKER_TIMEOUT", NULL, NULL);
    assert_true(waited_ms >= 800 && waited_ms < 800 + 2 * 200 + 500);
    assert_int_equal(metric(e, "ovop_broker_dropped_total{reason=\"held_expired\"}"), 1);

    /* A second worker: the next request goes to it, not to the one that swallowed. */
    w[1] = raw_socket(zctx, e, &G.raw, 0);
    send_frames(w[1], 4, F("MDPW02"), F("\x01"), F("raw"), F("1"));
    assert_true(wait_metric(e, "ovop_broker_workers{service=\"raw\"}", 2) == 2);
    req = ovop_request_encode("rid-h2", "Echo", "y", 1, 0, NULL, &len);
    send_frames(asker, 4, F("MDPC02"), F("\x01"), F("raw"), (const char *)req, len);
    free(req);
    m = recv_beating(w[1], 3000, w, 2);
    assert_non_null(m);
    ovop_msg_destroy(&m);
    void *ok = ovop_reply_encode("rid-h2", NULL, "fine", 4, &len);
    send_frames(w[1], 5, F("MDPW02"), F("\x04"), addr, addr_len, F(""), (const char *)ok, len);
    free(ok);
    m = recv_beating(asker, 3000, w, 2);
    assert_non_null(m);
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, ovop_msg_len(m, 3), ovop_msg_data(m, 3));
    assert_non_null(rep);
    assert_string_equal(rep->request_id, "rid-h2");
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_msg_destroy(&m);

    /* The swallowed request's late FINAL reaches nobody. */
    void *late = ovop_reply_encode("rid-h1", NULL, "late", 4, &len);
    send_frames(w[0], 5, F("MDPW02"), F("\x04"), addr, addr_len, F(""), (const char *)late, len);
    free(late);
    free(addr);
    assert_true(wait_metric(e, "ovop_broker_dropped_total{reason=\"unsolicited_reply\"}", 1) == 1);
    assert_null(m = recv_beating(asker, 300, w, 2));
    assert_int_equal(metric(e, "ovop_broker_replies_total{service=\"raw\",status=\"OK\"}"), 1);
    zmq_close(asker);
    zmq_close(w[0]);
    zmq_close(w[1]);
    zmq_ctx_term(zctx);
}

#define FLOOD_REQUESTS 512
#define FLOOD_BODY     (512 * 1024)
#define FLOOD_SOCKETS  4
#define FLOOD_RSS_KB   (160 * 1024)

/* Item 4: 512 requests of 512 KiB (256 MiB) to a service nobody serves, from one principal
 * (svc-raw) over four connections, with --max-queue-bytes 64 MiB: its shares (a client
 * 8 MiB, a principal or a service 16 MiB) fill, the rest is answered QUEUE_FULL naming the
 * bound, and another principal's requests to echo are all answered meanwhile. The broker
 * stays under FLOOD_RSS_KB and the memory of the expired requests is returned. */
static void test_flood_of_one_tenant(void **state)
{
    env_t *e = *state;
    const char *extra[] = {"--max-queue-bytes", "67108864", NULL};
    spawn_broker_with(e, "3000", extra);
    spawn_worker(e, "w1", "4", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);

    void *zctx = zmq_ctx_new();
    void *d[FLOOD_SOCKETS];
    for (int i = 0; i < FLOOD_SOCKETS; i++)
        d[i] = raw_socket(zctx, e, &G.raw, 0);
    char *body = xcalloc(1, FLOOD_BODY);
    size_t len;
    void *req = ovop_request_encode("rid-flood", "Echo", body, FLOOD_BODY, 0, NULL, &len);
    free(body);
    for (int i = 0; i < FLOOD_REQUESTS; i++)
        send_frames(d[i % FLOOD_SOCKETS], 4, F("MDPC02"), F("\x01"), F("nosuch"), (const char *)req,
                    len);
    free(req);

    ovop_client_t *c = client(e, 1000, 0);
    for (int i = 0; i < 20; i++) {
        void *out = NULL;
        size_t out_len = 0;
        assert_int_equal(ovop_client_raw(c, "echo", "ok", 2, NULL, NULL, &out, &out_len), 0);
        free(out);
    }
    ovop_client_destroy(&c);

    int refused = 0;
    for (int i = 0; i < FLOOD_SOCKETS; i++) {
        ovop_msg_t *m;
        while ((m = recv_within(d[i], 1000))) {
            assert_refusal(&m, "rid-flood", OVOP_RESOURCE_EXHAUSTED, "QUEUE_FULL", "bound", NULL);
            refused++;
        }
    }
    long rss = broker_rss_kb(e);
    print_message("flood: %d of %d refused, broker RSS %ld KiB\n", refused, FLOOD_REQUESTS, rss);
    /* Each request is answered QUEUE_FULL or accepted (the accepted ones may expire while
     * the flood is still arriving, which makes room for more: at least half are refused). */
    double accepted = metric(e, "ovop_broker_requests_total{service=\"_unregistered\"}");
    assert_int_equal(refused + (int)accepted, FLOOD_REQUESTS);
    assert_true(refused >= FLOOD_REQUESTS / 2);
    assert_true(metric(e, "ovop_broker_dropped_total{reason=\"queue_full\"}") == 0);
    assert_true(metric(e, "ovop_broker_requests_bytes") <= 16 << 20);
    assert_true(HARNESS_RSS_BOUND_OK(rss, FLOOD_RSS_KB));
    double in_hand = metric(e, "ovop_broker_requests_bytes");
    for (int i = 0; i < 100 && in_hand > 0; i++) { /* the accepted ones expire */
        harness_sleep_ms(50);
        in_hand = metric(e, "ovop_broker_requests_bytes");
    }
    assert_int_equal(in_hand, 0);
    assert_int_equal(metric(e, "ovop_broker_services"), 1);
    for (int i = 0; i < FLOOD_SOCKETS; i++)
        zmq_close(d[i]);
    zmq_ctx_term(zctx);
}

#define NAMES       10000
#define NAMES_BATCH 500

/* Item 5: requests to 10,000 distinct unknown services (the attack READY would be with a
 * principal holding 10,000 worker roles; a request needs no role at all). At most 1000
 * services without workers exist at once, the others are answered TOO_MANY_SERVICES, none
 * gets a metric series, a real worker registers meanwhile, and all are forgotten once their
 * requests expire; a service whose last worker leaves is forgotten too. */
static void test_distinct_names_are_bounded(void **state)
{
    env_t *e = *state;
    spawn_broker(e, "8000");
    wait_broker(e);
    void *zctx = zmq_ctx_new();
    void *d = raw_socket(zctx, e, &G.raw, 0);
    size_t len;
    void *req = ovop_request_encode("rid-name", "Echo", "x", 1, 0, NULL, &len);
    int refused = 0;
    for (int i = 0; i < NAMES; i += NAMES_BATCH) {
        for (int j = i; j < i + NAMES_BATCH; j++) {
            char name[32];
            int n = snprintf(name, sizeof(name), "nosuch-%d", j);
            send_frames(d, 4, F("MDPC02"), F("\x01"), name, (size_t)n, (const char *)req, len);
        }
        ovop_msg_t *m;
        while ((m = recv_within(d, i + NAMES_BATCH > 1000 ? 100 : 20))) {
            assert_refusal(&m, "rid-name", OVOP_RESOURCE_EXHAUSTED, "TOO_MANY_SERVICES", "bound",
                           "services");
            refused++;
        }
    }
    free(req);
    print_message("names: %d of %d refused, %g services, broker RSS %ld KiB\n", refused, NAMES,
                  metric(e, "ovop_broker_services"), broker_rss_kb(e));
    assert_int_equal(refused, NAMES - 1000);
    assert_int_equal(metric(e, "ovop_broker_services"), 1000);

    spawn_worker(e, "w1", "2", "0");
    assert_int_equal(harness_wait_service(e->endpoint, "echo", 10000, &G.admin), 0);
    assert_int_equal(metric(e, "ovop_broker_services"), 1001);
    ovop_buf_t page;
    ovop_buf_init(&page);
    assert_int_equal(harness_http_get(e->http_port, "/metrics", &page), 200);
    assert_null(strstr(page.data, "nosuch-"));
    ovop_buf_free(&page);

    /* A worker that leaves takes its service with it. */
    void *w = raw_socket(zctx, e, &G.raw, 0);
    send_frames(w, 4, F("MDPW02"), F("\x01"), F("raw"), F("1"));
    assert_true(wait_metric(e, "ovop_broker_workers{service=\"raw\"}", 1) == 1);
    send_frames(w, 2, F("MDPW02"), F("\x06"));
    /* The unknown services' requests expire within 8 s (and a tick) of their sending. */
    double services = metric(e, "ovop_broker_services");
    for (int i = 0; i < 200 && services > 1; i++) {
        harness_sleep_ms(50);
        services = metric(e, "ovop_broker_services");
    }
    assert_int_equal(services, 1);
    print_message("names: broker RSS %ld KiB\n", broker_rss_kb(e));
    assert_true(HARNESS_RSS_BOUND_OK(broker_rss_kb(e), 64 * 1024));
    zmq_close(w);
    zmq_close(d);
    zmq_ctx_term(zctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_drains_requests_in_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mmi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_share_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_killed_mid_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_restart_mid_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_service_waits_then_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_is_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol_violations_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_is_one_body_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_reaches_only_its_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_of_two_brokers_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swallowed_request_is_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood_of_one_tenant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_distinct_names_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_of_workers, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    printf("# logs in %s\n", harness_tmpdir());
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
