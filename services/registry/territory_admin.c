/* Territory changes: create, rename, re-parent and retire one territory, and import the
 * statistics committee's list in batches (territory_import.c).
 *
 * Each change reads the state it decides on (registry.territory_state: the latest version
 * of the codes involved), checks it here, builds the new Territory, which is both the reply
 * and the event payload, and stores it with one SQL function (0007) that holds the territory
 * lock and refuses with 'stale' when a code it was told about moved to another version in
 * between. Versions are rows: a rename or re-parent closes the current row on effective_on
 * and opens the next one there, so GetTerritory with as_of answers for any past date. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "territory_state.h"

/* Which kinds of territory may lie directly under which. The republic has no parent and is
 * never created; every other kind must appear here. */
static const struct kind_rule {
    const char *kind;
    const char *parents[7];
} kind_rules[] = {
    {"republic", {NULL}},
    {"oblast", {"republic"}},
    {"city_republican", {"republic"}},
    {"rayon", {"oblast"}},
    {"city_oblast", {"oblast"}},
    {"city_district", {"city_republican", "city_oblast"}},
    {"aiyl_aimak", {"rayon", "city_oblast", "city_republican"}},
    {"town", {"rayon", "city_oblast", "city_republican", "city_district"}},
    {"village", {"aiyl_aimak", "rayon", "city_oblast", "city_republican", "city_district", "town"}},
};

const char *const territory_kind_list = "oblast, city_republican, city_oblast, city_district, "
                                        "rayon, aiyl_aimak, town, village";

static const struct kind_rule *kind_rule(const char *kind)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(kind_rules); i++)
        if (strcmp(kind_rules[i].kind, kind) == 0)
            return &kind_rules[i];
    return NULL;
}

bool territory_kind_known(const char *kind)
{
    return kind_rule(kind) != NULL;
}

/* The prefix every code under a parent starts with. It is the parent's significant prefix
 * (registry_soate_prefix: the code without its trailing all-zero levels), with two
 * exceptions: under the republic (41700000000000, whose oblast level is 00) it is "417", and
 * a parent coded down to the village level (cities of oblast rank such as 41702410000010)
 * shares its first 11 digits, up to the aiyl aimak level, with what lies under it. */
static void child_prefix(const char *parent_code, const char *parent_kind, char out[static 15])
{
    if (strcmp(parent_kind, "republic") == 0) {
        memcpy(out, "417", 4);
        return;
    }
    registry_soate_prefix(parent_code, out);
    if (strlen(out) == 14)
        out[11] = '\0';
}

const char *territory_placement_problem(const char *code, const char *kind, const char *parent_code,
                                        const char *parent_kind, bool move, char *buf, size_t size)
{
    const struct kind_rule *k = kind_rule(kind);
    if (strcmp(code, parent_code) == 0) {
        snprintf(buf, size, "a territory cannot be its own parent");
        return buf;
    }
    bool allowed = false;
    for (size_t i = 0; k && i < OVOP_ARRAY_SIZE(k->parents) && k->parents[i]; i++)
        allowed |= strcmp(k->parents[i], parent_kind) == 0;
    if (!allowed) {
        int n =
            snprintf(buf, size, "kind %s cannot lie under %s (%s)", kind, parent_code, parent_kind);
        for (size_t i = 0; k && i < OVOP_ARRAY_SIZE(k->parents) && k->parents[i]; i++)
            if (n > 0 && (size_t)n < size)
                n += snprintf(buf + n, size - (size_t)n, "%s%s",
                              i ? ", " : "; its parent must be one of: ", k->parents[i]);
        return buf;
    }
    char prefix[15];
    child_prefix(parent_code, parent_kind, prefix);
    if (strncmp(code, prefix, strlen(prefix)) != 0) {
        snprintf(buf, size, "code %s does not lie under %s: codes under it start with %s%s", code,
                 parent_code, prefix,
                 move ? " (a move to another branch of the classifier needs a new code: retire "
                        "this one with superseded_by and create the new one)"
                      : "");
        return buf;
    }
    return NULL;
}

const char *territory_parent_problem(const territory_state_t *p, const char *code, const char *on,
                                     char *buf, size_t size)
{
    if (!p)
        snprintf(buf, size, "no territory with code %s", code);
    else if (p->valid_to[0])
        snprintf(buf, size, "territory %s was retired on %s", code, p->valid_to);
    else if (strcmp(p->first_from, on) > 0)
        snprintf(buf, size, "territory %s is valid only from %s, after %s", code, p->first_from,
                 on);
    else
        return NULL;
    return buf;
}

/* --- reading the state --- */

static const char state_sql[] =
    "SELECT coalesce($2::date, current_date)::text AS on_date, "
    "       coalesce((SELECT json_agg(s ORDER BY s.code) "
    "                   FROM registry.territory_state($1::text[], "
    "                                                 coalesce($2::date, current_date)) s), "
    "                '[]') AS states, "
    "       EXISTS (SELECT 1 FROM bus.idempotency WHERE service = $3 AND request_id = $4) "
    "       AS replay";

typedef struct state_req {
    ovop_call_t *call;
    territory_state_fn cb;
    void *userdata;
} state_req_t;

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int compare_state(const void *a, const void *b)
{
    return strcmp(((const territory_state_t *)a)->code, ((const territory_state_t *)b)->code);
}

/* Fills t from a row of registry.territory_state() as JSON (members named as its columns). */
static void state_from_json(territory_state_t *t, json_t *o)
{
    t->code = jstr(o, "code");
    t->kind = jstr(o, "kind");
    t->parent_code = jstr(o, "parent_code");
    t->name_ru = jstr(o, "name_ru");
    t->name_ky = jstr(o, "name_ky");
    t->name_en = jstr(o, "name_en");
    t->valid_from = jstr(o, "valid_from");
    t->valid_to = jstr(o, "valid_to");
    t->superseded_by = jstr(o, "superseded_by");
    t->first_from = jstr(o, "first_from");
    json_t *lat = json_object_get(o, "lat"), *lon = json_object_get(o, "lon");
    t->has_loc = json_is_number(lat) && json_is_number(lon);
    t->lat = json_number_value(lat);
    t->lon = json_number_value(lon);
    t->version = (int)json_integer_value(json_object_get(o, "version"));
    t->children = (uint32_t)json_integer_value(json_object_get(o, "children"));
    t->children_after = (uint32_t)json_integer_value(json_object_get(o, "children_after"));
}

static void on_state(PGresult *res, const char *error, void *userdata)
{
    state_req_t *q = userdata;
    if (error) {
        ovop_call_fail_db(q->call, res, error);
        return;
    }
    territory_states_t s = {
        .on = ovop_pg_value(res, 0, "on_date"),
        .replay = strcmp(ovop_pg_value(res, 0, "replay"), "t") == 0,
    };
    json_t *states = json_loads(ovop_pg_value(res, 0, "states"), 0, NULL);
    s.n = json_is_array(states) ? json_array_size(states) : 0;
    s.items = ovop_call_alloc(q->call, (s.n + 1) * sizeof(*s.items));
    for (size_t i = 0; i < s.n; i++)
        state_from_json(&s.items[i], json_array_get(states, i));
    /* json_agg is ordered by code already; sorting again keeps the lookup safe regardless. */
    if (s.n) /* NULL with no elements is undefined for qsort */
        qsort(s.items, s.n, sizeof(*s.items), compare_state);
    q->cb(&s, q->userdata);
    json_decref(states);
}

void territory_read_state(registry_t *r, ovop_call_t *call, const char *const *codes, size_t n,
                          const char *on, territory_state_fn cb, void *userdata)
{
    ovop_buf_t arr;
    ovop_buf_init(&arr);
    ovop_buf_puts(&arr, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ovop_buf_puts(&arr, ",");
        ovop_buf_puts(&arr, codes[i]); /* checked: 14 digits */
    }
    ovop_buf_puts(&arr, "}");
    state_req_t *q = ovop_call_alloc(call, sizeof(*q));
    *q = (state_req_t){call, cb, userdata};
    const char *params[] = {arr.data, on && on[0] ? on : NULL, r->mutator.service,
                            ovop_call_request_id(call)};
    ovop_call_query(call, r->pg, state_sql, 4, params, on_state, q);
    ovop_buf_free(&arr);
}

const territory_state_t *territory_state_find(const territory_states_t *s, const char *code)
{
    territory_state_t key = {.code = code};
    return s->n ? bsearch(&key, s->items, s->n, sizeof(*s->items), compare_state) : NULL;
}

Ovop__V1__Territory *territory_message(ovop_call_t *call, const territory_state_t *t)
{
    Ovop__V1__Territory *m =
        (Ovop__V1__Territory *)ovop_call_message(call, &ovop__v1__territory__descriptor);
    Ovop__V1__LocalizedName *name =
        (Ovop__V1__LocalizedName *)ovop_call_message(call, &ovop__v1__localized_name__descriptor);
    Ovop__V1__GeoPoint *loc =
        (Ovop__V1__GeoPoint *)ovop_call_message(call, &ovop__v1__geo_point__descriptor);
    m->code = (char *)t->code;
    m->kind = (char *)t->kind;
    m->parent_code = (char *)t->parent_code;
    name->ru = (char *)t->name_ru;
    name->ky = (char *)t->name_ky;
    name->en = (char *)t->name_en;
    m->name = name;
    if (t->has_loc) {
        loc->set = true;
        loc->lat = t->lat;
        loc->lon = t->lon;
    }
    m->location = loc;
    m->valid_from = (char *)t->valid_from;
    m->valid_to = (char *)t->valid_to;
    m->superseded_by = (char *)t->superseded_by;
    m->children = t->children;
    return m;
}

/* A required or optional SOATE code field. */
static void check_code(ovop_call_t *call, const char *field, const char *code, bool required)
{
    const char *why;
    if (!code[0]) {
        if (required)
            ovop_call_violation(call, field, "is required");
    } else if (!registry_soate_valid(code, &why)) {
        ovop_call_violation(call, field, "%s, got \"%.32s\"", why, code);
    }
}

/* --- the four changes: one context, read, check, build, store --- */

typedef enum change_op {
    CHANGE_CREATE,
    CHANGE_RENAME,
    CHANGE_REPARENT,
    CHANGE_RETIRE,
} change_op_t;

/* The SQL function (0007) that stores each change. */
static const char *const change_function[] = {
    [CHANGE_CREATE] = "registry.create_territory",
    [CHANGE_RENAME] = "registry.rename_territory",
    [CHANGE_REPARENT] = "registry.reparent_territory",
    [CHANGE_RETIRE] = "registry.retire_territory",
};

typedef struct change {
    ovop_call_t *call;
    registry_t *r;
    change_op_t op;
    /* Borrowed from the request, which lives until the call finishes. */
    const char *code, *kind, *parent, *successor, *on;
    const Ovop__V1__LocalizedName *name;
    const Ovop__V1__GeoPoint *location;
} change_t;

static char *version_text(change_t *c, int version)
{
    return ovop_call_printf(c->call, "%d", version);
}

/* Stores the change with its function's arguments args and the territory t, which is both
 * the reply and the event. */
static void store(change_t *c, const ovop_arg_t *args, size_t n, Ovop__V1__Territory *t)
{
    ovop_arg_t *all = ovop_call_alloc(c->call, (n + 2) * sizeof(*all));
    memcpy(all, args, n * sizeof(*args));
    all[n] = (ovop_arg_t){"p_event_id", ovop_call_uuid(c->call)};
    all[n + 1] = (ovop_arg_t){"p_event", ovop_call_bytea(c->call, &t->base)};
    ovop_mutate(c->call, &c->r->mutator, change_function[c->op], all, n + 2, &t->base);
}

/* Fails the call when the territory to change is unknown or retired; true when it is
 * current. */
static bool require_current(change_t *c, const territory_state_t *t)
{
    if (!t) {
        ovop_call_fail(c->call, OVOP_NOT_FOUND, "no territory with code %s", c->code);
        return false;
    }
    if (t->valid_to[0]) {
        ovop_call_violation(c->call, "code", "territory %s was retired on %s", c->code,
                            t->valid_to);
        ovop_call_fail(c->call, OVOP_FAILED_PRECONDITION, "territory %s was retired on %s", c->code,
                       t->valid_to);
        return false;
    }
    return true;
}

/* A change of the current version cur takes effect on `on`: on or after the day cur took
 * effect (after it, when `after`). Adds the violation otherwise. */
static void check_effective(change_t *c, const territory_state_t *cur, const char *on, bool after)
{
    int d = strcmp(on, cur->valid_from);
    if (d < 0 || (after && d == 0))
        ovop_call_violation(c->call, "effective_on",
                            "must be %s %s, when the current version of %s took effect, got %s",
                            after ? "after" : "on or after", cur->valid_from, c->code, on);
}

/* Checks that `parent` can hold a territory of `kind` coded `code` from date `on` (`move`: an
 * existing one moving there); adds the violation on `field` otherwise. */
static void check_placement(ovop_call_t *call, const char *field, const territory_state_t *p,
                            const char *parent, const char *code, const char *kind, const char *on,
                            bool move)
{
    char buf[400];
    const char *why = territory_parent_problem(p, parent, on, buf, sizeof(buf));
    if (!why)
        why = territory_placement_problem(code, kind, parent, p->kind, move, buf, sizeof(buf));
    if (why)
        ovop_call_violation(call, field, "%s", why);
}

/* A new code must never have had rows: SOATE codes are not reused. */
static bool require_new(change_t *c, const territory_state_t *cur)
{
    if (!cur)
        return true;
    if (cur->valid_to[0])
        ovop_call_violation(c->call, "code",
                            "code %s belonged to %s, retired on %s; SOATE codes are not reused",
                            c->code, cur->name_ru, cur->valid_to);
    else
        ovop_call_violation(c->call, "code", "territory %s already exists (%s %s)", c->code,
                            cur->kind, cur->name_ru);
    ovop_call_fail(c->call, OVOP_ALREADY_EXISTS, "territory %s exists already", c->code);
    return false;
}

static void store_create(change_t *c, const territory_states_t *s)
{
    const territory_state_t *parent = territory_state_find(s, c->parent);
    if (!require_new(c, territory_state_find(s, c->code)))
        return;
    check_placement(c->call, "parent_code", parent, c->parent, c->code, c->kind, s->on, false);
    if (ovop_call_has_violations(c->call)) {
        ovop_call_fail_violations(c->call);
        return;
    }
    territory_state_t t = {.code = c->code,
                           .kind = c->kind,
                           .parent_code = c->parent,
                           .name_ru = c->name->ru,
                           .name_ky = c->name->ky,
                           .name_en = c->name->en,
                           .valid_from = s->on,
                           .valid_to = "",
                           .superseded_by = "",
                           .has_loc = c->location && c->location->set};
    if (t.has_loc) {
        t.lat = c->location->lat;
        t.lon = c->location->lon;
    }
    const ovop_arg_t args[] = {
        {"p_code", c->code},
        {"p_kind", c->kind},
        {"p_parent", c->parent},
        {"p_name_ru", t.name_ru},
        {"p_name_ky", t.name_ky},
        {"p_name_en", t.name_en},
        {"p_lat", t.has_loc ? ovop_call_printf(c->call, "%.8f", t.lat) : NULL},
        {"p_lon", t.has_loc ? ovop_call_printf(c->call, "%.8f", t.lon) : NULL},
        {"p_valid_from", s->on},
        {"p_parent_version", version_text(c, parent->version)},
    };
    store(c, args, OVOP_ARRAY_SIZE(args), territory_message(c->call, &t));
}

/* Name fields left empty keep their current value. */
static const char *keep(const char *given, const char *current)
{
    return given && given[0] ? given : current;
}

static void store_rename(change_t *c, const territory_states_t *s)
{
    const territory_state_t *cur = territory_state_find(s, c->code);
    if (!require_current(c, cur))
        return;
    check_effective(c, cur, s->on, false);
    territory_state_t t = *cur;
    t.name_ru = keep(c->name->ru, cur->name_ru);
    t.name_ky = keep(c->name->ky, cur->name_ky);
    t.name_en = keep(c->name->en, cur->name_en);
    if (strcmp(t.name_ru, cur->name_ru) == 0 && strcmp(t.name_ky, cur->name_ky) == 0 &&
        strcmp(t.name_en, cur->name_en) == 0)
        ovop_call_violation(c->call, "name", "is already the name of %s; nothing to change",
                            c->code);
    if (ovop_call_has_violations(c->call)) {
        ovop_call_fail_violations(c->call);
        return;
    }
    t.valid_from = s->on;
    const ovop_arg_t args[] = {
        {"p_code", c->code},      {"p_version", version_text(c, cur->version)},
        {"p_on", s->on},          {"p_name_ru", t.name_ru},
        {"p_name_ky", t.name_ky}, {"p_name_en", t.name_en},
    };
    store(c, args, OVOP_ARRAY_SIZE(args), territory_message(c->call, &t));
}

static void store_reparent(change_t *c, const territory_states_t *s)
{
    const territory_state_t *cur = territory_state_find(s, c->code);
    const territory_state_t *parent = territory_state_find(s, c->parent);
    if (!require_current(c, cur))
        return;
    check_effective(c, cur, s->on, false);
    if (strcmp(cur->parent_code, c->parent) == 0)
        ovop_call_violation(c->call, "parent_code", "%s is already the parent of %s", c->parent,
                            c->code);
    else
        check_placement(c->call, "parent_code", parent, c->parent, c->code, cur->kind, s->on, true);
    if (ovop_call_has_violations(c->call)) {
        ovop_call_fail_violations(c->call);
        return;
    }
    territory_state_t t = *cur;
    t.parent_code = c->parent;
    t.valid_from = s->on;
    const ovop_arg_t args[] = {
        {"p_code", c->code},
        {"p_version", version_text(c, cur->version)},
        {"p_on", s->on},
        {"p_parent", c->parent},
        {"p_parent_version", version_text(c, parent->version)},
    };
    store(c, args, OVOP_ARRAY_SIZE(args), territory_message(c->call, &t));
}

/* A territory is retired when nothing lies under it after the date. */
static bool require_empty(change_t *c, const territory_state_t *cur, const char *on)
{
    if (cur->children_after == 0)
        return true;
    ovop_call_violation(c->call, "code",
                        "territory %s has %u territories under it after %s; re-parent or "
                        "retire them first",
                        c->code, cur->children_after, on);
    ovop_call_fail(c->call, OVOP_FAILED_PRECONDITION, "territory %s still has territories under it",
                   c->code);
    return false;
}

static void store_retire(change_t *c, const territory_states_t *s)
{
    const territory_state_t *cur = territory_state_find(s, c->code);
    const territory_state_t *next = c->successor[0] ? territory_state_find(s, c->successor) : NULL;
    if (!require_current(c, cur))
        return;
    check_effective(c, cur, s->on, true);
    char buf[200];
    if (c->successor[0] && territory_parent_problem(next, c->successor, s->on, buf, sizeof(buf)))
        ovop_call_violation(c->call, "superseded_by", "%s", buf);
    if (ovop_call_has_violations(c->call)) {
        ovop_call_fail_violations(c->call);
        return;
    }
    if (!require_empty(c, cur, s->on))
        return;
    territory_state_t t = *cur;
    t.valid_to = s->on;
    t.superseded_by = c->successor;
    const ovop_arg_t args[] = {
        {"p_code", c->code},
        {"p_version", version_text(c, cur->version)},
        {"p_on", s->on},
        {"p_successor", c->successor[0] ? c->successor : NULL},
        {"p_successor_version", version_text(c, next ? next->version : 0)},
    };
    store(c, args, OVOP_ARRAY_SIZE(args), territory_message(c->call, &t));
}

/* A request id that has a stored reply already: the SQL function answers with that reply,
 * or refuses an id reused for another request, before it looks at anything else. The checks
 * here would judge a state the first request changed (a retried create would find its own
 * territory), so they are skipped and the function gets placeholders it never reads. */
static void replay_change(change_t *c, const territory_states_t *s)
{
    const ovop_arg_t create[] = {
        {"p_code", c->code},       {"p_kind", ""},    {"p_parent", ""},
        {"p_name_ru", ""},         {"p_name_ky", ""}, {"p_name_en", ""},
        {"p_lat", NULL},           {"p_lon", NULL},   {"p_valid_from", s->on},
        {"p_parent_version", "0"},
    };
    const ovop_arg_t rename[] = {
        {"p_code", c->code}, {"p_version", "0"}, {"p_on", s->on},
        {"p_name_ru", ""},   {"p_name_ky", ""},  {"p_name_en", ""},
    };
    const ovop_arg_t reparent[] = {
        {"p_code", c->code}, {"p_version", "0"},        {"p_on", s->on},
        {"p_parent", ""},    {"p_parent_version", "0"},
    };
    const ovop_arg_t retire[] = {
        {"p_code", c->code},   {"p_version", "0"},           {"p_on", s->on},
        {"p_successor", NULL}, {"p_successor_version", "0"},
    };
    const struct {
        const ovop_arg_t *args;
        size_t n;
    } placeholders[] = {
        [CHANGE_CREATE] = {create, OVOP_ARRAY_SIZE(create)},
        [CHANGE_RENAME] = {rename, OVOP_ARRAY_SIZE(rename)},
        [CHANGE_REPARENT] = {reparent, OVOP_ARRAY_SIZE(reparent)},
        [CHANGE_RETIRE] = {retire, OVOP_ARRAY_SIZE(retire)},
    };
    store(c, placeholders[c->op].args, placeholders[c->op].n,
          (Ovop__V1__Territory *)ovop_call_message(c->call, &ovop__v1__territory__descriptor));
}

static void on_change_state(const territory_states_t *s, void *userdata)
{
    change_t *c = userdata;
    if (s->replay)
        replay_change(c, s);
    else if (c->op == CHANGE_CREATE)
        store_create(c, s);
    else if (c->op == CHANGE_RENAME)
        store_rename(c, s);
    else if (c->op == CHANGE_REPARENT)
        store_reparent(c, s);
    else
        store_retire(c, s);
}

/* Reads the state of the change's code and of the other territory it names, then stores. */
static void start_change(change_t *c)
{
    const char *codes[2] = {c->code, NULL};
    size_t n = 1;
    if (c->parent && c->parent[0])
        codes[n++] = c->parent;
    else if (c->successor && c->successor[0])
        codes[n++] = c->successor;
    territory_read_state(c->r, c->call, codes, n, c->on, on_change_state, c);
}

static change_t *new_change(ovop_call_t *call, void *userdata, change_op_t op, const char *code,
                            const char *on)
{
    change_t *c = ovop_call_alloc(call, sizeof(*c));
    c->call = call;
    c->r = userdata;
    c->op = op;
    c->code = code;
    c->on = on;
    c->kind = c->parent = c->successor = "";
    return c;
}
static void check_location(ovop_call_t *call, const Ovop__V1__GeoPoint *loc)
{
    /* Kyrgyzstan lies within 39.1..43.3 N, 69.2..80.3 E. */
    if (loc && loc->set &&
        (!isfinite(loc->lat) || loc->lat < 39.1 || loc->lat > 43.3 || !isfinite(loc->lon) ||
         loc->lon < 69.2 || loc->lon > 80.3))
        ovop_call_violation(call, "location",
                            "must lie in Kyrgyzstan (39.1..43.3 N, 69.2..80.3 E), got %g, %g",
                            loc->lat, loc->lon);
}

static void create_territory(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateTerritoryRequest *in = (const Ovop__V1__CreateTerritoryRequest *)input;
    static const Ovop__V1__LocalizedName no_name = OVOP__V1__LOCALIZED_NAME__INIT;
    const Ovop__V1__LocalizedName *name = in->name ? in->name : &no_name;

    check_code(call, "code", in->code, true);
    if (!in->kind[0])
        ovop_call_violation(call, "kind", "is required");
    else if (!territory_kind_known(in->kind) || strcmp(in->kind, "republic") == 0)
        ovop_call_violation(call, "kind", "must be one of %s; got \"%.32s\"", territory_kind_list,
                            in->kind);
    check_code(call, "parent_code", in->parent_code, true);
    ovop_check_text(call, "name.ru", name->ru, TERRITORY_MAX_NAME, true);
    ovop_check_text(call, "name.ky", name->ky, TERRITORY_MAX_NAME, false);
    ovop_check_text(call, "name.en", name->en, TERRITORY_MAX_NAME, false);
    check_location(call, in->location);
    registry_check_date(call, "valid_from", in->valid_from);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_t *c = new_change(call, userdata, CHANGE_CREATE, in->code, in->valid_from);
    c->kind = in->kind;
    c->parent = in->parent_code;
    c->name = name;
    c->location = in->location;
    start_change(c);
}

static void rename_territory(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RenameTerritoryRequest *in = (const Ovop__V1__RenameTerritoryRequest *)input;
    static const Ovop__V1__LocalizedName no_name = OVOP__V1__LOCALIZED_NAME__INIT;
    const Ovop__V1__LocalizedName *name = in->name ? in->name : &no_name;

    check_code(call, "code", in->code, true);
    if (!name->ru[0] && !name->ky[0] && !name->en[0])
        ovop_call_violation(call, "name",
                            "is required: the new name in at least one of ru, ky, en (the "
                            "others keep their current value)");
    ovop_check_text(call, "name.ru", name->ru, TERRITORY_MAX_NAME, false);
    ovop_check_text(call, "name.ky", name->ky, TERRITORY_MAX_NAME, false);
    ovop_check_text(call, "name.en", name->en, TERRITORY_MAX_NAME, false);
    registry_check_date(call, "effective_on", in->effective_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_t *c = new_change(call, userdata, CHANGE_RENAME, in->code, in->effective_on);
    c->name = name;
    start_change(c);
}

static void reparent_territory(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ReparentTerritoryRequest *in =
        (const Ovop__V1__ReparentTerritoryRequest *)input;
    check_code(call, "code", in->code, true);
    check_code(call, "parent_code", in->parent_code, true);
    registry_check_date(call, "effective_on", in->effective_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_t *c = new_change(call, userdata, CHANGE_REPARENT, in->code, in->effective_on);
    c->parent = in->parent_code;
    start_change(c);
}

static void retire_territory(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RetireTerritoryRequest *in = (const Ovop__V1__RetireTerritoryRequest *)input;
    check_code(call, "code", in->code, true);
    check_code(call, "superseded_by", in->superseded_by, false);
    if (in->superseded_by[0] && strcmp(in->superseded_by, in->code) == 0)
        ovop_call_violation(call, "superseded_by", "must differ from code");
    registry_check_date(call, "effective_on", in->effective_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_t *c = new_change(call, userdata, CHANGE_RETIRE, in->code, in->effective_on);
    c->successor = in->superseded_by;
    start_change(c);
}

static const ovop_method_t methods[] = {
    {"CreateTerritory", create_territory},     {"RenameTerritory", rename_territory},
    {"ReparentTerritory", reparent_territory}, {"RetireTerritory", retire_territory},
    {"ImportTerritories", territory_import},
};

void registry_territory_admin_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
