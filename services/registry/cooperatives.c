/* Cooperatives: founding, members joining and leaving on dates (under optimistic
 * versioning), queries, and the capacity a cooperative can offer under an HS code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_NAME     300
#define MAX_FOUNDERS 200

/* The cooperative columns, in the order coop_from_row reads them. Members are ordered by
 * joined_on, producer and left_on (an open membership after a closed empty one of the same
 * day), as sort_members orders a draft's. */
#define COOP_COLUMNS                                                                               \
    "c.id, c.name, c.territory_code, c.founded_on::text, c.version, "                              \
    "(extract(epoch FROM c.created_at) * 1000000)::bigint, "                                       \
    "(extract(epoch FROM c.updated_at) * 1000000)::bigint, "                                       \
    "coalesce((SELECT json_agg(json_build_array(m.producer_id, m.joined_on::text, "                \
    "                                           coalesce(m.left_on::text, '')) "                   \
    "                          ORDER BY m.joined_on, m.producer_id, m.left_on NULLS LAST) "        \
    "          FROM registry.cooperative_members m WHERE m.cooperative_id = c.id), '[]')"

/* The current row and the database's today, for changes ("empty: today"). */
static const char get_sql[] = "SELECT " COOP_COLUMNS ", current_date::text "
                              "FROM registry.cooperatives c WHERE c.id = $1::bigint";

/* A Cooperative decoded from a row; strings borrow the PGresult and the members' JSON. */
typedef struct coop_row {
    Ovop__V1__Cooperative c;
    Ovop__V1__CooperativeMember *members;
    Ovop__V1__CooperativeMember **ptrs;
    json_t *members_json;
} coop_row_t;

static void coop_row_free(coop_row_t *r)
{
    free(r->members);
    free(r->ptrs);
    json_decref(r->members_json);
}

/* Fills r from row i with room for `extra` more members. */
static void coop_from_row(PGresult *res, int i, coop_row_t *r, size_t extra)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__cooperative__init(&r->c);
    r->c.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    r->c.name = PQgetvalue(res, i, 1);
    r->c.territory_code = PQgetvalue(res, i, 2);
    r->c.founded_on = PQgetvalue(res, i, 3);
    r->c.version = (int32_t)strtol(PQgetvalue(res, i, 4), NULL, 10);
    r->c.created_us = strtoll(PQgetvalue(res, i, 5), NULL, 10);
    r->c.updated_us = strtoll(PQgetvalue(res, i, 6), NULL, 10);
    r->members_json = json_loads(PQgetvalue(res, i, 7), 0, NULL);
    size_t n = json_is_array(r->members_json) ? json_array_size(r->members_json) : 0;
    r->members = xcalloc(n + extra + 1, sizeof(*r->members));
    r->ptrs = xcalloc(n + extra + 1, sizeof(*r->ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *m = json_array_get(r->members_json, k);
        Ovop__V1__CooperativeMember *cm = &r->members[k];
        ovop__v1__cooperative_member__init(cm);
        cm->producer_id = (int64_t)json_integer_value(json_array_get(m, 0));
        cm->joined_on = (char *)(json_string_value(json_array_get(m, 1)) ?: "");
        cm->left_on = (char *)(json_string_value(json_array_get(m, 2)) ?: "");
        r->ptrs[k] = cm;
    }
    r->c.n_members = n;
    r->c.members = r->ptrs;
}

static int cmp_member(const void *a, const void *b)
{
    const Ovop__V1__CooperativeMember *x = *(Ovop__V1__CooperativeMember *const *)a;
    const Ovop__V1__CooperativeMember *y = *(Ovop__V1__CooperativeMember *const *)b;
    int d = strcmp(x->joined_on, y->joined_on); /* YYYY-MM-DD sorts as dates do */
    if (d)
        return d;
    if (x->producer_id != y->producer_id)
        return x->producer_id < y->producer_id ? -1 : 1;
    if (!x->left_on[0] || !y->left_on[0]) /* open (empty) last */
        return !x->left_on[0] - !y->left_on[0];
    return strcmp(x->left_on, y->left_on);
}

static void sort_members(Ovop__V1__Cooperative *c)
{
    if (c->n_members) /* NULL with no elements is undefined for qsort */
        qsort(c->members, c->n_members, sizeof(*c->members), cmp_member);
}

/* An optional date: empty (today, as the database has it) or YYYY-MM-DD. Adds a violation. */
static bool check_date(ovop_call_t *call, const char *field, const char *value)
{
    if (value[0] && !ovop_date_valid(value)) {
        ovop_call_violation(call, field, "must be a date written YYYY-MM-DD or empty for today");
        return false;
    }
    return true;
}

/* --- CreateCooperative --- */

typedef struct create_ctx {
    ovop_call_t *call;
    registry_t *r;
    const Ovop__V1__CreateCooperativeRequest *in;
} create_ctx_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* With an id and today's date: builds the cooperative as founded, and stores it. */
static void on_create_id(PGresult *res, const char *error, void *userdata)
{
    create_ctx_t *cx = userdata;
    const Ovop__V1__CreateCooperativeRequest *in = cx->in;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        free(cx);
        return;
    }
    Ovop__V1__Cooperative c = OVOP__V1__COOPERATIVE__INIT;
    c.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    c.name = in->name;
    c.territory_code = in->territory_code;
    c.founded_on = in->founded_on[0] ? in->founded_on : PQgetvalue(res, 0, 1);
    c.version = 1;
    c.created_us = c.updated_us = ovop_now_us();

    size_t n = in->n_founding_members;
    int64_t *ids = xmemdup(in->founding_members, n * sizeof(*ids));
    if (n) /* NULL with no elements is undefined for qsort */
        qsort(ids, n, sizeof(*ids), cmp_i64);
    Ovop__V1__CooperativeMember *members = xcalloc(n, sizeof(*members));
    Ovop__V1__CooperativeMember **ptrs = xcalloc(n, sizeof(*ptrs));
    /* The statement checks them in the request's order, so that a refusal names the index
     * the client sent; the reply lists them as a read does. */
    json_t *ids_json = json_array();
    for (size_t i = 0; i < n; i++) {
        ovop__v1__cooperative_member__init(&members[i]);
        members[i].producer_id = ids[i];
        members[i].joined_on = c.founded_on;
        ptrs[i] = &members[i];
        json_array_append_new(ids_json, json_integer(in->founding_members[i]));
    }
    c.n_members = n;
    c.members = ptrs;

    char id[24], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)c.id);
    snprintf(at, sizeof(at), "%lld", (long long)c.created_us);
    ovop_uuid4(uuid);
    char *members_param = json_dumps(ids_json, JSON_COMPACT);
    char *event = ovop_bytea_message(&c.base);
    const char *args[] = {id,   c.name, c.territory_code, c.founded_on, members_param, at,
                          uuid, event};
    ovop_mutate_sql(cx->call, &cx->r->mutator,
                "SELECT * FROM registry.create_cooperative($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12, $13)",
                (int)OVOP_ARRAY_SIZE(args), args, &c.base);
    free(event);
    free(members_param);
    json_decref(ids_json);
    free(ptrs);
    free(members);
    free(ids);
    free(cx);
}

static void create_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateCooperativeRequest *in =
        (const Ovop__V1__CreateCooperativeRequest *)input;
    registry_t *r = userdata;
    const char *why;
    ovop_check_text(call, "name", in->name, MAX_NAME, true);
    if (!in->territory_code[0])
        ovop_call_violation(call, "territory_code", "is required");
    else if (!registry_soate_valid(in->territory_code, &why))
        ovop_call_violation(call, "territory_code", "%s", why);
    check_date(call, "founded_on", in->founded_on);
    size_t n = in->n_founding_members;
    if (n < 2)
        ovop_call_violation(call, "founding_members",
                            "a cooperative is founded by at least 2 producers, got %zu", n);
    else if (n > MAX_FOUNDERS)
        ovop_call_violation(call, "founding_members", "at most %d, got %zu", MAX_FOUNDERS, n);
    for (size_t i = 0; i < n && i <= MAX_FOUNDERS; i++) {
        char field[40];
        snprintf(field, sizeof(field), "founding_members[%zu]", i);
        int64_t id = in->founding_members[i];
        if (id <= 0) {
            ovop_call_violation(call, field, "must be a producer id, got %lld", (long long)id);
            continue;
        }
        for (size_t k = 0; k < i; k++)
            if (in->founding_members[k] == id) {
                ovop_call_violation(call, field, "producer %lld is listed twice", (long long)id);
                break;
            }
    }
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    create_ctx_t *cx = xmalloc(sizeof(*cx));
    cx->call = call;
    cx->r = r;
    cx->in = in; /* the request outlives the call's queries */
    ovop_call_query(call, r->pg, "SELECT nextval('registry.ids'), current_date::text", 0, NULL,
                    on_create_id, cx);
}

/* --- JoinCooperative and LeaveCooperative: read, build the new state, store --- */

typedef struct change_ctx {
    ovop_call_t *call;
    registry_t *r;
    bool join;
    int64_t id;
    int32_t version;
    int64_t producer;
    const char *on; /* borrows the request; empty: today */
} change_ctx_t;

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        goto out;
    }
    if (PQntuples(res) == 0) {
        ovop_call_violation(cx->call, "cooperative_id", "no cooperative with id %lld",
                            (long long)cx->id);
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no cooperative with id %lld", (long long)cx->id);
        goto out;
    }
    coop_row_t row;
    coop_from_row(res, 0, &row, 1);
    const char *on = cx->on[0] ? cx->on : PQgetvalue(res, 0, 8);
    if (cx->join) {
        Ovop__V1__CooperativeMember *m = &row.members[row.c.n_members];
        ovop__v1__cooperative_member__init(m);
        m->producer_id = cx->producer;
        m->joined_on = (char *)on;
        row.ptrs[row.c.n_members++] = m;
    } else {
        /* The open membership ends; when there is none the statement refuses. */
        for (size_t i = 0; i < row.c.n_members; i++)
            if (row.members[i].producer_id == cx->producer && !row.members[i].left_on[0])
                row.members[i].left_on = (char *)on;
    }
    sort_members(&row.c);
    row.c.version = cx->version + 1;
    row.c.updated_us = ovop_now_us();

    char id[24], version[16], producer[24], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)cx->id);
    snprintf(version, sizeof(version), "%d", cx->version);
    snprintf(producer, sizeof(producer), "%lld", (long long)cx->producer);
    snprintf(at, sizeof(at), "%lld", (long long)row.c.updated_us);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&row.c.base);
    const char *args[] = {id, version, producer, on, at, uuid, event};
    ovop_mutate_sql(cx->call, &cx->r->mutator,
                cx->join ? "SELECT * FROM registry.join_cooperative($1, $2, $3, $4, $5, $6, $7, "
                           "$8, $9, $10, $11, $12)"
                         : "SELECT * FROM registry.leave_cooperative($1, $2, $3, $4, $5, $6, $7, "
                           "$8, $9, $10, $11, $12)",
                (int)OVOP_ARRAY_SIZE(args), args, &row.c.base);
    free(event);
    coop_row_free(&row);
out:
    free(cx);
}

static void change_membership(ovop_call_t *call, registry_t *r, bool join, int64_t id,
                              int32_t version, int64_t producer, const char *on)
{
    if (id <= 0)
        ovop_call_violation(call, "cooperative_id", "must be a cooperative id, got %lld",
                            (long long)id);
    if (version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", version);
    if (producer <= 0)
        ovop_call_violation(call, "producer_id", "must be a producer id, got %lld",
                            (long long)producer);
    check_date(call, join ? "joined_on" : "left_on", on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_ctx_t *cx = xmalloc(sizeof(*cx));
    *cx = (change_ctx_t){call, r, join, id, version, producer, on};
    char id_s[24];
    snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
    const char *params[] = {id_s};
    ovop_call_query(call, r->pg, get_sql, 1, params, on_current, cx);
}

static void join_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__JoinCooperativeRequest *in = (const Ovop__V1__JoinCooperativeRequest *)input;
    change_membership(call, userdata, true, in->cooperative_id, in->version, in->producer_id,
                      in->joined_on);
}

static void leave_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__LeaveCooperativeRequest *in = (const Ovop__V1__LeaveCooperativeRequest *)input;
    change_membership(call, userdata, false, in->cooperative_id, in->version, in->producer_id,
                      in->left_on);
}

/* --- GetCooperative --- */

typedef struct get_ctx {
    ovop_call_t *call;
    long long id;
} get_ctx_t;

static void on_get(PGresult *res, const char *error, void *userdata)
{
    get_ctx_t *g = userdata;
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (PQntuples(res) == 0) {
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no cooperative with id %lld", g->id);
    } else {
        coop_row_t row;
        coop_from_row(res, 0, &row, 0);
        ovop_call_finish(g->call, &row.c.base);
        coop_row_free(&row);
    }
    free(g);
}

static void get_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetCooperativeRequest *in = (const Ovop__V1__GetCooperativeRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a cooperative id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    get_ctx_t *g = xmalloc(sizeof(*g));
    g->call = call;
    g->id = (long long)in->id;
    char id[24];
    snprintf(id, sizeof(id), "%lld", g->id);
    const char *params[] = {id};
    ovop_call_query(call, r->pg, get_sql, 1, params, on_get, g);
}

/* --- ListCooperatives --- */

/* hs_prefix: a member today produces under the prefix. */
static const char list_sql[] =
    "SELECT " COOP_COLUMNS " FROM registry.cooperatives c "
    "WHERE ($1 = '' OR c.territory_code LIKE $1 || '%') "
    "  AND ($2 = '' OR EXISTS ("
    "      SELECT 1 FROM registry.cooperative_members m "
    "        JOIN registry.products pr ON pr.producer_id = m.producer_id "
    "       WHERE m.cooperative_id = c.id AND m.joined_on <= current_date "
    "         AND (m.left_on IS NULL OR m.left_on > current_date) "
    "         AND pr.hs6 LIKE $2 || '%')) "
    "  AND c.id > $3::bigint "
    "ORDER BY c.id LIMIT $4::int";

typedef struct list_ctx {
    ovop_call_t *call;
    unsigned page_size;
} list_ctx_t;

static void coop_decode(PGresult *res, int i, void *row)
{
    coop_from_row(res, i, row, 0);
}

static void coop_free(void *row)
{
    coop_row_free(row);
}

static const ovop_page_t coop_page = {
    .response = &ovop__v1__list_cooperatives_response__descriptor,
    .rows = "cooperatives",
    .row_size = sizeof(coop_row_t),
    .decode = coop_decode,
    .free_row = coop_free,
    .key = "id",
};

static void on_list(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
        free(l);
        return;
    }
    ovop_page_finish(l->call, res, l->page_size, &coop_page);
    free(l);
}

/* A 1..6-digit HS prefix; adds a violation on field otherwise. */
static bool check_hs_prefix(ovop_call_t *call, const char *field, const char *hs, bool required)
{
    size_t n = strlen(hs);
    if (n == 0 && !required)
        return true;
    if (n == 0 || n > 6 || !ovop_all_digits(hs, n)) {
        ovop_call_violation(call, field, "must be an HS code or its prefix, 1 to 6 digits");
        return false;
    }
    return true;
}

static void list_cooperatives(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListCooperativesRequest *in = (const Ovop__V1__ListCooperativesRequest *)input;
    registry_t *r = userdata;
    const char *why;
    char prefix[15] = "";
    int64_t after = 0;

    if (in->territory_prefix[0]) {
        if (!registry_soate_valid(in->territory_prefix, &why))
            ovop_call_violation(call, "territory_prefix", "%s", why);
        else
            registry_soate_prefix(in->territory_prefix, prefix);
    }
    check_hs_prefix(call, "hs_prefix", in->hs_prefix, false);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    list_ctx_t *l = xmalloc(sizeof(*l));
    l->call = call;
    l->page_size = page;
    char after_s[24], limit[16];
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {prefix, in->hs_prefix, after_s, limit};
    ovop_call_query(call, r->pg, list_sql, 4, params, on_list, l);
}

/* --- GetCooperativeCapacity --- */

/* What the members on the date can make a month under the HS code or prefix. Only active
 * producers count: a suspended or closed one cannot supply a lot. Products are counted in
 * their own units and units do not convert (kg of honey, pieces of soap), so when the
 * members' products under the prefix use several units, the answer is the unit holding the
 * most capacity and the sum over that unit only (ties: the unit first by name). The first
 * column tells a missing cooperative from one with nothing to offer. */
static const char capacity_sql[] =
    "WITH members AS ("
    "  SELECT DISTINCT m.producer_id FROM registry.cooperative_members m "
    "    JOIN registry.producers p ON p.id = m.producer_id "
    "   WHERE m.cooperative_id = $1::bigint AND m.joined_on <= $3::date "
    "     AND (m.left_on IS NULL OR m.left_on > $3::date) AND p.status = 'active'), "
    "by_unit AS ("
    "  SELECT pr.unit, sum(pr.capacity_per_month) AS capacity, "
    "         count(DISTINCT pr.producer_id) AS producers "
    "    FROM registry.products pr JOIN members USING (producer_id) "
    "   WHERE pr.hs6 LIKE $2 || '%' GROUP BY pr.unit "
    "   ORDER BY capacity DESC, pr.unit LIMIT 1) "
    "SELECT EXISTS (SELECT 1 FROM registry.cooperatives WHERE id = $1::bigint), "
    "       coalesce(u.unit, ''), coalesce(u.capacity, 0), coalesce(u.producers, 0) "
    "  FROM (SELECT 1) one LEFT JOIN by_unit u ON true";

typedef struct capacity_ctx {
    ovop_call_t *call;
    int64_t id;
    const char *hs; /* borrows the request */
} capacity_ctx_t;

static void on_capacity(PGresult *res, const char *error, void *userdata)
{
    capacity_ctx_t *cx = userdata;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
    } else if (PQgetvalue(res, 0, 0)[0] != 't') {
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no cooperative with id %lld", (long long)cx->id);
    } else {
        Ovop__V1__CooperativeCapacity out = OVOP__V1__COOPERATIVE_CAPACITY__INIT;
        out.cooperative_id = cx->id;
        out.hs_code = (char *)cx->hs;
        out.unit = PQgetvalue(res, 0, 1);
        out.capacity_per_month = strtod(PQgetvalue(res, 0, 2), NULL);
        out.members_contributing = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10);
        ovop_call_finish(cx->call, &out.base);
    }
    free(cx);
}

static void get_capacity(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CooperativeCapacityRequest *in =
        (const Ovop__V1__CooperativeCapacityRequest *)input;
    registry_t *r = userdata;
    if (in->cooperative_id <= 0)
        ovop_call_violation(call, "cooperative_id", "must be a cooperative id, got %lld",
                            (long long)in->cooperative_id);
    check_hs_prefix(call, "hs_code", in->hs_code, true);
    if (in->as_of[0] && !ovop_date_valid(in->as_of))
        ovop_call_violation(call, "as_of", "must be a date written YYYY-MM-DD or empty for today");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    capacity_ctx_t *cx = xmalloc(sizeof(*cx));
    *cx = (capacity_ctx_t){call, in->cooperative_id, in->hs_code};
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->cooperative_id);
    const char *params[] = {id, in->hs_code, in->as_of[0] ? in->as_of : "today"};
    ovop_call_query(call, r->pg, capacity_sql, 3, params, on_capacity, cx);
}

static const ovop_method_t methods[] = {
    {"CreateCooperative", create_cooperative, NULL}, {"JoinCooperative", join_cooperative, NULL},
    {"LeaveCooperative", leave_cooperative, NULL},   {"GetCooperative", get_cooperative, NULL},
    {"ListCooperatives", list_cooperatives, NULL},   {"GetCooperativeCapacity", get_capacity, NULL},
};

void registry_cooperatives_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
