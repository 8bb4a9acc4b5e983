/* An intrusive chained hash table keyed by byte strings, for the broker's services (by name)
 * and workers (by ZeroMQ identity). Entries embed a table_entry_t and own their key; the
 * table never allocates per entry, only its bucket array, which doubles as it fills. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct table_entry {
    struct table_entry *next;
    const void *key; /* borrowed from the entry */
    size_t key_len;
    uint32_t hash;
} table_entry_t;

typedef struct table {
    table_entry_t **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
} table_t;

void table_init(table_t *t);
/* Frees the bucket array only: the entries belong to the caller. */
void table_free(table_t *t);

uint32_t table_hash(const void *key, size_t len);

/* The entry with this key, or NULL. */
table_entry_t *table_find(const table_t *t, const void *key, size_t len);

/* Adds e, whose key, key_len must be set and not present yet. */
void table_insert(table_t *t, table_entry_t *e);

/* Removes e, which must be in the table. */
void table_remove(table_t *t, table_entry_t *e);

/* Calls fn for each entry; fn may remove the entry it is given (and no other). */
void table_foreach(table_t *t, void (*fn)(table_entry_t *e, void *userdata), void *userdata);
