/* High availability of the state: a primary with a synchronous hot standby on loopback
 * (tests/support/pgha.sh); a broker, registryd and exportd given the multi-host URL
 * (target_session_attrs=read-write), the daemons also a read URL (prefer-standby). Reads
 * are served by the standby; then, under a steady stream of writes, the primary is killed
 * (immediate stop) and the standby promoted: the daemons reconnect by themselves, every
 * acknowledged write is on the new primary, the event sequence has no gap, and service
 * resumes within a generous bound (the figure itself is bench-replica's). */
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
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pg.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define VILLAGE       "41704235000101"
#define RESUME_MAX_MS 30000 /* generous: the figure belongs to the benchmark */
#define WRITES_BEFORE 30    /* acknowledged before the kill */
#define WRITES_AFTER  20    /* acknowledged after it, to call service resumed and steady */

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01') "
    "RETURNING 1",
    NULL};

static svcenv_t E;
static char *primary_url, *standby_url, *ha_url, *read_url; /* pgha.sh's, superuser */
static char *read_arg;                                      /* registryd's read URL */
static char *db_standby;                                    /* the test database there */
static pid_t exportd;                                       /* beside svcenv's registryd */
static uint16_t exportd_http;

/* Runs pgha.sh cmd on the test's pair; fails the test when it fails. */
static void pgha(const char *cmd)
{
    char *line = xasprintf("'%s' %s '%s' >/dev/null", OVOP_PGHA, cmd, OVOP_PGHA_DIR);
    int r = system(line);
    free(line);
    if (r != 0)
        fail_msg("pgha.sh %s failed (%d)", cmd, r);
}

static char *with(const char *conninfo, const char *keyword, const char *value)
{
    char *err = NULL;
    char *r = ovop_pg_conninfo_with(conninfo, keyword, value, &err);
    if (!r)
        fail_msg("conninfo: %s", err);
    return r;
}

/* Starts the pair and reads its four URLs. */
static void pair_start(void)
{
    char *cmd = xasprintf("'%s' start '%s'", OVOP_PGHA, OVOP_PGHA_DIR);
    FILE *p = popen(cmd, "r");
    free(cmd);
    assert_non_null(p);
    char line[2048];
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char **dst = strcmp(line, "PGHA_PRIMARY_URL") == 0   ? &primary_url
                     : strcmp(line, "PGHA_STANDBY_URL") == 0 ? &standby_url
                     : strcmp(line, "PGHA_URL") == 0         ? &ha_url
                     : strcmp(line, "PGHA_READ_URL") == 0    ? &read_url
                                                             : NULL;
        if (dst)
            *dst = xstrdup(eq + 1);
    }
    if (pclose(p) != 0 || !primary_url || !standby_url || !ha_url || !read_url)
        fail_msg("pgha.sh start failed (see %s)", OVOP_PGHA_DIR);
}

/* exportd on the same pair, as its own role, with its read URL. */
static void start_exportd(void)
{
    char *dbname = pgtest_as_role(E.db, "ovop_exports");
    char *r = with(read_arg, "user", "ovop_exports");
    char *key = ident_secret(&E.ident, "svc-ovop.exports");
    char http[32];
    assert_int_equal(harness_free_port(&exportd_http), 0);
    snprintf(http, sizeof(http), "127.0.0.1:%u", exportd_http);
    const char *args[] = {
        "--broker", E.endpoint, "--database-url", dbname, "--database-read-url", r,
        "--http",   http,       "--key",          key,    "--broker-key",        E.ident.broker_key,
        NULL};
    char *bin = harness_bin("ovop-exportd");
    assert_int_equal(harness_spawn(&exportd, bin, args, NULL, "exportd"), 0);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.exports", 15000, &E.admin), 0);
    free(bin);
    free(key);
    free(r);
    free(dbname);
}

static int setup(void **state)
{
    pair_start();
    /* svcenv makes its database where OVOP_TEST_PG_URL says: the read-write host of the
     * pair, and gives the broker and registryd that multi-host URL. */
    setenv("OVOP_TEST_PG_URL", ha_url, 1);
    char *db = xasprintf("ovop_test_failover_%d", (int)getpid());
    char *r = with(read_url, "dbname", db);
    read_arg = with(r, "user", "ovop_registry");
    db_standby = with(standby_url, "dbname", db);
    free(r);
    free(db);
    static const char *args[5];
    args[0] = "--database-read-url";
    args[1] = read_arg;
    args[2] = "--replica-max-lag";
    args[3] = "2"; /* seconds: test_lagging_standby waits for it */
    svcenv_start(&E, &(svcenv_config_t){.db_name = "failover",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .daemon_args = args,
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    start_exportd();
    return 0;
}

static int teardown(void **state)
{
    harness_stop(exportd);
    svcenv_stop(&E);
    pgha("stop");
    free(primary_url);
    free(standby_url);
    free(ha_url);
    free(read_url);
    free(read_arg);
    free(db_standby);
    return 0;
}

/* Polls registryd's metric until it reaches at least want, up to ms; returns the last value. */
static double wait_metric(const char *series, double want, unsigned ms)
{
    double v = -1;
    for (unsigned waited = 0; waited <= ms; waited += 100) {
        v = harness_port_metric(E.daemon_http[0], series);
        if (v >= want)
            break;
        harness_sleep_ms(100);
    }
    return v;
}

static int list_shipments(void)
{
    Ovop__V1__ListShipmentsRequest in = OVOP__V1__LIST_SHIPMENTS_REQUEST__INIT;
    in.page_size = 10;
    ovop_client_t *c = svcenv_client(&E);
    Ovop__V1__Reply *rep = NULL;
    int r = ovop_client_call(c, "ovop.exports", "ListShipments", NULL, &in.base, NULL, &rep, NULL);
    ovop_client_destroy(&c);
    assert_int_equal(r, 0);
    int code = rep->status ? (int)rep->status->code : 0;
    ovop__v1__reply__free_unpacked(rep, NULL);
    return code;
}

static int list_producers(void)
{
    Ovop__V1__ListProducersRequest in = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    in.page_size = 10;
    return svcenv_call(&E, "ListProducers", NULL, &in.base, NULL, NULL, NULL);
}

/* Lists go to the standby: registryd counts them as replica reads, and the standby has
 * sessions of registryd's role in the test database. */
static void test_reads_on_standby(void **state)
{
    assert_true(wait_metric("ovop_pg_replica_usable", 1, 15000) == 1);
    assert_true(harness_port_metric(E.daemon_http[0], "ovop_pg_replica_lag_seconds") >= 0);
    double before =
        harness_port_metric(E.daemon_http[0], "ovop_pg_reads_total{target=\"replica\"}");
    for (int i = 0; i < 20; i++)
        assert_int_equal(list_producers(), OVOP_OK);
    double after = harness_port_metric(E.daemon_http[0], "ovop_pg_reads_total{target=\"replica\"}");
    assert_true(after >= before + 20);

    /* exportd's lists too. */
    for (int i = 0; i < 100 && harness_port_metric(exportd_http, "ovop_pg_replica_usable") != 1;
         i++)
        harness_sleep_ms(100);
    for (int i = 0; i < 5; i++)
        assert_int_equal(list_shipments(), OVOP_OK);
    assert_true(harness_port_metric(exportd_http, "ovop_pg_reads_total{target=\"replica\"}") >= 5);

    PGconn *sb = pgtest_connect(db_standby);
    char *in_recovery = pgtest_scalar(sb, "SELECT pg_is_in_recovery()");
    assert_string_equal(in_recovery, "t");
    free(in_recovery);
    char *n = pgtest_scalar(sb, "SELECT count(*) FROM pg_stat_activity "
                                "WHERE usename = 'ovop_registry' AND datname = current_database()");
    assert_true(atoi(n) >= 1);
    free(n);
    PQfinish(sb);
}

/* Polls registryd's metric until it equals want, up to ms; returns whether it did. */
static bool wait_metric_eq(const char *series, double want, unsigned ms)
{
    for (unsigned waited = 0; waited <= ms; waited += 100) {
        if (harness_port_metric(E.daemon_http[0], series) == want)
            return true;
        harness_sleep_ms(100);
    }
    return false;
}

/* A standby whose replay is paused while the primary commits falls behind the bound: reads
 * go to the primary (and still succeed) until it catches up, then back to the standby. */
static void test_lagging_standby(void **state)
{
    const char *replica = "ovop_pg_reads_total{target=\"replica\"}";
    const char *primary = "ovop_pg_reads_total{target=\"primary\"}";
    assert_true(wait_metric_eq("ovop_pg_replica_usable", 1, 15000));
    PGconn *sb = pgtest_connect(db_standby);
    free(pgtest_scalar(sb, "SELECT pg_wal_replay_pause()"));
    assert_string_equal(pgtest_sqlstate(E.conn, "CREATE TABLE public.lag_probe (x int)"), "00000");
    for (int i = 0; i < 40; i++) {
        assert_string_equal(pgtest_sqlstate(E.conn, "INSERT INTO public.lag_probe VALUES (1)"),
                            "00000");
        harness_sleep_ms(100);
    }
    bool fell_back = wait_metric_eq("ovop_pg_replica_usable", 0, 10000);
    double lag = harness_port_metric(E.daemon_http[0], "ovop_pg_replica_lag_seconds");
    double p0 = harness_port_metric(E.daemon_http[0], primary);
    double r0 = harness_port_metric(E.daemon_http[0], replica);
    for (int i = 0; i < 5; i++)
        assert_int_equal(list_producers(), OVOP_OK);
    double p1 = harness_port_metric(E.daemon_http[0], primary);
    double r1 = harness_port_metric(E.daemon_http[0], replica);
    free(pgtest_scalar(sb, "SELECT pg_wal_replay_resume()"));
    bool back = wait_metric_eq("ovop_pg_replica_usable", 1, 15000);
    PQfinish(sb);
    print_message("lagging standby: lag %.1f s, reads on the primary %.0f -> %.0f\n", lag, p0, p1);
    assert_true(fell_back);
    assert_true(lag > 2 || lag == -1);
    assert_true(p1 >= p0 + 5);
    assert_true(r1 == r0);
    assert_true(back);
}

/* ---- the writer: RegisterProducer in a loop, each retried with its request id until
 * acknowledged, every acknowledged id recorded ---- */

typedef struct writer {
    pthread_t thread;
    ovop_client_t *client;
    atomic_bool stop;
    atomic_llong kill_us;    /* monotonic time of the kill; 0 before */
    atomic_llong resumed_us; /* first acknowledgement of a write sent after it */
    atomic_uint acked, acked_after;
    unsigned failed;
    pthread_mutex_t mu;
    long long *ids;
    char **rids;
    size_t n, cap;
} writer_t;

static void writer_record(writer_t *w, long long id, const char *rid)
{
    pthread_mutex_lock(&w->mu);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->ids = xrealloc(w->ids, w->cap * sizeof(*w->ids));
        w->rids = xrealloc(w->rids, w->cap * sizeof(*w->rids));
    }
    w->ids[w->n] = id;
    w->rids[w->n++] = xstrdup(rid);
    pthread_mutex_unlock(&w->mu);
}

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    unsigned i = 0;
    while (!atomic_load(&w->stop)) {
        char tax[16], rid[48];
        snprintf(tax, sizeof(tax), "015032019%05u", i);
        snprintf(rid, sizeof(rid), "failover-%d-%u", (int)getpid(), i);
        Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
        in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
        in.legal_name = "Failover Felt LLC";
        in.tax_id = tax;
        in.territory_code = VILLAGE;
        Ovop__V1__Reply *rep = NULL;
        ProtobufCMessage *out = NULL;
        long long kill_us = atomic_load(&w->kill_us);
        bool sent_after = kill_us && ovop_mono_us() >= kill_us;
        int r = ovop_client_call(w->client, "ovop.registry", "RegisterProducer", rid, &in.base,
                                 &ovop__v1__producer__descriptor, &rep, &out);
        bool ok = r == 0 && rep && (!rep->status || rep->status->code == 0) && out;
        if (ok) {
            writer_record(w, (long long)((Ovop__V1__Producer *)out)->id, rid);
            atomic_fetch_add(&w->acked, 1);
            /* Service resumed: a write sent after the kill is acknowledged. */
            if (sent_after) {
                long long zero = 0;
                atomic_compare_exchange_strong(&w->resumed_us, &zero, (long long)ovop_mono_us());
                atomic_fetch_add(&w->acked_after, 1);
            }
            i++; /* the next producer; a failure retries this one with its request id */
        } else {
            w->failed++;
            harness_sleep_ms(20);
        }
        if (out)
            protobuf_c_message_free_unpacked(out, NULL);
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
    }
    return NULL;
}

/* Waits until cond(w) or ms pass; returns whether it held. */
static bool wait_for(writer_t *w, bool (*cond)(writer_t *), unsigned ms)
{
    for (unsigned waited = 0; waited <= ms; waited += 20) {
        if (cond(w))
            return true;
        harness_sleep_ms(20);
    }
    return cond(w);
}

static bool enough_before(writer_t *w)
{
    return atomic_load(&w->acked) >= WRITES_BEFORE;
}

static bool enough_after(writer_t *w)
{
    return atomic_load(&w->acked_after) >= WRITES_AFTER;
}

/* Every acknowledged producer is on the new primary, each with its event, and the event log
 * is numbered 1..n without a gap once the sequencer caught up. */
static void check_state(writer_t *w)
{
    PGconn *db = pgtest_connect(db_standby);
    char *in_recovery = pgtest_scalar(db, "SELECT pg_is_in_recovery()");
    assert_string_equal(in_recovery, "f");
    free(in_recovery);
    ovop_buf_t ids, rids;
    ovop_buf_init(&ids);
    ovop_buf_init(&rids);
    for (size_t i = 0; i < w->n; i++) {
        ovop_buf_printf(&ids, "%s%lld", i ? "," : "", w->ids[i]);
        ovop_buf_printf(&rids, "%s'%s'", i ? "," : "", w->rids[i]);
    }
    char *sql = xasprintf("SELECT count(*) FROM registry.producers WHERE id IN (%s)", ids.data);
    char *n = pgtest_scalar(db, sql);
    free(sql);
    assert_int_equal(atol(n), (long)w->n);
    free(n);
    sql = xasprintf("SELECT count(DISTINCT request_id) FROM bus.events WHERE request_id IN (%s)",
                    rids.data);
    n = pgtest_scalar(db, sql);
    free(sql);
    assert_int_equal(atol(n), (long)w->n);
    free(n);
    ovop_buf_free(&ids);
    ovop_buf_free(&rids);

    char *unnumbered = NULL;
    for (int i = 0; i < 100; i++) {
        free(unnumbered);
        unnumbered = pgtest_scalar(db, "SELECT count(*) FROM bus.events WHERE seq IS NULL");
        if (strcmp(unnumbered, "0") == 0)
            break;
        harness_sleep_ms(100);
    }
    assert_string_equal(unnumbered, "0");
    free(unnumbered);
    char *gapless = pgtest_scalar(db, "SELECT count(*) > 0 AND min(seq) = 1 AND "
                                      "max(seq) = count(*) FROM bus.events");
    assert_string_equal(gapless, "t");
    free(gapless);
    PQfinish(db);
}

/* True once the process whose ops endpoint is on port has a database connection again
 * (ovop_pg_connections >= 1), waiting up to 10 s. */
static bool pool_reconnected(uint16_t port)
{
    for (int i = 0; i < 100; i++) {
        if (harness_port_metric(port, "ovop_pg_connections") >= 1)
            return true;
        harness_sleep_ms(100);
    }
    return false;
}

static void test_failover_under_writes(void **state)
{
    writer_t w = {0};
    pthread_mutex_init(&w.mu, NULL);
    ovop_client_options_t o = E.cfg.client;
    o.timeout_ms = 2000;
    o.retries = 0;
    assert_int_equal(ovop_client_new(&w.client, NULL, &o), 0);
    assert_int_equal(pthread_create(&w.thread, NULL, writer_main, &w), 0);

    bool before = wait_for(&w, enough_before, 30000);
    /* From the moment the primary is gone (pg_ctl returned): writes sent earlier may still
     * have been acknowledged by it. */
    pgha("kill-primary");
    int64_t kill_us = ovop_mono_us();
    atomic_store(&w.kill_us, (long long)kill_us);
    pgha("promote");
    bool after = before && wait_for(&w, enough_after, RESUME_MAX_MS + 5000);
    atomic_store(&w.stop, true);
    pthread_join(w.thread, NULL);
    ovop_client_destroy(&w.client);

    long long resumed = atomic_load(&w.resumed_us);
    double resume_s = resumed ? (double)(resumed - kill_us) / 1e6 : -1;
    print_message("failover: %u writes acknowledged (%u after the kill), %u attempts failed; "
                  "kill to first acknowledged write %.2f s\n",
                  atomic_load(&w.acked), atomic_load(&w.acked_after), w.failed, resume_s);
    assert_true(before);
    assert_true(after);
    assert_true(resume_s >= 0 && resume_s * 1000 <= RESUME_MAX_MS);

    check_state(&w);

    /* The broker's pool (keyring) and registryd's follow the new primary; reads go on. Each
     * pool reconnects on its own back-off (up to 5 s), so each is given 10 s to do so. */
    assert_true(pool_reconnected(E.broker_http));
    assert_true(pool_reconnected(E.daemon_http[0]));
    assert_int_equal(list_producers(), OVOP_OK);
    /* exportd too: it reconnects and serves (its sequencer numbers in the same log). */
    assert_true(pool_reconnected(exportd_http));
    assert_int_equal(list_shipments(), OVOP_OK);

    for (size_t i = 0; i < w.n; i++)
        free(w.rids[i]);
    free(w.rids);
    free(w.ids);
    pthread_mutex_destroy(&w.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_on_standby),
        cmocka_unit_test(test_lagging_standby),
        cmocka_unit_test(test_failover_under_writes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
