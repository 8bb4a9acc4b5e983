/* The frame every service daemon shares: standard options, logging, the schema check,
 * one libuv loop holding the MDP worker, the PostgreSQL pool, the dispatcher and the
 * operations HTTP endpoint, and a graceful stop on SIGTERM: new requests are held
 * unanswered, in-flight requests finish, then the worker says DISCONNECT (the broker
 * re-queues the held requests for another instance) and the process exits 0. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dispatch.h"
#include "keys.h"
#include "metrics.h"
#include "keys.h"
#include "pg.h"

typedef struct ovop_daemon ovop_daemon_t;

typedef struct ovop_daemon_spec {
    const char *prog;        /* e.g. "ovop-registryd" */
    const char *summary;     /* one line for --help */
    const char *service;     /* MDP service name, e.g. "ovop.registry" */
    const char *log_service; /* short name in logs, e.g. "registryd" */
    const ProtobufCServiceDescriptor *descriptor;
    /* Registers handlers on the dispatcher and builds the service's state. Returns 0 or
     * -errno (the daemon then exits 1). */
    int (*setup)(ovop_daemon_t *d, void **ret_state);
    /* Stops the state's own loop work (timers, background queries) when the daemon stops,
     * before the database pool closes; may be NULL. */
    void (*stop)(void *state);
    /* Frees the state; called after the loop stopped and nothing is in flight. */
    void (*teardown)(void *state);
    /* Extra options of this daemon, appended to the standard table; may be NULL. */
    const ovop_opt_t *extra_opts;
    size_t n_extra_opts;
    /* True once the state can serve (matchd: its index loaded); may be NULL (at once). Until
     * then the worker does not register with the brokers and /readyz says not ready, so that
     * a restarted instance takes no request it would refuse. */
    bool (*ready)(void *state);
} ovop_daemon_spec_t;

/* Runs a daemon to completion; returns the process exit code. */
int ovop_daemon_main(const ovop_daemon_spec_t *spec, int argc, char **argv);

uv_loop_t *ovop_daemon_loop(ovop_daemon_t *d);
ovop_pg_t *ovop_daemon_pg(ovop_daemon_t *d);
/* The pool for one piece of read-only work that may see data a moment old (lists, search,
 * statistics, rebuilds, catch-up): the replica's (--database-read-url) while it is
 * connected and within --replica-max-lag, else the primary's, ovop_daemon_pg(). Call it per
 * piece of work, never keep the result: the choice follows the replica's state. Gets by key
 * after a write stay on ovop_daemon_pg() (read-your-writes). */
ovop_pg_t *ovop_daemon_pg_read(ovop_daemon_t *d);
ovop_dispatch_t *ovop_daemon_dispatch(ovop_daemon_t *d);
ovop_metrics_t *ovop_daemon_metrics(ovop_daemon_t *d);

/* What a daemon needs to call other services through the broker as itself (its own client,
 * e.g. matchd creating shipments in exportd): its CURVE keys and the broker endpoints. Valid
 * until the daemon ends. */
const ovop_security_t *ovop_daemon_security(ovop_daemon_t *d);
const char *ovop_daemon_brokers(ovop_daemon_t *d);
/* The instance's name (--instance, by default HOST:PID), as its logs carry it. */
const char *ovop_daemon_instance(ovop_daemon_t *d);
/* For daemons that serve sockets of their own besides the MDP worker (notifyd's stream):
 * the ZeroMQ context (a ZAP handler must live in the context of the sockets it guards) and
 * the database URL (for a dedicated connection, e.g. LISTEN). A server socket may reuse the
 * worker's key pair, ovop_daemon_security(). */
void *ovop_daemon_zctx(ovop_daemon_t *d);
const char *ovop_daemon_database_url(ovop_daemon_t *d);
