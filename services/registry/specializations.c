/* Specializations: the products (HS codes) a village, town, city, aiyl aimak, district or
 * region declares it is known for, and the programme's two questions about them: which
 * territories have declared nothing yet, and how many specialize in a product, per region. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "registry.h"

#define MAX_NARRATIVE          2000

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

#define SPECIALIZATION_COLUMNS                                                                     \
    "s.id, s.territory_code, s.hs6, s.narrative, s.declared_on::text, "                            \
    "coalesce(s.withdrawn_on::text, ''), s.version"

/* Fills sp from row i of a result selecting SPECIALIZATION_COLUMNS; strings borrow res. */
static void specialization_from_row(PGresult *res, int i, Ovop__V1__Specialization *sp)
{
    ovop__v1__specialization__init(sp);
    sp->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    sp->territory_code = PQgetvalue(res, i, 1);
    sp->hs_code = PQgetvalue(res, i, 2);
    sp->narrative = PQgetvalue(res, i, 3);
    sp->declared_on = PQgetvalue(res, i, 4);
    sp->withdrawn_on = PQgetvalue(res, i, 5);
    sp->version = (int32_t)strtol(PQgetvalue(res, i, 6), NULL, 10);
}

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

static void check_date(ovop_call_t *call, const char *field, const char *date)
{
    if (date[0] && !ovop_date_valid(date))
        ovop_call_violation(call, field, "must be a real date written YYYY-MM-DD, got \"%.32s\"",
                            date);
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

typedef struct declare_ctx {
    ovop_call_t *call;
    registry_t *r;
    const Ovop__V1__DeclareSpecializationRequest *in; /* lives until the call finishes */
} declare_ctx_t;

static void on_declare_id(PGresult *res, const char *error, void *userdata)
{
    declare_ctx_t *dc = userdata;
    if (error) {
        ovop_call_fail_db(dc->call, res, error);
        free(dc);
        return;
    }
    Ovop__V1__Specialization sp = OVOP__V1__SPECIALIZATION__INIT;
    sp.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    sp.territory_code = dc->in->territory_code;
    sp.hs_code = dc->in->hs_code;
    sp.narrative = dc->in->narrative;
    sp.declared_on = dc->in->declared_on[0] ? dc->in->declared_on : PQgetvalue(res, 0, 1);
    sp.withdrawn_on = "";
    sp.version = 1;

    char id[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)sp.id);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&sp.base);
    const char *args[] = {id,   sp.territory_code, sp.hs_code, sp.narrative, sp.declared_on, uuid,
                          event};
    ovop_mutate_sql(dc->call, &dc->r->mutator,
                "SELECT * FROM registry.declare_specialization($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10, $11, $12)",
                (int)OVOP_ARRAY_SIZE(args), args, &sp.base);
    free(event);
    free(dc);
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
    check_date(call, "declared_on", in->declared_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    declare_ctx_t *dc = xmalloc(sizeof(*dc));
    dc->call = call;
    dc->r = r;
    dc->in = in;
    ovop_call_query(call, r->pg, "SELECT nextval('registry.ids'), current_date::text", 0, NULL,
                    on_declare_id, dc);
}

/* --- WithdrawSpecialization --- */

typedef struct withdraw_ctx {
    ovop_call_t *call;
    registry_t *r;
    const Ovop__V1__WithdrawSpecializationRequest *in;
} withdraw_ctx_t;

static void on_withdraw_current(PGresult *res, const char *error, void *userdata)
{
    withdraw_ctx_t *wc = userdata;
    if (error) {
        ovop_call_fail_db(wc->call, res, error);
        goto out;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail(wc->call, OVOP_NOT_FOUND, "no specialization with id %lld",
                       (long long)wc->in->id);
        goto out;
    }
    /* The rest (version, already withdrawn, dates) is checked where the change is made. */
    Ovop__V1__Specialization sp;
    specialization_from_row(res, 0, &sp);
    sp.withdrawn_on = wc->in->withdrawn_on[0] ? wc->in->withdrawn_on : PQgetvalue(res, 0, 7);
    sp.version = wc->in->version + 1;

    char id[24], version[16], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)sp.id);
    snprintf(version, sizeof(version), "%d", wc->in->version);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&sp.base);
    const char *args[] = {id, version, sp.withdrawn_on, uuid, event};
    ovop_mutate_sql(wc->call, &wc->r->mutator,
                "SELECT * FROM registry.withdraw_specialization($1, $2, $3, $4, $5, $6, $7, $8, "
                "$9, $10)",
                (int)OVOP_ARRAY_SIZE(args), args, &sp.base);
    free(event);
out:
    free(wc);
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
    check_date(call, "withdrawn_on", in->withdrawn_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    withdraw_ctx_t *wc = xmalloc(sizeof(*wc));
    wc->call = call;
    wc->r = r;
    wc->in = in;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->id);
    const char *params[] = {id};
    ovop_call_query(call, r->pg,
                    "SELECT " SPECIALIZATION_COLUMNS ", current_date::text "
                    "FROM registry.specializations s WHERE s.id = $1::bigint",
                    1, params, on_withdraw_current, wc);
}

/* --- ListSpecializations: current and withdrawn declarations, oldest first --- */

typedef struct page_ctx {
    ovop_call_t *call;
    unsigned page_size;
} page_ctx_t;

static void specialization_decode(PGresult *res, int i, void *row)
{
    specialization_from_row(res, i, row);
}

static const ovop_page_t specialization_page = {
    .response = &ovop__v1__list_specializations_response__descriptor,
    .rows = "specializations",
    .row_size = sizeof(Ovop__V1__Specialization),
    .decode = specialization_decode,
    .free_row = NULL,
    .key = "id",
};

static void on_list(PGresult *res, const char *error, void *userdata)
{
    page_ctx_t *p = userdata;
    if (error) {
        ovop_call_fail_db(p->call, res, error);
        free(p);
        return;
    }
    ovop_page_finish(p->call, res, p->page_size, &specialization_page);
    free(p);
}

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
    page_ctx_t *p = xmalloc(sizeof(*p));
    p->call = call;
    p->page_size = page;
    char after_s[24], limit[16];
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {prefix, in->hs_prefix, after_s, limit};
    ovop_call_query(call, r->pg,
                    "SELECT " SPECIALIZATION_COLUMNS " FROM registry.specializations s "
                    "WHERE s.territory_code LIKE $1 || '%' AND s.hs6 LIKE $2 || '%' "
                    "  AND s.id > $3::bigint ORDER BY s.id LIMIT $4::int",
                    4, params, on_list, p);
}

/* --- ListUnspecializedTerritories --- */

static const ovop_page_t unspecialized_page = {
    .response = &ovop__v1__list_territories_response__descriptor,
    .rows = "territories",
    .key = "code",
};

static void on_unspecialized(PGresult *res, const char *error, void *userdata)
{
    page_ctx_t *p = userdata;
    if (error) {
        ovop_call_fail_db(p->call, res, error);
        free(p);
        return;
    }
    ovop_page_finish(p->call, res, p->page_size, &unspecialized_page);
    free(p);
}

static void list_unspecialized(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UnspecializedTerritoriesRequest *in =
        (const Ovop__V1__UnspecializedTerritoriesRequest *)input;
    registry_t *r = userdata;
    char prefix[15];
    const char *after = "", *why;
    check_prefix(call, "territory_prefix", in->territory_prefix, prefix);
    const char *kind = check_kind(call, in->kind);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    if (ovop_page_token_read(call, in->page_token, &after) && after[0] &&
        !registry_soate_valid(after, &why))
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    page_ctx_t *p = xmalloc(sizeof(*p));
    p->call = call;
    p->page_size = page;
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {prefix, "today", kind, after, limit};
    ovop_call_query(
        call, r->pg,
        "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
        "WHERE t.kind = $3 AND t.code LIKE $1 || '%' AND t.code > $4 "
        "  AND " REGISTRY_VALID_ON(
            "t", "$2") " AND NOT EXISTS ("
                       "    SELECT 1 FROM registry.specializations s "
                       "     WHERE s.territory_code = t.code AND s.withdrawn_on IS NULL) "
                       "ORDER BY t.code LIMIT $5::int",
        5, params, on_unspecialized, p);
}

/* --- CountSpecializations: per first-level region (oblasts and the cities of republican
 * rank), the territories of the kind with a current specialization under the HS prefix and
 * all the territories of the kind valid today; regions with none are listed too. --- */

static void on_counts(PGresult *res, const char *error, void *userdata)
{
    ovop_call_t *call = userdata;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    int n = PQntuples(res);
    Ovop__V1__RegionCount *items = xcalloc((size_t)n + 1, sizeof(*items));
    Ovop__V1__LocalizedName *names = xcalloc((size_t)n + 1, sizeof(*names));
    Ovop__V1__RegionCount **ptrs = xcalloc((size_t)n + 1, sizeof(*ptrs));
    for (int i = 0; i < n; i++) {
        ovop__v1__region_count__init(&items[i]);
        ovop__v1__localized_name__init(&names[i]);
        items[i].region_code = PQgetvalue(res, i, 0);
        names[i].ru = PQgetvalue(res, i, 1);
        names[i].en = PQgetvalue(res, i, 2);
        names[i].ky = PQgetvalue(res, i, 3);
        items[i].region_name = &names[i];
        items[i].count = (uint32_t)strtoul(PQgetvalue(res, i, 4), NULL, 10);
        items[i].total = (uint32_t)strtoul(PQgetvalue(res, i, 5), NULL, 10);
        ptrs[i] = &items[i];
    }
    Ovop__V1__SpecializationCountsResponse out = OVOP__V1__SPECIALIZATION_COUNTS_RESPONSE__INIT;
    out.n_regions = (size_t)n;
    out.regions = ptrs;
    ovop_call_finish(call, &out.base);
    free(items);
    free(names);
    free(ptrs);
}

#define VALID_TODAY(alias) REGISTRY_VALID_ON(alias, "current_date")

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
    ovop_call_query(
        call, r->pg,
        "SELECT g.code, g.name_ru, g.name_en, g.name_ky, "
        "  (SELECT count(DISTINCT t.code) FROM registry.territories t "
        "     JOIN registry.specializations s ON s.territory_code = t.code "
        "      AND s.withdrawn_on IS NULL AND s.hs6 LIKE $1 || '%' "
        "    WHERE t.kind = $2 AND t.code LIKE registry.soate_prefix(g.code) || '%' "
        "      AND " VALID_TODAY(
            "t") "), "
                 "  (SELECT count(*) FROM registry.territories t "
                 "    WHERE t.kind = $2 AND t.code LIKE registry.soate_prefix(g.code) || '%' "
                 "      AND " VALID_TODAY(
                     "t") ") "
                          "FROM registry.territories g "
                          "WHERE g.kind IN ('oblast', 'city_republican') AND " VALID_TODAY(
                              "g") " "
                                   "ORDER BY g.code",
        2, params, on_counts, call);
}

static const ovop_method_t methods[] = {
    {"DeclareSpecialization", declare_specialization, NULL},
    {"WithdrawSpecialization", withdraw_specialization, NULL},
    {"ListSpecializations", list_specializations, NULL},
    {"ListUnspecializedTerritories", list_unspecialized, NULL},
    {"CountSpecializations", count_specializations, NULL},
};

void registry_specializations_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
