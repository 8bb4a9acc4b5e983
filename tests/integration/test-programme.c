/* programd through the broker against PostgreSQL, two instances serving every test: every
 * method, bad input refused with its reason and nothing written, request ids replayed, roles
 * and territorial scope enforced, sales report revisions, and the programme office's queries
 * against seeded registry and exports rows (exports read through exports_api). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/programme.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define SERVICE  "ovop.programme"
#define OFFICER  "prog-officer"  /* programme.officer, national */
#define REPORTER "prog-reporter" /* programme.reporter, national */
#define BATKEN   "prog-batken"   /* both roles, Batken district */
#define VILLAGE  "41705214001001"
#define KOCHKOR  "41702215001001"
#define MONTH    "2026-03"

static svcenv_t E;

/* Producers 201..204 in a Batken village, 205 in Kochkor; product 301 of 201; shipment 900 of
 * 201 departed on 2026-05-10 with dried apricots, shipment 901 still a draft. */
static const char *const seed_sql[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', '2000-01-01'), "
    "('" KOCHKOR "', 'village', '41702215000000', 'Кочкорка', 'Kochkorka', '2000-01-01') "
    "RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, status, "
    "created_at, updated_at) SELECT id, 'sme', 'Producer ' || id, lpad(id::text, 14, '0'), "
    "CASE WHEN id = 205 THEN '" KOCHKOR "' ELSE '" VILLAGE "' END, "
    "CASE WHEN id = 204 THEN 'closed' ELSE 'active' END, now(), now() "
    "FROM generate_series(201, 205) id RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
    "capacity_per_month, price_usd, created_at, updated_at) VALUES (301, 201, 'Dried apricots', "
    "'dried fruit', '081310', 'kg', 1000, 4.5, now(), now()) RETURNING 1",
    "INSERT INTO registry.cooperatives (id, name, territory_code, founded_on, created_at, "
    "updated_at) VALUES (401, 'Batken Apricot Cooperative', '" VILLAGE "', '2020-01-01', now(), "
    "now()) RETURNING 1",
    "INSERT INTO exports.shipments (id, exporter_kind, exporter_id, exporter_name, buyer_name, "
    "buyer_country, destination, incoterm, transport_mode, border_point, planned_departure, "
    "origin_territory, hs6, origins, required_docs, net_kg, value_usd, value_som, status, "
    "created_at, status_at, departed_at, event_pb) SELECT id, 'producer', 201, 'Producer 201', "
    "'Kashgar Fruit', 'CN', 'CN', 'FCA', 'road', 'KG-IRKESHTAM', '2026-05-10', '" VILLAGE "', "
    "'081310', '{plant}', '{}', 500, 2250, 196000, s, now(), now(), d, '' FROM (VALUES (900, "
    "'departed', timestamptz '2026-05-10 12:00+06'), (901, 'draft', NULL)) v(id, s, d) "
    "RETURNING 1",
    "INSERT INTO exports.lots (shipment_id, ord, product_id, producer_id, hs6, product_name, "
    "quantity, unit, net_kg, value_usd, value_som, territory_code) SELECT id, 0, 301, 201, "
    "'081310', 'Dried apricots', 500, 'kg', 500, 2250, 196000, '" VILLAGE "' FROM (VALUES (900), "
    "(901)) v(id) RETURNING 1",
    NULL};

static int setup(void **state)
{
    (void)state;
    svcenv_start(&E, &(svcenv_config_t){.db_name = "programme",
                                        .seed_sql = seed_sql,
                                        .daemon = "ovop-programd",
                                        .service = SERVICE,
                                        .instances = 2,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    assert_int_equal(
        ident_add(&E.ident, E.conn, OFFICER, "operator", "programme.officer", NULL, NULL), 0);
    assert_int_equal(
        ident_add(&E.ident, E.conn, REPORTER, "operator", "programme.reporter", NULL, NULL), 0);
    assert_int_equal(ident_add(&E.ident, E.conn, BATKEN, "operator",
                               "programme.officer programme.reporter", IDENT_DISTRICT_SOATE, NULL),
                     0);
    /* The broker's keyring learns the new keys on its next refresh. */
    for (int w = 0; w < 3; w++) {
        const char *who = w == 0 ? OFFICER : w == 1 ? REPORTER : BATKEN;
        ovop_security_t sec;
        assert_int_equal(ident_security(&E.ident, who, &sec), 0);
        int ready = -1;
        for (int i = 0; i < 30 && ready != 0; i++)
            ready = harness_wait_service(E.endpoint, SERVICE, 500, &sec);
        assert_int_equal(ready, 0);
        ovop_security_clear(&sec);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    svcenv_stop(&E);
    return 0;
}

#define countf(...)  svcenv_countf(&E, __VA_ARGS__)
#define scalarf(...) svcenv_scalarf(&E, __VA_ARGS__)

/* The first column of the first row of sql copied into out (size bytes), the result freed. */
static void scalar_into(char *out, size_t size, const char *sql)
{
    char *v = svcenv_scalarf(&E, "%s", sql);
    snprintf(out, size, "%s", v);
    free(v);
}

/* --- helpers --- */

static long events(const char *type)
{
    return countf("SELECT count(*) FROM bus.events WHERE type = '%s'", type);
}

/* Calls method as who and expects a refusal with code and reason (and a violation on field
 * when given), and that `table` kept its row count. */
static void expect_refused(const char *who, const char *method, const ProtobufCMessage *in,
                           int code, const char *reason, const char *field, const char *table)
{
    long before = countf("SELECT count(*) FROM %s", table);
    long before_events = countf("SELECT count(*) FROM bus.events");
    Ovop__V1__Reply *rep = NULL;
    int got = svcenv_call_as(&E, who, method, NULL, in, NULL, NULL, &rep);
    if (got != code)
        fail_msg("%s: code %d, expected %d (%s)", method, got, code,
                 rep && rep->status ? rep->status->message : "");
    if (code != OVOP_PERMISSION_DENIED || strcmp(reason, "PERMISSION_DENIED") != 0)
        svcenv_assert_reason(&E, rep, reason);
    if (field) {
        bool named = false;
        for (size_t i = 0; i < rep->status->n_violations; i++)
            named |= strcmp(rep->status->violations[i]->field, field) == 0;
        if (!named)
            fail_msg("%s: no violation on %s: %s", reason, field, rep->status->message);
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(countf("SELECT count(*) FROM %s", table), before);
    assert_int_equal(countf("SELECT count(*) FROM bus.events"), before_events);
}

static int64_t stakeholder(const char *name, Ovop__V1__StakeholderKind kind)
{
    Ovop__V1__Stakeholder s = OVOP__V1__STAKEHOLDER__INIT;
    s.kind = kind;
    s.name = (char *)name;
    Ovop__V1__CreateStakeholderRequest in = OVOP__V1__CREATE_STAKEHOLDER_REQUEST__INIT;
    in.stakeholder = &s;
    Ovop__V1__Stakeholder *out = NULL;
    assert_int_equal(svcenv_call_as(&E, OFFICER, "CreateStakeholder", NULL, &in.base,
                                    &ovop__v1__stakeholder__descriptor, (ProtobufCMessage **)&out,
                                    NULL),
                     OVOP_OK);
    int64_t id = out->id;
    ovop__v1__stakeholder__free_unpacked(out, NULL);
    return id;
}

static Ovop__V1__Programme programme_of(Ovop__V1__ProgrammeKind kind, Ovop__V1__TrainingTopic t,
                                        int64_t *lead)
{
    Ovop__V1__Programme g = OVOP__V1__PROGRAMME__INIT;
    g.kind = kind;
    g.topic = t;
    g.name = "Marketing for village producers";
    g.n_stakeholder_ids = 1;
    g.stakeholder_ids = lead;
    g.starts_on = "2026-02-01";
    g.ends_on = "2026-02-28";
    return g;
}

static int64_t create_programme(const char *who, Ovop__V1__Programme g)
{
    Ovop__V1__CreateProgrammeRequest in = OVOP__V1__CREATE_PROGRAMME_REQUEST__INIT;
    in.programme = &g;
    Ovop__V1__Programme *out = NULL;
    assert_int_equal(svcenv_call_as(&E, who, "CreateProgramme", NULL, &in.base,
                                    &ovop__v1__programme__descriptor, (ProtobufCMessage **)&out,
                                    NULL),
                     OVOP_OK);
    int64_t id = out->id;
    ovop__v1__programme__free_unpacked(out, NULL);
    return id;
}

static int add(const char *who, int64_t programme, int64_t producer)
{
    Ovop__V1__AddParticipantRequest in = OVOP__V1__ADD_PARTICIPANT_REQUEST__INIT;
    in.programme_id = programme;
    in.kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER;
    in.participant_id = producer;
    return svcenv_call_as(&E, who, "AddParticipant", NULL, &in.base, NULL, NULL, NULL);
}

static Ovop__V1__SetOutcomeRequest outcome_of(int64_t programme, int64_t producer,
                                              Ovop__V1__Outcome o, Ovop__V1__Money *grant,
                                              const char *on)
{
    Ovop__V1__SetOutcomeRequest in = OVOP__V1__SET_OUTCOME_REQUEST__INIT;
    in.programme_id = programme;
    in.kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER;
    in.participant_id = producer;
    in.outcome = o;
    in.grant = grant;
    in.outcome_on = (char *)on;
    return in;
}

static int64_t channel(const char *name, Ovop__V1__ChannelKind kind)
{
    Ovop__V1__SalesChannel c = OVOP__V1__SALES_CHANNEL__INIT;
    c.kind = kind;
    c.name = (char *)name;
    Ovop__V1__CreateChannelRequest in = OVOP__V1__CREATE_CHANNEL_REQUEST__INIT;
    in.channel = &c;
    Ovop__V1__SalesChannel *out = NULL;
    assert_int_equal(svcenv_call_as(&E, OFFICER, "CreateChannel", NULL, &in.base,
                                    &ovop__v1__sales_channel__descriptor, (ProtobufCMessage **)&out,
                                    NULL),
                     OVOP_OK);
    int64_t id = out->id;
    ovop__v1__sales_channel__free_unpacked(out, NULL);
    return id;
}

/* A one-line report (mutable by the caller through the statics it points at). */
typedef struct report {
    Ovop__V1__SalesReport r;
    Ovop__V1__SalesLine line, *lines[2];
    Ovop__V1__SalesLine line2;
    Ovop__V1__Money value, value2;
    Ovop__V1__Jobs jobs;
    Ovop__V1__SubmitSalesReportRequest in;
} report_t;

static void report_init(report_t *t, int64_t producer, const char *month, int64_t chan)
{
    *t = (report_t){.r = OVOP__V1__SALES_REPORT__INIT,
                    .line = OVOP__V1__SALES_LINE__INIT,
                    .line2 = OVOP__V1__SALES_LINE__INIT,
                    .value = OVOP__V1__MONEY__INIT,
                    .value2 = OVOP__V1__MONEY__INIT,
                    .jobs = OVOP__V1__JOBS__INIT,
                    .in = OVOP__V1__SUBMIT_SALES_REPORT_REQUEST__INIT};
    t->value.minor = 1500000; /* 15,000 som */
    t->value.currency = "KGS";
    t->line.hs_code = "081310";
    t->line.channel_id = chan;
    t->line.quantity = 100;
    t->line.value = &t->value;
    t->line.market = OVOP__V1__MARKET__MARKET_DOMESTIC;
    t->lines[0] = &t->line;
    t->jobs.employees = 3;
    t->jobs.seasonal_workers = 5;
    t->r.producer_id = producer;
    t->r.month = (char *)month;
    t->r.n_lines = 1;
    t->r.lines = t->lines;
    t->r.jobs = &t->jobs;
    t->in.report = &t->r;
}

static int submit(const char *who, report_t *t, const char *rid, Ovop__V1__SalesReport **ret,
                  Ovop__V1__Reply **ret_rep)
{
    return svcenv_call_as(&E, who, "SubmitSalesReport", rid, &t->in.base,
                          &ovop__v1__sales_report__descriptor, (ProtobufCMessage **)ret, ret_rep);
}

/* --- tests --- */

static void test_stakeholders(void **state)
{
    (void)state;
    Ovop__V1__Stakeholder s = OVOP__V1__STAKEHOLDER__INIT;
    s.kind = OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_FUND;
    s.name = "Village Development Fund";
    s.contact_email = "grants@vdf.kg";
    s.contact_phone = "+996312123456";
    s.website = "https://vdf.kg";
    s.territory_code = "41705000000000";
    Ovop__V1__CreateStakeholderRequest in = OVOP__V1__CREATE_STAKEHOLDER_REQUEST__INIT;
    in.stakeholder = &s;
    Ovop__V1__Reply *first = NULL, *again = NULL;
    assert_int_equal(
        svcenv_call_as(&E, OFFICER, "CreateStakeholder", "sh-1", &in.base, NULL, NULL, &first),
        OVOP_OK);
    /* The same request id: the first reply, byte for byte, and one row. */
    assert_int_equal(
        svcenv_call_as(&E, OFFICER, "CreateStakeholder", "sh-1", &in.base, NULL, NULL, &again),
        OVOP_OK);
    assert_int_equal(first->body.len, again->body.len);
    assert_memory_equal(first->body.data, again->body.data, first->body.len);
    ovop__v1__reply__free_unpacked(first, NULL);
    ovop__v1__reply__free_unpacked(again, NULL);
    assert_int_equal(
        countf("SELECT count(*) FROM programme.stakeholders WHERE name = '%s'", s.name), 1);
    assert_int_equal(events("ovop.programme.stakeholder.created"), 1);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE soate = '41705000000000'"), 1);
    /* Same name, other case: ALREADY_EXISTS. */
    s.name = "VILLAGE development fund";
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_ALREADY_EXISTS,
                   "STAKEHOLDER_EXISTS", NULL, "programme.stakeholders");
    s.name = "Another fund";
    s.contact_email = "not-an-address";
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_ARGUMENT", "stakeholder.contact_email", "programme.stakeholders");
    s.contact_email = "";
    s.contact_phone = "+99631212";
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_ARGUMENT", "stakeholder.contact_phone", "programme.stakeholders");
    s.contact_phone = "";
    s.website = "http://insecure.kg";
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_ARGUMENT", "stakeholder.website", "programme.stakeholders");
    s.website = "";
    s.territory_code = "41799999999999";
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_INVALID_ARGUMENT,
                   "UNKNOWN_TERRITORY", "stakeholder.territory_code", "programme.stakeholders");
    s.territory_code = "";
    s.kind = 0;
    expect_refused(OFFICER, "CreateStakeholder", &in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_ARGUMENT", "stakeholder.kind", "programme.stakeholders");
    s.kind = OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_ACADEMIC;
    /* Roles: a reporter, customs and the test administrator may not register stakeholders. */
    expect_refused(REPORTER, "CreateStakeholder", &in.base, OVOP_PERMISSION_DENIED,
                   "PERMISSION_DENIED", NULL, "programme.stakeholders");
    expect_refused("customs", "CreateStakeholder", &in.base, OVOP_PERMISSION_DENIED,
                   "PERMISSION_DENIED", NULL, "programme.stakeholders");
    /* A district officer registers only stakeholders of its district. */
    expect_refused(BATKEN, "CreateStakeholder", &in.base, OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE",
                   NULL, "programme.stakeholders");
    s.territory_code = "41705214000000";
    assert_int_equal(
        svcenv_call_as(&E, BATKEN, "CreateStakeholder", NULL, &in.base, NULL, NULL, NULL), OVOP_OK);
    /* Anyone reads; the kind filters. */
    Ovop__V1__ListStakeholdersRequest list = OVOP__V1__LIST_STAKEHOLDERS_REQUEST__INIT;
    list.kind = OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_FUND;
    Ovop__V1__ListStakeholdersResponse *out = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "ListStakeholders", NULL, &list.base,
                                    &ovop__v1__list_stakeholders_response__descriptor,
                                    (ProtobufCMessage **)&out, NULL),
                     OVOP_OK);
    assert_int_equal(out->n_stakeholders, 1);
    assert_string_equal(out->stakeholders[0]->name, "Village Development Fund");
    assert_string_equal(out->stakeholders[0]->contact_email, "grants@vdf.kg");
    assert_string_equal(out->stakeholders[0]->created_by, OFFICER);
    ovop__v1__list_stakeholders_response__free_unpacked(out, NULL);
}

/* Shared by the programme tests, which run in order. */
static int64_t fund, training;

static void test_programmes(void **state)
{
    (void)state;
    fund = stakeholder("Export Promotion Fund", OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_FUND);
    int64_t uni =
        stakeholder("Osh State University", OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_ACADEMIC);
    int64_t ids[] = {uni, fund};
    Ovop__V1__Programme g = programme_of(OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_TRAINING,
                                         OVOP__V1__TRAINING_TOPIC__TRAINING_TOPIC_MARKETING, ids);
    g.n_stakeholder_ids = 2;
    Ovop__V1__CreateProgrammeRequest in = OVOP__V1__CREATE_PROGRAMME_REQUEST__INIT;
    in.programme = &g;
    /* A training without a topic, a grant with one, dates reversed, unknown stakeholders. */
    g.topic = 0;
    expect_refused(OFFICER, "CreateProgramme", &in.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "programme.topic", "programme.programmes");
    g.topic = OVOP__V1__TRAINING_TOPIC__TRAINING_TOPIC_MARKETING;
    g.ends_on = "2026-01-01";
    expect_refused(OFFICER, "CreateProgramme", &in.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "programme.ends_on", "programme.programmes");
    g.ends_on = "2026-02-28";
    int64_t nobody[] = {uni, 99999};
    g.stakeholder_ids = nobody;
    expect_refused(OFFICER, "CreateProgramme", &in.base, OVOP_NOT_FOUND, "UNKNOWN_STAKEHOLDER",
                   "programme.stakeholder_ids", "programme.programmes");
    g.stakeholder_ids = ids;
    expect_refused(REPORTER, "CreateProgramme", &in.base, OVOP_PERMISSION_DENIED,
                   "PERMISSION_DENIED", NULL, "programme.programmes");
    training = create_programme(OFFICER, g);
    Ovop__V1__GetProgrammeRequest get = OVOP__V1__GET_PROGRAMME_REQUEST__INIT;
    get.id = training;
    Ovop__V1__Programme *got = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "GetProgramme", NULL, &get.base,
                                    &ovop__v1__programme__descriptor, (ProtobufCMessage **)&got,
                                    NULL),
                     OVOP_OK);
    assert_int_equal(got->n_stakeholder_ids, 2);
    assert_int_equal(got->stakeholder_ids[0], uni);
    assert_int_equal(got->topic, OVOP__V1__TRAINING_TOPIC__TRAINING_TOPIC_MARKETING);
    assert_int_equal(got->status, OVOP__V1__PROGRAMME_STATUS__PROGRAMME_STATUS_PLANNED);
    ovop__v1__programme__free_unpacked(got, NULL);
}

static void test_participants(void **state)
{
    (void)state;
    /* Producer 202 enrolled, unknown producer and cooperative refused. */
    assert_int_equal(add(OFFICER, training, 202), OVOP_OK);
    Ovop__V1__AddParticipantRequest a = OVOP__V1__ADD_PARTICIPANT_REQUEST__INIT;
    a.programme_id = training;
    a.kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER;
    a.participant_id = 202;
    expect_refused(OFFICER, "AddParticipant", &a.base, OVOP_ALREADY_EXISTS, "ALREADY_PARTICIPATES",
                   NULL, "programme.participants");
    a.participant_id = 999;
    expect_refused(OFFICER, "AddParticipant", &a.base, OVOP_NOT_FOUND, "UNKNOWN_PRODUCER", NULL,
                   "programme.participants");
    a.kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_COOPERATIVE;
    expect_refused(OFFICER, "AddParticipant", &a.base, OVOP_NOT_FOUND, "UNKNOWN_COOPERATIVE", NULL,
                   "programme.participants");
    a.participant_id = 401;
    assert_int_equal(svcenv_call_as(&E, OFFICER, "AddParticipant", NULL, &a.base, NULL, NULL, NULL),
                     OVOP_OK);
    a.programme_id = 99999;
    expect_refused(OFFICER, "AddParticipant", &a.base, OVOP_NOT_FOUND, "NOT_FOUND", NULL,
                   "programme.participants");
    /* Outcomes: a grant on a training is refused; completion counts. */
    Ovop__V1__Money money = OVOP__V1__MONEY__INIT;
    money.minor = 5000000;
    money.currency = "KGS";
    Ovop__V1__SetOutcomeRequest o =
        outcome_of(training, 202, OVOP__V1__OUTCOME__OUTCOME_COMPLETED, &money, "");
    expect_refused(OFFICER, "SetOutcome", &o.base, OVOP_INVALID_ARGUMENT, "NOT_A_GRANT", NULL,
                   "programme.participants WHERE outcome = 'completed'");
    o.grant = NULL;
    o.outcome_on = "2999-01-01";
    expect_refused(OFFICER, "SetOutcome", &o.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "outcome_on", "programme.participants WHERE outcome = 'completed'");
    o.outcome_on = "2026-02-28";
    o.participant_id = 203;
    expect_refused(OFFICER, "SetOutcome", &o.base, OVOP_NOT_FOUND, "NOT_PARTICIPATING", NULL,
                   "programme.participants WHERE outcome = 'completed'");
    o.participant_id = 202;
    Ovop__V1__Participant *t = NULL;
    assert_int_equal(svcenv_call_as(&E, OFFICER, "SetOutcome", NULL, &o.base,
                                    &ovop__v1__participant__descriptor, (ProtobufCMessage **)&t,
                                    NULL),
                     OVOP_OK);
    assert_int_equal(t->outcome, OVOP__V1__OUTCOME__OUTCOME_COMPLETED);
    assert_string_equal(t->territory_code, VILLAGE);
    assert_string_equal(t->name, "Producer 202");
    ovop__v1__participant__free_unpacked(t, NULL);
}

static void test_grants(void **state)
{
    (void)state;
    /* A grant: negative money refused, then 50,000 som to producer 202. */
    Ovop__V1__Money money = OVOP__V1__MONEY__INIT;
    money.currency = "KGS";
    int64_t lead[] = {fund};
    Ovop__V1__Programme gg = programme_of(OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_GRANT, 0, lead);
    gg.name = "Drying equipment grants";
    int64_t grant = create_programme(OFFICER, gg);
    assert_int_equal(add(OFFICER, grant, 202), OVOP_OK);
    money.minor = -100;
    Ovop__V1__SetOutcomeRequest o =
        outcome_of(grant, 202, OVOP__V1__OUTCOME__OUTCOME_COMPLETED, &money, "2026-03-15");
    expect_refused(OFFICER, "SetOutcome", &o.base, OVOP_INVALID_ARGUMENT, "INVALID_AMOUNT",
                   "grant.minor", "programme.participants WHERE grant_minor > 0");
    money.minor = 5000000;
    money.currency = "USD";
    expect_refused(OFFICER, "SetOutcome", &o.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "grant.currency", "programme.participants WHERE grant_minor > 0");
    money.currency = "KGS";
    assert_int_equal(svcenv_call_as(&E, OFFICER, "SetOutcome", NULL, &o.base, NULL, NULL, NULL),
                     OVOP_OK);
    assert_int_equal(countf("SELECT grant_minor FROM programme.participants WHERE "
                            "programme_id = %lld AND participant_id = 202",
                            (long long)grant),
                     5000000);
    assert_int_equal(events("ovop.programme.participant.added"), 3);
    assert_int_equal(events("ovop.programme.participant.outcome_set"), 2);
}

static void test_lists(void **state)
{
    (void)state;
    /* Programmes of the fund (the grant and the training it co-runs), participants. */
    Ovop__V1__ListProgrammesRequest lp = OVOP__V1__LIST_PROGRAMMES_REQUEST__INIT;
    lp.stakeholder_id = fund;
    Ovop__V1__ListProgrammesResponse *pl = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "ListProgrammes", NULL, &lp.base,
                                    &ovop__v1__list_programmes_response__descriptor,
                                    (ProtobufCMessage **)&pl, NULL),
                     OVOP_OK);
    assert_int_equal(pl->n_programmes, 2);
    ovop__v1__list_programmes_response__free_unpacked(pl, NULL);
    Ovop__V1__ListParticipantsRequest lt = OVOP__V1__LIST_PARTICIPANTS_REQUEST__INIT;
    lt.programme_id = training;
    lt.page_size = 1;
    Ovop__V1__ListParticipantsResponse *tl = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "ListParticipants", NULL, &lt.base,
                                    &ovop__v1__list_participants_response__descriptor,
                                    (ProtobufCMessage **)&tl, NULL),
                     OVOP_OK);
    assert_int_equal(tl->n_participants, 1);
    assert_int_equal(tl->participants[0]->participant_id, 202);
    assert_true(tl->next_page_token[0] != '\0');
    lt.page_token = tl->next_page_token;
    Ovop__V1__ListParticipantsResponse *tl2 = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "ListParticipants", NULL, &lt.base,
                                    &ovop__v1__list_participants_response__descriptor,
                                    (ProtobufCMessage **)&tl2, NULL),
                     OVOP_OK);
    assert_int_equal(tl2->n_participants, 1);
    assert_int_equal(tl2->participants[0]->participant_id, 401);
    assert_int_equal(tl2->participants[0]->kind,
                     OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_COOPERATIVE);
    ovop__v1__list_participants_response__free_unpacked(tl, NULL);
    ovop__v1__list_participants_response__free_unpacked(tl2, NULL);
}

static void test_scope(void **state)
{
    (void)state;
    int64_t lead[] = {stakeholder("Batken Business Association",
                                  OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_ASSOCIATION)};
    Ovop__V1__Programme g = programme_of(OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_FAIR, 0, lead);
    g.name = "Batken apricot fair";
    Ovop__V1__CreateProgrammeRequest in = OVOP__V1__CREATE_PROGRAMME_REQUEST__INIT;
    in.programme = &g;
    /* National programmes are the national officers'. */
    expect_refused(BATKEN, "CreateProgramme", &in.base, OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE",
                   NULL, "programme.programmes");
    g.territory_code = "41705214000000";
    int64_t fair = create_programme(BATKEN, g);
    /* Producer 205 is in Kochkor, outside Batken district. */
    Ovop__V1__AddParticipantRequest a = OVOP__V1__ADD_PARTICIPANT_REQUEST__INIT;
    a.programme_id = fair;
    a.kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER;
    a.participant_id = 205;
    expect_refused(BATKEN, "AddParticipant", &a.base, OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE", NULL,
                   "programme.participants");
    assert_int_equal(add(BATKEN, fair, 203), OVOP_OK);
    assert_int_equal(add(OFFICER, fair, 205), OVOP_OK);
    Ovop__V1__SetOutcomeRequest o =
        outcome_of(fair, 205, OVOP__V1__OUTCOME__OUTCOME_COMPLETED, NULL, "");
    expect_refused(BATKEN, "SetOutcome", &o.base, OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE", NULL,
                   "programme.participants WHERE outcome = 'completed'");
    /* Sales of a Kochkor producer: not the Batken officer's to report. */
    report_t t;
    report_init(&t, 205, MONTH,
                channel("Kochkor bazaar", OVOP__V1__CHANNEL_KIND__CHANNEL_KIND_FAIR));
    expect_refused(BATKEN, "SubmitSalesReport", &t.in.base, OVOP_PERMISSION_DENIED, "OUT_OF_SCOPE",
                   NULL, "programme.sales_reports");
    expect_refused(OFFICER, "SubmitSalesReport", &t.in.base, OVOP_PERMISSION_DENIED,
                   "PERMISSION_DENIED", NULL, "programme.sales_reports");
    assert_int_equal(submit(REPORTER, &t, NULL, NULL, NULL), OVOP_OK);
}

static int64_t shop, exp_channel; /* shared by the sales tests */

static void test_sales_refusals(void **state)
{
    (void)state;
    shop = channel("OVOP shop Bishkek", OVOP__V1__CHANNEL_KIND__CHANNEL_KIND_OVOP_SHOP);
    exp_channel = channel("Direct export", OVOP__V1__CHANNEL_KIND__CHANNEL_KIND_EXPORT);
    Ovop__V1__SalesChannel c = OVOP__V1__SALES_CHANNEL__INIT;
    c.kind = OVOP__V1__CHANNEL_KIND__CHANNEL_KIND_OVOP_SHOP;
    c.name = "ovop SHOP bishkek";
    Ovop__V1__CreateChannelRequest ci = OVOP__V1__CREATE_CHANNEL_REQUEST__INIT;
    ci.channel = &c;
    expect_refused(OFFICER, "CreateChannel", &ci.base, OVOP_ALREADY_EXISTS, "CHANNEL_EXISTS", NULL,
                   "programme.channels");
    report_t t;
    report_init(&t, 201, MONTH, shop);
    const char *table = "programme.sales_reports";
    t.r.month = "2026-13";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_MONTH", "report.month", table);
    t.r.month = "2026-3";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_MONTH", "report.month", table);
    t.r.month = "2999-01";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_MONTH", "report.month", table);
    t.r.month = MONTH;
    t.r.producer_id = 999;
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_NOT_FOUND, "UNKNOWN_PRODUCER",
                   NULL, table);
    t.r.producer_id = 201;
    t.value.minor = -1;
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_AMOUNT", "report.lines[0].value.minor", table);
    t.value.minor = 1500000;
    t.line.hs_code = "999999";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "UNKNOWN_HS_CODE", "report.lines[0].hs_code", table);
    t.line.hs_code = "08131";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "UNKNOWN_HS_CODE", "report.lines[0].hs_code", table);
    t.line.hs_code = "081310";
    t.line.unit = "l";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "UNIT_MISMATCH", "report.lines[0].unit", table);
    t.line.unit = "";
    t.line.channel_id = 99999;
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "UNKNOWN_CHANNEL", "report.lines[0].channel_id", table);
    t.line.channel_id = shop;
    t.value.currency = "USD";
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "UNSUPPORTED_CURRENCY", "report.lines[0].value.currency", table);
    t.value.currency = "KGS";
    t.jobs.employees = -1;
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_INVALID_ARGUMENT,
                   "INVALID_ARGUMENT", "report.jobs.employees", table);
    t.jobs.employees = 3;
}

static void test_sales_revisions(void **state)
{
    (void)state;
    report_t t;
    report_init(&t, 201, MONTH, shop);
    const char *table = "programme.sales_reports";
    /* Revision 1; its replay is the first reply and writes nothing. */
    Ovop__V1__SalesReport *r1 = NULL;
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    assert_int_equal(submit(REPORTER, &t, "sales-201-1", &r1, &rep1), OVOP_OK);
    assert_int_equal(r1->revision, 1);
    assert_string_equal(r1->lines[0]->unit, "kg");
    assert_string_equal(r1->territory_code, VILLAGE);
    assert_int_equal(submit(REPORTER, &t, "sales-201-1", NULL, &rep2), OVOP_OK);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    assert_int_equal(countf("SELECT count(*) FROM programme.sales_reports WHERE producer_id = "
                            "201"),
                     1);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    ovop__v1__sales_report__free_unpacked(r1, NULL);
    /* A correction: two lines, revision 2; the first is kept as history. */
    t.lines[1] = &t.line2;
    t.r.n_lines = 2;
    t.line2 = t.line;
    t.line2.channel_id = exp_channel;
    t.line2.market = OVOP__V1__MARKET__MARKET_EXPORT;
    t.line2.value = &t.value2;
    t.value2.minor = 4000000;
    t.value2.currency = "KGS";
    t.in.expected_revision = 5;
    expect_refused(REPORTER, "SubmitSalesReport", &t.in.base, OVOP_ABORTED, "REVISION_MISMATCH",
                   NULL, table);
    t.in.expected_revision = 1;
    Ovop__V1__SalesReport *r2 = NULL;
    assert_int_equal(submit(REPORTER, &t, NULL, &r2, NULL), OVOP_OK);
    assert_int_equal(r2->revision, 2);
    ovop__v1__sales_report__free_unpacked(r2, NULL);
    assert_int_equal(countf("SELECT count(*) FROM programme.sales_reports WHERE producer_id = 201 "
                            "AND superseded_at IS NULL"),
                     1);
    assert_int_equal(events("ovop.programme.sales_report.corrected"), 1);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type LIKE "
                            "'ovop.programme.sales_report.%%' AND hs6 = '081310' AND soate = '%s'",
                            VILLAGE),
                     2);
}

static void test_sales_history(void **state)
{
    (void)state;
    report_t t;
    /* GetSalesReport: the current one, and revision 1 superseded. */
    Ovop__V1__GetSalesReportRequest g = OVOP__V1__GET_SALES_REPORT_REQUEST__INIT;
    g.producer_id = 201;
    g.month = MONTH;
    Ovop__V1__SalesReport *cur = NULL, *old = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "GetSalesReport", NULL, &g.base,
                                    &ovop__v1__sales_report__descriptor, (ProtobufCMessage **)&cur,
                                    NULL),
                     OVOP_OK);
    assert_int_equal(cur->revision, 2);
    assert_int_equal(cur->n_lines, 2);
    assert_int_equal(cur->lines[1]->value->minor, 4000000);
    assert_int_equal(cur->lines[1]->market, OVOP__V1__MARKET__MARKET_EXPORT);
    assert_int_equal(cur->jobs->seasonal_workers, 5);
    assert_false(cur->superseded);
    g.revision = 1;
    assert_int_equal(svcenv_call_as(&E, "tax", "GetSalesReport", NULL, &g.base,
                                    &ovop__v1__sales_report__descriptor, (ProtobufCMessage **)&old,
                                    NULL),
                     OVOP_OK);
    assert_int_equal(old->n_lines, 1);
    assert_true(old->superseded);
    ovop__v1__sales_report__free_unpacked(cur, NULL);
    ovop__v1__sales_report__free_unpacked(old, NULL);
    g.revision = 7;
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "GetSalesReport", NULL, &g.base, NULL, NULL, &rep),
                     OVOP_NOT_FOUND);
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* Another producer, another month. */
    report_init(&t, 202, "2026-04", shop);
    assert_int_equal(submit(BATKEN, &t, NULL, NULL, NULL), OVOP_OK);
    Ovop__V1__ListChannelsRequest lc = OVOP__V1__LIST_CHANNELS_REQUEST__INIT;
    Ovop__V1__ListChannelsResponse *cl = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "ListChannels", NULL, &lc.base,
                                    &ovop__v1__list_channels_response__descriptor,
                                    (ProtobufCMessage **)&cl, NULL),
                     OVOP_OK);
    assert_true(cl->n_channels >= 2);
    ovop__v1__list_channels_response__free_unpacked(cl, NULL);
}

static void test_queries(void **state)
{
    (void)state;
    /* Untrained in Batken district: 201 and 203 (202 completed marketing, 204 closed). */
    Ovop__V1__ListUntrainedProducersRequest u = OVOP__V1__LIST_UNTRAINED_PRODUCERS_REQUEST__INIT;
    u.territory_code = "41705214000000";
    Ovop__V1__ListUntrainedProducersResponse *ul = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "ListUntrainedProducers", NULL, &u.base,
                                    &ovop__v1__list_untrained_producers_response__descriptor,
                                    (ProtobufCMessage **)&ul, NULL),
                     OVOP_OK);
    assert_int_equal(ul->n_producers, 2);
    assert_int_equal(ul->producers[0]->id, 201);
    assert_int_equal(ul->producers[1]->id, 203);
    ovop__v1__list_untrained_producers_response__free_unpacked(ul, NULL);
    u.territory_code = "41799999999999";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(
        svcenv_call_as(&E, "tax", "ListUntrainedProducers", NULL, &u.base, NULL, NULL, &rep),
        OVOP_NOT_FOUND);
    svcenv_assert_reason(&E, rep, "UNKNOWN_TERRITORY");
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* Funds: 50,000 som in Batken region from the Export Promotion Fund in March only. */
    Ovop__V1__FundsDisbursedRequest f = OVOP__V1__FUNDS_DISBURSED_REQUEST__INIT;
    f.from = "2026-03-01";
    f.to = "2026-03-31";
    Ovop__V1__FundsDisbursedResponse *fr = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "FundsDisbursed", NULL, &f.base,
                                    &ovop__v1__funds_disbursed_response__descriptor,
                                    (ProtobufCMessage **)&fr, NULL),
                     OVOP_OK);
    assert_int_equal(fr->n_rows, 1);
    assert_string_equal(fr->rows[0]->region_code, "41705000000000");
    assert_string_equal(fr->rows[0]->region_name, "Batken Region");
    assert_string_equal(fr->rows[0]->stakeholder_name, "Export Promotion Fund");
    assert_int_equal(fr->rows[0]->amount->minor, 5000000);
    assert_int_equal(fr->rows[0]->grants, 1);
    ovop__v1__funds_disbursed_response__free_unpacked(fr, NULL);
    f.from = "2026-04-01";
    f.to = "2026-03-01";
    expect_refused("tax", "FundsDisbursed", &f.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "to", "programme.participants");
}

static void test_before_export(void **state)
{
    (void)state;
    Ovop__V1__Reply *rep = NULL;
    /* Trainings before the first export: 201 exported on 2026-05-10 but trained nothing; 202
     * trained but never exported. Train 201 in marketing in February, then ask. */
    int64_t lead[] = {
        stakeholder("Trade Ministry", OVOP__V1__STAKEHOLDER_KIND__STAKEHOLDER_KIND_STATE_BODY)};
    int64_t tr = create_programme(
        OFFICER, programme_of(OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_TRAINING,
                              OVOP__V1__TRAINING_TOPIC__TRAINING_TOPIC_EXPORT_PROCEDURES, lead));
    assert_int_equal(add(OFFICER, tr, 201), OVOP_OK);
    Ovop__V1__SetOutcomeRequest o =
        outcome_of(tr, 201, OVOP__V1__OUTCOME__OUTCOME_CERTIFICATE, NULL, "2026-02-28");
    assert_int_equal(svcenv_call_as(&E, OFFICER, "SetOutcome", NULL, &o.base, NULL, NULL, NULL),
                     OVOP_OK);
    Ovop__V1__TrainingsBeforeExportRequest b = OVOP__V1__TRAININGS_BEFORE_EXPORT_REQUEST__INIT;
    b.producer_id = 201;
    Ovop__V1__TrainingsBeforeExportResponse *br = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "TrainingsBeforeExport", NULL, &b.base,
                                    &ovop__v1__trainings_before_export_response__descriptor,
                                    (ProtobufCMessage **)&br, NULL),
                     OVOP_OK);
    assert_true(br->exported);
    assert_string_equal(br->first_export_on, "2026-05-10");
    assert_int_equal(br->first_shipment_id, 900);
    assert_int_equal(br->n_trainings, 1);
    assert_int_equal(br->trainings[0]->programme_id, tr);
    assert_int_equal(br->trainings[0]->topic,
                     OVOP__V1__TRAINING_TOPIC__TRAINING_TOPIC_EXPORT_PROCEDURES);
    ovop__v1__trainings_before_export_response__free_unpacked(br, NULL);
    b.producer_id = 202;
    assert_int_equal(svcenv_call_as(&E, "tax", "TrainingsBeforeExport", NULL, &b.base,
                                    &ovop__v1__trainings_before_export_response__descriptor,
                                    (ProtobufCMessage **)&br, NULL),
                     OVOP_OK);
    assert_false(br->exported);
    assert_int_equal(br->n_trainings, 0);
    ovop__v1__trainings_before_export_response__free_unpacked(br, NULL);
    b.producer_id = 999;
    rep = NULL;
    assert_int_equal(
        svcenv_call_as(&E, "tax", "TrainingsBeforeExport", NULL, &b.base, NULL, NULL, &rep),
        OVOP_NOT_FOUND);
    svcenv_assert_reason(&E, rep, "UNKNOWN_PRODUCER");
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* Statistics over the reports of the tests before: 201 (March, revision 2: 15,000 som
 * domestic + 40,000 export), 202 (April, 15,000 domestic), 205 (March, Kochkor). */
static void test_stats(void **state)
{
    (void)state;
    Ovop__V1__SalesStatsRequest s = OVOP__V1__SALES_STATS_REQUEST__INIT;
    s.group_by = OVOP__V1__SALES_GROUP__SALES_GROUP_DISTRICT;
    s.territory_code = "41705000000000";
    s.from_month = "2026-01";
    s.to_month = "2026-12";
    Ovop__V1__SalesStatsResponse *r = NULL;
    assert_int_equal(svcenv_call_as(&E, "tax", "SalesStats", NULL, &s.base,
                                    &ovop__v1__sales_stats_response__descriptor,
                                    (ProtobufCMessage **)&r, NULL),
                     OVOP_OK);
    assert_int_equal(r->n_rows, 1);
    assert_string_equal(r->rows[0]->key, "41705214000000");
    assert_string_equal(r->rows[0]->label, "Batken District");
    assert_int_equal(r->rows[0]->domestic->minor, 3000000);
    assert_int_equal(r->rows[0]->export->minor, 4000000);
    assert_int_equal(r->rows[0]->reports, 2);
    assert_int_equal(r->rows[0]->employees, 6);
    assert_int_equal(r->rows[0]->seasonal_workers, 10);
    assert_true(r->rows[0]->exports_available);
    assert_int_equal(r->rows[0]->exports_departed->minor, 19600000); /* 196,000 som */
    assert_int_equal(r->rows[0]->export_shipments, 1);               /* the draft not */
    ovop__v1__sales_stats_response__free_unpacked(r, NULL);
    /* By HS code, March only, every region: 201's three lines and 205's one. */
    s.group_by = OVOP__V1__SALES_GROUP__SALES_GROUP_HS_CODE;
    s.territory_code = "";
    s.hs_prefix = "0813";
    s.to_month = "2026-03";
    assert_int_equal(svcenv_call_as(&E, "tax", "SalesStats", NULL, &s.base,
                                    &ovop__v1__sales_stats_response__descriptor,
                                    (ProtobufCMessage **)&r, NULL),
                     OVOP_OK);
    assert_int_equal(r->n_rows, 1);
    assert_string_equal(r->rows[0]->label, "Dried apricots");
    assert_int_equal(r->rows[0]->domestic->minor, 3000000);
    assert_true(r->rows[0]->quantity > 299.9 && r->rows[0]->quantity < 300.1);
    assert_int_equal(r->rows[0]->reports, 2);
    assert_int_equal(r->rows[0]->export_shipments, 0); /* departed in May */
    ovop__v1__sales_stats_response__free_unpacked(r, NULL);
    /* By channel: no export figures beside. */
    s.group_by = OVOP__V1__SALES_GROUP__SALES_GROUP_CHANNEL;
    s.hs_prefix = "";
    assert_int_equal(svcenv_call_as(&E, "tax", "SalesStats", NULL, &s.base,
                                    &ovop__v1__sales_stats_response__descriptor,
                                    (ProtobufCMessage **)&r, NULL),
                     OVOP_OK);
    assert_int_equal(r->n_rows, 3);
    for (size_t i = 0; i < r->n_rows; i++)
        assert_false(r->rows[i]->exports_available);
    ovop__v1__sales_stats_response__free_unpacked(r, NULL);
    s.group_by = 0;
    expect_refused("tax", "SalesStats", &s.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "group_by", "programme.sales_reports");
    s.group_by = OVOP__V1__SALES_GROUP__SALES_GROUP_REGION;
    s.from_month = "2026-00";
    expect_refused("tax", "SalesStats", &s.base, OVOP_INVALID_ARGUMENT, "INVALID_MONTH",
                   "from_month", "programme.sales_reports");
    s.from_month = "";
    s.hs_prefix = "0";
    expect_refused("tax", "SalesStats", &s.base, OVOP_INVALID_ARGUMENT, "INVALID_ARGUMENT",
                   "hs_prefix", "programme.sales_reports");
}

/* --- ovopctl --- */

static int ctl_as(const char *who, const char *log, const char *const *args)
{
    char *bin = harness_bin("ovopctl");
    char *secret = ident_secret(&E.ident, who);
    char *env_broker = xasprintf("OVOP_BROKER=%s", E.endpoint);
    char *env_key = xasprintf("OVOP_KEY=%s", secret);
    char *env_broker_key = xasprintf("OVOP_BROKER_KEY=%s", E.ident.broker_key);
    const char *env[] = {env_broker, env_key, env_broker_key, NULL};
    pid_t pid;
    int status = -1;
    assert_int_equal(harness_spawn(&pid, bin, args, env, log), 0);
    assert_int_equal(harness_wait_exit(pid, 20000, &status), 0);
    free(bin);
    free(secret);
    free(env_broker);
    free(env_key);
    free(env_broker_key);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Whether the output of the ovopctl run logged as log contains text. */
static bool logged(const char *log, const char *text)
{
    char *path = xasprintf("%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    free(path);
    assert_non_null(f);
    ovop_buf_t b;
    ovop_buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ovop_buf_append(&b, chunk, n);
    fclose(f);
    ovop_buf_puts(&b, "");
    bool found = strstr(b.data, text) != NULL;
    if (!found)
        print_error("%s: no \"%s\" in:\n%s\n", log, text, b.data);
    ovop_buf_free(&b);
    return found;
}

/* Every verb once, a refusal's exit code 10 + its status. */
static void test_ovopctl_programme(void **state)
{
    (void)state;
    const char *sh[] = {
        "stakeholder",           "add",     "--kind",         "association", "--name",
        "Kyrgyz Crafts Council", "--email", "info@crafts.kg", NULL};
    assert_int_equal(ctl_as(OFFICER, "ctl-stakeholder", sh), 0);
    assert_true(logged("ctl-stakeholder", "Kyrgyz Crafts Council (association)"));
    char id[24];
    scalar_into(id, sizeof(id),
                "SELECT id FROM programme.stakeholders WHERE name = 'Kyrgyz Crafts Council'");
    const char *shl[] = {"stakeholder", "list", "--kind", "association", NULL};
    assert_int_equal(ctl_as("tax", "ctl-stakeholders", shl), 0);
    assert_true(logged("ctl-stakeholders", "Kyrgyz Crafts Council"));
    const char *bad_kind[] = {"stakeholder", "list", "--kind", "guild", NULL};
    assert_int_equal(ctl_as("tax", "ctl-bad-kind", bad_kind), 2);
    const char *pc[] = {"--json",
                        "programme",
                        "create",
                        "--kind",
                        "training",
                        "--topic",
                        "business_management",
                        "--name",
                        "Bookkeeping basics",
                        "--stakeholders",
                        id,
                        "--from",
                        "2026-01-10",
                        "--to",
                        "2026-01-20",
                        NULL};
    assert_int_equal(ctl_as(OFFICER, "ctl-programme", pc), 0);
    char pid[24];
    scalar_into(pid, sizeof(pid),
                "SELECT id FROM programme.programmes WHERE name = 'Bookkeeping basics'");
    const char *ap[] = {"programme", "add-participant", pid, "producer:203", NULL};
    assert_int_equal(ctl_as(OFFICER, "ctl-add", ap), 0);
    assert_true(logged("ctl-add", "enrolled"));
    const char *so[] = {"programme", "set-outcome", pid, "producer:203", "--outcome", "completed",
                        "--on",      "2026-01-20",  NULL};
    assert_int_equal(ctl_as(OFFICER, "ctl-outcome", so), 0);
    const char *denied[] = {"programme", "set-outcome", pid, "producer:203",
                            "--outcome", "dropped",     NULL};
    assert_int_equal(ctl_as(REPORTER, "ctl-denied", denied), 17);
    const char *show[] = {"programme", "show", pid, NULL};
    assert_int_equal(ctl_as("tax", "ctl-show", show), 0);
    assert_true(logged("ctl-show", "Producer 203"));
    const char *pl[] = {"programme", "list", "--kind", "training", NULL};
    assert_int_equal(ctl_as("tax", "ctl-list", pl), 0);
    assert_true(logged("ctl-list", "Bookkeeping basics"));
    /* 203 is trained now: 201 is the one left in Batken district. */
    const char *un[] = {"programme", "untrained", "--territory", "41705214000000", NULL};
    assert_int_equal(ctl_as("tax", "ctl-untrained", un), 0);
    assert_true(logged("ctl-untrained", "(1 producer"));
    const char *fu[] = {"programme", "funds", "--from", "2026-01-01", NULL};
    assert_int_equal(ctl_as("tax", "ctl-funds", fu), 0);
    assert_true(logged("ctl-funds", "Batken Region"));
    const char *be[] = {"programme", "before-export", "201", NULL};
    assert_int_equal(ctl_as("tax", "ctl-before", be), 0);
    assert_true(logged("ctl-before", "first export 2026-05-10 (shipment 900)"));
}

static void test_ovopctl_sales(void **state)
{
    (void)state;
    const char *ch[] = {"channel", "add",           "--kind", "online_marketplace",
                        "--name",  "Tunduk Market", NULL};
    assert_int_equal(ctl_as(OFFICER, "ctl-channel", ch), 0);
    char cid[24];
    scalar_into(cid, sizeof(cid), "SELECT id FROM programme.channels WHERE name = 'Tunduk Market'");
    const char *cl[] = {"channel", "list", NULL};
    assert_int_equal(ctl_as("tax", "ctl-channels", cl), 0);
    assert_true(logged("ctl-channels", "Tunduk Market"));
    char *line = xasprintf("080232:%s:40:24000.50:export", cid);
    const char *sr[] = {"sales", "report",      "203", "2026-02", "--line",
                        line,    "--employees", "2",   NULL};
    assert_int_equal(ctl_as(REPORTER, "ctl-report", sr), 0);
    assert_true(logged("ctl-report", "revision 1"));
    assert_true(logged("ctl-report", "24000.50"));
    const char *again[] = {
        "sales", "report", "203", "2026-02", "--line", line, "--expected-revision", "-1", NULL};
    assert_int_equal(ctl_as(REPORTER, "ctl-report-stale", again), 20); /* ABORTED */
    free(line);
    const char *ss[] = {"sales", "show", "203", "2026-02", NULL};
    assert_int_equal(ctl_as("tax", "ctl-sales-show", ss), 0);
    assert_true(logged("ctl-sales-show", "2 employees"));
    const char *st[] = {"sales", "stats", "--by", "hs_code", "--hs", "0802", NULL};
    assert_int_equal(ctl_as("tax", "ctl-stats", st), 0);
    assert_true(logged("ctl-stats", "24000.50"));
    const char *bad_month[] = {"sales", "report", "203", "2026-13", "--line", "080232:1:1:1", NULL};
    assert_int_equal(ctl_as(REPORTER, "ctl-bad-month", bad_month), 13);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stakeholders),
        cmocka_unit_test(test_programmes),
        cmocka_unit_test(test_participants),
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_sales_refusals),
        cmocka_unit_test(test_sales_revisions),
        cmocka_unit_test(test_sales_history),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_before_export),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_ovopctl_programme),
        cmocka_unit_test(test_ovopctl_sales),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
