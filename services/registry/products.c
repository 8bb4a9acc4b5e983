/* Products of producers: creation, updates under optimistic versioning, queries, and the
 * full-text search over producers and products. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "money.h"
#include "page.h"
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

static const char *const cert_names[] = {"", "conformity", "organic", "halal",
                                         "geographical_indication"};
static const char *const cert_labels[] = {"", "CONFORMITY", "ORGANIC", "HALAL",
                                          "GEOGRAPHICAL_INDICATION"};
/* Units any product may be counted in, besides the unit of its HS code. */
static const char *const units[] = {"kg", "l", "pcs", "pair", "m2", "t"};

static int cert_index(const char *s)
{
    for (size_t i = 1; i < OVOP_ARRAY_SIZE(cert_names); i++)
        if (strcmp(cert_names[i], s) == 0)
            return (int)i;
    return 0;
}

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

/* The product columns, in the order product_from_row reads them. */
#define PRODUCT_COLUMNS                                                                            \
    "pr.id, pr.producer_id, pr.name_ru, pr.name_en, pr.name_ky, pr.category, pr.hs6, pr.unit, "    \
    "pr.capacity_per_month, array_to_json(pr.season_months), (pr.price_usd * 100)::bigint, "       \
    "array_to_json(pr.raw_materials), array_to_json(pr.certifications), pr.version, "              \
    "(extract(epoch FROM pr.created_at) * 1000000)::bigint, "                                      \
    "(extract(epoch FROM pr.updated_at) * 1000000)::bigint"

static const char get_sql[] = "SELECT " PRODUCT_COLUMNS " FROM registry.products pr "
                              "WHERE pr.id = $1::bigint";

/* A Product decoded from a row; strings borrow the PGresult and the arrays' JSON. */
typedef struct product_row {
    Ovop__V1__Product p;
    Ovop__V1__LocalizedName name;
    json_t *raw_json;
} product_row_t;

static void product_row_free(product_row_t *r)
{
    free(r->p.season_months);
    free(r->p.raw_materials);
    free(r->p.certifications);
    json_decref(r->raw_json);
}

/* A JSON array of the row's column col (NULL when it is not one). */
static json_t *json_column(PGresult *res, int i, int col)
{
    json_t *j = json_loads(PQgetvalue(res, i, col), 0, NULL);
    if (j && !json_is_array(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void product_from_row(PGresult *res, int i, product_row_t *r)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__product__init(&r->p);
    ovop__v1__localized_name__init(&r->name);
    r->p.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    r->p.producer_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    r->name.ru = PQgetvalue(res, i, 2);
    r->name.en = PQgetvalue(res, i, 3);
    r->name.ky = PQgetvalue(res, i, 4);
    r->p.name = &r->name;
    r->p.category = PQgetvalue(res, i, 5);
    r->p.hs_code = PQgetvalue(res, i, 6);
    r->p.unit = PQgetvalue(res, i, 7);
    r->p.capacity_per_month = strtod(PQgetvalue(res, i, 8), NULL);
    r->p.price_usd_cents = strtoll(PQgetvalue(res, i, 10), NULL, 10);
    r->p.version = (int32_t)strtol(PQgetvalue(res, i, 13), NULL, 10);
    r->p.created_us = strtoll(PQgetvalue(res, i, 14), NULL, 10);
    r->p.updated_us = strtoll(PQgetvalue(res, i, 15), NULL, 10);

    json_t *season = json_column(res, i, 9);
    size_t n = season ? json_array_size(season) : 0;
    r->p.season_months = xcalloc(n ? n : 1, sizeof(*r->p.season_months));
    for (size_t k = 0; k < n; k++)
        r->p.season_months[k] = (uint32_t)json_integer_value(json_array_get(season, k));
    r->p.n_season_months = n;
    json_decref(season);

    r->raw_json = json_column(res, i, 11);
    n = r->raw_json ? json_array_size(r->raw_json) : 0;
    r->p.raw_materials = xcalloc(n ? n : 1, sizeof(*r->p.raw_materials));
    for (size_t k = 0; k < n; k++)
        r->p.raw_materials[k] = (char *)(json_string_value(json_array_get(r->raw_json, k)) ?: "");
    r->p.n_raw_materials = n;

    json_t *certs = json_column(res, i, 12);
    n = certs ? json_array_size(certs) : 0;
    r->p.certifications = xcalloc(n ? n : 1, sizeof(*r->p.certifications));
    for (size_t k = 0; k < n; k++) {
        const char *s = json_string_value(json_array_get(certs, k));
        r->p.certifications[k] = (Ovop__V1__ProductCertification)cert_index(s ? s : "");
    }
    r->p.n_certifications = n;
    json_decref(certs);
}

/* --- validation shared by CreateProduct and UpdateProduct --- */

/* A product's details, as a request gives them or as stored; strings are never NULL. */
typedef struct product_fields {
    const char *ru, *en, *ky; /* the name */
    const char *category;
    const char *hs_code;
    const char *unit;
    double capacity;
    size_t n_season;
    const uint32_t *season;
    int64_t price; /* US cents */
    size_t n_raw;
    char *const *raw;
    size_t n_certs;
    const Ovop__V1__ProductCertification *certs;
} product_fields_t;

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

/* The details of a CreateProductRequest, an UpdateProductRequest or a Product, which name
 * them alike. */
#define FIELDS_OF(m)                                                                               \
    ((product_fields_t){.ru = (m)->name ? (m)->name->ru : "",                                      \
                        .en = (m)->name ? (m)->name->en : "",                                      \
                        .ky = (m)->name ? (m)->name->ky : "",                                      \
                        .category = (m)->category,                                                 \
                        .hs_code = (m)->hs_code,                                                   \
                        .unit = (m)->unit,                                                         \
                        .capacity = (m)->capacity_per_month,                                       \
                        .n_season = (m)->n_season_months,                                          \
                        .season = (m)->season_months,                                              \
                        .price = (m)->price_usd_cents,                                             \
                        .n_raw = (m)->n_raw_materials,                                             \
                        .raw = (m)->raw_materials,                                                 \
                        .n_certs = (m)->n_certifications,                                          \
                        .certs = (m)->certifications})

/* The details f gives a value: what an update without a mask changes. */
static uint32_t given_fields(const product_fields_t *f)
{
    return (f->ru[0] ? PD_NAME_RU : 0) | (f->en[0] ? PD_NAME_EN : 0) | (f->ky[0] ? PD_NAME_KY : 0) |
           (f->category[0] ? PD_CATEGORY : 0) | (f->hs_code[0] ? PD_HS_CODE : 0) |
           (f->unit[0] ? PD_UNIT : 0) | (f->capacity != 0 ? PD_CAPACITY : 0) |
           (f->n_season ? PD_SEASON : 0) | (f->price ? PD_PRICE : 0) | (f->n_raw ? PD_RAW : 0) |
           (f->n_certs ? PD_CERTS : 0);
}

/* Copies into f the details of `from` that `changed` names. */
static void merge_fields(product_fields_t *f, const product_fields_t *from, uint32_t changed)
{
    if (changed & PD_NAME_RU)
        f->ru = from->ru;
    if (changed & PD_NAME_EN)
        f->en = from->en;
    if (changed & PD_NAME_KY)
        f->ky = from->ky;
    if (changed & PD_CATEGORY)
        f->category = from->category;
    if (changed & PD_HS_CODE)
        f->hs_code = from->hs_code;
    if (changed & PD_UNIT)
        f->unit = from->unit;
    if (changed & PD_CAPACITY)
        f->capacity = from->capacity;
    if (changed & PD_SEASON) {
        f->n_season = from->n_season;
        f->season = from->season;
    }
    if (changed & PD_PRICE)
        f->price = from->price;
    if (changed & PD_RAW) {
        f->n_raw = from->n_raw;
        f->raw = from->raw;
    }
    if (changed & PD_CERTS) {
        f->n_certs = from->n_certs;
        f->certs = from->certs;
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

/* Each adds a violation when its field of f is wrong on its face. */

static void check_hs_code(ovop_call_t *call, const product_fields_t *f)
{
    char buf[36];
    if (!f->hs_code[0])
        ovop_call_violation(call, "hs_code", "is required");
    else if (!registry_hs_valid(f->hs_code))
        ovop_call_violation(call, "hs_code", "must be 6 digits, got \"%s\"",
                            shown(f->hs_code, buf));
}

static void check_unit(ovop_call_t *call, const product_fields_t *f)
{
    char buf[36];
    if (!f->unit[0])
        ovop_call_violation(call, "unit", "is required");
    else if (!unit_known(f->unit) && !unit_plausible(f->unit))
        ovop_call_violation(call, "unit",
                            "must be kg, l, pcs, pair, m2, t or the unit of the HS code, got "
                            "\"%s\"",
                            shown(f->unit, buf));
}

static void check_capacity(ovop_call_t *call, const product_fields_t *f)
{
    if (!isfinite(f->capacity))
        ovop_call_violation(call, "capacity_per_month", "must be a finite number");
    else if (f->capacity <= 0)
        ovop_call_violation(call, "capacity_per_month", "must be positive, got %g", f->capacity);
    else if (f->capacity > MAX_CAPACITY)
        ovop_call_violation(call, "capacity_per_month", "must be at most %.0f a month, got %g",
                            MAX_CAPACITY, f->capacity);
    else if (f->capacity < 0.001)
        ovop_call_violation(call, "capacity_per_month",
                            "must be at least 0.001 (capacities are kept to 3 decimals), got %g",
                            f->capacity);
}

static void check_season(ovop_call_t *call, const product_fields_t *f)
{
    if (f->n_season > 12) {
        ovop_call_violation(call, "season_months", "at most 12 months, got %zu", f->n_season);
        return;
    }
    bool seen[13] = {false};
    for (size_t i = 0; i < f->n_season; i++) {
        char field[48];
        snprintf(field, sizeof(field), "season_months[%zu]", i);
        uint32_t m = f->season[i];
        if (m < 1 || m > 12)
            ovop_call_violation(call, field, "must be a month 1..12, got %u", m);
        else if (seen[m])
            ovop_call_violation(call, field, "month %u is listed twice", m);
        else
            seen[m] = true;
    }
}

static void check_price(ovop_call_t *call, const product_fields_t *f)
{
    if (f->price < 0)
        ovop_call_violation(call, "price_usd_cents", "must not be negative, got %lld",
                            (long long)f->price);
    else if (f->price > MAX_PRICE_CENTS)
        ovop_call_violation(call, "price_usd_cents",
                            "must be at most %lld (USD 1,000,000) per unit, got %lld",
                            (long long)MAX_PRICE_CENTS, (long long)f->price);
}

static void check_raw(ovop_call_t *call, const product_fields_t *f)
{
    if (f->n_raw > MAX_RAW)
        ovop_call_violation(call, "raw_materials", "at most %d, got %zu", MAX_RAW, f->n_raw);
    for (size_t i = 0; i < f->n_raw && i < MAX_RAW; i++) {
        char field[48];
        snprintf(field, sizeof(field), "raw_materials[%zu]", i);
        ovop_check_text(call, field, f->raw[i], MAX_RAW_LEN, true);
    }
}

static void check_certs(ovop_call_t *call, const product_fields_t *f)
{
    bool seen[OVOP_ARRAY_SIZE(cert_names)] = {false};
    for (size_t i = 0; i < f->n_certs; i++) {
        char field[48];
        snprintf(field, sizeof(field), "certifications[%zu]", i);
        int c = (int)f->certs[i];
        if (c < 1 || c >= (int)OVOP_ARRAY_SIZE(cert_names)) {
            ovop_call_violation(call, field,
                                "must be CONFORMITY, ORGANIC, HALAL or GEOGRAPHICAL_INDICATION, "
                                "got %d",
                                c);
        } else if (seen[c]) {
            ovop_call_violation(call, field, "%s is listed twice", cert_labels[c]);
        } else {
            seen[c] = true;
        }
    }
}

/* Checks the fields `changed` names; f is the whole new state (a name needs one of its
 * languages, whichever of them changes). */
static void check_fields(ovop_call_t *call, const product_fields_t *f, uint32_t changed)
{
    if ((changed & PD_NAME) && !f->ru[0] && !f->en[0] && !f->ky[0])
        ovop_call_violation(call, "name", "give the product's name in at least one of ru, en, ky");
    if (changed & PD_NAME_RU)
        ovop_check_text(call, "name.ru", f->ru, MAX_NAME, false);
    if (changed & PD_NAME_EN)
        ovop_check_text(call, "name.en", f->en, MAX_NAME, false);
    if (changed & PD_NAME_KY)
        ovop_check_text(call, "name.ky", f->ky, MAX_NAME, false);
    if (changed & PD_CATEGORY)
        ovop_check_text(call, "category", f->category, MAX_CATEGORY, true);
    if (changed & PD_HS_CODE)
        check_hs_code(call, f);
    if (changed & PD_UNIT)
        check_unit(call, f);
    if (changed & PD_CAPACITY)
        check_capacity(call, f);
    if (changed & PD_SEASON)
        check_season(call, f);
    if (changed & PD_PRICE)
        check_price(call, f);
    if (changed & PD_RAW)
        check_raw(call, f);
    if (changed & PD_CERTS)
        check_certs(call, f);
}

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

/* The new state of a product, built before the statement that stores it: the reply and the
 * event payload are this message. Strings borrow the request, which outlives the call, or the
 * stored row, which outlives the statement's sending. */
typedef struct product_draft {
    ovop_call_t *call;
    registry_t *r;
    Ovop__V1__Product p;
    Ovop__V1__LocalizedName name;
    uint32_t season[12];
    Ovop__V1__ProductCertification certs[OVOP_ARRAY_SIZE(cert_names)];
    char capacity[32];           /* as stored: numeric(14, 3) */
    char price[OVOP_MONEY_TEXT]; /* numeric(14, 2), exactly the cents */
    int32_t expected_version;
} product_draft_t;

/* A draft from checked fields. Amounts are rounded as the columns keep them, and months and
 * certifications sorted, so the reply is exactly what a later read returns. */
static product_draft_t *draft_new(ovop_call_t *call, registry_t *r, const product_fields_t *f)
{
    product_draft_t *dr = xcalloc(1, sizeof(*dr));
    dr->call = call;
    dr->r = r;
    ovop__v1__product__init(&dr->p);
    ovop__v1__localized_name__init(&dr->name);
    dr->name.ru = (char *)f->ru;
    dr->name.en = (char *)f->en;
    dr->name.ky = (char *)f->ky;
    dr->p.name = &dr->name;
    dr->p.category = (char *)f->category;
    dr->p.hs_code = (char *)f->hs_code;
    dr->p.unit = (char *)f->unit;
    snprintf(dr->capacity, sizeof(dr->capacity), "%.3f", f->capacity);
    dr->p.capacity_per_month = strtod(dr->capacity, NULL);
    ovop_money_format(f->price, dr->price);
    dr->p.price_usd_cents = f->price;
    if (f->n_season) { /* an empty repeated field is NULL, which memcpy and qsort refuse */
        memcpy(dr->season, f->season, f->n_season * sizeof(*f->season));
        qsort(dr->season, f->n_season, sizeof(*dr->season), cmp_u32);
    }
    dr->p.season_months = dr->season;
    dr->p.n_season_months = f->n_season;
    dr->p.raw_materials = (char **)f->raw;
    dr->p.n_raw_materials = f->n_raw;
    if (f->n_certs) {
        memcpy(dr->certs, f->certs, f->n_certs * sizeof(*f->certs));
        qsort(dr->certs, f->n_certs, sizeof(*dr->certs), cmp_cert);
    }
    dr->p.certifications = dr->certs;
    dr->p.n_certifications = f->n_certs;
    return dr;
}

/* The draft's arrays as the JSON the SQL functions take (malloc'd). */
static char *season_json(const product_draft_t *dr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dr->p.n_season_months; i++)
        json_array_append_new(a, json_integer(dr->p.season_months[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *raw_json(const product_draft_t *dr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dr->p.n_raw_materials; i++)
        json_array_append_new(a, json_string(dr->p.raw_materials[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static char *certs_json(const product_draft_t *dr)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dr->p.n_certifications; i++)
        json_array_append_new(a, json_string(cert_names[dr->p.certifications[i]]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Stores the draft with registry.create_product or registry.update_product, finishing the
 * call, and frees the draft. */
static void store_draft(product_draft_t *dr, bool update)
{
    char id[24], owner[24], version[16], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)dr->p.id);
    snprintf(owner, sizeof(owner), "%lld", (long long)dr->p.producer_id);
    snprintf(version, sizeof(version), "%d", dr->expected_version);
    snprintf(at, sizeof(at), "%lld", (long long)dr->p.updated_us);
    ovop_uuid4(uuid);
    char *season = season_json(dr);
    char *raw = raw_json(dr);
    char *certs = certs_json(dr);
    char *event = ovop_bytea_message(&dr->p.base);
    const char *args[] = {id,
                          update ? version : owner,
                          dr->name.ru,
                          dr->name.en,
                          dr->name.ky,
                          dr->p.category,
                          dr->p.hs_code,
                          dr->p.unit,
                          dr->capacity,
                          season,
                          dr->price,
                          raw,
                          certs,
                          at,
                          uuid,
                          event};
    ovop_mutate_sql(dr->call, &dr->r->mutator,
                update ? "SELECT * FROM registry.update_product($1, $2, $3, $4, $5, $6, $7, $8, "
                         "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
                       : "SELECT * FROM registry.create_product($1, $2, $3, $4, $5, $6, $7, $8, "
                         "$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
                (int)OVOP_ARRAY_SIZE(args), args, &dr->p.base);
    free(season);
    free(raw);
    free(certs);
    free(event);
    free(dr);
}

/* --- CreateProduct --- */

static void on_new_id(int64_t id, const char *error, void *userdata)
{
    product_draft_t *dr = userdata;
    if (error) {
        ovop_call_fail_db(dr->call, NULL, error);
        free(dr);
        return;
    }
    dr->p.id = id;
    dr->p.version = 1;
    dr->p.created_us = dr->p.updated_us = ovop_now_us();
    store_draft(dr, false);
}

static void create_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateProductRequest *in = (const Ovop__V1__CreateProductRequest *)input;
    product_fields_t f = FIELDS_OF(in);
    if (in->producer_id <= 0)
        ovop_call_violation(call, "producer_id", "must be a producer id, got %lld",
                            (long long)in->producer_id);
    check_fields(call, &f, PD_ALL);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    product_draft_t *dr = draft_new(call, userdata, &f);
    dr->p.producer_id = in->producer_id;
    registry_next_id(dr->r, on_new_id, dr);
}

/* --- UpdateProduct: read the current row, merge the change in, store --- */

typedef struct update_ctx {
    ovop_call_t *call;
    registry_t *r;
    const Ovop__V1__UpdateProductRequest *in; /* outlives the read */
    uint32_t changed;                         /* the details it changes */
} update_ctx_t;

static void on_current(PGresult *res, const char *error, void *userdata)
{
    update_ctx_t *cx = userdata;
    const Ovop__V1__UpdateProductRequest *in = cx->in;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        goto out;
    }
    if (PQntuples(res) == 0) {
        ovop_call_violation(cx->call, "id", "no product with id %lld", (long long)in->id);
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no product with id %lld", (long long)in->id);
        goto out;
    }
    /* The details the update names take the request's values, the others stay as stored; a
     * stale version is refused by the statement, which sees the row under lock. */
    product_row_t cur;
    product_from_row(res, 0, &cur);
    product_fields_t f = FIELDS_OF(&cur.p);
    product_fields_t from = FIELDS_OF(in);
    merge_fields(&f, &from, cx->changed);
    check_fields(cx->call, &f, cx->changed);
    if (ovop_call_has_violations(cx->call)) {
        ovop_call_fail_violations(cx->call);
    } else {
        product_draft_t *dr = draft_new(cx->call, cx->r, &f);
        dr->p.id = in->id;
        dr->expected_version = in->version;
        dr->p.producer_id = cur.p.producer_id;
        dr->p.created_us = cur.p.created_us;
        dr->p.version = in->version + 1;
        dr->p.updated_us = ovop_now_us();
        store_draft(dr, true);
    }
    product_row_free(&cur);
out:
    free(cx);
}

static void update_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__UpdateProductRequest *in = (const Ovop__V1__UpdateProductRequest *)input;
    registry_t *r = userdata;
    product_fields_t given = FIELDS_OF(in);
    if (in->id <= 0)
        ovop_call_violation(call, "id", "must be a product id, got %lld", (long long)in->id);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    uint32_t changed = registry_mask_fields(call, in->update_mask, update_paths,
                                            OVOP_ARRAY_SIZE(update_paths), given_fields(&given));
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    /* The details are checked once merged into the stored ones (on_current). */
    update_ctx_t *cx = xmalloc(sizeof(*cx));
    *cx = (update_ctx_t){.call = call, .r = r, .in = in, .changed = changed};
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->id);
    const char *params[] = {id};
    ovop_call_query(call, r->pg, get_sql, 1, params, on_current, cx);
}

/* --- GetProduct --- */

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
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no product with id %lld", g->id);
    } else {
        product_row_t row;
        product_from_row(res, 0, &row);
        ovop_call_finish(g->call, &row.p.base);
        product_row_free(&row);
    }
    free(g);
}

static void get_product(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetProductRequest *in = (const Ovop__V1__GetProductRequest *)input;
    registry_t *r = userdata;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a product id, got %lld", (long long)in->id);
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

/* --- ListProducts --- */

static const char list_sql[] = "SELECT " PRODUCT_COLUMNS " FROM registry.products pr "
                               "JOIN registry.producers p ON p.id = pr.producer_id "
                               "WHERE ($1::bigint = 0 OR pr.producer_id = $1::bigint) "
                               "  AND ($2 = '' OR p.territory_code LIKE $2 || '%') "
                               "  AND ($3 = '' OR pr.hs6 LIKE $3 || '%') "
                               "  AND ($4 = '' OR pr.category = $4) "
                               "  AND ($5 = '' OR $5 = ANY (pr.certifications)) "
                               "  AND pr.id > $6::bigint "
                               "ORDER BY pr.id LIMIT $7::int";

typedef struct list_ctx {
    ovop_call_t *call;
    unsigned page_size;
} list_ctx_t;

static void product_decode(PGresult *res, int i, void *row)
{
    product_from_row(res, i, row);
}

static void product_free(void *row)
{
    product_row_free(row);
}

static const ovop_page_t product_page = {
    .response = &ovop__v1__list_products_response__descriptor,
    .rows = "products",
    .row_size = sizeof(product_row_t),
    .decode = product_decode,
    .free_row = product_free,
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
    ovop_page_finish(l->call, res, l->page_size, &product_page);
    free(l);
}

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
    if ((unsigned)in->certification >= OVOP_ARRAY_SIZE(cert_names))
        ovop_call_violation(call, "certification", "unknown certification %d",
                            (int)in->certification);
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
    char producer[24], after_s[24], limit[16];
    snprintf(producer, sizeof(producer), "%lld", (long long)in->producer_id);
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {
        producer, prefix, in->hs_prefix, in->category, cert_names[in->certification],
        after_s,  limit};
    ovop_call_query(call, r->pg, list_sql, 7, params, on_list, l);
}

/* --- Search --- */

/* Producers by legal name and products by their names and category, best first. The query
 * is built once (registry.search_query: every word, the last also as a prefix); ties go by
 * entity and id so that pages of equal ranks are stable. */
static const char search_sql[] =
    "WITH q AS MATERIALIZED (SELECT registry.search_query($1) AS tsq) "
    "SELECT h.entity, h.id, h.title, h.territory_code, h.rank FROM ("
    "  SELECT 'producer' AS entity, p.id, p.legal_name AS title, p.territory_code, "
    "         ts_rank(p.search, q.tsq) AS rank "
    "    FROM q, registry.producers p WHERE p.search @@ q.tsq "
    "  UNION ALL "
    "  SELECT 'product', pr.id, "
    "         coalesce(nullif(pr.name_en, ''), nullif(pr.name_ru, ''), pr.name_ky), "
    "         p.territory_code, ts_rank(pr.search, q.tsq) "
    "    FROM q, registry.products pr JOIN registry.producers p ON p.id = pr.producer_id "
    "   WHERE pr.search @@ q.tsq"
    ") h ORDER BY h.rank DESC, h.entity, h.id LIMIT $2::int";

static void on_search(PGresult *res, const char *error, void *userdata)
{
    ovop_call_t *call = userdata;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    int n = PQntuples(res);
    Ovop__V1__SearchHit *hits = xcalloc((size_t)n + 1, sizeof(*hits));
    Ovop__V1__SearchHit **ptrs = xcalloc((size_t)n + 1, sizeof(*ptrs));
    for (int i = 0; i < n; i++) {
        Ovop__V1__SearchHit *h = &hits[i];
        ovop__v1__search_hit__init(h);
        h->entity = PQgetvalue(res, i, 0);
        h->id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        h->title = PQgetvalue(res, i, 2);
        h->territory_code = PQgetvalue(res, i, 3);
        h->rank = strtod(PQgetvalue(res, i, 4), NULL);
        ptrs[i] = h;
    }
    Ovop__V1__SearchResponse out = OVOP__V1__SEARCH_RESPONSE__INIT;
    out.n_hits = (size_t)n;
    out.hits = ptrs;
    ovop_call_finish(call, &out.base);
    free(ptrs);
    free(hits);
}

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
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", in->limit ? in->limit : SEARCH_DEFAULT);
    const char *params[] = {in->query, limit};
    ovop_call_query(call, r->pg, search_sql, 2, params, on_search, call);
}

static const ovop_method_t methods[] = {
    {"CreateProduct", create_product, NULL},
    {"UpdateProduct", update_product, NULL},
    {"GetProduct", get_product, NULL},
    {"ListProducts", list_products, NULL},
    {"Search", search, NULL},
};

void registry_products_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
