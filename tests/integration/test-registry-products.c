/* registryd's products, search and cooperatives through the broker (two registryd
 * instances) against PostgreSQL: every method's good path, each bad input with the field it
 * names, nothing written by a refusal, idempotent retries that return the first reply's
 * bytes, stale versions, the events each change writes, and ovopctl's verbs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define VILLAGE  "41704235000101" /* in Kochkor District, Naryn Region */
#define VILLAGE2 "41705214000101" /* in Batken District, Batken Region */
#define KOCHKOR  "41704235000000"

enum { FELT, APRICOT, HONEY, SUSPENDED, DRIED, WOOL, N_PRODUCERS };

static svcenv_t E;
static struct fixture {
    int64_t producer[N_PRODUCERS];
} F;

/* Calls method with request id rid (NULL: a fresh one); returns the status code, *ret_out
 * the output on OK, *ret_rep the reply. */
static int call(const char *method, const char *rid, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                Ovop__V1__Reply **ret_rep)
{
    return svcenv_call(&E, method, rid, in, out_desc, ret_out, ret_rep);
}

static long count(const char *sql)
{
    return svcenv_count(&E, sql);
}

#define countf(...) svcenv_countf(&E, __VA_ARGS__)

/* A digest of everything these methods may write: any change at all alters it. */
static char *db_state(void)
{
    return pgtest_scalar(
        E.conn, "SELECT md5(concat_ws('|', "
                "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.products t), "
                "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.cooperatives t), "
                "(SELECT string_agg(t::text, ',' ORDER BY t::text) "
                "   FROM registry.cooperative_members t), "
                "(SELECT count(*) FROM bus.events), (SELECT count(*) FROM bus.idempotency)))");
}

/* Calls method and expects `code` with a violation on `field` whose description holds
 * fragment (when given), and the database unchanged. */
static void expect_refused(const char *method, const ProtobufCMessage *in, int code,
                           const char *field, const char *fragment)
{
    char *before = db_state();
    Ovop__V1__Reply *rep = NULL;
    int got = call(method, NULL, in, NULL, NULL, &rep);
    if (got != code)
        fail_msg("%s: expected code %d on %s, got %d: %s", method, code, field, got,
                 rep->status ? rep->status->message : "");
    svcenv_assert_reason(&E, rep, svcenv_default_reason(code, field));
    bool found = false;
    for (size_t i = 0; i < rep->status->n_violations; i++)
        if (strcmp(rep->status->violations[i]->field, field) == 0) {
            found = true;
            if (fragment && !strstr(rep->status->violations[i]->description, fragment))
                fail_msg("%s: \"%s\" lacks \"%s\"", field, rep->status->violations[i]->description,
                         fragment);
        }
    if (!found)
        fail_msg("%s: no violation on %s (message: %s)", method, field, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* Packs m (malloc'd), for comparing messages byte for byte. */
static uint8_t *packed(const ProtobufCMessage *m, size_t *ret_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(m, buf);
    *ret_len = n;
    return buf;
}

static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = packed(a, &la), *pb = packed(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(pa, pb, la);
    free(pa);
    free(pb);
}

/* The payload of the one event of type on subject equals the reply's body. */
static void assert_event(const char *type, const char *subject, const Ovop__V1__Reply *rep,
                         const char *hs6, const char *soate)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM bus.events WHERE type = '%s' AND subject = '%s'", type, subject);
    assert_int_equal(count(sql), 1);
    snprintf(sql, sizeof(sql),
             "SELECT encode(data, 'hex') || '/' || data_schema || '/' || coalesce(hs6, '-') || "
             "'/' || coalesce(soate, '-') FROM bus.events WHERE type = '%s' AND subject = '%s'",
             type, subject);
    char *got = pgtest_scalar(E.conn, sql);
    ovop_buf_t want;
    ovop_buf_init(&want);
    for (size_t i = 0; i < rep->body.len; i++)
        ovop_buf_printf(&want, "%02x", rep->body.data[i]);
    ovop_buf_printf(&want, "/%s/%s/%s",
                    strstr(subject, "product") ? "ovop.v1.Product" : "ovop.v1.Cooperative",
                    hs6 ? hs6 : "-", soate);
    assert_string_equal(got, want.data);
    ovop_buf_free(&want);
    free(got);
}

/* Two calls at once, on two threads; returns which one succeeded, the other having been
 * refused as stale. */
typedef struct racer {
    const char *method;
    const ProtobufCMessage *in;
    int code;
} racer_t;

static void *racer_thread(void *arg)
{
    racer_t *r = arg;
    r->code = call(r->method, NULL, r->in, NULL, NULL, NULL);
    return NULL;
}

static int race(racer_t r[2])
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racer_thread, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_true((r[0].code == OVOP_OK) != (r[1].code == OVOP_OK));
    assert_true(r[0].code == OVOP_ABORTED || r[1].code == OVOP_ABORTED);
    return r[0].code == OVOP_OK ? 0 : 1;
}

/* --- fixtures --- */

static int64_t register_producer(const char *name, const char *village, int n)
{
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    char tax[15];
    snprintf(tax, sizeof(tax), "001012010%05d", n);
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = (char *)name;
    in.tax_id = tax;
    in.territory_code = (char *)village;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("RegisterProducer", NULL, &in.base, &ovop__v1__producer__descriptor, &out, NULL),
        OVOP_OK);
    int64_t id = ((Ovop__V1__Producer *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    return id;
}

static void set_status(int64_t id, Ovop__V1__ProducerStatus status)
{
    Ovop__V1__GetProducerRequest g = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    g.id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetProducer", NULL, &g.base, &ovop__v1__producer__descriptor, &out, NULL), OVOP_OK);
    Ovop__V1__SetProducerStatusRequest s = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    s.id = id;
    s.version = ((Ovop__V1__Producer *)out)->version;
    s.status = status;
    s.reason = "inspection pending";
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(call("SetProducerStatus", NULL, &s.base, NULL, NULL, NULL), OVOP_OK);
}

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
    "valid_from) VALUES "
    "('" VILLAGE "', 'village', '" KOCHKOR "', 'Кочкор', 'Kochkor', '2000-01-01'), "
    "('" VILLAGE2 "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', "
    "'2000-01-01') RETURNING 1",
    NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "products",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .instances = 2,
                                        .client = {.timeout_ms = 5000, .retries = 1}});

    F.producer[FELT] = register_producer("Kochkor Felt Makers", VILLAGE, 1);
    F.producer[APRICOT] = register_producer("Batken Apricot Garden", VILLAGE2, 2);
    F.producer[HONEY] = register_producer("Naryn Mountain Honey", VILLAGE, 3);
    F.producer[SUSPENDED] = register_producer("Idle Dairy", VILLAGE, 4);
    F.producer[DRIED] = register_producer("Kara-Bak Dried Fruit", VILLAGE2, 5);
    F.producer[WOOL] = register_producer("Kochkor Yak Wool", VILLAGE, 6);
    set_status(F.producer[SUSPENDED], OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED);
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* --- products --- */

static Ovop__V1__LocalizedName apricot_name = {
    PROTOBUF_C_MESSAGE_INIT(&ovop__v1__localized_name__descriptor), "Курага", "Dried apricots",
    "Кургак өрүк"};
static uint32_t summer[] = {8, 6, 7};
static char *apricot_raw[] = {"apricots", "sulphur-free drying"};
static Ovop__V1__ProductCertification organic_conformity[] = {
    OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_ORGANIC,
    OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_CONFORMITY};

static Ovop__V1__CreateProductRequest apricots(void)
{
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    in.producer_id = F.producer[APRICOT];
    in.name = &apricot_name;
    in.category = "dried fruit";
    in.hs_code = "081310";
    in.unit = "kg";
    in.capacity_per_month = 1234.5678;
    in.n_season_months = 3;
    in.season_months = summer;
    in.price_usd_cents = 346;
    in.n_raw_materials = 2;
    in.raw_materials = apricot_raw;
    in.n_certifications = 2;
    in.certifications = organic_conformity;
    return in;
}

static Ovop__V1__Product *create_product(Ovop__V1__CreateProductRequest *in, const char *rid,
                                         Ovop__V1__Reply **ret_rep)
{
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("CreateProduct", rid, &in->base, &ovop__v1__product__descriptor, &out, ret_rep),
        OVOP_OK);
    return (Ovop__V1__Product *)out;
}

/* A product of producer p: name, hs, unit, capacity. */
static int64_t add_product(int p, const char *name, const char *category, const char *hs,
                           const char *unit, double capacity)
{
    Ovop__V1__LocalizedName nm = OVOP__V1__LOCALIZED_NAME__INIT;
    nm.en = (char *)name;
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    in.producer_id = F.producer[p];
    in.name = &nm;
    in.category = (char *)category;
    in.hs_code = (char *)hs;
    in.unit = (char *)unit;
    in.capacity_per_month = capacity;
    in.price_usd_cents = 500;
    Ovop__V1__Product *pr = create_product(&in, NULL, NULL);
    int64_t id = pr->id;
    protobuf_c_message_free_unpacked(&pr->base, NULL);
    return id;
}

static Ovop__V1__Product *get_product(int64_t id)
{
    Ovop__V1__GetProductRequest g = OVOP__V1__GET_PRODUCT_REQUEST__INIT;
    g.id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetProduct", NULL, &g.base, &ovop__v1__product__descriptor, &out, NULL),
                     OVOP_OK);
    return (Ovop__V1__Product *)out;
}

static void test_create_product_get_retry(void **state)
{
    char *before = db_state();
    long events0 = count("SELECT count(*) FROM bus.events");
    Ovop__V1__CreateProductRequest in = apricots();
    Ovop__V1__Reply *rep = NULL;
    Ovop__V1__Product *p = create_product(&in, "prod-1", &rep);
    assert_true(p->id > 0);
    assert_int_equal(p->producer_id, F.producer[APRICOT]);
    assert_int_equal(p->version, 1);
    assert_string_equal(p->name->ru, "Курага");
    assert_string_equal(p->name->ky, "Кургак өрүк");
    assert_string_equal(p->hs_code, "081310");
    /* Amounts as the columns keep them; months and certifications in order. */
    assert_true(p->capacity_per_month == 1234.568);
    assert_int_equal(p->price_usd_cents, 346);
    assert_int_equal(p->n_season_months, 3);
    assert_int_equal(p->season_months[0], 6);
    assert_int_equal(p->season_months[2], 8);
    assert_int_equal(p->n_certifications, 2);
    assert_int_equal(p->certifications[0],
                     OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_CONFORMITY);
    assert_int_equal(p->n_raw_materials, 2);
    assert_string_equal(p->raw_materials[1], "sulphur-free drying");
    assert_int_equal(p->created_us, p->updated_us);
    assert_int_equal(
        countf("SELECT count(*) FROM registry.products WHERE id = %lld", (long long)p->id), 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - events0, 1);
    char subject[48];
    snprintf(subject, sizeof(subject), "product/%lld", (long long)p->id);
    assert_event("ovop.registry.product.created", subject, rep, "081310", VILLAGE2);
    char *after_first = db_state();
    assert_string_not_equal(before, after_first);

    /* A retry with the same request id: the same reply bytes, nothing written again. */
    Ovop__V1__Reply *rep2 = NULL;
    Ovop__V1__Product *again = create_product(&in, "prod-1", &rep2);
    assert_int_equal(rep2->body.len, rep->body.len);
    assert_memory_equal(rep2->body.data, rep->body.data, rep->body.len);
    char *after_retry = db_state();
    assert_string_equal(after_first, after_retry);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);

    /* The same request id for another request is refused, and writes nothing. */
    in.capacity_per_month = 99;
    Ovop__V1__Reply *rep3 = NULL;
    assert_int_equal(call("CreateProduct", "prod-1", &in.base, NULL, NULL, &rep3),
                     OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep3->status->violations[0]->field, "request_id");
    ovop__v1__reply__free_unpacked(rep3, NULL);
    char *after_reuse = db_state();
    assert_string_equal(after_first, after_reuse);
    free(after_reuse);

    /* GetProduct returns exactly what the creation answered. */
    Ovop__V1__Product *got = get_product(p->id);
    assert_same_message(&got->base, &p->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    Ovop__V1__GetProductRequest g = OVOP__V1__GET_PRODUCT_REQUEST__INIT;
    g.id = 987654321;
    Ovop__V1__Reply *nf = NULL;
    assert_int_equal(call("GetProduct", NULL, &g.base, NULL, NULL, &nf), OVOP_NOT_FOUND);
    assert_non_null(strstr(nf->status->message, "987654321"));
    ovop__v1__reply__free_unpacked(nf, NULL);
    g.id = 0;
    expect_refused("GetProduct", &g.base, OVOP_INVALID_ARGUMENT, "id", NULL);

    /* The same product twice (names differ in case only) is a duplicate. */
    Ovop__V1__LocalizedName shout = apricot_name;
    shout.en = "DRIED APRICOTS";
    in = apricots();
    in.name = &shout;
    expect_refused("CreateProduct", &in.base, OVOP_ALREADY_EXISTS, "name", "already has");

    free(before);
    free(after_first);
    free(after_retry);
    protobuf_c_message_free_unpacked(&p->base, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

static void test_create_product_bad_input(void **state)
{
    Ovop__V1__CreateProductRequest in;
    char long_name[260], long_raw[120];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    memset(long_raw, 'r', sizeof(long_raw) - 1);
    long_raw[sizeof(long_raw) - 1] = '\0';
    Ovop__V1__LocalizedName nm = OVOP__V1__LOCALIZED_NAME__INIT;

#define REFUSED(field, fragment)                                                                   \
    expect_refused("CreateProduct", &in.base, OVOP_INVALID_ARGUMENT, field, fragment)
    /* HS codes: malformed here, unknown to the list in the database. */
    in = apricots();
    in.hs_code = "08131";
    REFUSED("hs_code", "6 digits");
    in.hs_code = "0813100";
    REFUSED("hs_code", "6 digits");
    in.hs_code = "08l310";
    REFUSED("hs_code", "6 digits");
    in.hs_code = "";
    REFUSED("hs_code", "required");
    in.hs_code = "999999";
    REFUSED("hs_code", "999999");

    /* Capacity: negative, zero, absurd, not finite, below what is kept. */
    in = apricots();
    in.capacity_per_month = -5;
    REFUSED("capacity_per_month", "must be positive, got -5");
    in.capacity_per_month = 0;
    REFUSED("capacity_per_month", "positive");
    in.capacity_per_month = 1e12;
    REFUSED("capacity_per_month", "at most 10000000");
    in.capacity_per_month = 10000000.5;
    REFUSED("capacity_per_month", "at most");
    in.capacity_per_month = NAN;
    REFUSED("capacity_per_month", "finite");
    in.capacity_per_month = INFINITY;
    REFUSED("capacity_per_month", "finite");
    in.capacity_per_month = 0.0004;
    REFUSED("capacity_per_month", "0.001");

    /* Price. */
    in = apricots();
    in.price_usd_cents = -1;
    REFUSED("price_usd_cents", "negative");
    in.price_usd_cents = 100000001; /* USD 1,000,000.01 */
    REFUSED("price_usd_cents", "at most 100000000");
    in.price_usd_cents = INT64_MAX;
    REFUSED("price_usd_cents", "at most");

    /* Names: none at all, over-long, not UTF-8, control characters. */
    in = apricots();
    in.name = NULL;
    REFUSED("name", "at least one");
    in.name = &nm;
    REFUSED("name", "at least one");
    nm.en = long_name;
    REFUSED("name.en", "at most 200");
    nm.en = "ok";
    nm.ru = "\xd0\x9a\xd1"; /* a truncated Cyrillic letter */
    REFUSED("name.ru", "UTF-8");
    nm.ru = "";
    nm.ky = "line\nbreak";
    REFUSED("name.ky", "control");

    /* Category and unit. */
    in = apricots();
    in.category = "";
    REFUSED("category", "required");
    in.category = long_name;
    REFUSED("category", "at most 100");
    in.category = "\xff\xfe";
    REFUSED("category", "UTF-8");
    in = apricots();
    in.unit = "";
    REFUSED("unit", "required");
    in.unit = "KG!";
    REFUSED("unit", "kg, l, pcs");
    in.unit = "furlong"; /* plausible, but neither listed nor the HS code's: the database says */
    REFUSED("unit", "the unit of HS 081310");

    /* Season months. */
    in = apricots();
    uint32_t bad_month[] = {6, 13};
    in.season_months = bad_month;
    in.n_season_months = 2;
    REFUSED("season_months[1]", "1..12, got 13");
    uint32_t zero_month[] = {0};
    in.season_months = zero_month;
    in.n_season_months = 1;
    REFUSED("season_months[0]", "got 0");
    uint32_t dup_month[] = {6, 7, 6};
    in.season_months = dup_month;
    in.n_season_months = 3;
    REFUSED("season_months[2]", "twice");
    uint32_t many[13] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1};
    in.season_months = many;
    in.n_season_months = 13;
    REFUSED("season_months", "at most 12");

    /* Raw materials. */
    in = apricots();
    char *raw21[21];
    for (int i = 0; i < 21; i++)
        raw21[i] = "wool";
    in.raw_materials = raw21;
    in.n_raw_materials = 21;
    REFUSED("raw_materials", "at most 20");
    char *raw_long[] = {"wool", long_raw};
    in.raw_materials = raw_long;
    in.n_raw_materials = 2;
    REFUSED("raw_materials[1]", "at most 100");
    char *raw_empty[] = {""};
    in.raw_materials = raw_empty;
    in.n_raw_materials = 1;
    REFUSED("raw_materials[0]", "required");
    char *raw_bad[] = {"\xc3\x28"};
    in.raw_materials = raw_bad;
    REFUSED("raw_materials[0]", "UTF-8");

    /* Certifications. */
    in = apricots();
    Ovop__V1__ProductCertification dup_cert[] = {
        OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_HALAL,
        OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_HALAL};
    in.certifications = dup_cert;
    in.n_certifications = 2;
    REFUSED("certifications[1]", "HALAL is listed twice");
    Ovop__V1__ProductCertification bad_cert[] = {
        OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_UNSPECIFIED};
    in.certifications = bad_cert;
    in.n_certifications = 1;
    REFUSED("certifications[0]", "CONFORMITY");

    /* Producer: missing, unknown, suspended. */
    in = apricots();
    in.producer_id = 0;
    REFUSED("producer_id", NULL);
    in.producer_id = 777777;
    expect_refused("CreateProduct", &in.base, OVOP_NOT_FOUND, "producer_id", "777777");
    in.producer_id = F.producer[SUSPENDED];
    expect_refused("CreateProduct", &in.base, OVOP_FAILED_PRECONDITION, "producer_id", "suspended");
#undef REFUSED

    /* Several problems at once: each is named. */
    Ovop__V1__Reply *rep = NULL;
    in = apricots();
    in.hs_code = "x";
    in.capacity_per_month = -1;
    in.category = "";
    assert_int_equal(call("CreateProduct", NULL, &in.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_true(rep->status->n_violations >= 3);
    assert_non_null(strstr(rep->status->message, "capacity_per_month: must be positive"));
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A unit other than the HS code's but in the general list is fine (honey in jars). */
    in = apricots();
    Ovop__V1__LocalizedName boxes = OVOP__V1__LOCALIZED_NAME__INIT;
    boxes.en = "Dried apricots, gift box";
    in.name = &boxes;
    in.unit = "pcs";
    Ovop__V1__Product *p = create_product(&in, NULL, NULL);
    assert_string_equal(p->unit, "pcs");
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static Ovop__V1__UpdateProductRequest update_from(const Ovop__V1__Product *p)
{
    Ovop__V1__UpdateProductRequest u = OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    u.id = p->id;
    u.version = p->version;
    u.name = p->name;
    u.category = p->category;
    u.hs_code = p->hs_code;
    u.unit = p->unit;
    u.capacity_per_month = p->capacity_per_month;
    u.n_season_months = p->n_season_months;
    u.season_months = p->season_months;
    u.price_usd_cents = p->price_usd_cents;
    u.n_raw_materials = p->n_raw_materials;
    u.raw_materials = p->raw_materials;
    u.n_certifications = p->n_certifications;
    u.certifications = p->certifications;
    return u;
}

static void test_update_product(void **state)
{
    int64_t id = add_product(DRIED, "Prunes", "dried fruit", "081320", "kg", 400);
    Ovop__V1__Product *cur = get_product(id);
    Ovop__V1__UpdateProductRequest u = update_from(cur);
    u.capacity_per_month = 650.25;
    u.hs_code = "081340";
    u.n_season_months = 0;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("UpdateProduct", "upd-1", &u.base, &ovop__v1__product__descriptor, &out, &rep),
        OVOP_OK);
    Ovop__V1__Product *p2 = (Ovop__V1__Product *)out;
    assert_int_equal(p2->version, 2);
    assert_int_equal(p2->created_us, cur->created_us);
    assert_true(p2->updated_us >= cur->updated_us);
    assert_true(p2->capacity_per_month == 650.25);
    assert_string_equal(p2->hs_code, "081340");
    assert_int_equal(p2->producer_id, F.producer[DRIED]);
    char subject[48];
    snprintf(subject, sizeof(subject), "product/%lld", (long long)id);
    assert_event("ovop.registry.product.updated", subject, rep, "081340", VILLAGE2);
    Ovop__V1__Product *stored = get_product(id);
    assert_same_message(&stored->base, &p2->base);
    protobuf_c_message_free_unpacked(&stored->base, NULL);

    /* Retried: the first reply, no second change. */
    char *s1 = db_state();
    Ovop__V1__Reply *rep2 = NULL;
    assert_int_equal(call("UpdateProduct", "upd-1", &u.base, NULL, NULL, &rep2), OVOP_OK);
    assert_int_equal(rep2->body.len, rep->body.len);
    assert_memory_equal(rep2->body.data, rep->body.data, rep->body.len);
    char *s2 = db_state();
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    ovop__v1__reply__free_unpacked(rep2, NULL);

    /* The version read before the change is stale now. */
    u.capacity_per_month = 1;
    expect_refused("UpdateProduct", &u.base, OVOP_ABORTED, "version", "version 2");
    u.version = 0;
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "version", NULL);
    u.version = 2;
    u.id = 55555555;
    expect_refused("UpdateProduct", &u.base, OVOP_NOT_FOUND, "id", "55555555");
    u.id = id;
    u.hs_code = "123456";
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "hs_code", "123456");
    u.hs_code = "081340";
    u.capacity_per_month = -3;
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "capacity_per_month", "got -3");
    u.capacity_per_month = 1;
    u.unit = "bushel";
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "unit", NULL);
    u.unit = "kg";

    /* Renaming it to another product of the same producer under the same code. */
    int64_t other = add_product(DRIED, "Mixed dried fruit", "dried fruit", "081340", "kg", 100);
    Ovop__V1__LocalizedName same = OVOP__V1__LOCALIZED_NAME__INIT;
    same.en = "mixed dried fruit";
    u.name = &same;
    expect_refused("UpdateProduct", &u.base, OVOP_ALREADY_EXISTS, "name", NULL);
    u.name = p2->name;

    /* Concurrent updates from one version, through both instances: exactly one wins. */
    Ovop__V1__UpdateProductRequest w[2] = {u, u};
    w[0].capacity_per_month = 111;
    w[1].capacity_per_month = 222;
    racer_t racers[2] = {{"UpdateProduct", &w[0].base, -1}, {"UpdateProduct", &w[1].base, -1}};
    int winner = race(racers);

    /* A suspended producer's products do not change. */
    Ovop__V1__Product *now = get_product(id);
    assert_true(now->capacity_per_month == (winner == 0 ? 111 : 222));
    set_status(F.producer[DRIED], OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED);
    u = update_from(now);
    u.capacity_per_month = 5;
    expect_refused("UpdateProduct", &u.base, OVOP_FAILED_PRECONDITION, "producer_id", "suspended");
    set_status(F.producer[DRIED], OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE);
    assert_int_equal(call("UpdateProduct", NULL, &u.base, NULL, NULL, NULL), OVOP_OK);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.registry.product.updated' AND subject = 'product/%lld'",
                            (long long)id),
                     3);
    assert_int_equal(
        countf("SELECT version FROM registry.products WHERE id = %lld", (long long)other), 1);
    protobuf_c_message_free_unpacked(&now->base, NULL);
    protobuf_c_message_free_unpacked(&p2->base, NULL);
    protobuf_c_message_free_unpacked(&cur->base, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* UpdateProductRequest u: the status code, *ret_out the product on OK when asked. */
static int update(Ovop__V1__UpdateProductRequest *u, ProtobufCMessage **ret_out)
{
    return call("UpdateProduct", NULL, &u->base, ret_out ? &ovop__v1__product__descriptor : NULL,
                ret_out, NULL);
}

/* UpdateProduct with an update_mask changes the fields it names, to the request's values even
 * when empty, and leaves every other field as stored, whatever the request holds there. */
static void test_update_product_mask(void **state)
{
    Ovop__V1__LocalizedName wool_name = OVOP__V1__LOCALIZED_NAME__INIT;
    wool_name.ru = "Шерсть яка";
    wool_name.en = "Yak wool";
    wool_name.ky = "Топоз жүнү";
    Ovop__V1__CreateProductRequest in = apricots(); /* the details but name and HS code */
    in.producer_id = F.producer[WOOL];
    in.name = &wool_name;
    in.category = "wool";
    in.hs_code = "510111";
    Ovop__V1__Product *p = create_product(&in, NULL, NULL);

    /* Named: capacity, price (to zero) and raw materials (to none). The request's other fields
     * are empty or wrong; they are not read. */
    Ovop__V1__LocalizedName junk = OVOP__V1__LOCALIZED_NAME__INIT;
    junk.en = "\x01 a control character"; /* (not UTF-8 would not pass the decoding) */
    Ovop__V1__UpdateProductRequest u = OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    u.id = p->id;
    u.version = 1;
    u.name = &junk;
    u.hs_code = "12";
    u.unit = "bushel";
    u.capacity_per_month = 450.5;
    u.price_usd_cents = 0;
    u.update_mask = SVCENV_MASK("capacity_per_month", "price_usd_cents", "raw_materials");
    ProtobufCMessage *out = NULL;
    assert_int_equal(update(&u, &out), OVOP_OK);
    Ovop__V1__Product *p2 = (Ovop__V1__Product *)out;
    Ovop__V1__Product *stored = get_product(p->id);
    assert_same_message(&stored->base, &p2->base);
    assert_int_equal(stored->version, 2);
    assert_true(stored->capacity_per_month == 450.5);
    assert_int_equal(stored->price_usd_cents, 0);
    assert_int_equal(stored->n_raw_materials, 0);
    assert_string_equal(stored->name->en, "Yak wool");
    assert_string_equal(stored->name->ru, "Шерсть яка");
    assert_string_equal(stored->category, "wool");
    assert_string_equal(stored->hs_code, "510111");
    assert_string_equal(stored->unit, "kg");
    assert_int_equal(stored->n_season_months, 3);
    assert_int_equal(stored->n_certifications, 2);
    protobuf_c_message_free_unpacked(&stored->base, NULL);
    protobuf_c_message_free_unpacked(&p2->base, NULL);

    /* One language of the name; the others stay. */
    Ovop__V1__LocalizedName ky = OVOP__V1__LOCALIZED_NAME__INIT;
    ky.ky = "Топоз жүн";
    u = (Ovop__V1__UpdateProductRequest)OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    u.id = p->id;
    u.version = 2;
    u.name = &ky;
    u.update_mask = SVCENV_MASK("name.ky");
    assert_int_equal(update(&u, NULL), OVOP_OK);
    stored = get_product(p->id);
    assert_string_equal(stored->name->ky, "Топоз жүн");
    assert_string_equal(stored->name->en, "Yak wool");
    assert_string_equal(stored->name->ru, "Шерсть яка");
    protobuf_c_message_free_unpacked(&stored->base, NULL);

    /* Checks apply to the named fields: no name at all, a bad HS code, a negative price. A
     * path the request does not have, or a detail that is not the product's own: refused on
     * update_mask. Nothing changes. */
    char *before = db_state();
    u.version = 3;
    u.name = NULL;
    u.update_mask = SVCENV_MASK("name");
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "name", "at least one");
    u.hs_code = "12";
    u.update_mask = SVCENV_MASK("hs_code");
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "hs_code", "6 digits");
    u.price_usd_cents = -5;
    u.update_mask = SVCENV_MASK("price_usd_cents");
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "price_usd_cents", "negative");
    u.update_mask = SVCENV_MASK("name.ky", "colour");
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "update_mask", "colour");
    u.update_mask = SVCENV_MASK("producer_id");
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "update_mask", "producer_id");

    /* Without a mask, the fields given a value change; a request that gives none changes
     * nothing and is refused. */
    u = (Ovop__V1__UpdateProductRequest)OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    u.id = p->id;
    u.version = 3;
    expect_refused("UpdateProduct", &u.base, OVOP_INVALID_ARGUMENT, "update_mask", "nothing");
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
    u.category = "yak wool";
    assert_int_equal(update(&u, NULL), OVOP_OK);
    stored = get_product(p->id);
    assert_string_equal(stored->category, "yak wool");
    assert_true(stored->capacity_per_month == 450.5);
    assert_int_equal(stored->n_season_months, 3);

    /* "*": every field takes the request's value, empty lists included. */
    u = update_from(stored);
    u.n_season_months = 0;
    u.n_certifications = 0;
    u.price_usd_cents = 999;
    u.update_mask = SVCENV_MASK("*");
    assert_int_equal(update(&u, NULL), OVOP_OK);
    Ovop__V1__Product *replaced = get_product(p->id);
    assert_int_equal(replaced->n_season_months, 0);
    assert_int_equal(replaced->n_certifications, 0);
    assert_int_equal(replaced->price_usd_cents, 999);
    assert_string_equal(replaced->category, "yak wool");
    assert_int_equal(replaced->version, 5);
    protobuf_c_message_free_unpacked(&replaced->base, NULL);
    protobuf_c_message_free_unpacked(&stored->base, NULL);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static int list_products(Ovop__V1__ListProductsRequest *in, Ovop__V1__ListProductsResponse **ret)
{
    ProtobufCMessage *out = NULL;
    int r = call("ListProducts", NULL, &in->base, &ovop__v1__list_products_response__descriptor,
                 &out, NULL);
    if (ret)
        *ret = (Ovop__V1__ListProductsResponse *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return r;
}

/* Lists with in across every page (of page_size); returns how many came, checking order. */
static long list_all(Ovop__V1__ListProductsRequest *in, unsigned page_size)
{
    char token[64] = "";
    long total = 0, last = 0;
    Ovop__V1__ListProductsResponse *resp = NULL;
    in->page_size = page_size;
    do {
        in->page_token = token;
        assert_int_equal(list_products(in, &resp), OVOP_OK);
        assert_true(resp->n_products <= page_size);
        for (size_t i = 0; i < resp->n_products; i++) {
            assert_true(resp->products[i]->id > last);
            last = resp->products[i]->id;
        }
        total += (long)resp->n_products;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0]);
    in->page_token = "";
    return total;
}

static void test_list_products(void **state)
{
    add_product(FELT, "Shyrdak carpet", "felt", "570500", "m2", 40);
    add_product(FELT, "Felt slippers", "felt", "640520", "pair", 300);
    add_product(FELT, "Felt toys", "felt", "950300", "pcs", 900);
    add_product(HONEY, "White honey", "honey", "040900", "kg", 2000);

    Ovop__V1__ListProductsRequest in = OVOP__V1__LIST_PRODUCTS_REQUEST__INIT;
    long all = count("SELECT count(*) FROM registry.products");
    assert_int_equal(list_all(&in, 2), all);
    assert_int_equal(list_all(&in, 1000), all);

    in.producer_id = F.producer[FELT];
    assert_int_equal(list_all(&in, 2), 3);
    in.producer_id = 0;
    in.category = "felt";
    assert_int_equal(list_all(&in, 100), 3);
    in.category = "";
    in.hs_prefix = "0813";
    assert_int_equal(list_all(&in, 100),
                     count("SELECT count(*) FROM registry.products WHERE hs6 LIKE '0813%'"));
    in.hs_prefix = "";
    in.territory_prefix = "41705000000000"; /* Batken region */
    long batken = count("SELECT count(*) FROM registry.products pr JOIN registry.producers p ON "
                        "p.id = pr.producer_id WHERE p.territory_code LIKE '41705%'");
    assert_true(batken >= 3);
    assert_int_equal(list_all(&in, 100), batken);
    in.territory_prefix = KOCHKOR;
    assert_int_equal(list_all(&in, 100), all - batken);
    in.territory_prefix = "";
    in.certification = OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_ORGANIC;
    assert_int_equal(list_all(&in, 100), count("SELECT count(*) FROM registry.products WHERE "
                                               "'organic' = ANY (certifications)"));
    in.certification = OVOP__V1__PRODUCT_CERTIFICATION__PRODUCT_CERTIFICATION_HALAL;
    assert_int_equal(list_all(&in, 100), 0);

    /* The list shows the stored products in full. */
    in = (Ovop__V1__ListProductsRequest)OVOP__V1__LIST_PRODUCTS_REQUEST__INIT;
    in.producer_id = F.producer[HONEY];
    Ovop__V1__ListProductsResponse *resp = NULL;
    assert_int_equal(list_products(&in, &resp), OVOP_OK);
    assert_int_equal(resp->n_products, 1);
    Ovop__V1__Product *got = get_product(resp->products[0]->id);
    assert_same_message(&got->base, &resp->products[0]->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* Bad filters. */
    in = (Ovop__V1__ListProductsRequest)OVOP__V1__LIST_PRODUCTS_REQUEST__INIT;
    in.hs_prefix = "08a";
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "hs_prefix", NULL);
    in.hs_prefix = "0813101";
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "hs_prefix", NULL);
    in.hs_prefix = "";
    in.territory_prefix = "4170";
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "territory_prefix", NULL);
    in.territory_prefix = "";
    in.page_size = 5000;
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "page_size", NULL);
    in.page_size = 0;
    in.page_token = "pd1.' OR 1=1 --";
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "page_token", NULL);
    in.page_token = "p1.5"; /* a producers' token */
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "page_token", NULL);
    in.page_token = "";
    in.certification = 9;
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "certification", NULL);
    in.certification = 0;
    in.producer_id = -4;
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "producer_id", NULL);
    in.producer_id = 0;
    in.category = "\xff";
    expect_refused("ListProducts", &in.base, OVOP_INVALID_ARGUMENT, "category", NULL);
}

/* --- search --- */

static Ovop__V1__SearchResponse *search(const char *q, unsigned limit)
{
    Ovop__V1__SearchRequest in = OVOP__V1__SEARCH_REQUEST__INIT;
    in.query = (char *)q;
    in.limit = limit;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("Search", NULL, &in.base, &ovop__v1__search_response__descriptor, &out, NULL),
        OVOP_OK);
    Ovop__V1__SearchResponse *r = (Ovop__V1__SearchResponse *)out;
    for (size_t i = 1; i < r->n_hits; i++)
        assert_true(r->hits[i - 1]->rank >= r->hits[i]->rank);
    return r;
}

static bool has_hit(const Ovop__V1__SearchResponse *r, const char *entity, int64_t id)
{
    for (size_t i = 0; i < r->n_hits; i++)
        if (strcmp(r->hits[i]->entity, entity) == 0 && r->hits[i]->id == id)
            return true;
    return false;
}

static void test_search(void **state)
{
    int64_t apricot = count("SELECT id FROM registry.products WHERE name_en = 'Dried apricots'");
    assert_true(apricot > 0);

    Ovop__V1__SearchResponse *r = search("dried apricots", 0);
    assert_true(has_hit(r, "product", apricot));
    assert_string_equal(r->hits[0]->entity, "product");
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Russian and Kyrgyz names, any case; the last word as a prefix. */
    r = search("КУРАГА", 0);
    assert_true(has_hit(r, "product", apricot));
    assert_string_equal(r->hits[0]->title, "Dried apricots");
    assert_string_equal(r->hits[0]->territory_code, VILLAGE2);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = search("кургак өр", 0);
    assert_true(has_hit(r, "product", apricot));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = search("apric", 0);
    assert_true(has_hit(r, "product", apricot));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* Only the last word is a prefix. */
    r = search("apric dried", 0);
    assert_int_equal(r->n_hits, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Producers by legal name; hyphenated names by their parts. */
    r = search("felt makers", 0);
    assert_true(has_hit(r, "producer", F.producer[FELT]));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = search("Kara-Bak", 0);
    assert_true(has_hit(r, "producer", F.producer[DRIED]));
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = search("bak dri", 0);
    assert_true(has_hit(r, "producer", F.producer[DRIED]));
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Categories, and the limit. */
    r = search("felt", 0);
    assert_true(r->n_hits >= 4); /* three felt products and the felt makers */
    protobuf_c_message_free_unpacked(&r->base, NULL);
    r = search("felt", 2);
    assert_int_equal(r->n_hits, 2);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Text search operators and quoting are words like any other, never syntax. */
    static const char *const odd[] = {
        "felt & | ! ( ) <-> :*",     "'", "\\", "o'brien\\'s :* & !", "!!!", "(((", "a:*b",
        "\"felt\" -slippers OR toys"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(odd); i++) {
        r = search(odd[i], 100);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    r = search("nothing-like-this-anywhere", 0);
    assert_int_equal(r->n_hits, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Bad requests. */
    Ovop__V1__SearchRequest in = OVOP__V1__SEARCH_REQUEST__INIT;
    in.query = "";
    expect_refused("Search", &in.base, OVOP_INVALID_ARGUMENT, "query", "required");
    in.query = "   ";
    expect_refused("Search", &in.base, OVOP_INVALID_ARGUMENT, "query", "required");
    char long_q[260];
    memset(long_q, 'q', sizeof(long_q) - 1);
    long_q[sizeof(long_q) - 1] = '\0';
    in.query = long_q;
    expect_refused("Search", &in.base, OVOP_INVALID_ARGUMENT, "query", "at most 200");
    in.query = "\xe2\x82";
    expect_refused("Search", &in.base, OVOP_INVALID_ARGUMENT, "query", "UTF-8");
    in.query = "felt";
    in.limit = 101;
    expect_refused("Search", &in.base, OVOP_INVALID_ARGUMENT, "limit", "at most 100");
}

/* --- cooperatives --- */

static Ovop__V1__Cooperative *get_coop(int64_t id)
{
    Ovop__V1__GetCooperativeRequest g = OVOP__V1__GET_COOPERATIVE_REQUEST__INIT;
    g.id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetCooperative", NULL, &g.base, &ovop__v1__cooperative__descriptor, &out, NULL),
        OVOP_OK);
    return (Ovop__V1__Cooperative *)out;
}

static Ovop__V1__Cooperative *create_coop(const char *name, const char *territory,
                                          const char *founded, int64_t *members, size_t n,
                                          const char *rid, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    in.name = (char *)name;
    in.territory_code = (char *)territory;
    in.founded_on = (char *)founded;
    in.founding_members = members;
    in.n_founding_members = n;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("CreateCooperative", rid, &in.base, &ovop__v1__cooperative__descriptor, &out, ret_rep),
        OVOP_OK);
    return (Ovop__V1__Cooperative *)out;
}

static void test_create_cooperative(void **state)
{
    int64_t founders[] = {F.producer[HONEY], F.producer[FELT]};
    Ovop__V1__Reply *rep = NULL;
    Ovop__V1__Cooperative *c =
        create_coop("Kochkor Artisans", KOCHKOR, "2020-03-01", founders, 2, "coop-1", &rep);
    assert_true(c->id > 0);
    assert_int_equal(c->version, 1);
    assert_string_equal(c->founded_on, "2020-03-01");
    assert_int_equal(c->n_members, 2);
    assert_int_equal(c->members[0]->producer_id, F.producer[FELT]); /* by id */
    assert_string_equal(c->members[1]->joined_on, "2020-03-01");
    assert_string_equal(c->members[1]->left_on, "");
    char subject[48];
    snprintf(subject, sizeof(subject), "cooperative/%lld", (long long)c->id);
    assert_event("ovop.registry.cooperative.created", subject, rep, NULL, KOCHKOR);
    assert_int_equal(countf("SELECT count(*) FROM registry.cooperative_members WHERE "
                            "cooperative_id = %lld",
                            (long long)c->id),
                     2);
    Ovop__V1__Cooperative *got = get_coop(c->id);
    assert_same_message(&got->base, &c->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);

    /* Retried. */
    char *s1 = db_state();
    Ovop__V1__Reply *rep2 = NULL;
    Ovop__V1__Cooperative *again =
        create_coop("Kochkor Artisans", KOCHKOR, "2020-03-01", founders, 2, "coop-1", &rep2);
    assert_memory_equal(rep2->body.data, rep->body.data, rep->body.len);
    char *s2 = db_state();
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);

    /* Founded today by default. */
    int64_t pair[] = {F.producer[APRICOT], F.producer[DRIED]};
    Ovop__V1__Cooperative *today =
        create_coop("Batken Orchards", VILLAGE2, "", pair, 2, NULL, NULL);
    char *date = pgtest_scalar(E.conn, "SELECT current_date::text");
    assert_string_equal(today->founded_on, date);
    free(date);
    protobuf_c_message_free_unpacked(&today->base, NULL);

    /* Bad input. */
    Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    int64_t members[3] = {F.producer[HONEY], F.producer[APRICOT], F.producer[FELT]};
    in.name = "Naryn Wool";
    in.territory_code = VILLAGE;
    in.founding_members = members;
    in.n_founding_members = 1;
#define REFUSED(code, field, fragment)                                                             \
    expect_refused("CreateCooperative", &in.base, code, field, fragment)
    REFUSED(OVOP_INVALID_ARGUMENT, "founding_members", "at least 2");
    int64_t same[] = {F.producer[HONEY], F.producer[HONEY]};
    in.founding_members = same;
    in.n_founding_members = 2;
    REFUSED(OVOP_INVALID_ARGUMENT, "founding_members[1]", "twice");
    int64_t unknown[] = {F.producer[HONEY], 31337};
    in.founding_members = unknown;
    REFUSED(OVOP_NOT_FOUND, "founding_members[1]", "31337");
    int64_t idle[] = {F.producer[SUSPENDED], F.producer[HONEY]};
    in.founding_members = idle;
    REFUSED(OVOP_FAILED_PRECONDITION, "founding_members[0]", "suspended");
    int64_t negative[] = {F.producer[HONEY], -2};
    in.founding_members = negative;
    REFUSED(OVOP_INVALID_ARGUMENT, "founding_members[1]", NULL);
    in.founding_members = members;
    in.n_founding_members = 3;

    in.territory_code = "123";
    REFUSED(OVOP_INVALID_ARGUMENT, "territory_code", "14 digits");
    in.territory_code = "";
    REFUSED(OVOP_INVALID_ARGUMENT, "territory_code", "required");
    in.territory_code = "41704235000777";
    REFUSED(OVOP_INVALID_ARGUMENT, "territory_code", "no territory");
    in.territory_code = "41700000000000";
    REFUSED(OVOP_INVALID_ARGUMENT, "territory_code", "republic");
    in.territory_code = VILLAGE;

    in.founded_on = "2024-02-30";
    REFUSED(OVOP_INVALID_ARGUMENT, "founded_on", "YYYY-MM-DD");
    in.founded_on = "2999-01-01";
    REFUSED(OVOP_INVALID_ARGUMENT, "founded_on", "future");
    in.founded_on = "";

    in.name = "";
    REFUSED(OVOP_INVALID_ARGUMENT, "name", "required");
    char long_name[320];
    memset(long_name, 'c', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    in.name = long_name;
    REFUSED(OVOP_INVALID_ARGUMENT, "name", "at most 300");
    in.name = "Bad \xc0\xaf name";
    REFUSED(OVOP_INVALID_ARGUMENT, "name", "UTF-8");
    in.name = "KOCHKOR ARTISANS";
    REFUSED(OVOP_ALREADY_EXISTS, "name", "already registered");
#undef REFUSED

    Ovop__V1__GetCooperativeRequest g = OVOP__V1__GET_COOPERATIVE_REQUEST__INIT;
    g.id = 4242424;
    assert_int_equal(call("GetCooperative", NULL, &g.base, NULL, NULL, NULL), OVOP_NOT_FOUND);
    g.id = -1;
    expect_refused("GetCooperative", &g.base, OVOP_INVALID_ARGUMENT, "id", NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

static int64_t coop_id(const char *name)
{
    return countf("SELECT id FROM registry.cooperatives WHERE name = '%s'", name);
}

static int membership(const char *method, const char *rid, int64_t coop, int32_t version,
                      int64_t producer, const char *on, Ovop__V1__Cooperative **ret,
                      Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__JoinCooperativeRequest j = OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT;
    Ovop__V1__LeaveCooperativeRequest l = OVOP__V1__LEAVE_COOPERATIVE_REQUEST__INIT;
    const ProtobufCMessage *in;
    if (strcmp(method, "JoinCooperative") == 0) {
        j.cooperative_id = coop;
        j.version = version;
        j.producer_id = producer;
        j.joined_on = (char *)on;
        in = &j.base;
    } else {
        l.cooperative_id = coop;
        l.version = version;
        l.producer_id = producer;
        l.left_on = (char *)on;
        in = &l.base;
    }
    ProtobufCMessage *out = NULL;
    int r = call(method, rid, in, &ovop__v1__cooperative__descriptor, &out, ret_rep);
    if (ret)
        *ret = (Ovop__V1__Cooperative *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return r;
}

static void expect_membership_refused(const char *method, int64_t coop, int32_t version,
                                      int64_t producer, const char *on, int code, const char *field,
                                      const char *fragment)
{
    Ovop__V1__JoinCooperativeRequest j = OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT;
    Ovop__V1__LeaveCooperativeRequest l = OVOP__V1__LEAVE_COOPERATIVE_REQUEST__INIT;
    j.cooperative_id = l.cooperative_id = coop;
    j.version = l.version = version;
    j.producer_id = l.producer_id = producer;
    j.joined_on = l.left_on = (char *)on;
    expect_refused(method, strcmp(method, "JoinCooperative") == 0 ? &j.base : &l.base, code, field,
                   fragment);
}

static void test_membership(void **state)
{
    int64_t coop = coop_id("Kochkor Artisans");
    int64_t honey = F.producer[HONEY], apricot = F.producer[APRICOT];
    Ovop__V1__Cooperative *c = NULL;
    Ovop__V1__Reply *rep = NULL;

    /* Join on a date: version 2, the member listed by date. */
    assert_int_equal(
        membership("JoinCooperative", "join-1", coop, 1, apricot, "2021-03-01", &c, &rep), OVOP_OK);
    assert_int_equal(c->version, 2);
    assert_int_equal(c->n_members, 3);
    assert_int_equal(c->members[2]->producer_id, apricot);
    assert_string_equal(c->members[2]->joined_on, "2021-03-01");
    char subject[48];
    snprintf(subject, sizeof(subject), "cooperative/%lld", (long long)coop);
    assert_event("ovop.registry.cooperative.member_joined", subject, rep, NULL, KOCHKOR);
    Ovop__V1__Cooperative *got = get_coop(coop);
    assert_same_message(&got->base, &c->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);

    /* Retried: the same bytes, nothing twice. */
    char *s1 = db_state();
    Ovop__V1__Reply *rep2 = NULL;
    assert_int_equal(
        membership("JoinCooperative", "join-1", coop, 1, apricot, "2021-03-01", NULL, &rep2),
        OVOP_OK);
    assert_int_equal(rep2->body.len, rep->body.len);
    assert_memory_equal(rep2->body.data, rep->body.data, rep->body.len);
    char *s2 = db_state();
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* Refusals, none of which writes anything. */
    const char *J = "JoinCooperative", *L = "LeaveCooperative";
    expect_membership_refused(J, coop, 2, apricot, "2021-04-01", OVOP_ALREADY_EXISTS, "producer_id",
                              "already a member");
    expect_membership_refused(J, coop, 1, F.producer[DRIED], "2021-04-01", OVOP_ABORTED, "version",
                              "version 2");
    expect_membership_refused(J, coop, 2, F.producer[SUSPENDED], "2021-04-01",
                              OVOP_FAILED_PRECONDITION, "producer_id", "suspended");
    expect_membership_refused(J, coop, 2, 8888888, "2021-04-01", OVOP_NOT_FOUND, "producer_id",
                              "8888888");
    expect_membership_refused(J, 7777777, 2, apricot, "2021-04-01", OVOP_NOT_FOUND,
                              "cooperative_id", "7777777");
    expect_membership_refused(J, coop, 2, F.producer[DRIED], "2019-12-31", OVOP_INVALID_ARGUMENT,
                              "joined_on", "founded on 2020-03-01");
    expect_membership_refused(J, coop, 2, F.producer[DRIED], "2999-01-01", OVOP_INVALID_ARGUMENT,
                              "joined_on", "future");
    expect_membership_refused(J, coop, 2, F.producer[DRIED], "2021-13-01", OVOP_INVALID_ARGUMENT,
                              "joined_on", "YYYY-MM-DD");
    expect_membership_refused(J, coop, 0, F.producer[DRIED], "", OVOP_INVALID_ARGUMENT, "version",
                              NULL);
    expect_membership_refused(J, coop, 2, 0, "", OVOP_INVALID_ARGUMENT, "producer_id", NULL);
    expect_membership_refused(J, 0, 2, apricot, "", OVOP_INVALID_ARGUMENT, "cooperative_id", NULL);

    /* Leave: before joining is refused, then on a date. */
    expect_membership_refused(L, coop, 2, apricot, "2021-02-28", OVOP_INVALID_ARGUMENT, "left_on",
                              "joined cooperative");
    expect_membership_refused(L, coop, 2, F.producer[DRIED], "2021-05-01", OVOP_FAILED_PRECONDITION,
                              "producer_id", "not a member");
    expect_membership_refused(L, coop, 2, apricot, "2999-01-01", OVOP_INVALID_ARGUMENT, "left_on",
                              "future");
    expect_membership_refused(L, coop, 1, apricot, "2022-01-01", OVOP_ABORTED, "version", NULL);
    assert_int_equal(membership(L, "leave-1", coop, 2, apricot, "2022-01-01", &c, &rep), OVOP_OK);
    assert_int_equal(c->version, 3);
    assert_string_equal(c->members[2]->left_on, "2022-01-01");
    assert_event("ovop.registry.cooperative.member_left", subject, rep, NULL, KOCHKOR);
    got = get_coop(coop);
    assert_same_message(&got->base, &c->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    s1 = db_state();
    assert_int_equal(membership(L, "leave-1", coop, 2, apricot, "2022-01-01", NULL, &rep2),
                     OVOP_OK);
    assert_memory_equal(rep2->body.data, rep->body.data, rep->body.len);
    s2 = db_state();
    assert_string_equal(s1, s2);
    free(s1);
    free(s2);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    expect_membership_refused(L, coop, 3, apricot, "2022-02-01", OVOP_FAILED_PRECONDITION,
                              "producer_id", "not a member");

    /* Rejoining overlaps the earlier membership until it ended, not after. */
    expect_membership_refused(J, coop, 3, apricot, "2021-12-31", OVOP_INVALID_ARGUMENT, "joined_on",
                              "until 2022-01-01");
    assert_int_equal(membership(J, NULL, coop, 3, apricot, "2022-01-01", &c, NULL), OVOP_OK);
    assert_int_equal(c->n_members, 4);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    /* A founder leaves the day it joined: an empty period, still listed. */
    assert_int_equal(membership(L, NULL, coop, 4, honey, "2020-03-01", &c, NULL), OVOP_OK);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(membership(J, NULL, coop, 5, honey, "2020-03-01", &c, NULL), OVOP_OK);
    assert_int_equal(c->n_members, 5);
    got = get_coop(coop);
    assert_same_message(&got->base, &c->base);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(countf("SELECT count(*) FROM registry.cooperative_members WHERE "
                            "cooperative_id = %lld AND producer_id = %lld",
                            (long long)coop, (long long)apricot),
                     2);

    /* Two joins from the same version at once: one wins, the other is stale. */
    got = get_coop(coop);
    Ovop__V1__JoinCooperativeRequest j[2] = {OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT,
                                             OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT};
    for (int i = 0; i < 2; i++) {
        j[i].cooperative_id = coop;
        j[i].version = got->version;
        j[i].producer_id = F.producer[i ? WOOL : DRIED];
    }
    racer_t racers[2] = {{J, &j[0].base, -1}, {J, &j[1].base, -1}};
    race(racers);
    protobuf_c_message_free_unpacked(&got->base, NULL);
    assert_int_equal(countf("SELECT count(*) FROM registry.cooperative_members WHERE "
                            "cooperative_id = %lld AND producer_id IN (%lld, %lld)",
                            (long long)coop, (long long)F.producer[DRIED],
                            (long long)F.producer[WOOL]),
                     1);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE subject = 'cooperative/%lld'",
                            (long long)coop),
                     7); /* created, 4 joins, 2 leaves */
}

static Ovop__V1__CooperativeCapacity *capacity(int64_t coop, const char *hs, const char *as_of)
{
    Ovop__V1__CooperativeCapacityRequest in = OVOP__V1__COOPERATIVE_CAPACITY_REQUEST__INIT;
    in.cooperative_id = coop;
    in.hs_code = (char *)hs;
    in.as_of = (char *)as_of;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetCooperativeCapacity", NULL, &in.base,
                          &ovop__v1__cooperative_capacity__descriptor, &out, NULL),
                     OVOP_OK);
    return (Ovop__V1__CooperativeCapacity *)out;
}

static void test_capacity(void **state)
{
    /* A cooperative of its own for clear sums: felt makers and the honey house. */
    int64_t founders[] = {F.producer[FELT], F.producer[HONEY]};
    Ovop__V1__Cooperative *c =
        create_coop("Naryn Honey and Felt", VILLAGE, "2023-01-01", founders, 2, NULL, NULL);
    int64_t coop = c->id;
    protobuf_c_message_free_unpacked(&c->base, NULL);
    /* Honey: 2000 kg from the honey house; the felt makers add 500 kg and 3000 jars. */
    add_product(FELT, "Felt makers' honey", "honey", "040900", "kg", 500);
    add_product(FELT, "Honey in jars", "honey", "040900", "pcs", 3000);

    Ovop__V1__CooperativeCapacity *cap = capacity(coop, "040900", "");
    assert_int_equal(cap->cooperative_id, coop);
    assert_string_equal(cap->hs_code, "040900");
    /* Units differ: the one with the most capacity (3000 pcs vs 2500 kg), that unit only. */
    assert_string_equal(cap->unit, "pcs");
    assert_true(cap->capacity_per_month == 3000);
    assert_int_equal(cap->members_contributing, 1);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    add_product(HONEY, "Honey comb", "honey", "040900", "kg", 1000);
    cap = capacity(coop, "0409", "");
    assert_string_equal(cap->unit, "kg");
    assert_true(cap->capacity_per_month == 3500);
    assert_int_equal(cap->members_contributing, 2);
    protobuf_c_message_free_unpacked(&cap->base, NULL);

    /* Felt: 40 m2 of shyrdaks (the only felt product under 5705). */
    cap = capacity(coop, "5705", "");
    assert_string_equal(cap->unit, "m2");
    assert_true(cap->capacity_per_month == 40);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    /* Nothing under the code: zero, no unit. */
    cap = capacity(coop, "0813", "");
    assert_string_equal(cap->unit, "");
    assert_true(cap->capacity_per_month == 0);
    assert_int_equal(cap->members_contributing, 0);
    protobuf_c_message_free_unpacked(&cap->base, NULL);

    /* Membership on the date: before the founding nobody; the apricot garden counts only
     * while a member of Kochkor Artisans (2021-03-01 to 2022-01-01, again since). */
    cap = capacity(coop, "040900", "2022-12-31");
    assert_int_equal(cap->members_contributing, 0);
    assert_true(cap->capacity_per_month == 0);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    int64_t artisans = coop_id("Kochkor Artisans");
    char *sum = pgtest_scalar(E.conn, "SELECT sum(capacity_per_month) FROM registry.products "
                                      "WHERE hs6 = '081310' AND unit = 'kg' AND producer_id = "
                                      "(SELECT id FROM registry.producers WHERE legal_name = "
                                      "'Batken Apricot Garden')");
    double apricots = strtod(sum, NULL);
    free(sum);
    cap = capacity(artisans, "081310", "2021-06-01");
    assert_string_equal(cap->unit, "kg");
    assert_true(cap->capacity_per_month == apricots);
    assert_int_equal(cap->members_contributing, 1);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    cap = capacity(artisans, "081310", "2021-12-31");
    assert_int_equal(cap->members_contributing, 1);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    cap = capacity(artisans, "081310", "2021-02-28");
    assert_int_equal(cap->members_contributing, 0);
    protobuf_c_message_free_unpacked(&cap->base, NULL);

    /* A suspended member offers nothing. */
    set_status(F.producer[HONEY], OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED);
    cap = capacity(coop, "040900", "");
    assert_string_equal(cap->unit, "pcs");
    assert_int_equal(cap->members_contributing, 1);
    protobuf_c_message_free_unpacked(&cap->base, NULL);
    set_status(F.producer[HONEY], OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE);

    /* Bad requests. */
    Ovop__V1__CooperativeCapacityRequest in = OVOP__V1__COOPERATIVE_CAPACITY_REQUEST__INIT;
    in.cooperative_id = coop;
    in.hs_code = "";
    expect_refused("GetCooperativeCapacity", &in.base, OVOP_INVALID_ARGUMENT, "hs_code", NULL);
    in.hs_code = "04a9";
    expect_refused("GetCooperativeCapacity", &in.base, OVOP_INVALID_ARGUMENT, "hs_code", NULL);
    in.hs_code = "0409001";
    expect_refused("GetCooperativeCapacity", &in.base, OVOP_INVALID_ARGUMENT, "hs_code", NULL);
    in.hs_code = "0409";
    in.as_of = "2023-02-29";
    expect_refused("GetCooperativeCapacity", &in.base, OVOP_INVALID_ARGUMENT, "as_of", NULL);
    in.as_of = "";
    in.cooperative_id = 0;
    expect_refused("GetCooperativeCapacity", &in.base, OVOP_INVALID_ARGUMENT, "cooperative_id",
                   NULL);
    in.cooperative_id = 6666666;
    assert_int_equal(call("GetCooperativeCapacity", NULL, &in.base, NULL, NULL, NULL),
                     OVOP_NOT_FOUND);
}

static void test_list_cooperatives(void **state)
{
    Ovop__V1__ListCooperativesRequest in = OVOP__V1__LIST_COOPERATIVES_REQUEST__INIT;
    long all = count("SELECT count(*) FROM registry.cooperatives");
    assert_int_equal(all, 3);
    char token[64] = "";
    long total = 0, last = 0;
    do {
        in.page_size = 2;
        in.page_token = token;
        ProtobufCMessage *out = NULL;
        assert_int_equal(call("ListCooperatives", NULL, &in.base,
                              &ovop__v1__list_cooperatives_response__descriptor, &out, NULL),
                         OVOP_OK);
        Ovop__V1__ListCooperativesResponse *resp = (Ovop__V1__ListCooperativesResponse *)out;
        for (size_t i = 0; i < resp->n_cooperatives; i++) {
            assert_true(resp->cooperatives[i]->id > last);
            last = resp->cooperatives[i]->id;
            Ovop__V1__Cooperative *got = get_coop(last);
            assert_same_message(&got->base, &resp->cooperatives[i]->base);
            protobuf_c_message_free_unpacked(&got->base, NULL);
        }
        total += (long)resp->n_cooperatives;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(out, NULL);
    } while (token[0]);
    assert_int_equal(total, all);

    struct {
        const char *territory, *hs;
        long want;
    } cases[] = {
        {"41704000000000", "", 2}, /* Naryn region: Kochkor Artisans, Naryn Honey and Felt */
        {"41705000000000", "", 1}, /* Batken region */
        {VILLAGE, "", 1},
        {"", "0813", 2}, /* apricot garden (Artisans again) and the Batken pair */
        {"", "5705", 2}, /* the felt makers are in two */
        {"41705000000000", "5705", 0},
        {"", "2009", 0},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        in = (Ovop__V1__ListCooperativesRequest)OVOP__V1__LIST_COOPERATIVES_REQUEST__INIT;
        in.territory_prefix = (char *)cases[i].territory;
        in.hs_prefix = (char *)cases[i].hs;
        ProtobufCMessage *out = NULL;
        assert_int_equal(call("ListCooperatives", NULL, &in.base,
                              &ovop__v1__list_cooperatives_response__descriptor, &out, NULL),
                         OVOP_OK);
        Ovop__V1__ListCooperativesResponse *resp = (Ovop__V1__ListCooperativesResponse *)out;
        if ((long)resp->n_cooperatives != cases[i].want)
            fail_msg("territory %s hs %s: %zu cooperatives, want %ld", cases[i].territory,
                     cases[i].hs, resp->n_cooperatives, cases[i].want);
        protobuf_c_message_free_unpacked(out, NULL);
    }

    in = (Ovop__V1__ListCooperativesRequest)OVOP__V1__LIST_COOPERATIVES_REQUEST__INIT;
    in.territory_prefix = "417";
    expect_refused("ListCooperatives", &in.base, OVOP_INVALID_ARGUMENT, "territory_prefix", NULL);
    in.territory_prefix = "";
    in.hs_prefix = "x";
    expect_refused("ListCooperatives", &in.base, OVOP_INVALID_ARGUMENT, "hs_prefix", NULL);
    in.hs_prefix = "";
    in.page_token = "c1.-5";
    expect_refused("ListCooperatives", &in.base, OVOP_INVALID_ARGUMENT, "page_token", NULL);
    in.page_token = "";
    in.page_size = 1001;
    expect_refused("ListCooperatives", &in.base, OVOP_INVALID_ARGUMENT, "page_size", NULL);
}

/* --- ovopctl --- */

/* Runs ovopctl with args; returns its exit code; output in <tmpdir>/<log>.log. */
static int ovopctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 20000);
}

static char *read_log(const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void expect_output(const char *log, const char *fragment)
{
    char *out = read_log(log);
    if (!strstr(out, fragment))
        fail_msg("%s.log lacks \"%s\":\n%s", log, fragment, out);
    free(out);
}

static void test_ovopctl(void **state)
{
    char honey[24], apricot[24], felt[24], dried[24];
    snprintf(honey, sizeof(honey), "%lld", (long long)F.producer[HONEY]);
    snprintf(apricot, sizeof(apricot), "%lld", (long long)F.producer[APRICOT]);
    snprintf(felt, sizeof(felt), "%lld", (long long)F.producer[FELT]);
    snprintf(dried, sizeof(dried), "%lld", (long long)F.producer[DRIED]);

    const char *a1[] = {"product",        "create",    "--producer", honey,        "--name-en",
                        "Mountain honey", "--name-ru", "Горный мёд", "--category", "honey",
                        "--hs",           "040900",    "--unit",     "kg",         "--capacity",
                        "750.5",          "--price",   "12",         "--season",   "6,7,8",
                        "--cert",         "organic",   "--cert",     "halal",      "--raw",
                        "nectar",         NULL};
    assert_int_equal(ovopctl("ctl-product-create", a1), 0);
    expect_output("ctl-product-create", "Горный мёд");
    expect_output("ctl-product-create", "organic, halal");
    int64_t id = count("SELECT id FROM registry.products WHERE name_en = 'Mountain honey'");
    assert_true(id > 0);
    assert_int_equal(countf("SELECT count(*) FROM registry.products WHERE id = %lld AND "
                            "season_months = '{6,7,8}' AND capacity_per_month = 750.5 AND "
                            "certifications = '{organic,halal}' AND raw_materials = '{nectar}'",
                            (long long)id),
                     1);
    char ids[24];
    snprintf(ids, sizeof(ids), "%lld", (long long)id);
    expect_output("ctl-product-create", "price          12.00 USD per kg");

    /* update sends a mask of exactly the options given: the price changes, the raw materials
     * are cleared (given empty), nothing else moves. */
    const char *u1[] = {"product", "update", ids,     "--version", "1",
                        "--price", "12.75",  "--raw", "",          NULL};
    assert_int_equal(ovopctl("ctl-product-update", u1), 0);
    expect_output("ctl-product-update", "12.75 USD per kg");
    assert_int_equal(countf("SELECT count(*) FROM registry.products WHERE id = %lld AND "
                            "version = 2 AND price_usd = 12.75 AND raw_materials = '{}' AND "
                            "season_months = '{6,7,8}' AND capacity_per_month = 750.5 AND "
                            "certifications = '{organic,halal}' AND name_ru = 'Горный мёд' AND "
                            "name_en = 'Mountain honey' AND category = 'honey'",
                            (long long)id),
                     1);
    const char *u2[] = {"product", "update", ids, "--version", "2", NULL};
    assert_int_equal(ovopctl("ctl-product-update-none", u2), 2);
    const char *u3[] = {"product", "update", ids, "--version", "2", "--price", "1.234", NULL};
    assert_int_equal(ovopctl("ctl-product-update-cents", u3), 2);
    expect_output("ctl-product-update-cents", "at most two decimals");
    const char *u4[] = {"product", "update", ids, "--version", "2", "--hs", "12", NULL};
    assert_int_equal(ovopctl("ctl-product-update-bad", u4), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-product-update-bad", "hs_code");

    const char *a2[] = {"product", "get", ids, NULL};
    assert_int_equal(ovopctl("ctl-product-get", a2), 0);
    expect_output("ctl-product-get", "Mountain honey");
    expect_output("ctl-product-get", "040900");
    const char *a3[] = {"--json", "product", "get", ids, NULL};
    assert_int_equal(ovopctl("ctl-product-json", a3), 0);
    expect_output("ctl-product-json", "\"hs_code\": \"040900\"");

    const char *a4[] = {"product", "list", "--producer", honey, NULL};
    assert_int_equal(ovopctl("ctl-product-list", a4), 0);
    expect_output("ctl-product-list", "Mountain honey");
    expect_output("ctl-product-list", "(3 products)");
    const char *a5[] = {"product",        "list",        "--territory",
                        "41705000000000", "--hs",        "0813",
                        "--category",     "dried fruit", NULL};
    assert_int_equal(ovopctl("ctl-product-list2", a5), 0);
    expect_output("ctl-product-list2", "Dried apricots");

    /* Refusals exit 10 + the status code and name the field. */
    const char *a6[] = {"product",    "create", "--producer", honey,    "--name-en", "Bad",
                        "--category", "honey",  "--hs",       "999999", "--unit",    "kg",
                        "--capacity", "-5",     "--price",    "1",      NULL};
    assert_int_equal(ovopctl("ctl-product-bad", a6), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-product-bad", "capacity_per_month: must be positive, got -5");
    const char *a7[] = {"product", "create",     "--producer", honey,  "--name-en",
                        "Bad",     "--category", "honey",      "--hs", "040900",
                        "--unit",  "kg",         "--capacity", "5",    "--price",
                        "1",       "--cert",     "kosher",     NULL};
    assert_int_equal(ovopctl("ctl-product-cert", a7), 2);
    const char *a8[] = {"product", "get", "99999999", NULL};
    assert_int_equal(ovopctl("ctl-product-404", a8), 10 + OVOP_NOT_FOUND);
    const char *a9[] = {"product", "create", "--producer", honey, NULL};
    assert_int_equal(ovopctl("ctl-product-usage", a9), 2);

    /* Search. */
    const char *s1[] = {"search", "mountain", "hon", NULL};
    assert_int_equal(ovopctl("ctl-search", s1), 0);
    expect_output("ctl-search", "Mountain honey");
    expect_output("ctl-search", "product");
    const char *s2[] = {"--json", "search", "felt", "--limit", "1", NULL};
    assert_int_equal(ovopctl("ctl-search-json", s2), 0);
    expect_output("ctl-search-json", "\"hits\"");
    const char *s3[] = {"search", NULL};
    assert_int_equal(ovopctl("ctl-search-usage", s3), 2);

    /* Cooperatives. */
    const char *c1[] = {"coop",        "create", "--name",    "Kara-Bak Fruit Union",
                        "--territory", VILLAGE2, "--member",  apricot,
                        "--member",    dried,    "--founded", "2024-01-15",
                        NULL};
    assert_int_equal(ovopctl("ctl-coop-create", c1), 0);
    expect_output("ctl-coop-create", "Kara-Bak Fruit Union");
    int64_t coop = coop_id("Kara-Bak Fruit Union");
    assert_true(coop > 0);
    char coops[24];
    snprintf(coops, sizeof(coops), "%lld", (long long)coop);
    const char *c2[] = {"coop", "join", coops, felt, "--version", "1", "--on", "2024-02-01", NULL};
    assert_int_equal(ovopctl("ctl-coop-join", c2), 0);
    assert_int_equal(ovopctl("ctl-coop-join-again", c2), 10 + OVOP_ABORTED);
    expect_output("ctl-coop-join-again", "version");
    const char *c3[] = {"coop", "leave", coops, felt, "--version", "2", "--on", "2024-03-01", NULL};
    assert_int_equal(ovopctl("ctl-coop-leave", c3), 0);
    const char *c4[] = {"coop", "get", coops, NULL};
    assert_int_equal(ovopctl("ctl-coop-get", c4), 0);
    expect_output("ctl-coop-get", "2024-02-01");
    expect_output("ctl-coop-get", "2024-03-01");
    expect_output("ctl-coop-get", "version        3");
    const char *c5[] = {"coop", "list", "--territory", "41705000000000", NULL};
    assert_int_equal(ovopctl("ctl-coop-list", c5), 0);
    expect_output("ctl-coop-list", "Kara-Bak Fruit Union");
    expect_output("ctl-coop-list", "(2 cooperatives)");
    const char *c6[] = {"coop", "capacity", coops, "--hs", "081310", NULL};
    assert_int_equal(ovopctl("ctl-coop-capacity", c6), 0);
    expect_output("ctl-coop-capacity", "kg");
    const char *c7[] = {"--json", "coop",    "capacity",   coops, "--hs",
                        "0813",   "--as-of", "2024-01-01", NULL};
    assert_int_equal(ovopctl("ctl-coop-capacity-json", c7), 0);
    expect_output("ctl-coop-capacity-json", "\"cooperative_id\"");
    const char *c8[] = {"coop",   "create",   "--name", "Lonely", "--territory",
                        VILLAGE2, "--member", apricot,  NULL};
    assert_int_equal(ovopctl("ctl-coop-one", c8), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-coop-one", "founding_members");
    const char *c9[] = {"coop", "join", coops, NULL};
    assert_int_equal(ovopctl("ctl-coop-usage", c9), 2);
    const char *c10[] = {"coop", "frobnicate", NULL};
    assert_int_equal(ovopctl("ctl-coop-verb", c10), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_product_get_retry),
        cmocka_unit_test(test_create_product_bad_input),
        cmocka_unit_test(test_update_product),
        cmocka_unit_test(test_update_product_mask),
        cmocka_unit_test(test_list_products),
        cmocka_unit_test(test_search),
        cmocka_unit_test(test_create_cooperative),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_list_cooperatives),
        cmocka_unit_test(test_ovopctl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
