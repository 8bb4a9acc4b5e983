#include "periodic.h"

#include <stdbool.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

struct ovop_periodic {
    uv_timer_t timer;
    ovop_pg_t *pg;
    unsigned interval_ms;
    ovop_periodic_spec_t spec; /* params copied */
    bool running;              /* a query is out */
    bool again;                /* kicked while running */
    bool closing;
    bool handle_closed;
    ovop_metric_t *m_done;
    ovop_metric_t *m_runs;
};

static void run(ovop_periodic_t *p);

static void periodic_free(ovop_periodic_t *p)
{
    for (int i = 0; i < p->spec.n_params; i++)
        free((char *)p->spec.params[i]);
    free(p);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_result(PGresult *res, const char *error, void *userdata)
{
    ovop_periodic_t *p = userdata;
    p->running = false;
    if (p->closing) {
        if (p->handle_closed)
            periodic_free(p);
        return;
    }
    long n = 0;
    if (error)
        log_warn("could not %s: %s, retrying in %u ms", p->spec.what, error, p->interval_ms);
    else
        n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (n > 0)
        ovop_metric_add(p->m_done, (double)n);
    ovop_metric_inc(p->m_runs);
    /* A full batch means more are waiting; so does a kick that came meanwhile. */
    if (!error && (n == p->spec.batch || p->again)) {
        p->again = false;
        run(p);
        return;
    }
    uv_timer_start(&p->timer, on_timer, p->interval_ms, 0);
}

static void run(ovop_periodic_t *p)
{
    if (p->running) {
        p->again = true;
        return;
    }
    p->running = true;
    uv_timer_stop(&p->timer);
    ovop_pg_query(p->pg, p->spec.sql, p->spec.n_params, p->spec.params, on_result, p);
}

int ovop_periodic_new(ovop_periodic_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned interval_ms,
                      const ovop_periodic_spec_t *spec, ovop_metrics_t *metrics)
{
    ovop_periodic_t *p = xcalloc(1, sizeof(*p));
    p->pg = pg;
    p->interval_ms = interval_ms ? interval_ms : 50;
    p->spec = *spec;
    for (int i = 0; i < spec->n_params; i++)
        p->spec.params[i] = xstrdup(spec->params[i]);
    p->m_done = ovop_metrics_counter(metrics, spec->done_metric, spec->done_help, NULL);
    p->m_runs = ovop_metrics_counter(metrics, spec->runs_metric, spec->runs_help, NULL);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_timer, p->interval_ms, 0);
    *ret = p;
    return 0;
}

void ovop_periodic_kick(ovop_periodic_t *p)
{
    if (p && !p->closing)
        run(p);
}

static void on_closed(uv_handle_t *h)
{
    ovop_periodic_t *p = h->data;
    p->handle_closed = true;
    /* A query still out frees p from its callback. */
    if (!p->running)
        periodic_free(p);
}

void ovop_periodic_destroy(ovop_periodic_t **pp)
{
    ovop_periodic_t *p = *pp;
    if (!p)
        return;
    *pp = NULL;
    p->closing = true;
    uv_close((uv_handle_t *)&p->timer, on_closed);
}
