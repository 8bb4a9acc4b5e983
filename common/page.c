#include "page.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pbrow.h"
#include "util.h"

const ProtobufCFieldDescriptor *ovop_pb_field(const ProtobufCMessageDescriptor *desc,
                                              const char *name, ProtobufCLabel label,
                                              ProtobufCType type)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    assert(f && f->label == label && f->type == type);
    return f;
}

#define TOKEN_VERSION "p2."
#define TOKEN_MAX     512

/* The hash a token is bound to: the method and the request without its paging fields. */
static uint64_t request_hash(ovop_call_t *call)
{
    const ProtobufCMessage *in = ovop_call_input(call);
    const ProtobufCMessageDescriptor *desc = in->descriptor;
    ProtobufCMessage *copy = ovop_call_alloc(call, desc->sizeof_message);
    memcpy(copy, in, desc->sizeof_message); /* shallow: packing only reads it */
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(desc, "page_token");
    if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label == PROTOBUF_C_LABEL_NONE)
        *(const char **)((char *)copy + f->offset) = "";
    f = protobuf_c_message_descriptor_get_field_by_name(desc, "page_size");
    if (f && f->type == PROTOBUF_C_TYPE_UINT32 && f->label == PROTOBUF_C_LABEL_NONE)
        *(uint32_t *)((char *)copy + f->offset) = 0;
    size_t n = protobuf_c_message_get_packed_size(copy);
    uint8_t *buf = ovop_call_alloc(call, n ? n : 1);
    protobuf_c_message_pack(copy, buf);
    const char *method = ovop_call_method(call);
    uint64_t h = ovop_fnv1a(OVOP_FNV_INIT, method, strlen(method) + 1);
    return ovop_fnv1a(h, buf, n);
}

char *ovop_page_token_make(ovop_call_t *call, const char *key)
{
    char *raw = ovop_call_printf(call, TOKEN_VERSION "%016llx.%s",
                                 (unsigned long long)request_hash(call), key);
    char *enc = ovop_base64url_encode(raw, strlen(raw));
    char *token = ovop_call_strdup(call, enc);
    free(enc);
    return token;
}

bool ovop_page_token_read(ovop_call_t *call, const char *token, const char **ret_key)
{
    *ret_key = "";
    if (!token[0])
        return true;
    size_t n = 0;
    char *raw = strlen(token) <= TOKEN_MAX ? ovop_base64url_decode(token, &n) : NULL;
    char want[64];
    snprintf(want, sizeof(want), TOKEN_VERSION "%016llx.", (unsigned long long)request_hash(call));
    size_t wl = strlen(want);
    bool ok = raw && n > wl && strlen(raw) == n && strncmp(raw, want, 3) == 0;
    if (ok && strncmp(raw, want, wl) != 0) {
        ovop_call_violation(call, "page_token",
                            "was issued for a request with other filters; repeat that request's "
                            "filters or start without a token");
    } else if (!ok) {
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
    } else {
        *ret_key = ovop_call_strdup(call, raw + wl);
    }
    free(raw);
    if (!ok || !(*ret_key)[0])
        ovop_call_reason(call, "PAGE_TOKEN_INVALID");
    return ok && (*ret_key)[0];
}

/* Decodes rows [0, n) of res by column name (pbrow.h) into messages of type desc in the
 * call's arena; NULL, logged with the request id, when a value does not convert (a bug). */
static ProtobufCMessage **decode_rows(ovop_call_t *call, const ProtobufCMessageDescriptor *desc,
                                      PGresult *res, size_t n)
{
    ProtobufCMessage **ptrs = ovop_call_alloc(call, (n + 1) * sizeof(*ptrs));
    ovop_rowmap_t *map = ovop_rowmap_new(ovop_call_arena(call), desc, res);
    for (size_t i = 0; i < n; i++) {
        const char *why = "";
        ptrs[i] = ovop_rowmap_decode(map, res, (int)i, &why);
        if (!ptrs[i]) {
            log_error_rid(ovop_call_request_id(call), "%s: column %s of row %zu does not convert",
                          ovop_call_method(call), why, i);
            return NULL;
        }
    }
    return ptrs;
}

ProtobufCMessage *ovop_page_response(ovop_call_t *call, const ovop_page_t *page, PGresult *res,
                                     size_t n)
{
    const ProtobufCFieldDescriptor *rows_f = ovop_pb_field(
        page->response, page->rows, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE);
    ProtobufCMessage **ptrs = decode_rows(call, rows_f->descriptor, res, n);
    if (!ptrs) {
        ovop_call_fail_internal(call);
        return NULL;
    }
    ProtobufCMessage *out = ovop_call_message(call, page->response);
    *(size_t *)((char *)out + rows_f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)out + rows_f->offset) = ptrs;
    return out;
}

void ovop_page_finish(ovop_call_t *call, PGresult *res, unsigned page_size, const ovop_page_t *page)
{
    const ProtobufCFieldDescriptor *token_f = ovop_pb_field(
        page->response, "next_page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    int key = PQfnumber(res, page->key);
    assert(key >= 0); /* the statement and its page description disagree */
    size_t n = (size_t)PQntuples(res);
    bool more = n > page_size;
    if (more)
        n = page_size;
    ProtobufCMessage *out = ovop_page_response(call, page, res, n);
    if (!out)
        return;
    char *token = "";
    if (more && n > 0)
        token = ovop_page_token_make(call, PQgetvalue(res, (int)n - 1, key));
    *(char **)((char *)out + token_f->offset) = token;
    ovop_call_finish(call, out);
}
