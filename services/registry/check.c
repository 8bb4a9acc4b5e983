/* Input checks shared by the registry's handlers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "pbrow.h"
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

bool registry_hs_valid(const char *hs)
{
    return ovop_all_digits(hs, 6);
}

uint32_t registry_mask_fields(ovop_call_t *call, const Ovop__V1__FieldMask *mask,
                              const registry_mask_path_t *paths, size_t n, uint32_t given)
{
    uint32_t all = 0, named = 0;
    for (size_t k = 0; k < n; k++)
        all |= paths[k].fields;
    size_t n_paths = mask ? mask->n_paths : 0;
    for (size_t i = 0; i < n_paths; i++) {
        const char *path = mask->paths[i];
        size_t k = 0;
        while (k < n && strcmp(paths[k].path, path) != 0)
            k++;
        if (k < n) {
            named |= paths[k].fields;
        } else if (strcmp(path, "*") == 0) {
            named |= all;
        } else {
            ovop_buf_t known;
            ovop_buf_init(&known);
            for (k = 0; k < n; k++)
                ovop_buf_printf(&known, "%s%s", k ? ", " : "", paths[k].path);
            char *shown = xstrndup(path, 64);
            ovop_utf8_sanitize(shown);
            ovop_call_violation(call, "update_mask",
                                "no field \"%s\" to change; the paths are %s, or * for all", shown,
                                known.data);
            free(shown);
            ovop_buf_free(&known);
        }
    }
    uint32_t fields = n_paths ? named : given;
    if (!fields && !ovop_call_has_violations(call))
        ovop_call_violation(call, "update_mask",
                            "the update changes nothing: name the fields to change, or give "
                            "them values");
    return fields;
}

char *registry_json_text(ovop_call_t *call, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *copy = ovop_call_strdup(call, s);
    free(s);
    json_decref(j);
    return copy;
}

char *registry_certificate_number(ovop_call_t *call, const char *today, const char *sequence)
{
    long long seq = strtoll(sequence, NULL, 10);
    if (seq > REGISTRY_MAX_CERT_SEQUENCE) {
        log_error_rid(ovop_call_request_id(call),
                      "registry.certificate_numbers reached %lld, past the six digits of "
                      "certificate numbers",
                      seq);
        ovop_call_fail(call, OVOP_RESOURCE_EXHAUSTED,
                       "certificate numbers are exhausted; ask the operators to extend the "
                       "numbering");
        return NULL;
    }
    return ovop_call_printf(call, "OVOP-%.4s-%06lld", today, seq);
}

/* The role approving at each level: a role approves its own level and every level below. */
static const char *const level_roles[] = {
    [OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT] = "certification.district",
    [OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION] = "certification.region",
    [OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL] = "certification.national",
};

Ovop__V1__ApprovalLevel registry_level_for_stars(uint32_t stars)
{
    if (stars == 0)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED;
    if (stars <= 3)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT;
    if (stars == 4)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION;
    return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL;
}

bool registry_level_allowed(ovop_call_t *call, uint32_t stars, const char *what)
{
    const int top = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL;
    int level = (int)registry_level_for_stars(stars);
    if (level == OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED)
        return true; /* no star, nothing certified: any certification role decides */
    for (int l = level; l <= top; l++)
        if (ovop_call_has_role(call, level_roles[l]))
            return true;
    ovop_buf_t need;
    ovop_buf_init(&need);
    for (int l = level; l <= top; l++)
        ovop_buf_printf(&need, "%s%s", l > level ? " or " : "", level_roles[l]);
    const char *name = ovop_enum_text(&ovop__v1__approval_level__descriptor, level);
    ovop_call_meta(call, "level", "%s", name);
    ovop_call_meta(call, "role", "%s", level_roles[level]);
    ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "LEVEL_NOT_ALLOWED",
                          "%s needs the role %s (%u star%s: %s level); principal %s does not "
                          "have it",
                          what, need.data, stars, stars == 1 ? "" : "s", name,
                          ovop_call_principal(call)->id);
    ovop_buf_free(&need);
    return false;
}

void registry_check_date(ovop_call_t *call, const char *field, const char *date)
{
    if (date[0] && !ovop_date_valid(date))
        ovop_call_violation(call, field, "must be a real date written YYYY-MM-DD, got \"%.32s\"",
                            date);
}

bool registry_check_code_token(ovop_call_t *call, const char *token, const char **ret_after)
{
    const char *why;
    if (!ovop_page_token_read(call, token, ret_after))
        return false;
    if ((*ret_after)[0] && !registry_soate_valid(*ret_after, &why)) {
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
        ovop_call_reason(call, "PAGE_TOKEN_INVALID");
        *ret_after = "";
        return false;
    }
    return true;
}

typedef struct new_id {
    ovop_call_t *call;
    registry_new_id_fn cb;
    void *userdata;
} new_id_t;

static void on_new_id(PGresult *res, const char *error, void *userdata)
{
    new_id_t *q = userdata;
    if (error) {
        ovop_call_fail_db(q->call, res, error);
        return;
    }
    int64_t id = strtoll(ovop_pg_value(res, 0, "id"), NULL, 10);
    q->cb(q->call, id, ovop_call_strdup(q->call, ovop_pg_value(res, 0, "today")), q->userdata);
}

void registry_new_id(ovop_call_t *call, registry_t *r, registry_new_id_fn cb, void *userdata)
{
    new_id_t *q = ovop_call_alloc(call, sizeof(*q));
    *q = (new_id_t){call, cb, userdata};
    ovop_call_query(call, r->pg,
                    "SELECT nextval('registry.ids') AS id, current_date::text AS today", 0, NULL,
                    on_new_id, q);
}
