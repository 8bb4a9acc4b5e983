#include "table.h"

#include <assert.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

#define INITIAL_BUCKETS 64

static uint32_t seed;

void table_init(table_t *t)
{
    while (seed == 0 && getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        ;
    t->n_buckets = INITIAL_BUCKETS;
    t->buckets = xcalloc(t->n_buckets, sizeof(*t->buckets));
    t->count = 0;
}

void table_free(table_t *t)
{
    xfree(t->buckets);
    t->n_buckets = 0;
    t->count = 0;
}

/* FNV-1a with a per-process random seed: keys are short (5-byte identities, service names),
 * and peers, who can choose both, cannot aim at one bucket without knowing the seed. */
uint32_t table_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

table_entry_t *table_find(const table_t *t, const void *key, size_t len)
{
    uint32_t h = table_hash(key, len);
    for (table_entry_t *e = t->buckets[h & (t->n_buckets - 1)]; e; e = e->next)
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void grow(table_t *t)
{
    size_t n = t->n_buckets * 2;
    table_entry_t **b = xcalloc(n, sizeof(*b));
    for (size_t i = 0; i < t->n_buckets; i++) {
        for (table_entry_t *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

void table_insert(table_t *t, table_entry_t *e)
{
    if (t->count >= t->n_buckets)
        grow(t);
    e->hash = table_hash(e->key, e->key_len);
    table_entry_t **head = &t->buckets[e->hash & (t->n_buckets - 1)];
    e->next = *head;
    *head = e;
    t->count++;
}

void table_remove(table_t *t, table_entry_t *e)
{
    table_entry_t **pp = &t->buckets[e->hash & (t->n_buckets - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    assert(*pp == e);
    *pp = e->next;
    e->next = NULL;
    t->count--;
}

void table_foreach(table_t *t, void (*fn)(table_entry_t *e, void *userdata), void *userdata)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        for (table_entry_t *e = t->buckets[i], *next; e; e = next) {
            next = e->next;
            fn(e, userdata);
        }
    }
}
