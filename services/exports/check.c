/* Names, input checks and parameter encodings shared by exportd's handlers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exports.h"
#include "log.h"

#define NAMES(arr)                                                                                 \
    {                                                                                              \
        arr, OVOP_ARRAY_SIZE(arr)                                                                  \
    }

static const char *const status_names[] = {
    "",         "draft",     "declared",  "documents_complete", "released",
    "departed", "delivered", "cancelled", "rejected",           "returned"};
static const char *const doc_type_names[] = {"",
                                             "contract",
                                             "invoice",
                                             "cmr",
                                             "packing_list",
                                             "origin_ct1",
                                             "origin_form_a",
                                             "origin_general",
                                             "conformity",
                                             "phytosanitary",
                                             "veterinary",
                                             "customs_declaration",
                                             "transport_waybill"};
static const char *const doc_status_names[] = {"", "requested", "issued", "rejected", "revoked"};
static const char *const incoterm_names[] = {"",    "EXW", "FCA", "CPT", "CIP", "DAP",
                                             "DPU", "DDP", "FAS", "FOB", "CFR", "CIF"};
static const char *const mode_names[] = {"", "road", "rail", "air"};
static const char *const exporter_kind_names[] = {"", "producer", "cooperative"};

const exports_names_t exports_statuses = NAMES(status_names);
const exports_names_t exports_doc_types = NAMES(doc_type_names);
const exports_names_t exports_doc_statuses = NAMES(doc_status_names);
const exports_names_t exports_incoterms = NAMES(incoterm_names);
const exports_names_t exports_modes = NAMES(mode_names);
const exports_names_t exports_exporter_kinds = NAMES(exporter_kind_names);

const char *exports_name(const exports_names_t *t, int v)
{
    return v > 0 && (size_t)v < t->n ? t->names[v] : "";
}

int exports_value(const exports_names_t *t, const char *s)
{
    for (size_t i = 1; i < t->n; i++)
        if (strcmp(t->names[i], s) == 0)
            return (int)i;
    return 0;
}

bool exports_check_text(ovop_call_t *call, const char *field, const char *value, size_t max,
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

bool exports_check_country(ovop_call_t *call, const char *field, const char *code)
{
    if (!code[0]) {
        ovop_call_violation(call, field, "is required (ISO 3166-1 alpha-2, e.g. CN)");
        return false;
    }
    if (strlen(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z') {
        ovop_call_violation(call, field,
                            "must be an ISO 3166-1 alpha-2 code (two capital letters, e.g. CN), "
                            "got \"%.16s\"",
                            code);
        return false;
    }
    return true;
}

bool exports_check_date(ovop_call_t *call, const char *field, const char *date, bool required)
{
    if (!date[0]) {
        if (required)
            ovop_call_violation(call, field, "is required (YYYY-MM-DD)");
        return !required;
    }
    if (!ovop_date_valid(date)) {
        ovop_call_violation(call, field, "must be a date written YYYY-MM-DD, got \"%.32s\"", date);
        return false;
    }
    return true;
}

bool exports_check_exporter(ovop_call_t *call, const char *field, const Ovop__V1__ExporterRef *x)
{
    char f[64];
    bool ok = true;
    snprintf(f, sizeof(f), "%s.kind", field);
    if (!x || !exports_name(&exports_exporter_kinds, (int)x->kind)[0]) {
        ovop_call_violation(call, f, "must be PRODUCER or COOPERATIVE");
        ok = false;
    }
    snprintf(f, sizeof(f), "%s.id", field);
    if (!x || x->id <= 0) {
        ovop_call_violation(call, f, "must be a producer or cooperative id, got %lld",
                            x ? (long long)x->id : 0LL);
        ok = false;
    }
    return ok;
}

bool exports_check_agency(ovop_call_t *call, const char *field, const char *agency)
{
    size_t n = strlen(agency);
    bool ok = n <= 32 && (n == 0 || (agency[0] >= 'a' && agency[0] <= 'z'));
    for (size_t i = 0; ok && i < n; i++)
        ok = (agency[i] >= 'a' && agency[i] <= 'z') || (agency[i] >= '0' && agency[i] <= '9') ||
             agency[i] == '_';
    if (!ok)
        ovop_call_violation(call, field,
                            "must be an agency code such as customs or plant_quarantine, "
                            "got \"%.40s\"",
                            agency);
    return ok;
}

bool exports_check_border_point(ovop_call_t *call, const char *field, const char *code)
{
    size_t n = strlen(code);
    bool ok = n == 0 || (n > 3 && n <= 32 && strncmp(code, "KG-", 3) == 0);
    for (size_t i = 3; ok && i < n; i++)
        ok = (code[i] >= 'A' && code[i] <= 'Z') || (code[i] >= '0' && code[i] <= '9') ||
             code[i] == '-';
    if (!ok)
        ovop_call_violation(
            call, field, "must be a crossing point code such as KG-IRKESHTAM, got \"%.40s\"", code);
    return ok;
}

bool exports_check_territory_prefix(ovop_call_t *call, const char *field, const char *code,
                                    char out[static 15])
{
    out[0] = '\0';
    if (!code[0])
        return true;
    if (strlen(code) != 14 || !ovop_all_digits(code, 14) || strncmp(code, "417", 3) != 0) {
        ovop_call_violation(
            call, field, "must be a SOATE code: 14 digits starting with 417, got \"%.32s\"", code);
        return false;
    }
    size_t n = 14;
    if (strcmp(code + 5, "000000000") == 0)
        n = 5;
    else if (strcmp(code + 8, "000000") == 0)
        n = 8;
    else if (strcmp(code + 11, "000") == 0)
        n = 11;
    if (n == 5 && strncmp(code + 3, "00", 2) == 0)
        n = 3; /* the republic covers everything */
    memcpy(out, code, n);
    out[n] = '\0';
    return true;
}

bool exports_check_hs_prefix(ovop_call_t *call, const char *field, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n > 6 || (n && !ovop_all_digits(prefix, n))) {
        ovop_call_violation(call, field, "must be 1 to 6 digits, got \"%.16s\"", prefix);
        return false;
    }
    return true;
}

unsigned exports_page_size(ovop_call_t *call, unsigned page_size)
{
    if (page_size > EXPORTS_MAX_PAGE)
        ovop_call_violation(call, "page_size", "must be at most %d, got %u", EXPORTS_MAX_PAGE,
                            page_size);
    return page_size ? page_size : EXPORTS_DEFAULT_PAGE;
}

bool exports_page_token(ovop_call_t *call, const char *token, const char *prefix,
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

void exports_today(char out[static 11])
{
    time_t t = (time_t)(ovop_now_us() / 1000000 + 6 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void exports_fail_db(ovop_call_t *call, const char *error)
{
    log_error_rid(ovop_call_request_id(call), "%s failed: %s", ovop_call_method(call), error);
    ovop_call_fail(call, OVOP_UNAVAILABLE, "the exports database is unavailable, retry later");
}

char *exports_bytea_param(const ProtobufCMessage *m)
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

void exports_array_add(ovop_buf_t *b, const char *s)
{
    if (b->len > 1)
        ovop_buf_append(b, ",", 1);
    ovop_buf_append(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            ovop_buf_append(b, "\\", 1);
        ovop_buf_append(b, p, 1);
    }
    ovop_buf_append(b, "\"", 1);
}

size_t exports_parse_enum_array(const char *s, const exports_names_t *t, int *out, size_t max)
{
    size_t n = 0;
    if (*s == '{')
        s++;
    while (*s && *s != '}' && n < max) {
        size_t len = strcspn(s, ",}");
        char word[64];
        snprintf(word, sizeof(word), "%.*s", (int)(len < sizeof(word) ? len : sizeof(word) - 1), s);
        int v = exports_value(t, word);
        if (v)
            out[n++] = v;
        s += len;
        if (*s == ',')
            s++;
    }
    return n;
}

double exports_round(double v, int decimals)
{
    double scale = decimals == 3 ? 1000.0 : 100.0;
    return (double)llround(v * scale) / scale;
}
