/* bench-curve: what CurveZMQ costs on the bus, measured against plaintext in one run.
 *
 * Two buses run side by side on loopback, each a broker, an echo-worker and an
 * ovop-registryd on one scratch database: one with CURVE and the principals of the database
 * (as in production), one with --insecure-plaintext (local development). For each workload
 *
 *   echo:         ovop_client -> ovop-broker -> echo-worker and back (Echo, 64-byte Status)
 *   GetTerritory: ovop_client -> ovop-broker -> ovop-registryd (PostgreSQL) and back
 *
 * and each load (1 and 16 clients, one request in flight each) the two buses are measured in
 * alternating rounds (plaintext, CURVE, CURVE, plaintext, ...) so that drift on a shared
 * machine falls on both alike. Printed: round trips per second and latency percentiles of
 * each, the CPU time the client (this process), the broker and the worker spent per round
 * trip (from /proc: it does not depend on what else the machine runs, the rate does), and the
 * ratios CURVE / plaintext. The raw ZeroMQ DEALER/ROUTER echo with and without
 * CURVE is printed as well: what CurveZMQ alone costs ZeroMQ, the floor of the bus's ratio.
 *
 * Needs OVOP_TEST_PG_URL (a superuser URL; `./deploy/ovop bench` provides one).
 * OVOP_BENCH_ONLY=echo or =GetTerritory measures that workload alone; the pids of the
 * processes of each bus go to stderr (for perf).
 * Usage: bench-curve [SECONDS [ROUNDS]]: SECONDS per bus per point (default 4), split into
 * ROUNDS alternations (default 2). Not a test: prints figures and ratios, exits 0 unless it
 * cannot start. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "benchlib.h"
#include "client.h"
#include "envelope.h"
#include "harness.h"
#include "log.h"
#include "ovop/v1/envelope.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "util.h"

#define DB_NAME "ovop_bench_curve"

static const int loads[] = {1, 16};

/* One side of the comparison: a bus with its workers. */
typedef struct side {
    const char *name;
    bench_bus_t bus;
    pid_t echo, registryd;
    void *zctx; /* the clients' */
} side_t;

/* ---- the workloads ---- */

static void *client_open(void *arg, int (*warm)(void *))
{
    side_t *s = arg;
    ovop_client_t *c = bench_bus_client(&s->bus, s->zctx);
    if (!c)
        return NULL;
    /* One untimed call: the connection and its handshake are made before the clock starts. */
    if (warm(c) < 0) {
        ovop_client_destroy(&c);
        return NULL;
    }
    return c;
}

static int echo(void *state)
{
    char text[BENCH_BODY_LEN - 4];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    Ovop__V1__Status in = OVOP__V1__STATUS__INIT;
    in.code = 1;
    in.message = text;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "echo", "Echo", NULL, &in.base, &ovop__v1__status__descriptor,
                             &rep, &out);
    return bench_finish_call(r, rep, out);
}

static void *echo_open(void *arg)
{
    return client_open(arg, echo);
}

static void *territory_open(void *arg)
{
    return client_open(arg, bench_get_territory);
}

static const bench_client_ops_t echo_ops = {echo_open, echo, bench_client_close};
static const bench_client_ops_t territory_ops = {territory_open, bench_get_territory,
                                                 bench_client_close};

/* ---- the buses ---- */

/* Starts a bus (CURVE with id's keys, or plaintext when id is NULL) with one echo-worker and
 * one registryd on db. Returns 0 or -1 after printing why. */
static int side_start(side_t *s, const char *name, const ident_t *id, const char *db)
{
    char log[64];
    memset(s, 0, sizeof(*s));
    s->name = name;
    s->zctx = zmq_ctx_new();
    snprintf(log, sizeof(log), "broker-%s", name);
    if (bench_bus_start(&s->bus, id, db, log, NULL) < 0)
        return -1;
    const char *echo_args[] = {"--credit", "32", "--log-level", "warn", NULL};
    snprintf(log, sizeof(log), "echo-worker-%s", name);
    if (bench_bus_spawn(&s->bus, "echo-worker", "svc-echo", echo_args, log, &s->echo) < 0)
        return -1;
    const char *reg_args[] = {"--database-url", db,     "--credit", "64", "--db-pool", "8",
                              "--log-level",    "warn", NULL};
    snprintf(log, sizeof(log), "registryd-%s", name);
    if (bench_bus_spawn(&s->bus, "ovop-registryd", "svc-ovop.registry", reg_args, log,
                        &s->registryd) < 0)
        return -1;
    if (bench_bus_wait(&s->bus, "echo", 15000) < 0 ||
        bench_bus_wait(&s->bus, "ovop.registry", 15000) < 0)
        return -1;
    return 0;
}

static void side_stop(side_t *s)
{
    pid_t workers[] = {s->echo, s->registryd};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(workers); i++) {
        if (workers[i] <= 0)
            continue;
        harness_kill(workers[i], SIGTERM);
        if (harness_wait_exit(workers[i], 3000, NULL) < 0)
            harness_stop(workers[i]);
    }
    bench_bus_stop(&s->bus);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
}

/* ---- measuring and printing ---- */

typedef struct workload {
    const char *name;
    const bench_client_ops_t *ops;
    bool registry; /* served by registryd, else by the echo-worker */
} workload_t;

/* CPU time used during the measurements of one side, in microseconds. */
typedef struct cost {
    double client, broker, worker;
} cost_t;

/* One measurement of side s, added to *sum and *cost. */
static void measure(const workload_t *w, side_t *s, int nclients, double seconds,
                    bench_result_t *sum, cost_t *cost)
{
    pid_t worker = w->registry ? s->registryd : s->echo;
    double c0 = bench_cpu_us(0), b0 = bench_cpu_us(s->bus.broker), w0 = bench_cpu_us(worker);
    bench_result_t one;
    bench_measure(w->ops, s, nclients, seconds, &one);
    cost->client += bench_cpu_us(0) - c0;
    cost->broker += bench_cpu_us(s->bus.broker) - b0;
    cost->worker += bench_cpu_us(worker) - w0;
    bench_result_merge(sum, &one);
    bench_result_free(&one);
}

/* Measures w on both sides with nclients for seconds each, in rounds alternations
 * (plaintext first in even rounds, CURVE first in odd ones). */
static void compare(const workload_t *w, side_t *plain, side_t *curve, int nclients, double seconds,
                    int rounds, bench_result_t ret[2], cost_t cost[2])
{
    memset(ret, 0, 2 * sizeof(*ret));
    memset(cost, 0, 2 * sizeof(*cost));
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            int c = (k == 0) == (r % 2 == 1); /* 1: CURVE now */
            measure(w, c ? curve : plain, nclients, seconds / rounds, &ret[c], &cost[c]);
        }
    }
}

static void print_side(const char *what, const bench_result_t *r, const cost_t *c)
{
    double n = r->done ? (double)r->done : 1;
    printf("  %-18s %9.0f %8.0f %8.0f %8.0f %9.0f %7.1f %7.1f %7.1f%s\n", what, r->rps, r->p50_us,
           r->p90_us, r->p99_us, r->max_us, c->client / n, c->broker / n, c->worker / n,
           r->errors ? "  (errors!)" : "");
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void print_pair(const workload_t *w, int nclients, const bench_result_t r[2],
                       const cost_t c[2])
{
    printf("%s, %d client%s\n", w->name, nclients, nclients > 1 ? "s" : "");
    print_side("plaintext", &r[0], &c[0]);
    print_side("CURVE", &r[1], &c[1]);
    double n0 = r[0].done ? (double)r[0].done : 1, n1 = r[1].done ? (double)r[1].done : 1;
    printf("  %-18s %9.3f %8.2f %8.2f %8.2f %9s %7.2f %7.2f %7.2f\n", "CURVE / plaintext",
           ratio(r[1].rps, r[0].rps), ratio(r[1].p50_us, r[0].p50_us),
           ratio(r[1].p90_us, r[0].p90_us), ratio(r[1].p99_us, r[0].p99_us), "",
           ratio(c[1].client / n1, c[0].client / n0), ratio(c[1].broker / n1, c[0].broker / n0),
           ratio(c[1].worker / n1, c[0].worker / n0));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 4.0;
    int rounds = argc > 2 ? atoi(argv[2]) : 2;
    side_t plain, curve;
    ident_t id;

    if (seconds <= 0 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: bench-curve [SECONDS [ROUNDS]]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    char *db = bench_database(DB_NAME);
    bench_ident(&id, db, "bench-curve");
    if (side_start(&plain, "plaintext", NULL, db) < 0 || side_start(&curve, "curve", &id, db) < 0) {
        fprintf(stderr, "bench: could not start the two buses (logs in %s)\n", harness_tmpdir());
        return 1;
    }
    printf("bench-curve: CURVE against plaintext, %.1f s per bus per point in %d alternating "
           "round%s, loopback TCP (logs in %s)\n\n",
           seconds, rounds, rounds > 1 ? "s" : "", harness_tmpdir());
    printf("  %-18s %9s %8s %8s %8s %9s %23s\n", "", "", "", "", "", "", "CPU us per round trip");
    printf("  %-18s %9s %8s %8s %8s %9s %7s %7s %7s\n", "", "per s", "p50 us", "p90 us", "p99 us",
           "max us", "client", "broker", "worker");

    static const workload_t workloads[] = {
        {"echo (ovop-broker + echo-worker)", &echo_ops, false},
        {"GetTerritory (ovop-broker + ovop-registryd + PostgreSQL)", &territory_ops, true}};
    const char *only = getenv("OVOP_BENCH_ONLY");
    fprintf(stderr,
            "bench-curve: plaintext broker %d, echo-worker %d, registryd %d; CURVE broker %d, "
            "echo-worker %d, registryd %d\n",
            (int)plain.bus.broker, (int)plain.echo, (int)plain.registryd, (int)curve.bus.broker,
            (int)curve.echo, (int)curve.registryd);
    for (size_t w = 0; w < OVOP_ARRAY_SIZE(workloads); w++) {
        if (only && strncmp(workloads[w].name, only, strlen(only)) != 0)
            continue;
        for (size_t l = 0; l < OVOP_ARRAY_SIZE(loads); l++) {
            bench_result_t r[2];
            cost_t c[2];
            compare(&workloads[w], &plain, &curve, loads[l], seconds, rounds, r, c);
            print_pair(&workloads[w], loads[l], r, c);
            bench_result_free(&r[0]);
            bench_result_free(&r[1]);
        }
    }
    side_stop(&plain);
    side_stop(&curve);

    printf("\nraw ZeroMQ DEALER/ROUTER echo, %d-byte bodies (the floor: CurveZMQ alone)\n",
           BENCH_BODY_LEN);
    for (size_t l = 0; l < OVOP_ARRAY_SIZE(loads); l++) {
        double raw = bench_raw_zmq(loads[l], seconds / 2);
        double raw_curve = bench_raw_zmq_curve(loads[l], seconds / 2);
        printf("  %d client%s: plaintext %9.0f/s, CURVE %9.0f/s, CURVE / plaintext %.3f\n",
               loads[l], loads[l] > 1 ? "s" : " ", raw, raw_curve, raw > 0 ? raw_curve / raw : 0);
    }
    free(db);
    return 0;
}
