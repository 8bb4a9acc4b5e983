#include "daemon.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "http.h"
#include "mdp.h"
#include "log.h"
#include "keys.h"
#include "migrate.h"
#include "periodic.h"
#include "permissions.h"
#include "replica.h"
#include "worker.h"

#define DRAIN_POLL_MS 20

typedef struct daemon_conf {
    char *broker;
    char *database_url;
    char *http;
    char *log_format;
    char *log_level;
    char *instance;
    char *key;
    char *broker_key;
    bool insecure_plaintext;
    int64_t credit;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t max_msg;
    int64_t db_pool;
    int64_t drain_ms;
    int64_t schema_wait_ms;
    int64_t replay_window_h;
    int64_t replay_prune_ms;
    char *database_read_url;
    int64_t replica_max_lag;
} daemon_conf_t;

struct ovop_daemon {
    const ovop_daemon_spec_t *spec;
    daemon_conf_t conf;
    uv_loop_t loop;
    void *zctx;
    ovop_metrics_t *metrics;
    ovop_pg_t *pg;
    ovop_replica_t *replica; /* read routing; no pool without --database-read-url */
    ovop_dispatch_t *dispatch;
    ovop_worker_t *worker;
    ovop_http_t *http;
    ovop_security_t security;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t drain_timer;
    uv_timer_t ready_timer; /* polls spec->ready before the worker registers */
    bool ready_timer_on;
    ovop_worker_options_t worker_opts; /* kept for a registration that waits for ready */
    bool failed;                       /* the late registration failed: exit 1 */
    ovop_periodic_t *pruner;           /* forgets stored replies past the replay window */
    void *state;
    bool draining;
    int64_t drain_deadline;
    ovop_metric_t *refused;
};

uv_loop_t *ovop_daemon_loop(ovop_daemon_t *d)
{
    return &d->loop;
}

ovop_pg_t *ovop_daemon_pg(ovop_daemon_t *d)
{
    return d->pg;
}

ovop_pg_t *ovop_daemon_pg_read(ovop_daemon_t *d)
{
    return ovop_replica_route(d->replica, d->pg);
}

ovop_dispatch_t *ovop_daemon_dispatch(ovop_daemon_t *d)
{
    return d->dispatch;
}

ovop_metrics_t *ovop_daemon_metrics(ovop_daemon_t *d)
{
    return d->metrics;
}

void *ovop_daemon_zctx(ovop_daemon_t *d)
{
    return d->zctx;
}

const ovop_security_t *ovop_daemon_security(ovop_daemon_t *d)
{
    return &d->security;
}

const char *ovop_daemon_database_url(ovop_daemon_t *d)
{
    return d->conf.database_url;
}

static void on_reply_ready(void *userdata, void *reply, size_t len)
{
    ovop_request_t *req = userdata;
    ovop_request_reply(&req, reply, len);
    free(reply);
}

static void on_request(ovop_worker_t *w, ovop_request_t *req, const void *body, size_t len,
                       const void *principal, size_t principal_len, void *userdata)
{
    ovop_daemon_t *d = userdata;
    if (!d->draining) {
        ovop_dispatch_handle(d->dispatch, body, len, principal, principal_len, on_reply_ready, req);
        return;
    }
    /* Stopping: a request that crossed our DRAINING on the wire (or reached us from a broker
     * that does not know it) is held unanswered; the worker's DISCONNECT at the end of the
     * drain makes the broker re-queue it for another instance (or this one restarted), and
     * the worker frees it then. An UNAVAILABLE answer sent the client's retries straight
     * back here: the broker prefers the worker with the most free credit, and a draining one
     * answers at once, so with a request in hand for a while its retries ran out. */
    OVOP_UNUSED(w);
    OVOP_UNUSED(req);
    ovop_metric_inc(d->refused);
}

static bool is_ready(void *userdata, ovop_buf_t *why)
{
    ovop_daemon_t *d = userdata;
    bool ok = true;
    if (d->draining) {
        ovop_buf_puts(why, "shutting down; ");
        ok = false;
    }
    if (d->spec->ready && !d->spec->ready(d->state)) {
        ovop_buf_puts(why, "still loading; ");
        ok = false;
    }
    if (!d->worker || !ovop_worker_connected(d->worker)) {
        ovop_buf_puts(why, "no broker reachable; ");
        ok = false;
    }
    if (!ovop_pg_ready(d->pg)) {
        ovop_buf_puts(why, "database unreachable; ");
        ok = false;
    }
    return ok;
}

static void stop_everything(ovop_daemon_t *d)
{
    uv_timer_stop(&d->drain_timer);
    if (d->ready_timer_on) {
        d->ready_timer_on = false;
        uv_close((uv_handle_t *)&d->ready_timer, NULL);
    }
    if (d->spec->stop)
        d->spec->stop(d->state);
    ovop_periodic_destroy(&d->pruner);
    /* The pool first: its error callbacks finish the calls still out (after a drain
     * timeout), and their replies need the worker. */
    ovop_replica_destroy(&d->replica);
    ovop_pg_destroy(&d->pg);
    ovop_worker_destroy(&d->worker);
    ovop_http_destroy(&d->http);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->drain_timer, NULL);
}

static void on_drain_tick(uv_timer_t *t)
{
    ovop_daemon_t *d = t->data;
    unsigned inflight = ovop_dispatch_inflight(d->dispatch);
    if (inflight == 0) {
        log_info("drained, exiting");
        stop_everything(d);
        return;
    }
    if (ovop_mono_us() >= d->drain_deadline) {
        log_warn("drain timeout after %lld ms with %u requests in flight, exiting anyway",
                 (long long)d->conf.drain_ms, inflight);
        stop_everything(d);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    ovop_daemon_t *d = s->data;
    if (d->draining) {
        log_warn("second %s while draining, exiting now", strsignal(signum));
        stop_everything(d);
        return;
    }
    d->draining = true;
    if (d->worker)
        ovop_worker_drain(d->worker); /* the brokers send new requests to other instances */
    d->drain_deadline = ovop_mono_us() + d->conf.drain_ms * 1000;
    log_info("received %s, draining %u in-flight requests", strsignal(signum),
             ovop_dispatch_inflight(d->dispatch));
    uv_timer_start(&d->drain_timer, on_drain_tick, 0, DRAIN_POLL_MS);
}

static void on_ready_tick(uv_timer_t *t)
{
    ovop_daemon_t *d = t->data;
    if (d->draining || !d->spec->ready(d->state))
        return;
    d->ready_timer_on = false;
    uv_close((uv_handle_t *)&d->ready_timer, NULL);
    int r =
        ovop_worker_new(&d->worker, &d->loop, d->zctx, &d->worker_opts, d->metrics, on_request, d);
    if (r < 0) {
        log_error("could not start the worker for broker %s: %s", d->conf.broker, strerror(-r));
        d->failed = true;
        stop_everything(d);
        return;
    }
    log_info("ready, registering with the brokers");
}

/* Starts the worker, or when the state is not ready yet, a timer that starts it once it is.
 * Returns 0 or -errno. */
static int start_worker(ovop_daemon_t *d, const ovop_worker_options_t *wo)
{
    d->worker_opts = *wo;
    if (!d->spec->ready || d->spec->ready(d->state))
        return ovop_worker_new(&d->worker, &d->loop, d->zctx, wo, d->metrics, on_request, d);
    uv_timer_init(&d->loop, &d->ready_timer);
    d->ready_timer.data = d;
    d->ready_timer_on = true;
    uv_timer_start(&d->ready_timer, on_ready_tick, DRAIN_POLL_MS, DRAIN_POLL_MS);
    log_info("waiting until ready before registering with the brokers");
    return 0;
}

/* Waits (bounded) for the database and checks its schema version; a daemon must not serve
 * on a schema it does not know. */
static int check_schema(const daemon_conf_t *c)
{
    int64_t deadline = ovop_mono_us() + c->schema_wait_ms * 1000;
    unsigned delay_ms = 100;
    for (;;) {
        PGconn *conn = PQconnectdb(c->database_url);
        if (PQstatus(conn) == CONNECTION_OK) {
            char *err = NULL;
            int r = ovop_schema_check(conn, &err);
            PQfinish(conn);
            if (r == 0)
                return 0;
            if (r != -EIO) {
                log_error("refusing to start: %s", err);
                free(err);
                return r;
            }
            log_warn("could not read the schema version: %s", err);
            free(err);
        } else {
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
            msg[strcspn(msg, "\n")] = '\0';
            PQfinish(conn);
            if (ovop_mono_us() + (int64_t)delay_ms * 1000 > deadline) {
                log_error("could not connect to database: %s, giving up", msg);
                return -EIO;
            }
            log_warn("could not connect to database: %s, retrying in %u ms", msg, delay_ms);
        }
        if (ovop_mono_us() + (int64_t)delay_ms * 1000 > deadline)
            return -EIO;
        usleep(delay_ms * 1000);
        delay_ms = delay_ms * 2 > 5000 ? 5000 : delay_ms * 2;
    }
}

/* READY's metadata (mdp.h): this instance's name and the URL of its ops endpoints, for the
 * broker's status. A wildcard --http host is advertised as the host name, the one name that
 * reaches it from elsewhere; the instance name loses what a metadata word cannot hold. */
static void ready_meta(const daemon_conf_t *c, uint16_t port, char *out, size_t size)
{
    char instance[129], host[256] = "";
    snprintf(instance, sizeof(instance), "%s", c->instance);
    for (char *p = instance; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            *p = '_';
    const char *colon = strrchr(c->http, ':');
    size_t hlen = colon ? (size_t)(colon - c->http) : 0;
    if (hlen > 0 && hlen < sizeof(host))
        memcpy(host, c->http, hlen);
    host[hlen < sizeof(host) ? hlen : 0] = '\0';
    if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
        strcmp(host, "[::]") == 0 || strcmp(host, "*") == 0) {
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
    }
    for (char *p = host; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            *p = '_';
    bool v6 = strchr(host, ':') && host[0] != '[';
    snprintf(out, size, "instance=%s ops=http://%s%s%s:%u", instance, v6 ? "[" : "", host,
             v6 ? "]" : "", port);
}

int ovop_daemon_main(const ovop_daemon_spec_t *spec, int argc, char **argv)
{
    ovop_daemon_t *d = xcalloc(1, sizeof(*d));
    daemon_conf_t *c = &d->conf;
    char hostname[64] = "localhost";
    char default_instance[96];
    gethostname(hostname, sizeof(hostname) - 1);
    snprintf(default_instance, sizeof(default_instance), "%s:%d", hostname, (int)getpid());

    const ovop_opt_t std_opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0,
         "broker endpoints to connect to, comma-separated", &c->broker},
        {"database-url", OVOP_OPT_STRING, "postgresql:///ovop", 0, 0,
         "PostgreSQL connection URL or key=value string", &c->database_url},
        {"http", OVOP_OPT_STRING, "127.0.0.1:0", 0, 0,
         "HOST:PORT of /metrics, /healthz, /readyz (port 0: any free port)", &c->http},
        {"log-format", OVOP_OPT_STRING, "json", 0, 0, "json or text", &c->log_format},
        {"log-level", OVOP_OPT_STRING, "info", 0, 0, "debug, info, warn or error", &c->log_level},
        {"instance", OVOP_OPT_STRING, default_instance, 0, 0, "instance name in logs",
         &c->instance},
        {"key", OVOP_OPT_STRING, NULL, 0, 0,
         "secret key file of this service's principal (ovopctl keygen; mode 0600)", &c->key},
        {"broker-key", OVOP_OPT_STRING, NULL, 0, 0,
         "the broker's public key: 40 Z85 characters or its .key file", &c->broker_key},
        {"insecure-plaintext", OVOP_OPT_BOOL, "false", 0, 0,
         "no CURVE: for local development, refused unless every broker is on loopback",
         &c->insecure_plaintext},
        {"credit", OVOP_OPT_INT, "32", 1, 1024, "requests this instance holds at once", &c->credit},
        {"heartbeat-ms", OVOP_OPT_INT, "1000", 100, 60000,
         "MDP heartbeat interval (the broker's must match)", &c->heartbeat_ms},
        {"liveness", OVOP_OPT_INT, "3", 2, 100, "missed heartbeats before a broker is dead",
         &c->liveness},
        {"max-msg", OVOP_OPT_INT, "1048576", 1024, 64 * 1024 * 1024,
         "largest message accepted, in bytes", &c->max_msg},
        {"db-pool", OVOP_OPT_INT, "4", 1, 64, "PostgreSQL connections", &c->db_pool},
        {"drain-ms", OVOP_OPT_INT, "10000", 0, 600000,
         "on SIGTERM, how long in-flight requests may take", &c->drain_ms},
        {"schema-wait-ms", OVOP_OPT_INT, "30000", 0, 600000,
         "at start, how long to wait for the database", &c->schema_wait_ms},
        {"replay-window-h", OVOP_OPT_INT, "168", 1, 87600,
         "how long a retried request gets its first reply back, in hours; older stored "
         "replies are deleted (a retry after that is a new request)",
         &c->replay_window_h},
        {"replay-prune-ms", OVOP_OPT_INT, "60000", 100, 86400000,
         "how often stored replies past the replay window are deleted (in batches; one "
         "instance at a time)",
         &c->replay_prune_ms},
        {"database-read-url", OVOP_OPT_STRING, "", 0, 0,
         "PostgreSQL URL of a streaming replica for read work (lists, search, statistics, "
         "rebuilds, catch-up); empty: none, the primary serves all",
         &c->database_read_url},
        {"replica-max-lag", OVOP_OPT_INT, "5", 0, 3600,
         "replay lag in seconds beyond which read work goes back to the primary",
         &c->replica_max_lag},
    };
    size_t n_std = OVOP_ARRAY_SIZE(std_opts);
    size_t n_opts = n_std + spec->n_extra_opts;
    ovop_opt_t *opts = xcalloc(n_opts, sizeof(ovop_opt_t));
    memcpy(opts, std_opts, sizeof(std_opts));
    if (spec->n_extra_opts)
        memcpy(opts + n_std, spec->extra_opts, spec->n_extra_opts * sizeof(ovop_opt_t));

    ovop_config_t cfg = {spec->prog, spec->summary, "[options]", opts, n_opts, false};
    char *err = NULL;
    int exit_code = 1;
    int r = ovop_config_parse(&cfg, argc, argv, NULL, &err);
    if (r == 1) {
        exit_code = 0;
        goto out_config;
    }
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", spec->prog, err);
        free(err);
        exit_code = 2;
        goto out_config;
    }
    if (ovop_log_setup(spec->log_service, c->instance, c->log_format, c->log_level) < 0) {
        fprintf(stderr,
                "%s: log-format must be json or text and log-level one of debug, info, "
                "warn, error\n",
                spec->prog);
        exit_code = 2;
        goto out_config;
    }
    signal(SIGPIPE, SIG_IGN);

    char *sec_err = NULL;
    if (ovop_security_setup(&d->security, c->insecure_plaintext, c->key,
                            c->broker_key ? c->broker_key : "", c->broker, &sec_err) < 0) {
        log_error("refusing to start: %s", sec_err);
        free(sec_err);
        exit_code = 2;
        goto out_config;
    }
    if (c->insecure_plaintext)
        log_warn("plaintext to the broker (--insecure-plaintext): for local development only");

    if (check_schema(c) < 0)
        goto out_config;

    uv_loop_init(&d->loop);
    d->spec = spec;
    d->zctx = zmq_ctx_new();
    d->metrics = ovop_metrics_new();
    ovop_metrics_process(d->metrics, spec->log_service);
    d->refused = ovop_metrics_counter(
        d->metrics, "ovop_requests_refused_draining_total",
        "Requests received while shutting down, handed back to the broker at the drain's end",
        NULL);
    r = ovop_pg_new(&d->pg, &d->loop, c->database_url, (unsigned)c->db_pool, d->metrics);
    if (r < 0) {
        log_error("invalid database-url");
        goto out_loop;
    }
    r = ovop_replica_new(&d->replica, &d->loop, c->database_read_url, (unsigned)c->db_pool,
                         (double)c->replica_max_lag, d->metrics);
    if (r < 0) {
        log_error("invalid database-read-url");
        goto out_setup;
    }
    d->dispatch =
        ovop_dispatch_new(spec->descriptor, spec->service, (size_t)c->max_msg, d->metrics);
    ovop_dispatch_permit(d->dispatch, ovop_permissions_tsv);
    r = spec->setup(d, &d->state);
    if (r < 0) {
        log_error("could not set up %s: %s", spec->service, strerror(-r));
        goto out_setup;
    }
    const char *why;
    r = ovop_dispatch_verify(d->dispatch, &why);
    if (r < 0) {
        /* A build whose method table and service descriptor disagree must not serve. */
        log_error("could not start %s: %s", spec->service, why);
        goto out_state;
    }
    char hours[24];
    snprintf(hours, sizeof(hours), "%lld", (long long)c->replay_window_h);
    const ovop_periodic_spec_t prune = {
        .what = "delete old stored replies",
        .sql = "SELECT bus.prune_idempotency($1::int, $2::int)",
        .n_params = 2,
        .params = {hours, "10000"},
        .batch = 10000,
        .done_metric = "ovop_replies_pruned_total",
        .done_help = "Stored replies past the replay window deleted by this process",
        .runs_metric = "ovop_reply_prune_runs_total",
        .runs_help = "Runs of this process's pruning of stored replies",
    };
    ovop_periodic_new(&d->pruner, &d->loop, d->pg, (unsigned)c->replay_prune_ms, &prune,
                      d->metrics);
    r = ovop_http_new(&d->http, &d->loop, c->http, d->metrics, is_ready, d);
    if (r < 0) {
        log_error("could not listen on %s for http: %s", c->http, strerror(-r));
        goto out_state;
    }
    char meta[OVOP_MDP_MAX_META + 1];
    ready_meta(c, ovop_http_port(d->http), meta, sizeof(meta));
    ovop_worker_options_t wo = {
        .ready_meta = meta,
        .brokers = c->broker,
        .service = spec->service,
        .credit = (uint32_t)c->credit,
        .heartbeat_ms = (uint32_t)c->heartbeat_ms,
        .liveness = (uint32_t)c->liveness,
        .max_msg = (size_t)c->max_msg,
        .security = &d->security,
    };
    r = start_worker(d, &wo);
    if (r < 0) {
        log_error("could not start the worker for broker %s: %s", c->broker, strerror(-r));
        goto out_http;
    }

    uv_signal_init(&d->loop, &d->sigterm);
    uv_signal_init(&d->loop, &d->sigint);
    uv_timer_init(&d->loop, &d->drain_timer);
    d->sigterm.data = d->sigint.data = d->drain_timer.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);

    log_info("%s serving %s via %s, credit %lld, http on 127.0.0.1:%u (/metrics /healthz "
             "/readyz), schema version %d",
             spec->prog, spec->service, c->broker, (long long)c->credit, ovop_http_port(d->http),
             ovop_schema_version);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    exit_code = d->failed ? 1 : 0;
    goto out_state;

out_http:
    ovop_http_destroy(&d->http);
out_state:
    if (d->worker || d->http || d->pg) {
        /* Error paths after partial start-up: close what is open, then let callbacks run. */
        if (spec->stop)
            spec->stop(d->state);
        ovop_periodic_destroy(&d->pruner);
        ovop_replica_destroy(&d->replica);
        ovop_pg_destroy(&d->pg);
        ovop_worker_destroy(&d->worker);
        ovop_http_destroy(&d->http);
        uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    if (spec->teardown)
        spec->teardown(d->state);
out_setup:
    ovop_replica_destroy(&d->replica);
    ovop_pg_destroy(&d->pg);
    ovop_dispatch_destroy(&d->dispatch);
    uv_run(&d->loop, UV_RUN_DEFAULT);
out_loop:
    uv_loop_close(&d->loop);
    ovop_metrics_destroy(&d->metrics);
    zmq_ctx_term(d->zctx);
out_config:
    ovop_security_clear(&d->security);
    ovop_config_free(opts, n_opts);
    free(opts);
    free(d);
    return exit_code;
}

const char *ovop_daemon_brokers(ovop_daemon_t *d)
{
    return d->conf.broker;
}

const char *ovop_daemon_instance(ovop_daemon_t *d)
{
    return d->conf.instance;
}
