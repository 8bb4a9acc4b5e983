/* ovop-matchd: serves ovop.matching (export orders filled from village producers' free
 * capacity, their lifecycle into export shipments, and cooperative proposals) from an
 * in-memory index of the registry and PostgreSQL, through the MDP broker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "matchd.h"
#include "util.h"

static int64_t sequencer_ms = 50;
static int64_t refresh_ms = 250;
static int64_t ship_ms = 1000;
static int64_t ship_timeout_ms = 5000;
static int64_t expiry_ms = 5000;
static int64_t follow_ms = 1000;
static int64_t valid_s = 86400;
static int64_t retries = 5;
static char *rate = NULL;
static char *coord = NULL;
static char *discount = NULL;

static const ovop_opt_t extra_opts[] = {
    {"sequencer-ms", OVOP_OPT_INT, "50", 5, 10000,
     "how often this instance numbers committed events", &sequencer_ms},
    {"index-refresh-ms", OVOP_OPT_INT, "250", 10, 600000,
     "how often the index reads the registry's new events and reloads what they name", &refresh_ms},
    {"rate-cents", OVOP_OPT_STRING, "0.01", 0, 0,
     "transport cost in US cents per unit (kg) and km of great-circle distance", &rate},
    {"coord-cents", OVOP_OPT_STRING, "5000", 0, 0,
     "coordination cost in US cents per producer involved in an allocation", &coord},
    {"coop-discount", OVOP_OPT_STRING, "0.3", 0, 0,
     "share (0..1) of the coordination cost saved for members of the preferred cooperative",
     &discount},
    {"proposal-valid-s", OVOP_OPT_INT, "86400", 1, 90 * 86400,
     "how long a proposal holds its reservations before it expires unaccepted", &valid_s},
    {"match-retries", OVOP_OPT_INT, "5", 0, 100,
     "recomputations of an allocation whose capacity another order took meanwhile", &retries},
    {"ship-ms", OVOP_OPT_INT, "1000", 50, 600000,
     "how often accepted orders without a shipment are sent to ovop.exports", &ship_ms},
    {"ship-timeout-ms", OVOP_OPT_INT, "5000", 100, 600000,
     "how long one CreateShipment attempt waits for ovop.exports (3 attempts)", &ship_timeout_ms},
    {"expiry-ms", OVOP_OPT_INT, "5000", 50, 3600000,
     "how often proposals past their validity and orders past their window expire", &expiry_ms},
    {"follow-ms", OVOP_OPT_INT, "1000", 50, 600000,
     "how often the event log is read for departed shipments (orders fulfilled)", &follow_ms},
};

static int parse_double(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "ovop-matchd: --%s must be a number within %g..%g, got \"%s\"\n", name, lo,
                hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static const ovop_periodic_spec_t expiry_spec = {
    .what = "expire orders",
    .sql = "SELECT matching.expire_orders(200)",
    .batch = 200,
    .done_metric = "ovop_matching_expired_total",
    .done_help = "orders expired (their reservations released)",
    .runs_metric = "ovop_matching_expiry_runs_total",
    .runs_help = "runs of the expiry job",
};

static const ovop_periodic_spec_t follow_spec = {
    .what = "follow departed shipments",
    .sql = "SELECT matching.follow_shipments(5000)",
    .batch = 5000,
    .done_metric = "ovop_matching_events_followed_total",
    .done_help = "event-log entries read for departed shipments",
    .runs_metric = "ovop_matching_follow_runs_total",
    .runs_help = "runs of the departure follower",
};

/* The index's reads may go to a replica (--database-read-url). */
static ovop_pg_t *route_reads(void *ctx)
{
    return ovop_daemon_pg_read(ctx);
}

static int setup(ovop_daemon_t *d, void **ret_state)
{
    matchd_t *m = xcalloc(1, sizeof(*m));
    m->d = d;
    m->pg = ovop_daemon_pg(d);
    if (parse_double("rate-cents", rate, 0, 1e6, &m->rate_cents) < 0 ||
        parse_double("coord-cents", coord, 0, 1e12, &m->coord_cents) < 0 ||
        parse_double("coop-discount", discount, 0, 1, &m->coop_discount) < 0) {
        free(m);
        return -EINVAL;
    }
    m->valid_seconds = valid_s;
    m->match_retries = (unsigned)retries;
    m->ship_ms = (unsigned)ship_ms;
    m->ship_timeout_ms = (unsigned)ship_timeout_ms;
    uv_loop_t *loop = ovop_daemon_loop(d);
    ovop_metrics_t *metrics = ovop_daemon_metrics(d);
    ovop_sequencer_new(&m->sequencer, loop, m->pg, (unsigned)sequencer_ms, metrics);
    m->mutator = (ovop_mutator_t){m->pg, m->sequencer, MATCHING_SERVICE};
    mx_index_new(&m->index, loop, m->pg, (unsigned)refresh_ms, ovop_daemon_instance(d), metrics);
    mx_index_read_from(m->index, route_reads, d);
    ovop_periodic_new(&m->expiry, loop, m->pg, (unsigned)expiry_ms, &expiry_spec, metrics);
    ovop_periodic_new(&m->follower, loop, m->pg, (unsigned)follow_ms, &follow_spec, metrics);
    matchd_orders_register(m);
    matchd_coops_register(m);
    matchd_ship_start(m);
    *ret_state = m;
    return 0;
}

/* Serving before the index is loaded would answer INDEX_LOADING. */
static bool ready(void *state)
{
    matchd_t *m = state;
    return mx_index_stats(m->index).ready;
}

static void stop(void *state)
{
    matchd_t *m = state;
    matchd_ship_stop(m);
    mx_index_stop(m->index);
    ovop_periodic_destroy(&m->expiry);
    ovop_periodic_destroy(&m->follower);
    ovop_sequencer_destroy(&m->sequencer);
}

static void teardown(void *state)
{
    matchd_t *m = state;
    mx_index_free(m->index);
    matchd_match_free(m);
    free(m);
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-matchd",
        .summary = "OVOP matching service (ovop.matching): export orders filled from village "
                   "producers, their shipments, cooperative proposals, over the MDP broker",
        .service = MATCHING_SERVICE,
        .log_service = "matchd",
        .descriptor = &ovop__v1__matching__descriptor,
        .setup = setup,
        .stop = stop,
        .teardown = teardown,
        .extra_opts = extra_opts,
        .n_extra_opts = OVOP_ARRAY_SIZE(extra_opts),
        .ready = ready,
    };
    return ovop_daemon_main(&spec, argc, argv);
}
