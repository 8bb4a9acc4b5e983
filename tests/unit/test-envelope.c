/* Unit tests of the envelope (common/envelope.c): the limits ovop_request_decode enforces
 * before any handler sees a request, and requests and replies encoded and decoded back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "ovop/v1/registry.pb-c.h"
#include "util.h"

/* n copies of unit, malloc'd. */
static char *repeat(const char *unit, size_t n)
{
    size_t len = strlen(unit);
    char *s = xmalloc(len * n + 1);
    for (size_t k = 0; k < n; k++)
        memcpy(s + k * len, unit, len);
    s[len * n] = '\0';
    return s;
}

static void test_field_limits(void **state)
{
    char *id128 = repeat("x", 128), *id129 = repeat("x", 129);
    char *id64x2 = repeat("\xd0\x96", 64); /* 64 letters, 128 bytes */
    char *id65x2 = repeat("\xd0\x96", 65); /* 130 bytes: the limit counts bytes */
    char *method64 = repeat("M", 64), *method65 = repeat("M", 65);
    char *caller128 = repeat("c", 128), *caller129 = repeat("c", 129);
    static const char *const rid_bad = "request_id must be UTF-8 of at most 128 bytes";
    static const char *const method_bad = "method must be UTF-8 of at most 64 bytes";
    static const char *const caller_bad = "on_behalf_of must be UTF-8 of at most 128 bytes";
    const struct {
        const char *rid, *method, *caller;
        const char *err; /* NULL: decoded */
    } cases[] = {
        {"r-1", "GetTerritory", "ops", NULL},
        {"r-1", "GetTerritory", "", NULL},
        {id128, method64, caller128, NULL},
        {id64x2, "M", "", NULL},
        {"", "GetTerritory", "", "request_id is required"},
        {"", "", "", "request_id is required"},
        {id129, "GetTerritory", "", rid_bad},
        {id65x2, "GetTerritory", "", rid_bad},
        {"\xff", "GetTerritory", "", rid_bad},
        {"\xc0\xaf", "GetTerritory", "", rid_bad},     /* overlong */
        {"\xed\xa0\x80", "GetTerritory", "", rid_bad}, /* surrogate */
        {"r\xc3", "GetTerritory", "", rid_bad},        /* truncated */
        {"r-1", "", "", "method is required"},
        {"r-1", method65, "", method_bad},
        {"r-1", "Get\xff", "", method_bad},
        {"r-1", "M", caller129, caller_bad},
        {"r-1", "M", "\xf4\x90\x80\x80", caller_bad},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        size_t n;
        void *p =
            ovop_request_encode(cases[i].rid, cases[i].method, NULL, 0, 0, cases[i].caller, &n);
        Ovop__V1__Request *req = NULL;
        const char *err = "unset";
        int r = ovop_request_decode(p, n, OVOP_DEFAULT_MAX_MSG, &req, &err);
        if (cases[i].err) {
            if (r != -EINVAL)
                fail_msg("case %zu: %d, expected -EINVAL", i, r);
            assert_string_equal(err, cases[i].err);
        } else {
            assert_int_equal(r, 0);
            assert_null(err);
        }
        /* Decoded either way, so that a refusal can still quote a valid request id. */
        assert_non_null(req);
        assert_string_equal(req->request_id, cases[i].rid);
        ovop__v1__request__free_unpacked(req, NULL);
        free(p);
    }
    char *owned[] = {id128, id129, id64x2, id65x2, method64, method65, caller128, caller129};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(owned); i++)
        free(owned[i]);
}

/* A string literal's bytes and their count, NULs included. */
#define BYTES(s) s, sizeof(s) - 1

static void test_wire(void **state)
{
    static const char *const not_request = "body is not a valid ovop.v1.Request";
    static const char *const rid_bad = "request_id must be UTF-8 of at most 128 bytes";
    /* Bytes written by hand: field 1 request_id, 2 method, 5 caller. */
    static const struct {
        const char *bytes;
        size_t n;
        int r;
        const char *err;
    } cases[] = {
        {BYTES("\x0a\x01r\x12\x01M"), 0, NULL},
        {BYTES("\x0a\x01r\x12\x01M\x78\x01"), 0, NULL},      /* an unknown field 15 is skipped */
        {BYTES(""), -EINVAL, "request_id is required"},      /* every field at its default */
        {BYTES("\x0a\x01r\x12\x01"), -EBADMSG, not_request}, /* truncated */
        {BYTES("\x08\x01\x12\x01M"), -EBADMSG, not_request}, /* request_id as a varint */
        {BYTES("\xff\xff\xff\xff\x0f\x01"), -EBADMSG, not_request},   /* no such wire type */
        {BYTES("\x7b\x7c\x0a\x01r\x12\x01M"), -EBADMSG, not_request}, /* a group */
        {BYTES("\x0a\x05"
               "ab\0cd"
               "\x12\x01M"),
         -EINVAL, rid_bad},             /* a NUL inside */
        {BYTES("\x75\1\2\3\4"           /* unknown fields: 32-bit, */
               "\x79\1\2\3\4\5\6\7\x08" /* 64-bit, */
               "\x70\x96\x01"           /* varint, */
               "\x0a\x02r\0\x12\x01M"), /* then a NUL in request_id */
         -EINVAL, rid_bad},
        {BYTES("\x0a\x01r\x12\x05Get\0X"), -EINVAL, "method must be UTF-8 of at most 64 bytes"},
        {BYTES("\x0a\x01r\x12\x01M\x2a\x02\0c"), -EINVAL,
         "caller must be UTF-8 of at most 128 bytes"},
        {BYTES("\x0a\x01r\x12\x01M\x32\x02\0c"), -EINVAL,
         "on_behalf_of must be UTF-8 of at most 128 bytes"},
        {BYTES("\x0a\x01r\x12\x01M\x1a\x02\0\0"), 0, NULL}, /* NULs in the body are bytes */
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        Ovop__V1__Request *req = NULL;
        const char *err = "unset";
        int r = ovop_request_decode(cases[i].bytes, cases[i].n, 4096, &req, &err);
        if (r != cases[i].r)
            fail_msg("case %zu: %d, expected %d", i, r, cases[i].r);
        if (cases[i].err)
            assert_string_equal(err, cases[i].err);
        else
            assert_null(err);
        if (r == -EBADMSG)
            assert_null(req);
        else
            ovop__v1__request__free_unpacked(req, NULL);
    }
}

static void test_size_limit(void **state)
{
    size_t n;
    uint8_t body[100] = {0};
    void *p = ovop_request_encode("r-1", "GetTerritory", body, sizeof(body), 0, "", &n);
    Ovop__V1__Request *req = NULL;
    const char *err = "unset";
    /* Exactly at the limit: decoded. */
    assert_int_equal(ovop_request_decode(p, n, n, &req, &err), 0);
    assert_int_equal(req->body.len, sizeof(body));
    ovop__v1__request__free_unpacked(req, NULL);
    /* One byte over: refused before decoding, nothing returned. */
    req = NULL;
    assert_int_equal(ovop_request_decode(p, n, n - 1, &req, &err), -EMSGSIZE);
    assert_string_equal(err, "request exceeds the maximum message size");
    assert_null(req);
    assert_int_equal(ovop_request_decode(p, n, 0, &req, &err), -EMSGSIZE);
    assert_null(req);
    free(p);
}

static void test_request_round_trip(void **state)
{
    static const uint8_t body[] = {0x00, 0x0a, 0xff, 0x00, 0x80};
    size_t n;
    void *p = ovop_request_encode("r-\xd0\x96", "ListShipments", body, sizeof(body), 4000000000u,
                                  "customs", &n);
    Ovop__V1__Request *req = NULL;
    const char *err = "unset";
    assert_int_equal(ovop_request_decode(p, n, n, &req, &err), 0);
    assert_null(err);
    assert_string_equal(req->request_id, "r-\xd0\x96");
    assert_string_equal(req->method, "ListShipments");
    assert_string_equal(req->on_behalf_of, "customs");
    assert_string_equal(req->caller, "");
    assert_int_equal(req->deadline_ms, 4000000000u);
    assert_int_equal(req->body.len, sizeof(body));
    assert_memory_equal(req->body.data, body, sizeof(body));
    ovop__v1__request__free_unpacked(req, NULL);
    free(p);

    /* No caller and no body. */
    p = ovop_request_encode("r-2", "Ping", NULL, 0, 0, NULL, &n);
    assert_int_equal(ovop_request_decode(p, n, n, &req, &err), 0);
    assert_string_equal(req->caller, "");
    assert_int_equal(req->body.len, 0);
    assert_int_equal(req->deadline_ms, 0);
    ovop__v1__request__free_unpacked(req, NULL);
    free(p);
}

/* Decodes the encoded Reply p[0..n) (and frees p): it must carry rid, code, message and the
 * body b[0..len). */
static void assert_reply(void *p, size_t n, const char *rid, ovop_code_t code, const char *message,
                         const void *b, size_t len)
{
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, n, p);
    assert_non_null(rep);
    assert_string_equal(rep->request_id, rid);
    assert_non_null(rep->status);
    assert_int_equal(rep->status->code, code);
    assert_string_equal(rep->status->message, message);
    assert_int_equal(rep->status->n_violations, 0);
    assert_int_equal(rep->body.len, len);
    if (len)
        assert_memory_equal(rep->body.data, b, len);
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(p);
}

static void test_reply_round_trip(void **state)
{
    size_t n;
    void *p = ovop_reply_encode("r-1", NULL, "xyz", 3, &n); /* no status: OK */
    assert_reply(p, n, "r-1", OVOP_OK, "", "xyz", 3);
    p = ovop_reply_encode("r-2", NULL, "\0\1", 2, &n);
    assert_reply(p, n, "r-2", OVOP_OK, "", "\0\1", 2);
    p = ovop_reply_encode(NULL, NULL, NULL, 5, &n); /* no body: its length is ignored */
    assert_reply(p, n, "", OVOP_OK, "", NULL, 0);
    p = ovop_reply_error("r-3", "ovop.registry", OVOP_NOT_FOUND, "NOT_FOUND",
                         "no territory 41799999999999", &n);
    assert_reply(p, n, "r-3", OVOP_NOT_FOUND, "no territory 41799999999999", NULL, 0);
}

/* The status code of an encoded reply, read without decoding it (broker and dispatcher
 * metrics). */
static void test_reply_peek_code(void **state)
{
    size_t n;
    void *p = ovop_reply_encode("r-1", NULL, "xyz", 3, &n);
    assert_int_equal(ovop_reply_peek_code(p, n), OVOP_OK);
    free(p);
    p = ovop_reply_error("r-2", "ovop.registry", OVOP_NOT_FOUND, "NOT_FOUND", "none", &n);
    assert_int_equal(ovop_reply_peek_code(p, n), OVOP_NOT_FOUND);
    free(p);
    p = ovop_reply_error("r-3", NULL, OVOP_UNAUTHENTICATED, NULL, "who?", &n);
    assert_int_equal(ovop_reply_peek_code(p, n), OVOP_UNAUTHENTICATED);
    /* Cut inside the status: not protobuf any more, read as OK (counted, never trusted). */
    assert_int_equal(ovop_reply_peek_code(p, n - 2), OVOP_OK);
    free(p);
    assert_int_equal(ovop_reply_peek_code("", 0), OVOP_OK);
    assert_int_equal(ovop_reply_peek_code("answer", 6), OVOP_OK);
}

static void test_code_names(void **state)
{
    /* One name per code of envelope.proto, spelled as there. */
    const ProtobufCEnumDescriptor *desc = &ovop__v1__status__code__descriptor;
    for (unsigned i = 0; i < desc->n_values; i++)
        assert_string_equal(ovop_code_to_string(desc->values[i].value), desc->values[i].name);
    assert_string_equal(ovop_code_to_string((int)desc->n_values), "UNKNOWN");
    assert_string_equal(ovop_code_to_string(-1), "UNKNOWN");
}

typedef struct findings {
    char path[8][64];
    char why[8][64];
    int n;
} findings_t;

static void on_bad(void *userdata, const char *path, const char *why)
{
    findings_t *f = userdata;
    assert_true(f->n < 8);
    snprintf(f->path[f->n], sizeof(f->path[0]), "%s", path);
    snprintf(f->why[f->n], sizeof(f->why[0]), "%s", why);
    f->n++;
}

static int scan(const ProtobufCMessageDescriptor *d, const void *p, size_t n,
                const ovop_wire_limits_t *lim, findings_t *f, const char **why)
{
    memset(f, 0, sizeof(*f));
    return ovop_wire_scan(d, p, n, lim, on_bad, f, why);
}

/* The wire scan: limits on unknown fields, repeated elements (packed ones counted one by
 * one), depth and fields, string findings with their path, and what is not protobuf. */
static void test_wire_scan(void **state)
{
    const ProtobufCMessageDescriptor *imp = &ovop__v1__import_territories_request__descriptor;
    const ProtobufCMessageDescriptor *prod = &ovop__v1__product__descriptor;
    ovop_wire_limits_t lim = ovop_wire_default_limits;
    findings_t f;
    const char *why;

    /* Clean: rows[0].code "41", valid_from "" */
    static const uint8_t ok[] = {0x0a, 0x04, 0x12, 0x02, '4', '1', 0x12, 0x00};
    assert_int_equal(scan(imp, ok, sizeof(ok), NULL, &f, &why), 0);
    assert_int_equal(f.n, 0);
    assert_null(why);

    /* A NUL in rows[1].name_ru, bad UTF-8 in valid_from. */
    static const uint8_t bad[] = {0x0a, 0x00, 0x0a, 0x04, 0x22, 0x02,
                                  'a',  0,    0x12, 0x02, 0xc3, 0x28};
    assert_int_equal(scan(imp, bad, sizeof(bad), NULL, &f, &why), 0);
    assert_int_equal(f.n, 2);
    assert_string_equal(f.path[0], "rows[1].name_ru");
    assert_non_null(strstr(f.why[0], "NUL"));
    assert_string_equal(f.path[1], "valid_from");
    assert_non_null(strstr(f.why[1], "UTF-8"));

    /* Repeated elements: 3 rows pass a limit of 3, 4 do not. */
    static const uint8_t rows4[] = {0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00};
    lim.max_elements = 3;
    assert_int_equal(scan(imp, rows4, 6, &lim, &f, &why), 0);
    assert_int_equal(scan(imp, rows4, 8, &lim, &f, &why), -E2BIG);
    assert_non_null(strstr(why, "elements"));
    /* Packed season_months (field 8): 4 varints in 5 bytes are 4 elements. */
    static const uint8_t packed[] = {0x42, 0x05, 0x01, 0x02, 0x83, 0x01, 0x04};
    assert_int_equal(scan(prod, packed, sizeof(packed), &lim, &f, &why), -E2BIG);
    lim.max_elements = 4;
    assert_int_equal(scan(prod, packed, sizeof(packed), &lim, &f, &why), 0);

    /* Unknown fields, field 0 included (protobuf-c keeps it as one). */
    static const uint8_t unknown[] = {0x78, 0x01, 0x70, 0x02, 0x81, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
    lim = ovop_wire_default_limits;
    lim.max_unknown = 3;
    assert_int_equal(scan(imp, unknown, sizeof(unknown), &lim, &f, &why), 0);
    lim.max_unknown = 2;
    assert_int_equal(scan(imp, unknown, sizeof(unknown), &lim, &f, &why), -E2BIG);
    assert_non_null(strstr(why, "unknown"));

    /* Depth: rows are one level below the top. */
    lim = ovop_wire_default_limits;
    lim.max_depth = 0;
    assert_int_equal(scan(imp, ok, sizeof(ok), &lim, &f, &why), -E2BIG);
    assert_non_null(strstr(why, "deeply"));
    /* Fields over the whole message. */
    lim = ovop_wire_default_limits;
    lim.max_fields = 3;
    assert_int_equal(scan(imp, rows4, 8, &lim, &f, &why), -E2BIG);

    /* Not protobuf: a group, a truncated length, a truncated fixed64. */
    static const uint8_t group[] = {0x0b, 0x0c};
    static const uint8_t shortlen[] = {0x0a, 0x10, 'a'};
    static const uint8_t shortfix[] = {0x79, 1, 2, 3};
    assert_int_equal(scan(imp, group, sizeof(group), NULL, &f, &why), -EBADMSG);
    assert_int_equal(scan(imp, shortlen, sizeof(shortlen), NULL, &f, &why), -EBADMSG);
    assert_int_equal(scan(imp, shortfix, sizeof(shortfix), NULL, &f, &why), -EBADMSG);
    assert_non_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_limits),
        cmocka_unit_test(test_wire_scan),
        cmocka_unit_test(test_wire),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_reply_peek_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
