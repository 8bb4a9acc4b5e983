#include "envelope.h"

#include <errno.h>
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

int ovop_request_decode(const void *p, size_t n, size_t max, Ovop__V1__Request **ret_req,
                        const char **ret_err)
{
    if (n > max) {
        *ret_err = "request exceeds the maximum message size";
        return -EMSGSIZE;
    }
    Ovop__V1__Request *req = ovop__v1__request__unpack(NULL, n, p);
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
