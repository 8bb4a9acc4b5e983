/* Products of producers: creation, updates under optimistic versioning, queries, and the
 * full-text search over producers and products. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "pbrow.h"
#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_NAME         200
#define MAX_CATEGORY     100
#define MAX_UNIT         8
#define MAX_RAW          20
#define MAX_RAW_LEN      100
#define MAX_CAPACITY     10000000.0         /* per month: more than any village makes of anything */
#define MAX_PRICE_CENTS  INT64_C(100000000) /* USD 1,000,000 per unit */
#define SEARCH_DEFAULT   20
#define SEARCH_MAX       100
#define SEARCH_MAX_QUERY 200

/* The database stores certifications as this enum's texts (pbrow.h): "organic". */
#define CERTIFICATIONS (&ovop__v1__product_certification__descriptor)

/* Units any product may be counted in, besides the unit of its HS code. */
static const char *const units[] = {"kg", "l", "pcs", "pair", "m2", "t"};

/* Up to 32 bytes of s for a message, printable ASCII kept and anything else shown as '?',
 * so that echoing a client's bad input never puts invalid UTF-8 into a reply. */
static const char *shown(const char *s, char out[static 36])
{
    size_t i = 0;
    for (; s[i] && i < 32; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* A Product, its columns named as its fields (read by name, pbrow.h). */
#define PRODUCT_COLUMNS                                                                            \
    "pr.id, pr.producer_id, pr.name_ru AS \"name.ru\", pr.name_en AS \"name.en\", "                \
    "pr.name_ky AS \"name.ky\", pr.category, pr.hs6 AS hs_code, pr.unit, "                         \
    "pr.capacity_per_month, array_to_json(pr.season_months) AS season_months, "                    \
    "(pr.price_usd * 100)::bigint AS price_usd_cents, "                                            \
    "array_to_json(pr.raw_materials) AS raw_materials, "                                           \
    "array_to_json(pr.certifications) AS certifications, pr.version, "                             \
    "(extract(epoch FROM pr.created_at) * 1000000)::bigint AS created_us, "                        \
    "(extract(epoch FROM pr.updated_at) * 1000000)::bigint AS updated_us"

static const ovop_read_t product = {
    .sql = "SELECT " PRODUCT_COLUMNS " FROM registry.products pr WHERE pr.id = $1::bigint",
    .row = &ovop__v1__product__descriptor,
    .noun = "product with id",
};

/* --- the details of a product, shared by CreateProduct and UpdateProduct --- */

/* The details, as bits: which ones an update changes and which ones are checked. */
enum {
    PD_NAME_RU = 1 << 0,
    PD_NAME_EN = 1 << 1,
    PD_NAME_KY = 1 << 2,
    PD_CATEGORY = 1 << 3,
    PD_HS_CODE = 1 << 4,
    PD_UNIT = 1 << 5,
    PD_CAPACITY = 1 << 6,
    PD_SEASON = 1 << 7,
    PD_PRICE = 1 << 8,
    PD_RAW = 1 << 9,
    PD_CERTS = 1 << 10,
    PD_NAME = PD_NAME_RU | PD_NAME_EN | PD_NAME_KY,
    PD_ALL = (1 << 11) - 1,
};

/* UpdateProductRequest.update_mask's paths. */
static const registry_mask_path_t update_paths[] = {
    {"name", PD_NAME},
    {"name.ru", PD_NAME_RU},
    {"name.en", PD_NAME_EN},
    {"name.ky", PD_NAME_KY},
    {"category", PD_CATEGORY},
    {"hs_code", PD_HS_CODE},
    {"unit", PD_UNIT},
    {"capacity_per_month", PD_CAPACITY},
    {"season_months", PD_SEASON},
    {"price_usd_cents", PD_PRICE},
    {"raw_materials", PD_RAW},
    {"certifications", PD_CERTS},
};

/* A product in the call's arena whose name is there. */
static Ovop__V1__Product *product_new(ovop_call_t *call)
{
    Ovop__V1__Product *p =
        (Ovop__V1__Product *)ovop_call_message(call, &ovop__v1__product__descriptor);
    p->name =
        (Ovop__V1__LocalizedName *)ovop_call_message(call, &ovop__v1__localized_name__descriptor);
    return p;
}

/* Sets on the product p the details of m, a CreateProductRequest or an UpdateProductRequest,
 * which name them as Product does; a missing name has empty languages. */
#define SET_DETAILS(p, m)                                                                          \
    do {                                                                                           \
        if ((m)->name) {                                                                           \
            (p)->name->ru = (m)->name->ru;                                                         \
            (p)->name->en = (m)->name->en;                                                         \
            (p)->name->ky = (m)->name->ky;                                                         \
        }                                                                                          \
        (p)->category = (m)->category;                                                             \
        (p)->hs_code = (m)->hs_code;                                                               \
        (p)->unit = (m)->unit;                                                                     \
        (p)->capacity_per_month = (m)->capacity_per_month;                                         \
        (p)->n_season_months = (m)->n_season_months;                                               \
        (p)->season_months = (m)->season_months;                                                   \
        (p)->price_usd_cents = (m)->price_usd_cents;                                               \
        (p)->n_raw_materials = (m)->n_raw_materials;                                               \
        (p)->raw_materials = (m)->raw_materials;                                                   \
        (p)->n_certifications = (m)->n_certifications;                                             \
        (p)->certifications = (m)->certifications;                                                 \
    } while (0)

/* The details d gives a value: what an update without a mask changes. */
static uint32_t given_fields(const Ovop__V1__Product *d)
{
    const Ovop__V1__LocalizedName *n = d->name;
    return (n->ru[0] ? PD_NAME_RU : 0) | (n->en[0] ? PD_NAME_EN : 0) | (n->ky[0] ? PD_NAME_KY : 0) |
           (d->category[0] ? PD_CATEGORY : 0) | (d->hs_code[0] ? PD_HS_CODE : 0) |
           (d->unit[0] ? PD_UNIT : 0) | (d->capacity_per_month != 0 ? PD_CAPACITY : 0) |
           (d->n_season_months ? PD_SEASON : 0) | (d->price_usd_cents ? PD_PRICE : 0) |
           (d->n_raw_materials ? PD_RAW : 0) | (d->n_certifications ? PD_CERTS : 0);
}

/* Copies into p the details of `from` that `changed` names. */
static void merge_fields(Ovop__V1__Product *p, const Ovop__V1__Product *from, uint32_t changed)
{
    if (changed & PD_NAME_RU)
        p->name->ru = from->name->ru;
    if (changed & PD_NAME_EN)
        p->name->en = from->name->en;
    if (changed & PD_NAME_KY)
        p->name->ky = from->name->ky;
    if (changed & PD_CATEGORY)
        p->category = from->category;
    if (changed & PD_HS_CODE)
        p->hs_code = from->hs_code;
    if (changed & PD_UNIT)
        p->unit = from->unit;
    if (changed & PD_CAPACITY)
        p->capacity_per_month = from->capacity_per_month;
    if (changed & PD_SEASON) {
        p->n_season_months = from->n_season_months;
        p->season_months = from->season_months;
    }
    if (changed & PD_PRICE)
        p->price_usd_cents = from->price_usd_cents;
    if (changed & PD_RAW) {
        p->n_raw_materials = from->n_raw_materials;
        p->raw_materials = from->raw_materials;
    }
    if (changed & PD_CERTS) {
        p->n_certifications = from->n_certifications;
        p->certifications = from->certifications;
    }
}

static bool unit_known(const char *u)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(units); i++)
        if (strcmp(units[i], u) == 0)
            return true;
    return false;
}

/* A unit that may be some HS code's own: short, lowercase letters and digits. Whether it is
 * the code's is the database's check. */
static bool unit_plausible(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > MAX_UNIT)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9')))
            return false;
    return true;
}

/* Each adds a violation when its field of p is wrong on its face. */

static void check_hs_code(ovop_call_t *call, const Ovop__V1__Product *p)
{
    char buf[36];
    if (!p->hs_code[0])
        ovop_call_violation(call, "hs_code", "is required");
    else if (!registry_hs_valid(p->hs_code))
        ovop_call_violation(call, "hs_code", "must be 6 digits, got \"%s\"",
                            shown(p->hs_code, buf));
}

static void check_unit(ovop_call_t *call, const Ovop__V1__Product *p)
{
    char buf[36];
    if (!p->unit[0])
        ovop_call_violation(call, "unit", "is required");
    else if (!unit_known(p->unit) && !unit_plausible(p->unit))
        ovop_call_violation(call, "unit",
                            "must be kg, l, pcs, pair, m2, t or the unit of the HS code, got "
                            "\"%s\"",
                            shown(p->unit, buf));
}

static void check_capacity(ovop_call_t *call, const Ovop__V1__Product *p)
{
    double c = p->capacity_per_month;
    if (!isfinite(c))
        ovop_call_violation(call, "capacity_per_month", "must be a finite number");
    else if (c <= 0)
        ovop_call_violation(call, "capacity_per_month", "must be positive, got %g", c);
    else if (c > MAX_CAPACITY)
        ovop_call_violation(call, "capacity_per_month", "must be at most %.0f a month, got %g",
                            MAX_CAPACITY, c);
    else if (c < 0.001)
        ovop_call_violation(call, "capacity_per_month",
                            "must be at least 0.001 (capacities are kept to 3 decimals), got %g",
                            c);
}

static void check_season(ovop_call_t *call, const Ovop__V1__Product *p)
{
    if (p->n_season_months > 12) {
        ovop_call_violation(call, "season_months", "at most 12 months, got %zu",
                            p->n_season_months);
        return;
    }
    bool seen[13] = {false};
    for (size_t i = 0; i < p->n_season_months; i++) {
        char field[48];
        snprintf(field, sizeof(field), "season_months[%zu]", i);
        uint32_t m = p->season_months[i];
        if (m < 1 || m > 12)
            ovop_call_violation(call, field, "must be a month 1..12, got %u", m);
        else if (seen[m])
            ovop_call_violation(call, field, "month %u is listed twice", m);
        else
            seen[m] = true;
    }
}

static void check_price(ovop_call_t *call, const Ovop__V1__Product *p)
{
    int64_t price = p->price_usd_cents;
    if (price < 0)
        ovop_call_violation(call, "price_usd_cents", "must not be negative, got %lld",
                            (long long)price);
    else if (price > MAX_PRICE_CENTS)
        ovop_call_violation(call, "price_usd_cents",
                            "must be at most %lld (USD 1,000,000) per unit, got %lld",
                            (long long)MAX_PRICE_CENTS, (long long)price);
}

static void check_raw(ovop_call_t *call, const Ovop__V1__Product *p)
{
    if (p->n_raw_materials > MAX_RAW)
        ovop_call_violation(call, "raw_materials", "at most %d, got %zu", MAX_RAW,
                            p->n_raw_materials);
    for (size_t i = 0; i < p->n_raw_materials && i < MAX_RAW; i++) {
        char field[48];
        snprintf(field, sizeof(field), "raw_materials[%zu]", i);
        ovop_check_text(call, field, p->raw_materials[i], MAX_RAW_LEN, true);
    }
}

/* A certification as messages name it: its enum value's name without the prefix (ORGANIC). */
static const char *cert_label(int c, char out[static 32])
{
    snprintf(out, 32, "%s", ovop_enum_text(CERTIFICATIONS, c));
    for (char *s = out; *s; s++)
        *s = (char)toupper((unsigned char)*s);
    return out;
}

static void check_certs(ovop_call_t *call, const Ovop__V1__Product *p)
{
    uint32_t seen = 0; /* bit c: certification c */
    for (size_t i = 0; i < p->n_certifications; i++) {
        char field[48], label[32];
        snprintf(field, sizeof(field), "certifications[%zu]", i);
        int c = (int)p->certifications[i];
        if (!ovop_enum_text(CERTIFICATIONS, c)[0]) {
            ovop_call_violation(call, field,
                                "must be CONFORMITY, ORGANIC, HALAL or GEOGRAPHICAL_INDICATION, "
                                "got %d",
                                c);
        } else if (seen & (1u << c)) {
            ovop_call_violation(call, field, "%s is listed twice", cert_label(c, label));
        } else {
            seen |= 1u << c;
        }
    }
}

/* Checks the fields `changed` names; p is the whole new state (a name needs one of its
 * languages, whichever of them changes). */
static void check_fields(ovop_call_t *call, const Ovop__V1__Product *p, uint32_t changed)
{
    const Ovop__V1__LocalizedName *n = p->name;
    if ((changed & PD_NAME) && !n->ru[0] && !n->en[0] && !n->ky[0])
        ovop_call_violation(call, "name", "give the product's name in at least one of ru, en, ky");
    if (changed & PD_NAME_RU)
        ovop_check_text(call, "name.ru", n->ru, MAX_NAME, false);
    if (changed & PD_NAME_EN)
        ovop_check_text(call, "name.en", n->en, MAX_NAME, false);
    if (changed & PD_NAME_KY)
        ovop_check_text(call, "name.ky", n->ky, MAX_NAME, false);
    if (changed & PD_CATEGORY)
        ovop_check_text(call, "category", p->category, MAX_CATEGORY, true);
    if (changed & PD_HS_CODE)
        check_hs_code(call, p);
    if (changed & PD_UNIT)
        check_unit(call, p);
    if (changed & PD_CAPACITY)
        check_capacity(call, p);
    if (changed & PD_SEASON)
        check_season(call, p);
    if (changed & PD_PRICE)
        check_price(call, p);
    if (changed & PD_RAW)
        check_raw(call, p);
    if (changed & PD_CERTS)
        check_certs(call, p);
}

/* --- storing a change --- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_cert(const void *a, const void *b)
{
    int x = (int)*(const Ovop__V1__ProductCertification *)a;
    int y = (int)*(const Ovop__V1__ProductCertification *)b;
    return (x > y) - (x < y);
}

/* A sorted copy of the n elements of size `size` at p, in the call's arena (the request's own
 * arrays are left as they came). */
static void *sorted(ovop_call_t *call, const void *p, size_t n, size_t size,
                    int (*cmp)(const void *, const void *))
{
    void *copy = ovop_call_alloc(call, (n ? n : 1) * size);
    if (n) { /* an empty repeated field is NULL, which memcpy and qsort refuse */
        memcpy(copy, p, n * size);
        qsort(copy, n, size, cmp);
    }
    return copy;
}

/* The checked new state p as it will be stored: the capacity rounded as its column keeps it,
 * months and certifications sorted, so the reply is exactly what a later read returns. */
static void round_as_stored(ovop_call_t *call, Ovop__V1__Product *p)
{
    p->capacity_per_month = strtod(ovop_call_printf(call, "%.3f", p->capacity_per_month), NULL);
    p->season_months =
        sorted(call, p->season_months, p->n_season_months, sizeof(*p->season_months), cmp_u32);
    p->certifications =
        sorted(call, p->certifications, p->n_certifications, sizeof(*p->certifications), cmp_cert);
}

/* The arrays as the SQL functions take them (jsonb). */
static char *season_json(ovop_call_t *call, const Ovop__V1__Product *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_season_months; i++)
        json_array_append_new(a, json_integer(p->season_months[i]));
    return registry_json_text(call, a);
}

static char *raw_json(ovop_call_t *call, const Ovop__V1__Product *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_raw_materials; i++)
        json_array_append_new(a, json_string(p->raw_materials[i]));
    return registry_json_text(call, a);
}

static char *certs_json(ovop_call_t *call, const Ovop__V1__Product *p)
{
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_certifications; i++)
        json_array_append_new(a, json_string(ovop_enum_text(CERTIFICATIONS, p->certifications[i])));
    return registry_json_text(call, a);
}

/* A change being made. */
typedef struct product_change {
    ovop_call_t *call;
    registry_t *r;
    Ovop__V1__Product *p;          /* CreateProduct: the new state */
    const Ovop__V1__Product *from; /* UpdateProduct: the request's details, */
    uint32_t changed;              /* and the ones it changes */
} product_change_t;

/* Stores p, checked and rounded, with registry.create_product, or registry.update_product
 * when `version` (the version the request read) is not 0. */
static void store_product(product_change_t *cx, const Ovop__V1__Product *p, int32_t version)
{
    ovop_call_t *call = cx->call;
    char price[OVOP_MONEY_TEXT]; /* numeric(14, 2), exactly the cents */
    const ovop_arg_t args[] = {
        {"p_id", ovop_call_printf(call, "%lld", (long long)p->id)},
        /* an update names the version it read, a creation the producer */
        version
            ? (ovop_arg_t){"p_version", ovop_call_printf(call, "%d", version)}
            : (ovop_arg_t){"p_producer", ovop_call_printf(call, "%lld", (long long)p->producer_id)},
        {"p_name_ru", p->name->ru},
        {"p_name_en", p->name->en},
        {"p_name_ky", p->name->ky},
        {"p_category", p->category},
        {"p_hs", p->hs_code},
        {"p_unit", p->unit},
        {"p_capacity", ovop_call_printf(call, "%.3f", p->capacity_per_month)}, /* numeric(14, 3) */
        {"p_season", season_json(call, p)},
        {"p_price", ovop_money_format(p->price_usd_cents, price)},
        {"p_raw", raw_json(call, p)},
        {"p_certs", certs_json(call, p)},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)p->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &p->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator,
                version ? "registry.update_product" : "registry.create_product", args, &p->base);
}

/* --- CreateProduct --- */

static void on_new_id(ovop_call_t *call, int64_t id, const char *today, void *userdata)
{
    product_change_t *cx = userdata;
    OVOP_UNUSED(call);
    OVOP_UNUSED(today);
    Ovop__V1__Product *p = cx->p;
    p->id = id;
    p->version = 1;
    p->created_us = p->updated_us = ovop_now_us();
    store_product(cx, p, 0);
}

static void create_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateProductRequest *in = (const Ovop__V1__CreateProductRequest *)input;
    Ovop__V1__Product *p = product_new(call);
    SET_DETAILS(p, in);
    p->producer_id = in->producer_id;
    if (in->producer_id <= 0)
        ovop_call_violation(call, "producer_id", "must be a producer id, got %lld",
                            (long long)in->producer_id);
    check_fields(call, p, PD_ALL);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    round_as_stored(call, p);
    product_change_t *cx = ovop_call_alloc(call, sizeof(*cx)); /* freed with the call */
    *cx = (product_change_t){.call = call, .r = userdata, .p = p};
    registry_new_id(call, cx->r, on_new_id, cx);
}

/* --- UpdateProduct: read the current row, merge the change in, store --- */

/* The stored product p with the details the update names taken from its request; a stale
 * version is refused by the statement, which sees the row under lock. */
static void apply_update(product_change_t *cx, Ovop__V1__Product *p)
{
    const Ovop__V1__UpdateProductRequest *in =
        (const Ovop__V1__UpdateProductRequest *)ovop_call_input(cx->call);
    merge_fields(p, cx->from, cx->changed);
    check_fields(cx->call, p, cx->changed);
    if (ovop_call_has_violations(cx->call)) {
        ovop_call_fail_violations(cx->call);
        return;
    }
    round_as_stored(cx->call, p);
    p->version = in->version + 1;
    p->updated_us = ovop_now_us();
    store_product(cx, p, in->version);
}

static void on_current(PGresult *res, const char *error, void *userdata)
{
    product_change_t *cx = userdata;
    const Ovop__V1__UpdateProductRequest *in =
        (const Ovop__V1__UpdateProductRequest *)ovop_call_input(cx->call);
    Ovop__V1__Product *p;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
    } else if (PQntuples(res) == 0) {
        ovop_call_violation(cx->call, "id", "no product with id %lld", (long long)in->id);
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no product with id %lld", (long long)in->id);
    } else if ((p = (Ovop__V1__Product *)ovop_read_row(cx->call, &product, res, 0))) {
        apply_update(cx, p);
    }
}

static void update_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UpdateProductRequest *in = (const Ovop__V1__UpdateProductRequest *)input;
    registry_t *r = userdata;
    Ovop__V1__Product *from = product_new(call);
    SET_DETAILS(from, in);
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a product id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    uint32_t changed = registry_mask_fields(call, in->update_mask, update_paths,
                                            OVOP_ARRAY_SIZE(update_paths), given_fields(from));
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    /* The details are checked once merged into the stored ones (apply_update). */
    product_change_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (product_change_t){.call = call, .r = r, .from = from, .changed = changed};
    const char *params[] = {ovop_call_printf(call, "%lld", (long long)in->id)};
    ovop_call_query(call, r->pg, product.sql, 1, params, on_current, cx);
}

/* --- GetProduct --- */

static void get_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetProductRequest *in = (const Ovop__V1__GetProductRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a product id, got %lld", (long long)in->id);
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {ovop_call_printf(call, "%lld", (long long)in->id)};
    ovop_read_one(call, r->pg, &product, params[0], 1, params);
}

/* --- ListProducts --- */

static const ovop_read_t product_list = {
    .sql = "SELECT " PRODUCT_COLUMNS " FROM registry.products pr "
           "JOIN registry.producers p ON p.id = pr.producer_id "
           "WHERE ($1::bigint = 0 OR pr.producer_id = $1::bigint) "
           "  AND ($2 = '' OR p.territory_code LIKE $2 || '%') "
           "  AND ($3 = '' OR pr.hs6 LIKE $3 || '%') "
           "  AND ($4 = '' OR pr.category = $4) "
           "  AND ($5 = '' OR $5 = ANY (pr.certifications)) "
           "  AND pr.id > $6::bigint "
           "ORDER BY pr.id LIMIT $7::int",
    .page = {.response = &ovop__v1__list_products_response__descriptor,
             .rows = "products",
             .key = "id"},
};

static void list_products(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListProductsRequest *in = (const Ovop__V1__ListProductsRequest *)input;
    registry_t *r = userdata;
    const char *why;
    char prefix[15] = "", buf[36];
    int64_t after = 0;

    if (in->producer_id < 0)
        ovop_call_violation(call, "producer_id", "must be a producer id or 0 for any, got %lld",
                            (long long)in->producer_id);
    if (in->territory_prefix[0]) {
        if (!registry_soate_valid(in->territory_prefix, &why))
            ovop_call_violation(call, "territory_prefix", "%s, got \"%s\"", why,
                                shown(in->territory_prefix, buf));
        else
            registry_soate_prefix(in->territory_prefix, prefix);
    }
    size_t hl = strlen(in->hs_prefix);
    if (hl > 6 || (hl && !ovop_all_digits(in->hs_prefix, hl)))
        ovop_call_violation(call, "hs_prefix", "must be 1 to 6 digits, got \"%s\"",
                            shown(in->hs_prefix, buf));
    ovop_check_text(call, "category", in->category, MAX_CATEGORY, false);
    const char *cert = ovop_enum_text(CERTIFICATIONS, in->certification);
    if (in->certification && !cert[0])
        ovop_call_violation(call, "certification", "unknown certification %d",
                            (int)in->certification);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {ovop_call_printf(call, "%lld", (long long)in->producer_id),
                            prefix,
                            in->hs_prefix,
                            in->category,
                            cert,
                            ovop_call_printf(call, "%lld", (long long)after),
                            ovop_call_printf(call, "%u", page + 1)};
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &product_list, NULL, 7, params, page);
}

/* --- Search --- */

/* Producers by legal name and products by their names and category, best first, as one row
 * whose `hits` are SearchHits. The query is built once (registry.search_query: every word,
 * the last also as a prefix); ties go by entity and id so that pages of equal ranks are
 * stable. */
static const ovop_read_t search_hits = {
    .sql = "WITH q AS MATERIALIZED (SELECT registry.search_query($1) AS tsq) "
           "SELECT json_agg(json_build_object('entity', h.entity, 'id', h.id, 'title', h.title, "
           "                'territory_code', h.territory_code, 'rank', h.rank) "
           "                ORDER BY h.rank DESC, h.entity, h.id) AS hits FROM ("
           "  SELECT 'producer' AS entity, p.id, p.legal_name AS title, p.territory_code, "
           "         ts_rank(p.search, q.tsq) AS rank "
           "    FROM q, registry.producers p WHERE p.search @@ q.tsq "
           "  UNION ALL "
           "  SELECT 'product', pr.id, "
           "         coalesce(nullif(pr.name_en, ''), nullif(pr.name_ru, ''), pr.name_ky), "
           "         p.territory_code, ts_rank(pr.search, q.tsq) "
           "    FROM q, registry.products pr JOIN registry.producers p ON p.id = pr.producer_id "
           "   WHERE pr.search @@ q.tsq"
           "  ORDER BY rank DESC, entity, id LIMIT $2::int"
           ") h",
    .row = &ovop__v1__search_response__descriptor,
    .noun = "search result for", /* never: the aggregate always has its row */
};

static void search(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SearchRequest *in = (const Ovop__V1__SearchRequest *)input;
    registry_t *r = userdata;
    if (ovop_check_text(call, "query", in->query, SEARCH_MAX_QUERY, true) &&
        strspn(in->query, " ") == strlen(in->query))
        ovop_call_violation(call, "query", "is required");
    if (in->limit > SEARCH_MAX)
        ovop_call_violation(call, "limit", "must be at most %d, got %u", SEARCH_MAX, in->limit);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->query,
                            ovop_call_printf(call, "%u", in->limit ? in->limit : SEARCH_DEFAULT)};
    ovop_read_one(call, ovop_daemon_pg_read(r->d), &search_hits, in->query, 2, params);
}

static const ovop_method_t methods[] = {
    {"CreateProduct", create_product},
    {"UpdateProduct", update_product},
    {"GetProduct", get_product},
    {"ListProducts", list_products},
    {"Search", search},
};

void registry_products_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
