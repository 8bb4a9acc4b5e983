/* Fuzz target: every method of ovop.registry (the first byte picks it), from the envelope
 * through the dispatcher's wire scan and budgeted decoding into the registry's real checks
 * (services/registry/check.c), without a database. See fuzzsvc.h. */
#include <string.h>

#include "fuzzsvc.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The registry's checks, chosen by field name as its handlers apply them. */
static void registry_field(ovop_call_t *call, const char *path, const ProtobufCFieldDescriptor *f,
                           const void *value)
{
    const char *why = NULL;
    if (f->type == PROTOBUF_C_TYPE_UINT32 && strcmp(f->name, "page_size") == 0) {
        ovop_check_page_size(call, *(const uint32_t *)value, 50, 1000);
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && strcmp(f->name, "update_mask") == 0) {
        static const registry_mask_path_t paths[] = {{"name", 1}, {"address", 2}, {"*", 3}};
        registry_mask_fields(call, *(Ovop__V1__FieldMask *const *)value, paths, 3, 1);
        return;
    }
    if (f->type != PROTOBUF_C_TYPE_STRING)
        return;
    const char *s = *(char *const *)value;
    if (!s[0])
        return;
    if (strcmp(f->name, "tax_id") == 0 || strcmp(f->name, "inn") == 0) {
        if (!registry_inn_valid(s, &why))
            ovop_call_violation(call, path, "%s", why);
    } else if (strcmp(f->name, "hs_code") == 0) {
        if (!registry_hs_valid(s))
            ovop_call_violation(call, path, "must be 6 digits");
    } else if (ends_with(f->name, "code")) {
        char prefix[15];
        if (!registry_soate_valid(s, &why))
            ovop_call_violation(call, path, "%s", why);
        else
            registry_soate_prefix(s, prefix);
    } else if (ends_with(f->name, "date") || strcmp(f->name, "as_of") == 0 ||
               ends_with(f->name, "_from") || ends_with(f->name, "_until")) {
        registry_check_date(call, path, s);
    } else if (strcmp(f->name, "page_token") == 0) {
        const char *after;
        registry_check_code_token(call, s, &after);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_service_one(&ovop__v1__registry__descriptor, "ovop.registry", registry_field, data,
                            size);
}
