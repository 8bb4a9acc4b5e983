/* Benchmark support: run N client threads for a while and count round trips (with their
 * latencies), the raw ZeroMQ DEALER/ROUTER echo that every messaging figure is compared with,
 * and the bus a benchmark runs on: a scratch database with the principals and their keys, and
 * brokers with CURVE (as in production) or plaintext (--insecure-plaintext, for comparison).
 * Benchmarks are not tests: they print figures measured in one run, with their baselines
 * beside them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ident.h"
#include "client.h"
#include "keys.h"
#include "ovop/v1/envelope.pb-c.h"

#define BENCH_MAX_CLIENTS 64
#define BENCH_BODY_LEN    64

/* One kind of client: per-thread state, one request/reply, cleanup. */
typedef struct bench_client_ops {
    void *(*open)(void *arg);
    int (*round_trip)(void *state); /* 0 or -errno */
    void (*close)(void *state);
} bench_client_ops_t;

/* What one measurement gave: round trips completed and failed, their rate over the timed
 * window (clients open before it starts), and latency percentiles of the completed ones,
 * with the samples they come from (malloc'd: bench_result_free). */
typedef struct bench_result {
    uint64_t done;
    uint64_t errors;
    double seconds;
    double rps;
    double p50_us, p90_us, p99_us, max_us;
    uint32_t *lat_us; /* one per completed round trip, sorted */
    size_t n_lat;
} bench_result_t;

/* Runs nclients threads of ops for seconds; returns round trips per second and the number of
 * failed round trips in *ret_errors (may be NULL). */
double bench_run(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                 uint64_t *ret_errors);

/* The same, with latencies: fills *ret (zeroed first). */
void bench_measure(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                   bench_result_t *ret);

/* Adds the round trips, time and samples of b to *sum (which may be zeroed) and recomputes
 * its rate and percentiles: rounds of one measurement taken at different times. */
void bench_result_merge(bench_result_t *sum, const bench_result_t *b);

void bench_result_free(bench_result_t *r);

/* CPU time (user and system) process pid has used so far, in microseconds: the sum over its
 * threads' /proc schedstat; pid 0 is this process (getrusage, finished threads included).
 * 0 when it cannot be read. */
double bench_cpu_us(pid_t pid);

/* Round trips per second of nclients DEALERs against a ROUTER echo thread on loopback TCP,
 * with BENCH_BODY_LEN-byte bodies. */
double bench_raw_zmq(int nclients, double seconds);

/* The same with CURVE on both sides (fresh key pairs; the ROUTER has no ZAP handler, so it
 * takes any client key): what CurveZMQ alone costs ZeroMQ. */
double bench_raw_zmq_curve(int nclients, double seconds);

/* ---- the bus ---- */

/* OVOP_TEST_PG_URL's server with database `name` created afresh and migrated (malloc'd
 * conninfo). Prints why and exits 1 when it cannot. */
char *bench_database(const char *name);
/* conninfo with its dbname replaced by db (malloc'd; passfile and the rest kept), or NULL
 * after saying why. */
char *bench_conninfo_with_db(const char *conninfo, const char *db);

/* The keys of a benchmark in database db (conninfo): ident_setup (under tag) plus the roles
 * worker:echo and the principal svc-echo for echo workers. Prints why and exits 1 on error. */
void bench_ident(ident_t *id, const char *db, const char *tag);

/* A broker on free loopback ports: with CURVE when id is given (its keys, the principals in
 * db), else plaintext (--insecure-plaintext). */
typedef struct bench_bus {
    const ident_t *id;  /* NULL: plaintext */
    char endpoint[64];  /* tcp://127.0.0.1:<port> */
    uint16_t http_port; /* its /metrics */
    pid_t broker;
    ovop_security_t client; /* for ovop_client_options_t.security: IDENT_ADMIN's keys, or
                             * plaintext */
} bench_bus_t;

/* Starts the broker (log <log>.log; extra args NULL-terminated, may be NULL). Returns 0 or
 * -errno after printing why. */
int bench_bus_start(bench_bus_t *bus, const ident_t *id, const char *db, const char *log,
                    const char *const *extra);

/* Starts binary bin_name of the build as a worker of bus: args (NULL-terminated, without
 * --broker), then --broker and the security: --key <principal's secret> --broker-key, or
 * --insecure-plaintext. Returns 0 with *ret_pid, or -errno. */
int bench_bus_spawn(const bench_bus_t *bus, const char *bin_name, const char *principal,
                    const char *const *args, const char *log, pid_t *ret_pid);

/* Waits up to timeout_ms for service to have a worker on bus. Returns 0 or -ETIMEDOUT. */
int bench_bus_wait(const bench_bus_t *bus, const char *service, unsigned timeout_ms);

/* SIGTERM to the broker, then SIGKILL after a moment; clears the client keys. */
void bench_bus_stop(bench_bus_t *bus);

/* A call's outcome for bench_client_ops_t: 0 when answered OK, else -EIO (or the client's
 * -errno); the first few failures print why. Frees rep and out. */
int bench_finish_call(int r, Ovop__V1__Reply *rep, ProtobufCMessage *out);
/* GetTerritory of one of four territories through client (an ovop_client_t *): the baseline
 * read the benchmarks print their service's figures beside. */
int bench_get_territory(void *client);
/* A client of bus with its client key (bus->client; 5 s, one retry) in the ZeroMQ context
 * zctx (NULL: its own), or NULL; bench_client_close ends one (a bench_client_ops_t close). */
ovop_client_t *bench_bus_client(const bench_bus_t *bus, void *zctx);
void bench_client_close(void *client);
