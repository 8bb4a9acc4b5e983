/* Unit tests of common/worker.c against a fake broker: a ROUTER on inproc in the same
 * ZeroMQ context, driven step by step alongside the worker's libuv loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <zmq.h>

#include "envelope.h"
#include "mdp.h"
#include "metrics.h"
#include "msg.h"
#include "util.h"
#include "worker.h"

#define ENDPOINT "inproc://fake-broker"

typedef struct fixture {
    void *zctx;
    void *router;
    uv_loop_t loop;
    ovop_metrics_t *metrics;
    ovop_worker_t *w;
    bool reply_now;
    int calls;
    char last_body[64];
    ovop_request_t *held[8];
    int n_held;
} fixture_t;

static void on_request(ovop_worker_t *w, ovop_request_t *req, const void *body, size_t len,
                       const void *principal, size_t principal_len, void *userdata)
{
    fixture_t *f = userdata;
    f->calls++;
    /* The frame after the body reaches the handler as the principal. */
    assert_int_equal(principal_len, 3);
    assert_memory_equal(principal, "\x0a\x01p", 3);
    snprintf(f->last_body, sizeof(f->last_body), "%.*s", (int)len, (const char *)body);
    if (f->reply_now) {
        char reply[80];
        int n = snprintf(reply, sizeof(reply), "re:%.*s", (int)len, (const char *)body);
        ovop_request_reply(&req, reply, (size_t)n);
        assert_null(req);
    } else {
        assert_true(f->n_held < 8);
        f->held[f->n_held++] = req;
    }
}

static int setup(void **state)
{
    fixture_t *f = xcalloc(1, sizeof(*f));
    int linger = 0;
    f->zctx = zmq_ctx_new();
    f->router = zmq_socket(f->zctx, ZMQ_ROUTER);
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(f->router, ENDPOINT) < 0)
        return -1;
    uv_loop_init(&f->loop);
    f->metrics = ovop_metrics_new();
    f->reply_now = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ovop_worker_destroy(&f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    zmq_close(f->router);
    zmq_ctx_term(f->zctx);
    ovop_metrics_destroy(&f->metrics);
    free(f);
    return 0;
}

static void start_worker(fixture_t *f, uint32_t credit, uint32_t heartbeat_ms)
{
    ovop_worker_options_t o = {.brokers = ENDPOINT,
                               .service = "svc",
                               .credit = credit,
                               .heartbeat_ms = heartbeat_ms,
                               .liveness = 3,
                               .max_msg = 1 << 20};
    assert_int_equal(ovop_worker_new(&f->w, &f->loop, f->zctx, &o, f->metrics, on_request, f), 0);
}

/* Runs the worker's loop while waiting up to ms for a message at the fake broker. */
static ovop_msg_t *broker_recv(fixture_t *f, unsigned ms)
{
    int64_t deadline = ovop_mono_us() + (int64_t)ms * 1000;
    do {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ovop_msg_t *m = NULL;
        if (ovop_msg_recv(&m, f->router, ZMQ_DONTWAIT) == 0)
            return m;
        zmq_pollitem_t item = {.socket = f->router, .events = ZMQ_POLLIN};
        zmq_poll(&item, 1, 2);
    } while (ovop_mono_us() < deadline);
    return NULL;
}

/* Waits for a worker command cmd (skipping HEARTBEATs unless asked for); returns it. */
static ovop_msg_t *expect(fixture_t *f, int cmd, unsigned ms)
{
    int64_t deadline = ovop_mono_us() + (int64_t)ms * 1000;
    while (ovop_mono_us() < deadline) {
        ovop_msg_t *m = broker_recv(f, 10);
        ovop_mdp_view_t v;
        if (!m)
            continue;
        if (ovop_mdp_parse_worker(m, 1, &v) == 0 && v.command == cmd)
            return m;
        ovop_msg_destroy(&m);
    }
    fail_msg("no %s from the worker within %u ms", ovop_mdpw_cmd_to_string(cmd), ms);
    return NULL;
}

/* Runs the loop for ms, discarding what reaches the fake broker. */
static void pump(fixture_t *f, unsigned ms)
{
    int64_t deadline = ovop_mono_us() + (int64_t)ms * 1000;
    while (ovop_mono_us() < deadline) {
        ovop_msg_t *m = broker_recv(f, 5);
        ovop_msg_destroy(&m);
    }
}

/* Sends [identity of `from`] + frames to the worker. */
static void broker_send(fixture_t *f, const ovop_msg_t *from, int n, ...)
{
    ovop_msg_t *m = ovop_msg_new();
    va_list ap;
    ovop_msg_copy_frame(m, from, 0);
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *p = va_arg(ap, const char *);
        size_t len = va_arg(ap, size_t);
        ovop_msg_addmem(m, p, len);
    }
    va_end(ap);
    assert_int_equal(ovop_msg_send(&m, f->router, 0), 0);
}

#define F(s) (s), sizeof(s) - 1
/* A serialized ovop.v1.Principal with id "p": the frame the broker appends. */
#define PRINCIPAL "\x0a\x01p"

static double counter(fixture_t *f, const char *name)
{
    return ovop_metric_value(ovop_metrics_counter(f->metrics, name, "", "service=\"svc\""));
}

static void test_bad_options(void **state)
{
    fixture_t *f = *state;
    ovop_worker_options_t o = {.brokers = ENDPOINT,
                               .service = "svc",
                               .credit = 1,
                               .heartbeat_ms = 100,
                               .liveness = 3,
                               .max_msg = 1024};
    ovop_worker_options_t bad;
    ovop_worker_t *w = NULL;
    const char *brokers[] = {"", " , ", "nonsense://x", "tcp://"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(brokers); i++) {
        bad = o;
        bad.brokers = brokers[i];
        assert_int_equal(ovop_worker_new(&w, &f->loop, f->zctx, &bad, NULL, on_request, f),
                         -EINVAL);
    }
    bad = o;
    bad.service = "two words";
    assert_int_equal(ovop_worker_new(&w, &f->loop, f->zctx, &bad, NULL, on_request, f), -EINVAL);
    bad = o;
    bad.credit = 0;
    assert_int_equal(ovop_worker_new(&w, &f->loop, f->zctx, &bad, NULL, on_request, f), -EINVAL);
    bad.credit = OVOP_MDP_MAX_CREDIT + 1;
    assert_int_equal(ovop_worker_new(&w, &f->loop, f->zctx, &bad, NULL, on_request, f), -EINVAL);
    assert_null(w);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the failed worker's handles close */
}

static void test_ready_request_reply_heartbeat(void **state)
{
    fixture_t *f = *state;
    ovop_mdp_view_t v;
    start_worker(f, 5, 50);
    ovop_msg_t *ready = expect(f, OVOP_MDPW_READY, 1000);
    assert_int_equal(ovop_mdp_parse_worker(ready, 1, &v), 0);
    assert_int_equal(v.credit, 5);
    assert_memory_equal(v.service, "svc", 3);
    assert_false(ovop_worker_connected(f->w)); /* nothing heard yet */

    broker_send(f, ready, 6, F("MDPW02"), F("\x02"), F("client-1"), F(""), F("ping"), F(PRINCIPAL));
    ovop_msg_t *fin = expect(f, OVOP_MDPW_FINAL, 1000);
    assert_int_equal(ovop_mdp_parse_worker(fin, 1, &v), 0);
    assert_int_equal(v.address_len, 8);
    assert_memory_equal(v.address, "client-1", 8);
    assert_true(ovop_msg_streq(fin, v.body_first, "re:ping"));
    assert_string_equal(f->last_body, "ping");
    assert_int_equal(ovop_worker_inflight(f->w), 0);
    assert_true(ovop_worker_connected(f->w));
    ovop_msg_destroy(&fin);

    ovop_msg_t *hb = expect(f, OVOP_MDPW_HEARTBEAT, 500);
    assert_true(ovop_msg_eq(hb, 0, ovop_msg_data(ready, 0), ovop_msg_len(ready, 0)));
    ovop_msg_destroy(&hb);
    assert_int_equal(counter(f, "ovop_worker_requests_total"), 1);
    assert_int_equal(counter(f, "ovop_worker_replies_total"), 1);
    ovop_msg_destroy(&ready);
}

static void test_disconnect_reconnects_and_drops_stale_reply(void **state)
{
    fixture_t *f = *state;
    f->reply_now = false;
    start_worker(f, 2, 50);
    ovop_msg_t *ready = expect(f, OVOP_MDPW_READY, 1000);
    broker_send(f, ready, 6, F("MDPW02"), F("\x02"), F("c"), F(""), F("held"), F(PRINCIPAL));
    pump(f, 50);
    assert_int_equal(f->n_held, 1);
    assert_int_equal(ovop_worker_inflight(f->w), 1);

    broker_send(f, ready, 2, F("MDPW02"), F("\x06"));
    ovop_msg_t *again = expect(f, OVOP_MDPW_READY, 2000);
    /* A new socket: the broker sees a new identity. */
    assert_false(ovop_msg_eq(again, 0, ovop_msg_data(ready, 0), ovop_msg_len(ready, 0)));
    assert_int_equal(counter(f, "ovop_worker_broker_reconnects_total"), 1);

    /* The held request came on the old connection: its reply is dropped, not misrouted. */
    ovop_request_reply(&f->held[0], "late", 4);
    assert_null(f->held[0]);
    assert_int_equal(ovop_worker_inflight(f->w), 0);
    assert_int_equal(counter(f, "ovop_worker_replies_dropped_total"), 1);
    int64_t deadline = ovop_mono_us() + 200000;
    while (ovop_mono_us() < deadline) {
        ovop_msg_t *m = broker_recv(f, 10);
        ovop_mdp_view_t v;
        if (m && ovop_mdp_parse_worker(m, 1, &v) == 0)
            assert_int_not_equal(v.command, OVOP_MDPW_FINAL);
        ovop_msg_destroy(&m);
    }
    ovop_msg_destroy(&ready);
    ovop_msg_destroy(&again);
}

static void test_silent_broker_is_left(void **state)
{
    fixture_t *f = *state;
    start_worker(f, 1, 20);
    ovop_msg_t *ready = expect(f, OVOP_MDPW_READY, 1000);
    /* The fake broker never answers: after 3 x 20 ms the worker reconnects. */
    ovop_msg_t *again = expect(f, OVOP_MDPW_READY, 1000);
    assert_false(ovop_msg_eq(again, 0, ovop_msg_data(ready, 0), ovop_msg_len(ready, 0)));
    assert_true(counter(f, "ovop_worker_broker_reconnects_total") >= 1);
    assert_false(ovop_worker_connected(f->w));
    ovop_msg_destroy(&ready);
    ovop_msg_destroy(&again);
}

/* Waits for a FINAL to client "c" and checks it is an INVALID_ARGUMENT MALFORMED_REQUEST
 * Reply echoing rid. */
static void expect_malformed_reply(fixture_t *f, const char *rid)
{
    ovop_mdp_view_t v;
    ovop_msg_t *fin = expect(f, OVOP_MDPW_FINAL, 1000);
    assert_int_equal(ovop_mdp_parse_worker(fin, 1, &v), 0);
    assert_int_equal(v.address_len, 1);
    assert_memory_equal(v.address, "c", 1);
    Ovop__V1__Reply *r = ovop__v1__reply__unpack(NULL, ovop_msg_len(fin, v.body_first),
                                                 ovop_msg_data(fin, v.body_first));
    assert_non_null(r);
    assert_int_equal(r->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(r->status->reason, "MALFORMED_REQUEST");
    assert_string_equal(r->status->domain, "svc");
    assert_string_equal(r->request_id, rid);
    ovop__v1__reply__free_unpacked(r, NULL);
    ovop_msg_destroy(&fin);
}

/* A REQUEST the worker cannot take is answered when its client address is intact (so the
 * client learns it and the broker gets its credit back); other junk is dropped; all of it
 * is counted. */
static void test_malformed_answered_or_counted(void **state)
{
    fixture_t *f = *state;
    start_worker(f, 1, 50);
    ovop_msg_t *ready = expect(f, OVOP_MDPW_READY, 1000);
    size_t elen;
    char *env = ovop_request_encode("rid-7", "M", NULL, 0, 0, NULL, &elen);
    broker_send(f, ready, 1, F("junk"));
    broker_send(f, ready, 2, F("MDPW02"), F("\x02"));               /* truncated */
    broker_send(f, ready, 3, F("MDPW02"), F("\x01"), F("svc"));     /* READY */
    broker_send(f, ready, 4, F("MDPW02"), F("\x02"), F(""), F("")); /* no address */
    broker_send(f, ready, 7, F("MDPW02"), F("\x02"), F("c"), F(""), env, elen, F("b"),
                F(PRINCIPAL)); /* 2 bodies */
    expect_malformed_reply(f, "rid-7");
    broker_send(f, ready, 5, F("MDPW02"), F("\x02"), F("c"), F(""), F("x")); /* no principal */
    expect_malformed_reply(f, "");
    broker_send(f, ready, 4, F("MDPW02"), F("\x02"), F("c"), F("")); /* no body */
    expect_malformed_reply(f, "");
    broker_send(f, ready, 6, F("MDPW02"), F("\x02"), F("c"), F(""), F("good"), F(PRINCIPAL));
    ovop_mdp_view_t v;
    ovop_msg_t *fin = expect(f, OVOP_MDPW_FINAL, 1000);
    assert_int_equal(ovop_mdp_parse_worker(fin, 1, &v), 0);
    assert_true(ovop_msg_streq(fin, v.body_first, "re:good"));
    ovop_msg_destroy(&fin);
    assert_int_equal(f->calls, 1);
    assert_int_equal(ovop_worker_inflight(f->w), 0);
    assert_int_equal(counter(f, "ovop_worker_malformed_total"), 7);
    free(env);
    ovop_msg_destroy(&ready);
}

static void test_destroy_with_outstanding(void **state)
{
    fixture_t *f = *state;
    f->reply_now = false;
    start_worker(f, 4, 50);
    ovop_msg_t *ready = expect(f, OVOP_MDPW_READY, 1000);
    for (int i = 0; i < 3; i++)
        broker_send(f, ready, 6, F("MDPW02"), F("\x02"), F("c"), F(""), F("x"), F(PRINCIPAL));
    pump(f, 50);
    assert_int_equal(ovop_worker_inflight(f->w), 3);
    /* The worker owns and frees them; the sanitizer build checks nothing leaks. */
    ovop_worker_destroy(&f->w);
    assert_null(f->w);
    ovop_worker_destroy(&f->w);
    ovop_msg_t *bye = expect(f, OVOP_MDPW_DISCONNECT, 1000);
    ovop_msg_destroy(&bye);
    ovop_msg_destroy(&ready);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_request_reply_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_reconnects_and_drops_stale_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_silent_broker_is_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_answered_or_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_with_outstanding, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
