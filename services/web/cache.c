#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "vcode.h"

typedef struct node {
    char code[OVOP_VCODE_LEN + 1];
    bool found;
    void *body;
    size_t len;
    char *json;
    int64_t stored_us;
    struct node *prev, *next; /* recency: head most recent */
    struct node *chain;       /* hash bucket */
} node_t;

struct web_cache {
    size_t capacity, size, n_buckets;
    int64_t ttl_found_us, ttl_missing_us;
    node_t **buckets;
    node_t *head, *tail;
};

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

web_cache_t *web_cache_new(size_t capacity, int64_t ttl_found_us, int64_t ttl_missing_us)
{
    web_cache_t *c = xcalloc(1, sizeof(*c));
    c->capacity = capacity;
    c->ttl_found_us = ttl_found_us;
    c->ttl_missing_us = ttl_missing_us;
    c->n_buckets = 16;
    while (c->n_buckets < capacity)
        c->n_buckets *= 2;
    c->buckets = xcalloc(c->n_buckets, sizeof(node_t *));
    return c;
}

static node_t **slot(web_cache_t *c, const char *code)
{
    node_t **p = &c->buckets[hash(code) & (c->n_buckets - 1)];
    while (*p && strcmp((*p)->code, code) != 0)
        p = &(*p)->chain;
    return p;
}

static void unlink_node(web_cache_t *c, node_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
    n->prev = n->next = NULL;
}

static void push_front(web_cache_t *c, node_t *n)
{
    n->next = c->head;
    n->prev = NULL;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

static void remove_node(web_cache_t *c, node_t *n)
{
    node_t **p = slot(c, n->code);
    *p = n->chain;
    unlink_node(c, n);
    free(n->body);
    free(n->json);
    free(n);
    c->size--;
}

void web_cache_destroy(web_cache_t **cp)
{
    web_cache_t *c = *cp;
    if (!c)
        return;
    *cp = NULL;
    while (c->head)
        remove_node(c, c->head);
    free(c->buckets);
    free(c);
}

web_cache_state_t web_cache_get(web_cache_t *c, const char *code, int64_t now_us,
                                web_cache_entry_t *ret)
{
    node_t *n = *slot(c, code);
    if (!n)
        return WEB_CACHE_ABSENT;
    unlink_node(c, n);
    push_front(c, n);
    *ret = (web_cache_entry_t){n->found, n->body, n->len, n->json, n->stored_us};
    int64_t ttl = n->found ? c->ttl_found_us : c->ttl_missing_us;
    return now_us - n->stored_us < ttl ? WEB_CACHE_FRESH : WEB_CACHE_STALE;
}

void web_cache_put(web_cache_t *c, const char *code, bool found, const void *body, size_t len,
                   const char *json, int64_t now_us)
{
    if (c->capacity == 0 || strlen(code) > OVOP_VCODE_LEN)
        return;
    node_t **p = slot(c, code);
    node_t *n = *p;
    if (n) {
        unlink_node(c, n);
        free(n->body);
        free(n->json);
    } else {
        if (c->size == c->capacity)
            remove_node(c, c->tail);
        p = slot(c, code); /* the eviction may have changed the chain */
        n = xcalloc(1, sizeof(*n));
        strcpy(n->code, code);
        *p = n;
        c->size++;
    }
    n->found = found;
    n->body = NULL;
    n->len = found ? len : 0;
    if (found && len) {
        n->body = xmalloc(len);
        memcpy(n->body, body, len);
    }
    n->json = found && json ? xstrdup(json) : NULL;
    n->stored_us = now_us;
    push_front(c, n);
}

void web_cache_drop(web_cache_t *c, const char *code)
{
    node_t *n = *slot(c, code);
    if (n)
        remove_node(c, n);
}

size_t web_cache_size(const web_cache_t *c)
{
    return c->size;
}
