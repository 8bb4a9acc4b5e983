/* Territory queries: the SOATE classifier as a versioned tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define DEFAULT_PAGE 100
#define MAX_PAGE     1000

static const char *const kinds[] = {"republic",    "oblast",        "city_republican",
                                    "city_oblast", "city_district", "rayon",
                                    "aiyl_aimak",  "village",       "town"};

static const char get_sql[] = "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
                              "WHERE t.code = $1 AND " REGISTRY_VALID_ON("t", "$2");

/* Today's versions by code, batched (see lookup.h); the code is the first column. */
static const char today_sql[] = "SELECT " REGISTRY_TERRITORY_COLUMNS_ON(
    "current_date") " FROM registry.territories t "
                    "WHERE t.code IN ($1, $2, $3, $4, $5, $6, $7, $8) AND " REGISTRY_VALID_ON(
                        "t", "current_date");

static const char list_sql[] =
    "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
    "WHERE ($1 = '' OR t.parent_code = $1) AND ($3 = '' OR t.kind = $3) AND t.code > $4 "
    "  AND " REGISTRY_VALID_ON("t", "$2") " ORDER BY t.code LIMIT $5::int";

static const char exists_sql[] = "SELECT EXISTS (SELECT 1 FROM registry.territories t "
                                 "WHERE t.code = $1 AND " REGISTRY_VALID_ON("t", "$2") ")";

static bool kind_valid(const char *k)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(kinds); i++)
        if (strcmp(k, kinds[i]) == 0)
            return true;
    return false;
}

void registry_territory_from_row(PGresult *res, int i, registry_territory_row_t *r)
{
    ovop__v1__territory__init(&r->t);
    ovop__v1__localized_name__init(&r->name);
    ovop__v1__geo_point__init(&r->loc);
    r->t.code = PQgetvalue(res, i, 0);
    r->t.kind = PQgetvalue(res, i, 1);
    r->t.parent_code = PQgetvalue(res, i, 2);
    r->name.ru = PQgetvalue(res, i, 3);
    r->name.en = PQgetvalue(res, i, 4);
    r->name.ky = PQgetvalue(res, i, 5);
    r->t.name = &r->name;
    if (!PQgetisnull(res, i, 6) && !PQgetisnull(res, i, 7)) {
        r->loc.set = true;
        r->loc.lat = strtod(PQgetvalue(res, i, 6), NULL);
        r->loc.lon = strtod(PQgetvalue(res, i, 7), NULL);
    }
    r->t.location = &r->loc;
    r->t.valid_from = PQgetvalue(res, i, 8);
    r->t.valid_to = PQgetvalue(res, i, 9);
    r->t.superseded_by = PQgetvalue(res, i, 10);
    r->t.children = (uint32_t)strtoul(PQgetvalue(res, i, 11), NULL, 10);
}

/* Resolves the as_of field: empty means today (in the database's time zone). */
static const char *as_of_param(ovop_call_t *call, const char *as_of)
{
    if (as_of[0] == '\0')
        return "today";
    if (!ovop_date_valid(as_of))
        ovop_call_violation(call, "as_of", "must be a date written YYYY-MM-DD, got \"%.32s\"",
                            as_of);
    return as_of;
}

/* --- GetTerritory --- */

typedef struct get_ctx {
    ovop_call_t *call;
    char code[15];
    char as_of[11];
} get_ctx_t;

/* Answers from row i of res (-1: none). */
static void answer_get(get_ctx_t *g, PGresult *res, int i, const char *error)
{
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (i < 0) {
        if (strcmp(g->as_of, "today") == 0)
            ovop_call_fail(g->call, OVOP_NOT_FOUND, "no territory with code %s", g->code);
        else
            ovop_call_fail(g->call, OVOP_NOT_FOUND, "no territory with code %s valid on %s",
                           g->code, g->as_of);
    } else {
        registry_territory_row_t r;
        registry_territory_from_row(res, i, &r);
        ovop_call_finish(g->call, &r.t.base);
    }
    free(g);
}

static void on_get(PGresult *res, const char *error, void *userdata)
{
    answer_get(userdata, res, error || PQntuples(res) == 0 ? -1 : 0, error);
}

static void on_get_today(PGresult *res, int row, const char *error, void *userdata)
{
    answer_get(userdata, res, row, error);
}

static void get_territory(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetTerritoryRequest *in = (const Ovop__V1__GetTerritoryRequest *)input;
    registry_t *r = userdata;
    const char *why;

    if (in->code[0] == '\0')
        ovop_call_violation(call, "code", "is required");
    else if (!registry_soate_valid(in->code, &why))
        ovop_call_violation(call, "code", "%s, got \"%.32s\"", why, in->code);
    const char *as_of = as_of_param(call, in->as_of);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    get_ctx_t *g = xcalloc(1, sizeof(*g));
    g->call = call;
    snprintf(g->code, sizeof(g->code), "%s", in->code);
    snprintf(g->as_of, sizeof(g->as_of), "%s", as_of);
    if (strcmp(as_of, "today") == 0) {
        ovop_lookup_get(r->territory_lookup, g->code, on_get_today, g);
        return;
    }
    const char *params[] = {g->code, g->as_of};
    ovop_call_query(call, r->pg, get_sql, 2, params, on_get, g);
}

/* --- ListTerritories --- */

typedef struct list_ctx {
    ovop_call_t *call;
    registry_t *r;
    char parent[15];
    char as_of[11];
    unsigned page_size;
} list_ctx_t;

static void on_parent_checked(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ovop_call_fail(l->call, OVOP_NOT_FOUND, "no territory with code %s to list children of",
                       l->parent);
    } else {
        Ovop__V1__ListTerritoriesResponse out = OVOP__V1__LIST_TERRITORIES_RESPONSE__INIT;
        ovop_call_finish(l->call, &out.base);
    }
    free(l);
}

static void territory_decode(PGresult *res, int i, void *row)
{
    registry_territory_from_row(res, i, row);
}

static const ovop_page_t territory_page = {
    .response = &ovop__v1__list_territories_response__descriptor,
    .rows = "territories",
    .row_size = sizeof(registry_territory_row_t),
    .decode = territory_decode,
    .free_row = NULL,
    .key = "code",
};

static void on_list(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
        free(l);
        return;
    }
    int n = PQntuples(res);
    if (n == 0 && l->parent[0]) {
        /* An empty page: tell an unknown parent apart from a leaf. */
        const char *params[] = {l->parent, l->as_of};
        ovop_call_query(l->call, l->r->pg, exists_sql, 2, params, on_parent_checked, l);
        return;
    }
    ovop_page_finish(l->call, res, l->page_size, &territory_page);
    free(l);
}

static void list_territories(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListTerritoriesRequest *in = (const Ovop__V1__ListTerritoriesRequest *)input;
    registry_t *r = userdata;
    const char *why;
    const char *after = "";

    if (in->parent_code[0] && !registry_soate_valid(in->parent_code, &why))
        ovop_call_violation(call, "parent_code", "%s, got \"%.32s\"", why, in->parent_code);
    if (in->kind[0] && !kind_valid(in->kind))
        ovop_call_violation(call, "kind",
                            "must be one of republic, oblast, city_republican, city_oblast, "
                            "city_district, rayon, aiyl_aimak, village, town; got \"%.32s\"",
                            in->kind);
    if (in->page_size > MAX_PAGE)
        ovop_call_violation(call, "page_size", "must be at most %d, got %u", MAX_PAGE,
                            in->page_size);
    if (ovop_page_token_read(call, in->page_token, &after) && after[0] &&
        !registry_soate_valid(after, &why))
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
    const char *as_of = as_of_param(call, in->as_of);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }

    list_ctx_t *l = xcalloc(1, sizeof(*l));
    l->call = call;
    l->r = r;
    l->page_size = in->page_size ? in->page_size : DEFAULT_PAGE;
    snprintf(l->parent, sizeof(l->parent), "%s", in->parent_code);
    snprintf(l->as_of, sizeof(l->as_of), "%s", as_of);
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", l->page_size + 1);
    const char *params[] = {l->parent, l->as_of, in->kind, after, limit};
    ovop_call_query(call, r->pg, list_sql, 5, params, on_list, l);
}

static const ovop_method_t methods[] = {
    {"GetTerritory", get_territory, NULL},
    {"ListTerritories", list_territories, NULL},
};

void registry_territories_register(registry_t *r)
{
    ovop_lookup_new(&r->territory_lookup, ovop_daemon_loop(r->d), r->pg, today_sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
