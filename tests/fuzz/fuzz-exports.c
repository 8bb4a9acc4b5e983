/* Fuzz target: every method of ovop.exports (the first byte picks it), from the envelope
 * through the dispatcher's wire scan and budgeted decoding into the exports' real checks
 * (services/exports/check.c), without a database. See fuzzsvc.h. */
#include <string.h>

#include "exports.h"
#include "fuzzsvc.h"
#include "ovop/v1/exports.pb-c.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The exports' checks, chosen by field name (and type) as its handlers apply them. */
static void exports_field(ovop_call_t *call, const char *path, const ProtobufCFieldDescriptor *f,
                          const void *value)
{
    if (f->type == PROTOBUF_C_TYPE_UINT32 && strcmp(f->name, "page_size") == 0) {
        exports_page_size(call, *(const uint32_t *)value);
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE &&
        f->descriptor == &ovop__v1__exporter_ref__descriptor) {
        const Ovop__V1__ExporterRef *x = *(Ovop__V1__ExporterRef *const *)value;
        if (x)
            exports_check_exporter(call, path, x);
        return;
    }
    if (f->type != PROTOBUF_C_TYPE_STRING)
        return;
    const char *s = *(char *const *)value;
    char prefix[15];
    int64_t after;
    if (ends_with(f->name, "country"))
        exports_check_country(call, path, s);
    else if (ends_with(f->name, "date") || ends_with(f->name, "_from") ||
             ends_with(f->name, "_until"))
        exports_check_date(call, path, s, false);
    else if (ends_with(f->name, "agency"))
        exports_check_agency(call, path, s);
    else if (ends_with(f->name, "border_point"))
        exports_check_border_point(call, path, s);
    else if (ends_with(f->name, "territory") || ends_with(f->name, "territory_code"))
        exports_check_territory_prefix(call, path, s, prefix);
    else if (ends_with(f->name, "hs_prefix"))
        exports_check_hs_prefix(call, path, s);
    else if (strcmp(f->name, "page_token") == 0)
        ovop_check_page_token(call, s, &after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_service_one(&ovop__v1__exports__descriptor, "ovop.exports", exports_field, data,
                            size);
}
