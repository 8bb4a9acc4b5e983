/* Specializations: the products (HS codes) a village, town, city, aiyl aimak, district or
 * region declares it is known for, and the programme's two questions about them: which
 * territories have declared nothing yet, and how many specialize in a product, per region. */
#include <string.h>

#include "read.h"
#include "registry.h"

#define MAX_NARRATIVE 2000

/* Kinds of territory that declare specializations (the SQL function checks the same list). */
static const char *const declaring_kinds[] = {"village",    "town",  "city_oblast",
                                              "aiyl_aimak", "rayon", "oblast"};

static bool declaring_kind(const char *kind)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(declaring_kinds); i++)
        if (strcmp(declaring_kinds[i], kind) == 0)
            return true;
    return false;
}

/* A Specialization, its columns named as its fields (read by name, pbrow.h). */
#define SPECIALIZATION_COLUMNS                                                                     \
    "s.id, s.territory_code, s.hs6 AS hs_code, s.narrative, s.declared_on::text, "                 \
    "coalesce(s.withdrawn_on::text, '') AS withdrawn_on, s.version"

/* For a withdrawal, also the database's today (an empty date means today). */
static const ovop_read_t specialization_today = {
    .sql = "SELECT " SPECIALIZATION_COLUMNS ", current_date::text AS today "
           "FROM registry.specializations s WHERE s.id = $1::bigint",
    .row = &ovop__v1__specialization__descriptor,
    .noun = "specialization with id",
};

/* A narrative is free text: UTF-8, at most MAX_NARRATIVE bytes, line breaks and tabs allowed
 * but no other control characters. */
static void check_narrative(ovop_call_t *call, const char *s)
{
    size_t n = strlen(s);
    if (n > MAX_NARRATIVE) {
        ovop_call_violation(call, "narrative", "must be at most %d bytes, got %zu", MAX_NARRATIVE,
                            n);
        return;
    }
    if (!ovop_utf8_valid(s, n)) {
        ovop_call_violation(call, "narrative", "must be valid UTF-8");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f) {
            ovop_call_violation(call, "narrative",
                                "must not contain control characters other than line breaks");
            return;
        }
    }
}

/* An optional SOATE prefix field: a code whose significant prefix selects what lies under
 * it. Writes the prefix ("" when the field is empty) into out. */
static void check_prefix(ovop_call_t *call, const char *field, const char *code,
                         char out[static 15])
{
    const char *why;
    out[0] = '\0';
    if (!code[0])
        return;
    if (!registry_soate_valid(code, &why))
        ovop_call_violation(call, field, "%s, got \"%.32s\"", why, code);
    else
        registry_soate_prefix(code, out);
}

static void check_hs_prefix(ovop_call_t *call, const char *prefix)
{
    size_t n = strlen(prefix);
    if (n > 6 || (n && !ovop_all_digits(prefix, n)))
        ovop_call_violation(call, "hs_prefix", "must be 1 to 6 digits, got \"%.16s\"", prefix);
}

/* The kind field of the two questions: empty means village. */
static const char *check_kind(ovop_call_t *call, const char *kind)
{
    if (!kind[0])
        return "village";
    if (!declaring_kind(kind))
        ovop_call_violation(call, "kind",
                            "must be village, town, city_oblast, aiyl_aimak, rayon or oblast; "
                            "got \"%.32s\"",
                            kind);
    return kind;
}

/* --- DeclareSpecialization --- */

static void store_declared(ovop_call_t *call, int64_t id, const char *today, void *userdata)
{
    registry_t *r = userdata;
    const Ovop__V1__DeclareSpecializationRequest *in =
        (const Ovop__V1__DeclareSpecializationRequest *)ovop_call_input(call);
    Ovop__V1__Specialization *sp =
        (Ovop__V1__Specialization *)ovop_call_message(call, &ovop__v1__specialization__descriptor);
    sp->id = id;
    sp->territory_code = in->territory_code;
    sp->hs_code = in->hs_code;
    sp->narrative = in->narrative;
    sp->declared_on = in->declared_on[0] ? in->declared_on : (char *)today;
    sp->version = 1;
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)sp->id)},
        {"p_territory", sp->territory_code},
        {"p_hs6", sp->hs_code},
        {"p_narrative", sp->narrative},
        {"p_declared_on", sp->declared_on},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &sp->base)},
    };
    OVOP_MUTATE(call, &r->mutator, "registry.declare_specialization", args, &sp->base);
}

static void declare_specialization(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__DeclareSpecializationRequest *in =
        (const Ovop__V1__DeclareSpecializationRequest *)input;
    registry_t *r = userdata;
    const char *why;

    if (!in->territory_code[0])
        ovop_call_violation(call, "territory_code", "is required");
    else if (!registry_soate_valid(in->territory_code, &why))
        ovop_call_violation(call, "territory_code", "%s, got \"%.32s\"", why, in->territory_code);
    if (!in->hs_code[0])
        ovop_call_violation(call, "hs_code", "is required");
    else if (!registry_hs_valid(in->hs_code))
        ovop_call_violation(call, "hs_code", "must be 6 digits, got \"%.16s\"", in->hs_code);
    check_narrative(call, in->narrative);
    registry_check_date(call, "declared_on", in->declared_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    registry_new_id(call, r, store_declared, r);
}

/* --- WithdrawSpecialization --- */

typedef struct withdraw_ctx {
    ovop_call_t *call;
    registry_t *r;
} withdraw_ctx_t;

static void on_withdraw_current(PGresult *res, const char *error, void *userdata)
{
    withdraw_ctx_t *wc = userdata;
    ovop_call_t *call = wc->call;
    const Ovop__V1__WithdrawSpecializationRequest *in =
        (const Ovop__V1__WithdrawSpecializationRequest *)ovop_call_input(call);
    Ovop__V1__Specialization *sp;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail(call, OVOP_NOT_FOUND, "no specialization with id %lld", (long long)in->id);
        return;
    }
    if (!(sp = (Ovop__V1__Specialization *)ovop_read_row(call, &specialization_today, res, 0)))
        return;
    /* The rest (version, already withdrawn, dates) is checked where the change is made. */
    sp->withdrawn_on = in->withdrawn_on[0] ? in->withdrawn_on
                                           : ovop_call_strdup(call, ovop_pg_value(res, 0, "today"));
    sp->version = in->version + 1;
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)sp->id)},
        {"p_version", ovop_call_printf(call, "%d", in->version)},
        {"p_withdrawn_on", sp->withdrawn_on},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &sp->base)},
    };
    OVOP_MUTATE(call, &wc->r->mutator, "registry.withdraw_specialization", args, &sp->base);
}

static void withdraw_specialization(ovop_call_t *call, const ProtobufCMessage *input,
                                    void *userdata)
{
    const Ovop__V1__WithdrawSpecializationRequest *in =
        (const Ovop__V1__WithdrawSpecializationRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a specialization id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    registry_check_date(call, "withdrawn_on", in->withdrawn_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    withdraw_ctx_t *wc = ovop_call_alloc(call, sizeof(*wc));
    *wc = (withdraw_ctx_t){call, r};
    const char *params[] = {ovop_call_printf(call, "%lld", (long long)in->id)};
    ovop_call_query(call, r->pg, specialization_today.sql, 1, params, on_withdraw_current, wc);
}

/* --- ListSpecializations: current and withdrawn declarations, oldest first --- */

static const ovop_read_t specialization_list = {
    .sql = "SELECT " SPECIALIZATION_COLUMNS " FROM registry.specializations s "
           "WHERE s.territory_code LIKE $1 || '%' AND s.hs6 LIKE $2 || '%' "
           "  AND s.id > $3::bigint ORDER BY s.id LIMIT $4::int",
    .page = {.response = &ovop__v1__list_specializations_response__descriptor,
             .rows = "specializations",
             .key = "id"},
};

static void list_specializations(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListSpecializationsRequest *in =
        (const Ovop__V1__ListSpecializationsRequest *)input;
    registry_t *r = userdata;
    char prefix[15];
    int64_t after = 0;
    check_prefix(call, "territory_prefix", in->territory_prefix, prefix);
    check_hs_prefix(call, in->hs_prefix);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {prefix, in->hs_prefix, ovop_call_printf(call, "%lld", (long long)after),
                            ovop_call_printf(call, "%u", page + 1)};
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &specialization_list, NULL, 4, params, page);
}

/* --- ListUnspecializedTerritories --- */

static const ovop_read_t unspecialized_list = {
    .sql = "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
           "WHERE t.kind = $3 AND t.code LIKE $1 || '%' AND t.code > $4 "
           "  AND " REGISTRY_VALID_ON(
               "t", "$2") " AND NOT EXISTS ("
                          "    SELECT 1 FROM registry.specializations s "
                          "     WHERE s.territory_code = t.code AND s.withdrawn_on IS NULL) "
                          "ORDER BY t.code LIMIT $5::int",
    .page = {.response = &ovop__v1__list_territories_response__descriptor,
             .rows = "territories",
             .key = "code"},
};

static void list_unspecialized(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UnspecializedTerritoriesRequest *in =
        (const Ovop__V1__UnspecializedTerritoriesRequest *)input;
    registry_t *r = userdata;
    char prefix[15];
    const char *after = "";
    check_prefix(call, "territory_prefix", in->territory_prefix, prefix);
    const char *kind = check_kind(call, in->kind);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    registry_check_code_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {prefix, "today", kind, after, ovop_call_printf(call, "%u", page + 1)};
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &unspecialized_list, NULL, 5, params, page);
}

/* --- CountSpecializations --- */

#define VALID_TODAY(alias) REGISTRY_VALID_ON(alias, "current_date")

/* Per first-level region (oblasts and the cities of republican rank), the territories of the
 * kind $2 with a current specialization under the HS prefix $1 and all the territories of
 * the kind valid today; regions with none are listed too. One row: the regions as JSON. */
static const ovop_read_t counts = {
    .sql = "SELECT coalesce(json_agg(json_build_object("
           "  'region_code', g.code, "
           "  'region_name', json_build_object('ru', g.name_ru, 'en', g.name_en, "
           "                                   'ky', g.name_ky), "
           "  'count', (SELECT count(DISTINCT t.code) FROM registry.territories t "
           "              JOIN registry.specializations s ON s.territory_code = t.code "
           "               AND s.withdrawn_on IS NULL AND s.hs6 LIKE $1 || '%' "
           "             WHERE t.kind = $2 AND t.code LIKE registry.soate_prefix(g.code) || '%' "
           "               AND " VALID_TODAY(
               "t") "), "
                    "  'total', (SELECT count(*) FROM registry.territories t "
                    "             WHERE t.kind = $2 AND t.code LIKE registry.soate_prefix(g.code) "
                    "|| '%' "
                    "               AND " VALID_TODAY(
                        "t") ")) "
                             "  ORDER BY g.code), '[]') AS regions "
                             "FROM registry.territories g "
                             "WHERE g.kind IN ('oblast', 'city_republican') AND " VALID_TODAY("g"),
    .row = &ovop__v1__specialization_counts_response__descriptor,
    .noun = "specialization counts",
};

static void count_specializations(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SpecializationCountsRequest *in =
        (const Ovop__V1__SpecializationCountsRequest *)input;
    registry_t *r = userdata;
    check_hs_prefix(call, in->hs_prefix);
    const char *kind = check_kind(call, in->kind);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->hs_prefix, kind};
    ovop_read_one(call, ovop_daemon_pg_read(r->d), &counts, "", 2, params);
}

static const ovop_method_t methods[] = {
    {"DeclareSpecialization", declare_specialization},
    {"WithdrawSpecialization", withdraw_specialization},
    {"ListSpecializations", list_specializations},
    {"ListUnspecializedTerritories", list_unspecialized},
    {"CountSpecializations", count_specializations},
};

void registry_specializations_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
