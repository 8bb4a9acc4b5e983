/* Unit tests of the request field checks shared by the services (common/check.c), on real
 * calls of the dispatcher, and of the bytea text form. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "dbcall.h"
#include "page.h"
#include "ovop/v1/common.pb-c.h"
#include "unitcall.h"

static bool check_text_required(ovop_call_t *call, const char *field, const char *value)
{
    return ovop_check_text(call, field, value, 12, true);
}

static const unit_check_case_t text_required_cases[] = {
    {"a", true},
    {"123456789012", true, NULL},                                     /* 12 bytes: the limit */
    {"\xd0\x9a\xd1\x8b\xd1\x80\xd0\xb3\xd1\x8b\xd0\xb7", true, NULL}, /* 6 letters, 12 bytes */
    {"\xf0\x9f\x8d\x8e \xe2\x82\xac", true, NULL},                    /* 4- and 3-byte characters */
    {"\xf4\x8f\xbf\xbf", true, NULL}, /* U+10FFFF, the last code point */
    {"\xe2\x80\xa8", true, NULL},     /* U+2028 is a separator, not a control */
    {"", false, "is required"},
    {"1234567890123", false, "must be at most 12 bytes, got 13"},
    {"\xd0\x9a\xd1\x8b\xd1\x80\xd0\xb3\xd1\x8b\xd0\xb7\xd1", false, "at most 12 bytes"},
    {"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", false, "at most 12 bytes"},
    {"\xff", false, "must be valid UTF-8"},
    {"abc\xd0", false, "valid UTF-8"},              /* truncated */
    {"\xd0\x41", false, "valid UTF-8"},             /* a continuation missing */
    {"\x80", false, "valid UTF-8"},                 /* a lone continuation */
    {"\xc0\xaf", false, "valid UTF-8"},             /* overlong '/' */
    {"\xe0\x80\xaf", false, "valid UTF-8"},         /* overlong '/' */
    {"\xf0\x80\x80\xaf", false, "valid UTF-8"},     /* overlong '/' */
    {"\xed\xa0\x80", false, "valid UTF-8"},         /* a surrogate */
    {"\xf4\x90\x80\x80", false, "valid UTF-8"},     /* past U+10FFFF */
    {"\xf8\x88\x80\x80\x80", false, "valid UTF-8"}, /* 5-byte form */
    {"a\tb", false, "must not contain control characters"},
    {"a\nb", false, "control characters"},
    {"a\rb", false, "control characters"},
    {"\x1b[2J", false, "control characters"},
    {"\x01", false, "control characters"},
    {"del\x7f", false, "control characters"},
    {"\xc2\x85", false, "control characters"},  /* U+0085 NEL, a C1 control */
    {"\xc2\x9bm", false, "control characters"}, /* U+009B CSI */
    {"\xc2\x80", false, "control characters"},  /* U+0080, the first C1 control */
    {"\xc2\xa0", true, NULL},                   /* U+00A0, just after them */
};

static bool check_text_optional(ovop_call_t *call, const char *field, const char *value)
{
    return ovop_check_text(call, field, value, 12, false);
}

static const unit_check_case_t text_optional_cases[] = {
    {"", true, NULL},
    {"x", true},
    {"\x01", false, "control characters"},
    {"1234567890123", false, "at most 12 bytes"},
};

static void test_text(void **state)
{
    static const unit_check_suite_t suites[] = {
        UNIT_CHECK_SUITE(check_text_required, "name.ru", text_required_cases),
        UNIT_CHECK_SUITE(check_text_optional, "name.ky", text_optional_cases),
    };
    unit_check_suites(suites, OVOP_ARRAY_SIZE(suites));
}

/* Tokens are made by the service for the same request (ovop_page_token_make) around a key;
 * the key must be an id. Anything else is refused. */
static void test_page_token(void **state)
{
    static const struct {
        const char *key; /* made into a token; NULL: raw is the token */
        const char *raw;
        bool ok;
        int64_t after;
    } cases[] = {
        {NULL, "", true, 0},
        {"1", NULL, true, 1},
        {"0", NULL, true, 0},
        {"1234567890", NULL, true, 1234567890},
        {"9223372036854775807", NULL, true, INT64_MAX},
        {"9223372036854775808", NULL, false, 0}, /* past INT64_MAX */
        {"99999999999999999999999", NULL, false, 0},
        {"-1", NULL, false, 0},
        {"+1", NULL, false, 0},
        {"1x", NULL, false, 0},
        {"1 ", NULL, false, 0},
        {NULL, "p1", false, 0}, /* not base64url of one of ours */
        {NULL, "42", false, 0},
        {NULL, "cDIuMDAwMDAwMDAwMDAwMDAwMC4x", false, 0}, /* p2.<wrong hash>.1 */
        {NULL, "-", false, 0},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        unit_call_t u;
        unit_call_open(&u);
        int64_t after = -42;
        const char *token =
            cases[i].key ? ovop_page_token_make(u.call, cases[i].key) : cases[i].raw;
        bool ok = ovop_check_page_token(u.call, token, &after);
        const Ovop__V1__Status *st = unit_call_close(&u);
        if (ok != cases[i].ok)
            fail_msg("case %zu \"%s\": %s", i, token, ok ? "accepted" : "refused");
        if (ok) {
            assert_int_equal(st->n_violations, 0);
            assert_int_equal(after, cases[i].after);
        } else {
            assert_true(st->n_violations >= 1);
            assert_string_equal(st->violations[0]->field, "page_token");
            assert_string_equal(st->reason, "PAGE_TOKEN_INVALID");
        }
        unit_call_free(&u);
    }
}

static void test_page_size(void **state)
{
    static const struct {
        unsigned size, def, max, want;
        const char *violation;
    } cases[] = {
        {0, 100, 1000, 100, NULL},
        {1, 100, 1000, 1, NULL},
        {999, 100, 1000, 999, NULL},
        {1000, 100, 1000, 1000, NULL},
        {1001, 100, 1000, 1001, "must be at most 1000, got 1001"},
        {UINT_MAX, 100, 1000, UINT_MAX, "must be at most 1000, got 4294967295"},
        {0, 5, 5, 5, NULL},
        {6, 5, 5, 6, "must be at most 5, got 6"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        unit_call_t u;
        unit_call_open(&u);
        unsigned got = ovop_check_page_size(u.call, cases[i].size, cases[i].def, cases[i].max);
        const Ovop__V1__Status *st = unit_call_close(&u);
        assert_int_equal(got, cases[i].want);
        assert_int_equal(st->n_violations, cases[i].violation ? 1 : 0);
        if (cases[i].violation) {
            assert_string_equal(st->violations[0]->field, "page_size");
            assert_string_equal(st->violations[0]->description, cases[i].violation);
        }
        unit_call_free(&u);
    }
}

static void test_fail_db(void **state)
{
    unit_call_t u;
    unit_call_open(&u);
    ovop_call_fail_db(u.call, NULL, "connection refused");
    assert_null(u.call);
    const Ovop__V1__Status *st = unit_call_close(&u);
    assert_int_equal(st->code, OVOP_UNAVAILABLE);
    assert_string_equal(st->reason, "DATABASE_UNAVAILABLE");
    assert_string_equal(st->message, "the database is unavailable, retry later");
    assert_int_equal(st->n_violations, 0);
    /* The cause is logged, never told to the client. */
    assert_null(strstr(st->message, "refused"));
    unit_call_free(&u);
}

static void test_bytea_hex(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *want;
    } cases[] = {
        {"", 0, "\\x"},
        {"\0", 1, "\\x00"},
        {"\x0a\x1b\xff", 3, "\\x0a1bff"},
        {"\x01\x23\x45\x67\x89\xab\xcd\xef", 8, "\\x0123456789abcdef"},
        {"\xfe\xdc\xba\x98\x76\x54\x32\x10\x00", 9, "\\xfedcba987654321000"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        char *s = ovop_bytea_hex(cases[i].bytes, cases[i].n);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void test_bytea_message(void **state)
{
    Ovop__V1__LocalizedName name = OVOP__V1__LOCALIZED_NAME__INIT;
    char *s = ovop_bytea_message(&name.base);
    assert_string_equal(s, "\\x"); /* every field at its default: no bytes */
    free(s);
    name.ru = "a";
    name.ky = "\xd0\x9a";
    s = ovop_bytea_message(&name.base);
    assert_string_equal(s, "\\x0a01611a02d09a");
    free(s);
    Ovop__V1__GeoPoint p = OVOP__V1__GEO_POINT__INIT;
    p.set = true;
    s = ovop_bytea_message(&p.base);
    assert_string_equal(s, "\\x0801");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),      cmocka_unit_test(test_page_token),
        cmocka_unit_test(test_page_size), cmocka_unit_test(test_fail_db),
        cmocka_unit_test(test_bytea_hex), cmocka_unit_test(test_bytea_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
