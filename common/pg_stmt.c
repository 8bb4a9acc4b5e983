#include "pg_stmt.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* Twice the capacity, a power of two: probes stay short. */
#define SLOTS (2 * OVOP_PG_STMT_MAX)

/* FNV-1a, 64 bits. */
uint64_t pg_stmt_hash(const char *sql, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)sql[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void stmt_name(pg_stmt_cache_t *c, pg_stmt_t *s)
{
    snprintf(s->name, sizeof(s->name), "ovop_%u", c->next_id++);
}

/* Finds sql or adds it; see pg_stmt.h. */
pg_stmt_t *pg_stmt_get(pg_stmt_cache_t *c, const char *sql, uint64_t hash)
{
    if (!c->slots)
        c->slots = xcalloc(SLOTS, sizeof(*c->slots));
    for (size_t i = hash & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        pg_stmt_t *s = &c->slots[i];
        if (!s->sql) {
            if (c->n >= OVOP_PG_STMT_MAX)
                return NULL;
            c->n++;
            s->sql = xstrdup(sql);
            s->hash = hash;
            s->prepared = false;
            stmt_name(c, s);
            return s;
        }
        if (s->hash == hash && strcmp(s->sql, sql) == 0)
            return s;
    }
}

void pg_stmt_renew(pg_stmt_cache_t *c, pg_stmt_t *s)
{
    s->prepared = false;
    stmt_name(c, s);
}

void pg_stmt_clear(pg_stmt_cache_t *c)
{
    for (size_t i = 0; c->slots && i < SLOTS; i++)
        xfree(c->slots[i].sql);
    c->n = 0;
    c->next_id = 0;
}

void pg_stmt_free(pg_stmt_cache_t *c)
{
    pg_stmt_clear(c);
    xfree(c->slots);
}
