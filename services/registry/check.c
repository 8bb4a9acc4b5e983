/* Input checks shared by the registry's handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "registry.h"

bool registry_soate_valid(const char *code, const char **ret_why)
{
    if (strlen(code) != 14) {
        *ret_why = "must be 14 digits";
        return false;
    }
    if (!ovop_all_digits(code, 14)) {
        *ret_why = "must contain digits only";
        return false;
    }
    if (strncmp(code, "417", 3) != 0) {
        *ret_why = "must start with 417, the code of the Kyrgyz Republic";
        return false;
    }
    return true;
}

void registry_soate_prefix(const char *code, char out[static 15])
{
    size_t n = 14;
    if (strcmp(code + 5, "000000000") == 0)
        n = 5;
    else if (strcmp(code + 8, "000000") == 0)
        n = 8;
    else if (strcmp(code + 11, "000") == 0)
        n = 11;
    memcpy(out, code, n);
    out[n] = '\0';
}

bool registry_inn_valid(const char *inn, const char **ret_why)
{
    if (!ovop_all_digits(inn, 14)) {
        *ret_why = "must be 14 digits";
        return false;
    }
    if (inn[0] != '0' && inn[0] != '1' && inn[0] != '2') {
        *ret_why = "must start with 0 (organisation), 1 or 2 (person)";
        return false;
    }
    char date[11];
    /* DDMMYYYY -> YYYY-MM-DD */
    snprintf(date, sizeof(date), "%.4s-%.2s-%.2s", inn + 5, inn + 3, inn + 1);
    if (!ovop_date_valid(date)) {
        *ret_why = "digits 2 to 9 must be a date DDMMYYYY";
        return false;
    }
    return true;
}

bool registry_check_text(ovop_call_t *call, const char *field, const char *value, size_t max,
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
        unsigned char c = (unsigned char)value[i];
        if (c < 0x20 || c == 0x7f) {
            ovop_call_violation(call, field, "must not contain control characters");
            return false;
        }
    }
    return true;
}

bool registry_hs_valid(const char *hs)
{
    return ovop_all_digits(hs, 6);
}

bool registry_page_token(ovop_call_t *call, const char *token, const char *prefix,
                         int64_t *ret_after)
{
    size_t pl = strlen(prefix);
    *ret_after = 0;
    if (!token[0])
        return true;
    char *end = NULL;
    long long v = -1;
    if (strncmp(token, prefix, pl) == 0 && token[pl] >= '0' && token[pl] <= '9')
        v = strtoll(token + pl, &end, 10);
    if (v < 0 || !end || *end != '\0') {
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
        return false;
    }
    *ret_after = v;
    return true;
}

unsigned registry_page_size(ovop_call_t *call, unsigned page_size)
{
    if (page_size > REGISTRY_MAX_PAGE)
        ovop_call_violation(call, "page_size", "must be at most %d, got %u", REGISTRY_MAX_PAGE,
                            page_size);
    return page_size ? page_size : REGISTRY_DEFAULT_PAGE;
}

void registry_fail_db(ovop_call_t *call, const char *error)
{
    log_error_rid(ovop_call_request_id(call), "%s failed: %s", ovop_call_method(call), error);
    ovop_call_fail(call, OVOP_UNAVAILABLE, "the registry database is unavailable, retry later");
}

typedef struct id_req {
    registry_id_cb cb;
    void *userdata;
} id_req_t;

static void on_id(PGresult *res, const char *error, void *userdata)
{
    id_req_t q = *(id_req_t *)userdata;
    free(userdata);
    if (error)
        q.cb(0, error, q.userdata);
    else
        q.cb(strtoll(PQgetvalue(res, 0, 0), NULL, 10), NULL, q.userdata);
}

void registry_next_id(registry_t *r, registry_id_cb cb, void *userdata)
{
    id_req_t *q = xmalloc(sizeof(*q));
    q->cb = cb;
    q->userdata = userdata;
    ovop_pg_query(r->pg, "SELECT nextval('registry.ids')", 0, NULL, on_id, q);
}

char *registry_bytea_param(const ProtobufCMessage *m)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    char *s = xmalloc(2 * n + 3);
    s[0] = '\\';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = hex[buf[i] >> 4];
        s[3 + 2 * i] = hex[buf[i] & 15];
    }
    s[2 * n + 2] = '\0';
    free(buf);
    return s;
}
