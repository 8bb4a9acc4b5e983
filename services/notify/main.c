/* ovop-notifyd: serves ovop.notify (agencies' endpoints, scopes and subscriptions) through
 * the MDP broker, and delivers the event log to the agencies: by a CURVE stream endpoint of
 * its own and by signed webhooks. Several instances share the work through leases in
 * PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "periodic.h"
#include "notifyd.h"
#include "seal.h"

static char *stream_bind;
static char *secrets_key;
static char *webhook_allow;
static char *retry_schedule;
static int64_t overlap_s = 86400;
static int64_t log_retention_h = 168;

static const ovop_opt_t extra_opts[] = {
    {"stream-bind", OVOP_OPT_STRING, "tcp://*:5571", 0, 0,
     "the stream endpoint agencies connect to (CURVE with this daemon's --key; empty: no "
     "stream)",
     &stream_bind},
    {"secrets-key", OVOP_OPT_STRING, NULL, 0, 0,
     "file of the key that seals webhook signing secrets (ovopctl notify-keygen; mode 0600); "
     "without it, no webhooks",
     &secrets_key},
    {"webhook-allow", OVOP_OPT_STRING, "", 0, 0,
     "private/loopback networks webhooks may nevertheless reach, CIDR[,CIDR...]", &webhook_allow},
    {"retry-schedule", OVOP_OPT_STRING, "5s,5m,30m,2h,5h,10h,10h,14h,14h", 0, 0,
     "delays between webhook attempts (±20% jitter; Retry-After honoured up to 24 h); "
     "exhausted: dead letter",
     &retry_schedule},
    {"overlap", OVOP_OPT_INT, "86400", 0, 30 * 86400,
     "seconds a rotated-out signing secret stays valid (both signatures are sent)", &overlap_s},
    {"log-retention-h", OVOP_OPT_INT, "168", 1, 87600, "hours the delivery log is kept",
     &log_retention_h},
};

static int setup(ovop_daemon_t *d, void **ret_state)
{
    notifyd_t *n = xcalloc(1, sizeof(*n));
    *ret_state = n;
    n->d = d;
    n->pg = ovop_daemon_pg(d);
    n->loop = ovop_daemon_loop(d);
    n->metrics = ovop_daemon_metrics(d);
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    uint32_t rnd = (uint32_t)ovop_now_us();
    snprintf(n->instance, sizeof(n->instance), "%s:%d:%08x", host, (int)getpid(), rnd);
    n->stream_bind = stream_bind;
    n->webhook_allow = webhook_allow && *webhook_allow ? webhook_allow : NULL;
    n->overlap_s = overlap_s;
    n->log_retention_h = log_retention_h;
    char *why = NULL;
    if (notify_retry_parse(retry_schedule, &n->retry, &why) < 0) {
        log_error("refusing to start: --retry-schedule: %s", why);
        free(why);
        return -22;
    }
    if (secrets_key && *secrets_key) {
        if (notify_seal_key_load(secrets_key, n->seal_key, &why) < 0) {
            log_error("refusing to start: --secrets-key: %s", why);
            free(why);
            return -22;
        }
        n->have_seal_key = true;
    }
    n->m_delivered_stream = ovop_metrics_counter(n->metrics, "ovop_notify_deliveries_total",
                                                 "Events delivered, by channel and result",
                                                 "channel=\"stream\",result=\"sent\"");
    n->m_delivered_ok = ovop_metrics_counter(n->metrics, "ovop_notify_deliveries_total",
                                             "Events delivered, by channel and result",
                                             "channel=\"webhook\",result=\"ok\"");
    n->m_delivered_fail = ovop_metrics_counter(n->metrics, "ovop_notify_deliveries_total",
                                               "Events delivered, by channel and result",
                                               "channel=\"webhook\",result=\"failed\"");
    n->m_dead = ovop_metrics_counter(n->metrics, "ovop_notify_deliveries_total",
                                     "Events delivered, by channel and result",
                                     "channel=\"webhook\",result=\"dead_letter\"");
    n->m_latency =
        ovop_metrics_histogram(n->metrics, "ovop_notify_webhook_seconds", "Webhook request latency",
                               NULL, ovop_latency_buckets, ovop_latency_buckets_n);
    methods_register(n);
    char hours[24];
    snprintf(hours, sizeof(hours), "%lld", (long long)log_retention_h);
    const ovop_periodic_spec_t prune = {
        .what = "prune the delivery log",
        .sql = "SELECT notify.prune_deliveries($1::int, $2::int)",
        .n_params = 2,
        .params = {hours, "10000"},
        .batch = 10000,
        .done_metric = "ovop_notify_deliveries_pruned_total",
        .done_help = "Delivery log rows past --log-retention-h deleted by this process",
        .runs_metric = "ovop_notify_prune_runs_total",
        .runs_help = "Runs of this process's pruning of the delivery log",
    };
    ovop_periodic_new(&n->pruner, n->loop, n->pg, 60000, &prune, n->metrics);
    int r = stream_start(n);
    if (r == 0)
        r = hook_start(n);
    if (r == 0)
        r = feed_start(n);
    return r;
}

static void stop(void *state)
{
    notifyd_t *n = state;
    ovop_periodic_destroy(&n->pruner);
    stream_stop(n);
    feed_stop(n);
    hook_stop(n);
}

static void teardown(void *state)
{
    notifyd_t *n = state;
    explicit_bzero(n->seal_key, sizeof(n->seal_key));
    free(n);
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-notifyd",
        .summary = "OVOP notification service (ovop.notify): agencies' filtered feeds of the "
                   "event log, by CURVE stream and signed webhooks",
        .service = NOTIFY_SERVICE,
        .log_service = "notifyd",
        .descriptor = &ovop__v1__notify_service__descriptor,
        .setup = setup,
        .stop = stop,
        .teardown = teardown,
        .extra_opts = extra_opts,
        .n_extra_opts = OVOP_ARRAY_SIZE(extra_opts),
    };
    return ovop_daemon_main(&spec, argc, argv);
}
