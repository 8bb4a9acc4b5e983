/* bench-exports: exportd's write paths beside the durable-write limit of this machine, and
 * its statistics on the aggregates of a million shipments, measured in one run.
 *
 *   1. raw libpq: single-row INSERT + COMMIT in a loop on 8 connections (each commit waits
 *      for the WAL flush: the machine's durable-write limit) vs shipment moves
 *      (TransitionShipment) through the broker from 8 client threads, one exportd with 4
 *      connections (it coalesces the moves that arrive while its statement runs: on two
 *      cores, two instances split the batches and do less); every shipment walks declared,
 *      documents_complete, released, departed (statistics updated), delivered;
 *   2. raw libpq: the rows a batch adds (N history rows and N events) as two multi-row
 *      INSERTs in one transaction vs RecordShipmentEvents batches of N moves (N = 500:
 *      100 shipments x 5 moves), 1 client;
 *   3. GetExportStatistics latency on the aggregates of 1,000,000 departed shipments, with
 *      their 8 per-connection stripes and after exports.fold_stats folded them.
 *
 * Everything talks CURVE as in production, with the principals of tests/support/ident.h: the
 * export desk (IDENT_ADMIN, exports.clerk) creates the shipments and makes the moves no agency
 * owns, customs releases and departs them (a batch, which one principal sends, is customs'),
 * each certificate is attached by its agency.
 *
 * Needs OVOP_TEST_PG_URL (a superuser URL; `./deploy/ovop bench` provides one);
 * OVOP_BENCH_ONLY=moves runs part 1 only.
 * Usage: bench-exports [SECONDS]. Not a test: prints figures and ratios, exits 0 unless it
 * cannot start. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "ident.h"
#include "log.h"
#include "migrate.h"
#include "ovop/v1/exports.pb-c.h"
#include "util.h"
#include <libpq-fe.h>

#define DB_NAME    "ovop_bench_exports"
#define CLIENTS    8
#define N_EXPORTD  1
#define POOL       "4"
#define BATCH_SHIP 100 /* shipments per batch, 5 moves each */
#define BATCH_N    (BATCH_SHIP * 5)
#define VILLAGE    "41705214001001"
#define PRODUCER   7001
#define PRODUCT    7101

static char endpoint[64];
static uint16_t exportd_http[N_EXPORTD]; /* their /metrics */
static char *db_url;
static int64_t *ids; /* cloned shipments, in draft with every document */
static size_t n_ids;
static atomic_size_t next_shipment;
static size_t event_bytes = 400; /* measured from the template's events */
static ident_t ident;            /* the broker's keys and the principals' */
static ovop_security_t desk, customs;

static const int path[] = {OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DECLARED,
                           OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DOCUMENTS_COMPLETE,
                           OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_RELEASED,
                           OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED,
                           OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DELIVERED};

/* True for the moves customs alone records: they are made with customs' key. */
static bool customs_move(int to)
{
    return to == OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_RELEASED ||
           to == OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED;
}

/* The principal that issues a document of `type`: its agency, or the export desk for the
 * exporter's own papers (exportd's rule, services/exports/authority.c). */
static const char *issuer_of(int type)
{
    switch (type) {
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_PHYTOSANITARY:
        return "plant_quarantine";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_VETERINARY:
        return "veterinary";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_ORIGIN_CT1:
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_ORIGIN_FORM_A:
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_ORIGIN_GENERAL:
        return "chamber";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CUSTOMS_DECLARATION:
        return "customs";
    default:
        return IDENT_ADMIN;
    }
}

/* --- database --- */

static PGconn *connect_or_die(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: could not connect: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

static void exec_or_die(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %.200s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

static long scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) ? atol(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* A scratch database: migrated, one Batken village with a dried-apricot producer, and the
 * baseline tables (copies of what the exports paths write, indexes included). */
static char *make_database(void)
{
    const char *server = getenv("OVOP_TEST_PG_URL");
    if (!server || !*server) {
        fprintf(stderr, "bench: OVOP_TEST_PG_URL is not set; run ./deploy/ovop bench\n");
        exit(1);
    }
    PGconn *admin = connect_or_die(server);
    exec_or_die(admin, "SET client_min_messages = warning");
    exec_or_die(admin, "DROP DATABASE IF EXISTS " DB_NAME " WITH (FORCE)");
    exec_or_die(admin, "CREATE DATABASE " DB_NAME);
    PQfinish(admin);
    char *url = bench_conninfo_with_db(server, DB_NAME);
    if (!url)
        exit(1);
    PGconn *c = connect_or_die(url);
    char *err = NULL;
    if (ovop_migrate(c, NULL, &err) < 0) {
        fprintf(stderr, "bench: migrate: %s\n", err);
        exit(1);
    }
    /* The keys and principals, written as the database owner before the broker reads them. */
    if (ident_setup(&ident, c, "bench-exports") < 0 ||
        ident_security(&ident, IDENT_ADMIN, &desk) < 0 ||
        ident_security(&ident, "customs", &customs) < 0)
        exit(1);
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(c, "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
                   "valid_from) VALUES ('" VILLAGE "', 'village', '41705214000000', 'Кара-Бак', "
                   "'Kara-Bak', '2000-01-01')");
    exec_or_die(c, "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
                   "created_at, updated_at) VALUES (7001, 'sme', 'Batken Apricot LLC', "
                   "'01503201970001', '" VILLAGE "', now(), now())");
    exec_or_die(c, "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
                   "capacity_per_month, price_usd, created_at, updated_at) VALUES (7101, 7001, "
                   "'Dried apricots', 'dried fruit', '081310', 'kg', 100000, 4.1, now(), now())");
    exec_or_die(c, "CREATE TABLE public.raw_single (id bigserial PRIMARY KEY, shipment_id bigint "
                   "NOT NULL, to_status text NOT NULL, at timestamptz NOT NULL, caller text NOT "
                   "NULL, agency text NOT NULL)");
    exec_or_die(c, "CREATE TABLE public.raw_history (LIKE exports.shipment_history INCLUDING ALL)");
    exec_or_die(c, "CREATE TABLE public.raw_events (LIKE bus.events INCLUDING ALL)");
    exec_or_die(c, "CREATE SEQUENCE public.raw_ids");
    PQfinish(c);
    return url;
}

/* --- processes --- */

static int start(const char *db, pid_t *broker, pid_t *exp)
{
    uint16_t port, http;
    char bind[64], hbuf[64];
    if (harness_free_port(&port) < 0 || harness_free_port(&http) < 0)
        return -EADDRNOTAVAIL;
    snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%u", port);
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", port);
    snprintf(hbuf, sizeof(hbuf), "127.0.0.1:%u", http);
    const char *bargs[] = {
        "--bind",         bind, "--http",      hbuf,   "--key", ident.broker_secret,
        "--database-url", db,   "--log-level", "warn", NULL};
    char *bin = harness_bin("ovop-broker");
    int r = harness_spawn(broker, bin, bargs, NULL, "bench-broker");
    free(bin);
    if (r < 0)
        return r;
    bin = harness_bin("ovop-exportd");
    char *key = ident_secret(&ident, "svc-ovop.exports");
    for (int i = 0; i < N_EXPORTD && r == 0; i++) {
        char ehttp[32];
        if (harness_free_port(&exportd_http[i]) < 0)
            return -EADDRNOTAVAIL;
        snprintf(ehttp, sizeof(ehttp), "127.0.0.1:%u", exportd_http[i]);
        /* Folding is left to this program, to measure the statistics before and after. */
        const char *eargs[] = {
            "--broker",  endpoint, "--database-url", db,     "--credit",        "64",
            "--db-pool", POOL,     "--log-level",    "warn", "--stats-fold-ms", "3600000",
            "--http",    ehttp,    "--key",          key,    "--broker-key",    ident.broker_key,
            NULL,
        };
        r = harness_spawn(&exp[i], bin, eargs, NULL, "bench-exportd");
    }
    free(key);
    free(bin);
    if (r == 0)
        r = harness_wait_service(endpoint, "ovop.exports", 15000, &desk);
    return r;
}

/* The sum over the exportd of a series of their /metrics (absent: -1 each, which the
 * differences this program takes cancel). */
static double exportd_metric(const char *series)
{
    double v = 0;
    for (int i = 0; i < N_EXPORTD; i++)
        v += harness_port_metric(exportd_http[i], series);
    return v;
}

/* --- clients --- */

/* A client on context zctx with sec's keys; NULL (said on stderr) when it cannot be made. */
static ovop_client_t *client_open(void *zctx, const ovop_security_t *sec)
{
    ovop_client_t *c;
    ovop_client_options_t o = {.brokers = endpoint,
                               .timeout_ms = 30000,
                               .retries = 1,
                               .max_msg = 4 << 20,
                               .security = sec};
    int r = ovop_client_new(&c, zctx, &o);
    if (r < 0) {
        fprintf(stderr, "bench: could not make a client: %s\n", strerror(-r));
        return NULL;
    }
    return c;
}

/* Calls method; 0 when the service answered OK (out kept when asked), else -EIO. */
static int call(ovop_client_t *c, const char *method, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret_out)
{
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, "ovop.exports", method, NULL, in, desc, &rep, &out);
    int code = r < 0 ? r : (rep->status ? (int)rep->status->code : 0);
    if (code != 0 && rep && rep->status && getenv("OVOP_BENCH_VERBOSE"))
        fprintf(stderr, "bench: %s: %s\n", method, rep->status->message);
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (ret_out)
        *ret_out = out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code == 0 ? 0 : -EIO;
}

/* A shipment of dried apricots to China with every document attached, through the API; then
 * n copies of it in the tables (the setup of the write benchmarks, not measured). */
/* A client of each issuer, opened when first needed. They stay open until the setup ends:
 * clients made and destroyed in a row on one context may fail to open (see the report of
 * common/client.c's monitor endpoints). */
typedef struct issuer {
    const char *name;
    ovop_client_t *c;
} issuer_t;

static ovop_client_t *issuer_client(void *zctx, issuer_t *issuers, const char *name)
{
    size_t i = 0;
    while (issuers[i].name && strcmp(issuers[i].name, name) != 0)
        i++;
    if (!issuers[i].name) {
        ovop_security_t sec;
        if (ident_security(&ident, name, &sec) < 0)
            return NULL;
        issuers[i] = (issuer_t){name, client_open(zctx, &sec)};
        ovop_security_clear(&sec);
    }
    return issuers[i].c;
}

static int make_shipments(void *zctx, size_t n)
{
    issuer_t issuers[8] = {{0}}; /* at most 5 issuers, and a free slot */
    ovop_client_t *c = client_open(zctx, &desk);
    Ovop__V1__CreateShipmentRequest in = OVOP__V1__CREATE_SHIPMENT_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    Ovop__V1__Buyer b = OVOP__V1__BUYER__INIT;
    Ovop__V1__Transport t = OVOP__V1__TRANSPORT__INIT;
    Ovop__V1__Lot lot = OVOP__V1__LOT__INIT;
    Ovop__V1__Lot *lots[] = {&lot};
    x.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    x.id = PRODUCER;
    b.name = "Kashgar Dried Fruit Trading Co.";
    b.country = "CN";
    t.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD;
    lot.product_id = PRODUCT;
    lot.producer_id = PRODUCER;
    lot.quantity = lot.net_weight_kg = 20000;
    lot.value_usd_cents = 8200000;   /* USD 82,000 */
    lot.value_som_tyiyn = 717500000; /* 7,175,000 som */
    in.exporter = &x;
    in.buyer = &b;
    in.destination = "CN";
    in.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
    in.n_lots = 1;
    in.lots = lots;
    in.transport = &t;
    in.border_point = "KG-IRKESHTAM";
    in.planned_departure = "2026-08-01";
    ProtobufCMessage *out = NULL;
    if (call(c, "CreateShipment", &in.base, &ovop__v1__shipment__descriptor, &out) < 0)
        return -EIO;
    Ovop__V1__Shipment *s = (Ovop__V1__Shipment *)out;
    int64_t template_id = s->id;
    for (size_t i = 0; i < s->n_missing_documents; i++) {
        Ovop__V1__AttachDocumentRequest a = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
        char number[32];
        snprintf(number, sizeof(number), "DOC-%zu", i);
        a.shipment_id = template_id;
        a.type = s->missing_documents[i];
        a.number = number;
        a.issuer = "bench";
        a.issued_on = "2026-01-15";
        ovop_client_t *issuer = issuer_client(zctx, issuers, issuer_of((int)a.type));
        if (!issuer || call(issuer, "AttachDocument", &a.base, NULL, NULL) < 0)
            return -EIO;
    }
    protobuf_c_message_free_unpacked(out, NULL);
    bench_client_close(c);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(issuers); i++)
        if (issuers[i].c)
            bench_client_close(issuers[i].c);

    PGconn *db = connect_or_die(db_url);
    event_bytes = (size_t)scalar(db, "SELECT avg(length(data))::int FROM bus.events");
    char sql[4096];
    snprintf(
        sql, sizeof(sql),
        "WITH g AS (SELECT nextval('exports.ids') AS id FROM generate_series(1, %zu)), "
        "s AS (INSERT INTO exports.shipments (id, exporter_kind, exporter_id, exporter_name, "
        "  buyer_name, buyer_country, buyer_address, destination, incoterm, transport_mode, "
        "  vehicle, consignment_note, border_point, planned_departure, planned_arrival, "
        "  origin_territory, hs6, origins, required_docs, net_kg, value_usd, value_som, status, "
        "  version, "
        "  created_at, created_by, status_at, event_pb) "
        "  SELECT g.id, t.exporter_kind, t.exporter_id, t.exporter_name, t.buyer_name, "
        "  t.buyer_country, t.buyer_address, t.destination, t.incoterm, t.transport_mode, "
        "  t.vehicle, t.consignment_note, t.border_point, t.planned_departure, "
        "  t.planned_arrival, t.origin_territory, t.hs6, t.origins, t.required_docs, t.net_kg, "
        "  t.value_usd, "
        "  t.value_som, 'draft', t.version, t.created_at, t.created_by, t.status_at, "
        "  t.event_pb FROM g, exports.shipments t WHERE t.id = %lld RETURNING id), "
        "l AS (INSERT INTO exports.lots SELECT s.id, l.ord, l.product_id, l.producer_id, "
        "  l.hs6, l.product_name, l.quantity, l.unit, l.net_kg, l.value_usd, l.value_som, "
        "  l.territory_code FROM s, exports.lots l WHERE l.shipment_id = %lld) "
        "INSERT INTO exports.documents (id, shipment_id, doc_type, number, issuer, issued_on, "
        "  valid_until, status, created_at, updated_at, ref_pb) "
        "SELECT nextval('exports.ids'), s.id, d.doc_type, d.number, d.issuer, d.issued_on, "
        "  d.valid_until, d.status, now(), now(), d.ref_pb "
        "FROM s, exports.documents d WHERE d.shipment_id = %lld",
        n, (long long)template_id, (long long)template_id, (long long)template_id);
    exec_or_die(db, sql);
    exec_or_die(db, "VACUUM ANALYZE");
    snprintf(sql, sizeof(sql),
             "SELECT id FROM exports.shipments WHERE id <> %lld AND status = 'draft' ORDER BY id",
             (long long)template_id);
    PGresult *r = PQexec(db, sql);
    n_ids = (size_t)PQntuples(r);
    ids = xcalloc(n_ids, sizeof(*ids));
    for (size_t i = 0; i < n_ids; i++)
        ids[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
    PQclear(r);
    PQfinish(db);
    atomic_store(&next_shipment, 0);
    return 0;
}

/* Takes the next unused shipment (0 when none is left). */
static int64_t take_shipment(void)
{
    size_t i = atomic_fetch_add(&next_shipment, 1);
    return i < n_ids ? ids[i] : 0;
}

/* --- 1. single moves --- */

/* A client thread walking shipments: as the export desk (c) for the moves no agency owns, as
 * customs (by_customs) for release and departure, as the two parties do. */
typedef struct mover {
    ovop_client_t *c, *by_customs;
    int64_t id;
    int step;
} mover_t;

static void *mover_open(void *arg)
{
    mover_t *m = xcalloc(1, sizeof(*m));
    m->c = client_open(arg, &desk);
    m->by_customs = client_open(arg, &customs);
    m->id = take_shipment();
    return m;
}

static int mover_move(void *state)
{
    mover_t *m = state;
    if (!m->id)
        return -ENOSPC;
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = m->id;
    t.to = path[m->step];
    int r =
        call(customs_move(t.to) ? m->by_customs : m->c, "TransitionShipment", &t.base, NULL, NULL);
    if (++m->step == (int)OVOP_ARRAY_SIZE(path)) {
        m->step = 0;
        m->id = take_shipment();
    }
    return r;
}

/* A read through the same path, for scale: GetShipment of the shipment this thread moves. */
static int mover_get(void *state)
{
    mover_t *m = state;
    Ovop__V1__GetShipmentRequest in = OVOP__V1__GET_SHIPMENT_REQUEST__INIT;
    in.id = ids[0];
    return call(m->c, "GetShipment", &in.base, NULL, NULL);
}

static void mover_close(void *state)
{
    mover_t *m = state;
    bench_client_close(m->c);
    bench_client_close(m->by_customs);
    free(m);
}

/* --- 1. raw single-row INSERT + COMMIT --- */

typedef struct raw {
    pthread_t thread;
    int64_t deadline;
    uint64_t done;
    uint64_t errors;
} raw_t;

static void *raw_single_main(void *arg)
{
    raw_t *t = arg;
    PGconn *c = connect_or_die(db_url);
    PGresult *p = PQprepare(c, "ins",
                            "INSERT INTO public.raw_single (shipment_id, to_status, at, caller, "
                            "agency) VALUES ($1, $2, now(), $3, $4)",
                            4, NULL);
    PQclear(p);
    const char *params[] = {"123456", "departed", "bench-exports", "customs"};
    while (ovop_mono_us() < t->deadline) {
        PGresult *r = PQexecPrepared(c, "ins", 4, params, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            t->done++;
        else
            t->errors++;
        PQclear(r);
    }
    PQfinish(c);
    return NULL;
}

static double raw_single(double seconds)
{
    raw_t t[CLIENTS];
    int64_t start = ovop_mono_us();
    uint64_t done = 0;
    for (int i = 0; i < CLIENTS; i++) {
        t[i] = (raw_t){.deadline = start + (int64_t)(seconds * 1e6)};
        pthread_create(&t[i].thread, NULL, raw_single_main, &t[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i].thread, NULL);
        done += t[i].done;
    }
    return (double)done / ((double)(ovop_mono_us() - start) / 1e6);
}

/* --- 2. batches --- */

typedef struct batcher {
    ovop_client_t *c;
    Ovop__V1__ShipmentTransition items[BATCH_N];
    Ovop__V1__ShipmentTransition *ptrs[BATCH_N];
} batcher_t;

/* Batches are customs': one principal sends all five moves of each shipment. */
static void *batcher_open(void *arg)
{
    batcher_t *b = xcalloc(1, sizeof(*b));
    b->c = client_open(arg, &customs);
    return b;
}

static int batcher_send(void *state)
{
    batcher_t *b = state;
    size_t n = 0;
    for (int s = 0; s < BATCH_SHIP; s++) {
        int64_t id = take_shipment();
        if (!id)
            return -ENOSPC;
        for (size_t k = 0; k < OVOP_ARRAY_SIZE(path); k++, n++) {
            ovop__v1__shipment_transition__init(&b->items[n]);
            b->items[n].shipment_id = id;
            b->items[n].to = path[k];
            b->ptrs[n] = &b->items[n];
        }
    }
    Ovop__V1__RecordShipmentEventsRequest in = OVOP__V1__RECORD_SHIPMENT_EVENTS_REQUEST__INIT;
    in.n_transitions = n;
    in.transitions = b->ptrs;
    return call(b->c, "RecordShipmentEvents", &in.base, NULL, NULL);
}

static void batcher_close(void *state)
{
    batcher_t *b = state;
    bench_client_close(b->c);
    free(b);
}

/* The rows one batch adds, as plain multi-row INSERTs: BATCH_N history rows and BATCH_N
 * events of the measured payload size, in one transaction. Returns rows (events) per second. */
static double raw_batch(double seconds)
{
    PGconn *c = connect_or_die(db_url);
    ovop_buf_t sql;
    ovop_buf_init(&sql);
    ovop_buf_puts(&sql, "BEGIN; INSERT INTO public.raw_history (shipment_id, version, "
                        "from_status, to_status, at, caller, agency, reason, reference, "
                        "border_point, request_id, event_id) VALUES ");
    for (int i = 0; i < BATCH_N; i++)
        ovop_buf_printf(&sql,
                        "%s(nextval('public.raw_ids'), 2, 'released', 'departed', now(), "
                        "'bench-exports', 'customs', '', '', 'KG-IRKESHTAM', 'rid', "
                        "gen_random_uuid())",
                        i ? ", " : "");
    ovop_buf_printf(&sql, "; INSERT INTO public.raw_events (id, source, type, subject, "
                          "data_schema, data, hs6, soate, destination, request_id) VALUES ");
    char *payload = xmalloc(2 * event_bytes + 1);
    for (size_t i = 0; i < event_bytes; i++)
        memcpy(payload + 2 * i, "ab", 2);
    payload[2 * event_bytes] = '\0';
    for (int i = 0; i < BATCH_N; i++)
        ovop_buf_printf(&sql,
                        "%s(gen_random_uuid(), '/ovop/exports', 'ovop.exports.shipment.departed', "
                        "'shipment/123', 'ovop.v1.ExportEvent', '\\x%s', '081310', "
                        "'" VILLAGE "', 'CN', 'rid')",
                        i ? ", " : "", payload);
    ovop_buf_puts(&sql, "; COMMIT");
    free(payload);
    int64_t start = ovop_mono_us(), deadline = start + (int64_t)(seconds * 1e6);
    uint64_t done = 0;
    while (ovop_mono_us() < deadline) {
        PGresult *r = PQexec(c, sql.data);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            done += BATCH_N;
        PQclear(r);
    }
    ovop_buf_free(&sql);
    PQfinish(c);
    return (double)done / ((double)(ovop_mono_us() - start) / 1e6);
}

/* --- 3. statistics --- */

/* The aggregates a million departed shipments leave: 24 months, every district with 3 of the
 * programme's HS codes, each to 5 destinations, spread over the 8 stripes. Loaded directly
 * (grouping generated shipments), not through a million moves. */
static void load_million(void)
{
    PGconn *c = connect_or_die(db_url);
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(
        c, "WITH d AS (SELECT code, row_number() OVER (ORDER BY code) AS k FROM "
           "registry.territories WHERE kind = 'rayon'), "
           "h AS (SELECT hs6, row_number() OVER (ORDER BY hs6) AS k FROM registry.hs_codes), "
           "nd AS (SELECT count(*) AS n FROM d), nh AS (SELECT count(*) AS n FROM h), "
           "g AS (SELECT i, date '2025-01-01' + ((i % 24) || ' months')::interval AS month, "
           "  1 + (i / 24) % nd.n AS dk, (i / 7) % 3 AS hk, (i / 13) % 5 AS ck, (i / 960) % 8 AS "
           "stripe "
           "  FROM generate_series(1, 1000000) i, nd) "
           "INSERT INTO exports.stats_monthly (month, region, district, hs6, destination, stripe, "
           "  net_g, usd_cents, som_tyiyn, shipments) "
           "SELECT g.month, exports.region_of(d.code), d.code, h.hs6, "
           "  (ARRAY['CN', 'KZ', 'RU', 'JP', 'DE'])[1 + g.ck], g.stripe, sum(5000000), "
           "  sum(2000000), sum(175000000), count(*) "
           "FROM g JOIN d ON d.k = g.dk, nh JOIN h ON true "
           "WHERE h.k = 1 + (g.dk * 3 + g.hk) % nh.n "
           "GROUP BY 1, 2, 3, 4, 5, 6 "
           "ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE SET "
           "  net_g = exports.stats_monthly.net_g + excluded.net_g, "
           "  shipments = exports.stats_monthly.shipments + excluded.shipments");
    exec_or_die(c, "VACUUM ANALYZE exports.stats_monthly");
    PQfinish(c);
}

/* Mean milliseconds of `calls` GetExportStatistics with the given grouping and filters. */
static double stats_ms(ovop_client_t *c, const Ovop__V1__StatsDimension *by, size_t n_by,
                       const char *territory, int calls, size_t *ret_rows)
{
    Ovop__V1__ExportStatisticsRequest in = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    in.n_group_by = n_by;
    in.group_by = (Ovop__V1__StatsDimension *)by;
    in.territory_prefix = (char *)territory;
    int64_t t0 = ovop_mono_us();
    for (int i = 0; i < calls; i++) {
        ProtobufCMessage *out = NULL;
        if (call(c, "GetExportStatistics", &in.base,
                 &ovop__v1__export_statistics_response__descriptor, &out) == 0) {
            *ret_rows = ((Ovop__V1__ExportStatisticsResponse *)out)->n_rows;
            protobuf_c_message_free_unpacked(out, NULL);
        }
    }
    return (double)(ovop_mono_us() - t0) / 1000.0 / calls;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    pid_t broker, exp[N_EXPORTD];
    uint64_t errors;
    if (seconds <= 0) {
        fprintf(stderr, "usage: bench-exports [SECONDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    db_url = make_database();
    if (start(db_url, &broker, exp) < 0) {
        fprintf(stderr, "bench: could not start the broker and exportd\n");
        return 1;
    }
    void *zctx = zmq_ctx_new();
    /* Enough shipments for both write benchmarks at a generous rate. */
    size_t needed = (size_t)(seconds * (2000 + 6000)) + 2 * BATCH_SHIP;
    if (make_shipments(zctx, needed) < 0) {
        fprintf(stderr, "bench: could not create the template shipment\n");
        return 1;
    }
    printf("bench-exports: %.1f s per figure; %zu shipments ready; %d exportd x %s connections; "
           "logs in %s\n",
           seconds, n_ids, N_EXPORTD, POOL, harness_tmpdir());

    printf("\n%-60s %12s %8s\n", "Durable single writes, 8 connections / 8 clients", "per second",
           "ratio");
    /* Phases on stderr, to profile one of them from outside. */
    fprintf(stderr, "bench: raw single writes\n");
    double raw1 = raw_single(seconds);
    fprintf(stderr, "bench: TransitionShipment\n");
    const bench_client_ops_t move_ops = {mover_open, mover_move, mover_close};
#define TS_LATENCY                                                                                 \
    "ovop_request_duration_seconds_%s{service=\"ovop.exports\",method=\"TransitionShipment\"}"
    char lat_sum[128], lat_count[128];
    snprintf(lat_sum, sizeof(lat_sum), TS_LATENCY, "sum");
    snprintf(lat_count, sizeof(lat_count), TS_LATENCY, "count");
    double lat0 = exportd_metric(lat_sum), lat_n0 = exportd_metric(lat_count);
    double pg0 = exportd_metric("ovop_pg_query_duration_seconds_sum");
    double pg_n0 = exportd_metric("ovop_pg_query_duration_seconds_count");
    double requests0 = exportd_metric("ovop_exports_move_requests_per_statement_sum");
    double statements0 = exportd_metric("ovop_exports_move_requests_per_statement_count");
    double moves = bench_run(&move_ops, zctx, CLIENTS, seconds, &errors);
    double requests = exportd_metric("ovop_exports_move_requests_per_statement_sum") - requests0;
    double statements =
        exportd_metric("ovop_exports_move_requests_per_statement_count") - statements0;
    double lat = exportd_metric(lat_sum) - lat0, lat_n = exportd_metric(lat_count) - lat_n0;
    double pgt = exportd_metric("ovop_pg_query_duration_seconds_sum") - pg0;
    double pg_n = exportd_metric("ovop_pg_query_duration_seconds_count") - pg_n0;
    fprintf(stderr, "bench: GetShipment\n");
    const bench_client_ops_t get_ops = {mover_open, mover_get, mover_close};
    double gets = bench_run(&get_ops, zctx, CLIENTS, seconds / 2, NULL);
    printf("  raw libpq INSERT + COMMIT, 1 row each %21s %12.0f\n", "", raw1);
    printf("  (for scale: GetShipment through the broker, a read %8s %12.0f)\n", "", gets);
    printf("  TransitionShipment through the broker (5-move walks) %6s %12.0f %8.2f%s\n", "", moves,
           raw1 > 0 ? moves / raw1 : 0, errors ? " (errors!)" : "");
    printf("  (coalesced: %.0f requests in %.0f statements, %.1f per statement)\n", requests,
           statements, statements > 0 ? requests / statements : 0);
    /* Where a move's time goes: in exportd (queue and statement), of which the statement
     * (queries of the pool, the sequencer's included), the rest between client and exportd. */
    printf("  (per move: %.2f ms at the client, %.2f ms in exportd, %.2f ms per statement)\n",
           moves > 0 ? CLIENTS * 1000.0 / moves : 0, lat_n > 0 ? lat * 1000 / lat_n : 0,
           pg_n > 0 ? pgt * 1000 / pg_n : 0);

    printf("\n%-60s %12s %8s\n", "Batches of 500 moves (100 shipments x 5), 1 client", "events/s",
           "ratio");
    /* OVOP_BENCH_ONLY=moves stops here (to compare settings of the moves quickly). */
    const char *only = getenv("OVOP_BENCH_ONLY");
    if (only && strcmp(only, "moves") == 0)
        goto out;
    fprintf(stderr, "bench: raw batch writes\n");
    double raw2 = raw_batch(seconds);
    fprintf(stderr, "bench: RecordShipmentEvents\n");
    const bench_client_ops_t batch_ops = {batcher_open, batcher_send, batcher_close};
    double batches = bench_run(&batch_ops, zctx, 1, seconds, &errors);
    printf("  raw libpq multi-row INSERT of the same rows (500 history + 500 events) %s %8.0f\n",
           "", raw2);
    printf("  RecordShipmentEvents through the broker %19s %12.0f %8.2f%s\n", "", batches * BATCH_N,
           raw2 > 0 ? batches * BATCH_N / raw2 : 0, errors ? " (errors!)" : "");

    PGconn *c = connect_or_die(db_url);
    long departed = scalar(c, "SELECT count(*) FROM exports.shipments WHERE stats_month IS NOT "
                              "NULL");
    long counted = scalar(c, "SELECT sum(shipments) FROM exports.stats_monthly");
    printf("  statistics after the runs: %ld shipments departed, %ld counted%s\n", departed,
           counted, departed == counted ? " (equal)" : " (DIFFERENT!)");
    int64_t t0 = ovop_mono_us();
    load_million();
    long rows = scalar(c, "SELECT count(*) FROM exports.stats_monthly");
    long total = scalar(c, "SELECT sum(shipments) FROM exports.stats_monthly");
    PQfinish(c);
    printf("\nGetExportStatistics on %ld departed shipments (aggregates loaded in %.1f s), mean "
           "of 50 calls, 1 client\n",
           total, (double)(ovop_mono_us() - t0) / 1e6);
    static const Ovop__V1__StatsDimension region_month[] = {
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_REGION,
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH};
    static const Ovop__V1__StatsDimension hs[] = {
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE};
    static const Ovop__V1__StatsDimension all[] = {
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DISTRICT,
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE,
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DESTINATION,
        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH};
    static const struct {
        const char *what;
        const Ovop__V1__StatsDimension *by;
        size_t n_by;
        const char *territory;
        int calls;
    } queries[] = {
        {"totals", NULL, 0, "", 50},
        {"by HS code", hs, 1, "", 50},
        {"by region and month", region_month, 2, "", 50},
        {"Batken region by district, HS, destination, month", all, 4, "41705000000000", 50},
        {"everything by district, HS, destination, month", all, 4, "", 10},
    };
    double unfolded[OVOP_ARRAY_SIZE(queries)];
    size_t n_rows[OVOP_ARRAY_SIZE(queries)] = {0};
    /* One reader for every query: a read is the desk's as much as anyone's. */
    ovop_client_t *reader = client_open(zctx, &desk);
    if (!reader)
        goto out;
    for (size_t q = 0; q < OVOP_ARRAY_SIZE(queries); q++)
        unfolded[q] = stats_ms(reader, queries[q].by, queries[q].n_by, queries[q].territory,
                               queries[q].calls, &n_rows[q]);
    /* exportd folds the stripes every --stats-fold-ms (5 s by default); here, now. */
    c = connect_or_die(db_url);
    exec_or_die(c, "SELECT exports.fold_stats(100000000)");
    /* The load's 100,000 folded rows are dead now; autovacuum would make their room
     * reusable over time, here the table is compacted so that reads see what a running
     * system keeps: about one row per cell. */
    harness_sleep_ms(500);
    exec_or_die(c, "VACUUM FULL ANALYZE exports.stats_monthly");
    long folded_kb = scalar(c, "SELECT pg_relation_size('exports.stats_monthly') / 1024");
    long folded_rows = scalar(c, "SELECT count(*) FROM exports.stats_monthly");
    PQfinish(c);
    printf("  %-52s %10s %10s\n", "", "8 stripes", "folded");
    printf("  %-52s %10ld %10ld\n", "aggregate rows", rows, folded_rows);
    printf("  %-52s %10s %7ld kB\n", "table size", "", folded_kb);
    for (size_t q = 0; q < OVOP_ARRAY_SIZE(queries); q++) {
        size_t n = 0;
        double ms = stats_ms(reader, queries[q].by, queries[q].n_by, queries[q].territory,
                             queries[q].calls, &n);
        printf("  %-52s %7.2f ms %7.2f ms  (%zu row%s)\n", queries[q].what, unfolded[q], ms,
               n_rows[q], n_rows[q] == 1 ? "" : "s");
    }
    bench_client_close(reader);

out:
    for (int i = 0; i < N_EXPORTD; i++) {
        harness_kill(exp[i], SIGTERM);
        harness_wait_exit(exp[i], 5000, NULL);
        harness_stop(exp[i]);
    }
    harness_stop(broker);
    zmq_ctx_term(zctx);
    free(ids);
    free(db_url);
    ovop_security_clear(&desk);
    ovop_security_clear(&customs);
    return 0;
}
