/* Unit tests of money as minor units and decimal text: exact both ways, strict parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "money.h"

static void test_format(void **state)
{
    char t[OVOP_MONEY_TEXT];
    assert_string_equal(ovop_money_format(820000, t), "8200.00");
    assert_string_equal(ovop_money_format(0, t), "0.00");
    assert_string_equal(ovop_money_format(5, t), "0.05");
    assert_string_equal(ovop_money_format(-5, t), "-0.05");
    assert_string_equal(ovop_money_format(-12345, t), "-123.45");
    assert_string_equal(ovop_money_format(INT64_MAX, t), "92233720368547758.07");
    assert_string_equal(ovop_money_format(INT64_MIN, t), "-92233720368547758.08");
}

static int64_t parsed(const char *s)
{
    int64_t v = -999;
    assert_int_equal(ovop_money_parse(s, &v), 0);
    return v;
}

static void test_parse(void **state)
{
    assert_int_equal(parsed("8200"), 820000);
    assert_int_equal(parsed("8200.5"), 820050);
    assert_int_equal(parsed("8200.50"), 820050);
    assert_int_equal(parsed("8200."), 820000);
    assert_int_equal(parsed(".5"), 50);
    assert_int_equal(parsed("+1"), 100);
    assert_int_equal(parsed("-3.25"), -325);
    assert_int_equal(parsed("-0"), 0);
    assert_int_equal(parsed("007.01"), 701);
    /* A double would make 0.29 * 100 28.999999999999996 and 4.35 * 100 434.99999999999994. */
    assert_int_equal(parsed("0.29"), 29);
    assert_int_equal(parsed("4.35"), 435);
    assert_int_equal(parsed("92233720368547758.07"), INT64_MAX);
    assert_int_equal(parsed("-92233720368547758.08"), INT64_MIN);

    int64_t v = 7;
    static const char *const bad[] = {"",    "-",    ".",     "1.234", "1e3", " 1",  "1 ",
                                      "1,5", "0x10", "1.2.3", "--1",   "nan", "inf", "1.-2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ovop_money_parse(bad[i], &v), -EINVAL);
        assert_int_equal(v, 7); /* written only on success */
    }
    assert_int_equal(ovop_money_parse("92233720368547758.08", &v), -ERANGE);
    assert_int_equal(ovop_money_parse("-92233720368547758.09", &v), -ERANGE);
    assert_int_equal(ovop_money_parse("100000000000000000000", &v), -ERANGE);
    assert_int_equal(ovop_money_parse("92233720368547759", &v), -ERANGE);
    assert_int_equal(v, 7);
}

/* Every amount of a range survives text and back. */
static void test_round_trip(void **state)
{
    char t[OVOP_MONEY_TEXT];
    for (int64_t m = -100000; m <= 100000; m += 7) {
        int64_t back = 0;
        assert_int_equal(ovop_money_parse(ovop_money_format(m, t), &back), 0);
        assert_int_equal(back, m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
