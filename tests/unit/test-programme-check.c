/* programd's pure request checks (services/programme/prog_check.c): months (format, range,
 * not in the future), dates, contact fields, SOATE and HS codes, currency and amounts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "prog_check.h"

#define TODAY "2026-03-15"

static void test_month(void **state)
{
    (void)state;
    assert_null(prog_check_month("2026-03", TODAY));
    assert_null(prog_check_month("2000-01", TODAY));
    assert_null(prog_check_month("2025-12", TODAY));
    assert_non_null(prog_check_month("2026-04", TODAY)); /* next month: the future */
    assert_non_null(prog_check_month("2027-01", TODAY));
    assert_non_null(prog_check_month("2026-13", TODAY));
    assert_non_null(prog_check_month("2026-00", TODAY));
    assert_non_null(prog_check_month("2026-3", TODAY));
    assert_non_null(prog_check_month("2026-03-01", TODAY));
    assert_non_null(prog_check_month("202a-03", TODAY));
    assert_non_null(prog_check_month("1999-12", TODAY));
    assert_non_null(prog_check_month("", TODAY));
    assert_non_null(prog_check_month("2026/03", TODAY));
    /* The future is judged by month: the 31st of this month's report is fine. */
    assert_null(prog_check_month("2026-03", "2026-03-01"));
    assert_string_equal(prog_check_month("2026-04", TODAY),
                        "is in the future: a month is reported once it has begun");
}

static void test_past_date(void **state)
{
    (void)state;
    assert_null(prog_check_past_date("2026-03-15", TODAY));
    assert_null(prog_check_past_date("2024-02-29", TODAY));
    assert_non_null(prog_check_past_date("2026-03-16", TODAY));
    assert_non_null(prog_check_past_date("2025-02-29", TODAY));
    assert_non_null(prog_check_past_date("15.03.2026", TODAY));
}

static void test_contacts(void **state)
{
    (void)state;
    assert_null(prog_check_email(""));
    assert_null(prog_check_email("grants@vdf.kg"));
    assert_null(prog_check_email("a.b+c@mail.example.org"));
    assert_non_null(prog_check_email("no-at.kg"));
    assert_non_null(prog_check_email("@vdf.kg"));
    assert_non_null(prog_check_email("a@b@c.kg"));
    assert_non_null(prog_check_email("a@kg"));
    assert_non_null(prog_check_email("a@.kg"));
    assert_non_null(prog_check_email("a b@vdf.kg"));
    assert_non_null(prog_check_email("a@vdf.kg."));
    assert_null(prog_check_phone(""));
    assert_null(prog_check_phone("+996312123456"));
    assert_null(prog_check_phone("+77272501234"));
    assert_non_null(prog_check_phone("+99631212345"));    /* Kyrgyz: 9 digits after +996 */
    assert_non_null(prog_check_phone("0312123456"));      /* no + */
    assert_non_null(prog_check_phone("+996 312 123456")); /* spaces */
    assert_non_null(prog_check_phone("+1234567"));
    assert_null(prog_check_website(""));
    assert_null(prog_check_website("https://vdf.kg"));
    assert_null(prog_check_website("https://www.vdf.kg/grants?x=1"));
    assert_non_null(prog_check_website("http://vdf.kg"));
    assert_non_null(prog_check_website("https://localhost"));
    assert_non_null(prog_check_website("https://vdf.kg/a b"));
    assert_non_null(prog_check_website("javascript:alert(1)"));
}

static void test_codes(void **state)
{
    (void)state;
    assert_null(prog_check_soate("41705214000000", false));
    assert_null(prog_check_soate("", true));
    assert_non_null(prog_check_soate("", false));
    assert_non_null(prog_check_soate("4170521400000", false));
    assert_non_null(prog_check_soate("51705214000000", false));
    assert_non_null(prog_check_soate("4170521400000a", false));
    assert_null(prog_check_hs("081310", false));
    assert_non_null(prog_check_hs("08131", false));
    assert_non_null(prog_check_hs("0813100", false));
    assert_non_null(prog_check_hs("", false));
    assert_null(prog_check_hs("", true));
    assert_null(prog_check_hs("08", true));
    assert_null(prog_check_hs("081310", true));
    assert_non_null(prog_check_hs("0", true));
    assert_non_null(prog_check_hs("08x", true));
    assert_non_null(prog_check_hs("0813101", true));
}

static void test_money(void **state)
{
    (void)state;
    assert_null(prog_check_currency("KGS"));
    assert_non_null(prog_check_currency("USD"));
    assert_non_null(prog_check_currency("kgs"));
    assert_non_null(prog_check_currency(""));
    assert_null(prog_check_minor(0));
    assert_null(prog_check_minor(1500000));
    assert_null(prog_check_minor(1000000000000000LL));
    assert_string_equal(prog_check_minor(-1), "must not be negative");
    assert_non_null(prog_check_minor(1000000000000001LL));
    assert_non_null(prog_check_minor(INT64_MIN));
}

static void test_today(void **state)
{
    (void)state;
    char today[11];
    prog_today(today);
    assert_int_equal(strlen(today), 10);
    assert_null(prog_check_past_date(today, today));
    /* This month is never in the future. */
    char month[8];
    memcpy(month, today, 7);
    month[7] = '\0';
    assert_null(prog_check_month(month, today));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month),    cmocka_unit_test(test_past_date),
        cmocka_unit_test(test_contacts), cmocka_unit_test(test_codes),
        cmocka_unit_test(test_money),    cmocka_unit_test(test_today),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
