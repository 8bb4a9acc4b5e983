/* The public HTTP server: a route table, security headers on every answer, GET and HEAD
 * only, rate limiting per client address, and requests that wait for a lookup suspended
 * (libmicrohttpd's suspend/resume) so the loop never blocks. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ovop/v1/registry.pb-c.h"
#include "http.h"
#include "web.h"

extern const char web_static_verify_css[];

typedef enum route_kind { ROUTE_PAGE, ROUTE_JSON, ROUTE_QR } route_kind_t;

/* One request's state between its calls of the access handler. */
typedef struct req {
    web_server_t *s;
    struct MHD_Connection *conn;
    const char *route; /* metric label */
    route_kind_t kind;
    web_lang_t lang;
    char code[OVOP_VCODE_LEN + 1];
    char *path;
    int64_t start_us;
    bool started, waiting, answered;
    web_answer_t answer;
} req_t;

struct web_server {
    web_t *w;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    uint16_t port;
    int closing;
    ovop_metric_t *latency;
    size_t suspended;
};

typedef enum MHD_Result (*route_fn)(req_t *r, const char *rest);

static void reschedule(web_server_t *s);

static void count(req_t *r, unsigned status)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"", r->route, status);
    ovop_metric_inc(ovop_metrics_counter(r->s->w->metrics, "ovop_web_requests_total",
                                         "Public requests answered, by route and status", labels));
    ovop_metric_observe(r->s->latency, (double)(ovop_mono_us() - r->start_us) / 1e6);
}

static enum MHD_Result respond(req_t *r, unsigned status, const char *type, const void *body,
                               size_t len, const char *cache_control, unsigned retry_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", cache_control);
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self'; style-src 'self'; "
                            "script-src 'none'; object-src 'none'; base-uri 'none'; "
                            "frame-ancestors 'none'; form-action 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Vary", "Accept, Accept-Language");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%u", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result res = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    count(r, status);
    r->answered = true;
    return res;
}

static const char *html = "text/html; charset=utf-8";
static const char *json_type = "application/json; charset=utf-8";

/* A localized message page, or its JSON form {"error": REASON}. */
static enum MHD_Result message(req_t *r, unsigned status, const char *what, const char *reason,
                               unsigned retry_after)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    if (r->kind == ROUTE_PAGE) {
        web_render_message(&b, r->lang, what, r->path);
    } else {
        ovop_buf_printf(&b, "{\"error\":\"%s\",\"message\":\"", reason);
        ovop_buf_puts(&b,
                      web_text(WEB_LANG_EN, strcmp(what, "notfound") == 0    ? "notfound_title"
                                            : strcmp(what, "malformed") == 0 ? "malformed_text"
                                                                             : "unavailable_text"));
        ovop_buf_puts(&b, "\"}\n");
    }
    enum MHD_Result res = respond(r, status, r->kind == ROUTE_PAGE ? html : json_type,
                                  b.data ? b.data : "", b.len, "no-store", retry_after);
    ovop_buf_free(&b);
    return res;
}

/* The answer to a lookup, in the form the route asks for. */
static enum MHD_Result answer(req_t *r)
{
    web_answer_t *a = &r->answer;
    if (a->result == WEB_UNAVAILABLE)
        return message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "UNAVAILABLE", 5);
    if (a->result == WEB_NOT_FOUND)
        return message(r, MHD_HTTP_NOT_FOUND, "notfound", "NOT_FOUND", 0);
    if (r->kind == ROUTE_JSON && a->json && !a->stale)
        return respond(r, MHD_HTTP_OK, json_type, a->json, strlen(a->json), "public, max-age=60",
                       0);
    Ovop__V1__VerifiedCertificate *c =
        ovop__v1__verified_certificate__unpack(NULL, a->len, a->body);
    if (!c)
        return message(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable", "UNAVAILABLE", 5);
    ovop_buf_t b;
    ovop_buf_init(&b);
    char *url = web_public_url(r->s->w, r->code);
    const char *type = html;
    if (r->kind == ROUTE_PAGE) {
        web_render_page(&b, r->lang, c, a->stale, r->path);
    } else if (r->kind == ROUTE_JSON) {
        web_render_json(&b, c, a->stale, url);
        type = json_type;
    } else {
        web_qr_svg(&b, url);
        type = "image/svg+xml";
    }
    enum MHD_Result res = respond(r, MHD_HTTP_OK, type, b.data ? b.data : "", b.len,
                                  a->stale ? "no-store" : "public, max-age=60", 0);
    free(url);
    ovop_buf_free(&b);
    ovop__v1__verified_certificate__free_unpacked(c, NULL);
    return res;
}

static void run(web_server_t *s);

static void on_answer(void *userdata, web_answer_t *a)
{
    req_t *r = userdata;
    r->answer = *a;
    r->waiting = false;
    r->s->suspended--;
    MHD_resume_connection(r->conn);
    run(r->s);
}

static bool wants_json(struct MHD_Connection *conn)
{
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    return accept && strstr(accept, "application/json") && !strstr(accept, "text/html");
}

/* /v/{code}, /v/{code}.json, /v/{code}/qr.svg. */
static enum MHD_Result route_verify(req_t *r, const char *rest)
{
    char raw[80];
    size_t n = strcspn(rest, "/.");
    const char *tail = rest + n;
    r->kind = strcmp(tail, ".json") == 0     ? ROUTE_JSON
              : strcmp(tail, "/qr.svg") == 0 ? ROUTE_QR
                                             : ROUTE_PAGE;
    if (r->kind == ROUTE_PAGE && wants_json(r->conn))
        r->kind = ROUTE_JSON;
    r->route = r->kind == ROUTE_JSON ? "verify_json" : r->kind == ROUTE_QR ? "verify_qr" : "verify";
    if (tail[0] && r->kind == ROUTE_PAGE)
        return message(r, MHD_HTTP_NOT_FOUND, "malformed", "MALFORMED_CODE", 0);
    snprintf(raw, sizeof(raw), "%.*s", (int)(n < 79 ? n : 79), rest);
    /* A mistyped code is answered here, without a lookup. */
    if (n > 64 || ovop_vcode_parse(raw, r->code) != OVOP_VCODE_OK)
        return message(r, MHD_HTTP_NOT_FOUND, "malformed", "MALFORMED_CODE", 0);
    if (web_fetch(r->s->w->fetch, r->code, &r->answer, on_answer, r))
        return answer(r);
    r->waiting = true;
    r->s->suspended++;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

/* A GS1 check digit: the last of the 14 digits (GS1 General Specifications 7.9.1). */
static bool gtin_valid(const char *g)
{
    int sum = 0;
    for (int i = 0; i < 13; i++) {
        if (g[i] < '0' || g[i] > '9')
            return false;
        sum += (g[i] - '0') * (i % 2 == 0 ? 3 : 1);
    }
    return g[13] >= '0' && g[13] <= '9' && (10 - sum % 10) % 10 == g[13] - '0';
}

/* GS1 Digital Link form, for packaging whose QR code carries the product's GTIN:
 * /01/{GTIN-14}/21/{code} answers as /v/{code} (the code is the serial number, AI 21). The
 * registry holds no GTIN, so the codes ovop-webd prints are {base}/v/{code}. */
static enum MHD_Result route_gs1(req_t *r, const char *rest)
{
    r->route = "verify_gs1";
    if (strlen(rest) < 18 || !gtin_valid(rest) || strncmp(rest + 14, "/21/", 4) != 0)
        return message(r, MHD_HTTP_NOT_FOUND, "malformed", "MALFORMED_CODE", 0);
    return route_verify(r, rest + 18);
}

static enum MHD_Result route_css(req_t *r, const char *rest)
{
    r->route = "static";
    return respond(r, MHD_HTTP_OK, "text/css; charset=utf-8", web_static_verify_css,
                   strlen(web_static_verify_css), "public, max-age=86400", 0);
}

static const struct {
    const char *prefix;
    bool exact;
    route_fn fn;
} routes[] = {
    {"/v/", false, route_verify},
    {"/01/", false, route_gs1},
    {"/static/verify.css", true, route_css},
};

/* The client's address: the peer's, or with a trusted proxy in front the last address of
 * X-Forwarded-For that proxy appended. */
static void client_addr(web_server_t *s, struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, size, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
    const char *trusted = s->w->conf.trusted_proxy;
    if (!trusted || !trusted[0])
        return;
    bool is_trusted = false;
    for (const char *p = trusted; *p;) {
        size_t n = strcspn(p, ",");
        if (n == strlen(out) && strncmp(p, out, n) == 0)
            is_trusted = true;
        p += n + (p[n] == ',');
    }
    const char *xff = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-For");
    if (!is_trusted || !xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(last, " "), last);
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) == 1 || inet_pton(AF_INET6, buf, &a6) == 1)
        snprintf(out, size, "%s", buf);
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

static enum MHD_Result first_call(web_server_t *s, req_t *r, const char *url, const char *method)
{
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return message(r, MHD_HTTP_METHOD_NOT_ALLOWED, "malformed", "METHOD_NOT_ALLOWED", 0);
    char addr[64];
    unsigned retry = 0;
    client_addr(s, r->conn, addr, sizeof(addr));
    if (!web_ratelimit_take(s->w->ratelimit, addr, ovop_mono_us(), &retry)) {
        ovop_metric_inc(s->w->rate_limited);
        return message(r, MHD_HTTP_TOO_MANY_REQUESTS, "too_many", "RATE_LIMITED", retry);
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        size_t n = strlen(routes[i].prefix);
        if (routes[i].exact ? strcmp(url, routes[i].prefix) == 0
                            : strncmp(url, routes[i].prefix, n) == 0)
            return routes[i].fn(r, url + n);
    }
    return message(r, MHD_HTTP_NOT_FOUND, "notfound", "NOT_FOUND", 0);
}

/* libmicrohttpd calls this first with the headers (a response queued then makes it close
 * the connection, since a body might follow), then once the request is complete, and again
 * after a suspended request is resumed. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    web_server_t *s = cls;
    req_t *r = *con_cls;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->s = s;
        r->conn = conn;
        r->route = "other";
        r->start_us = ovop_mono_us();
        r->path = xstrdup(url);
        r->lang = request_lang(conn);
        *con_cls = r;
        /* Other methods are refused at once, their bodies unread. */
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return first_call(s, r, url, method);
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered || r->waiting)
        return MHD_YES;
    if (!r->started) {
        r->started = true;
        return first_call(s, r, url, method);
    }
    return answer(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_t *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    free(r->answer.body);
    free(r->answer.json);
    free(r->path);
    free(r);
}

static void run(web_server_t *s)
{
    if (s->closing)
        return;
    MHD_run(s->mhd);
    reschedule(s);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void reschedule(web_server_t *s)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&s->timer);
}

int web_server_new(web_server_t **ret, web_t *w)
{
    struct sockaddr_in sa;
    int r = ovop_http_parse_listen(w->conf.public_listen, &sa);
    if (r < 0)
        return r;
    web_server_t *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->latency = ovop_metrics_histogram(w->metrics, "ovop_web_request_duration_seconds",
                                        "Time to answer a public request", NULL,
                                        ovop_latency_buckets, ovop_latency_buckets_n);
    s->mhd =
        MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, s,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)w->conf.max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)30, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
    if (!s->mhd) {
        free(s);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!ep || !pi) {
        MHD_stop_daemon(s->mhd);
        free(s);
        return -EIO;
    }
    s->port = pi->port;
    uv_poll_init(&w->loop, &s->poll, ep->epoll_fd);
    uv_timer_init(&w->loop, &s->timer);
    s->poll.data = s->timer.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    reschedule(s);
    *ret = s;
    return 0;
}

uint16_t web_server_port(const web_server_t *s)
{
    return s->port;
}

/* Requests still waiting for a lookup: the daemon stops the server only when none is. */
size_t web_server_waiting(const web_server_t *s)
{
    return s->suspended;
}

static void on_closed(uv_handle_t *handle)
{
    web_server_t *s = handle->data;
    if (--s->closing == 0)
        free(s);
}

void web_server_destroy(web_server_t **sp)
{
    web_server_t *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    uv_poll_stop(&s->poll);
    MHD_stop_daemon(s->mhd);
    s->closing = 2;
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
