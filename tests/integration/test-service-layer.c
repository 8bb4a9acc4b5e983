/* The service layer through a real broker, registryd and PostgreSQL: deadlines (a call
 * whose deadline passes while it waits for a connection is never sent; a running statement
 * is cancelled at its deadline), SQL errors of each SQLSTATE class mapped to their codes and
 * reasons (injected by a trigger; serialization failures retried inside the daemon first),
 * page tokens bound to the filters they were issued for, and reasons on every refusal.
 * registryd runs with one database connection, so what one call holds the next one waits for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define VILLAGE "41704235000101" /* in Kochkor District, Naryn Region */

static svcenv_t E;

/* A trigger that fails every insert of a producer with the SQLSTATE in test.inject (none
 * when it is empty), counting the attempts in a sequence (nextval is never rolled back). It
 * runs as registryd's role, which may read the table and draw from the sequence. */
static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01') "
    "RETURNING 1",
    "CREATE SCHEMA test",
    "CREATE TABLE test.inject (state text NOT NULL DEFAULT '')",
    "INSERT INTO test.inject VALUES ('') RETURNING 1",
    "CREATE SEQUENCE test.attempts",
    "SELECT nextval('test.attempts')", /* last_value counts from here */
    "GRANT USAGE ON SCHEMA test TO ovop_registry",
    "GRANT SELECT ON test.inject TO ovop_registry",
    "GRANT USAGE ON SEQUENCE test.attempts TO ovop_registry",
    "CREATE FUNCTION test.fail() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE s text := (SELECT state FROM test.inject); "
    "BEGIN PERFORM nextval('test.attempts'); "
    "IF s <> '' THEN RAISE EXCEPTION 'injected failure %', s USING ERRCODE = s; END IF; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER fail BEFORE INSERT ON registry.producers FOR EACH ROW "
    "EXECUTE FUNCTION test.fail()",
    NULL};

static const char *const daemon_args[] = {"--db-pool=1", NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "servicelayer",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .daemon_args = daemon_args,
                                        .client = {.timeout_ms = 8000, .retries = 0}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* Calls method with the given deadline (0: the client's timeout); returns the reply. */
static Ovop__V1__Reply *call_with(const char *method, const ProtobufCMessage *in,
                                  uint32_t deadline_ms)
{
    ovop_client_options_t o = E.cfg.client;
    o.deadline_ms = deadline_ms;
    ovop_client_t *c;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(ovop_client_call(c, E.cfg.service, method, NULL, in, NULL, &rep, NULL), 0);
    ovop_client_destroy(&c);
    assert_non_null(rep->status);
    return rep;
}

/* Asserts the reply's code and reason, and frees it. */
static void expect(Ovop__V1__Reply *rep, int code, const char *reason)
{
    if ((int)rep->status->code != code || strcmp(rep->status->reason, reason) != 0)
        fail_msg("expected %d %s, got %d %s: %s", code, reason, (int)rep->status->code,
                 rep->status->reason, rep->status->message);
    if (code != OVOP_OK)
        assert_string_equal(rep->status->domain, "ovop.registry");
    ovop__v1__reply__free_unpacked(rep, NULL);
}

static double deadline_metric(const char *stage)
{
    char series[96];
    snprintf(series, sizeof(series), "ovop_pg_deadline_total{stage=\"%s\"}", stage);
    return harness_port_metric(E.daemon_http[0], series);
}

/* Another session holds an ACCESS EXCLUSIVE lock on the producers: reading them waits. */
static PGconn *lock_producers(void)
{
    PGconn *lock = pgtest_connect(E.db);
    assert_string_equal(pgtest_sqlstate(lock, "BEGIN"), "00000");
    assert_string_equal(
        pgtest_sqlstate(lock, "LOCK TABLE registry.producers IN ACCESS EXCLUSIVE MODE"), "00000");
    return lock;
}

static void unlock(PGconn *lock)
{
    assert_string_equal(pgtest_sqlstate(lock, "ROLLBACK"), "00000");
    PQfinish(lock);
}

static const ProtobufCMessage *list_producers(void)
{
    static Ovop__V1__ListProducersRequest l = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    return &l.base;
}

/* A statement still running at the call's deadline is cancelled: DEADLINE_EXCEEDED soon
 * after the deadline, not when the lock goes; the daemon then serves on. */
static void test_deadline_cancels_running_statement(void **state)
{
    double cancelled = deadline_metric("running");
    PGconn *lock = lock_producers();
    int64_t t0 = ovop_mono_us();
    expect(call_with("ListProducers", list_producers(), 400), OVOP_DEADLINE_EXCEEDED,
           "DEADLINE_EXCEEDED");
    int64_t took_ms = (ovop_mono_us() - t0) / 1000;
    assert_true(took_ms >= 350 && took_ms < 4000);
    assert_true(deadline_metric("running") == cancelled + 1);
    unlock(lock);
    expect(call_with("ListProducers", list_producers(), 0), OVOP_OK, "");
}

typedef struct waiter {
    uint32_t deadline_ms;
    Ovop__V1__Reply *rep;
} waiter_t;

static void *waiter_thread(void *arg)
{
    waiter_t *w = arg;
    w->rep = call_with("ListProducers", list_producers(), w->deadline_ms);
    return NULL;
}

/* With the one connection busy, a call whose deadline passes while it waits is never sent
 * to the database: refused the moment the connection frees, counted as "queued". */
static void test_deadline_refuses_queued_call(void **state)
{
    double queued = deadline_metric("queued"), cancelled = deadline_metric("running");
    PGconn *lock = lock_producers();
    waiter_t first = {.deadline_ms = 0}, second = {.deadline_ms = 300};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, waiter_thread, &first);
    usleep(200 * 1000); /* the first holds the connection */
    pthread_create(&t2, NULL, waiter_thread, &second);
    usleep(800 * 1000); /* the second's deadline passes in the queue */
    unlock(lock);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    expect(first.rep, OVOP_OK, "");
    expect(second.rep, OVOP_DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED");
    assert_true(deadline_metric("queued") == queued + 1);
    assert_true(deadline_metric("running") == cancelled); /* never started */
}

static Ovop__V1__Reply *register_producer(void)
{
    Ovop__V1__RegisterProducerRequest r = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    r.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL;
    r.legal_name = "Asanov Bakyt";
    r.tax_id = "10101199000015";
    r.territory_code = VILLAGE;
    return call_with("RegisterProducer", &r.base, 0);
}

static long attempts(void)
{
    return svcenv_count(&E, "SELECT last_value FROM test.attempts");
}

/* An error of each SQLSTATE class, raised where the mutation inserts, gets its code and
 * reason; nothing is written. Serialization failures and deadlocks are retried by the
 * daemon (3 attempts) before ABORTED. */
static void test_sql_error_classes(void **state)
{
    static const struct {
        const char *state;
        int code;
        const char *reason;
        long attempts;
    } cases[] = {
        {"40001", OVOP_ABORTED, "CONCURRENT_CHANGE", 3},               /* serialization_failure */
        {"40P01", OVOP_ABORTED, "CONCURRENT_CHANGE", 3},               /* deadlock_detected */
        {"08006", OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE", 1},        /* connection_failure */
        {"53200", OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE", 1},        /* out_of_memory */
        {"57P03", OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE", 1},        /* cannot_connect_now */
        {"23505", OVOP_ALREADY_EXISTS, "ALREADY_EXISTS", 1},           /* unique_violation */
        {"23514", OVOP_FAILED_PRECONDITION, "CONSTRAINT_VIOLATED", 1}, /* check_violation */
        {"22012", OVOP_INTERNAL, "INTERNAL", 1},                       /* division_by_zero */
        {"42P01", OVOP_INTERNAL, "INTERNAL", 1},                       /* undefined_table */
    };
    long producers = svcenv_count(&E, "SELECT count(*) FROM registry.producers");
    long events = svcenv_count(&E, "SELECT count(*) FROM bus.events");
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        char *sql = xasprintf("UPDATE test.inject SET state = '%s' RETURNING 1", cases[i].state);
        free(pgtest_scalar(E.conn, sql));
        free(sql);
        long before = attempts();
        Ovop__V1__Reply *rep = register_producer();
        if ((int)rep->status->code != cases[i].code)
            fail_msg("SQLSTATE %s: expected code %d, got %d (%s)", cases[i].state, cases[i].code,
                     (int)rep->status->code, rep->status->message);
        /* An internal error tells the request id it was logged with, and no SQL. */
        if (cases[i].code == OVOP_INTERNAL) {
            assert_non_null(strstr(rep->status->message, rep->request_id));
            assert_null(strstr(rep->status->message, "injected"));
        }
        expect(rep, cases[i].code, cases[i].reason);
        assert_int_equal(attempts() - before, cases[i].attempts);
    }
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM registry.producers"), producers);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM bus.events"), events);
    free(pgtest_scalar(E.conn, "UPDATE test.inject SET state = '' RETURNING 1"));
    expect(register_producer(), OVOP_OK, "");
}

/* One page of the rayons of Batken region (or of kind `kind`), with a token. */
static Ovop__V1__Reply *list_territories(const char *parent, const char *kind, unsigned size,
                                         const char *token)
{
    Ovop__V1__ListTerritoriesRequest l = OVOP__V1__LIST_TERRITORIES_REQUEST__INIT;
    l.parent_code = (char *)parent;
    l.kind = (char *)kind;
    l.page_size = size;
    l.page_token = (char *)token;
    return call_with("ListTerritories", &l.base, 0);
}

static char *token_of(Ovop__V1__Reply *rep)
{
    assert_int_equal(rep->status->code, OVOP_OK);
    Ovop__V1__ListTerritoriesResponse *r =
        ovop__v1__list_territories_response__unpack(NULL, rep->body.len, rep->body.data);
    assert_non_null(r);
    char *t = xstrdup(r->next_page_token);
    ovop__v1__list_territories_response__free_unpacked(r, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return t;
}

static void expect_bad_token(Ovop__V1__Reply *rep, const char *fragment)
{
    assert_int_equal(rep->status->n_violations, 1);
    assert_string_equal(rep->status->violations[0]->field, "page_token");
    assert_non_null(strstr(rep->status->violations[0]->description, fragment));
    expect(rep, OVOP_INVALID_ARGUMENT, "PAGE_TOKEN_INVALID");
}

/* A page token continues the listing it came from, whatever the page size, and is refused
 * with other filters, with another method's, or when it is not one of ours. */
static void test_page_token_bound_to_filters(void **state)
{
    char *token = token_of(list_territories("41705000000000", "", 2, ""));
    assert_true(token[0]);
    assert_null(strstr(token, "41705")); /* opaque */
    expect(list_territories("41705000000000", "", 5, token), OVOP_OK, "");
    expect_bad_token(list_territories("41704000000000", "", 2, token), "other filters");
    expect_bad_token(list_territories("41705000000000", "rayon", 2, token), "other filters");
    expect_bad_token(list_territories("41705000000000", "", 2, "t1.41705211000000"), "not a token");
    Ovop__V1__ListProducersRequest lp = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    lp.page_token = token;
    expect_bad_token(call_with("ListProducers", &lp.base, 0), "other filters");
    free(token);
}

/* Refusals found before and by the handlers carry reasons too. */
static void test_reasons(void **state)
{
    Ovop__V1__GetProducerRequest g = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    g.id = 987654;
    expect(call_with("GetProducer", &g.base, 0), OVOP_NOT_FOUND, "NOT_FOUND");
    g.id = -1;
    expect(call_with("GetProducer", &g.base, 0), OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT");
    expect(call_with("NoSuchMethod", &g.base, 0), OVOP_UNIMPLEMENTED, "UNIMPLEMENTED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadline_cancels_running_statement),
        cmocka_unit_test(test_deadline_refuses_queued_call),
        cmocka_unit_test(test_sql_error_classes),
        cmocka_unit_test(test_page_token_bound_to_filters),
        cmocka_unit_test(test_reasons),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
