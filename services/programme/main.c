/* ovop-programd: serves ovop.programme (stakeholders, programmes and participants, sales
 * channels and monthly sales reports, and the programme office's queries) from PostgreSQL,
 * through the MDP broker. Stateless: any number of instances serve the same database. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "programd.h"
#include "util.h"

static int64_t sequencer_ms = 50;
static int64_t max_lines = 200;

static const ovop_opt_t extra_opts[] = {
    {"sequencer-ms", OVOP_OPT_INT, "50", 5, 10000,
     "how often this instance numbers committed events", &sequencer_ms},
    {"max-report-lines", OVOP_OPT_INT, "200", 1, 1000, "lines one monthly sales report may have",
     &max_lines},
};

static int setup(ovop_daemon_t *d, void **ret_state)
{
    programd_t *p = xcalloc(1, sizeof(*p));
    p->d = d;
    p->pg = ovop_daemon_pg(d);
    p->max_lines = (unsigned)max_lines;
    ovop_sequencer_new(&p->sequencer, ovop_daemon_loop(d), p->pg, (unsigned)sequencer_ms,
                       ovop_daemon_metrics(d));
    p->mutator = (ovop_mutator_t){p->pg, p->sequencer, PROGRAMME_SERVICE};
    programd_programmes_register(p);
    programd_sales_register(p);
    programd_queries_register(p);
    programd_events_register(p);
    *ret_state = p;
    return 0;
}

static void stop(void *state)
{
    programd_t *p = state;
    ovop_sequencer_destroy(&p->sequencer);
}

static void teardown(void *state)
{
    free(state);
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-programd",
        .summary = "OVOP programme service (ovop.programme): stakeholders, programmes and "
                   "participants, sales channels and monthly sales reports, over the MDP broker",
        .service = PROGRAMME_SERVICE,
        .log_service = "programd",
        .descriptor = &ovop__v1__programmes__descriptor,
        .setup = setup,
        .stop = stop,
        .teardown = teardown,
        .extra_opts = extra_opts,
        .n_extra_opts = OVOP_ARRAY_SIZE(extra_opts),
    };
    return ovop_daemon_main(&spec, argc, argv);
}
