/* Benchmark support: run N client threads for a while and count round trips, and the raw
 * ZeroMQ DEALER/ROUTER echo that every messaging figure is compared with. Benchmarks are not
 * tests: they print figures measured in one run, with their baselines beside them. */
#pragma once

#include <stdint.h>

#define BENCH_MAX_CLIENTS 64
#define BENCH_BODY_LEN    64

/* One kind of client: per-thread state, one request/reply, cleanup. */
typedef struct bench_client_ops {
    void *(*open)(void *arg);
    int (*round_trip)(void *state); /* 0 or -errno */
    void (*close)(void *state);
} bench_client_ops_t;

/* Runs nclients threads of ops for seconds; returns round trips per second and the number of
 * failed round trips in *ret_errors (may be NULL). */
double bench_run(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                 uint64_t *ret_errors);

/* Round trips per second of nclients DEALERs against a ROUTER echo thread on loopback TCP,
 * with BENCH_BODY_LEN-byte bodies. */
double bench_raw_zmq(int nclients, double seconds);
