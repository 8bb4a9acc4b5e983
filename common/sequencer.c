#include "sequencer.h"

#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

#define BATCH   "10000"
#define BATCH_N 10000

struct ovop_sequencer {
    uv_timer_t timer;
    ovop_pg_t *pg;
    unsigned interval_ms;
    bool running; /* a query is out */
    bool again;   /* kicked while running */
    bool closing;
    bool handle_closed;
    ovop_metric_t *m_numbered;
    ovop_metric_t *m_runs;
};

static void run(ovop_sequencer_t *s);
static void on_timer(uv_timer_t *t);

static void on_result(PGresult *res, const char *error, void *userdata)
{
    ovop_sequencer_t *s = userdata;
    s->running = false;
    if (s->closing) {
        if (s->handle_closed)
            free(s);
        return;
    }
    long n = 0;
    if (error)
        log_warn("could not number events: %s, retrying in %u ms", error, s->interval_ms);
    else
        n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (n > 0)
        ovop_metric_add(s->m_numbered, (double)n);
    ovop_metric_inc(s->m_runs);
    /* A full batch means more are waiting; so does a kick that came meanwhile. */
    if (!error && (n == BATCH_N || s->again)) {
        s->again = false;
        run(s);
        return;
    }
    uv_timer_start(&s->timer, on_timer, s->interval_ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void run(ovop_sequencer_t *s)
{
    if (s->running) {
        s->again = true;
        return;
    }
    s->running = true;
    uv_timer_stop(&s->timer);
    const char *params[] = {BATCH};
    ovop_pg_query(s->pg, "SELECT bus.sequence_events($1::int)", 1, params, on_result, s);
}

int ovop_sequencer_new(ovop_sequencer_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned interval_ms,
                       ovop_metrics_t *metrics)
{
    ovop_sequencer_t *s = xcalloc(1, sizeof(*s));
    s->pg = pg;
    s->interval_ms = interval_ms ? interval_ms : 50;
    s->m_numbered = ovop_metrics_counter(metrics, "ovop_events_sequenced_total",
                                         "Events numbered by this process's sequencer", NULL);
    s->m_runs = ovop_metrics_counter(metrics, "ovop_sequencer_runs_total",
                                     "Sequencer runs of this process", NULL);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_timer, s->interval_ms, 0);
    *ret = s;
    return 0;
}

void ovop_sequencer_kick(ovop_sequencer_t *s)
{
    if (s && !s->closing)
        run(s);
}

static void on_closed(uv_handle_t *h)
{
    ovop_sequencer_t *s = h->data;
    s->handle_closed = true;
    /* A query still out frees s from its callback. */
    if (!s->running)
        free(s);
}

void ovop_sequencer_destroy(ovop_sequencer_t **sp)
{
    ovop_sequencer_t *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    s->closing = true;
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
