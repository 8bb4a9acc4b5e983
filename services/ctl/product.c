/* ovopctl product and search: create, show, change and list products; search producers and
 * products by words. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "money.h"
#include "ovop/v1/registry.pb-c.h"

static const char *const certs[] = {"-", "conformity", "organic", "halal",
                                    "geographical_indication"};

#define CERT_NAME(v) ((unsigned)(v) < OVOP_ARRAY_SIZE(certs) ? certs[v] : "?")

int ctl_parse_id(const char *what, const char *s, int64_t *ret)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || end == s || v <= 0) {
        fprintf(stderr, "ovopctl: %s must be a positive number, got \"%s\"\n", what, s);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

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

int ctl_parse_money(const char *flag, const char *s, int64_t *ret)
{
    int r = ovop_money_parse(s, ret);
    if (r == -ERANGE) {
        fprintf(stderr, "ovopctl: %s is too large, got \"%s\"\n", flag, s);
        return CTL_EXIT_USAGE;
    }
    if (r < 0) {
        fprintf(stderr,
                "ovopctl: %s must be an amount with at most two decimals, like 8200 or 12.50; "
                "got \"%s\"\n",
                flag, s);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

const char *ctl_amount(double v, char out[static 32])
{
    snprintf(out, 32, "%.3f", v);
    char *dot = strchr(out, '.');
    if (dot) {
        char *end = out + strlen(out) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    return out;
}

static void print_product(const Ovop__V1__Product *p)
{
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
            size_t k = 1;
            while (k < OVOP_ARRAY_SIZE(certs) && strcmp(certs[k], tok) != 0)
                k++;
            if (k == OVOP_ARRAY_SIZE(certs)) {
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
    ProtobufCMessage *res = NULL;
    int r = ctl_call(c, "ovop.registry", method, in, &ovop__v1__product__descriptor, &res);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(res);
        else
            print_product((const Ovop__V1__Product *)res);
        protobuf_c_message_free_unpacked(res, NULL);
    }
    return r;
}

static int product_create(ctl_t *c, int argc, char **argv)
{
    details_t d = {0};
    char *producer = NULL;
    const ovop_opt_t opts[] = {
        DETAIL_OPTS(d),
        {"producer", OVOP_OPT_STRING, NULL, 0, 0, "the producer's id", &producer},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, r;
    /* --cert and --raw may be given several times. */
    if ((r = take_details(&argc, argv, &d)) != 0)
        goto out_nofree;
    r = ctl_parse_flags("ovopctl product create",
                        "--producer ID --name-en N [--name-ru N] [--name-ky N] --category C "
                        "--hs CODE --unit U --capacity Q [--price USD] [--season 6,7,8] "
                        "[--cert organic]... [--raw MATERIAL]...",
                        "Adds a product to a producer.", opts, n, argc, argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc || !producer || !(d.name_en || d.name_ru || d.name_ky) || !d.category ||
        !d.hs || !d.unit || !d.capacity) {
        fprintf(stderr, "ovopctl: product create needs --producer, a name (--name-en, --name-ru "
                        "or --name-ky), --category, --hs, --unit and --capacity\n");
        r = CTL_EXIT_USAGE;
        goto out;
    }
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    if ((r = ctl_parse_id("--producer", producer, &in.producer_id)) != 0 ||
        (r = parse_details(&d)) != 0)
        goto out;
    SET_DETAILS(in, d);
    r = send_product(c, "CreateProduct", &in.base);
out:
    ovop_config_free(opts, n);
out_nofree:
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
    if (r != 0)
        goto out_nofree;
    r = ctl_parse_update(prog,
                         "Changes the details given, and only those, of a product (--season \"\", "
                         "--cert \"\" and --raw \"\" clear theirs).",
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
out_nofree:
    free_details(&d);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int product_get(ctl_t *c, int argc, char **argv)
{
    int argi;
    int r = ctl_parse_flags("ovopctl product get", "ID", "Shows one product.", NULL, 0, argc, argv,
                            &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl product get ID\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__GetProductRequest in = OVOP__V1__GET_PRODUCT_REQUEST__INIT;
    if ((r = ctl_parse_id("product id", argv[argi], &in.id)) != 0)
        return r;
    ProtobufCMessage *res = NULL;
    r = ctl_call(c, "ovop.registry", "GetProduct", &in.base, &ovop__v1__product__descriptor, &res);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(res);
        else
            print_product((const Ovop__V1__Product *)res);
        protobuf_c_message_free_unpacked(res, NULL);
    }
    return r;
}

static void print_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Product *p = (const Ovop__V1__Product *)m;
    char id[24], producer[24], cap[48], amount[32];
    snprintf(id, sizeof(id), "%lld", (long long)p->id);
    snprintf(producer, sizeof(producer), "%lld", (long long)p->producer_id);
    snprintf(cap, sizeof(cap), "%s %s", ctl_amount(p->capacity_per_month, amount), p->unit);
    const char *name = !p->name         ? ""
                       : p->name->en[0] ? p->name->en
                       : p->name->ru[0] ? p->name->ru
                                        : p->name->ky;
    ctl_print_cell(id, 8);
    ctl_print_cell(producer, 9);
    ctl_print_cell(p->hs_code, 7);
    ctl_print_cell(name, 32);
    ctl_print_cell(p->category, 16);
    printf("%s\n", cap);
}

static void print_header(void)
{
    ctl_print_cell("ID", 8);
    ctl_print_cell("PRODUCER", 9);
    ctl_print_cell("HS", 7);
    ctl_print_cell("NAME", 32);
    ctl_print_cell("CATEGORY", 16);
    printf("CAPACITY A MONTH\n");
}

static int product_list(ctl_t *c, int argc, char **argv)
{
    char *producer = NULL, *territory = NULL, *hs = NULL, *category = NULL, *cert = NULL,
         *token = NULL;
    int64_t page_size = 0;
    bool all = false;
    const ovop_opt_t opts[] = {
        {"producer", OVOP_OPT_STRING, NULL, 0, 0, "products of this producer", &producer},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code: its villages' producers",
         &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code or prefix", &hs},
        {"category", OVOP_OPT_STRING, NULL, 0, 0, "this category", &category},
        {"cert", OVOP_OPT_STRING, NULL, 0, 0, "holding this certification", &cert},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page", &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int64_t producer_id = 0;
    Ovop__V1__ProductCertification *cv = NULL;
    size_t ncv = 0;
    int r = ctl_parse_flags("ovopctl product list", "[options]", "Lists products.", opts, n, argc,
                            argv, &argi);
    if (r != 0)
        goto out;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        r = CTL_EXIT_USAGE;
        goto out;
    }
    if ((producer && (r = ctl_parse_id("--producer", producer, &producer_id)) != 0) ||
        (cert && (r = parse_certs(&cert, 1, &cv, &ncv)) != 0))
        goto out;
    Ovop__V1__ListProductsRequest in = OVOP__V1__LIST_PRODUCTS_REQUEST__INIT;
    in.producer_id = producer_id;
    in.territory_prefix = territory ? territory : "";
    in.hs_prefix = hs ? hs : "";
    in.category = category ? category : "";
    in.certification = ncv ? cv[0] : 0;
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c, &(ctl_list_t){.service = "ovop.registry",
                                        .method = "ListProducts",
                                        .request = &in.base,
                                        .response = &ovop__v1__list_products_response__descriptor,
                                        .rows = "products",
                                        .page_token = token,
                                        .all = all,
                                        .print_header = print_header,
                                        .print_row = print_row,
                                        .one = "product",
                                        .many = "products"});
out:
    free(cv);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_product(ctl_t *c, int argc, char **argv)
{
    const char *v = argc >= 2 ? argv[1] : "";
    if (strcmp(v, "create") == 0)
        return product_create(c, argc - 1, argv + 1);
    if (strcmp(v, "get") == 0)
        return product_get(c, argc - 1, argv + 1);
    if (strcmp(v, "list") == 0)
        return product_list(c, argc - 1, argv + 1);
    if (strcmp(v, "update") == 0)
        return product_update(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl product create|get|list|update ...\n");
    return CTL_EXIT_USAGE;
}

/* ovopctl search WORDS... [--limit N] */
int ctl_search(ctl_t *c, int argc, char **argv)
{
    int64_t limit = 0;
    const ovop_opt_t opts[] = {
        {"limit", OVOP_OPT_INT, "0", 0, 100, "at most this many hits (0: 20)", &limit},
    };
    int argi;
    ctl_flags_first(&argc, argv, opts, 1);
    int r = ctl_parse_flags("ovopctl search", "WORDS... [--limit N]",
                            "Finds producers and products by words in Russian, English or Kyrgyz.",
                            opts, 1, argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argi >= argc) {
        fprintf(stderr, "ovopctl: usage: ovopctl search WORDS... [--limit N]\n");
        return CTL_EXIT_USAGE;
    }
    ovop_buf_t q;
    ovop_buf_init(&q);
    for (int i = argi; i < argc; i++)
        ovop_buf_printf(&q, "%s%s", i > argi ? " " : "", argv[i]);
    Ovop__V1__SearchRequest in = OVOP__V1__SEARCH_REQUEST__INIT;
    in.query = q.data;
    in.limit = (uint32_t)limit;
    ProtobufCMessage *out = NULL;
    r = ctl_call(c, "ovop.registry", "Search", &in.base, &ovop__v1__search_response__descriptor,
                 &out);
    if (r == CTL_EXIT_OK) {
        const Ovop__V1__SearchResponse *resp = (const Ovop__V1__SearchResponse *)out;
        if (c->json) {
            ctl_print_json(out);
        } else {
            ctl_print_cell("ENTITY", 9);
            ctl_print_cell("ID", 8);
            ctl_print_cell("TERRITORY", 14);
            ctl_print_cell("RANK", 8);
            printf("TITLE\n");
            for (size_t i = 0; i < resp->n_hits; i++) {
                const Ovop__V1__SearchHit *h = resp->hits[i];
                char id[24], rank[24];
                snprintf(id, sizeof(id), "%lld", (long long)h->id);
                snprintf(rank, sizeof(rank), "%.4f", h->rank);
                ctl_print_cell(h->entity, 9);
                ctl_print_cell(id, 8);
                ctl_print_cell(h->territory_code, 14);
                ctl_print_cell(rank, 8);
                printf("%s\n", h->title);
            }
            printf("(%zu hit%s)\n", resp->n_hits, resp->n_hits == 1 ? "" : "s");
        }
        protobuf_c_message_free_unpacked(out, NULL);
    }
    ovop_buf_free(&q);
    return r;
}
