#include "read.h"

#include <assert.h>

#include "dbcall.h"
#include "log.h"
#include "pbrow.h"

typedef struct read_ctx {
    ovop_call_t *call;
    const ovop_read_t *r;
    const char *key;
    unsigned page_size;
    ovop_read_then_fn then; /* ovop_read_then */
    void *userdata;
} read_ctx_t;

static read_ctx_t *ctx_new(ovop_call_t *call, const ovop_read_t *r, const char *key,
                           unsigned page_size)
{
    read_ctx_t *x = ovop_call_alloc(call, sizeof(*x)); /* freed with the call */
    x->call = call;
    x->r = r;
    x->key = key ? ovop_call_strdup(call, key) : "";
    x->page_size = page_size;
    return x;
}

ProtobufCMessage *ovop_read_row(ovop_call_t *call, const ovop_read_t *r, PGresult *res, int i)
{
    const char *why = "";
    ovop_rowmap_t *map = ovop_rowmap_new(ovop_call_arena(call), r->row, res);
    ProtobufCMessage *m = ovop_rowmap_decode(map, res, i, &why);
    if (!m) {
        log_error_rid(ovop_call_request_id(call), "%s: column %s of a %s row does not convert",
                      ovop_call_method(call), why, r->row->name);
        ovop_call_fail_internal(call);
    }
    return m;
}

static void answer_row(read_ctx_t *x, PGresult *res, int row)
{
    if (row < 0) {
        ovop_call_fail(x->call, OVOP_NOT_FOUND, "no %s %s", x->r->noun, x->key);
        return;
    }
    ProtobufCMessage *m = ovop_read_row(x->call, x->r, res, row);
    if (m)
        ovop_call_finish(x->call, m);
}

static void on_one(PGresult *res, const char *error, void *userdata)
{
    read_ctx_t *x = userdata;
    if (error)
        ovop_call_fail_db(x->call, res, error);
    else
        answer_row(x, res, PQntuples(res) > 0 ? 0 : -1);
}

void ovop_read_one(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *key,
                   int nparams, const char *const *params)
{
    ovop_call_query(call, pg, r->sql, nparams, params, on_one, ctx_new(call, r, key, 0));
}

static void on_lookup(PGresult *res, int row, const char *error, void *userdata)
{
    read_ctx_t *x = userdata;
    if (error)
        ovop_call_fail_db(x->call, res, error);
    else
        answer_row(x, res, row);
}

void ovop_read_lookup(ovop_call_t *call, ovop_lookup_t *l, const ovop_read_t *r, const char *key)
{
    ovop_lookup_get_until(l, key, ovop_call_deadline(call), on_lookup, ctx_new(call, r, key, 0));
}

static void on_page(PGresult *res, const char *error, void *userdata)
{
    read_ctx_t *x = userdata;
    if (error)
        ovop_call_fail_db(x->call, res, error);
    else
        ovop_page_finish(x->call, res, x->page_size, &x->r->page);
}

void ovop_read_page(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *sql,
                    int nparams, const char *const *params, unsigned page_size)
{
    ovop_call_query(call, pg, sql ? sql : r->sql, nparams, params, on_page,
                    ctx_new(call, r, NULL, page_size));
}

static void on_all(PGresult *res, const char *error, void *userdata)
{
    read_ctx_t *x = userdata;
    if (error) {
        ovop_call_fail_db(x->call, res, error);
        return;
    }
    ProtobufCMessage *out = ovop_page_response(x->call, &x->r->page, res, (size_t)PQntuples(res));
    if (out)
        ovop_call_finish(x->call, out);
}

void ovop_read_all(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *sql,
                   int nparams, const char *const *params)
{
    ovop_call_query(call, pg, sql ? sql : r->sql, nparams, params, on_all,
                    ctx_new(call, r, NULL, 0));
}

static void on_then(PGresult *res, const char *error, void *userdata)
{
    read_ctx_t *x = userdata;
    ProtobufCMessage *row = NULL;
    if (error) {
        ovop_call_fail_db(x->call, res, error);
    } else if (PQntuples(res) == 0 && x->r->noun) {
        answer_row(x, res, -1);
    } else if (PQntuples(res) == 0 || (row = ovop_read_row(x->call, x->r, res, 0))) {
        x->then(x->call, row, res, x->userdata);
    }
}

void ovop_read_then(ovop_call_t *call, ovop_pg_t *pg, const ovop_read_t *r, const char *key,
                    int nparams, const char *const *params, ovop_read_then_fn then, void *userdata)
{
    read_ctx_t *x = ctx_new(call, r, key, 0);
    x->then = then;
    x->userdata = userdata;
    ovop_call_query(call, pg, r->sql, nparams, params, on_then, x);
}

void ovop_filter_init(ovop_filter_t *f, const char *head)
{
    ovop_buf_init(&f->sql);
    ovop_buf_puts(&f->sql, head);
    f->n = 0;
}

int ovop_filter_param(ovop_filter_t *f, const char *value)
{
    assert(f->n < OVOP_FILTER_PARAMS);
    f->params[f->n++] = value;
    return f->n;
}

void ovop_filter_add(ovop_filter_t *f, const char *before, const char *after, const char *value)
{
    int n = ovop_filter_param(f, value);
    ovop_buf_printf(&f->sql, "%s$%d%s", before, n, after);
}

const char *ovop_filter_sql(ovop_call_t *call, ovop_filter_t *f)
{
    const char *text = ovop_call_strdup(call, f->sql.data);
    ovop_buf_free(&f->sql);
    return text;
}
