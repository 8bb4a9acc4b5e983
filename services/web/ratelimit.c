#include "ratelimit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct bucket {
    char addr[64];
    double tokens;
    int64_t last_us;
    struct bucket *prev, *next, *chain;
} bucket_t;

struct web_ratelimit {
    size_t capacity, size, n_slots;
    double rate, burst;
    bucket_t **slots;
    bucket_t *head, *tail;
};

web_ratelimit_t *web_ratelimit_new(size_t capacity, double rate, double burst)
{
    web_ratelimit_t *r = xcalloc(1, sizeof(*r));
    r->capacity = capacity ? capacity : 1;
    r->rate = rate;
    r->burst = burst < 1 ? 1 : burst;
    r->n_slots = 16;
    while (r->n_slots < r->capacity)
        r->n_slots *= 2;
    r->slots = xcalloc(r->n_slots, sizeof(bucket_t *));
    return r;
}

static bucket_t **find(web_ratelimit_t *r, const char *addr)
{
    size_t h = 1469598103934665603ull;
    for (const char *s = addr; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    bucket_t **p = &r->slots[h & (r->n_slots - 1)];
    while (*p && strcmp((*p)->addr, addr) != 0)
        p = &(*p)->chain;
    return p;
}

static void detach(web_ratelimit_t *r, bucket_t *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        r->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        r->tail = b->prev;
    b->prev = b->next = NULL;
}

static void to_front(web_ratelimit_t *r, bucket_t *b)
{
    b->next = r->head;
    if (r->head)
        r->head->prev = b;
    r->head = b;
    if (!r->tail)
        r->tail = b;
}

static void evict_oldest(web_ratelimit_t *r)
{
    bucket_t *b = r->tail;
    *find(r, b->addr) = b->chain;
    detach(r, b);
    free(b);
    r->size--;
}

void web_ratelimit_destroy(web_ratelimit_t **rp)
{
    web_ratelimit_t *r = *rp;
    if (!r)
        return;
    *rp = NULL;
    while (r->tail)
        evict_oldest(r);
    free(r->slots);
    free(r);
}

bool web_ratelimit_take(web_ratelimit_t *r, const char *addr, int64_t now_us, unsigned *ret_retry_s)
{
    if (r->rate <= 0)
        return true;
    char key[64];
    snprintf(key, sizeof(key), "%s", addr);
    bucket_t **p = find(r, key);
    bucket_t *b = *p;
    if (b) {
        detach(r, b);
        double t = b->tokens + (double)(now_us - b->last_us) / 1e6 * r->rate;
        b->tokens = t > r->burst ? r->burst : t;
    } else {
        if (r->size == r->capacity) {
            evict_oldest(r);
            p = find(r, key);
        }
        b = xcalloc(1, sizeof(*b));
        memcpy(b->addr, key, sizeof(key));
        b->tokens = r->burst;
        *p = b;
        r->size++;
    }
    b->last_us = now_us;
    to_front(r, b);
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return true;
    }
    double wait = (1 - b->tokens) / r->rate;
    *ret_retry_s = (unsigned)ceil(wait);
    if (*ret_retry_s == 0)
        *ret_retry_s = 1;
    return false;
}

size_t web_ratelimit_size(const web_ratelimit_t *r)
{
    return r->size;
}
