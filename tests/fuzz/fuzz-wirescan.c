/* Fuzz target: the wire scan (ovop_wire_scan) against protobuf-c on the same bytes, over a
 * message type with nested and repeated messages, strings and packed scalars
 * (ImportTerritoriesRequest, Product, Shipment, picked by the first byte). What the scan
 * lets through with no string finding must decode to strings as long as on the wire (no NUL
 * cut), valid UTF-8; what protobuf-c refuses, the scan may pass (protobuf-c then answers). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "util.h"

static void on_bad(void *userdata, const char *path, const char *why)
{
    int *n = userdata;
    (*n)++;
    if (!path[0] || !why[0])
        abort();
}

/* Every string of m is valid UTF-8 (protobuf-c stops at a NUL, so strlen is its length). */
static void strings_valid(const ProtobufCMessage *m, unsigned depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 40)
        abort();
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        size_t n = f->label == PROTOBUF_C_LABEL_REPEATED
                       ? *(const size_t *)(base + f->quantifier_offset)
                       : 1;
        void *const *arr = f->label == PROTOBUF_C_LABEL_REPEATED
                               ? *(void *const *const *)(base + f->offset)
                               : (void *const *)(base + f->offset);
        for (size_t j = 0; j < n; j++) {
            if (f->type == PROTOBUF_C_TYPE_STRING && !ovop_utf8_valid(arr[j], strlen(arr[j])))
                abort();
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && arr[j])
                strings_valid(arr[j], depth + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ProtobufCMessageDescriptor *const types[] = {
        &ovop__v1__import_territories_request__descriptor,
        &ovop__v1__product__descriptor,
        &ovop__v1__shipment__descriptor,
        &ovop__v1__request__descriptor,
    };
    if (size < 1)
        return 0;
    const ProtobufCMessageDescriptor *desc = types[data[0] % OVOP_ARRAY_SIZE(types)];
    int bad = 0;
    const char *why = NULL;
    int r = ovop_wire_scan(desc, data + 1, size - 1, NULL, on_bad, &bad, &why);
    if (r < 0 && !why)
        abort();
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, size - 1, data + 1);
    if (r == 0 && bad == 0 && m) {
        /* Re-encoded, the strings keep every byte: the packed size is the input's, less
         * only what protobuf-c drops or normalises, never a string cut at a NUL. */
        strings_valid(m, 0);
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        protobuf_c_message_pack(m, buf);
        int again = 0;
        if (ovop_wire_scan(desc, buf, n, NULL, on_bad, &again, &why) != 0 || again)
            abort();
        free(buf);
    }
    if (r == -EBADMSG && m) {
        /* The scan refuses only what is not protobuf: protobuf-c must agree. */
        abort();
    }
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
