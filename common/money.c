/* Money as integer minor units and decimal text (money.h). */
#include "money.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

const char *ovop_money_format(int64_t minor, char out[static OVOP_MONEY_TEXT])
{
    /* The magnitude as unsigned, so that INT64_MIN has one too. */
    uint64_t m = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(out, OVOP_MONEY_TEXT, "%s%llu.%02llu", minor < 0 ? "-" : "",
             (unsigned long long)(m / 100), (unsigned long long)(m % 100));
    return out;
}

int ovop_money_parse(const char *s, int64_t *ret_minor)
{
    bool negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    /* Up to INT64_MAX, or INT64_MAX + 1 for a negative amount. */
    uint64_t limit = (uint64_t)INT64_MAX + (negative ? 1 : 0), v = 0;
    int digits = 0, decimals = -1; /* -1: no point seen yet */
    for (; *s; s++) {
        if (*s == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (*s < '0' || *s > '9' || decimals == 2)
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
        digits++;
        if (decimals >= 0)
            decimals++;
    }
    if (digits == 0)
        return -EINVAL;
    for (int k = decimals < 0 ? 0 : decimals; k < 2; k++) {
        if (v > limit / 10)
            return -ERANGE;
        v *= 10;
    }
    *ret_minor = negative && v ? -(int64_t)(v - 1) - 1 : (int64_t)v;
    return 0;
}
