/* Producers: registration, updates under optimistic versioning, status, queries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbrow.h"
#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_MEMBERS 200

/* The database stores kinds and statuses as these enums' texts (pbrow.h): "family_group". */
#define KINDS    (&ovop__v1__producer_kind__descriptor)
#define STATUSES (&ovop__v1__producer_status__descriptor)

/* A Producer, its columns named as its fields (read by name, pbrow.h). The location is always
 * there, unset unless both coordinates are; the members are stored as objects named like
 * Member's fields (migration 0015). */
#define PRODUCER_COLUMNS                                                                           \
    "p.id, p.kind, p.legal_name, p.tax_id, p.phone AS \"contact.phone\", "                         \
    "p.email AS \"contact.email\", p.address AS \"contact.address\", p.territory_code, "           \
    "(p.lat IS NOT NULL AND p.lon IS NOT NULL) AS \"location.set\", "                              \
    "CASE WHEN p.lon IS NOT NULL THEN p.lat END AS \"location.lat\", "                             \
    "CASE WHEN p.lat IS NOT NULL THEN p.lon END AS \"location.lon\", "                             \
    "p.status, p.status_reason, p.version, "                                                       \
    "(extract(epoch FROM p.created_at) * 1000000)::bigint AS created_us, "                         \
    "(extract(epoch FROM p.updated_at) * 1000000)::bigint AS updated_us, "                         \
    "(SELECT coalesce(max(c.stars), 0) FROM registry.certificates c "                              \
    "  WHERE c.producer_id = p.id AND c.status = 'active' AND c.issued_on <= current_date "        \
    "    AND c.expires_on > current_date) AS stars, "                                              \
    "p.members"

/* Producers by id, batched (see lookup.h): the id is the first column. */
static const ovop_read_t producer = {
    .sql = "SELECT " PRODUCER_COLUMNS " FROM registry.producers p "
           "WHERE p.id IN ($1::bigint, $2::bigint, $3::bigint, $4::bigint, "
           "$5::bigint, $6::bigint, $7::bigint, $8::bigint)",
    .row = &ovop__v1__producer__descriptor,
    .noun = "producer with id",
};

/* --- the details of a producer, shared by RegisterProducer and UpdateProducer --- */

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

/* A coordinate as the row keeps it: rounded to 8 decimals (about a millimetre), the way
 * store_details writes it and PostgreSQL reads it back, so that the reply, the event and the
 * row agree. Not a finite number stays as it is, for the check to refuse. */
static double degrees_stored(double v)
{
    char text[64];
    if (!isfinite(v))
        return v;
    snprintf(text, sizeof(text), "%.8f", v);
    return strtod(text, NULL);
}

/* The details a request gives, as a producer in the call's arena whose contact and location
 * are there: a missing contact has empty fields, a location that is not set is all zero. */
static Ovop__V1__Producer *details_of(ovop_call_t *call, int kind, char *legal_name, char *tax_id,
                                      const Ovop__V1__Contact *contact, char *territory_code,
                                      const Ovop__V1__GeoPoint *location, size_t n_members,
                                      Ovop__V1__Member **members)
{
    Ovop__V1__Producer *p =
        (Ovop__V1__Producer *)ovop_call_message(call, &ovop__v1__producer__descriptor);
    p->contact = (Ovop__V1__Contact *)ovop_call_message(call, &ovop__v1__contact__descriptor);
    p->location = (Ovop__V1__GeoPoint *)ovop_call_message(call, &ovop__v1__geo_point__descriptor);
    p->kind = kind;
    p->legal_name = legal_name;
    p->tax_id = tax_id;
    if (contact) {
        p->contact->phone = contact->phone;
        p->contact->email = contact->email;
        p->contact->address = contact->address;
    }
    p->territory_code = territory_code;
    if (location && location->set) {
        *p->location = *location;
        p->location->lat = degrees_stored(location->lat);
        p->location->lon = degrees_stored(location->lon);
    }
    p->n_members = n_members;
    p->members = members;
    return p;
}

/* The details of a RegisterProducerRequest or an UpdateProducerRequest, which name them as
 * Producer does. */
#define DETAILS_OF(call, m)                                                                        \
    details_of((call), (int)(m)->kind, (m)->legal_name, (m)->tax_id, (m)->contact,                 \
               (m)->territory_code, (m)->location, (m)->n_members, (m)->members)

/* The details d gives a value: what an update without a mask changes. */
static uint32_t given_fields(const Ovop__V1__Producer *d)
{
    return (d->kind ? PF_KIND : 0) | (d->legal_name[0] ? PF_LEGAL_NAME : 0) |
           (d->tax_id[0] ? PF_TAX_ID : 0) | (d->contact->phone[0] ? PF_PHONE : 0) |
           (d->contact->email[0] ? PF_EMAIL : 0) | (d->contact->address[0] ? PF_ADDRESS : 0) |
           (d->territory_code[0] ? PF_TERRITORY : 0) | (d->location->set ? PF_LOCATION : 0) |
           (d->n_members ? PF_MEMBERS : 0);
}

/* Copies into p the details of `from` that `changed` names. */
static void merge_fields(Ovop__V1__Producer *p, const Ovop__V1__Producer *from, uint32_t changed)
{
    if (changed & PF_KIND)
        p->kind = from->kind;
    if (changed & PF_LEGAL_NAME)
        p->legal_name = from->legal_name;
    if (changed & PF_TAX_ID)
        p->tax_id = from->tax_id;
    if (changed & PF_PHONE)
        p->contact->phone = from->contact->phone;
    if (changed & PF_EMAIL)
        p->contact->email = from->contact->email;
    if (changed & PF_ADDRESS)
        p->contact->address = from->contact->address;
    if (changed & PF_TERRITORY)
        p->territory_code = from->territory_code;
    if (changed & PF_LOCATION)
        *p->location = *from->location;
    if (changed & PF_MEMBERS) {
        p->n_members = from->n_members;
        p->members = from->members;
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

/* The kind, the tax id and the rule between them. */
static void check_identity(ovop_call_t *call, const Ovop__V1__Producer *p, uint32_t changed)
{
    const char *why;
    if ((changed & PF_KIND) && !ovop_enum_text(KINDS, p->kind)[0])
        ovop_call_violation(call, "kind",
                            "must be one of INDIVIDUAL, FAMILY_GROUP, COOPERATIVE, SME");
    if (changed & PF_LEGAL_NAME)
        ovop_check_text(call, "legal_name", p->legal_name, 300, true);
    if ((changed & PF_TAX_ID) && !p->tax_id[0])
        ovop_call_violation(call, "tax_id", "is required");
    else if ((changed & PF_TAX_ID) && !registry_inn_valid(p->tax_id, &why))
        ovop_call_violation(call, "tax_id", "is not a valid INN: %s", why);
    else if ((changed & (PF_KIND | PF_TAX_ID)) &&
             p->kind == OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL && p->tax_id[0] == '0')
        ovop_call_violation(call, "tax_id", "an individual's INN starts with 1 or 2");
}

/* The contact, the territory and the location. */
static void check_whereabouts(ovop_call_t *call, const Ovop__V1__Producer *p, uint32_t changed)
{
    const char *why;
    const Ovop__V1__Contact *c = p->contact;
    if ((changed & PF_PHONE) && ovop_check_text(call, "contact.phone", c->phone, 32, false) &&
        c->phone[0] && !phone_valid(c->phone))
        ovop_call_violation(call, "contact.phone",
                            "must be 6 to 15 digits with optional + - ( ) and spaces");
    if ((changed & PF_EMAIL) && ovop_check_text(call, "contact.email", c->email, 254, false) &&
        c->email[0] && !email_valid(c->email))
        ovop_call_violation(call, "contact.email", "is not an e-mail address");
    if (changed & PF_ADDRESS)
        ovop_check_text(call, "contact.address", c->address, 500, false);
    if ((changed & PF_TERRITORY) && !p->territory_code[0])
        ovop_call_violation(call, "territory_code", "is required");
    else if ((changed & PF_TERRITORY) && !registry_soate_valid(p->territory_code, &why))
        ovop_call_violation(call, "territory_code", "%s, got \"%.32s\"", why, p->territory_code);
    const Ovop__V1__GeoPoint *loc = p->location;
    /* Kyrgyzstan lies within 39.1..43.3 N, 69.2..80.3 E. */
    if ((changed & PF_LOCATION) && loc->set &&
        (!isfinite(loc->lat) || loc->lat < 39.1 || loc->lat > 43.3 || !isfinite(loc->lon) ||
         loc->lon < 69.2 || loc->lon > 80.3))
        ovop_call_violation(call, "location",
                            "must lie in Kyrgyzstan (39.1..43.3 N, 69.2..80.3 E), got %g, %g",
                            loc->lat, loc->lon);
}

/* The members, and the rules between them and the kind. */
static void check_members(ovop_call_t *call, const Ovop__V1__Producer *p, uint32_t changed)
{
    const char *why;
    bool group = changed & (PF_KIND | PF_MEMBERS);
    if ((changed & PF_MEMBERS) && p->n_members > MAX_MEMBERS)
        ovop_call_violation(call, "members", "at most %d, got %zu", MAX_MEMBERS, p->n_members);
    else if (group && p->kind == OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL &&
             p->n_members > 0)
        ovop_call_violation(call, "members", "an individual producer has no members");
    else if (group && p->kind == OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP &&
             p->n_members < 2)
        ovop_call_violation(call, "members", "a family group lists at least 2 members, got %zu",
                            p->n_members);
    for (size_t i = 0; (changed & PF_MEMBERS) && i < p->n_members && i < MAX_MEMBERS; i++) {
        const Ovop__V1__Member *m = p->members[i];
        char field[48];
        snprintf(field, sizeof(field), "members[%zu].name", i);
        ovop_check_text(call, field, m->name, 200, true);
        snprintf(field, sizeof(field), "members[%zu].role", i);
        ovop_check_text(call, field, m->role, 100, false);
        if (m->tax_id[0] && !registry_inn_valid(m->tax_id, &why)) {
            snprintf(field, sizeof(field), "members[%zu].tax_id", i);
            ovop_call_violation(call, field, "is not a valid INN: %s", why);
        }
    }
}

/* Checks the details `changed` names, and the rules between kind, tax id and members when one
 * of those changes; p is the whole new state. */
static void check_fields(ovop_call_t *call, const Ovop__V1__Producer *p, uint32_t changed)
{
    check_identity(call, p, changed);
    check_whereabouts(call, p, changed);
    check_members(call, p, changed);
}

/* --- storing a change --- */

/* A change being made. */
typedef struct producer_change {
    ovop_call_t *call;
    registry_t *r;
    Ovop__V1__Producer *p; /* the new state: the reply and the event payload */
    /* UpdateProducer and SetProducerStatus: the producer, read into p, and what changes p
     * and stores it */
    int64_t id;
    void (*apply)(struct producer_change *cx);
    /* UpdateProducer: the request's details, and the ones it changes */
    const Ovop__V1__Producer *from;
    uint32_t changed;
} producer_change_t;

/* The members as the SQL functions take them: [[name, role, tax id], ...]. */
static char *members_json(ovop_call_t *call, const Ovop__V1__Producer *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_members; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "name", p->members[i]->name, "role",
                                           p->members[i]->role, "tax_id", p->members[i]->tax_id));
    return registry_json_text(call, a);
}

/* Stores the details of cx->p with registry.register_producer, or registry.update_producer
 * when `version` (the version the request read) is not 0. */
static void store_details(producer_change_t *cx, int32_t version)
{
    ovop_call_t *call = cx->call;
    const Ovop__V1__Producer *p = cx->p;
    const Ovop__V1__GeoPoint *loc = p->location;
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)p->id)},
        {"p_kind", ovop_enum_text(KINDS, p->kind)},
        {"p_legal_name", p->legal_name},
        {"p_tax_id", p->tax_id},
        {"p_phone", p->contact->phone},
        {"p_email", p->contact->email},
        {"p_address", p->contact->address},
        {"p_territory", p->territory_code},
        {"p_lat", loc->set ? ovop_call_printf(call, "%.8f", loc->lat) : NULL},
        {"p_lon", loc->set ? ovop_call_printf(call, "%.8f", loc->lon) : NULL},
        {"p_members", members_json(call, p)},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)p->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &p->base)},
        {"p_version", ovop_call_printf(call, "%d", version)}, /* last: updates only */
    };
    size_t n = OVOP_ARRAY_SIZE(args) - (version ? 0 : 1);
    ovop_mutate(call, &cx->r->mutator,
                version ? "registry.update_producer" : "registry.register_producer", args, n,
                &p->base);
}

/* --- RegisterProducer --- */

static void on_new_id(ovop_call_t *call, int64_t id, const char *today, void *userdata)
{
    producer_change_t *cx = userdata;
    OVOP_UNUSED(call);
    OVOP_UNUSED(today);
    Ovop__V1__Producer *p = cx->p;
    p->id = id;
    p->version = 1;
    p->status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE;
    p->status_reason = "";
    p->created_us = p->updated_us = ovop_now_us();
    store_details(cx, 0);
}

static void register_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RegisterProducerRequest *in = (const Ovop__V1__RegisterProducerRequest *)input;
    Ovop__V1__Producer *p = DETAILS_OF(call, in);
    check_fields(call, p, PF_ALL);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    producer_change_t *cx = ovop_call_alloc(call, sizeof(*cx)); /* freed with the call */
    *cx = (producer_change_t){.call = call, .r = userdata, .p = p};
    registry_new_id(call, cx->r, on_new_id, cx);
}

/* --- UpdateProducer and SetProducerStatus: read, build the new state, store --- */

static void on_current(PGresult *res, int row, const char *error, void *userdata)
{
    producer_change_t *cx = userdata;
    if (error)
        ovop_call_fail_db(cx->call, res, error);
    else if (row < 0)
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no producer with id %lld", (long long)cx->id);
    else if ((cx->p = (Ovop__V1__Producer *)ovop_read_row(cx->call, &producer, res, row)))
        cx->apply(cx);
}

/* Reads producer cx->id (batched with the reads of other calls), then applies the change. */
static void change_producer(producer_change_t *cx)
{
    ovop_lookup_get_until(cx->r->producer_lookup,
                          ovop_call_printf(cx->call, "%lld", (long long)cx->id),
                          ovop_call_deadline(cx->call), on_current, cx);
}

/* The stored producer with the details the update names taken from its request. */
static void apply_update(producer_change_t *cx)
{
    const Ovop__V1__UpdateProducerRequest *in =
        (const Ovop__V1__UpdateProducerRequest *)ovop_call_input(cx->call);
    Ovop__V1__Producer *p = cx->p;
    merge_fields(p, cx->from, cx->changed);
    check_fields(cx->call, p, cx->changed);
    if (ovop_call_has_violations(cx->call)) {
        ovop_call_fail_violations(cx->call);
        return;
    }
    p->version = in->version + 1;
    p->updated_us = ovop_now_us();
    store_details(cx, in->version);
}

static void update_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UpdateProducerRequest *in = (const Ovop__V1__UpdateProducerRequest *)input;
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    const Ovop__V1__Producer *from = DETAILS_OF(call, in);
    uint32_t changed = registry_mask_fields(call, in->update_mask, update_paths,
                                            OVOP_ARRAY_SIZE(update_paths), given_fields(from));
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    /* The details are checked once merged into the stored ones (apply_update). */
    producer_change_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (producer_change_t){.call = call,
                              .r = userdata,
                              .id = in->id,
                              .apply = apply_update,
                              .from = from,
                              .changed = changed};
    change_producer(cx);
}

/* The stored producer with its new status. */
static void apply_status(producer_change_t *cx)
{
    const Ovop__V1__SetProducerStatusRequest *in =
        (const Ovop__V1__SetProducerStatusRequest *)ovop_call_input(cx->call);
    ovop_call_t *call = cx->call;
    Ovop__V1__Producer *p = cx->p;
    p->status = in->status;
    p->status_reason = in->reason;
    p->version = in->version + 1;
    p->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)p->id)},
        {"p_version", ovop_call_printf(call, "%d", in->version)},
        {"p_status", ovop_enum_text(STATUSES, p->status)},
        {"p_reason", p->status_reason},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)p->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &p->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator, "registry.set_producer_status", args, &p->base);
}

static void set_producer_status(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetProducerStatusRequest *in =
        (const Ovop__V1__SetProducerStatusRequest *)input;
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    if (!ovop_enum_text(STATUSES, in->status)[0])
        ovop_call_violation(call, "status", "must be ACTIVE, SUSPENDED or CLOSED");
    ovop_check_text(call, "reason", in->reason, 500,
                    in->status == OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED ||
                        in->status == OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_CLOSED);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    producer_change_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (producer_change_t){.call = call, .r = userdata, .id = in->id, .apply = apply_status};
    change_producer(cx);
}

/* --- GetProducer --- */

static void get_producer(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetProducerRequest *in = (const Ovop__V1__GetProducerRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a producer id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    ovop_read_lookup(call, r->producer_lookup, &producer,
                     ovop_call_printf(call, "%lld", (long long)in->id));
}

/* --- ListProducers --- */

static const ovop_read_t producer_list = {
    .page = {.response = &ovop__v1__list_producers_response__descriptor,
             .rows = "producers",
             .key = "id"},
};

/* A ListProducersRequest's filters, checked, as the query's parameters take them. */
typedef struct list_filters {
    char prefix[15];    /* the significant prefix of territory_prefix, or "" */
    const char *status; /* "" for any */
    const char *kind;   /* "" for any */
    const char *after;  /* the id the page continues after */
    unsigned page;
} list_filters_t;

/* Fills f from in, or adds violations and returns false. */
static bool check_list(ovop_call_t *call, const Ovop__V1__ListProducersRequest *in,
                       list_filters_t *f)
{
    const char *why;
    int64_t after = 0;
    if (in->territory_prefix[0]) {
        if (!registry_soate_valid(in->territory_prefix, &why))
            ovop_call_violation(call, "territory_prefix", "%s, got \"%.32s\"", why,
                                in->territory_prefix);
        else
            registry_soate_prefix(in->territory_prefix, f->prefix);
    }
    size_t hl = strlen(in->hs_prefix);
    if (hl > 6 || (hl && !ovop_all_digits(in->hs_prefix, hl)))
        ovop_call_violation(call, "hs_prefix", "must be 1 to 6 digits, got \"%.16s\"",
                            in->hs_prefix);
    ovop_check_text(call, "category", in->category, 100, false);
    if (in->min_stars > 5)
        ovop_call_violation(call, "min_stars", "must be 0 to 5, got %u", in->min_stars);
    f->status = ovop_enum_text(STATUSES, in->status);
    if (in->status && !f->status[0])
        ovop_call_violation(call, "status", "unknown status %d", (int)in->status);
    f->kind = ovop_enum_text(KINDS, in->kind);
    if (in->kind && !f->kind[0])
        ovop_call_violation(call, "kind", "unknown kind %d", (int)in->kind);
    f->page = ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    f->after = ovop_call_printf(call, "%lld", (long long)after);
    return !ovop_call_has_violations(call);
}

/* ListProducers' statement is an ovop_filter_t: only the filters given become conditions.
 * The producers to consider, ready for " AND ..." conditions. With an HS prefix they are
 * the candidates from the products: within a territory they are few, and joining their
 * distinct ids lets the planner probe the producers one by one; across the whole country a
 * semi-join that walks the producers in id order stops sooner (the products' (hs6,
 * territory_code, producer_id) index). */
static void lq_producers(ovop_filter_t *q, const char *hs_prefix, const list_filters_t *f)
{
    size_t pl = strlen(f->prefix);
    ovop_filter_init(q, "SELECT " PRODUCER_COLUMNS " FROM registry.producers p");
    if (!hs_prefix[0]) {
        ovop_buf_puts(&q->sql, " WHERE true");
        if (pl)
            ovop_filter_add(q, " AND p.territory_code LIKE ", " || '%'", f->prefix);
        return;
    }
    ovop_buf_puts(&q->sql, pl ? " JOIN (SELECT DISTINCT pr.producer_id"
                              : " WHERE p.id IN (SELECT pr.producer_id");
    ovop_buf_printf(&q->sql, " FROM registry.products pr WHERE pr.hs6 LIKE $%d || '%%'",
                    ovop_filter_param(q, hs_prefix));
    if (pl == 5 || pl == 8) /* matches the products_region_hs / products_district_hs indexes */
        ovop_buf_printf(&q->sql, " AND left(pr.territory_code::text, %zu) = $%d", pl,
                        ovop_filter_param(q, f->prefix));
    else if (pl)
        ovop_buf_printf(&q->sql, " AND pr.territory_code LIKE $%d || '%%'",
                        ovop_filter_param(q, f->prefix));
    ovop_buf_printf(&q->sql, " AND pr.producer_id > $%d::bigint)%s", ovop_filter_param(q, f->after),
                    pl ? " c ON c.producer_id = p.id WHERE true" : "");
}

/* The conditions on the producers themselves, and the page. */
static void lq_conditions(ovop_call_t *call, ovop_filter_t *q,
                          const Ovop__V1__ListProducersRequest *in, const list_filters_t *f)
{
    if (in->category[0])
        ovop_filter_add(
            q,
            " AND EXISTS (SELECT 1 FROM registry.products pc WHERE pc.producer_id = p.id "
            "AND pc.category = ",
            ")", in->category);
    if (in->min_stars || in->certified_only)
        ovop_filter_add(
            q,
            " AND EXISTS (SELECT 1 FROM registry.certificates c WHERE c.producer_id = p.id "
            "AND c.status = 'active' AND c.issued_on <= current_date "
            "AND c.expires_on > current_date AND c.stars >= ",
            "::int)", ovop_call_printf(call, "%u", in->min_stars ? in->min_stars : 1));
    if (f->status[0])
        ovop_filter_add(q, " AND p.status = ", "", f->status);
    if (f->kind[0])
        ovop_filter_add(q, " AND p.kind = ", "", f->kind);
    ovop_filter_add(q, " AND p.id > ", "::bigint", f->after);
    ovop_buf_printf(&q->sql, " ORDER BY p.id LIMIT $%d::int",
                    ovop_filter_param(q, ovop_call_printf(call, "%u", f->page + 1)));
}

static void list_producers(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListProducersRequest *in = (const Ovop__V1__ListProducersRequest *)input;
    registry_t *r = userdata;
    list_filters_t f = {.prefix = ""};
    if (!check_list(call, in, &f)) {
        ovop_call_fail_violations(call);
        return;
    }
    ovop_filter_t q;
    lq_producers(&q, in->hs_prefix, &f);
    lq_conditions(call, &q, in, &f);
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &producer_list, ovop_filter_sql(call, &q), q.n,
                   q.params, f.page);
}

static const ovop_method_t methods[] = {
    {"RegisterProducer", register_producer},    {"UpdateProducer", update_producer},
    {"SetProducerStatus", set_producer_status}, {"GetProducer", get_producer},
    {"ListProducers", list_producers},
};

void registry_producers_register(registry_t *r)
{
    ovop_lookup_new(&r->producer_lookup, ovop_daemon_loop(r->d), r->pg, producer.sql);
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
