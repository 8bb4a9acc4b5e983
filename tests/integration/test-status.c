/* ovopctl status against a running system: a scratch database, a broker, registryd and
 * exportd (one instance each, on CURVE). Its verdict and exit code (Nagios's) as things go
 * wrong one after another: all well (OK, 0; the JSON names both services with their ready
 * instances), a consumer lagging and a certificate expiring (WARNING, 1), the only exportd
 * stopped (CRITICAL, 2, naming ovop.exports), the database and then the broker unreachable
 * (2), a bad flag (UNKNOWN, 3), and a principal without ops.monitor refused by the broker
 * (PERMISSION_DENIED; UNKNOWN, 3); a "replica" that is not in recovery and an instance not ready
 * while another serves (WARNING). The database part runs as a login holding only the group role
 * ovop_monitor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/broker.pb-c.h"
#include "pg.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define REG_INSTANCE "reg-status-1"
#define EXP_INSTANCE "exp-status-1"

static svcenv_t E;
static pid_t exportd;
static uint16_t exportd_http;
static char monitor_role[64];
static char *monitor_url; /* the database as monitor_role: ovop_monitor only */
static pid_t second;      /* test_instance_not_ready's registryd */

static void sql(const char *q)
{
    PGresult *res = PQexec(E.conn, q);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", q, PQresultErrorMessage(res));
    PQclear(res);
}

static void start_exportd(void)
{
    char http[32], *db = pgtest_as_role(E.db, "ovop_exports");
    char *key = ident_secret(&E.ident, "svc-ovop.exports");
    snprintf(http, sizeof(http), "127.0.0.1:%u", exportd_http);
    const char *args[] = {
        "--broker", E.endpoint,     "--database-url",   db,           "--http",     http, "--key",
        key,        "--broker-key", E.ident.broker_key, "--instance", EXP_INSTANCE, NULL};
    char *bin = harness_bin("ovop-exportd");
    assert_int_equal(harness_spawn(&exportd, bin, args, NULL, "exportd"), 0);
    free(bin);
    free(key);
    free(db);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.exports", 15000, &E.admin), 0);
}

/* A login role `name` (pid appended, into ret_name) in group role `group`, with a random
 * password of its own; returns its conninfo to the test database (malloc'd). */
static char *make_login(const char *name, const char *group, char ret_name[static 64])
{
    char pw[33], q[256], *err = NULL;
    unsigned char raw[16];
    FILE *f = fopen("/dev/urandom", "rb");
    assert_non_null(f);
    assert_int_equal(fread(raw, 1, sizeof(raw), f), sizeof(raw));
    fclose(f);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(pw + 2 * i, 3, "%02x", raw[i]);
    snprintf(ret_name, 64, "%s_%d", name, (int)getpid());
    snprintf(q, sizeof(q), "CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE %s", ret_name, pw, group);
    sql(q);
    char *as = pgtest_as_role(E.db, ret_name);
    char *url = ovop_pg_conninfo_with(as, "password", pw, &err);
    assert_non_null(url);
    free(as);
    return url;
}

/* A login role that holds ovop_monitor and nothing else. */
static void make_monitor_login(void)
{
    monitor_url = make_login("status_mon", "ovop_monitor", monitor_role);
}

static int setup(void **state)
{
    OVOP_UNUSED(state);
    static const char *const daemon_args[] = {"--instance", REG_INSTANCE, NULL};
    svcenv_config_t cfg = {
        .db_name = "status",
        .daemon = "ovop-registryd",
        .service = "ovop.registry",
        .daemon_args = daemon_args,
        .client = {.timeout_ms = 5000, .retries = 1},
    };
    svcenv_start(&E, &cfg);
    assert_int_equal(harness_free_port(&exportd_http), 0);
    start_exportd();
    make_monitor_login();
    return 0;
}

static int teardown(void **state)
{
    OVOP_UNUSED(state);
    harness_stop(exportd);
    harness_stop(second);
    svcenv_stop(&E); /* drops the database first: the roles then own nothing */
    /* The roles are the cluster's: dropped even when a test failed half-way. */
    PGconn *c = pgtest_connect(pgtest_server_url());
    const char *names[] = {"status_mon", "status_reg"};
    for (size_t i = 0; i < 2; i++) {
        char q[128];
        snprintf(q, sizeof(q), "DROP ROLE IF EXISTS %s_%d", names[i], (int)getpid());
        PQclear(PQexec(c, q));
    }
    PQfinish(c);
    free(monitor_url);
    return 0;
}

/* What ovopctl status runs with besides the admin's key and the broker (svcenv_ovopctl). */
static const char *db_url;  /* NULL: monitor_url */
static const char *key_arg; /* NULL: the admin's */

/* Runs ovopctl status with extra args (NULL-terminated; options of the verb after it);
 * returns its exit code with its output (stdout and stderr) in *out (malloc'd). */
static int status(char **out, const char *const *extra)
{
    static int run;
    char log[32];
    snprintf(log, sizeof(log), "status-%d", ++run);
    const char *args[24] = {"--database-url", db_url ? db_url : monitor_url};
    size_t n = 2;
    if (key_arg) {
        args[n++] = "--key";
        args[n++] = key_arg;
    }
    args[n++] = "status";
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        args[n++] = extra[i];
    int code = svcenv_ovopctl(&E, log, args, 30000);
    char *path = xasprintf("%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    ovop_buf_t buf;
    ovop_buf_init(&buf);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ovop_buf_append(&buf, chunk, got);
    fclose(f);
    free(path);
    *out = buf.data ? buf.data : xstrdup("");
    return code;
}

/* status --json: its exit code and the document (which must parse). */
static int status_json(json_t **doc, const char *const *extra)
{
    const char *args[16] = {"--json"};
    size_t n = 1;
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    char *out;
    int code = status(&out, args);
    json_error_t err;
    *doc = json_loads(out, 0, &err);
    if (!*doc)
        fail_msg("status --json printed no JSON document (%s): %s", err.text, out);
    free(out);
    return code;
}

static json_t *service(json_t *doc, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(doc, "services"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return s;
    }
    fail_msg("status names no service %s", name);
    return NULL;
}

/* True when a problem's message contains text. */
static bool has_problem(json_t *doc, const char *text)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(doc, "problems"), i, p)
    {
        if (strstr(json_string_value(json_object_get(p, "message")), text))
            return true;
    }
    return false;
}

static void assert_instance_ready(json_t *doc, const char *name, const char *instance)
{
    json_t *list = json_object_get(service(doc, name), "instances");
    assert_int_equal(json_array_size(list), 1);
    json_t *it = json_array_get(list, 0);
    assert_string_equal(json_string_value(json_object_get(it, "instance")), instance);
    assert_true(
        strncmp(json_string_value(json_object_get(it, "ops_url")), "http://127.0.0.1:", 17) == 0);
    assert_true(json_is_true(json_object_get(it, "ready")));
    assert_int_equal(json_integer_value(json_object_get(it, "credit")), 32);
}

static void test_all_well(void **state)
{
    OVOP_UNUSED(state);
    json_t *doc = NULL;
    int code = -1;
    /* An instance is ready once it has heard from the broker (its first heartbeat). */
    for (int i = 0; i < 40 && code != 0; i++) {
        if (doc)
            json_decref(doc);
        if (i)
            usleep(250 * 1000);
        code = status_json(&doc, NULL);
    }
    assert_int_equal(code, 0);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "OK");
    assert_int_equal(json_array_size(json_object_get(doc, "problems")), 0);
    assert_instance_ready(doc, "ovop.registry", REG_INSTANCE);
    assert_instance_ready(doc, "ovop.exports", EXP_INSTANCE);
    json_t *db = json_object_get(doc, "database");
    assert_true(json_is_true(json_object_get(db, "primary_reachable")));
    assert_true(json_is_false(json_object_get(db, "in_recovery")));
    assert_non_null(json_object_get(json_object_get(doc, "events"), "max_seq"));
    json_t *broker = json_array_get(json_object_get(doc, "brokers"), 0);
    assert_true(json_is_true(json_object_get(broker, "reachable")));
    json_decref(doc);

    char *out;
    assert_int_equal(status(&out, NULL), 0);
    assert_true(strncmp(out, "OK", 2) == 0);
    assert_non_null(strstr(out, EXP_INSTANCE));
    free(out);
}

static void test_lagging_consumer(void **state)
{
    OVOP_UNUSED(state);
    sql("SELECT bus.emit(gen_random_uuid(), 'test', 'test.status', 's', 'x', '\\x00'::bytea) "
        "FROM generate_series(1, 20)");
    sql("SELECT bus.sequence_events()");
    /* matchd's shipments cursor stays at 0 (no matchd runs): 20 behind. */
    json_t *doc;
    assert_int_equal(status_json(&doc, (const char *const[]){"--max-lag", "10", NULL}), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "WARNING");
    assert_true(has_problem(doc, "matching:shipments, 20 behind"));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(doc, "consumers"), "lagging")), 1);
    json_decref(doc);
    assert_int_equal(status_json(&doc, (const char *const[]){"--max-lag", "20", NULL}), 0);
    json_decref(doc);
}

static void test_expiring_certificate(void **state)
{
    OVOP_UNUSED(state);
    sql("INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
        "created_at, updated_at) SELECT 900001, 'individual', 'Status test', '12345678901234', "
        "code, now(), now() FROM registry.territories ORDER BY code DESC LIMIT 1");
    sql("INSERT INTO registry.products (id, producer_id, name_en, category, hs6, territory_code, "
        "unit, capacity_per_month, price_usd, created_at, updated_at) SELECT 900002, 900001, "
        "'Honey', 'honey', (SELECT hs6 FROM registry.hs_codes ORDER BY hs6 LIMIT 1), "
        "territory_code, 'kg', 10, 1, now(), now() FROM registry.producers WHERE id = 900001");
    sql("INSERT INTO registry.applications (id, producer_id, product_id, status, submitted_at, "
        "updated_at) VALUES (900003, 900001, 900002, 'approved', now(), now())");
    sql("INSERT INTO registry.certificates (number, producer_id, product_id, application_id, "
        "stars, issued_on, expires_on, status, updated_at) VALUES ('OVOP-2026-900001', 900001, "
        "900002, 900003, 3, current_date - 700, current_date + 10, 'active', now())");
    json_t *doc;
    assert_int_equal(status_json(&doc, NULL), 1);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "WARNING");
    assert_true(has_problem(doc, "OVOP-2026-900001"));
    json_t *ce = json_object_get(doc, "certificates");
    assert_int_equal(json_integer_value(json_object_get(ce, "expiring")), 1);
    json_decref(doc);
    /* Renewed beyond 30 days: no longer a warning. */
    sql("UPDATE registry.certificates SET expires_on = current_date + 400 "
        "WHERE number = 'OVOP-2026-900001'");
    assert_int_equal(status_json(&doc, NULL), 0);
    json_decref(doc);
}

static void test_permission_denied(void **state)
{
    OVOP_UNUSED(state);
    /* The district officer holds neither ops.monitor nor iam.admin. */
    ovop_client_t *cl = svcenv_client_as(&E, IDENT_DISTRICT);
    Ovop__V1__GetStatusRequest in = OVOP__V1__GET_STATUS_REQUEST__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(ovop_client_call(cl, "ovop.broker", "GetStatus", NULL, &in.base,
                                      &ovop__v1__get_status_response__descriptor, &rep, &out),
                     0);
    assert_non_null(rep->status);
    assert_int_equal(rep->status->code, OVOP_PERMISSION_DENIED);
    assert_null(out);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&cl);

    char *key = ident_secret(&E.ident, IDENT_DISTRICT), *text;
    key_arg = key;
    assert_int_equal(status(&text, NULL), 3);
    key_arg = NULL;
    assert_true(strncmp(text, "UNKNOWN: broker ", 16) == 0);
    assert_non_null(strstr(text, "PERMISSION_DENIED"));
    free(text);
    free(key);
}

static void test_bad_flag(void **state)
{
    OVOP_UNUSED(state);
    char *out;
    assert_int_equal(status(&out, (const char *const[]){"--no-such-flag", NULL}), 3);
    free(out);
    assert_int_equal(status(&out, (const char *const[]){"stray", NULL}), 3);
    free(out);
}

/* The replica to check is the primary itself: not in recovery, not a standby. */
static void test_replica_not_standby(void **state)
{
    OVOP_UNUSED(state);
    json_t *doc;
    assert_int_equal(
        status_json(&doc, (const char *const[]){"--database-read-url", monitor_url, NULL}), 1);
    assert_true(has_problem(doc, "is not in recovery"));
    json_t *replica = json_object_get(json_object_get(doc, "database"), "replica");
    assert_true(json_is_true(json_object_get(replica, "reachable")));
    assert_true(json_is_false(json_object_get(replica, "in_recovery")));
    json_decref(doc);
}

/* A second registryd whose database login is then closed: its /readyz fails while the first
 * instance serves. */
static void test_instance_not_ready(void **state)
{
    OVOP_UNUSED(state);
    char role[64], http[32], q[256];
    uint16_t port;
    char *url = make_login("status_reg", "ovop_registry", role);
    char *key = ident_secret(&E.ident, "svc-ovop.registry");
    assert_int_equal(harness_free_port(&port), 0);
    snprintf(http, sizeof(http), "127.0.0.1:%u", port);
    const char *args[] = {
        "--broker", E.endpoint,     "--database-url",   url,          "--http",       http, "--key",
        key,        "--broker-key", E.ident.broker_key, "--instance", "reg-status-2", NULL};
    char *bin = harness_bin("ovop-registryd");
    assert_int_equal(harness_spawn(&second, bin, args, NULL, "registryd-2"), 0);
    json_t *doc = NULL;
    int code = -1;
    for (int i = 0; i < 60 && code != 0; i++) {
        if (doc)
            json_decref(doc);
        usleep(250 * 1000);
        code = status_json(&doc, NULL);
    }
    assert_int_equal(code, 0);
    assert_int_equal(json_array_size(json_object_get(service(doc, "ovop.registry"), "instances")),
                     2);
    json_decref(doc);
    doc = NULL;

    snprintf(q, sizeof(q), "ALTER ROLE %s NOLOGIN", role);
    sql(q);
    snprintf(q, sizeof(q),
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'", role);
    sql(q);
    for (int i = 0; i < 60 && !(doc && has_problem(doc, "reg-status-2")); i++) {
        if (doc)
            json_decref(doc);
        usleep(250 * 1000);
        code = status_json(&doc, NULL);
    }
    assert_int_equal(code, 1);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "WARNING");
    assert_true(has_problem(doc, "instance reg-status-2 of ovop.registry is not ready"));
    assert_true(has_problem(doc, "database unreachable"));
    json_decref(doc);

    harness_stop(second);
    second = 0;
    snprintf(q, sizeof(q), "DROP OWNED BY %s", role);
    sql(q);
    snprintf(q, sizeof(q), "DROP ROLE %s", role);
    sql(q);
    free(bin);
    free(key);
    free(url);
}

static void test_service_down(void **state)
{
    OVOP_UNUSED(state);
    harness_stop(exportd); /* SIGKILL: the broker notices after its liveness */
    exportd = 0;
    json_t *doc = NULL;
    int code = -1;
    /* While the broker still holds it (its liveness), the instance is not ready (its /readyz
     * refuses connections); then the broker forgets it. Both are CRITICAL. */
    for (int i = 0; i < 60 && !(doc && has_problem(doc, "has no worker")); i++) {
        if (doc)
            json_decref(doc);
        usleep(250 * 1000);
        code = status_json(&doc, NULL);
        assert_int_equal(code, 2);
    }
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "CRITICAL");
    assert_true(has_problem(doc, "service ovop.exports has no worker"));
    assert_int_equal(json_array_size(json_object_get(service(doc, "ovop.exports"), "instances")),
                     0);
    assert_instance_ready(doc, "ovop.registry", REG_INSTANCE);
    json_decref(doc);
    char *out;
    assert_int_equal(status(&out, NULL), 2);
    assert_true(strncmp(out, "CRITICAL: service ovop.exports has no worker", 44) == 0);
    free(out);
}

static void test_database_unreachable(void **state)
{
    OVOP_UNUSED(state);
    uint16_t port;
    assert_int_equal(harness_free_port(&port), 0);
    char *url = xasprintf("postgresql://nobody@127.0.0.1:%u/none", port);
    json_t *doc;
    db_url = url;
    assert_int_equal(status_json(&doc, NULL), 2);
    db_url = NULL;
    assert_true(has_problem(doc, "database unreachable"));
    assert_true(
        json_is_false(json_object_get(json_object_get(doc, "database"), "primary_reachable")));
    json_decref(doc);
    free(url);
}

static void test_broker_unreachable(void **state)
{
    OVOP_UNUSED(state);
    harness_stop(E.broker);
    E.broker = 0;
    json_t *doc;
    assert_int_equal(status_json(&doc, (const char *const[]){"--timeout-ms", "500", NULL}), 2);
    assert_true(has_problem(doc, "unreachable"));
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(doc, "brokers"), 0), "reachable")));
    json_decref(doc);
}

int main(void)
{
    if (!pgtest_server_url())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_well),
        cmocka_unit_test(test_lagging_consumer),
        cmocka_unit_test(test_expiring_certificate),
        cmocka_unit_test(test_permission_denied),
        cmocka_unit_test(test_bad_flag),
        cmocka_unit_test(test_replica_not_standby),
        cmocka_unit_test(test_instance_not_ready),
        cmocka_unit_test(test_service_down),
        cmocka_unit_test(test_database_unreachable),
        cmocka_unit_test(test_broker_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
