/* A region of memory for one call: allocations are bump-pointer carves out of chunks, freed
 * all at once when the arena is reset or destroyed (as PostgreSQL's memory contexts after each
 * protocol message). Everything a handler builds for its reply lives here, so handlers do not
 * free field by field. Out of memory aborts, as xmalloc does. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct ovop_arena ovop_arena_t;

ovop_arena_t *ovop_arena_new(void);
/* Frees every allocation and the arena; accepts NULL and nulls the pointer. */
void ovop_arena_destroy(ovop_arena_t **a);

/* n bytes, zeroed, aligned for any type. */
void *ovop_arena_alloc(ovop_arena_t *a, size_t n);
char *ovop_arena_strdup(ovop_arena_t *a, const char *s);
char *ovop_arena_strndup(ovop_arena_t *a, const char *s, size_t n);
void *ovop_arena_memdup(ovop_arena_t *a, const void *p, size_t n);
char *ovop_arena_printf(ovop_arena_t *a, const char *fmt, ...) OVOP_PRINTF(2, 3);
char *ovop_arena_vprintf(ovop_arena_t *a, const char *fmt, va_list ap) OVOP_PRINTF(2, 0);
/* Bytes handed out so far (for limits and metrics). */
size_t ovop_arena_used(const ovop_arena_t *a);

/* A protobuf-c allocator over the arena (its free does nothing), for unpacking messages whose
 * life is the call's. */
ProtobufCAllocator *ovop_arena_allocator(ovop_arena_t *a);

/* A memory budget for decoding: while set, an allocation through ovop_arena_allocator() that
 * would take ovop_arena_used() over limit fails (protobuf-c then fails the unpack cleanly)
 * and is remembered. 0 lifts it. The arena's own functions ignore it: handlers build replies
 * of their own making. */
void ovop_arena_set_limit(ovop_arena_t *a, size_t limit);
/* True when the limit refused an allocation since it was last set. */
bool ovop_arena_limit_hit(const ovop_arena_t *a);
