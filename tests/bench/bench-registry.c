/* bench-registry: registry round trips through the real broker and registryd, beside the
 * baselines measured in the same run.
 *
 *   1. raw ZeroMQ DEALER/ROUTER echo (plaintext and CURVE) vs GetTerritory through the
 *      broker, 1 and 8 clients;
 *   2. on N producers (default 100,000): `pgbench -S` select-only TPS with 8 clients vs
 *      GetProducer and a filtered ListProducers (region prefix + HS prefix) with 8 clients.
 *
 * The bus runs on CURVE with the principals of the database (registryd is svc-ovop.registry,
 * the clients test-admin), as in production; bench-curve compares it with plaintext.
 * Needs OVOP_TEST_PG_URL (a superuser URL; `./deploy/ovop bench` provides one) and pgbench.
 * Usage: bench-registry [SECONDS] [PRODUCERS]. Not a test: prints figures and ratios.
 * OVOP_BENCH_REUSE=1 keeps the database of a previous run; OVOP_BENCH_PRODUCERS_ONLY=1 skips
 * the GetTerritory part (both for iterating on the daemons). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "benchlib.h"
#include "client.h"
#include "harness.h"
#include "log.h"
#include "migrate.h"
#include "ovop/v1/registry.pb-c.h"
#include "util.h"
#include <libpq-fe.h>

static bench_bus_t bus;
static atomic_long next_id;
static long min_id, max_id;

static const char *const regions[] = {"41702000000000", "41703000000000", "41704000000000",
                                      "41705000000000", "41706000000000", "41707000000000",
                                      "41708000000000"};

static void *client_open(void *arg)
{
    return bench_bus_client(&bus, arg);
}

static int get_producer(void *state)
{
    Ovop__V1__GetProducerRequest in = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    long span = max_id - min_id + 1;
    in.id = min_id + (atomic_fetch_add(&next_id, 7919) % span);
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "ovop.registry", "GetProducer", NULL, &in.base,
                             &ovop__v1__producer__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
}

static int list_producers(void *state)
{
    static atomic_uint n;
    unsigned k = atomic_fetch_add(&n, 1);
    Ovop__V1__ListProducersRequest in = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    in.territory_prefix = (char *)regions[k % OVOP_ARRAY_SIZE(regions)];
    in.hs_prefix = (k / 7) % 2 ? "0813" : "04";
    in.page_size = 20;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "ovop.registry", "ListProducers", NULL, &in.base,
                             &ovop__v1__list_producers_response__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
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

/* A scratch database: migrated, with villages under every rayon, n producers with one product
 * each, and pgbench's tables (scale 10). Returns its URL. */
static char *make_database(long n, double *ret_load_s)
{
    const char *server = getenv("OVOP_TEST_PG_URL");
    if (!server || !*server) {
        fprintf(stderr, "bench: OVOP_TEST_PG_URL is not set; run ./deploy/ovop bench\n");
        exit(1);
    }
    if (getenv("OVOP_BENCH_REUSE")) {
        /* Iterating on the daemons: keep the database a previous run loaded. */
        char *url = bench_conninfo_with_db(server, "ovop_bench_registry");
        PGconn *c = PQconnectdb(url);
        min_id = scalar(c, "SELECT min(id) FROM registry.producers");
        max_id = scalar(c, "SELECT max(id) FROM registry.producers");
        PQfinish(c);
        if (max_id > 0) {
            *ret_load_s = 0;
            return url;
        }
        free(url);
    }
    PGconn *admin = PQconnectdb(server);
    if (PQstatus(admin) != CONNECTION_OK) {
        fprintf(stderr, "bench: %s", PQerrorMessage(admin));
        exit(1);
    }
    exec_or_die(admin, "SET client_min_messages = warning");
    exec_or_die(admin, "DROP DATABASE IF EXISTS ovop_bench_registry WITH (FORCE)");
    exec_or_die(admin, "CREATE DATABASE ovop_bench_registry");
    PQfinish(admin);
    char *url = bench_conninfo_with_db(server, "ovop_bench_registry");
    if (!url)
        exit(1);
    PGconn *c = PQconnectdb(url);
    char *err = NULL;
    if (ovop_migrate(c, NULL, &err) < 0) {
        fprintf(stderr, "bench: migrate: %s\n", err);
        exit(1);
    }
    int64_t t0 = ovop_mono_us();
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(c,
                "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
                "valid_from) SELECT left(r.code, 8) || lpad(g::text, 3, '0') || '001', 'village', "
                "r.code, 'Село ' || g, 'Village ' || g, '2000-01-01' "
                "FROM registry.territories r, generate_series(1, 50) g WHERE r.kind = 'rayon'");
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "WITH v AS (SELECT code, row_number() OVER (ORDER BY code) - 1 AS k "
             "           FROM registry.territories WHERE kind = 'village'), "
             "     nv AS (SELECT count(*) AS n FROM v) "
             "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
             "  created_at, updated_at) "
             "SELECT nextval('registry.ids'), "
             "  (ARRAY['individual', 'family_group', 'sme', 'cooperative'])[1 + i %% 4], "
             "  'Producer ' || i, '0' || to_char(date '2000-01-01' + i / 90000, 'DDMMYYYY') || "
             "  lpad((i %% 90000)::text, 5, '0'), v.code, now(), now() "
             "FROM generate_series(1, %ld) i, nv JOIN v ON true WHERE v.k = i %% nv.n",
             n);
    exec_or_die(c, sql);
    exec_or_die(c, "WITH h AS (SELECT hs6, unit, row_number() OVER (ORDER BY hs6) - 1 AS k "
                   "           FROM registry.hs_codes), nh AS (SELECT count(*) AS n FROM h) "
                   "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
                   "  capacity_per_month, price_usd, created_at, updated_at) "
                   "SELECT nextval('registry.ids'), p.id, 'Product of ' || p.id, 'demo', h.hs6, "
                   "  h.unit, 1000, 2.5, now(), now() "
                   "FROM registry.producers p, nh JOIN h ON true WHERE h.k = p.id % nh.n");
    exec_or_die(c, "VACUUM ANALYZE");
    PQfinish(c);
    /* pgbench's own tables, scale 10 (one million accounts), in the same database. */
    char *cmd = xasprintf("pgbench -i -q -s 10 '%s' >/dev/null 2>&1", url);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: pgbench -i failed (is pgbench installed?)\n");
        exit(1);
    }
    free(cmd);
    c = PQconnectdb(url);
    min_id = scalar(c, "SELECT min(id) FROM registry.producers");
    max_id = scalar(c, "SELECT max(id) FROM registry.producers");
    *ret_load_s = (double)(ovop_mono_us() - t0) / 1e6;
    PQfinish(c);
    return url;
}

/* Runs pgbench -S with 8 clients for seconds; returns its TPS, or 0. */
static double pgbench_select(const char *url, double seconds, const char *mode)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "pgbench -n -S -M %s -c 8 -j 2 -T %d '%s' 2>&1", mode,
             (int)(seconds + 0.5), url);
    FILE *p = popen(cmd, "r");
    if (!p)
        return 0;
    char line[512];
    double tps = 0;
    while (fgets(line, sizeof(line), p)) {
        const char *t = strstr(line, "tps = ");
        if (t && tps == 0)
            tps = atof(t + 6);
    }
    pclose(p);
    return tps;
}

/* Starts the broker (CURVE, id's keys) and nreg registryd on db. Returns 0 or -errno. */
static int start(const ident_t *id, const char *db, pid_t *reg, int nreg)
{
    int r = bench_bus_start(&bus, id, db, "bench-broker", NULL);
    for (int i = 0; i < nreg && r == 0; i++) {
        const char *rargs[] = {"--database-url", db,     "--credit", "64", "--db-pool", "8",
                               "--log-level",    "warn", NULL};
        r = bench_bus_spawn(&bus, "ovop-registryd", "svc-ovop.registry", rargs, "bench-registryd",
                            &reg[i]);
    }
    if (r == 0)
        r = bench_bus_wait(&bus, "ovop.registry", 15000);
    return r;
}

static void stop(pid_t *reg, int nreg)
{
    for (int i = 0; i < nreg; i++)
        harness_stop(reg[i]);
    bench_bus_stop(&bus);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    long producers = argc > 2 ? atol(argv[2]) : 100000;
    const bench_client_ops_t territory_ops = {client_open, bench_get_territory, bench_client_close};
    const bench_client_ops_t producer_ops = {client_open, get_producer, bench_client_close};
    const bench_client_ops_t list_ops = {client_open, list_producers, bench_client_close};
    pid_t reg[2];
    uint64_t errors;
    ident_t id;

    if (seconds <= 0 || producers < 1000) {
        fprintf(stderr, "usage: bench-registry [SECONDS] [PRODUCERS >= 1000]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    double load_s;
    char *db = make_database(producers, &load_s);
    bench_ident(&id, db, "bench-registry");
    printf("bench-registry: %.1f s per figure; %ld producers loaded in %.1f s (logs in %s)\n",
           seconds, producers, load_s, harness_tmpdir());
    if (start(&id, db, reg, 1) < 0) {
        fprintf(stderr, "bench: could not start the broker and registryd\n");
        return 1;
    }
    void *zctx = zmq_ctx_new();

    printf("\n%-52s %12s %8s %8s\n", "GetTerritory through the broker (1 registryd)", "per second",
           "/raw", "/CURVE");
    for (int n = 1; n <= 8 && !getenv("OVOP_BENCH_PRODUCERS_ONLY"); n += 7) {
        double raw = bench_raw_zmq(n, seconds);
        double raw_curve = bench_raw_zmq_curve(n, seconds);
        double via = bench_run(&territory_ops, zctx, n, seconds, &errors);
        printf("  raw ZeroMQ DEALER/ROUTER echo, %d client%s %*s %12.0f\n", n, n > 1 ? "s" : "",
               n > 1 ? 13 : 14, "", raw);
        printf("  raw ZeroMQ DEALER/ROUTER echo, CURVE, %d client%s %*s %12.0f\n", n,
               n > 1 ? "s" : "", n > 1 ? 6 : 7, "", raw_curve);
        printf("  GetTerritory, %d client%s %*s %12.0f %8.3f %8.3f%s\n", n, n > 1 ? "s" : "",
               n > 1 ? 29 : 30, "", via, raw > 0 ? via / raw : 0,
               raw_curve > 0 ? via / raw_curve : 0, errors ? " (errors!)" : "");
    }
    printf("  (/raw: ratio to the plaintext echo; /CURVE: to the CURVE echo)\n");

    printf("\n%-52s %12s %8s %8s\n", "Producers (8 clients, 1 registryd, db-pool 8)", "per second",
           "/-S", "/-S -M");
    double tps_simple = pgbench_select(db, seconds, "simple");
    double tps_prepared = pgbench_select(db, seconds, "prepared");
    double gp = bench_run(&producer_ops, zctx, 8, seconds, &errors);
    uint64_t gp_errors = errors;
    double lp = bench_run(&list_ops, zctx, 8, seconds, &errors);
    printf("  pgbench -S (simple protocol, its default), 8 clients %s %12.0f\n", "", tps_simple);
    printf("  pgbench -S -M prepared, 8 clients %17s %12.0f\n", "", tps_prepared);
    printf("  GetProducer, 8 clients %28s %12.0f %8.3f %8.3f%s\n", "", gp,
           tps_simple > 0 ? gp / tps_simple : 0, tps_prepared > 0 ? gp / tps_prepared : 0,
           gp_errors ? " (errors!)" : "");
    printf("  ListProducers region+HS prefix, 20/page, 8 clients %s %12.0f %8.3f %8.3f%s\n", "", lp,
           tps_simple > 0 ? lp / tps_simple : 0, tps_prepared > 0 ? lp / tps_prepared : 0,
           errors ? " (errors!)" : "");
    printf("  (/-S: ratio to pgbench -S; /-S -M: ratio to pgbench -S -M prepared)\n");
    stop(reg, 1);

    /* Scaling: the same with two registryd instances. */
    if (start(&id, db, reg, 2) == 0) {
        double gp2 = bench_run(&producer_ops, zctx, 8, seconds, &errors);
        printf("  GetProducer, 8 clients, 2 registryd %15s %12.0f %8.3f %8.3f\n", "", gp2,
               tps_simple > 0 ? gp2 / tps_simple : 0, tps_prepared > 0 ? gp2 / tps_prepared : 0);
        stop(reg, 2);
    }
    zmq_ctx_term(zctx);
    free(db);
    return 0;
}
