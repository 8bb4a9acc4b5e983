/* Unit tests of the retry schedule: parsing (bad specs refused with a reason), the delay of
 * each attempt within the jitter bounds, Retry-After honoured and capped, exhaustion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <cmocka.h>

#include "retry.h"
#include "util.h"

#define DEFAULT_SPEC "5s,5m,30m,2h,5h,10h,10h,14h,14h"

static void test_parse(void **state)
{
    notify_retry_t r;
    char *why = NULL;
    assert_int_equal(notify_retry_parse(DEFAULT_SPEC, &r, &why), 0);
    assert_int_equal(r.n, 9);
    const unsigned want[] = {5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 50400};
    for (unsigned i = 0; i < r.n; i++)
        assert_int_equal(r.delays_s[i], want[i]);
    unsigned total = 0;
    for (unsigned i = 0; i < r.n; i++)
        total += r.delays_s[i];
    assert_in_range(total, 2 * 86400, 3 * 86400); /* "~3 days" of the decision */
    assert_true(r.jitter > 0.19 && r.jitter < 0.21);
    assert_int_equal(notify_retry_parse("1d, 2s ,7d", &r, &why), 0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.delays_s[0], 86400);
    assert_int_equal(r.delays_s[1], 2);
}

static void refused(const char *spec, const char *reason)
{
    notify_retry_t r = {.n = 77};
    char *why = NULL;
    assert_int_equal(notify_retry_parse(spec, &r, &why), -EINVAL);
    assert_non_null(why);
    assert_non_null(strstr(why, reason));
    assert_int_equal(r.n, 77); /* nothing written on a refusal */
    free(why);
}

static void test_bad_specs(void **state)
{
    refused("", "RETRY_SCHEDULE_EMPTY");
    refused(NULL, "RETRY_SCHEDULE_EMPTY");
    refused("5", "RETRY_STEP_INVALID");
    refused("5x", "RETRY_STEP_INVALID");
    refused("s", "RETRY_STEP_INVALID");
    refused("5s,,5m", "RETRY_STEP_INVALID");
    refused("5s,", "RETRY_STEP_INVALID");
    refused("-5s", "RETRY_STEP_INVALID");
    refused("5.5s", "RETRY_STEP_INVALID");
    refused("0s", "RETRY_STEP_OUT_OF_RANGE");
    refused("8d", "RETRY_STEP_OUT_OF_RANGE");
    refused("99999999999s", "RETRY_STEP_OUT_OF_RANGE");
    refused("99999999999999999999s", "RETRY_STEP_INVALID");
    refused("170h", "RETRY_STEP_OUT_OF_RANGE");
    ovop_buf_t b;
    ovop_buf_init(&b);
    for (int i = 0; i < 33; i++)
        ovop_buf_printf(&b, "%s1s", i ? "," : "");
    refused(b.data, "RETRY_SCHEDULE_TOO_LONG");
    ovop_buf_free(&b);
}

static void test_delays(void **state)
{
    notify_retry_t r;
    assert_int_equal(notify_retry_parse("10s,1h", &r, NULL), 0);
    /* The extremes of rnd give the bounds of ±20 %, the middle the step itself. */
    assert_int_equal(notify_retry_delay_ms(&r, 1, -1, 0), 8000);
    assert_in_range(notify_retry_delay_ms(&r, 1, -1, UINT64_MAX), 11999, 12000);
    assert_int_equal(notify_retry_delay_ms(&r, 1, -1, UINT64_C(1) << 63), 10000);
    assert_int_equal(notify_retry_delay_ms(&r, 2, -1, UINT64_C(1) << 63), 3600000);
    /* Exhausted, and attempt 0 (not a retry). */
    assert_int_equal(notify_retry_delay_ms(&r, 3, -1, 0), -1);
    assert_int_equal(notify_retry_delay_ms(&r, 0, -1, 0), -1);
    /* Many random draws stay in the bounds and spread over them. */
    uint64_t x = 88172645463325252ULL;
    long lo = LONG_MAX, hi = 0;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        long d = notify_retry_delay_ms(&r, 1, -1, x);
        assert_in_range(d, 8000, 12000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 8100 && hi > 11900);
}

static void test_retry_after(void **state)
{
    notify_retry_t r;
    assert_int_equal(notify_retry_parse("10s,1h", &r, NULL), 0);
    /* Larger than the schedule: honoured; smaller: the schedule wins. */
    assert_int_equal(notify_retry_delay_ms(&r, 1, 120, 0), 120000);
    assert_int_equal(notify_retry_delay_ms(&r, 1, 0, 0), 8000);
    assert_int_equal(notify_retry_delay_ms(&r, 2, 60, UINT64_C(1) << 63), 3600000);
    /* Capped at 24 h. */
    assert_int_equal(notify_retry_delay_ms(&r, 1, 10L * 86400, 0), 86400000L);
    /* It does not revive an exhausted schedule. */
    assert_int_equal(notify_retry_delay_ms(&r, 3, 5, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
