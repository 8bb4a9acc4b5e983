/* ovopctl product and search: create, show, change and list products; search producers and
 * products by words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "money.h"
#include "ovop/v1/registry.pb-c.h"

#define CERTIFICATIONS (&ovop__v1__product_certification__descriptor)
#define CERT_NAME(v)   ctl_enum_name(CERTIFICATIONS, (int)(v))

/* A decimal number of a flag; NaN and infinities pass so that the service judges them. */
static int parse_number(const char *flag, const char *s, double *ret)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || *end || end == s) {
        fprintf(stderr, "ovopctl: --%s must be a number, got \"%s\"\n", flag, s);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

static void print_product(const ProtobufCMessage *m)
{
    const Ovop__V1__Product *p = (const Ovop__V1__Product *)m;
    char amount[32], price[OVOP_MONEY_TEXT];
    printf("id             %lld\n", (long long)p->id);
    printf("producer       %lld\n", (long long)p->producer_id);
    if (p->name && p->name->en[0])
        printf("name (en)      %s\n", p->name->en);
    if (p->name && p->name->ru[0])
        printf("name (ru)      %s\n", p->name->ru);
    if (p->name && p->name->ky[0])
        printf("name (ky)      %s\n", p->name->ky);
    printf("category       %s\n", p->category);
    printf("HS code        %s\n", p->hs_code);
    printf("capacity       %s %s a month\n", ctl_amount(p->capacity_per_month, amount), p->unit);
    printf("season         ");
    if (p->n_season_months == 0)
        printf("all year");
    for (size_t i = 0; i < p->n_season_months; i++)
        printf("%s%u", i ? ", " : "", p->season_months[i]);
    printf("\n");
    printf("price          %s USD per %s\n", ovop_money_format(p->price_usd_cents, price), p->unit);
    if (p->n_raw_materials) {
        printf("raw materials  ");
        for (size_t i = 0; i < p->n_raw_materials; i++)
            printf("%s%s", i ? ", " : "", p->raw_materials[i]);
        printf("\n");
    }
    printf("certifications ");
    if (p->n_certifications == 0)
        printf("-");
    for (size_t i = 0; i < p->n_certifications; i++)
        printf("%s%s", i ? ", " : "", CERT_NAME(p->certifications[i]));
    printf("\n");
    printf("version        %d\n", p->version);
}

/* Parses "6,7,8" into months (malloc'd). */
static int parse_season(const char *s, uint32_t **ret, size_t *ret_n)
{
    size_t cap = 1, n = 0;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    uint32_t *m = xcalloc(cap, sizeof(*m));
    char *buf = xstrdup(s), *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end = NULL;
        long v = strtol(tok, &end, 10);
        if (!end || *end || end == tok || v < 0 || v > 1000) {
            fprintf(stderr, "ovopctl: --season takes month numbers like 6,7,8; got \"%s\"\n", s);
            free(buf);
            free(m);
            return CTL_EXIT_USAGE;
        }
        m[n++] = (uint32_t)v;
    }
    free(buf);
    *ret = m;
    *ret_n = n;
    return 0;
}

/* Certification names from repeated or comma-separated --cert flags (malloc'd). */
static int parse_certs(char **values, size_t nv, Ovop__V1__ProductCertification **ret,
                       size_t *ret_n)
{
    Ovop__V1__ProductCertification *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < nv; i++) {
        char *buf = xstrdup(values[i]), *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int k = ctl_enum_index(CERTIFICATIONS, tok);
            if (k < 0) {
                fprintf(stderr,
                        "ovopctl: --cert must be conformity, organic, halal or "
                        "geographical_indication; got \"%s\"\n",
                        tok);
                free(buf);
                free(out);
                return CTL_EXIT_USAGE;
            }
            out = xrealloc(out, (n + 1) * sizeof(*out));
            out[n++] = (Ovop__V1__ProductCertification)k;
        }
        free(buf);
    }
    *ret = out;
    *ret_n = n;
    return 0;
}

/* The flags a product's details are given with, for create and update (NULL when not given),
 * and what they parse into. */
typedef struct details {
    char *name_en, *name_ru, *name_ky, *category, *hs, *unit, *capacity, *price, *season;
    char **cert_flags, **raw; /* repeated flags: strings of argv */
    size_t n_cert_flags, n_raw;
    Ovop__V1__LocalizedName name;
    double capacity_v;
    int64_t price_cents;
    uint32_t *months;
    size_t n_months;
    Ovop__V1__ProductCertification *certs;
    size_t n_certs;
} details_t;

#define DETAIL_OPTS(d)                                                                             \
    {"name-en", OVOP_OPT_STRING, NULL, 0, 0, "name in English", &(d).name_en},                     \
        {"name-ru", OVOP_OPT_STRING, NULL, 0, 0, "name in Russian", &(d).name_ru},                 \
        {"name-ky", OVOP_OPT_STRING, NULL, 0, 0, "name in Kyrgyz", &(d).name_ky},                  \
        {"category", OVOP_OPT_STRING, NULL, 0, 0, "e.g. honey, felt, dried fruit", &(d).category}, \
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code, 6 digits", &(d).hs},                         \
        {"unit", OVOP_OPT_STRING, NULL, 0, 0, "kg, l, pcs, pair, m2 or t", &(d).unit},             \
        {"capacity", OVOP_OPT_STRING, NULL, 0, 0, "units a month in season", &(d).capacity},       \
        {"price", OVOP_OPT_STRING, NULL, 0, 0, "USD per unit, e.g. 12.50", &(d).price},            \
    {                                                                                              \
        "season", OVOP_OPT_STRING, NULL, 0, 0, "months, e.g. 6,7,8 (empty: all year)", &(d).season \
    }

/* Sets the details of a CreateProductRequest or an UpdateProductRequest, which name them alike,
 * from d's values: those of flags not given are empty. */
#define SET_DETAILS(in, d)                                                                         \
    do {                                                                                           \
        (in).name = &(d).name;                                                                     \
        (in).category = (d).category ? (d).category : "";                                          \
        (in).hs_code = (d).hs ? (d).hs : "";                                                       \
        (in).unit = (d).unit ? (d).unit : "";                                                      \
        (in).capacity_per_month = (d).capacity_v;                                                  \
        (in).price_usd_cents = (d).price_cents;                                                    \
        (in).season_months = (d).months;                                                           \
        (in).n_season_months = (d).n_months;                                                       \
        (in).raw_materials = (d).raw;                                                              \
        (in).n_raw_materials = (d).n_raw;                                                          \
        (in).certifications = (d).certs;                                                           \
        (in).n_certifications = (d).n_certs;                                                       \
    } while (0)

/* Takes the repeated --cert and --raw flags out of argv into d. */
static int take_details(int *argc, char **argv, details_t *d)
{
    int r = ctl_take_repeated(argc, argv, "cert", &d->cert_flags, &d->n_cert_flags);
    if (r == 0)
        r = ctl_take_repeated(argc, argv, "raw", &d->raw, &d->n_raw);
    /* A single empty --raw "" means none. */
    if (r == 0 && d->n_raw == 1 && !d->raw[0][0])
        d->n_raw = 0;
    return r;
}

/* Parses the flags given into d's values. */
static int parse_details(details_t *d)
{
    int r = 0;
    ovop__v1__localized_name__init(&d->name);
    d->name.en = d->name_en ? d->name_en : "";
    d->name.ru = d->name_ru ? d->name_ru : "";
    d->name.ky = d->name_ky ? d->name_ky : "";
    if ((d->capacity && (r = parse_number("capacity", d->capacity, &d->capacity_v)) != 0) ||
        (d->price && (r = ctl_parse_money("--price", d->price, &d->price_cents)) != 0) ||
        (d->season && (r = parse_season(d->season, &d->months, &d->n_months)) != 0))
        return r;
    return parse_certs(d->cert_flags, d->n_cert_flags, &d->certs, &d->n_certs);
}

static void free_details(details_t *d)
{
    free(d->cert_flags);
    free(d->raw);
    free(d->months);
    free(d->certs);
}

/* Calls method with in (a product's creation or update) and prints the product. */
static int send_product(ctl_t *c, const char *method, const ProtobufCMessage *in)
{
    return ctl_call_show(c, "ovop.registry", method, in, &ovop__v1__product__descriptor,
                         print_product);
}

static int product_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl product create",
        .usage = "--producer ID --name-en N [--name-ru N] [--name-ky N] --category C --hs CODE "
                 "--unit U --capacity Q [--price USD] [--season 6,7,8] [--cert organic]... "
                 "[--raw MATERIAL]...",
        .summary = "Adds a product to a producer.",
        .needs = "product create needs --producer, a name (--name-en, --name-ru or --name-ky), "
                 "--category, --hs, --unit and --capacity"};
    details_t d = {0};
    char *producer = NULL;
    const ovop_opt_t opts[] = {
        DETAIL_OPTS(d),
        {"producer", OVOP_OPT_STRING, NULL, 0, 0, "the producer's id", &producer},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    /* --cert and --raw may be given several times. */
    int r = take_details(&argc, argv, &d);
    if (r == 0)
        r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!producer || !(d.name_en || d.name_ru || d.name_ky) || !d.category || !d.hs ||
                   !d.unit || !d.capacity))
        r = ctl_misuse(&verb);
    if (r == 0 && (r = ctl_parse_id("--producer", producer, &in.producer_id)) == 0)
        r = parse_details(&d);
    if (r == 0) {
        SET_DETAILS(in, d);
        r = send_product(c, "CreateProduct", &in.base);
    }
    ovop_config_free(opts, n);
    free_details(&d);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* As producer update: the flags given and a mask of their fields, no read first. */
static int product_update(ctl_t *c, int argc, char **argv)
{
    static const char prog[] = "ovopctl product update";
    details_t d = {0};
    const ovop_opt_t opts[] = {DETAIL_OPTS(d)};
    size_t n = OVOP_ARRAY_SIZE(opts);
    Ovop__V1__UpdateProductRequest in = OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    int r = take_details(&argc, argv, &d);
    if (r == 0)
        r = ctl_parse_update(prog,
                             "Changes the details given, and only those, of a product (--season "
                             "\"\", --cert \"\" and --raw \"\" clear theirs).",
                             opts, n, argc, argv, &in.id, &in.version);
    if (r != 0 || (r = parse_details(&d)) != 0)
        goto out;
    const ctl_mask_flag_t flags[] = {
        {d.name_en, "name.en"},
        {d.name_ru, "name.ru"},
        {d.name_ky, "name.ky"},
        {d.category, "category"},
        {d.hs, "hs_code"},
        {d.unit, "unit"},
        {d.capacity, "capacity_per_month"},
        {d.season, "season_months"},
        {d.price, "price_usd_cents"},
        {d.raw, "raw_materials"},
        {d.cert_flags, "certifications"},
    };
    char *paths[OVOP_ARRAY_SIZE(flags)];
    Ovop__V1__FieldMask mask;
    if ((r = ctl_update_mask(prog, flags, OVOP_ARRAY_SIZE(flags), paths, &mask)) != 0)
        goto out;
    SET_DETAILS(in, d);
    in.update_mask = &mask;
    r = send_product(c, "UpdateProduct", &in.base);
out:
    ovop_config_free(opts, n);
    free_details(&d);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int product_get(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl product get", .usage = "ID", .summary = "Shows one product.", .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__GetProductRequest in = OVOP__V1__GET_PRODUCT_REQUEST__INIT;
    if ((r = ctl_parse_id("product id", argv[argi], &in.id)) != 0)
        return r;
    return send_product(c, "GetProduct", &in.base);
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Product *p = (const Ovop__V1__Product *)m;
    char cap[48], amount[32];
    snprintf(cap, sizeof(cap), "%s %s", ctl_amount(p->capacity_per_month, amount), p->unit);
    const char *name = !p->name         ? ""
                       : p->name->en[0] ? p->name->en
                       : p->name->ru[0] ? p->name->ru
                                        : p->name->ky;
    ctl_print_int_cell(p->id, 8);
    ctl_print_int_cell(p->producer_id, 9);
    ctl_print_cell(p->hs_code, 7);
    ctl_print_cell(name, 32);
    ctl_print_cell(p->category, 16);
    printf("%s\n", cap);
}

static const ctl_column_t columns[] = {
    {"ID", 8}, {"PRODUCER", 9}, {"HS", 7}, {"NAME", 32}, {"CATEGORY", 16}, {"CAPACITY A MONTH", 0},
};

static int parse_producer(const char *s, int64_t *ret)
{
    return ctl_parse_id("--producer", s, ret);
}

/* The first certification of a --cert flag (0 for none). */
static int parse_cert(const char *s, int64_t *ret)
{
    Ovop__V1__ProductCertification *cv = NULL;
    size_t ncv = 0;
    char *flag = (char *)s;
    int r = parse_certs(&flag, 1, &cv, &ncv);
    if (r == 0)
        *ret = ncv ? cv[0] : 0;
    free(cv);
    return r;
}

static const ctl_filter_t filters[] = {
    {.name = "producer",
     .type = OVOP_OPT_STRING,
     .help = "products of this producer",
     .field = "producer_id",
     .parse = parse_producer},
    CTL_FILTER("territory", "SOATE code: its villages' producers", "territory_prefix"),
    CTL_FILTER("hs", "HS code or prefix", "hs_prefix"),
    CTL_FILTER("category", "this category", "category"),
    {.name = "cert",
     .type = OVOP_OPT_STRING,
     .help = "holding this certification",
     .field = "certification",
     .parse = parse_cert},
};

static const ctl_list_verb_t product_list = {
    .verb = {.prog = "ovopctl product list",
             .usage = "[options]",
             .summary = "Lists products.",
             .unexpected = true},
    .filters = filters,
    .n_filters = OVOP_ARRAY_SIZE(filters),
    .page_size_help = CTL_PAGE_SIZE_HELP,
    .request = &ovop__v1__list_products_request__descriptor,
    .list = {.service = "ovop.registry",
             .method = "ListProducts",
             .response = &ovop__v1__list_products_response__descriptor,
             .rows = "products",
             .columns = columns,
             .n_columns = OVOP_ARRAY_SIZE(columns),
             .print_row = print_row,
             .one = "product",
             .many = "products"},
};

int ctl_product(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = product_create},
        {.name = "get", .run = product_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &product_list},
        {.name = "update", .run = product_update},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl product create|get|list|update ...");
}

static void print_hits(const ProtobufCMessage *m)
{
    static const ctl_column_t hit_columns[] = {
        {"ENTITY", 9}, {"ID", 8}, {"TERRITORY", 14}, {"RANK", 8}, {"TITLE", 0},
    };
    const Ovop__V1__SearchResponse *resp = (const Ovop__V1__SearchResponse *)m;
    ctl_print_header(hit_columns, OVOP_ARRAY_SIZE(hit_columns));
    for (size_t i = 0; i < resp->n_hits; i++) {
        const Ovop__V1__SearchHit *h = resp->hits[i];
        char rank[24];
        snprintf(rank, sizeof(rank), "%.4f", h->rank);
        ctl_print_cell(h->entity, 9);
        ctl_print_int_cell(h->id, 8);
        ctl_print_cell(h->territory_code, 14);
        ctl_print_cell(rank, 8);
        printf("%s\n", h->title);
    }
    printf("(%zu hit%s)\n", resp->n_hits, resp->n_hits == 1 ? "" : "s");
}

/* ovopctl search WORDS... [--limit N] */
int ctl_search(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl search",
        .usage = "WORDS... [--limit N]",
        .summary = "Finds producers and products by words in Russian, English or Kyrgyz.",
        .n_args = CTL_ARGS_SOME,
        .flags_anywhere = true};
    int64_t limit = 0;
    const ovop_opt_t opts[] = {
        {"limit", OVOP_OPT_INT, "0", 0, 100, "at most this many hits (0: 20)", &limit},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    ovop_buf_t q;
    ovop_buf_init(&q);
    for (int i = argi; i < argc; i++)
        ovop_buf_printf(&q, "%s%s", i > argi ? " " : "", argv[i]);
    Ovop__V1__SearchRequest in = OVOP__V1__SEARCH_REQUEST__INIT;
    in.query = q.data;
    in.limit = (uint32_t)limit;
    r = ctl_call_show(c, "ovop.registry", "Search", &in.base,
                      &ovop__v1__search_response__descriptor, print_hits);
    ovop_buf_free(&q);
    return r;
}
