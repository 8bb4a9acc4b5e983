/* The shipments of accepted orders: every --ship-ms (and at once after an acceptance) the
 * accepted orders without a shipment are read, and for each one ovop.exports.CreateShipment
 * is requested through the broker under matchd's own service principal, on behalf of the
 * principal who accepted the order, with the request id MATCHING_SHIPMENT_RID of the order:
 * exportd stores its reply under that id, so a retry (after a timeout, a crash, or by another
 * instance doing the same order at once) gets the same shipment back and never makes a second
 * one. The client is synchronous, so the requests run on libuv's thread pool; the results are
 * recorded by matching.shipment_result() from the loop. A refusal is kept in the order's
 * status_reason and tried again 30 s later (the exporter may fix the registry meanwhile). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "matchd.h"
#include "ovop/v1/exports.pb-c.h"
#include "pbrow.h"
#include "util.h"

#define SHIP_BATCH 16

typedef struct ship_job {
    int64_t order_id;
    char *on_behalf_of;
    uint8_t *body; /* CreateShipmentRequest */
    size_t len;
    int64_t shipment_id; /* result: > 0 made */
    char *error;
} ship_job_t;

typedef struct ship_batch {
    uv_work_t work;
    matchd_t *m;
    ship_job_t jobs[SHIP_BATCH];
    size_t n, recorded;
} ship_batch_t;

static const char pending_sql[] =
    "SELECT o.id, o.accept_pb, o.accepted_by, o.buyer_name, o.buyer_country, o.buyer_address, "
    "o.destination, o.unit, "
    "coalesce((SELECT json_agg(json_build_object('product_id', r.product_id, 'producer_id', "
    "  r.producer_id, 'quantity', r.quantity::float8, 'unit_price_cents', r.unit_price_cents) "
    "  ORDER BY r.ord) FROM matching.reservations r WHERE r.order_id = o.id), '[]')::text AS lines "
    "FROM matching.orders o WHERE o.status = 'accepted' "
    "AND (o.status_reason = '' OR o.updated_at < now() - interval '30 seconds') "
    "ORDER BY o.updated_at, o.id LIMIT 16";

static void ship_round(matchd_t *m);

/* The shipment request of one accepted order (NULL when its stored acceptance is unreadable). */
static uint8_t *shipment_body(const PGresult *res, int i, size_t *ret_len)
{
    size_t raw_len = 0;
    unsigned char *raw =
        PQunescapeBytea((const unsigned char *)ovop_pg_value(res, i, "accept_pb"), &raw_len);
    Ovop__V1__AcceptOrderRequest *a =
        raw ? ovop__v1__accept_order_request__unpack(NULL, raw_len, raw) : NULL;
    PQfreemem(raw);
    json_t *lines = json_loads(ovop_pg_value(res, i, "lines"), 0, NULL);
    if (!a || !json_is_array(lines) || json_array_size(lines) == 0) {
        json_decref(lines);
        if (a)
            ovop__v1__accept_order_request__free_unpacked(a, NULL);
        return NULL;
    }
    size_t n = json_array_size(lines);
    Ovop__V1__Buyer buyer = OVOP__V1__BUYER__INIT;
    buyer.name = (char *)ovop_pg_value(res, i, "buyer_name");
    buyer.country = (char *)ovop_pg_value(res, i, "buyer_country");
    buyer.address = (char *)ovop_pg_value(res, i, "buyer_address");
    const char *unit = ovop_pg_value(res, i, "unit");
    double kg = a->kg_per_unit > 0 ? a->kg_per_unit : 1;
    Ovop__V1__Lot *lots = xcalloc(n, sizeof(*lots));
    Ovop__V1__Lot **ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *l = json_array_get(lines, k);
        ovop__v1__lot__init(&lots[k]);
        lots[k].product_id = json_integer_value(json_object_get(l, "product_id"));
        lots[k].producer_id = json_integer_value(json_object_get(l, "producer_id"));
        lots[k].quantity = json_number_value(json_object_get(l, "quantity"));
        lots[k].unit = (char *)unit;
        lots[k].net_weight_kg = round(lots[k].quantity * kg * 1000) / 1000;
        int64_t cents = llround(lots[k].quantity *
                                (double)json_integer_value(json_object_get(l, "unit_price_cents")));
        lots[k].value_usd_cents = cents > 0 ? cents : 1;
        ptrs[k] = &lots[k];
    }
    Ovop__V1__CreateShipmentRequest req = OVOP__V1__CREATE_SHIPMENT_REQUEST__INIT;
    req.exporter = a->exporter;
    req.buyer = &buyer;
    req.destination = (char *)ovop_pg_value(res, i, "destination");
    req.incoterm = a->incoterm;
    req.n_lots = n;
    req.lots = ptrs;
    req.transport = a->transport;
    req.border_point = a->border_point;
    req.planned_departure = a->planned_departure;
    *ret_len = ovop__v1__create_shipment_request__get_packed_size(&req);
    uint8_t *body = xmalloc(*ret_len + 1);
    ovop__v1__create_shipment_request__pack(&req, body);
    free(lots);
    free(ptrs);
    json_decref(lines);
    ovop__v1__accept_order_request__free_unpacked(a, NULL);
    return body;
}

/* On the thread pool: one client per order, since on_behalf_of belongs to the client. */
static void run_job(matchd_t *m, ship_job_t *j)
{
    ovop_client_options_t opts = {.brokers = m->brokers,
                                  .timeout_ms = m->ship_timeout_ms,
                                  .retries = 2,
                                  .max_msg = 1 << 20,
                                  .security = m->security,
                                  .on_behalf_of = j->on_behalf_of};
    ovop_client_t *c = NULL;
    int r = ovop_client_new(&c, NULL, &opts);
    if (r < 0) {
        j->error = xasprintf("could not open a client to the broker: %s", strerror(-r));
        return;
    }
    char rid[64];
    snprintf(rid, sizeof(rid), MATCHING_SHIPMENT_RID, (long long)j->order_id);
    Ovop__V1__CreateShipmentRequest *in =
        ovop__v1__create_shipment_request__unpack(NULL, j->len, j->body);
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    r = in ? ovop_client_call(c, "ovop.exports", "CreateShipment", rid, &in->base,
                              &ovop__v1__shipment__descriptor, &rep, &out)
           : -EBADMSG;
    if (r < 0)
        j->error = xasprintf("ovop.exports did not answer: %s", strerror(-r));
    else if (!out)
        j->error = xasprintf("ovop.exports refused the shipment: %s: %s",
                             rep->status && rep->status->reason ? rep->status->reason : "?",
                             rep->status && rep->status->message ? rep->status->message : "");
    else
        j->shipment_id = ((Ovop__V1__Shipment *)out)->id;
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (in)
        ovop__v1__create_shipment_request__free_unpacked(in, NULL);
    ovop_client_destroy(&c);
}

static void work(uv_work_t *w)
{
    ship_batch_t *b = w->data;
    for (size_t i = 0; i < b->n; i++)
        run_job(b->m, &b->jobs[i]);
}

static void batch_free(ship_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->jobs[i].on_behalf_of);
        free(b->jobs[i].body);
        free(b->jobs[i].error);
    }
    free(b);
}

static void round_done(matchd_t *m)
{
    m->ship_busy = false;
    if (m->ship_stopped)
        return;
    if (m->ship_again) {
        m->ship_again = false;
        ship_round(m);
    }
}

static void on_recorded(PGresult *res, const char *error, void *userdata)
{
    ship_batch_t *b = userdata;
    if (error)
        log_warn("could not record the shipment of order %lld: %s",
                 (long long)b->jobs[b->recorded].order_id, error);
    b->recorded++;
    matchd_t *m = b->m;
    if (b->recorded < b->n && !m->ship_stopped) {
        ship_job_t *j = &b->jobs[b->recorded];
        char id[24], sid[24];
        snprintf(id, sizeof(id), "%lld", (long long)j->order_id);
        snprintf(sid, sizeof(sid), "%lld", (long long)j->shipment_id);
        const char *params[3] = {id, sid, j->error ? j->error : ""};
        if (j->error)
            log_warn("order %lld: %s", (long long)j->order_id, j->error);
        ovop_pg_query(m->pg, "SELECT matching.shipment_result($1::bigint, $2::bigint, $3)", 3,
                      params, on_recorded, b);
        return;
    }
    if (!m->ship_stopped)
        ovop_sequencer_kick(m->sequencer);
    batch_free(b);
    round_done(m);
}

static void after_work(uv_work_t *w, int status)
{
    ship_batch_t *b = w->data;
    b->recorded = (size_t)-1; /* on_recorded steps to 0 */
    on_recorded(NULL, NULL, b);
}

static void on_pending(PGresult *res, const char *error, void *userdata)
{
    matchd_t *m = userdata;
    if (error || PQntuples(res) == 0 || m->ship_stopped) {
        if (error)
            log_warn("could not read the accepted orders: %s", error);
        round_done(m);
        return;
    }
    ship_batch_t *b = xcalloc(1, sizeof(*b));
    b->m = m;
    b->work.data = b;
    for (int i = 0; i < PQntuples(res) && b->n < SHIP_BATCH; i++) {
        ship_job_t *j = &b->jobs[b->n];
        j->order_id = strtoll(ovop_pg_value(res, i, "id"), NULL, 10);
        j->on_behalf_of = xstrdup(ovop_pg_value(res, i, "accepted_by"));
        j->body = shipment_body(res, i, &j->len);
        if (!j->body) {
            log_error("order %lld: its acceptance or lines do not decode", (long long)j->order_id);
            free(j->on_behalf_of);
            continue;
        }
        b->n++;
    }
    uv_queue_work(ovop_daemon_loop(m->d), &b->work, work, after_work);
}

static void ship_round(matchd_t *m)
{
    if (m->ship_stopped)
        return;
    if (m->ship_busy) {
        m->ship_again = true;
        return;
    }
    m->ship_busy = true;
    ovop_pg_query(m->pg, pending_sql, 0, NULL, on_pending, m);
}

static void on_tick(uv_timer_t *t)
{
    ship_round(t->data);
}

void matchd_ship_start(matchd_t *m)
{
    m->security = ovop_daemon_security(m->d);
    m->brokers = ovop_daemon_brokers(m->d);
    uv_timer_init(ovop_daemon_loop(m->d), &m->ship_timer);
    m->ship_timer.data = m;
    uv_timer_start(&m->ship_timer, on_tick, m->ship_ms, m->ship_ms);
}

void matchd_ship_kick(matchd_t *m)
{
    ship_round(m);
}

/* A batch on the thread pool finishes (its client calls time out at worst) and finds
 * ship_stopped; the loop waits for it before it ends. */
void matchd_ship_stop(matchd_t *m)
{
    m->ship_stopped = true;
    uv_timer_stop(&m->ship_timer);
    uv_close((uv_handle_t *)&m->ship_timer, NULL);
}
