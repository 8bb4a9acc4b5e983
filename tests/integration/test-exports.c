/* exportd through the broker against PostgreSQL: shipments from draft to delivery, their
 * documents, every illegal move, the phytosanitary block, batches that are all or nothing,
 * idempotent retries, the events each change writes, statistics that stay right under
 * concurrent writers, and ovopctl export. Two exportd instances serve every test.
 *
 * Every call is made as a principal of tests/support/ident.h: the export desk is CALLER
 * (IDENT_ADMIN: exports.clerk, no agency), a move customs records is made as "customs", a
 * certificate is issued by its agency's principal; the agency rules themselves (a move is
 * recorded under the principal's agency, release and exit are customs', certificates are
 * their agencies') are test_agency_of_moves and test_document_issuers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "client.h"
#include "harness.h"
#include "migrate.h"
#include "ovop/v1/exports.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define SERVICE   "ovop.exports"
#define CALLER    IDENT_ADMIN
#define TAX_CLERK "tax-officer" /* a tax officer at the export desk: exports.clerk, agency tax */
#define BATCH_MAX 20
#define VILLAGE_B "41705214001001" /* Kara-Bak, Batken District, Batken Region */
#define VILLAGE_N "41704235000101" /* Kochkor District, Naryn Region */
#define VILLAGE_O "41706226000101" /* Kara-Suu District, Osh Region */

/* Registry rows the tests export from (inserted straight into the registry tables). */
enum {
    APRICOT = 9001, /* producer: dried apricots, Batken */
    HONEY = 9002,   /* producer: honey, Naryn */
    SUSPENDED = 9003,
    WALNUT = 9004,   /* producer, member of COOP */
    FELT = 9005,     /* producer: felt carpets ("other" goods), Naryn */
    OUTSIDER = 9006, /* producer, not a member of COOP */
    COOP = 9100,
    P_APRICOT = 9201, /* products */
    P_HONEY = 9202,
    P_SUSPENDED = 9203,
    P_WALNUT = 9204,
    P_FELT = 9205,
    P_OUTSIDER = 9206,
};

static svcenv_t E;

static void sql(const char *q)
{
    free(pgtest_scalar(E.conn, q));
}

/* Registry rows the shipments refer to, straight in the tables. */
static const char *const seed_sql[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE_B "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', "
    "'2000-01-01'), ('" VILLAGE_N "', 'village', '41704235000000', 'Кочкор', 'Kochkor', "
    "'2000-01-01'), ('" VILLAGE_O "', 'village', '41706226000000', 'Кара-Суу', 'Kara-Suu', "
    "'2000-01-01') RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, status, "
    "created_at, updated_at) VALUES "
    "(9001, 'sme', 'Batken Apricot LLC', '01503201910001', '" VILLAGE_B
    "', 'active', now(), now()), "
    "(9002, 'sme', 'Kochkor Honey LLC', '01503201910002', '" VILLAGE_N
    "', 'active', now(), now()), "
    "(9003, 'sme', 'Dormant LLC', '01503201910003', '" VILLAGE_B "', 'suspended', now(), now()), "
    "(9004, 'individual', 'Walnut grower', '21503198510004', '" VILLAGE_O
    "', 'active', now(), now()), "
    "(9005, 'sme', 'Kochkor Felt LLC', '01503201910005', '" VILLAGE_N "', 'active', now(), now()), "
    "(9006, 'individual', 'Outsider', '21503198510006', '" VILLAGE_O
    "', 'active', now(), now()) RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_en, category, hs6, unit, "
    "capacity_per_month, price_usd, created_at, updated_at) VALUES "
    "(9201, 9001, 'Dried apricots', 'dried fruit', '081310', 'kg', 20000, 4.1, now(), now()), "
    "(9202, 9002, 'Mountain honey', 'honey', '040900', 'kg', 3000, 9.5, now(), now()), "
    "(9203, 9003, 'Dried apricots', 'dried fruit', '081310', 'kg', 500, 4, now(), now()), "
    "(9204, 9004, 'Walnuts shelled', 'nuts', '080232', 'kg', 4000, 6, now(), now()), "
    "(9205, 9005, 'Shyrdak', 'felt', '570500', 'm2', 200, 60, now(), now()), "
    "(9206, 9006, 'Walnuts shelled', 'nuts', '080232', 'kg', 1000, 6, now(), now()) "
    "RETURNING 1",
    "INSERT INTO registry.cooperatives (id, name, territory_code, founded_on, created_at, "
    "updated_at) VALUES (9100, 'Kara-Suu Walnut Cooperative', '" VILLAGE_O
    "', '2020-01-01', now(), now()) RETURNING 1",
    "INSERT INTO registry.cooperative_members (cooperative_id, producer_id, joined_on) "
    "VALUES (9100, 9004, '2020-01-01') RETURNING 1",
    NULL};

/* Statistics folded every 200 ms: folds run among the writers of the tests. */
static const char *const exportd_args[] = {"--batch-max", "20", "--stats-fold-ms", "200", NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "exports",
                                        .seed_sql = seed_sql,
                                        .daemon = "ovop-exportd",
                                        .service = SERVICE,
                                        .instances = 2,
                                        .daemon_args = exportd_args,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    /* Added once the broker runs: usable as soon as its keyring reloaded (--auth-refresh-ms).
     * A connection refused before that stays refused, hence a new client per attempt. */
    assert_int_equal(
        ident_add(&E.ident, E.conn, TAX_CLERK, "operator", "exports.clerk", NULL, "tax"), 0);
    ovop_security_t sec;
    assert_int_equal(ident_security(&E.ident, TAX_CLERK, &sec), 0);
    int ready = -1;
    for (int i = 0; i < 30 && ready != 0; i++)
        ready = harness_wait_service(E.endpoint, SERVICE, 500, &sec);
    assert_int_equal(ready, 0);
    ovop_security_clear(&sec);
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* --- helpers --- */

static ovop_client_t *client(void)
{
    return svcenv_client(&E);
}

#define count(q)     svcenv_count(&E, (q))
#define countf(...)  svcenv_countf(&E, __VA_ARGS__)
#define scalarf(...) svcenv_scalarf(&E, __VA_ARGS__)
#define call(...)    svcenv_call(&E, __VA_ARGS__)
#define call_as(...) svcenv_call_as(&E, __VA_ARGS__)

/* The principal that acts for agency: the agency's own, or the export desk for "". */
static const char *principal_of(const char *agency)
{
    return agency && agency[0] ? agency : CALLER;
}

/* Asserts the reply names `field` in a violation whose text holds `fragment` (may be NULL). */
static void assert_violation(const Ovop__V1__Reply *rep, const char *field, const char *fragment)
{
    for (size_t i = 0; i < rep->status->n_violations; i++)
        if (strcmp(rep->status->violations[i]->field, field) == 0) {
            if (fragment && !strstr(rep->status->violations[i]->description, fragment))
                fail_msg("%s: \"%s\" lacks \"%s\"", field, rep->status->violations[i]->description,
                         fragment);
            return;
        }
    fail_msg("no violation on %s (status %d: %s)", field, (int)rep->status->code,
             rep->status->message);
}

/* The reply's reason, what clients branch on (never the English of the message). */
static void assert_reason(const Ovop__V1__Reply *rep, const char *reason)
{
    if (strcmp(rep->status->reason, reason) != 0)
        fail_msg("reason %s, expected %s (%s)", rep->status->reason, reason, rep->status->message);
    assert_string_equal(rep->status->domain, "ovop.exports");
}

/* The reply's metadata entry key has value. */
static void assert_meta(const Ovop__V1__Reply *rep, const char *key, const char *value)
{
    for (size_t i = 0; i < rep->status->n_metadata; i++)
        if (strcmp(rep->status->metadata[i]->key, key) == 0) {
            assert_string_equal(rep->status->metadata[i]->value, value);
            return;
        }
    fail_msg("no metadata %s (reason %s)", key, rep->status->reason);
}

/* Everything a change writes, to check that a refusal wrote nothing. */
typedef struct snapshot {
    long shipments, lots, documents, history, events, notices, idem;
    char *versions;
    char *stats;
} snapshot_t;

static snapshot_t snap(void)
{
    snapshot_t s;
    s.shipments = count("SELECT count(*) FROM exports.shipments");
    s.lots = count("SELECT count(*) FROM exports.lots");
    s.documents = count("SELECT count(*) FROM exports.documents");
    s.history = count("SELECT count(*) FROM exports.shipment_history");
    s.events = count("SELECT count(*) FROM bus.events");
    s.notices = count("SELECT count(*) FROM exports.violation_notices");
    s.idem = count("SELECT count(*) FROM bus.idempotency WHERE service = 'ovop.exports'");
    s.versions = pgtest_scalar(E.conn, "SELECT coalesce(string_agg(id || ':' || version || ':' "
                                       "|| status, ',' ORDER BY id), '') FROM exports.shipments");
    s.stats = pgtest_scalar(E.conn, "SELECT coalesce(sum(shipments), 0) || '/' || "
                                    "coalesce(sum(net_g), 0) FROM exports.stats_monthly");
    return s;
}

/* Asserts nothing changed since s (and frees s). */
static void assert_unchanged(snapshot_t *s)
{
    snapshot_t now = snap();
    assert_int_equal(now.shipments, s->shipments);
    assert_int_equal(now.lots, s->lots);
    assert_int_equal(now.documents, s->documents);
    assert_int_equal(now.history, s->history);
    assert_int_equal(now.events, s->events);
    assert_int_equal(now.notices, s->notices);
    assert_int_equal(now.idem, s->idem);
    assert_string_equal(now.versions, s->versions);
    assert_string_equal(now.stats, s->stats);
    free(now.versions);
    free(now.stats);
    free(s->versions);
    free(s->stats);
}

/* A CreateShipmentRequest with its parts; initialise in place, never copy. */
typedef struct req {
    Ovop__V1__CreateShipmentRequest in;
    Ovop__V1__ExporterRef exporter;
    Ovop__V1__Buyer buyer;
    Ovop__V1__Transport transport;
    Ovop__V1__Lot lots[3];
    Ovop__V1__Lot *lot_ptrs[3];
} req_t;

/* One lot of `product` by `producer`, 1000 kg worth USD 4,100 (358,750.25 som), by road through
 * Irkeshtam. */
static void req_init(req_t *r, int kind, int64_t exporter, int64_t product, int64_t producer,
                     const char *destination)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__create_shipment_request__init(&r->in);
    ovop__v1__exporter_ref__init(&r->exporter);
    ovop__v1__buyer__init(&r->buyer);
    ovop__v1__transport__init(&r->transport);
    r->exporter.kind = kind;
    r->exporter.id = exporter;
    r->buyer.name = "Kashgar Dried Fruit Trading Co.";
    r->buyer.country = (char *)destination;
    r->buyer.address = "Kashgar, Xinjiang";
    r->transport.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD;
    r->transport.vehicle = "05KG123ABC";
    r->transport.consignment_note = "CMR-0001";
    for (int i = 0; i < 3; i++) {
        ovop__v1__lot__init(&r->lots[i]);
        r->lots[i].product_id = product;
        r->lots[i].producer_id = producer;
        r->lots[i].quantity = 1000;
        r->lots[i].net_weight_kg = 1000;
        r->lots[i].value_usd_cents = 410000;
        r->lots[i].value_som_tyiyn = 35875025;
        r->lot_ptrs[i] = &r->lots[i];
    }
    r->in.exporter = &r->exporter;
    r->in.buyer = &r->buyer;
    r->in.destination = (char *)destination;
    r->in.incoterm = OVOP__V1__INCOTERM__INCOTERM_FCA;
    r->in.n_lots = 1;
    r->in.lots = r->lot_ptrs;
    r->in.transport = &r->transport;
    r->in.border_point = "KG-IRKESHTAM";
    r->in.planned_departure = "2026-06-01";
    r->in.planned_arrival = "2026-06-05";
}

#define PRODUCER    OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER
#define COOPERATIVE OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE
#define S(x)        OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_##x

static Ovop__V1__Shipment *create_ok(req_t *r, const char *rid)
{
    ProtobufCMessage *out = NULL;
    Ovop__V1__Reply *rep = NULL;
    int code =
        call("CreateShipment", rid, &r->in.base, &ovop__v1__shipment__descriptor, &out, &rep);
    if (code != OVOP_OK)
        fail_msg("CreateShipment: %d %s", code, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return (Ovop__V1__Shipment *)out;
}

static int64_t new_shipment(int kind, int64_t exporter, int64_t product, int64_t producer,
                            const char *destination)
{
    req_t r;
    req_init(&r, kind, exporter, product, producer, destination);
    Ovop__V1__Shipment *s = create_ok(&r, NULL);
    int64_t id = s->id;
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return id;
}

static Ovop__V1__Shipment *get(int64_t id)
{
    Ovop__V1__GetShipmentRequest g = OVOP__V1__GET_SHIPMENT_REQUEST__INIT;
    g.id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetShipment", NULL, &g.base, &ovop__v1__shipment__descriptor, &out, NULL), OVOP_OK);
    return (Ovop__V1__Shipment *)out;
}

/* One move as principal who, naming `field` as its agency; returns the status code, *ret_rep
 * the reply when asked. */
static int move_as(const char *who, int64_t id, int to, const char *field, const char *reason,
                   int64_t at_us, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = id;
    t.to = to;
    t.agency = (char *)(field ? field : "");
    t.reason = (char *)(reason ? reason : "");
    t.at_us = at_us;
    return call_as(who, "TransitionShipment", NULL, &t.base, NULL, NULL, ret_rep);
}

/* One move by agency ("": the export desk), as its principal, the agency field left empty
 * (the principal's is the move's). */
static int move_at(int64_t id, int to, const char *agency, const char *reason, int64_t at_us,
                   Ovop__V1__Reply **ret_rep)
{
    return move_as(principal_of(agency), id, to, "", reason, at_us, ret_rep);
}

static int move(int64_t id, int to, const char *agency, const char *reason)
{
    return move_at(id, to, agency, reason, 0, NULL);
}

#define D(x) OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_##x

/* Who issues a document of `type`, as exportd's rule says: the export desk for the
 * exporter's own papers. */
static const char *issuer_of(int type)
{
    switch (type) {
    case D(PHYTOSANITARY):
        return "plant_quarantine";
    case D(VETERINARY):
        return "veterinary";
    case D(ORIGIN_CT1):
    case D(ORIGIN_FORM_A):
    case D(ORIGIN_GENERAL):
        return "chamber";
    case D(CUSTOMS_DECLARATION):
        return "customs";
    default:
        return CALLER;
    }
}

/* Attaches a document of `type` as issued, as its issuer. */
static int attach(int64_t id, int type, const char *number, const char *issued_on, int64_t *ret_doc,
                  Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__AttachDocumentRequest a = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    a.shipment_id = id;
    a.type = type;
    a.number = (char *)number;
    a.issuer = "Kyrgyzexpertiza";
    a.issued_on = (char *)issued_on;
    ProtobufCMessage *out = NULL;
    int code = call_as(issuer_of(type), "AttachDocument", NULL, &a.base,
                       &ovop__v1__document__descriptor, &out, ret_rep);
    if (ret_doc)
        *ret_doc = out ? ((Ovop__V1__Document *)out)->id : 0;
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

static void today(char out[static 11])
{
    time_t t = time(NULL) + 6 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* A date n days from today (Kyrgyzstan), YYYY-MM-DD. */
static void day_offset(int n, char out[static 11])
{
    time_t t = time(NULL) + 6 * 3600 + (time_t)n * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* Attaches, as issued today by their issuers, every document the shipment still misses. */
static void attach_missing(int64_t id)
{
    char day[11];
    today(day);
    Ovop__V1__Shipment *s = get(id);
    for (size_t i = 0; i < s->n_missing_documents; i++) {
        char number[48];
        snprintf(number, sizeof(number), "N-%lld-%d", (long long)id, (int)s->missing_documents[i]);
        assert_int_equal(attach(id, (int)s->missing_documents[i], number, day, NULL, NULL),
                         OVOP_OK);
    }
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

/* A shipment of dried apricots to China brought to `status` along the main path (or the
 * nearest branch for the final ones). */
static int64_t shipment_in(int status)
{
    int64_t id = new_shipment(PRODUCER, APRICOT, P_APRICOT, APRICOT, "CN");
    static const int path[] = {S(DECLARED), S(DOCUMENTS_COMPLETE), S(RELEASED), S(DEPARTED),
                               S(DELIVERED)};
    int stop = status;
    if (status == S(CANCELLED) || status == S(REJECTED))
        stop = S(DECLARED);
    if (status == S(RETURNED))
        stop = S(DEPARTED);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(path) && path[i] <= stop; i++) {
        if (path[i] == S(DOCUMENTS_COMPLETE))
            attach_missing(id);
        const char *agency = path[i] == S(RELEASED) || path[i] == S(DEPARTED) ? "customs" : "";
        assert_int_equal(move(id, path[i], agency, NULL), OVOP_OK);
    }
    if (status == S(CANCELLED))
        assert_int_equal(move(id, status, "", "buyer withdrew"), OVOP_OK);
    if (status == S(REJECTED))
        assert_int_equal(move(id, status, "customs", "declaration incomplete"), OVOP_OK);
    if (status == S(RETURNED))
        assert_int_equal(move(id, status, "", "refused at destination"), OVOP_OK);
    return id;
}

/* Decodes the data of the newest event of `type` about `subject`. */
static Ovop__V1__ExportEvent *event_of(const char *type, const char *subject)
{
    char *hex = scalarf("SELECT encode(data, 'hex') FROM bus.events WHERE type = '%s' AND "
                        "subject = '%s' ORDER BY pk DESC LIMIT 1",
                        type, subject);
    size_t n = strlen(hex) / 2;
    assert_true(n > 0);
    uint8_t *buf = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        buf[i] = (uint8_t)v;
    }
    Ovop__V1__ExportEvent *ev = ovop__v1__export_event__unpack(NULL, n, buf);
    assert_non_null(ev);
    free(buf);
    free(hex);
    return ev;
}

/* --- creation and queries --- */

static void test_create_get_and_retry(void **state)
{
    snapshot_t before = snap();
    req_t r;
    req_init(&r, PRODUCER, APRICOT, P_APRICOT, APRICOT, "CN");
    r.lots[0].quantity = 1200.0004; /* stored to 3 decimals, as the reply says */
    Ovop__V1__Shipment *s = create_ok(&r, "create-1");
    assert_true(s->id > 0);
    assert_int_equal(s->status, S(DRAFT));
    assert_int_equal(s->version, 1);
    assert_string_equal(s->exporter_name, "Batken Apricot LLC");
    assert_string_equal(s->origin_territory, VILLAGE_B);
    assert_string_equal(s->hs_code, "081310");
    assert_int_equal(s->n_lots, 1);
    assert_string_equal(s->lots[0]->product_name, "Dried apricots");
    assert_string_equal(s->lots[0]->unit, "kg");
    assert_true(s->lots[0]->quantity == 1200.0);
    assert_true(s->net_weight_kg == 1000.0);
    assert_int_equal(s->value_usd_cents, 410000);
    assert_int_equal(s->value_som_tyiyn, 35875025);
    assert_int_equal(s->lots[0]->value_usd_cents, 410000);
    assert_int_equal(s->lots[0]->value_som_tyiyn, 35875025);
    /* Dried apricots to China by road: no preference regime, plant goods, leaves the EAEU. */
    static const int want[] = {D(CONTRACT),           D(INVOICE),        D(CMR),
                               D(PACKING_LIST),       D(ORIGIN_GENERAL), D(PHYTOSANITARY),
                               D(CUSTOMS_DECLARATION)};
    assert_int_equal(s->n_required_documents, OVOP_ARRAY_SIZE(want));
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(want); i++)
        assert_int_equal(s->required_documents[i], want[i]);
    assert_int_equal(s->n_missing_documents, OVOP_ARRAY_SIZE(want));

    /* One shipment, one lot, one history row, one event, one stored reply. */
    assert_int_equal(count("SELECT count(*) FROM exports.shipments"), before.shipments + 1);
    assert_int_equal(count("SELECT count(*) FROM exports.lots"), before.lots + 1);
    assert_int_equal(count("SELECT count(*) FROM exports.shipment_history"), before.history + 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), before.events + 1);
    char subject[48];
    snprintf(subject, sizeof(subject), "shipment/%lld", (long long)s->id);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.exports.shipment.created' AND subject = '%s' AND hs6 = '081310' "
                            "AND soate = '" VILLAGE_B "' AND destination = 'CN' AND source = "
                            "'/ovop/exports' AND data_schema = 'ovop.v1.ExportEvent'",
                            subject),
                     1);
    Ovop__V1__ExportEvent *ev = event_of("ovop.exports.shipment.created", subject);
    assert_int_equal(ev->shipment_id, s->id);
    assert_int_equal(ev->status, S(DRAFT));
    assert_string_equal(ev->caller, CALLER);
    assert_int_equal(ev->n_what, 1);
    assert_string_equal(ev->what[0]->hs_code, "081310");
    assert_int_equal(ev->what[0]->value_usd_cents, 410000);
    assert_string_equal(ev->origin_soate, VILLAGE_B);
    assert_string_equal(ev->border_soate, "41706207000000");
    assert_string_equal(ev->destination, "CN");
    ovop__v1__export_event__free_unpacked(ev, NULL);

    /* The retry gets the same reply bytes and writes nothing. */
    ovop_client_t *c = client();
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    assert_int_equal(
        ovop_client_call(c, SERVICE, "CreateShipment", "create-1", &r.in.base, NULL, &rep1, NULL),
        0);
    assert_int_equal(
        ovop_client_call(c, SERVICE, "CreateShipment", "create-1", &r.in.base, NULL, &rep2, NULL),
        0);
    ovop_client_destroy(&c);
    assert_int_equal(rep1->body.len, rep2->body.len);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    Ovop__V1__Shipment *again = ovop__v1__shipment__unpack(NULL, rep1->body.len, rep1->body.data);
    assert_int_equal(again->id, s->id);
    assert_int_equal(again->created_us, s->created_us);
    ovop__v1__shipment__free_unpacked(again, NULL);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    assert_int_equal(count("SELECT count(*) FROM exports.shipments"), before.shipments + 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), before.events + 1);

    /* The same request id for another request is refused. */
    r.buyer.name = "Someone else";
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(call("CreateShipment", "create-1", &r.in.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "request_id", NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* GetShipment reads back what the reply said. */
    Ovop__V1__Shipment *g = get(s->id);
    assert_int_equal(g->version, 1);
    assert_int_equal(g->status, S(DRAFT));
    assert_int_equal(g->created_us, s->created_us);
    assert_string_equal(g->buyer->name, "Kashgar Dried Fruit Trading Co.");
    assert_string_equal(g->buyer->country, "CN");
    assert_int_equal(g->incoterm, OVOP__V1__INCOTERM__INCOTERM_FCA);
    assert_int_equal(g->transport->mode, OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_ROAD);
    assert_string_equal(g->border_point, "KG-IRKESHTAM");
    assert_string_equal(g->planned_departure, "2026-06-01");
    assert_true(g->lots[0]->quantity == s->lots[0]->quantity);
    assert_true(g->net_weight_kg == s->net_weight_kg);
    assert_int_equal(g->value_usd_cents, s->value_usd_cents);
    assert_int_equal(g->value_som_tyiyn, s->value_som_tyiyn);
    assert_int_equal(g->lots[0]->value_usd_cents, s->lots[0]->value_usd_cents);
    assert_int_equal(g->lots[0]->value_som_tyiyn, s->lots[0]->value_som_tyiyn);
    /* Exactly the cents in the columns. */
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments s JOIN exports.lots l "
                            "ON l.shipment_id = s.id WHERE s.id = %lld AND s.value_usd = 4100.00 "
                            "AND s.value_som = 358750.25 AND l.value_usd = 4100.00 "
                            "AND l.value_som = 358750.25",
                            (long long)s->id),
                     1);
    assert_int_equal(g->n_missing_documents, OVOP_ARRAY_SIZE(want));
    assert_int_equal(g->n_documents, 0);
    protobuf_c_message_free_unpacked(&g->base, NULL);

    Ovop__V1__GetShipmentRequest gr = OVOP__V1__GET_SHIPMENT_REQUEST__INIT;
    gr.id = 987654321;
    assert_int_equal(call("GetShipment", NULL, &gr.base, NULL, NULL, NULL), OVOP_NOT_FOUND);
    gr.id = -3;
    assert_int_equal(call("GetShipment", NULL, &gr.base, NULL, NULL, NULL), OVOP_INVALID_ARGUMENT);

    /* History: the creation, by this caller. */
    Ovop__V1__GetShipmentHistoryRequest h = OVOP__V1__GET_SHIPMENT_HISTORY_REQUEST__INIT;
    h.shipment_id = s->id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetShipmentHistory", NULL, &h.base,
                          &ovop__v1__shipment_history__descriptor, &out, NULL),
                     OVOP_OK);
    Ovop__V1__ShipmentHistory *hist = (Ovop__V1__ShipmentHistory *)out;
    assert_int_equal(hist->n_entries, 1);
    assert_int_equal(hist->entries[0]->to_status, S(DRAFT));
    assert_int_equal(hist->entries[0]->from_status, 0);
    assert_string_equal(hist->entries[0]->caller, CALLER);
    assert_string_equal(hist->entries[0]->request_id, "create-1");
    protobuf_c_message_free_unpacked(out, NULL);
    h.shipment_id = 987654321;
    assert_int_equal(call("GetShipmentHistory", NULL, &h.base, NULL, NULL, NULL), OVOP_NOT_FOUND);
    h.shipment_id = 0;
    assert_int_equal(call("GetShipmentHistory", NULL, &h.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    free(before.versions);
    free(before.stats);
}

/* Creates r and expects `code` with a violation on `field` holding `fragment`, nothing
 * written. */
static void expect_create_refused(req_t *r, int code, const char *field, const char *fragment)
{
    snapshot_t before = snap();
    Ovop__V1__Reply *rep = NULL;
    int got = call("CreateShipment", NULL, &r->in.base, NULL, NULL, &rep);
    if (got != code)
        fail_msg("%s: expected status %d, got %d: %s", field, code, got, rep->status->message);
    assert_violation(rep, field, fragment);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
}

static void test_create_bad_input(void **state)
{
    req_t r;
#define FRESH() req_init(&r, PRODUCER, APRICOT, P_APRICOT, APRICOT, "CN")
    FRESH();
    r.lots[0].quantity = -5;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].quantity", "positive, got -5");
    FRESH();
    r.lots[0].net_weight_kg = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].net_weight_kg", "positive");
    FRESH();
    r.lots[0].value_usd_cents = -1;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].value_usd_cents", "positive");
    FRESH();
    r.lots[0].value_usd_cents = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].value_usd_cents", "positive");
    FRESH();
    r.lots[0].value_usd_cents = 100000000001; /* USD 1,000,000,000.01 */
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].value_usd_cents",
                          "at most 100000000000");
    FRESH();
    r.lots[0].value_som_tyiyn = -1;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].value_som_tyiyn", "zero or positive");
    FRESH();
    r.lots[0].value_som_tyiyn = INT64_MAX;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].value_som_tyiyn", "at most");
    FRESH();
    r.in.n_lots = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots", "1 to 100");

    /* Countries: the form, then the ISO list. */
    FRESH();
    r.buyer.country = "XX";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "buyer.country", "unknown country code");
    FRESH();
    r.in.destination = "QQ";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "destination", "unknown country code");
    FRESH();
    r.in.destination = "china";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "destination", "ISO 3166-1");
    FRESH();
    r.in.destination = "KG";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "destination", "cannot be KG");

    /* The registry: unknown and unfit exporters, producers and products. */
    FRESH();
    r.lots[0].producer_id = 987654;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].producer_id",
                          "no producer with id 987654");
    FRESH();
    r.lots[0].producer_id = HONEY;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].producer_id",
                          "made by producer 9001, not 9002");
    FRESH();
    r.lots[0].product_id = 987654;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].product_id", "no product");
    FRESH();
    r.exporter.id = 987654;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "exporter.id", "no producer with id 987654");
    FRESH();
    r.exporter.kind = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "exporter.kind", NULL);
    req_init(&r, PRODUCER, SUSPENDED, P_SUSPENDED, SUSPENDED, "CN");
    expect_create_refused(&r, OVOP_FAILED_PRECONDITION, "exporter.id", "suspended");
    req_init(&r, PRODUCER, APRICOT, P_HONEY, HONEY, "CN");
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].producer_id", "its own goods");
    req_init(&r, COOPERATIVE, COOP, P_OUTSIDER, OUTSIDER, "CN");
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].producer_id", "not a member");
    req_init(&r, COOPERATIVE, 987654, P_WALNUT, WALNUT, "CN");
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "exporter.id", "no cooperative");
    FRESH();
    r.lots[0].unit = "t";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "lots[0].unit", "counted in kg");

    /* Route and terms. */
    FRESH();
    r.in.incoterm = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "incoterm", "Incoterms 2020");
    FRESH();
    r.in.border_point = "Irkeshtam";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "border_point", "KG-IRKESHTAM");
    FRESH();
    r.in.border_point = "KG-NOWHERE";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "border_point", "known: KG-AKJOL");
    FRESH();
    r.transport.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_RAIL;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "border_point", "serves road transport");
    FRESH();
    r.transport.mode = 0;
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "transport.mode", NULL);
    FRESH();
    r.in.planned_arrival = "2026-05-01";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "planned_arrival", "before");
    FRESH();
    r.in.planned_departure = "2026-02-30";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "planned_departure", "YYYY-MM-DD");
    FRESH();
    r.buyer.name = "";
    expect_create_refused(&r, OVOP_INVALID_ARGUMENT, "buyer.name", "required");
#undef FRESH

    /* A cooperative exports its member's goods. */
    req_init(&r, COOPERATIVE, COOP, P_WALNUT, WALNUT, "KZ");
    r.in.border_point = "KG-AKJOL";
    Ovop__V1__Shipment *s = create_ok(&r, NULL);
    assert_string_equal(s->exporter_name, "Kara-Suu Walnut Cooperative");
    /* To Kazakhstan (EAEU, CIS FTA): CT-1 and conformity, no customs declaration. */
    bool ct1 = false, decl = false, conformity = false;
    for (size_t i = 0; i < s->n_required_documents; i++) {
        ct1 |= s->required_documents[i] == D(ORIGIN_CT1);
        decl |= s->required_documents[i] == D(CUSTOMS_DECLARATION);
        conformity |= s->required_documents[i] == D(CONFORMITY);
    }
    assert_true(ct1 && conformity && !decl);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static Ovop__V1__ListShipmentsResponse *list(Ovop__V1__ListShipmentsRequest *in, int expect)
{
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("ListShipments", NULL, &in->base,
                          &ovop__v1__list_shipments_response__descriptor, &out, NULL),
                     expect);
    return (Ovop__V1__ListShipmentsResponse *)out;
}

static size_t list_count(Ovop__V1__ListShipmentsRequest *in)
{
    Ovop__V1__ListShipmentsResponse *r = list(in, OVOP_OK);
    size_t n = r->n_shipments;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return n;
}

static void test_list(void **state)
{
    /* Honey from Naryn to Japan (animal goods, GSP) and felt to Kazakhstan (other goods). */
    req_t r;
    req_init(&r, PRODUCER, HONEY, P_HONEY, HONEY, "JP");
    r.transport.mode = OVOP__V1__TRANSPORT_MODE__TRANSPORT_MODE_AIR;
    r.in.border_point = "KG-MANAS";
    Ovop__V1__Shipment *honey = create_ok(&r, NULL);
    bool vet = false, form_a = false, phyto = false;
    for (size_t i = 0; i < honey->n_required_documents; i++) {
        vet |= honey->required_documents[i] == D(VETERINARY);
        form_a |= honey->required_documents[i] == D(ORIGIN_FORM_A);
        phyto |= honey->required_documents[i] == D(PHYTOSANITARY);
    }
    assert_true(vet && form_a && !phyto);
    req_init(&r, PRODUCER, FELT, P_FELT, FELT, "KZ");
    r.in.border_point = "KG-AKJOL";
    Ovop__V1__Shipment *felt = create_ok(&r, NULL);
    assert_string_equal(felt->lots[0]->unit, "m2");
    for (size_t i = 0; i < felt->n_required_documents; i++)
        assert_true(felt->required_documents[i] != D(PHYTOSANITARY) &&
                    felt->required_documents[i] != D(VETERINARY));

    Ovop__V1__ListShipmentsRequest in = OVOP__V1__LIST_SHIPMENTS_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    long all = count("SELECT count(*) FROM exports.shipments");
    assert_int_equal(list_count(&in), all);
    x.kind = PRODUCER;
    x.id = HONEY;
    in.exporter = &x;
    assert_int_equal(list_count(&in), 1);
    in.exporter = NULL;
    in.territory_prefix = "41704000000000"; /* Naryn region: honey and felt */
    assert_int_equal(list_count(&in), 2);
    in.territory_prefix = "41705214000000"; /* Batken District */
    assert_int_equal(list_count(&in), countf("SELECT count(*) FROM exports.shipments WHERE "
                                             "origin_territory LIKE '41705214%%'"));
    in.territory_prefix = "";
    in.hs_prefix = "0409";
    assert_int_equal(list_count(&in), 1);
    in.hs_prefix = "";
    in.destination = "KZ";
    assert_int_equal(list_count(&in), count("SELECT count(*) FROM exports.shipments WHERE "
                                            "destination = 'KZ'"));
    in.destination = "";
    in.status = S(DECLARED);
    assert_int_equal(list_count(&in), count("SELECT count(*) FROM exports.shipments WHERE "
                                            "status = 'declared'"));
    in.status = 0;
    char day[11], later[11];
    today(day);
    day_offset(10, later);
    in.from_date = day;
    in.to_date = day;
    assert_int_equal(list_count(&in), all);
    in.from_date = later;
    in.to_date = "";
    assert_int_equal(list_count(&in), 0);
    in.from_date = "";
    in.date_basis = OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_DEPARTED;
    assert_int_equal(list_count(&in), count("SELECT count(*) FROM exports.shipments WHERE "
                                            "departed_at IS NOT NULL"));
    /* Unset is CREATED, as said explicitly; a value the enum does not have is refused. */
    in.from_date = day;
    in.date_basis = OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_CREATED;
    assert_int_equal(list_count(&in), all);
    in.date_basis = OVOP__V1__SHIPMENT_DATE_BASIS__SHIPMENT_DATE_BASIS_UNSPECIFIED;
    assert_int_equal(list_count(&in), all);
    in.date_basis = 7;
    assert_null(list(&in, OVOP_INVALID_ARGUMENT));
    in.from_date = "";
    in.date_basis = 0;

    /* Pages of 2 cover everything once, in id order. */
    char token[64] = "";
    long total = 0, last = 0;
    in.page_size = 2;
    do {
        in.page_token = token;
        Ovop__V1__ListShipmentsResponse *resp = list(&in, OVOP_OK);
        assert_true(resp->n_shipments <= 2);
        for (size_t i = 0; i < resp->n_shipments; i++) {
            assert_true(resp->shipments[i]->id > last);
            assert_int_equal(resp->shipments[i]->n_lots, 1);
            last = resp->shipments[i]->id;
        }
        total += (long)resp->n_shipments;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0]);
    assert_int_equal(total, all);

    /* Bad filters. */
    Ovop__V1__ListShipmentsRequest bad = OVOP__V1__LIST_SHIPMENTS_REQUEST__INIT;
    bad.hs_prefix = "08x";
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.hs_prefix = "";
    bad.destination = "china";
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.destination = "";
    bad.territory_prefix = "4170";
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.territory_prefix = "";
    bad.page_size = 5000;
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.page_size = 0;
    bad.page_token = "s1.x";
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.page_token = "";
    bad.from_date = "2026-13-01";
    list(&bad, OVOP_INVALID_ARGUMENT);
    bad.from_date = "2026-02-01";
    bad.to_date = "2026-01-01";
    list(&bad, OVOP_INVALID_ARGUMENT);
    protobuf_c_message_free_unpacked(&honey->base, NULL);
    protobuf_c_message_free_unpacked(&felt->base, NULL);
}

/* --- the lifecycle --- */

static Ovop__V1__ShipmentHistory *history(int64_t id)
{
    Ovop__V1__GetShipmentHistoryRequest h = OVOP__V1__GET_SHIPMENT_HISTORY_REQUEST__INIT;
    h.shipment_id = id;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetShipmentHistory", NULL, &h.base,
                          &ovop__v1__shipment_history__descriptor, &out, NULL),
                     OVOP_OK);
    return (Ovop__V1__ShipmentHistory *)out;
}

static void test_lifecycle(void **state)
{
    char day[11], subject[48];
    today(day);
    int64_t id = new_shipment(PRODUCER, APRICOT, P_APRICOT, APRICOT, "CN");
    snprintf(subject, sizeof(subject), "shipment/%lld", (long long)id);
    assert_int_equal(move(id, S(DECLARED), "", NULL), OVOP_OK);

    /* Not complete while a required document is missing. */
    snapshot_t before = snap();
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(move_at(id, S(DOCUMENTS_COMPLETE), "", NULL, 0, &rep),
                     OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "to",
                     "missing documents: contract, invoice, cmr, packing_list, origin_general, "
                     "phytosanitary, customs_declaration");
    assert_reason(rep, "DOCUMENT_MISSING");
    assert_meta(rep, "missing_documents",
                "contract,invoice,cmr,packing_list,origin_general,"
                "phytosanitary,customs_declaration");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    static const int docs[] = {D(CONTRACT),     D(INVOICE),        D(CMR),
                               D(PACKING_LIST), D(ORIGIN_GENERAL), D(CUSTOMS_DECLARATION)};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(docs); i++) {
        char number[32];
        snprintf(number, sizeof(number), "DOC-%zu", i);
        assert_int_equal(attach(id, docs[i], number, day, NULL, NULL), OVOP_OK);
    }
    assert_int_equal(move_at(id, S(DOCUMENTS_COMPLETE), "", NULL, 0, &rep),
                     OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "to", "missing documents: phytosanitary");
    assert_reason(rep, "DOCUMENT_MISSING");
    assert_meta(rep, "missing_documents", "phytosanitary");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A requested certificate does not count until it is issued. */
    Ovop__V1__AttachDocumentRequest a = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    a.shipment_id = id;
    a.type = D(PHYTOSANITARY);
    a.number = "PHYTO-2026-0001";
    a.issuer = "plant_quarantine";
    a.status = OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED;
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("AttachDocument", NULL, &a.base, &ovop__v1__document__descriptor, &out, NULL),
        OVOP_OK);
    int64_t phyto = ((Ovop__V1__Document *)out)->id;
    assert_int_equal(((Ovop__V1__Document *)out)->status,
                     OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(move(id, S(DOCUMENTS_COMPLETE), "", NULL), OVOP_FAILED_PRECONDITION);
    Ovop__V1__SetDocumentStatusRequest st = OVOP__V1__SET_DOCUMENT_STATUS_REQUEST__INIT;
    st.document_id = phyto;
    st.status = OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
    assert_int_equal(call_as("plant_quarantine", "SetDocumentStatus", NULL, &st.base,
                             &ovop__v1__document__descriptor, &out, NULL),
                     OVOP_OK);
    assert_string_equal(((Ovop__V1__Document *)out)->issued_on, day);
    assert_string_equal(((Ovop__V1__Document *)out)->number, "PHYTO-2026-0001");
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.exports.document.issued' AND subject = 'document/%lld'",
                            (long long)phyto),
                     1);
    /* The issue's event names who issued it and for which agency. */
    char doc_subject[48];
    snprintf(doc_subject, sizeof(doc_subject), "document/%lld", (long long)phyto);
    Ovop__V1__ExportEvent *issued = event_of("ovop.exports.document.issued", doc_subject);
    assert_string_equal(issued->caller, "plant_quarantine");
    assert_string_equal(issued->agency, "plant_quarantine");
    ovop__v1__export_event__free_unpacked(issued, NULL);
    assert_int_equal(move(id, S(DOCUMENTS_COMPLETE), "", NULL), OVOP_OK);

    /* Release is customs' alone (test_agency_of_moves has the refusals); the agency field
     * may name the principal's own. */
    assert_int_equal(move_as("customs", id, S(RELEASED), "customs", NULL, 0, NULL), OVOP_OK);

    /* It left through Torugart, not the planned Irkeshtam. */
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = id;
    t.to = S(DEPARTED);
    t.reference = "EXIT-77";
    t.border_point = "KG-TORUGART";
    out = NULL;
    assert_int_equal(call_as("customs", "TransitionShipment", NULL, &t.base,
                             &ovop__v1__transition_result__descriptor, &out, NULL),
                     OVOP_OK);
    Ovop__V1__TransitionResult *res = (Ovop__V1__TransitionResult *)out;
    assert_int_equal(res->shipment_id, id);
    assert_int_equal(res->status, S(DEPARTED));
    assert_int_equal(res->version, 0);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE id = '%s' AND type = "
                            "'ovop.exports.shipment.departed'",
                            res->event_id),
                     1);
    int64_t departed_us = res->at_us;
    protobuf_c_message_free_unpacked(out, NULL);

    /* Delivered: never in the future, never before the departure. */
    before = snap();
    int64_t now = (int64_t)time(NULL) * 1000000;
    assert_int_equal(move_at(id, S(DELIVERED), "", NULL, now + 2 * 86400 * INT64_C(1000000), &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "at_us", "in the future");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(
        move_at(id, S(DELIVERED), "", NULL, departed_us - 3600 * INT64_C(1000000), &rep),
        OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "at_us", "before the shipment became departed");
    assert_reason(rep, "AT_BEFORE_PREVIOUS_MOVE");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
    assert_int_equal(move(id, S(DELIVERED), "", NULL), OVOP_OK);

    Ovop__V1__Shipment *s = get(id);
    assert_int_equal(s->status, S(DELIVERED));
    assert_int_equal(s->version, 1 + 5 + 7 + 1); /* moves, attachments, the issue */
    assert_true(s->declared_us > 0 && s->released_us >= s->declared_us &&
                s->departed_us == departed_us && s->delivered_us >= s->departed_us);
    assert_string_equal(s->departed_via, "KG-TORUGART");
    assert_int_equal(s->n_documents, 7);
    assert_int_equal(s->n_missing_documents, 0);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* History: every move, when, by whom and which agency: the principal's. */
    Ovop__V1__ShipmentHistory *h = history(id);
    static const int path[] = {S(DRAFT),    S(DECLARED), S(DOCUMENTS_COMPLETE),
                               S(RELEASED), S(DEPARTED), S(DELIVERED)};
    assert_int_equal(h->n_entries, OVOP_ARRAY_SIZE(path));
    for (size_t i = 0; i < h->n_entries; i++) {
        bool by_customs = path[i] == S(RELEASED) || path[i] == S(DEPARTED);
        assert_int_equal(h->entries[i]->to_status, path[i]);
        assert_int_equal(h->entries[i]->from_status, i ? path[i - 1] : 0);
        assert_string_equal(h->entries[i]->caller, by_customs ? "customs" : CALLER);
        assert_string_equal(h->entries[i]->agency, by_customs ? "customs" : "");
        assert_true(i == 0 || h->entries[i]->at_us >= h->entries[i - 1]->at_us);
        assert_true(i == 0 || h->entries[i]->version > h->entries[i - 1]->version);
    }
    assert_string_equal(h->entries[4]->border_point, "KG-TORUGART");
    assert_string_equal(h->entries[4]->reference, "EXIT-77");
    protobuf_c_message_free_unpacked(&h->base, NULL);

    /* One event per move, with the routing dimensions. */
    static const char *const types[] = {"created",  "declared", "documents_completed",
                                        "released", "departed", "delivered"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(types); i++)
        assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                                "'ovop.exports.shipment.%s' AND subject = '%s' AND hs6 = '081310' "
                                "AND soate = '" VILLAGE_B "' AND destination = 'CN'",
                                types[i], subject),
                         1);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.exports.document.attached' AND subject IN (SELECT 'document/' "
                            "|| id FROM exports.documents WHERE shipment_id = %lld)",
                            (long long)id),
                     7);

    /* The departure's EPCIS dimensions, assembled from the three parts. */
    Ovop__V1__ExportEvent *ev = event_of("ovop.exports.shipment.departed", subject);
    assert_int_equal(ev->shipment_id, id);
    assert_int_equal(ev->status, S(DEPARTED));
    assert_int_equal(ev->event_time_us, departed_us);
    assert_string_equal(ev->event_time_zone_offset, "+06:00");
    assert_string_equal(ev->biz_step, "departing");
    assert_string_equal(ev->disposition, "in_transit");
    assert_string_equal(ev->agency, "customs");
    assert_string_equal(ev->caller, "customs");
    assert_string_equal(ev->read_point, "KG-TORUGART");
    assert_non_null(ev->exporter);
    assert_int_equal(ev->exporter->id, APRICOT);
    assert_int_equal(ev->n_what, 1);
    assert_string_equal(ev->what[0]->hs_code, "081310");
    assert_int_equal(ev->what[0]->value_usd_cents, 410000);
    assert_string_equal(ev->what[0]->unit, "kg");
    assert_true(ev->what[0]->quantity == 1000.0);
    assert_string_equal(ev->origin_soate, VILLAGE_B);
    assert_string_equal(ev->border_point, "KG-IRKESHTAM");
    assert_string_equal(ev->destination, "CN");
    assert_int_equal(ev->n_documents, 7);
    bool has_phyto = false;
    for (size_t i = 0; i < ev->n_documents; i++)
        has_phyto |= ev->documents[i]->type == D(PHYTOSANITARY) &&
                     strcmp(ev->documents[i]->number, "PHYTO-2026-0001") == 0;
    assert_true(has_phyto);
    ovop__v1__export_event__free_unpacked(ev, NULL);

    /* The sequencer numbers every event, without gaps. */
    for (int i = 0; i < 100 && count("SELECT count(*) FROM bus.events WHERE seq IS NULL"); i++)
        harness_sleep_ms(20);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE seq IS NULL"), 0);
    assert_int_equal(count("SELECT max(seq) FROM bus.events"),
                     count("SELECT count(*) FROM bus.events"));
}

/* The moves of exports.transitions, as the tests expect them. */
static bool allowed(int from, int to)
{
    switch (from) {
    case S(DRAFT):
        return to == S(DECLARED) || to == S(CANCELLED);
    case S(DECLARED):
        return to == S(DOCUMENTS_COMPLETE) || to == S(CANCELLED) || to == S(REJECTED);
    case S(DOCUMENTS_COMPLETE):
        return to == S(RELEASED) || to == S(CANCELLED) || to == S(REJECTED);
    case S(RELEASED):
        return to == S(DEPARTED) || to == S(REJECTED);
    case S(DEPARTED):
        return to == S(DELIVERED) || to == S(RETURNED);
    default:
        return false;
    }
}

static void test_illegal_transitions(void **state)
{
    int refused = 0;
    for (int from = S(DRAFT); from <= S(RETURNED); from++) {
        int64_t id = shipment_in(from);
        Ovop__V1__Shipment *s = get(id);
        assert_int_equal(s->status, from);
        protobuf_c_message_free_unpacked(&s->base, NULL);
        for (int to = S(DECLARED); to <= S(RETURNED); to++) {
            if (allowed(from, to))
                continue;
            snapshot_t before = snap();
            Ovop__V1__Reply *rep = NULL;
            Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
            t.shipment_id = id;
            t.to = to;
            t.reason = "testing an illegal move";
            /* Customs may record every kind of move: what is refused is the move itself. */
            assert_int_equal(
                call_as("customs", "TransitionShipment", NULL, &t.base, NULL, NULL, &rep),
                OVOP_FAILED_PRECONDITION);
            assert_violation(rep, "to", "cannot become");
            assert_reason(rep, "TRANSITION_NOT_ALLOWED");
            ovop__v1__reply__free_unpacked(rep, NULL);
            assert_unchanged(&before);
            refused++;
        }
    }
    assert_int_equal(refused, 9 * 8 - 12);

    /* Bad moves of an existing shipment. */
    int64_t id = shipment_in(S(DECLARED));
    snapshot_t before = snap();
    Ovop__V1__Reply *rep = NULL;
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = id;
    t.to = S(DRAFT);
    assert_int_equal(call("TransitionShipment", NULL, &t.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "to", "DECLARED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_at(id, S(CANCELLED), "", "", 0, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "reason", "required");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_as(CALLER, id, S(CANCELLED), "Customs Office", "x", 0, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_violation(rep, "agency", "Customs Office");
    assert_reason(rep, "AGENCY_NOT_YOURS");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_as(TAX_CLERK, id, S(REJECTED), "", "x", 0, &rep), OVOP_PERMISSION_DENIED);
    assert_violation(rep, "to", "customs or plant_quarantine or veterinary");
    assert_reason(rep, "AGENCY_REQUIRED");
    assert_meta(rep, "agencies", "customs,plant_quarantine,veterinary");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_at(id, S(CANCELLED), "", "x", 1000000, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "at_us", "before the shipment became declared");
    ovop__v1__reply__free_unpacked(rep, NULL);
    t.to = S(CANCELLED);
    t.reason = "x";
    t.border_point = "KG-TORUGART";
    assert_int_equal(call("TransitionShipment", NULL, &t.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "border_point", "only a move to DEPARTED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    t.border_point = "";
    t.expected_version = 1;
    assert_int_equal(call("TransitionShipment", NULL, &t.base, NULL, NULL, &rep), OVOP_ABORTED);
    assert_violation(rep, "expected_version", "at version 2, not 1");
    assert_reason(rep, "VERSION_MISMATCH");
    ovop__v1__reply__free_unpacked(rep, NULL);
    t.shipment_id = 987654321;
    t.expected_version = 0;
    assert_int_equal(call("TransitionShipment", NULL, &t.base, NULL, NULL, NULL), OVOP_NOT_FOUND);
    assert_unchanged(&before);

    /* With the right version the reply carries the next one; a retry writes nothing twice. */
    int64_t rel = shipment_in(S(RELEASED));
    Ovop__V1__Shipment *s = get(rel);
    t.shipment_id = rel;
    t.to = S(DEPARTED);
    t.reason = "";
    t.border_point = "KG-MANAS"; /* an airport, for a lorry */
    t.expected_version = s->version;
    assert_int_equal(call_as("customs", "TransitionShipment", NULL, &t.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "border_point", "not a crossing point for road");
    assert_reason(rep, "BORDER_POINT_INVALID");
    ovop__v1__reply__free_unpacked(rep, NULL);
    t.border_point = "KG-NOWHERE";
    assert_int_equal(call_as("customs", "TransitionShipment", NULL, &t.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "border_point", "not a crossing point");
    ovop__v1__reply__free_unpacked(rep, NULL);
    t.border_point = "";
    long events = count("SELECT count(*) FROM bus.events");
    ovop_client_t *c = svcenv_client_as(&E, "customs");
    Ovop__V1__Reply *r1 = NULL, *r2 = NULL;
    assert_int_equal(
        ovop_client_call(c, SERVICE, "TransitionShipment", "depart-1", &t.base, NULL, &r1, NULL),
        0);
    assert_int_equal(
        ovop_client_call(c, SERVICE, "TransitionShipment", "depart-1", &t.base, NULL, &r2, NULL),
        0);
    ovop_client_destroy(&c);
    assert_int_equal(r1->status ? r1->status->code : 0, OVOP_OK);
    assert_int_equal(r1->body.len, r2->body.len);
    assert_memory_equal(r1->body.data, r2->body.data, r1->body.len);
    Ovop__V1__TransitionResult *res =
        ovop__v1__transition_result__unpack(NULL, r1->body.len, r1->body.data);
    assert_int_equal(res->version, s->version + 1);
    ovop__v1__transition_result__free_unpacked(res, NULL);
    ovop__v1__reply__free_unpacked(r1, NULL);
    ovop__v1__reply__free_unpacked(r2, NULL);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events + 1);
    Ovop__V1__Shipment *after = get(rel);
    assert_int_equal(after->version, s->version + 1);
    assert_int_equal(after->status, S(DEPARTED));
    assert_string_equal(after->departed_via, "KG-IRKESHTAM");
    protobuf_c_message_free_unpacked(&after->base, NULL);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

/* --- who records a move --- */

/* The moves' statuses as exports.statuses spells them, indexed by ShipmentStatus. */
static const char *const status_text[] = {"",         "draft",    "declared",  "documents_complete",
                                          "released", "departed", "delivered", "cancelled",
                                          "rejected", "returned"};

/* The agency of a move is the principal's, never a field: a field naming another is refused,
 * release and exit are customs' alone, and a refusal writes nothing. */
static void test_agency_of_moves(void **state)
{
    int64_t id = shipment_in(S(DOCUMENTS_COMPLETE));
    Ovop__V1__Reply *rep = NULL;
    snapshot_t before = snap();

    /* Tax cannot release a shipment: the tax service holds no role that moves shipments... */
    assert_int_equal(move_at(id, S(RELEASED), "tax", NULL, 0, &rep), OVOP_PERMISSION_DENIED);
    assert_reason(rep, "MISSING_ROLE");
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* ...its officer at the export desk may move them, but release is customs', as it is not
     * the desk's either. */
    static const char *const not_customs[] = {TAX_CLERK, CALLER};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(not_customs); i++) {
        assert_int_equal(move_as(not_customs[i], id, S(RELEASED), "", NULL, 0, &rep),
                         OVOP_PERMISSION_DENIED);
        assert_reason(rep, "AGENCY_REQUIRED");
        assert_violation(rep, "to", "a move to released is recorded by customs");
        assert_violation(rep, "to", not_customs[i]);
        assert_meta(rep, "agencies", "customs");
        assert_meta(rep, "to", "released");
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    /* Nobody names another's agency: the desk (none) naming customs, tax's officer naming
     * customs for a move anyone may make, customs naming plant quarantine. */
    assert_int_equal(move_as(CALLER, id, S(RELEASED), "customs", NULL, 0, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_NOT_YOURS");
    assert_violation(rep, "agency", "acts for no agency");
    assert_violation(rep, "to", "recorded by customs");
    assert_meta(rep, "agency", "");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_as(TAX_CLERK, id, S(CANCELLED), "customs", "x", 0, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_NOT_YOURS");
    assert_violation(rep, "agency", "acts for tax");
    assert_meta(rep, "agency", "tax");
    assert_int_equal(rep->status->n_violations, 1);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(move_as("customs", id, S(REJECTED), "plant_quarantine", "x", 0, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_NOT_YOURS");
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* Decided before the shipment is looked at. */
    assert_int_equal(move_as(CALLER, 987654321, S(DEPARTED), "", NULL, 0, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_REQUIRED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* Shipment rows, history rows, events, stored replies: all as they were. */
    assert_unchanged(&before);

    /* Customs can, and the history and the event say who and for which agency. */
    assert_int_equal(move(id, S(RELEASED), "customs", NULL), OVOP_OK);
    assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE shipment_id = "
                            "%lld AND to_status = 'released' AND caller = 'customs' AND agency = "
                            "'customs'",
                            (long long)id),
                     1);
    assert_int_equal(move(id, S(DEPARTED), "customs", NULL), OVOP_OK);
    /* A move anyone may make is recorded under the mover's own agency. */
    assert_int_equal(move_as(TAX_CLERK, id, S(DELIVERED), "tax", NULL, 0, NULL), OVOP_OK);
    Ovop__V1__ShipmentHistory *h = history(id);
    Ovop__V1__HistoryEntry *last = h->entries[h->n_entries - 1];
    assert_int_equal(last->to_status, S(DELIVERED));
    assert_string_equal(last->caller, TAX_CLERK);
    assert_string_equal(last->agency, "tax");
    protobuf_c_message_free_unpacked(&h->base, NULL);
    char subject[48];
    snprintf(subject, sizeof(subject), "shipment/%lld", (long long)id);
    Ovop__V1__ExportEvent *ev = event_of("ovop.exports.shipment.delivered", subject);
    assert_string_equal(ev->caller, TAX_CLERK);
    assert_string_equal(ev->agency, "tax");
    ovop__v1__export_event__free_unpacked(ev, NULL);
    ev = event_of("ovop.exports.shipment.departed", subject);
    assert_string_equal(ev->caller, "customs");
    assert_string_equal(ev->agency, "customs");
    ovop__v1__export_event__free_unpacked(ev, NULL);

    /* exportd's table of the moves one agency records is exports.transitions': for every
     * status, the desk is refused before the database exactly when the table names agencies
     * for the moves to it (the same from every status), and the refusal names them. */
    for (int to = S(DECLARED); to <= S(RETURNED); to++) {
        assert_true(countf("SELECT count(DISTINCT agencies) FROM exports.transitions WHERE "
                           "to_status = '%s'",
                           status_text[to]) <= 1);
        char *agencies = scalarf("SELECT coalesce(string_agg(DISTINCT a, ',' ORDER BY a), '') "
                                 "FROM exports.transitions t, unnest(t.agencies) a WHERE "
                                 "t.to_status = '%s'",
                                 status_text[to]);
        int code = move_as(CALLER, 987654321, to, "", "x", 0, &rep);
        if (agencies[0]) {
            assert_int_equal(code, OVOP_PERMISSION_DENIED);
            assert_meta(rep, "agencies", agencies);
        } else {
            assert_int_equal(code, OVOP_NOT_FOUND);
        }
        ovop__v1__reply__free_unpacked(rep, NULL);
        free(agencies);
    }
}

/* --- documents --- */

/* SetDocumentStatus as principal who. */
static int set_doc(const char *who, int64_t doc, int status, const char *reason,
                   const char *issued_on, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__SetDocumentStatusRequest st = OVOP__V1__SET_DOCUMENT_STATUS_REQUEST__INIT;
    st.document_id = doc;
    st.status = status;
    st.reason = (char *)(reason ? reason : "");
    st.issued_on = (char *)(issued_on ? issued_on : "");
    return call_as(who, "SetDocumentStatus", NULL, &st.base, NULL, NULL, ret_rep);
}

#define DS(x) OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_##x

static void test_documents(void **state)
{
    char day[11], tomorrow[11], yesterday[11];
    today(day);
    day_offset(1, tomorrow);
    day_offset(-1, yesterday);
    int64_t id = shipment_in(S(DECLARED));
    int64_t doc = 0;

    snapshot_t before = snap();
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(attach(987654321, D(INVOICE), "INV-1", day, NULL, &rep), OVOP_NOT_FOUND);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(attach(id, D(INVOICE), "INV-1", tomorrow, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "issued_on", "in the future");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(attach(id, D(INVOICE), "INV-1", "", NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "issued_on", "required");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(attach(id, 0, "INV-1", day, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "type", NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(attach(id, D(INVOICE), "", day, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "number", "required");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* Attached once; the same number twice is refused. */
    assert_int_equal(attach(id, D(INVOICE), "INV-1", day, &doc, NULL), OVOP_OK);
    before = snap();
    assert_int_equal(attach(id, D(INVOICE), "INV-1", day, NULL, &rep), OVOP_ALREADY_EXISTS);
    assert_violation(rep, "number", "already has invoice INV-1");
    assert_reason(rep, "DOCUMENT_EXISTS");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* Status changes: issued -> revoked; nothing else from there. */
    assert_int_equal(set_doc(CALLER, doc, DS(REVOKED), "", NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "reason", "required");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(set_doc(CALLER, doc, DS(ISSUED), NULL, NULL, &rep), OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "status", "issued and cannot become issued");
    assert_reason(rep, "DOCUMENT_TRANSITION_NOT_ALLOWED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(set_doc(CALLER, doc, DS(REQUESTED), NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "status", "ISSUED, REJECTED or REVOKED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(set_doc(CALLER, 987654321, DS(REVOKED), "x", NULL, NULL), OVOP_NOT_FOUND);
    assert_int_equal(set_doc(CALLER, doc, DS(REVOKED), "amount corrected", NULL, NULL), OVOP_OK);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.exports.document.revoked' AND subject = 'document/%lld'",
                            (long long)doc),
                     1);
    assert_int_equal(set_doc(CALLER, doc, DS(ISSUED), NULL, NULL, NULL), OVOP_FAILED_PRECONDITION);

    /* Every document but an expired certificate of origin: still incomplete. */
    attach_missing(id);
    int64_t origin = (int64_t)count("SELECT max(id) FROM exports.documents");
    sql("UPDATE exports.documents SET valid_until = current_date - 1, issued_on = current_date - "
        "30 WHERE doc_type = 'origin_general' RETURNING 1");
    assert_int_equal(move_at(id, S(DOCUMENTS_COMPLETE), "", NULL, 0, &rep),
                     OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "to", "missing documents: origin_general");
    assert_reason(rep, "DOCUMENT_MISSING");
    ovop__v1__reply__free_unpacked(rep, NULL);
    Ovop__V1__AttachDocumentRequest a = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    a.shipment_id = id;
    a.type = D(ORIGIN_GENERAL);
    a.number = "CO-2";
    a.issuer = "chamber";
    a.issued_on = day;
    a.valid_until = yesterday;
    assert_int_equal(call_as("chamber", "AttachDocument", NULL, &a.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "valid_until", "before the date of issue");
    ovop__v1__reply__free_unpacked(rep, NULL);
    a.valid_until = "";
    assert_int_equal(call_as("chamber", "AttachDocument", NULL, &a.base, NULL, NULL, NULL),
                     OVOP_OK);
    assert_int_equal(move(id, S(DOCUMENTS_COMPLETE), "", NULL), OVOP_OK);

    /* A revoked requirement stops the release again. */
    int64_t phyto =
        (int64_t)count("SELECT id FROM exports.documents WHERE doc_type = "
                       "'phytosanitary' AND status = 'issued' ORDER BY id DESC LIMIT 1");
    assert_true(phyto > 0 && origin > 0);
    assert_int_equal(set_doc("plant_quarantine", phyto, DS(REVOKED), "wrong consignee", NULL, NULL),
                     OVOP_OK);
    assert_int_equal(move_at(id, S(RELEASED), "customs", NULL, 0, &rep), OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "to", "missing documents: phytosanitary");
    assert_reason(rep, "DOCUMENT_MISSING");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* Requested, then rejected. */
    a.type = D(PHYTOSANITARY);
    a.number = "PHYTO-9";
    a.issuer = "plant_quarantine";
    a.issued_on = "";
    a.status = DS(REQUESTED);
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("AttachDocument", NULL, &a.base, &ovop__v1__document__descriptor, &out, NULL),
        OVOP_OK);
    int64_t req = ((Ovop__V1__Document *)out)->id;
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(set_doc("plant_quarantine", req, DS(ISSUED), NULL, tomorrow, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "issued_on", "in the future");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(set_doc("plant_quarantine", req, DS(REJECTED), "samples failed", NULL, NULL),
                     OVOP_OK);
    assert_int_equal(set_doc("plant_quarantine", req, DS(ISSUED), NULL, NULL, NULL),
                     OVOP_FAILED_PRECONDITION);

    /* Nothing is attached once the goods left. */
    int64_t gone = shipment_in(S(DEPARTED));
    before = snap();
    assert_int_equal(attach(gone, D(INVOICE), "LATE-1", day, NULL, &rep), OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "shipment_id", "can no longer be attached");
    assert_reason(rep, "DOCUMENTS_CLOSED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
}

/* AttachDocument as principal who: issued today, or REQUESTED (no date). */
static int attach_as(const char *who, int64_t id, int type, const char *number, int status,
                     int64_t *ret_doc, Ovop__V1__Reply **ret_rep)
{
    char day[11];
    today(day);
    Ovop__V1__AttachDocumentRequest a = OVOP__V1__ATTACH_DOCUMENT_REQUEST__INIT;
    a.shipment_id = id;
    a.type = type;
    a.number = (char *)number;
    a.issuer = "the issuing office";
    a.status = status;
    a.issued_on = status == DS(REQUESTED) ? "" : day;
    ProtobufCMessage *out = NULL;
    int code = call_as(who, "AttachDocument", NULL, &a.base, &ovop__v1__document__descriptor, &out,
                       ret_rep);
    if (ret_doc)
        *ret_doc = out ? ((Ovop__V1__Document *)out)->id : 0;
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

/* Asserts a refusal PERMISSION_DENIED with reason, a violation on field and metadata key =
 * value, and frees the reply. */
static void assert_denied(Ovop__V1__Reply *rep, const char *reason, const char *field,
                          const char *key, const char *value)
{
    assert_int_equal(rep->status->code, OVOP_PERMISSION_DENIED);
    assert_reason(rep, reason);
    assert_violation(rep, field, NULL);
    assert_meta(rep, key, value);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* A certificate is issued, rejected and revoked by its agency alone, applied for by the export
 * desk; the exporter's papers are the desk's. Every refusal writes nothing. */
static void test_document_issuers(void **state)
{
    int64_t id = shipment_in(S(DECLARED)), doc = 0;
    Ovop__V1__Reply *rep = NULL;
    static const struct {
        int type;
        const char *issuer, *other;
    } certs[] = {
        {D(PHYTOSANITARY), "plant_quarantine", CALLER},
        {D(VETERINARY), "veterinary", "plant_quarantine"},
        {D(ORIGIN_CT1), "chamber", CALLER},
        {D(ORIGIN_FORM_A), "chamber", "customs"},
        {D(ORIGIN_GENERAL), "chamber", TAX_CLERK},
        {D(CUSTOMS_DECLARATION), "customs", "chamber"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(certs); i++) {
        char number[32];
        snprintf(number, sizeof(number), "CERT-%zu", i);
        snapshot_t before = snap();
        assert_int_equal(
            attach_as(certs[i].other, id, certs[i].type, number, DS(ISSUED), NULL, &rep),
            OVOP_PERMISSION_DENIED);
        assert_denied(rep, "AGENCY_REQUIRED", "status", "agencies", certs[i].issuer);
        assert_unchanged(&before);
        assert_int_equal(
            attach_as(certs[i].issuer, id, certs[i].type, number, DS(ISSUED), NULL, NULL), OVOP_OK);
    }

    /* A phytosanitary certificate: the desk applies, plant quarantine alone issues it. */
    assert_int_equal(attach_as(CALLER, id, D(PHYTOSANITARY), "PHYTO-A", DS(REQUESTED), &doc, NULL),
                     OVOP_OK);
    snapshot_t before = snap();
    static const char *const not_issuer[] = {CALLER, "veterinary", "customs"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(not_issuer); i++) {
        assert_int_equal(set_doc(not_issuer[i], doc, DS(ISSUED), NULL, NULL, &rep),
                         OVOP_PERMISSION_DENIED);
        assert_violation(rep, "status", "by plant_quarantine alone");
        assert_denied(rep, "AGENCY_REQUIRED", "status", "type", "phytosanitary");
        assert_int_equal(set_doc(not_issuer[i], doc, DS(REJECTED), "no", NULL, &rep),
                         OVOP_PERMISSION_DENIED);
        assert_denied(rep, "AGENCY_REQUIRED", "status", "agencies", "plant_quarantine");
    }
    /* Applying is the desk's, not plant quarantine's (it attaches what it issued). */
    assert_int_equal(
        attach_as("plant_quarantine", id, D(PHYTOSANITARY), "PHYTO-B", DS(REQUESTED), NULL, &rep),
        OVOP_PERMISSION_DENIED);
    assert_denied(rep, "MISSING_ROLE", "status", "role", "exports.clerk");
    assert_unchanged(&before);
    assert_int_equal(set_doc("plant_quarantine", doc, DS(ISSUED), NULL, NULL, NULL), OVOP_OK);
    char subject[48];
    snprintf(subject, sizeof(subject), "document/%lld", (long long)doc);
    Ovop__V1__ExportEvent *ev = event_of("ovop.exports.document.issued", subject);
    assert_string_equal(ev->caller, "plant_quarantine");
    assert_string_equal(ev->agency, "plant_quarantine");
    ovop__v1__export_event__free_unpacked(ev, NULL);
    before = snap();
    assert_int_equal(set_doc(CALLER, doc, DS(REVOKED), "wrong consignee", NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_denied(rep, "AGENCY_REQUIRED", "status", "agencies", "plant_quarantine");
    assert_unchanged(&before);
    assert_int_equal(set_doc("plant_quarantine", doc, DS(REVOKED), "wrong consignee", NULL, NULL),
                     OVOP_OK);

    /* The exporter's papers: the export desk's (its role, whatever its agency), no agency's. */
    before = snap();
    assert_int_equal(attach_as("customs", id, D(INVOICE), "INV-C", DS(ISSUED), NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_denied(rep, "MISSING_ROLE", "type", "role", "exports.clerk");
    assert_unchanged(&before);
    assert_int_equal(attach_as(TAX_CLERK, id, D(INVOICE), "INV-C", DS(ISSUED), &doc, NULL),
                     OVOP_OK);
    before = snap();
    assert_int_equal(set_doc("plant_quarantine", doc, DS(REVOKED), "x", NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_denied(rep, "MISSING_ROLE", "document_id", "role", "exports.clerk");
    assert_unchanged(&before);
    assert_int_equal(set_doc(CALLER, doc, DS(REVOKED), "amount corrected", NULL, NULL), OVOP_OK);
}

/* --- the compliance rule --- */

/* RecordViolationNotice as principal who. */
static int notice_as(const char *who, int64_t exporter, const char *country, const char *on,
                     const char *reference, const char *rid, Ovop__V1__ViolationNotice **ret,
                     Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__RecordViolationNoticeRequest in = OVOP__V1__RECORD_VIOLATION_NOTICE_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    x.kind = PRODUCER;
    x.id = exporter;
    in.exporter = &x;
    in.country = (char *)country;
    in.noticed_on = (char *)on;
    in.authority = "GACC";
    in.reference = (char *)reference;
    in.description = "live pests found in a consignment";
    ProtobufCMessage *out = NULL;
    int code = call_as(who, "RecordViolationNotice", rid, &in.base,
                       &ovop__v1__violation_notice__descriptor, &out, ret_rep);
    if (ret)
        *ret = (Ovop__V1__ViolationNotice *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

/* A notice as plant quarantine records it. */
static int notice(int64_t exporter, const char *country, const char *on, const char *reference,
                  const char *rid, Ovop__V1__ViolationNotice **ret, Ovop__V1__Reply **ret_rep)
{
    return notice_as("plant_quarantine", exporter, country, on, reference, rid, ret, ret_rep);
}

static Ovop__V1__ExporterCompliance *compliance(int64_t exporter)
{
    Ovop__V1__GetExporterComplianceRequest in = OVOP__V1__GET_EXPORTER_COMPLIANCE_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    x.kind = PRODUCER;
    x.id = exporter;
    in.exporter = &x;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetExporterCompliance", NULL, &in.base,
                          &ovop__v1__exporter_compliance__descriptor, &out, NULL),
                     OVOP_OK);
    return (Ovop__V1__ExporterCompliance *)out;
}

static void test_blocked_exporter(void **state)
{
    char d400[11], d100[11], d10[11], d5[11], until[11], tomorrow[11], day[11];
    day_offset(-400, d400);
    day_offset(-100, d100);
    day_offset(-10, d10);
    day_offset(-5, d5);
    day_offset(50, until); /* 60 days after the notice of 10 days ago */
    day_offset(1, tomorrow);
    today(day);
    /* A draft of plant goods made before any notice. */
    int64_t draft = new_shipment(PRODUCER, APRICOT, P_APRICOT, APRICOT, "CN");
    Ovop__V1__ViolationNotice *v = NULL;
    Ovop__V1__Reply *rep = NULL;

    /* Bad notices write nothing; nor do notices by anyone but plant quarantine. */
    snapshot_t before = snap();
    static const char *const not_quarantine[] = {CALLER, "customs", "veterinary", "tax"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(not_quarantine); i++) {
        assert_int_equal(
            notice_as(not_quarantine[i], APRICOT, "CN", d10, "GACC-0", NULL, NULL, &rep),
            OVOP_PERMISSION_DENIED);
        assert_reason(rep, "MISSING_ROLE");
        assert_non_null(strstr(rep->status->message, "plant_quarantine"));
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    assert_int_equal(notice(987654, "CN", d10, "", NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "exporter.id", "no producer with id 987654");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(notice(APRICOT, "XX", d10, "", NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "country", "unknown country code");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(notice(APRICOT, "CN", tomorrow, "", NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "noticed_on", "in the future");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* Two notices from China more than 12 months apart, one from Kazakhstan: no block. */
    assert_int_equal(notice(APRICOT, "CN", d400, "GACC-1", NULL, &v, NULL), OVOP_OK);
    assert_string_equal(v->phyto_blocked_until, "");
    protobuf_c_message_free_unpacked(&v->base, NULL);
    assert_int_equal(notice(APRICOT, "KZ", d100, "KZ-1", NULL, &v, NULL), OVOP_OK);
    assert_string_equal(v->phyto_blocked_until, "");
    protobuf_c_message_free_unpacked(&v->base, NULL);
    assert_int_equal(notice(APRICOT, "CN", d10, "GACC-2", "notice-2", &v, NULL), OVOP_OK);
    assert_string_equal(v->phyto_blocked_until, "");
    protobuf_c_message_free_unpacked(&v->base, NULL);
    assert_int_equal(notice(APRICOT, "CN", d10, "GACC-2", NULL, NULL, &rep), OVOP_ALREADY_EXISTS);
    assert_violation(rep, "reference", "already recorded");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A second notice from China within 12 months: blocked for 60 days from it. */
    assert_int_equal(notice(APRICOT, "CN", d5, "GACC-3", "notice-3", &v, NULL), OVOP_OK);
    day_offset(55, until);
    assert_string_equal(v->phyto_blocked_until, until);
    assert_string_equal(v->country, "CN");
    int64_t notice_id = v->id;
    protobuf_c_message_free_unpacked(&v->base, NULL);
    /* Its retry answers the same and records nothing twice. */
    long notices = count("SELECT count(*) FROM exports.violation_notices");
    assert_int_equal(notice(APRICOT, "CN", d5, "GACC-3", "notice-3", &v, NULL), OVOP_OK);
    assert_int_equal(v->id, notice_id);
    assert_string_equal(v->phyto_blocked_until, until);
    protobuf_c_message_free_unpacked(&v->base, NULL);
    assert_int_equal(count("SELECT count(*) FROM exports.violation_notices"), notices);
    assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE type = "
                            "'ovop.exports.violation.recorded' AND subject = 'violation/%lld' "
                            "AND destination = 'CN' AND soate = '" VILLAGE_B "'",
                            (long long)notice_id),
                     1);

    Ovop__V1__ExporterCompliance *c = compliance(APRICOT);
    assert_string_equal(c->phyto_blocked_until, until);
    assert_string_equal(c->blocked_by_country, "CN");
    assert_int_equal(c->n_notices, 3); /* of the last 12 months, newest first */
    assert_string_equal(c->notices[0]->reference, "GACC-3");
    protobuf_c_message_free_unpacked(&c->base, NULL);
    c = compliance(HONEY);
    assert_string_equal(c->phyto_blocked_until, "");
    assert_int_equal(c->n_notices, 0);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    Ovop__V1__GetExporterComplianceRequest gc = OVOP__V1__GET_EXPORTER_COMPLIANCE_REQUEST__INIT;
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    x.kind = COOPERATIVE;
    x.id = 987654;
    gc.exporter = &x;
    assert_int_equal(call("GetExporterCompliance", NULL, &gc.base, NULL, NULL, NULL),
                     OVOP_NOT_FOUND);

    /* Declaring plant goods fails and says until when; nothing is written. */
    before = snap();
    assert_int_equal(move_at(draft, S(DECLARED), "", NULL, 0, &rep), OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "to", until);
    assert_reason(rep, "PHYTO_BLOCKED");
    assert_meta(rep, "blocked_until", until);
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* So does a new phytosanitary certificate. */
    assert_int_equal(attach(draft, D(PHYTOSANITARY), "PHYTO-X", day, NULL, &rep),
                     OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "type", until);
    assert_reason(rep, "PHYTO_BLOCKED");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
    /* Other documents are fine, and so is another exporter's honey. */
    assert_int_equal(attach(draft, D(INVOICE), "INV-B", day, NULL, NULL), OVOP_OK);
    int64_t honey = new_shipment(PRODUCER, HONEY, P_HONEY, HONEY, "CN");
    assert_int_equal(move(honey, S(DECLARED), "", NULL), OVOP_OK);
    /* The block ends by itself: move the notices 61 days back. */
    sql("UPDATE exports.violation_notices SET noticed_on = noticed_on - 61 WHERE exporter_id = "
        "9001 RETURNING 1");
    assert_int_equal(move(draft, S(DECLARED), "", NULL), OVOP_OK);
    c = compliance(APRICOT);
    assert_string_equal(c->phyto_blocked_until, "");
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

/* --- batches --- */

typedef struct batch {
    Ovop__V1__RecordShipmentEventsRequest in;
    Ovop__V1__ShipmentTransition items[64];
    Ovop__V1__ShipmentTransition *ptrs[64];
} batch_t;

static void batch_init(batch_t *b)
{
    memset(b, 0, sizeof(*b));
    ovop__v1__record_shipment_events_request__init(&b->in);
    b->in.transitions = b->ptrs;
}

static void batch_add(batch_t *b, int64_t id, int to, const char *agency)
{
    Ovop__V1__ShipmentTransition *t = &b->items[b->in.n_transitions];
    ovop__v1__shipment_transition__init(t);
    t->shipment_id = id;
    t->to = to;
    t->agency = (char *)agency;
    b->ptrs[b->in.n_transitions++] = t;
}

/* RecordShipmentEvents as customs, who may record every move of these batches. */
static int customs_batch(const char *rid, const batch_t *b, const ProtobufCMessageDescriptor *desc,
                         ProtobufCMessage **ret_out, Ovop__V1__Reply **ret_rep)
{
    return call_as("customs", "RecordShipmentEvents", rid, &b->in.base, desc, ret_out, ret_rep);
}

static void test_batch(void **state)
{
    /* Four shipments with their documents, each taken from draft to departed in one batch by
     * customs (the declaration and completion are anyone's, the rest customs'). */
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        ids[i] = new_shipment(PRODUCER, HONEY, P_HONEY, HONEY, "CN");
        attach_missing(ids[i]);
    }
    batch_t b;
    batch_init(&b);
    for (int i = 0; i < 4; i++) {
        batch_add(&b, ids[i], S(DECLARED), "");
        batch_add(&b, ids[i], S(DOCUMENTS_COMPLETE), "");
    }
    for (int i = 0; i < 4; i++) {
        batch_add(&b, ids[i], S(RELEASED), "customs");
        batch_add(&b, ids[i], S(DEPARTED), "customs");
    }

    /* One bad item (shipment 0 from RELEASED straight to DELIVERED) and nothing of the batch
     * is written. */
    snapshot_t before = snap();
    Ovop__V1__Reply *rep = NULL;
    b.items[9].to = S(DELIVERED); /* shipment 0: released -> delivered */
    assert_int_equal(customs_batch(NULL, &b, NULL, NULL, &rep), OVOP_FAILED_PRECONDITION);
    assert_violation(rep, "transitions[9].to", "cannot become delivered");
    assert_reason(rep, "TRANSITION_NOT_ALLOWED");
    assert_non_null(strstr(rep->status->message, "none recorded"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* Several bad items: every one is listed. */
    before = snap();
    b.items[0].shipment_id = 987654321;
    assert_int_equal(customs_batch(NULL, &b, NULL, NULL, &rep), OVOP_NOT_FOUND);
    assert_violation(rep, "transitions[0].shipment_id", "no shipment");
    assert_violation(rep, "transitions[9].to", NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
    b.items[0].shipment_id = ids[0];
    b.items[9].to = S(DEPARTED);

    /* One move naming a foreign agency refuses the whole batch, before the database. */
    before = snap();
    b.items[12].agency = "tax";
    assert_int_equal(customs_batch(NULL, &b, NULL, NULL, &rep), OVOP_PERMISSION_DENIED);
    assert_violation(rep, "transitions[12].agency", "\"tax\"");
    assert_int_equal(rep->status->n_violations, 1);
    assert_reason(rep, "AGENCY_NOT_YOURS");
    assert_meta(rep, "agency", "customs");
    assert_non_null(strstr(rep->status->message, "1 of 16 transitions refused, none recorded"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);
    before = snap();
    b.items[12].agency = "customs";
    /* The export desk may declare and complete, not release nor depart: all refused. */
    assert_int_equal(call("RecordShipmentEvents", NULL, &b.in.base, NULL, NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_NOT_YOURS"); /* items 8-15 name customs, the desk has none */
    assert_violation(rep, "transitions[8].agency", NULL);
    assert_violation(rep, "transitions[8].to", "recorded by customs");
    assert_violation(rep, "transitions[15].to", "recorded by customs");
    assert_int_equal(rep->status->n_violations, 16);
    ovop__v1__reply__free_unpacked(rep, NULL);
    for (int i = 8; i < 16; i++)
        b.items[i].agency = "";
    assert_int_equal(call("RecordShipmentEvents", NULL, &b.in.base, NULL, NULL, &rep),
                     OVOP_PERMISSION_DENIED);
    assert_reason(rep, "AGENCY_REQUIRED");
    assert_meta(rep, "agencies", "customs");
    assert_meta(rep, "to", "released");
    assert_int_equal(rep->status->n_violations, 8);
    assert_non_null(strstr(rep->status->message, "8 of 16 transitions refused, none recorded"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* Checks made before the database: each bad field named, nothing written. */
    before = snap();
    b.items[3].at_us = ((int64_t)time(NULL) + 86400) * 1000000;
    b.items[5].to = 0;
    assert_int_equal(customs_batch(NULL, &b, NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "transitions[3].at_us", "in the future");
    assert_violation(rep, "transitions[5].to", NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    b.items[3].at_us = 0;
    b.items[5].to = S(DOCUMENTS_COMPLETE);
    /* Over --batch-max (20 in these tests), or empty. */
    batch_t big;
    batch_init(&big);
    for (int i = 0; i < BATCH_MAX + 1; i++)
        batch_add(&big, ids[0], S(DECLARED), "");
    assert_int_equal(customs_batch(NULL, &big, NULL, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_violation(rep, "transitions", "1 to 20");
    ovop__v1__reply__free_unpacked(rep, NULL);
    big.in.n_transitions = 0;
    assert_int_equal(customs_batch(NULL, &big, NULL, NULL, NULL), OVOP_INVALID_ARGUMENT);
    assert_unchanged(&before);

    /* The good batch: all sixteen moves, in order, with their events. */
    long events = count("SELECT count(*) FROM bus.events");
    long departed = count("SELECT coalesce(sum(shipments), 0) FROM exports.stats_monthly");
    ProtobufCMessage *out = NULL;
    assert_int_equal(customs_batch("batch-1", &b,
                                   &ovop__v1__record_shipment_events_response__descriptor, &out,
                                   &rep),
                     OVOP_OK);
    Ovop__V1__RecordShipmentEventsResponse *res = (Ovop__V1__RecordShipmentEventsResponse *)out;
    assert_int_equal(res->n_results, 16);
    for (size_t i = 0; i < res->n_results; i++) {
        assert_int_equal(res->results[i]->shipment_id, b.items[i].shipment_id);
        assert_int_equal(res->results[i]->status, b.items[i].to);
        assert_int_equal(
            countf("SELECT count(*) FROM bus.events WHERE id = '%s'", res->results[i]->event_id),
            1);
    }
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events + 16);
    for (int i = 0; i < 4; i++) {
        Ovop__V1__Shipment *s = get(ids[i]);
        assert_int_equal(s->status, S(DEPARTED));
        protobuf_c_message_free_unpacked(&s->base, NULL);
        Ovop__V1__ShipmentHistory *h = history(ids[i]);
        assert_int_equal(h->n_entries, 5);
        assert_int_equal(h->entries[4]->from_status, S(RELEASED));
        assert_string_equal(h->entries[4]->request_id, "batch-1");
        for (size_t k = 1; k < 5; k++) { /* every move of the batch is customs' */
            assert_string_equal(h->entries[k]->caller, "customs");
            assert_string_equal(h->entries[k]->agency, "customs");
        }
        protobuf_c_message_free_unpacked(&h->base, NULL);
    }
    assert_int_equal(count("SELECT coalesce(sum(shipments), 0) FROM exports.stats_monthly"),
                     departed + 4);
    /* The retry: the same reply, nothing twice. */
    Ovop__V1__Reply *again = NULL;
    assert_int_equal(customs_batch("batch-1", &b, NULL, NULL, &again), OVOP_OK);
    assert_int_equal(again->body.len, rep->body.len);
    assert_memory_equal(again->body.data, rep->body.data, rep->body.len);
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events + 16);
    ovop__v1__reply__free_unpacked(again, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    protobuf_c_message_free_unpacked(out, NULL);

    /* Departed and returned in one batch leave the statistics as they were. */
    int64_t r1 = shipment_in(S(RELEASED));
    char *stats = pgtest_scalar(E.conn, "SELECT sum(shipments) || '/' || sum(net_g) FROM "
                                        "exports.stats_monthly");
    batch_init(&b);
    batch_add(&b, r1, S(DEPARTED), "customs");
    b.items[0].reference = "";
    batch_add(&b, r1, S(RETURNED), "");
    b.items[1].reason = "refused by the buyer";
    assert_int_equal(customs_batch(NULL, &b, NULL, NULL, NULL), OVOP_OK);
    char *after = pgtest_scalar(E.conn, "SELECT sum(shipments) || '/' || sum(net_g) FROM "
                                        "exports.stats_monthly");
    assert_string_equal(after, stats);
    free(stats);
    free(after);
}

/* --- statistics --- */

static Ovop__V1__ExportStatisticsResponse *stats(Ovop__V1__ExportStatisticsRequest *in, int expect)
{
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("GetExportStatistics", NULL, &in->base,
                          &ovop__v1__export_statistics_response__descriptor, &out, NULL),
                     expect);
    return (Ovop__V1__ExportStatisticsResponse *)out;
}

/* Totals recomputed from the shipments, to compare with the aggregates. */
typedef struct totals {
    double tonnes;
    long shipments;
    int64_t usd_cents, som_tyiyn;
} totals_t;

static totals_t recount(const char *where)
{
    totals_t t;
    char *v = scalarf("SELECT (coalesce(sum(l.net_kg), 0) / 1000) || ' ' || "
                      "(coalesce(sum(l.value_usd), 0) * 100)::bigint || ' ' || "
                      "(coalesce(sum(l.value_som), 0) * 100)::bigint "
                      "FROM exports.shipments s JOIN exports.lots l ON l.shipment_id = s.id "
                      "WHERE s.stats_month IS NOT NULL %s",
                      where);
    char *end;
    t.tonnes = strtod(v, &end);
    t.usd_cents = strtoll(end, &end, 10);
    t.som_tyiyn = strtoll(end, NULL, 10);
    free(v);
    t.shipments = countf("SELECT count(*) FROM exports.shipments s WHERE s.stats_month IS NOT "
                         "NULL %s",
                         where);
    return t;
}

/* A row of statistics has the recounted totals, money to the cent. */
static void assert_totals(const Ovop__V1__StatsRow *row, const totals_t *t)
{
    assert_int_equal(row->shipments, t->shipments);
    assert_true(row->tonnes == t->tonnes);
    assert_int_equal(row->value_usd_cents, t->usd_cents);
    assert_int_equal(row->value_som_tyiyn, t->som_tyiyn);
}

static void test_statistics(void **state)
{
    Ovop__V1__ExportStatisticsRequest in = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    Ovop__V1__ExportStatisticsResponse *r = stats(&in, OVOP_OK);
    totals_t t = recount("");
    long n = t.shipments;
    assert_int_equal(r->n_rows, 1);
    assert_true(n > 0 && t.usd_cents > 0 && t.som_tyiyn > 0);
    assert_totals(r->rows[0], &t);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* A returned shipment leaves the month it departed in. */
    int64_t id = shipment_in(S(DEPARTED));
    r = stats(&in, OVOP_OK);
    assert_int_equal(r->rows[0]->shipments, n + 1);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(move(id, S(RETURNED), "", "fruit moth found"), OVOP_OK);
    r = stats(&in, OVOP_OK);
    assert_int_equal(r->rows[0]->shipments, n);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* By region, district, HS code, destination and month. */
    Ovop__V1__StatsDimension by[] = {OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_REGION,
                                     OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DISTRICT,
                                     OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE,
                                     OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DESTINATION,
                                     OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH};
    in.n_group_by = 5;
    in.group_by = by;
    r = stats(&in, OVOP_OK);
    assert_true(r->n_rows >= 2);
    long sum = 0;
    bool batken = false, naryn = false;
    for (size_t i = 0; i < r->n_rows; i++) {
        Ovop__V1__StatsRow *row = r->rows[i];
        sum += row->shipments;
        assert_int_equal(strlen(row->month), 7);
        if (strcmp(row->district, "41705214000000") == 0) {
            batken = true;
            assert_string_equal(row->region, "41705000000000");
            assert_string_equal(row->hs_code, "081310");
            assert_string_equal(row->destination, "CN");
        }
        naryn |= strcmp(row->hs_code, "040900") == 0 && strcmp(row->region, "41704000000000") == 0;
    }
    assert_true(batken && naryn);
    assert_int_equal(sum, n); /* one lot per shipment here: rows do not split shipments */
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Filters. */
    in.n_group_by = 1;
    in.territory_prefix = "41705000000000";
    r = stats(&in, OVOP_OK);
    t = recount("AND s.origin_territory LIKE '41705%'");
    assert_int_equal(r->n_rows, 1);
    assert_string_equal(r->rows[0]->region, "41705000000000");
    assert_totals(r->rows[0], &t);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    in.territory_prefix = "";
    in.hs_prefix = "0409";
    in.destination = "CN";
    r = stats(&in, OVOP_OK);
    assert_int_equal(r->n_rows, 1);
    assert_string_equal(r->rows[0]->region, "41704000000000");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    in.hs_prefix = "";
    in.destination = "";
    in.from_month = "2001-01";
    in.to_month = "2001-12";
    r = stats(&in, OVOP_OK);
    assert_int_equal(r->n_rows, 0);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* Bad requests. */
    Ovop__V1__ExportStatisticsRequest bad = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    bad.from_month = "2026-13";
    stats(&bad, OVOP_INVALID_ARGUMENT);
    bad.from_month = "";
    bad.territory_prefix = VILLAGE_B;
    stats(&bad, OVOP_INVALID_ARGUMENT);
    bad.territory_prefix = "";
    Ovop__V1__StatsDimension twice[] = {OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH,
                                        OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH};
    bad.n_group_by = 2;
    bad.group_by = twice;
    stats(&bad, OVOP_INVALID_ARGUMENT);
}

/* TransitionShipment from a client thread (no cmocka asserts there): moves shipment id to
 * `to` under request id rid (NULL: a fresh one), as the principal of client c. Returns the
 * status code, or -1 when no answer came; *ret_rep gets the reply when asked for (else it is
 * freed). */
static int thread_move(ovop_client_t *c, const char *rid, int64_t id, int to,
                       Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__ShipmentTransition t = OVOP__V1__SHIPMENT_TRANSITION__INIT;
    t.shipment_id = id;
    t.to = to;
    Ovop__V1__Reply *rep = NULL;
    if (ovop_client_call(c, SERVICE, "TransitionShipment", rid, &t.base, NULL, &rep, NULL) != 0)
        return -1;
    int code = rep->status ? (int)rep->status->code : OVOP_OK;
    if (ret_rep)
        *ret_rep = rep;
    else
        ovop__v1__reply__free_unpacked(rep, NULL);
    return code;
}

/* Eight writers depart shipments of the same cell at once: no lost update, no deadlock. */
typedef struct writer {
    int64_t ids[8];
    int n;
    int failures;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    for (int i = 0; i < w->n; i++) {
        ovop_client_t *c = svcenv_client_as(&E, "customs");
        if (thread_move(c, NULL, w->ids[i], S(DEPARTED), NULL) != OVOP_OK)
            w->failures++;
        ovop_client_destroy(&c);
    }
    return NULL;
}

static void test_concurrent_statistics(void **state)
{
    writer_t w[8];
    pthread_t th[8];
    /* Released shipments, made quickly: copies of one, straight in the tables. */
    int64_t proto = shipment_in(S(RELEASED));
    for (int k = 0; k < 8; k++) {
        w[k].n = 6;
        w[k].failures = 0;
        for (int i = 0; i < w[k].n; i++) {
            char *v = scalarf(
                "WITH n AS (SELECT nextval('exports.ids') AS id), s AS ("
                " INSERT INTO exports.shipments SELECT n.id, s.exporter_kind, s.exporter_id, "
                " s.exporter_name, s.buyer_name, s.buyer_country, s.buyer_address, s.destination, "
                " s.incoterm, s.transport_mode, s.vehicle, s.consignment_note, s.border_point, "
                " s.planned_departure, s.planned_arrival, s.origin_territory, s.hs6, s.origins, "
                " s.required_docs, "
                " s.net_kg, s.value_usd, s.value_som, s.status, s.version, s.created_at, "
                " s.created_by, s.status_at, s.declared_at, s.documents_complete_at, "
                " s.released_at, NULL, NULL, NULL, NULL, s.event_pb "
                " FROM exports.shipments s, n WHERE s.id = %lld RETURNING id), l AS ("
                " INSERT INTO exports.lots SELECT s.id, l.ord, l.product_id, l.producer_id, l.hs6, "
                " l.product_name, l.quantity, l.unit, l.net_kg, l.value_usd, l.value_som, "
                " l.territory_code FROM exports.lots l, s WHERE l.shipment_id = %lld) "
                "SELECT id FROM s",
                (long long)proto, (long long)proto);
            w[k].ids[i] = strtoll(v, NULL, 10);
            free(v);
        }
    }
    char *before = pgtest_scalar(E.conn, "SELECT coalesce(sum(shipments), 0) || '/' || "
                                         "coalesce(sum(net_g), 0) FROM exports.stats_monthly");
    for (int k = 0; k < 8; k++)
        pthread_create(&th[k], NULL, writer_main, &w[k]);
    for (int k = 0; k < 8; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < 8; k++)
        assert_int_equal(w[k].failures, 0);
    /* The aggregates equal a recount from the shipments. */
    totals_t t = recount("");
    Ovop__V1__ExportStatisticsRequest in = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    Ovop__V1__ExportStatisticsResponse *r = stats(&in, OVOP_OK);
    assert_totals(r->rows[0], &t);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    long before_n = strtol(before, NULL, 10);
    assert_int_equal(t.shipments, before_n + 48);
    free(before);

    /* Folding the stripes into one row per cell changes no figure. */
    char *totals = pgtest_scalar(E.conn, "SELECT sum(shipments) || '/' || sum(net_g) || '/' || "
                                         "sum(usd_cents) FROM exports.stats_monthly");
    long folded = count("SELECT exports.fold_stats()");
    assert_true(folded >= -1);
    for (int i = 0; i < 50 && count("SELECT count(*) FROM exports.stats_monthly WHERE stripe <> 0");
         i++) {
        harness_sleep_ms(100);
        count("SELECT exports.fold_stats()");
    }
    assert_int_equal(count("SELECT count(*) FROM exports.stats_monthly WHERE stripe <> 0"), 0);
    char *after = pgtest_scalar(E.conn, "SELECT sum(shipments) || '/' || sum(net_g) || '/' || "
                                        "sum(usd_cents) FROM exports.stats_monthly");
    assert_string_equal(after, totals);
    free(totals);
    free(after);
}

/* Sixteen clients move at once, so that exportd puts many requests in one statement: each
 * must get its own answer. Per round: 8 valid departures, 4 illegal moves (FAILED_PRECONDITION
 * naming their own shipment), 2 different requests racing on one shipment (exactly one
 * wins), and 2 copies of one request (same id and body: one move, the same reply twice). */
typedef struct mover {
    const char *request_id;
    int64_t shipment_id;
    int to;
    const char *agency; /* whose principal moves: customs, or "" for the export desk */
    pthread_barrier_t *start;
    int code;
    char *message;
    uint8_t *body;
    size_t body_len;
} mover_t;

static void *mover_main(void *arg)
{
    mover_t *m = arg;
    ovop_client_t *c = svcenv_client_as(&E, principal_of(m->agency));
    Ovop__V1__Reply *rep = NULL;
    pthread_barrier_wait(m->start);
    m->code = thread_move(c, m->request_id, m->shipment_id, m->to, &rep);
    if (rep) {
        m->message = xstrdup(rep->status ? rep->status->message : "");
        m->body = xmemdup(rep->body.data, rep->body.len);
        m->body_len = rep->body.len;
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    ovop_client_destroy(&c);
    return NULL;
}

/* A value of exportd i's /metrics, which must have it. */
static double metric(int i, const char *series)
{
    double v = harness_port_metric(E.daemon_http[i], series);
    assert_true(v >= 0);
    return v;
}

static void test_coalesced_moves(void **state)
{
    enum { N = 16, ROUNDS = 3 };
    double requests = 0, statements = 0;
    for (int i = 0; i < 2; i++) {
        requests -= metric(i, "ovop_exports_move_requests_per_statement_sum");
        statements -= metric(i, "ovop_exports_move_requests_per_statement_count");
    }
    for (int round = 0; round < ROUNDS; round++) {
        int64_t released[8], illegal[4], raced, twin;
        for (int i = 0; i < 8; i++)
            released[i] = shipment_in(S(RELEASED));
        for (int i = 0; i < 4; i++)
            illegal[i] = shipment_in(S(RELEASED));
        raced = shipment_in(S(RELEASED));
        twin = shipment_in(S(RELEASED));
        long events = count("SELECT count(*) FROM bus.events");

        mover_t m[N];
        pthread_t th[N];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, N);
        char ids[N][48];
        for (int i = 0; i < N; i++) {
            snprintf(ids[i], sizeof(ids[i]), "coalesced-%d-%d", round, i);
            m[i] = (mover_t){
                .request_id = ids[i], .to = S(DEPARTED), .agency = "customs", .start = &start};
        }
        for (int i = 0; i < 8; i++)
            m[i].shipment_id = released[i];
        for (int i = 0; i < 4; i++) {
            m[8 + i].shipment_id = illegal[i];
            m[8 + i].to = S(DELIVERED); /* not before DEPARTED */
            m[8 + i].agency = "";
        }
        m[12].shipment_id = m[13].shipment_id = raced;
        m[14].shipment_id = m[15].shipment_id = twin;
        m[15].request_id = m[14].request_id;
        for (int i = 0; i < N; i++)
            pthread_create(&th[i], NULL, mover_main, &m[i]);
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);

        for (int i = 0; i < 8; i++) {
            assert_int_equal(m[i].code, OVOP_OK);
            Ovop__V1__TransitionResult *r =
                ovop__v1__transition_result__unpack(NULL, m[i].body_len, m[i].body);
            assert_non_null(r);
            assert_int_equal(r->shipment_id, released[i]);
            assert_int_equal(r->status, S(DEPARTED));
            /* Each request of a shared statement with its own principal and agency. */
            assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE "
                                    "shipment_id = %lld AND to_status = 'departed' AND "
                                    "request_id = '%s' AND from_status = 'released' AND "
                                    "caller = 'customs' AND agency = 'customs'",
                                    (long long)released[i], m[i].request_id),
                             1);
            ovop__v1__transition_result__free_unpacked(r, NULL);
        }
        for (int i = 8; i < 12; i++) {
            assert_int_equal(m[i].code, OVOP_FAILED_PRECONDITION);
            char want[64];
            snprintf(want, sizeof(want), "shipment %lld is released", (long long)illegal[i - 8]);
            assert_non_null(strstr(m[i].message, want));
            assert_int_equal(countf("SELECT count(*) FROM bus.idempotency WHERE request_id = '%s'",
                                    m[i].request_id),
                             0);
        }
        /* The race: one winner, and the loser is told the shipment already departed. */
        assert_true((m[12].code == OVOP_OK) != (m[13].code == OVOP_OK));
        mover_t *loser = m[12].code == OVOP_OK ? &m[13] : &m[12];
        assert_int_equal(loser->code, OVOP_FAILED_PRECONDITION);
        assert_non_null(strstr(loser->message, "departed and cannot become departed"));
        /* The twins: one move, one reply for both. */
        assert_int_equal(m[14].code, OVOP_OK);
        assert_int_equal(m[15].code, OVOP_OK);
        assert_int_equal(m[14].body_len, m[15].body_len);
        assert_memory_equal(m[14].body, m[15].body, m[14].body_len);
        assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE "
                                "shipment_id = %lld AND to_status = 'departed'",
                                (long long)twin),
                         1);
        /* 8 departures, the race's winner and the twins' one move. */
        assert_int_equal(count("SELECT count(*) FROM bus.events"), events + 10);
        for (int i = 0; i < N; i++) {
            free(m[i].message);
            free(m[i].body);
        }
    }
    /* Some statement answered several of these requests at once. */
    for (int i = 0; i < 2; i++) {
        requests += metric(i, "ovop_exports_move_requests_per_statement_sum");
        statements += metric(i, "ovop_exports_move_requests_per_statement_count");
    }
    assert_true(statements > 0);
    assert_true(requests > statements);
}

/* Statements of moves are killed under the clients (their PostgreSQL backends terminated)
 * while 8 clients depart 48 shipments: every request is answered OK in the end (a client
 * retries UNAVAILABLE with the same request id, as clients must), each shipment departs
 * exactly once with one event, and the daemons keep serving. */
typedef struct departer {
    int64_t ids[6];
    int ok;
} departer_t;

static atomic_bool killing;

static void *departer_main(void *arg)
{
    departer_t *d = arg;
    ovop_client_t *c = svcenv_client_as(&E, "customs");
    for (int i = 0; i < 6; i++) {
        char rid[48];
        snprintf(rid, sizeof(rid), "killed-%lld", (long long)d->ids[i]);
        for (int attempt = 0; attempt < 20; attempt++) {
            if (thread_move(c, rid, d->ids[i], S(DEPARTED), NULL) == OVOP_OK) {
                d->ok++;
                break;
            }
            harness_sleep_ms(50);
        }
    }
    ovop_client_destroy(&c);
    return NULL;
}

/* Kills up to 12 statements of moves, one every 30 ms or so, while the clients run. */
static atomic_int kills;

static void *killer_main(void *arg)
{
    PGconn *conn = pgtest_connect(E.db);
    while (atomic_load(&killing) && atomic_load(&kills) < 12) {
        char *n = pgtest_scalar(conn, "SELECT count(pg_terminate_backend(pid)) FROM "
                                      "pg_stat_activity WHERE datname = current_database() "
                                      "AND query LIKE '%apply_transitions%' "
                                      "AND state = 'active' AND pid <> pg_backend_pid()");
        int killed = atoi(n);
        free(n);
        atomic_fetch_add(&kills, killed);
        harness_sleep_ms(killed ? 30 : 1);
    }
    PQfinish(conn);
    return arg;
}

/* One round: 8 clients depart 6 shipments each while the killer runs; every move is checked
 * to be recorded exactly once with one event. Returns how many statements were killed. */
static int killed_round(void)
{
    departer_t d[8];
    pthread_t th[8], killer;
    for (int k = 0; k < 8; k++) {
        d[k].ok = 0;
        for (int i = 0; i < 6; i++)
            d[k].ids[i] = shipment_in(S(RELEASED));
    }
    long events = count("SELECT count(*) FROM bus.events");
    atomic_store(&kills, 0);
    atomic_store(&killing, true);
    pthread_create(&killer, NULL, killer_main, NULL);
    for (int k = 0; k < 8; k++)
        pthread_create(&th[k], NULL, departer_main, &d[k]);
    for (int k = 0; k < 8; k++)
        pthread_join(th[k], NULL);
    atomic_store(&killing, false);
    pthread_join(killer, NULL);
    for (int k = 0; k < 8; k++) {
        assert_int_equal(d[k].ok, 6);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE "
                                    "shipment_id = %lld AND to_status = 'departed'",
                                    (long long)d[k].ids[i]),
                             1);
            assert_int_equal(countf("SELECT count(*) FROM bus.events WHERE subject = "
                                    "'shipment/%lld' AND type = 'ovop.exports.shipment.departed'",
                                    (long long)d[k].ids[i]),
                             1);
        }
    }
    assert_int_equal(count("SELECT count(*) FROM bus.events"), events + 48);
    return atomic_load(&kills);
}

static void test_moves_survive_killed_connections(void **state)
{
    /* The killer polls pg_stat_activity, so on a busy machine a round can end before it
     * catches a statement: such a round proves nothing about kills and another is run (each
     * round's writes are checked all the same). */
    int kills_seen = 0;
    for (int round = 0; round < 5 && kills_seen == 0; round++)
        kills_seen = killed_round();
    assert_true(kills_seen > 0);
    /* Still serving. */
    int64_t after = shipment_in(S(RELEASED));
    assert_int_equal(move(after, S(DEPARTED), "customs", NULL), OVOP_OK);
}

/* --- ovopctl export --- */

/* Runs ovopctl with args; returns its exit code; output goes to <tmpdir>/<log>.log. */
static int ovopctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 20000);
}

/* The same as principal who: its key file given with --key, which wins over OVOP_KEY. */
static int ovopctl_as(const char *who, const char *log, const char *const *args)
{
    const char *argv[32];
    size_t n = 0;
    char *secret = ident_secret(&E.ident, who);
    argv[n++] = "--key";
    argv[n++] = secret;
    for (size_t i = 0; args[i] && n < OVOP_ARRAY_SIZE(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int code = ovopctl(log, argv);
    free(secret);
    return code;
}

static char *read_log(const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = xcalloc(1, 65536);
    assert_true(fread(buf, 1, 65535, f) > 0);
    fclose(f);
    return buf;
}

static void test_ovopctl(void **state)
{
    char day[11];
    today(day);
    const char *create[] = {"export",
                            "create",
                            "--exporter",
                            "producer:9002",
                            "--buyer",
                            "Tokyo Honey KK",
                            "--destination",
                            "JP",
                            "--lot",
                            "9202:9002:500:500:4750:415000",
                            "--mode",
                            "air",
                            "--border",
                            "KG-MANAS",
                            "--depart",
                            "2026-07-01",
                            "--incoterm",
                            "CIP",
                            NULL};
    assert_int_equal(ovopctl("ctl-create", create), 0);
    char *out = read_log("ctl-create");
    char *idp = strstr(out, "id ");
    assert_non_null(idp);
    char id[24];
    snprintf(id, sizeof(id), "%lld", strtoll(idp + 3, NULL, 10));
    assert_non_null(strstr(out, "missing        contract, invoice, packing_list, origin_form_a, "
                                "veterinary, customs_declaration, transport_waybill"));
    /* Decimal dollars and som in, cents and tyiyn over the wire, two places out. */
    assert_non_null(strstr(out, "500 kg net, 4750.00 USD, 415000.00 KGS"));
    free(out);
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments WHERE id = %s AND "
                            "value_usd = 4750.00 AND value_som = 415000.00",
                            id),
                     1);
    const char *bad_money[] = {
        "export",   "create",        "--exporter", "producer:9002", "--buyer",
        "B",        "--destination", "JP",         "--lot",         "9202:9002:500:500:4750.005",
        "--border", "KG-MANAS",      "--depart",   "2026-07-01",    NULL};
    assert_int_equal(ovopctl("ctl-bad-money", bad_money), 2);
    out = read_log("ctl-bad-money");
    assert_non_null(strstr(out, "at most two decimals"));
    free(out);

    const char *get[] = {"export", "get", id, NULL};
    assert_int_equal(ovopctl("ctl-get", get), 0);
    const char *json[] = {"--json", "export", "get", id, NULL};
    assert_int_equal(ovopctl("ctl-json", json), 0);
    out = read_log("ctl-json");
    assert_non_null(strstr(out, "SHIPMENT_STATUS_DRAFT"));
    assert_non_null(strstr(out, "\"hs_code\": \"040900\""));
    free(out);
    const char *declare[] = {"export", "declare", id, NULL};
    assert_int_equal(ovopctl("ctl-declare", declare), 0);
    const char *complete[] = {"export", "complete", id, NULL};
    assert_int_equal(ovopctl("ctl-complete", complete), 10 + OVOP_FAILED_PRECONDITION);
    out = read_log("ctl-complete");
    assert_non_null(strstr(out, "missing documents"));
    free(out);
    const char *attach_doc[] = {"export",      "doc",      "attach", id,         "--type",
                                "invoice",     "--number", "INV-77", "--issuer", "Tokyo Honey KK",
                                "--issued-on", day,        NULL};
    assert_int_equal(ovopctl("ctl-attach", attach_doc), 0);
    const char *missing[] = {"export", "get", "999999999", NULL};
    assert_int_equal(ovopctl("ctl-missing", missing), 10 + OVOP_NOT_FOUND);
    const char *bad_id[] = {"export", "get", "x", NULL};
    assert_int_equal(ovopctl("ctl-bad-id", bad_id), 2);
    const char *bad_verb[] = {"export", "frobnicate", NULL};
    assert_int_equal(ovopctl("ctl-bad-verb", bad_verb), 2);
    const char *bad_at[] = {"export", "cancel", id, "--reason", "x", "--at", "yesterday", NULL};
    assert_int_equal(ovopctl("ctl-bad-at", bad_at), 2);

    /* A batch from a file: one bad line and nothing is recorded; then the good one. */
    char path[512];
    snprintf(path, sizeof(path), "%s/moves.csv", harness_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "shipment_id,status,agency,reason\n# a comment\n%s,released,customs\n%s,cancelled,,"
            "changed plans\n",
            id, id);
    fclose(f);
    const char *record[] = {"export", "record", path, NULL};
    /* The export desk may not record customs' release, nor name customs as its agency. */
    assert_int_equal(ovopctl("ctl-record-desk", record), 10 + OVOP_PERMISSION_DENIED);
    out = read_log("ctl-record-desk");
    assert_non_null(strstr(out, "AGENCY_NOT_YOURS"));
    assert_non_null(strstr(out, "transitions[0].agency"));
    assert_non_null(strstr(out, "transitions[0].to"));
    free(out);
    /* Customs may, but not from DECLARED. */
    assert_int_equal(ovopctl_as("customs", "ctl-record-bad", record),
                     10 + OVOP_FAILED_PRECONDITION);
    out = read_log("ctl-record-bad");
    assert_non_null(strstr(out, "transitions[0].to"));
    assert_non_null(strstr(out, "cannot become released"));
    free(out);
    f = fopen(path, "w");
    fprintf(f, "%s,cancelled,,changed plans\n", id);
    fclose(f);
    assert_int_equal(ovopctl("ctl-record", record), 0);
    const char *hist[] = {"export", "history", id, NULL};
    assert_int_equal(ovopctl("ctl-history", hist), 0);
    out = read_log("ctl-history");
    assert_non_null(strstr(out, "changed plans"));
    free(out);

    /* Release through ovopctl: customs' key records it, the desk's is refused, with --agency
     * customs as well. */
    int64_t ready = shipment_in(S(DOCUMENTS_COMPLETE));
    char rid[24];
    snprintf(rid, sizeof(rid), "%lld", (long long)ready);
    const char *release[] = {"export", "release", rid, NULL};
    const char *release_claim[] = {"export", "release", rid, "--agency", "customs", NULL};
    assert_int_equal(ovopctl("ctl-release-desk", release), 10 + OVOP_PERMISSION_DENIED);
    out = read_log("ctl-release-desk");
    assert_non_null(strstr(out, "AGENCY_REQUIRED"));
    free(out);
    assert_int_equal(ovopctl("ctl-release-claim", release_claim), 10 + OVOP_PERMISSION_DENIED);
    out = read_log("ctl-release-claim");
    assert_non_null(strstr(out, "AGENCY_NOT_YOURS"));
    free(out);
    assert_int_equal(countf("SELECT count(*) FROM exports.shipments WHERE id = %lld AND status "
                            "= 'documents_complete'",
                            (long long)ready),
                     1);
    assert_int_equal(ovopctl_as("customs", "ctl-release", release_claim), 0);
    assert_int_equal(countf("SELECT count(*) FROM exports.shipment_history WHERE shipment_id = "
                            "%lld AND to_status = 'released' AND caller = 'customs' AND agency "
                            "= 'customs'",
                            (long long)ready),
                     1);

    const char *list_cmd[] = {"export", "list", "--exporter", "producer:9002", "--all", NULL};
    assert_int_equal(ovopctl("ctl-list", list_cmd), 0);
    const char *viol[] = {"export", "violation", "--exporter",  "producer:9005", "--country", "KZ",
                          "--on",   day,         "--authority", "KZ-VET",        NULL};
    assert_int_equal(ovopctl("ctl-violation-desk", viol), 10 + OVOP_PERMISSION_DENIED);
    out = read_log("ctl-violation-desk");
    assert_non_null(strstr(out, "MISSING_ROLE"));
    free(out);
    assert_int_equal(ovopctl_as("plant_quarantine", "ctl-violation", viol), 0);
    const char *comp[] = {"export", "compliance", "producer:9005", NULL};
    assert_int_equal(ovopctl("ctl-compliance", comp), 0);
    out = read_log("ctl-compliance");
    assert_non_null(strstr(out, "not blocked"));
    free(out);
    const char *st[] = {"export", "stats", "--by", "region,hs", NULL};
    assert_int_equal(ovopctl("ctl-stats", st), 0);
    out = read_log("ctl-stats");
    assert_non_null(strstr(out, "41705000000000"));
    free(out);
    const char *bad_st[] = {"export", "stats", "--by", "planet", NULL};
    assert_int_equal(ovopctl("ctl-stats-bad", bad_st), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_get_and_retry),
        cmocka_unit_test(test_create_bad_input),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_illegal_transitions),
        cmocka_unit_test(test_agency_of_moves),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_document_issuers),
        cmocka_unit_test(test_blocked_exporter),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_concurrent_statistics),
        cmocka_unit_test(test_coalesced_moves),
        cmocka_unit_test(test_moves_survive_killed_connections),
        cmocka_unit_test(test_ovopctl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
