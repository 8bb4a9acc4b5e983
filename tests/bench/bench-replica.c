/* bench-replica: read routing and failover with a real primary and a synchronous hot standby
 * on loopback (tests/support/pgha.sh), through the broker and registryd, in one run:
 *
 *   1. ListProducers throughput (N clients, one registryd) with --database-read-url pointing
 *      at the standby, beside the same with it pointing at the primary; each without and
 *      with concurrent write load on the primary (pgbench -N, 4 clients, in the same
 *      database): the replica's figure against the primary's.
 *   2. Failover time, three times on a fresh pair: a client writing (RegisterProducer, one
 *      at a time), the primary killed (pg_ctl stop -m immediate) and the standby promoted at
 *      once: the time from the kill to the first write sent after it and acknowledged.
 *      Each figure and the median.
 *
 * Needs PostgreSQL's server binaries and pgbench; not OVOP_TEST_PG_URL (it makes its own
 * pair under the run's temporary directory). Usage: bench-replica [SECONDS] [CLIENTS]
 * [PRODUCERS]. Not a test: prints figures and ratios. */
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
#include "ovop/v1/registry.pb-c.h"
#include "pg.h"
#include "util.h"

#define FAILOVER_RUNS  3
#define FAILOVER_LIMIT 60000000 /* µs: give up on one run after a minute */

static bench_bus_t bus;
static char pair_dir[512];
static char *primary_url, *standby_url, *ha_url; /* the pair's, superuser */

static void die(const char *what)
{
    fprintf(stderr, "bench-replica: %s\n", what);
    exit(1);
}

static void pgha(const char *cmd)
{
    char *line = xasprintf("'%s' %s '%s' >/dev/null", OVOP_PGHA, cmd, pair_dir);
    if (system(line) != 0)
        die(line);
    free(line);
}

/* A fresh pair; sets the three URLs. */
static void pair_start(void)
{
    free(primary_url);
    free(standby_url);
    free(ha_url);
    primary_url = standby_url = ha_url = NULL;
    char *cmd = xasprintf("'%s' start '%s'", OVOP_PGHA, pair_dir);
    FILE *p = popen(cmd, "r");
    free(cmd);
    char line[2048];
    while (p && fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(line, "PGHA_PRIMARY_URL") == 0)
            primary_url = xstrdup(eq + 1);
        else if (strcmp(line, "PGHA_STANDBY_URL") == 0)
            standby_url = xstrdup(eq + 1);
        else if (strcmp(line, "PGHA_URL") == 0)
            ha_url = xstrdup(eq + 1);
    }
    if (!p || pclose(p) != 0 || !primary_url || !standby_url || !ha_url)
        die("tests/support/pgha.sh start failed");
}

static char *with(const char *conninfo, const char *keyword, const char *value)
{
    char *err = NULL;
    char *r = ovop_pg_conninfo_with(conninfo, keyword, value, &err);
    if (!r)
        die(err);
    return r;
}

static void exec_or_die(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench-replica: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

/* Villages under every rayon and n producers, then waits until the standby replayed them. */
static void load(const char *db, long n)
{
    PGconn *c = PQconnectdb(db);
    exec_or_die(c, "SET client_min_messages = warning");
    exec_or_die(c,
                "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
                "valid_from) SELECT left(r.code, 8) || lpad(g::text, 3, '0') || '001', 'village', "
                "r.code, 'Село ' || g, 'Village ' || g, '2000-01-01' "
                "FROM registry.territories r, generate_series(1, 50) g WHERE r.kind = 'rayon'");
    char sql[1536];
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
    exec_or_die(c, "VACUUM ANALYZE");
    PQfinish(c);
    char *cmd = xasprintf("pgbench -i -q -s 5 '%s' >/dev/null 2>&1", db);
    if (system(cmd) != 0)
        die("pgbench -i failed (is pgbench installed?)");
    free(cmd);
}

static void *client_open(void *arg)
{
    return bench_bus_client(&bus, arg);
}

static int list_producers(void *state)
{
    static const char *const regions[] = {"41702000000000", "41703000000000", "41704000000000",
                                          "41705000000000", "41706000000000", "41707000000000"};
    static atomic_uint n;
    unsigned k = atomic_fetch_add(&n, 1);
    Ovop__V1__ListProducersRequest in = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    in.territory_prefix = (char *)regions[k % OVOP_ARRAY_SIZE(regions)];
    in.page_size = 20;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(state, "ovop.registry", "ListProducers", NULL, &in.base,
                             &ovop__v1__list_producers_response__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
}

/* Starts registryd on db (as ovop_registry) reading from read (as ovop_registry; NULL: no
 * read URL). Returns its pid. */
static pid_t start_registryd(const char *db, const char *read, uint16_t *ret_http)
{
    char *dbr = with(db, "user", "ovop_registry");
    char *rr = read ? with(read, "user", "ovop_registry") : xstrdup("");
    char http[32];
    if (harness_free_port(ret_http) < 0)
        die("no free port");
    snprintf(http, sizeof(http), "127.0.0.1:%u", *ret_http);
    const char *args[] = {
        "--database-url", dbr, "--database-read-url", rr,     "--http", http, "--credit", "64",
        "--db-pool",      "8", "--log-level",         "warn", NULL};
    pid_t pid;
    if (bench_bus_spawn(&bus, "ovop-registryd", "svc-ovop.registry", args, "bench-registryd",
                        &pid) < 0 ||
        bench_bus_wait(&bus, "ovop.registry", 15000) < 0)
        die("registryd did not start");
    free(dbr);
    free(rr);
    return pid;
}

/* Write load: pgbench -N on the primary in the background for seconds; returns its pipe. */
static FILE *write_load_start(const char *db, double seconds)
{
    char *cmd = xasprintf("pgbench -n -N -c 4 -j 2 -T %d '%s' 2>&1", (int)(seconds + 1.5), db);
    FILE *p = popen(cmd, "r");
    free(cmd);
    harness_sleep_ms(300); /* connected and writing */
    return p;
}

static double write_load_tps(FILE *p)
{
    char line[512];
    double tps = 0;
    while (p && fgets(line, sizeof(line), p)) {
        const char *t = strstr(line, "tps = ");
        if (t && tps == 0)
            tps = atof(t + 6);
    }
    if (p)
        pclose(p);
    return tps;
}

/* Part 1: ListProducers with the read URL at the standby and at the primary. */
static void throughput(const char *db_primary, const char *db_standby, double seconds, int clients,
                       void *zctx)
{
    const bench_client_ops_t ops = {client_open, list_producers, bench_client_close};
    const char *targets[2] = {db_standby, db_primary};
    const char *names[2] = {"standby", "primary"};
    double rps[2][2] = {{0}}, wtps[2] = {0};
    uint64_t errors[2][2] = {{0}};
    for (int t = 0; t < 2; t++) {
        uint16_t http;
        pid_t reg = start_registryd(db_primary, targets[t], &http);
        for (int i = 0; i < 100 && harness_port_metric(http, "ovop_pg_replica_usable") != 1; i++)
            harness_sleep_ms(100);
        double before = harness_port_metric(http, "ovop_pg_reads_total{target=\"replica\"}");
        rps[t][0] = bench_run(&ops, zctx, clients, seconds, &errors[t][0]);
        FILE *w = write_load_start(db_primary, seconds);
        rps[t][1] = bench_run(&ops, zctx, clients, seconds, &errors[t][1]);
        wtps[t] = write_load_tps(w);
        double after = harness_port_metric(http, "ovop_pg_reads_total{target=\"replica\"}");
        double prim = harness_port_metric(http, "ovop_pg_reads_total{target=\"primary\"}");
        printf("  (read URL at the %s: %.0f reads through the read pool, %.0f fell back to the "
               "primary)\n",
               names[t], after - before, prim);
        harness_stop(reg);
    }
    printf("\n%-60s %12s %8s\n", "ListProducers, 20/page, region prefix", "per second", "/primary");
    for (int load = 0; load < 2; load++) {
        for (int t = 0; t < 2; t++) {
            printf("  read URL at the %s, %d clients, %-25s %12.0f %8.3f%s\n", names[t], clients,
                   load ? "writes on the primary" : "no write load", rps[t][load],
                   rps[1][load] > 0 ? rps[t][load] / rps[1][load] : 0,
                   errors[t][load] ? " (errors!)" : "");
        }
    }
    printf("  write load: pgbench -N, 4 clients, on the primary: %.0f tps (standby run), %.0f "
           "tps (primary run)\n",
           wtps[0], wtps[1]);
    printf("  (/primary: ratio to the same load with the read URL at the primary)\n");
}

/* One RegisterProducer with a fresh request id; true when acknowledged. */
static bool write_one(ovop_client_t *c, unsigned run, unsigned i)
{
    char tax[16], rid[48];
    snprintf(tax, sizeof(tax), "016032019%05u", i);
    snprintf(rid, sizeof(rid), "bench-failover-%u-%u", run, i);
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = "Failover Felt LLC";
    in.tax_id = tax;
    in.territory_code = "41704235000101";
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, "ovop.registry", "RegisterProducer", rid, &in.base,
                             &ovop__v1__producer__descriptor, &rep, &out);
    bool ok = r == 0 && rep && (!rep->status || rep->status->code == 0) && out;
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    return ok;
}

/* Part 2, one run on the current pair: seconds from the kill to the first acknowledged write
 * sent after it; -1 when none came within FAILOVER_LIMIT. */
static double failover_once(unsigned run, const ident_t *id, const char *db_ha)
{
    if (bench_bus_start(&bus, id, with(db_ha, "user", "ovop_broker"), "bench-broker", NULL) < 0)
        die("the broker did not start");
    uint16_t http;
    pid_t reg = start_registryd(db_ha, NULL, &http);
    ovop_client_options_t o = {
        .brokers = bus.endpoint, .timeout_ms = 1000, .retries = 0, .security = &bus.client};
    ovop_client_t *c;
    if (ovop_client_new(&c, NULL, &o) < 0)
        die("client");
    unsigned i = 0;
    for (int k = 0; k < 20; k++)
        i += write_one(c, run, i);
    pgha("kill-primary");
    int64_t kill_us = ovop_mono_us();
    pgha("promote");
    double took = -1;
    while (ovop_mono_us() - kill_us < FAILOVER_LIMIT) {
        if (write_one(c, run, i)) {
            took = (double)(ovop_mono_us() - kill_us) / 1e6;
            break;
        }
        harness_sleep_ms(10);
    }
    ovop_client_destroy(&c);
    harness_stop(reg);
    bench_bus_stop(&bus);
    return took;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void failover(void)
{
    double t[FAILOVER_RUNS];
    printf("\nFailover: primary killed (pg_ctl stop -m immediate), standby promoted at once "
           "(pg_ctl promote -w);\nkill to the first write sent after it and acknowledged "
           "(RegisterProducer, 1 s client timeout)\n");
    for (unsigned run = 0; run < FAILOVER_RUNS; run++) {
        if (run > 0)
            pair_start();
        setenv("OVOP_TEST_PG_URL", ha_url, 1);
        char name[32];
        snprintf(name, sizeof(name), "ovop_bench_failover%u", run);
        char *db = bench_database(name);
        PGconn *c = PQconnectdb(db);
        exec_or_die(c, "INSERT INTO registry.territories (code, kind, parent_code, name_ru, "
                       "name_en, valid_from) VALUES ('41704235000101', 'village', "
                       "'41704235000000', 'Кочкор', 'Kochkor', '2000-01-01')");
        PQfinish(c);
        ident_t id;
        char tag[32];
        snprintf(tag, sizeof(tag), "bench-failover%u", run);
        bench_ident(&id, db, tag);
        t[run] = failover_once(run, &id, db);
        printf("  run %u: %.2f s\n", run + 1, t[run]);
        free(db);
    }
    qsort(t, FAILOVER_RUNS, sizeof(t[0]), cmp_double);
    printf("  median: %.2f s\n", t[FAILOVER_RUNS / 2]);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    int clients = argc > 2 ? atoi(argv[2]) : 8;
    long producers = argc > 3 ? atol(argv[3]) : 20000;
    if (seconds <= 0 || clients < 1 || clients > BENCH_MAX_CLIENTS || producers < 1000) {
        fprintf(stderr, "usage: bench-replica [SECONDS] [CLIENTS 1..64] [PRODUCERS >= 1000]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    snprintf(pair_dir, sizeof(pair_dir), "%s/pg-pair", harness_tmpdir());
    pair_start();

    setenv("OVOP_TEST_PG_URL", primary_url, 1);
    char *db = bench_database("ovop_bench_replica");
    load(db, producers);
    char *db_standby = with(standby_url, "dbname", "ovop_bench_replica");
    ident_t id;
    bench_ident(&id, db, "bench-replica");
    printf("bench-replica: %.1f s per figure, %d clients, %ld producers; primary and "
           "synchronous hot standby on loopback (logs in %s)\n",
           seconds, clients, producers, harness_tmpdir());
    if (bench_bus_start(&bus, &id, with(db, "user", "ovop_broker"), "bench-broker", NULL) < 0)
        die("the broker did not start");
    void *zctx = zmq_ctx_new();
    throughput(db, db_standby, seconds, clients, zctx);
    bench_bus_stop(&bus);
    zmq_ctx_term(zctx);
    free(db);
    free(db_standby);

    failover();
    pgha("stop");
    return 0;
}
