/* The dashboard's sign-in codes and sessions (services/web/session.c) with a clock the test
 * moves: a code is approved once, within its TTL, by any spelling; sessions end when idle, at
 * their absolute expiry and at sign-out; the table stays bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "session.h"

#define S 1000000LL

static void code_parse(void **state)
{
    char out[WEB_SIGNIN_CODE_LEN + 1];
    assert_true(web_signin_code_parse("ABCD-EFGH", out));
    assert_string_equal(out, "ABCD-EFGH");
    assert_true(web_signin_code_parse("abcdefgh", out));
    assert_string_equal(out, "ABCD-EFGH");
    assert_true(web_signin_code_parse(" o1il-2345 ", out)); /* Crockford: O=0, I=L=1 */
    assert_string_equal(out, "0111-2345");
    assert_false(web_signin_code_parse("ABCD-EFG", out));   /* too short */
    assert_false(web_signin_code_parse("ABCD-EFGHJ", out)); /* too long */
    assert_false(web_signin_code_parse("ABCD-EFGU", out));  /* U is not Crockford */
    assert_false(web_signin_code_parse("ABCD_EFGH", out));
    assert_false(web_signin_code_parse("", out));
}

static void approve_once_within_ttl(void **state)
{
    web_sessions_t *s = web_sessions_new(16, 300 * S, 1800 * S, 8 * 3600 * S);
    char id[WEB_SESSION_ID_LEN + 1], code[WEB_SIGNIN_CODE_LEN + 1], other[WEB_SIGNIN_CODE_LEN + 1];
    web_signin_start(s, 0, id, code);
    assert_int_equal(strlen(id), 64);
    assert_true(web_signin_code_parse(code, other));
    assert_string_equal(code, other);
    web_session_info_t i = web_session_get(s, id, 1 * S);
    assert_int_equal(i.state, WEB_SESSION_PENDING);
    assert_string_equal(i.code, code);
    int64_t life = 0;
    assert_int_equal(web_signin_approve(s, code, "viewer", 10 * S, &life), 0);
    assert_int_equal(life, 8 * 3600 * S);
    assert_int_equal(web_signin_approve(s, code, "viewer", 11 * S, &life), -ENOENT); /* reused */
    i = web_session_get(s, id, 12 * S);
    assert_int_equal(i.state, WEB_SESSION_ACTIVE);
    assert_string_equal(i.principal, "viewer");
    /* An expired code is refused and its pending session is gone. */
    char id2[WEB_SESSION_ID_LEN + 1], code2[WEB_SIGNIN_CODE_LEN + 1];
    web_signin_start(s, 20 * S, id2, code2);
    assert_string_not_equal(id, id2);
    assert_int_equal(web_signin_approve(s, code2, "viewer", 321 * S, &life), -ENOENT);
    assert_int_equal(web_session_get(s, id2, 321 * S).state, WEB_SESSION_NONE);
    assert_int_equal(web_signin_approve(s, "ZZZZ-ZZZZ", "viewer", 30 * S, &life), -ENOENT);
    web_sessions_destroy(&s);
}

static void sessions_end(void **state)
{
    web_sessions_t *s = web_sessions_new(16, 300 * S, 100 * S, 1000 * S);
    char id[WEB_SESSION_ID_LEN + 1], code[WEB_SIGNIN_CODE_LEN + 1];
    int64_t life;
    /* Idle: a request within the idle time keeps it, a gap longer ends it. */
    web_signin_start(s, 0, id, code);
    assert_int_equal(web_signin_approve(s, code, "a", 0, &life), 0);
    assert_int_equal(web_session_get(s, id, 90 * S).state, WEB_SESSION_ACTIVE);
    assert_int_equal(web_session_get(s, id, 180 * S).state, WEB_SESSION_ACTIVE);
    assert_int_equal(web_session_get(s, id, 281 * S).state, WEB_SESSION_NONE);
    /* Absolute: however busy, it ends at approval + max. */
    web_signin_start(s, 0, id, code);
    assert_int_equal(web_signin_approve(s, code, "a", 0, &life), 0);
    for (int64_t t = 50; t < 1000; t += 50)
        assert_int_equal(web_session_get(s, id, t * S).state, WEB_SESSION_ACTIVE);
    assert_int_equal(web_session_get(s, id, 1000 * S).state, WEB_SESSION_NONE);
    /* Sign-out. */
    web_signin_start(s, 0, id, code);
    assert_int_equal(web_signin_approve(s, code, "a", 0, &life), 0);
    web_session_end(s, id);
    assert_int_equal(web_session_get(s, id, 1 * S).state, WEB_SESSION_NONE);
    /* Unknown and malformed ids. */
    assert_int_equal(web_session_get(s, NULL, 1).state, WEB_SESSION_NONE);
    assert_int_equal(web_session_get(s, "x", 1).state, WEB_SESSION_NONE);
    web_sessions_destroy(&s);
}

static void bounded(void **state)
{
    web_sessions_t *s = web_sessions_new(16, 300 * S, 1000 * S, 10000 * S);
    char id[WEB_SESSION_ID_LEN + 1], code[WEB_SIGNIN_CODE_LEN + 1], keep[WEB_SESSION_ID_LEN + 1];
    int64_t life;
    web_signin_start(s, 0, keep, code);
    assert_int_equal(web_signin_approve(s, code, "a", 0, &life), 0);
    /* A flood of pending sign-ins evicts pending ones, not the signed-in session. */
    for (int i = 1; i <= 1000; i++)
        web_signin_start(s, i, id, code);
    assert_int_equal(web_sessions_count(s), 16);
    assert_int_equal(web_session_get(s, keep, 2000).state, WEB_SESSION_ACTIVE);
    assert_int_equal(web_session_get(s, id, 2000).state, WEB_SESSION_PENDING);
    web_sessions_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(code_parse),
        cmocka_unit_test(approve_once_within_ttl),
        cmocka_unit_test(sessions_end),
        cmocka_unit_test(bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
