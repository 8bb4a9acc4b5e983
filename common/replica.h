/* Read routing to a streaming replica: a second pool on the daemon's loop, to the read URL,
 * and a check every second of what it serves: pg_is_in_recovery() and its replay lag. Read
 * work goes to the replica while it is connected, checked recently and no further behind
 * than the bound, else to the primary; each change between the two is logged once. A
 * replica that is in fact a primary (prefer-standby found no standby, or the standby was
 * promoted) has no lag and stays usable. Metrics: ovop_pg_replica_lag_seconds (-1 when
 * unknown), ovop_pg_replica_usable (0/1), ovop_pg_reads_total{target="replica"|"primary"}. */
#pragma once

#include <uv.h>

#include "metrics.h"
#include "pg.h"

typedef struct ovop_replica ovop_replica_t;

/* How often the replica is checked, and how long a check's answer counts. */
#define OVOP_REPLICA_CHECK_MS 1000u
#define OVOP_REPLICA_STALE_MS 3000u

/* Starts the pool (pool_size connections to conninfo) and the checks. max_lag_s is the
 * bound on the replay lag, in seconds. Returns 0 or -EINVAL for an unparsable conninfo. */
int ovop_replica_new(ovop_replica_t **ret, uv_loop_t *loop, const char *conninfo,
                     unsigned pool_size, double max_lag_s, ovop_metrics_t *metrics);

/* The pool one piece of read work should use: the replica's when usable, else primary.
 * Counts the choice in ovop_pg_reads_total. r may be NULL (no replica configured). */
ovop_pg_t *ovop_replica_route(ovop_replica_t *r, ovop_pg_t *primary);

/* True while reads go to the replica. */
bool ovop_replica_usable(const ovop_replica_t *r);

/* Stops the checks and closes the pool (its queued queries fail first). Accepts NULL. */
void ovop_replica_destroy(ovop_replica_t **r);
