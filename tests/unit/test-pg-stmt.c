/* Unit tests of the pool's prepared-statement cache (common/pg_stmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pg_stmt.h"

static pg_stmt_t *get(pg_stmt_cache_t *c, const char *sql)
{
    return pg_stmt_get(c, sql, pg_stmt_hash(sql, strlen(sql)));
}

static void test_get_finds_what_it_added(void **state)
{
    pg_stmt_cache_t c = {0};
    pg_stmt_t *a = get(&c, "SELECT 1");
    pg_stmt_t *b = get(&c, "SELECT 2");

    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_false(a->prepared);
    assert_string_equal(a->sql, "SELECT 1");
    assert_string_not_equal(a->name, b->name);
    a->prepared = true;
    assert_ptr_equal(get(&c, "SELECT 1"), a);
    assert_true(get(&c, "SELECT 1")->prepared);
    pg_stmt_free(&c);
    pg_stmt_free(&c); /* idempotent */
}

/* Equal hashes, different SQL: two entries, each found again. */
static void test_collision(void **state)
{
    pg_stmt_cache_t c = {0};
    pg_stmt_t *a = pg_stmt_get(&c, "SELECT 'a'", 42);
    pg_stmt_t *b = pg_stmt_get(&c, "SELECT 'b'", 42);

    assert_ptr_not_equal(a, b);
    assert_ptr_equal(pg_stmt_get(&c, "SELECT 'a'", 42), a);
    assert_ptr_equal(pg_stmt_get(&c, "SELECT 'b'", 42), b);
    assert_int_equal(c.n, 2);
    pg_stmt_free(&c);
}

static void test_full(void **state)
{
    pg_stmt_cache_t c = {0};
    char sql[32];

    for (int i = 0; i < OVOP_PG_STMT_MAX; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        assert_non_null(get(&c, sql));
    }
    assert_null(get(&c, "SELECT 'one too many'"));
    assert_non_null(get(&c, "SELECT 0")); /* known ones are still found */
    assert_int_equal(c.n, OVOP_PG_STMT_MAX);

    /* A new session starts empty, with names from the start again. */
    pg_stmt_clear(&c);
    assert_int_equal(c.n, 0);
    pg_stmt_t *s = get(&c, "SELECT 'one too many'");
    assert_non_null(s);
    assert_string_equal(s->name, "ovop_0");
    pg_stmt_free(&c);
}

static void test_renew(void **state)
{
    pg_stmt_cache_t c = {0};
    pg_stmt_t *s = get(&c, "SELECT * FROM t");
    char old[sizeof(s->name)];

    s->prepared = true;
    memcpy(old, s->name, sizeof(old));
    pg_stmt_renew(&c, s);
    assert_false(s->prepared);
    assert_string_not_equal(s->name, old);
    assert_ptr_equal(get(&c, "SELECT * FROM t"), s);
    pg_stmt_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_finds_what_it_added),
        cmocka_unit_test(test_collision),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_renew),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
