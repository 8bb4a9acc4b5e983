#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct ovop_http {
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    ovop_metrics_t *metrics;
    ovop_http_ready_fn ready;
    void *userdata;
    uint16_t port;
    int closing;
};

static void reschedule(ovop_http_t *h);

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    ovop_http_t *h = cls;
    static const char *const text = "text/plain; charset=utf-8";

    /* First call announces the headers; answer on it, a GET has no body to wait for. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "only GET is served\n", 19);
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") == 0) {
        ovop_buf_t b;
        ovop_buf_init(&b);
        ovop_metrics_render(h->metrics, &b);
        enum MHD_Result r = respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                                    b.data ? b.data : "", b.len);
        ovop_buf_free(&b);
        return r;
    }
    if (strcmp(url, "/healthz") == 0)
        return respond(conn, MHD_HTTP_OK, text, "ok\n", 3);
    if (strcmp(url, "/readyz") == 0) {
        ovop_buf_t why;
        ovop_buf_init(&why);
        bool ok = !h->ready || h->ready(h->userdata, &why);
        enum MHD_Result r;
        if (ok) {
            r = respond(conn, MHD_HTTP_OK, text, "ready\n", 6);
        } else {
            ovop_buf_puts(&why, "\n");
            r = respond(conn, MHD_HTTP_SERVICE_UNAVAILABLE, text, why.data, why.len);
        }
        ovop_buf_free(&why);
        return r;
    }
    return respond(conn, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics, /healthz, /readyz\n",
                   43);
}

static void run(ovop_http_t *h)
{
    if (h->closing)
        return;
    MHD_run(h->mhd);
    reschedule(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    run(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

/* libmicrohttpd says when it next needs to run without socket activity (connection timeouts,
 * or at once when it has buffered output to push). */
static void reschedule(ovop_http_t *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
        uv_timer_start(&h->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&h->timer);
}

int ovop_http_parse_listen(const char *listen, struct sockaddr_in *ret)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return -EINVAL;
    char host[64];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host))
        return -EINVAL;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return -EINVAL;
    memset(ret, 0, sizeof(*ret));
    ret->sin_family = AF_INET;
    ret->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &ret->sin_addr) != 1)
        return -EINVAL;
    return 0;
}

int ovop_http_new(ovop_http_t **ret, uv_loop_t *loop, const char *listen, ovop_metrics_t *metrics,
                  ovop_http_ready_fn ready, void *userdata)
{
    struct sockaddr_in sa;
    int r = ovop_http_parse_listen(listen, &sa);
    if (r < 0)
        return r;

    ovop_http_t *h = xcalloc(1, sizeof(*h));
    h->metrics = metrics;
    h->ready = ready;
    h->userdata = userdata;
    h->mhd = MHD_start_daemon(
        MHD_USE_EPOLL, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!h->mhd) {
        free(h);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (!ep || !pi) {
        MHD_stop_daemon(h->mhd);
        free(h);
        return -EIO;
    }
    h->port = pi->port;
    uv_poll_init(loop, &h->poll, ep->epoll_fd);
    uv_timer_init(loop, &h->timer);
    h->poll.data = h;
    h->timer.data = h;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    reschedule(h);
    *ret = h;
    return 0;
}

uint16_t ovop_http_port(const ovop_http_t *h)
{
    return h->port;
}

static void on_closed(uv_handle_t *handle)
{
    ovop_http_t *h = handle->data;
    if (--h->closing == 0)
        free(h);
}

void ovop_http_destroy(ovop_http_t **hp)
{
    ovop_http_t *h = *hp;
    if (!h)
        return;
    *hp = NULL;
    /* Stop polling before the epoll descriptor goes away with the daemon. */
    uv_poll_stop(&h->poll);
    MHD_stop_daemon(h->mhd);
    h->closing = 2;
    uv_close((uv_handle_t *)&h->poll, on_closed);
    uv_close((uv_handle_t *)&h->timer, on_closed);
}
