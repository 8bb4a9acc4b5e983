/* The asynchronous pool (ovop_pg) against a real PostgreSQL on a libuv loop: throughput,
 * errors, connections killed server-side, queue overflow, reconnection back-off and
 * destroy with queries in flight. Every callback must run exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "pg_stmt.h"
#include "pgtest.h"
#include "util.h"

#define MANY 1000

typedef struct env {
    uv_loop_t loop;
    uv_timer_t tick; /* wakes uv_run(UV_RUN_ONCE) so run_until can check its deadline */
    char *db;
    ovop_metrics_t *metrics;
    ovop_pg_t *pg;
} env_t;

/* One submitted query's outcome, written by its callback. */
typedef struct call {
    int calls;
    bool ok;
    char value[64];
    int pid; /* the second column, when there is one */
    char sqlstate[6];
    char error[256];
} call_t;

static void on_tick(uv_timer_t *t)
{
}

static int setup(void **state)
{
    env_t *e = xcalloc(1, sizeof(*e));
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->tick);
    uv_timer_start(&e->tick, on_tick, 10, 10);
    e->db = pgtest_create("pg");
    e->metrics = ovop_metrics_new();
    *state = e;
    return 0;
}

/* Destroys the pool if the test did not, then runs the loop until every handle has closed:
 * uv_loop_close fails while any is open, so a handle the pool forgot to close fails here. */
static int teardown(void **state)
{
    env_t *e = *state;
    ovop_pg_destroy(&e->pg);
    uv_close((uv_handle_t *)&e->tick, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e->loop), 0);
    ovop_metrics_destroy(&e->metrics);
    pgtest_drop(&e->db);
    free(e);
    return 0;
}

static void on_result(PGresult *res, const char *error, void *userdata)
{
    call_t *c = userdata;
    c->calls++;
    c->ok = error == NULL;
    if (error)
        snprintf(c->error, sizeof(c->error), "%s", error);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
    if (!error && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
        snprintf(c->value, sizeof(c->value), "%s", PQgetvalue(res, 0, 0));
    if (!error && PQresultStatus(res) == PGRES_TUPLES_OK && PQnfields(res) > 1)
        c->pid = atoi(PQgetvalue(res, 0, 1));
    if (!error)
        assert_true(PQresultStatus(res) == PGRES_TUPLES_OK ||
                    PQresultStatus(res) == PGRES_COMMAND_OK);
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop until cond(arg) holds; fails the test after timeout_ms. */
static void run_until(env_t *e, cond_fn cond, void *arg, unsigned timeout_ms, const char *what)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000;
    while (!cond(arg)) {
        if (ovop_mono_us() > deadline)
            fail_msg("timed out after %u ms waiting for %s", timeout_ms, what);
        uv_run(&e->loop, UV_RUN_ONCE);
    }
}

typedef struct calls {
    call_t *c;
    int n;
} calls_t;

static bool all_called(void *arg)
{
    calls_t *cs = arg;
    for (int i = 0; i < cs->n; i++)
        if (cs->c[i].calls == 0)
            return false;
    return true;
}

static void wait_calls(env_t *e, call_t *c, int n, unsigned timeout_ms)
{
    calls_t cs = {c, n};
    run_until(e, all_called, &cs, timeout_ms, "query callbacks");
}

static double metric(env_t *e, const char *name)
{
    /* Registering again returns the series the pool registered. */
    if (strcmp(name, "ovop_pg_connections") == 0 || strcmp(name, "ovop_pg_queue_depth") == 0)
        return ovop_metric_value(ovop_metrics_gauge(e->metrics, name, "", NULL));
    return ovop_metric_value(ovop_metrics_counter(e->metrics, name, "", NULL));
}

typedef struct conn_wait {
    env_t *e;
    double n;
} conn_wait_t;

static bool connections_are(void *arg)
{
    conn_wait_t *w = arg;
    return metric(w->e, "ovop_pg_connections") == w->n;
}

static void wait_connections(env_t *e, unsigned n)
{
    conn_wait_t w = {e, n};
    run_until(e, connections_are, &w, 10000, "pool connections");
}

static void new_pool(env_t *e, unsigned size)
{
    assert_int_equal(ovop_pg_new(&e->pg, &e->loop, e->db, size, e->metrics), 0);
}

static void test_new_rejects(void **state)
{
    env_t *e = *state;
    ovop_pg_t *pg = NULL;
    assert_int_equal(ovop_pg_new(&pg, &e->loop, "host=127.0.0.1 nonsense", 2, NULL), -EINVAL);
    assert_int_equal(ovop_pg_new(&pg, &e->loop, "postgresql://[", 2, NULL), -EINVAL);
    assert_int_equal(ovop_pg_new(&pg, &e->loop, e->db, 0, NULL), -EINVAL);
    assert_null(pg);
    ovop_pg_destroy(&pg); /* accepts NULL */
    ovop_pg_destroy(NULL);
}

/* 1000 queries over 4 connections: every one answered with its own result, all four
 * connections used, metrics counted. */
static void test_many(void **state)
{
    env_t *e = *state;
    call_t *c = xcalloc(MANY, sizeof(*c));
    char *sql = xstrdup("SELECT $1::int * 2, pg_backend_pid()");

    new_pool(e, 4);
    wait_connections(e, 4);
    assert_true(ovop_pg_ready(e->pg));
    for (int i = 0; i < MANY; i++) {
        char param[16];
        snprintf(param, sizeof(param), "%d", i);
        const char *values[] = {param};
        ovop_pg_query(e->pg, i % 10 == 0 ? "SELECT $1::int * 2, pg_backend_pid()" : sql, 1, values,
                      on_result, &c[i]);
        /* Parameters and SQL are copied: overwrite ours at once. */
        memset(param, 'x', sizeof(param) - 1);
        assert_int_equal(c[i].calls, 0);
    }
    free(sql); /* freed while every query is still pending */
    assert_int_equal(ovop_pg_pending(e->pg), MANY);
    assert_int_equal(metric(e, "ovop_pg_queue_depth"), MANY - 4);
    wait_calls(e, c, MANY, 30000);

    for (int i = 0; i < MANY; i++) {
        if (!c[i].ok)
            fail_msg("query %d failed: %s", i, c[i].error);
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(atoi(c[i].value), 2 * i);
    }
    assert_int_equal(ovop_pg_pending(e->pg), 0);
    assert_int_equal(metric(e, "ovop_pg_queries_total"), MANY);
    assert_int_equal(metric(e, "ovop_pg_errors_total"), 0);
    assert_int_equal(metric(e, "ovop_pg_queue_depth"), 0);
    assert_int_equal(metric(e, "ovop_pg_connections"), 4);

    ovop_buf_t page;
    ovop_buf_init(&page);
    ovop_metrics_render(e->metrics, &page);
    assert_non_null(strstr(page.data, "ovop_pg_query_duration_seconds_count 1000\n"));
    ovop_buf_free(&page);

    /* Every connection took its share: four backends answered. */
    int pids[4] = {0}, n_pids = 0;
    for (int i = 0; i < MANY; i++) {
        int j = 0;
        while (j < n_pids && pids[j] != c[i].pid)
            j++;
        if (j == n_pids) {
            assert_true(n_pids < 4);
            pids[n_pids++] = c[i].pid;
        }
    }
    assert_int_equal(n_pids, 4);
    PGconn *admin = pgtest_connect(e->db);
    char *n = pgtest_scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                   "current_database() AND pid <> pg_backend_pid()");
    assert_string_equal(n, "4");
    free(n);
    PQfinish(admin);
    free(c);
}

/* A server error comes back as the error result with its SQLSTATE and message; NULL
 * parameters are SQL NULLs; the connection stays usable. */
static void test_errors(void **state)
{
    env_t *e = *state;
    call_t c[5] = {0};
    const char *null_param[] = {NULL};
    const char *text_param[] = {"it's \\ \"quoted\" — ünïcode"};

    new_pool(e, 1);
    ovop_pg_query(e->pg, "SELEC 1", 0, NULL, on_result, &c[0]);
    ovop_pg_query(e->pg, "SELECT $1::text IS NULL", 1, null_param, on_result, &c[1]);
    ovop_pg_query(e->pg, "SELECT 1 / 0", 0, NULL, on_result, &c[2]);
    ovop_pg_query(e->pg, "SELECT $1::text", 1, text_param, on_result, &c[3]);
    ovop_pg_query(e->pg, "", 0, NULL, on_result, &c[4]);
    wait_calls(e, c, 5, 10000);

    assert_false(c[0].ok);
    assert_string_equal(c[0].sqlstate, "42601");
    assert_string_equal(c[0].error, "syntax error at or near \"SELEC\"");
    assert_true(c[1].ok);
    assert_string_equal(c[1].value, "t");
    assert_false(c[2].ok);
    assert_string_equal(c[2].sqlstate, "22012");
    assert_string_equal(c[2].error, "division by zero");
    assert_true(c[3].ok);
    assert_string_equal(c[3].value, text_param[0]);
    assert_false(c[4].ok);
    assert_string_equal(c[4].error, "empty query");
    for (int i = 0; i < 5; i++)
        assert_int_equal(c[i].calls, 1);
    assert_int_equal(metric(e, "ovop_pg_errors_total"), 3);
}

/* Runs one query on the pool and waits for it; returns its outcome. */
static call_t run1(env_t *e, const char *sql)
{
    call_t c = {0};
    ovop_pg_query(e->pg, sql, 0, NULL, on_result, &c);
    wait_calls(e, &c, 1, 10000);
    assert_int_equal(c.calls, 1);
    return c;
}

static call_t run1_ok(env_t *e, const char *sql)
{
    call_t c = run1(e, sql);
    if (!c.ok)
        fail_msg("%s: %s", sql, c.error);
    return c;
}

/* Statements are prepared per connection on first use and run by name afterwards; a stale
 * one (its table changed, or deallocated) is prepared again transparently; past the cache's
 * size, queries run unprepared; a failed prepare is the query's error. */
static void test_prepared(void **state)
{
    env_t *e = *state;
    char sql[64];

    new_pool(e, 1);
    run1_ok(e, "SELECT 1");
    call_t c = run1_ok(e, "SELECT string_agg(statement, '|' ORDER BY statement) "
                          "FROM pg_prepared_statements");
    assert_non_null(strstr(c.value, "SELECT 1|"));

    /* SELECT * changes its result type when the table gains a column. */
    run1_ok(e, "CREATE TABLE t (a int)");
    run1_ok(e, "INSERT INTO t VALUES (1)");
    assert_string_equal(run1_ok(e, "SELECT * FROM t").value, "1");
    PGconn *admin = pgtest_connect(e->db);
    PQclear(PQexec(admin, "ALTER TABLE t ADD COLUMN b int DEFAULT 5"));
    PQfinish(admin);
    assert_string_equal(run1_ok(e, "SELECT * FROM t").value, "1");
    assert_string_equal(run1_ok(e, "SELECT b FROM t").value, "5");

    /* The statements vanish from the session: each is prepared again. */
    run1_ok(e, "DEALLOCATE ALL");
    assert_string_equal(run1_ok(e, "SELECT * FROM t").value, "1");

    /* A failed prepare fails the query, every time. */
    for (int i = 0; i < 2; i++) {
        c = run1(e, "SELECT nope FROM t");
        assert_false(c.ok);
        assert_string_equal(c.sqlstate, "42703");
        assert_string_equal(c.error, "column \"nope\" does not exist");
    }

    /* Fill a new connection's cache: later statements still run, unprepared. */
    ovop_pg_destroy(&e->pg);
    new_pool(e, 1);
    for (int i = 0; i < 200; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        assert_int_equal(atoi(run1_ok(e, sql).value), i);
    }
    c = run1_ok(e, "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal(atoi(c.value), OVOP_PG_STMT_MAX);
    assert_int_equal(metric(e, "ovop_pg_errors_total"), 2);
}

/* Backends of the test database other than the admin connection itself. */
static const char others[] =
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";

typedef struct kill_wait {
    PGconn *admin;
    const char *sql;
    const char *expect;
} kill_wait_t;

static bool admin_sees(void *arg)
{
    kill_wait_t *w = arg;
    char *v = pgtest_scalar(w->admin, w->sql);
    bool ok = strcmp(v, w->expect) == 0;
    free(v);
    if (!ok)
        usleep(10000);
    return ok;
}

/* Connections terminated by the server: running queries fail with "connection to database
 * lost" (never re-run: they may have committed), queued ones run after the reconnect, and
 * idle connections are noticed and replaced. */
static void test_killed(void **state)
{
    env_t *e = *state;
    call_t sleeping[4] = {0}, queued[8] = {0}, after[20] = {0};
    PGconn *admin = pgtest_connect(e->db);

    new_pool(e, 4);
    wait_connections(e, 4);
    for (int i = 0; i < 4; i++)
        ovop_pg_query(e->pg, "SELECT pg_sleep(30)", 0, NULL, on_result, &sleeping[i]);
    for (int i = 0; i < 8; i++)
        ovop_pg_query(e->pg, "SELECT 42", 0, NULL, on_result, &queued[i]);
    char *sql = xasprintf("SELECT count(*) %s AND query = 'SELECT pg_sleep(30)' "
                          "AND state = 'active'",
                          others);
    kill_wait_t w = {admin, sql, "4"};
    run_until(e, admin_sees, &w, 10000, "four sleeping backends");
    free(sql);

    char *kill = xasprintf("SELECT count(pg_terminate_backend(pid)) %s", others);
    char *n = pgtest_scalar(admin, kill);
    assert_string_equal(n, "4");
    free(n);
    wait_calls(e, sleeping, 4, 10000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sleeping[i].calls, 1);
        assert_false(sleeping[i].ok);
        assert_string_equal(sleeping[i].error, "connection to database lost");
    }
    wait_calls(e, queued, 8, 10000);
    for (int i = 0; i < 8; i++) {
        if (!queued[i].ok)
            fail_msg("queued query %d failed: %s", i, queued[i].error);
        assert_string_equal(queued[i].value, "42");
    }
    wait_connections(e, 4);

    /* Idle connections killed: the pool notices without being asked, reconnects, and the
     * next queries run on the new connections. */
    n = pgtest_scalar(admin, kill);
    assert_string_equal(n, "4");
    free(n);
    wait_connections(e, 0);
    wait_connections(e, 4);
    for (int i = 0; i < 20; i++)
        ovop_pg_query(e->pg, "SELECT 7", 0, NULL, on_result, &after[i]);
    wait_calls(e, after, 20, 10000);
    for (int i = 0; i < 20; i++) {
        if (!after[i].ok)
            fail_msg("query %d after reconnect failed: %s", i, after[i].error);
        assert_int_equal(after[i].calls, 1);
    }
    free(kill);
    PQfinish(admin);
}

/* Beyond OVOP_PG_MAX_QUEUE waiting queries the rest fail, from the loop, never inside
 * ovop_pg_query; the queue itself drains normally. */
static void test_overflow(void **state)
{
    env_t *e = *state;
    int n = OVOP_PG_MAX_QUEUE + 3;
    call_t *c = xcalloc((size_t)n, sizeof(*c));

    new_pool(e, 4);
    /* The connections are still being set up: everything waits in the queue. */
    for (int i = 0; i < n; i++) {
        ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_result, &c[i]);
        assert_int_equal(c[i].calls, 0);
    }
    assert_int_equal(ovop_pg_pending(e->pg), OVOP_PG_MAX_QUEUE);
    wait_calls(e, c, n, 50000);
    for (int i = 0; i < n; i++) {
        assert_int_equal(c[i].calls, 1);
        if (i < OVOP_PG_MAX_QUEUE) {
            if (!c[i].ok)
                fail_msg("query %d failed: %s", i, c[i].error);
        } else {
            assert_false(c[i].ok);
            assert_string_equal(c[i].error, "too many queries waiting for a database connection");
        }
    }
    assert_int_equal(metric(e, "ovop_pg_errors_total"), 3);
    free(c);
}

/* Captures what is written to stderr (the log) between log_capture and log_captured. */
typedef struct log_capture {
    int fd;
    int saved;
} log_capture_t;

static void log_capture(log_capture_t *lc)
{
    char path[] = "/tmp/ovop-test-pg-log-XXXXXX";
    lc->fd = mkstemp(path);
    assert_true(lc->fd >= 0);
    unlink(path);
    fflush(stderr);
    lc->saved = dup(2);
    dup2(lc->fd, 2);
}

/* Restores stderr and returns what was written (malloc'd). */
static char *log_captured(log_capture_t *lc)
{
    fflush(stderr);
    dup2(lc->saved, 2);
    close(lc->saved);
    char *log = xcalloc(1, 65536);
    assert_true(pread(lc->fd, log, 65535, 0) >= 0);
    close(lc->fd);
    return log;
}

/* A TCP socket on 127.0.0.1 (listening or not) that never accepts; returns its port. */
static unsigned dead_port(int *ret_fd, bool listening)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    if (listening)
        assert_int_equal(listen(s, 16), 0);
    *ret_fd = s;
    return ntohs(a.sin_port);
}

static void run_for(env_t *e, unsigned ms)
{
    int64_t until = ovop_mono_us() + (int64_t)ms * 1000;
    while (ovop_mono_us() < until)
        uv_run(&e->loop, UV_RUN_ONCE);
}

/* A server that is not there: queries wait (they are not failed), attempts are logged with
 * a doubling delay and without the password. */
static void test_unreachable(void **state)
{
    env_t *e = *state;
    call_t c = {0};
    log_capture_t lc;
    int s;
    char *conninfo = xasprintf("host=127.0.0.1 port=%u user=ovop password=sekrit-pw "
                               "dbname=nowhere",
                               dead_port(&s, false));

    log_capture(&lc);
    assert_int_equal(ovop_pg_new(&e->pg, &e->loop, conninfo, 1, e->metrics), 0);
    ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_result, &c);
    run_for(e, 800);
    assert_int_equal(c.calls, 0);
    assert_false(ovop_pg_ready(e->pg));
    assert_int_equal(ovop_pg_pending(e->pg), 1);
    ovop_pg_destroy(&e->pg);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.error, "database pool is shutting down");
    char *log = log_captured(&lc);
    close(s);
    free(conninfo);

    assert_non_null(strstr(log, "could not connect to database: "));
    assert_non_null(strstr(log, "retrying in 100 ms"));
    assert_non_null(strstr(log, "retrying in 200 ms"));
    assert_non_null(strstr(log, "retrying in 400 ms"));
    assert_null(strstr(log, "sekrit"));
    free(log);
}

/* A server that accepts the TCP connection and never answers: the attempt times out after
 * connect_timeout (libpq leaves that to us when connecting asynchronously). */
static void test_connect_timeout(void **state)
{
    env_t *e = *state;
    log_capture_t lc;
    int s;
    char *conninfo = xasprintf("host=127.0.0.1 port=%u user=ovop dbname=mute connect_timeout=1",
                               dead_port(&s, true));

    log_capture(&lc);
    assert_int_equal(ovop_pg_new(&e->pg, &e->loop, conninfo, 1, e->metrics), 0);
    run_for(e, 1500);
    char *early = log_captured(&lc);
    assert_null(strstr(early, "timeout expired")); /* 1 s counts as libpq's minimum, 2 s */
    free(early);
    log_capture(&lc);
    run_for(e, 1000);
    char *log = log_captured(&lc);
    ovop_pg_destroy(&e->pg);
    close(s);
    free(conninfo);
    assert_non_null(strstr(log, "could not connect to database: timeout expired, retrying in "
                                "100 ms"));
    free(log);
}

typedef struct resubmit {
    ovop_pg_t *pg;
    call_t own;
    call_t again;
} resubmit_t;

/* A callback that submits another query: during destroy that one fails too. */
static void on_resubmit(PGresult *res, const char *error, void *userdata)
{
    resubmit_t *r = userdata;
    on_result(res, error, &r->own);
    ovop_pg_query(r->pg, "SELECT 1", 0, NULL, on_result, &r->again);
}

typedef struct destroyer {
    env_t *e;
    call_t own;
} destroyer_t;

static void on_destroy_in_callback(PGresult *res, const char *error, void *userdata)
{
    destroyer_t *d = userdata;
    on_result(res, error, &d->own);
    ovop_pg_destroy(&d->e->pg);
}

/* Destroy with queries running, queued and failed-but-undelivered: each callback runs once,
 * and every handle closes (checked by teardown's uv_loop_close). */
static void test_destroy_pending(void **state)
{
    env_t *e = *state;
    call_t running[2] = {0}, waiting[50] = {0};
    resubmit_t r = {0};
    PGconn *admin = pgtest_connect(e->db);

    new_pool(e, 2);
    wait_connections(e, 2);
    for (int i = 0; i < 2; i++)
        ovop_pg_query(e->pg, "SELECT pg_sleep(30)", 0, NULL, on_result, &running[i]);
    for (int i = 0; i < 50; i++)
        ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_result, &waiting[i]);
    ovop_pg_query(e->pg, "SELECT 2", 0, NULL, on_resubmit, &r);
    char *sql = xasprintf("SELECT count(*) %s AND query = 'SELECT pg_sleep(30)' "
                          "AND state = 'active'",
                          others);
    kill_wait_t w = {admin, sql, "2"};
    run_until(e, admin_sees, &w, 10000, "two sleeping backends");
    free(sql);

    /* r's callback resubmits through a pointer it still holds while destroy runs. */
    r.pg = e->pg;
    ovop_pg_destroy(&e->pg);
    assert_null(e->pg);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(running[i].calls, 1);
        assert_string_equal(running[i].error,
                            "database pool shut down while the query was running");
    }
    for (int i = 0; i < 50; i++) {
        assert_int_equal(waiting[i].calls, 1);
        assert_string_equal(waiting[i].error, "database pool is shutting down");
    }
    assert_int_equal(r.own.calls, 1);
    assert_int_equal(r.again.calls, 1);
    assert_string_equal(r.again.error, "database pool is shutting down");

    /* No connection comes back after destroy (the back-off is 100 ms): only the two
     * sleeping backends remain, to finish their statement server-side. */
    int64_t until = ovop_mono_us() + 300 * 1000;
    while (ovop_mono_us() < until)
        uv_run(&e->loop, UV_RUN_ONCE);
    sql = xasprintf("SELECT count(*) %s AND query <> 'SELECT pg_sleep(30)'", others);
    char *n = pgtest_scalar(admin, sql);
    assert_string_equal(n, "0");
    free(n);
    free(sql);
    PQfinish(admin);
}

/* Destroy before any connection is up, with a queue overflow error still undelivered, and
 * destroy from inside a query callback. */
static void test_destroy_early_and_reentrant(void **state)
{
    env_t *e = *state;
    call_t *c = xcalloc(OVOP_PG_MAX_QUEUE + 1, sizeof(*c));

    new_pool(e, 2);
    for (int i = 0; i <= OVOP_PG_MAX_QUEUE; i++)
        ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_result, &c[i]);
    ovop_pg_destroy(&e->pg);
    for (int i = 0; i <= OVOP_PG_MAX_QUEUE; i++)
        assert_int_equal(c[i].calls, 1);
    assert_string_equal(c[0].error, "database pool is shutting down");
    assert_string_equal(c[OVOP_PG_MAX_QUEUE].error,
                        "too many queries waiting for a database connection");
    free(c);

    call_t later[3] = {0};
    destroyer_t d = {.e = e};
    new_pool(e, 1);
    ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_destroy_in_callback, &d);
    for (int i = 0; i < 3; i++)
        ovop_pg_query(e->pg, "SELECT 1", 0, NULL, on_result, &later[i]);
    wait_calls(e, &d.own, 1, 10000);
    assert_true(d.own.ok);
    assert_null(e->pg);
    /* The connection took the next query before the callback ran. */
    assert_int_equal(later[0].calls, 1);
    assert_string_equal(later[0].error, "database pool shut down while the query was running");
    for (int i = 1; i < 3; i++) {
        assert_int_equal(later[i].calls, 1);
        assert_string_equal(later[i].error, "database pool is shutting down");
    }
}

int main(void)
{
    if (!pgtest_server_url())
        return 1;
    ovop_log_setup("test-pg", NULL, "text", "info");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prepared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_early_and_reentrant, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
