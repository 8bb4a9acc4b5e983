#include "dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "permissions.h"

#define MAX_VIOLATIONS 64
#define MAX_METADATA   16
/* Status codes 0..16 (gRPC's); a code out of range counts as UNKNOWN. */
#define N_CODES (OVOP_UNAUTHENTICATED + 1)

typedef struct method_entry {
    const ProtobufCMethodDescriptor *desc;
    const ovop_method_t *row; /* the declared row, NULL while undeclared */
    char **roles;             /* from the permission table; NULL: no row (nobody may call) */
    size_t n_roles;
    ovop_handler_fn fn;
    void *userdata;
    ovop_metric_t *by_code[N_CODES]; /* ovop_requests_total, made at a code's first reply */
    ovop_metric_t *errors;
    ovop_metric_t *latency;
} method_entry_t;

struct ovop_dispatch {
    const ProtobufCServiceDescriptor *desc;
    method_entry_t *methods; /* one per descriptor method, same order */
    char *service;
    ovop_metrics_t *metrics; /* NULL: none kept */
    size_t max_msg;
    unsigned inflight;
    int declare_error; /* the first failed declaration, for ovop_dispatch_verify */
    char *declare_why;
    ovop_metric_t *rejected_size;
    ovop_metric_t *rejected_decode;
    ovop_metric_t *rejected_method;
    ovop_metric_t *rejected_unauthenticated;
    ovop_metric_t *rejected_permission;
    ovop_metric_t *rejected_complex;
    ovop_metric_t *rejected_string;
    bool permitted; /* ovop_dispatch_permit ran */
    ovop_metric_t *inflight_gauge;
};

struct ovop_call {
    ovop_dispatch_t *d;
    method_entry_t *m;
    Ovop__V1__Request *req;
    Ovop__V1__Principal *principal; /* in the arena */
    const char *actor;              /* in the arena: principal id [" for " on_behalf_of] */
    ProtobufCMessage *input;
    ovop_dispatch_done_fn done;
    void *done_userdata;
    int64_t started;
    int64_t deadline;
    Ovop__V1__FieldViolation *viol;
    size_t n_viol;
    ovop_arena_t *arena;
    const char *reason; /* in the arena */
    Ovop__V1__Status__MetadataEntry meta[MAX_METADATA];
    size_t n_meta;
};

/* Counts a reply to a request for m in ovop_requests_total{service,method,status}. The series
 * are made lazily, so there are at most methods x codes of them. */
static void count_reply(ovop_dispatch_t *d, method_entry_t *m, int code)
{
    if (!d->metrics)
        return;
    if (code < 0 || code >= N_CODES)
        code = OVOP__V1__STATUS__CODE__UNKNOWN;
    if (!m->by_code[code]) {
        char *labels = xasprintf("service=\"%s\",method=\"%s\",status=\"%s\"", d->service,
                                 m->desc->name, ovop_code_to_string(code));
        m->by_code[code] = ovop_metrics_counter(
            d->metrics, "ovop_requests_total",
            "Requests answered, by method and status code (rejections before the handler "
            "included)",
            labels);
        free(labels);
    }
    ovop_metric_inc(m->by_code[code]);
}

/* The ovop_requests_rejected_total series of one reason. */
static ovop_metric_t *rejected_counter(ovop_metrics_t *metrics, const char *service,
                                       const char *reason)
{
    char *labels = xasprintf("service=\"%s\",reason=\"%s\"", service, reason);
    ovop_metric_t *m = ovop_metrics_counter(metrics, "ovop_requests_rejected_total",
                                            "Requests rejected before reaching a handler", labels);
    free(labels);
    return m;
}

ovop_dispatch_t *ovop_dispatch_new(const ProtobufCServiceDescriptor *desc, const char *service,
                                   size_t max_msg, ovop_metrics_t *metrics)
{
    ovop_dispatch_t *d = xcalloc(1, sizeof(*d));
    d->desc = desc;
    d->service = xstrdup(service);
    d->metrics = metrics;
    d->max_msg = max_msg;
    d->methods = xcalloc(desc->n_methods, sizeof(method_entry_t));
    for (unsigned i = 0; i < desc->n_methods; i++) {
        method_entry_t *m = &d->methods[i];
        m->desc = &desc->methods[i];
        if (!metrics)
            continue;
        char *labels = xasprintf("service=\"%s\",method=\"%s\"", service, m->desc->name);
        m->errors = ovop_metrics_counter(metrics, "ovop_request_errors_total",
                                         "Requests answered with a status other than OK", labels);
        m->latency = ovop_metrics_histogram(metrics, "ovop_request_duration_seconds",
                                            "Time from decoding to reply", labels,
                                            ovop_latency_buckets, ovop_latency_buckets_n);
        free(labels);
    }
    if (metrics) {
        d->rejected_size = rejected_counter(metrics, service, "size");
        d->rejected_decode = rejected_counter(metrics, service, "decode");
        d->rejected_method = rejected_counter(metrics, service, "method");
        d->rejected_unauthenticated = rejected_counter(metrics, service, "unauthenticated");
        d->rejected_permission = rejected_counter(metrics, service, "permission");
        d->rejected_complex = rejected_counter(metrics, service, "complexity");
        d->rejected_string = rejected_counter(metrics, service, "string");
        char *labels = xasprintf("service=\"%s\"", service);
        d->inflight_gauge = ovop_metrics_gauge(metrics, "ovop_requests_inflight",
                                               "Requests being handled now", labels);
        free(labels);
    }
    return d;
}

void ovop_dispatch_destroy(ovop_dispatch_t **dp)
{
    ovop_dispatch_t *d = *dp;
    if (!d)
        return;
    for (unsigned i = 0; i < d->desc->n_methods; i++) {
        for (size_t j = 0; j < d->methods[i].n_roles; j++)
            free(d->methods[i].roles[j]);
        free(d->methods[i].roles);
    }
    free(d->methods);
    free(d->declare_why);
    free(d->service);
    free(d);
    *dp = NULL;
}

static method_entry_t *find_method(const ovop_dispatch_t *d, const char *name)
{
    for (unsigned i = 0; i < d->desc->n_methods; i++)
        if (strcmp(d->desc->methods[i].name, name) == 0)
            return &d->methods[i];
    return NULL;
}

static int declare_failed(ovop_dispatch_t *d, int error, char *why)
{
    if (!d->declare_error) {
        d->declare_error = error;
        d->declare_why = why;
    } else {
        free(why);
    }
    return error;
}

int ovop_dispatch_declare(ovop_dispatch_t *d, const ovop_method_t *table, size_t n, void *userdata)
{
    for (size_t i = 0; i < n; i++) {
        method_entry_t *m = find_method(d, table[i].name);
        if (!m)
            return declare_failed(d, -ENOENT,
                                  xasprintf("a handler is declared for %s, which %s does not have",
                                            table[i].name, d->desc->name));
        if (m->row)
            return declare_failed(
                d, -EEXIST, xasprintf("%s.%s is declared twice", d->desc->name, table[i].name));
        m->row = &table[i];
        m->fn = table[i].fn;
        m->userdata = userdata;
    }
    return 0;
}

void ovop_dispatch_permit(ovop_dispatch_t *d, const char *table)
{
    ovop_permission_row_t *rows = NULL;
    size_t n = 0;
    char *why = NULL;
    d->permitted = true;
    if (ovop_permissions_parse(table, &rows, &n, &why) < 0) {
        declare_failed(d, -EINVAL, xasprintf("the permission table does not parse: %s", why));
        free(why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].service, d->service) != 0)
            continue;
        method_entry_t *m = find_method(d, rows[i].method);
        if (!m) {
            declare_failed(d, -ENOENT,
                           xasprintf("the permission table (line %d) names %s, which %s does "
                                     "not have",
                                     rows[i].line, rows[i].method, d->desc->name));
            continue;
        }
        m->roles = rows[i].roles;
        m->n_roles = rows[i].n_roles;
        rows[i].roles = NULL;
        rows[i].n_roles = 0;
    }
    ovop_permissions_free(rows, n);
}

int ovop_dispatch_verify(const ovop_dispatch_t *d, const char **ret_why)
{
    if (d->declare_error) {
        *ret_why = d->declare_why;
        return d->declare_error;
    }
    for (unsigned i = 0; i < d->desc->n_methods; i++) {
        if (!d->methods[i].fn) {
            ovop_dispatch_t *md = (ovop_dispatch_t *)d; /* remembers the message */
            declare_failed(
                md, -ENOENT,
                xasprintf("%s.%s has no handler", d->desc->name, d->desc->methods[i].name));
            *ret_why = d->declare_why;
            return d->declare_error;
        }
    }
    for (unsigned i = 0; i < d->desc->n_methods && d->permitted; i++) {
        if (!d->methods[i].roles) {
            ovop_dispatch_t *md = (ovop_dispatch_t *)d;
            declare_failed(md, -EACCES,
                           xasprintf("%s.%s has no row in the permission table "
                                     "(services/permissions.tsv): nobody could call it",
                                     d->desc->name, d->desc->methods[i].name));
            *ret_why = d->declare_why;
            return d->declare_error;
        }
    }
    if (!d->permitted) {
        ovop_dispatch_t *md = (ovop_dispatch_t *)d;
        declare_failed(md, -EACCES, xasprintf("%s has no permission table", d->desc->name));
        *ret_why = d->declare_why;
        return d->declare_error;
    }
    return 0;
}

const ovop_method_t *ovop_dispatch_method(const ovop_dispatch_t *d, const char *name)
{
    method_entry_t *m = find_method(d, name);
    return m ? m->row : NULL;
}

unsigned ovop_dispatch_inflight(const ovop_dispatch_t *d)
{
    return d->inflight;
}

/* Answers without a call object: the request never reached a handler. */
static void answer_early(const ovop_dispatch_t *d, const char *rid, ovop_code_t code,
                         const char *msg, ovop_dispatch_done_fn done, void *ud)
{
    size_t len;
    void *rep = ovop_reply_error(rid, d->service, code, ovop_code_reason(code), msg, &len);
    done(ud, rep, len);
}

/* True when p holds one of m's roles (or m allows everyone). */
static bool allowed(const method_entry_t *m, const Ovop__V1__Principal *p)
{
    for (size_t i = 0; i < m->n_roles; i++) {
        if (strcmp(m->roles[i], OVOP_PERMISSION_ANY) == 0)
            return true;
        for (size_t j = 0; j < p->n_roles; j++)
            if (strcmp(p->roles[j], m->roles[i]) == 0 || strcmp(p->roles[j], "*") == 0)
                return true;
    }
    return false;
}

/* Decodes the principal into arena and checks it may call m. Returns it, or NULL after
 * answering UNAUTHENTICATED or PERMISSION_DENIED. */
static Ovop__V1__Principal *authorize(ovop_dispatch_t *d, method_entry_t *m,
                                      const Ovop__V1__Request *req, const void *principal,
                                      size_t principal_len, ovop_arena_t *arena,
                                      ovop_dispatch_done_fn done, void *ud)
{
    Ovop__V1__Principal *p = principal ? ovop__v1__principal__unpack(ovop_arena_allocator(arena),
                                                                     principal_len, principal)
                                       : NULL;
    size_t len;
    void *rep = NULL;
    if (!p || !p->id[0]) {
        ovop_metric_inc(d->rejected_unauthenticated);
        rep = ovop_reply_error(req->request_id, d->service, OVOP_UNAUTHENTICATED, "UNAUTHENTICATED",
                               "no authenticated principal came with this request", &len);
    } else if (!allowed(m, p)) {
        ovop_metric_inc(d->rejected_permission);
        ovop_buf_t need;
        ovop_buf_init(&need);
        for (size_t i = 0; i < m->n_roles; i++)
            ovop_buf_printf(&need, "%s%s", i ? " or " : "", m->roles[i]);
        char *msg = xasprintf("%s.%s needs the role %s, which principal %.64s does not have",
                              d->service, m->desc->name, need.data ? need.data : "(none)", p->id);
        rep = ovop_reply_error(req->request_id, d->service, OVOP_PERMISSION_DENIED, "MISSING_ROLE",
                               msg, &len);
        free(msg);
        ovop_buf_free(&need);
    } else if (req->on_behalf_of[0] && strcmp(p->kind, "service") != 0) {
        ovop_metric_inc(d->rejected_permission);
        rep = ovop_reply_error(req->request_id, d->service, OVOP_PERMISSION_DENIED,
                               "ON_BEHALF_NOT_ALLOWED",
                               "only a service principal may act on behalf of someone", &len);
    } else {
        return p;
    }
    count_reply(d, m, ovop_reply_peek_code(rep, len));
    done(ud, rep, len);
    return NULL;
}

/* String fields the wire scan found wrong, as violations. */
typedef struct bad_strings {
    ovop_arena_t *arena;
    Ovop__V1__FieldViolation v[16];
    Ovop__V1__FieldViolation *ptrs[16];
    size_t n;
} bad_strings_t;

static void on_bad_string(void *userdata, const char *path, const char *why)
{
    bad_strings_t *b = userdata;
    if (b->n >= OVOP_ARRAY_SIZE(b->v))
        return;
    Ovop__V1__FieldViolation *v = &b->v[b->n];
    ovop__v1__field_violation__init(v);
    v->field = ovop_arena_strdup(b->arena, path);
    v->description = (char *)why;
    b->ptrs[b->n++] = v;
}

/* Answers INVALID_ARGUMENT with the string violations the scan found. */
static void answer_bad_strings(const ovop_dispatch_t *d, const char *rid, bad_strings_t *b,
                               ovop_dispatch_done_fn done, void *ud)
{
    ovop_buf_t msg;
    ovop_buf_init(&msg);
    for (size_t i = 0; i < b->n; i++)
        ovop_buf_printf(&msg, "%s%s: %s", i ? "; " : "", b->v[i].field, b->v[i].description);
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    st.code = OVOP_INVALID_ARGUMENT;
    st.message = msg.data;
    st.reason = (char *)ovop_code_reason(OVOP_INVALID_ARGUMENT);
    st.domain = d->service;
    st.n_violations = b->n;
    st.violations = b->ptrs;
    size_t len;
    void *rep = ovop_reply_encode(rid, &st, NULL, 0, &len);
    ovop_buf_free(&msg);
    done(ud, rep, len);
}

/* Decodes the method's input into arena under the wire limits and the memory budget, or
 * answers (INVALID_ARGUMENT: MESSAGE_TOO_COMPLEX, string violations, undecodable) and
 * returns NULL. Strings are checked on the wire because protobuf-c ends them at a NUL. */
static ProtobufCMessage *decode_input(ovop_dispatch_t *d, method_entry_t *m,
                                      const Ovop__V1__Request *req, ovop_arena_t *arena,
                                      ovop_dispatch_done_fn done, void *ud)
{
    const ProtobufCMessageDescriptor *desc = m->desc->input;
    bad_strings_t bad = {.arena = arena};
    const char *why = NULL;
    char msg[256];
    int r = ovop_wire_scan(desc, req->body.data, req->body.len, NULL, on_bad_string, &bad, &why);
    ProtobufCMessage *in = NULL;
    if (r == 0 && bad.n) {
        ovop_metric_inc(d->rejected_string);
        count_reply(d, m, OVOP_INVALID_ARGUMENT);
        answer_bad_strings(d, req->request_id, &bad, done, ud);
        return NULL;
    }
    if (r == 0) {
        size_t budget = OVOP_DECODE_BUDGET(req->body.len);
        ovop_arena_set_limit(arena, ovop_arena_used(arena) + budget);
        in = protobuf_c_message_unpack(desc, ovop_arena_allocator(arena), req->body.len,
                                       req->body.data);
        if (!in && ovop_arena_limit_hit(arena)) {
            r = -E2BIG;
            why = "decoding it would take more memory than its size allows";
        }
        ovop_arena_set_limit(arena, 0);
    }
    if (in)
        return in;
    if (r == -E2BIG) {
        ovop_metric_inc(d->rejected_complex);
        snprintf(msg, sizeof(msg), "body of %s is too complex: %s", desc->name, why);
    } else {
        ovop_metric_inc(d->rejected_decode);
        snprintf(msg, sizeof(msg), "body is not a valid %s", desc->name);
    }
    size_t len;
    void *rep =
        ovop_reply_error(req->request_id, d->service, OVOP_INVALID_ARGUMENT,
                         r == -E2BIG ? "MESSAGE_TOO_COMPLEX" : "INVALID_ARGUMENT", msg, &len);
    count_reply(d, m, OVOP_INVALID_ARGUMENT);
    done(ud, rep, len);
    return NULL;
}

void ovop_dispatch_handle(ovop_dispatch_t *d, const void *body, size_t len, const void *principal,
                          size_t principal_len, ovop_dispatch_done_fn done, void *done_userdata)
{
    Ovop__V1__Request *req = NULL;
    const char *err = NULL;
    int r = ovop_request_decode(body, len, d->max_msg, &req, &err);
    if (r < 0) {
        ovop_metric_inc(r == -EMSGSIZE ? d->rejected_size
                        : r == -E2BIG  ? d->rejected_complex
                                       : d->rejected_decode);
        /* Echo the request id only when it is itself valid. */
        char rid[OVOP_MAX_REQUEST_ID + 1];
        ovop_request_peek_id(body, len, rid);
        size_t rlen;
        void *rep =
            ovop_reply_error(rid, d->service, OVOP_INVALID_ARGUMENT,
                             r == -E2BIG ? "MESSAGE_TOO_COMPLEX" : "INVALID_ARGUMENT", err, &rlen);
        done(done_userdata, rep, rlen);
        if (req)
            ovop__v1__request__free_unpacked(req, NULL);
        return;
    }

    method_entry_t *m = find_method(d, req->method);
    if (!m || !m->fn) {
        char msg[160];
        ovop_metric_inc(d->rejected_method);
        snprintf(msg, sizeof(msg), "%s has no method \"%s\"", d->desc->name, req->method);
        answer_early(d, req->request_id, OVOP_UNIMPLEMENTED, msg, done, done_userdata);
        ovop__v1__request__free_unpacked(req, NULL);
        return;
    }

    ovop_arena_t *arena = ovop_arena_new();
    Ovop__V1__Principal *who =
        authorize(d, m, req, principal, principal_len, arena, done, done_userdata);
    if (!who) {
        ovop__v1__request__free_unpacked(req, NULL);
        ovop_arena_destroy(&arena);
        return;
    }
    ProtobufCMessage *in = decode_input(d, m, req, arena, done, done_userdata);
    if (!in) {
        ovop__v1__request__free_unpacked(req, NULL);
        ovop_arena_destroy(&arena);
        return;
    }

    ovop_call_t *c = xcalloc(1, sizeof(*c));
    c->arena = arena;
    c->d = d;
    c->m = m;
    c->req = req;
    c->principal = who;
    c->actor = req->on_behalf_of[0]
                   ? ovop_arena_printf(arena, "%s for %s", who->id, req->on_behalf_of)
                   : who->id;
    c->input = in;
    c->done = done;
    c->done_userdata = done_userdata;
    c->started = ovop_mono_us();
    c->deadline = req->deadline_ms ? c->started + (int64_t)req->deadline_ms * 1000 : 0;
    d->inflight++;
    ovop_metric_set(d->inflight_gauge, d->inflight);
    m->fn(c, in, m->userdata);
}

const char *ovop_call_request_id(const ovop_call_t *c)
{
    return c->req->request_id;
}

const char *ovop_call_method(const ovop_call_t *c)
{
    return c->req->method;
}

const char *ovop_call_caller(const ovop_call_t *c)
{
    return c->actor;
}

const Ovop__V1__Principal *ovop_call_principal(const ovop_call_t *c)
{
    return c->principal;
}

bool ovop_call_has_role(const ovop_call_t *c, const char *role)
{
    for (size_t i = 0; i < c->principal->n_roles; i++)
        if (strcmp(c->principal->roles[i], role) == 0 || strcmp(c->principal->roles[i], "*") == 0)
            return true;
    return false;
}

const char *ovop_call_on_behalf_of(const ovop_call_t *c)
{
    return c->req->on_behalf_of;
}

const ProtobufCMessage *ovop_call_input(const ovop_call_t *c)
{
    return c->input;
}

int64_t ovop_call_deadline(const ovop_call_t *c)
{
    return c->deadline;
}

bool ovop_call_expired(const ovop_call_t *c)
{
    return c->deadline && ovop_mono_us() >= c->deadline;
}

ovop_arena_t *ovop_call_arena(ovop_call_t *c)
{
    return c->arena;
}

void *ovop_call_alloc(ovop_call_t *c, size_t n)
{
    return ovop_arena_alloc(c->arena, n);
}

char *ovop_call_strdup(ovop_call_t *c, const char *s)
{
    return ovop_arena_strdup(c->arena, s);
}

char *ovop_call_printf(ovop_call_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = ovop_arena_vprintf(c->arena, fmt, ap);
    va_end(ap);
    return s;
}

ProtobufCMessage *ovop_call_message(ovop_call_t *c, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = ovop_arena_alloc(c->arena, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

void ovop_call_reason(ovop_call_t *c, const char *reason)
{
    c->reason = ovop_arena_strdup(c->arena, reason);
}

void ovop_call_meta(ovop_call_t *c, const char *key, const char *fmt, ...)
{
    if (c->n_meta >= MAX_METADATA)
        return;
    Ovop__V1__Status__MetadataEntry *e = &c->meta[c->n_meta++];
    ovop__v1__status__metadata_entry__init(e);
    e->key = ovop_arena_strdup(c->arena, key);
    va_list ap;
    va_start(ap, fmt);
    e->value = ovop_arena_vprintf(c->arena, fmt, ap);
    va_end(ap);
    ovop_utf8_sanitize(e->key);
    ovop_utf8_sanitize(e->value);
}

const char *ovop_code_reason(ovop_code_t code)
{
    return code == OVOP_OK ? "" : ovop_code_to_string(code);
}

void ovop_call_violation(ovop_call_t *c, const char *field, const char *fmt, ...)
{
    if (c->n_viol >= MAX_VIOLATIONS)
        return;
    c->viol = xrealloc(c->viol, (c->n_viol + 1) * sizeof(*c->viol));
    Ovop__V1__FieldViolation *v = &c->viol[c->n_viol++];
    ovop__v1__field_violation__init(v);
    v->field = xstrdup(field);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&v->description, fmt, ap) < 0)
        v->description = xstrdup("invalid");
    va_end(ap);
    /* Descriptions may quote what the client sent. */
    ovop_utf8_sanitize(v->field);
    ovop_utf8_sanitize(v->description);
}

bool ovop_call_has_violations(const ovop_call_t *c)
{
    return c->n_viol > 0;
}

static void *encode(const ovop_call_t *c, const Ovop__V1__Status *st, const ProtobufCMessage *out,
                    size_t *ret_len)
{
    void *body = NULL;
    size_t body_len = 0;
    if (out) {
        body_len = protobuf_c_message_get_packed_size(out);
        body = xmalloc(body_len);
        protobuf_c_message_pack(out, body);
    }
    void *rep = ovop_reply_encode(c->req->request_id, st, body, body_len, ret_len);
    free(body);
    return rep;
}

void *ovop_call_encode_ok(const ovop_call_t *c, const ProtobufCMessage *output, size_t *ret_len)
{
    return encode(c, NULL, output, ret_len);
}

void ovop_call_fingerprint(const ovop_call_t *c, char out[static 17])
{
    /* FNV-1a, 64 bits, over the caller (principal and on whose behalf), the method name and
     * the body, with separators: the same request id from another principal is another
     * request, never a replay of someone else's reply. */
    static const uint8_t sep = 0xff;
    uint64_t h = ovop_fnv1a(OVOP_FNV_INIT, c->actor, strlen(c->actor));
    h = ovop_fnv1a(h, &sep, 1);
    h = ovop_fnv1a(h, c->req->method, strlen(c->req->method));
    h = ovop_fnv1a(h, &sep, 1);
    h = ovop_fnv1a(h, c->req->body.data, c->req->body.len);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Accounts for the call's end, frees it and hands the encoded reply on. */
static void complete(ovop_call_t *c, int code, void *rep, size_t len)
{
    ovop_dispatch_t *d = c->d;
    double secs = (double)(ovop_mono_us() - c->started) / 1e6;
    count_reply(d, c->m, code);
    if (code != OVOP_OK)
        ovop_metric_inc(c->m->errors);
    ovop_metric_observe(c->m->latency, secs);
    /* The request id ties this line to the broker's and the client's (README, Observability).
     * INTERNAL always: its reply tells the caller it was logged with this id. */
    ovop_log(code == OVOP_INTERNAL ? OVOP_LOG_WARN : OVOP_LOG_DEBUG, c->req->request_id,
             "%s.%s answered %s in %.3f ms for %s", d->service, c->m->desc->name,
             ovop_code_to_string(code), secs * 1e3, c->actor);
    d->inflight--;
    ovop_metric_set(d->inflight_gauge, d->inflight);

    ovop_dispatch_done_fn done = c->done;
    void *ud = c->done_userdata;
    for (size_t i = 0; i < c->n_viol; i++) {
        free(c->viol[i].field);
        free(c->viol[i].description);
    }
    free(c->viol);
    ovop__v1__request__free_unpacked(c->req, NULL);
    ovop_arena_destroy(&c->arena); /* the input and everything built for the reply */
    free(c);
    done(ud, rep, len);
}

static void finish(ovop_call_t *c, const Ovop__V1__Status *st, const ProtobufCMessage *out)
{
    size_t len;
    void *rep = encode(c, st, out, &len);
    complete(c, st ? (int)st->code : OVOP_OK, rep, len);
}

void ovop_call_finish_encoded(ovop_call_t *c, void *reply, size_t len)
{
    complete(c, ovop_reply_peek_code(reply, len), reply, len);
}

void ovop_call_finish(ovop_call_t *c, const ProtobufCMessage *output)
{
    finish(c, NULL, output);
}

static void fail_v(ovop_call_t *c, ovop_code_t code, const char *reason, const char *fmt,
                   va_list ap) OVOP_PRINTF(4, 0);
static void fail_v(ovop_call_t *c, ovop_code_t code, const char *reason, const char *fmt,
                   va_list ap)
{
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    ovop_utf8_sanitize(msg);
    st.code = code;
    st.message = msg;
    st.reason = (char *)(reason ? reason : c->reason ? c->reason : ovop_code_reason(code));
    st.domain = c->d->service;
    Ovop__V1__FieldViolation *ptrs[MAX_VIOLATIONS];
    for (size_t i = 0; i < c->n_viol; i++)
        ptrs[i] = &c->viol[i];
    st.n_violations = c->n_viol;
    st.violations = ptrs;
    Ovop__V1__Status__MetadataEntry *meta[MAX_METADATA];
    for (size_t i = 0; i < c->n_meta; i++)
        meta[i] = &c->meta[i];
    st.n_metadata = c->n_meta;
    st.metadata = meta;
    finish(c, &st, NULL);
}

void ovop_call_fail(ovop_call_t *c, ovop_code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(c, code, NULL, fmt, ap);
    va_end(ap);
}

void ovop_call_fail_reason(ovop_call_t *c, ovop_code_t code, const char *reason, const char *fmt,
                           ...)
{
    va_list ap;
    va_start(ap, fmt);
    fail_v(c, code, reason, fmt, ap);
    va_end(ap);
}

void ovop_call_fail_internal(ovop_call_t *c)
{
    ovop_call_fail_reason(c, OVOP_INTERNAL, "INTERNAL",
                          "internal error; it has been logged with request id %.128s",
                          c->req->request_id);
}

void ovop_call_fail_violations(ovop_call_t *c)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    for (size_t i = 0; i < c->n_viol; i++)
        ovop_buf_printf(&b, "%s%s: %s", i ? "; " : "", c->viol[i].field, c->viol[i].description);
    ovop_call_fail(c, OVOP_INVALID_ARGUMENT, "%s", b.data ? b.data : "invalid argument");
    ovop_buf_free(&b);
}
