/* The event log's delivery sequence is in commit order: a reader that follows
 * "seq > my cursor" sees every event exactly once, in sequence order, with no gaps, even
 * when slow transactions commit events inserted long before faster ones.
 *
 * Real PostgreSQL, real concurrency: writer threads with deliberately interleaved long and
 * short transactions, two competing sequencers, and a reader following the sequence live. */
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

#include "harness.h"
#include "migrate.h"
#include "pgtest.h"
#include "util.h"

#define WRITERS       8
#define TX_PER_WRITER 120
#define SEQUENCERS    2

static char *db;
static atomic_int writers_left;
static atomic_long committed;

static int setup(void **state)
{
    db = pgtest_create("event_order");
    PGconn *c = pgtest_connect(db);
    char *err = NULL;
    if (ovop_migrate(c, NULL, &err) < 0)
        fail_msg("migrate: %s", err);
    PQfinish(c);
    return 0;
}

static int teardown(void **state)
{
    pgtest_drop(&db);
    return 0;
}

static void exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
        abort();
    }
    PQclear(r);
}

static void emit(PGconn *c, const char *subject)
{
    const char *params[] = {subject};
    PGresult *r = PQexecParams(c,
                               "SELECT bus.emit(gen_random_uuid(), '/test', 'test.order', $1, "
                               "'test', '\\x00'::bytea)",
                               1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "emit: %s", PQerrorMessage(c));
        abort();
    }
    PQclear(r);
}

typedef struct writer {
    pthread_t t;
    int id;
} writer_t;

/* Each transaction inserts 1..3 events; every third one sleeps before COMMIT, so that events
 * inserted early (small pk) commit after events inserted later by other writers. */
static void *writer_main(void *arg)
{
    writer_t *w = arg;
    PGconn *c = pgtest_connect(db);
    unsigned seed = (unsigned)w->id * 7919u;
    char subject[64];
    for (int n = 0; n < TX_PER_WRITER; n++) {
        int events = 1 + (int)(rand_r(&seed) % 3);
        exec(c, "BEGIN");
        for (int e = 0; e < events; e++) {
            snprintf(subject, sizeof(subject), "w%d/t%d/e%d", w->id, n, e);
            emit(c, subject);
        }
        if (n % 3 == w->id % 3) {
            char sleep_sql[64];
            snprintf(sleep_sql, sizeof(sleep_sql), "SELECT pg_sleep(%f)",
                     (double)(rand_r(&seed) % 40) / 1000.0);
            exec(c, sleep_sql);
        }
        /* A few roll back: their events must never be seen. */
        if (rand_r(&seed) % 17 == 0) {
            exec(c, "ROLLBACK");
            continue;
        }
        exec(c, "COMMIT");
        atomic_fetch_add(&committed, events);
    }
    PQfinish(c);
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

static long scalar_long(PGconn *c, const char *sql)
{
    char *v = pgtest_scalar(c, sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static void *sequencer_main(void *arg)
{
    PGconn *c = pgtest_connect(db);
    for (;;) {
        bool writers_done = atomic_load(&writers_left) == 0;
        long n = scalar_long(c, "SELECT bus.sequence_events(50)");
        if (writers_done && n == 0 &&
            scalar_long(c, "SELECT count(*) FROM bus.events WHERE seq IS NULL") == 0)
            break;
        harness_sleep_ms(1);
    }
    PQfinish(c);
    return NULL;
}

typedef struct reader {
    pthread_t t;
    long seen;
    long gaps;
    long duplicates;
    long out_of_order;
} reader_t;

/* Follows the log like a subscriber: seq > cursor, in pages, while the writers run. */
static void *reader_main(void *arg)
{
    reader_t *rd = arg;
    PGconn *c = pgtest_connect(db);
    exec(c, "CREATE TEMP TABLE seen (id uuid PRIMARY KEY)");
    long cursor = 0;
    for (;;) {
        char cur[32];
        snprintf(cur, sizeof(cur), "%ld", cursor);
        const char *params[] = {cur};
        PGresult *r = PQexecParams(c,
                                   "SELECT seq, id FROM bus.events WHERE seq > $1::bigint "
                                   "ORDER BY seq LIMIT 200",
                                   1, NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        int n = PQntuples(r);
        for (int i = 0; i < n; i++) {
            long seq = strtol(PQgetvalue(r, i, 0), NULL, 10);
            if (seq != cursor + 1) {
                if (seq <= cursor)
                    rd->out_of_order++;
                else
                    rd->gaps++;
            }
            cursor = seq;
            const char *ins[] = {PQgetvalue(r, i, 1)};
            PGresult *x = PQexecParams(c,
                                       "INSERT INTO seen VALUES ($1::uuid) "
                                       "ON CONFLICT DO NOTHING RETURNING 1",
                                       1, NULL, ins, NULL, NULL, 0);
            if (PQntuples(x) == 0)
                rd->duplicates++;
            PQclear(x);
            rd->seen++;
        }
        PQclear(r);
        if (n == 0) {
            if (atomic_load(&writers_left) == 0 &&
                scalar_long(c, "SELECT count(*) FROM bus.events WHERE seq IS NULL") == 0 &&
                scalar_long(c, "SELECT coalesce(max(seq), 0) FROM bus.events") == cursor)
                break;
            harness_sleep_ms(2);
        }
    }
    /* Every committed event was seen. */
    long missing = scalar_long(c, "SELECT count(*) FROM bus.events e "
                                  "WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.id = e.id)");
    assert_int_equal(missing, 0);
    PQfinish(c);
    return NULL;
}

static void test_commit_order_under_concurrency(void **state)
{
    writer_t w[WRITERS];
    pthread_t seq[SEQUENCERS];
    reader_t rd = {0};
    atomic_store(&writers_left, WRITERS);
    atomic_store(&committed, 0);

    pthread_create(&rd.t, NULL, reader_main, &rd);
    for (int i = 0; i < SEQUENCERS; i++)
        pthread_create(&seq[i], NULL, sequencer_main, NULL);
    for (int i = 0; i < WRITERS; i++) {
        w[i].id = i;
        pthread_create(&w[i].t, NULL, writer_main, &w[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(w[i].t, NULL);
    for (int i = 0; i < SEQUENCERS; i++)
        pthread_join(seq[i], NULL);
    pthread_join(rd.t, NULL);

    PGconn *c = pgtest_connect(db);
    long total = scalar_long(c, "SELECT count(*) FROM bus.events");
    long max_seq = scalar_long(c, "SELECT max(seq) FROM bus.events");
    /* How often did an event commit after one with a bigger insertion id was numbered?
     * That is what a reader following the bigserial would have skipped. */
    long late = scalar_long(c, "SELECT count(*) FROM bus.events a WHERE EXISTS ("
                               "SELECT 1 FROM bus.events b WHERE b.pk > a.pk AND b.seq < a.seq)");
    PQfinish(c);
    print_message("%ld events committed, reader saw %ld, gaps %ld, duplicates %ld, "
                  "out of order %ld; %ld events committed out of insertion order\n",
                  (long)atomic_load(&committed), rd.seen, rd.gaps, rd.duplicates, rd.out_of_order,
                  late);
    assert_int_equal(total, atomic_load(&committed));
    assert_int_equal(max_seq, total);
    assert_int_equal(rd.seen, total);
    assert_int_equal(rd.gaps, 0);
    assert_int_equal(rd.duplicates, 0);
    assert_int_equal(rd.out_of_order, 0);
    /* The run did exercise late commits; otherwise it proved nothing. */
    assert_true(late > 0);
}

/* The failure the sequence prevents, made deterministic: A inserts first and commits last.
 * A reader following the insertion id skips A; one following seq does not. */
static void test_late_commit_is_not_skipped(void **state)
{
    PGconn *a = pgtest_connect(db), *b = pgtest_connect(db), *s = pgtest_connect(db);
    long base_pk = scalar_long(s, "SELECT coalesce(max(pk), 0) FROM bus.events");
    long base_seq = scalar_long(s, "SELECT coalesce(max(seq), 0) FROM bus.events");
    exec(a, "BEGIN");
    emit(a, "slow");
    exec(b, "BEGIN");
    emit(b, "fast");
    exec(b, "COMMIT");
    free(pgtest_scalar(s, "SELECT bus.sequence_events()"));

    /* Naive reader by pk: sees "fast" and moves its cursor past "slow"'s pk. */
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT max(pk) FROM bus.events WHERE pk > %ld", base_pk);
    long naive_cursor = scalar_long(s, sql);
    /* Sequence reader: sees "fast" as the next seq. */
    snprintf(sql, sizeof(sql), "SELECT subject FROM bus.events WHERE seq = %ld", base_seq + 1);
    char *first = pgtest_scalar(s, sql);
    assert_string_equal(first, "fast");
    free(first);

    exec(a, "COMMIT");
    free(pgtest_scalar(s, "SELECT bus.sequence_events()"));
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM bus.events WHERE pk > %ld", naive_cursor);
    assert_int_equal(scalar_long(s, sql), 0); /* the naive reader never sees "slow" */
    snprintf(sql, sizeof(sql), "SELECT subject FROM bus.events WHERE seq = %ld", base_seq + 2);
    char *second = pgtest_scalar(s, sql);
    assert_string_equal(second, "slow"); /* the sequence reader does, next */
    free(second);
    PQfinish(a);
    PQfinish(b);
    PQfinish(s);
}

/* A rolled-back transaction leaves no number behind: the sequence stays gap-free. */
static void test_rollback_leaves_no_gap(void **state)
{
    PGconn *c = pgtest_connect(db);
    long before = scalar_long(c, "SELECT coalesce(max(seq), 0) FROM bus.events");
    exec(c, "BEGIN");
    emit(c, "doomed");
    exec(c, "ROLLBACK");
    emit(c, "kept");
    free(pgtest_scalar(c, "SELECT bus.sequence_events()"));
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT subject FROM bus.events WHERE seq = %ld", before + 1);
    char *v = pgtest_scalar(c, sql);
    assert_string_equal(v, "kept");
    free(v);
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_order_under_concurrency),
        cmocka_unit_test(test_late_commit_is_not_skipped),
        cmocka_unit_test(test_rollback_leaves_no_gap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
