/* ovop-webd: the public brand verification pages (and later the programme dashboard). A
 * client of the broker with its own principal, not an MDP worker: it answers HTTP on the
 * daemon's libuv loop (libmicrohttpd in external-epoll mode, as common/http.c) and asks
 * ovop.registry VerifyCertificate through a synchronous broker client on the loop's thread
 * pool, one client per pool thread. Answers are cached (cache.h) and concurrent misses for
 * one code share one broker call (fetch.c); clients are rate-limited per address
 * (ratelimit.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cache.h"
#include "keys.h"
#include "lang.h"
#include "metrics.h"
#include "ratelimit.h"
#include "util.h"
#include "vcode.h"

typedef struct web_conf {
    char *broker, *key, *broker_key, *http, *log_format, *log_level, *instance;
    char *public_listen, *public_base_url, *trusted_proxy;
    bool insecure_plaintext, no_cache;
    int64_t cache_ttl_s, cache_miss_ttl_s, cache_stale_s, cache_size, rate_limit, rate_burst,
        rate_table;
    int64_t lookup_timeout_ms, lookup_threads, max_connections;
    /* The programme dashboard (dash.h). */
    char *dashboard_listen, *dashboard_base_url;
    int64_t dashboard_cache_ttl_s, dashboard_code_ttl_s, dashboard_idle_s, dashboard_session_max_s,
        dashboard_sessions, heartbeat_ms;
} web_conf_t;

typedef struct web_fetch web_fetch_t;
typedef struct web_server web_server_t;
typedef struct web_dash web_dash_t;

typedef struct web {
    web_conf_t conf;
    uv_loop_t loop;
    ovop_security_t security;
    ovop_metrics_t *metrics;
    web_cache_t *cache;
    web_ratelimit_t *ratelimit;
    web_fetch_t *fetch;
    web_server_t *server;
    web_dash_t *dash; /* NULL when --dashboard-listen is empty */
    void *zctx;       /* for the ovop.web worker */
    ovop_metric_t *cache_hit, *cache_miss, *cache_stale, *rate_limited, *broker_errors;
    ovop_metric_t *lookups; /* broker calls made: misses sharing one call count once */
    bool broker_ok;         /* the last broker call got an answer */
} web_t;

/* The outcome of a lookup. */
typedef enum web_result {
    WEB_FOUND,
    WEB_NOT_FOUND,
    WEB_UNAVAILABLE, /* the broker or the registry did not answer, no stale entry */
} web_result_t;

typedef struct web_answer {
    web_result_t result;
    bool stale; /* served from an expired cache entry because the broker failed */
    void *body; /* packed VerifiedCertificate when found (malloc'd, the receiver frees) */
    size_t len;
    char *json; /* its JSON page when rendered already (malloc'd, the receiver frees), or NULL */
} web_answer_t;

typedef void (*web_fetch_fn)(void *userdata, web_answer_t *answer);

int web_fetch_new(web_fetch_t **ret, web_t *w);
/* Stops taking lookups and waits for none: the pool finishes what it runs. */
void web_fetch_destroy(web_fetch_t **f);
/* Answers code (canonical): at once from a fresh cache entry (returns true, *now filled),
 * else later through cb (returns false). */
bool web_fetch(web_fetch_t *f, const char *code, web_answer_t *now, web_fetch_fn cb,
               void *userdata);

int web_server_new(web_server_t **ret, web_t *w);
uint16_t web_server_port(const web_server_t *s);
size_t web_server_waiting(const web_server_t *s);
void web_server_destroy(web_server_t **s);

/* Rendering (render.c): bodies of the public pages into out. */
typedef struct Ovop__V1__VerifiedCertificate Ovop__V1__VerifiedCertificate;
void web_render_page(ovop_buf_t *out, web_lang_t l, const Ovop__V1__VerifiedCertificate *c,
                     bool stale, const char *path);
/* what: "notfound", "malformed", "unavailable", "too_many". */
void web_render_message(ovop_buf_t *out, web_lang_t l, const char *what, const char *path);
void web_render_json(ovop_buf_t *out, const Ovop__V1__VerifiedCertificate *c, bool stale,
                     const char *url);
/* The URL a QR code encodes for code: {base}/v/{code}. */
char *web_public_url(const web_t *w, const char *code);
/* An SVG of url as a QR code; returns 0 or -errno. */
int web_qr_svg(ovop_buf_t *out, const char *url);
/* HTML-escapes s (& < > " ') into out. */
void web_html_escape(ovop_buf_t *out, const char *s);
/* One value of a template. */
typedef struct web_var {
    const char *name, *value;
} web_var_t;
/* Fills template tpl: {{name}} is the value of vars named name HTML-escaped, {{{name}}} as it
 * is (HTML built by the caller), {{t:key}} the text key in l (lang.c), escaped. An unknown
 * name is left empty. */
void web_template(ovop_buf_t *out, const char *tpl, web_lang_t l, const web_var_t *vars, size_t n);
