/* See session.h. A plain array: the table is small (operators, not the public), and a scan
 * of a few thousand entries costs microseconds. */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

typedef struct entry {
    web_session_state_t state;
    char id[WEB_SESSION_ID_LEN + 1];
    char code[WEB_SIGNIN_CODE_LEN + 1];
    char principal[128];
    int64_t created_us, seen_us, expires_us;
} entry_t;

struct web_sessions {
    entry_t *e;
    size_t cap;
    int64_t code_ttl_us, idle_us, absolute_us;
};

static void random_bytes(uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            abort(); /* cannot fail on Linux >= 3.17 once the pool is seeded */
        if (r > 0)
            got += (size_t)r;
    }
}

web_sessions_t *web_sessions_new(size_t capacity, int64_t code_ttl_us, int64_t idle_us,
                                 int64_t absolute_us)
{
    web_sessions_t *s = xcalloc(1, sizeof(*s));
    s->cap = capacity ? capacity : 1;
    s->e = xcalloc(s->cap, sizeof(*s->e));
    s->code_ttl_us = code_ttl_us;
    s->idle_us = idle_us;
    s->absolute_us = absolute_us;
    return s;
}

void web_sessions_destroy(web_sessions_t **sp)
{
    web_sessions_t *s = *sp;
    if (!s)
        return;
    *sp = NULL;
    explicit_bzero(s->e, s->cap * sizeof(*s->e));
    free(s->e);
    free(s);
}

static bool alive(const web_sessions_t *s, const entry_t *e, int64_t now_us)
{
    if (e->state == WEB_SESSION_PENDING)
        return now_us < e->expires_us;
    if (e->state == WEB_SESSION_ACTIVE)
        return now_us < e->expires_us && now_us - e->seen_us < s->idle_us;
    return false;
}

/* A free slot: an empty or dead one, else the least recently seen pending one, else the
 * least recently seen session. */
static entry_t *slot(web_sessions_t *s, int64_t now_us)
{
    entry_t *pending = NULL, *active = NULL;
    for (size_t i = 0; i < s->cap; i++) {
        entry_t *e = &s->e[i];
        if (!alive(s, e, now_us))
            return e;
        entry_t **best = e->state == WEB_SESSION_PENDING ? &pending : &active;
        if (!*best || e->seen_us < (*best)->seen_us)
            *best = e;
    }
    return pending ? pending : active;
}

static entry_t *find_code(web_sessions_t *s, const char *code)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->e[i].state == WEB_SESSION_PENDING && strcmp(s->e[i].code, code) == 0)
            return &s->e[i];
    return NULL;
}

void web_signin_start(web_sessions_t *s, int64_t now_us, char id[static WEB_SESSION_ID_LEN + 1],
                      char code[static WEB_SIGNIN_CODE_LEN + 1])
{
    entry_t *e = slot(s, now_us);
    memset(e, 0, sizeof(*e));
    uint8_t b[32];
    random_bytes(b, sizeof(b));
    for (size_t i = 0; i < sizeof(b); i++)
        snprintf(e->id + 2 * i, 3, "%02x", b[i]);
    /* A code in use by another pending sign-in is drawn again: a code names one browser. */
    e->state = WEB_SESSION_PENDING;
    do {
        uint8_t c[8];
        random_bytes(c, sizeof(c));
        for (int i = 0, j = 0; i < 8; i++) {
            if (i == 4)
                e->code[j++] = '-';
            e->code[j++] = alphabet[c[i] & 31];
        }
        e->code[WEB_SIGNIN_CODE_LEN] = '\0';
    } while (find_code(s, e->code) != e);
    e->created_us = e->seen_us = now_us;
    e->expires_us = now_us + s->code_ttl_us;
    memcpy(id, e->id, WEB_SESSION_ID_LEN + 1);
    memcpy(code, e->code, WEB_SIGNIN_CODE_LEN + 1);
}

bool web_signin_code_parse(const char *typed, char out[static WEB_SIGNIN_CODE_LEN + 1])
{
    char d[8];
    int n = 0;
    for (const char *p = typed; *p; p++) {
        char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        if (c == '-' || c == ' ')
            continue;
        c = c == 'O' ? '0' : c == 'I' || c == 'L' ? '1' : c;
        if (n == 8 || !strchr(alphabet, c))
            return false;
        d[n++] = c;
    }
    if (n != 8)
        return false;
    snprintf(out, WEB_SIGNIN_CODE_LEN + 1, "%.4s-%.4s", d, d + 4);
    return true;
}

int web_signin_approve(web_sessions_t *s, const char *code, const char *principal, int64_t now_us,
                       int64_t *ret_lifetime_us)
{
    entry_t *e = find_code(s, code);
    if (!e || !alive(s, e, now_us))
        return -ENOENT;
    e->state = WEB_SESSION_ACTIVE;
    memset(e->code, 0, sizeof(e->code)); /* single use */
    snprintf(e->principal, sizeof(e->principal), "%s", principal);
    e->seen_us = now_us;
    e->expires_us = now_us + s->absolute_us;
    *ret_lifetime_us = s->absolute_us;
    return 0;
}

static entry_t *find_id(web_sessions_t *s, const char *id)
{
    if (!id || strlen(id) != WEB_SESSION_ID_LEN)
        return NULL;
    for (size_t i = 0; i < s->cap; i++)
        if (s->e[i].state != WEB_SESSION_NONE && strcmp(s->e[i].id, id) == 0)
            return &s->e[i];
    return NULL;
}

web_session_info_t web_session_get(web_sessions_t *s, const char *id, int64_t now_us)
{
    web_session_info_t info = {.state = WEB_SESSION_NONE};
    entry_t *e = find_id(s, id);
    if (!e)
        return info;
    if (!alive(s, e, now_us)) {
        memset(e, 0, sizeof(*e));
        return info;
    }
    info.state = e->state;
    info.expires_us = e->expires_us;
    memcpy(info.code, e->code, sizeof(info.code));
    memcpy(info.principal, e->principal, sizeof(info.principal));
    if (e->state == WEB_SESSION_ACTIVE)
        e->seen_us = now_us;
    return info;
}

void web_session_end(web_sessions_t *s, const char *id)
{
    entry_t *e = find_id(s, id);
    if (e)
        memset(e, 0, sizeof(*e));
}

size_t web_sessions_count(const web_sessions_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++)
        n += s->e[i].state != WEB_SESSION_NONE;
    return n;
}
