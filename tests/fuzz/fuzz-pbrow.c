/* Fuzz target: JSON text decoded into a message as it is read (ovop_pb_from_json_text, the
 * path of rows' JSON columns) against the same text parsed by jansson and decoded from the
 * document (ovop_pb_from_json): both refuse the same texts, and what both accept packs to the
 * same bytes. A text naming a member twice is left out (the one documented difference: each
 * of its values must convert). Shipment has nested, repeated and enum fields of every kind
 * the services read. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ovop/v1/exports.pb-c.h"
#include "pbrow.h"

static uint8_t *packed(const ProtobufCMessage *m, size_t *ret_len)
{
    *ret_len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*ret_len + 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *desc = &ovop__v1__shipment__descriptor;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    ovop_arena_t *a = ovop_arena_new();
    const char *why;
    ProtobufCMessage *streamed = ovop_pb_from_json_text(a, desc, text, &why);
    json_t *once = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    json_t *doc = once ? once : json_loads(text, JSON_DECODE_ANY, NULL);
    if (once || !doc) {
        ProtobufCMessage *parsed = doc ? ovop_pb_from_json(a, desc, doc, &why) : NULL;
        if (!streamed != !parsed)
            abort();
        if (streamed) {
            size_t n1, n2;
            uint8_t *b1 = packed(streamed, &n1), *b2 = packed(parsed, &n2);
            if (n1 != n2 || memcmp(b1, b2, n1) != 0)
                abort();
            free(b1);
            free(b2);
        }
    }
    json_decref(doc);
    ovop_arena_destroy(&a);
    free(text);
    return 0;
}
