/* Retries of one request (same request id, same body) through the broker against
 * PostgreSQL, with two instances of each daemon: eight copies sent at once all get the first
 * reply and the change is written once (RegisterProducer, CreateCooperative, CreateShipment,
 * TransitionShipment, RecordShipmentEvents); copies of the same id with different bodies are
 * refused REQUEST_ID_REUSED, all but the first body; a request whose instance was killed
 * while its statement ran, retried on the other instance, is written once and the retry gets
 * its reply; a producer's location is the same in the reply, the event and the row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define COPIES  8
#define ROUNDS  4
#define VILLAGE "41704235000101" /* Kochkor District, Naryn Region */

static svcenv_t E;

/* The village, and producers 9001..9008 to found cooperatives (two per round). */
static const char *const registry_seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01') "
    "RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, status, "
    "created_at, updated_at) SELECT 9000 + i, 'individual', 'Felt maker ' || i, "
    "'2150319851100' || i, '" VILLAGE "', 'active', now(), now() FROM generate_series(1, 8) i "
    "RETURNING 1",
    NULL};

static const char *const exports_seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01') "
    "RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, status, "
    "created_at, updated_at) VALUES (9002, 'sme', 'Kochkor Honey LLC', '01503201910002', "
    "'" VILLAGE "', 'active', now(), now()) RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
    "capacity_per_month, price_usd, created_at, updated_at) VALUES (9202, 9002, "
    "'Mountain honey', 'honey', '040900', 'kg', 3000, 9.5, now(), now()) RETURNING 1",
    NULL};

static int setup_registry(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "retries_registry",
                                        .seed_sql = registry_seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .instances = 2,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    return 0;
}

static int setup_exports(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "retries_exports",
                                        .seed_sql = exports_seed,
                                        .daemon = "ovop-exportd",
                                        .service = "ovop.exports",
                                        .instances = 2,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

#define countf(...) svcenv_countf(&E, __VA_ARGS__)

/* --- copies sent at once --- */

/* One copy: what it sends, and what it got (no cmocka assertion in a thread). */
typedef struct copy {
    const char *method;
    const char *rid;
    const ProtobufCMessage *in;
    const char *who; /* NULL: IDENT_ADMIN */
    uint32_t timeout_ms;
    pthread_barrier_t *start;
    int rc; /* of ovop_client_call */
    int code;
    char reason[64];
    char message[200];
    uint8_t *body;
    size_t body_len;
} copy_t;

static void *copy_main(void *arg)
{
    copy_t *c = arg;
    ovop_client_t *cl = NULL;
    if (c->timeout_ms) {
        /* One attempt of its own length: the copy a client gives up on. */
        ovop_client_options_t o = E.cfg.client;
        o.timeout_ms = c->timeout_ms;
        o.retries = 0;
        if (ovop_client_new(&cl, NULL, &o) != 0)
            return NULL;
    } else {
        cl = c->who ? svcenv_client_as(&E, c->who) : svcenv_client(&E);
    }
    if (c->start)
        pthread_barrier_wait(c->start);
    Ovop__V1__Reply *rep = NULL;
    c->rc = ovop_client_call(cl, E.cfg.service, c->method, c->rid, c->in, NULL, &rep, NULL);
    if (c->rc == 0) {
        c->code = rep->status ? (int)rep->status->code : 0;
        snprintf(c->reason, sizeof(c->reason), "%s", rep->status ? rep->status->reason : "");
        snprintf(c->message, sizeof(c->message), "%s", rep->status ? rep->status->message : "");
        c->body = xmemdup(rep->body.data, rep->body.len);
        c->body_len = rep->body.len;
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    ovop_client_destroy(&cl);
    return NULL;
}

/* Sends the n copies at once and waits for every reply. */
static void send_copies(copy_t *c, size_t n)
{
    pthread_t th[COPIES * 2];
    pthread_barrier_t start;
    assert_true(n <= OVOP_ARRAY_SIZE(th));
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (size_t i = 0; i < n; i++) {
        c[i].start = &start;
        pthread_create(&th[i], NULL, copy_main, &c[i]);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
}

/* Every copy answered OK with the same bytes; returns how many were not (and prints them),
 * *first the index of the first OK one (-1 for none). */
static int same_reply(const copy_t *c, size_t n, int *first)
{
    int bad = 0, ref = -1;
    for (size_t i = 0; i < n && ref < 0; i++)
        if (c[i].rc == 0 && c[i].code == OVOP_OK)
            ref = (int)i;
    for (size_t i = 0; i < n; i++) {
        bool same = ref >= 0 && c[i].rc == 0 && c[i].code == OVOP_OK &&
                    c[i].body_len == c[ref].body_len &&
                    memcmp(c[i].body, c[ref].body, c[ref].body_len) == 0;
        if (!same) {
            print_message("%s copy %zu of %s: rc %d, code %d %s: %s\n", c[i].method, i, c[i].rid,
                          c[i].rc, c[i].code, c[i].reason, c[i].message);
            bad++;
        }
    }
    if (first)
        *first = ref;
    return bad;
}

static void copies_free(copy_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].body);
}

/* Sends COPIES copies of in under rid; all must get the same OK reply, which is returned
 * (malloc'd, *len its length). */
static uint8_t *all_first_reply(const char *method, const char *rid, const ProtobufCMessage *in,
                                const char *who, size_t *len)
{
    copy_t c[COPIES];
    for (int i = 0; i < COPIES; i++)
        c[i] = (copy_t){.method = method, .rid = rid, .in = in, .who = who};
    send_copies(c, COPIES);
    int first;
    int bad = same_reply(c, COPIES, &first);
    uint8_t *body = bad ? NULL : xmemdup(c[first].body, c[first].body_len);
    *len = bad ? 0 : c[first].body_len;
    copies_free(c, COPIES);
    if (bad)
        fail_msg("%d of %d copies of %s did not get the first reply", bad, COPIES, method);
    return body;
}

/* --- registry --- */

static Ovop__V1__RegisterProducerRequest producer_request(const char *tax_id, double lat,
                                                          double lon)
{
    static Ovop__V1__GeoPoint loc;
    ovop__v1__geo_point__init(&loc);
    loc.set = true;
    loc.lat = lat;
    loc.lon = lon;
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = "Kochkor Felt Makers LLC";
    in.tax_id = (char *)tax_id;
    in.territory_code = VILLAGE;
    in.location = &loc;
    return in;
}

static void test_register_producer_copies(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        char rid[48], tax[16];
        snprintf(rid, sizeof(rid), "producer-copies-%d", round);
        snprintf(tax, sizeof(tax), "015032019100%02d", round);
        Ovop__V1__RegisterProducerRequest in = producer_request(tax, 42.215, 75.755);
        size_t len;
        uint8_t *body = all_first_reply("RegisterProducer", rid, &in.base, NULL, &len);
        Ovop__V1__Producer *p = ovop__v1__producer__unpack(NULL, len, body);
        assert_non_null(p);
        assert_int_equal(countf("SELECT count(*) FROM registry.producers WHERE tax_id = '%s'", tax),
                         1);
        assert_int_equal(countf("SELECT id FROM registry.producers WHERE tax_id = '%s'", tax),
                         p->id);
        assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE request_id = '%s'", rid), 1);
        assert_int_equal(
            countf("SELECT count(*) FROM bus.idempotency WHERE request_id = '%s'", rid), 1);
        ovop__v1__producer__free_unpacked(p, NULL);
        free(body);
    }
}

static void test_create_cooperative_copies(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        char rid[48], name[64];
        snprintf(rid, sizeof(rid), "cooperative-copies-%d", round);
        snprintf(name, sizeof(name), "Kochkor Felt Cooperative %d", round);
        Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
        in.name = name;
        in.territory_code = VILLAGE;
        in.founded_on = "2020-01-01";
        int64_t founders[2] = {9001 + 2 * round, 9002 + 2 * round};
        in.n_founding_members = 2;
        in.founding_members = founders;
        size_t len;
        uint8_t *body = all_first_reply("CreateCooperative", rid, &in.base, NULL, &len);
        Ovop__V1__Cooperative *co = ovop__v1__cooperative__unpack(NULL, len, body);
        assert_non_null(co);
        assert_int_equal(
            countf("SELECT count(*) FROM registry.cooperatives WHERE name = '%s'", name), 1);
        assert_int_equal(countf("SELECT id FROM registry.cooperatives WHERE name = '%s'", name),
                         co->id);
        assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE request_id = '%s'", rid), 1);
        ovop__v1__cooperative__free_unpacked(co, NULL);
        free(body);
    }
}

/* Copies of one id with two bodies at once: the body that ran first is answered to all its
 * copies, every copy of the other is refused REQUEST_ID_REUSED, one producer is written. */
static void test_reused_id(void **state)
{
    Ovop__V1__RegisterProducerRequest a = producer_request("01503201910090", 42.2, 75.7);
    Ovop__V1__RegisterProducerRequest b = producer_request("01503201910091", 42.2, 75.7);
    copy_t c[COPIES * 2];
    for (int i = 0; i < COPIES * 2; i++)
        c[i] = (copy_t){
            .method = "RegisterProducer", .rid = "reused-id", .in = i % 2 ? &b.base : &a.base};
    send_copies(c, COPIES * 2);
    assert_int_equal(countf("SELECT count(*) FROM registry.producers WHERE tax_id IN "
                            "('01503201910090', '01503201910091')"),
                     1);
    int winner = countf("SELECT count(*) FROM registry.producers WHERE tax_id = "
                        "'01503201910091'") == 1;
    copy_t ok[COPIES];
    for (int i = 0; i < COPIES * 2; i++) {
        if (i % 2 == winner) {
            ok[i / 2] = c[i];
            continue;
        }
        if (c[i].code != OVOP_INVALID_ARGUMENT || strcmp(c[i].reason, "REQUEST_ID_REUSED") != 0)
            fail_msg("copy %d of the other body: code %d %s: %s", i, c[i].code, c[i].reason,
                     c[i].message);
    }
    assert_int_equal(same_reply(ok, COPIES, NULL), 0);
    copies_free(c, COPIES * 2);
}

/* The producer's location in the reply, the event and the row: the same doubles. */
static void test_location_agrees(void **state)
{
    Ovop__V1__RegisterProducerRequest in =
        producer_request("01503201910080", 42.123456789123, 75.987654321987);
    ProtobufCMessage *out = NULL;
    assert_int_equal(svcenv_call(&E, "RegisterProducer", "located", &in.base,
                                 &ovop__v1__producer__descriptor, &out, NULL),
                     OVOP_OK);
    Ovop__V1__Producer *p = (Ovop__V1__Producer *)out;
    char *lat =
        svcenv_scalarf(&E, "SELECT lat FROM registry.producers WHERE id = %lld", (long long)p->id);
    char *lon =
        svcenv_scalarf(&E, "SELECT lon FROM registry.producers WHERE id = %lld", (long long)p->id);
    char *ev = svcenv_scalarf(&E, "SELECT encode(data, 'hex') FROM bus.events WHERE "
                                  "request_id = 'located'");
    size_t n = strlen(ev) / 2;
    uint8_t *raw = xcalloc(n + 1, 1);
    for (size_t i = 0; i < n; i++)
        sscanf(ev + 2 * i, "%2hhx", &raw[i]);
    Ovop__V1__Producer *e = ovop__v1__producer__unpack(NULL, n, raw);
    assert_non_null(e);
    print_message("sent %.12f %.12f; reply %.12f %.12f; row %s %s; event %.12f %.12f\n",
                  in.location->lat, in.location->lon, p->location->lat, p->location->lon, lat, lon,
                  e->location->lat, e->location->lon);
    assert_true(p->location->lat == strtod(lat, NULL));
    assert_true(p->location->lon == strtod(lon, NULL));
    assert_true(e->location->lat == p->location->lat);
    assert_true(e->location->lon == p->location->lon);
    ovop__v1__producer__free_unpacked(e, NULL);
    free(raw);
    free(ev);
    free(lat);
    free(lon);
    protobuf_c_message_free_unpacked(out, NULL);
}

/* How many backends wait for a lock while running a statement that holds `fragment`. */
static long waiting(const char *fragment)
{
    return countf("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                  "query LIKE '%%%s%%' AND pid <> pg_backend_pid()",
                  fragment);
}

/* Waits until at least n such backends wait (the broker may hand a dead instance's request
 * to the new one too: then one more). */
static void wait_for_waiting(const char *fragment, long n)
{
    for (int i = 0; i < 300 && waiting(fragment) < n; i++)
        harness_sleep_ms(50);
    assert_true(waiting(fragment) >= n);
}

/* Instance 0 runs method, whose write waits for a lock the test holds on `table`; instance 0
 * is killed, its backend carries on; the client retries the same request on instance 1,
 * started meanwhile; then the lock goes. Returns the retry's answer (its body malloc'd), with
 * both instances running again. `fragment` names the SQL function in the statement. */
static copy_t retried_after_kill(const char *table, const char *fragment, const char *method,
                                 const char *rid, const ProtobufCMessage *in)
{
    harness_kill(E.daemon[1], SIGKILL);
    harness_wait_exit(E.daemon[1], 5000, NULL);
    E.daemon[1] = 0;
    PGconn *locker = pgtest_connect(E.db);
    PQclear(PQexec(locker, "BEGIN"));
    char *lock = xasprintf("LOCK TABLE %s IN EXCLUSIVE MODE", table);
    PGresult *r = PQexec(locker, lock);
    free(lock);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);

    copy_t first = {.method = method, .rid = rid, .in = in, .timeout_ms = 4000};
    pthread_t th1;
    pthread_create(&th1, NULL, copy_main, &first);
    wait_for_waiting(fragment, 1);

    harness_kill(E.daemon[0], SIGKILL);
    harness_wait_exit(E.daemon[0], 5000, NULL);
    E.daemon[0] = 0;
    E.daemon[1] = svcenv_spawn_daemon(&E, 1, E.db, "retry-1");
    copy_t retry = {.method = method, .rid = rid, .in = in};
    pthread_t th2;
    pthread_create(&th2, NULL, copy_main, &retry);
    /* The retry reached the database: it waits too (for the first copy, or for the lock). */
    wait_for_waiting(fragment, 2);
    PQclear(PQexec(locker, "COMMIT"));
    PQfinish(locker);
    pthread_join(th2, NULL);
    pthread_join(th1, NULL);
    free(first.body);
    E.daemon[0] = svcenv_spawn_daemon(&E, 0, E.db, "retry-0");
    assert_int_equal(harness_wait_service(E.endpoint, E.cfg.service, 10000, &E.admin), 0);
    print_message("killed instance: the retry of %s answered rc %d code %d %s: %s\n", method,
                  retry.rc, retry.code, retry.reason, retry.message);
    return retry;
}

static void test_killed_instance_retried(void **state)
{
    Ovop__V1__RegisterProducerRequest in = producer_request("01503201910070", 42.2, 75.7);
    copy_t retry = retried_after_kill("registry.producers", "register_producer", "RegisterProducer",
                                      "killed-1", &in.base);
    long written = countf("SELECT count(*) FROM registry.producers WHERE tax_id = "
                          "'01503201910070'");
    print_message("killed instance: %ld producer(s) written\n", written);
    assert_int_equal(written, 1);
    assert_int_equal(retry.rc, 0);
    assert_int_equal(retry.code, OVOP_OK);
    Ovop__V1__Producer *p = ovop__v1__producer__unpack(NULL, retry.body_len, retry.body);
    assert_non_null(p);
    assert_int_equal(countf("SELECT id FROM registry.producers WHERE tax_id = '01503201910070'"),
                     p->id);
    ovop__v1__producer__free_unpacked(p, NULL);
    free(retry.body);
}

/* --- exports --- */

typedef struct shipment_req {
    Ovop__V1__CreateShipmentRequest in;
    Ovop__V1__ExporterRef exporter;
    Ovop__V1__Buyer buyer;
    Ovop__V1__Transport transport;
    Ovop__V1__Lot lot;
    Ovop__V1__Lot *lots[1];
} shipment_req_t;

static void shipment_init(shipment_req_t *r)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__create_shipment_request__init(&r->in);
    ovop__v1__exporter_ref__init(&r->exporter);
    ovop__v1__buyer__init(&r->buyer);
    ovop__v1__transport__init(&r->transport);
    ovop__v1__lot__init(&r->lot);
    r->exporter.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    r->exporter.id = 9002;
    r->buyer.name = "Kashgar Honey Trading";
    r->buyer.country = "CN";
    r->buyer.address = "Kashgar";
    r->transport.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD;
    r->transport.vehicle = "05KG123ABC";
    r->transport.consignment_note = "CMR-0001";
    r->lot.product_id = 9202;
    r->lot.producer_id = 9002;
    r->lot.quantity = 100;
    r->lot.net_weight_kg = 100;
    r->lot.value_usd_cents = 95000;
    r->lot.value_som_tyiyn = 8312500;
    r->lots[0] = &r->lot;
    r->in.exporter = &r->exporter;
    r->in.buyer = &r->buyer;
    r->in.destination = "CN";
    r->in.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
    r->in.n_lots = 1;
    r->in.lots = r->lots;
    r->in.transport = &r->transport;
    r->in.border_point = "KG-IRKESHTAM";
    r->in.planned_departure = "2026-06-01";
    r->in.planned_arrival = "2026-06-05";
}

static int64_t create_shipment_copies(const char *rid)
{
    shipment_req_t r;
    shipment_init(&r);
    size_t len;
    uint8_t *body = all_first_reply("CreateShipment", rid, &r.in.base, NULL, &len);
    Ovop__V1__Shipment *s = ovop__v1__shipment__unpack(NULL, len, body);
    assert_non_null(s);
    int64_t id = s->id;
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments WHERE id IN (SELECT "
                            "shipment_id FROM exports.shipment_history WHERE request_id = '%s')",
                            rid),
                     1);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE request_id = '%s'", rid), 1);
    ovop__v1__shipment__free_unpacked(s, NULL);
    free(body);
    return id;
}

/* A shipment made by one call, for the moves. */
static int64_t create_shipment(void)
{
    shipment_req_t r;
    shipment_init(&r);
    ProtobufCMessage *out = NULL;
    assert_int_equal(svcenv_call(&E, "CreateShipment", NULL, &r.in.base,
                                 &ovop__v1__shipment__descriptor, &out, NULL),
                     OVOP_OK);
    int64_t id = ((Ovop__V1__Shipment *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    return id;
}

static void test_create_shipment_copies(void **state)
{
    long before = countf("SELECT count(*) FROM exports.shipments");
    for (int round = 0; round < ROUNDS; round++) {
        char rid[48];
        snprintf(rid, sizeof(rid), "shipment-copies-%d", round);
        create_shipment_copies(rid);
    }
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments"), before + ROUNDS);
}

static void test_transition_copies(void **state)
{
    for (int round = 0; round < ROUNDS; round++) {
        char rid[48];
        int64_t id = create_shipment();
        Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
        t.shipment_id = id;
        t.to = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED;
        t.agency = "";
        t.reason = "";
        snprintf(rid, sizeof(rid), "transition-copies-%d", round);
        size_t len;
        free(all_first_reply("TransitionShipment", rid, &t.base, NULL, &len));
        assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE "
                                "shipment_id = %lld AND to_status = 'declared'",
                                (long long)id),
                         1);
        assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE request_id = '%s'", rid), 1);
    }
}

static void test_batch_copies(void **state)
{
    int64_t a = create_shipment(), b = create_shipment();
    Ovop__V1__ShipmentTransition t[2];
    Ovop__V1__ShipmentTransition *tp[2] = {&t[0], &t[1]};
    for (int i = 0; i < 2; i++) {
        ovop__v1__shipment_transition__init(&t[i]);
        t[i].shipment_id = i ? b : a;
        t[i].to = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED;
    }
    Ovop__V1__RecordShipmentEventsRequest in = OVOP__V1__RECORD_SHIPMENT_EVENTS_REQUEST__INIT;
    in.n_transitions = 2;
    in.transitions = tp;
    size_t len;
    free(all_first_reply("RecordShipmentEvents", "batch-copies", &in.base, NULL, &len));
    assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE request_id = "
                            "'batch-copies'"),
                     2);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE request_id = 'batch-copies'"),
                     2);
}

/* The case: a shipment created by a killed instance's orphaned backend, retried on
 * the other instance, was answered ABORTED REQUEST_IN_PROGRESS although it was written. */
static void test_killed_instance_shipment(void **state)
{
    shipment_req_t r;
    shipment_init(&r);
    long before = countf("SELECT count(*) FROM exports.shipments");
    copy_t retry = retried_after_kill("exports.shipments", "create_shipment", "CreateShipment",
                                      "killed-shipment", &r.in.base);
    long written = countf("SELECT count(*) FROM exports.shipments") - before;
    print_message("killed instance: %ld shipment(s) written\n", written);
    assert_int_equal(written, 1);
    assert_int_equal(retry.rc, 0);
    assert_int_equal(retry.code, OVOP_OK);
    Ovop__V1__Shipment *s = ovop__v1__shipment__unpack(NULL, retry.body_len, retry.body);
    assert_non_null(s);
    assert_int_equal(countf("SELECT max(id) FROM exports.shipments"), s->id);
    ovop__v1__shipment__free_unpacked(s, NULL);
    free(retry.body);
}

int main(void)
{
    const struct CMUnitTest registry[] = {
        cmocka_unit_test(test_register_producer_copies),
        cmocka_unit_test(test_create_cooperative_copies),
        cmocka_unit_test(test_reused_id),
        cmocka_unit_test(test_location_agrees),
        cmocka_unit_test(test_killed_instance_retried),
    };
    const struct CMUnitTest exports[] = {
        cmocka_unit_test(test_create_shipment_copies),
        cmocka_unit_test(test_transition_copies),
        cmocka_unit_test(test_batch_copies),
        cmocka_unit_test(test_killed_instance_shipment),
    };
    int failed =
        cmocka_run_group_tests_name("retries.registry", registry, setup_registry, teardown);
    failed += cmocka_run_group_tests_name("retries.exports", exports, setup_exports, teardown);
    return failed;
}
