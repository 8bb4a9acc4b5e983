/* Unit tests of the envelope limits and the generic dispatcher, using the registry's
 * service descriptor as a real one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>

#include "dispatch.h"
#include "envelope.h"
#include "metrics.h"
#include "ovop/v1/registry.pb-c.h"
#include "permissions.h"

/* The permission rows of these tests: GetTerritory open, ListTerritories for one role. */
static const char table[] = "# test table\n"
                            "ovop.registry GetTerritory *\n"
                            "ovop.registry ListTerritories territory.admin registry.editor\n"
                            "ovop.exports  GetShipment *\n";

/* A serialized Principal (malloc'd). */
static void *principal(const char *id, const char *kind, const char *role, size_t *len)
{
    Ovop__V1__Principal p = OVOP__V1__PRINCIPAL__INIT;
    char *roles[] = {(char *)role};
    p.id = (char *)id;
    p.kind = (char *)kind;
    p.roles = roles;
    p.n_roles = role ? 1 : 0;
    *len = ovop__v1__principal__get_packed_size(&p);
    void *buf = malloc(*len ? *len : 1);
    ovop__v1__principal__pack(&p, buf);
    return buf;
}

typedef struct reply_box {
    Ovop__V1__Reply *rep;
    int calls;
} reply_box_t;

static void on_done(void *ud, void *reply, size_t len)
{
    reply_box_t *b = ud;
    b->calls++;
    b->rep = ovop__v1__reply__unpack(NULL, len, reply);
    assert_non_null(b->rep);
    free(reply);
}

static ovop_call_t *deferred;

static void handler_get(ovop_call_t *call, const ProtobufCMessage *in, void *ud)
{
    const Ovop__V1__GetTerritoryRequest *req = (const Ovop__V1__GetTerritoryRequest *)in;
    if (strcmp(req->code, "defer") == 0) {
        deferred = call;
        return;
    }
    if (strlen(req->code) != 14) {
        ovop_call_violation(call, "code", "must be 14 digits, got \"%s\"", req->code);
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__Territory t = OVOP__V1__TERRITORY__INIT;
    t.code = req->code;
    t.kind = "oblast";
    ovop_call_finish(call, &t.base);
}

static void *encode_get(const char *rid, const char *method, const char *code, size_t *len)
{
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    size_t n = ovop__v1__get_territory_request__get_packed_size(&in);
    uint8_t *body = malloc(n);
    ovop__v1__get_territory_request__pack(&in, body);
    void *req = ovop_request_encode(rid, method, body, n, 0, NULL, len);
    free(body);
    return req;
}

static ovop_dispatch_t *new_dispatch(ovop_metrics_t *m)
{
    ovop_dispatch_t *d =
        ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 4096, m);
    static const ovop_method_t methods[] = {{"GetTerritory", handler_get},
                                            {"ListTerritories", handler_get}};
    assert_int_equal(OVOP_DECLARE_METHODS(d, methods, NULL), 0);
    ovop_dispatch_permit(d, table);
    return d;
}

static void handle_as(ovop_dispatch_t *d, const void *p, size_t n, const char *id, const char *kind,
                      const char *role, reply_box_t *b)
{
    size_t plen = 0;
    void *who = id ? principal(id, kind, role, &plen) : NULL;
    memset(b, 0, sizeof(*b));
    ovop_dispatch_handle(d, p, n, who, plen, on_done, b);
    free(who);
}

static void handle(ovop_dispatch_t *d, const void *p, size_t n, reply_box_t *b)
{
    handle_as(d, p, n, "tester", "operator", "registry.editor", b);
}

static void test_ok(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    size_t n;
    void *req = encode_get("r-1", "GetTerritory", "41704000000000", &n);
    reply_box_t b;
    handle(d, req, n, &b);
    assert_int_equal(b.calls, 1);
    assert_string_equal(b.rep->request_id, "r-1");
    assert_int_equal(b.rep->status->code, OVOP_OK);
    Ovop__V1__Territory *t = ovop__v1__territory__unpack(NULL, b.rep->body.len, b.rep->body.data);
    assert_non_null(t);
    assert_string_equal(t->code, "41704000000000");
    ovop__v1__territory__free_unpacked(t, NULL);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    assert_int_equal(ovop_dispatch_inflight(d), 0);
    ovop_dispatch_destroy(&d);
    assert_null(d);
}

static void test_violations(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    size_t n;
    void *req = encode_get("r-2", "GetTerritory", "123", &n);
    reply_box_t b;
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_int_equal(b.rep->status->n_violations, 1);
    assert_string_equal(b.rep->status->violations[0]->field, "code");
    assert_non_null(strstr(b.rep->status->message, "14 digits"));
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    ovop_dispatch_destroy(&d);
}

static void test_unknown_method(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_dispatch_t *d = new_dispatch(m);
    size_t n;
    reply_box_t b;
    void *req = encode_get("r-3", "DropAllTables", "41704000000000", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_UNIMPLEMENTED);
    assert_string_equal(b.rep->request_id, "r-3");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    /* A method of the descriptor with no handler bound is unimplemented too. */
    req = encode_get("r-4", "CreateTerritory", "", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_UNIMPLEMENTED);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    ovop_buf_t out;
    ovop_buf_init(&out);
    ovop_metrics_render(m, &out);
    assert_non_null(strstr(out.data, "ovop_requests_rejected_total{service=\"ovop.registry\","
                                     "reason=\"method\"} 2"));
    ovop_buf_free(&out);
    ovop_dispatch_destroy(&d);
    ovop_metrics_destroy(&m);
}

/* ovop_requests_total{service,method,status}: a series per code a method answered,
 * rejections before the handler included; ovop_request_errors_total for non-OK. */
static void test_status_metrics(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_dispatch_t *d = new_dispatch(m);
    size_t n;
    reply_box_t b;
    void *ok = encode_get("s-1", "GetTerritory", "41704000000000", &n);
    for (int i = 0; i < 2; i++) {
        handle(d, ok, n, &b);
        ovop__v1__reply__free_unpacked(b.rep, NULL);
    }
    handle_as(d, ok, n, NULL, NULL, NULL, &b); /* UNAUTHENTICATED, before the handler */
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(ok);
    void *bad = encode_get("s-2", "GetTerritory", "123", &n);
    handle(d, bad, n, &b);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(bad);
    ovop_buf_t out;
    ovop_buf_init(&out);
    ovop_metrics_render(m, &out);
    const char *s = out.data;
    assert_non_null(strstr(s,
                           "ovop_requests_total{service=\"ovop.registry\",method=\"GetTerritory\","
                           "status=\"OK\"} 2\n"));
    assert_non_null(strstr(s,
                           "ovop_requests_total{service=\"ovop.registry\",method=\"GetTerritory\","
                           "status=\"INVALID_ARGUMENT\"} 1\n"));
    assert_non_null(strstr(s,
                           "ovop_requests_total{service=\"ovop.registry\",method=\"GetTerritory\","
                           "status=\"UNAUTHENTICATED\"} 1\n"));
    assert_null(strstr(s, "status=\"NOT_FOUND\"")); /* made lazily */
    assert_non_null(strstr(s, "ovop_request_errors_total{service=\"ovop.registry\","
                              "method=\"GetTerritory\"} 1\n"));
    assert_non_null(strstr(s, "ovop_request_duration_seconds_count{service=\"ovop.registry\","
                              "method=\"GetTerritory\"} 3\n"));
    ovop_buf_free(&out);
    ovop_dispatch_destroy(&d);
    ovop_metrics_destroy(&m);
}

static void test_garbage_and_limits(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    reply_box_t b;

    /* Not a protobuf at all: field 15 with wire type 7 does not exist. */
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    handle(d, garbage, sizeof(garbage), &b);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(b.rep, NULL);

    /* A truncated envelope. */
    size_t n;
    void *req = encode_get("r-5", "GetTerritory", "41704000000000", &n);
    handle(d, req, n - 3, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);

    /* Bigger than the limit: refused before decoding. */
    uint8_t *big = calloc(1, 5000);
    handle(d, big, 5000, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_non_null(strstr(b.rep->status->message, "maximum message size"));
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(big);

    /* Missing request id. */
    req = encode_get("", "GetTerritory", "41704000000000", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_non_null(strstr(b.rep->status->message, "request_id"));
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);

    /* Over-long request id; the reply must not echo it. */
    char longid[200];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    req = encode_get(longid, "GetTerritory", "41704000000000", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(b.rep->request_id, "");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);

    /* Request id that is not UTF-8. */
    req = encode_get("\xff\xfe", "GetTerritory", "41704000000000", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);

    /* A valid envelope whose body is not the method's input type. */
    static const uint8_t badbody[] = {0x0a, 0x05, 'a', 'b'};
    req = ovop_request_encode("r-6", "GetTerritory", badbody, sizeof(badbody), 0, "", &n);
    handle(d, req, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_non_null(strstr(b.rep->status->message, "GetTerritoryRequest"));
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    ovop_dispatch_destroy(&d);
}

static void test_async_finish(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    size_t n;
    reply_box_t b;
    void *req = encode_get("r-7", "GetTerritory", "defer", &n);
    handle(d, req, n, &b);
    free(req);
    assert_int_equal(b.calls, 0);
    assert_int_equal(ovop_dispatch_inflight(d), 1);
    assert_string_equal(ovop_call_request_id(deferred), "r-7");
    assert_string_equal(ovop_call_caller(deferred), "tester");
    ovop_call_fail(deferred, OVOP_UNAVAILABLE, "database down %d", 42);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.rep->status->code, OVOP_UNAVAILABLE);
    assert_string_equal(b.rep->status->message, "database down 42");
    assert_int_equal(ovop_dispatch_inflight(d), 0);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    ovop_dispatch_destroy(&d);
}

static void test_code_names(void **state)
{
    assert_string_equal(ovop_code_to_string(OVOP_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(ovop_code_to_string(OVOP_INVALID_ARGUMENT), "INVALID_ARGUMENT");
    assert_string_equal(ovop_code_to_string(999), "UNKNOWN");
    assert_string_equal(ovop_code_to_string(-1), "UNKNOWN");
}

/* Start-up fails unless every rpc has exactly one declared handler. */
static void test_declared_methods(void **state)
{
    const char *why = NULL;
    ovop_dispatch_t *d = new_dispatch(NULL);
    assert_int_equal(ovop_dispatch_verify(d, &why), -ENOENT); /* the other rpcs lack rows */
    assert_non_null(strstr(why, "has no handler"));
    assert_non_null(ovop_dispatch_method(d, "GetTerritory"));
    assert_null(ovop_dispatch_method(d, "CreateTerritory"));
    ovop_dispatch_destroy(&d);

    static const ovop_method_t unknown[] = {{"GetTerritory", handler_get},
                                            {"DeleteEverything", handler_get}};
    d = ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 4096, NULL);
    assert_int_equal(OVOP_DECLARE_METHODS(d, unknown, NULL), -ENOENT);
    assert_int_equal(ovop_dispatch_verify(d, &why), -ENOENT);
    assert_non_null(strstr(why, "DeleteEverything"));
    ovop_dispatch_destroy(&d);

    static const ovop_method_t twice[] = {{"GetTerritory", handler_get}};
    d = ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 4096, NULL);
    assert_int_equal(OVOP_DECLARE_METHODS(d, twice, NULL), 0);
    assert_int_equal(OVOP_DECLARE_METHODS(d, twice, NULL), -EEXIST);
    assert_int_equal(ovop_dispatch_verify(d, &why), -EEXIST);
    assert_non_null(strstr(why, "declared twice"));
    ovop_dispatch_destroy(&d);

    /* Every rpc of the descriptor declared: verified. */
    const ProtobufCServiceDescriptor *sd = &ovop__v1__registry__descriptor;
    ovop_method_t *all = calloc(sd->n_methods, sizeof(*all));
    for (unsigned i = 0; i < sd->n_methods; i++)
        all[i] = (ovop_method_t){sd->methods[i].name, handler_get};
    d = ovop_dispatch_new(sd, "ovop.registry", 4096, NULL);
    assert_int_equal(ovop_dispatch_declare(d, all, sd->n_methods, NULL), 0);
    /* ... but without a permission table nobody could call them: refused too. */
    assert_int_equal(ovop_dispatch_verify(d, &why), -EACCES);
    assert_non_null(strstr(why, "no permission table"));
    ovop_dispatch_destroy(&d);
    /* A table missing rows names the first method without one. */
    d = ovop_dispatch_new(sd, "ovop.registry", 4096, NULL);
    assert_int_equal(ovop_dispatch_declare(d, all, sd->n_methods, NULL), 0);
    ovop_dispatch_permit(d, table);
    assert_int_equal(ovop_dispatch_verify(d, &why), -EACCES);
    assert_non_null(strstr(why, "no row in the permission table"));
    ovop_dispatch_destroy(&d);
    /* A row for a method the service lacks. */
    d = ovop_dispatch_new(sd, "ovop.registry", 4096, NULL);
    assert_int_equal(ovop_dispatch_declare(d, all, sd->n_methods, NULL), 0);
    ovop_dispatch_permit(d, "ovop.registry DropTables *\n");
    assert_int_equal(ovop_dispatch_verify(d, &why), -ENOENT);
    assert_non_null(strstr(why, "DropTables"));
    ovop_dispatch_destroy(&d);
    /* The real table covers every method of the registry. */
    d = ovop_dispatch_new(sd, "ovop.registry", 4096, NULL);
    assert_int_equal(ovop_dispatch_declare(d, all, sd->n_methods, NULL), 0);
    ovop_dispatch_permit(d, ovop_permissions_tsv);
    assert_int_equal(ovop_dispatch_verify(d, &why), 0);
    ovop_dispatch_destroy(&d);
    free(all);
}

/* The permission table's parser refuses what it cannot read, naming the line. */
static void test_permission_table(void **state)
{
    ovop_permission_row_t *rows = NULL;
    size_t n = 0;
    char *why = NULL;
    assert_int_equal(ovop_permissions_parse(table, &rows, &n, &why), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rows[1].method, "ListTerritories");
    assert_int_equal(rows[1].n_roles, 2);
    assert_string_equal(rows[1].roles[1], "registry.editor");
    assert_int_equal(rows[1].line, 3);
    ovop_permissions_free(rows, n);
    static const char *const bad[] = {
        "ovop.registry GetTerritory\n",                                        /* no role */
        "ovop.registry Get;Territory *\n",                                     /* not a name */
        "ovop.registry GetTerritory *\nx y z\novop.registry GetTerritory a\n", /* twice */
        "ovop.registry GetTerritory ro'le\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ovop_permissions_parse(bad[i], &rows, &n, &why), -EINVAL);
        assert_non_null(strstr(why, "line "));
        free(why);
    }
}

/* Default deny: no principal is UNAUTHENTICATED, a missing role PERMISSION_DENIED naming it,
 * and only a service may act on behalf of someone; none of them reaches the handler. */
static void test_authorization(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    size_t n;
    reply_box_t b;
    void *get = encode_get("a-1", "GetTerritory", "41704000000000", &n);
    handle_as(d, get, n, NULL, NULL, NULL, &b);
    assert_int_equal(b.rep->status->code, OVOP__V1__STATUS__CODE__UNAUTHENTICATED);
    assert_string_equal(b.rep->request_id, "a-1");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    /* Garbage where the principal goes is no principal. */
    memset(&b, 0, sizeof(b));
    ovop_dispatch_handle(d, get, n, "\xff\xff\xff", 3, on_done, &b);
    assert_int_equal(b.rep->status->code, OVOP__V1__STATUS__CODE__UNAUTHENTICATED);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    /* "*" lets in any authenticated principal, even one without roles. */
    handle_as(d, get, n, "tax", "agency", NULL, &b);
    assert_int_equal(b.rep->status->code, OVOP_OK);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(get);

    void *list = encode_get("a-2", "ListTerritories", "41704000000000", &n);
    handle_as(d, list, n, "tax", "agency", "customs", &b);
    assert_int_equal(b.rep->status->code, OVOP_PERMISSION_DENIED);
    assert_string_equal(b.rep->status->reason, "MISSING_ROLE");
    assert_non_null(strstr(b.rep->status->message, "territory.admin or registry.editor"));
    assert_non_null(strstr(b.rep->status->message, "tax"));
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    /* A holder of one of the roles reaches the handler. */
    handle_as(d, list, n, "op", "operator", "registry.editor", &b);
    assert_int_equal(b.rep->status->code, OVOP_OK);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(list);

    /* on_behalf_of: a service only. */
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = "41704000000000";
    uint8_t body[64];
    size_t bn = ovop__v1__get_territory_request__pack(&in, body);
    void *behalf = ovop_request_encode("a-3", "GetTerritory", body, bn, 0, "exporter-7", &n);
    handle_as(d, behalf, n, "op", "operator", "registry.editor", &b);
    assert_int_equal(b.rep->status->code, OVOP_PERMISSION_DENIED);
    assert_string_equal(b.rep->status->reason, "ON_BEHALF_NOT_ALLOWED");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    deferred = NULL;
    in.code = "defer";
    bn = ovop__v1__get_territory_request__pack(&in, body);
    free(behalf);
    behalf = ovop_request_encode("a-4", "GetTerritory", body, bn, 0, "exporter-7", &n);
    handle_as(d, behalf, n, "svc-ovop.matching", "service", "worker:ovop.matching", &b);
    assert_non_null(deferred);
    assert_string_equal(ovop_call_caller(deferred), "svc-ovop.matching for exporter-7");
    assert_string_equal(ovop_call_on_behalf_of(deferred), "exporter-7");
    assert_string_equal(ovop_call_principal(deferred)->kind, "service");
    assert_true(ovop_call_has_role(deferred, "worker:ovop.matching"));
    assert_false(ovop_call_has_role(deferred, "customs"));
    ovop_call_fail(deferred, OVOP_NOT_FOUND, "done");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(behalf);
    ovop_dispatch_destroy(&d);
}

/* A failure carries its reason (the code's name unless one is given), metadata, the
 * service as domain; the arena lives until the reply. */
static void test_reasons_and_arena(void **state)
{
    ovop_dispatch_t *d = new_dispatch(NULL);
    size_t n;
    reply_box_t b;
    void *req = encode_get("r-8", "GetTerritory", "defer", &n);
    handle(d, req, n, &b);
    char *big = ovop_call_alloc(deferred, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(big[i], 0);
    char *s = ovop_call_printf(deferred, "%s-%d", "shipment", 41);
    assert_string_equal(s, "shipment-41");
    ovop_call_meta(deferred, "shipment_id", "%d", 41);
    ovop_call_fail_reason(deferred, OVOP_FAILED_PRECONDITION, "DOCUMENT_MISSING", "missing: %s",
                          "invoice");
    assert_string_equal(b.rep->status->reason, "DOCUMENT_MISSING");
    assert_string_equal(b.rep->status->domain, "ovop.registry");
    assert_int_equal(b.rep->status->n_metadata, 1);
    assert_string_equal(b.rep->status->metadata[0]->key, "shipment_id");
    assert_string_equal(b.rep->status->metadata[0]->value, "41");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    handle(d, req, n, &b);
    ovop_call_fail(deferred, OVOP_NOT_FOUND, "gone");
    assert_string_equal(b.rep->status->reason, "NOT_FOUND");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(req);
    ovop_dispatch_destroy(&d);
}

static void test_arena(void **state)
{
    ovop_arena_t *a = ovop_arena_new();
    char *small[100];
    for (int i = 0; i < 100; i++) {
        small[i] = ovop_arena_printf(a, "item %d", i);
        assert_int_equal((uintptr_t)small[i] % _Alignof(max_align_t), 0);
    }
    char *large = ovop_arena_alloc(a, 100000); /* a chunk of its own */
    large[99999] = 'x';
    char *after = ovop_arena_strdup(a, "after");
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof(want), "item %d", i);
        assert_string_equal(small[i], want);
    }
    assert_string_equal(after, "after");
    assert_true(ovop_arena_used(a) >= 100000);
    ProtobufCAllocator *pa = ovop_arena_allocator(a);
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = "41704000000000";
    uint8_t buf[64];
    size_t n = ovop__v1__get_territory_request__pack(&in, buf);
    Ovop__V1__GetTerritoryRequest *out = ovop__v1__get_territory_request__unpack(pa, n, buf);
    assert_string_equal(out->code, "41704000000000");
    ovop_arena_destroy(&a);
    assert_null(a);
    ovop_arena_destroy(&a); /* accepts NULL */
}

/* The last input a handler of the decode tests saw, and the arena it cost. */
static size_t import_rows_seen;
static size_t import_arena_used;

static void handler_import(ovop_call_t *call, const ProtobufCMessage *in, void *ud)
{
    const Ovop__V1__ImportTerritoriesRequest *req = (const Ovop__V1__ImportTerritoriesRequest *)in;
    import_rows_seen = req->n_rows;
    import_arena_used = ovop_arena_used(ovop_call_arena(call));
    Ovop__V1__ImportTerritoriesResponse out = OVOP__V1__IMPORT_TERRITORIES_RESPONSE__INIT;
    ovop_call_finish(call, &out.base);
}

/* A dispatcher of 1 MiB messages with GetTerritory and ImportTerritories open to all. */
static ovop_dispatch_t *new_big_dispatch(ovop_metrics_t *m)
{
    ovop_dispatch_t *d =
        ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 1 << 20, m);
    static const ovop_method_t methods[] = {{"GetTerritory", handler_get},
                                            {"ImportTerritories", handler_import}};
    assert_int_equal(OVOP_DECLARE_METHODS(d, methods, NULL), 0);
    ovop_dispatch_permit(d, "ovop.registry GetTerritory *\n"
                            "ovop.registry ImportTerritories *\n");
    return d;
}

/* Wraps body in an envelope for method and hands it to d. */
static void handle_body(ovop_dispatch_t *d, const char *method, const void *body, size_t n,
                        reply_box_t *b)
{
    size_t len;
    void *req = ovop_request_encode("r-body", method, body, n, 0, NULL, &len);
    handle(d, req, len, b);
    assert_int_equal(b->calls, 1);
    free(req);
}

/* n rows of ImportTerritoriesRequest, each `code` (NULL: an empty row), encoded (malloc'd). */
static uint8_t *encode_rows(size_t n, const char *code, size_t *len)
{
    Ovop__V1__ImportTerritoriesRequest req = OVOP__V1__IMPORT_TERRITORIES_REQUEST__INIT;
    Ovop__V1__TerritoryImportRow *rows = calloc(n, sizeof(*rows));
    Ovop__V1__TerritoryImportRow **ptrs = calloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        ovop__v1__territory_import_row__init(&rows[i]);
        if (code) {
            rows[i].line = (uint32_t)i + 1;
            rows[i].code = (char *)code;
            rows[i].kind = "district";
            rows[i].name_ru = "Район";
            rows[i].name_ky = "Район";
            rows[i].parent_code = "41704000000000";
        }
        ptrs[i] = &rows[i];
    }
    req.rows = ptrs;
    req.n_rows = n;
    *len = ovop__v1__import_territories_request__get_packed_size(&req);
    uint8_t *buf = malloc(*len ? *len : 1);
    ovop__v1__import_territories_request__pack(&req, buf);
    free(rows);
    free(ptrs);
    return buf;
}

static double rejected(ovop_metrics_t *m, const char *reason)
{
    char labels[96];
    snprintf(labels, sizeof(labels), "service=\"ovop.registry\",reason=\"%s\"", reason);
    return ovop_metric_value(ovop_metrics_counter(m, "ovop_requests_rejected_total", "", labels));
}

static void expect_too_complex(reply_box_t *b)
{
    assert_int_equal(b->rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(b->rep->status->reason, "MESSAGE_TOO_COMPLEX");
    ovop__v1__reply__free_unpacked(b->rep, NULL);
}

/* The attacks of issue 10 item 2, refused before or during decoding, and legitimate inputs
 * of the largest size still decoded. */
static void test_decode_limits(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_dispatch_t *d = new_big_dispatch(m);
    reply_box_t b;

    /* 1 MiB - 64 of unknown varint fields (field 15, 2 bytes each). */
    size_t n = (1 << 20) - 64;
    uint8_t *unk = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        unk[i] = 15 << 3;
        unk[i + 1] = 1;
    }
    handle_body(d, "GetTerritory", unk, n, &b);
    expect_too_complex(&b);
    /* The same in the envelope itself. */
    handle(d, unk, n, &b);
    expect_too_complex(&b);
    /* A few unknown fields (a newer client) are fine. */
    static const uint8_t few[] = {0x0a, 0x0e, '4', '1', '7', '0', '4',     '0', '0',     '0',
                                  '0',  '0',  '0', '0', '0', '0', 15 << 3, 1,   14 << 3, 2};
    handle_body(d, "GetTerritory", few, sizeof(few), &b);
    assert_int_equal(b.rep->status->code, OVOP_OK);
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(unk);

    /* 524k empty rows, and 10,001: refused by the element limit. */
    uint8_t *rows = encode_rows(524000, NULL, &n);
    handle_body(d, "ImportTerritories", rows, n, &b);
    expect_too_complex(&b);
    free(rows);
    rows = encode_rows(10001, NULL, &n);
    handle_body(d, "ImportTerritories", rows, n, &b);
    expect_too_complex(&b);
    free(rows);
    /* 9,000 empty rows pass the element limit but not the memory budget. */
    rows = encode_rows(9000, NULL, &n);
    handle_body(d, "ImportTerritories", rows, n, &b);
    expect_too_complex(&b);
    free(rows);
    assert_int_equal(rejected(m, "complexity"), 5);

    /* 1000 rows (the most a request may carry), real or minimal, decode within budget. */
    const char *codes[] = {"41704000000001", "1"};
    for (size_t i = 0; i < 2; i++) {
        rows = encode_rows(1000, codes[i], &n);
        handle_body(d, "ImportTerritories", rows, n, &b);
        assert_int_equal(b.rep->status->code, OVOP_OK);
        assert_int_equal(import_rows_seen, 1000);
        assert_true(import_arena_used < OVOP_DECODE_BUDGET(n));
        print_message("1000 rows of %zu bytes cost %zu bytes of arena (budget %zu)\n", n,
                      import_arena_used, (size_t)OVOP_DECODE_BUDGET(n));
        ovop__v1__reply__free_unpacked(b.rep, NULL);
        free(rows);
    }
    ovop_dispatch_destroy(&d);
    ovop_metrics_destroy(&m);
}

/* Strings with a NUL or invalid UTF-8 are refused with a violation naming the field path,
 * before any handler runs: protobuf-c would cut "…\0junk" to "…". */
static void test_decode_strings(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_dispatch_t *d = new_big_dispatch(m);
    reply_box_t b;
    static const uint8_t nul[] = {0x0a, 0x13, '4', '1', '7', '0', '4', '0', '0', '0', '0',
                                  '0',  '0',  '0', '0', '0', 0,   'j', 'u', 'n', 'k'};
    handle_body(d, "GetTerritory", nul, sizeof(nul), &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_int_equal(b.rep->status->n_violations, 1);
    assert_string_equal(b.rep->status->violations[0]->field, "code");
    assert_non_null(strstr(b.rep->status->violations[0]->description, "NUL"));
    assert_string_equal(b.rep->request_id, "r-body");
    ovop__v1__reply__free_unpacked(b.rep, NULL);

    /* Nested and repeated: rows[1].name_ru not UTF-8, rows[2].kind with a NUL. */
    size_t n;
    uint8_t *rows = encode_rows(3, "41704000000001", &n);
    uint8_t *p = memmem(rows, n, "Район", strlen("Район"));
    p = memmem(p + 1, n - (size_t)(p + 1 - rows), "Район", strlen("Район")); /* row 0 name_ky */
    p = memmem(p + 1, n - (size_t)(p + 1 - rows), "Район", strlen("Район")); /* row 1 name_ru */
    p[0] = 0xff;
    uint8_t *k = memmem(p, n - (size_t)(p - rows), "district", 8); /* row 2 (kind first) */
    assert_non_null(k);
    k[3] = 0;
    handle_body(d, "ImportTerritories", rows, n, &b);
    assert_int_equal(b.rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_int_equal(b.rep->status->n_violations, 2);
    assert_string_equal(b.rep->status->violations[0]->field, "rows[1].name_ru");
    assert_non_null(strstr(b.rep->status->violations[0]->description, "UTF-8"));
    assert_string_equal(b.rep->status->violations[1]->field, "rows[2].kind");
    ovop__v1__reply__free_unpacked(b.rep, NULL);
    free(rows);
    assert_int_equal(rejected(m, "string"), 2);
    ovop_dispatch_destroy(&d);
    ovop_metrics_destroy(&m);
}

/* A decode budget: allocations through the protobuf-c allocator past it fail, others not. */
static void test_arena_limit(void **state)
{
    ovop_arena_t *a = ovop_arena_new();
    ProtobufCAllocator *pa = ovop_arena_allocator(a);
    ovop_arena_set_limit(a, 1000);
    assert_non_null(pa->alloc(pa->allocator_data, 500));
    assert_false(ovop_arena_limit_hit(a));
    assert_null(pa->alloc(pa->allocator_data, 600));
    assert_true(ovop_arena_limit_hit(a));
    assert_non_null(ovop_arena_alloc(a, 600)); /* the arena's own: unbounded */
    ovop_arena_set_limit(a, 0);
    assert_false(ovop_arena_limit_hit(a));
    assert_non_null(pa->alloc(pa->allocator_data, 1 << 20)); /* a mapped chunk */
    ovop_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_unknown_method),
        cmocka_unit_test(test_status_metrics),
        cmocka_unit_test(test_garbage_and_limits),
        cmocka_unit_test(test_async_finish),
        cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_declared_methods),
        cmocka_unit_test(test_permission_table),
        cmocka_unit_test(test_authorization),
        cmocka_unit_test(test_reasons_and_arena),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_arena_limit),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_decode_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
