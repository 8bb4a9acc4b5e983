/* bench-matching: matchd's speed with N producers indexed (default 100,000), beside
 * GetTerritory through the same broker in the same run:
 *
 *   1. the index rebuilt at start: time from matchd's start to its index holding every
 *      product, and matchd's resident memory then and after the run;
 *   2. MatchOrder through the broker (allocation from the index, reservations read, solved,
 *      the proposal checked and written under the per-product locks): 1 client for the
 *      latency percentiles, 8 clients for orders per second; proposed orders are matched
 *      again round-robin, so reservations stay as many as the orders;
 *   3. ProposeCooperatives for one region (Batken) and one HS code;
 *   4. GetTerritory (registryd) through the broker, 1 and 8 clients: the bus's own cost; and
 *      the floor of MatchOrder's two statements, straight over libpq: one indexed read and
 *      one durable commit.
 *
 * Producers are spread over villages under every rayon with coordinates inside the country;
 * one product each, of 20 HS codes, 1,000 units a month all year. Orders (4,000, inserted
 * straight into matching.orders) ask 50 to 500 units of one of those codes at one of the
 * seven regional towns in one month.
 * Needs OVOP_TEST_PG_URL (a superuser URL; `./deploy/ovop bench` provides one).
 * Usage: bench-matching [SECONDS] [PRODUCERS]. Not a test: prints figures and ratios. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "log.h"
#include "migrate.h"
#include "ovop/v1/matching.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "util.h"
#include <libpq-fe.h>

#define DESK   "bench-desk"
#define ORDERS 4000

static bench_bus_t bus;
static ovop_security_t desk;
static atomic_long next_order;
static long min_order;
static char coop_hs[7]; /* an HS code of the products, for the proposals */
static int year;        /* the orders' window: July of next year */

static void *desk_open(void *arg)
{
    ovop_client_t *c;
    ovop_client_options_t o = {.brokers = bus.endpoint,
                               .timeout_ms = 10000,
                               .retries = 0,
                               .max_msg = 4 << 20,
                               .security = &desk};
    return ovop_client_new(&c, arg, &o) < 0 ? NULL : c;
}

static void *admin_open(void *arg)
{
    return bench_bus_client(&bus, arg);
}

static int match_order(void *state)
{
    Ovop__V1__MatchOrderRequest in = OVOP__V1__MATCH_ORDER_REQUEST__INIT;
    in.id = min_order + atomic_fetch_add(&next_order, 1) % ORDERS;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "ovop.matching", "MatchOrder", NULL, &in.base,
                             &ovop__v1__order__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
}

static int propose(void *state)
{
    Ovop__V1__ProposeCooperativesRequest in = OVOP__V1__PROPOSE_COOPERATIVES_REQUEST__INIT;
    in.hs_code = coop_hs;
    in.territory_code = "41705000000000";
    in.target = 20000;
    in.max_km = 25;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "ovop.matching", "ProposeCooperatives", NULL, &in.base,
                             &ovop__v1__propose_cooperatives_response__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
}

/* The raw baseline: what MatchOrder's two statements cost at least, straight over libpq (no
 * broker, no daemon): one indexed read and one durable commit of a small row. */
static void *raw_open(void *arg)
{
    PGconn *c = PQconnectdb(arg);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int raw_round_trip(void *state)
{
    char id[24];
    snprintf(id, sizeof(id), "%ld", min_order + atomic_fetch_add(&next_order, 1) % ORDERS);
    const char *params[1] = {id};
    PGresult *r = PQexecParams(state,
                               "SELECT id, hs6, window_from FROM matching.orders "
                               "WHERE id = $1::bigint",
                               1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    r = PQexec(state, "INSERT INTO bench_commit VALUES (1)");
    ok &= PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -EIO;
}

static void raw_close(void *state)
{
    PQfinish(state);
}

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
    long v = PQresultStatus(r) == PGRES_TUPLES_OK ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    return v;
}

/* Villages, n producers with coordinates and one product each, and the orders. */
static void load(PGconn *c, long n)
{
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(c,
                "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
                "valid_from) SELECT left(r.code, 8) || lpad(g::text, 3, '0') || '001', 'village', "
                "r.code, 'Село ' || g, 'Village ' || g, '2000-01-01' "
                "FROM registry.territories r, generate_series(1, 50) g WHERE r.kind = 'rayon'");
    char sql[2048];
    /* Around the region's seat (every oblast has coordinates), within about 80 km. */
    snprintf(sql, sizeof(sql),
             "WITH v AS (SELECT t.code, o.lat, o.lon, row_number() OVER (ORDER BY t.code) - 1 AS k "
             "           FROM registry.territories t JOIN registry.territories o "
             "             ON o.code = left(t.code, 5) || '000000000' "
             "          WHERE t.kind = 'village' AND o.lat IS NOT NULL), "
             "     nv AS (SELECT count(*) AS n FROM v) "
             "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, lat, "
             "  lon, created_at, updated_at) "
             "SELECT nextval('registry.ids'), 'individual', 'Producer ' || i, "
             "  '0' || to_char(date '2000-01-01' + i / 90000, 'DDMMYYYY') || "
             "  lpad((i %% 90000)::text, 5, '0'), v.code, "
             "  v.lat + ((i::bigint * 7919) %% 1400 - 700) / 1000.0, "
             "  v.lon + ((i::bigint * 104729) %% 1800 - 900) / 1000.0, now(), now() "
             "FROM generate_series(1, %ld) i, nv JOIN v ON true WHERE v.k = i %% nv.n",
             n);
    exec_or_die(c, sql);
    exec_or_die(c, "WITH h AS (SELECT hs6, unit, row_number() OVER (ORDER BY hs6) - 1 AS k "
                   "           FROM registry.hs_codes ORDER BY hs6 LIMIT 20) "
                   "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
                   "  capacity_per_month, price_usd, created_at, updated_at) "
                   "SELECT nextval('registry.ids'), p.id, 'Product of ' || p.id, 'demo', h.hs6, "
                   "  h.unit, 1000, 2.5, now(), now() "
                   "FROM registry.producers p JOIN h ON h.k = p.id % 20");
    snprintf(sql, sizeof(sql),
             "WITH h AS (SELECT hs6, unit, row_number() OVER (ORDER BY hs6) - 1 AS k "
             "           FROM registry.hs_codes ORDER BY hs6 LIMIT 20), "
             "     t AS (SELECT code, lat, lon, row_number() OVER (ORDER BY code) - 1 AS k "
             "           FROM registry.territories WHERE kind = 'oblast' AND lat IS NOT NULL "
             "           ORDER BY code LIMIT 7) "
             "INSERT INTO matching.orders (id, buyer_name, buyer_country, destination, hs6, "
             "  quantity, unit, window_from, window_to, cons_territory, cons_lat, cons_lon, "
             "  allow_partial, created_by, created_at, updated_at) "
             "SELECT nextval('matching.order_ids'), 'Buyer ' || i, 'CN', 'CN', h.hs6, "
             "  50 + (i * 37) %% 451, h.unit, date '%d-07-01', date '%d-07-31', t.code, t.lat, "
             "  t.lon, true, 'bench', now(), now() "
             "FROM generate_series(1, %d) i JOIN h ON h.k = i %% 20 JOIN t ON t.k = i %% 7",
             year, year, ORDERS);
    exec_or_die(c, sql);
    exec_or_die(c, "CREATE TABLE bench_commit (x int)");
    exec_or_die(c, "VACUUM ANALYZE");
    if (getenv("OVOP_BENCH_TRACK")) /* per-function times in pg_stat_user_functions */
        exec_or_die(c, "ALTER DATABASE ovop_bench_matching SET track_functions = 'pl'");
}

static char *make_database(long n, double *ret_load_s)
{
    const char *server = getenv("OVOP_TEST_PG_URL");
    if (!server || !*server) {
        fprintf(stderr, "bench: OVOP_TEST_PG_URL is not set; run ./deploy/ovop bench\n");
        exit(1);
    }
    PGconn *admin = PQconnectdb(server);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(admin));
        exit(1);
    }
    exec_or_die(admin, "SET client_min_messages = warning");
    exec_or_die(admin, "DROP DATABASE IF EXISTS ovop_bench_matching WITH (FORCE)");
    exec_or_die(admin, "CREATE DATABASE ovop_bench_matching");
    PQfinish(admin);
    char *url = bench_conninfo_with_db(server, "ovop_bench_matching");
    if (!url)
        exit(1);
    PGconn *c = PQconnectdb(url);
    char *err = NULL;
    if (ovop_migrate(c, NULL, &err) < 0) {
        fprintf(stderr, "bench: migrate: %s\n", err);
        exit(1);
    }
    int64_t t0 = ovop_mono_us();
    load(c, n);
    min_order = scalar(c, "SELECT min(id) FROM matching.orders");
    snprintf(coop_hs, sizeof(coop_hs), "%06ld",
             scalar(c, "SELECT hs6::int FROM registry.hs_codes ORDER BY hs6 LIMIT 1 OFFSET 5"));
    *ret_load_s = (double)(ovop_mono_us() - t0) / 1e6;
    PQfinish(c);
    return url;
}

/* matchd's resident memory in MB (VmRSS), 0 when unreadable. */
static double rss_mb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atof(line + 6);
    if (f)
        fclose(f);
    return kb / 1024;
}

/* The products matchd's index holds, from its /metrics; -1 when unreadable. */
static long indexed(uint16_t port)
{
    ovop_buf_t body;
    ovop_buf_init(&body);
    long v = -1;
    if (harness_http_get(port, "/metrics", &body) == 200) {
        const char *p = strstr(body.data, "\novop_matching_index_products ");
        if (p)
            v = (long)atof(p + 30);
    }
    ovop_buf_free(&body);
    return v;
}

/* Starts matchd and waits for its index to hold `products`; returns the seconds it took
 * (-1 on failure). */
static double start_matchd(const char *db, long products, pid_t *pid, uint16_t *port)
{
    char http[32];
    harness_free_port(port);
    snprintf(http, sizeof(http), "127.0.0.1:%u", *port);
    const char *args[] = {"--database-url", db,   "--http",      http,   "--db-pool", "8",
                          "--credit",       "64", "--log-level", "warn", NULL};
    int64_t t0 = ovop_mono_us();
    if (bench_bus_spawn(&bus, "ovop-matchd", "svc-ovop.matching", args, "bench-matchd", pid) < 0)
        return -1;
    for (int i = 0; i < 6000; i++) {
        if (indexed(*port) >= products)
            return (double)(ovop_mono_us() - t0) / 1e6;
        harness_sleep_ms(5);
    }
    return -1;
}

static void print_result(const char *what, const bench_result_t *r, double base)
{
    printf("  %-44s %10.0f/s  p50 %7.2f ms  p99 %7.2f ms  %6.3f%s\n", what, r->rps,
           r->p50_us / 1000, r->p99_us / 1000, base > 0 ? r->rps / base : 0,
           r->errors ? "  (errors!)" : "");
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    long producers = argc > 2 ? atol(argv[2]) : 100000;
    const bench_client_ops_t territory_ops = {admin_open, bench_get_territory, bench_client_close};
    const bench_client_ops_t match_ops = {desk_open, match_order, bench_client_close};
    const bench_client_ops_t coop_ops = {desk_open, propose, bench_client_close};
    if (seconds <= 0 || producers < 1000) {
        fprintf(stderr, "usage: bench-matching [SECONDS] [PRODUCERS >= 1000]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    time_t now = time(NULL);
    year = localtime(&now)->tm_year + 1900 + 1;
    double load_s;
    char *db = make_database(producers, &load_s);
    ident_t id;
    bench_ident(&id, db, "bench-matching");
    PGconn *c = PQconnectdb(db);
    if (ident_add(&id, c, DESK, "operator", "matching.buyer", NULL, NULL) < 0 ||
        ident_security(&id, DESK, &desk) < 0)
        return 1;
    PQfinish(c);
    printf("bench-matching: %.1f s per figure; %ld producers and %d orders loaded in %.1f s "
           "(logs in %s)\n",
           seconds, producers, ORDERS, load_s, harness_tmpdir());
    pid_t reg, matchd;
    uint16_t port;
    const char *rargs[] = {"--database-url", db, "--log-level", "warn", NULL};
    if (bench_bus_start(&bus, &id, db, "bench-broker", NULL) < 0 ||
        bench_bus_spawn(&bus, "ovop-registryd", "svc-ovop.registry", rargs, "bench-registryd",
                        &reg) < 0 ||
        bench_bus_wait(&bus, "ovop.registry", 15000) < 0)
        return 1;
    double rebuild = start_matchd(db, producers, &matchd, &port);
    if (rebuild < 0 || bench_bus_wait(&bus, "ovop.matching", 15000) < 0) {
        fprintf(stderr, "bench: matchd did not load its index\n");
        return 1;
    }
    double rss_start = rss_mb(matchd);
    printf("\nindex rebuild at start (%ld products) %18s %8.2f s\n", producers, "", rebuild);
    printf("matchd resident memory with the index %17s %8.1f MB\n", "", rss_start);

    void *zctx = zmq_ctx_new();
    bench_result_t t1, t8, m1, m8, cp;
    bench_measure(&territory_ops, zctx, 1, seconds, &t1);
    bench_measure(&territory_ops, zctx, 8, seconds, &t8);
    bench_result_t raw;
    const bench_client_ops_t raw_ops = {raw_open, raw_round_trip, raw_close};
    bench_measure(&raw_ops, db, 1, seconds, &raw);
    bench_measure(&match_ops, zctx, 1, seconds, &m1);
    double cpu0 = bench_cpu_us(matchd);
    bench_measure(&match_ops, zctx, 8, seconds, &m8);
    double cpu_per_order = m8.done ? (bench_cpu_us(matchd) - cpu0) / (double)m8.done : 0;
    bench_measure(&coop_ops, zctx, 1, seconds, &cp);
    printf("\n%-46s %12s %25s %7s\n", "through the broker (CURVE)", "", "", "/GetT.");
    print_result("GetTerritory, 1 client", &t1, t1.rps);
    print_result("GetTerritory, 8 clients", &t8, t8.rps);
    print_result("MatchOrder, 1 client", &m1, t1.rps);
    print_result("raw libpq: a read and a commit, 1 client", &raw, t1.rps);
    print_result("MatchOrder, 8 clients", &m8, t8.rps);
    print_result("ProposeCooperatives (a region, an HS code)", &cp, t1.rps);
    printf("  (/GetT.: rate against GetTerritory with as many clients)\n");
    printf("\nmatchd CPU per MatchOrder (8 clients) %18s %8.0f us\n", "", cpu_per_order);
    printf("\nmatchd resident memory after the run %18s %8.1f MB\n", "", rss_mb(matchd));
    bench_result_free(&raw);
    bench_result_free(&t1);
    bench_result_free(&t8);
    bench_result_free(&m1);
    bench_result_free(&m8);
    bench_result_free(&cp);
    zmq_ctx_term(zctx);
    harness_stop(matchd);
    harness_stop(reg);
    bench_bus_stop(&bus);
    ovop_security_clear(&desk);
    free(db);
    return 0;
}
