/* Stored texts of enums, input checks and parameter encodings shared by exportd's handlers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exports.h"
#include "log.h"

const char *exports_incoterm_text(int v)
{
    static const char prefix[] = "INCOTERM_";
    const ProtobufCEnumValue *ev =
        v ? protobuf_c_enum_descriptor_get_value(&ovop__v1__incoterm__descriptor, v) : NULL;
    return ev ? ev->name + sizeof(prefix) - 1 : "";
}

const char *exports_kind_text(const Ovop__V1__ExporterRef *x)
{
    return ovop_enum_text(&ovop__v1__exporter_kind__descriptor, (int)x->kind);
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
    if (!x || !exports_kind_text(x)[0]) {
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

void exports_today(char out[static 11])
{
    time_t t = (time_t)(ovop_now_us() / 1000000 + 6 * 3600);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

char *exports_number(ovop_call_t *call, int64_t v)
{
    return ovop_call_printf(call, "%lld", (long long)v);
}

void exports_array_add(ovop_buf_t *b, const char *s)
{
    if (b->len > 1)
        ovop_buf_append(b, ",", 1);
    ovop_buf_append(b, "\"", 1);
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\"\\");
        ovop_buf_append(b, p, run);
        p += run;
        if (*p) {
            ovop_buf_append(b, "\\", 1);
            ovop_buf_append(b, p++, 1);
        }
    }
    ovop_buf_append(b, "\"", 1);
}

double exports_round(double v, int decimals)
{
    double scale = decimals == 3 ? 1000.0 : 100.0;
    return (double)llround(v * scale) / scale;
}
