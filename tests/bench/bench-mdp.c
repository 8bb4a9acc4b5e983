/* bench-mdp: round trips per second on loopback, raw ZeroMQ against the real ovop-broker.
 *
 *   raw:    DEALER clients -> a ROUTER thread that echoes each message back
 *   broker: ovop_client -> ovop-broker -> echo-worker (common/worker.c) and back
 *
 * Each figure is measured with 1 and 8 concurrent clients (one thread each) for --seconds.
 * To add a benchmark, write a bench_client_ops_t (open a client, one round trip, close) and
 * call bench_run() with it, as bench_raw_zmq() and bench_broker_echo() do.
 * Not a test: it prints figures and always exits 0 unless it cannot start. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "util.h"

#define BODY_LEN    64
#define MAX_CLIENTS 64

/* ---- through the broker: ovop_client -> ovop-broker -> echo-worker ---- */

typedef struct broker_target {
    void *zctx;
    const char *endpoint;
    const char *service;
} broker_target_t;

typedef struct broker_client {
    ovop_client_t *c;
    const char *service;
    char body[BODY_LEN];
} broker_client_t;

static void *broker_open(void *arg)
{
    broker_target_t *t = arg;
    broker_client_t *bc = xcalloc(1, sizeof(*bc));
    ovop_client_options_t o = {
        .brokers = t->endpoint, .timeout_ms = 2000, .retries = 1, .max_msg = 1 << 20};
    if (ovop_client_new(&bc->c, t->zctx, &o) < 0) {
        free(bc);
        return NULL;
    }
    bc->service = t->service;
    memset(bc->body, 'x', sizeof(bc->body));
    return bc;
}

static int broker_round_trip(void *state)
{
    broker_client_t *bc = state;
    void *body = NULL;
    size_t len = 0;
    int r =
        ovop_client_raw(bc->c, bc->service, bc->body, sizeof(bc->body), NULL, NULL, &body, &len);
    free(body);
    return r;
}

static void broker_close(void *state)
{
    broker_client_t *bc = state;
    ovop_client_destroy(&bc->c);
    free(bc);
}

static const bench_client_ops_t broker_ops = {broker_open, broker_round_trip, broker_close};

/* Round trips per second of nclients ovop_clients to service through the broker at
 * endpoint. */
static double bench_broker_echo(const char *endpoint, const char *service, int nclients,
                                double seconds, uint64_t *ret_errors)
{
    broker_target_t t = {.zctx = zmq_ctx_new(), .endpoint = endpoint, .service = service};
    double rps = bench_run(&broker_ops, &t, nclients, seconds, ret_errors);
    zmq_ctx_term(t.zctx);
    return rps;
}

/* Starts ovop-broker and one echo-worker on free ports; returns the pids. */
static int start_broker_and_worker(char *endpoint, size_t size, pid_t *ret_broker,
                                   pid_t *ret_worker)
{
    uint16_t port, http_port;
    char bind[64], http[64];
    if (harness_free_port(&port) < 0 || harness_free_port(&http_port) < 0)
        return -EADDRNOTAVAIL;
    snprintf(endpoint, size, "tcp://127.0.0.1:%u", port);
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", port);
    snprintf(http, sizeof(http), "127.0.0.1:%u", http_port);
    const char *bargs[] = {"--bind", bind, "--http", http, "--log-level", "warn", NULL};
    const char *wargs[] = {"--broker", endpoint, "--credit", "32", "--log-level", "warn", NULL};
    char *broker_bin = harness_bin("ovop-broker");
    char *worker_bin = harness_bin("echo-worker");
    int r = harness_spawn(ret_broker, broker_bin, bargs, NULL, "bench-broker");
    if (r == 0) {
        r = harness_spawn(ret_worker, worker_bin, wargs, NULL, "bench-echo-worker");
        if (r < 0)
            harness_stop(*ret_broker);
    }
    free(broker_bin);
    free(worker_bin);
    if (r == 0 && harness_wait_service(endpoint, "echo", 10000, NULL) < 0) {
        harness_stop(*ret_worker);
        harness_stop(*ret_broker);
        r = -ETIMEDOUT;
    }
    return r;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    static const int client_counts[] = {1, 8};
    double raw[2], via[2];
    uint64_t errors[2];
    char endpoint[64];
    pid_t broker, worker;

    if (seconds <= 0) {
        fprintf(stderr, "usage: bench-mdp [SECONDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    printf("bench-mdp: %.1f s per figure, %d-byte bodies, loopback TCP (logs in %s)\n", seconds,
           BODY_LEN, harness_tmpdir());
    for (int i = 0; i < 2; i++) {
        raw[i] = bench_raw_zmq(client_counts[i], seconds);
        printf("raw zmq DEALER->ROUTER echo, %d client(s): %10.0f round trips/s\n",
               client_counts[i], raw[i]);
        fflush(stdout);
    }
    int r = start_broker_and_worker(endpoint, sizeof(endpoint), &broker, &worker);
    if (r < 0) {
        fprintf(stderr, "bench: could not start ovop-broker and echo-worker: %s\n", strerror(-r));
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        via[i] = bench_broker_echo(endpoint, "echo", client_counts[i], seconds, &errors[i]);
        printf("ovop-broker + echo-worker, %d client(s): %10.0f round trips/s (%.2f of raw, "
               "%llu errors)\n",
               client_counts[i], via[i], raw[i] > 0 ? via[i] / raw[i] : 0,
               (unsigned long long)errors[i]);
        fflush(stdout);
    }
    printf("scaling 1 -> 8 clients: raw x%.2f, broker x%.2f\n", raw[0] > 0 ? raw[1] / raw[0] : 0,
           via[0] > 0 ? via[1] / via[0] : 0);
    harness_kill(worker, SIGTERM);
    harness_wait_exit(worker, 2000, NULL);
    harness_kill(broker, SIGTERM);
    harness_wait_exit(broker, 2000, NULL);
    harness_stop(worker);
    harness_stop(broker);
    return 0;
}
