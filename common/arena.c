#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Chunks start at 4 KiB and grow with the arena up to 1 MiB, so a call that builds much
 * takes few chunks; chunks of 128 KiB and more are mapped, never taken from malloc's heap, so
 * that their memory goes back to the system when the call ends instead of staying resident
 * behind long-lived allocations. */
#define ARENA_CHUNK     4096u
#define ARENA_CHUNK_MAX (1024u * 1024u)
#define ARENA_MMAP_MIN  (128u * 1024u)

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    bool mapped; /* by mmap, not malloc */
    alignas(max_align_t) unsigned char data[];
} chunk_t;

struct ovop_arena {
    chunk_t *head; /* the chunk being carved; full ones follow */
    size_t used;
    size_t limit; /* of used, for the protobuf-c allocator; 0: none */
    bool limit_hit;
    ProtobufCAllocator allocator;
};

static void *pb_alloc(void *data, size_t size)
{
    ovop_arena_t *a = data;
    if (a->limit && (size > a->limit || a->used > a->limit - size)) {
        a->limit_hit = true;
        return NULL; /* protobuf-c then fails the unpack and returns NULL */
    }
    return ovop_arena_alloc(a, size);
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
        if (c->mapped)
            munmap(c, sizeof(*c) + c->size);
        else
            free(c);
    }
    free(a);
    *ap = NULL;
}

static chunk_t *chunk_new(size_t size)
{
    chunk_t *c = NULL;
    if (sizeof(*c) + size >= ARENA_MMAP_MIN) {
        void *p = mmap(NULL, sizeof(*c) + size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) {
            fprintf(stderr, "out of memory mapping %zu bytes, aborting\n", size);
            abort();
        }
        c = p;
        c->mapped = true;
    } else {
        c = xmalloc(sizeof(*c) + size);
        c->mapped = false;
    }
    c->size = size;
    c->used = 0;
    return c;
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
        size_t grow = a->used < ARENA_CHUNK       ? ARENA_CHUNK
                      : a->used > ARENA_CHUNK_MAX ? ARENA_CHUNK_MAX
                                                  : a->used;
        bool own = need > grow / 4;
        chunk_t *nc = chunk_new(own ? need : grow);
        if (c && own) {
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

void ovop_arena_set_limit(ovop_arena_t *a, size_t limit)
{
    a->limit = limit;
    a->limit_hit = false;
}

bool ovop_arena_limit_hit(const ovop_arena_t *a)
{
    return a->limit_hit;
}
