/* See replica.h. */
#include "replica.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* The replay lag, the usual idiom: none when everything received has been replayed (an idle
 * primary sends nothing, and now() - the last replayed commit would grow without bound),
 * else the age of the last transaction replayed; NULL when nothing was replayed yet. A
 * server not in recovery is a primary: nothing to replay. */
static const char check_sql[] =
    "SELECT pg_is_in_recovery() AS standby, "
    "CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END AS lag";

struct ovop_replica {
    ovop_pg_t *pg; /* NULL: no read URL, every read goes to the primary */
    uv_timer_t timer;
    double max_lag_s;
    bool check_out;     /* a check query is running */
    int64_t checked_us; /* monotonic time of the last check that answered */
    double lag_s;       /* its answer; -1: unknown */
    bool standby;
    bool usable;
    bool closing;
    ovop_metric_t *m_lag;
    ovop_metric_t *m_usable;
    ovop_metric_t *m_reads_replica;
    ovop_metric_t *m_reads_primary;
};

/* Sets usable from the pool and the last check; logs a change once, saying why. */
static void replica_assess(ovop_replica_t *r, const char *error)
{
    bool connected = ovop_pg_ready(r->pg);
    bool fresh =
        r->checked_us && ovop_mono_us() - r->checked_us <= (int64_t)OVOP_REPLICA_STALE_MS * 1000;
    bool usable = connected && fresh && r->lag_s >= 0 && r->lag_s <= r->max_lag_s;
    if (!connected || !fresh)
        r->lag_s = -1;
    ovop_metric_set(r->m_lag, r->lag_s);
    ovop_metric_set(r->m_usable, usable ? 1 : 0);
    if (usable == r->usable)
        return;
    r->usable = usable;
    if (usable)
        log_info("read work goes to the replica (%s, replay lag %.1f s)",
                 r->standby ? "a standby" : "not in recovery: a primary", r->lag_s);
    else if (!connected)
        log_warn("read work goes to the primary: the replica is unreachable");
    else if (error)
        log_warn("read work goes to the primary: could not check the replica: %s", error);
    else if (!fresh)
        log_warn("read work goes to the primary: the replica did not answer its check");
    else if (r->lag_s < 0)
        log_warn("read work goes to the primary: the replica's replay lag is unknown");
    else
        log_warn("read work goes to the primary: the replica's replay lag %.1f s exceeds %.1f s",
                 r->lag_s, r->max_lag_s);
}

static void on_check(PGresult *res, const char *error, void *userdata)
{
    ovop_replica_t *r = userdata;
    r->check_out = false;
    if (r->closing)
        return;
    if (!error && PQntuples(res) == 1) {
        const char *lag = ovop_pg_value(res, 0, "lag");
        r->standby = strcmp(ovop_pg_value(res, 0, "standby"), "t") == 0;
        r->lag_s = *lag ? strtod(lag, NULL) : -1;
        if (r->lag_s < 0)
            r->lag_s = -1; /* a replay timestamp ahead of now(): clocks apart, unknown */
        r->checked_us = ovop_mono_us();
    } else if (!error) {
        error = "the check returned no row";
    }
    replica_assess(r, error);
}

static void on_timer(uv_timer_t *t)
{
    ovop_replica_t *r = t->data;
    /* A query to a pool without a connection would wait for one: check only when connected;
     * a check still out past the staleness bound makes the replica unusable meanwhile. */
    if (!r->check_out && ovop_pg_ready(r->pg)) {
        r->check_out = true;
        ovop_pg_query_until(r->pg, ovop_mono_us() + (int64_t)OVOP_REPLICA_CHECK_MS * 1000,
                            check_sql, 0, NULL, on_check, r);
    }
    replica_assess(r, NULL);
}

int ovop_replica_new(ovop_replica_t **ret, uv_loop_t *loop, const char *conninfo,
                     unsigned pool_size, double max_lag_s, ovop_metrics_t *metrics)
{
    ovop_replica_t *r = xcalloc(1, sizeof(*r));
    /* The read pool's own query metrics would share the primary's series: it has none. */
    if (conninfo && *conninfo && ovop_pg_new(&r->pg, loop, conninfo, pool_size, NULL) < 0) {
        free(r);
        return -EINVAL;
    }
    r->max_lag_s = max_lag_s;
    r->lag_s = -1;
    const char *help_reads = "Read work routed, by the database it went to.";
    r->m_lag = ovop_metrics_gauge(metrics, "ovop_pg_replica_lag_seconds",
                                  "Replay lag of the read replica; -1 when unknown.", NULL);
    r->m_usable = ovop_metrics_gauge(metrics, "ovop_pg_replica_usable",
                                     "1 while read work goes to the replica.", NULL);
    r->m_reads_replica =
        ovop_metrics_counter(metrics, "ovop_pg_reads_total", help_reads, "target=\"replica\"");
    r->m_reads_primary =
        ovop_metrics_counter(metrics, "ovop_pg_reads_total", help_reads, "target=\"primary\"");
    ovop_metric_set(r->m_lag, -1);
    ovop_metric_set(r->m_usable, 0);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    if (r->pg)
        uv_timer_start(&r->timer, on_timer, OVOP_REPLICA_CHECK_MS / 10, OVOP_REPLICA_CHECK_MS);
    *ret = r;
    return 0;
}

ovop_pg_t *ovop_replica_route(ovop_replica_t *r, ovop_pg_t *primary)
{
    if (!r)
        return primary;
    /* Between checks, a replica whose connections all dropped is given up at once. */
    if (r->usable && ovop_pg_ready(r->pg)) {
        ovop_metric_inc(r->m_reads_replica);
        return r->pg;
    }
    ovop_metric_inc(r->m_reads_primary);
    return primary;
}

bool ovop_replica_usable(const ovop_replica_t *r)
{
    return r && r->usable && ovop_pg_ready(r->pg);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void ovop_replica_destroy(ovop_replica_t **p)
{
    ovop_replica_t *r = p ? *p : NULL;
    if (!r)
        return;
    *p = NULL;
    r->closing = true;
    /* The check still out is called back (with an error) before this returns. */
    ovop_pg_destroy(&r->pg);
    uv_close((uv_handle_t *)&r->timer, on_timer_closed);
}
