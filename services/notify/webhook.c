/* Webhook POSTs on the libuv loop: one CURLM whose sockets are watched by uv_poll_t handles
 * and whose timeout is a uv_timer_t (curl_multi_socket_action). Connections stay in the
 * multi handle's cache between requests (keep-alive). Every socket curl opens passes
 * CURLOPT_OPENSOCKETFUNCTION, which refuses non-public addresses not in the allow list, so
 * a name that resolved to a public address at creation and to a private one now (DNS
 * rebinding) is refused at connect. No proxy from the environment (it would hide the target
 * address from that check), no redirects, http and https only. */
#include "webhook.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "addr.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_HOST_CONNS 16
#define RESPONSE_BODY_MAX  (1 << 20) /* a longer answer is cut (it would only be discarded) */
#define RETRY_AFTER_MAX_S  (365L * 86400L)
#define ERROR_NOT_ALLOWED  "ADDRESS_NOT_ALLOWED"
#define ERROR_DESTROYED    "WEBHOOK_CLIENT_DESTROYED"

typedef struct req req_t;
typedef struct sock sock_t;

struct notify_webhook {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    long timeout_ms;
    notify_allow_t allow;
    req_t *reqs;      /* in flight, doubly linked */
    sock_t *socks;    /* watched sockets, doubly linked */
    unsigned closing; /* uv handles whose close callback is pending */
    bool destroyed;
    /* Requests by result; the latency histogram (ovop_notify_webhook_seconds) is the
     * caller's, which sees every attempt with its subscription. */
    ovop_metric_t *ok, *client_err, *server_err, *failed, *refused;
};

struct req {
    notify_webhook_t *w;
    req_t *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    notify_webhook_cb cb;
    void *userdata;
    int64_t start_us;
    long retry_after_s;
    size_t response_len;
    bool refused;
    char err[CURL_ERROR_SIZE];
};

struct sock {
    uv_poll_t poll;
    notify_webhook_t *w;
    sock_t *prev, *next;
    curl_socket_t fd;
};

static void maybe_free(notify_webhook_t *w)
{
    if (w->destroyed && w->closing == 0) {
        notify_allow_free(&w->allow);
        free(w);
    }
}

/* The timer's data is w; a poll handle's is its sock_t (poll is its first member). */
static void on_handle_closed(uv_handle_t *h)
{
    notify_webhook_t *w;
    if (h->type == UV_POLL) {
        sock_t *s = h->data;
        w = s->w;
        free(s);
    } else {
        w = h->data;
    }
    w->closing--;
    maybe_free(w);
}

static void sock_close(sock_t *s)
{
    notify_webhook_t *w = s->w;
    if (s->prev)
        s->prev->next = s->next;
    else
        w->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    w->closing++;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void finish(req_t *r, CURLcode code);

/* Every transfer curl reports done. */
static void reap(notify_webhook_t *w)
{
    CURLMsg *m;
    int left;
    while (!w->destroyed && (m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        req_t *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(r, m->data.result);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_t *s = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    notify_webhook_t *w = s->w;
    int running;
    curl_multi_socket_action(w->multi, s->fd, flags, &running);
    reap(w);
}

static void on_timer(uv_timer_t *t)
{
    notify_webhook_t *w = t->data;
    int running;
    curl_multi_socket_action(w->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    reap(w);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    notify_webhook_t *w = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&w->timer);
    else /* 0: as soon as the loop turns (curl must not be re-entered from here) */
        uv_timer_start(&w->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    notify_webhook_t *w = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            curl_multi_assign(w->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->w = w;
        s->fd = fd;
        if (uv_poll_init_socket(w->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = w->socks;
        if (w->socks)
            w->socks->prev = s;
        w->socks = s;
        curl_multi_assign(w->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

int notify_webhook_new(notify_webhook_t **ret, uv_loop_t *loop, const notify_webhook_opts_t *o,
                       ovop_metrics_t *metrics)
{
    static const notify_webhook_opts_t defaults = {0};
    if (!ret || !loop)
        return -EINVAL;
    o = o ? o : &defaults;
    if (o->timeout_ms < 0 || o->max_host_connections < 0)
        return -EINVAL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -EIO;
    notify_webhook_t *w = xcalloc(1, sizeof(*w));
    if (notify_allow_parse(o->allow, &w->allow, NULL) < 0) {
        free(w);
        return -EINVAL;
    }
    w->loop = loop;
    w->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    long conns = o->max_host_connections ? o->max_host_connections : DEFAULT_HOST_CONNS;
    w->multi = curl_multi_init();
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(w->multi, CURLMOPT_SOCKETDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(w->multi, CURLMOPT_TIMERDATA, w);
    curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    /* The cache of idle connections kept for reuse, across every endpoint. */
    curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, conns * 8);
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    static const char help[] = "Webhook requests by result";
    w->ok =
        ovop_metrics_counter(metrics, "ovop_notify_webhook_requests_total", help, "result=\"2xx\"");
    w->client_err =
        ovop_metrics_counter(metrics, "ovop_notify_webhook_requests_total", help, "result=\"4xx\"");
    w->server_err = ovop_metrics_counter(metrics, "ovop_notify_webhook_requests_total", help,
                                         "result=\"other_status\"");
    w->failed = ovop_metrics_counter(metrics, "ovop_notify_webhook_requests_total", help,
                                     "result=\"error\"");
    w->refused = ovop_metrics_counter(metrics, "ovop_notify_webhook_requests_total", help,
                                      "result=\"address_not_allowed\"");
    *ret = w;
    return 0;
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). Each response's headers
 * start over (a 100 Continue or a redirect has its own). */
static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    req_t *r = userdata;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        r->retry_after_s = -1;
        return len;
    }
    static const char name[] = "retry-after:";
    if (len <= sizeof(name) - 1 || len > 200 || strncasecmp(p, name, sizeof(name) - 1) != 0)
        return len;
    char v[200];
    size_t i = sizeof(name) - 1, k = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (i < len && p[i] != '\r' && p[i] != '\n' && k + 1 < sizeof(v))
        v[k++] = p[i++];
    v[k] = '\0';
    if (k > 0 && k <= 10 && ovop_all_digits(v, k)) {
        long s = strtol(v, NULL, 10);
        r->retry_after_s = s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s;
    } else if (k > 0) {
        time_t t = curl_getdate(v, NULL), now = time(NULL);
        if (t != (time_t)-1)
            r->retry_after_s = t > now ? (long)(t - now) : 0;
    }
    return len;
}

/* The answer's body is not used: read (so the connection stays reusable) and dropped. */
static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    req_t *r = userdata;
    r->response_len += size * n;
    return r->response_len > RESPONSE_BODY_MAX ? 0 : size * n;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    req_t *r = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN || notify_addr_refusal(&a->addr, &r->w->allow) != NULL) {
        r->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void req_unlink(req_t *r)
{
    notify_webhook_t *w = r->w;
    if (r->prev)
        r->prev->next = r->next;
    else
        w->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

/* After curl_multi_remove_handle (r->w may be gone by now). */
static void req_free(req_t *r)
{
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static void count(notify_webhook_t *w, const notify_webhook_result_t *res, bool refused)
{
    if (refused)
        ovop_metric_inc(w->refused);
    else if (res->status >= 200 && res->status < 300)
        ovop_metric_inc(w->ok);
    else if (res->status >= 400 && res->status < 500)
        ovop_metric_inc(w->client_err);
    else if (res->status)
        ovop_metric_inc(w->server_err);
    else
        ovop_metric_inc(w->failed);
}

static void finish(req_t *r, CURLcode code)
{
    notify_webhook_t *w = r->w;
    notify_webhook_result_t res = {.retry_after_s = -1};
    res.latency_ms = (double)(ovop_mono_us() - r->start_us) / 1000.0;
    if (code == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        res.status = (int)status;
        res.retry_after_s = r->retry_after_s;
    } else if (r->refused) {
        res.error = ERROR_NOT_ALLOWED;
    } else {
        res.error = r->err[0] ? r->err : curl_easy_strerror(code);
    }
    count(w, &res, r->refused && code != CURLE_OK);
    req_unlink(r);
    curl_multi_remove_handle(w->multi, r->easy);
    notify_webhook_cb cb = r->cb;
    void *ud = r->userdata;
    /* The callback may post again (the next event of the subscription) or destroy the
     * client: the request is out of the list and the multi handle first, freed after
     * (res.error may point into it). */
    cb(ud, &res);
    req_free(r);
}

/* A header line the caller gives: "Name: value" with a token name and no CR or LF (a header
 * must not smuggle another). */
static bool header_valid(const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || strlen(h) > 8192 || strpbrk(h, "\r\n"))
        return false;
    for (const char *p = h; p < colon; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

static void easy_setup(req_t *r, const char *url, size_t len)
{
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* not from the environment */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ovop-notifyd/1");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
}

int notify_webhook_post(notify_webhook_t *w, const char *url, const char *const *headers,
                        const char *body, size_t len, notify_webhook_cb cb, void *userdata)
{
    if (!w || !url || !cb || (!body && len > 0) || strlen(url) > 2048)
        return -EINVAL;
    if (w->destroyed)
        return -ESHUTDOWN;
    req_t *r = xcalloc(1, sizeof(*r));
    r->w = w;
    r->cb = cb;
    r->userdata = userdata;
    r->retry_after_s = -1;
    for (size_t i = 0; headers && headers[i]; i++) {
        if (!header_valid(headers[i])) {
            curl_slist_free_all(r->headers);
            free(r);
            return -EINVAL;
        }
        r->headers = curl_slist_append(r->headers, headers[i]);
    }
    /* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
    r->headers = curl_slist_append(r->headers, "Expect:");
    r->body = xmemdup(body ? body : "", len + 1);
    r->body[len] = '\0';
    r->easy = curl_easy_init();
    if (!r->easy) {
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r);
        return -ENOMEM;
    }
    easy_setup(r, url, len);
    r->start_us = ovop_mono_us();
    if (curl_multi_add_handle(w->multi, r->easy) != CURLM_OK) {
        req_free(r);
        return -EIO;
    }
    r->next = w->reqs;
    if (w->reqs)
        w->reqs->prev = r;
    w->reqs = r;
    return 0;
}

void notify_webhook_destroy(notify_webhook_t **pw)
{
    notify_webhook_t *w = pw ? *pw : NULL;
    if (!w || w->destroyed)
        return;
    *pw = NULL;
    w->destroyed = true;
    while (w->reqs) {
        req_t *r = w->reqs;
        req_unlink(r);
        curl_multi_remove_handle(w->multi, r->easy);
        notify_webhook_result_t res = {.status = 0, .retry_after_s = -1, .error = ERROR_DESTROYED};
        res.latency_ms = (double)(ovop_mono_us() - r->start_us) / 1000.0;
        r->cb(r->userdata, &res);
        req_free(r);
    }
    curl_multi_cleanup(w->multi); /* may report CURL_POLL_REMOVE for cached connections */
    w->multi = NULL;
    while (w->socks)
        sock_close(w->socks);
    w->closing++;
    uv_close((uv_handle_t *)&w->timer, on_handle_closed);
}

static int refuse(char **ret_why, int rc, char *why)
{
    if (ret_why)
        *ret_why = why;
    else
        free(why);
    return rc;
}

/* Scheme, host and userinfo of url with curl's own parser (the one that will send it). */
static int url_parts(const char *url, char **scheme, char **host, char **ret_why)
{
    CURLU *u = curl_url();
    char *user = NULL, *password = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, host, 0) != CURLUE_OK)
        rc = refuse(ret_why, -EINVAL, xstrdup("URL_INVALID: the url is not an absolute URL"));
    else if (strcmp(*scheme, "http") != 0 && strcmp(*scheme, "https") != 0)
        rc = refuse(ret_why, -EINVAL,
                    xasprintf("URL_SCHEME_NOT_ALLOWED: scheme %s; only http and https", *scheme));
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
             curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
        rc = refuse(ret_why, -EINVAL,
                    xstrdup("URL_USERINFO_NOT_ALLOWED: the url carries a user or password "
                            "(credentials do not belong in a stored URL)"));
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    return rc;
}

int notify_webhook_check_url(const char *url, const char *allow, char **ret_why)
{
    if (!url || !*url || strlen(url) > 2048 || strpbrk(url, " \r\n\t"))
        return refuse(ret_why, -EINVAL,
                      xstrdup("URL_INVALID: the url is empty, longer than 2048 characters or has "
                              "white space"));
    notify_allow_t a;
    if (notify_allow_parse(allow, &a, ret_why) < 0)
        return -EINVAL;
    char *scheme = NULL, *host = NULL;
    int rc = url_parts(url, &scheme, &host, ret_why);
    if (rc == 0) {
        /* An IPv6 literal comes back in brackets. */
        size_t n = strlen(host);
        char *name = host[0] == '[' && n > 2 ? xstrndup(host + 1, n - 2) : xstrdup(host);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int g = getaddrinfo(name, NULL, &hints, &res);
        if (g != 0 || !res)
            rc = refuse(
                ret_why, -EINVAL,
                xasprintf("HOST_UNRESOLVABLE: %s does not resolve (%s)", name, gai_strerror(g)));
        for (struct addrinfo *ai = res; rc == 0 && ai; ai = ai->ai_next) {
            const char *why = notify_addr_refusal(ai->ai_addr, &a);
            if (why) {
                char text[INET6_ADDRSTRLEN] = "?";
                getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL, 0,
                            NI_NUMERICHOST);
                rc = refuse(ret_why, -EPERM,
                            xasprintf("ADDRESS_NOT_ALLOWED: %s resolves to %s, %s (not in "
                                      "--webhook-allow)",
                                      name, text, why));
            }
        }
        if (res)
            freeaddrinfo(res);
        free(name);
    }
    curl_free(scheme);
    curl_free(host);
    notify_allow_free(&a);
    return rc;
}
