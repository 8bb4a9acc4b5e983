/* ovop-exportd: serves ovop.exports (export shipments, their documents and lifecycle, the
 * compliance rule and export statistics) from PostgreSQL through the MDP broker. */
#include <stdlib.h>

#include "daemon.h"
#include "exports.h"

static int64_t batch_max = 500;
static int64_t sequencer_ms = 25;
static int64_t move_lanes = 1;
static int64_t fold_ms = 5000;

static const ovop_opt_t extra_opts[] = {
    {"batch-max", OVOP_OPT_INT, "500", 1, 10000,
     "transitions accepted in one RecordShipmentEvents request, and single moves carried by "
     "one statement",
     &batch_max},
    {"sequencer-ms", OVOP_OPT_INT, "25", 5, 10000,
     "how often this instance numbers committed events (single changes do not wake it)",
     &sequencer_ms},
    {"move-lanes", OVOP_OPT_INT, "1", 1, 64,
     "statements of lifecycle moves out at once; moves arriving meanwhile go together in "
     "the next one (one transaction for many requests); more lanes for more cores (a lane "
     "past the first opens only for 4 or more waiting requests)",
     &move_lanes},
    {"stats-fold-ms", OVOP_OPT_INT, "5000", 100, 3600000,
     "how often the statistics' per-connection stripes are folded into one row per cell", &fold_ms},
};

static int setup(ovop_daemon_t *d, void **ret_state)
{
    exports_t *e = xcalloc(1, sizeof(*e));
    e->d = d;
    e->pg = ovop_daemon_pg(d);
    e->batch_max = (unsigned)batch_max;
    e->move_lanes = (unsigned)move_lanes;
    e->fold_ms = (unsigned)fold_ms;
    ovop_sequencer_new(&e->sequencer, ovop_daemon_loop(d), e->pg, (unsigned)sequencer_ms,
                       ovop_daemon_metrics(d));
    /* Single changes do not kick the sequencer: under load that runs one numbering
     * transaction per change; its timer numbers them in batches instead (within
     * --sequencer-ms). A batch of moves still kicks it (moves.c). */
    e->mutator = (ovop_mutator_t){e->pg, NULL, EXPORTS_SERVICE};
    exports_shipments_register(e);
    exports_moves_register(e);
    exports_documents_register(e);
    exports_compliance_register(e);
    exports_stats_register(e);
    exports_stats_start(e);
    *ret_state = e;
    return 0;
}

static void stop(void *state)
{
    exports_t *e = state;
    exports_moves_stop(e);
    ovop_lookup_destroy(&e->shipment_lookup);
    ovop_sequencer_destroy(&e->sequencer);
    exports_stats_stop(e);
}

static void teardown(void *state)
{
    free(state);
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-exportd",
        .summary = "OVOP exports service (ovop.exports): export shipments, their documents and "
                   "lifecycle, compliance and statistics, over the MDP broker",
        .service = EXPORTS_SERVICE,
        .log_service = "exportd",
        .descriptor = &ovop__v1__exports__descriptor,
        .setup = setup,
        .stop = stop,
        .teardown = teardown,
        .extra_opts = extra_opts,
        .n_extra_opts = OVOP_ARRAY_SIZE(extra_opts),
    };
    return ovop_daemon_main(&spec, argc, argv);
}
