#include "benchlib.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "util.h"

#define BODY_LEN    BENCH_BODY_LEN
#define MAX_CLIENTS BENCH_MAX_CLIENTS

typedef struct bench_thread {
    pthread_t thread;
    const bench_client_ops_t *ops;
    void *arg;
    int64_t deadline_us;
    uint64_t done;
    uint64_t errors;
} bench_thread_t;

static void *bench_thread_main(void *p)
{
    bench_thread_t *t = p;
    void *state = t->ops->open(t->arg);
    if (!state) {
        t->errors++;
        return NULL;
    }
    while (ovop_mono_us() < t->deadline_us) {
        if (t->ops->round_trip(state) == 0)
            t->done++;
        else
            t->errors++;
    }
    t->ops->close(state);
    return NULL;
}

double bench_run(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                 uint64_t *ret_errors)
{
    bench_thread_t threads[MAX_CLIENTS];
    int64_t start = ovop_mono_us();
    uint64_t total = 0, errors = 0;

    if (nclients > MAX_CLIENTS)
        nclients = MAX_CLIENTS;
    for (int i = 0; i < nclients; i++) {
        threads[i] = (bench_thread_t){
            .ops = ops, .arg = arg, .deadline_us = start + (int64_t)(seconds * 1e6)};
        pthread_create(&threads[i].thread, NULL, bench_thread_main, &threads[i]);
    }
    for (int i = 0; i < nclients; i++) {
        pthread_join(threads[i].thread, NULL);
        total += threads[i].done;
        errors += threads[i].errors;
    }
    double elapsed = (double)(ovop_mono_us() - start) / 1e6;
    if (ret_errors)
        *ret_errors = errors;
    return (double)total / elapsed;
}

/* ---- raw ZeroMQ: DEALER -> ROUTER echo ---- */

typedef struct raw_server {
    void *zctx;
    char endpoint[64];
    pthread_t thread;
    atomic_bool stop;
} raw_server_t;

static void *raw_echo_main(void *p)
{
    raw_server_t *srv = p;
    void *router = zmq_socket(srv->zctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(router, srv->endpoint) < 0) {
        fprintf(stderr, "bench: could not bind %s: %s\n", srv->endpoint, zmq_strerror(errno));
        zmq_close(router);
        return NULL;
    }
    while (!atomic_load(&srv->stop)) {
        zmq_pollitem_t item = {.socket = router, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        /* Echo every frame back, identity first, as it came. */
        for (;;) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            int more = zmq_msg_more(&part);
            zmq_msg_send(&part, router, more ? ZMQ_SNDMORE : 0);
            zmq_msg_close(&part);
        }
    }
    zmq_close(router);
    return NULL;
}

typedef struct raw_client {
    void *sock;
    char body[BODY_LEN];
} raw_client_t;

static void *raw_open(void *arg)
{
    raw_server_t *srv = arg;
    raw_client_t *c = xcalloc(1, sizeof(*c));
    int linger = 0;
    c->sock = zmq_socket(srv->zctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_connect(c->sock, srv->endpoint);
    memset(c->body, 'x', sizeof(c->body));
    return c;
}

static int raw_round_trip(void *state)
{
    raw_client_t *c = state;
    char buf[BODY_LEN];
    if (zmq_send(c->sock, c->body, sizeof(c->body), 0) < 0)
        return -errno;
    return zmq_recv(c->sock, buf, sizeof(buf), 0) < 0 ? -errno : 0;
}

static void raw_close(void *state)
{
    raw_client_t *c = state;
    zmq_close(c->sock);
    free(c);
}

static const bench_client_ops_t raw_ops = {raw_open, raw_round_trip, raw_close};

double bench_raw_zmq(int nclients, double seconds)
{
    raw_server_t srv = {.zctx = zmq_ctx_new()};
    uint16_t port;
    if (harness_free_port(&port) < 0)
        return 0;
    snprintf(srv.endpoint, sizeof(srv.endpoint), "tcp://127.0.0.1:%u", port);
    atomic_init(&srv.stop, false);
    pthread_create(&srv.thread, NULL, raw_echo_main, &srv);
    harness_sleep_ms(100);
    double rps = bench_run(&raw_ops, &srv, nclients, seconds, NULL);
    atomic_store(&srv.stop, true);
    pthread_join(srv.thread, NULL);
    zmq_ctx_term(srv.zctx);
    return rps;
}
