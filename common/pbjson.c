#include "pbjson.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static json_t *base64(const ProtobufCBinaryData *b)
{
    char *out = ovop_base64_encode(b->data, b->len);
    json_t *j = json_string(out);
    free(out);
    return j;
}

static json_t *scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
    char buf[32];
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
        return json_string(buf);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
        return ev ? json_string(ev->name) : json_integer(*(const int *)p);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = json_string(s ? s : "");
        return j ? j : json_string("(invalid UTF-8)");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return base64(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        return sub ? ovop_pb_to_json(sub) : json_null();
    }
    }
    return json_null();
}

size_t ovop_pb_elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

/* True for the entry messages protoc makes for a map field (repeated XEntry{key, value}):
 * proto3's JSON mapping writes the map as an object. */
static bool is_map(const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t n = strlen(e->short_name);
    return n > 5 && strcmp(e->short_name + n - 5, "Entry") == 0 && e->n_fields == 2 &&
           strcmp(e->fields[0].name, "key") == 0 && e->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           strcmp(e->fields[1].name, "value") == 0;
}

static json_t *map_object(const ProtobufCFieldDescriptor *f, ProtobufCMessage *const *entries,
                          size_t n)
{
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *vf = &ed->fields[1];
    json_t *o = json_object();
    for (size_t k = 0; k < n; k++) {
        const char *e = (const char *)entries[k];
        const char *key = *(char *const *)(e + ed->fields[0].offset);
        json_object_set_new(o, key ? key : "", scalar(vf, e + vf->offset));
    }
    return o;
}

json_t *ovop_pb_to_json(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            const char *arr = *(char *const *)(base + f->offset);
            if (is_map(f)) {
                json_object_set_new(o, f->name, map_object(f, (ProtobufCMessage *const *)arr, n));
                continue;
            }
            json_t *a = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(a, scalar(f, arr + k * ovop_pb_elem_size(f)));
            json_object_set_new(o, f->name, a);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)(base + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        json_object_set_new(o, f->name, scalar(f, base + f->offset));
    }
    return o;
}
