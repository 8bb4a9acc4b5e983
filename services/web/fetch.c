/* Lookups of certificates by code: the cache first; on a miss one broker call per code,
 * however many requests wait for it (single flight), run on the loop's thread pool; when
 * the call fails, a stale cache entry is served marked stale, else UNAVAILABLE. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "ovop/v1/registry.pb-c.h"
#include "web.h"

typedef struct waiter {
    web_fetch_fn cb;
    void *userdata;
    struct waiter *next;
} waiter_t;

typedef struct flight {
    uv_work_t work;
    web_fetch_t *f;
    char code[OVOP_VCODE_LEN + 1];
    waiter_t *waiters;
    /* Filled on the pool thread. */
    web_result_t result;
    void *body;
    size_t len;
    char *error;
    struct flight *next;
} flight_t;

/* The broker clients of the pool threads, so that they can be closed at the end. */
typedef struct client_slot {
    ovop_client_t *client;
    struct client_slot *next;
} client_slot_t;

struct web_fetch {
    web_t *w;
    flight_t *flights;
    pthread_mutex_t lock;
    client_slot_t *clients;
};

static _Thread_local client_slot_t *tl_slot;

int web_fetch_new(web_fetch_t **ret, web_t *w)
{
    web_fetch_t *f = xcalloc(1, sizeof(*f));
    f->w = w;
    pthread_mutex_init(&f->lock, NULL);
    *ret = f;
    return 0;
}

void web_fetch_destroy(web_fetch_t **fp)
{
    web_fetch_t *f = *fp;
    if (!f)
        return;
    *fp = NULL;
    /* Called after the loop ran dry: no flight is left and the pool threads are idle. */
    pthread_mutex_lock(&f->lock);
    for (client_slot_t *s = f->clients, *n; s; s = n) {
        n = s->next;
        ovop_client_destroy(&s->client);
        free(s);
    }
    pthread_mutex_unlock(&f->lock);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static ovop_client_t *thread_client(web_fetch_t *f, char **ret_error)
{
    if (tl_slot && tl_slot->client)
        return tl_slot->client;
    const web_conf_t *c = &f->w->conf;
    ovop_client_options_t opts = {.brokers = c->broker,
                                  .timeout_ms = (uint32_t)c->lookup_timeout_ms,
                                  .retries = 0,
                                  .max_msg = 1 << 20,
                                  .security = &f->w->security};
    ovop_client_t *client = NULL;
    int r = ovop_client_new(&client, NULL, &opts);
    if (r < 0) {
        *ret_error = xasprintf("could not open a broker client: %s", strerror(-r));
        return NULL;
    }
    if (!tl_slot) {
        tl_slot = xcalloc(1, sizeof(*tl_slot));
        pthread_mutex_lock(&f->lock);
        tl_slot->next = f->clients;
        f->clients = tl_slot;
        pthread_mutex_unlock(&f->lock);
    }
    tl_slot->client = client;
    return client;
}

/* On a pool thread. */
static void work(uv_work_t *req)
{
    flight_t *fl = req->data;
    fl->result = WEB_UNAVAILABLE;
    ovop_client_t *client = thread_client(fl->f, &fl->error);
    if (!client)
        return;
    Ovop__V1__VerifyCertificateRequest in = OVOP__V1__VERIFY_CERTIFICATE_REQUEST__INIT;
    in.code = fl->code;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(client, "ovop.registry", "VerifyCertificate", NULL, &in.base,
                             &ovop__v1__verified_certificate__descriptor, &rep, &out);
    if (r < 0) {
        fl->error = xasprintf("ovop.registry did not answer: %s", strerror(-r));
        if (r == -EACCES || r == -EPROTO) /* a new client next time, with what it says */
            ovop_client_destroy(&tl_slot->client);
    } else if (out) {
        fl->len = protobuf_c_message_get_packed_size(out);
        fl->body = xmalloc(fl->len + 1);
        protobuf_c_message_pack(out, fl->body);
        fl->result = WEB_FOUND;
    } else if (rep->status && rep->status->code == OVOP_NOT_FOUND) {
        fl->result = WEB_NOT_FOUND;
    } else {
        fl->error = xasprintf("ovop.registry refused VerifyCertificate: %s: %s",
                              rep->status && rep->status->reason ? rep->status->reason : "?",
                              rep->status && rep->status->message ? rep->status->message : "");
    }
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
}

/* The JSON page of a found certificate, rendered once for the cache: a JSON hit then costs
 * no decoding and no rendering (the stale form is rendered when served). */
static char *render_json(web_t *w, const flight_t *fl)
{
    Ovop__V1__VerifiedCertificate *c =
        ovop__v1__verified_certificate__unpack(NULL, fl->len, fl->body);
    if (!c)
        return NULL;
    char *url = web_public_url(w, fl->code);
    ovop_buf_t b;
    ovop_buf_init(&b);
    web_render_json(&b, c, false, url);
    ovop_buf_puts(&b, "");
    free(url);
    ovop__v1__verified_certificate__free_unpacked(c, NULL);
    return b.data;
}

static void answer_waiters(flight_t *fl, const web_answer_t *a)
{
    for (waiter_t *wt = fl->waiters, *n; wt; wt = n) {
        n = wt->next;
        web_answer_t copy = *a;
        copy.body = NULL;
        if (a->len) {
            copy.body = xmalloc(a->len);
            memcpy(copy.body, a->body, a->len);
        }
        wt->cb(wt->userdata, &copy);
        free(wt);
    }
}

static void after_work(uv_work_t *req, int status)
{
    flight_t *fl = req->data;
    web_fetch_t *f = fl->f;
    web_t *w = f->w;
    for (flight_t **p = &f->flights; *p; p = &(*p)->next)
        if (*p == fl) {
            *p = fl->next;
            break;
        }
    int64_t now = ovop_mono_us();
    web_answer_t a = {.result = fl->result, .body = fl->body, .len = fl->len};
    w->broker_ok = fl->result != WEB_UNAVAILABLE;
    if (fl->result != WEB_UNAVAILABLE) {
        char *json = fl->result == WEB_FOUND ? render_json(w, fl) : NULL;
        web_cache_put(w->cache, fl->code, fl->result == WEB_FOUND, fl->body, fl->len, json, now);
        free(json);
    } else {
        ovop_metric_inc(w->broker_errors);
        log_warn("lookup of a verification code failed: %s", fl->error ? fl->error : "?");
        web_cache_entry_t e;
        /* A stale answer is better than none, but not forever: a certificate revoked during
         * a long outage must not read valid for days. */
        if (web_cache_get(w->cache, fl->code, now, &e) != WEB_CACHE_ABSENT &&
            now - e.stored_us < w->conf.cache_stale_s * 1000000) {
            ovop_metric_inc(w->cache_stale);
            a = (web_answer_t){e.found ? WEB_FOUND : WEB_NOT_FOUND, true, (void *)e.body, e.len};
        }
    }
    answer_waiters(fl, &a);
    free(fl->body);
    free(fl->error);
    free(fl);
}

bool web_fetch(web_fetch_t *f, const char *code, web_answer_t *now, web_fetch_fn cb, void *userdata)
{
    web_t *w = f->w;
    web_cache_entry_t e;
    if (web_cache_get(w->cache, code, ovop_mono_us(), &e) == WEB_CACHE_FRESH) {
        ovop_metric_inc(w->cache_hit);
        *now = (web_answer_t){e.found ? WEB_FOUND : WEB_NOT_FOUND, false, NULL, e.len,
                              e.json ? xstrdup(e.json) : NULL};
        if (e.len) {
            now->body = xmalloc(e.len);
            memcpy(now->body, e.body, e.len);
        }
        return true;
    }
    ovop_metric_inc(w->cache_miss);
    flight_t *fl = f->flights;
    while (fl && strcmp(fl->code, code) != 0)
        fl = fl->next;
    if (!fl) {
        fl = xcalloc(1, sizeof(*fl));
        fl->f = f;
        snprintf(fl->code, sizeof(fl->code), "%s", code);
        fl->work.data = fl;
        fl->next = f->flights;
        f->flights = fl;
        ovop_metric_inc(w->lookups);
        uv_queue_work(&w->loop, &fl->work, work, after_work);
    }
    waiter_t *wt = xcalloc(1, sizeof(*wt));
    wt->cb = cb;
    wt->userdata = userdata;
    wt->next = fl->waiters;
    fl->waiters = wt;
    return false;
}
