/* Per client address rate limiting: a token bucket per address (rate tokens a second, at most
 * burst), in a bounded table that forgets the least recently seen address when full, so a
 * flood of addresses costs memory bounded by the table, never more. Loop thread only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct web_ratelimit web_ratelimit_t;

/* rate 0: no limit. */
web_ratelimit_t *web_ratelimit_new(size_t capacity, double rate, double burst);
void web_ratelimit_destroy(web_ratelimit_t **r);

/* Takes a token for addr (text, at most 63 bytes used) at now_us (monotonic). Returns true
 * when allowed; otherwise false with *ret_retry_s, whole seconds until a token is back. */
bool web_ratelimit_take(web_ratelimit_t *r, const char *addr, int64_t now_us,
                        unsigned *ret_retry_s);
size_t web_ratelimit_size(const web_ratelimit_t *r);
