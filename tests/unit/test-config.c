/* Unit tests of the configuration table parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

typedef struct conf {
    char *broker;
    int64_t credit;
    bool json;
} conf_t;

static int parse(conf_t *c, int argc, char **argv, bool positional, int *ret_argi, char **ret_err)
{
    const ovop_opt_t opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0, "broker", &c->broker},
        {"credit", OVOP_OPT_INT, "32", 1, 1024, "credit", &c->credit},
        {"json", OVOP_OPT_BOOL, "false", 0, 0, "json", &c->json},
    };
    ovop_config_t cfg = {"test", "test", NULL, opts, 3, positional, false};
    return ovop_config_parse(&cfg, argc, argv, ret_argi, ret_err);
}

static void free_conf(conf_t *c)
{
    xfree(c->broker);
}

static void test_defaults(void **state)
{
    conf_t c = {0};
    char *err = NULL;
    char *argv[] = {"prog", NULL};
    unsetenv("OVOP_BROKER");
    unsetenv("OVOP_CREDIT");
    assert_int_equal(parse(&c, 1, argv, false, NULL, &err), 0);
    assert_string_equal(c.broker, "tcp://127.0.0.1:5555");
    assert_int_equal(c.credit, 32);
    assert_false(c.json);
    free_conf(&c);
}

static void test_env_then_flag(void **state)
{
    conf_t c = {0};
    char *err = NULL;
    setenv("OVOP_BROKER", "tcp://10.0.0.1:1", 1);
    setenv("OVOP_CREDIT", "7", 1);
    char *argv1[] = {"prog", NULL};
    assert_int_equal(parse(&c, 1, argv1, false, NULL, &err), 0);
    assert_string_equal(c.broker, "tcp://10.0.0.1:1");
    assert_int_equal(c.credit, 7);
    free_conf(&c);

    char *argv2[] = {"prog", "--broker=tcp://127.0.0.2:9", "--credit", "9", "--json", NULL};
    assert_int_equal(parse(&c, 5, argv2, false, NULL, &err), 0);
    assert_string_equal(c.broker, "tcp://127.0.0.2:9");
    assert_int_equal(c.credit, 9);
    assert_true(c.json);
    free_conf(&c);

    char *argv3[] = {"prog", "--no-json", NULL};
    assert_int_equal(parse(&c, 2, argv3, false, NULL, &err), 0);
    assert_false(c.json);
    free_conf(&c);
    unsetenv("OVOP_BROKER");
    unsetenv("OVOP_CREDIT");
}

static void expect_error(char **argv, int argc, const char *fragment)
{
    conf_t c = {0};
    char *err = NULL;
    assert_int_equal(parse(&c, argc, argv, false, NULL, &err), -EINVAL);
    assert_non_null(err);
    if (!strstr(err, fragment))
        fail_msg("error \"%s\" does not contain \"%s\"", err, fragment);
    free(err);
    free_conf(&c);
}

static void test_bad_values(void **state)
{
    char *a1[] = {"prog", "--credit=0", NULL};
    expect_error(a1, 2, "between 1 and 1024");
    char *a2[] = {"prog", "--credit=12abc", NULL};
    expect_error(a2, 2, "must be an integer");
    char *a3[] = {"prog", "--json=maybe", NULL};
    expect_error(a3, 2, "true or false");
    char *a4[] = {"prog", "--nope", NULL};
    expect_error(a4, 2, "unknown option --nope");
    char *a5[] = {"prog", "--credit", NULL};
    expect_error(a5, 2, "needs a value");
    char *a6[] = {"prog", "stray", NULL};
    expect_error(a6, 2, "unexpected argument");
    char *a7[] = {"prog", "--credit=99999999999999999999999", NULL};
    expect_error(a7, 2, "must be an integer");
    setenv("OVOP_CREDIT", "-5", 1);
    char *a8[] = {"prog", NULL};
    expect_error(a8, 1, "OVOP_CREDIT");
    unsetenv("OVOP_CREDIT");
}

static void test_positional(void **state)
{
    conf_t c = {0};
    char *err = NULL;
    int argi = 0;
    char *argv[] = {"prog", "--json", "territory", "get", "--as-of", "x", NULL};
    assert_int_equal(parse(&c, 6, argv, true, &argi, &err), 0);
    assert_int_equal(argi, 2);
    assert_true(c.json);
    free_conf(&c);
}

static void test_env_name(void **state)
{
    char buf[64];
    ovop_config_env_name("log-format", buf, sizeof(buf));
    assert_string_equal(buf, "OVOP_LOG_FORMAT");
}

static void test_utf8_and_dates(void **state)
{
    assert_true(ovop_utf8_valid("Нарын", strlen("Нарын")));
    assert_false(ovop_utf8_valid("\xc3\x28", 2));     /* bad continuation */
    assert_false(ovop_utf8_valid("\xc0\xaf", 2));     /* overlong */
    assert_false(ovop_utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(ovop_utf8_valid("a\0b", 3));         /* NUL */
    assert_false(ovop_utf8_valid("\xe2\x82", 2));     /* truncated */
    assert_true(ovop_date_valid("2024-02-29"));
    assert_false(ovop_date_valid("2023-02-29"));
    assert_false(ovop_date_valid("2024-13-01"));
    assert_false(ovop_date_valid("2024-1-01"));
    assert_false(ovop_date_valid("20240101"));
    char bad[] = "ok \xff\xfe \xd0\x9d\xd0 \x01"
                 "end \xe2\x82";
    ovop_utf8_sanitize(bad);
    assert_true(ovop_utf8_valid(bad, strlen(bad)));
    assert_string_equal(bad, "ok ?? \xd0\x9d? ?end ??");
    char good[] = "Нарын\tok";
    ovop_utf8_sanitize(good);
    assert_string_equal(good, "Нарын\tok");
    assert_true(ovop_all_digits("41700000000000", 14));
    assert_false(ovop_all_digits("4170000000000a", 14));
    assert_false(ovop_all_digits("417", 14));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_env_then_flag),
        cmocka_unit_test(test_bad_values), cmocka_unit_test(test_positional),
        cmocka_unit_test(test_env_name),   cmocka_unit_test(test_utf8_and_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
