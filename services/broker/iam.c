/* ovop.iam, answered by the broker itself: principals, their keys and roles. Reads are the
 * rows of iam.principal_records; changes read the current record, build the record the
 * change leads to (that is the reply, stored with the change for retries) and make the change
 * with iam.add_principal or iam.change_principal, which refuse when the record moved
 * meanwhile. The keyring sees a change at its next refresh. */
#include "iam.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "keys.h"
#include "log.h"
#include "mutation.h"
#include "ovop/v1/iam.pb-c.h"
#include "pbrow.h"
#include "read.h"
#include "util.h"

#define MAX_ROLES     32
#define MAX_OVERLAP_S (30 * 86400)
/* The view's columns by name; roles as a JSON array, the form pbrow takes a repeated field in
 * (a text[] column's own text, {a,b}, is not one). */
#define RECORD_COLUMNS                                                                             \
    "SELECT \"principal.id\", \"principal.kind\", to_json(\"principal.roles\") AS "                \
    "\"principal.roles\", \"principal.territory\", \"principal.agency\", "                         \
    "\"principal.display_name\", status, keys, created_at, updated_at, version, sort_id "          \
    "FROM iam.principal_records"

struct iam {
    ovop_pg_t *pg;
    ovop_keyring_t *keyring;
    ovop_mutator_t mutator;
};

typedef Ovop__V1__PrincipalRecord record_t;

static const ovop_read_t record_read = {
    .sql = RECORD_COLUMNS " WHERE \"principal.id\" = $1",
    .row = &ovop__v1__principal_record__descriptor,
    .noun = "principal",
};

static const ovop_read_t record_list = {
    .row = &ovop__v1__principal_record__descriptor,
    .page = {&ovop__v1__list_principals_response__descriptor, "principals", "sort_id"},
};

static const ovop_read_t role_list = {
    .sql = "SELECT name, description FROM iam.roles ORDER BY name",
    .row = &ovop__v1__role__descriptor,
    .page = {&ovop__v1__list_roles_response__descriptor, "roles", NULL},
};

/* ---- checks ---- */

static bool name_ok(const char *s, size_t max, bool allow_colon)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-' || (allow_colon && *p == ':')))
            return false;
    return true;
}

static void check_id(ovop_call_t *call, const char *id)
{
    if (!name_ok(id, 63, false))
        ovop_call_violation(call, "id",
                            "must be 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter "
                            "or digit");
}

static void check_roles(ovop_call_t *call, char **roles, size_t n, bool required)
{
    if (required && n == 0)
        ovop_call_violation(call, "roles", "give at least one role");
    if (n > MAX_ROLES)
        ovop_call_violation(call, "roles", "at most %d roles", MAX_ROLES);
    for (size_t i = 0; i < n && i < MAX_ROLES; i++)
        if (!name_ok(roles[i], 64, true) || roles[i][0] < 'a')
            ovop_call_violation(call, ovop_call_printf(call, "roles[%zu]", i),
                                "\"%.64s\" is not a role name", roles[i]);
}

static void check_key(ovop_call_t *call, const char *key)
{
    if (!ovop_key_valid(key))
        ovop_call_violation(call, "public_key",
                            "must be a Z85 CurveZMQ public key of 40 characters (ovopctl keygen "
                            "writes one)");
}

/* "YYYY-MM-DDTHH:MM:SSZ" of a wall-clock time in µs, in the call's arena. */
static char *rfc3339(ovop_call_t *call, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ovop_call_strdup(call, buf);
}

/* The time of a change as PostgreSQL takes it, whole seconds like the records show. */
static const char *at_param(ovop_call_t *call, int64_t us)
{
    return rfc3339(call, us - us % 1000000);
}

/* ---- reads ---- */

static void who_am_i(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    OVOP_UNUSED(input);
    OVOP_UNUSED(userdata);
    ovop_call_finish(call, &ovop_call_principal(call)->base);
}

static void list_roles(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    iam_t *iam = userdata;
    OVOP_UNUSED(input);
    ovop_read_all(call, iam->pg, &role_list, NULL, 0, NULL);
}

static void get_principal(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetPrincipalRequest *in = (const Ovop__V1__GetPrincipalRequest *)input;
    iam_t *iam = userdata;
    check_id(call, in->id);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->id};
    ovop_read_one(call, iam->pg, &record_read, in->id, 1, params);
}

static void list_principals(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListPrincipalsRequest *in = (const Ovop__V1__ListPrincipalsRequest *)input;
    iam_t *iam = userdata;
    const char *after = "";
    unsigned page = in->page_size ? in->page_size : 100;
    if (page > 1000)
        ovop_call_violation(call, "page_size", "at most 1000");
    if (in->kind[0] && strcmp(in->kind, "operator") != 0 && strcmp(in->kind, "agency") != 0 &&
        strcmp(in->kind, "service") != 0)
        ovop_call_violation(call, "kind", "must be operator, agency or service");
    if (in->role[0] && !name_ok(in->role, 64, true))
        ovop_call_violation(call, "role", "is not a role name");
    ovop_page_token_read(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    ovop_filter_t q;
    ovop_filter_init(&q, RECORD_COLUMNS " WHERE true");
    if (in->kind[0])
        ovop_filter_add(&q, " AND \"principal.kind\" = ", "", in->kind);
    if (in->status == OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE)
        ovop_buf_puts(&q.sql, " AND status = 'active'");
    else if (in->status == OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED)
        ovop_buf_puts(&q.sql, " AND status = 'disabled'");
    if (in->role[0])
        ovop_filter_add(&q, " AND ", " = ANY (\"principal.roles\")", in->role);
    ovop_filter_add(&q, " AND sort_id > ", "", after);
    ovop_buf_printf(&q.sql, " ORDER BY sort_id LIMIT $%d::int",
                    ovop_filter_param(&q, ovop_call_printf(call, "%u", page + 1)));
    ovop_read_page(call, iam->pg, &record_list, ovop_filter_sql(call, &q), q.n, q.params, page);
}

static void history(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    static const ovop_read_t changes = {
        .sql = "SELECT seq, iam.rfc3339(at) AS at, change, by, detail FROM iam.history "
               "WHERE principal_id = $1 ORDER BY seq",
        .row = &ovop__v1__principal_change__descriptor,
        .page = {&ovop__v1__principal_history_response__descriptor, "changes", NULL},
    };
    const Ovop__V1__PrincipalHistoryRequest *in = (const Ovop__V1__PrincipalHistoryRequest *)input;
    iam_t *iam = userdata;
    check_id(call, in->id);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->id};
    ovop_read_all(call, iam->pg, &changes, NULL, 1, params);
}

/* ---- changes ---- */

/* "{a,b}" in the call's arena; role names need no quoting. */
static const char *pg_array(ovop_call_t *call, char **items, size_t n)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        ovop_buf_printf(&b, "%s%s", i ? "," : "", items[i]);
    ovop_buf_puts(&b, "}");
    char *s = ovop_call_strdup(call, b.data);
    ovop_buf_free(&b);
    return s;
}

static void add_principal(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AddPrincipalRequest *in = (const Ovop__V1__AddPrincipalRequest *)input;
    iam_t *iam = userdata;
    bool agency = strcmp(in->kind, "agency") == 0;
    check_id(call, in->id);
    if (!agency && strcmp(in->kind, "operator") != 0 && strcmp(in->kind, "service") != 0)
        ovop_call_violation(call, "kind", "must be operator, agency or service");
    size_t name_len = strlen(in->display_name);
    if (name_len == 0 || name_len > 200 || !ovop_utf8_valid(in->display_name, name_len))
        ovop_call_violation(call, "display_name", "give 1 to 200 bytes of UTF-8");
    check_roles(call, in->roles, in->n_roles, false);
    if (in->territory[0] && (strlen(in->territory) != 14 || strncmp(in->territory, "417", 3) != 0 ||
                             !ovop_all_digits(in->territory, 14)))
        ovop_call_violation(call, "territory", "must be a SOATE code of 14 digits (417...)");
    const char *agency_code = agency && !in->agency[0] ? in->id : in->agency;
    if (agency_code[0] && (!name_ok(agency_code, 32, false) || agency_code[0] < 'a' ||
                           strchr(agency_code, '.') || strchr(agency_code, '-')))
        ovop_call_violation(call, "agency", "must be an agency code such as customs");
    if (agency && strcmp(agency_code, in->id) != 0)
        ovop_call_violation(call, "agency",
                            "an agency acts for itself: leave it empty or give "
                            "the id");
    check_key(call, in->public_key);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    int64_t now = ovop_now_us();
    record_t *out = (record_t *)ovop_call_message(call, &ovop__v1__principal_record__descriptor);
    Ovop__V1__Principal *p =
        (Ovop__V1__Principal *)ovop_call_message(call, &ovop__v1__principal__descriptor);
    p->id = in->id;
    p->kind = in->kind;
    p->display_name = in->display_name;
    p->roles = in->roles;
    p->n_roles = in->n_roles;
    p->territory = in->territory;
    p->agency = (char *)agency_code;
    Ovop__V1__PrincipalKey *k =
        (Ovop__V1__PrincipalKey *)ovop_call_message(call, &ovop__v1__principal_key__descriptor);
    k->public_key = in->public_key;
    k->added_at = rfc3339(call, now);
    k->current = true;
    out->principal = p;
    out->status = OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE;
    out->n_keys = 1;
    out->keys = ovop_call_alloc(call, sizeof(*out->keys));
    out->keys[0] = k;
    out->created_at = out->updated_at = k->added_at;
    out->version = 1;
    const ovop_arg_t args[] = {
        {"p_id", in->id},
        {"p_kind", in->kind},
        {"p_display_name", in->display_name},
        {"p_roles", pg_array(call, in->roles, in->n_roles)},
        {"p_territory", in->territory[0] ? in->territory : NULL},
        {"p_agency", agency_code[0] ? agency_code : NULL},
        {"p_public_key", in->public_key},
        {"p_by", ovop_call_caller(call)},
        {"p_at", at_param(call, now)},
    };
    OVOP_MUTATE(call, &iam->mutator, "iam.add_principal", args, &out->base);
}

/* A change of one principal: what to do to the record read, and the arguments. */
typedef struct change {
    iam_t *iam;
    const char *id;
    const char *what; /* disabled, enabled, granted, revoked, key_added, key_revoked */
    char **roles;
    size_t n_roles;
    const char *key;
    uint32_t overlap_s;
    const char *reason;
} change_t;

static bool has(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The principal's roles after a grant or a revoke, sorted like the database keeps them. */
static void apply_roles(ovop_call_t *call, Ovop__V1__Principal *p, const change_t *c)
{
    size_t cap = p->n_roles + c->n_roles;
    char **roles = ovop_call_alloc(call, (cap ? cap : 1) * sizeof(char *));
    size_t n = 0;
    bool grant = strcmp(c->what, "granted") == 0;
    for (size_t i = 0; i < p->n_roles; i++)
        if (grant || !has(c->roles, c->n_roles, p->roles[i]))
            roles[n++] = p->roles[i];
    for (size_t i = 0; grant && i < c->n_roles; i++)
        if (!has(roles, n, c->roles[i]))
            roles[n++] = c->roles[i];
    qsort(roles, n, sizeof(char *), cmp_str);
    p->roles = roles;
    p->n_roles = n;
}

/* The keys after adding one: the others stay accepted overlap_s more at most. */
static void apply_key_added(ovop_call_t *call, record_t *r, const change_t *c, int64_t now)
{
    int64_t end = now - now % 1000000 + (int64_t)c->overlap_s * 1000000;
    char *end_text = rfc3339(call, end);
    for (size_t i = 0; i < r->n_keys; i++) {
        Ovop__V1__PrincipalKey *k = r->keys[i];
        if (k->revoked_at[0])
            continue;
        if (!k->expires_at[0] || strcmp(end_text, k->expires_at) < 0)
            k->expires_at = end_text;
        k->current = k->current && c->overlap_s > 0;
    }
    Ovop__V1__PrincipalKey **keys = ovop_call_alloc(call, (r->n_keys + 1) * sizeof(*keys));
    memcpy(keys, r->keys, r->n_keys * sizeof(*keys));
    Ovop__V1__PrincipalKey *k =
        (Ovop__V1__PrincipalKey *)ovop_call_message(call, &ovop__v1__principal_key__descriptor);
    k->public_key = (char *)c->key;
    k->added_at = rfc3339(call, now);
    k->current = true;
    keys[r->n_keys++] = k;
    r->keys = keys;
}

static void on_current(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    const change_t *c = userdata;
    record_t *r = (record_t *)row;
    int64_t now = ovop_now_us();
    OVOP_UNUSED(res);
    const char *version = ovop_call_printf(call, "%lld", (long long)r->version);
    if (strcmp(c->what, "disabled") == 0 || strcmp(c->what, "enabled") == 0) {
        r->status = strcmp(c->what, "disabled") == 0
                        ? OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED
                        : OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE;
    } else if (strcmp(c->what, "granted") == 0 || strcmp(c->what, "revoked") == 0) {
        apply_roles(call, r->principal, c);
    } else if (strcmp(c->what, "key_added") == 0) {
        apply_key_added(call, r, c, now);
    } else { /* key_revoked */
        for (size_t i = 0; i < r->n_keys; i++)
            if (strcmp(r->keys[i]->public_key, c->key) == 0 && !r->keys[i]->revoked_at[0]) {
                r->keys[i]->revoked_at = rfc3339(call, now);
                r->keys[i]->current = false;
            }
    }
    r->version++;
    r->updated_at = rfc3339(call, now);
    const ovop_arg_t args[] = {
        {"p_id", c->id},
        {"p_version", version},
        {"p_change", c->what},
        {"p_by", ovop_call_caller(call)},
        {"p_status", strcmp(c->what, "disabled") == 0  ? "disabled"
                     : strcmp(c->what, "enabled") == 0 ? "active"
                                                       : NULL},
        {"p_roles", c->n_roles ? pg_array(call, c->roles, c->n_roles) : NULL},
        {"p_public_key", c->key},
        {"p_overlap_s", ovop_call_printf(call, "%u", c->overlap_s)},
        {"p_detail", c->reason ? c->reason : ""},
        {"p_at", at_param(call, now)},
    };
    OVOP_MUTATE(call, &c->iam->mutator, "iam.change_principal", args, &r->base);
}

static void change(ovop_call_t *call, iam_t *iam, const change_t *proto)
{
    check_id(call, proto->id);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_t *c = ovop_call_alloc(call, sizeof(*c));
    *c = *proto;
    c->iam = iam;
    const char *params[] = {c->id};
    ovop_read_then(call, iam->pg, &record_read, c->id, 1, params, on_current, c);
}

static void set_status(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetPrincipalStatusRequest *in =
        (const Ovop__V1__SetPrincipalStatusRequest *)input;
    bool disable = in->status == OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED;
    if (!disable && in->status != OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE)
        ovop_call_violation(call, "status", "must be ACTIVE or DISABLED");
    if (strlen(in->reason) > 500 || !ovop_utf8_valid(in->reason, strlen(in->reason)))
        ovop_call_violation(call, "reason", "at most 500 bytes of UTF-8");
    change_t c = {.id = in->id, .what = disable ? "disabled" : "enabled", .reason = in->reason};
    change(call, userdata, &c);
}

static void change_roles(ovop_call_t *call, const ProtobufCMessage *input, void *userdata,
                         const char *what)
{
    const Ovop__V1__ChangeRolesRequest *in = (const Ovop__V1__ChangeRolesRequest *)input;
    check_roles(call, in->roles, in->n_roles, true);
    change_t c = {.id = in->id, .what = what, .roles = in->roles, .n_roles = in->n_roles};
    change(call, userdata, &c);
}

static void grant_roles(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_roles(call, input, userdata, "granted");
}

static void revoke_roles(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_roles(call, input, userdata, "revoked");
}

static void add_key(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AddKeyRequest *in = (const Ovop__V1__AddKeyRequest *)input;
    check_key(call, in->public_key);
    if (in->overlap_seconds > MAX_OVERLAP_S)
        ovop_call_violation(call, "overlap_seconds", "at most %d (30 days)", MAX_OVERLAP_S);
    change_t c = {
        .id = in->id, .what = "key_added", .key = in->public_key, .overlap_s = in->overlap_seconds};
    change(call, userdata, &c);
}

static void revoke_key(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RevokeKeyRequest *in = (const Ovop__V1__RevokeKeyRequest *)input;
    check_key(call, in->public_key);
    change_t c = {.id = in->id, .what = "key_revoked", .key = in->public_key};
    change(call, userdata, &c);
}

static const ovop_method_t methods[] = {
    {"WhoAmI", who_am_i},
    {"ListRoles", list_roles},
    {"AddPrincipal", add_principal},
    {"GetPrincipal", get_principal},
    {"ListPrincipals", list_principals},
    {"SetPrincipalStatus", set_status},
    {"GrantRoles", grant_roles},
    {"RevokeRoles", revoke_roles},
    {"AddKey", add_key},
    {"RevokeKey", revoke_key},
    {"GetPrincipalHistory", history},
};

iam_t *iam_new(ovop_dispatch_t *d, ovop_pg_t *pg, ovop_keyring_t *keyring)
{
    iam_t *iam = xcalloc(1, sizeof(*iam));
    iam->pg = pg;
    iam->keyring = keyring;
    iam->mutator = (ovop_mutator_t){.pg = pg, .service = IAM_SERVICE};
    OVOP_DECLARE_METHODS(d, methods, iam);
    return iam;
}

void iam_free(iam_t **iam)
{
    xfree(*iam);
}
