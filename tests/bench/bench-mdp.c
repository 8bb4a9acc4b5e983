/* bench-mdp: round trips per second on loopback, raw ZeroMQ against the real ovop-broker.
 *
 *   raw:    DEALER clients -> a ROUTER thread that echoes each message back, plaintext and
 *           with CURVE (the baseline of like for like: the bus runs on CURVE)
 *   broker: ovop_client -> ovop-broker -> echo-worker (common/worker.c) and back, on CURVE
 *           with the principals in a scratch database, as in production
 *
 * Each figure is measured with 1 and 8 concurrent clients (one thread each) for --seconds.
 * To add a benchmark, write a bench_client_ops_t (open a client, one round trip, close) and
 * call bench_run() with it, as bench_raw_zmq() and bench_broker_echo() do. bench-curve
 * compares the bus with CURVE and with plaintext.
 * Needs OVOP_TEST_PG_URL (a superuser URL; `./deploy/ovop bench` provides one).
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
    const bench_bus_t *bus;
    const char *service;
} broker_target_t;

typedef struct broker_client {
    ovop_client_t *c;
    const char *service;
    char body[BODY_LEN];
} broker_client_t;

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

static void *broker_open(void *arg)
{
    broker_target_t *t = arg;
    broker_client_t *bc = xcalloc(1, sizeof(*bc));
    ovop_client_options_t o = {.brokers = t->bus->endpoint,
                               .timeout_ms = 2000,
                               .retries = 1,
                               .max_msg = 1 << 20,
                               .security = &t->bus->client};
    if (ovop_client_new(&bc->c, t->zctx, &o) < 0) {
        free(bc);
        return NULL;
    }
    bc->service = t->service;
    memset(bc->body, 'x', sizeof(bc->body));
    /* One untimed round trip: the connection and its handshake are made before the clock. */
    if (broker_round_trip(bc) < 0) {
        broker_close(bc);
        return NULL;
    }
    return bc;
}

static const bench_client_ops_t broker_ops = {broker_open, broker_round_trip, broker_close};

/* Round trips per second of nclients ovop_clients to service through the broker of bus. */
static double bench_broker_echo(const bench_bus_t *bus, const char *service, int nclients,
                                double seconds, uint64_t *ret_errors)
{
    broker_target_t t = {.zctx = zmq_ctx_new(), .bus = bus, .service = service};
    double rps = bench_run(&broker_ops, &t, nclients, seconds, ret_errors);
    zmq_ctx_term(t.zctx);
    return rps;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    static const int client_counts[] = {1, 8};
    double raw[2], raw_curve[2], via[2];
    uint64_t errors[2];
    bench_bus_t bus;
    ident_t id;
    pid_t worker;

    if (seconds <= 0) {
        fprintf(stderr, "usage: bench-mdp [SECONDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char *db = bench_database("ovop_bench_mdp");
    bench_ident(&id, db, "bench-mdp");
    printf("bench-mdp: %.1f s per figure, %d-byte bodies, loopback TCP (logs in %s)\n", seconds,
           BODY_LEN, harness_tmpdir());
    for (int i = 0; i < 2; i++) {
        raw[i] = bench_raw_zmq(client_counts[i], seconds);
        printf("raw zmq DEALER->ROUTER echo, %d client(s):         %10.0f round trips/s\n",
               client_counts[i], raw[i]);
        raw_curve[i] = bench_raw_zmq_curve(client_counts[i], seconds);
        printf("raw zmq DEALER->ROUTER echo, CURVE, %d client(s):  %10.0f round trips/s\n",
               client_counts[i], raw_curve[i]);
        fflush(stdout);
    }
    const char *wargs[] = {"--credit", "32", "--log-level", "warn", NULL};
    if (bench_bus_start(&bus, &id, db, "bench-broker", NULL) < 0 ||
        bench_bus_spawn(&bus, "echo-worker", "svc-echo", wargs, "bench-echo-worker", &worker) < 0 ||
        bench_bus_wait(&bus, "echo", 10000) < 0) {
        fprintf(stderr, "bench: could not start ovop-broker and echo-worker\n");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        via[i] = bench_broker_echo(&bus, "echo", client_counts[i], seconds, &errors[i]);
        printf("ovop-broker + echo-worker, CURVE, %d client(s):    %10.0f round trips/s (%.2f of "
               "raw CURVE, %.2f of raw, %llu errors)\n",
               client_counts[i], via[i], raw_curve[i] > 0 ? via[i] / raw_curve[i] : 0,
               raw[i] > 0 ? via[i] / raw[i] : 0, (unsigned long long)errors[i]);
        fflush(stdout);
    }
    printf("scaling 1 -> 8 clients: raw x%.2f, raw CURVE x%.2f, broker x%.2f\n",
           raw[0] > 0 ? raw[1] / raw[0] : 0, raw_curve[0] > 0 ? raw_curve[1] / raw_curve[0] : 0,
           via[0] > 0 ? via[1] / via[0] : 0);
    harness_kill(worker, SIGTERM);
    harness_wait_exit(worker, 2000, NULL);
    harness_stop(worker);
    bench_bus_stop(&bus);
    free(db);
    return 0;
}
