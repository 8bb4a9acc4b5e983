/* registryd's producers through the broker against PostgreSQL: registration, updates under
 * optimistic versioning, status changes, queries, every bad input, idempotent retries, and
 * the events each change writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "harness.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define VILLAGE     "41704235000101" /* in Kochkor District, Naryn Region */
#define VILLAGE2    "41705214000101" /* in Batken District */
#define OLD_VILLAGE "41704235000199" /* retired */

static svcenv_t E;

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from, "
    "valid_to) VALUES "
    "('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', '2000-01-01', NULL), "
    "('" VILLAGE2 "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', '2000-01-01', NULL), "
    "('" OLD_VILLAGE "', 'village', '41704235000000', 'Старое', 'Old', '2000-01-01', "
    "'2010-01-01') RETURNING 1",
    NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "producers",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

static long count(const char *sql)
{
    return svcenv_count(&E, sql);
}

/* Calls method; returns the status code; *ret_out the output on OK, *ret_rep the reply. */
static int call(const char *method, const char *rid, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                Ovop__V1__Reply **ret_rep)
{
    return svcenv_call(&E, method, rid, in, out_desc, ret_out, ret_rep);
}

static Ovop__V1__RegisterProducerRequest base_request(const char *tax_id)
{
    static Ovop__V1__Contact contact;
    static Ovop__V1__GeoPoint loc;
    ovop__v1__contact__init(&contact);
    contact.phone = "+996 555 123 456";
    contact.email = "honey@example.kg";
    contact.address = "Kochkor, Orozbekov 12";
    ovop__v1__geo_point__init(&loc);
    loc.set = true;
    loc.lat = 42.215;
    loc.lon = 75.755;
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = "Kochkor Felt Makers LLC";
    in.tax_id = (char *)tax_id;
    in.contact = &contact;
    in.territory_code = VILLAGE;
    in.location = &loc;
    return in;
}

static Ovop__V1__Producer *register_ok(Ovop__V1__RegisterProducerRequest *in, const char *rid)
{
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("RegisterProducer", rid, &in->base, &ovop__v1__producer__descriptor, &out, NULL),
        OVOP_OK);
    return (Ovop__V1__Producer *)out;
}

static void test_register_get_and_retry(void **state)
{
    long events0 = count("SELECT count(*) FROM bus.events");
    Ovop__V1__RegisterProducerRequest in = base_request("01503201910011");
    Ovop__V1__Producer *p = register_ok(&in, "reg-1");
    assert_true(p->id > 0);
    assert_int_equal(p->version, 1);
    assert_int_equal(p->status, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_ACTIVE);
    assert_string_equal(p->territory_code, VILLAGE);
    assert_int_equal(count("SELECT count(*) FROM registry.producers"), 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.producer.registered'"),
                     1);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - events0, 1);

    /* A retry with the same request id: the first reply again, nothing written twice. */
    Ovop__V1__Producer *again = register_ok(&in, "reg-1");
    assert_int_equal(again->id, p->id);
    assert_int_equal(again->created_us, p->created_us);
    assert_int_equal(count("SELECT count(*) FROM registry.producers"), 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events") - events0, 1);
    protobuf_c_message_free_unpacked(&again->base, NULL);

    /* The same id for a different request is refused. */
    in.legal_name = "Something Else";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(call("RegisterProducer", "reg-1", &in.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep->status->violations[0]->field, "request_id");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* GetProducer returns what was registered. */
    Ovop__V1__GetProducerRequest g = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    g.id = p->id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetProducer", NULL, &g.base, &ovop__v1__producer__descriptor, &out, NULL), OVOP_OK);
    Ovop__V1__Producer *got = (Ovop__V1__Producer *)out;
    assert_string_equal(got->legal_name, "Kochkor Felt Makers LLC");
    assert_string_equal(got->contact->email, "honey@example.kg");
    assert_true(got->location->set);
    assert_int_equal(got->version, 1);
    protobuf_c_message_free_unpacked(out, NULL);
    g.id = 999999;
    assert_int_equal(call("GetProducer", NULL, &g.base, NULL, NULL, NULL), OVOP_NOT_FOUND);
    g.id = -1;
    assert_int_equal(call("GetProducer", NULL, &g.base, NULL, NULL, NULL), OVOP_INVALID_ARGUMENT);

    /* The sequencer numbers the event without gaps. */
    for (int i = 0; i < 100 && count("SELECT count(*) FROM bus.events WHERE seq IS NULL"); i++)
        harness_sleep_ms(20);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE seq IS NULL"), 0);
    assert_int_equal(count("SELECT max(seq) FROM bus.events"),
                     count("SELECT count(*) FROM bus.events"));
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* Registers `in` and expects INVALID_ARGUMENT (or `code`) on `field`, with nothing written. */
static void expect_refused(Ovop__V1__RegisterProducerRequest *in, int code, const char *field,
                           const char *fragment)
{
    long producers = count("SELECT count(*) FROM registry.producers");
    long events = count("SELECT count(*) FROM bus.events");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(call("RegisterProducer", NULL, &in->base, NULL, NULL, &rep), code);
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
        fail_msg("no violation on %s (message: %s)", field, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.producers"), producers);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events);
}

static void test_register_bad_input(void **state)
{
    Ovop__V1__RegisterProducerRequest in;
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';

    in = base_request("01503201910099");
    in.territory_code = "4170423500010";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "territory_code", "14 digits");
    in.territory_code = "51704235000101";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "territory_code", "417");
    in.territory_code = "41704235000000"; /* a district, not a village */
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "territory_code", "village or town");
    in.territory_code = OLD_VILLAGE;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "territory_code", "retired");
    in.territory_code = "41704235000777";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "territory_code", "no territory");

    in = base_request("0150320191009");
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "tax_id", "14 digits");
    in.tax_id = "31503201910099";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "tax_id", "start with");
    in.tax_id = "01513201910099"; /* month 13 */
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "tax_id", "date");
    in.tax_id = "";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "tax_id", "required");

    in = base_request("01503201910099");
    in.legal_name = longname;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "legal_name", "at most 300");
    in.legal_name = "Bad \xff\xfe name";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "legal_name", "UTF-8");
    in.legal_name = "Tab\tname";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "legal_name", "control");
    in.legal_name = "";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "legal_name", "required");

    in = base_request("01503201910099");
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_UNSPECIFIED;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "kind", NULL);
    in = base_request("01503201910099");
    in.contact->email = "not-an-email";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "contact.email", NULL);
    in = base_request("01503201910099");
    in.contact->phone = "call me";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "contact.phone", NULL);
    in = base_request("01503201910099");
    in.location->lat = 55.75; /* Moscow */
    in.location->lon = 37.61;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "location", "Kyrgyzstan");

    /* A family group lists at least two members; an individual none. */
    Ovop__V1__Member m1 = OVOP__V1__MEMBER__INIT;
    m1.name = "Aigul";
    Ovop__V1__Member *members[] = {&m1};
    in = base_request("01503201910099");
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP;
    in.n_members = 1;
    in.members = members;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "members", "at least 2");
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL;
    in.tax_id = "21503198510099";
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "members", "no members");
    in = base_request("01503201910099");
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL;
    expect_refused(&in, OVOP_INVALID_ARGUMENT, "tax_id", "starts with 1 or 2");

    /* A duplicate tax id. */
    in = base_request("01503201910011");
    expect_refused(&in, OVOP_ALREADY_EXISTS, "tax_id", "already registered");
}

static Ovop__V1__Producer *get(int64_t id)
{
    Ovop__V1__GetProducerRequest g = OVOP__V1__GET_PRODUCER_REQUEST__INIT;
    g.id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetProducer", NULL, &g.base, &ovop__v1__producer__descriptor, &out, NULL), OVOP_OK);
    return (Ovop__V1__Producer *)out;
}

static Ovop__V1__UpdateProducerRequest update_from(const Ovop__V1__Producer *p)
{
    Ovop__V1__UpdateProducerRequest u = OVOP__V1__UPDATE_PRODUCER_REQUEST__INIT;
    u.id = p->id;
    u.version = p->version;
    u.kind = p->kind;
    u.legal_name = p->legal_name;
    u.tax_id = p->tax_id;
    u.contact = p->contact;
    u.territory_code = p->territory_code;
    u.location = p->location;
    u.n_members = p->n_members;
    u.members = p->members;
    return u;
}

typedef struct writer {
    Ovop__V1__UpdateProducerRequest u;
    int code;
} writer_t;

static void *writer_thread(void *arg)
{
    writer_t *w = arg;
    w->code = call("UpdateProducer", NULL, &w->u.base, NULL, NULL, NULL);
    return NULL;
}

/* A family group of two (the first its head) in VILLAGE, as base_request() has it. */
static Ovop__V1__Producer *register_family(const char *tax_id, const char *legal_name)
{
    Ovop__V1__RegisterProducerRequest in = base_request(tax_id);
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP;
    Ovop__V1__Member m1 = OVOP__V1__MEMBER__INIT, m2 = OVOP__V1__MEMBER__INIT;
    m1.name = "Aigul Toktogulova";
    m1.role = "head";
    m2.name = "Bakyt Toktogulov";
    Ovop__V1__Member *members[] = {&m1, &m2};
    in.n_members = 2;
    in.members = members;
    in.legal_name = (char *)legal_name;
    return register_ok(&in, NULL);
}

static void test_update_and_versions(void **state)
{
    Ovop__V1__Producer *p = register_family("01604201910022", "Toktogulov family apiary");
    assert_int_equal(p->n_members, 2);

    Ovop__V1__UpdateProducerRequest u = update_from(p);
    u.legal_name = "Toktogulov family apiary and felt";
    u.territory_code = VILLAGE2;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("UpdateProducer", NULL, &u.base, &ovop__v1__producer__descriptor, &out, NULL),
        OVOP_OK);
    Ovop__V1__Producer *p2 = (Ovop__V1__Producer *)out;
    assert_int_equal(p2->version, 2);
    assert_int_equal(p2->created_us, p->created_us);
    Ovop__V1__Producer *stored = get(p->id);
    assert_string_equal(stored->legal_name, "Toktogulov family apiary and felt");
    assert_string_equal(stored->territory_code, VILLAGE2);
    assert_int_equal(stored->n_members, 2);
    assert_string_equal(stored->members[0]->role, "head");
    protobuf_c_message_free_unpacked(&stored->base, NULL);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.producer.updated'"),
                     1);

    /* The stale version (1) is refused and changes nothing. */
    u.legal_name = "Overwritten";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(call("UpdateProducer", NULL, &u.base, NULL, NULL, &rep), OVOP_ABORTED);
    assert_string_equal(rep->status->reason, "VERSION_MISMATCH");
    assert_string_equal(rep->status->domain, "ovop.registry");
    ovop__v1__reply__free_unpacked(rep, NULL);
    stored = get(p->id);
    assert_string_equal(stored->legal_name, "Toktogulov family apiary and felt");
    protobuf_c_message_free_unpacked(&stored->base, NULL);

    /* Unknown producer. */
    u.id = 987654;
    u.version = 1;
    assert_int_equal(call("UpdateProducer", NULL, &u.base, NULL, NULL, NULL), OVOP_NOT_FOUND);

    /* Concurrent updates from the same version, on two threads: exactly one wins. */
    for (int round = 0; round < 5; round++) {
        Ovop__V1__Producer *cur = get(p->id);
        writer_t w[2] = {{update_from(cur), -1}, {update_from(cur), -1}};
        w[0].u.legal_name = "Writer A";
        w[1].u.legal_name = "Writer B";
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, writer_thread, &w[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        assert_true((w[0].code == OVOP_OK) != (w[1].code == OVOP_OK));
        assert_true(w[0].code == OVOP_ABORTED || w[1].code == OVOP_ABORTED);
        Ovop__V1__Producer *after = get(p->id);
        assert_int_equal(after->version, cur->version + 1);
        protobuf_c_message_free_unpacked(&after->base, NULL);
        protobuf_c_message_free_unpacked(&cur->base, NULL);
    }

    /* Status: suspend needs a reason; suspended twice is refused; closed is final. */
    stored = get(p->id);
    Ovop__V1__SetProducerStatusRequest s = OVOP__V1__SET_PRODUCER_STATUS_REQUEST__INIT;
    s.id = p->id;
    s.version = stored->version;
    s.status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED;
    s.reason = "";
    assert_int_equal(call("SetProducerStatus", NULL, &s.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    s.reason = "unpaid fees";
    out = NULL;
    assert_int_equal(
        call("SetProducerStatus", NULL, &s.base, &ovop__v1__producer__descriptor, &out, NULL),
        OVOP_OK);
    Ovop__V1__Producer *susp = (Ovop__V1__Producer *)out;
    assert_int_equal(susp->status, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_SUSPENDED);
    assert_string_equal(susp->status_reason, "unpaid fees");
    assert_string_equal(susp->legal_name, stored->legal_name);
    s.version = susp->version;
    assert_int_equal(call("SetProducerStatus", NULL, &s.base, NULL, NULL, NULL),
                     OVOP_FAILED_PRECONDITION);
    s.status = OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_CLOSED;
    s.reason = "ceased trading";
    assert_int_equal(call("SetProducerStatus", NULL, &s.base, NULL, NULL, NULL), OVOP_OK);
    Ovop__V1__Producer *closed = get(p->id);
    assert_int_equal(closed->status, OVOP__V1__PRODUCER_STATUS__PRODUCER_STATUS_CLOSED);
    Ovop__V1__UpdateProducerRequest c = update_from(closed);
    assert_int_equal(call("UpdateProducer", NULL, &c.base, NULL, NULL, NULL),
                     OVOP_FAILED_PRECONDITION);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.producer.closed'"),
                     1);
    protobuf_c_message_free_unpacked(&closed->base, NULL);
    protobuf_c_message_free_unpacked(&susp->base, NULL);
    protobuf_c_message_free_unpacked(&stored->base, NULL);
    protobuf_c_message_free_unpacked(&p2->base, NULL);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* UpdateProducer: the status code, *ret_rep the reply when asked. */
static int update(Ovop__V1__UpdateProducerRequest *u, Ovop__V1__Reply **ret_rep)
{
    return call("UpdateProducer", NULL, &u->base, NULL, NULL, ret_rep);
}

/* Expects u refused with INVALID_ARGUMENT and a violation on field that says fragment, and
 * no event written. */
static void update_refused(Ovop__V1__UpdateProducerRequest *u, const char *field,
                           const char *fragment)
{
    long events = count("SELECT count(*) FROM bus.events");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(update(u, &rep), OVOP_INVALID_ARGUMENT);
    bool found = false;
    for (size_t i = 0; i < rep->status->n_violations; i++)
        found |= strcmp(rep->status->violations[i]->field, field) == 0 &&
                 strstr(rep->status->violations[i]->description, fragment);
    if (!found)
        fail_msg("no violation on %s saying \"%s\" (message: %s)", field, fragment,
                 rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events);
}

/* UpdateProducer with an update_mask changes the fields it names, to the request's values
 * even when empty, and leaves every other field as stored, whatever the request holds there. */
static void test_update_mask(void **state)
{
    Ovop__V1__Producer *p = register_family("01705201910033", "Asanov family dairy");

    /* Named: the legal name and the phone. The request's other fields are empty or wrong (no
     * kind, no members, no e-mail, a bad INN); they are not read. */
    Ovop__V1__Contact contact = OVOP__V1__CONTACT__INIT;
    contact.phone = "+996 700 111 222";
    Ovop__V1__UpdateProducerRequest u = OVOP__V1__UPDATE_PRODUCER_REQUEST__INIT;
    u.id = p->id;
    u.version = 1;
    u.legal_name = "Asanov family dairy and cheese";
    u.tax_id = "not an INN";
    u.contact = &contact;
    u.update_mask = SVCENV_MASK("legal_name", "contact.phone");
    assert_int_equal(update(&u, NULL), OVOP_OK);
    Ovop__V1__Producer *s = get(p->id);
    assert_int_equal(s->version, 2);
    assert_string_equal(s->legal_name, "Asanov family dairy and cheese");
    assert_string_equal(s->contact->phone, "+996 700 111 222");
    assert_string_equal(s->contact->email, "honey@example.kg");
    assert_string_equal(s->contact->address, "Kochkor, Orozbekov 12");
    assert_string_equal(s->tax_id, "01705201910033");
    assert_int_equal(s->kind, OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP);
    assert_int_equal(s->n_members, 2);
    assert_true(s->location->set);
    assert_string_equal(s->territory_code, VILLAGE);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* A named field with no value is cleared: the e-mail, the location. */
    u.version = 2;
    u.location = NULL;
    u.update_mask = SVCENV_MASK("contact.email", "location");
    assert_int_equal(update(&u, NULL), OVOP_OK);
    s = get(p->id);
    assert_string_equal(s->contact->email, "");
    assert_false(s->location->set);
    assert_string_equal(s->contact->phone, "+996 700 111 222");
    assert_string_equal(s->legal_name, "Asanov family dairy and cheese");
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* Checks apply to the named fields, and to the rules between them and the stored ones: an
     * individual has no members and a personal INN. */
    u.version = 3;
    u.update_mask = SVCENV_MASK("tax_id");
    update_refused(&u, "tax_id", "14 digits");
    u.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL;
    u.update_mask = SVCENV_MASK("kind");
    update_refused(&u, "members", "no members");
    update_refused(&u, "tax_id", "starts with 1 or 2");
    u.kind = 0;

    /* Paths the request does not have are refused on update_mask. */
    u.update_mask = SVCENV_MASK("legal_name", "contact.fax");
    update_refused(&u, "update_mask", "contact.fax");
    u.update_mask = SVCENV_MASK("status");
    update_refused(&u, "update_mask", "status");

    /* Without a mask, the fields given a value change; a request with none is refused. */
    Ovop__V1__UpdateProducerRequest bare = OVOP__V1__UPDATE_PRODUCER_REQUEST__INIT;
    bare.id = p->id;
    bare.version = 3;
    update_refused(&bare, "update_mask", "changes nothing");
    bare.legal_name = "Asanov dairy";
    assert_int_equal(update(&bare, NULL), OVOP_OK);
    s = get(p->id);
    assert_string_equal(s->legal_name, "Asanov dairy");
    assert_string_equal(s->contact->phone, "+996 700 111 222");
    assert_int_equal(s->n_members, 2);

    /* "*" replaces every field: an SME without members or contact. */
    u = update_from(s);
    u.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    u.n_members = 0;
    u.contact = NULL;
    u.update_mask = SVCENV_MASK("*");
    assert_int_equal(update(&u, NULL), OVOP_OK);
    Ovop__V1__Producer *r = get(p->id);
    assert_int_equal(r->version, 5);
    assert_int_equal(r->kind, OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME);
    assert_int_equal(r->n_members, 0);
    assert_string_equal(r->contact->phone, "");
    assert_string_equal(r->legal_name, "Asanov dairy");
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.producer.updated' AND subject = 'producer/' || "
                           "(SELECT id FROM registry.producers WHERE tax_id = '01705201910033')"),
                     4);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

/* ovopctl producer update sends a mask of exactly the options given: an option given empty
 * clears its field, the others stay. */
static void test_ovopctl_update(void **state)
{
    Ovop__V1__RegisterProducerRequest in = base_request("01806201910044");
    Ovop__V1__Producer *p = register_ok(&in, NULL);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)p->id);
    const char *a1[] = {"producer", "update",           id,        "--version", "1",
                        "--phone",  "+996 555 000 111", "--email", "",          NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-producer-update", a1, 20000), 0);
    Ovop__V1__Producer *s = get(p->id);
    assert_int_equal(s->version, 2);
    assert_string_equal(s->contact->phone, "+996 555 000 111");
    assert_string_equal(s->contact->email, "");
    assert_string_equal(s->contact->address, "Kochkor, Orozbekov 12");
    assert_string_equal(s->legal_name, "Kochkor Felt Makers LLC");
    assert_true(s->location->set);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    /* Nothing to change, or half a location: usage errors, nothing sent. */
    const char *a2[] = {"producer", "update", id, "--version", "2", NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-producer-update-none", a2, 20000), 2);
    const char *a3[] = {"producer", "update", id, "--version", "2", "--lat", "42.1", NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-producer-update-lat", a3, 20000), 2);
    /* A refusal names the field. */
    const char *a4[] = {"producer", "update", id, "--version", "2", "--tax-id", "123", NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-producer-update-bad", a4, 20000),
                     10 + OVOP_INVALID_ARGUMENT);
    s = get(p->id);
    assert_int_equal(s->version, 2);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    protobuf_c_message_free_unpacked(&p->base, NULL);
}

static int list(const char *prefix, Ovop__V1__ProducerKind kind, unsigned page, const char *token,
                Ovop__V1__ListProducersResponse **ret)
{
    Ovop__V1__ListProducersRequest in = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    in.territory_prefix = (char *)prefix;
    in.kind = kind;
    in.page_size = page;
    in.page_token = (char *)token;
    ProtobufCMessage *out = NULL;
    int r = call("ListProducers", NULL, &in.base, &ovop__v1__list_producers_response__descriptor,
                 &out, NULL);
    if (ret)
        *ret = (Ovop__V1__ListProducersResponse *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return r;
}

static void test_list(void **state)
{
    /* Five more SMEs in Naryn's Kochkor village, two in Batken. */
    char tax[15];
    for (int i = 0; i < 7; i++) {
        snprintf(tax, sizeof(tax), "0150320191%04d", 100 + i);
        Ovop__V1__RegisterProducerRequest in = base_request(tax);
        in.territory_code = i < 5 ? VILLAGE : VILLAGE2;
        Ovop__V1__Producer *p = register_ok(&in, NULL);
        protobuf_c_message_free_unpacked(&p->base, NULL);
    }
    Ovop__V1__ListProducersResponse *resp = NULL;
    /* Naryn region's code covers its villages. */
    assert_int_equal(list("41704000000000", 0, 0, "", &resp), OVOP_OK);
    long naryn = count("SELECT count(*) FROM registry.producers WHERE territory_code LIKE "
                       "'41704%'");
    assert_int_equal(resp->n_producers, naryn);
    for (size_t i = 0; i < resp->n_producers; i++)
        assert_memory_equal(resp->producers[i]->territory_code, "41704", 5);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    /* Batken District's code covers its village. */
    assert_int_equal(list("41705214000000", 0, 0, "", &resp), OVOP_OK);
    assert_int_equal(
        resp->n_producers,
        count("SELECT count(*) FROM registry.producers WHERE territory_code = '" VILLAGE2 "'"));
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* Pages of 2 cover everything once, in id order. */
    char token[64] = "";
    long total = 0, last = 0;
    do {
        assert_int_equal(list("", 0, 2, token, &resp), OVOP_OK);
        for (size_t i = 0; i < resp->n_producers; i++) {
            assert_true(resp->producers[i]->id > last);
            last = resp->producers[i]->id;
        }
        total += (long)resp->n_producers;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0]);
    assert_int_equal(total, count("SELECT count(*) FROM registry.producers"));

    assert_int_equal(list("", OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP, 0, "", &resp),
                     OVOP_OK);
    assert_int_equal(resp->n_producers, 1);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* HS prefix, region and category filters: products straight into the table. */
    free(pgtest_scalar(E.conn,
                       "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, "
                       "unit, capacity_per_month, price_usd, created_at, updated_at) "
                       "SELECT nextval('registry.ids'), id, 'Dried apricots', 'dried fruit', "
                       "'081310', 'kg', 1000, 3, now(), now() FROM registry.producers "
                       "WHERE territory_code = '" VILLAGE2 "' "
                       "UNION ALL SELECT nextval('registry.ids'), id, 'Honey', 'honey', "
                       "'040900', 'kg', 100, 8, now(), now() FROM registry.producers "
                       "WHERE territory_code = '" VILLAGE "' RETURNING 1"));
    Ovop__V1__ListProducersRequest f = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    ProtobufCMessage *fo = NULL;
    f.hs_prefix = "0813";
    assert_int_equal(call("ListProducers", NULL, &f.base,
                          &ovop__v1__list_producers_response__descriptor, &fo, NULL),
                     OVOP_OK);
    resp = (Ovop__V1__ListProducersResponse *)fo;
    assert_int_equal(resp->n_producers, count("SELECT count(DISTINCT producer_id) FROM "
                                              "registry.products WHERE hs6 LIKE '0813%'"));
    assert_true(resp->n_producers > 0);
    for (size_t i = 0; i < resp->n_producers; i++)
        assert_string_equal(resp->producers[i]->territory_code, VILLAGE2);
    protobuf_c_message_free_unpacked(fo, NULL);
    f.territory_prefix = "41704000000000"; /* Naryn: no apricots there */
    assert_int_equal(call("ListProducers", NULL, &f.base,
                          &ovop__v1__list_producers_response__descriptor, &fo, NULL),
                     OVOP_OK);
    assert_int_equal(((Ovop__V1__ListProducersResponse *)fo)->n_producers, 0);
    protobuf_c_message_free_unpacked(fo, NULL);
    f.hs_prefix = "04";
    f.category = "honey";
    f.page_size = 2;
    assert_int_equal(call("ListProducers", NULL, &f.base,
                          &ovop__v1__list_producers_response__descriptor, &fo, NULL),
                     OVOP_OK);
    resp = (Ovop__V1__ListProducersResponse *)fo;
    assert_int_equal(resp->n_producers, 2);
    assert_string_equal(resp->producers[0]->territory_code, VILLAGE);
    assert_true(resp->next_page_token[0]);
    protobuf_c_message_free_unpacked(fo, NULL);
    f.min_stars = 1; /* nobody is certified yet */
    assert_int_equal(call("ListProducers", NULL, &f.base,
                          &ovop__v1__list_producers_response__descriptor, &fo, NULL),
                     OVOP_OK);
    assert_int_equal(((Ovop__V1__ListProducersResponse *)fo)->n_producers, 0);
    protobuf_c_message_free_unpacked(fo, NULL);
    /* A producer that moves takes its products' territory along. */
    assert_int_equal(count("SELECT count(*) FROM registry.products pr JOIN registry.producers p "
                           "ON p.id = pr.producer_id WHERE pr.territory_code <> p.territory_code"),
                     0);

    assert_int_equal(list("4170", 0, 0, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list("", 0, 5000, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list("", 0, 0, "p1.abc", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list("", 0, 0, "x9", NULL), OVOP_INVALID_ARGUMENT);
    Ovop__V1__ListProducersRequest bad = OVOP__V1__LIST_PRODUCERS_REQUEST__INIT;
    bad.hs_prefix = "08x";
    assert_int_equal(call("ListProducers", NULL, &bad.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    bad.hs_prefix = "0813";
    bad.min_stars = 9;
    assert_int_equal(call("ListProducers", NULL, &bad.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_get_and_retry), cmocka_unit_test(test_register_bad_input),
        cmocka_unit_test(test_update_and_versions),    cmocka_unit_test(test_update_mask),
        cmocka_unit_test(test_ovopctl_update),         cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
