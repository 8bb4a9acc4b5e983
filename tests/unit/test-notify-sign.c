/* Unit tests of Standard Webhooks signing and verification: the reference library's test
 * vector, tampering, timestamps out of tolerance, secret rotation and malformed inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "sign.h"
#include "util.h"

/* From the standard-webhooks reference libraries' tests ("sign function works"). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS     1614265330
#define VEC_BODY   "{\"test\": 2432232314}"
#define VEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static int verify1(const char *secret, const char *id, const char *ts, const char *sig,
                   const char *body, int64_t now)
{
    const char *s[] = {secret};
    return notify_verify(s, 1, id, ts, sig, body, strlen(body), now, 300);
}

static void test_vector(void **state)
{
    const char *s[] = {VEC_SECRET};
    char *sig = notify_sign(s, 1, VEC_MSG_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY));
    assert_non_null(sig);
    assert_string_equal(sig, VEC_SIG);
    free(sig);
    /* The prefix is optional, as in the reference libraries. */
    const char *bare[] = {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    sig = notify_sign(bare, 1, VEC_MSG_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY));
    assert_string_equal(sig, VEC_SIG);
    free(sig);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, "1614265330", VEC_SIG, VEC_BODY, VEC_TS), 0);
}

static void test_tampered(void **state)
{
    const char *ts = "1614265330";
    int64_t now = VEC_TS + 10;
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts, VEC_SIG, "{\"test\": 2432232315}", now),
                     -EKEYREJECTED);
    assert_int_equal(
        verify1(VEC_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJel", ts, VEC_SIG, VEC_BODY, now),
        -EKEYREJECTED);
    /* The timestamp is signed: moving it (within tolerance) breaks the signature. */
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, "1614265331", VEC_SIG, VEC_BODY, now),
                     -EKEYREJECTED);
    assert_int_equal(
        verify1("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", VEC_MSG_ID, ts, VEC_SIG, VEC_BODY, now),
        -EKEYREJECTED);
    assert_int_equal(
        verify1(VEC_SECRET, VEC_MSG_ID, ts, "v1,dawfeoifkpqwoekfpqoekf", VEC_BODY, now),
        -EKEYREJECTED);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts, "v1,", VEC_BODY, now), -EKEYREJECTED);
    /* The right bytes under another scheme name do not count. */
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts,
                             "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", VEC_BODY, now),
                     -EKEYREJECTED);
    /* Among other entries the valid one is found. */
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts,
                             "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " VEC_SIG " v1a,xyz",
                             VEC_BODY, now),
                     0);
}

static void test_timestamps(void **state)
{
    const char *ts = "1614265330";
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts, VEC_SIG, VEC_BODY, VEC_TS + 300), 0);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts, VEC_SIG, VEC_BODY, VEC_TS + 301), -ETIME);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, ts, VEC_SIG, VEC_BODY, VEC_TS - 301), -ETIME);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, "hello", VEC_SIG, VEC_BODY, VEC_TS), -EINVAL);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, "-1614265330", VEC_SIG, VEC_BODY, VEC_TS),
                     -EINVAL);
    assert_int_equal(verify1(VEC_SECRET, VEC_MSG_ID, "", VEC_SIG, VEC_BODY, VEC_TS), -EINVAL);
}

static void test_rotation(void **state)
{
    char *old = notify_secret_generate(), *new = notify_secret_generate();
    assert_non_null(old);
    assert_non_null(new);
    assert_string_not_equal(old, new);
    assert_int_equal(strncmp(old, "whsec_", 6), 0);
    assert_int_equal(strlen(old), 6 + 44); /* base64 of 32 bytes */
    const char body[] = "{\"a\":1}";
    const char *both[] = {new, old};
    int64_t now = ovop_now_us() / 1000000;
    char *sig = notify_sign(both, 2, "evt-1", now, body, strlen(body));
    assert_non_null(sig);
    assert_non_null(strchr(sig, ' ')); /* two signatures */
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)now);
    /* A receiver that still knows only the old secret, and one that knows only the new one. */
    assert_int_equal(verify1(old, "evt-1", ts, sig, body, now), 0);
    assert_int_equal(verify1(new, "evt-1", ts, sig, body, now), 0);
    /* After the overlap only the new secret signs: the old one no longer verifies. */
    free(sig);
    sig = notify_sign(both, 1, "evt-1", now, body, strlen(body));
    assert_int_equal(verify1(new, "evt-1", ts, sig, body, now), 0);
    assert_int_equal(verify1(old, "evt-1", ts, sig, body, now), -EKEYREJECTED);
    /* A receiver holding both accepts either. */
    assert_int_equal(notify_verify((const char *const[]){old, new}, 2, "evt-1", ts, sig, body,
                                   strlen(body), now, 300),
                     0);
    free(sig);
    free(old);
    free(new);
}

static void test_bad_inputs(void **state)
{
    const char *bad[] = {"whsec_not base64!", "whsec_", "whsec_QUJD", /* 3 bytes: too short */
                         NULL};
    for (size_t i = 0; i < 3; i++) {
        const char *s[] = {bad[i]};
        assert_null(notify_sign(s, 1, "m", 1, "x", 1));
        assert_int_equal(verify1(bad[i], VEC_MSG_ID, "1614265330", VEC_SIG, VEC_BODY, VEC_TS),
                         -EINVAL);
    }
    const char *s[] = {VEC_SECRET};
    assert_null(notify_sign(s, 0, "m", 1, "x", 1));
    assert_null(notify_sign(s, 1, "", 1, "x", 1));
    assert_null(notify_sign(s, 1, "has space", 1, "x", 1));
    assert_null(notify_sign(s, 1, "m", -1, "x", 1));
    assert_int_equal(verify1(VEC_SECRET, "bad\nid", "1614265330", VEC_SIG, VEC_BODY, VEC_TS),
                     -EINVAL);
    assert_int_equal(notify_verify(s, 1, VEC_MSG_ID, "1614265330", NULL, VEC_BODY, strlen(VEC_BODY),
                                   VEC_TS, 300),
                     -EINVAL);
    /* An empty body signs and verifies (bodies are never empty here, but the math holds). */
    char *sig = notify_sign(s, 1, "m", 5, "", 0);
    assert_int_equal(notify_verify(s, 1, "m", "5", sig, "", 0, 5, 300), 0);
    free(sig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),     cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_timestamps), cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
