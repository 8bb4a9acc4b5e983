#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ARENA_CHUNK 4096u

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    alignas(max_align_t) unsigned char data[];
} chunk_t;

struct ovop_arena {
    chunk_t *head; /* the chunk being carved; full ones follow */
    size_t used;
    ProtobufCAllocator allocator;
};

static void *pb_alloc(void *data, size_t size)
{
    return ovop_arena_alloc(data, size);
}

static void pb_free(void *data, void *p)
{
    OVOP_UNUSED(data);
    OVOP_UNUSED(p);
}

ovop_arena_t *ovop_arena_new(void)
{
    ovop_arena_t *a = xcalloc(1, sizeof(*a));
    a->allocator = (ProtobufCAllocator){pb_alloc, pb_free, a};
    return a;
}

void ovop_arena_destroy(ovop_arena_t **ap)
{
    ovop_arena_t *a = ap ? *ap : NULL;
    if (!a)
        return;
    for (chunk_t *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
    *ap = NULL;
}

void *ovop_arena_alloc(ovop_arena_t *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    size_t need = (n + align - 1) & ~(align - 1);
    if (need < n) {
        fprintf(stderr, "arena allocation of %zu bytes overflows, aborting\n", n);
        abort();
    }
    chunk_t *c = a->head;
    if (!c || c->size - c->used < need) {
        /* Large requests get a chunk of their own, behind the current one, so that the rest
         * of the current chunk stays in use. */
        size_t size = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        chunk_t *nc = xmalloc(sizeof(*nc) + size);
        nc->size = size;
        nc->used = 0;
        if (c && size != ARENA_CHUNK) {
            nc->next = c->next;
            c->next = nc;
        } else {
            nc->next = c;
            a->head = nc;
        }
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

void *ovop_arena_memdup(ovop_arena_t *a, const void *p, size_t n)
{
    void *q = ovop_arena_alloc(a, n ? n : 1);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *ovop_arena_strndup(ovop_arena_t *a, const char *s, size_t n)
{
    char *q = ovop_arena_alloc(a, n + 1);
    memcpy(q, s, n);
    return q;
}

char *ovop_arena_strdup(ovop_arena_t *a, const char *s)
{
    return ovop_arena_strndup(a, s, strlen(s));
}

char *ovop_arena_vprintf(ovop_arena_t *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return ovop_arena_strdup(a, "");
    char *s = ovop_arena_alloc(a, (size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *ovop_arena_printf(ovop_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ovop_arena_vprintf(a, fmt, ap);
    va_end(ap);
    return s;
}

size_t ovop_arena_used(const ovop_arena_t *a)
{
    return a->used;
}

ProtobufCAllocator *ovop_arena_allocator(ovop_arena_t *a)
{
    return &a->allocator;
}
