#include "lookup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_KEY 64

typedef struct waiter {
    char key[MAX_KEY];
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
    unsigned max_batch;
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

static void flush(ovop_lookup_t *l)
{
    if (l->pending.n == 0)
        return;
    batch_t *b = xmalloc(sizeof(*b));
    *b = l->pending;
    l->pending = (batch_t){0};
    ovop_buf_t arr;
    ovop_buf_init(&arr);
    ovop_buf_puts(&arr, "{");
    for (unsigned i = 0; i < b->n; i++) {
        if (i)
            ovop_buf_puts(&arr, ",");
        ovop_buf_puts(&arr, b->w[i].key);
    }
    ovop_buf_puts(&arr, "}");
    const char *params[] = {arr.data};
    ovop_pg_query(l->pg, l->sql, 1, params, on_result, b);
    ovop_buf_free(&arr);
}

static void on_check(uv_check_t *h)
{
    flush(h->data);
}

int ovop_lookup_new(ovop_lookup_t **ret, uv_loop_t *loop, ovop_pg_t *pg, const char *sql,
                    unsigned max_batch)
{
    ovop_lookup_t *l = xcalloc(1, sizeof(*l));
    l->pg = pg;
    l->sql = xstrdup(sql);
    l->max_batch = max_batch ? max_batch : 64;
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
    if (l->closing || !key_ok(key)) {
        cb(NULL, -1, l->closing ? "shutting down" : "invalid lookup key", userdata);
        return;
    }
    batch_t *p = &l->pending;
    if (p->n % 16 == 0)
        p->w = xrealloc(p->w, (p->n + 16) * sizeof(waiter_t));
    waiter_t *w = &p->w[p->n++];
    memcpy(w->key, key, strlen(key) + 1);
    w->cb = cb;
    w->userdata = userdata;
    if (p->n >= l->max_batch)
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
