/* ovop-webd's pure parts: verification codes (common/vcode.c), the LRU cache with TTLs, the
 * per-address token buckets and Accept-Language negotiation, and HTML escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cache.h"
#include "lang.h"
#include "ratelimit.h"
#include "util.h"
#include "vcode.h"
#include "web.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void test_vcode_generate_parse(void **state)
{
    char seen[200][OVOP_VCODE_LEN + 1];
    for (int i = 0; i < 200; i++) {
        char code[OVOP_VCODE_LEN + 1], canon[OVOP_VCODE_LEN + 1];
        assert_int_equal(ovop_vcode_generate(code), 0);
        assert_int_equal(strlen(code), OVOP_VCODE_LEN);
        assert_int_equal(strspn(code, alphabet), OVOP_VCODE_LEN);
        assert_int_equal(ovop_vcode_parse(code, canon), OVOP_VCODE_OK);
        assert_string_equal(canon, code);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[j], code);
        memcpy(seen[i], code, sizeof(code));
    }
}

/* The check digit is Crockford's: the value modulo 37. "0000000000001" has value 1. */
static void test_vcode_known(void **state)
{
    assert_int_equal(ovop_vcode_check_digit("0000000000001", 13), '1');
    assert_int_equal(ovop_vcode_check_digit("000000000000Z", 13), 'Z'); /* 31 */
    assert_int_equal(ovop_vcode_check_digit("0000000000010", 13), 0);   /* 32: no digit */
    assert_int_equal(ovop_vcode_check_digit("0000000000015", 13), '0'); /* 37 */
    assert_int_equal(ovop_vcode_check_digit("00000000000U0", 13), 0);   /* U: no digit */
}

static void test_vcode_reading(void **state)
{
    char code[OVOP_VCODE_LEN + 1], out[OVOP_VCODE_LEN + 1], typed[40];
    do
        assert_int_equal(ovop_vcode_generate(code), 0);
    while (!strpbrk(code, "01"));
    /* Lower case, groups, and the letters people read for 0 and 1. */
    snprintf(typed, sizeof(typed), "%.4s-%.5s %s", code, code + 4, code + 9);
    for (char *p = typed; *p; p++) {
        if (*p == '0')
            *p = 'o';
        else if (*p == '1')
            *p = 'l';
        else if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    }
    assert_int_equal(ovop_vcode_parse(typed, out), OVOP_VCODE_OK);
    assert_string_equal(out, code);
    assert_int_equal(ovop_vcode_parse("", out), OVOP_VCODE_LENGTH);
    assert_int_equal(ovop_vcode_parse("ABC", out), OVOP_VCODE_LENGTH);
    assert_int_equal(ovop_vcode_parse("0123456789ABCDE", out), OVOP_VCODE_LENGTH);
    assert_int_equal(ovop_vcode_parse("0123456789ABCU", out), OVOP_VCODE_CHARACTER);
    assert_int_equal(ovop_vcode_parse("0123456789AB<>", out), OVOP_VCODE_CHARACTER);
}

/* Every single substitution and every swap of neighbours of many codes is caught. */
static void test_vcode_catches_typos(void **state)
{
    for (int n = 0; n < 50; n++) {
        char code[OVOP_VCODE_LEN + 1], bad[OVOP_VCODE_LEN + 1], out[OVOP_VCODE_LEN + 1];
        assert_int_equal(ovop_vcode_generate(code), 0);
        for (int i = 0; i < OVOP_VCODE_LEN; i++)
            for (int d = 0; d < 32; d++) {
                if (alphabet[d] == code[i])
                    continue;
                memcpy(bad, code, sizeof(bad));
                bad[i] = alphabet[d];
                assert_int_not_equal(ovop_vcode_parse(bad, out), OVOP_VCODE_OK);
            }
        for (int i = 0; i + 1 < OVOP_VCODE_LEN; i++) {
            if (code[i] == code[i + 1])
                continue;
            memcpy(bad, code, sizeof(bad));
            bad[i] = code[i + 1];
            bad[i + 1] = code[i];
            assert_int_not_equal(ovop_vcode_parse(bad, out), OVOP_VCODE_OK);
        }
    }
}

static void test_cache_ttl_and_lru(void **state)
{
    web_cache_t *c = web_cache_new(3, 60000000, 10000000);
    web_cache_entry_t e;
    assert_int_equal(web_cache_get(c, "A", 0, &e), WEB_CACHE_ABSENT);
    web_cache_put(c, "A", true, "abc", 3, NULL, 0);
    web_cache_put(c, "B", false, NULL, 0, NULL, 0);
    assert_int_equal(web_cache_get(c, "A", 59999999, &e), WEB_CACHE_FRESH);
    assert_true(e.found);
    assert_int_equal(e.len, 3);
    assert_memory_equal(e.body, "abc", 3);
    assert_null(e.json);
    assert_int_equal(web_cache_get(c, "A", 60000000, &e), WEB_CACHE_STALE);
    /* A miss is fresh for its shorter TTL. */
    assert_int_equal(web_cache_get(c, "B", 9999999, &e), WEB_CACHE_FRESH);
    assert_false(e.found);
    assert_int_equal(web_cache_get(c, "B", 10000000, &e), WEB_CACHE_STALE);
    /* Least recently used goes first: A was read after B was, so B goes. */
    assert_int_equal(web_cache_get(c, "A", 1, &e), WEB_CACHE_FRESH);
    web_cache_put(c, "C", true, "c", 1, NULL, 1);
    web_cache_put(c, "D", true, "d", 1, NULL, 1);
    assert_int_equal(web_cache_size(c), 3);
    assert_int_equal(web_cache_get(c, "B", 1, &e), WEB_CACHE_ABSENT);
    assert_int_equal(web_cache_get(c, "A", 1, &e), WEB_CACHE_FRESH);
    /* Replacing keeps one entry (with its rendered JSON); dropping forgets it. */
    web_cache_put(c, "A", true, "xyz!", 4, "{}", 2);
    assert_int_equal(web_cache_size(c), 3);
    assert_int_equal(web_cache_get(c, "A", 2, &e), WEB_CACHE_FRESH);
    assert_int_equal(e.len, 4);
    assert_string_equal(e.json, "{}");
    web_cache_drop(c, "A");
    assert_int_equal(web_cache_get(c, "A", 2, &e), WEB_CACHE_ABSENT);
    for (int i = 0; i < 1000; i++) {
        char k[16];
        snprintf(k, sizeof(k), "K%d", i);
        web_cache_put(c, k, true, k, strlen(k), NULL, i);
    }
    assert_int_equal(web_cache_size(c), 3);
    assert_int_equal(web_cache_get(c, "K999", 1000, &e), WEB_CACHE_FRESH);
    web_cache_destroy(&c);
    /* Capacity 0 keeps nothing (--no-cache). */
    c = web_cache_new(0, 1, 1);
    web_cache_put(c, "A", true, "a", 1, NULL, 0);
    assert_int_equal(web_cache_get(c, "A", 0, &e), WEB_CACHE_ABSENT);
    web_cache_destroy(&c);
}

static void test_token_bucket(void **state)
{
    web_ratelimit_t *r = web_ratelimit_new(2, 2, 3); /* 2/s, burst 3, two addresses */
    unsigned retry = 0;
    for (int i = 0; i < 3; i++)
        assert_true(web_ratelimit_take(r, "10.0.0.1", 0, &retry));
    assert_false(web_ratelimit_take(r, "10.0.0.1", 0, &retry));
    assert_int_equal(retry, 1);
    assert_true(web_ratelimit_take(r, "10.0.0.2", 0, &retry));      /* each address its own */
    assert_true(web_ratelimit_take(r, "10.0.0.1", 500000, &retry)); /* one token in 0.5 s */
    assert_false(web_ratelimit_take(r, "10.0.0.1", 500000, &retry));
    /* Tokens never exceed the burst. */
    for (int i = 0; i < 3; i++)
        assert_true(web_ratelimit_take(r, "10.0.0.1", 100000000, &retry));
    assert_false(web_ratelimit_take(r, "10.0.0.1", 100000000, &retry));
    /* A third address evicts the least recent; the table stays bounded. */
    assert_true(web_ratelimit_take(r, "10.0.0.3", 100000000, &retry));
    assert_int_equal(web_ratelimit_size(r), 2);
    for (int i = 0; i < 1000; i++) {
        char a[32];
        snprintf(a, sizeof(a), "192.0.2.%d", i);
        web_ratelimit_take(r, a, 100000000, &retry);
    }
    assert_int_equal(web_ratelimit_size(r), 2);
    web_ratelimit_destroy(&r);
    r = web_ratelimit_new(10, 0, 1); /* rate 0: no limit */
    for (int i = 0; i < 100; i++)
        assert_true(web_ratelimit_take(r, "x", 0, &retry));
    web_ratelimit_destroy(&r);
}

static void test_accept_language(void **state)
{
    assert_int_equal(web_lang_negotiate(NULL), WEB_LANG_EN);
    assert_int_equal(web_lang_negotiate(""), WEB_LANG_EN);
    assert_int_equal(web_lang_negotiate("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), WEB_LANG_RU);
    assert_int_equal(web_lang_negotiate("de-DE, ja;q=0.5, zh;q=0.6"), WEB_LANG_ZH);
    assert_int_equal(web_lang_negotiate("zh-Hans-CN"), WEB_LANG_ZH);
    assert_int_equal(web_lang_negotiate("ky"), WEB_LANG_KY);
    assert_int_equal(web_lang_negotiate("KY-kg;q=1.0"), WEB_LANG_KY);
    assert_int_equal(web_lang_negotiate("fr, de"), WEB_LANG_EN);
    assert_int_equal(web_lang_negotiate("ru;q=0, ja"), WEB_LANG_JA);
    assert_int_equal(web_lang_negotiate("ja;q=0.2, ru;q=0.2"), WEB_LANG_JA); /* tie: first */
    assert_int_equal(web_lang_negotiate("ru;q=bogus, ja;q=0.1"), WEB_LANG_JA);
    assert_int_equal(web_lang_negotiate("*;q=0.5, ru;q=0.4"), WEB_LANG_EN);
    assert_int_equal(web_lang_negotiate(",,,;;;=,ru"), WEB_LANG_RU);
    assert_int_equal(web_lang_from_tag("ja-JP"), WEB_LANG_JA);
    assert_int_equal(web_lang_from_tag("english"), -1);
    /* Every message has every language. */
    const char *keys[] = {"title",          "status_active",  "status_revoked",
                          "notfound_title", "malformed_text", "stale"};
    for (int l = 0; l < WEB_LANG_COUNT; l++)
        for (size_t k = 0; k < OVOP_ARRAY_SIZE(keys); k++)
            assert_true(web_text((web_lang_t)l, keys[k])[0]);
    assert_string_not_equal(web_text(WEB_LANG_JA, "title"), web_text(WEB_LANG_EN, "title"));
}

static void test_escape_template(void **state)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    const web_var_t vars[] = {{"a", "<x y=\"1\">&'"}, {"b", "<i>ok</i>"}, {"n", NULL}};
    web_template(&b, "<p>{{a}}</p>{{{b}}}{{missing}}{{n}}|{{t:status_revoked}}", WEB_LANG_RU, vars,
                 OVOP_ARRAY_SIZE(vars));
    assert_string_equal(b.data, "<p>&lt;x y=&quot;1&quot;&gt;&amp;&#39;</p><i>ok</i>|"
                                "Сертификат отозван");
    ovop_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vcode_generate_parse), cmocka_unit_test(test_vcode_known),
        cmocka_unit_test(test_vcode_reading),        cmocka_unit_test(test_vcode_catches_typos),
        cmocka_unit_test(test_cache_ttl_and_lru),    cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_accept_language),      cmocka_unit_test(test_escape_template),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
