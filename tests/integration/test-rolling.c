/* Rolling restart under load (issue 13, point 7): two brokers and two instances each of
 * registryd, exportd, matchd and notifyd, every worker and client connected to both brokers.
 * Load threads call every service for the whole test, writes with request ids mixed with
 * reads; meanwhile every process, brokers included, is stopped with SIGTERM (it must exit 0),
 * started again and waited for (the broker until it has workers for every service again, a
 * daemon until its /readyz says 200) before the next. Then: no client request failed (a
 * client may retry within its own policy, with the same request id, but none ended in an
 * error), every acknowledged write is there exactly once, no write is there that was not
 * acknowledged, and the event sequence has no gap. It prints the requests, the retries and
 * the p99 latency before and during the restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "client.h"
#include "harness.h"
#include "ident.h"
#include "migrate.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/matching.pb-c.h"
#include "ovop/v1/notify.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "seal.h"
#include "util.h"

#define BROKERS     2
#define INSTANCES   2
#define KINDS       4
#define THREADS     2    /* load threads per service */
#define TIMEOUT_MS  3000 /* per attempt: ovopctl's default policy */
#define RETRIES     2    /* attempts after the first, same request id */
#define BASELINE_MS 3000 /* load before the first restart */
#define SETTLE_MS   1500 /* load after the last */
#define READY_MS    20000
#define VILLAGE     "41704235000101" /* Kochkor District, Naryn Region */
#define DESK        "roll-desk"      /* matching.buyer */
#define AGENCY      "customs"        /* notify.subscriber */

enum { REGISTRY, EXPORTS, MATCHING, NOTIFY };

typedef struct kind {
    const char *bin, *service, *role, *principal, *caller, *log;
    /* The table and column that hold a write's marker, so that "exactly once" is counted
     * where the write lands, not only in bus.idempotency. */
    const char *table, *column;
    /* Replies kept in bus.idempotency; notifyd's endpoints are idempotent by their own
     * unique (agency, request_id) instead. */
    bool remembered;
} kind_t;

static const kind_t kinds[KINDS] = {
    {"ovop-registryd", "ovop.registry", "ovop_registry", "svc-ovop.registry", IDENT_ADMIN,
     "registryd", "registry.producers", "tax_id", true},
    {"ovop-exportd", "ovop.exports", "ovop_exports", "svc-ovop.exports", IDENT_ADMIN, "exportd",
     "exports.shipments", "consignment_note", true},
    {"ovop-matchd", "ovop.matching", "ovop_matching", "svc-ovop.matching", DESK, "matchd",
     "matching.orders", "buyer_name", true},
    {"ovop-notifyd", "ovop.notify", "ovop_notify", "svc-ovop.notify", AGENCY, "notifyd",
     "notify.endpoints", "request_id", false},
};

static const char *const seed_sql[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, lat, lon, "
    "valid_from) VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', "
    "42.215, 75.755, '2000-01-01') RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, status, "
    "created_at, updated_at) VALUES (9002, 'sme', 'Kochkor Honey LLC', '01503201910002', "
    "'" VILLAGE "', 'active', now(), now()) RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
    "capacity_per_month, price_usd, created_at, updated_at) VALUES (9202, 9002, "
    "'Mountain honey', 'honey', '040900', 'kg', 3000, 9.5, now(), now()) RETURNING 1",
    NULL};

static struct env {
    char *db;
    PGconn *conn;
    ident_t ident;
    char secrets_key[600];
    uint16_t port[BROKERS], broker_http[BROKERS];
    char endpoint[BROKERS][64];
    char brokers[160]; /* both endpoints, comma-separated */
    pid_t broker[BROKERS];
    pid_t daemon[KINDS][INSTANCES];
    uint16_t daemon_http[KINDS][INSTANCES];
} E;

/* ---- processes ---- */

static int spawn_broker(int b)
{
    char http[32];
    snprintf(http, sizeof(http), "127.0.0.1:%u", E.broker_http[b]);
    char *db = pgtest_as_role(E.db, "ovop_broker");
    char log[32];
    snprintf(log, sizeof(log), "broker-%d", b);
    const char *args[] = {"--bind", E.endpoint[b],         "--http",         http,
                          "--key",  E.ident.broker_secret, "--database-url", db,
                          NULL};
    char *bin = harness_bin("ovop-broker");
    int r = harness_spawn(&E.broker[b], bin, args, NULL, log);
    free(bin);
    free(db);
    return r;
}

static int spawn_daemon(int k, int i)
{
    const kind_t *kd = &kinds[k];
    char http[32], log[48];
    snprintf(http, sizeof(http), "127.0.0.1:%u", E.daemon_http[k][i]);
    snprintf(log, sizeof(log), "%s-%d", kd->log, i);
    char *db = pgtest_as_role(E.db, kd->role);
    char *key = ident_secret(&E.ident, kd->principal);
    const char *args[24] = {
        "--broker", E.brokers,      "--database-url",   db,  "--http", http, "--key",
        key,        "--broker-key", E.ident.broker_key, NULL};
    size_t n = 10;
    if (k == NOTIFY) {
        /* Webhooks need the sealing key; no stream port, so that instances do not collide. */
        const char *extra[] = {"--secrets-key", E.secrets_key,   "--webhook-allow",
                               "127.0.0.0/8",   "--stream-bind", ""};
        for (size_t j = 0; j < OVOP_ARRAY_SIZE(extra); j++)
            args[n++] = extra[j];
        args[n] = NULL;
    }
    char *bin = harness_bin(kd->bin);
    int r = harness_spawn(&E.daemon[k][i], bin, args, NULL, log);
    free(bin);
    free(key);
    free(db);
    return r;
}

/* Ready: the broker has a worker of every service again (asked on it alone). */
static int broker_ready(int b)
{
    ovop_security_t sec;
    if (ident_security(&E.ident, IDENT_ADMIN, &sec) < 0)
        return -EINVAL;
    int r = 0;
    for (int k = 0; k < KINDS && r == 0; k++)
        r = harness_wait_service(E.endpoint[b], kinds[k].service, READY_MS, &sec);
    ovop_security_clear(&sec);
    return r;
}

/* Ready: /readyz answers 200 (a broker heard, the database reachable, not draining). */
static int daemon_ready(int k, int i)
{
    int64_t deadline = ovop_mono_us() + (int64_t)READY_MS * 1000;
    while (ovop_mono_us() < deadline) {
        ovop_buf_t page = {0};
        int status = harness_http_get(E.daemon_http[k][i], "/readyz", &page);
        ovop_buf_free(&page);
        if (status == 200)
            return 0;
        harness_sleep_ms(20);
    }
    return -ETIMEDOUT;
}

/* SIGTERM, wait for exit 0, start again, wait until ready. Returns NULL or why not (static). */
static const char *restart(pid_t *pid, const char *what, int (*spawn)(int, int), int a, int b,
                           int (*ready)(int, int))
{
    static char why[160];
    int status = -1;
    if (harness_kill(*pid, SIGTERM) < 0 || harness_wait_exit(*pid, 30000, &status) < 0) {
        snprintf(why, sizeof(why), "%s did not exit within 30 s of SIGTERM", what);
        return why;
    }
    *pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, sizeof(why), "%s ended with status %#x after SIGTERM, not exit 0", what,
                 status);
        return why;
    }
    if (spawn(a, b) < 0 || ready(a, b) < 0) {
        snprintf(why, sizeof(why), "%s was not ready within %d ms of its start", what, READY_MS);
        return why;
    }
    return NULL;
}

static int spawn_broker2(int b, int unused)
{
    OVOP_UNUSED(unused);
    return spawn_broker(b);
}

static int broker_ready2(int b, int unused)
{
    OVOP_UNUSED(unused);
    return broker_ready(b);
}

/* ---- load ---- */

typedef struct sample {
    int64_t at_us; /* when the call started */
    uint32_t lat_us;
} sample_t;

typedef struct load {
    int kind, thread;
    atomic_bool *stop;
    uint64_t writes, reads, failed, retries;
    char first_error[256];
    char **rids; /* acknowledged writes */
    char **markers;
    size_t n_acked, cap_acked;
    sample_t *samples;
    size_t n_samples, cap_samples;
} load_t;

/* One write of the thread's kind with request id rid and marker (where it lands). */
static int write_call(ovop_client_t *c, int kind, const char *rid, const char *marker,
                      Ovop__V1__Reply **rep)
{
    switch (kind) {
    case REGISTRY: {
        Ovop__V1__GeoPoint loc = OVOP__V1__GEO_POINT__INIT;
        loc.set = true;
        loc.lat = 42.215;
        loc.lon = 75.755;
        Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
        in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
        in.legal_name = "Kochkor Felt Makers LLC";
        in.tax_id = (char *)marker;
        in.territory_code = VILLAGE;
        in.location = &loc;
        return ovop_client_call(c, kinds[kind].service, "RegisterProducer", rid, &in.base, NULL,
                                rep, NULL);
    }
    case EXPORTS: {
        Ovop__V1__ExporterRef exporter = OVOP__V1__EXPORTER_REF__INIT;
        exporter.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
        exporter.id = 9002;
        Ovop__V1__Buyer buyer = OVOP__V1__BUYER__INIT;
        buyer.name = "Kashgar Honey Trading";
        buyer.country = "CN";
        buyer.address = "Kashgar";
        Ovop__V1__Transport transport = OVOP__V1__TRANSPORT__INIT;
        transport.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD;
        transport.vehicle = "05KG123ABC";
        transport.consignment_note = (char *)marker;
        Ovop__V1__Lot lot = OVOP__V1__LOT__INIT;
        lot.product_id = 9202;
        lot.producer_id = 9002;
        lot.quantity = 100;
        lot.net_weight_kg = 100;
        lot.value_usd_cents = 95000;
        lot.value_som_tyiyn = 8312500;
        Ovop__V1__Lot *lots[] = {&lot};
        Ovop__V1__CreateShipmentRequest in = OVOP__V1__CREATE_SHIPMENT_REQUEST__INIT;
        in.exporter = &exporter;
        in.buyer = &buyer;
        in.destination = "CN";
        in.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
        in.n_lots = 1;
        in.lots = lots;
        in.transport = &transport;
        in.border_point = "KG-IRKESHTAM";
        in.planned_departure = "2026-06-01";
        in.planned_arrival = "2026-06-05";
        return ovop_client_call(c, kinds[kind].service, "CreateShipment", rid, &in.base, NULL, rep,
                                NULL);
    }
    case MATCHING: {
        Ovop__V1__Buyer buyer = OVOP__V1__BUYER__INIT;
        buyer.name = (char *)marker;
        buyer.country = "CN";
        buyer.address = "Kashgar";
        Ovop__V1__ConsolidationPoint cp = OVOP__V1__CONSOLIDATION_POINT__INIT;
        cp.territory_code = VILLAGE;
        Ovop__V1__Order o = OVOP__V1__ORDER__INIT;
        o.buyer = &buyer;
        o.destination = "CN";
        o.hs_code = "040900";
        o.quantity = 10;
        o.window_from = "2027-06-01";
        o.window_to = "2027-06-30";
        o.consolidation = &cp;
        Ovop__V1__CreateOrderRequest in = OVOP__V1__CREATE_ORDER_REQUEST__INIT;
        in.order = &o;
        return ovop_client_call(c, kinds[kind].service, "CreateOrder", rid, &in.base, NULL, rep,
                                NULL);
    }
    default: {
        char url[160];
        snprintf(url, sizeof(url), "http://127.0.0.1:9/hooks/%s", marker);
        Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
        in.url = url;
        return ovop_client_call(c, kinds[kind].service, "CreateEndpoint", rid, &in.base, NULL, rep,
                                NULL);
    }
    }
}

/* One read of the thread's kind. */
static int read_call(ovop_client_t *c, int kind, Ovop__V1__Reply **rep)
{
    switch (kind) {
    case REGISTRY: {
        Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
        in.code = VILLAGE;
        return ovop_client_call(c, kinds[kind].service, "GetTerritory", NULL, &in.base, NULL, rep,
                                NULL);
    }
    case EXPORTS: {
        Ovop__V1__ListShipmentsRequest in = OVOP__V1__LIST_SHIPMENTS_REQUEST__INIT;
        in.page_size = 5;
        return ovop_client_call(c, kinds[kind].service, "ListShipments", NULL, &in.base, NULL, rep,
                                NULL);
    }
    case MATCHING: {
        Ovop__V1__ListOrdersRequest in = OVOP__V1__LIST_ORDERS_REQUEST__INIT;
        in.page_size = 5;
        return ovop_client_call(c, kinds[kind].service, "ListOrders", NULL, &in.base, NULL, rep,
                                NULL);
    }
    default: {
        Ovop__V1__ListEndpointsRequest in = OVOP__V1__LIST_ENDPOINTS_REQUEST__INIT;
        return ovop_client_call(c, kinds[kind].service, "ListEndpoints", NULL, &in.base, NULL, rep,
                                NULL);
    }
    }
}

static void note_error(load_t *l, const char *what, int r, const Ovop__V1__Reply *rep)
{
    l->failed++;
    if (l->first_error[0])
        return;
    if (r < 0)
        snprintf(l->first_error, sizeof(l->first_error), "%s: %s", what, strerror(-r));
    else
        snprintf(l->first_error, sizeof(l->first_error), "%s: %s %s", what, rep->status->reason,
                 rep->status->message);
}

static void note_sample(load_t *l, int64_t t0)
{
    if (l->n_samples == l->cap_samples) {
        l->cap_samples = l->cap_samples ? l->cap_samples * 2 : 1024;
        l->samples = xrealloc(l->samples, l->cap_samples * sizeof(sample_t));
    }
    l->samples[l->n_samples++] = (sample_t){t0, (uint32_t)(ovop_mono_us() - t0)};
}

static void note_acked(load_t *l, const char *rid, const char *marker)
{
    if (l->n_acked == l->cap_acked) {
        l->cap_acked = l->cap_acked ? l->cap_acked * 2 : 256;
        l->rids = xrealloc(l->rids, l->cap_acked * sizeof(char *));
        l->markers = xrealloc(l->markers, l->cap_acked * sizeof(char *));
    }
    l->rids[l->n_acked] = xstrdup(rid);
    l->markers[l->n_acked++] = xstrdup(marker);
}

static void *load_main(void *arg)
{
    load_t *l = arg;
    const kind_t *kd = &kinds[l->kind];
    ovop_security_t sec;
    if (ident_security(&E.ident, kd->caller, &sec) < 0) {
        note_error(l, "keys", -EINVAL, NULL);
        return NULL;
    }
    ovop_client_options_t o = {
        .brokers = E.brokers, .timeout_ms = TIMEOUT_MS, .retries = RETRIES, .security = &sec};
    ovop_client_t *c = NULL;
    int r = ovop_client_new(&c, NULL, &o);
    ovop_security_clear(&sec);
    if (r < 0) {
        note_error(l, "client", r, NULL);
        return NULL;
    }
    for (uint64_t n = 0; !atomic_load(l->stop); n++) {
        Ovop__V1__Reply *rep = NULL;
        int64_t t0 = ovop_mono_us();
        if (n % 2 == 0) {
            char rid[64], marker[64];
            snprintf(rid, sizeof(rid), "roll-%d-%d-%llu", l->kind, l->thread,
                     (unsigned long long)n);
            if (l->kind == REGISTRY) /* an organisation's INN: 0, DDMMYYYY, 5 digits */
                snprintf(marker, sizeof(marker), "0%02d%02d19907%04d", 1 + (int)((n / 20000) % 28),
                         1 + l->thread, (int)(n / 2 % 10000));
            else
                snprintf(marker, sizeof(marker), "%s", rid);
            r = write_call(c, l->kind, rid, marker, &rep);
            l->writes++;
            if (r == 0 && (!rep->status || rep->status->code == OVOP_OK))
                note_acked(l, rid, marker);
            else
                note_error(l, rid, r, rep);
        } else {
            r = read_call(c, l->kind, &rep);
            l->reads++;
            if (r < 0 || (rep->status && rep->status->code != OVOP_OK))
                note_error(l, "read", r, rep);
        }
        note_sample(l, t0);
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
    }
    l->retries = ovop_client_retries(c);
    ovop_client_destroy(&c);
    return NULL;
}

/* ---- checks ---- */

/* '{a,b,...}': markers and request ids are plain ASCII without commas or quotes. */
static char *array_literal(char *const *v, size_t n)
{
    ovop_buf_t b = {0};
    ovop_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ovop_buf_puts(&b, ",");
        ovop_buf_puts(&b, v[i]);
    }
    ovop_buf_puts(&b, "}");
    return b.data; /* the caller frees it */
}

static long count_params(const char *sql, const char *a, const char *b)
{
    const char *params[] = {a, b};
    int n_params = a ? (b ? 2 : 1) : 0;
    PGresult *res = PQexecParams(E.conn, sql, n_params, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(E.conn));
    long n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return n;
}

/* Every acknowledged write of kind k exactly once where it lands and in bus.idempotency, and
 * nothing of the test's there that was not acknowledged. */
static void check_writes(int k, load_t *loads, size_t n_loads)
{
    const kind_t *kd = &kinds[k];
    char **rids = NULL, **markers = NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_loads; i++) {
        if (loads[i].kind != k)
            continue;
        rids = xrealloc(rids, (n + loads[i].n_acked + 1) * sizeof(char *));
        markers = xrealloc(markers, (n + loads[i].n_acked + 1) * sizeof(char *));
        memcpy(rids + n, loads[i].rids, loads[i].n_acked * sizeof(char *));
        memcpy(markers + n, loads[i].markers, loads[i].n_acked * sizeof(char *));
        n += loads[i].n_acked;
    }
    assert_true(n > 0);
    char *rid_arr = array_literal(rids, n), *marker_arr = array_literal(markers, n);
    char *sql = xasprintf("SELECT count(*) FROM unnest($1::text[]) m WHERE (SELECT count(*) FROM "
                          "%s t WHERE t.%s = m) <> 1",
                          kd->table, kd->column);
    long not_once = count_params(sql, marker_arr, NULL);
    free(sql);
    sql = xasprintf("SELECT count(*) FROM %s t WHERE t.%s LIKE $1", kd->table, kd->column);
    long present = count_params(sql, k == REGISTRY ? "0____19907%" : "roll-%", NULL);
    free(sql);
    long not_remembered = !kd->remembered
                              ? 0
                              : count_params("SELECT count(*) FROM unnest($1::text[]) r WHERE "
                                             "(SELECT count(*) FROM bus.idempotency i "
                                             "WHERE i.service = $2 AND i.request_id = r) <> 1",
                                             rid_arr, kd->service);
    printf("# %s: %zu writes acknowledged, %ld rows of the test's, %ld not exactly once, %ld "
           "without exactly one stored reply\n",
           kd->service, n, present, not_once, not_remembered);
    assert_int_equal(not_once, 0);
    assert_int_equal(present, (long)n);
    assert_int_equal(not_remembered, 0);
    free(rid_arr);
    free(marker_arr);
    free(rids);
    free(markers);
}

/* Waits for the sequencer to number every event, then checks 1..max without a gap. */
static void check_sequence(void)
{
    long unnumbered = 1;
    for (int i = 0; i < 200 && unnumbered; i++) {
        unnumbered = count_params("SELECT count(*) FROM bus.events WHERE seq IS NULL", NULL, NULL);
        if (unnumbered)
            harness_sleep_ms(50);
    }
    long events = count_params("SELECT count(*) FROM bus.events", NULL, NULL);
    long distinct = count_params("SELECT count(DISTINCT seq) FROM bus.events", NULL, NULL);
    long max = count_params("SELECT coalesce(max(seq), 0) FROM bus.events", NULL, NULL);
    long min = count_params("SELECT coalesce(min(seq), 1) FROM bus.events", NULL, NULL);
    printf("# events: %ld, unnumbered %ld, seq %ld..%ld, distinct %ld\n", events, unnumbered, min,
           max, distinct);
    assert_int_equal(unnumbered, 0);
    assert_int_equal(min, 1);
    assert_int_equal(distinct, events);
    assert_int_equal(max, events);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* p99 (ms) of the samples started in [from, to); *ret_n how many. */
static double p99_ms(load_t *loads, size_t n_loads, int64_t from, int64_t to, size_t *ret_n)
{
    uint32_t *v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_loads; i++)
        for (size_t j = 0; j < loads[i].n_samples; j++) {
            const sample_t *s = &loads[i].samples[j];
            if (s->at_us < from || s->at_us >= to)
                continue;
            v = xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = s->lat_us;
        }
    *ret_n = n;
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_u32);
    double p = v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0;
    free(v);
    return p;
}

/* ---- the test ---- */

static int setup(void **state)
{
    OVOP_UNUSED(state);
    E.db = pgtest_create("rolling");
    E.conn = pgtest_connect(E.db);
    char *err = NULL;
    if (ovop_migrate(E.conn, NULL, &err) < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(ident_setup(&E.ident, E.conn, "rolling"), 0);
    assert_int_equal(ident_add(&E.ident, E.conn, DESK, "operator", "matching.buyer", NULL, NULL),
                     0);
    assert_int_equal(
        ident_add(&E.ident, E.conn, AGENCY, "agency", "customs notify.subscriber", NULL, AGENCY),
        0);
    for (size_t i = 0; seed_sql[i]; i++)
        if (strcmp(pgtest_sqlstate(E.conn, seed_sql[i]), "00000") != 0)
            fail_msg("seed: %s: %s", seed_sql[i], PQerrorMessage(E.conn));
    snprintf(E.secrets_key, sizeof(E.secrets_key), "%s/rolling-secrets.key", harness_tmpdir());
    remove(E.secrets_key);
    if (notify_seal_key_write(E.secrets_key, &err) < 0)
        fail_msg("secrets key: %s", err);

    for (int b = 0; b < BROKERS; b++) {
        assert_int_equal(harness_free_port(&E.port[b]), 0);
        assert_int_equal(harness_free_port(&E.broker_http[b]), 0);
        snprintf(E.endpoint[b], sizeof(E.endpoint[b]), "tcp://127.0.0.1:%u", E.port[b]);
    }
    snprintf(E.brokers, sizeof(E.brokers), "%s,%s", E.endpoint[0], E.endpoint[1]);
    for (int b = 0; b < BROKERS; b++)
        assert_int_equal(spawn_broker(b), 0);
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < INSTANCES; i++) {
            assert_int_equal(harness_free_port(&E.daemon_http[k][i]), 0);
            assert_int_equal(spawn_daemon(k, i), 0);
        }
    for (int b = 0; b < BROKERS; b++)
        assert_int_equal(broker_ready(b), 0);
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < INSTANCES; i++)
            assert_int_equal(daemon_ready(k, i), 0);
    return 0;
}

static int teardown(void **state)
{
    OVOP_UNUSED(state);
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < INSTANCES; i++)
            harness_stop(E.daemon[k][i]);
    for (int b = 0; b < BROKERS; b++)
        harness_stop(E.broker[b]);
    if (E.conn)
        PQfinish(E.conn);
    pgtest_drop(&E.db);
    return 0;
}

/* When each restart began, to say which one slow requests overlapped. */
#define MAX_STEPS (BROKERS + KINDS * INSTANCES)
static int64_t step_at[MAX_STEPS];
static char step_name[MAX_STEPS][64];
static int n_steps;

static void step(const char *what)
{
    step_at[n_steps] = ovop_mono_us();
    snprintf(step_name[n_steps++], sizeof(step_name[0]), "%s", what);
}

/* Prints, per restart, how many requests that started during it took over a second. */
static void print_slow(const load_t *loads, size_t n_loads)
{
    size_t slow[MAX_STEPS] = {0};
    for (size_t i = 0; i < n_loads; i++)
        for (size_t j = 0; j < loads[i].n_samples; j++) {
            const sample_t *s = &loads[i].samples[j];
            int at = -1;
            for (int k = 0; k < n_steps && step_at[k] <= s->at_us; k++)
                at = k;
            if (at >= 0 && s->lat_us > 1000000)
                slow[at]++;
        }
    for (int k = 0; k < n_steps; k++)
        if (slow[k])
            printf("# %zu requests over 1 s started during the restart of %s\n", slow[k],
                   step_name[k]);
}

/* Restarts every process in turn; returns NULL or why one failed. */
static const char *restart_all(void)
{
    const char *why = NULL;
    char what[64];
    for (int b = 0; b < BROKERS && !why; b++) {
        snprintf(what, sizeof(what), "broker %d", b);
        step(what);
        int64_t t0 = ovop_mono_us();
        why = restart(&E.broker[b], what, spawn_broker2, b, 0, broker_ready2);
        printf("# restarted %s in %.0f ms\n", what, (ovop_mono_us() - t0) / 1000.0);
    }
    for (int k = 0; k < KINDS && !why; k++)
        for (int i = 0; i < INSTANCES && !why; i++) {
            snprintf(what, sizeof(what), "%s instance %d", kinds[k].log, i);
            step(what);
            int64_t t0 = ovop_mono_us();
            why = restart(&E.daemon[k][i], what, spawn_daemon, k, i, daemon_ready);
            printf("# restarted %s in %.0f ms\n", what, (ovop_mono_us() - t0) / 1000.0);
        }
    return why;
}

static void test_rolling_restart(void **state)
{
    OVOP_UNUSED(state);
    enum { N = KINDS * THREADS };
    load_t loads[N];
    pthread_t th[N];
    atomic_bool stop = false;
    for (int i = 0; i < N; i++) {
        loads[i] = (load_t){.kind = i / THREADS, .thread = i % THREADS, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, load_main, &loads[i]), 0);
    }
    int64_t t_start = ovop_mono_us();
    harness_sleep_ms(BASELINE_MS);
    int64_t t_roll = ovop_mono_us();
    const char *why = restart_all();
    int64_t t_rolled = ovop_mono_us();
    harness_sleep_ms(SETTLE_MS);
    atomic_store(&stop, true);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);

    uint64_t writes = 0, reads = 0, failed = 0, retries = 0;
    for (int i = 0; i < N; i++) {
        writes += loads[i].writes;
        reads += loads[i].reads;
        failed += loads[i].failed;
        retries += loads[i].retries;
        if (loads[i].first_error[0])
            printf("# %s thread %d: %llu failed, the first: %s\n", kinds[loads[i].kind].service,
                   loads[i].thread, (unsigned long long)loads[i].failed, loads[i].first_error);
    }
    size_t n_before, n_during;
    double p99_before = p99_ms(loads, N, t_start, t_roll, &n_before);
    double p99_during = p99_ms(loads, N, t_roll, t_rolled, &n_during);
    printf("# rolling restart of %d processes in %.1f s under load: %llu requests (%llu writes, "
           "%llu reads), %zu during the restarts, %llu retried attempts, %llu failed\n",
           BROKERS + KINDS * INSTANCES, (t_rolled - t_roll) / 1e6,
           (unsigned long long)(writes + reads), (unsigned long long)writes,
           (unsigned long long)reads, n_during, (unsigned long long)retries,
           (unsigned long long)failed);
    printf("# p99 latency: %.1f ms before (%zu requests), %.1f ms during the restarts\n",
           p99_before, n_before, p99_during);
    print_slow(loads, N);
    if (why)
        fail_msg("%s", why);
    assert_int_equal(failed, 0);
    assert_true(n_during > 0);
    for (int k = 0; k < KINDS; k++)
        check_writes(k, loads, N);
    check_sequence();
    for (int i = 0; i < N; i++) {
        for (size_t j = 0; j < loads[i].n_acked; j++) {
            free(loads[i].rids[j]);
            free(loads[i].markers[j]);
        }
        free(loads[i].rids);
        free(loads[i].markers);
        free(loads[i].samples);
    }
}

/* CreateEndpoint sent again with its request id (a client resending after a broker
 * restart) gets the endpoint and the secret of the first, not a refusal; another URL under
 * the same id is still refused. */
static void test_create_endpoint_resent(void **state)
{
    OVOP_UNUSED(state);
    ovop_security_t sec;
    assert_int_equal(ident_security(&E.ident, AGENCY, &sec), 0);
    ovop_client_options_t o = {
        .brokers = E.brokers, .timeout_ms = TIMEOUT_MS, .retries = RETRIES, .security = &sec};
    ovop_client_t *c = NULL;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    ovop_security_clear(&sec);
    Ovop__V1__EndpointSecret *out[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
        in.url = "http://127.0.0.1:9/hooks/resent";
        Ovop__V1__Reply *rep = NULL;
        assert_int_equal(ovop_client_call(c, "ovop.notify", "CreateEndpoint", "resent-endpoint",
                                          &in.base, &ovop__v1__endpoint_secret__descriptor, &rep,
                                          (ProtobufCMessage **)&out[i]),
                         0);
        assert_int_equal(rep->status ? rep->status->code : OVOP_OK, OVOP_OK);
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    assert_string_equal(out[0]->endpoint->id, out[1]->endpoint->id);
    assert_string_equal(out[0]->secret, out[1]->secret);
    assert_true(strlen(out[0]->secret) > 0);
    for (int i = 0; i < 2; i++)
        protobuf_c_message_free_unpacked(&out[i]->base, NULL);

    Ovop__V1__CreateEndpointRequest other = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
    other.url = "http://127.0.0.1:9/hooks/other";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(ovop_client_call(c, "ovop.notify", "CreateEndpoint", "resent-endpoint",
                                      &other.base, NULL, &rep, NULL),
                     0);
    assert_non_null(rep->status);
    assert_string_equal(rep->status->reason, "REQUEST_ID_REUSED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    assert_int_equal(count_params("SELECT count(*) FROM notify.endpoints WHERE request_id = $1",
                                  "resent-endpoint", NULL),
                     1);
}

/* ---- a drain with requests in hand ---- */

typedef struct held {
    int i;
    bool read; /* GetTerritory until stop, else one RegisterProducer */
    atomic_bool *stop;
    uint64_t calls, failed, slow; /* slow: took over 400 ms (waited for a timeout) */
    char first_error[256];
} held_t;

static void *held_main(void *arg)
{
    held_t *h = arg;
    load_t l = {0};
    ovop_security_t sec;
    if (ident_security(&E.ident, IDENT_ADMIN, &sec) < 0)
        return NULL;
    /* Readers give up sooner than the drain lasts: none of their requests may wait for it. */
    ovop_client_options_t o = {.brokers = E.brokers,
                               .timeout_ms = h->read ? 500 : 15000,
                               .retries = RETRIES,
                               .security = &sec};
    ovop_client_t *c = NULL;
    int r = ovop_client_new(&c, NULL, &o);
    ovop_security_clear(&sec);
    if (r < 0)
        return NULL;
    do {
        Ovop__V1__Reply *rep = NULL;
        char rid[48], marker[16];
        snprintf(rid, sizeof(rid), "held-%d", h->i);
        snprintf(marker, sizeof(marker), "0010119908%04d", h->i);
        int64_t t0 = ovop_mono_us();
        r = h->read ? read_call(c, REGISTRY, &rep) : write_call(c, REGISTRY, rid, marker, &rep);
        h->calls++;
        h->slow += ovop_mono_us() - t0 > 400000;
        if (r < 0 || (rep->status && rep->status->code != OVOP_OK))
            note_error(&l, h->read ? "read" : rid, r, rep);
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
    } while (h->read && !atomic_load(h->stop));
    h->failed = l.failed;
    memcpy(h->first_error, l.first_error, sizeof(h->first_error));
    ovop_client_destroy(&c);
    return NULL;
}

/* An instance stopping while it holds requests that take a while (here writes waiting for a
 * table lock, 2 s) keeps draining them, and the brokers send new requests to the other
 * instance meanwhile: readers that give up after 500 ms and 2 retries see no failure. */
static void test_drain_with_requests_in_hand(void **state)
{
    OVOP_UNUSED(state);
    enum { WRITERS = 4, READERS = 4 };
    PGconn *lock = pgtest_connect(E.db);
    assert_string_equal(pgtest_sqlstate(lock, "BEGIN"), "00000");
    assert_string_equal(
        pgtest_sqlstate(lock, "LOCK TABLE registry.producers IN SHARE ROW EXCLUSIVE MODE"),
        "00000");
    atomic_bool stop = false;
    held_t h[WRITERS + READERS];
    pthread_t th[WRITERS + READERS];
    for (int i = 0; i < WRITERS; i++) {
        h[i] = (held_t){.i = i, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, held_main, &h[i]), 0);
    }
    /* Both instances hold writes (the broker spreads them by free credit). */
    long waiting = 0;
    for (int i = 0; i < 200 && waiting < WRITERS; i++) {
        harness_sleep_ms(25);
        waiting = count_params("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND wait_event_type = 'Lock'",
                               NULL, NULL);
    }
    assert_int_equal(waiting, WRITERS);
    assert_int_equal(harness_kill(E.daemon[REGISTRY][0], SIGTERM), 0);
    harness_sleep_ms(100); /* its DRAINING reaches the brokers */
    for (int i = WRITERS; i < WRITERS + READERS; i++) {
        h[i] = (held_t){.i = i, .read = true, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, held_main, &h[i]), 0);
    }
    harness_sleep_ms(2000);
    atomic_store(&stop, true);
    for (int i = WRITERS; i < WRITERS + READERS; i++)
        pthread_join(th[i], NULL);
    assert_string_equal(pgtest_sqlstate(lock, "COMMIT"), "00000");
    PQfinish(lock);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    int status = -1;
    assert_int_equal(harness_wait_exit(E.daemon[REGISTRY][0], 15000, &status), 0);
    E.daemon[REGISTRY][0] = -1;
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(spawn_daemon(REGISTRY, 0), 0);
    assert_int_equal(daemon_ready(REGISTRY, 0), 0);

    uint64_t reads = 0, failed = 0, slow = 0;
    for (int i = 0; i < WRITERS + READERS; i++) {
        if (h[i].read) {
            reads += h[i].calls;
            slow += h[i].slow;
        }
        failed += h[i].failed;
        if (h[i].first_error[0])
            printf("# %s %d: %s\n", h[i].read ? "reader" : "writer", i, h[i].first_error);
    }
    printf("# drain with %d writes in hand: %llu reads meanwhile, %llu of them over 400 ms, %llu "
           "requests failed\n",
           WRITERS, (unsigned long long)reads, (unsigned long long)slow,
           (unsigned long long)failed);
    assert_int_equal(failed, 0);
    assert_true(reads > 0);
    assert_int_equal(count_params("SELECT count(*) FROM registry.producers WHERE tax_id LIKE "
                                  "'0010119908%'",
                                  NULL, NULL),
                     WRITERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_endpoint_resent),
        cmocka_unit_test(test_rolling_restart),
        cmocka_unit_test(test_drain_with_requests_in_hand),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
