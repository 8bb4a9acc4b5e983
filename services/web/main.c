/* ovop-webd: the public brand verification pages. See web.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zmq.h>

#include "config.h"
#include "dash.h"
#include "http.h"
#include "log.h"
#include "web.h"

typedef struct app {
    web_t w;
    ovop_http_t *http;
    uv_signal_t sigterm, sigint;
    uv_timer_t drain;
    int64_t drain_deadline_us;
} app_t;

static bool is_ready(void *userdata, ovop_buf_t *why)
{
    app_t *a = userdata;
    if (a->w.broker_ok)
        return true;
    ovop_buf_puts(why, "the last lookup through the broker failed");
    return false;
}

static void close_all(app_t *a)
{
    web_dash_destroy(&a->w.dash);
    web_server_destroy(&a->w.server);
    ovop_http_destroy(&a->http);
    uv_close((uv_handle_t *)&a->sigterm, NULL);
    uv_close((uv_handle_t *)&a->sigint, NULL);
    uv_close((uv_handle_t *)&a->drain, NULL);
}

/* Lookups in flight finish (they are bounded by --lookup-timeout-ms) before the server
 * stops, so no request waits on a freed server. */
static void on_drain(uv_timer_t *t)
{
    app_t *a = t->data;
    if ((web_server_waiting(a->w.server) == 0 && web_dash_waiting(a->w.dash) == 0) ||
        ovop_mono_us() > a->drain_deadline_us)
        close_all(a);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_t *a = s->data;
    if (uv_is_active((uv_handle_t *)&a->drain))
        return;
    log_info("signal %d: stopping once the lookups in flight are answered", signum);
    uv_signal_stop(&a->sigterm);
    uv_signal_stop(&a->sigint);
    web_dash_drain(a->w.dash);
    a->drain_deadline_us = ovop_mono_us() + (a->w.conf.lookup_timeout_ms + 1000) * 1000;
    uv_timer_start(&a->drain, on_drain, 0, 20);
}

static int start(app_t *a)
{
    web_t *w = &a->w;
    web_conf_t *c = &w->conf;
    w->metrics = ovop_metrics_new();
    ovop_metrics_process(w->metrics, "webd");
    w->cache_hit = ovop_metrics_counter(w->metrics, "ovop_web_cache_total",
                                        "Verification lookups by cache outcome", "result=\"hit\"");
    w->cache_miss =
        ovop_metrics_counter(w->metrics, "ovop_web_cache_total",
                             "Verification lookups by cache outcome", "result=\"miss\"");
    w->cache_stale =
        ovop_metrics_counter(w->metrics, "ovop_web_cache_total",
                             "Verification lookups by cache outcome", "result=\"stale\"");
    w->rate_limited = ovop_metrics_counter(w->metrics, "ovop_web_rate_limited_total",
                                           "Public requests refused by the rate limit", NULL);
    w->broker_errors = ovop_metrics_counter(w->metrics, "ovop_web_lookup_errors_total",
                                            "Lookups the broker or registry did not answer", NULL);
    w->lookups = ovop_metrics_counter(w->metrics, "ovop_web_lookups_total",
                                      "VerifyCertificate calls made through the broker", NULL);
    w->cache = web_cache_new(c->no_cache ? 0 : (size_t)c->cache_size, c->cache_ttl_s * 1000000,
                             c->cache_miss_ttl_s * 1000000);
    w->ratelimit =
        web_ratelimit_new((size_t)c->rate_table, (double)c->rate_limit, (double)c->rate_burst);
    w->broker_ok = true;
    web_fetch_new(&w->fetch, w);
    int r = web_server_new(&w->server, w);
    if (r < 0) {
        log_error("could not listen on %s for the public pages: %s", c->public_listen,
                  strerror(-r));
        return r;
    }
    if (c->dashboard_listen[0]) {
        r = web_dash_new(&w->dash, w, w->zctx);
        if (r < 0) {
            log_error("could not start the dashboard on %s: %s", c->dashboard_listen, strerror(-r));
            web_server_destroy(&w->server);
            return r;
        }
        log_info("ovop-webd serving the programme dashboard on %s (port %u)", c->dashboard_listen,
                 web_dash_port(w->dash));
    }
    r = ovop_http_new(&a->http, &w->loop, c->http, w->metrics, is_ready, a);
    if (r < 0) {
        log_error("could not listen on %s for http: %s", c->http, strerror(-r));
        web_dash_destroy(&w->dash);
        web_server_destroy(&w->server);
        return r;
    }
    uv_signal_init(&w->loop, &a->sigterm);
    uv_signal_init(&w->loop, &a->sigint);
    uv_timer_init(&w->loop, &a->drain);
    a->sigterm.data = a->sigint.data = a->drain.data = a;
    uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    uv_signal_start(&a->sigint, on_signal, SIGINT);
    log_info("ovop-webd serving verification pages on %s (port %u) for %s, via %s, cache %s, "
             "http on port %u (/metrics /healthz /readyz)",
             c->public_listen, web_server_port(w->server), c->public_base_url, c->broker,
             c->no_cache ? "off" : "on", ovop_http_port(a->http));
    return 0;
}

/* Runs the daemon configured in a->w.conf to its end; returns the exit code. */
static int serve(app_t *a)
{
    web_conf_t *c = &a->w.conf;
    if (ovop_log_setup("webd", c->instance, c->log_format, c->log_level) < 0) {
        fprintf(stderr, "ovop-webd: log-format must be json or text and log-level one of "
                        "debug, info, warn, error\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char *sec_err = NULL;
    if (ovop_security_setup(&a->w.security, c->insecure_plaintext, c->key,
                            c->broker_key ? c->broker_key : "", c->broker, &sec_err) < 0) {
        log_error("refusing to start: %s", sec_err);
        free(sec_err);
        return 2;
    }
    char threads[16];
    snprintf(threads, sizeof(threads), "%lld", (long long)c->lookup_threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1); /* read by libuv at its pool's first use */
    uv_loop_init(&a->w.loop);
    a->w.zctx = zmq_ctx_new();
    int exit_code = 1;
    if (start(a) == 0) {
        uv_run(&a->w.loop, UV_RUN_DEFAULT);
        exit_code = 0;
    }
    uv_run(&a->w.loop, UV_RUN_DEFAULT);
    uv_loop_close(&a->w.loop);
    web_fetch_destroy(&a->w.fetch);
    web_cache_destroy(&a->w.cache);
    web_ratelimit_destroy(&a->w.ratelimit);
    ovop_metrics_destroy(&a->w.metrics);
    ovop_security_clear(&a->w.security);
    zmq_ctx_term(a->w.zctx);
    return exit_code;
}

int main(int argc, char **argv)
{
    static app_t app;
    app_t *a = &app;
    web_conf_t *c = &a->w.conf;
    char hostname[64] = "localhost", default_instance[96];
    gethostname(hostname, sizeof(hostname) - 1);
    snprintf(default_instance, sizeof(default_instance), "%s:%d", hostname, (int)getpid());
    const ovop_opt_t opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0,
         "broker endpoints to connect to, comma-separated", &c->broker},
        {"key", OVOP_OPT_STRING, NULL, 0, 0,
         "secret key file of this service's principal svc-ovop.web (mode 0600)", &c->key},
        {"broker-key", OVOP_OPT_STRING, NULL, 0, 0,
         "the broker's public key: 40 Z85 characters or its .key file", &c->broker_key},
        {"insecure-plaintext", OVOP_OPT_BOOL, "false", 0, 0,
         "no CURVE: for local development, refused unless every broker is on loopback",
         &c->insecure_plaintext},
        {"http", OVOP_OPT_STRING, "127.0.0.1:0", 0, 0,
         "HOST:PORT of /metrics, /healthz, /readyz (port 0: any free port)", &c->http},
        {"log-format", OVOP_OPT_STRING, "json", 0, 0, "json or text", &c->log_format},
        {"log-level", OVOP_OPT_STRING, "info", 0, 0, "debug, info, warn or error", &c->log_level},
        {"instance", OVOP_OPT_STRING, default_instance, 0, 0, "instance name in logs",
         &c->instance},
        {"public-listen", OVOP_OPT_STRING, "127.0.0.1:8080", 0, 0,
         "HOST:PORT of the public pages (/v/CODE, /v/CODE.json, /v/CODE/qr.svg)",
         &c->public_listen},
        {"public-base-url", OVOP_OPT_STRING, "http://127.0.0.1:8080", 0, 0,
         "the public address QR codes encode: BASE/v/CODE", &c->public_base_url},
        {"trusted-proxy", OVOP_OPT_STRING, "", 0, 0,
         "comma-separated addresses of reverse proxies whose X-Forwarded-For is believed",
         &c->trusted_proxy},
        {"cache-ttl", OVOP_OPT_INT, "60", 1, 86400,
         "seconds a found certificate is served from the cache", &c->cache_ttl_s},
        {"cache-miss-ttl", OVOP_OPT_INT, "10", 1, 86400,
         "seconds an unknown code is answered from the cache", &c->cache_miss_ttl_s},
        {"cache-stale", OVOP_OPT_INT, "86400", 0, 31536000,
         "seconds past its fetch an entry may still be served, marked stale, while the "
         "registry cannot be reached (0: never)",
         &c->cache_stale_s},
        {"cache-size", OVOP_OPT_INT, "100000", 1, 10000000, "codes the cache holds at most",
         &c->cache_size},
        {"no-cache", OVOP_OPT_BOOL, "false", 0, 0, "every lookup goes to the registry (benchmarks)",
         &c->no_cache},
        {"rate-limit", OVOP_OPT_INT, "20", 0, 1000000,
         "requests a second one client address may make (0: no limit)", &c->rate_limit},
        {"rate-burst", OVOP_OPT_INT, "40", 1, 1000000, "requests a client may make at once",
         &c->rate_burst},
        {"rate-table", OVOP_OPT_INT, "100000", 1, 10000000,
         "client addresses remembered by the rate limit (the least recent is forgotten)",
         &c->rate_table},
        {"lookup-timeout-ms", OVOP_OPT_INT, "2000", 50, 60000,
         "how long a lookup through the broker may take", &c->lookup_timeout_ms},
        {"lookup-threads", OVOP_OPT_INT, "4", 1, 128, "lookups through the broker at once",
         &c->lookup_threads},
        {"max-connections", OVOP_OPT_INT, "1024", 1, 100000, "public connections at once",
         &c->max_connections},
        {"dashboard-listen", OVOP_OPT_STRING, "", 0, 0,
         "HOST:PORT of the programme dashboard for operators (empty: none); on ONE instance "
         "only (sign-ins live in its memory); never expose it publicly",
         &c->dashboard_listen},
        {"dashboard-base-url", OVOP_OPT_STRING, "", 0, 0,
         "the dashboard's address as browsers see it (its origin is checked on sign-out; "
         "https: Secure cookies); empty: the Host header's, Secure as --public-base-url",
         &c->dashboard_base_url},
        {"dashboard-cache-ttl", OVOP_OPT_INT, "30", 1, 3600,
         "seconds the dashboard's figures are served before they are read again",
         &c->dashboard_cache_ttl_s},
        {"dashboard-code-ttl", OVOP_OPT_INT, "300", 30, 3600,
         "seconds a sign-in code may be approved (ovopctl web approve), once",
         &c->dashboard_code_ttl_s},
        {"dashboard-idle", OVOP_OPT_INT, "1800", 60, 86400,
         "seconds without a request after which a dashboard session ends", &c->dashboard_idle_s},
        {"dashboard-session-max", OVOP_OPT_INT, "28800", 300, 604800,
         "seconds after approval at which a dashboard session ends in any case",
         &c->dashboard_session_max_s},
        {"dashboard-sessions", OVOP_OPT_INT, "1024", 16, 100000,
         "dashboard sessions and pending sign-ins held (the least recent is forgotten)",
         &c->dashboard_sessions},
        {"heartbeat-ms", OVOP_OPT_INT, "1000", 100, 60000,
         "MDP heartbeat of the ovop.web worker (the broker's must match)", &c->heartbeat_ms},
    };
    ovop_config_t cfg = {"ovop-webd",           "public brand verification pages (and dashboard)",
                         "[options]",           opts,
                         OVOP_ARRAY_SIZE(opts), false};
    char *err = NULL;
    int r = ovop_config_parse(&cfg, argc, argv, NULL, &err);
    if (r != 0) {
        if (r < 0)
            fprintf(stderr, "ovop-webd: %s\n", err);
        free(err);
        ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
        return r == 1 ? 0 : 2;
    }
    int exit_code = serve(a);
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return exit_code;
}
