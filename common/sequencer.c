#include "sequencer.h"

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
    return ovop_periodic_new(ret, loop, pg, interval_ms, &spec, metrics);
}

void ovop_sequencer_kick(ovop_sequencer_t *s)
{
    ovop_periodic_kick(s);
}

void ovop_sequencer_destroy(ovop_sequencer_t **s)
{
    ovop_periodic_destroy(s);
}
