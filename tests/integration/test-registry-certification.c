/* registryd's brand certification through the real broker and two registryd instances,
 * against PostgreSQL: the rubric, the whole application -> certificate lifecycle, every bad
 * input and refused transition (with nothing half-written), idempotent retries, the
 * events each change writes, expiry read from the dates, listing, and ovopctl's verbs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

#define NARYN_VILLAGE  "41704235000101" /* Kochkor District, Naryn Region */
#define BATKEN_VILLAGE "41705214000101" /* Batken District */
#define TALAS_VILLAGE  "41707232000101" /* Talas District, used by the listing case only */

static svcenv_t E;
static unsigned next_tax; /* makes each producer's INN unique */

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
    "valid_from) VALUES "
    "('" NARYN_VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', "
    "'2000-01-01'), "
    "('" BATKEN_VILLAGE "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', "
    "'2000-01-01'), "
    "('" TALAS_VILLAGE "', 'village', '41707232000000', 'Кок-Ой', 'Kok-Oi', "
    "'2000-01-01') RETURNING 1",
    NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "certification",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .instances = 2,
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* --- database helpers --- */

#define count(...)  svcenv_countf(&E, __VA_ARGS__)
#define scalar(...) svcenv_scalarf(&E, __VA_ARGS__)

static long events(const char *type)
{
    return count("SELECT count(*) FROM bus.events WHERE type = '%s'", type);
}

/* Everything a refused change must leave alone, as one string. */
static char *state_signature(void)
{
    return pgtest_scalar(
        E.conn, "SELECT concat_ws('/', (SELECT count(*) FROM registry.applications), "
                "(SELECT coalesce(sum(version), 0) FROM registry.applications), "
                "(SELECT count(*) FROM registry.certificates), "
                "(SELECT coalesce(sum(version), 0) FROM registry.certificates), "
                "(SELECT count(*) FROM bus.events), (SELECT count(*) FROM bus.idempotency), "
                "(SELECT version FROM registry.rubric_version), "
                "(SELECT count(*) FROM registry.rubric_criteria), "
                "(SELECT sum(min_points) FROM registry.star_thresholds))");
}

/* --- calls --- */

/* PostgreSQL's hex text of bytea (malloc'd). */
static char *hex(const ProtobufCBinaryData *b)
{
    char *s = xmalloc(2 * b->len + 3);
    strcpy(s, "\\x");
    for (size_t i = 0; i < b->len; i++)
        sprintf(s + 2 + 2 * i, "%02x", b->data[i]);
    return s;
}

typedef struct result {
    int code;
    Ovop__V1__Reply *rep;
    ProtobufCMessage *out;
} result_t;

static result_t call(const char *method, const char *rid, const ProtobufCMessage *in,
                     const ProtobufCMessageDescriptor *out_desc)
{
    result_t r = {0};
    r.code = svcenv_call(&E, method, rid, in, out_desc, out_desc ? &r.out : NULL, &r.rep);
    return r;
}

static void result_free(result_t *r)
{
    if (r->rep)
        ovop__v1__reply__free_unpacked(r->rep, NULL);
    if (r->out)
        protobuf_c_message_free_unpacked(r->out, NULL);
    *r = (result_t){0};
}

/* The reply carries a violation on field whose description holds fragment; with field
 * NULL, the status message holds fragment. */
static void assert_says(const result_t *r, const char *field, const char *fragment)
{
    const Ovop__V1__Status *st = r->rep->status;
    assert_non_null(st);
    if (!field) {
        if (!strstr(st->message, fragment))
            fail_msg("message \"%s\" lacks \"%s\"", st->message, fragment);
        return;
    }
    for (size_t i = 0; i < st->n_violations; i++)
        if (strcmp(st->violations[i]->field, field) == 0) {
            if (fragment && !strstr(st->violations[i]->description, fragment))
                fail_msg("%s: \"%s\" lacks \"%s\"", field, st->violations[i]->description,
                         fragment);
            return;
        }
    fail_msg("no violation on %s in \"%s\" (%zu violations)", field, st->message, st->n_violations);
}

/* Calls method expecting `code` with `field` and `fragment` (see assert_says), twice under
 * one request id: neither attempt may change anything. */
static void expect_refused(const char *method, const ProtobufCMessage *in, int code,
                           const char *field, const char *fragment)
{
    static unsigned n;
    char rid[64];
    snprintf(rid, sizeof(rid), "refused-%s-%u", method, ++n);
    char *before = state_signature();
    for (int attempt = 0; attempt < 2; attempt++) {
        result_t r = call(method, rid, in, NULL);
        if (r.code != code)
            fail_msg("%s: expected code %d, got %d: %s", method, code, r.code,
                     r.rep->status ? r.rep->status->message : "");
        assert_says(&r, field, fragment);
        svcenv_assert_reason(&E, r.rep, svcenv_default_reason(code, field));
        result_free(&r);
    }
    char *after = state_signature();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* Calls a mutation under rid, then again under rid: the second reply has the same bytes
 * and the database the same state. Returns the first result (OK expected). */
static result_t mutate_ok(const char *method, const char *rid, const ProtobufCMessage *in,
                          const ProtobufCMessageDescriptor *out_desc)
{
    long events0 = count("SELECT count(*) FROM bus.events");
    result_t r = call(method, rid, in, out_desc);
    if (r.code != 0)
        fail_msg("%s: %s", method, r.rep->status->message);
    char *after_first = state_signature();
    assert_true(count("SELECT count(*) FROM bus.events") > events0);
    result_t again = call(method, rid, in, out_desc);
    assert_int_equal(again.code, 0);
    assert_int_equal(again.rep->body.len, r.rep->body.len);
    assert_memory_equal(again.rep->body.data, r.rep->body.data, r.rep->body.len);
    char *after_retry = state_signature();
    assert_string_equal(after_first, after_retry);
    free(after_first);
    free(after_retry);
    result_free(&again);
    return r;
}

/* --- fixtures --- */

static int64_t new_producer(const char *village)
{
    /* An organisation's INN: 0, a registration date DDMMYYYY, five more digits. */
    char tax[15], name[64], rid[32];
    snprintf(tax, sizeof(tax), "015032019%05u", ++next_tax);
    snprintf(name, sizeof(name), "Cert Test Producer %u", next_tax);
    snprintf(rid, sizeof(rid), "producer-%u", next_tax);
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = name;
    in.tax_id = tax;
    in.territory_code = (char *)village;
    result_t r = call("RegisterProducer", rid, &in.base, &ovop__v1__producer__descriptor);
    if (r.code != 0)
        fail_msg("RegisterProducer: %s", r.rep->status->message);
    int64_t id = ((Ovop__V1__Producer *)r.out)->id;
    result_free(&r);
    return id;
}

static int64_t new_product(int64_t producer)
{
    static unsigned n;
    char name[32];
    snprintf(name, sizeof(name), "Shyrdak %u", ++n);
    Ovop__V1__LocalizedName ln = OVOP__V1__LOCALIZED_NAME__INIT;
    ln.en = name;
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    in.producer_id = producer;
    in.name = &ln;
    in.category = "felt";
    in.hs_code = "570500";
    in.unit = "m2";
    in.capacity_per_month = 40;
    in.price_usd_cents = 8500;
    result_t r = call("CreateProduct", NULL, &in.base, &ovop__v1__product__descriptor);
    if (r.code != 0)
        fail_msg("CreateProduct: %s", r.rep->status->message);
    int64_t id = ((Ovop__V1__Product *)r.out)->id;
    result_free(&r);
    return id;
}

static void set_producer_status(int64_t id, Ovop__V1__ProducerStatus status, const char *reason)
{
    Ovop__V1__SetProducerStatusRequest in = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    in.id = id;
    in.version =
        (int32_t)count("SELECT version FROM registry.producers WHERE id = %lld", (long long)id);
    in.status = status;
    in.reason = (char *)reason;
    result_t r = call("SetProducerStatus", NULL, &in.base, &ovop__v1__producer__descriptor);
    if (r.code != 0)
        fail_msg("SetProducerStatus: %s", r.rep->status->message);
    result_free(&r);
}

static uint32_t producer_stars(int64_t id)
{
    Ovop__V1__GetProducerRequest in = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    in.id = id;
    result_t r = call("GetProducer", NULL, &in.base, &ovop__v1__producer__descriptor);
    assert_int_equal(r.code, 0);
    uint32_t stars = ((Ovop__V1__Producer *)r.out)->stars;
    result_free(&r);
    return stars;
}

static Ovop__V1__SubmitApplicationRequest submit_request(int64_t producer, int64_t product)
{
    Ovop__V1__SubmitApplicationRequest in = OVOP__V1__SUBMIT_APPLICATION_REQUEST__INIT;
    in.producer_id = producer;
    in.product_id = product;
    return in;
}

/* A score request over the default rubric (community, marketing, quality). */
typedef struct score_req {
    Ovop__V1__ScoreApplicationRequest in;
    Ovop__V1__CriterionScore s[4];
    Ovop__V1__CriterionScore *p[4];
} score_req_t;

static void score_request(score_req_t *q, int64_t id, int32_t version, uint32_t community,
                          uint32_t marketing, uint32_t quality)
{
    static const char *const names[] = {"community", "marketing", "quality", "extra"};
    uint32_t points[] = {community, marketing, quality, 0};
    ovop__v1__score_application_request__init(&q->in);
    for (int i = 0; i < 4; i++) {
        ovop__v1__criterion_score__init(&q->s[i]);
        q->s[i].criterion = (char *)names[i];
        q->s[i].points = points[i];
        q->p[i] = &q->s[i];
    }
    q->in.application_id = id;
    q->in.version = version;
    q->in.n_scores = 3;
    q->in.scores = q->p;
    q->in.committee = "Naryn certification committee";
}

static Ovop__V1__DecideApplicationRequest decide_request(int64_t id, int32_t version, bool approve,
                                                         Ovop__V1__ApprovalLevel level,
                                                         const char *reason)
{
    Ovop__V1__DecideApplicationRequest in = OVOP__V1__DECIDE_APPLICATION_REQUEST__INIT;
    in.application_id = id;
    in.version = version;
    in.approve = approve;
    in.level = level;
    in.decided_by = "akim"; /* a forged name: the registry records the principal instead */
    in.reason = (char *)reason;
    return in;
}

static Ovop__V1__Application *submit_ok(int64_t producer, int64_t product)
{
    Ovop__V1__SubmitApplicationRequest in = submit_request(producer, product);
    result_t r = call("SubmitApplication", NULL, &in.base, &ovop__v1__application__descriptor);
    if (r.code != 0)
        fail_msg("SubmitApplication: %s", r.rep->status->message);
    Ovop__V1__Application *a = (Ovop__V1__Application *)r.out;
    r.out = NULL;
    result_free(&r);
    return a;
}

static Ovop__V1__Application *score_ok(int64_t id, int32_t version, uint32_t c, uint32_t m,
                                       uint32_t q)
{
    score_req_t s;
    score_request(&s, id, version, c, m, q);
    result_t r = call("ScoreApplication", NULL, &s.in.base, &ovop__v1__application__descriptor);
    if (r.code != 0)
        fail_msg("ScoreApplication: %s", r.rep->status->message);
    Ovop__V1__Application *a = (Ovop__V1__Application *)r.out;
    r.out = NULL;
    result_free(&r);
    return a;
}

/* Submits, scores and approves at the required level; returns the certificate number
 * (malloc'd). */
static char *certify(int64_t producer, int64_t product, uint32_t c, uint32_t m, uint32_t q)
{
    Ovop__V1__Application *a = submit_ok(producer, product);
    Ovop__V1__Application *s = score_ok(a->id, a->version, c, m, q);
    Ovop__V1__DecideApplicationRequest in =
        decide_request(s->id, s->version, true, s->approval_level, "");
    result_t r = call("DecideApplication", NULL, &in.base, &ovop__v1__application__descriptor);
    if (r.code != 0)
        fail_msg("DecideApplication: %s", r.rep->status->message);
    char *number = xstrdup(((Ovop__V1__Application *)r.out)->certificate_number);
    result_free(&r);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return number;
}

static Ovop__V1__Certificate *get_certificate(const char *number)
{
    Ovop__V1__GetCertificateRequest in = OVOP__V1__GET_CERTIFICATE_REQUEST__INIT;
    in.number = (char *)number;
    result_t r = call("GetCertificate", NULL, &in.base, &ovop__v1__certificate__descriptor);
    if (r.code != 0)
        fail_msg("GetCertificate %s: %s", number, r.rep->status->message);
    Ovop__V1__Certificate *c = (Ovop__V1__Certificate *)r.out;
    r.out = NULL;
    result_free(&r);
    return c;
}

static Ovop__V1__ChangeCertificateRequest change_request(const char *number, int32_t version,
                                                         const char *reason)
{
    Ovop__V1__ChangeCertificateRequest in = OVOP__V1__CHANGE_CERTIFICATE_REQUEST__INIT;
    in.number = (char *)number;
    in.version = version;
    in.reason = (char *)reason;
    return in;
}

/* --- the rubric --- */

typedef struct rubric_req {
    Ovop__V1__SetRubricRequest in;
    Ovop__V1__Rubric rb;
    Ovop__V1__RubricCriterion c[4];
    Ovop__V1__RubricCriterion *cp[4];
    Ovop__V1__StarThreshold t[5];
    Ovop__V1__StarThreshold *tp[5];
} rubric_req_t;

/* The default rubric (community 40, marketing 25, quality 35; 50/60/70/80/90) at version. */
static void rubric_request(rubric_req_t *q, int32_t version)
{
    static const char *const names[] = {"community", "marketing", "quality", "packaging"};
    static const uint32_t max[] = {40, 25, 35, 10};
    ovop__v1__set_rubric_request__init(&q->in);
    ovop__v1__rubric__init(&q->rb);
    for (int i = 0; i < 4; i++) {
        ovop__v1__rubric_criterion__init(&q->c[i]);
        q->c[i].name = (char *)names[i];
        q->c[i].max_points = max[i];
        q->cp[i] = &q->c[i];
    }
    for (int i = 0; i < 5; i++) {
        ovop__v1__star_threshold__init(&q->t[i]);
        q->t[i].stars = (uint32_t)i + 1;
        q->t[i].min_points = 50 + 10 * (uint32_t)i;
        q->tp[i] = &q->t[i];
    }
    q->rb.n_criteria = 3;
    q->rb.criteria = q->cp;
    q->rb.n_thresholds = 5;
    q->rb.thresholds = q->tp;
    q->rb.version = version;
    q->in.rubric = &q->rb;
}

static void test_rubric(void **state)
{
    Ovop__V1__GetRubricRequest g = OVOP__V1__GET_RUBRIC_REQUEST__INIT;
    result_t r = call("GetRubric", NULL, &g.base, &ovop__v1__rubric__descriptor);
    assert_int_equal(r.code, 0);
    Ovop__V1__Rubric *rb = (Ovop__V1__Rubric *)r.out;
    assert_int_equal(rb->n_criteria, 3);
    assert_string_equal(rb->criteria[0]->name, "community");
    assert_int_equal(rb->criteria[0]->max_points, 40);
    assert_string_equal(rb->criteria[1]->name, "marketing");
    assert_int_equal(rb->criteria[1]->max_points, 25);
    assert_string_equal(rb->criteria[2]->name, "quality");
    assert_int_equal(rb->criteria[2]->max_points, 35);
    assert_int_equal(rb->n_thresholds, 5);
    assert_int_equal(rb->thresholds[0]->stars, 1);
    assert_int_equal(rb->thresholds[0]->min_points, 50);
    assert_int_equal(rb->thresholds[4]->min_points, 90);
    int32_t v = rb->version;
    assert_int_equal(v, 1);
    result_free(&r);

    rubric_req_t q;
    /* Thresholds must strictly increase. */
    rubric_request(&q, v);
    q.t[2].min_points = 60;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT,
                   "rubric.thresholds[2].min_points", "above the 60 points of 2 stars");
    /* Five of them, for 1 to 5 stars in order. */
    rubric_request(&q, v);
    q.rb.n_thresholds = 4;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.thresholds",
                   "1, 2, 3, 4 and 5 stars");
    rubric_request(&q, v);
    q.t[3].stars = 5;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.thresholds[3].stars",
                   "must be 4");
    /* 5 stars must be reachable. */
    rubric_request(&q, v);
    q.c[2].max_points = 20;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT,
                   "rubric.thresholds[4].min_points", "at most 85");
    /* Criteria: names, uniqueness, bounds, at least one. */
    rubric_request(&q, v);
    q.c[1].name = "community";
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.criteria[1].name",
                   "listed twice");
    rubric_request(&q, v);
    q.c[1].name = "Marketing!";
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.criteria[1].name",
                   "lowercase");
    rubric_request(&q, v);
    q.c[0].max_points = 0;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.criteria[0].max_points",
                   "1 to 1000");
    rubric_request(&q, v);
    q.rb.n_criteria = 0;
    expect_refused("SetRubric", &q.in.base, OVOP_INVALID_ARGUMENT, "rubric.criteria",
                   "at least one");
    Ovop__V1__SetRubricRequest empty = OVOP__V1__SET_RUBRIC_REQUEST__INIT;
    expect_refused("SetRubric", &empty.base, OVOP_INVALID_ARGUMENT, "rubric", "required");
    /* A stale version. */
    rubric_request(&q, v + 5);
    expect_refused("SetRubric", &q.in.base, OVOP_ABORTED, "rubric.version", "version 1, not 6");

    /* Four criteria; a retry returns the same reply and changes nothing more. */
    rubric_request(&q, v);
    q.rb.n_criteria = 4;
    long ev = events("ovop.registry.rubric.updated");
    r = mutate_ok("SetRubric", "rubric-1", &q.in.base, &ovop__v1__rubric__descriptor);
    assert_int_equal(((Ovop__V1__Rubric *)r.out)->version, v + 1);
    assert_int_equal(((Ovop__V1__Rubric *)r.out)->n_criteria, 4);
    result_free(&r);
    assert_int_equal(events("ovop.registry.rubric.updated"), ev + 1);
    assert_int_equal(count("SELECT version FROM registry.rubric_version"), v + 1);
    assert_int_equal(count("SELECT max_points FROM registry.rubric_criteria WHERE name = "
                           "'packaging' AND ord = 4"),
                     10);
    r = call("GetRubric", NULL, &g.base, &ovop__v1__rubric__descriptor);
    assert_int_equal(((Ovop__V1__Rubric *)r.out)->n_criteria, 4);
    assert_string_equal(((Ovop__V1__Rubric *)r.out)->criteria[3]->name, "packaging");
    result_free(&r);

    /* Back to the default, which the other cases score against. */
    rubric_request(&q, v + 1);
    r = mutate_ok("SetRubric", "rubric-2", &q.in.base, &ovop__v1__rubric__descriptor);
    assert_int_equal(((Ovop__V1__Rubric *)r.out)->version, v + 2);
    result_free(&r);
    assert_int_equal(count("SELECT count(*) FROM registry.rubric_criteria"), 3);
}

/* --- the whole lifecycle --- */

static void test_lifecycle(void **state)
{
    int64_t producer = new_producer(NARYN_VILLAGE);
    int64_t product = new_product(producer);
    char *today = scalar("SELECT current_date::text");
    char *in36 = scalar("SELECT (current_date + interval '36 months')::date::text");

    /* Submit. */
    Ovop__V1__SubmitApplicationRequest sub = submit_request(producer, product);
    long ev = count("SELECT count(*) FROM bus.events");
    result_t r = mutate_ok("SubmitApplication", "life-submit", &sub.base,
                           &ovop__v1__application__descriptor);
    Ovop__V1__Application *a = (Ovop__V1__Application *)r.out;
    assert_true(a->id > 0);
    assert_int_equal(a->producer_id, producer);
    assert_int_equal(a->product_id, product);
    assert_int_equal(a->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SUBMITTED);
    assert_int_equal(a->version, 1);
    assert_int_equal(a->n_scores, 0);
    int64_t app = a->id;
    assert_int_equal(
        count("SELECT count(*) FROM registry.applications WHERE id = %lld", (long long)app), 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - ev, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.application.submitted' AND subject = "
                           "'application/%lld' AND soate = '" NARYN_VILLAGE "' AND hs6 = "
                           "'570500' AND data_schema = 'ovop.v1.Application'",
                           (long long)app),
                     1);
    /* The event's payload is the reply's body. */
    char *body = hex(&r.rep->body);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE subject = 'application/%lld' "
                           "AND data = '%s'::bytea",
                           (long long)app, body),
                     1);
    free(body);
    result_free(&r);

    /* A second open application for the same product. */
    expect_refused("SubmitApplication", &sub.base, OVOP_ALREADY_EXISTS, "product_id",
                   "already has an open application");

    /* Score: 35 + 20 + 30 = 85: 4 stars, approved by the region. */
    score_req_t s;
    score_request(&s, app, 1, 35, 20, 30);
    ev = count("SELECT count(*) FROM bus.events");
    r = mutate_ok("ScoreApplication", "life-score", &s.in.base, &ovop__v1__application__descriptor);
    a = (Ovop__V1__Application *)r.out;
    assert_int_equal(a->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SCORED);
    assert_int_equal(a->total, 85);
    assert_int_equal(a->stars, 4);
    assert_int_equal(a->approval_level, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION);
    assert_int_equal(a->version, 2);
    assert_int_equal(a->n_scores, 3);
    assert_string_equal(a->scores[1]->criterion, "marketing");
    assert_int_equal(a->scores[1]->points, 20);
    assert_string_equal(a->committee, "Naryn certification committee");
    result_free(&r);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - ev, 1);
    assert_int_equal(events("ovop.registry.application.scored"), 1);
    assert_int_equal(
        count("SELECT total FROM registry.applications WHERE id = %lld", (long long)app), 85);

    /* Re-scoring a scored application is allowed (version 2 -> 3): 30 + 20 + 30 = 80. */
    score_request(&s, app, 2, 30, 20, 30);
    r = mutate_ok("ScoreApplication", "life-rescore", &s.in.base,
                  &ovop__v1__application__descriptor);
    assert_int_equal(((Ovop__V1__Application *)r.out)->total, 80);
    assert_int_equal(((Ovop__V1__Application *)r.out)->stars, 4);
    assert_int_equal(((Ovop__V1__Application *)r.out)->version, 3);
    result_free(&r);

    /* The wrong level; a stale version. */
    Ovop__V1__DecideApplicationRequest d =
        decide_request(app, 3, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT, "");
    expect_refused("DecideApplication", &d.base, OVOP_PERMISSION_DENIED, "level",
                   "must be approved at region level, not district");
    d.level = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL;
    expect_refused("DecideApplication", &d.base, OVOP_PERMISSION_DENIED, "level", "region level");
    d.level = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION;
    d.version = 2;
    expect_refused("DecideApplication", &d.base, OVOP_ABORTED, "version", "at version 3, not 2");

    /* Approve: the certificate is issued in the same transaction. */
    d.version = 3;
    long certs = count("SELECT count(*) FROM registry.certificates");
    ev = count("SELECT count(*) FROM bus.events");
    r = mutate_ok("DecideApplication", "life-approve", &d.base, &ovop__v1__application__descriptor);
    a = (Ovop__V1__Application *)r.out;
    assert_int_equal(a->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_APPROVED);
    assert_int_equal(a->version, 4);
    assert_string_equal(a->decided_by, IDENT_ADMIN);
    assert_int_equal(count("SELECT count(*) FROM registry.applications WHERE id = %lld "
                           "AND decided_by = '" IDENT_ADMIN "'",
                           (long long)a->id),
                     1);
    char *number = xstrdup(a->certificate_number);
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "OVOP-%.4s-", today);
    assert_int_equal(strlen(number), 16);
    assert_memory_equal(number, prefix, 10);
    assert_true(ovop_all_digits(number + 10, 6));
    result_free(&r);
    assert_int_equal(count("SELECT count(*) FROM registry.certificates") - certs, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - ev, 2);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.application.approved' AND subject = "
                           "'application/%lld'",
                           (long long)app),
                     1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.certificate.issued' AND subject = 'certificate/%s' "
                           "AND data_schema = 'ovop.v1.Certificate' AND soate = "
                           "'" NARYN_VILLAGE "'",
                           number),
                     1);
    /* Once decided, no further decision or scoring. */
    d.version = 4;
    expect_refused("DecideApplication", &d.base, OVOP_FAILED_PRECONDITION, "application_id",
                   "already approved");
    score_request(&s, app, 4, 30, 20, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_FAILED_PRECONDITION, "application_id",
                   "is approved");
    /* A new application for the product is possible again. */

    /* GetApplication and GetCertificate read back what the replies said. */
    Ovop__V1__GetApplicationRequest ga = OVOP__V1__GET_APPLICATION_REQUEST__INIT;
    ga.id = app;
    r = call("GetApplication", NULL, &ga.base, &ovop__v1__application__descriptor);
    assert_int_equal(r.code, 0);
    a = (Ovop__V1__Application *)r.out;
    assert_int_equal(a->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_APPROVED);
    assert_string_equal(a->certificate_number, number);
    assert_int_equal(a->total, 80);
    assert_int_equal(a->n_scores, 3);
    assert_string_equal(a->scores[2]->criterion, "quality");
    assert_int_equal(a->scores[2]->points, 30);
    assert_int_equal(a->approval_level, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION);
    assert_string_equal(a->committee, "Naryn certification committee");
    assert_int_equal(a->version, 4);
    result_free(&r);
    ga.id = 987654321;
    r = call("GetApplication", NULL, &ga.base, NULL);
    assert_int_equal(r.code, OVOP_NOT_FOUND);
    result_free(&r);
    ga.id = 0;
    r = call("GetApplication", NULL, &ga.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "id", "positive");
    result_free(&r);

    Ovop__V1__Certificate *c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->stars, 4);
    assert_int_equal(c->producer_id, producer);
    assert_int_equal(c->product_id, product);
    assert_int_equal(c->application_id, app);
    assert_string_equal(c->issued_on, today);
    assert_string_equal(c->expires_on, in36);
    assert_string_equal(c->renewed_from, "");
    assert_int_equal(c->version, 1);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(producer_stars(producer), 4);

    /* Renew: a successor issued today; the old certificate stays, as history. */
    Ovop__V1__ChangeCertificateRequest ch = change_request(number, 1, "");
    ev = count("SELECT count(*) FROM bus.events");
    r = mutate_ok("RenewCertificate", "life-renew", &ch.base, &ovop__v1__certificate__descriptor);
    c = (Ovop__V1__Certificate *)r.out;
    char *renewed = xstrdup(c->number);
    assert_string_not_equal(renewed, number);
    assert_string_equal(c->renewed_from, number);
    assert_string_equal(c->issued_on, today);
    assert_string_equal(c->expires_on, in36);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->stars, 4);
    assert_int_equal(c->application_id, app);
    assert_int_equal(c->version, 1);
    result_free(&r);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - ev, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.certificate.renewed' AND subject = 'certificate/%s'",
                           renewed),
                     1);
    c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->version, 1);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    /* Renewed once: renew the successor instead. */
    expect_refused("RenewCertificate", &ch.base, OVOP_ALREADY_EXISTS, "number", renewed);

    /* Suspend needs a reason. */
    ch = change_request(renewed, 1, "");
    expect_refused("SuspendCertificate", &ch.base, OVOP_INVALID_ARGUMENT, "reason",
                   "required to suspend");
    ch.reason = "labelling audit pending";
    r = mutate_ok("SuspendCertificate", "life-suspend", &ch.base,
                  &ovop__v1__certificate__descriptor);
    c = (Ovop__V1__Certificate *)r.out;
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED);
    assert_string_equal(c->reason, "labelling audit pending");
    assert_int_equal(c->version, 2);
    result_free(&r);
    assert_int_equal(events("ovop.registry.certificate.suspended"), 1);
    c = get_certificate(renewed);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    /* Suspended twice; a suspended certificate is not renewed. */
    ch.version = 2;
    expect_refused("SuspendCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "is suspended");
    expect_refused("RenewCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "only an active or expired certificate");
    /* Stale. */
    ch.version = 1;
    expect_refused("ReinstateCertificate", &ch.base, OVOP_ABORTED, "version",
                   "at version 2, not 1");

    /* Reinstate. */
    ch = change_request(renewed, 2, "");
    r = mutate_ok("ReinstateCertificate", "life-reinstate", &ch.base,
                  &ovop__v1__certificate__descriptor);
    c = (Ovop__V1__Certificate *)r.out;
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->version, 3);
    result_free(&r);
    assert_int_equal(events("ovop.registry.certificate.reinstated"), 1);
    ch.version = 3;
    expect_refused("ReinstateCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "only a suspended certificate");

    /* Revoke needs a reason; it is final. */
    expect_refused("RevokeCertificate", &ch.base, OVOP_INVALID_ARGUMENT, "reason",
                   "required to revoke");
    ch.reason = "counterfeit labels found";
    r = mutate_ok("RevokeCertificate", "life-revoke", &ch.base, &ovop__v1__certificate__descriptor);
    c = (Ovop__V1__Certificate *)r.out;
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_REVOKED);
    assert_string_equal(c->reason, "counterfeit labels found");
    assert_int_equal(c->version, 4);
    result_free(&r);
    assert_int_equal(events("ovop.registry.certificate.revoked"), 1);
    ch = change_request(renewed, 4, "");
    expect_refused("ReinstateCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "revocation is final");
    ch.reason = "again";
    expect_refused("RevokeCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "revocation is final");
    expect_refused("SuspendCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "revocation is final");
    expect_refused("RenewCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number", "is revoked");
    /* The first certificate still counts. */
    assert_int_equal(producer_stars(producer), 4);

    /* Unknown and malformed numbers. */
    Ovop__V1__GetCertificateRequest gc = OVOP__V1__GET_CERTIFICATE_REQUEST__INIT;
    gc.number = "OVOP-2020-999999";
    r = call("GetCertificate", NULL, &gc.base, NULL);
    assert_int_equal(r.code, OVOP_NOT_FOUND);
    assert_says(&r, NULL, "OVOP-2020-999999");
    result_free(&r);
    gc.number = "OVOP-2020-12";
    r = call("GetCertificate", NULL, &gc.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "number", "like OVOP-2026-000123");
    result_free(&r);
    ch = change_request("OVOP-2020-999999", 1, "x");
    expect_refused("SuspendCertificate", &ch.base, OVOP_NOT_FOUND, NULL, "no certificate");

    free(renewed);
    free(number);
    free(today);
    free(in36);
}

/* --- refusals --- */

static void test_submit_refusals(void **state)
{
    int64_t producer = new_producer(NARYN_VILLAGE);
    int64_t product = new_product(producer);
    int64_t other = new_producer(BATKEN_VILLAGE);
    int64_t other_product = new_product(other);

    Ovop__V1__SubmitApplicationRequest in = submit_request(0, product);
    expect_refused("SubmitApplication", &in.base, OVOP_INVALID_ARGUMENT, "producer_id", "positive");
    in = submit_request(producer, -3);
    expect_refused("SubmitApplication", &in.base, OVOP_INVALID_ARGUMENT, "product_id", "positive");
    in = submit_request(987654321, product);
    expect_refused("SubmitApplication", &in.base, OVOP_NOT_FOUND, NULL, "no producer");
    in = submit_request(producer, 987654321);
    expect_refused("SubmitApplication", &in.base, OVOP_NOT_FOUND, NULL, "no product");
    in = submit_request(producer, other_product);
    expect_refused("SubmitApplication", &in.base, OVOP_INVALID_ARGUMENT, "product_id",
                   "belongs to producer");

    /* Certifying a suspended or closed producer. */
    set_producer_status(producer, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED,
                        "unpaid fees");
    in = submit_request(producer, product);
    expect_refused("SubmitApplication", &in.base, OVOP_FAILED_PRECONDITION, "producer_id",
                   "is suspended");
    set_producer_status(producer, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_CLOSED, "closed");
    expect_refused("SubmitApplication", &in.base, OVOP_FAILED_PRECONDITION, "producer_id",
                   "is closed");

    /* Concurrent submissions for one product: exactly one is accepted. */
    Ovop__V1__Application *a = submit_ok(other, other_product);
    assert_int_equal(a->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SUBMITTED);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.applications WHERE product_id = %lld",
                           (long long)other_product),
                     1);
}

typedef struct racer {
    pthread_t thread;
    int64_t producer, product;
    int code;
} racer_t;

static void *race_submit(void *arg)
{
    racer_t *r = arg;
    ovop_client_t *c;
    ovop_client_options_t o = {
        .brokers = E.endpoint, .timeout_ms = 5000, .retries = 1, .security = &E.admin};
    if (ovop_client_new(&c, NULL, &o) < 0)
        return NULL;
    Ovop__V1__SubmitApplicationRequest in = submit_request(r->producer, r->product);
    Ovop__V1__Reply *rep = NULL;
    r->code = -1;
    if (ovop_client_call(c, "ovop.registry", "SubmitApplication", NULL, &in.base, NULL, &rep,
                         NULL) == 0) {
        r->code = rep->status ? (int)rep->status->code : 0;
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    ovop_client_destroy(&c);
    return NULL;
}

static void test_concurrent_submissions(void **state)
{
    int64_t producer = new_producer(BATKEN_VILLAGE);
    int64_t product = new_product(producer);
    racer_t r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (racer_t){.producer = producer, .product = product};
        pthread_create(&r[i].thread, NULL, race_submit, &r[i]);
    }
    int ok = 0, exists = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(r[i].thread, NULL);
        ok += r[i].code == OVOP_OK;
        exists += r[i].code == OVOP_ALREADY_EXISTS;
    }
    assert_int_equal(ok, 1);
    assert_int_equal(exists, 7);
    assert_int_equal(count("SELECT count(*) FROM registry.applications WHERE product_id = %lld",
                           (long long)product),
                     1);
    assert_int_equal(count("SELECT count(*) FROM bus.events e JOIN registry.applications a ON "
                           "e.subject = 'application/' || a.id WHERE a.product_id = %lld",
                           (long long)product),
                     1);
}

static void test_score_refusals(void **state)
{
    int64_t producer = new_producer(NARYN_VILLAGE);
    int64_t product = new_product(producer);
    Ovop__V1__Application *a = submit_ok(producer, product);
    score_req_t s;

    /* Above a criterion's maximum: the field and the maximum are named. */
    score_request(&s, a->id, 1, 35, 26, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores[1].points",
                   "maximum of 25");
    score_request(&s, a->id, 1, 41, 25, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores[0].points",
                   "maximum of 40");
    /* A missing criterion. */
    score_request(&s, a->id, 1, 35, 20, 30);
    s.in.n_scores = 2;
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores",
                   "missing a score for quality");
    /* An unknown criterion, named with the rubric's. */
    score_request(&s, a->id, 1, 35, 20, 30);
    s.in.n_scores = 4;
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores[3].criterion",
                   "community, marketing, quality");
    /* A criterion twice. */
    score_request(&s, a->id, 1, 35, 20, 30);
    s.s[2].criterion = "marketing";
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores[2].criterion",
                   "scored twice");
    /* No scores; bad ids and versions. */
    score_request(&s, a->id, 1, 35, 20, 30);
    s.in.n_scores = 0;
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "scores", "required");
    score_request(&s, a->id, 0, 35, 20, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_INVALID_ARGUMENT, "version",
                   "the version you read");
    score_request(&s, 987654321, 1, 35, 20, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_NOT_FOUND, NULL, "no application");
    score_request(&s, a->id, 7, 35, 20, 30);
    expect_refused("ScoreApplication", &s.in.base, OVOP_ABORTED, "version", "at version 1, not 7");

    /* Below every threshold: 0 stars, no level; approving is refused, rejecting needs a
     * reason. */
    Ovop__V1__Application *low = score_ok(a->id, 1, 20, 10, 15);
    assert_int_equal(low->total, 45);
    assert_int_equal(low->stars, 0);
    assert_int_equal(low->approval_level, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED);
    Ovop__V1__DecideApplicationRequest d =
        decide_request(a->id, 2, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT, "");
    expect_refused("DecideApplication", &d.base, OVOP_FAILED_PRECONDITION, "application_id",
                   "below every star threshold");
    d.level = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED;
    expect_refused("DecideApplication", &d.base, OVOP_INVALID_ARGUMENT, "level",
                   "required when approving");
    d = decide_request(a->id, 2, false, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED, "");
    expect_refused("DecideApplication", &d.base, OVOP_INVALID_ARGUMENT, "reason",
                   "required when rejecting");
    d.reason = "community involvement not shown";
    long ev = events("ovop.registry.application.rejected");
    result_t r =
        mutate_ok("DecideApplication", "reject-1", &d.base, &ovop__v1__application__descriptor);
    Ovop__V1__Application *rej = (Ovop__V1__Application *)r.out;
    assert_int_equal(rej->status, OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_REJECTED);
    assert_string_equal(rej->reason, "community involvement not shown");
    assert_string_equal(rej->certificate_number, "");
    result_free(&r);
    assert_int_equal(events("ovop.registry.application.rejected"), ev + 1);
    assert_int_equal(count("SELECT count(*) FROM registry.certificates WHERE product_id = %lld",
                           (long long)product),
                     0);
    protobuf_c_message_free_unpacked(&low->base, NULL);
    protobuf_c_message_free_unpacked(&a->base, NULL);

    /* The product may apply again; unscored, it can be rejected but not approved. */
    a = submit_ok(producer, product);
    d = decide_request(a->id, 1, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT, "");
    expect_refused("DecideApplication", &d.base, OVOP_FAILED_PRECONDITION, "application_id",
                   "score it before approving");

    /* 5 stars need the national level; 3 the district's. */
    Ovop__V1__Application *top = score_ok(a->id, 1, 38, 24, 33);
    assert_int_equal(top->stars, 5);
    assert_int_equal(top->approval_level, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL);
    d = decide_request(a->id, 2, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION, "");
    expect_refused("DecideApplication", &d.base, OVOP_PERMISSION_DENIED, "level",
                   "must be approved at national level, not region");
    Ovop__V1__Application *mid = score_ok(a->id, 2, 30, 15, 25);
    assert_int_equal(mid->total, 70);
    assert_int_equal(mid->stars, 3);
    assert_int_equal(mid->approval_level, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT);

    /* The producer suspended between scoring and approval. */
    set_producer_status(producer, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED,
                        "inspection");
    d = decide_request(a->id, 3, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT, "");
    expect_refused("DecideApplication", &d.base, OVOP_FAILED_PRECONDITION, NULL, "is suspended");
    set_producer_status(producer, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE, "");
    r = call("DecideApplication", NULL, &d.base, &ovop__v1__application__descriptor);
    assert_int_equal(r.code, 0);
    assert_int_equal(((Ovop__V1__Application *)r.out)->stars, 3);
    result_free(&r);
    assert_int_equal(producer_stars(producer), 3);
    protobuf_c_message_free_unpacked(&top->base, NULL);
    protobuf_c_message_free_unpacked(&mid->base, NULL);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

/* --- expiry, read from the dates --- */

static void test_expiry(void **state)
{
    int64_t producer = new_producer(BATKEN_VILLAGE);
    int64_t product = new_product(producer);
    char *number = certify(producer, product, 40, 25, 26); /* 91: 5 stars */
    assert_int_equal(producer_stars(producer), 5);

    /* Issued 40 months ago, expired 4 months ago, untouched since. */
    free(scalar("UPDATE registry.certificates SET issued_on = current_date - interval "
                "'40 months', expires_on = current_date - interval '4 months' WHERE number = "
                "'%s' RETURNING 1",
                number));
    long ev = count("SELECT count(*) FROM bus.events");
    Ovop__V1__Certificate *c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(producer_stars(producer), 0);
    char *stored = scalar("SELECT status FROM registry.certificates WHERE number = '%s'", number);
    assert_string_equal(stored, "active");
    free(stored);

    /* The filter follows the dates. */
    Ovop__V1__ListCertificatesRequest l = OVOP__V1__LIST_CERTIFICATES_REQUEST__INIT;
    l.producer_id = producer;
    l.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED;
    result_t r =
        call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(r.code, 0);
    Ovop__V1__ListCertificatesResponse *resp = (Ovop__V1__ListCertificatesResponse *)r.out;
    assert_int_equal(resp->n_certificates, 1);
    assert_string_equal(resp->certificates[0]->number, number);
    assert_int_equal(resp->certificates[0]->status,
                     OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED);
    result_free(&r);
    l.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 0);
    result_free(&r);

    /* The last day of validity is the day before the expiry date. */
    free(scalar("UPDATE registry.certificates SET expires_on = current_date WHERE number = '%s' "
                "RETURNING 1",
                number));
    c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(producer_stars(producer), 0);
    free(scalar("UPDATE registry.certificates SET expires_on = current_date + 1 WHERE number = "
                "'%s' RETURNING 1",
                number));
    c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(producer_stars(producer), 5);
    free(scalar("UPDATE registry.certificates SET expires_on = current_date - interval '4 "
                "months' WHERE number = '%s' RETURNING 1",
                number));
    /* Reading wrote nothing. */
    assert_int_equal(count("SELECT count(*) FROM bus.events"), ev);

    /* An expired certificate is not suspended, but it is renewed. */
    Ovop__V1__ChangeCertificateRequest ch = change_request(number, 1, "audit");
    expect_refused("SuspendCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "is expired");
    ch.reason = "";
    r = mutate_ok("RenewCertificate", "renew-expired", &ch.base,
                  &ovop__v1__certificate__descriptor);
    c = (Ovop__V1__Certificate *)r.out;
    char *renewed = xstrdup(c->number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->stars, 5);
    assert_string_equal(c->renewed_from, number);
    result_free(&r);
    assert_int_equal(producer_stars(producer), 5);
    c = get_certificate(number);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED);
    protobuf_c_message_free_unpacked(&c->base, NULL);

    /* A certificate that expires while suspended cannot be reinstated. */
    ch = change_request(renewed, 1, "inspection");
    r = call("SuspendCertificate", NULL, &ch.base, &ovop__v1__certificate__descriptor);
    assert_int_equal(r.code, 0);
    result_free(&r);
    free(scalar("UPDATE registry.certificates SET issued_on = current_date - interval "
                "'37 months', expires_on = current_date - interval '1 month' WHERE number = "
                "'%s' RETURNING 1",
                renewed));
    ch = change_request(renewed, 2, "");
    expect_refused("ReinstateCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "expired on");
    c = get_certificate(renewed);
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    assert_int_equal(producer_stars(producer), 0);

    /* Renewal needs an active producer. */
    int64_t p2 = new_producer(BATKEN_VILLAGE);
    char *n2 = certify(p2, new_product(p2), 30, 20, 20); /* 70: 3 stars */
    set_producer_status(p2, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED, "fraud probe");
    ch = change_request(n2, 1, "");
    expect_refused("RenewCertificate", &ch.base, OVOP_FAILED_PRECONDITION, "number",
                   "is suspended");
    free(n2);
    free(renewed);
    free(number);
}

/* --- guards that a race or a clock would trip, called in SQL directly --- */

static void test_sql_guards(void **state)
{
    int64_t producer = new_producer(NARYN_VILLAGE);
    char *number = certify(producer, new_product(producer), 30, 20, 20);
    Ovop__V1__Application *a = submit_ok(producer, new_product(producer));
    char *before = state_signature();

    /* A "today" two days away from the database's is refused, whatever the caller says. */
    char *v = scalar("SELECT outcome || ': ' || message FROM registry.renew_certificate("
                     "'ovop.registry', 'guard-1', 'RenewCertificate', 'fp', '\\x00', '%s', 1, "
                     "'OVOP-2026-999999', current_date - 2, 0, gen_random_uuid(), '\\x00')",
                     number);
    if (!strstr(v, "precondition: the registry service dated the change"))
        fail_msg("renewal dated two days ago: %s", v);
    free(v);
    v = scalar("SELECT outcome FROM registry.renew_certificate('ovop.registry', 'guard-2', "
               "'RenewCertificate', 'fp', '\\x00', '%s', 1, 'OVOP-2026-999998', "
               "current_date + 3, 0, gen_random_uuid(), '\\x00')",
               number);
    assert_string_equal(v, "precondition");
    free(v);

    /* Scores computed against a rubric that changed meanwhile are refused. */
    v = scalar("SELECT outcome || ' ' || field || ': ' || message FROM "
               "registry.score_application('ovop.registry', 'guard-3', 'ScoreApplication', "
               "'fp', '\\x00', %lld, 1, (SELECT version - 1 FROM registry.rubric_version), "
               "'[]', 0, 0, '', '', 0, gen_random_uuid(), '\\x00')",
               (long long)a->id);
    if (!strstr(v, "stale scores: the rubric changed"))
        fail_msg("scoring against an old rubric: %s", v);
    free(v);

    char *after = state_signature();
    assert_string_equal(before, after);
    free(before);
    free(after);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    free(number);
}

/* --- listing --- */

static void test_list_certificates(void **state)
{
    int64_t p1 = new_producer(TALAS_VILLAGE);
    int64_t p2 = new_producer(TALAS_VILLAGE);
    char *n[4];
    n[0] = certify(p1, new_product(p1), 30, 20, 20);
    n[1] = certify(p1, new_product(p1), 35, 20, 30);
    n[2] = certify(p2, new_product(p2), 40, 25, 30);
    n[3] = certify(p2, new_product(p2), 30, 15, 25);
    Ovop__V1__ChangeCertificateRequest ch = change_request(n[3], 1, "audit");
    result_t r = call("SuspendCertificate", NULL, &ch.base, &ovop__v1__certificate__descriptor);
    assert_int_equal(r.code, 0);
    result_free(&r);

    Ovop__V1__ListCertificatesRequest l = OVOP__V1__LIST_CERTIFICATES_REQUEST__INIT;
    /* By region, in pages of one: each of the four once, in number order. */
    l.territory_prefix = "41707000000000";
    l.page_size = 1;
    char token[64] = "";
    int seen = 0;
    do {
        l.page_token = token;
        r = call("ListCertificates", NULL, &l.base,
                 &ovop__v1__list_certificates_response__descriptor);
        assert_int_equal(r.code, 0);
        Ovop__V1__ListCertificatesResponse *resp = (Ovop__V1__ListCertificatesResponse *)r.out;
        assert_true(resp->n_certificates <= 1);
        if (resp->n_certificates == 1) {
            assert_true(seen < 4);
            assert_string_equal(resp->certificates[0]->number, n[seen]);
            seen++;
        }
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        result_free(&r);
    } while (token[0]);
    assert_int_equal(seen, 4);

    /* The district's prefix covers them too; another region's does not. */
    l.page_size = 0;
    l.page_token = "";
    l.territory_prefix = "41707232000000";
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 4);
    result_free(&r);
    l.territory_prefix = "41702000000000";
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 0);
    result_free(&r);

    /* By producer and status. */
    l.territory_prefix = "41707000000000";
    l.producer_id = p2;
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 2);
    result_free(&r);
    l.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED;
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 1);
    assert_string_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->certificates[0]->number,
                        n[3]);
    result_free(&r);
    l.producer_id = 0;
    l.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    r = call("ListCertificates", NULL, &l.base, &ovop__v1__list_certificates_response__descriptor);
    assert_int_equal(((Ovop__V1__ListCertificatesResponse *)r.out)->n_certificates, 3);
    result_free(&r);

    /* Bad input. */
    Ovop__V1__ListCertificatesRequest bad = OVOP__V1__LIST_CERTIFICATES_REQUEST__INIT;
    bad.page_token = "c1.' OR 1=1 --";
    r = call("ListCertificates", NULL, &bad.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "page_token", "not a token");
    result_free(&r);
    bad.page_token = "";
    bad.territory_prefix = "4170";
    r = call("ListCertificates", NULL, &bad.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "territory_prefix", "14 digits");
    result_free(&r);
    bad.territory_prefix = "";
    bad.status = 9;
    r = call("ListCertificates", NULL, &bad.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "status", "unknown");
    result_free(&r);
    bad.status = 0;
    bad.page_size = 5000;
    r = call("ListCertificates", NULL, &bad.base, NULL);
    assert_int_equal(r.code, OVOP_INVALID_ARGUMENT);
    assert_says(&r, "page_size", "at most 1000");
    result_free(&r);
    for (int i = 0; i < 4; i++)
        free(n[i]);
}

/* --- ovopctl --- */

/* Runs ovopctl with args; returns its exit code; output in <tmpdir>/<log>.log. */
static int ovopctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 20000);
}

static void expect_output(const char *log, const char *fragment)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    if (!strstr(buf, fragment))
        fail_msg("%s.log lacks \"%s\":\n%s", log, fragment, buf);
    free(buf);
}

static void test_ovopctl(void **state)
{
    int64_t producer = new_producer(NARYN_VILLAGE);
    int64_t product = new_product(producer);
    char p_s[24], pr_s[24], app_s[24];
    snprintf(p_s, sizeof(p_s), "%lld", (long long)producer);
    snprintf(pr_s, sizeof(pr_s), "%lld", (long long)product);

    const char *a1[] = {"rubric", "get", NULL};
    assert_int_equal(ovopctl("ctl-rubric", a1), 0);
    expect_output("ctl-rubric", "marketing");
    expect_output("ctl-rubric", "(total)                  100");

    const char *a2[] = {"application", "submit", "--producer", p_s, "--product", pr_s, NULL};
    assert_int_equal(ovopctl("ctl-submit", a2), 0);
    expect_output("ctl-submit", "status         submitted");
    char *app =
        scalar("SELECT id FROM registry.applications WHERE product_id = %lld", (long long)product);
    snprintf(app_s, sizeof(app_s), "%s", app);
    free(app);

    /* Usage errors exit 2 before any call. */
    const char *u1[] = {"application", "score", "--version", "1", NULL};
    assert_int_equal(ovopctl("ctl-usage-1", u1), 2);
    const char *u2[] = {"application", "score",   app_s,       "--version",
                        "1",           "--score", "community", NULL};
    assert_int_equal(ovopctl("ctl-usage-2", u2), 2);
    const char *u3[] = {"cert", "list", "--status", "lost", NULL};
    assert_int_equal(ovopctl("ctl-usage-3", u3), 2);
    const char *u4[] = {"application", "decide", app_s, "--version", "2", NULL};
    assert_int_equal(ovopctl("ctl-usage-4", u4), 2);

    /* Above a maximum: INVALID_ARGUMENT (exit 13) naming the field. */
    const char *a3[] = {
        "application",  "score",   app_s,          "--version", "1",          "--score",
        "community=38", "--score", "marketing=26", "--score",   "quality=33", NULL};
    assert_int_equal(ovopctl("ctl-score-max", a3), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-score-max", "scores[1].points: 26 is above the maximum of 25");

    const char *a4[] = {"application", "score",      app_s,          "--version",
                        "1",           "--score",    "community=38", "--score=marketing=24",
                        "--score",     "quality=33", "--committee",  "Naryn",
                        NULL};
    assert_int_equal(ovopctl("ctl-score", a4), 0);
    expect_output("ctl-score", "total          95 points");
    expect_output("ctl-score", "approved by    national level");

    const char *a5[] = {"application", "decide",  app_s,    "--version", "2",
                        "--approve",   "--level", "region", NULL};
    assert_int_equal(ovopctl("ctl-decide-denied", a5), 10 + OVOP_PERMISSION_DENIED);
    expect_output("ctl-decide-denied", "must be approved at national level");
    const char *a6[] = {"application", "decide",  app_s,      "--version", "2",
                        "--approve",   "--level", "national", NULL};
    assert_int_equal(ovopctl("ctl-decide", a6), 0);
    expect_output("ctl-decide", "status         approved");
    char *number =
        scalar("SELECT certificate_number FROM registry.applications WHERE id = %s", app_s);
    expect_output("ctl-decide", number);

    const char *a7[] = {"application", "get", app_s, NULL};
    assert_int_equal(ovopctl("ctl-app-get", a7), 0);
    expect_output("ctl-app-get", "certificate    OVOP-");

    const char *a8[] = {"cert", "get", number, NULL};
    assert_int_equal(ovopctl("ctl-cert-get", a8), 0);
    expect_output("ctl-cert-get", "status         active");
    expect_output("ctl-cert-get", "stars          5");

    const char *a9[] = {"cert", "suspend", number, "--version", "1", NULL};
    assert_int_equal(ovopctl("ctl-suspend-noreason", a9), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-suspend-noreason", "reason: is required to suspend");
    const char *a10[] = {"cert", "suspend", number, "--version", "1", "--reason", "audit", NULL};
    assert_int_equal(ovopctl("ctl-suspend", a10), 0);
    expect_output("ctl-suspend", "status         suspended");

    const char *a11[] = {"cert", "list", "--producer", p_s, "--status", "suspended", NULL};
    assert_int_equal(ovopctl("ctl-list", a11), 0);
    expect_output("ctl-list", number);
    expect_output("ctl-list", "(1 certificate)");
    const char *a12[] = {"--json", "cert", "list", "--territory", "41704000000000", NULL};
    assert_int_equal(ovopctl("ctl-list-json", a12), 0);
    expect_output("ctl-list-json", "\"certificates\"");

    const char *a13[] = {"cert", "revoke", number, "--version", "2", "--reason", "fraud", NULL};
    assert_int_equal(ovopctl("ctl-revoke", a13), 0);
    const char *a14[] = {"cert", "reinstate", number, "--version", "3", NULL};
    assert_int_equal(ovopctl("ctl-reinstate-revoked", a14), 10 + OVOP_FAILED_PRECONDITION);
    expect_output("ctl-reinstate-revoked", "revocation is final");
    const char *a15[] = {"cert", "renew", number, "--version", "3", NULL};
    assert_int_equal(ovopctl("ctl-renew-revoked", a15), 10 + OVOP_FAILED_PRECONDITION);

    /* rubric set, then back to the default. */
    char version[16];
    snprintf(version, sizeof(version), "%ld", count("SELECT version FROM registry.rubric_version"));
    const char *a16[] = {
        "rubric",      "set",        "--version", version,          "--criterion", "community=50",
        "--criterion", "quality=50", "--stars",   "50,60,70,80,90", NULL};
    assert_int_equal(ovopctl("ctl-rubric-set", a16), 0);
    expect_output("ctl-rubric-set", "quality");
    assert_int_equal(count("SELECT count(*) FROM registry.rubric_criteria"), 2);
    const char *a17[] = {
        "rubric",      "set",        "--version", version,          "--criterion", "community=50",
        "--criterion", "quality=50", "--stars",   "50,60,70,80,90", NULL};
    assert_int_equal(ovopctl("ctl-rubric-stale", a17), 10 + OVOP_ABORTED);
    snprintf(version, sizeof(version), "%ld", count("SELECT version FROM registry.rubric_version"));
    const char *a18[] = {"rubric",      "set",          "--version",   version,
                         "--criterion", "community=40", "--criterion", "marketing=25",
                         "--criterion", "quality=35",   "--stars",     "50,60,70,80,90",
                         NULL};
    assert_int_equal(ovopctl("ctl-rubric-reset", a18), 0);
    assert_int_equal(count("SELECT count(*) FROM registry.rubric_criteria"), 3);
    free(number);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rubric),          cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_submit_refusals), cmocka_unit_test(test_concurrent_submissions),
        cmocka_unit_test(test_score_refusals),  cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_sql_guards),      cmocka_unit_test(test_list_certificates),
        cmocka_unit_test(test_ovopctl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
