#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "util.h"

bool ovop_check_text(ovop_call_t *call, const char *field, const char *value, size_t max,
                     bool required)
{
    size_t n = strlen(value);
    if (required && n == 0) {
        ovop_call_violation(call, field, "is required");
        return false;
    }
    if (n > max) {
        ovop_call_violation(call, field, "must be at most %zu bytes, got %zu", max, n);
        return false;
    }
    if (!ovop_utf8_valid(value, n)) {
        ovop_call_violation(call, field, "must be valid UTF-8");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (ovop_control_len(value + i)) {
            ovop_call_violation(call, field, "must not contain control characters");
            return false;
        }
    }
    return true;
}

bool ovop_check_page_token(ovop_call_t *call, const char *token, int64_t *ret_after)
{
    const char *key;
    *ret_after = 0;
    if (!token[0])
        return true;
    if (!ovop_page_token_read(call, token, &key))
        return false;
    char *end = NULL;
    long long v = -1;
    if (key[0] >= '0' && key[0] <= '9') {
        errno = 0;
        v = strtoll(key, &end, 10);
        if (errno == ERANGE) /* past INT64_MAX: not an id we issued */
            v = -1;
    }
    if (v < 0 || !end || *end != '\0') {
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
        ovop_call_reason(call, "PAGE_TOKEN_INVALID");
        return false;
    }
    *ret_after = v;
    return true;
}

unsigned ovop_check_page_size(ovop_call_t *call, unsigned page_size, unsigned def, unsigned max)
{
    if (page_size > max)
        ovop_call_violation(call, "page_size", "must be at most %u, got %u", max, page_size);
    return page_size ? page_size : def;
}

char *ovop_bytea_hex(const void *data, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = data;
    char *s = xmalloc(2 * n + 3);
    s[0] = '\\';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = hex[p[i] >> 4];
        s[3 + 2 * i] = hex[p[i] & 15];
    }
    s[2 * n + 2] = '\0';
    return s;
}

char *ovop_bytea_message(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    char *s = ovop_bytea_hex(buf, n);
    free(buf);
    return s;
}

char *ovop_call_bytea(ovop_call_t *call, const ProtobufCMessage *m)
{
    char *s = ovop_bytea_message(m);
    char *copy = ovop_call_strdup(call, s);
    free(s);
    return copy;
}

char *ovop_call_uuid(ovop_call_t *call)
{
    char uuid[37];
    ovop_uuid4(uuid);
    return ovop_call_strdup(call, uuid);
}
