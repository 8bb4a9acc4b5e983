/* Producers: registration, updates under optimistic versioning, status, queries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_MEMBERS  200

static const char *const kind_names[] = {"", "individual", "family_group", "cooperative", "sme"};
static const char *const status_names[] = {"", "active", "suspended", "closed"};

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return 0;
}

/* The producer columns, in the order producer_from_row reads them. */
#define PRODUCER_COLUMNS                                                                           \
    "p.id, p.kind, p.legal_name, p.tax_id, p.phone, p.email, p.address, p.territory_code, "        \
    "p.lat, p.lon, p.status, p.status_reason, p.version, "                                         \
    "(extract(epoch FROM p.created_at) * 1000000)::bigint, "                                       \
    "(extract(epoch FROM p.updated_at) * 1000000)::bigint, "                                       \
    "(SELECT coalesce(max(c.stars), 0) FROM registry.certificates c "                              \
    "  WHERE c.producer_id = p.id AND c.status = 'active' AND c.issued_on <= current_date "        \
    "    AND c.expires_on > current_date), "                                                       \
    "p.members"

/* Producers by id, batched (see lookup.h): the id is the first column. */
static const char get_sql[] = "SELECT " PRODUCER_COLUMNS " FROM registry.producers p "
                              "WHERE p.id IN ($1::bigint, $2::bigint, $3::bigint, $4::bigint, "
                              "$5::bigint, $6::bigint, $7::bigint, $8::bigint)";

/* A Producer decoded from a row; strings borrow the PGresult and the members' JSON. */
typedef struct producer_row {
    Ovop__V1__Producer p;
    Ovop__V1__Contact contact;
    Ovop__V1__GeoPoint loc;
    Ovop__V1__Member *members;
    Ovop__V1__Member **member_ptrs;
    json_t *members_json;
} producer_row_t;

static void producer_row_free(producer_row_t *r)
{
    free(r->members);
    free(r->member_ptrs);
    json_decref(r->members_json);
}

static void producer_from_row(PGresult *res, int i, producer_row_t *r)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__producer__init(&r->p);
    ovop__v1__contact__init(&r->contact);
    ovop__v1__geo_point__init(&r->loc);
    r->p.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    r->p.kind = name_index(kind_names, OVOP_ARRAY_SIZE(kind_names), PQgetvalue(res, i, 1));
    r->p.legal_name = PQgetvalue(res, i, 2);
    r->p.tax_id = PQgetvalue(res, i, 3);
    r->contact.phone = PQgetvalue(res, i, 4);
    r->contact.email = PQgetvalue(res, i, 5);
    r->contact.address = PQgetvalue(res, i, 6);
    r->p.contact = &r->contact;
    r->p.territory_code = PQgetvalue(res, i, 7);
    if (!PQgetisnull(res, i, 8) && !PQgetisnull(res, i, 9)) {
        r->loc.set = true;
        r->loc.lat = strtod(PQgetvalue(res, i, 8), NULL);
        r->loc.lon = strtod(PQgetvalue(res, i, 9), NULL);
    }
    r->p.location = &r->loc;
    r->p.status = name_index(status_names, OVOP_ARRAY_SIZE(status_names), PQgetvalue(res, i, 10));
    r->p.status_reason = PQgetvalue(res, i, 11);
    r->p.version = (int32_t)strtol(PQgetvalue(res, i, 12), NULL, 10);
    r->p.created_us = strtoll(PQgetvalue(res, i, 13), NULL, 10);
    r->p.updated_us = strtoll(PQgetvalue(res, i, 14), NULL, 10);
    r->p.stars = (uint32_t)strtoul(PQgetvalue(res, i, 15), NULL, 10);
    r->members_json = json_loads(PQgetvalue(res, i, 16), 0, NULL);
    size_t n = json_is_array(r->members_json) ? json_array_size(r->members_json) : 0;
    r->members = xcalloc(n, sizeof(*r->members));
    r->member_ptrs = xcalloc(n, sizeof(*r->member_ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *m = json_array_get(r->members_json, k);
        ovop__v1__member__init(&r->members[k]);
        r->members[k].name = (char *)(json_string_value(json_array_get(m, 0)) ?: "");
        r->members[k].role = (char *)(json_string_value(json_array_get(m, 1)) ?: "");
        r->members[k].tax_id = (char *)(json_string_value(json_array_get(m, 2)) ?: "");
        r->member_ptrs[k] = &r->members[k];
    }
    r->p.n_members = n;
    r->p.members = r->member_ptrs;
}

/* --- validation shared by RegisterProducer and UpdateProducer --- */

/* A producer's details, as a request gives them or as stored; strings are never NULL. */
typedef struct producer_fields {
    int kind;
    const char *legal_name;
    const char *tax_id;
    const char *phone, *email, *address;
    const char *territory_code;
    Ovop__V1__GeoPoint location; /* .set false: none */
    size_t n_members;
    Ovop__V1__Member *const *members;
} producer_fields_t;

/* The details, as bits: which ones an update changes and which ones are checked. */
enum {
    PF_KIND = 1 << 0,
    PF_LEGAL_NAME = 1 << 1,
    PF_TAX_ID = 1 << 2,
    PF_PHONE = 1 << 3,
    PF_EMAIL = 1 << 4,
    PF_ADDRESS = 1 << 5,
    PF_TERRITORY = 1 << 6,
    PF_LOCATION = 1 << 7,
    PF_MEMBERS = 1 << 8,
    PF_ALL = (1 << 9) - 1,
};

/* UpdateProducerRequest.update_mask's paths. */
static const registry_mask_path_t update_paths[] = {
    {"kind", PF_KIND},
    {"legal_name", PF_LEGAL_NAME},
    {"tax_id", PF_TAX_ID},
    {"contact", PF_PHONE | PF_EMAIL | PF_ADDRESS},
    {"contact.phone", PF_PHONE},
    {"contact.email", PF_EMAIL},
    {"contact.address", PF_ADDRESS},
    {"territory_code", PF_TERRITORY},
    {"location", PF_LOCATION},
    {"members", PF_MEMBERS},
};

static producer_fields_t fields_of(int kind, const char *legal_name, const char *tax_id,
                                   const Ovop__V1__Contact *contact, const char *territory_code,
                                   const Ovop__V1__GeoPoint *location, size_t n_members,
                                   Ovop__V1__Member *const *members)
{
    producer_fields_t f = {.kind = kind,
                           .legal_name = legal_name,
                           .tax_id = tax_id,
                           .phone = contact ? contact->phone : "",
                           .email = contact ? contact->email : "",
                           .address = contact ? contact->address : "",
                           .territory_code = territory_code,
                           .n_members = n_members,
                           .members = members};
    ovop__v1__geo_point__init(&f.location);
    if (location && location->set)
        f.location = *location;
    return f;
}

/* The details of a RegisterProducerRequest, an UpdateProducerRequest or a Producer, which
 * name them alike. */
#define FIELDS_OF(m)                                                                               \
    fields_of((int)(m)->kind, (m)->legal_name, (m)->tax_id, (m)->contact, (m)->territory_code,     \
              (m)->location, (m)->n_members, (m)->members)

/* The details f gives a value: what an update without a mask changes. */
static uint32_t given_fields(const producer_fields_t *f)
{
    return (f->kind ? PF_KIND : 0) | (f->legal_name[0] ? PF_LEGAL_NAME : 0) |
           (f->tax_id[0] ? PF_TAX_ID : 0) | (f->phone[0] ? PF_PHONE : 0) |
           (f->email[0] ? PF_EMAIL : 0) | (f->address[0] ? PF_ADDRESS : 0) |
           (f->territory_code[0] ? PF_TERRITORY : 0) | (f->location.set ? PF_LOCATION : 0) |
           (f->n_members ? PF_MEMBERS : 0);
}

/* Copies into f the details of `from` that `changed` names. */
static void merge_fields(producer_fields_t *f, const producer_fields_t *from, uint32_t changed)
{
    if (changed & PF_KIND)
        f->kind = from->kind;
    if (changed & PF_LEGAL_NAME)
        f->legal_name = from->legal_name;
    if (changed & PF_TAX_ID)
        f->tax_id = from->tax_id;
    if (changed & PF_PHONE)
        f->phone = from->phone;
    if (changed & PF_EMAIL)
        f->email = from->email;
    if (changed & PF_ADDRESS)
        f->address = from->address;
    if (changed & PF_TERRITORY)
        f->territory_code = from->territory_code;
    if (changed & PF_LOCATION)
        f->location = from->location;
    if (changed & PF_MEMBERS) {
        f->n_members = from->n_members;
        f->members = from->members;
    }
}

static bool email_valid(const char *e)
{
    const char *at = strchr(e, '@');
    return at && at != e && at[1] && !strchr(at + 1, '@') && strchr(at + 1, '.') &&
           !strpbrk(e, " \t");
}

static bool phone_valid(const char *p)
{
    int digits = 0;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (!strchr("+-() ", *p))
            return false;
    }
    return digits >= 6 && digits <= 15;
}

/* Checks the details `changed` names, and the rules between kind, tax id and members when one
 * of those changes; f is the whole new state. */
static void check_fields(ovop_call_t *call, const producer_fields_t *f, uint32_t changed)
{
    const char *why;
    if ((changed & PF_KIND) && (f->kind < 1 || f->kind >= (int)OVOP_ARRAY_SIZE(kind_names)))
        ovop_call_violation(call, "kind",
                            "must be one of INDIVIDUAL, FAMILY_GROUP, COOPERATIVE, SME");
    if (changed & PF_LEGAL_NAME)
        ovop_check_text(call, "legal_name", f->legal_name, 300, true);
    if ((changed & PF_TAX_ID) && !f->tax_id[0])
        ovop_call_violation(call, "tax_id", "is required");
    else if ((changed & PF_TAX_ID) && !registry_inn_valid(f->tax_id, &why))
        ovop_call_violation(call, "tax_id", "is not a valid INN: %s", why);
    else if ((changed & (PF_KIND | PF_TAX_ID)) && f->kind == 1 && f->tax_id[0] == '0')
        ovop_call_violation(call, "tax_id", "an individual's INN starts with 1 or 2");
    if ((changed & PF_PHONE) && ovop_check_text(call, "contact.phone", f->phone, 32, false) &&
        f->phone[0] && !phone_valid(f->phone))
        ovop_call_violation(call, "contact.phone",
                            "must be 6 to 15 digits with optional + - ( ) and spaces");
    if ((changed & PF_EMAIL) && ovop_check_text(call, "contact.email", f->email, 254, false) &&
        f->email[0] && !email_valid(f->email))
        ovop_call_violation(call, "contact.email", "is not an e-mail address");
    if (changed & PF_ADDRESS)
        ovop_check_text(call, "contact.address", f->address, 500, false);
    if ((changed & PF_TERRITORY) && !f->territory_code[0])
        ovop_call_violation(call, "territory_code", "is required");
    else if ((changed & PF_TERRITORY) && !registry_soate_valid(f->territory_code, &why))
        ovop_call_violation(call, "territory_code", "%s, got \"%.32s\"", why, f->territory_code);
    const Ovop__V1__GeoPoint *loc = &f->location;
    /* Kyrgyzstan lies within 39.1..43.3 N, 69.2..80.3 E. */
    if ((changed & PF_LOCATION) && loc->set &&
        (!isfinite(loc->lat) || loc->lat < 39.1 || loc->lat > 43.3 || !isfinite(loc->lon) ||
         loc->lon < 69.2 || loc->lon > 80.3))
        ovop_call_violation(call, "location",
                            "must lie in Kyrgyzstan (39.1..43.3 N, 69.2..80.3 E), got %g, %g",
                            loc->lat, loc->lon);
    bool group = changed & (PF_KIND | PF_MEMBERS);
    if ((changed & PF_MEMBERS) && f->n_members > MAX_MEMBERS)
        ovop_call_violation(call, "members", "at most %d, got %zu", MAX_MEMBERS, f->n_members);
    else if (group && f->kind == 1 && f->n_members > 0)
        ovop_call_violation(call, "members", "an individual producer has no members");
    else if (group && f->kind == 2 && f->n_members < 2)
        ovop_call_violation(call, "members", "a family group lists at least 2 members, got %zu",
                            f->n_members);
    for (size_t i = 0; (changed & PF_MEMBERS) && i < f->n_members && i < MAX_MEMBERS; i++) {
        char field[48];
        snprintf(field, sizeof(field), "members[%zu].name", i);
        ovop_check_text(call, field, f->members[i]->name, 200, true);
        snprintf(field, sizeof(field), "members[%zu].role", i);
        ovop_check_text(call, field, f->members[i]->role, 100, false);
        if (f->members[i]->tax_id[0] && !registry_inn_valid(f->members[i]->tax_id, &why)) {
            snprintf(field, sizeof(field), "members[%zu].tax_id", i);
            ovop_call_violation(call, field, "is not a valid INN: %s", why);
        }
    }
}

static char *members_json(const producer_fields_t *f)
{
    json_t *a = json_array();
    for (size_t i = 0; i < f->n_members; i++)
        json_array_append_new(
            a, json_pack("[sss]", f->members[i]->name, f->members[i]->role, f->members[i]->tax_id));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* The new state of a producer, built before the statement that stores it: the reply and the
 * event payload are this message. */
typedef struct producer_draft {
    ovop_call_t *call;
    registry_t *r;
    Ovop__V1__Producer p;
    Ovop__V1__Contact contact;
    Ovop__V1__GeoPoint loc;
    producer_fields_t f;
    const char *status_reason;
    int32_t expected_version;
} producer_draft_t;

static void draft_from_fields(producer_draft_t *dr, const producer_fields_t *f)
{
    ovop__v1__producer__init(&dr->p);
    ovop__v1__contact__init(&dr->contact);
    ovop__v1__geo_point__init(&dr->loc);
    dr->f = *f;
    dr->p.kind = f->kind;
    dr->p.legal_name = (char *)f->legal_name;
    dr->p.tax_id = (char *)f->tax_id;
    dr->contact.phone = (char *)f->phone;
    dr->contact.email = (char *)f->email;
    dr->contact.address = (char *)f->address;
    dr->p.contact = &dr->contact;
    dr->p.territory_code = (char *)f->territory_code;
    dr->loc = f->location;
    dr->p.location = &dr->loc;
    dr->p.n_members = f->n_members;
    dr->p.members = (Ovop__V1__Member **)f->members;
}

/* Stores the draft with the named SQL function (register or update). */
static void store_draft(producer_draft_t *dr, bool update)
{
    char id[24], version[16], at[24], lat[32], lon[32], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)dr->p.id);
    snprintf(version, sizeof(version), "%d", dr->expected_version);
    snprintf(at, sizeof(at), "%lld", (long long)dr->p.updated_us);
    bool has_loc = dr->loc.set;
    snprintf(lat, sizeof(lat), "%.8f", dr->loc.lat);
    snprintf(lon, sizeof(lon), "%.8f", dr->loc.lon);
    ovop_uuid4(uuid);
    char *members = members_json(&dr->f);
    char *event = ovop_bytea_message(&dr->p.base);
    const char *kind = kind_names[dr->p.kind];

    if (update) {
        const char *args[] = {id,
                              version,
                              kind,
                              dr->p.legal_name,
                              dr->p.tax_id,
                              dr->contact.phone,
                              dr->contact.email,
                              dr->contact.address,
                              dr->p.territory_code,
                              has_loc ? lat : NULL,
                              has_loc ? lon : NULL,
                              members,
                              at,
                              uuid,
                              event};
        ovop_mutate_sql(dr->call, &dr->r->mutator,
                    "SELECT * FROM registry.update_producer($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                    "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
                    (int)OVOP_ARRAY_SIZE(args), args, &dr->p.base);
    } else {
        const char *args[] = {id,
                              kind,
                              dr->p.legal_name,
                              dr->p.tax_id,
                              dr->contact.phone,
                              dr->contact.email,
                              dr->contact.address,
                              dr->p.territory_code,
                              has_loc ? lat : NULL,
                              has_loc ? lon : NULL,
                              members,
                              at,
                              uuid,
                              event};
        ovop_mutate_sql(dr->call, &dr->r->mutator,
                    "SELECT * FROM registry.register_producer($1, $2, $3, $4, $5, $6, $7, $8, "
                    "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                    (int)OVOP_ARRAY_SIZE(args), args, &dr->p.base);
    }
    free(members);
    free(event);
    free(dr);
}

/* --- RegisterProducer --- */

static void on_new_id(int64_t id, const char *error, void *userdata)
{
    producer_draft_t *dr = userdata;
    if (error) {
        ovop_call_fail_db(dr->call, NULL, error);
        free(dr);
        return;
    }
    dr->p.id = id;
    dr->p.version = 1;
    dr->p.status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE;
    dr->p.status_reason = "";
    dr->p.created_us = dr->p.updated_us = ovop_now_us();
    store_draft(dr, false);
}

static void register_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RegisterProducerRequest *in = (const Ovop__V1__RegisterProducerRequest *)input;
    producer_fields_t f = FIELDS_OF(in);
    check_fields(call, &f, PF_ALL);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    producer_draft_t *dr = xcalloc(1, sizeof(*dr));
    dr->call = call;
    dr->r = userdata;
    draft_from_fields(dr, &f);
    registry_next_id(dr->r, on_new_id, dr);
}

/* --- UpdateProducer and SetProducerStatus: read, build the new state, store --- */

typedef struct change_ctx {
    producer_draft_t *dr;
    const Ovop__V1__UpdateProducerRequest *in; /* UpdateProducer: outlives the read */
    uint32_t changed;                          /* and the details it changes */
    bool status_change;
    int new_status;
} change_ctx_t;

static void on_current(PGresult *res, int row, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    producer_draft_t *dr = cx->dr;
    if (error) {
        ovop_call_fail_db(dr->call, res, error);
        goto out_free;
    }
    if (row < 0) {
        ovop_call_fail(dr->call, OVOP_NOT_FOUND, "no producer with id %lld", (long long)dr->p.id);
        goto out_free;
    }
    producer_row_t cur;
    producer_from_row(res, row, &cur);
    /* The new state: the stored one, with the details an update names taken from its request
     * (a status change keeps them all). Strings borrow res, which outlives the sending. */
    producer_fields_t f = FIELDS_OF(&cur.p);
    if (!cx->status_change) {
        producer_fields_t from = FIELDS_OF(cx->in);
        merge_fields(&f, &from, cx->changed);
        check_fields(dr->call, &f, cx->changed);
        if (ovop_call_has_violations(dr->call)) {
            ovop_call_fail_violations(dr->call);
            producer_row_free(&cur);
            goto out_free;
        }
    }
    draft_from_fields(dr, &f);
    dr->p.id = cur.p.id;
    dr->p.created_us = cur.p.created_us;
    dr->p.stars = cur.p.stars;
    dr->p.version = dr->expected_version + 1;
    dr->p.updated_us = ovop_now_us();
    if (cx->status_change) {
        dr->p.status = cx->new_status;
        dr->p.status_reason = (char *)dr->status_reason;
        char id[24], version[16], at[24], uuid[37];
        snprintf(id, sizeof(id), "%lld", (long long)dr->p.id);
        snprintf(version, sizeof(version), "%d", dr->expected_version);
        snprintf(at, sizeof(at), "%lld", (long long)dr->p.updated_us);
        ovop_uuid4(uuid);
        char *event = ovop_bytea_message(&dr->p.base);
        const char *args[] = {id,   version, status_names[cx->new_status], dr->status_reason, at,
                              uuid, event};
        ovop_mutate_sql(dr->call, &dr->r->mutator,
                    "SELECT * FROM registry.set_producer_status($1, $2, $3, $4, $5, $6, $7, $8, "
                    "$9, $10, $11, $12)",
                    (int)OVOP_ARRAY_SIZE(args), args, &dr->p.base);
        free(event);
        free(dr);
    } else {
        dr->p.status = cur.p.status;
        dr->p.status_reason = cur.p.status_reason;
        store_draft(dr, true);
    }
    producer_row_free(&cur);
    free(cx);
    return;
out_free:
    free(dr);
    free(cx);
}

static void update_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UpdateProducerRequest *in = (const Ovop__V1__UpdateProducerRequest *)input;
    producer_fields_t given = FIELDS_OF(in);
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    uint32_t changed = registry_mask_fields(call, in->update_mask, update_paths,
                                            OVOP_ARRAY_SIZE(update_paths), given_fields(&given));
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    /* The details are checked once merged into the stored ones (on_current). */
    producer_draft_t *dr = xcalloc(1, sizeof(*dr));
    dr->call = call;
    dr->r = userdata;
    dr->p.id = in->id;
    dr->expected_version = in->version;
    change_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->dr = dr;
    cx->in = in;
    cx->changed = changed;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->id);
    ovop_lookup_get(dr->r->producer_lookup, id, on_current, cx);
}

static void set_producer_status(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetProducerStatusRequest *in =
        (const Ovop__V1__SetProducerStatusRequest *)input;
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    if (in->status < 1 || in->status >= (int)OVOP_ARRAY_SIZE(status_names))
        ovop_call_violation(call, "status", "must be ACTIVE, SUSPENDED or CLOSED");
    ovop_check_text(call, "reason", in->reason, 500,
                    in->status == OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED ||
                        in->status == OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_CLOSED);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    producer_draft_t *dr = xcalloc(1, sizeof(*dr));
    dr->call = call;
    dr->r = userdata;
    dr->p.id = in->id;
    dr->expected_version = in->version;
    dr->status_reason = in->reason; /* the request outlives the call's queries */
    change_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->dr = dr;
    cx->status_change = true;
    cx->new_status = (int)in->status;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->id);
    ovop_lookup_get(dr->r->producer_lookup, id, on_current, cx);
}

/* --- GetProducer --- */

typedef struct get_ctx {
    ovop_call_t *call;
    long long id;
} get_ctx_t;

static void on_get(PGresult *res, int i, const char *error, void *userdata)
{
    get_ctx_t *g = userdata;
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (i < 0) {
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no producer with id %lld", g->id);
    } else {
        producer_row_t row;
        producer_from_row(res, i, &row);
        ovop_call_finish(g->call, &row.p.base);
        producer_row_free(&row);
    }
    free(g);
}

static void get_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetProducerRequest *in = (const Ovop__V1__GetProducerRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    get_ctx_t *g = xmalloc(sizeof(*g));
    g->call = call;
    g->id = (long long)in->id;
    char id[24];
    snprintf(id, sizeof(id), "%lld", g->id);
    ovop_lookup_get(r->producer_lookup, id, on_get, g);
}

/* --- ListProducers --- */

/* A query builder for ListProducers: only the filters given become conditions, so each
 * combination is its own prepared statement with a plan made for it (a single statement with
 * "$1 = '' OR ..." everywhere gets a generic plan that suits no combination). With an HS
 * prefix the candidates come from the products (hs6, territory_code, producer_id) index. */
typedef struct list_query {
    ovop_buf_t sql;
    const char *params[10];
    int n;
} list_query_t;

/* Appends " AND <before>$n<after>" with value as parameter n. */
static void lq_cond(list_query_t *q, const char *before, const char *after, const char *value)
{
    q->params[q->n++] = value;
    ovop_buf_printf(&q->sql, " AND %s$%d%s", before, q->n, after);
}

typedef struct list_ctx {
    ovop_call_t *call;
    unsigned page_size;
} list_ctx_t;

static void producer_decode(PGresult *res, int i, void *row)
{
    producer_from_row(res, i, row);
}

static void producer_free(void *row)
{
    producer_row_free(row);
}

static const ovop_page_t producer_page = {
    .response = &ovop__v1__list_producers_response__descriptor,
    .rows = "producers",
    .row_size = sizeof(producer_row_t),
    .decode = producer_decode,
    .free_row = producer_free,
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
    ovop_page_finish(l->call, res, l->page_size, &producer_page);
    free(l);
}

static void list_producers(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListProducersRequest *in = (const Ovop__V1__ListProducersRequest *)input;
    registry_t *r = userdata;
    const char *why;
    char prefix[15] = "";
    int64_t after = 0;

    if (in->territory_prefix[0]) {
        if (!registry_soate_valid(in->territory_prefix, &why))
            ovop_call_violation(call, "territory_prefix", "%s, got \"%.32s\"", why,
                                in->territory_prefix);
        else
            registry_soate_prefix(in->territory_prefix, prefix);
    }
    size_t hl = strlen(in->hs_prefix);
    if (hl > 6 || (hl && !ovop_all_digits(in->hs_prefix, hl)))
        ovop_call_violation(call, "hs_prefix", "must be 1 to 6 digits, got \"%.16s\"",
                            in->hs_prefix);
    ovop_check_text(call, "category", in->category, 100, false);
    if (in->min_stars > 5)
        ovop_call_violation(call, "min_stars", "must be 0 to 5, got %u", in->min_stars);
    if ((unsigned)in->status >= OVOP_ARRAY_SIZE(status_names))
        ovop_call_violation(call, "status", "unknown status %d", (int)in->status);
    if ((unsigned)in->kind >= OVOP_ARRAY_SIZE(kind_names))
        ovop_call_violation(call, "kind", "unknown kind %d", (int)in->kind);
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
    char stars[8], after_s[24], limit[16];
    snprintf(stars, sizeof(stars), "%u", in->min_stars);
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    list_query_t q = {.n = 0};
    ovop_buf_init(&q.sql);
    ovop_buf_puts(&q.sql, "SELECT " PRODUCER_COLUMNS " FROM registry.producers p");
    if (in->hs_prefix[0]) {
        /* Candidates from the products. Within a territory they are few, and joining their
         * distinct ids lets the planner probe the producers one by one; across the whole
         * country a semi-join that walks the producers in id order stops sooner. */
        size_t pl = strlen(prefix);
        ovop_buf_puts(&q.sql, pl ? " JOIN (SELECT DISTINCT pr.producer_id"
                                 : " WHERE p.id IN (SELECT pr.producer_id");
        q.params[q.n++] = in->hs_prefix;
        ovop_buf_printf(&q.sql, " FROM registry.products pr WHERE pr.hs6 LIKE $%d || '%%'", q.n);
        if (pl == 5 || pl == 8) {
            /* Matches the products_region_hs / products_district_hs indexes. */
            q.params[q.n++] = prefix;
            ovop_buf_printf(&q.sql, " AND left(pr.territory_code::text, %zu) = $%d", pl, q.n);
        } else if (pl) {
            q.params[q.n++] = prefix;
            ovop_buf_printf(&q.sql, " AND pr.territory_code LIKE $%d || '%%'", q.n);
        }
        q.params[q.n++] = after_s;
        ovop_buf_printf(&q.sql, " AND pr.producer_id > $%d::bigint)%s", q.n,
                        pl ? " c ON c.producer_id = p.id WHERE true" : "");
    } else {
        ovop_buf_puts(&q.sql, " WHERE true");
        if (prefix[0])
            lq_cond(&q, "p.territory_code LIKE ", " || '%'", prefix);
    }
    if (in->category[0])
        lq_cond(&q,
                "EXISTS (SELECT 1 FROM registry.products pc WHERE pc.producer_id = p.id "
                "AND pc.category = ",
                ")", in->category);
    if (in->min_stars || in->certified_only) {
        if (!in->min_stars)
            snprintf(stars, sizeof(stars), "1");
        lq_cond(&q,
                "EXISTS (SELECT 1 FROM registry.certificates c WHERE c.producer_id = p.id "
                "AND c.status = 'active' AND c.issued_on <= current_date "
                "AND c.expires_on > current_date AND c.stars >= ",
                "::int)", stars);
    }
    if (in->status)
        lq_cond(&q, "p.status = ", "", status_names[in->status]);
    if (in->kind)
        lq_cond(&q, "p.kind = ", "", kind_names[in->kind]);
    lq_cond(&q, "p.id > ", "::bigint", after_s);
    q.params[q.n++] = limit;
    ovop_buf_printf(&q.sql, " ORDER BY p.id LIMIT $%d::int", q.n);
    ovop_call_query(call, r->pg, q.sql.data, q.n, q.params, on_list, l);
    ovop_buf_free(&q.sql);
}

static const ovop_method_t methods[] = {
    {"RegisterProducer", register_producer, NULL},    {"UpdateProducer", update_producer, NULL},
    {"SetProducerStatus", set_producer_status, NULL}, {"GetProducer", get_producer, NULL},
    {"ListProducers", list_producers, NULL},
};

void registry_producers_register(registry_t *r)
{
    ovop_lookup_new(&r->producer_lookup, ovop_daemon_loop(r->d), r->pg, get_sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
