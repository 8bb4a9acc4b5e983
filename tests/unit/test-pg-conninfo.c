/* Unit tests of the pool's conninfo defaults (common/pg.c, ovop_pg_conninfo_defaults): TCP
 * keepalives and tcp_user_timeout added where the conninfo leaves them unset, everything the
 * operator set (multi-host lists and target_session_attrs included) kept. Parsed back with
 * libpq, as the pool will read it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* The value of keyword in conninfo as libpq parses it (malloc'd; NULL when unset). */
static char *value_of(const char *conninfo, const char *keyword)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    assert_non_null(opts);
    char *v = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val)
            v = strdup(o->val);
    PQconninfoFree(opts);
    return v;
}

static void expect(const char *conninfo, const char *keyword, const char *want)
{
    char *v = value_of(conninfo, keyword);
    if (want)
        assert_string_equal(v, want);
    else
        assert_null(v);
    free(v);
}

static void test_defaults_added_to_a_multi_host_url(void **state)
{
    char *ci = ovop_pg_conninfo_defaults("postgresql://ovop_registry@db1:5432,db2:5433/ovop"
                                         "?target_session_attrs=read-write&passfile=/p/x");
    expect(ci, "host", "db1,db2");
    expect(ci, "port", "5432,5433");
    expect(ci, "user", "ovop_registry");
    expect(ci, "dbname", "ovop");
    expect(ci, "passfile", "/p/x");
    expect(ci, "target_session_attrs", "read-write");
    expect(ci, "keepalives_idle", "10");
    expect(ci, "keepalives_interval", "5");
    expect(ci, "keepalives_count", "3");
    expect(ci, "tcp_user_timeout", "30000");
    free(ci);
}

static void test_operator_settings_win(void **state)
{
    char *ci = ovop_pg_conninfo_defaults("host=db1 dbname=ovop keepalives_idle=60 "
                                         "tcp_user_timeout=0");
    expect(ci, "keepalives_idle", "60");
    expect(ci, "tcp_user_timeout", "0");
    expect(ci, "keepalives_interval", "5");
    free(ci);
}

static void test_unparsable_is_kept_as_given(void **state)
{
    /* The pool refuses it with its own error; nothing is invented meanwhile. */
    char *ci = ovop_pg_conninfo_defaults("host='unterminated");
    assert_string_equal(ci, "host='unterminated");
    free(ci);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_added_to_a_multi_host_url),
        cmocka_unit_test(test_operator_settings_win),
        cmocka_unit_test(test_unparsable_is_kept_as_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
