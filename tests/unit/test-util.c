/* Unit tests of the small helpers (common/util.c): allocation, UTF-8, digits, dates,
 * buffers, UUIDs and clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "util.h"

/* A text of n bytes and a predicate's answer on it. */
typedef struct sized_case {
    const char *s;
    size_t n;
    bool ok;
} sized_case_t;

static void run_sized_cases(bool (*fn)(const char *, size_t), const sized_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fn(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("case %zu (%zu bytes): expected %d", i, cases[i].n, cases[i].ok);
}

static void test_utf8_valid(void **state)
{
    /* Lengths are explicit: some cases hold a NUL, some are checked over a prefix. */
    static const sized_case_t cases[] = {
        {"", 0, true},
        {"plain ascii", 11, true},
        {"\x7f", 1, true},
        {"\xc3\xa9", 2, true},                  /* U+00E9 */
        {"\xc2\x80", 2, true},                  /* U+0080, the first 2-byte code point */
        {"\xdf\xbf", 2, true},                  /* U+07FF, the last */
        {"\xe0\xa0\x80", 3, true},              /* U+0800, the first 3-byte code point */
        {"\xe2\x82\xac", 3, true},              /* U+20AC */
        {"\xed\x9f\xbf", 3, true},              /* U+D7FF, just before the surrogates */
        {"\xee\x80\x80", 3, true},              /* U+E000, just after them */
        {"\xef\xbf\xbf", 3, true},              /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, true},          /* U+10000, the first 4-byte code point */
        {"\xf4\x8f\xbf\xbf", 4, true},          /* U+10FFFF, the last code point */
        {"a\0b", 3, false},                     /* NUL */
        {"\xc3\xa9", 1, false},                 /* cut by n */
        {"\xe2\x82\xac", 2, false},             /* cut by n */
        {"\xc3", 1, false},                     /* truncated */
        {"\x80", 1, false},                     /* lone continuation */
        {"\xbf", 1, false},                     /* lone continuation */
        {"\xc3\x28", 2, false},                 /* continuation missing */
        {"\xe2\x28\xa1", 3, false},             /* continuation missing */
        {"\xf0\x90\x28\xbc", 4, false},         /* continuation missing */
        {"\xc0\x80", 2, false},                 /* overlong NUL */
        {"\xc1\xbf", 2, false},                 /* overlong U+007F */
        {"\xe0\x80\xaf", 3, false},             /* overlong '/' */
        {"\xe0\x9f\xbf", 3, false},             /* overlong U+07FF */
        {"\xf0\x80\x80\xaf", 4, false},         /* overlong '/' */
        {"\xf0\x8f\xbf\xbf", 4, false},         /* overlong U+FFFF */
        {"\xed\xa0\x80", 3, false},             /* U+D800 */
        {"\xed\xbf\xbf", 3, false},             /* U+DFFF */
        {"\xf4\x90\x80\x80", 4, false},         /* U+110000 */
        {"\xf5\x80\x80\x80", 4, false},         /* lead byte past U+10FFFF */
        {"\xf8\x88\x80\x80\x80", 5, false},     /* 5-byte form */
        {"\xfc\x84\x80\x80\x80\x80", 6, false}, /* 6-byte form */
        {"\xfe", 1, false},
        {"\xff", 1, false},
        {"ok\xc3\xa9\xff", 5, false}, /* bad at the end */
    };
    run_sized_cases(ovop_utf8_valid, cases, OVOP_ARRAY_SIZE(cases));
}

static void test_utf8_sanitize(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"plain text", "plain text"},
        {"tab\tkept", "tab\tkept"},
        {"line\nbreak\r", "line?break?"},
        {"\x1b[31mred", "?[31mred"},
        {"\x01\x1f", "??"},
        {"del\x7f", "del?"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"\xe2\x82\xac\xf0\x9f\x8d\x8e", "\xe2\x82\xac\xf0\x9f\x8d\x8e"},
        {"\xc2\xa0", "\xc2\xa0"}, /* U+00A0 stays */
        {"\xc2\x85", "??"},       /* U+0085 NEL, a C1 control */
        {"a\xc2\x9bz", "a??z"},   /* U+009B CSI */
        {"\xff", "?"},
        {"\xc3", "?"}, /* truncated at the end */
        {"\xe2\x82", "??"},
        {"\xc3(", "?("},
        {"\xc3\xc3\xa9", "?\xc3\xa9"}, /* a bad lead byte, then a good character */
        {"\x80\xbf", "??"},
        {"\xc0\x80", "??"},           /* overlong */
        {"\xed\xa0\x80", "???"},      /* surrogate */
        {"\xf4\x90\x80\x80", "????"}, /* past U+10FFFF */
        {"ok\xf0\x9f\x8d", "ok???"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        char *s = xstrdup(cases[i].in);
        ovop_utf8_sanitize(s);
        assert_string_equal(s, cases[i].out);
        assert_true(ovop_utf8_valid(s, strlen(s)));
        free(s);
    }
}

static void test_control_len(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"", 0},         {"a", 0},        {" ", 0},        {"~", 0},        {"\x01", 1},
        {"\t", 1},       {"\n", 1},       {"\x1f", 1},     {"\x7f", 1},     {"\xc2\x80", 2},
        {"\xc2\x85", 2}, {"\xc2\x9f", 2}, {"\xc2\xa0", 0}, {"\xc3\x80", 0}, {"\xe2\x80\xa8", 0},
        {"\xc2", 0},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++)
        if (ovop_control_len(cases[i].s) != cases[i].len)
            fail_msg("case %zu: %zu, expected %zu", i, ovop_control_len(cases[i].s), cases[i].len);
}

static void test_all_digits(void **state)
{
    static const sized_case_t cases[] = {
        {"", 0, true},
        {"0", 1, true},
        {"0123456789", 10, true},
        {"123", 2, false},
        {"123", 4, false},
        {"", 1, false},
        {"12a", 3, false},
        {" 12", 3, false},
        {"12 ", 3, false},
        {"-12", 3, false},
        {"+12", 3, false},
        {"1.2", 3, false},
        {"\xd9\xa1\xd9\xa2", 4, false}, /* Arabic-Indic digits */
        {"/:", 2, false},               /* the characters around '0'..'9' */
    };
    run_sized_cases(ovop_all_digits, cases, OVOP_ARRAY_SIZE(cases));
}

static void test_date_valid(void **state)
{
    static const struct {
        const char *s;
        bool ok;
    } cases[] = {
        {"2024-01-31", true},   {"2024-02-29", true},
        {"2000-02-29", true},   {"2023-02-28", true},
        {"2023-04-30", true},   {"2023-12-31", true},
        {"1900-01-01", true},   {"9999-12-31", true},
        {"2023-02-29", false},  {"1900-02-29", false},
        {"2100-02-29", false},  {"2023-04-31", false},
        {"2023-06-31", false},  {"2023-09-31", false},
        {"2023-11-31", false},  {"2023-01-32", false},
        {"2023-00-01", false},  {"2023-13-01", false},
        {"2023-01-00", false},  {"1899-12-31", false},
        {"0000-01-01", false},  {"", false},
        {"2023-1-01", false},   {"2023-01-1", false},
        {"23-01-01", false},    {"2023-01-011", false},
        {"2023/01/01", false},  {"2023-01-01 ", false},
        {" 2023-01-01", false}, {"2023-0a-01", false},
        {"2023--1-01", false},  {"2023-01-+1", false},
        {"20230101", false},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++)
        if (ovop_date_valid(cases[i].s) != cases[i].ok)
            fail_msg("case %zu \"%s\": expected %d", i, cases[i].s, cases[i].ok);
}

static void test_alloc(void **state)
{
    char *s = xstrdup("hello");
    assert_string_equal(s, "hello");
    xfree(s);
    assert_null(s);
    xfree(s); /* NULL is fine */

    static const struct {
        const char *s;
        size_t n;
        const char *want;
    } ndup[] = {{"abcdef", 3, "abc"}, {"ab", 5, "ab"}, {"abc", 0, ""}, {"", 4, ""}};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(ndup); i++) {
        s = xstrndup(ndup[i].s, ndup[i].n);
        assert_string_equal(s, ndup[i].want);
        free(s);
    }

    static const uint8_t bytes[] = {0, 1, 2, 0xff};
    uint8_t *m = xmemdup(bytes, sizeof(bytes));
    assert_memory_equal(m, bytes, sizeof(bytes));
    free(m);

    uint32_t *z = xcalloc(64, sizeof(*z));
    for (size_t i = 0; i < 64; i++)
        assert_int_equal(z[i], 0);
    z = xrealloc(z, 128 * sizeof(*z));
    assert_int_equal(z[63], 0); /* the old part survives */
    free(z);

    /* Zero sizes still give a pointer to free. */
    void *p = xmalloc(0);
    assert_non_null(p);
    free(p);
    p = xcalloc(0, 0);
    assert_non_null(p);
    free(p);
}

static void test_xasprintf(void **state)
{
    char *s = xasprintf("%s-%d-%05.1f-%c", "abc", -42, 3.14159, 'z');
    assert_string_equal(s, "abc--42-003.1-z");
    free(s);
    s = xasprintf("%s", "");
    assert_string_equal(s, "");
    free(s);
    s = xasprintf("%0*d", 1000, 7);
    assert_int_equal(strlen(s), 1000);
    assert_int_equal(s[0], '0');
    assert_int_equal(s[999], '7');
    free(s);
}

static void test_buf(void **state)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);

    ovop_buf_append(&b, "", 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");

    ovop_buf_append(&b, "ab\0cd", 5); /* bytes, not a string */
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "ab\0cd", 6);

    ovop_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");

    ovop_buf_puts(&b, "x=");
    ovop_buf_printf(&b, "%d,%s", 12, "y");
    assert_string_equal(b.data, "x=12,y");
    assert_int_equal(b.len, 6);

    /* Past the first 256 bytes, and a printf longer than its stack buffer. */
    char big[1000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ovop_buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 6 + 2 + 999);
    assert_int_equal(b.data[6], '[');
    assert_int_equal(b.data[7 + 998], 'q');
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap > b.len);
    for (int i = 0; i < 300; i++)
        ovop_buf_append(&b, "0123456789", 10);
    assert_int_equal(b.len, 1007 + 3000);
    assert_memory_equal(b.data + b.len - 10, "0123456789", 11);

    ovop_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    ovop_buf_reset(&b); /* on a freed buffer: nothing to do */
    assert_null(b.data);
}

static void test_uuid4(void **state)
{
    char a[37], b[37];
    ovop_uuid4(a);
    ovop_uuid4(b);
    assert_string_not_equal(a, b);
    for (const char *u = a; u; u = u == a ? b : NULL) {
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(u[i], '-');
            else if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f')))
                fail_msg("\"%s\": character %d is not lowercase hex", u, i);
        }
        assert_int_equal(u[14], '4');           /* version 4 */
        assert_non_null(strchr("89ab", u[19])); /* RFC 4122 variant */
    }
}

static void test_clocks(void **state)
{
    int64_t before = (int64_t)time(NULL) * 1000000;
    int64_t now = ovop_now_us();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000000;
    assert_in_range(now, before, after);
    int64_t m1 = ovop_mono_us();
    int64_t m2 = ovop_mono_us();
    assert_true(m1 > 0);
    assert_true(m2 >= m1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid),  cmocka_unit_test(test_utf8_sanitize),
        cmocka_unit_test(test_control_len), cmocka_unit_test(test_all_digits),
        cmocka_unit_test(test_date_valid),  cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_xasprintf),   cmocka_unit_test(test_buf),
        cmocka_unit_test(test_uuid4),       cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
