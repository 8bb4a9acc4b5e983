#include "httpsink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "sign.h"
#include "util.h"

#define BODY_MAX (16u << 20)

typedef struct rule {
    struct rule *next;
    char *path;
    int status, times;
    char *retry_after;
    unsigned delay_ms;
} rule_t;

struct httpsink {
    struct MHD_Daemon *d;
    uint16_t port;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a request recorded, or stopping */
    httpsink_request_t **reqs;
    size_t n, cap;
    rule_t *rules;
    unsigned connections;
    bool stopping;
};

/* Per-request state while the body arrives. */
typedef struct pending {
    ovop_buf_t body;
    httpsink_request_t *req;
} pending_t;

/* Per-connection number, kept in the connection's socket context. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    httpsink_t *s = cls;
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    pthread_mutex_lock(&s->mu);
    unsigned *id = xmalloc(sizeof(*id));
    *id = ++s->connections;
    *socket_context = id;
    pthread_mutex_unlock(&s->mu);
}

static void on_connection_closed(void *cls, struct MHD_Connection *c, void **socket_context,
                                 enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        xfree(*socket_context);
    else
        on_connection(cls, c, socket_context, code);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    httpsink_request_t *r = cls;
    r->headers = xrealloc(r->headers, (r->n_headers + 1) * sizeof(*r->headers));
    r->headers[r->n_headers].name = xstrdup(key);
    r->headers[r->n_headers].value = xstrdup(value ? value : "");
    r->n_headers++;
    return MHD_YES;
}

/* The rule for the next request to path, consumed when it counts down. Under s->mu. */
static void take_rule(httpsink_t *s, const char *path, int *status, char **retry_after,
                      unsigned *delay_ms)
{
    *status = 200;
    *retry_after = NULL;
    *delay_ms = 0;
    for (rule_t **pp = &s->rules; *pp; pp = &(*pp)->next) {
        rule_t *r = *pp;
        if (strcmp(r->path, path) != 0)
            continue;
        *status = r->status;
        *retry_after = r->retry_after ? xstrdup(r->retry_after) : NULL;
        *delay_ms = r->delay_ms;
        if (r->times > 0 && --r->times == 0) {
            *pp = r->next;
            free(r->path);
            free(r->retry_after);
            free(r);
        }
        return;
    }
}

/* Sleeps delay_ms unless the sink stops first. Under s->mu. */
static void delay(httpsink_t *s, unsigned delay_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += delay_ms / 1000;
    until.tv_nsec += (long)(delay_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->mu, &until) != ETIMEDOUT)
        ;
}

static enum MHD_Result answer(httpsink_t *s, struct MHD_Connection *c, pending_t *p)
{
    httpsink_request_t *r = p->req;
    r->body_len = p->body.len;
    r->body = p->body.data ? p->body.data : xstrdup("");
    p->body.data = NULL;
    r->time_us = ovop_now_us();
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        r->client_port = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (sc && sc->socket_context)
        r->connection = *(unsigned *)sc->socket_context;
    int status;
    char *retry_after;
    unsigned delay_ms;
    pthread_mutex_lock(&s->mu);
    take_rule(s, r->path, &status, &retry_after, &delay_ms);
    r->status = status;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->reqs = xrealloc(s->reqs, s->cap * sizeof(*s->reqs));
    }
    s->reqs[s->n++] = r;
    p->req = NULL;
    pthread_cond_broadcast(&s->cond);
    if (delay_ms)
        delay(s, delay_ms);
    pthread_mutex_unlock(&s->mu);
    static const char ok[] = "{}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(ok) - 1, (void *)ok, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (retry_after)
        MHD_add_response_header(resp, "Retry-After", retry_after);
    free(retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    httpsink_t *s = cls;
    pending_t *p = *con_cls;
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        ovop_buf_init(&p->body);
        p->req = xcalloc(1, sizeof(*p->req));
        p->req->method = xstrdup(method);
        p->req->path = xstrdup(url);
        MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, p->req);
        *con_cls = p;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (p->body.len + *upload_data_size > BODY_MAX)
            return MHD_NO;
        ovop_buf_append(&p->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(s, c, p);
}

static void free_request(httpsink_request_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->method);
    free(r->path);
    free(r->body);
    free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    pending_t *p = *con_cls;
    if (!p)
        return;
    free_request(p->req); /* a request that ended before it was recorded */
    ovop_buf_free(&p->body);
    free(p);
    *con_cls = NULL;
}

httpsink_t *httpsink_start(uint16_t port)
{
    httpsink_t *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port,
        NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection_closed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
        MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    return s;
}

void httpsink_stop(httpsink_t **ps)
{
    httpsink_t *s = ps ? *ps : NULL;
    if (!s)
        return;
    *ps = NULL;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    MHD_stop_daemon(s->d);
    for (size_t i = 0; i < s->n; i++)
        free_request(s->reqs[i]);
    free(s->reqs);
    while (s->rules) {
        rule_t *r = s->rules;
        s->rules = r->next;
        free(r->path);
        free(r->retry_after);
        free(r);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

uint16_t httpsink_port(const httpsink_t *s)
{
    return s->port;
}

char *httpsink_url(const httpsink_t *s, const char *path)
{
    return xasprintf("http://127.0.0.1:%u%s", s->port, path ? path : "/");
}

void httpsink_script(httpsink_t *s, const char *path, int status, int times,
                     const char *retry_after, unsigned delay_ms)
{
    rule_t *r = xcalloc(1, sizeof(*r));
    r->path = xstrdup(path);
    r->status = status;
    r->times = times;
    r->retry_after = retry_after ? xstrdup(retry_after) : NULL;
    r->delay_ms = delay_ms;
    pthread_mutex_lock(&s->mu);
    rule_t **pp = &s->rules;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    pthread_mutex_unlock(&s->mu);
}

bool httpsink_wait(httpsink_t *s, size_t k, unsigned timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    while (s->n < k && pthread_cond_timedwait(&s->cond, &s->mu, &until) != ETIMEDOUT)
        ;
    bool ok = s->n >= k;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

size_t httpsink_count(httpsink_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const httpsink_request_t *httpsink_get(httpsink_t *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    const httpsink_request_t *r = i < s->n ? s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

unsigned httpsink_connections(httpsink_t *s)
{
    pthread_mutex_lock(&s->mu);
    unsigned n = s->connections;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const char *httpsink_header(const httpsink_request_t *r, const char *name)
{
    for (size_t i = 0; r && i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int httpsink_verify(const httpsink_request_t *r, const char *const *secrets, size_t n)
{
    return notify_verify(secrets, n, httpsink_header(r, "webhook-id"),
                         httpsink_header(r, "webhook-timestamp"),
                         httpsink_header(r, "webhook-signature"), r->body, r->body_len,
                         ovop_now_us() / 1000000, 300);
}
