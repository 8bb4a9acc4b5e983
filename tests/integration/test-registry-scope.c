/* The registry's domain rules of identity through the real broker and registryd, against
 * PostgreSQL, each call made with the keys of the principal it is about: a district officer
 * (IDENT_DISTRICT, Batken District) and a regional officer (IDENT_REGION, Batken Region)
 * change only what lies inside their territory, by the tree of territories and not by code
 * prefixes (the database's triggers refuse everything else, OUT_OF_SCOPE); certification
 * decisions and renewals need the role of their level (LEVEL_NOT_ALLOWED); a decision records
 * the authenticated principal, not the name a client wrote; a principal without
 * registry.editor is refused by the permission table (MISSING_ROLE). Every refusal is made
 * twice under one request id and must leave every registry row, bus.events and
 * bus.idempotency as they were. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define BATKEN_DISTRICT  IDENT_DISTRICT_SOATE
#define KADAMJAI         "41705258000000" /* Kadamjai District, Batken Region */
#define BATKEN_VILLAGE   "41705214000101" /* Kara-Bak, Batken District */
#define KADAMJAI_VILLAGE "41705258000101" /* in Kadamjai District */
#define NARYN_VILLAGE    "41704235000101" /* Kochkor District, Naryn Region */
/* Codes that read one district and lie in the other (a seeded history: the API would give a
 * moved village a new code): the scope follows the parents of today's tree. */
#define LEFT_VILLAGE    "41705214000201" /* under Batken District until 2020, Kadamjai since */
#define ADOPTED_VILLAGE "41705258000201" /* under Batken District */
/* A principal holding national roles but scoped to Batken District: its roles let it call
 * the territory and rubric methods, its territory bounds what those may change. */
#define SCOPED_ADMIN "op-batken-admin"

static svcenv_t E;
static unsigned next_tax; /* makes each producer's INN unique */

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from, "
    "valid_to, version) VALUES "
    "('" BATKEN_VILLAGE "', 'village', '" BATKEN_DISTRICT "', 'Кара-Бак', 'Kara-Bak', "
    "'2000-01-01', NULL, 1), "
    "('" KADAMJAI_VILLAGE "', 'village', '" KADAMJAI "', 'Пульгон', 'Pulgon', '2000-01-01', "
    "NULL, 1), "
    "('" NARYN_VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01', "
    "NULL, 1), "
    "('" LEFT_VILLAGE "', 'village', '" BATKEN_DISTRICT "', 'Ушлый', 'Left', '2000-01-01', "
    "'2020-01-01', 1), "
    "('" LEFT_VILLAGE "', 'village', '" KADAMJAI "', 'Ушлый', 'Left', '2020-01-01', NULL, 2), "
    "('" ADOPTED_VILLAGE "', 'village', '" BATKEN_DISTRICT "', 'Принятый', 'Adopted', "
    "'2000-01-01', NULL, 1) RETURNING 1",
    NULL};

/* --- environment --- */

/* Waits until the broker accepts who's key (it reloads principals about once a second). */
static void wait_accepted(const char *who)
{
    ovop_security_t sec;
    assert_int_equal(ident_security(&E.ident, who, &sec), 0);
    ovop_client_options_t o = E.cfg.client;
    o.security = &sec;
    o.timeout_ms = 300;
    o.retries = 0;
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = BATKEN_DISTRICT;
    int r = -1;
    for (int attempt = 0; attempt < 40 && r != 0; attempt++) {
        ovop_client_t *c;
        assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
        Ovop__V1__Reply *rep = NULL;
        r = ovop_client_call(c, "ovop.registry", "GetTerritory", NULL, &in.base, NULL, &rep, NULL);
        if (rep)
            ovop__v1__reply__free_unpacked(rep, NULL);
        ovop_client_destroy(&c);
        if (r != 0) /* a refused handshake fails at once: give the reload its time */
            harness_sleep_ms(250);
    }
    ovop_security_clear(&sec);
    if (r != 0)
        fail_msg("the broker never accepted %s's key", who);
}

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "scope",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    assert_int_equal(ident_add(&E.ident, E.conn, SCOPED_ADMIN, "operator",
                               "territory.admin certification.national registry.editor",
                               BATKEN_DISTRICT, NULL),
                     0);
    wait_accepted(SCOPED_ADMIN);
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

#define countf(...) svcenv_countf(&E, __VA_ARGS__)

/* Every registry row (a digest), with the counts of rows, events and stored replies: a
 * refused change must leave all of it as it was. */
static char *db_state(void)
{
    return pgtest_scalar(
        E.conn,
        "SELECT concat_ws('/', (SELECT count(*) FROM registry.producers), "
        "(SELECT count(*) FROM registry.products), (SELECT count(*) FROM registry.cooperatives), "
        "(SELECT count(*) FROM registry.cooperative_members), "
        "(SELECT count(*) FROM registry.specializations), "
        "(SELECT count(*) FROM registry.applications), "
        "(SELECT count(*) FROM registry.certificates), "
        "(SELECT count(*) FROM registry.territories), (SELECT count(*) FROM bus.events), "
        "(SELECT count(*) FROM bus.idempotency), md5(concat_ws('|', "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.producers t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.products t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.cooperatives t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t::text) FROM registry.cooperative_members t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.specializations t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.applications t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.number) FROM registry.certificates t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.id) FROM registry.territories t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.name) FROM registry.rubric_criteria t), "
        "(SELECT string_agg(t::text, ',' ORDER BY t.stars) FROM registry.star_thresholds t), "
        "(SELECT version::text FROM registry.rubric_version))))");
}

/* --- calls --- */

/* Calls method as who and requires OK; returns the output (free with
 * protobuf_c_message_free_unpacked). */
static ProtobufCMessage *ok_as(const char *who, const char *method, const ProtobufCMessage *in,
                               const ProtobufCMessageDescriptor *out_desc)
{
    ProtobufCMessage *out = NULL;
    Ovop__V1__Reply *rep = NULL;
    int code = svcenv_call_as(&E, who, method, NULL, in, out_desc, &out, &rep);
    if (code != 0)
        fail_msg("%s as %s: %s %s", method, who, rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return out;
}

static const char *meta(const Ovop__V1__Status *st, const char *key)
{
    for (size_t i = 0; i < st->n_metadata; i++)
        if (strcmp(st->metadata[i]->key, key) == 0)
            return st->metadata[i]->value;
    return "";
}

/* The territory a principal of this test is scoped to. */
static const char *scope_of(const char *who)
{
    return strcmp(who, IDENT_REGION) == 0 ? IDENT_REGION_SOATE : BATKEN_DISTRICT;
}

/* Calls method as who, twice under one request id: both PERMISSION_DENIED with `reason`, a
 * message holding fragment (and fragment2 unless NULL), nothing written. An OUT_OF_SCOPE
 * refusal names the principal's territory, in its message and its metadata. */
static void denied(const char *who, const char *method, const ProtobufCMessage *in,
                   const char *reason, const char *fragment, const char *fragment2)
{
    static unsigned n;
    char rid[64];
    snprintf(rid, sizeof(rid), "denied-%s-%u", method, ++n);
    char *before = db_state();
    for (int attempt = 0; attempt < 2; attempt++) {
        Ovop__V1__Reply *rep = NULL;
        int code = svcenv_call_as(&E, who, method, rid, in, NULL, NULL, &rep);
        const Ovop__V1__Status *st = rep->status;
        if (code != OVOP_PERMISSION_DENIED)
            fail_msg("%s as %s: expected PERMISSION_DENIED, got %d %s: %s", method, who, code,
                     st ? st->reason : "", st ? st->message : "");
        svcenv_assert_reason(&E, rep, reason);
        if (!strstr(st->message, fragment) || (fragment2 && !strstr(st->message, fragment2)))
            fail_msg("%s as %s: \"%s\" lacks \"%s\" or \"%s\"", method, who, st->message, fragment,
                     fragment2 ? fragment2 : "");
        if (strcmp(reason, "OUT_OF_SCOPE") == 0) {
            assert_non_null(strstr(st->message, scope_of(who)));
            assert_non_null(strstr(st->message, who));
            assert_string_equal(meta(st, "scope"), scope_of(who));
        }
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    char *after = db_state();
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* --- requests and fixtures --- */

static Ovop__V1__RegisterProducerRequest producer_request(const char *village, char tax[15],
                                                          char name[64])
{
    /* An organisation's INN: 0, a registration date DDMMYYYY, five more digits. */
    snprintf(tax, 15, "015032019%05u", ++next_tax);
    snprintf(name, 64, "Scope Test Producer %u", next_tax);
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = name;
    in.tax_id = tax;
    in.territory_code = (char *)village;
    return in;
}

static int64_t new_producer(const char *who, const char *village)
{
    char tax[15], name[64];
    Ovop__V1__RegisterProducerRequest in = producer_request(village, tax, name);
    ProtobufCMessage *out =
        ok_as(who, "RegisterProducer", &in.base, &ovop__v1__producer__descriptor);
    int64_t id = ((Ovop__V1__Producer *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    /* Its event and its stored reply record the principal that made it. */
    char *ev = svcenv_scalarf(&E,
                              "SELECT principal FROM bus.events WHERE subject = 'producer/%lld' "
                              "AND type = 'ovop.registry.producer.registered'",
                              (long long)id);
    assert_string_equal(ev, who);
    free(ev);
    return id;
}

static int32_t version_of(const char *table, const char *key, const char *value)
{
    return (int32_t)countf("SELECT version FROM registry.%s WHERE %s = '%s'", table, key, value);
}

static int32_t version_of_id(const char *table, int64_t id)
{
    char v[24];
    snprintf(v, sizeof(v), "%lld", (long long)id);
    return version_of(table, "id", v);
}

/* An UpdateProducer of one field (its path in mask). */
static Ovop__V1__UpdateProducerRequest producer_update(int64_t id, Ovop__V1__FieldMask *mask)
{
    Ovop__V1__UpdateProducerRequest in = OVOP__V1__UPDATE_PRODUCER_REQUEST__INIT;
    in.id = id;
    in.version = version_of_id("producers", id);
    in.update_mask = mask;
    return in;
}

static Ovop__V1__CreateProductRequest product_request(int64_t producer, Ovop__V1__LocalizedName *ln)
{
    static unsigned n;
    static char names[64][32];
    snprintf(names[n % 64], sizeof(names[0]), "Scope shyrdak %u", n);
    ovop__v1__localized_name__init(ln);
    ln->en = names[n++ % 64];
    Ovop__V1__CreateProductRequest in = OVOP__V1__CREATE_PRODUCT_REQUEST__INIT;
    in.producer_id = producer;
    in.name = ln;
    in.category = "felt";
    in.hs_code = "570500";
    in.unit = "m2";
    in.capacity_per_month = 40;
    in.price_usd_cents = 8500;
    return in;
}

static int64_t new_product(const char *who, int64_t producer)
{
    Ovop__V1__LocalizedName ln;
    Ovop__V1__CreateProductRequest in = product_request(producer, &ln);
    ProtobufCMessage *out = ok_as(who, "CreateProduct", &in.base, &ovop__v1__product__descriptor);
    int64_t id = ((Ovop__V1__Product *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    return id;
}

/* --- producers --- */

static void test_producers(void **state)
{
    char tax[15], name[64];
    /* Inside: registered and updated by the district officer, its event written. */
    int64_t own = new_producer(IDENT_DISTRICT, BATKEN_VILLAGE);
    assert_int_equal(
        countf("SELECT count(*) FROM bus.events WHERE subject = 'producer/%lld'", (long long)own),
        1);
    Ovop__V1__UpdateProducerRequest up = producer_update(own, SVCENV_MASK("legal_name"));
    up.legal_name = "Kara-Bak Felt Makers";
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_DISTRICT, "UpdateProducer", &up.base, &ovop__v1__producer__descriptor), NULL);
    /* A village whose code reads another district but which hangs below this one. */
    int64_t adopted = new_producer(IDENT_DISTRICT, ADOPTED_VILLAGE);
    assert_true(adopted > 0);

    /* Outside: another district's village, and one whose code still reads Batken District
     * but which lies in Kadamjai today. */
    Ovop__V1__RegisterProducerRequest reg = producer_request(KADAMJAI_VILLAGE, tax, name);
    denied(IDENT_DISTRICT, "RegisterProducer", &reg.base, "OUT_OF_SCOPE",
           "a new producer is in Pulgon", KADAMJAI_VILLAGE);
    reg = producer_request(LEFT_VILLAGE, tax, name);
    denied(IDENT_DISTRICT, "RegisterProducer", &reg.base, "OUT_OF_SCOPE", LEFT_VILLAGE, NULL);

    /* Another district's producer can be neither edited nor suspended. */
    int64_t other = new_producer(IDENT_ADMIN, KADAMJAI_VILLAGE);
    char subject[48];
    snprintf(subject, sizeof(subject), "producer %lld is in", (long long)other);
    up = producer_update(other, SVCENV_MASK("legal_name"));
    up.legal_name = "Renamed from Batken";
    denied(IDENT_DISTRICT, "UpdateProducer", &up.base, "OUT_OF_SCOPE", subject, KADAMJAI_VILLAGE);
    Ovop__V1__SetProducerStatusRequest st = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    st.id = other;
    st.version = version_of_id("producers", other);
    st.status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED;
    st.reason = "inspection";
    denied(IDENT_DISTRICT, "SetProducerStatus", &st.base, "OUT_OF_SCOPE", subject, NULL);

    /* Moves: out of the district, and into it from outside. */
    up = producer_update(own, SVCENV_MASK("territory_code"));
    up.territory_code = KADAMJAI_VILLAGE;
    snprintf(subject, sizeof(subject), "producer %lld cannot move to", (long long)own);
    denied(IDENT_DISTRICT, "UpdateProducer", &up.base, "OUT_OF_SCOPE", subject, KADAMJAI_VILLAGE);
    up = producer_update(other, SVCENV_MASK("territory_code"));
    up.territory_code = BATKEN_VILLAGE;
    snprintf(subject, sizeof(subject), "producer %lld is in", (long long)other);
    denied(IDENT_DISTRICT, "UpdateProducer", &up.base, "OUT_OF_SCOPE", subject, NULL);

    /* The regional officer's scope covers both districts, not Naryn. */
    up = producer_update(other, SVCENV_MASK("legal_name"));
    up.legal_name = "Pulgon Felt";
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_REGION, "UpdateProducer", &up.base, &ovop__v1__producer__descriptor), NULL);
    up = producer_update(other, SVCENV_MASK("territory_code"));
    up.territory_code = NARYN_VILLAGE;
    denied(IDENT_REGION, "UpdateProducer", &up.base, "OUT_OF_SCOPE", NARYN_VILLAGE, NULL);
    reg = producer_request(NARYN_VILLAGE, tax, name);
    denied(IDENT_REGION, "RegisterProducer", &reg.base, "OUT_OF_SCOPE", NARYN_VILLAGE, NULL);

    /* A principal without registry.editor: the permission table refuses first. */
    reg = producer_request(BATKEN_VILLAGE, tax, name);
    denied("tax", "RegisterProducer", &reg.base, "MISSING_ROLE", "registry.editor", "tax");
}

/* --- products, cooperatives, specializations --- */

/* A cooperative founded by two producers. */
static int64_t new_cooperative(const char *who, const char *name, const char *territory,
                               int64_t first, int64_t second)
{
    int64_t members[] = {first, second};
    Ovop__V1__CreateCooperativeRequest in = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    in.name = (char *)name;
    in.territory_code = (char *)territory;
    in.founding_members = members;
    in.n_founding_members = 2;
    ProtobufCMessage *out =
        ok_as(who, "CreateCooperative", &in.base, &ovop__v1__cooperative__descriptor);
    int64_t id = ((Ovop__V1__Cooperative *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    return id;
}

static void test_products(void **state)
{
    int64_t own = new_producer(IDENT_DISTRICT, BATKEN_VILLAGE);
    int64_t other = new_producer(IDENT_ADMIN, KADAMJAI_VILLAGE);
    int64_t own_product = new_product(IDENT_DISTRICT, own);
    int64_t other_product = new_product(IDENT_ADMIN, other);

    Ovop__V1__LocalizedName ln;
    Ovop__V1__CreateProductRequest create = product_request(other, &ln);
    denied(IDENT_DISTRICT, "CreateProduct", &create.base, "OUT_OF_SCOPE", "product",
           KADAMJAI_VILLAGE);

    Ovop__V1__UpdateProductRequest up = OVOP__V1__UPDATE_PRODUCT_REQUEST__INIT;
    up.id = other_product;
    up.version = version_of_id("products", other_product);
    up.update_mask = SVCENV_MASK("category");
    up.category = "carpets";
    char subject[48];
    snprintf(subject, sizeof(subject), "product %lld is in", (long long)other_product);
    denied(IDENT_DISTRICT, "UpdateProduct", &up.base, "OUT_OF_SCOPE", subject, KADAMJAI_VILLAGE);
    up.id = own_product;
    up.version = version_of_id("products", own_product);
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_DISTRICT, "UpdateProduct", &up.base, &ovop__v1__product__descriptor), NULL);
}

static void test_cooperatives(void **state)
{
    int64_t own = new_producer(IDENT_DISTRICT, BATKEN_VILLAGE);
    int64_t own2 = new_producer(IDENT_DISTRICT, BATKEN_VILLAGE);
    int64_t other = new_producer(IDENT_ADMIN, KADAMJAI_VILLAGE);
    int64_t other2 = new_producer(IDENT_ADMIN, KADAMJAI_VILLAGE);
    int64_t coop = new_cooperative(IDENT_DISTRICT, "Batken Felt", BATKEN_DISTRICT, own, own2);

    int64_t founders[] = {own, own2};
    Ovop__V1__CreateCooperativeRequest cc = OVOP__V1__CREATE_COOPERATIVE_REQUEST__INIT;
    cc.name = "Pulgon Felt";
    cc.territory_code = KADAMJAI_VILLAGE;
    cc.founding_members = founders;
    cc.n_founding_members = 2;
    denied(IDENT_DISTRICT, "CreateCooperative", &cc.base, "OUT_OF_SCOPE", "cooperative",
           KADAMJAI_VILLAGE);
    /* Inside, but founded with another district's producer. */
    founders[1] = other;
    cc.name = "Batken and Pulgon Felt";
    cc.territory_code = BATKEN_DISTRICT;
    denied(IDENT_DISTRICT, "CreateCooperative", &cc.base, "OUT_OF_SCOPE", "member producer",
           KADAMJAI_VILLAGE);

    Ovop__V1__JoinCooperativeRequest join = OVOP__V1__JOIN_COOPERATIVE_REQUEST__INIT;
    join.cooperative_id = coop;
    join.version = version_of_id("cooperatives", coop);
    join.producer_id = other;
    denied(IDENT_DISTRICT, "JoinCooperative", &join.base, "OUT_OF_SCOPE", "member producer",
           KADAMJAI_VILLAGE);
    /* Its own producer into another district's cooperative. */
    int64_t coop_out =
        new_cooperative(IDENT_ADMIN, "Kadamjai Felt", KADAMJAI_VILLAGE, other, other2);
    join.cooperative_id = coop_out;
    join.version = version_of_id("cooperatives", coop_out);
    join.producer_id = own;
    char subject[48];
    snprintf(subject, sizeof(subject), "cooperative %lld is in", (long long)coop_out);
    denied(IDENT_DISTRICT, "JoinCooperative", &join.base, "OUT_OF_SCOPE", subject,
           KADAMJAI_VILLAGE);
    Ovop__V1__LeaveCooperativeRequest leave = OVOP__V1__LEAVE_COOPERATIVE_REQUEST__INIT;
    leave.cooperative_id = coop_out;
    leave.version = version_of_id("cooperatives", coop_out);
    leave.producer_id = other;
    denied(IDENT_DISTRICT, "LeaveCooperative", &leave.base, "OUT_OF_SCOPE", subject, NULL);

    /* Inside: its own member leaves its own cooperative; the region may join across. */
    leave.cooperative_id = coop;
    leave.version = version_of_id("cooperatives", coop);
    leave.producer_id = own;
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_DISTRICT, "LeaveCooperative", &leave.base, &ovop__v1__cooperative__descriptor),
        NULL);
    join.cooperative_id = coop;
    join.version = version_of_id("cooperatives", coop);
    join.producer_id = other;
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_REGION, "JoinCooperative", &join.base, &ovop__v1__cooperative__descriptor),
        NULL);
}

static void test_specializations(void **state)
{
    Ovop__V1__DeclareSpecializationRequest in = OVOP__V1__DECLARE_SPECIALIZATION_REQUEST__INIT;
    in.territory_code = KADAMJAI_VILLAGE;
    in.hs_code = "570500";
    in.narrative = "felt carpets";
    denied(IDENT_DISTRICT, "DeclareSpecialization", &in.base, "OUT_OF_SCOPE", "specialization",
           KADAMJAI_VILLAGE);
    ProtobufCMessage *out = ok_as(IDENT_ADMIN, "DeclareSpecialization", &in.base,
                                  &ovop__v1__specialization__descriptor);
    int64_t outside = ((Ovop__V1__Specialization *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    in.territory_code = BATKEN_VILLAGE;
    protobuf_c_message_free_unpacked(ok_as(IDENT_DISTRICT, "DeclareSpecialization", &in.base,
                                           &ovop__v1__specialization__descriptor),
                                     NULL);

    Ovop__V1__WithdrawSpecializationRequest w = OVOP__V1__WITHDRAW_SPECIALIZATION_REQUEST__INIT;
    w.id = outside;
    w.version = version_of_id("specializations", outside);
    char subject[48];
    snprintf(subject, sizeof(subject), "specialization %lld is in", (long long)outside);
    denied(IDENT_DISTRICT, "WithdrawSpecialization", &w.base, "OUT_OF_SCOPE", subject, NULL);
    protobuf_c_message_free_unpacked(ok_as(IDENT_REGION, "WithdrawSpecialization", &w.base,
                                           &ovop__v1__specialization__descriptor),
                                     NULL);
}

/* --- certification --- */

typedef struct score_req {
    Ovop__V1__ScoreApplicationRequest in;
    Ovop__V1__CriterionScore s[3];
    Ovop__V1__CriterionScore *p[3];
} score_req_t;

/* A score over the default rubric (community 40, marketing 25, quality 35; 1 to 5 stars from
 * 50, 60, 70, 80, 90 points). */
static void score_request(score_req_t *q, int64_t id, uint32_t c, uint32_t m, uint32_t quality)
{
    static const char *const names[] = {"community", "marketing", "quality"};
    uint32_t points[] = {c, m, quality};
    ovop__v1__score_application_request__init(&q->in);
    for (int i = 0; i < 3; i++) {
        ovop__v1__criterion_score__init(&q->s[i]);
        q->s[i].criterion = (char *)names[i];
        q->s[i].points = points[i];
        q->p[i] = &q->s[i];
    }
    q->in.application_id = id;
    q->in.version = version_of_id("applications", id);
    q->in.n_scores = 3;
    q->in.scores = q->p;
    q->in.committee = "Batken certification committee";
}

/* An application of a new product of producer, submitted and scored by who: its id. */
static int64_t scored(const char *who, int64_t producer, uint32_t c, uint32_t m, uint32_t q)
{
    Ovop__V1__SubmitApplicationRequest sub = OVOP__V1__SUBMIT_APPLICATION_REQUEST__INIT;
    sub.producer_id = producer;
    sub.product_id = new_product(who, producer);
    ProtobufCMessage *out =
        ok_as(who, "SubmitApplication", &sub.base, &ovop__v1__application__descriptor);
    int64_t id = ((Ovop__V1__Application *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    score_req_t s;
    score_request(&s, id, c, m, q);
    protobuf_c_message_free_unpacked(
        ok_as(who, "ScoreApplication", &s.in.base, &ovop__v1__application__descriptor), NULL);
    return id;
}

static Ovop__V1__DecideApplicationRequest decision(int64_t id, bool approve,
                                                   Ovop__V1__ApprovalLevel level)
{
    Ovop__V1__DecideApplicationRequest in = OVOP__V1__DECIDE_APPLICATION_REQUEST__INIT;
    in.application_id = id;
    in.version = version_of_id("applications", id);
    in.approve = approve;
    in.level = level;
    in.decided_by = "akim"; /* a forged name: the registry records the principal */
    in.reason = approve ? "" : "incomplete file";
    return in;
}

/* Approves application id as who at level: the certificate number (malloc'd), after
 * checking the decision is recorded under who. */
static char *approved(const char *who, int64_t id, Ovop__V1__ApprovalLevel level)
{
    Ovop__V1__DecideApplicationRequest in = decision(id, true, level);
    Ovop__V1__Application *a = (Ovop__V1__Application *)ok_as(who, "DecideApplication", &in.base,
                                                              &ovop__v1__application__descriptor);
    assert_string_equal(a->decided_by, who);
    assert_int_equal(countf("SELECT count(*) FROM registry.applications WHERE id = %lld "
                            "AND decided_by = '%s' AND status = 'approved'",
                            (long long)id, who),
                     1);
    char *number = xstrdup(a->certificate_number);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    return number;
}

static Ovop__V1__ChangeCertificateRequest renewal(const char *number)
{
    Ovop__V1__ChangeCertificateRequest in = OVOP__V1__CHANGE_CERTIFICATE_REQUEST__INIT;
    in.number = (char *)number;
    in.version = version_of("certificates", "number", number);
    return in;
}

static void test_levels(void **state)
{
    const Ovop__V1__ApprovalLevel district = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT,
                                  region = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION,
                                  national = OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL;
    int64_t producer = new_producer(IDENT_DISTRICT, BATKEN_VILLAGE);

    /* 5 stars: national, whatever level the district officer names, approving or not. */
    int64_t five = scored(IDENT_DISTRICT, producer, 40, 25, 35);
    Ovop__V1__DecideApplicationRequest d = decision(five, true, national);
    denied(IDENT_DISTRICT, "DecideApplication", &d.base, "LEVEL_NOT_ALLOWED",
           "certification.national", "5 stars");
    d = decision(five, true, district);
    denied(IDENT_DISTRICT, "DecideApplication", &d.base, "LEVEL_NOT_ALLOWED",
           "certification.national", "approving application");
    d = decision(five, false, national);
    denied(IDENT_DISTRICT, "DecideApplication", &d.base, "LEVEL_NOT_ALLOWED",
           "certification.national", "rejecting application");
    d = decision(five, true, national);
    denied(IDENT_REGION, "DecideApplication", &d.base, "LEVEL_NOT_ALLOWED",
           "certification.national", NULL);
    char *cert5 = approved(IDENT_ADMIN, five, national);

    /* 2 stars: the district's own level. */
    int64_t two = scored(IDENT_DISTRICT, producer, 30, 15, 15);
    char *cert2 = approved(IDENT_DISTRICT, two, district);

    /* 4 stars: the region's, which the district officer lacks. */
    int64_t four = scored(IDENT_DISTRICT, producer, 35, 20, 25);
    d = decision(four, true, region);
    denied(IDENT_DISTRICT, "DecideApplication", &d.base, "LEVEL_NOT_ALLOWED",
           "certification.region or certification.national", "4 stars");
    char *cert4 = approved(IDENT_REGION, four, region);

    /* Renewals certify the same stars again: the same roles. */
    Ovop__V1__ChangeCertificateRequest rn = renewal(cert2);
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_DISTRICT, "RenewCertificate", &rn.base, &ovop__v1__certificate__descriptor),
        NULL);
    rn = renewal(cert4);
    denied(IDENT_DISTRICT, "RenewCertificate", &rn.base, "LEVEL_NOT_ALLOWED",
           "renewing certificate", "certification.region");
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_REGION, "RenewCertificate", &rn.base, &ovop__v1__certificate__descriptor),
        NULL);
    rn = renewal(cert5);
    denied(IDENT_REGION, "RenewCertificate", &rn.base, "LEVEL_NOT_ALLOWED", cert5,
           "certification.national");
    free(cert2);
    free(cert4);
    free(cert5);
}

static void test_certification_scope(void **state)
{
    int64_t other = new_producer(IDENT_ADMIN, KADAMJAI_VILLAGE);
    Ovop__V1__SubmitApplicationRequest sub = OVOP__V1__SUBMIT_APPLICATION_REQUEST__INIT;
    sub.producer_id = other;
    sub.product_id = new_product(IDENT_ADMIN, other);
    char subject[64];
    snprintf(subject, sizeof(subject), "of producer %lld is in", (long long)other);
    denied(IDENT_DISTRICT, "SubmitApplication", &sub.base, "OUT_OF_SCOPE", subject,
           KADAMJAI_VILLAGE);

    /* The region submits and scores it; the district can neither score nor decide it. */
    int64_t app = scored(IDENT_REGION, other, 30, 15, 15);
    score_req_t s;
    score_request(&s, app, 30, 20, 15);
    denied(IDENT_DISTRICT, "ScoreApplication", &s.in.base, "OUT_OF_SCOPE", subject, NULL);
    Ovop__V1__DecideApplicationRequest d =
        decision(app, true, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT);
    denied(IDENT_DISTRICT, "DecideApplication", &d.base, "OUT_OF_SCOPE", subject, NULL);
    char *number = approved(IDENT_REGION, app, OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT);

    Ovop__V1__ChangeCertificateRequest c = renewal(number);
    c.reason = "inspection";
    denied(IDENT_DISTRICT, "SuspendCertificate", &c.base, "OUT_OF_SCOPE", "certificate", subject);
    denied(IDENT_DISTRICT, "RenewCertificate", &c.base, "OUT_OF_SCOPE", "certificate", subject);
    protobuf_c_message_free_unpacked(
        ok_as(IDENT_REGION, "SuspendCertificate", &c.base, &ovop__v1__certificate__descriptor),
        NULL);
    free(number);
}

/* --- territories and the rubric --- */

static Ovop__V1__CreateTerritoryRequest village_request(const char *code, const char *parent,
                                                        Ovop__V1__LocalizedName *ln)
{
    ovop__v1__localized_name__init(ln);
    ln->ru = "Новый";
    ln->en = "New";
    Ovop__V1__CreateTerritoryRequest in = OVOP__V1__CREATE_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.kind = "village";
    in.parent_code = (char *)parent;
    in.name = ln;
    return in;
}

static void test_national_data(void **state)
{
    /* Territories are located at their parent: a scoped principal changes only those strictly
     * below its territory, never its own. */
    Ovop__V1__LocalizedName ln;
    Ovop__V1__CreateTerritoryRequest ct = village_request("41705214000301", BATKEN_DISTRICT, &ln);
    protobuf_c_message_free_unpacked(
        ok_as(SCOPED_ADMIN, "CreateTerritory", &ct.base, &ovop__v1__territory__descriptor), NULL);
    ct = village_request("41705258000301", KADAMJAI, &ln);
    denied(SCOPED_ADMIN, "CreateTerritory", &ct.base, "OUT_OF_SCOPE", "territory 41705258000301",
           KADAMJAI);
    Ovop__V1__RenameTerritoryRequest rn = OVOP__V1__RENAME_TERRITORY_REQUEST__INIT;
    rn.code = BATKEN_DISTRICT;
    rn.name = &ln;
    denied(SCOPED_ADMIN, "RenameTerritory", &rn.base, "OUT_OF_SCOPE",
           "territory " BATKEN_DISTRICT " is in", IDENT_REGION_SOATE);

    /* An import is one change: a row outside refuses all of it. */
    Ovop__V1__TerritoryImportRow rows[2] = {OVOP__V1__TERRITORY_IMPORT_ROW__INIT,
                                            OVOP__V1__TERRITORY_IMPORT_ROW__INIT};
    Ovop__V1__TerritoryImportRow *rp[2] = {&rows[0], &rows[1]};
    const char *codes[2] = {"41705214000401", "41705258000401"};
    const char *parents[2] = {BATKEN_DISTRICT, KADAMJAI};
    for (int i = 0; i < 2; i++) {
        rows[i].line = (uint32_t)i + 2;
        rows[i].code = (char *)codes[i];
        rows[i].kind = "village";
        rows[i].name_ru = "Импорт";
        rows[i].parent_code = (char *)parents[i];
    }
    Ovop__V1__ImportTerritoriesRequest im = OVOP__V1__IMPORT_TERRITORIES_REQUEST__INIT;
    im.rows = rp;
    im.n_rows = 2;
    denied(SCOPED_ADMIN, "ImportTerritories", &im.base, "OUT_OF_SCOPE", "41705258000401", NULL);
    im.n_rows = 1;
    protobuf_c_message_free_unpacked(ok_as(SCOPED_ADMIN, "ImportTerritories", &im.base,
                                           &ovop__v1__import_territories_response__descriptor),
                                     NULL);
    assert_int_equal(
        countf("SELECT count(*) FROM registry.territories WHERE code = '%s'", codes[0]), 1);

    /* The rubric is the whole country's. */
    Ovop__V1__GetRubricRequest g = OVOP__V1__GET_RUBRIC_REQUEST__INIT;
    Ovop__V1__SetRubricRequest sr = OVOP__V1__SET_RUBRIC_REQUEST__INIT;
    sr.rubric = (Ovop__V1__Rubric *)ok_as(SCOPED_ADMIN, "GetRubric", &g.base,
                                          &ovop__v1__rubric__descriptor);
    denied(SCOPED_ADMIN, "SetRubric", &sr.base, "OUT_OF_SCOPE", "the certification rubric",
           "whole country");
    protobuf_c_message_free_unpacked(&sr.rubric->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_producers),     cmocka_unit_test(test_products),
        cmocka_unit_test(test_cooperatives),  cmocka_unit_test(test_specializations),
        cmocka_unit_test(test_levels),        cmocka_unit_test(test_certification_scope),
        cmocka_unit_test(test_national_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
