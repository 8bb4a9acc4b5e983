#include "envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *ovop_code_to_string(int code)
{
    if (code < 0 || (size_t)code >= OVOP_ARRAY_SIZE(code_names))
        return "UNKNOWN";
    return code_names[code];
}

/* Field numbers of Request's strings (envelope.proto: field numbers are a contract). */
enum { REQUEST_ID_FIELD = 1, METHOD_FIELD = 2, CALLER_FIELD = 5, ON_BEHALF_OF_FIELD = 6 };

static bool read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; *i < n && shift < 64; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

/* True when a length-delimited occurrence of field in the encoded message p[0..n) holds a NUL
 * byte. protobuf-c ends a string at its first NUL, so "ab\0cd" would arrive as "ab". */
static bool wire_field_has_nul(const uint8_t *p, size_t n, uint64_t field)
{
    size_t i = 0;
    uint64_t key, v;
    while (i < n && read_varint(p, n, &i, &key)) {
        switch (key & 7) {
        case 0: /* varint */
            if (!read_varint(p, n, &i, &v))
                return false;
            break;
        case 1: /* 64-bit */
            i += 8;
            break;
        case 5: /* 32-bit */
            i += 4;
            break;
        case 2: /* length-delimited */
            if (!read_varint(p, n, &i, &v) || v > n - i)
                return false;
            if (key >> 3 == field && memchr(p + i, 0, v))
                return true;
            i += v;
            break;
        default: /* groups: protobuf-c refused the message already */
            return false;
        }
    }
    return false;
}

/* s, the string field `field` of the encoded Request p[0..n): UTF-8 of at most max bytes,
 * with no NUL on the wire. */
static bool str_ok(const char *s, size_t max, const void *p, size_t n, uint64_t field)
{
    size_t len = strlen(s);
    return len <= max && ovop_utf8_valid(s, len) && !wire_field_has_nul(p, n, field);
}

void ovop_request_peek_id(const void *buf, size_t n, char out[static OVOP_MAX_REQUEST_ID + 1])
{
    const uint8_t *p = buf;
    size_t i = 0;
    uint64_t key, v;
    out[0] = '\0';
    while (i < n && read_varint(p, n, &i, &key)) {
        switch (key & 7) {
        case 0:
            if (!read_varint(p, n, &i, &v))
                return;
            break;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2:
            if (!read_varint(p, n, &i, &v) || v > n - i)
                return;
            if (key >> 3 == REQUEST_ID_FIELD) {
                if (v >= 1 && v <= OVOP_MAX_REQUEST_ID && !memchr(p + i, 0, v) &&
                    ovop_utf8_valid((const char *)p + i, v)) {
                    memcpy(out, p + i, v);
                    out[v] = '\0';
                } else {
                    out[0] = '\0';
                }
            }
            i += v;
            break;
        default:
            return;
        }
    }
}

/* The first field numbered field, of wire type type (0 varint, 2 length-delimited), of
 * p[0..n): a varint's value in *ret_v, a length-delimited field's length in *ret_v and its
 * offset in *ret_at. Returns false when absent or the bytes are not protobuf. */
static bool wire_find(const uint8_t *p, size_t n, uint64_t field, uint64_t type, uint64_t *ret_v,
                      size_t *ret_at)
{
    size_t i = 0;
    uint64_t key, v;
    while (i < n && read_varint(p, n, &i, &key)) {
        switch (key & 7) {
        case 0:
            if (!read_varint(p, n, &i, &v))
                return false;
            if (key >> 3 == field && type == 0) {
                *ret_v = v;
                return true;
            }
            break;
        case 1:
            i += 8;
            break;
        case 5:
            i += 4;
            break;
        case 2:
            if (!read_varint(p, n, &i, &v) || v > n - i)
                return false;
            if (key >> 3 == field && type == 2) {
                *ret_v = v;
                *ret_at = i;
                return true;
            }
            i += v;
            break;
        default:
            return false;
        }
    }
    return false;
}

int ovop_reply_peek_code(const void *buf, size_t n)
{
    const uint8_t *p = buf;
    uint64_t len = 0, code = 0;
    size_t at = 0;
    if (!wire_find(p, n, 2, 2, &len, &at)) /* Reply.status absent: OK */
        return OVOP_OK;
    if (!wire_find(p + at, (size_t)len, 1, 0, &code, &at)) /* Status.code absent: OK */
        return OVOP_OK;
    return code > INT32_MAX ? (int)OVOP__V1__STATUS__CODE__UNKNOWN : (int)code;
}

int ovop_request_decode(const void *p, size_t n, size_t max, Ovop__V1__Request **ret_req,
                        const char **ret_err)
{
    if (n > max) {
        *ret_err = "request exceeds the maximum message size";
        return -EMSGSIZE;
    }
    /* Unknown fields would each cost an allocation: bound them before protobuf-c runs. */
    const char *why;
    int r = ovop_wire_scan(&ovop__v1__request__descriptor, p, n, NULL, NULL, NULL, &why);
    if (r == -E2BIG) {
        *ret_err = why;
        return -E2BIG;
    }
    Ovop__V1__Request *req = r < 0 ? NULL : ovop__v1__request__unpack(NULL, n, p);
    if (!req) {
        *ret_err = "body is not a valid ovop.v1.Request";
        return -EBADMSG;
    }
    /* protobuf-c validates UTF-8 of proto3 strings only loosely; check every string. */
    const char *err = NULL;
    if (req->request_id[0] == '\0')
        err = "request_id is required";
    else if (!str_ok(req->request_id, OVOP_MAX_REQUEST_ID, p, n, REQUEST_ID_FIELD))
        err = "request_id must be UTF-8 of at most 128 bytes";
    else if (req->method[0] == '\0')
        err = "method is required";
    else if (!str_ok(req->method, OVOP_MAX_METHOD, p, n, METHOD_FIELD))
        err = "method must be UTF-8 of at most 64 bytes";
    else if (!str_ok(req->caller, OVOP_MAX_CALLER, p, n, CALLER_FIELD))
        err = "caller must be UTF-8 of at most 128 bytes";
    else if (!str_ok(req->on_behalf_of, OVOP_MAX_CALLER, p, n, ON_BEHALF_OF_FIELD))
        err = "on_behalf_of must be UTF-8 of at most 128 bytes";
    if (err) {
        /* Keep the request so the caller can still answer with its request_id when valid. */
        *ret_req = req;
        *ret_err = err;
        return -EINVAL;
    }
    *ret_req = req;
    *ret_err = NULL;
    return 0;
}

void *ovop_request_encode(const char *request_id, const char *method, const void *body,
                          size_t body_len, unsigned deadline_ms, const char *on_behalf_of,
                          size_t *ret_len)
{
    Ovop__V1__Request req = OVOP__V1__REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.method = (char *)method;
    req.body.data = (uint8_t *)body;
    req.body.len = body_len;
    req.deadline_ms = deadline_ms;
    req.on_behalf_of = (char *)(on_behalf_of ? on_behalf_of : "");
    size_t n = ovop__v1__request__get_packed_size(&req);
    void *buf = xmalloc(n);
    ovop__v1__request__pack(&req, buf);
    *ret_len = n;
    return buf;
}

void *ovop_reply_encode(const char *request_id, const Ovop__V1__Status *status, const void *body,
                        size_t body_len, size_t *ret_len)
{
    Ovop__V1__Reply rep = OVOP__V1__REPLY__INIT;
    Ovop__V1__Status ok = OVOP__V1__STATUS__INIT;
    rep.request_id = (char *)(request_id ? request_id : "");
    rep.status = (Ovop__V1__Status *)(status ? status : &ok);
    rep.body.data = (uint8_t *)body;
    rep.body.len = body ? body_len : 0;
    size_t n = ovop__v1__reply__get_packed_size(&rep);
    void *buf = xmalloc(n);
    ovop__v1__reply__pack(&rep, buf);
    *ret_len = n;
    return buf;
}

void *ovop_reply_error(const char *request_id, const char *domain, ovop_code_t code,
                       const char *reason, const char *message, size_t *ret_len)
{
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    st.code = code;
    st.domain = (char *)(domain ? domain : "");
    st.reason = (char *)(reason ? reason : "");
    st.message = (char *)message;
    return ovop_reply_encode(request_id, &st, NULL, 0, ret_len);
}

const ovop_wire_limits_t ovop_wire_default_limits = {
    .max_depth = 32,
    .max_elements = 10000,
    .max_fields = 200000,
    .max_unknown = 256,
    .max_bad_strings = 16,
};

/* Counters per field of one message instance are kept for at most this many fields (the
 * largest message has 30); beyond it only the message-wide limits apply. */
#define WIRE_MAX_FIELDS 128
#define WIRE_MAX_PATH   256

typedef struct wire_scan {
    const ovop_wire_limits_t *lim;
    ovop_wire_string_fn bad;
    void *userdata;
    size_t fields;
    size_t unknown;
    unsigned n_bad;
    const char *why;
    char path[WIRE_MAX_PATH];
} wire_scan_t;

/* Skips the value of a field of wire type wt at p[*i..n). False when it overruns. */
static bool wire_skip(const uint8_t *p, size_t n, size_t *i, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0:
        return read_varint(p, n, i, &v);
    case 1:
    case 5: {
        size_t w = wt == 1 ? 8 : 4;
        if (n - *i < w)
            return false;
        *i += w;
        return true;
    }
    case 2:
        if (!read_varint(p, n, i, &v) || v > n - *i)
            return false;
        *i += v;
        return true;
    default: /* groups (3, 4) are refused by protobuf-c, 6 and 7 do not exist */
        return false;
    }
}

/* Elements in a packed run of len bytes at q of a scalar type; 1 for anything else. */
static size_t packed_count(ProtobufCType type, const uint8_t *q, size_t len)
{
    switch (type) {
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return len / 4;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return len / 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 1;
    default: { /* varints: one ends at each byte without the continuation bit */
        size_t k = 0;
        for (size_t j = 0; j < len; j++)
            k += !(q[j] & 0x80);
        return k;
    }
    }
}

/* Appends "name" or "name[index]" to the path at len; returns the new length. */
static size_t path_push(wire_scan_t *s, size_t len, const char *name, bool repeated, size_t index)
{
    int r = repeated ? snprintf(s->path + len, sizeof(s->path) - len, "%s%s[%zu]", len ? "." : "",
                                name, index)
                     : snprintf(s->path + len, sizeof(s->path) - len, "%s%s", len ? "." : "", name);
    size_t end = r < 0 ? len : len + (size_t)r;
    return end < sizeof(s->path) ? end : sizeof(s->path) - 1;
}

static void check_string(wire_scan_t *s, size_t path_len, const ProtobufCFieldDescriptor *f,
                         size_t index, const uint8_t *q, size_t len)
{
    const char *why = memchr(q, 0, len)                        ? "must not contain a NUL byte"
                      : !ovop_utf8_valid((const char *)q, len) ? "must be valid UTF-8"
                                                               : NULL;
    if (!why || s->n_bad >= s->lim->max_bad_strings)
        return;
    s->n_bad++;
    path_push(s, path_len, f->name, f->label == PROTOBUF_C_LABEL_REPEATED, index);
    if (s->bad)
        s->bad(s->userdata, s->path, why);
    s->path[path_len] = '\0';
}

static int scan_message(wire_scan_t *s, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        size_t n, unsigned depth, size_t path_len);

/* One known field whose value starts at p[*i]; advances *i past it. */
static int scan_field(wire_scan_t *s, const ProtobufCFieldDescriptor *f, unsigned wt,
                      const uint8_t *p, size_t n, size_t *i, uint32_t *count, unsigned depth,
                      size_t path_len)
{
    uint64_t len = 0;
    if (wt == 2 && (!read_varint(p, n, i, &len) || len > n - *i))
        return -EBADMSG;
    if (wt != 2 && !wire_skip(p, n, i, wt))
        return -EBADMSG;
    const uint8_t *q = p + *i;
    size_t k = wt == 2 ? packed_count(f->type, q, len) : 1;
    if (k > 1 && (s->fields += k - 1) > s->lim->max_fields) {
        s->why = "the message has too many fields";
        return -E2BIG;
    }
    size_t index = count ? *count : 0;
    if (count && f->label == PROTOBUF_C_LABEL_REPEATED &&
        (*count += (uint32_t)(k < UINT32_MAX ? k : UINT32_MAX)) > s->lim->max_elements) {
        s->why = "a repeated field has too many elements";
        return -E2BIG;
    }
    int r = 0;
    if (wt == 2 && f->type == PROTOBUF_C_TYPE_STRING) {
        check_string(s, path_len, f, index, q, len);
    } else if (wt == 2 && f->type == PROTOBUF_C_TYPE_MESSAGE) {
        if (depth >= s->lim->max_depth) {
            s->why = "the message is nested too deeply";
            return -E2BIG;
        }
        size_t sub = path_push(s, path_len, f->name, f->label == PROTOBUF_C_LABEL_REPEATED, index);
        r = scan_message(s, f->descriptor, q, len, depth + 1, sub);
        s->path[path_len] = '\0';
    }
    if (wt == 2)
        *i += len;
    return r;
}

static int scan_message(wire_scan_t *s, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        size_t n, unsigned depth, size_t path_len)
{
    uint32_t counts[WIRE_MAX_FIELDS] = {0};
    size_t i = 0;
    uint64_t key;
    while (i < n) {
        /* Field number 0 is no field, but protobuf-c takes it as an unknown one (found by
         * fuzz-wirescan): so does the scan, counting it. */
        if (!read_varint(p, n, &i, &key) || key >> 3 > UINT32_MAX)
            return -EBADMSG;
        if (++s->fields > s->lim->max_fields) {
            s->why = "the message has too many fields";
            return -E2BIG;
        }
        unsigned wt = (unsigned)(key & 7);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
        if (!f) {
            if (++s->unknown > s->lim->max_unknown) {
                s->why = "the message has too many unknown fields";
                return -E2BIG;
            }
            if (!wire_skip(p, n, &i, wt))
                return -EBADMSG;
            continue;
        }
        size_t idx = (size_t)(f - desc->fields);
        int r = scan_field(s, f, wt, p, n, &i, idx < WIRE_MAX_FIELDS ? &counts[idx] : NULL, depth,
                           path_len);
        if (r < 0)
            return r;
    }
    return 0;
}

int ovop_wire_scan(const ProtobufCMessageDescriptor *desc, const void *p, size_t n,
                   const ovop_wire_limits_t *lim, ovop_wire_string_fn bad, void *userdata,
                   const char **ret_why)
{
    wire_scan_t s = {
        .lim = lim ? lim : &ovop_wire_default_limits, .bad = bad, .userdata = userdata};
    int r = scan_message(&s, desc, p, n, 0, 0);
    *ret_why = r == -E2BIG ? s.why : r == -EBADMSG ? "the bytes are not a protobuf message" : NULL;
    return r;
}
