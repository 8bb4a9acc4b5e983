/* ovop-broker: the MDP/0.2 service bus. Clients and workers connect to it; it routes each
 * request to a worker of the named service and the reply back, and answers mmi.service. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "broker.h"
#include "config.h"
#include "dispatch.h"
#include "http.h"
#include "iam.h"
#include "status.h"
#include "keyring.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "ovop/v1/broker.pb-c.h"
#include "ovop/v1/iam.pb-c.h"
#include "permissions.h"
#include "util.h"
#include "zap.h"

typedef struct broker_conf {
    char *bind;
    char *http;
    char *log_format;
    char *log_level;
    char *instance;
    char *key;
    char *database_url;
    bool insecure_plaintext;
    int64_t auth_refresh_ms;
    int64_t db_pool;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t max_msg;
    int64_t request_timeout_ms;
    int64_t held_timeout_ms;
    int64_t max_queue_bytes;
    int64_t drain_ms;
} broker_conf_t;

/* What the broker runs besides its socket: who may connect, and ovop.iam. */
typedef struct auth {
    ovop_security_t security;
    ovop_pg_t *pg;
    ovop_keyring_t *keyring;
    ovop_zap_t *zap;
    ovop_dispatch_t *dispatch;
    iam_t *iam;
    ovop_broker_t *broker;
    ovop_dispatch_t *status_dispatch; /* ovop.broker */
    bstatus_t *status;
} auth_t;

static bool is_ready(void *userdata, ovop_buf_t *why)
{
    /* Bound, looping and knowing who may connect; workers come and go. */
    auth_t *a = userdata;
    if (!ovop_keyring_loaded(a->keyring)) {
        ovop_buf_puts(why, "keyring not loaded yet (database unreachable?); ");
        return false;
    }
    return true;
}

static void on_keyring_changed(void *userdata)
{
    auth_t *a = userdata;
    ovop_zap_keyring_changed(a->zap);
    if (a->broker)
        ovop_broker_recheck(a->broker);
}

static void on_iam_reply(void *userdata, void *reply, size_t len)
{
    ovop_broker_reply_t *r = userdata;
    ovop_broker_reply_send(&r, reply, len);
    free(reply);
}

static void on_iam_request(void *userdata, ovop_broker_reply_t *reply, const void *body, size_t len,
                           const void *principal, size_t principal_len)
{
    auth_t *a = userdata;
    ovop_dispatch_handle(a->dispatch, body, len, principal, principal_len, on_iam_reply, reply);
}

static void on_status_request(void *userdata, ovop_broker_reply_t *reply, const void *body,
                              size_t len, const void *principal, size_t principal_len)
{
    auth_t *a = userdata;
    ovop_dispatch_handle(a->status_dispatch, body, len, principal, principal_len, on_iam_reply,
                         reply);
}

/* ovop.broker, the broker's status: needs no database. Returns 0 or -1 (logged). */
static int status_start(auth_t *a, const broker_conf_t *c, ovop_metrics_t *metrics)
{
    const char *why;
    a->status_dispatch = ovop_dispatch_new(&ovop__v1__broker__descriptor, STATUS_SERVICE,
                                           (size_t)c->max_msg, metrics);
    ovop_dispatch_permit(a->status_dispatch, ovop_permissions_tsv);
    a->status = bstatus_new(a->status_dispatch, c->instance);
    if (ovop_dispatch_verify(a->status_dispatch, &why) < 0) {
        log_error("could not start %s: %s", STATUS_SERVICE, why);
        return -1;
    }
    return 0;
}

/* Loads the keys and starts the keyring, the ZAP handler (before any socket binds) and
 * ovop.iam. Returns 0 or -1 (logged). */
static int auth_start(auth_t *a, const broker_conf_t *c, uv_loop_t *loop, void *zctx,
                      ovop_metrics_t *metrics)
{
    char *err = NULL;
    if (ovop_security_setup(&a->security, c->insecure_plaintext, c->key, NULL, c->bind, &err) < 0) {
        log_error("refusing to start: %s", err);
        free(err);
        return -1;
    }
    if (c->insecure_plaintext)
        log_warn("plaintext (--insecure-plaintext): every connection on loopback is the "
                 "principal %s with every role; for local development only",
                 OVOP_PLAINTEXT_PRINCIPAL);
    if (c->database_url && *c->database_url &&
        ovop_pg_new(&a->pg, loop, c->database_url, (unsigned)c->db_pool, metrics) < 0) {
        log_error("invalid database-url");
        return -1;
    }
    if (!a->pg && !c->insecure_plaintext) {
        log_error("refusing to start: CURVE needs the principals, give --database-url");
        return -1;
    }
    a->keyring =
        ovop_keyring_new(loop, a->pg, (unsigned)c->auth_refresh_ms, c->insecure_plaintext, metrics);
    ovop_keyring_on_change(a->keyring, on_keyring_changed, a);
    int r = ovop_zap_new(&a->zap, loop, zctx, a->keyring, c->insecure_plaintext, metrics);
    if (r < 0) {
        log_error("could not start the ZAP handler: %s", zmq_strerror(-r));
        return -1;
    }
    if (a->pg) {
        const char *why;
        a->dispatch =
            ovop_dispatch_new(&ovop__v1__iam__descriptor, IAM_SERVICE, (size_t)c->max_msg, metrics);
        ovop_dispatch_permit(a->dispatch, ovop_permissions_tsv);
        a->iam = iam_new(a->dispatch, a->pg, a->keyring);
        if (ovop_dispatch_verify(a->dispatch, &why) < 0) {
            log_error("could not start %s: %s", IAM_SERVICE, why);
            return -1;
        }
    }
    return status_start(a, c, metrics);
}

static void auth_stop(auth_t *a)
{
    ovop_zap_destroy(&a->zap);
    ovop_keyring_destroy(&a->keyring);
    ovop_pg_destroy(&a->pg); /* fails the ovop.iam calls still out: their replies go now */
}

static void auth_free(auth_t *a)
{
    iam_free(&a->iam);
    ovop_dispatch_destroy(&a->dispatch);
    bstatus_free(&a->status);
    ovop_dispatch_destroy(&a->status_dispatch);
    ovop_security_clear(&a->security);
}

typedef struct drain {
    ovop_broker_t *broker;
    uv_timer_t timer;
    int64_t deadline_us;
    int64_t drain_ms;
    bool started;
} drain_t;

static void on_drain_tick(uv_timer_t *t)
{
    drain_t *d = t->data;
    size_t pending = ovop_broker_pending(d->broker);
    if (pending == 0) {
        log_info("drained, exiting");
        uv_stop(t->loop);
    } else if (ovop_mono_us() >= d->deadline_us) {
        log_warn("drain timeout with %zu requests pending, exiting anyway (clients retry)",
                 pending);
        uv_stop(t->loop);
    }
}

/* SIGTERM: take no new requests, let the ones in hand finish (bounded), then stop. A second
 * signal stops at once. */
static void on_signal(uv_signal_t *s, int signum)
{
    drain_t *d = s->data;
    if (d->started) {
        log_warn("second %s while draining, stopping now", strsignal(signum));
        uv_stop(s->loop);
        return;
    }
    d->started = true;
    d->deadline_us = ovop_mono_us() + d->drain_ms * 1000;
    ovop_broker_drain(d->broker);
    log_info("received %s, draining %zu pending requests", strsignal(signum),
             ovop_broker_pending(d->broker));
    uv_timer_start(&d->timer, on_drain_tick, 0, 20);
}

/* Runs the broker with configuration c until it has drained after a signal; the exit code. */
static int serve(const broker_conf_t *c)
{
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    ovop_broker_t *broker = NULL;
    ovop_http_t *http = NULL;
    void *zctx = zmq_ctx_new();
    ovop_metrics_t *metrics = ovop_metrics_new();
    ovop_metrics_process(metrics, "broker");
    uv_loop_init(&loop);
    int exit_code = 1;
    auth_t auth = {0};
    if (auth_start(&auth, c, &loop, zctx, metrics) < 0)
        goto out_auth;

    ovop_broker_options_t bo = {
        .bind = c->bind,
        .heartbeat_ms = (uint32_t)c->heartbeat_ms,
        .liveness = (uint32_t)c->liveness,
        .max_msg = (size_t)c->max_msg,
        .request_timeout_ms = (uint32_t)c->request_timeout_ms,
        .held_timeout_ms = (uint32_t)c->held_timeout_ms,
        .max_queue_bytes = (size_t)c->max_queue_bytes,
        .security = &auth.security,
        .keyring = auth.keyring,
        .internal_service = auth.dispatch ? IAM_SERVICE : NULL,
        .internal_fn = auth.dispatch ? on_iam_request : NULL,
        .internal_userdata = &auth,
        .status_service = STATUS_SERVICE,
        .status_fn = on_status_request,
        .status_userdata = &auth,
    };
    int r = ovop_broker_new(&broker, &loop, zctx, &bo, metrics);
    if (r < 0)
        goto out_auth; /* logged by the broker */
    auth.broker = broker;
    bstatus_attach(auth.status, broker);
    r = ovop_http_new(&http, &loop, c->http, metrics, is_ready, &auth);
    if (r < 0) {
        log_error("could not listen on %s for http: %s", c->http, strerror(-r));
        goto out_broker;
    }
    drain_t drain = {.broker = broker, .drain_ms = c->drain_ms};
    uv_timer_init(&loop, &drain.timer);
    drain.timer.data = &drain;
    uv_signal_init(&loop, &sigterm);
    uv_signal_init(&loop, &sigint);
    sigterm.data = sigint.data = &drain;
    drain.deadline_us = INT64_MAX;
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    log_info("listening on %s (%s), heartbeat %lld ms x %lld, http on 127.0.0.1:%u (/metrics "
             "/healthz /readyz)",
             c->bind, c->insecure_plaintext ? "plaintext" : "CURVE", (long long)c->heartbeat_ms,
             (long long)c->liveness, ovop_http_port(http));

    uv_run(&loop, UV_RUN_DEFAULT);
    exit_code = 0;
    uv_close((uv_handle_t *)&drain.timer, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    ovop_http_destroy(&http);
out_broker:
    auth_stop(&auth);
    /* The ovop.iam calls the pool's close failed answer now; one turn runs the close
     * callbacks. Not until the loop is empty: the broker's own handles still run. */
    uv_run(&loop, UV_RUN_NOWAIT);
    auth.broker = NULL;
    bstatus_attach(auth.status, NULL);
    ovop_broker_destroy(&broker);
out_auth:
    auth_stop(&auth);
    uv_run(&loop, UV_RUN_DEFAULT); /* the close callbacks */
    auth_free(&auth);
    uv_loop_close(&loop);
    ovop_metrics_destroy(&metrics);
    zmq_ctx_term(zctx);
    return exit_code;
}

int main(int argc, char **argv)
{
    broker_conf_t c = {0};
    char hostname[64] = "localhost";
    char default_instance[96];
    gethostname(hostname, sizeof(hostname) - 1);
    snprintf(default_instance, sizeof(default_instance), "%s:%d", hostname, (int)getpid());

    const ovop_opt_t opts[] = {
        {"bind", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0,
         "endpoints to bind, comma-separated", &c.bind},
        {"heartbeat-ms", OVOP_OPT_INT, "1000", 10, 60000,
         "MDP heartbeat interval (the workers' must match)", &c.heartbeat_ms},
        {"liveness", OVOP_OPT_INT, "3", 2, 100, "missed heartbeats before a worker is dead",
         &c.liveness},
        {"max-msg", OVOP_OPT_INT, "1048576", 1024, 64 * 1024 * 1024,
         "largest request accepted, in bytes over all its frames (a larger one is refused with "
         "RESOURCE_EXHAUSTED; a frame over twice this drops its connection)",
         &c.max_msg},
        {"drain-ms", OVOP_OPT_INT, "5000", 0, 600000,
         "on SIGTERM, how long requests in hand may take to finish", &c.drain_ms},
        {"request-timeout-ms", OVOP_OPT_INT, "10000", 100, 3600000,
         "how long a request may wait in a queue for a worker before it is dropped",
         &c.request_timeout_ms},
        {"held-timeout-ms", OVOP_OPT_INT, "30000", 100, 3600000,
         "how long a worker may hold a request before the broker answers it DEADLINE_EXCEEDED "
         "and returns the worker's credit",
         &c.held_timeout_ms},
        {"max-queue-bytes", OVOP_OPT_INT, "536870912", 1 << 20, (int64_t)64 << 30,
         "memory of requests in hand (queued or held, with their overhead) over all services; "
         "a service or a principal may use a quarter, a client connection an eighth",
         &c.max_queue_bytes},
        {"http", OVOP_OPT_STRING, "127.0.0.1:0", 0, 0,
         "HOST:PORT of /metrics, /healthz, /readyz (port 0: any free port)", &c.http},
        {"log-format", OVOP_OPT_STRING, "json", 0, 0, "json or text", &c.log_format},
        {"log-level", OVOP_OPT_STRING, "info", 0, 0, "debug, info, warn or error", &c.log_level},
        {"instance", OVOP_OPT_STRING, default_instance, 0, 0, "instance name in logs", &c.instance},
        {"key", OVOP_OPT_STRING, NULL, 0, 0,
         "the broker's secret key file (ovopctl keygen; mode 0600): its CURVE server key", &c.key},
        {"database-url", OVOP_OPT_STRING, NULL, 0, 0,
         "PostgreSQL of the principals (iam schema, as role ovop_broker); required with CURVE",
         &c.database_url},
        {"db-pool", OVOP_OPT_INT, "2", 1, 16, "PostgreSQL connections", &c.db_pool},
        {"auth-refresh-ms", OVOP_OPT_INT, "1000", 100, 60000,
         "how often the principals are checked for changes (a disabled principal or a revoked "
         "key is refused within this)",
         &c.auth_refresh_ms},
        {"insecure-plaintext", OVOP_OPT_BOOL, "false", 0, 0,
         "no CURVE: every connection is the principal local-dev with every role; for local "
         "development, refused unless every bind endpoint is loopback",
         &c.insecure_plaintext},
    };
    ovop_config_t cfg = {
        "ovop-broker",         "OVOP service bus: an MDP/0.2 broker with mmi.service",
        "[options]",           opts,
        OVOP_ARRAY_SIZE(opts), false};
    char *err = NULL;
    int exit_code = 2;
    int r = ovop_config_parse(&cfg, argc, argv, NULL, &err);
    if (r != 0) {
        if (r < 0)
            fprintf(stderr, "ovop-broker: %s\n", err);
        free(err);
        exit_code = r == 1 ? 0 : 2;
        goto out_config;
    }
    if (ovop_log_setup("broker", c.instance, c.log_format, c.log_level) < 0) {
        fprintf(stderr, "ovop-broker: log-format must be json or text and log-level one of "
                        "debug, info, warn, error\n");
        goto out_config;
    }
    exit_code = serve(&c);
out_config:
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return exit_code;
}
