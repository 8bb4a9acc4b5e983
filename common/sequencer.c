#include "sequencer.h"

#include <stdlib.h>

#include "log.h"

/* How often the head and the backlog are read for /metrics. */
#define HEAD_INTERVAL_MS 5000
/* The backlog is counted up to this, so the count stays cheap when numbering has stopped. */
#define UNSEQUENCED_CAP "100000"

struct ovop_sequencer {
    ovop_periodic_t *periodic;
    ovop_pg_t *pg;
    uv_timer_t head_timer;
    bool query_out; /* a head query is running */
    bool destroyed; /* freed once the timer closed and no query is out, by the later */
    bool timer_closed;
    ovop_metric_t *m_head;
    ovop_metric_t *m_unsequenced;
};

static void on_timer_closed(uv_handle_t *h)
{
    ovop_sequencer_t *s = h->data;
    s->timer_closed = true;
    if (!s->query_out)
        free(s);
}

static void on_head(PGresult *res, const char *error, void *userdata)
{
    ovop_sequencer_t *s = userdata;
    s->query_out = false;
    if (s->destroyed) {
        if (s->timer_closed)
            free(s);
        return;
    }
    if (error) {
        log_debug("could not read the event log head for /metrics: %s", error);
        return;
    }
    ovop_metric_set(s->m_head, strtod(ovop_pg_value(res, 0, "head"), NULL));
    ovop_metric_set(s->m_unsequenced, strtod(ovop_pg_value(res, 0, "unsequenced"), NULL));
}

static void on_head_timer(uv_timer_t *t)
{
    ovop_sequencer_t *s = t->data;
    if (s->query_out)
        return;
    s->query_out = true;
    ovop_pg_query(
        s->pg,
        "SELECT (SELECT last_seq FROM bus.sequencer WHERE id = 1)::text AS head, "
        "(SELECT count(*) FROM (SELECT 1 FROM bus.events WHERE seq IS NULL LIMIT " UNSEQUENCED_CAP
        ") u)::text AS unsequenced",
        0, NULL, on_head, s);
}

int ovop_sequencer_new(ovop_sequencer_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned interval_ms,
                       ovop_metrics_t *metrics)
{
    static const ovop_periodic_spec_t spec = {
        .what = "number events",
        .sql = "SELECT bus.sequence_events($1::int)",
        .n_params = 1,
        .params = {"10000"},
        .batch = 10000,
        .done_metric = "ovop_events_sequenced_total",
        .done_help = "Events numbered by this process's sequencer",
        .runs_metric = "ovop_sequencer_runs_total",
        .runs_help = "Sequencer runs of this process",
    };
    ovop_sequencer_t *s = xcalloc(1, sizeof(*s));
    int r = ovop_periodic_new(&s->periodic, loop, pg, interval_ms, &spec, metrics);
    if (r < 0) {
        free(s);
        return r;
    }
    s->pg = pg;
    s->m_head =
        ovop_metrics_gauge(metrics, "ovop_event_log_head",
                           "Highest sequence number of the event log (read every 5 s)", NULL);
    s->m_unsequenced =
        ovop_metrics_gauge(metrics, "ovop_event_log_unsequenced",
                           "Committed events not yet numbered (read every 5 s, capped at "
                           "100000)",
                           NULL);
    uv_timer_init(loop, &s->head_timer);
    s->head_timer.data = s;
    uv_timer_start(&s->head_timer, on_head_timer, 500, HEAD_INTERVAL_MS);
    *ret = s;
    return 0;
}

void ovop_sequencer_kick(ovop_sequencer_t *s)
{
    if (s)
        ovop_periodic_kick(s->periodic);
}

void ovop_sequencer_destroy(ovop_sequencer_t **sp)
{
    ovop_sequencer_t *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    ovop_periodic_destroy(&s->periodic);
    s->destroyed = true;
    uv_timer_stop(&s->head_timer);
    uv_close((uv_handle_t *)&s->head_timer, on_timer_closed);
}
