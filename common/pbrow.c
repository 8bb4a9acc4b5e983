#include "pbrow.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
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
        size_t n = json_array_size(v), sz = ovop_pb_elem_size(f);
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

/* --- JSON text, decoded as it is read ---
 *
 * The JSON columns of a page of rows (lots, documents, members) are decoded straight into
 * their messages, without building a jansson document first: objects there cost a hash table
 * and an allocation per member, several times the decoding itself. The result is the one
 * ovop_pb_from_json(json_loads(text, JSON_DECODE_ANY)) gives, failures included: the grammar,
 * the limits and the conversions are jansson's (numbers reach a field as jansson's value
 * printed, "%lld" or "%.17g", then set_from_text; strings are checked UTF-8 without NUL), a
 * member named twice keeps its last value (but each must convert). tests/fuzz/fuzz-pbrow.c
 * compares the two on any text. */

#define JSON_MAX_DEPTH 2048 /* jansson's nesting limit */

typedef struct jtext {
    ovop_arena_t *a;
    const char *p; /* the next character */
    int depth;
} jtext_t;

static bool jfield(jtext_t *j, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f);

static void jspace(jtext_t *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

/* Consumes c (after white space) when it comes next. */
static bool jtake(jtext_t *j, char c)
{
    jspace(j);
    if (*j->p != c)
        return false;
    j->p++;
    return true;
}

/* Consumes the literal word (true, false, null), which no letter may follow. */
static bool jword(jtext_t *j, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(j->p, word, n) != 0 || isalpha((unsigned char)j->p[n]))
        return false;
    j->p += n;
    return true;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = tolower((unsigned char)s[i]);
        if (!isxdigit(c))
            return -1;
        v = v * 16 + (isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    return v;
}

/* Appends code point cp as UTF-8 at *o. */
static void put_utf8(char **o, uint32_t cp)
{
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xc0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xe0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *u++ = (unsigned char)(0xf0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *u++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    *o = (char *)u;
}

/* An escape after the backslash at *s: its bytes at *o; false when malformed. */
static bool unescape(const char **s, char **o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e = strchr(from, **s);
    if (**s && e) {
        *(*o)++ = to[e - from];
        (*s)++;
        return true;
    }
    if (**s != 'u')
        return false;
    int hi = hex4(*s + 1), lo;
    *s += 5;
    if (hi < 0 || (hi >= 0xdc00 && hi <= 0xdfff))
        return false;
    if (hi >= 0xd800 && hi <= 0xdbff) { /* a surrogate pair */
        if ((*s)[0] != '\\' || (*s)[1] != 'u' || (lo = hex4(*s + 2)) < 0xdc00 || lo > 0xdfff)
            return false;
        *s += 6;
        put_utf8(o, 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00));
    } else {
        put_utf8(o, (uint32_t)hi);
    }
    return true;
}

/* The string at j->p (its opening quote), unescaped into the arena; NULL when malformed, or
 * when it holds a control character, invalid UTF-8 or NUL. */
static char *jstring(jtext_t *j)
{
    const char *s = j->p + 1, *end = s;
    bool escapes = false;
    for (; *end != '"'; end++) {
        if (!*end || (unsigned char)*end < 0x20)
            return NULL;
        if (*end == '\\') {
            escapes = true;
            if (!*++end)
                return NULL;
        }
    }
    /* Escapes only shrink: \uXXXX (6 bytes) is at most 3 bytes of UTF-8, a pair 4 of 12. */
    char *out = ovop_arena_alloc(j->a, (size_t)(end - s) + 1), *o = out;
    if (!escapes) {
        memcpy(out, s, (size_t)(end - s));
        o += end - s;
    }
    while (escapes && s < end) {
        if (*s != '\\')
            *o++ = *s++;
        else if (s++, !unescape(&s, &o))
            return NULL;
    }
    *o = '\0';
    j->p = end + 1;
    return ovop_utf8_valid(out, (size_t)(o - out)) ? out : NULL;
}

/* A member's name and its colon, the name in the arena; NULL when malformed. */
static char *jkey(jtext_t *j)
{
    jspace(j);
    char *key = *j->p == '"' ? jstring(j) : NULL;
    return key && jtake(j, ':') ? key : NULL;
}

/* The number at j->p, by JSON's grammar: its text in *ret (NUL-terminated, in buf when it
 * fits, else in the arena) and whether it is an integer (no fraction, no exponent). */
static bool jnumber(jtext_t *j, char buf[static 64], const char **ret, bool *ret_integral)
{
    const char *s = j->p, *q = s;
    q += *q == '-';
    if (*q == '0')
        q++;
    else if (isdigit((unsigned char)*q))
        while (isdigit((unsigned char)*q))
            q++;
    else
        return false;
    bool integral = true;
    if (*q == '.') {
        integral = false;
        if (!isdigit((unsigned char)*++q))
            return false;
        while (isdigit((unsigned char)*q))
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        integral = false;
        q += q[1] == '+' || q[1] == '-';
        if (!isdigit((unsigned char)*++q))
            return false;
        while (isdigit((unsigned char)*q))
            q++;
    }
    if (isdigit((unsigned char)*q)) /* "01" */
        return false;
    size_t n = (size_t)(q - s);
    *ret = n < 64 ? memcpy(buf, s, n) : ovop_arena_strndup(j->a, s, n);
    if (n < 64)
        buf[n] = '\0';
    *ret_integral = integral;
    j->p = q;
    return true;
}

/* A number as jansson holds it: false where jansson refuses it (an integer beyond int64, a
 * real beyond double); its printed form in text. */
static bool jansson_number(const char *s, bool integral, char text[static 32])
{
    errno = 0;
    if (integral) {
        long long v = strtoll(s, NULL, 10);
        snprintf(text, 32, "%lld", v);
        return errno != ERANGE;
    }
    double d = strtod(s, NULL);
    snprintf(text, 32, "%.17g", d);
    return !((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE);
}

static bool is_integer(const ProtobufCFieldDescriptor *f)
{
    return f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_SINT32 ||
           f->type == PROTOBUF_C_TYPE_SFIXED32 || f->type == PROTOBUF_C_TYPE_UINT32 ||
           f->type == PROTOBUF_C_TYPE_FIXED32 || f->type == PROTOBUF_C_TYPE_INT64 ||
           f->type == PROTOBUF_C_TYPE_SINT64 || f->type == PROTOBUF_C_TYPE_SFIXED64 ||
           f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_FIXED64;
}

/* A number into the scalar at p. Where the text converts as jansson's printed value would
 * (integers into integer fields, reals into floating point ones), from the text itself. */
static bool jnumber_into(jtext_t *j, const ProtobufCFieldDescriptor *f, void *p)
{
    char buf[64], text[32];
    const char *s;
    bool integral;
    if (!jnumber(j, buf, &s, &integral) || f->type == PROTOBUF_C_TYPE_BYTES)
        return false;
    bool floating = f->type == PROTOBUF_C_TYPE_DOUBLE || f->type == PROTOBUF_C_TYPE_FLOAT;
    if ((integral && is_integer(f)) || (!integral && floating))
        return set_from_text(j->a, f, p, s);
    return jansson_number(s, integral, text) && set_from_text(j->a, f, p, text);
}

/* Skips a value of no field (a member the message does not have), checking it as jansson
 * would read it. */
static bool jskip(jtext_t *j)
{
    char buf[64], text[32];
    const char *s;
    bool integral, ok = true;
    jspace(j);
    switch (*j->p) {
    case '"':
        return jstring(j) != NULL;
    case '{':
    case '[': {
        char close = *j->p == '{' ? '}' : ']';
        if (++j->depth > JSON_MAX_DEPTH)
            return false;
        j->p++;
        if (!jtake(j, close)) {
            do {
                if (close == '}' && !jkey(j))
                    return false;
                ok = jskip(j);
            } while (ok && jtake(j, ','));
            ok = ok && jtake(j, close);
        }
        j->depth--;
        return ok;
    }
    case 't':
        return jword(j, "true");
    case 'f':
        return jword(j, "false");
    case 'n':
        return jword(j, "null");
    default:
        return jnumber(j, buf, &s, &integral) && jansson_number(s, integral, text);
    }
}

/* The object at j->p as a new message of type desc, at *ret. */
static bool jobject(jtext_t *j, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **ret)
{
    if (!jtake(j, '{') || ++j->depth > JSON_MAX_DEPTH)
        return false;
    ProtobufCMessage *m = new_message(j->a, desc);
    if (!jtake(j, '}')) {
        do {
            char *key = jkey(j);
            if (!key)
                return false;
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(desc, key);
            if (!(f ? jfield(j, m, f) : jskip(j)))
                return false;
        } while (jtake(j, ','));
        if (!jtake(j, '}'))
            return false;
    }
    j->depth--;
    *ret = m;
    return true;
}

/* One value (not null) into the slot p of field f's type: a message from an object, a scalar
 * from a string, number or boolean. */
static bool jelement(jtext_t *j, const ProtobufCFieldDescriptor *f, void *p)
{
    jspace(j);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return jobject(j, f->descriptor, p);
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return false;
    char *str;
    switch (*j->p) {
    case '"':
        if (!(str = jstring(j)))
            return false;
        if (f->type != PROTOBUF_C_TYPE_STRING)
            return set_from_text(j->a, f, p, str);
        *(char **)p = str;
        return true;
    case 't':
        return jword(j, "true") && set_from_text(j->a, f, p, "t");
    case 'f':
        return jword(j, "false") && set_from_text(j->a, f, p, "f");
    default:
        return jnumber_into(j, f, p);
    }
}

/* An array into repeated field f of m. */
static bool jarray(jtext_t *j, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    if (!jtake(j, '[') || ++j->depth > JSON_MAX_DEPTH)
        return false;
    size_t n = 0, cap = 8, sz = ovop_pb_elem_size(f);
    char *elems = ovop_arena_alloc(j->a, cap * sz);
    if (!jtake(j, ']')) {
        do {
            if (n == cap) { /* the arena keeps the old block: arrays here are short */
                char *more = ovop_arena_alloc(j->a, 2 * cap * sz);
                memcpy(more, elems, n * sz);
                elems = more;
                cap *= 2;
            }
            if (!jelement(j, f, elems + n++ * sz))
                return false;
        } while (jtake(j, ','));
        if (!jtake(j, ']'))
            return false;
    }
    j->depth--;
    *(size_t *)((char *)m + f->quantifier_offset) = n;
    *(void **)((char *)m + f->offset) = elems;
    return true;
}

/* The value of member f of m: null leaves the field unset, a repeated field takes an array. */
static bool jfield(jtext_t *j, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    jspace(j);
    if (*j->p == 'n')
        return jword(j, "null");
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return jarray(j, m, f);
    if (!jelement(j, f, (char *)m + f->offset))
        return false;
    mark_present(m, f);
    return true;
}

/* The whole of text as the value of field f of m: nothing may follow it. */
static bool json_text_field(ovop_arena_t *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                            const char *text)
{
    jtext_t j = {.a = a, .p = text};
    return jfield(&j, m, f) && (jspace(&j), *j.p == '\0');
}

ProtobufCMessage *ovop_pb_from_json_text(ovop_arena_t *a, const ProtobufCMessageDescriptor *desc,
                                         const char *text, const char **ret_why)
{
    jtext_t j = {.a = a, .p = text};
    ProtobufCMessage *m;
    if (jobject(&j, desc, &m) && (jspace(&j), *j.p == '\0'))
        return m;
    *ret_why = desc->name;
    return NULL;
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
            ok = json_text_field(m->arena, owner, f, text);
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
