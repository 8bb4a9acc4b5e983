/* matchd through the broker against PostgreSQL, two instances serving every test, with
 * registryd and exportd running beside them: bad orders refused with their reasons and nothing
 * written; producers excluded for expired certificates, too few stars and suspension, and
 * partial fills explained; capacity never promised twice when many orders are matched at once
 * on both instances; the index following a producer's suspension made through registryd; and
 * an order's life from proposal to an export shipment made in exportd (once, however often it
 * is retried) and fulfilled when that shipment departs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/matching.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define SERVICE  "ovop.matching"
#define DESK     "trade-desk" /* matching.buyer */
#define EXPORTER "coop-chair" /* matching.exporter */
#define BATKEN   "41705410000010"
#define FROM     "2027-06-01"
#define TO       "2027-06-30"
#define ORDERS   24

static svcenv_t E;
static pid_t registryd = -1, exportd = -1;

/* Villages with coordinates, producers placed in them, their products and certificates,
 * straight in the registry tables. */
static const char *const seed_sql[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, lat, lon, "
    "valid_from) VALUES "
    "('41705214001001', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', 39.95, 70.80, "
    "'2000-01-01'), "
    "('41702215001001', 'village', '41702215000000', 'Кочкорка', 'Kyzyl-Suu', 42.25, 78.0, "
    "'2000-01-01') RETURNING 1",
    /* 101..105 dried apricots (cap 1000/month): A ok 4*, B 3* expiring before the window
     * ends, C suspended, D 2*, E 4* not organic; 106..115 walnuts 100/month; 120, 121 felt,
     * members of cooperative 300; 122 felt, outside it. */
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, lat, lon, "
    "status, created_at, updated_at) "
    "SELECT id, 'sme', 'Producer ' || id, lpad(id::text, 14, '0'), "
    "       CASE WHEN id >= 120 THEN '41702215001001' ELSE '41705214001001' END, "
    "       CASE WHEN id >= 120 THEN 42.2 + id / 1000.0 ELSE 39.9 + id / 1000.0 END, "
    "       CASE WHEN id >= 120 THEN 77.9 + id / 1000.0 ELSE 70.7 + id / 1000.0 END, "
    "       CASE WHEN id = 103 THEN 'suspended' ELSE 'active' END, now(), now() "
    "FROM generate_series(101, 122) id WHERE id <= 115 OR id >= 120 RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
    "capacity_per_month, price_usd, certifications, created_at, updated_at) "
    "SELECT id + 100, id, "
    "       CASE WHEN id <= 105 THEN 'Dried apricots' WHEN id <= 115 THEN 'Walnuts' "
    "            ELSE 'Shyrdak' END, "
    "       CASE WHEN id <= 105 THEN 'dried fruit' WHEN id <= 115 THEN 'nuts' ELSE 'felt' END, "
    "       CASE WHEN id <= 105 THEN '081310' WHEN id <= 115 THEN '080232' ELSE '570500' END, "
    "       CASE WHEN id >= 120 THEN 'm2' ELSE 'kg' END, "
    "       CASE WHEN id <= 105 THEN 1000 WHEN id <= 115 THEN 100 ELSE 50 END, 4.5, "
    "       CASE WHEN id = 105 THEN '{}'::text[] ELSE '{organic}'::text[] END, now(), now() "
    "FROM generate_series(101, 122) id WHERE id <= 115 OR id >= 120 RETURNING 1",
    "INSERT INTO registry.applications (id, producer_id, product_id, status, stars, "
    "submitted_at, updated_at) SELECT id, id, id + 100, 'approved', s, now(), now() "
    "FROM (VALUES (101, 4), (102, 3), (103, 5), (104, 2), (105, 4)) v(id, s) RETURNING 1",
    "INSERT INTO registry.certificates (number, producer_id, product_id, application_id, stars, "
    "issued_on, expires_on, status, updated_at) "
    "SELECT 'OVOP-2026-' || lpad(id::text, 6, '0'), id, id + 100, id, s, '2026-01-01', e, "
    "'active', now() FROM (VALUES (101, 4, date '2028-01-01'), (102, 3, date '2027-03-01'), "
    "(103, 5, date '2028-01-01'), (104, 2, date '2028-01-01'), (105, 4, date '2028-01-01')) "
    "v(id, s, e) RETURNING 1",
    "INSERT INTO registry.cooperatives (id, name, territory_code, founded_on, created_at, "
    "updated_at) VALUES (300, 'Kyzyl-Suu Felt Cooperative', '41702215001001', '2020-01-01', "
    "now(), now()) RETURNING 1",
    "INSERT INTO registry.cooperative_members (cooperative_id, producer_id, joined_on) "
    "VALUES (300, 120, '2020-01-01'), (300, 121, '2020-01-01') RETURNING 1",
    NULL};

static const char *const matchd_args[] = {
    "--match-retries",    "60", "--ship-ms",   "200", "--follow-ms", "100",
    "--index-refresh-ms", "50", "--expiry-ms", "200", NULL};

/* Another daemon kind against the same broker and database, as its own role and principal. */
static pid_t spawn_other(const char *bin_name, const char *service, const char *role)
{
    uint16_t port;
    assert_int_equal(harness_free_port(&port), 0);
    char http[32], svc[64], log[64];
    snprintf(http, sizeof(http), "127.0.0.1:%u", port);
    snprintf(svc, sizeof(svc), "svc-%s", service);
    snprintf(log, sizeof(log), "matching-%s", bin_name + 5);
    char *db = pgtest_as_role(E.db, role);
    char *key = ident_secret(&E.ident, svc);
    const char *args[] = {
        "--broker", E.endpoint,     "--database-url",   db,  "--http", http, "--key",
        key,        "--broker-key", E.ident.broker_key, NULL};
    char *bin = harness_bin(bin_name);
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, bin, args, NULL, log), 0);
    free(bin);
    free(db);
    free(key);
    assert_int_equal(harness_wait_service(E.endpoint, service, 15000, &E.admin), 0);
    return pid;
}

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "matching",
                                        .seed_sql = seed_sql,
                                        .daemon = "ovop-matchd",
                                        .service = SERVICE,
                                        .instances = 2,
                                        .daemon_args = matchd_args,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    assert_int_equal(ident_add(&E.ident, E.conn, DESK, "operator", "matching.buyer", NULL, NULL),
                     0);
    assert_int_equal(
        ident_add(&E.ident, E.conn, EXPORTER, "operator", "matching.exporter", NULL, NULL), 0);
    ovop_security_t sec;
    assert_int_equal(ident_security(&E.ident, EXPORTER, &sec), 0);
    int ready = -1;
    for (int i = 0; i < 30 && ready != 0; i++)
        ready = harness_wait_service(E.endpoint, SERVICE, 500, &sec);
    assert_int_equal(ready, 0);
    ovop_security_clear(&sec);
    registryd = spawn_other("ovop-registryd", "ovop.registry", "ovop_registry");
    exportd = spawn_other("ovop-exportd", "ovop.exports", "ovop_exports");
    return 0;
}

static int teardown(void **state)
{
    harness_stop(registryd);
    harness_stop(exportd);
    svcenv_stop(&E);
    return 0;
}

#define countf(...)  svcenv_countf(&E, __VA_ARGS__)
#define scalarf(...) svcenv_scalarf(&E, __VA_ARGS__)

/* --- helpers --- */

static Ovop__V1__Buyer buyer = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__buyer__descriptor),
                                "Xinjiang Dried Fruit Co.", "CN", "Kashgar"};

static Ovop__V1__Order order_of(const char *hs, double qty, Ovop__V1__ConsolidationPoint *cp)
{
    Ovop__V1__Order o = OVOP__V1__ORDER__INIT;
    o.buyer = &buyer;
    o.destination = "CN";
    o.hs_code = (char *)hs;
    o.quantity = qty;
    o.window_from = FROM;
    o.window_to = TO;
    o.consolidation = cp;
    return o;
}

static Ovop__V1__ConsolidationPoint batken = {
    PROTOBUF_C_MESSAGE_INIT(&ovop__v1__consolidation_point__descriptor), BATKEN, 0, 0, ""};

/* CreateOrder as the desk: the status, *ret the order on OK, *ret_rep the reply if asked. */
static int create(Ovop__V1__Order *o, Ovop__V1__Order **ret, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__CreateOrderRequest in = OVOP__V1__CREATE_ORDER_REQUEST__INIT;
    in.order = o;
    return svcenv_call_as(&E, DESK, "CreateOrder", NULL, &in.base, &ovop__v1__order__descriptor,
                          (ProtobufCMessage **)ret, ret_rep);
}

static int64_t created(Ovop__V1__Order o)
{
    Ovop__V1__Order *out = NULL;
    assert_int_equal(create(&o, &out, NULL), OVOP_OK);
    int64_t id = out->id;
    protobuf_c_message_free_unpacked(&out->base, NULL);
    return id;
}

static int match(int64_t id, Ovop__V1__Order **ret, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__MatchOrderRequest in = OVOP__V1__MATCH_ORDER_REQUEST__INIT;
    in.id = id;
    return svcenv_call_as(&E, DESK, "MatchOrder", NULL, &in.base, &ovop__v1__order__descriptor,
                          (ProtobufCMessage **)ret, ret_rep);
}

static const Ovop__V1__Shortfall *shortfall_of(const Ovop__V1__Order *o, int reason)
{
    for (size_t i = 0; i < o->n_shortfalls; i++)
        if ((int)o->shortfalls[i]->reason == reason)
            return o->shortfalls[i];
    return NULL;
}

static void expect_refused(Ovop__V1__Order o, const char *reason, const char *field)
{
    long before = countf("SELECT count(*) FROM matching.orders");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(create(&o, NULL, &rep), OVOP_INVALID_ARGUMENT);
    svcenv_assert_reason(&E, rep, reason);
    bool named = false;
    for (size_t i = 0; i < rep->status->n_violations; i++)
        named |= strcmp(rep->status->violations[i]->field, field) == 0;
    if (!named)
        fail_msg("%s: no violation on %s: %s", reason, field, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(countf("SELECT count(*) FROM matching.orders"), before);
}

/* --- tests --- */

static void test_bad_orders(void **state)
{
    expect_refused(order_of("081310", 0, &batken), "INVALID_QUANTITY", "order.quantity");
    expect_refused(order_of("999999", 10, &batken), "UNKNOWN_HS_CODE", "order.hs_code");
    Ovop__V1__Order o = order_of("081310", 10, &batken);
    o.window_from = "2027-07-01";
    expect_refused(o, "EMPTY_WINDOW", "order.window_to");
    Ovop__V1__ConsolidationPoint nowhere = batken;
    nowhere.territory_code = "41799999999999";
    expect_refused(order_of("081310", 10, &nowhere), "UNKNOWN_CONSOLIDATION_POINT",
                   "order.consolidation.territory_code");
    expect_refused(order_of("081310", 10, NULL), "UNKNOWN_CONSOLIDATION_POINT",
                   "order.consolidation");
    /* MatchOrder is the desk's and the exporter's; a customs officer may read but not match. */
    Ovop__V1__MatchOrderRequest in = OVOP__V1__MATCH_ORDER_REQUEST__INIT;
    in.id = 1;
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "MatchOrder", NULL, &in.base, NULL, NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* Apricots from Batken, 3 stars and organic asked: A and E qualify (E is not organic when
 * asked), B's certificate expires in March, C is suspended, D has 2 stars. */
static void test_exclusions_and_partial_fill(void **state)
{
    Ovop__V1__Order o = order_of("081310", 5000, &batken);
    o.min_stars = 3;
    o.allow_partial = true;
    Ovop__V1__Order *p = NULL;
    int64_t id = created(o);
    assert_int_equal(match(id, &p, NULL), OVOP_OK);
    assert_int_equal(p->status, OVOP__V1__ORDER_STATUS__ORDER_STATUS_PROPOSED);
    assert_int_equal(p->n_lines, 2);
    for (size_t i = 0; i < p->n_lines; i++) {
        int64_t who = p->lines[i]->producer_id;
        assert_true(who == 101 || who == 105);
        assert_true(p->lines[i]->quantity == 1000);
        assert_true(p->lines[i]->km > 0 && p->lines[i]->km < 30);
        assert_true(p->lines[i]->transport_cost_cents > 0);
    }
    assert_true(p->filled == 2000);
    const Ovop__V1__Shortfall *s =
        shortfall_of(p, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CAPACITY_SHORT);
    assert_non_null(s);
    assert_true(s->quantity == 3000);
    assert_non_null(strstr(s->message, "capacity short by 3000"));
    assert_non_null(
        shortfall_of(p, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_CERTIFICATE_EXPIRED));
    assert_non_null(
        shortfall_of(p, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_PRODUCER_SUSPENDED));
    assert_non_null(shortfall_of(p, OVOP__V1__SHORTFALL_REASON__SHORTFALL_REASON_BELOW_MIN_STARS));
    assert_int_equal(countf("SELECT count(*) FROM matching.reservations WHERE order_id = %lld "
                            "AND held",
                            (long long)id),
                     2);
    protobuf_c_message_free_unpacked(&p->base, NULL);

    /* The same whole (no partial fill) while the first holds A and E: refused, explained. */
    o.allow_partial = false;
    int64_t whole = created(o);
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(match(whole, NULL, &rep), OVOP_FAILED_PRECONDITION);
    svcenv_assert_reason(&E, rep, "CAPACITY_SHORT");
    assert_non_null(strstr(rep->status->message, "capacity short by 5000"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(countf("SELECT count(*) FROM matching.reservations WHERE order_id = %lld",
                            (long long)whole),
                     0);

    /* Halal asked: nobody holds it. */
    char *halal[] = {"halal"};
    o.certifications = halal;
    o.n_certifications = 1;
    int64_t h = created(o);
    rep = NULL;
    assert_int_equal(match(h, NULL, &rep), OVOP_FAILED_PRECONDITION);
    svcenv_assert_reason(&E, rep, "NO_CERTIFIED_PRODUCER");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* Rejected: the capacity comes back, and the whole order now fits in part... */
    Ovop__V1__RejectOrderRequest rj = OVOP__V1__REJECT_ORDER_REQUEST__INIT;
    rj.id = id;
    rj.reason = "buyer found a cheaper lot";
    assert_int_equal(svcenv_call_as(&E, EXPORTER, "RejectOrder", NULL, &rj.base,
                                    &ovop__v1__order__descriptor, NULL, NULL),
                     OVOP_OK);
    assert_int_equal(countf("SELECT count(*) FROM matching.reservations WHERE order_id = %lld "
                            "AND held",
                            (long long)id),
                     0);
    o.quantity = 1500;
    o.n_certifications = 0;
    int64_t fits = created(o);
    assert_int_equal(match(fits, &p, NULL), OVOP_OK);
    assert_true(p->filled == 1500);
    assert_int_equal(p->n_shortfalls, 0);
    protobuf_c_message_free_unpacked(&p->base, NULL);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.matching.order.rejected' AND subject = 'order/%lld'",
                            (long long)id),
                     1);
}

typedef struct matcher {
    int64_t ids[ORDERS / 8];
    int ok, short_, other;
} matcher_t;

static void *matcher_main(void *arg)
{
    matcher_t *m = arg;
    ovop_client_t *c = svcenv_client_as(&E, DESK);
    for (int i = 0; i < ORDERS / 8; i++) {
        Ovop__V1__MatchOrderRequest in = OVOP__V1__MATCH_ORDER_REQUEST__INIT;
        in.id = m->ids[i];
        Ovop__V1__Reply *rep = NULL;
        if (ovop_client_call(c, SERVICE, "MatchOrder", NULL, &in.base, NULL, &rep, NULL) < 0) {
            m->other++;
            continue;
        }
        if (rep->status->code == OVOP_OK)
            m->ok++;
        else if (strcmp(rep->status->reason, "CAPACITY_SHORT") == 0)
            m->short_++;
        else
            m->other++;
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    ovop_client_destroy(&c);
    return NULL;
}

/* 10 walnut producers of 100 kg a month, 24 orders of 150 kg for June matched by 8 clients at
 * once through both instances: exactly 6 fit (900 kg), the others are refused as short, and
 * no product is promised more than its 100 kg. */
static void test_capacity_never_oversold(void **state)
{
    matcher_t m[8];
    pthread_t th[8];
    for (int k = 0; k < 8; k++) {
        m[k] = (matcher_t){0};
        for (int i = 0; i < ORDERS / 8; i++)
            m[k].ids[i] = created(order_of("080232", 150, &batken));
    }
    for (int k = 0; k < 8; k++)
        pthread_create(&th[k], NULL, matcher_main, &m[k]);
    int ok = 0, short_ = 0, other = 0;
    for (int k = 0; k < 8; k++) {
        pthread_join(th[k], NULL);
        ok += m[k].ok;
        short_ += m[k].short_;
        other += m[k].other;
    }
    assert_int_equal(other, 0);
    assert_int_equal(ok, 6);
    assert_int_equal(short_, ORDERS - 6);
    assert_int_equal(countf("SELECT count(*) FROM (SELECT product_id FROM matching.reservations "
                            "WHERE held AND product_id BETWEEN 206 AND 215 GROUP BY 1 "
                            "HAVING sum(quantity) > 100) x"),
                     0);
    assert_int_equal(countf("SELECT sum(quantity)::int FROM matching.reservations WHERE held "
                            "AND product_id BETWEEN 206 AND 215"),
                     900);
    /* Both instances matched some. */
    for (int i = 0; i < 2; i++) {
        ovop_buf_t body;
        ovop_buf_init(&body);
        assert_int_equal(harness_http_get(E.daemon_http[i], "/metrics", &body), 200);
        const char *line = strstr(body.data, "method=\"MatchOrder\"");
        if (!line)
            fail_msg("instance %d served no MatchOrder", i);
        ovop_buf_free(&body);
    }
}

/* A producer suspended through registryd leaves the index within the refresh: an order only
 * A (101) can fill (4 stars, organic) is then refused, C and A both excluded as suspended. */
static void test_index_follows_registry(void **state)
{
    Ovop__V1__Order o = order_of("081310", 1, &batken);
    char *organic[] = {"organic"};
    o.certifications = organic;
    o.n_certifications = 1;
    o.min_stars = 4;
    int64_t before = created(o);
    Ovop__V1__Order *p = NULL;
    assert_int_equal(match(before, &p, NULL), OVOP_OK);
    assert_int_equal(p->lines[0]->producer_id, 101);
    protobuf_c_message_free_unpacked(&p->base, NULL);

    ovop_client_t *c = svcenv_client_as(&E, IDENT_ADMIN);
    Ovop__V1__SetProducerStatusRequest in = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    in.id = 101;
    in.version = 1;
    in.status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED;
    in.reason = "inspection";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(
        ovop_client_call(c, "ovop.registry", "SetProducerStatus", NULL, &in.base, NULL, &rep, NULL),
        0);
    if (rep->status->code != OVOP_OK)
        fail_msg("SetProducerStatus: %s", rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    /* Numbered by registryd's sequencer, then read by the instances' refresh. */
    bool gone = false;
    for (int attempt = 0; attempt < 50 && !gone; attempt++) {
        harness_sleep_ms(100);
        int64_t id = created(o);
        rep = NULL;
        if (match(id, NULL, &rep) == OVOP_FAILED_PRECONDITION)
            gone = strstr(rep->status->message,
                          "2 producers excluded: the producer is suspended") != NULL;
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
    }
    assert_true(gone);
    /* Each instance's position in the event log, in PostgreSQL: past the suspension. */
    long seq = countf("SELECT seq FROM bus.events WHERE type = 'ovop.registry.producer.suspended' "
                      "AND subject = 'producer/101'");
    assert_true(seq > 0);
    long at = 0;
    for (int i = 0; i < 40 && at != 2; i++) {
        harness_sleep_ms(100);
        at = countf("SELECT count(*) FROM matching.cursors WHERE name LIKE 'index:%%' AND "
                    "seq >= %ld",
                    seq);
    }
    assert_int_equal(at, 2);
}

static int64_t wait_status(int64_t id, int status)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        Ovop__V1__GetOrderRequest in = OVOP__V1__GET_ORDER_REQUEST__INIT;
        in.id = id;
        Ovop__V1__Order *o = NULL;
        assert_int_equal(svcenv_call_as(&E, EXPORTER, "GetOrder", NULL, &in.base,
                                        &ovop__v1__order__descriptor, (ProtobufCMessage **)&o,
                                        NULL),
                         OVOP_OK);
        int got = o->status;
        int64_t shipment = o->shipment_id;
        if (got == status) {
            protobuf_c_message_free_unpacked(&o->base, NULL);
            return shipment;
        }
        if (attempt == 99)
            fail_msg("order %lld stays %d (%s)", (long long)id, got, o->status_reason);
        protobuf_c_message_free_unpacked(&o->base, NULL);
        harness_sleep_ms(100);
    }
    return 0;
}

/* Felt from Kyzyl-Suu: proposed from the cooperative's members (preferred), accepted by its
 * chair, turned into one shipment of the cooperative in exportd by svc-ovop.matching on the
 * chair's behalf, and fulfilled once customs records the departure. */
static void test_lifecycle_to_shipment(void **state)
{
    Ovop__V1__Buyer jp = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__buyer__descriptor), "Kyoto Felt KK",
                          "JP", "Kyoto"};
    Ovop__V1__ConsolidationPoint balykchy = {
        PROTOBUF_C_MESSAGE_INIT(&ovop__v1__consolidation_point__descriptor), "41702420000010", 0, 0,
        ""};
    Ovop__V1__Order o = order_of("570500", 80, &balykchy);
    o.buyer = &jp;
    o.destination = "JP";
    int64_t id = created(o);
    Ovop__V1__Order *p = NULL;
    assert_int_equal(match(id, &p, NULL), OVOP_OK);
    assert_int_equal(p->cooperative_id, 300);
    for (size_t i = 0; i < p->n_lines; i++)
        assert_true(p->lines[i]->producer_id == 120 || p->lines[i]->producer_id == 121);
    int32_t version = p->version;
    protobuf_c_message_free_unpacked(&p->base, NULL);

    Ovop__V1__ExporterRef coop = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__exporter_ref__descriptor),
                                  OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE, 300};
    Ovop__V1__Transport road = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__transport__descriptor),
                                OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD, "", ""};
    Ovop__V1__AcceptOrderRequest a = OVOP__V1__ACCEPT_ORDER_REQUEST__INIT;
    a.id = id;
    a.expected_version = version;
    a.exporter = &coop;
    a.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
    a.transport = &road;
    a.border_point = "KG-TORUGART";
    a.planned_departure = "2027-06-15";
    a.kg_per_unit = 3.5;
    assert_int_equal(svcenv_call_as(&E, EXPORTER, "AcceptOrder", "accept-felt", &a.base,
                                    &ovop__v1__order__descriptor, NULL, NULL),
                     OVOP_OK);
    /* A retry of the acceptance gets the same answer and changes nothing. */
    assert_int_equal(svcenv_call_as(&E, EXPORTER, "AcceptOrder", "accept-felt", &a.base,
                                    &ovop__v1__order__descriptor, NULL, NULL),
                     OVOP_OK);
    int64_t shipment = wait_status(id, OVOP__V1__ORDER_STATUS__ORDER_STATUS_SHIPMENT_CREATED);
    assert_true(shipment > 0);
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments WHERE exporter_id = 300 AND "
                            "exporter_kind = 'cooperative' AND created_by = "
                            "'svc-ovop.matching for " EXPORTER "'"),
                     1);
    assert_int_equal(
        countf("SELECT count(*) FROM exports.lots WHERE shipment_id = %lld", (long long)shipment),
        countf("SELECT count(*) FROM matching.reservations WHERE order_id = %lld", (long long)id));
    /* The papers and customs' release are exportd's own tests: the shipment is put at
     * RELEASED here, and customs records the departure through exportd. */
    free(scalarf("UPDATE exports.shipments SET status = 'released', version = version + 1 "
                 "WHERE id = %lld RETURNING 1",
                 (long long)shipment));
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = shipment;
    t.to = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED;
    t.reference = "EXIT-1";
    ovop_client_t *c = svcenv_client_as(&E, "customs");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(
        ovop_client_call(c, "ovop.exports", "TransitionShipment", NULL, &t.base, NULL, &rep, NULL),
        0);
    if (rep->status->code != OVOP_OK)
        fail_msg("departure: %s", rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    wait_status(id, OVOP__V1__ORDER_STATUS__ORDER_STATUS_FULFILLED);
    static const char *const types[] = {"created", "proposed", "accepted", "shipment_created",
                                        "fulfilled"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(types); i++)
        assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                                "'ovop.matching.order.%s' AND subject = 'order/%lld'",
                                types[i], (long long)id),
                         1);
}

/* exportd refuses the shipment (the exporter is a producer the lots are not from): the order
 * stays accepted, says why, and no shipment exists. */
static void test_refused_shipment_explained(void **state)
{
    Ovop__V1__ConsolidationPoint balykchy = {
        PROTOBUF_C_MESSAGE_INIT(&ovop__v1__consolidation_point__descriptor), "41702420000010", 0, 0,
        ""};
    int64_t id = created(order_of("570500", 5, &balykchy));
    Ovop__V1__Order *p = NULL;
    assert_int_equal(match(id, &p, NULL), OVOP_OK);
    protobuf_c_message_free_unpacked(&p->base, NULL);
    Ovop__V1__ExporterRef stranger = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__exporter_ref__descriptor),
                                      OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER, 101};
    Ovop__V1__Transport road = {PROTOBUF_C_MESSAGE_INIT(&ovop__v1__transport__descriptor),
                                OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD, "", ""};
    Ovop__V1__AcceptOrderRequest a = OVOP__V1__ACCEPT_ORDER_REQUEST__INIT;
    a.id = id;
    a.exporter = &stranger;
    a.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
    a.transport = &road;
    a.border_point = "KG-TORUGART";
    a.planned_departure = "2027-06-15";
    a.kg_per_unit = 3.5;
    assert_int_equal(svcenv_call_as(&E, EXPORTER, "AcceptOrder", NULL, &a.base,
                                    &ovop__v1__order__descriptor, NULL, NULL),
                     OVOP_OK);
    char *reason = NULL;
    for (int i = 0; i < 100; i++) {
        reason = scalarf("SELECT status || ': ' || status_reason FROM matching.orders WHERE "
                         "id = %lld AND status_reason <> ''",
                         (long long)id);
        if (reason && reason[0])
            break;
        free(reason);
        reason = NULL;
        harness_sleep_ms(100);
    }
    assert_non_null(reason);
    assert_non_null(strstr(reason, "accepted: ovop.exports refused the shipment"));
    free(reason);
    assert_int_equal(countf("SELECT count(*) FROM matching.orders WHERE id = %lld AND "
                            "shipment_id IS NULL",
                            (long long)id),
                     1);
}

/* A proposal not accepted in time expires and releases its reservations. */
static void test_expiry_releases(void **state)
{
    Ovop__V1__Order o = order_of("080232", 50, &batken);
    o.allow_partial = true;
    int64_t id = created(o);
    Ovop__V1__Order *p = NULL;
    int code = match(id, &p, NULL);
    if (code != OVOP_OK) /* the walnuts were taken by the concurrency test: free some first */
        fail_msg("match: %d", code);
    protobuf_c_message_free_unpacked(&p->base, NULL);
    free(scalarf("UPDATE matching.orders SET expires_at = now() - interval '1 s' WHERE id = %lld "
                 "RETURNING 1",
                 (long long)id));
    wait_status(id, OVOP__V1__ORDER_STATUS__ORDER_STATUS_EXPIRED);
    assert_int_equal(countf("SELECT count(*) FROM matching.reservations WHERE order_id = %lld "
                            "AND held",
                            (long long)id),
                     0);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.matching.order.expired' AND subject = 'order/%lld'",
                            (long long)id),
                     1);
}

/* Felt makers of Kyzyl-Suu (120..122, 50 m2 a month each, a few km apart) grouped to reach a
 * 100 m2 lot within 10 km: proposals that reach it, explained; a bad request refused. */
static void test_propose_cooperatives(void **state)
{
    Ovop__V1__ProposeCooperativesRequest in = OVOP__V1__PROPOSE_COOPERATIVES_REQUEST__INIT;
    in.hs_code = "570500";
    in.territory_code = "41702000000000";
    in.target = 100;
    in.max_km = 10;
    in.window_from = FROM;
    in.window_to = TO;
    Ovop__V1__ProposeCooperativesResponse *out = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "ProposeCooperatives", NULL, &in.base,
                                    &ovop__v1__propose_cooperatives_response__descriptor,
                                    (ProtobufCMessage **)&out, NULL),
                     OVOP_OK);
    assert_int_equal(out->candidates, 3);
    assert_true(out->n_proposals >= 1);
    for (size_t i = 0; i < out->n_proposals; i++) {
        const Ovop__V1__ProposedCooperative *c = out->proposals[i];
        assert_true(c->n_producer_ids >= 2);
        assert_true(c->capacity >= 100);
        assert_true(c->max_km <= 10);
        assert_non_null(strstr(c->explanation, "hub"));
        for (size_t k = 0; k < c->n_producer_ids; k++)
            assert_true(c->producer_ids[k] >= 120 && c->producer_ids[k] <= 122);
    }
    protobuf_c_message_free_unpacked(&out->base, NULL);
    /* A lot nobody nearby can reach: no proposal, the capacity left unassigned. */
    in.target = 1000;
    assert_int_equal(svcenv_call_as(&E, "customs", "ProposeCooperatives", NULL, &in.base,
                                    &ovop__v1__propose_cooperatives_response__descriptor,
                                    (ProtobufCMessage **)&out, NULL),
                     OVOP_OK);
    assert_int_equal(out->n_proposals, 0);
    assert_true(out->unassigned_capacity == 150);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    in.max_km = 0;
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(
        svcenv_call_as(&E, "customs", "ProposeCooperatives", NULL, &in.base, NULL, NULL, &rep),
        OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* ovopctl as principal `who`: its exit code; its output in <tmpdir>/<log>.log. */
static int ctl_as(const char *who, const char *log, const char *const *args)
{
    char *bin = harness_bin("ovopctl");
    char *secret = ident_secret(&E.ident, who);
    char *env_broker = xasprintf("OVOP_BROKER=%s", E.endpoint);
    char *env_key = xasprintf("OVOP_KEY=%s", secret);
    char *env_broker_key = xasprintf("OVOP_BROKER_KEY=%s", E.ident.broker_key);
    const char *env[] = {env_broker, env_key, env_broker_key, NULL};
    pid_t pid;
    int status = -1;
    assert_int_equal(harness_spawn(&pid, bin, args, env, log), 0);
    assert_int_equal(harness_wait_exit(pid, 20000, &status), 0);
    free(bin);
    free(secret);
    free(env_broker);
    free(env_key);
    free(env_broker_key);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static char *log_text(const char *log)
{
    char *path = xasprintf("%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    free(path);
    assert_non_null(f);
    ovop_buf_t b;
    ovop_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ovop_buf_append(&b, chunk, n);
    fclose(f);
    ovop_buf_puts(&b, "");
    return b.data;
}

/* ovopctl order create / match / list as the desk: the allocation printed with distances and
 * costs; a refusal's exit code is 10 + its status. */
static void test_ovopctl(void **state)
{
    const char *create[] = {
        "--json", "order",  "create",         "--buyer", "Osaka Felt", "--country", "JP",
        "--hs",   "570500", "--quantity",     "20",      "--from",     FROM,        "--to",
        TO,       "--at",   "41702420000010", NULL};
    assert_int_equal(ctl_as(DESK, "ctl-create", create), 0);
    char *out = log_text("ctl-create");
    const char *idp = strstr(out, "\"id\": ");
    assert_non_null(idp);
    idp += 7;
    if (*idp == '"')
        idp++;
    char id[24];
    snprintf(id, sizeof(id), "%lld", strtoll(idp, NULL, 10));
    free(out);
    const char *matchv[] = {"order", "match", id, NULL};
    assert_int_equal(ctl_as(DESK, "ctl-match", matchv), 0);
    out = log_text("ctl-match");
    assert_non_null(strstr(out, "status         proposed"));
    assert_non_null(strstr(out, "TRANSPORT"));
    assert_non_null(strstr(out, "Producer 12"));
    free(out);
    const char *list[] = {"order", "list", "--status", "proposed", NULL};
    assert_int_equal(ctl_as(DESK, "ctl-list", list), 0);
    /* The exporter may not create orders: PERMISSION_DENIED, exit 17. */
    assert_int_equal(ctl_as(EXPORTER, "ctl-denied", create), 17);
    const char *bad[] = {
        "order",  "create",         "--buyer", "X",      "--country", "JP",   "--hs",
        "570500", "--quantity",     "0",       "--from", FROM,        "--to", TO,
        "--at",   "41702420000010", NULL};
    assert_int_equal(ctl_as(DESK, "ctl-bad", bad), 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_orders),
        cmocka_unit_test(test_propose_cooperatives),
        cmocka_unit_test(test_exclusions_and_partial_fill),
        cmocka_unit_test(test_expiry_releases),
        cmocka_unit_test(test_capacity_never_oversold),
        cmocka_unit_test(test_lifecycle_to_shipment),
        cmocka_unit_test(test_refused_shipment_explained),
        cmocka_unit_test(test_index_follows_registry),
        cmocka_unit_test(test_ovopctl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
