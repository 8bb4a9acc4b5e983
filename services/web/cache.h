/* The verification cache: a bounded LRU of answers keyed by code, each fresh for a TTL (a
 * found certificate longer than a miss), kept past it as stale so that an answer can still
 * be served, marked stale, while the broker is down. Loop thread only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct web_cache web_cache_t;

typedef enum web_cache_state {
    WEB_CACHE_ABSENT,
    WEB_CACHE_FRESH,
    WEB_CACHE_STALE, /* past its TTL: refresh it, serve it only when the refresh fails */
} web_cache_state_t;

typedef struct web_cache_entry {
    bool found;       /* false: the registry has no certificate with this code */
    const void *body; /* the VerifiedCertificate, packed (found only) */
    size_t len;
    const char *json;  /* its JSON page, rendered once when stored (found only), or NULL */
    int64_t stored_us; /* monotonic time it was fetched */
} web_cache_entry_t;

/* capacity 0: a cache that keeps nothing (--no-cache). */
web_cache_t *web_cache_new(size_t capacity, int64_t ttl_found_us, int64_t ttl_missing_us);
void web_cache_destroy(web_cache_t **c);

/* Looks code up at time now_us (monotonic); *ret is valid until the next put. A hit moves
 * the entry to the front. */
web_cache_state_t web_cache_get(web_cache_t *c, const char *code, int64_t now_us,
                                web_cache_entry_t *ret);
/* Stores (copies) an answer and its rendered JSON (may be NULL), evicting the least recently used
 * entry when full. */
void web_cache_put(web_cache_t *c, const char *code, bool found, const void *body, size_t len,
                   const char *json, int64_t now_us);
/* Forgets code (a status change seen). */
void web_cache_drop(web_cache_t *c, const char *code);
size_t web_cache_size(const web_cache_t *c);
