/* Cooperatives: founding, members joining and leaving on dates (under optimistic
 * versioning), queries, and the capacity a cooperative can offer under an HS code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_NAME     300
#define MAX_FOUNDERS 200

/* A Cooperative, its columns named as its fields (read by name, pbrow.h). Members are ordered
 * by joined_on, producer and left_on (an open membership after a closed empty one of the same
 * day), as sort_members orders a draft's. */
#define COOPERATIVE_COLUMNS                                                                        \
    "c.id, c.name, c.territory_code, c.founded_on::text, c.version, "                              \
    "(extract(epoch FROM c.created_at) * 1000000)::bigint AS created_us, "                         \
    "(extract(epoch FROM c.updated_at) * 1000000)::bigint AS updated_us, "                         \
    "coalesce((SELECT json_agg(json_build_object('producer_id', m.producer_id, "                   \
    "                                            'joined_on', m.joined_on::text, "                 \
    "                                            'left_on', coalesce(m.left_on::text, '')) "       \
    "                          ORDER BY m.joined_on, m.producer_id, m.left_on NULLS LAST) "        \
    "          FROM registry.cooperative_members m WHERE m.cooperative_id = c.id), '[]') "         \
    "AS members"

/* With the database's today, which a change takes when the request leaves its date empty. */
static const ovop_read_t cooperative = {
    .sql = "SELECT " COOPERATIVE_COLUMNS ", current_date::text AS today "
           "FROM registry.cooperatives c WHERE c.id = $1::bigint",
    .row = &ovop__v1__cooperative__descriptor,
    .noun = "cooperative with id",
};

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

/* A new membership of producer from `on`, in the call's arena. */
static Ovop__V1__CooperativeMember *new_member(ovop_call_t *call, int64_t producer, const char *on)
{
    Ovop__V1__CooperativeMember *m = (Ovop__V1__CooperativeMember *)ovop_call_message(
        call, &ovop__v1__cooperative_member__descriptor);
    m->producer_id = producer;
    m->joined_on = (char *)on;
    return m;
}

/* The decimal text of v, in the call's arena. */
static char *number(ovop_call_t *call, int64_t v)
{
    return ovop_call_printf(call, "%lld", (long long)v);
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

/* The cooperative the request founds, with its new id, on `today` when it names no date. */
static Ovop__V1__Cooperative *founded(ovop_call_t *call,
                                      const Ovop__V1__CreateCooperativeRequest *in, int64_t id,
                                      const char *today)
{
    Ovop__V1__Cooperative *c =
        (Ovop__V1__Cooperative *)ovop_call_message(call, &ovop__v1__cooperative__descriptor);
    c->id = id;
    c->name = in->name;
    c->territory_code = in->territory_code;
    c->founded_on = in->founded_on[0] ? in->founded_on : (char *)today;
    c->version = 1;
    c->created_us = c->updated_us = ovop_now_us();
    c->n_members = in->n_founding_members;
    c->members = ovop_call_alloc(call, (c->n_members + 1) * sizeof(*c->members));
    for (size_t i = 0; i < c->n_members; i++)
        c->members[i] = new_member(call, in->founding_members[i], c->founded_on);
    sort_members(c); /* the reply lists them as a read does */
    return c;
}

/* The founders in the request's order, a JSON array: the statement checks them in that
 * order, so that a refusal names the index the client sent. */
static char *founders_json(ovop_call_t *call, const Ovop__V1__CreateCooperativeRequest *in)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "[");
    for (size_t i = 0; i < in->n_founding_members; i++)
        ovop_buf_printf(&b, "%s%lld", i ? "," : "", (long long)in->founding_members[i]);
    ovop_buf_puts(&b, "]");
    char *s = ovop_call_strdup(call, b.data);
    ovop_buf_free(&b);
    return s;
}

static void store_founded(ovop_call_t *call, int64_t id, const char *today, void *userdata)
{
    registry_t *r = userdata;
    const Ovop__V1__CreateCooperativeRequest *in =
        (const Ovop__V1__CreateCooperativeRequest *)ovop_call_input(call);
    Ovop__V1__Cooperative *c = founded(call, in, id, today);
    const ovop_arg_t args[] = {
        {"p_id", number(call, c->id)},          {"p_name", c->name},
        {"p_territory", c->territory_code},     {"p_founded", c->founded_on},
        {"p_members", founders_json(call, in)}, {"p_at_us", number(call, c->created_us)},
        {"p_event_id", ovop_call_uuid(call)},   {"p_event", ovop_call_bytea(call, &c->base)},
    };
    OVOP_MUTATE(call, &r->mutator, "registry.create_cooperative", args, &c->base);
}

/* At least two distinct producers, at most MAX_FOUNDERS. */
static void check_founders(ovop_call_t *call, const Ovop__V1__CreateCooperativeRequest *in)
{
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
}

static void create_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateCooperativeRequest *in =
        (const Ovop__V1__CreateCooperativeRequest *)input;
    const char *why;
    ovop_check_text(call, "name", in->name, MAX_NAME, true);
    if (!in->territory_code[0])
        ovop_call_violation(call, "territory_code", "is required");
    else if (!registry_soate_valid(in->territory_code, &why))
        ovop_call_violation(call, "territory_code", "%s", why);
    check_date(call, "founded_on", in->founded_on);
    check_founders(call, in);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    registry_new_id(call, userdata, store_founded, userdata);
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

/* Opens the producer's membership of c on `on`, or closes its open one (when it has none,
 * the statement refuses). */
static void change_members(change_ctx_t *cx, Ovop__V1__Cooperative *c, const char *on)
{
    if (cx->join) {
        Ovop__V1__CooperativeMember **members =
            ovop_call_alloc(cx->call, (c->n_members + 1) * sizeof(*members));
        for (size_t i = 0; i < c->n_members; i++)
            members[i] = c->members[i];
        members[c->n_members++] = new_member(cx->call, cx->producer, on);
        c->members = members;
    } else {
        for (size_t i = 0; i < c->n_members; i++)
            if (c->members[i]->producer_id == cx->producer && !c->members[i]->left_on[0])
                c->members[i]->left_on = (char *)on;
    }
    sort_members(c);
}

/* The cooperative c read into res, with the membership changed. */
static void store_membership(change_ctx_t *cx, Ovop__V1__Cooperative *c, PGresult *res)
{
    ovop_call_t *call = cx->call;
    const char *on = cx->on[0] ? cx->on : ovop_call_strdup(call, ovop_pg_value(res, 0, "today"));
    change_members(cx, c, on);
    c->version = cx->version + 1;
    c->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", number(call, cx->id)},
        {"p_version", ovop_call_printf(call, "%d", cx->version)},
        {"p_producer", number(call, cx->producer)},
        {"p_on", on},
        {"p_at_us", number(call, c->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &c->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator,
                cx->join ? "registry.join_cooperative" : "registry.leave_cooperative", args,
                &c->base);
}

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    Ovop__V1__Cooperative *c;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
    } else if (PQntuples(res) == 0) {
        ovop_call_violation(cx->call, "cooperative_id", "no cooperative with id %lld",
                            (long long)cx->id);
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no cooperative with id %lld", (long long)cx->id);
    } else if ((c = (Ovop__V1__Cooperative *)ovop_read_row(cx->call, &cooperative, res, 0))) {
        store_membership(cx, c, res);
    }
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
    change_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (change_ctx_t){call, r, join, id, version, producer, on};
    const char *params[] = {number(call, id)};
    ovop_call_query(call, r->pg, cooperative.sql, 1, params, on_current, cx);
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

static void get_cooperative(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetCooperativeRequest *in = (const Ovop__V1__GetCooperativeRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a cooperative id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {number(call, in->id)};
    ovop_read_one(call, r->pg, &cooperative, params[0], 1, params);
}

/* --- ListCooperatives --- */

/* hs_prefix: a member today produces under the prefix. */
static const ovop_read_t cooperative_list = {
    .sql = "SELECT " COOPERATIVE_COLUMNS " FROM registry.cooperatives c "
           "WHERE ($1 = '' OR c.territory_code LIKE $1 || '%') "
           "  AND ($2 = '' OR EXISTS ("
           "      SELECT 1 FROM registry.cooperative_members m "
           "        JOIN registry.products pr ON pr.producer_id = m.producer_id "
           "       WHERE m.cooperative_id = c.id AND m.joined_on <= current_date "
           "         AND (m.left_on IS NULL OR m.left_on > current_date) "
           "         AND pr.hs6 LIKE $2 || '%')) "
           "  AND c.id > $3::bigint "
           "ORDER BY c.id LIMIT $4::int",
    .page = {.response = &ovop__v1__list_cooperatives_response__descriptor,
             .rows = "cooperatives",
             .key = "id"},
};

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
    const char *params[] = {prefix, in->hs_prefix, number(call, after),
                            ovop_call_printf(call, "%u", page + 1)};
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &cooperative_list, NULL, 4, params, page);
}

/* --- GetCooperativeCapacity --- */

/* What the members on the date can make a month under the HS code or prefix. Only active
 * producers count: a suspended or closed one cannot supply a lot. Products are counted in
 * their own units and units do not convert (kg of honey, pieces of soap), so when the
 * members' products under the prefix use several units, the answer is the unit holding the
 * most capacity and the sum over that unit only (ties: the unit first by name). A missing
 * cooperative has no row; one with nothing to offer has zeros. */
static const ovop_read_t capacity = {
    .sql = "WITH members AS ("
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
           "SELECT c.id AS cooperative_id, $2::text AS hs_code, coalesce(u.unit, '') AS unit, "
           "       coalesce(u.capacity, 0) AS capacity_per_month, "
           "       coalesce(u.producers, 0) AS members_contributing "
           "  FROM registry.cooperatives c LEFT JOIN by_unit u ON true WHERE c.id = $1::bigint",
    .row = &ovop__v1__cooperative_capacity__descriptor,
    .noun = "cooperative with id",
};

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
    const char *params[] = {number(call, in->cooperative_id), in->hs_code,
                            in->as_of[0] ? in->as_of : "today"};
    ovop_read_one(call, r->pg, &capacity, params[0], 3, params);
}

static const ovop_method_t methods[] = {
    {"CreateCooperative", create_cooperative}, {"JoinCooperative", join_cooperative},
    {"LeaveCooperative", leave_cooperative},   {"GetCooperative", get_cooperative},
    {"ListCooperatives", list_cooperatives},   {"GetCooperativeCapacity", get_capacity},
};

void registry_cooperatives_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
