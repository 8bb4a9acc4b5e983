/* The dashboard's listener and the ovop.web worker (see dash.h). Routes: GET / (the
 * dashboard, signed in only: else 303 to /signin), GET /signin (a code to approve; it
 * refreshes itself every 3 s with <meta refresh> and goes to / once approved), POST /signout
 * (same origin only), GET /static/dash.css. GET and HEAD only otherwise. The data is fetched
 * once per --dashboard-cache-ttl on the thread pool; a stale copy is served while it is
 * refreshed, and only the first request after a start waits for it. */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dash.h"
#include "dispatch.h"
#include "log.h"
#include "ovop/v1/web.pb-c.h"
#include "permissions.h"
#include "http.h"
#include "web.h"
#include "worker.h"

extern const char web_static_dash_css[];

#define COOKIE "ovop_dash"

typedef struct dreq {
    web_dash_t *d;
    struct MHD_Connection *conn;
    const char *route;
    web_lang_t lang;
    char principal[128];
    bool started, waiting, answered;
    struct dreq *next_waiting;
} dreq_t;

struct web_dash {
    web_t *w;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    uint16_t port;
    int closing;
    bool secure;
    char origin[256]; /* from --dashboard-base-url, or "" (then the Host header's) */
    web_sessions_t *sessions;
    ovop_worker_t *worker;
    ovop_dispatch_t *dispatch;
    /* The data: the last fetched, and a refresh in flight with the requests waiting. */
    dash_data_t *data;
    int64_t data_mono_us;
    uv_work_t work;
    bool refreshing;
    dash_data_t *fetched;
    char *fetch_error;
    dreq_t *waiting;
    size_t suspended;
    ovop_metric_t *signins, *approvals, *refused;
};

static void run(web_dash_t *d);

static enum MHD_Result respond(dreq_t *r, unsigned status, const char *type, const char *body,
                               const char *location, const char *cookie)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self'; style-src 'self'; "
                            "script-src 'none'; object-src 'none'; base-uri 'none'; "
                            "frame-ancestors 'none'; form-action 'self'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Vary", "Cookie, Accept-Language");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD, POST");
    if (location)
        MHD_add_response_header(resp, "Location", location);
    if (cookie)
        MHD_add_response_header(resp, "Set-Cookie", cookie);
    enum MHD_Result res = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    char labels[96];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"", r->route, status);
    ovop_metric_inc(ovop_metrics_counter(r->d->w->metrics, "ovop_web_dashboard_requests_total",
                                         "Dashboard requests answered, by route and status",
                                         labels));
    r->answered = true;
    return res;
}

static enum MHD_Result plain(dreq_t *r, unsigned status, const char *reason)
{
    char body[160];
    snprintf(body, sizeof(body), "%s\n", reason);
    return respond(r, status, "text/plain; charset=utf-8", body, NULL, NULL);
}

static enum MHD_Result redirect(dreq_t *r, const char *to, const char *cookie)
{
    return respond(r, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "", to, cookie);
}

static char *cookie_header(const web_dash_t *d, const char *id, int64_t max_age_s)
{
    return xasprintf(COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", id,
                     (long long)max_age_s, d->secure ? "; Secure" : "");
}

static const char *cookie_of(dreq_t *r)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE);
}

static enum MHD_Result page(dreq_t *r)
{
    web_dash_t *d = r->d;
    if (!d->data) {
        ovop_buf_t b;
        ovop_buf_init(&b);
        ovop_buf_printf(&b,
                        "<!doctype html><html><head><meta charset=\"utf-8\">"
                        "<meta http-equiv=\"refresh\" content=\"5\"><title>503</title></head>"
                        "<body><p>%s</p></body></html>",
                        web_text(r->lang, "dash_unavailable"));
        enum MHD_Result res = respond(r, MHD_HTTP_SERVICE_UNAVAILABLE, "text/html; charset=utf-8",
                                      b.data, NULL, NULL);
        ovop_buf_free(&b);
        return res;
    }
    ovop_buf_t b;
    ovop_buf_init(&b);
    dash_render(&b, r->lang, d->data, r->principal);
    ovop_buf_puts(&b, "");
    enum MHD_Result res = respond(r, MHD_HTTP_OK, "text/html; charset=utf-8", b.data, NULL, NULL);
    ovop_buf_free(&b);
    return res;
}

/* On a pool thread. */
static void refresh_work(uv_work_t *req)
{
    web_dash_t *d = req->data;
    dash_data_fetch(d->w, &d->fetched, &d->fetch_error);
}

static void free_dash(web_dash_t *d)
{
    dash_data_free(&d->data);
    dash_data_free(&d->fetched);
    free(d->fetch_error);
    web_sessions_destroy(&d->sessions);
    free(d);
}

static void refresh_done(uv_work_t *req, int status)
{
    web_dash_t *d = req->data;
    d->refreshing = false;
    if (d->closing) { /* destroyed while the fetch ran (a drain past its deadline) */
        if (--d->closing == 0)
            free_dash(d);
        return;
    }
    if (d->fetched) {
        dash_data_free(&d->data);
        d->data = d->fetched;
        d->fetched = NULL;
        d->data_mono_us = ovop_mono_us();
        d->w->broker_ok = true;
    } else {
        ovop_metric_inc(d->w->broker_errors);
        log_warn("the dashboard's data could not be read: %s",
                 d->fetch_error ? d->fetch_error : "?");
    }
    free(d->fetch_error);
    d->fetch_error = NULL;
    for (dreq_t *r = d->waiting, *n; r; r = n) {
        n = r->next_waiting;
        r->waiting = false;
        d->suspended--;
        MHD_resume_connection(r->conn);
    }
    d->waiting = NULL;
    run(d);
}

static void refresh(web_dash_t *d)
{
    if (d->refreshing || d->closing)
        return;
    d->refreshing = true;
    d->work.data = d;
    uv_queue_work(&d->w->loop, &d->work, refresh_work, refresh_done);
}

static enum MHD_Result route_dashboard(dreq_t *r)
{
    web_dash_t *d = r->d;
    r->route = "dashboard";
    web_session_info_t s = web_session_get(d->sessions, cookie_of(r), ovop_mono_us());
    if (s.state != WEB_SESSION_ACTIVE)
        return redirect(r, "/signin", NULL);
    snprintf(r->principal, sizeof(r->principal), "%s", s.principal);
    bool fresh =
        d->data && ovop_mono_us() - d->data_mono_us < d->w->conf.dashboard_cache_ttl_s * 1000000;
    if (!fresh)
        refresh(d);
    if (d->data || !d->refreshing)
        return page(r);
    r->waiting = true;
    r->next_waiting = d->waiting;
    d->waiting = r;
    d->suspended++;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

static enum MHD_Result route_signin(dreq_t *r)
{
    web_dash_t *d = r->d;
    r->route = "signin";
    int64_t now = ovop_mono_us();
    web_session_info_t s = web_session_get(d->sessions, cookie_of(r), now);
    if (s.state == WEB_SESSION_ACTIVE)
        return redirect(r, "/", NULL);
    char *cookie = NULL;
    char id[WEB_SESSION_ID_LEN + 1], code[WEB_SIGNIN_CODE_LEN + 1];
    if (s.state == WEB_SESSION_PENDING) {
        memcpy(code, s.code, sizeof(code));
    } else {
        web_signin_start(d->sessions, now, id, code);
        cookie = cookie_header(d, id, d->w->conf.dashboard_session_max_s);
        ovop_metric_inc(d->signins);
        s.expires_us = now + d->w->conf.dashboard_code_ttl_s * 1000000;
    }
    ovop_buf_t b;
    ovop_buf_init(&b);
    dash_render_signin(&b, r->lang, code, (s.expires_us - now + 999999) / 1000000);
    ovop_buf_puts(&b, "");
    enum MHD_Result res = respond(r, MHD_HTTP_OK, "text/html; charset=utf-8", b.data, NULL, cookie);
    ovop_buf_free(&b);
    free(cookie);
    return res;
}

/* A cross-site form cannot sign anyone out: the browser says where the form came from. */
static bool same_origin(dreq_t *r)
{
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin) {
        const char *site = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
        return site && strcmp(site, "same-origin") == 0;
    }
    if (r->d->origin[0])
        return strcmp(origin, r->d->origin) == 0;
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    if (!host)
        return false;
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    return rest && strcmp(rest, host) == 0;
}

static enum MHD_Result route_signout(dreq_t *r)
{
    r->route = "signout";
    if (!same_origin(r))
        return plain(r, MHD_HTTP_FORBIDDEN, "CROSS_ORIGIN: sign-out must come from the dashboard");
    web_session_end(r->d->sessions, cookie_of(r));
    char *cookie = cookie_header(r->d, "", 0);
    enum MHD_Result res = redirect(r, "/signin", cookie);
    free(cookie);
    return res;
}

static web_lang_t request_lang(struct MHD_Connection *conn)
{
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "lang");
    int l = q ? web_lang_from_tag(q) : -1;
    if (l >= 0)
        return (web_lang_t)l;
    return web_lang_negotiate(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Language"));
}

static enum MHD_Result route(dreq_t *r, const char *url, const char *method)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/signout") == 0 && strcmp(method, "POST") == 0)
        return route_signout(r);
    if (!get)
        return plain(r, MHD_HTTP_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    if (strcmp(url, "/") == 0)
        return route_dashboard(r);
    if (strcmp(url, "/signin") == 0)
        return route_signin(r);
    if (strcmp(url, "/static/dash.css") == 0) {
        r->route = "static";
        return respond(r, MHD_HTTP_OK, "text/css; charset=utf-8", web_static_dash_css, NULL, NULL);
    }
    return plain(r, MHD_HTTP_NOT_FOUND, "NOT_FOUND");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    web_dash_t *d = cls;
    dreq_t *r = *con_cls;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->d = d;
        r->conn = conn;
        r->route = "other";
        r->lang = request_lang(conn);
        *con_cls = r;
        bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (!get && !(strcmp(method, "POST") == 0 && strcmp(url, "/signout") == 0))
            return route(r, url, method); /* refused at once, the body unread */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* sign-out's form body says nothing */
        return MHD_YES;
    }
    if (r->answered || r->waiting)
        return MHD_YES;
    if (!r->started) {
        r->started = true;
        return route(r, url, method);
    }
    return page(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

/* --- ovop.web: ApproveSignIn, from an operator's ovopctl through the broker --- */

static void approve_sign_in(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    web_dash_t *d = userdata;
    const Ovop__V1__ApproveSignInRequest *in = (const Ovop__V1__ApproveSignInRequest *)input;
    char code[WEB_SIGNIN_CODE_LEN + 1];
    if (!web_signin_code_parse(in->code, code)) {
        ovop_metric_inc(d->refused);
        ovop_call_fail_reason(call, OVOP_INVALID_ARGUMENT, "MALFORMED_SIGNIN_CODE",
                              "code must be the 8 letters and digits the sign-in page shows "
                              "(XXXX-XXXX); got %zu characters",
                              strlen(in->code));
        return;
    }
    const char *who = ovop_call_principal(call)->id;
    int64_t lifetime = 0;
    if (web_signin_approve(d->sessions, code, who, ovop_mono_us(), &lifetime) < 0) {
        ovop_metric_inc(d->refused);
        ovop_call_fail_reason(call, OVOP_NOT_FOUND, "SIGNIN_CODE_UNKNOWN",
                              "no sign-in waits for code %s: mistyped, expired (a code lives "
                              "%lld s) or used already; reload the sign-in page for a new one",
                              code, (long long)d->w->conf.dashboard_code_ttl_s);
        return;
    }
    ovop_metric_inc(d->approvals);
    log_info("dashboard sign-in approved for %s", who);
    Ovop__V1__ApproveSignInResponse *out = (Ovop__V1__ApproveSignInResponse *)ovop_call_message(
        call, &ovop__v1__approve_sign_in_response__descriptor);
    out->principal_id = ovop_call_strdup(call, who);
    out->expires_at_us = ovop_now_us() + lifetime;
    ovop_call_finish(call, &out->base);
}

static const ovop_method_t methods[] = {
    {"ApproveSignIn", approve_sign_in},
};

static void on_reply(void *userdata, void *reply, size_t len)
{
    ovop_request_t *req = userdata;
    ovop_request_reply(&req, reply, len);
    free(reply);
}

static void on_worker_request(ovop_worker_t *wk, ovop_request_t *req, const void *body, size_t len,
                              const void *principal, size_t principal_len, void *userdata)
{
    web_dash_t *d = userdata;
    ovop_dispatch_handle(d->dispatch, body, len, principal, principal_len, on_reply, req);
}

static int start_worker(web_dash_t *d, void *zctx)
{
    const web_conf_t *c = &d->w->conf;
    d->dispatch = ovop_dispatch_new(&ovop__v1__web__descriptor, "ovop.web", 65536, d->w->metrics);
    OVOP_DECLARE_METHODS(d->dispatch, methods, d);
    ovop_dispatch_permit(d->dispatch, ovop_permissions_tsv);
    const char *why = NULL;
    int r = ovop_dispatch_verify(d->dispatch, &why);
    if (r < 0) {
        log_error("ovop.web: %s", why);
        return r;
    }
    char meta[160];
    snprintf(meta, sizeof(meta), "instance=%s", c->instance);
    ovop_worker_options_t wo = {.brokers = c->broker,
                                .service = "ovop.web",
                                .credit = 8,
                                .heartbeat_ms = (uint32_t)c->heartbeat_ms,
                                .liveness = 3,
                                .max_msg = 65536,
                                .security = &d->w->security,
                                .ready_meta = meta};
    return ovop_worker_new(&d->worker, &d->w->loop, zctx, &wo, d->w->metrics, on_worker_request, d);
}

/* --- the listener on the daemon's loop, as server.c --- */

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run(p->data);
}

static void run(web_dash_t *d)
{
    if (d->closing || !d->mhd)
        return;
    MHD_run(d->mhd);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(d->mhd, &ms) == MHD_YES)
        uv_timer_start(&d->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&d->timer);
}

/* The origin (scheme://host[:port]) of a base URL, for the sign-out check. */
static void base_origin(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/") : 0;
    snprintf(out, size, "%.*s", (int)n, url);
}

static int start_http(web_dash_t *d)
{
    struct sockaddr_in sa;
    int r = ovop_http_parse_listen(d->w->conf.dashboard_listen, &sa);
    if (r < 0)
        return r;
    d->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, d,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, d, MHD_OPTION_END);
    if (!d->mhd)
        return -EADDRINUSE;
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(d->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!ep || !pi) {
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
        return -EIO;
    }
    d->port = pi->port;
    uv_poll_init(&d->w->loop, &d->poll, ep->epoll_fd);
    uv_timer_init(&d->w->loop, &d->timer);
    d->poll.data = d->timer.data = d;
    uv_poll_start(&d->poll, UV_READABLE, on_poll);
    run(d);
    return 0;
}

int web_dash_new(web_dash_t **ret, web_t *w, void *zctx)
{
    const web_conf_t *c = &w->conf;
    web_dash_t *d = xcalloc(1, sizeof(*d));
    d->w = w;
    const char *base = c->dashboard_base_url[0] ? c->dashboard_base_url : c->public_base_url;
    d->secure = strncmp(base, "https://", 8) == 0;
    if (c->dashboard_base_url[0])
        base_origin(c->dashboard_base_url, d->origin, sizeof(d->origin));
    d->sessions =
        web_sessions_new((size_t)c->dashboard_sessions, c->dashboard_code_ttl_s * 1000000,
                         c->dashboard_idle_s * 1000000, c->dashboard_session_max_s * 1000000);
    d->signins = ovop_metrics_counter(w->metrics, "ovop_web_dashboard_signins_total",
                                      "Dashboard sign-ins by outcome", "result=\"started\"");
    d->approvals = ovop_metrics_counter(w->metrics, "ovop_web_dashboard_signins_total",
                                        "Dashboard sign-ins by outcome", "result=\"approved\"");
    d->refused = ovop_metrics_counter(w->metrics, "ovop_web_dashboard_signins_total",
                                      "Dashboard sign-ins by outcome", "result=\"refused\"");
    int r = start_http(d);
    if (r == 0)
        r = start_worker(d, zctx);
    if (r < 0) {
        web_dash_destroy(&d);
        return r;
    }
    *ret = d;
    return 0;
}

uint16_t web_dash_port(const web_dash_t *d)
{
    return d->port;
}

void web_dash_drain(web_dash_t *d)
{
    if (d && d->worker)
        ovop_worker_drain(d->worker);
}

size_t web_dash_waiting(const web_dash_t *d)
{
    return d ? d->suspended + (d->refreshing ? 1 : 0) : 0;
}

static void on_closed(uv_handle_t *handle)
{
    web_dash_t *d = handle->data;
    if (--d->closing == 0)
        free_dash(d);
}

void web_dash_destroy(web_dash_t **dp)
{
    web_dash_t *d = *dp;
    if (!d)
        return;
    *dp = NULL;
    ovop_worker_destroy(&d->worker);
    ovop_dispatch_destroy(&d->dispatch);
    if (!d->mhd) {
        free_dash(d);
        return;
    }
    /* libmicrohttpd stops only with no connection suspended: those still waiting for the
     * first fetch (a drain past its deadline) are resumed and dropped. */
    for (dreq_t *r = d->waiting; r; r = r->next_waiting)
        MHD_resume_connection(r->conn);
    d->waiting = NULL;
    uv_poll_stop(&d->poll);
    MHD_stop_daemon(d->mhd);
    d->mhd = NULL;
    d->closing = 2 + d->refreshing; /* the fetch in flight frees it if it ends last */
    uv_close((uv_handle_t *)&d->poll, on_closed);
    uv_close((uv_handle_t *)&d->timer, on_closed);
}
