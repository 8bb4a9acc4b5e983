/* echo-worker: a tiny MDP worker built on common/worker.c, for integration tests and
 * benchmarks. A body that decodes as an ovop.v1.Request is answered with a Reply of the same
 * request_id, status OK whose message is this worker's --name, and the request's body; any
 * other body is echoed as is. --delay-ms holds each request that long first, so that tests
 * can kill a worker with requests in hand; --unavailable N answers the first N Requests with
 * UNAVAILABLE, to exercise the client's retries. SIGTERM or SIGINT: DISCONNECT and exit 0. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "util.h"
#include "worker.h"

typedef struct echo_conf {
    char *broker;
    char *service;
    char *name;
    char *log_level;
    int64_t credit;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t delay_ms;
    int64_t unavailable;
    char *key;
    char *broker_key;
    bool plaintext;
} echo_conf_t;

typedef struct held {
    uv_timer_t timer;
    struct held *prev, *next;
    ovop_request_t *req;
    void *body;
    size_t len;
    void *principal;
    size_t principal_len;
} held_t;

static echo_conf_t conf;
static uint64_t served;
static held_t *held_list;

/* Echoes the body with status message conf.name and, in metadata "principal", the id of
 * the principal the broker said is calling. */
static void answer(ovop_request_t **req, const void *body, size_t len, const void *principal,
                   size_t principal_len)
{
    Ovop__V1__Request *in = NULL;
    const char *err = NULL;
    Ovop__V1__Principal *who = ovop__v1__principal__unpack(NULL, principal_len, principal);

    served++;
    if (ovop_request_decode(body, len, SIZE_MAX, &in, &err) == 0) {
        Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
        size_t n;
        st.code = OVOP_OK;
        st.message = conf.name;
        Ovop__V1__Status__MetadataEntry e = OVOP__V1__STATUS__METADATA_ENTRY__INIT;
        Ovop__V1__Status__MetadataEntry *ep = &e;
        e.key = "principal";
        e.value = who ? who->id : "";
        st.metadata = &ep;
        st.n_metadata = 1;
        if (conf.unavailable > 0) {
            conf.unavailable--;
            st.code = OVOP_UNAVAILABLE;
        }
        void *rep = ovop_reply_encode(in->request_id, &st, in->body.data, in->body.len, &n);
        ovop_request_reply(req, rep, n);
        free(rep);
    } else {
        ovop_request_reply(req, body, len);
    }
    if (in)
        ovop__v1__request__free_unpacked(in, NULL);
    if (who)
        ovop__v1__principal__free_unpacked(who, NULL);
}

static void on_held_closed(uv_handle_t *h)
{
    held_t *hd = h->data;
    if (hd->prev)
        hd->prev->next = hd->next;
    else
        held_list = hd->next;
    if (hd->next)
        hd->next->prev = hd->prev;
    free(hd->body);
    free(hd->principal);
    free(hd);
}

static void on_delay(uv_timer_t *t)
{
    held_t *hd = t->data;
    answer(&hd->req, hd->body, hd->len, hd->principal, hd->principal_len);
    uv_close((uv_handle_t *)&hd->timer, on_held_closed);
}

static void on_request(ovop_worker_t *w, ovop_request_t *req, const void *body, size_t len,
                       const void *principal, size_t principal_len, void *userdata)
{
    uv_loop_t *loop = userdata;
    OVOP_UNUSED(w);
    if (conf.delay_ms == 0) {
        answer(&req, body, len, principal, principal_len);
        return;
    }
    held_t *hd = xcalloc(1, sizeof(*hd));
    hd->req = req;
    hd->body = xmemdup(body, len);
    hd->len = len;
    hd->principal = xmemdup(principal, principal_len ? principal_len : 1);
    hd->principal_len = principal_len;
    hd->next = held_list;
    if (held_list)
        held_list->prev = hd;
    held_list = hd;
    uv_timer_init(loop, &hd->timer);
    hd->timer.data = hd;
    uv_timer_start(&hd->timer, on_delay, (uint64_t)conf.delay_ms, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    OVOP_UNUSED(signum);
    uv_stop(s->loop);
}

int main(int argc, char **argv)
{
    const ovop_opt_t opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0, "broker endpoints", &conf.broker},
        {"service", OVOP_OPT_STRING, "echo", 0, 0, "service name", &conf.service},
        {"name", OVOP_OPT_STRING, "echo", 0, 0, "name put in Reply.status.message", &conf.name},
        {"log-level", OVOP_OPT_STRING, "info", 0, 0, "log level", &conf.log_level},
        {"credit", OVOP_OPT_INT, "8", 1, 1024, "requests held at once", &conf.credit},
        {"heartbeat-ms", OVOP_OPT_INT, "1000", 10, 60000, "heartbeat interval", &conf.heartbeat_ms},
        {"liveness", OVOP_OPT_INT, "3", 1, 100, "missed heartbeats", &conf.liveness},
        {"delay-ms", OVOP_OPT_INT, "0", 0, 60000, "hold each request this long", &conf.delay_ms},
        {"unavailable", OVOP_OPT_INT, "0", 0, 1000000, "answer the first N with UNAVAILABLE",
         &conf.unavailable},
        {"key", OVOP_OPT_STRING, NULL, 0, 0, "secret key file", &conf.key},
        {"broker-key", OVOP_OPT_STRING, NULL, 0, 0, "the broker's public key", &conf.broker_key},
        {"insecure-plaintext", OVOP_OPT_BOOL, "false", 0, 0, "no CURVE", &conf.plaintext},
    };
    ovop_config_t cfg = {"echo-worker", "MDP echo worker for tests", "[options]",
                         opts,          OVOP_ARRAY_SIZE(opts),       false};
    char *err = NULL;
    int r = ovop_config_parse(&cfg, argc, argv, NULL, &err);
    if (r != 0) {
        if (r < 0)
            fprintf(stderr, "echo-worker: %s\n", err);
        free(err);
        ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
        return r == 1 ? 0 : 2;
    }
    ovop_log_setup("echo-worker", conf.name, "json", conf.log_level);
    ovop_security_t sec;
    if (ovop_security_setup(&sec, conf.plaintext, conf.key, conf.broker_key ? conf.broker_key : "",
                            conf.broker, &err) < 0) {
        log_error("%s", err);
        return 2;
    }

    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    ovop_worker_t *w = NULL;
    void *zctx = zmq_ctx_new();
    uv_loop_init(&loop);
    ovop_worker_options_t wo = {
        .brokers = conf.broker,
        .service = conf.service,
        .credit = (uint32_t)conf.credit,
        .heartbeat_ms = (uint32_t)conf.heartbeat_ms,
        .liveness = (uint32_t)conf.liveness,
        .max_msg = 1024 * 1024,
        .security = &sec,
    };
    r = ovop_worker_new(&w, &loop, zctx, &wo, NULL, on_request, &loop);
    if (r < 0) {
        log_error("could not start the worker: %s", strerror(-r));
        return 1;
    }
    uv_signal_init(&loop, &sigterm);
    uv_signal_init(&loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    log_info("serving %s via %s with credit %lld", conf.service, conf.broker,
             (long long)conf.credit);
    uv_run(&loop, UV_RUN_DEFAULT);

    log_info("stopping after %llu requests", (unsigned long long)served);
    ovop_worker_destroy(&w);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    /* Held requests were freed with the worker; close their timers. */
    for (held_t *hd = held_list; hd; hd = hd->next)
        if (!uv_is_closing((uv_handle_t *)&hd->timer))
            uv_close((uv_handle_t *)&hd->timer, on_held_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    zmq_ctx_term(zctx);
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return 0;
}
