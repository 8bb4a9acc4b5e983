/* Territory queries: the SOATE classifier as a versioned tree. */
#include <string.h>

#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"
#include "territory_state.h"

/* The version of a code valid on $2. */
static const ovop_read_t territory = {
    .sql = "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
           "WHERE t.code = $1 AND " REGISTRY_VALID_ON("t", "$2"),
    .row = &ovop__v1__territory__descriptor,
    .noun = "territory with code",
};

/* Today's versions by code, batched (see lookup.h); the code is the first column. */
static const ovop_read_t territory_today = {
    .sql = "SELECT " REGISTRY_TERRITORY_COLUMNS_ON(
        "current_date") " FROM registry.territories t "
                        "WHERE t.code IN ($1, $2, $3, $4, $5, $6, $7, $8) AND " REGISTRY_VALID_ON(
                            "t", "current_date"),
    .row = &ovop__v1__territory__descriptor,
    .noun = "territory with code",
};

static const ovop_read_t territory_list = {
    .sql = "SELECT " REGISTRY_TERRITORY_COLUMNS " FROM registry.territories t "
           "WHERE ($1 = '' OR t.parent_code = $1) AND ($3 = '' OR t.kind = $3) AND t.code > $4 "
           "  AND " REGISTRY_VALID_ON("t", "$2") " ORDER BY t.code LIMIT $5::int",
    .page = {.response = &ovop__v1__list_territories_response__descriptor,
             .rows = "territories",
             .key = "code"},
};

static const char exists_sql[] = "SELECT EXISTS (SELECT 1 FROM registry.territories t "
                                 "WHERE t.code = $1 AND " REGISTRY_VALID_ON("t", "$2") ") AS found";

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
    if (strcmp(as_of, "today") == 0) {
        ovop_read_lookup(call, r->territory_lookup, &territory_today, in->code);
        return;
    }
    const char *params[] = {in->code, as_of};
    ovop_read_one(call, r->pg, &territory,
                  ovop_call_printf(call, "%s valid on %s", in->code, as_of), 2, params);
}

/* --- ListTerritories --- */

/* What an empty page needs to tell an unknown parent apart from a leaf. */
typedef struct list_ctx {
    ovop_call_t *call;
    registry_t *r;
    const char *parent, *as_of;
    unsigned page_size;
} list_ctx_t;

static void on_parent_checked(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
    } else if (strcmp(ovop_pg_value(res, 0, "found"), "t") != 0) {
        ovop_call_fail(l->call, OVOP_NOT_FOUND, "no territory with code %s to list children of",
                       l->parent);
    } else {
        ovop_call_finish(l->call, ovop_call_message(l->call, territory_list.page.response));
    }
}

static void on_list(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
    } else if (PQntuples(res) == 0 && l->parent[0]) {
        const char *params[] = {l->parent, l->as_of};
        ovop_call_query(l->call, ovop_daemon_pg_read(l->r->d), exists_sql, 2, params,
                        on_parent_checked, l);
    } else {
        ovop_page_finish(l->call, res, l->page_size, &territory_list.page);
    }
}

static void list_territories(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListTerritoriesRequest *in = (const Ovop__V1__ListTerritoriesRequest *)input;
    const char *why;
    const char *after = "";

    if (in->parent_code[0] && !registry_soate_valid(in->parent_code, &why))
        ovop_call_violation(call, "parent_code", "%s, got \"%.32s\"", why, in->parent_code);
    if (in->kind[0] && !territory_kind_known(in->kind))
        ovop_call_violation(call, "kind", "must be one of republic, %s; got \"%.32s\"",
                            territory_kind_list, in->kind);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    registry_check_code_token(call, in->page_token, &after);
    const char *as_of = as_of_param(call, in->as_of);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    list_ctx_t *l = ovop_call_alloc(call, sizeof(*l));
    *l = (list_ctx_t){call, userdata, in->parent_code, as_of, page};
    const char *params[] = {in->parent_code, as_of, in->kind, after,
                            ovop_call_printf(call, "%u", page + 1)};
    ovop_call_query(call, ovop_daemon_pg_read(l->r->d), territory_list.sql, 5, params, on_list, l);
}

static const ovop_method_t methods[] = {
    {"GetTerritory", get_territory},
    {"ListTerritories", list_territories},
};

void registry_territories_register(registry_t *r)
{
    ovop_lookup_new(&r->territory_lookup, ovop_daemon_loop(r->d), r->pg, territory_today.sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
