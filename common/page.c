#include "page.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

const ProtobufCFieldDescriptor *ovop_pb_field(const ProtobufCMessageDescriptor *desc,
                                              const char *name, ProtobufCLabel label,
                                              ProtobufCType type)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    assert(f && f->label == label && f->type == type);
    return f;
}

void ovop_page_finish(ovop_call_t *call, PGresult *res, unsigned page_size, const ovop_page_t *page)
{
    const ProtobufCFieldDescriptor *rows_f = ovop_pb_field(
        page->response, page->rows, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE);
    const ProtobufCFieldDescriptor *token_f = ovop_pb_field(
        page->response, "next_page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    size_t n = (size_t)PQntuples(res);
    bool more = n > page_size;
    if (more)
        n = page_size;
    char *rows = xcalloc(n + 1, page->row_size);
    ProtobufCMessage **ptrs = xcalloc(n + 1, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        page->decode(res, (int)i, rows + i * page->row_size);
        ptrs[i] = (ProtobufCMessage *)(rows + i * page->row_size);
    }
    ProtobufCMessage *out = xcalloc(1, page->response->sizeof_message);
    protobuf_c_message_init(page->response, out);
    *(size_t *)((char *)out + rows_f->quantifier_offset) = n;
    *(ProtobufCMessage ***)((char *)out + rows_f->offset) = ptrs;
    char token[128] = "";
    if (more && n > 0)
        snprintf(token, sizeof(token), "%s%s", page->token_prefix,
                 PQgetvalue(res, (int)n - 1, page->key_column));
    *(char **)((char *)out + token_f->offset) = token;
    ovop_call_finish(call, out);
    for (size_t i = 0; page->free_row && i < n; i++)
        page->free_row(rows + i * page->row_size);
    free(out);
    free(ptrs);
    free(rows);
}
