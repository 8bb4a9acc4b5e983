/* A job the database does in batches, driven from the daemon's loop: a statement returning
 * one integer (the rows it handled, or -1 when another process holds the job's advisory
 * lock) runs every interval, again at once after a full batch, and soon after a kick. The
 * database lets one process work at a time, so every instance may run the same job. The
 * event sequencer (sequencer.h) and the pruning of stored replies (daemon.c) are two. */
#pragma once

#include <uv.h>

#include "metrics.h"
#include "pg.h"

typedef struct ovop_periodic ovop_periodic_t;

typedef struct ovop_periodic_spec {
    const char *what; /* in logs: "could not <what>" */
    const char *sql;
    int n_params;
    const char *params[4]; /* copied */
    long batch;            /* a run that handles this many rows is followed by another */
    const char *done_metric, *done_help; /* counter of rows handled */
    const char *runs_metric, *runs_help; /* counter of runs */
} ovop_periodic_spec_t;

/* Starts the job; its first run comes after interval_ms. */
int ovop_periodic_new(ovop_periodic_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned interval_ms,
                      const ovop_periodic_spec_t *spec, ovop_metrics_t *metrics);
/* Asks for a run soon (coalesced with a run in progress). Accepts NULL. */
void ovop_periodic_kick(ovop_periodic_t *p);
/* Stops it; a query still out frees it from its callback. Accepts NULL. */
void ovop_periodic_destroy(ovop_periodic_t **p);
