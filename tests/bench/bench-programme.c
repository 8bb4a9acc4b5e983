/* bench-programme: programd's SubmitSalesReport and SalesStats through the broker (CURVE,
 * 1 broker, 1 programd) beside the same writes and reads straight over libpq, in one run:
 *   SubmitSalesReport: a report of one line for a fresh producer and month, vs the raw INSERT
 *     of that report and its line (one statement, the producer's territory read in it);
 *   SalesStats by region over a year of reports, vs SELECT programme.sales_stats(...) itself.
 * The bus figures include what the raw ones leave out: validation, the reference read (HS
 * code, channel, current revision), the idempotency record, the event and CURVE.
 *
 * Usage: bench-programme [SECONDS] [PRODUCERS]. Not a test: prints figures and ratios. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <libpq-fe.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "log.h"
#include "ovop/v1/programme.pb-c.h"
#include "util.h"

#define REPORTER "bench-reporter"

static bench_bus_t bus;
static ovop_security_t reporter;
static long producers, first_producer, channel;
static atomic_long next_bus, next_raw;

static void exec_or_die(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
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

/* Villages under every district, producers spread over them, one channel, and a year (2024)
 * of reports of one line each for the statistics. */
static void load(PGconn *c, long n)
{
    char sql[2048];
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(c,
                "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
                "valid_from) SELECT left(r.code, 8) || lpad(g::text, 3, '0') || '001', 'village', "
                "r.code, 'Село ' || g, 'Village ' || g, '2000-01-01' "
                "FROM registry.territories r, generate_series(1, 20) g WHERE r.kind = 'rayon'");
    snprintf(sql, sizeof(sql),
             "WITH v AS (SELECT code, row_number() OVER (ORDER BY code) - 1 AS k "
             "           FROM registry.territories WHERE kind = 'village'), "
             "     nv AS (SELECT count(*) AS n FROM v) "
             "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
             "  created_at, updated_at) "
             "SELECT nextval('registry.ids'), 'individual', 'Producer ' || i, "
             "  lpad(i::text, 14, '0'), v.code, now(), now() "
             "FROM generate_series(1, %ld) i, nv JOIN v ON true WHERE v.k = i %% nv.n",
             n);
    exec_or_die(c, sql);
    exec_or_die(c, "INSERT INTO programme.channels (id, kind, name, created_by, created_at) "
                   "VALUES (nextval('programme.channel_ids'), 'ovop_shop', 'Bench shop', "
                   "'bench', now())");
    exec_or_die(c, "INSERT INTO programme.sales_reports (producer_id, month, revision, "
                   "territory_code, employees, seasonal_workers, reported_by, reported_at, "
                   "request_id) SELECT p.id, m, 1, p.territory_code, 2, 4, 'bench', now(), "
                   "'load-' || p.id || '-' || m FROM registry.producers p, "
                   "generate_series(date '2024-01-01', date '2024-12-01', interval '1 month') m");
    exec_or_die(c, "INSERT INTO programme.sales_lines SELECT r.producer_id, r.month, 1, 0, "
                   "(ARRAY['081310', '080232', '040900', '570500'])[1 + r.producer_id % 4], "
                   "(SELECT min(id) FROM programme.channels), 10 + r.producer_id % 90, 'kg', "
                   "100000 + r.producer_id % 1000 * 100, 'KGS', CASE WHEN r.producer_id % 5 = 0 "
                   "THEN 'export' ELSE 'domestic' END FROM programme.sales_reports r");
    exec_or_die(c, "VACUUM ANALYZE");
}

/* The k-th fresh (producer, month): months from 2000-01 (bus) or 2012-01 (raw) on. */
static void slot(long k, int base_year, long *producer, char month[static 16])
{
    long m = k / producers;
    *producer = first_producer + k % producers;
    snprintf(month, 16, "%04d-%02d", (int)((base_year + m / 12) % 10000), (int)(1 + m % 12));
}

static void *reporter_open(void *arg)
{
    ovop_client_t *c;
    ovop_client_options_t o = {
        .brokers = bus.endpoint, .timeout_ms = 10000, .retries = 0, .security = &reporter};
    return ovop_client_new(&c, arg, &o) < 0 ? NULL : c;
}

static int submit(void *state)
{
    char month[16];
    long producer;
    slot(atomic_fetch_add(&next_bus, 1), 2000, &producer, month);
    Ovop__V1__Money value = OVOP__V1__MONEY__INIT;
    value.minor = 1500000;
    value.currency = "KGS";
    Ovop__V1__SalesLine line = OVOP__V1__SALES_LINE__INIT, *lines[] = {&line};
    line.hs_code = "081310";
    line.channel_id = channel;
    line.quantity = 100;
    line.value = &value;
    line.market = OVOP__V1__MARKET__MARKET_DOMESTIC;
    Ovop__V1__Jobs jobs = OVOP__V1__JOBS__INIT;
    jobs.employees = 3;
    jobs.seasonal_workers = 5;
    Ovop__V1__SalesReport r = OVOP__V1__SALES_REPORT__INIT;
    r.producer_id = producer;
    r.month = month;
    r.n_lines = 1;
    r.lines = lines;
    r.jobs = &jobs;
    Ovop__V1__SubmitSalesReportRequest in = OVOP__V1__SUBMIT_SALES_REPORT_REQUEST__INIT;
    in.report = &r;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int rc = ovop_client_call(state, "ovop.programme", "SubmitSalesReport", NULL, &in.base,
                              &ovop__v1__sales_report__descriptor, &rep, &out);
    return bench_finish_call(rc, rep, out);
}

static int stats(void *state)
{
    Ovop__V1__SalesStatsRequest in = OVOP__V1__SALES_STATS_REQUEST__INIT;
    in.group_by = OVOP__V1__SALES_GROUP__SALES_GROUP_REGION;
    in.from_month = "2024-01";
    in.to_month = "2024-12";
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int rc = ovop_client_call(state, "ovop.programme", "SalesStats", NULL, &in.base,
                              &ovop__v1__sales_stats_response__descriptor, &rep, &out);
    return bench_finish_call(rc, rep, out);
}

static void *raw_open(void *arg)
{
    PGconn *c = PQconnectdb(arg);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int raw_submit(void *state)
{
    char month[16], producer_s[24], channel_s[24], rid[48];
    long producer;
    slot(atomic_fetch_add(&next_raw, 1), 2012, &producer, month);
    strcat(month, "-01");
    snprintf(producer_s, sizeof(producer_s), "%ld", producer);
    snprintf(channel_s, sizeof(channel_s), "%ld", channel);
    snprintf(rid, sizeof(rid), "raw-%ld-%s", producer, month);
    const char *params[] = {producer_s, month, channel_s, rid};
    PGresult *r = PQexecParams(
        state,
        "WITH r AS (INSERT INTO programme.sales_reports (producer_id, month, revision, "
        "territory_code, employees, seasonal_workers, reported_by, reported_at, request_id) "
        "SELECT p.id, $2::date, 1, p.territory_code, 3, 5, 'bench', now(), $4 FROM "
        "registry.producers p WHERE p.id = $1::bigint RETURNING producer_id, month, revision) "
        "INSERT INTO programme.sales_lines SELECT producer_id, month, revision, 0, '081310', "
        "$3::bigint, 100, 'kg', 1500000, 'KGS', 'domestic' FROM r",
        4, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdTuples(r), "1") == 0;
    if (!ok)
        fprintf(stderr, "bench: raw submit: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -EIO;
}

static void raw_close(void *state)
{
    PQfinish(state);
}

static int raw_stats(void *state)
{
    PGresult *r = PQexec(state, "SELECT * FROM programme.sales_stats('region', '2024-01-01', "
                                "'2024-12-01', '', '')");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    return ok ? 0 : -EIO;
}

static void print_result(const char *what, const bench_result_t *r, const bench_result_t *base)
{
    printf("  %-46s %9.0f/s  p50 %7.2f ms  p99 %7.2f ms", what, r->rps, r->p50_us / 1000,
           r->p99_us / 1000);
    if (base && base->rps > 0)
        printf("  x%.3f of raw", r->rps / base->rps);
    printf("%s\n", r->errors ? "  (errors!)" : "");
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    producers = argc > 2 ? atol(argv[2]) : 5000;
    if (seconds <= 0 || producers < 100) {
        fprintf(stderr, "usage: bench-programme [SECONDS] [PRODUCERS >= 100]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    char *db = bench_database("ovop_bench_programme");
    PGconn *c = PQconnectdb(db);
    int64_t t0 = ovop_mono_us();
    load(c, producers);
    first_producer = scalar(c, "SELECT min(id) FROM registry.producers");
    channel = scalar(c, "SELECT min(id) FROM programme.channels");
    long reports = scalar(c, "SELECT count(*) FROM programme.sales_reports");
    double load_s = (double)(ovop_mono_us() - t0) / 1e6;
    ident_t id;
    bench_ident(&id, db, "bench-programme");
    if (ident_add(&id, c, REPORTER, "operator", "programme.reporter", NULL, NULL) < 0 ||
        ident_security(&id, REPORTER, &reporter) < 0)
        return 1;
    PQfinish(c);
    printf("bench-programme: %.1f s per figure; %ld producers, %ld reports loaded in %.1f s "
           "(logs in %s)\n",
           seconds, producers, reports, load_s, harness_tmpdir());
    pid_t programd;
    const char *args[] = {"--database-url", db, "--db-pool", "8", "--log-level", "warn", NULL};
    if (bench_bus_start(&bus, &id, db, "bench-broker", NULL) < 0 ||
        bench_bus_spawn(&bus, "ovop-programd", "svc-ovop.programme", args, "bench-programd",
                        &programd) < 0 ||
        bench_bus_wait(&bus, "ovop.programme", 15000) < 0)
        return 1;
    void *zctx = zmq_ctx_new();
    const bench_client_ops_t submit_ops = {reporter_open, submit, bench_client_close};
    const bench_client_ops_t stats_ops = {reporter_open, stats, bench_client_close};
    const bench_client_ops_t raw_submit_ops = {raw_open, raw_submit, raw_close};
    const bench_client_ops_t raw_stats_ops = {raw_open, raw_stats, raw_close};
    bench_result_t s1, s8, r1, r8, q1, q8, rq1, rq8;
    bench_measure(&raw_submit_ops, db, 1, seconds, &r1);
    bench_measure(&submit_ops, zctx, 1, seconds, &s1);
    bench_measure(&raw_submit_ops, db, 8, seconds, &r8);
    double cpu0 = bench_cpu_us(programd);
    bench_measure(&submit_ops, zctx, 8, seconds, &s8);
    double cpu_per_report = s8.done ? (bench_cpu_us(programd) - cpu0) / (double)s8.done : 0;
    bench_measure(&raw_stats_ops, db, 1, seconds, &rq1);
    bench_measure(&stats_ops, zctx, 1, seconds, &q1);
    bench_measure(&raw_stats_ops, db, 8, seconds, &rq8);
    bench_measure(&stats_ops, zctx, 8, seconds, &q8);
    printf("\nwrites: a one-line monthly report of a fresh producer and month\n");
    print_result("raw libpq INSERT report + line, 1 client", &r1, NULL);
    print_result("SubmitSalesReport via broker, 1 client", &s1, &r1);
    print_result("raw libpq INSERT report + line, 8 clients", &r8, NULL);
    print_result("SubmitSalesReport via broker, 8 clients", &s8, &r8);
    printf("  programd CPU per SubmitSalesReport (8 clients) %17.0f us\n", cpu_per_report);
    printf("\nreads: sales and jobs by region over %ld reports of 2024, beside exports\n", reports);
    print_result("raw libpq SELECT programme.sales_stats, 1 cl.", &rq1, NULL);
    print_result("SalesStats via broker, 1 client", &q1, &rq1);
    print_result("raw libpq SELECT programme.sales_stats, 8 cl.", &rq8, NULL);
    print_result("SalesStats via broker, 8 clients", &q8, &rq8);
    printf("  (x: the bus rate as a share of the raw libpq rate with as many clients)\n");
    bench_result_t *all[] = {&s1, &s8, &r1, &r8, &q1, &q8, &rq1, &rq8};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(all); i++)
        bench_result_free(all[i]);
    zmq_ctx_term(zctx);
    harness_stop(programd);
    bench_bus_stop(&bus);
    ovop_security_clear(&reporter);
    free(db);
    return 0;
}
