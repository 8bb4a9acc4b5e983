/* Unit tests of the registry's own input checks (services/registry/check.c): SOATE codes and
 * their prefixes, Kyrgyz INNs, HS codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

/* A value, whether it is accepted and, when refused, a substring of the reason. */
typedef struct why_case {
    const char *value;
    bool ok;
    const char *why;
} why_case_t;

static void run_why_cases(bool (*valid)(const char *, const char **), const why_case_t *cases,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        bool ok = valid(cases[i].value, &why);
        if (ok != cases[i].ok)
            fail_msg("case %zu \"%s\": %s, expected %s", i, cases[i].value,
                     ok ? "accepted" : "refused", cases[i].ok ? "accepted" : "refused");
        if (ok) {
            assert_null(why);
        } else if (!why || !strstr(why, cases[i].why)) {
            fail_msg("case %zu \"%s\": reason \"%s\", expected \"%s\"", i, cases[i].value,
                     why ? why : "(none)", cases[i].why);
        }
    }
}

static void test_soate_valid(void **state)
{
    static const why_case_t cases[] = {
        {"41700000000000", true, NULL}, /* the republic */
        {"41702000000000", true, NULL}, /* an oblast */
        {"41702100100001", true, NULL}, /* a village */
        {"", false, "14 digits"},
        {"4170200000000", false, "14 digits"},
        {"417020000000000", false, "14 digits"},
        {"4170200000000a", false, "digits only"},
        {"4170200000000 ", false, "digits only"},
        {" 4170200000000", false, "digits only"},
        {"-4170200000000", false, "digits only"},
        {"4170200000000\xd9", false, "digits only"},
        {"41802000000000", false, "start with 417"},
        {"04170200000000", false, "start with 417"},
        {"00000000000000", false, "start with 417"},
    };
    run_why_cases(registry_soate_valid, cases, OVOP_ARRAY_SIZE(cases));
}

static void test_soate_prefix(void **state)
{
    static const struct {
        const char *code, *prefix;
    } cases[] = {
        {"41700000000000", "41700"},          {"41702000000000", "41702"},
        {"41702100000000", "41702100"},       {"41702100100000", "41702100100"},
        {"41702100100001", "41702100100001"}, {"41702000000001", "41702000000001"},
        {"41702000001000", "41702000001"},    {"41702000100000", "41702000100"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        char out[15];
        memset(out, 'x', sizeof(out));
        registry_soate_prefix(cases[i].code, out);
        assert_string_equal(out, cases[i].prefix);
    }
}

static void test_inn_valid(void **state)
{
    /* A first digit, a date DDMMYYYY, five more digits. */
    static const why_case_t cases[] = {
        {"02306200510049", true, NULL}, /* organisation registered on 2005-06-23 */
        {"12902200012345", true, NULL}, /* woman born on 2000-02-29: 2000 is a leap year */
        {"23112199900000", true, NULL}, /* man born on 1999-12-31 */
        {"20101190099999", true, NULL}, /* 1900-01-01: the first year allowed */
        {"23112999900000", true, NULL}, /* 9999-12-31 */
        {"13001202400000", true, NULL}, /* 2024-01-30 */
        {"12902200412345", true, NULL}, /* 2004-02-29 */
        {"", false, "14 digits"},
        {"1290220001234", false, "14 digits"},
        {"129022000123456", false, "14 digits"},
        {"1290220001234a", false, "14 digits"},
        {"1290220001234 ", false, "14 digits"},
        {"+2902200012345", false, "14 digits"},
        {"1290220001234\xd9", false, "14 digits"},
        {"32902200012345", false, "must start with 0"},
        {"92902200012345", false, "must start with 0"},
        {"12902200112345", false, "date DDMMYYYY"}, /* 2001-02-29: not a leap year */
        {"12902190012345", false, "date DDMMYYYY"}, /* 1900-02-29: centuries are not */
        {"13102200112345", false, "date DDMMYYYY"}, /* 2001-02-31 */
        {"13106200112345", false, "date DDMMYYYY"}, /* 2001-06-31 */
        {"13201200112345", false, "date DDMMYYYY"}, /* 2001-01-32 */
        {"10001200012345", false, "date DDMMYYYY"}, /* day 00 */
        {"10100200012345", false, "date DDMMYYYY"}, /* month 00 */
        {"10113200012345", false, "date DDMMYYYY"}, /* month 13 */
        {"13112189912345", false, "date DDMMYYYY"}, /* 1899-12-31 */
        {"10101000012345", false, "date DDMMYYYY"}, /* year 0000 */
        {"12000022912345", false, "date DDMMYYYY"}, /* YYYYMMDD instead of DDMMYYYY */
    };
    run_why_cases(registry_inn_valid, cases, OVOP_ARRAY_SIZE(cases));
}

static void test_hs_valid(void **state)
{
    static const struct {
        const char *hs;
        bool ok;
    } cases[] = {
        {"090411", true},  {"000000", true},   {"999999", true},  {"", false},
        {"09041", false},  {"0904111", false}, {"09041a", false}, {"0904.1", false},
        {" 90411", false}, {"-90411", false},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++)
        if (registry_hs_valid(cases[i].hs) != cases[i].ok)
            fail_msg("case %zu \"%s\": expected %d", i, cases[i].hs, cases[i].ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soate_valid),
        cmocka_unit_test(test_soate_prefix),
        cmocka_unit_test(test_inn_valid),
        cmocka_unit_test(test_hs_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
