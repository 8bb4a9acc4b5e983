#include "lookup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_KEY 64

typedef struct waiter {
    char key[MAX_KEY];
    int64_t deadline_us; /* 0: none */
    ovop_lookup_cb cb;
    void *userdata;
} waiter_t;

typedef struct batch {
    waiter_t *w;
    unsigned n;
} batch_t;

struct ovop_lookup {
    uv_check_t check;
    ovop_pg_t *pg;
    char *sql;
    batch_t pending;
    bool closing;
};

static void flush(ovop_lookup_t *l);

static void on_result(PGresult *res, const char *error, void *userdata)
{
    batch_t *b = userdata;
    int rows = error ? 0 : PQntuples(res);
    for (unsigned i = 0; i < b->n; i++) {
        int found = -1;
        for (int r = 0; r < rows; r++) {
            if (strcmp(PQgetvalue(res, r, 0), b->w[i].key) == 0) {
                found = r;
                break;
            }
        }
        b->w[i].cb(res, found, error, b->w[i].userdata);
    }
    free(b->w);
    free(b);
}

/* Sends what is pending, OVOP_LOOKUP_KEYS keys per statement. */
static void flush(ovop_lookup_t *l)
{
    batch_t all = l->pending;
    l->pending = (batch_t){0};
    for (unsigned first = 0; first < all.n; first += OVOP_LOOKUP_KEYS) {
        unsigned n = all.n - first < OVOP_LOOKUP_KEYS ? all.n - first : OVOP_LOOKUP_KEYS;
        batch_t *b = xmalloc(sizeof(*b));
        b->n = n;
        b->w = xmemdup(all.w + first, n * sizeof(waiter_t));
        const char *params[OVOP_LOOKUP_KEYS];
        for (unsigned i = 0; i < OVOP_LOOKUP_KEYS; i++)
            params[i] = b->w[i < n ? i : 0].key;
        /* The statement serves every waiter: it is given up only when all their deadlines
         * have passed (the latest of them; none when one waiter has none). */
        int64_t deadline = 0;
        for (unsigned i = 0; i < n; i++) {
            if (!b->w[i].deadline_us) {
                deadline = 0;
                break;
            }
            if (b->w[i].deadline_us > deadline)
                deadline = b->w[i].deadline_us;
        }
        ovop_pg_query_until(l->pg, deadline, l->sql, OVOP_LOOKUP_KEYS, params, on_result, b);
    }
    free(all.w);
}

static void on_check(uv_check_t *h)
{
    flush(h->data);
}

int ovop_lookup_new(ovop_lookup_t **ret, uv_loop_t *loop, ovop_pg_t *pg, const char *sql)
{
    ovop_lookup_t *l = xcalloc(1, sizeof(*l));
    l->pg = pg;
    l->sql = xstrdup(sql);
    uv_check_init(loop, &l->check);
    l->check.data = l;
    uv_check_start(&l->check, on_check);
    /* The check handle alone must not keep the loop alive. */
    uv_unref((uv_handle_t *)&l->check);
    *ret = l;
    return 0;
}

static bool key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n >= MAX_KEY)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'z') ||
              (k[i] >= 'A' && k[i] <= 'Z') || k[i] == '-' || k[i] == '.'))
            return false;
    return true;
}

void ovop_lookup_get(ovop_lookup_t *l, const char *key, ovop_lookup_cb cb, void *userdata)
{
    ovop_lookup_get_until(l, key, 0, cb, userdata);
}

void ovop_lookup_get_until(ovop_lookup_t *l, const char *key, int64_t deadline_us,
                           ovop_lookup_cb cb, void *userdata)
{
    if (l->closing || !key_ok(key)) {
        cb(NULL, -1, l->closing ? "shutting down" : "invalid lookup key", userdata);
        return;
    }
    batch_t *p = &l->pending;
    if (p->n % 16 == 0)
        p->w = xrealloc(p->w, (p->n + 16) * sizeof(waiter_t));
    waiter_t *w = &p->w[p->n++];
    memcpy(w->key, key, strlen(key) + 1);
    w->deadline_us = deadline_us;
    w->cb = cb;
    w->userdata = userdata;
    if (p->n >= 8 * OVOP_LOOKUP_KEYS)
        flush(l);
}

static void on_closed(uv_handle_t *h)
{
    ovop_lookup_t *l = h->data;
    free(l->sql);
    free(l);
}

void ovop_lookup_destroy(ovop_lookup_t **lp)
{
    ovop_lookup_t *l = *lp;
    if (!l)
        return;
    *lp = NULL;
    l->closing = true;
    batch_t b = l->pending;
    l->pending = (batch_t){0};
    for (unsigned i = 0; i < b.n; i++)
        b.w[i].cb(NULL, -1, "shutting down", b.w[i].userdata);
    free(b.w);
    uv_close((uv_handle_t *)&l->check, on_closed);
}
