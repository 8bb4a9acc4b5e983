/* ovop.broker GetStatus: the services the broker knows, their workers and queues, from the
 * broker's own bookkeeping (ovop_broker_walk); nothing is read from the database. */
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ovop/v1/broker.pb-c.h"
#include "util.h"

struct bstatus {
    ovop_broker_t *broker;
    char *instance;
    int64_t started_us; /* wall clock */
    int64_t started_mono_us;
};

typedef struct collect {
    ovop_call_t *call;
    Ovop__V1__BrokerService **services;
    size_t n, cap;
} collect_t;

/* "YYYY-MM-DDTHH:MM:SSZ" of a wall-clock time in µs, in the call's arena. */
static char *rfc3339(ovop_call_t *call, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    char buf[32];
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ovop_call_strdup(call, buf);
}

static void on_service(void *userdata, const ovop_broker_service_info_t *si)
{
    collect_t *c = userdata;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        Ovop__V1__BrokerService **grown = ovop_call_alloc(c->call, cap * sizeof(*grown));
        if (c->n)
            memcpy(grown, c->services, c->n * sizeof(*grown));
        c->services = grown;
        c->cap = cap;
    }
    Ovop__V1__BrokerService *s = (Ovop__V1__BrokerService *)ovop_call_message(
        c->call, &ovop__v1__broker_service__descriptor);
    s->name = ovop_call_strdup(c->call, si->name);
    s->queued = (uint32_t)si->queued;
    s->queued_bytes = si->queued_bytes;
    s->held = (uint32_t)si->held;
    if (si->workers)
        s->workers = ovop_call_alloc(c->call, si->workers * sizeof(*s->workers));
    c->services[c->n++] = s;
}

/* Called after its service's on_service: it goes to the last service. */
static void on_worker(void *userdata, const ovop_broker_worker_info_t *wi)
{
    collect_t *c = userdata;
    Ovop__V1__BrokerService *s = c->services[c->n - 1];
    Ovop__V1__BrokerWorker *w =
        (Ovop__V1__BrokerWorker *)ovop_call_message(c->call, &ovop__v1__broker_worker__descriptor);
    w->instance = ovop_call_strdup(c->call, wi->instance);
    w->ops_url = ovop_call_strdup(c->call, wi->ops_url);
    w->credit = wi->credit;
    w->held = (uint32_t)wi->held;
    w->connected_since = rfc3339(c->call, wi->connected_us);
    w->last_heartbeat_age_ms = wi->last_heard_ms;
    s->workers[s->n_workers++] = w;
}

static int by_name(const void *a, const void *b)
{
    const Ovop__V1__BrokerService *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static void get_status(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    bstatus_t *st = userdata;
    OVOP_UNUSED(input);
    if (!st->broker) {
        ovop_call_fail(call, OVOP_UNAVAILABLE, "the broker is starting or stopping");
        return;
    }
    collect_t c = {.call = call};
    ovop_broker_walk(st->broker, on_service, on_worker, &c);
    if (c.n > 1)
        qsort(c.services, c.n, sizeof(*c.services), by_name);
    Ovop__V1__GetStatusResponse *out = (Ovop__V1__GetStatusResponse *)ovop_call_message(
        call, &ovop__v1__get_status_response__descriptor);
    out->instance = ovop_call_strdup(call, st->instance);
    out->started_at = rfc3339(call, st->started_us);
    out->uptime_s = (ovop_mono_us() - st->started_mono_us) / 1000000;
    out->services = c.services;
    out->n_services = c.n;
    out->draining = ovop_broker_draining(st->broker);
    ovop_call_finish(call, &out->base);
}

static const ovop_method_t methods[] = {
    {"GetStatus", get_status},
};

bstatus_t *bstatus_new(ovop_dispatch_t *d, const char *instance)
{
    bstatus_t *st = xcalloc(1, sizeof(*st));
    st->instance = xstrdup(instance ? instance : "");
    st->started_us = ovop_now_us();
    st->started_mono_us = ovop_mono_us();
    OVOP_DECLARE_METHODS(d, methods, st);
    return st;
}

void bstatus_attach(bstatus_t *st, ovop_broker_t *broker)
{
    st->broker = broker;
}

void bstatus_free(bstatus_t **st)
{
    if (!*st)
        return;
    free((*st)->instance);
    xfree(*st);
}
