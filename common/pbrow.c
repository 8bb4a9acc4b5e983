#include "pbrow.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* --- enums --- */

/* The lower-case texts of one enum, made once. */
typedef struct enum_texts {
    struct enum_texts *next;
    const ProtobufCEnumDescriptor *desc;
    size_t prefix_len;
    char **texts; /* by index in desc->values */
} enum_texts_t;

static enum_texts_t *enum_cache;
static pthread_mutex_t enum_lock = PTHREAD_MUTEX_INITIALIZER;

/* "ProducerKind" -> "PRODUCER_KIND_" */
static char *upper_snake_prefix(const char *camel)
{
    size_t n = strlen(camel);
    char *out = xmalloc(2 * n + 2);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && isupper((unsigned char)camel[i]) && !isupper((unsigned char)camel[i - 1]))
            out[o++] = '_';
        out[o++] = (char)toupper((unsigned char)camel[i]);
    }
    out[o++] = '_';
    out[o] = '\0';
    return out;
}

static const enum_texts_t *texts_of(const ProtobufCEnumDescriptor *desc)
{
    pthread_mutex_lock(&enum_lock);
    enum_texts_t *t = enum_cache;
    while (t && t->desc != desc)
        t = t->next;
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        t->desc = desc;
        char *prefix = upper_snake_prefix(desc->short_name);
        size_t pl = strlen(prefix);
        bool all = desc->n_values > 0;
        for (unsigned i = 0; i < desc->n_values; i++)
            all = all && strncmp(desc->values[i].name, prefix, pl) == 0;
        t->prefix_len = all ? pl : 0;
        free(prefix);
        t->texts = xcalloc(desc->n_values ? desc->n_values : 1, sizeof(char *));
        for (unsigned i = 0; i < desc->n_values; i++) {
            char *s = xstrdup(desc->values[i].name + t->prefix_len);
            for (char *p = s; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            t->texts[i] = s;
        }
        t->next = enum_cache;
        enum_cache = t;
    }
    pthread_mutex_unlock(&enum_lock);
    return t;
}

const char *ovop_enum_text(const ProtobufCEnumDescriptor *desc, int value)
{
    if (value == 0)
        return "";
    const enum_texts_t *t = texts_of(desc);
    for (unsigned i = 0; i < desc->n_values; i++)
        if (desc->values[i].value == value)
            return t->texts[i];
    return "";
}

int ovop_enum_value(const ProtobufCEnumDescriptor *desc, const char *text)
{
    if (!text || !text[0])
        return -1;
    const enum_texts_t *t = texts_of(desc);
    for (unsigned i = 0; i < desc->n_values; i++)
        if (desc->values[i].value != 0 &&
            (strcmp(t->texts[i], text) == 0 || strcmp(desc->values[i].name, text) == 0))
            return desc->values[i].value;
    return -1;
}

/* --- scalars from text --- */

static size_t elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4;
    }
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Sets the scalar at p (of field f's type) from text. */
static bool set_from_text(ovop_arena_t *a, const ProtobufCFieldDescriptor *f, void *p,
                          const char *s)
{
    int64_t v;
    char *end;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!parse_i64(s, INT32_MIN, INT32_MAX, &v))
            return false;
        *(int32_t *)p = (int32_t)v;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!parse_i64(s, 0, UINT32_MAX, &v))
            return false;
        *(uint32_t *)p = (uint32_t)v;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return parse_i64(s, INT64_MIN, INT64_MAX, (int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!parse_i64(s, 0, INT64_MAX, &v))
            return false;
        *(uint64_t *)p = (uint64_t)v;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double d = strtod(s, &end);
        if (end == s || *end || !isfinite(d))
            return false;
        if (f->type == PROTOBUF_C_TYPE_FLOAT)
            *(float *)p = (float)d;
        else
            *(double *)p = d;
        return true;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (strcmp(s, "t") == 0 || strcmp(s, "true") == 0)
            *(protobuf_c_boolean *)p = 1;
        else if (strcmp(s, "f") == 0 || strcmp(s, "false") == 0)
            *(protobuf_c_boolean *)p = 0;
        else
            return false;
        return true;
    case PROTOBUF_C_TYPE_ENUM: {
        int e = ovop_enum_value(f->descriptor, s);
        if (e < 0 && s[0])
            return false;
        *(int *)p = e < 0 ? 0 : e;
        return true;
    }
    case PROTOBUF_C_TYPE_STRING:
        *(char **)p = ovop_arena_strdup(a, s);
        return true;
    case PROTOBUF_C_TYPE_BYTES: {
        size_t n = 0;
        unsigned char *raw = PQunescapeBytea((const unsigned char *)s, &n);
        if (!raw)
            return false;
        ProtobufCBinaryData *b = p;
        b->data = ovop_arena_memdup(a, raw, n);
        b->len = n;
        PQfreemem(raw);
        return true;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    return false;
}

/* Marks a field present where its message has a place for that (oneof case, has_). */
static void mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
             f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
}

static ProtobufCMessage *new_message(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = ovop_arena_alloc(a, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

/* --- JSON --- */

static bool set_from_json(ovop_arena_t *a, const ProtobufCFieldDescriptor *f, void *p, json_t *v,
                          const char **ret_why);

static bool json_field(ovop_arena_t *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       json_t *v, const char **ret_why)
{
    char *p = (char *)m + f->offset;
    if (json_is_null(v))
        return true;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v)) {
            *ret_why = f->name;
            return false;
        }
        size_t n = json_array_size(v), sz = elem_size(f);
        char *elems = ovop_arena_alloc(a, (n ? n : 1) * sz);
        for (size_t i = 0; i < n; i++)
            if (!set_from_json(a, f, elems + i * sz, json_array_get(v, i), ret_why))
                return false;
        *(size_t *)((char *)m + f->quantifier_offset) = n;
        *(void **)p = elems;
        return true;
    }
    if (!set_from_json(a, f, p, v, ret_why))
        return false;
    mark_present(m, f);
    return true;
}

static bool set_from_json(ovop_arena_t *a, const ProtobufCFieldDescriptor *f, void *p, json_t *v,
                          const char **ret_why)
{
    char buf[32];
    const char *text = NULL;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage *sub = ovop_pb_from_json(a, f->descriptor, v, ret_why);
        *(ProtobufCMessage **)p = sub;
        return sub != NULL;
    }
    if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        text = buf;
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        text = buf;
    } else if (json_is_boolean(v)) {
        text = json_is_true(v) ? "t" : "f";
    }
    if (!text || (f->type == PROTOBUF_C_TYPE_BYTES) || !set_from_text(a, f, p, text)) {
        *ret_why = f->name;
        return false;
    }
    return true;
}

ProtobufCMessage *ovop_pb_from_json(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                    json_t *obj, const char **ret_why)
{
    if (!json_is_object(obj)) {
        *ret_why = desc->name;
        return NULL;
    }
    ProtobufCMessage *m = new_message(a, desc);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(desc, key);
        if (f && !json_field(a, m, f, v, ret_why))
            return NULL;
    }
    return m;
}

/* --- rows --- */

#define MAX_DEPTH 4

typedef struct column {
    int col;
    int depth; /* fields in path */
    const ProtobufCFieldDescriptor *path[MAX_DEPTH];
} column_t;

struct ovop_rowmap {
    ovop_arena_t *arena;
    const ProtobufCMessageDescriptor *desc;
    column_t *cols;
    int n;
};

ovop_rowmap_t *ovop_rowmap_new(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                               const PGresult *res)
{
    ovop_rowmap_t *m = ovop_arena_alloc(a, sizeof(*m));
    int nf = PQnfields(res);
    m->arena = a;
    m->desc = desc;
    m->cols = ovop_arena_alloc(a, (size_t)(nf ? nf : 1) * sizeof(column_t));
    for (int c = 0; c < nf; c++) {
        column_t col = {.col = c};
        const ProtobufCMessageDescriptor *d = desc;
        const char *name = PQfname(res, c);
        bool ok = true;
        while (ok && name && *name) {
            const char *dot = strchr(name, '.');
            char part[128];
            size_t len = dot ? (size_t)(dot - name) : strlen(name);
            if (len >= sizeof(part) || col.depth == MAX_DEPTH) {
                ok = false;
                break;
            }
            memcpy(part, name, len);
            part[len] = '\0';
            const ProtobufCFieldDescriptor *f =
                d ? protobuf_c_message_descriptor_get_field_by_name(d, part) : NULL;
            if (!f) {
                ok = false;
                break;
            }
            col.path[col.depth++] = f;
            if (dot) {
                /* Only singular message fields have members. */
                assert(f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED);
                d = f->descriptor;
            }
            name = dot ? dot + 1 : NULL;
        }
        if (ok && col.depth > 0)
            m->cols[m->n++] = col;
    }
    return m;
}

ProtobufCMessage *ovop_rowmap_decode(const ovop_rowmap_t *m, const PGresult *res, int row,
                                     const char **ret_why)
{
    ProtobufCMessage *msg = new_message(m->arena, m->desc);
    for (int i = 0; i < m->n; i++) {
        const column_t *c = &m->cols[i];
        if (PQgetisnull(res, row, c->col))
            continue;
        /* Walk (creating) the messages of the path down to the last field's owner. */
        ProtobufCMessage *owner = msg;
        for (int k = 0; k < c->depth - 1; k++) {
            ProtobufCMessage **sub = (ProtobufCMessage **)((char *)owner + c->path[k]->offset);
            if (!*sub) {
                *sub = new_message(m->arena, c->path[k]->descriptor);
                mark_present(owner, c->path[k]);
            }
            owner = *sub;
        }
        const ProtobufCFieldDescriptor *f = c->path[c->depth - 1];
        const char *text = PQgetvalue(res, row, c->col);
        bool ok;
        if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
            ok = j && json_field(m->arena, owner, f, j, ret_why);
            json_decref(j);
        } else {
            ok = set_from_text(m->arena, f, (char *)owner + f->offset, text);
            if (ok)
                mark_present(owner, f);
        }
        if (!ok) {
            *ret_why = PQfname(res, c->col);
            return NULL;
        }
    }
    return msg;
}
