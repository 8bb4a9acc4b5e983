/* The pool's per-connection cache of prepared statements: SQL text → server-side statement
 * name. A statement is prepared on a connection the first time that connection runs its SQL
 * and executed by name afterwards, which spares the server parsing and analysing it again.
 * Bounded: once full, other SQL runs unprepared. Internal to pg.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OVOP_PG_STMT_MAX 128

typedef struct pg_stmt {
    char *sql; /* owned; NULL for an empty slot */
    uint64_t hash;
    bool prepared; /* the server has it under name */
    char name[16];
} pg_stmt_t;

typedef struct pg_stmt_cache {
    pg_stmt_t *slots; /* open addressing, allocated on first use */
    unsigned n;
    unsigned next_id;
} pg_stmt_cache_t;

/* Hash of the SQL text, computed once per query. */
uint64_t pg_stmt_hash(const char *sql, size_t len);

/* The entry for sql (hash from pg_stmt_hash), added unprepared with a fresh name when new;
 * NULL when the cache is full and sql is not in it. The entry stays where it is until
 * pg_stmt_clear. */
pg_stmt_t *pg_stmt_get(pg_stmt_cache_t *c, const char *sql, uint64_t hash);

/* Gives s a fresh name and marks it unprepared: the server's copy under the old name went
 * stale (its result type changed) or away. */
void pg_stmt_renew(pg_stmt_cache_t *c, pg_stmt_t *s);

/* Forgets every entry, for a new session; keeps the slots for reuse. */
void pg_stmt_clear(pg_stmt_cache_t *c);

/* Frees everything; the cache may be used again afterwards. */
void pg_stmt_free(pg_stmt_cache_t *c);
