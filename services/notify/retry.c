/* Retry schedule parsing and the delay before each retry. */
#include "retry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define RETRY_MAX_DELAY_S (7u * 24u * 3600u) /* one step longer than a week is a typo */
#define RETRY_AFTER_CAP_S (24L * 3600L)
#define RETRY_JITTER      0.2

static int refuse(char **ret_why, char *why)
{
    if (ret_why)
        *ret_why = why;
    else
        free(why);
    return -EINVAL;
}

/* One step "<digits><unit>" with unit s, m, h or d; *ret in seconds. */
static int parse_step(const char *s, size_t n, unsigned *ret)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n < 2 || n > 12)
        return -EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    unsigned long mult;
    switch (s[n - 1]) {
    case 's':
        mult = 1;
        break;
    case 'm':
        mult = 60;
        break;
    case 'h':
        mult = 3600;
        break;
    case 'd':
        mult = 86400;
        break;
    default:
        return -EINVAL;
    }
    if (v == 0 || v > RETRY_MAX_DELAY_S || v * mult > RETRY_MAX_DELAY_S)
        return -ERANGE;
    *ret = (unsigned)(v * mult);
    return 0;
}

int notify_retry_parse(const char *spec, notify_retry_t *out, char **ret_why)
{
    if (!spec || !*spec)
        return refuse(ret_why, xstrdup("RETRY_SCHEDULE_EMPTY: the retry schedule is empty"));
    notify_retry_t r = {.jitter = RETRY_JITTER};
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (r.n == OVOP_ARRAY_SIZE(r.delays_s))
            return refuse(ret_why, xasprintf("RETRY_SCHEDULE_TOO_LONG: more than %zu steps",
                                             OVOP_ARRAY_SIZE(r.delays_s)));
        int rc = parse_step(p, n, &r.delays_s[r.n]);
        if (rc == -ERANGE)
            return refuse(ret_why, xasprintf("RETRY_STEP_OUT_OF_RANGE: step %u \"%.*s\" is not "
                                             "between 1s and 7d",
                                             r.n + 1, (int)n, p));
        if (rc < 0)
            return refuse(ret_why, xasprintf("RETRY_STEP_INVALID: step %u \"%.*s\" is not "
                                             "<number><s|m|h|d>",
                                             r.n + 1, (int)n, p));
        r.n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = r;
    return 0;
}

long notify_retry_delay_ms(const notify_retry_t *r, unsigned attempt, long retry_after_s,
                           uint64_t rnd)
{
    if (!r || attempt == 0 || attempt > r->n)
        return -1;
    /* u uniform in [0, 1): the top 53 bits of rnd, so every double is equally likely. */
    double u = (double)(rnd >> 11) * 0x1.0p-53;
    double ms = (double)r->delays_s[attempt - 1] * 1000.0 * (1.0 + r->jitter * (2.0 * u - 1.0));
    if (retry_after_s >= 0) {
        long ra = retry_after_s > RETRY_AFTER_CAP_S ? RETRY_AFTER_CAP_S : retry_after_s;
        if ((double)ra * 1000.0 > ms)
            ms = (double)ra * 1000.0;
    }
    return ms < 0 ? 0 : (long)ms;
}
