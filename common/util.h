/* Small helpers used everywhere: allocation that aborts on exhaustion, time, strings. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>

#define OVOP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define OVOP_UNUSED(x)     (void)(x)
#define OVOP_PRINTF(f, a)  __attribute__((format(printf, f, a)))

/* Allocation. Out of memory is not recoverable here: print and abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) OVOP_PRINTF(1, 2);

/* Frees *p and sets it to NULL; accepts NULL. */
#define xfree(p)                                                                                   \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

/* Wall clock and monotonic clock, microseconds. */
int64_t ovop_now_us(void);
int64_t ovop_mono_us(void);

/* Fills buf (>= 37 bytes) with a random RFC 4122 version 4 UUID string. */
void ovop_uuid4(char buf[static 37]);

/* True when s[0..n) is well-formed UTF-8 without NUL bytes. */
bool ovop_utf8_valid(const char *s, size_t n);

/* Replaces, in place, every byte of s that is not part of well-formed UTF-8 (and every
 * control character but tab) with '?', so that text built from peer input can go into a
 * protobuf string or a log line. */
void ovop_utf8_sanitize(char *s);

/* The length in bytes of the control character that starts the UTF-8 text s: 1 for C0
 * controls (U+0001..U+001F) and DEL, 2 for C1 controls (U+0080..U+009F), 0 for anything
 * else. */
size_t ovop_control_len(const char *s);

/* True when s is exactly n ASCII digits. */
bool ovop_all_digits(const char *s, size_t n);

/* A growable byte buffer (always NUL-terminated for convenience). */
typedef struct ovop_buf {
    char *data;
    size_t len;
    size_t cap;
} ovop_buf_t;

void ovop_buf_init(ovop_buf_t *b);
void ovop_buf_free(ovop_buf_t *b);
void ovop_buf_reset(ovop_buf_t *b);
void ovop_buf_append(ovop_buf_t *b, const void *p, size_t n);
void ovop_buf_puts(ovop_buf_t *b, const char *s);
void ovop_buf_printf(ovop_buf_t *b, const char *fmt, ...) OVOP_PRINTF(2, 3);

/* True when s is a real calendar date written YYYY-MM-DD (years 1900..9999). */
bool ovop_date_valid(const char *s);

/* base64 (RFC 4648 §4) with padding, malloc'd and NUL-terminated. */
char *ovop_base64_encode(const void *p, size_t n);
/* base64url (RFC 4648 §5) without padding, malloc'd and NUL-terminated. */
char *ovop_base64url_encode(const void *p, size_t n);
/* Decodes s (no padding, no other characters) into a malloc'd buffer with a NUL after it;
 * NULL when s is not base64url. */
char *ovop_base64url_decode(const char *s, size_t *ret_len);

/* 64-bit FNV-1a of n bytes, continuing from h (start with OVOP_FNV_INIT). */
#define OVOP_FNV_INIT 0xcbf29ce484222325ULL
uint64_t ovop_fnv1a(uint64_t h, const void *p, size_t n);
