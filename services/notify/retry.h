/* Webhook retry schedule: "5s,5m,30m,2h" with ±jitter, Retry-After honoured up to 24 h. */
#pragma once

#include <stdint.h>

typedef struct notify_retry {
    unsigned n;
    unsigned delays_s[32];
    double jitter;
} notify_retry_t;

int notify_retry_parse(const char *spec, notify_retry_t *out, char **ret_why); /* "5s,5m,2h" */
/* ms to wait before retry number `attempt` (1 = first retry); -1 when exhausted.
 * retry_after_s >= 0 (from the response) is honoured when larger, capped at 24 h.
 * rnd: a uniform random 64-bit number (jitter). */
long notify_retry_delay_ms(const notify_retry_t *r, unsigned attempt, long retry_after_s,
                           uint64_t rnd);
