/* The event log's sequencer driver: numbers committed events in commit order by calling
 * bus.sequence_events() (see deploy/migrations/0003_event_log.sql) from a timer, and at once
 * after this process wrote events. Every daemon that writes events runs one; the database
 * lets one of them work at a time, so running several is safe and keeps numbering going
 * when one stops. */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "metrics.h"
#include "periodic.h"
#include "pg.h"

/* A periodic job (periodic.h) running bus.sequence_events(), and every 5 s a read of the
 * event log's head and backlog for /metrics (ovop_event_log_head, ovop_event_log_unsequenced). */
typedef struct ovop_sequencer ovop_sequencer_t;

/* interval_ms: how often to look for unnumbered events when nobody kicks (e.g. 50). */
int ovop_sequencer_new(ovop_sequencer_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned interval_ms,
                       ovop_metrics_t *metrics);
/* Asks for a run soon (coalesced with a run in progress). Accepts NULL. */
void ovop_sequencer_kick(ovop_sequencer_t *s);
void ovop_sequencer_destroy(ovop_sequencer_t **s);
