/* registryd's territory changes and village specializations through the broker against
 * PostgreSQL: create, rename, re-parent, retire and their history (GetTerritory as_of), every
 * bad input, idempotent retries and the events each change writes; the statistics
 * committee's CSV imported with `ovopctl territory import` (2,000 villages plus bad lines, run
 * again, then with changed names); specializations declared, withdrawn, listed and counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
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

#define KOCHKOR     "41704235000000" /* Kochkor District, Naryn Region */
#define AT_BASHY    "41704220000000" /* At-Bashy District, Naryn Region */
#define NARYN       "41704000000000"
#define BATKEN_D    "41705214000000" /* Batken District */
#define OLD_VILLAGE "41704235000199" /* a village retired in 2010 */
#define OLD_AIMAK   "41704235098000" /* an aiyl aimak retired in 2010 */
#define VILLAGE_A   "41704235000101" /* villages for the specializations */
#define VILLAGE_B   "41704235000102"
#define VILLAGE_C   "41705214000101"
#define HONEY       "040900"
#define FELT        "570500"

static svcenv_t E;

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
    "valid_from, valid_to) VALUES "
    "('" OLD_VILLAGE "', 'village', '" KOCHKOR "', 'Старое', 'Old', '2000-01-01', "
    "'2010-01-01'), "
    "('" OLD_AIMAK "', 'aiyl_aimak', '" KOCHKOR "', 'Старый а/а', 'Old AA', '2000-01-01', "
    "'2010-01-01'), "
    "('" VILLAGE_A "', 'village', '" KOCHKOR "', 'Кочкор', 'Kochkor', '2000-01-01', NULL), "
    "('" VILLAGE_B "', 'village', '" KOCHKOR "', 'Семиз-Бел', 'Semiz-Bel', '2000-01-01', "
    "NULL), "
    "('" VILLAGE_C "', 'village', '" BATKEN_D "', 'Кара-Бак', 'Kara-Bak', '2000-01-01', "
    "NULL) RETURNING 1",
    NULL};

static int setup(void **state)
{
    svcenv_start(
        &E, &(svcenv_config_t){.db_name = "territories",
                               .seed_sql = seed,
                               .daemon = "ovop-registryd",
                               .service = "ovop.registry",
                               .instances = 2,
                               .client = {.timeout_ms = 10000, .retries = 1, .max_msg = 4 << 20}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* --- helpers --- */

#define count(...)  svcenv_countf(&E, __VA_ARGS__)
#define scalar(...) svcenv_scalarf(&E, __VA_ARGS__)

static long events(void)
{
    return count("SELECT count(*) FROM bus.events");
}

static long rows(void)
{
    return count("SELECT count(*) FROM registry.territories");
}

/* Calls method; returns the status code; *ret_out the output on OK, *ret_rep the reply. */
static int call(const char *method, const char *rid, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                Ovop__V1__Reply **ret_rep)
{
    return svcenv_call(&E, method, rid, in, out_desc, ret_out, ret_rep);
}

/* Calls method expecting status `code` with a violation on `field` whose description holds
 * `fragment` (NULL: any), and checks that no territory row, specialization or event was
 * written. */
static void expect_refused(const char *method, const ProtobufCMessage *in, int code,
                           const char *field, const char *fragment)
{
    long rows0 = rows(), events0 = events();
    long specs0 = count("SELECT count(*) FROM registry.specializations");
    char *versions0 = scalar("SELECT sum(version) FROM registry.territories");
    Ovop__V1__Reply *rep = NULL;
    int got = call(method, NULL, in, NULL, NULL, &rep);
    if (got != code)
        fail_msg("%s: status %d, expected %d (%s)", method, got, code,
                 rep->status ? rep->status->message : "");
    svcenv_assert_reason(&E, rep, svcenv_default_reason(code, field));
    if (field) {
        bool found = false;
        for (size_t i = 0; i < rep->status->n_violations; i++)
            if (strcmp(rep->status->violations[i]->field, field) == 0) {
                found = true;
                if (fragment && !strstr(rep->status->violations[i]->description, fragment))
                    fail_msg("%s: %s: \"%s\" lacks \"%s\"", method, field,
                             rep->status->violations[i]->description, fragment);
            }
        if (!found)
            fail_msg("%s: no violation on %s (message: %s)", method, field, rep->status->message);
    } else if (fragment && !strstr(rep->status->message, fragment)) {
        fail_msg("%s: \"%s\" lacks \"%s\"", method, rep->status->message, fragment);
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(rows(), rows0);
    assert_int_equal(events(), events0);
    assert_int_equal(count("SELECT count(*) FROM registry.specializations"), specs0);
    char *versions = scalar("SELECT sum(version) FROM registry.territories");
    assert_string_equal(versions, versions0);
    free(versions);
    free(versions0);
}

static Ovop__V1__Territory *get_territory(const char *code, const char *as_of, int expect)
{
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.as_of = (char *)(as_of ? as_of : "");
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call("GetTerritory", NULL, &in.base, &ovop__v1__territory__descriptor, &out, NULL), expect);
    return (Ovop__V1__Territory *)out;
}

/* The name (ru) and parent of code on a date, as GetTerritory answers. */
static void expect_version(const char *code, const char *as_of, const char *name_ru,
                           const char *parent)
{
    Ovop__V1__Territory *t = get_territory(code, as_of, OVOP_OK);
    if (name_ru)
        assert_string_equal(t->name->ru, name_ru);
    if (parent)
        assert_string_equal(t->parent_code, parent);
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static Ovop__V1__CreateTerritoryRequest create_request(const char *code, const char *kind,
                                                       const char *parent, const char *ru)
{
    static Ovop__V1__LocalizedName name;
    ovop__v1__localized_name__init(&name);
    name.ru = (char *)ru;
    name.en = "";
    Ovop__V1__CreateTerritoryRequest in = OVOP__V1__CREATE_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.kind = (char *)kind;
    in.parent_code = (char *)parent;
    in.name = &name;
    in.valid_from = "2015-01-01";
    return in;
}

static void create_ok(Ovop__V1__CreateTerritoryRequest *in)
{
    assert_int_equal(call("CreateTerritory", NULL, &in->base, NULL, NULL, NULL), OVOP_OK);
}

/* The payload of the only event of `type` about territory `code`, decoded. */
static Ovop__V1__Territory *event_payload(const char *type, const char *code)
{
    char *hex = scalar("SELECT encode(data, 'hex') FROM bus.events WHERE type = '%s' "
                       "AND subject = 'territory/%s' AND soate = '%s'",
                       type, code, code);
    size_t n = strlen(hex) / 2;
    assert_true(n > 0);
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        sscanf(hex + 2 * i, "%2hhx", &buf[i]);
    Ovop__V1__Territory *t = ovop__v1__territory__unpack(NULL, n, buf);
    assert_non_null(t);
    free(buf);
    free(hex);
    return t;
}

/* --- CreateTerritory --- */

#define AIMAK    "41704235001000" /* an aiyl aimak of Kochkor District, created here */
#define VILLAGE1 "41704235001001" /* a village in it */

static void test_create(void **state)
{
    long events0 = events();
    Ovop__V1__CreateTerritoryRequest in =
        create_request(AIMAK, "aiyl_aimak", KOCHKOR, "Кочкорский айыл аймагы");
    Ovop__V1__GeoPoint loc = OVOP__V1__GEO_POINT__INIT;
    loc.set = true;
    loc.lat = 42.21;
    loc.lon = 75.75;
    in.location = &loc;
    in.name->en = "Kochkor aiyl aimak";
    ProtobufCMessage *out = NULL;
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    assert_int_equal(call("CreateTerritory", "create-1", &in.base, &ovop__v1__territory__descriptor,
                          &out, &rep1),
                     OVOP_OK);
    Ovop__V1__Territory *t = (Ovop__V1__Territory *)out;
    assert_string_equal(t->code, AIMAK);
    assert_string_equal(t->kind, "aiyl_aimak");
    assert_string_equal(t->parent_code, KOCHKOR);
    assert_string_equal(t->valid_from, "2015-01-01");
    assert_string_equal(t->valid_to, "");
    assert_true(t->location->set);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(events() - events0, 1);
    Ovop__V1__Territory *ev = event_payload("ovop.registry.territory.created", AIMAK);
    assert_string_equal(ev->name->en, "Kochkor aiyl aimak");
    assert_string_equal(ev->valid_from, "2015-01-01");
    protobuf_c_message_free_unpacked(&ev->base, NULL);

    /* The retry gets the same bytes and writes nothing. */
    long rows0 = rows();
    assert_int_equal(call("CreateTerritory", "create-1", &in.base, NULL, NULL, &rep2), OVOP_OK);
    assert_int_equal(rep1->body.len, rep2->body.len);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    assert_int_equal(rows(), rows0);
    assert_int_equal(events() - events0, 1);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    /* The same request id for another request is refused. */
    Ovop__V1__CreateTerritoryRequest other = create_request(VILLAGE1, "village", AIMAK, "Другое");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(call("CreateTerritory", "create-1", &other.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep->status->violations[0]->field, "request_id");
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A village in the new aiyl aimak; GetTerritory finds both, the aimak with one child. */
    in = create_request(VILLAGE1, "village", AIMAK, "Кочкор-1");
    create_ok(&in);
    Ovop__V1__Territory *aimak = get_territory(AIMAK, NULL, OVOP_OK);
    assert_int_equal(aimak->children, 1);
    protobuf_c_message_free_unpacked(&aimak->base, NULL);
    get_territory(AIMAK, "2014-12-31", OVOP_NOT_FOUND);

    char longname[202];
    memset(longname, 'a', 201);
    longname[201] = '\0';
    const char *m = "CreateTerritory";
    in = create_request("4170423500100", "village", AIMAK, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "code", "14 digits");
    in.code = "51704235001002";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "code", "417");
    in.code = "";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "code", "required");
    in = create_request("41704235001002", "hamlet", AIMAK, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "kind", "must be one of");
    in.kind = "republic";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "kind", "must be one of");
    in = create_request("41704235001002", "village", "", "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "required");
    in.parent_code = "41704235077000";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "no territory");
    in = create_request("41704235098001", "village", OLD_AIMAK, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "retired");
    /* A village needs an aiyl aimak, district, city or town above it, not a region. */
    in = create_request("41704235001002", "village", NARYN, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "cannot lie under");
    /* A district cannot lie under a district. */
    in = create_request("41704235001002", "rayon", KOCHKOR, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "cannot lie under");
    /* The code must lie in its parent's branch of the classifier. */
    in = create_request("41705214001002", "village", AIMAK, "X");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "start with 41704235001");
    /* The parent must exist on valid_from. */
    in = create_request("41704235001002", "village", AIMAK, "X");
    in.valid_from = "2010-06-01";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "valid only from");
    in = create_request("41704235001002", "village", AIMAK, "");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.ru", "required");
    in.name->ru = longname;
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.ru", "at most 200");
    in.name->ru = "Bad \xff\xfe name";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.ru", "UTF-8");
    in.name->ru = "X";
    in.name->en = "Tab\there";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.en", "control");
    in = create_request("41704235001002", "village", AIMAK, "X");
    in.valid_from = "2023-02-30";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "valid_from", "YYYY-MM-DD");
    in.valid_from = "2023/01/01";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "valid_from", "YYYY-MM-DD");
    in = create_request("41704235001002", "village", AIMAK, "X");
    loc.lat = 55.75;
    loc.lon = 37.61;
    in.location = &loc;
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "location", "Kyrgyzstan");
    in = create_request(VILLAGE1, "village", AIMAK, "Снова");
    expect_refused(m, &in.base, OVOP_ALREADY_EXISTS, "code", "already exists");
    in = create_request(OLD_VILLAGE, "village", KOCHKOR, "Снова");
    expect_refused(m, &in.base, OVOP_ALREADY_EXISTS, "code", "not reused");
}

/* --- RenameTerritory and ReparentTerritory: history by date --- */

static Ovop__V1__RenameTerritoryRequest rename_request(const char *code, const char *ru,
                                                       const char *on)
{
    static Ovop__V1__LocalizedName name;
    ovop__v1__localized_name__init(&name);
    name.ru = (char *)ru;
    Ovop__V1__RenameTerritoryRequest in = OVOP__V1__RENAME_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.name = &name;
    in.effective_on = (char *)on;
    return in;
}

static void test_rename_history(void **state)
{
    long events0 = events();
    Ovop__V1__RenameTerritoryRequest in = rename_request(VILLAGE1, "Кочкор-Ата", "2020-03-01");
    in.name->en = "Kochkor-Ata";
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("RenameTerritory", "rename-1", &in.base, &ovop__v1__territory__descriptor,
                          &out, &rep1),
                     OVOP_OK);
    Ovop__V1__Territory *t = (Ovop__V1__Territory *)out;
    assert_string_equal(t->name->ru, "Кочкор-Ата");
    assert_string_equal(t->valid_from, "2020-03-01");
    assert_string_equal(t->parent_code, AIMAK);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.territories WHERE code = '" VILLAGE1 "'"),
                     2);
    assert_int_equal(events() - events0, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.territory.renamed' AND soate = '" VILLAGE1 "'"),
                     1);
    /* History: the old name before the date, the new one from it. */
    expect_version(VILLAGE1, "2019-12-31", "Кочкор-1", NULL);
    expect_version(VILLAGE1, "2020-02-29", "Кочкор-1", NULL);
    expect_version(VILLAGE1, "2020-03-01", "Кочкор-Ата", NULL);
    expect_version(VILLAGE1, NULL, "Кочкор-Ата", NULL);
    /* A retry: the same bytes, no third version. */
    assert_int_equal(call("RenameTerritory", "rename-1", &in.base, NULL, NULL, &rep2), OVOP_OK);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.territories WHERE code = '" VILLAGE1 "'"),
                     2);
    assert_int_equal(events() - events0, 1);

    /* Only en given: ru stays. On the day the current version started, it is corrected in
     * place (no third row) and its version still goes up. */
    in = rename_request(VILLAGE1, "", "2020-03-01");
    in.name->en = "Kochkor Ata";
    assert_int_equal(call("RenameTerritory", NULL, &in.base, NULL, NULL, NULL), OVOP_OK);
    expect_version(VILLAGE1, NULL, "Кочкор-Ата", NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.territories WHERE code = '" VILLAGE1 "'"),
                     2);
    assert_int_equal(
        count("SELECT max(version) FROM registry.territories WHERE code = '" VILLAGE1 "'"), 3);

    const char *m = "RenameTerritory";
    in = rename_request(VILLAGE1, "Раньше", "2020-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "on or after 2020-03-01");
    in = rename_request(VILLAGE1, "Кочкор-Ата", "2021-01-01");
    in.name->en = "Kochkor Ata";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name", "already the name");
    in = rename_request(VILLAGE1, "", "2021-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name", "required");
    in = rename_request("41704235001077", "Нет", "2021-01-01");
    expect_refused(m, &in.base, OVOP_NOT_FOUND, NULL, "no territory");
    in = rename_request(OLD_VILLAGE, "Нет", "2021-01-01");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "retired on 2010-01-01");
    in = rename_request("417042350010", "Нет", "2021-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "code", "14 digits");
    in = rename_request(VILLAGE1, "Нет", "2021-13-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "YYYY-MM-DD");
    char longname[202];
    memset(longname, 'b', 201);
    longname[201] = '\0';
    in = rename_request(VILLAGE1, longname, "2021-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.ru", "at most 200");
    in = rename_request(VILLAGE1, "\xc3\x28", "2021-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "name.ru", "UTF-8");
}

static Ovop__V1__ReparentTerritoryRequest reparent_request(const char *code, const char *parent,
                                                           const char *on)
{
    Ovop__V1__ReparentTerritoryRequest in = OVOP__V1__REPARENT_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.parent_code = (char *)parent;
    in.effective_on = (char *)on;
    return in;
}

static void test_reparent_history(void **state)
{
    /* A village straight under the district moves into the aiyl aimak in 2022. */
    Ovop__V1__CreateTerritoryRequest c =
        create_request("41704235001002", "village", KOCHKOR, "Тендик");
    create_ok(&c);
    long events0 = events();
    Ovop__V1__ReparentTerritoryRequest in = reparent_request("41704235001002", AIMAK, "2022-01-01");
    assert_int_equal(call("ReparentTerritory", NULL, &in.base, NULL, NULL, NULL), OVOP_OK);
    assert_int_equal(events() - events0, 1);
    Ovop__V1__Territory *ev = event_payload("ovop.registry.territory.reparented", "41704235001002");
    assert_string_equal(ev->parent_code, AIMAK);
    assert_string_equal(ev->valid_from, "2022-01-01");
    protobuf_c_message_free_unpacked(&ev->base, NULL);
    /* "Which district was this village in on date D". */
    expect_version("41704235001002", "2021-12-31", "Тендик", KOCHKOR);
    expect_version("41704235001002", "2022-01-01", "Тендик", AIMAK);
    expect_version("41704235001002", NULL, NULL, AIMAK);
    Ovop__V1__Territory *aimak = get_territory(AIMAK, NULL, OVOP_OK);
    assert_int_equal(aimak->children, 2);
    protobuf_c_message_free_unpacked(&aimak->base, NULL);
    aimak = get_territory(AIMAK, "2021-06-01", OVOP_OK);
    assert_int_equal(aimak->children, 1);
    protobuf_c_message_free_unpacked(&aimak->base, NULL);

    const char *m = "ReparentTerritory";
    in = reparent_request("41704235001002", AIMAK, "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "already the parent");
    in = reparent_request("41704235001002", KOCHKOR, "2021-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "on or after 2022-01-01");
    in = reparent_request("41704235001002", NARYN, "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "cannot lie under");
    in = reparent_request("41704235001002", AT_BASHY, "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "start with 41704220");
    in = reparent_request("41704235001002", "41704235055000", "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "no territory");
    in = reparent_request("41704235098001", OLD_AIMAK, "2023-01-01");
    expect_refused(m, &in.base, OVOP_NOT_FOUND, NULL, "no territory");
    in = reparent_request(VILLAGE_A, OLD_AIMAK, "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "retired");
    in = reparent_request(OLD_VILLAGE, KOCHKOR, "2023-01-01");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "retired");
    in = reparent_request("41704235001002", "", "2023-01-01");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "parent_code", "required");
    in = reparent_request("41704235001002", AIMAK, "01.01.2023");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "YYYY-MM-DD");
}

/* Concurrent renames of one territory: each either applies or is refused as stale, and the
 * versions and events count exactly the applied ones. */
typedef struct renamer {
    char name[32];
    char message[300];
    int code;
} renamer_t;

static void *rename_thread(void *arg)
{
    renamer_t *w = arg;
    Ovop__V1__LocalizedName name = OVOP__V1__LOCALIZED_NAME__INIT;
    name.ru = w->name; /* not rename_request()'s static name: the threads run at once */
    Ovop__V1__RenameTerritoryRequest in = OVOP__V1__RENAME_TERRITORY_REQUEST__INIT;
    in.code = VILLAGE_B;
    in.name = &name;
    Ovop__V1__Reply *rep = NULL;
    w->code = call("RenameTerritory", NULL, &in.base, NULL, NULL, &rep);
    snprintf(w->message, sizeof(w->message), "%s", rep->status ? rep->status->message : "");
    ovop__v1__reply__free_unpacked(rep, NULL);
    return NULL;
}

static void test_concurrent_renames(void **state)
{
    long v0 = count("SELECT max(version) FROM registry.territories WHERE code = '" VILLAGE_B "'");
    long events0 = events();
    int applied = 0;
    for (int round = 0; round < 5; round++) {
        renamer_t w[3];
        pthread_t t[3];
        for (int i = 0; i < 3; i++) {
            snprintf(w[i].name, sizeof(w[i].name), "Семиз-Бел %d-%d", round, i);
            pthread_create(&t[i], NULL, rename_thread, &w[i]);
        }
        for (int i = 0; i < 3; i++) {
            pthread_join(t[i], NULL);
            if (w[i].code != OVOP_OK && w[i].code != OVOP_ABORTED)
                fail_msg("round %d: rename %d answered %d: %s", round, i, w[i].code, w[i].message);
            applied += w[i].code == OVOP_OK;
        }
    }
    assert_true(applied >= 5);
    assert_int_equal(
        count("SELECT max(version) FROM registry.territories WHERE code = '" VILLAGE_B "'"),
        v0 + applied);
    assert_int_equal(events() - events0, applied);
    /* Every rename took effect today: still one current row and at most two in all. */
    assert_int_equal(count("SELECT count(*) FROM registry.territories WHERE code = '" VILLAGE_B
                           "' AND valid_to IS NULL"),
                     1);
    assert_true(count("SELECT count(*) FROM registry.territories WHERE code = '" VILLAGE_B "'") <=
                2);
}

/* --- RetireTerritory --- */

static Ovop__V1__RetireTerritoryRequest retire_request(const char *code, const char *on,
                                                       const char *successor)
{
    Ovop__V1__RetireTerritoryRequest in = OVOP__V1__RETIRE_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.effective_on = (char *)on;
    in.superseded_by = (char *)successor;
    return in;
}

static void test_retire(void **state)
{
    const char *m = "RetireTerritory";
    /* The aiyl aimak still has villages. */
    Ovop__V1__RetireTerritoryRequest in = retire_request(AIMAK, "2024-01-01", "");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "territories under it");
    in = retire_request(VILLAGE1, "2020-03-01", "");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "after 2020-03-01");
    in = retire_request(VILLAGE1, "2024-01-01", VILLAGE1);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "superseded_by", "differ");
    in = retire_request(VILLAGE1, "2024-01-01", "41704235001066");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "superseded_by", "no territory");
    in = retire_request(VILLAGE1, "2024-01-01", OLD_VILLAGE);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "superseded_by", "retired");
    in = retire_request(VILLAGE1, "2024-01-01", "4170");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "superseded_by", "14 digits");
    in = retire_request("41704235001099", "2024-01-01", "");
    expect_refused(m, &in.base, OVOP_NOT_FOUND, NULL, "no territory");
    in = retire_request(OLD_VILLAGE, "2024-01-01", "");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "retired");
    in = retire_request(VILLAGE1, "2024-02-30", "");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "effective_on", "YYYY-MM-DD");

    /* The village merges into its neighbour on 2024-01-01. */
    long events0 = events();
    in = retire_request(VILLAGE1, "2024-01-01", "41704235001002");
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(call(m, "retire-1", &in.base, &ovop__v1__territory__descriptor, &out, &rep1),
                     OVOP_OK);
    Ovop__V1__Territory *t = (Ovop__V1__Territory *)out;
    assert_string_equal(t->valid_to, "2024-01-01");
    assert_string_equal(t->superseded_by, "41704235001002");
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(call(m, "retire-1", &in.base, NULL, NULL, &rep2), OVOP_OK);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    assert_int_equal(events() - events0, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.territory.retired' AND soate = '" VILLAGE1 "'"),
                     1);
    get_territory(VILLAGE1, NULL, OVOP_NOT_FOUND);
    Ovop__V1__Territory *before = get_territory(VILLAGE1, "2023-12-31", OVOP_OK);
    assert_string_equal(before->valid_to, "2024-01-01");
    assert_string_equal(before->superseded_by, "41704235001002");
    protobuf_c_message_free_unpacked(&before->base, NULL);
    expect_version(VILLAGE1, "2019-01-01", "Кочкор-1", NULL);

    /* A retired territory can be neither changed nor created again. */
    in = retire_request(VILLAGE1, "2025-01-01", "");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "retired on 2024-01-01");
    Ovop__V1__RenameTerritoryRequest rn = rename_request(VILLAGE1, "Призрак", "2025-01-01");
    expect_refused("RenameTerritory", &rn.base, OVOP_FAILED_PRECONDITION, "code", "retired");
    Ovop__V1__CreateTerritoryRequest cr = create_request(VILLAGE1, "village", AIMAK, "Снова");
    expect_refused("CreateTerritory", &cr.base, OVOP_ALREADY_EXISTS, "code", "not reused");
    /* Its former parent still has the other village, valid after 2024. */
    in = retire_request(AIMAK, "2024-06-01", "");
    expect_refused(m, &in.base, OVOP_FAILED_PRECONDITION, "code", "1 territories under it");
}

/* --- ImportTerritories called directly --- */

static Ovop__V1__TerritoryImportRow import_row(unsigned line, const char *code, const char *kind,
                                               const char *ru, const char *parent)
{
    Ovop__V1__TerritoryImportRow r = OVOP__V1__TERRITORY_IMPORT_ROW__INIT;
    r.line = line;
    r.code = (char *)code;
    r.kind = (char *)kind;
    r.name_ru = (char *)ru;
    r.parent_code = (char *)parent;
    return r;
}

static Ovop__V1__ImportTerritoriesResponse *import(Ovop__V1__TerritoryImportRow *rows_, size_t n,
                                                   const char *rid, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__TerritoryImportRow **ptrs = calloc(n + 1, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &rows_[i];
    Ovop__V1__ImportTerritoriesRequest in = OVOP__V1__IMPORT_TERRITORIES_REQUEST__INIT;
    in.n_rows = n;
    in.rows = ptrs;
    in.valid_from = "2019-01-01";
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("ImportTerritories", rid, &in.base,
                          &ovop__v1__import_territories_response__descriptor, &out, ret_rep),
                     OVOP_OK);
    free(ptrs);
    return (Ovop__V1__ImportTerritoriesResponse *)out;
}

static void test_import_direct(void **state)
{
    /* Villages listed before their new aiyl aimak; codes with spaces and dashes; a bad one. */
    Ovop__V1__TerritoryImportRow r[] = {
        import_row(2, "417 04 220 002 001", "village", "Ак-Муз", "417 04 220 002 000"),
        import_row(3, "41704220-002-002", "village", "Кара-Суу", "41704220002000"),
        import_row(4, "41704220002003", "village", "Bad \x01 name", "41704220002000"),
        import_row(5, "41704220002000", "aiyl_aimak", "Ак-Муз а/а", AT_BASHY),
        import_row(6, "41704220002004", "village", "Чужой", "41705214000000"),
        import_row(7, "41704220002001", "village", "Повтор", "41704220002000"),
    };
    long events0 = events(), rows0 = rows();
    Ovop__V1__Reply *rep1 = NULL, *rep2 = NULL;
    Ovop__V1__ImportTerritoriesResponse *res = import(r, 6, "import-1", &rep1);
    assert_int_equal(res->inserted, 3);
    assert_int_equal(res->updated, 0);
    assert_int_equal(res->unchanged, 0);
    assert_int_equal(res->n_rejected, 3);
    assert_int_equal(res->rejected[0]->line, 4);
    /* (Bytes that are not UTF-8 never get this far: the dispatcher refuses the whole request
     * with a violation on rows[i].name_ru, see test-dispatch.) */
    assert_non_null(strstr(res->rejected[0]->reason, "control characters"));
    assert_int_equal(res->rejected[1]->line, 6);
    assert_non_null(strstr(res->rejected[1]->reason, "start with 41705214"));
    assert_int_equal(res->rejected[2]->line, 7);
    assert_string_equal(res->rejected[2]->code, "41704220002001");
    assert_non_null(strstr(res->rejected[2]->reason, "first on line 2"));
    protobuf_c_message_free_unpacked(&res->base, NULL);
    assert_int_equal(rows() - rows0, 3);
    assert_int_equal(events() - events0, 3);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.territory.created' AND soate LIKE '41704220002%%'"),
                     3);
    expect_version("41704220002001", "2019-01-01", "Ак-Муз", "41704220002000");

    /* The retry answers the same bytes and writes nothing. */
    res = import(r, 6, "import-1", &rep2);
    assert_int_equal(res->inserted, 3);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    assert_int_equal(rep1->body.len, rep2->body.len);
    assert_memory_equal(rep1->body.data, rep2->body.data, rep1->body.len);
    ovop__v1__reply__free_unpacked(rep1, NULL);
    ovop__v1__reply__free_unpacked(rep2, NULL);
    assert_int_equal(rows() - rows0, 3);
    assert_int_equal(events() - events0, 3);

    /* Again under a new request id: all unchanged; then a changed name and kind. */
    res = import(r, 6, NULL, NULL);
    assert_int_equal(res->inserted, 0);
    assert_int_equal(res->unchanged, 3);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    r[1].name_ru = "Кара-Суу-2";
    r[0].kind = "town";
    r[0].parent_code = AT_BASHY;
    res = import(r, 6, NULL, NULL);
    assert_int_equal(res->updated, 2);
    assert_int_equal(res->unchanged, 1);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    assert_int_equal(events() - events0, 5);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.territory.updated' AND soate = '41704220002001'"),
                     1);

    /* An empty name_ky keeps the stored one: the committee's list often has none. */
    Ovop__V1__TerritoryImportRow ky =
        import_row(8, "41704220002020", "village", "Кен", "41704220002000");
    ky.name_ky = "Кен айылы";
    res = import(&ky, 1, NULL, NULL);
    assert_int_equal(res->inserted, 1);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    ky.name_ky = "";
    res = import(&ky, 1, NULL, NULL);
    assert_int_equal(res->unchanged, 1);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    Ovop__V1__Territory *kt = get_territory("41704220002020", NULL, OVOP_OK);
    assert_string_equal(kt->name->ky, "Кен айылы");
    protobuf_c_message_free_unpacked(&kt->base, NULL);

    /* More rejections: kinds, names, parents, the republic, a retired code. */
    Ovop__V1__TerritoryImportRow bad[] = {
        import_row(10, "41704220002010", "", "X", "41704220002000"),
        import_row(11, "41704220002011", "village", "", "41704220002000"),
        import_row(12, "41704220002012", "village", "X", ""),
        import_row(13, "41700000000000", "republic", "Кыргызская Республика", ""),
        import_row(14, OLD_VILLAGE, "village", "Старое", KOCHKOR),
        import_row(15, "41704220002015", "village", "X", OLD_AIMAK),
        import_row(16, "41704220002016", "rayon", "X", "41704220002000"),
        import_row(17, "41799999999999", "republic", "X", "41700000000000"),
    };
    events0 = events();
    res = import(bad, OVOP_ARRAY_SIZE(bad), NULL, NULL);
    assert_int_equal(res->unchanged, 1); /* the republic, as seeded */
    assert_int_equal(res->n_rejected, 7);
    const char *reasons[] = {"kind is required",
                             "name_ru is required",
                             "parent code is required",
                             "not reused",
                             "retired",
                             "cannot lie under",
                             "no parent"};
    for (size_t i = 0; i < 7; i++)
        if (!strstr(res->rejected[i]->reason, reasons[i]))
            fail_msg("rejection %zu (line %u): \"%s\" lacks \"%s\"", i, res->rejected[i]->line,
                     res->rejected[i]->reason, reasons[i]);
    protobuf_c_message_free_unpacked(&res->base, NULL);
    assert_int_equal(events(), events0);

    /* The request itself: no rows, too many rows, a bad date. */
    Ovop__V1__ImportTerritoriesRequest in = OVOP__V1__IMPORT_TERRITORIES_REQUEST__INIT;
    expect_refused("ImportTerritories", &in.base, OVOP_INVALID_ARGUMENT, "rows", "at least one");
    Ovop__V1__TerritoryImportRow one =
        import_row(1, "41704220002099", "village", "X", "41704220002000");
    Ovop__V1__TerritoryImportRow **many = calloc(1001, sizeof(*many));
    for (size_t i = 0; i < 1001; i++)
        many[i] = &one;
    in.n_rows = 1001;
    in.rows = many;
    expect_refused("ImportTerritories", &in.base, OVOP_INVALID_ARGUMENT, "rows", "at most 1000");
    in.n_rows = 1;
    in.valid_from = "2019-02-29";
    expect_refused("ImportTerritories", &in.base, OVOP_INVALID_ARGUMENT, "valid_from",
                   "YYYY-MM-DD");
    free(many);
}

/* --- the statistics committee's CSV through ovopctl --- */

#define N_VILLAGES 2000

/* Runs ovopctl with args; returns its exit code; output in <tmpdir>/<log>.log. */
static int ovopctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 120000);
}

static char *read_log(const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    ovop_buf_t b;
    ovop_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ovop_buf_append(&b, chunk, n);
    fclose(f);
    return b.data ? b.data : strdup("");
}

/* The rayons of deploy/data/territories.csv (code in the first column, kind in the second). */
static size_t seed_rayons(char codes[][15], size_t max)
{
    FILE *f = fopen(OVOP_SOURCE_DIR "/deploy/data/territories.csv", "r");
    assert_non_null(f);
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof(line), f) && n < max)
        if (strncmp(line + 14, ",rayon,", 7) == 0) {
            memcpy(codes[n], line, 14);
            codes[n++][14] = '\0';
        }
    fclose(f);
    return n;
}

/* The CSV under test: a header, 2,000 villages spread over the seed's rayons (codes
 * <rayon prefix>9xxyyy) with bad lines among them, blank lines and CRLF endings. */
typedef struct csv_gen {
    ovop_buf_t text;
    unsigned line;
    unsigned bad[64];
    size_t n_bad;
    char village[N_VILLAGES][15];
    unsigned village_line[N_VILLAGES];
} csv_gen_t;

static void put_line(csv_gen_t *g, bool bad, const char *fmt, ...) OVOP_PRINTF(3, 4);
static void put_line(csv_gen_t *g, bool bad, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    g->line++;
    ovop_buf_puts(&g->text, buf);
    ovop_buf_puts(&g->text, g->line % 7 == 0 ? "\r\n" : "\n");
    if (bad)
        g->bad[g->n_bad++] = g->line;
}

/* A village's name, with its generation (so that a later file can rename it). */
static void village_name(char *out, size_t size, size_t i, int generation)
{
    if (i % 50 == 3)
        snprintf(out, size, "\"Ак-Суу \"\"центр\"\", %zu%s\"", i, generation ? " (новое)" : "");
    else
        snprintf(out, size, "Село %zu%s", i, generation ? " (новое)" : "");
}

static void generate(csv_gen_t *g, bool with_bad, const bool *renamed)
{
    char rayons[64][15];
    size_t n_rayons = seed_rayons(rayons, 64);
    assert_int_equal(n_rayons, 40);
    ovop_buf_init(&g->text);
    g->line = 0;
    g->n_bad = 0;
    put_line(g, false, "soate,kind,name_ru,name_ky,parent_soate,name_en");
    for (size_t i = 0; i < N_VILLAGES; i++) {
        const char *rayon = rayons[i % n_rayons];
        char code[15], written[40], name[128];
        snprintf(code, sizeof(code), "%.8s9%02zu%03zu", rayon, (i / n_rayons) / 100 % 100,
                 (i / n_rayons) % 100 + 1);
        memcpy(g->village[i], code, 15);
        if (i % 9 == 0) /* with spaces, as typed by hand */
            snprintf(written, sizeof(written), "%.3s %.2s %.3s %.3s %.3s", code, code + 3, code + 5,
                     code + 8, code + 11);
        else
            snprintf(written, sizeof(written), "%s", code);
        village_name(name, sizeof(name), i, renamed && renamed[i]);
        if (i % 4 == 0)
            put_line(g, false, "%s,village,%s,Айыл %zu,%s,Village %zu", written, name, i, rayon, i);
        else
            put_line(g, false, "%s, village ,%s,,%s", written, name, rayon);
        g->village_line[i] = g->line;

        if (!with_bad || i % 100 != 50)
            continue;
        switch (i / 100) {
        case 0:
            put_line(g, true, "4170220590001,village,Короткий,,%s", rayon);
            break;
        case 1:
            put_line(g, true, "51702205900001,village,Не 417,,%s", rayon);
            break;
        case 2:
            put_line(g, true, "41702205abc001,village,Буквы,,%s", rayon);
            break;
        case 3:
            put_line(g, true, "%.8s977001,village,Без родителя,,41799999000000", rayon);
            break;
        case 4:
            put_line(g, true, "%.8s977002,hamlet,Хутор,,%s", rayon, rayon);
            break;
        case 5: /* a village under a region */
            put_line(g, true, "%.8s977003,village,Под областью,,%.5s000000000", rayon, rayon);
            break;
        case 6: /* a code outside its parent's branch */
            put_line(g, true, "%.8s977004,village,Чужой,,%s", rayon, rayons[(i + 1) % n_rayons]);
            break;
        case 7:
            put_line(g, true, "%.8s977005,village,,Аты жок,%s", rayon, rayon);
            break;
        case 8:
            put_line(g, true, "%.8s977006,village,\"Кавычка\" внутри,,%s", rayon, rayon);
            break;
        case 9:
            put_line(g, true, "%.8s977007,village,\"Не закрыта,,%s", rayon, rayon);
            break;
        case 10:
            put_line(g, true, "%.8s977008,village,Bad \xff\xfe name,,%s", rayon, rayon);
            break;
        case 11:
            put_line(g, true, "%.8s977009,village,Мало полей", rayon);
            break;
        case 12:
            put_line(g, true, "%.8s977010,village,Много,,%s,en,extra", rayon, rayon);
            break;
        case 13: /* a code given twice */
            put_line(g, true, "%s,village,Повтор,,%s", g->village[i - 5], rayons[(i - 5) % 40]);
            break;
        case 14: {
            char longname[260];
            memset(longname, 'x', 201);
            longname[201] = '\0';
            put_line(g, true, "%.8s977011,village,%s,,%s", rayon, longname, rayon);
            break;
        }
        case 15:
            put_line(g, true, "%.8s977012,village,\"Таб\tв имени\",,%s", rayon, rayon);
            break;
        case 16:
            put_line(g, true, OLD_VILLAGE ",village,Старое,," KOCHKOR);
            break;
        case 17:
            put_line(g, true, "%.8s977013,village,X,,%s", OLD_AIMAK, OLD_AIMAK);
            break;
        case 18:
            put_line(g, true, "%.8s977014,village,X,,417042350", rayon);
            break;
        case 19:
            put_line(g, true, "%.8s977015,,X,,%s", rayon, rayon);
            ovop_buf_puts(&g->text, "\n   \n"); /* blank lines do not count as rows */
            g->line += 2;
            break;
        }
    }
}

static void write_file(const char *path, const ovop_buf_t *b)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    fclose(f);
}

/* Runs `ovopctl --json territory import path [extra]` and checks its summary. */
static json_t *run_import(const char *log, const char *path, const char *extra_flag,
                          const char *extra_value, int expect_exit)
{
    const char *args[] = {"--json", "territory", "import",    path, "--batch",
                          "500",    extra_flag,  extra_value, NULL};
    assert_int_equal(ovopctl(log, args), expect_exit);
    char *out = read_log(log);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    if (!j)
        fail_msg("%s: not JSON (%s): %.300s", log, jerr.text, out);
    free(out);
    return j;
}

static long jint(json_t *j, const char *key)
{
    return (long)json_integer_value(json_object_get(j, key));
}

static void test_import_csv(void **state)
{
    static csv_gen_t g;
    char path[512];
    snprintf(path, sizeof(path), "%s/villages.csv", harness_tmpdir());
    generate(&g, true, NULL);
    assert_true(g.n_bad >= 20);
    write_file(path, &g.text);
    long villages0 = count("SELECT count(*) FROM registry.territories WHERE kind = 'village'");
    long events0 = events();

    /* First run: every good line inserted, exactly the bad lines rejected, exit 1. */
    json_t *j = run_import("import-1", path, "--valid-from", "2024-01-01", 1);
    assert_int_equal(jint(j, "inserted"), N_VILLAGES);
    assert_int_equal(jint(j, "updated"), 0);
    assert_int_equal(jint(j, "unchanged"), 0);
    json_t *rej = json_object_get(j, "rejected");
    assert_int_equal(json_array_size(rej), g.n_bad);
    for (size_t i = 0; i < g.n_bad; i++) {
        json_t *x = json_array_get(rej, i);
        if (jint(x, "line") != (long)g.bad[i])
            fail_msg("rejection %zu is line %ld (%s), expected line %u", i, jint(x, "line"),
                     json_string_value(json_object_get(x, "reason")), g.bad[i]);
        assert_true(strlen(json_string_value(json_object_get(x, "reason"))) > 0);
    }
    json_decref(j);
    assert_int_equal(count("SELECT count(*) FROM registry.territories WHERE kind = 'village'") -
                         villages0,
                     N_VILLAGES);
    assert_int_equal(events() - events0, N_VILLAGES);
    /* Spaces stripped, quotes undone, translations kept. */
    expect_version(g.village[9], NULL, "Село 9", NULL);
    expect_version(g.village[3], NULL, "Ак-Суу \"центр\", 3", NULL);
    Ovop__V1__Territory *t = get_territory(g.village[4], NULL, OVOP_OK);
    assert_string_equal(t->name->en, "Village 4");
    assert_string_equal(t->name->ky, "Айыл 4");
    assert_string_equal(t->valid_from, "2024-01-01");
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* Second run (today, the text summary with progress): nothing changes. */
    const char *a2[] = {"territory", "import", path, "--progress", NULL};
    assert_int_equal(ovopctl("import-2", a2), 1);
    char *out = read_log("import-2");
    assert_non_null(strstr(out, "/2020 rows\n"));
    assert_non_null(strstr(out, "imported 2020/2020 rows\n"));
    assert_non_null(strstr(out, "inserted   0\n"));
    assert_non_null(strstr(out, "updated    0\n"));
    assert_non_null(strstr(out, "unchanged  2000\n"));
    char want[64];
    snprintf(want, sizeof(want), "rejected   %zu\n", g.n_bad);
    assert_non_null(strstr(out, want));
    for (size_t i = 0; i < g.n_bad; i++) {
        snprintf(want, sizeof(want), "  line %u", g.bad[i]);
        assert_non_null(strstr(out, want));
    }
    free(out);
    assert_int_equal(events() - events0, N_VILLAGES);

    /* Five villages renamed: five new versions from today, the old names kept for 2024. */
    bool renamed[N_VILLAGES] = {false};
    size_t picks[5] = {3, 10, 777, 1500, 1999};
    for (size_t i = 0; i < 5; i++)
        renamed[picks[i]] = true;
    static csv_gen_t g2;
    generate(&g2, true, renamed);
    write_file(path, &g2.text);
    j = run_import("import-3", path, NULL, NULL, 1);
    assert_int_equal(jint(j, "inserted"), 0);
    assert_int_equal(jint(j, "updated"), 5);
    assert_int_equal(jint(j, "unchanged"), N_VILLAGES - 5);
    assert_int_equal(json_array_size(json_object_get(j, "rejected")), g2.n_bad);
    json_decref(j);
    assert_int_equal(events() - events0, N_VILLAGES + 5);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.territory.renamed' AND soate LIKE '________9%%'"),
                     5);
    expect_version(g.village[10], "2024-06-01", "Село 10", NULL);
    expect_version(g.village[10], NULL, "Село 10 (новое)", NULL);
    expect_version(g.village[3], NULL, "Ак-Суу \"центр\", 3 (новое)", NULL);

    /* Only the good lines: exit 0, all unchanged. */
    static csv_gen_t g3;
    generate(&g3, false, renamed);
    write_file(path, &g3.text);
    j = run_import("import-4", path, NULL, NULL, 0);
    assert_int_equal(jint(j, "unchanged"), N_VILLAGES);
    assert_int_equal(jint(j, "inserted") + jint(j, "updated"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "rejected")), 0);
    json_decref(j);
    assert_int_equal(events() - events0, N_VILLAGES + 5);

    ovop_buf_free(&g.text);
    ovop_buf_free(&g2.text);
    ovop_buf_free(&g3.text);

    /* A file that is not there, and a bad flag. */
    const char *a5[] = {"territory", "import", "/nonexistent/villages.csv", NULL};
    assert_int_equal(ovopctl("import-5", a5), 1);
    const char *a6[] = {"territory", "import", path, "--batch", "5000", NULL};
    assert_int_equal(ovopctl("import-6", a6), 2);
}

/* --- the single changes through ovopctl --- */

static void test_ctl_changes(void **state)
{
    const char *a1[] = {"territory",  "create",       "41704245003000", "--kind",
                        "aiyl_aimak", "--parent",     "41704245000000", "--ru",
                        "Нарын а/а",  "--valid-from", "2016-01-01",     NULL};
    assert_int_equal(ovopctl("ctl-create", a1), 0);
    char *out = read_log("ctl-create");
    assert_non_null(strstr(out, "Нарын а/а"));
    free(out);
    const char *a2[] = {"territory",     "rename", "41704245003000", "--ru",
                        "Нарын-Ата а/а", "--on",   "2020-01-01",     NULL};
    assert_int_equal(ovopctl("ctl-rename", a2), 0);
    expect_version("41704245003000", "2019-01-01", "Нарын а/а", NULL);
    expect_version("41704245003000", NULL, "Нарын-Ата а/а", NULL);
    const char *a3[] = {"territory", "reparent", "41704245003000", "--parent", NARYN, NULL};
    assert_int_equal(ovopctl("ctl-reparent", a3), 10 + OVOP_INVALID_ARGUMENT);
    out = read_log("ctl-reparent");
    assert_non_null(strstr(out, "parent_code: kind aiyl_aimak cannot lie under"));
    free(out);
    const char *a4[] = {"territory", "retire", "41704245003000", "--on", "2021-01-01", NULL};
    assert_int_equal(ovopctl("ctl-retire", a4), 0);
    const char *a5[] = {"territory", "retire", "41704245003000", NULL};
    assert_int_equal(ovopctl("ctl-retire-again", a5), 10 + OVOP_FAILED_PRECONDITION);
    const char *a6[] = {"territory", "create", "41704245003001", "--kind", "village", NULL};
    assert_int_equal(ovopctl("ctl-create-usage", a6), 2);
    const char *a7[] = {"territory", "rename", "41704245009999", "--ru", "X", NULL};
    assert_int_equal(ovopctl("ctl-rename-404", a7), 10 + OVOP_NOT_FOUND);

    /* An import under --request-id: each batch gets a key derived from it, so running the
     * same file again replays the first answers (inserted 3 again) and writes nothing. */
    char path[512];
    snprintf(path, sizeof(path), "%s/three.csv", harness_tmpdir());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("soate,kind,name_ru,name_ky,parent_soate\n"
          "41704210980001,village,Один,,41704210000000\n"
          "41704210980002,village,Два,,41704210000000\n"
          "41704210980003,village,Три,,41704210000000\n",
          f);
    fclose(f);
    long events0 = events();
    const char *a8[] = {"--request-id", "load-1",  "territory", "import",
                        path,           "--batch", "2",         NULL};
    for (int run = 0; run < 2; run++) {
        char log[32];
        snprintf(log, sizeof(log), "ctl-import-rid-%d", run);
        assert_int_equal(ovopctl(log, a8), 0);
        out = read_log(log);
        assert_non_null(strstr(out, "inserted   3\n"));
        free(out);
        assert_int_equal(events() - events0, 3);
    }
}

/* --- specializations --- */

static Ovop__V1__Specialization *declare(const char *territory, const char *hs, const char *rid,
                                         int expect)
{
    Ovop__V1__DeclareSpecializationRequest in = OVOP__V1__DECLARE_SPECIALIZATION_REQUEST__INIT;
    in.territory_code = (char *)territory;
    in.hs_code = (char *)hs;
    in.narrative = "Горный мёд с летних пастбищ";
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("DeclareSpecialization", rid, &in.base,
                          &ovop__v1__specialization__descriptor, &out, NULL),
                     expect);
    return (Ovop__V1__Specialization *)out;
}

static Ovop__V1__DeclareSpecializationRequest declare_request(const char *territory, const char *hs)
{
    Ovop__V1__DeclareSpecializationRequest in = OVOP__V1__DECLARE_SPECIALIZATION_REQUEST__INIT;
    in.territory_code = (char *)territory;
    in.hs_code = (char *)hs;
    return in;
}

static void test_declare_withdraw(void **state)
{
    long events0 = events();
    Ovop__V1__Specialization *s = declare(VILLAGE_A, HONEY, "declare-1", OVOP_OK);
    assert_true(s->id > 0);
    assert_int_equal(s->version, 1);
    assert_string_equal(s->withdrawn_on, "");
    assert_int_equal(strlen(s->declared_on), 10);
    assert_int_equal(events() - events0, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.specialization.declared' AND hs6 = '" HONEY
                           "' AND soate = '" VILLAGE_A "' AND subject = 'specialization/%lld'",
                           (long long)s->id),
                     1);
    /* The retry: the same specialization, no second row or event. */
    Ovop__V1__Specialization *again = declare(VILLAGE_A, HONEY, "declare-1", OVOP_OK);
    assert_int_equal(again->id, s->id);
    protobuf_c_message_free_unpacked(&again->base, NULL);
    assert_int_equal(count("SELECT count(*) FROM registry.specializations"), 1);
    assert_int_equal(events() - events0, 1);

    const char *m = "DeclareSpecialization";
    Ovop__V1__DeclareSpecializationRequest in = declare_request(VILLAGE_A, HONEY);
    expect_refused(m, &in.base, OVOP_ALREADY_EXISTS, "hs_code", "already declares");
    in = declare_request("41711201000000", HONEY); /* a city district */
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "territory_code", "is a city_district");
    in = declare_request("41700000000000", HONEY);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "territory_code", "is a republic");
    in = declare_request(OLD_VILLAGE, HONEY);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "territory_code", "retired");
    in = declare_request("41704235000777", HONEY);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "territory_code", "no territory");
    in = declare_request("4170423500010", HONEY);
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "territory_code", "14 digits");
    in = declare_request(VILLAGE_A, "999999");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "hs_code", "not in the programme");
    in = declare_request(VILLAGE_A, "04090");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "hs_code", "6 digits");
    in = declare_request(VILLAGE_A, "");
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "hs_code", "required");
    char narrative[2002];
    memset(narrative, 'n', 2001);
    narrative[2001] = '\0';
    in = declare_request(VILLAGE_A, FELT);
    in.narrative = narrative;
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "narrative", "at most 2000");
    in.narrative = "\xe2\x82";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "narrative", "UTF-8");
    in = declare_request(VILLAGE_A, FELT);
    in.declared_on = "2024-02-30";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "declared_on", "YYYY-MM-DD");
    in.declared_on = "2999-01-01";
    expect_refused(m, &in.base, OVOP_INVALID_ARGUMENT, "declared_on", "future");

    /* A district and a region declare too. */
    Ovop__V1__Specialization *d = declare(KOCHKOR, FELT, NULL, OVOP_OK);
    Ovop__V1__Specialization *o = declare(NARYN, HONEY, NULL, OVOP_OK);
    protobuf_c_message_free_unpacked(&o->base, NULL);

    /* Withdraw: the version read, then a stale one, an unknown id, a bad date. */
    Ovop__V1__WithdrawSpecializationRequest w = OVOP__V1__WITHDRAW_SPECIALIZATION_REQUEST__INIT;
    const char *mw = "WithdrawSpecialization";
    w.id = d->id;
    w.version = 7;
    expect_refused(mw, &w.base, OVOP_ABORTED, "version", "at version 1, not 7");
    w.version = 1;
    w.withdrawn_on = "2000-01-01";
    expect_refused(mw, &w.base, OVOP_INVALID_ARGUMENT, "withdrawn_on", "between");
    w.withdrawn_on = "2024-13-01";
    expect_refused(mw, &w.base, OVOP_INVALID_ARGUMENT, "withdrawn_on", "YYYY-MM-DD");
    w.withdrawn_on = "";
    events0 = events();
    ProtobufCMessage *out = NULL;
    assert_int_equal(
        call(mw, "withdraw-1", &w.base, &ovop__v1__specialization__descriptor, &out, NULL),
        OVOP_OK);
    Ovop__V1__Specialization *wd = (Ovop__V1__Specialization *)out;
    assert_int_equal(wd->version, 2);
    assert_string_equal(wd->withdrawn_on, wd->declared_on);
    protobuf_c_message_free_unpacked(out, NULL);
    assert_int_equal(call(mw, "withdraw-1", &w.base, NULL, NULL, NULL), OVOP_OK);
    assert_int_equal(events() - events0, 1);
    assert_int_equal(count("SELECT count(*) FROM bus.events WHERE type = "
                           "'ovop.registry.specialization.withdrawn' AND hs6 = '" FELT "'"),
                     1);
    expect_refused(mw, &w.base, OVOP_ABORTED, "version", "at version 2, not 1");
    w.version = 2;
    expect_refused(mw, &w.base, OVOP_FAILED_PRECONDITION, "id", "already withdrawn");
    w.id = 987654;
    expect_refused(mw, &w.base, OVOP_NOT_FOUND, NULL, "no specialization");
    w.id = 0;
    w.version = 0;
    expect_refused(mw, &w.base, OVOP_INVALID_ARGUMENT, "id", NULL);
    /* Once withdrawn it may be declared again. */
    Ovop__V1__Specialization *d2 = declare(KOCHKOR, FELT, NULL, OVOP_OK);
    assert_true(d2->id != d->id);
    protobuf_c_message_free_unpacked(&d2->base, NULL);
    protobuf_c_message_free_unpacked(&d->base, NULL);
    protobuf_c_message_free_unpacked(&s->base, NULL);
}

static int list_specs(const char *prefix, const char *hs, unsigned page, const char *token,
                      Ovop__V1__ListSpecializationsResponse **ret)
{
    Ovop__V1__ListSpecializationsRequest in = OVOP__V1__LIST_SPECIALIZATIONS_REQUEST__INIT;
    in.territory_prefix = (char *)prefix;
    in.hs_prefix = (char *)hs;
    in.page_size = page;
    in.page_token = (char *)token;
    ProtobufCMessage *out = NULL;
    int r = call("ListSpecializations", NULL, &in.base,
                 &ovop__v1__list_specializations_response__descriptor, &out, NULL);
    if (ret)
        *ret = (Ovop__V1__ListSpecializationsResponse *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return r;
}

static void test_queries(void **state)
{
    /* More honey villages: one more in Naryn, one in Batken. */
    Ovop__V1__Specialization *s = declare(VILLAGE_B, HONEY, NULL, OVOP_OK);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    s = declare(VILLAGE_C, HONEY, NULL, OVOP_OK);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    Ovop__V1__ListSpecializationsResponse *resp = NULL;
    assert_int_equal(list_specs(KOCHKOR, "0409", 0, "", &resp), OVOP_OK);
    assert_int_equal(resp->n_specializations, 2);
    for (size_t i = 0; i < resp->n_specializations; i++) {
        assert_memory_equal(resp->specializations[i]->territory_code, "41704235", 8);
        assert_string_equal(resp->specializations[i]->hs_code, HONEY);
    }
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    /* Pages of 2 cover every declaration, current and withdrawn, once. */
    char token[64] = "";
    long total = 0, last = 0;
    do {
        assert_int_equal(list_specs("", "", 2, token, &resp), OVOP_OK);
        for (size_t i = 0; i < resp->n_specializations; i++) {
            assert_true(resp->specializations[i]->id > last);
            last = resp->specializations[i]->id;
        }
        total += (long)resp->n_specializations;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0]);
    assert_int_equal(total, count("SELECT count(*) FROM registry.specializations"));
    assert_int_equal(list_specs("4170", "", 0, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list_specs("", "04x", 0, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list_specs("", "", 0, "s1.x", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list_specs("", "", 1001, "", NULL), OVOP_INVALID_ARGUMENT);

    /* "Which villages of Naryn region have no specialization yet", in pages of 100. */
    long expected = count(
        "SELECT count(*) FROM registry.territories t WHERE t.kind = 'village' "
        "AND t.code LIKE '41704%%' AND t.valid_from <= current_date "
        "AND (t.valid_to IS NULL OR t.valid_to > current_date) AND NOT EXISTS (SELECT 1 FROM "
        "registry.specializations s WHERE s.territory_code = t.code AND s.withdrawn_on IS NULL)");
    assert_true(expected > 100);
    token[0] = '\0';
    total = 0;
    char prev[15] = "";
    do {
        Ovop__V1__UnspecializedTerritoriesRequest in =
            OVOP__V1__UNSPECIALIZED_TERRITORIES_REQUEST__INIT;
        in.territory_prefix = NARYN;
        in.page_size = 100;
        in.page_token = token;
        ProtobufCMessage *out = NULL;
        assert_int_equal(call("ListUnspecializedTerritories", NULL, &in.base,
                              &ovop__v1__list_territories_response__descriptor, &out, NULL),
                         OVOP_OK);
        Ovop__V1__ListTerritoriesResponse *lt = (Ovop__V1__ListTerritoriesResponse *)out;
        for (size_t i = 0; i < lt->n_territories; i++) {
            const Ovop__V1__Territory *t = lt->territories[i];
            assert_string_equal(t->kind, "village");
            assert_memory_equal(t->code, "41704", 5);
            assert_true(strcmp(t->code, prev) > 0);
            assert_string_not_equal(t->code, VILLAGE_A);
            assert_string_not_equal(t->code, VILLAGE_B);
            snprintf(prev, sizeof(prev), "%s", t->code);
        }
        total += (long)lt->n_territories;
        snprintf(token, sizeof(token), "%s", lt->next_page_token);
        protobuf_c_message_free_unpacked(out, NULL);
    } while (token[0]);
    assert_int_equal(total, expected);
    Ovop__V1__UnspecializedTerritoriesRequest bad =
        OVOP__V1__UNSPECIALIZED_TERRITORIES_REQUEST__INIT;
    bad.kind = "city_district";
    assert_int_equal(call("ListUnspecializedTerritories", NULL, &bad.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    bad.kind = "";
    bad.territory_prefix = "41704";
    assert_int_equal(call("ListUnspecializedTerritories", NULL, &bad.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    bad.territory_prefix = "";
    bad.page_token = "t1.123";
    assert_int_equal(call("ListUnspecializedTerritories", NULL, &bad.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);

    /* "How many villages specialize in honey, per region": every region, zeros included. */
    Ovop__V1__SpecializationCountsRequest cin = OVOP__V1__SPECIALIZATION_COUNTS_REQUEST__INIT;
    cin.hs_prefix = "0409";
    ProtobufCMessage *out = NULL;
    assert_int_equal(call("CountSpecializations", NULL, &cin.base,
                          &ovop__v1__specialization_counts_response__descriptor, &out, NULL),
                     OVOP_OK);
    Ovop__V1__SpecializationCountsResponse *c = (Ovop__V1__SpecializationCountsResponse *)out;
    assert_int_equal(c->n_regions, 9);
    for (size_t i = 0; i < c->n_regions; i++) {
        const Ovop__V1__RegionCount *g = c->regions[i];
        char prefix[6];
        snprintf(prefix, sizeof(prefix), "%.5s", g->region_code);
        long total_v = count("SELECT count(*) FROM registry.territories WHERE kind = 'village' "
                             "AND code LIKE '%s%%' AND valid_from <= current_date "
                             "AND (valid_to IS NULL OR valid_to > current_date)",
                             prefix);
        assert_int_equal(g->total, total_v);
        long want = strcmp(prefix, "41704") == 0 ? 2 : strcmp(prefix, "41705") == 0 ? 1 : 0;
        if ((long)g->count != want)
            fail_msg("region %s: count %u, expected %ld", g->region_code, g->count, want);
        assert_non_null(g->region_name);
    }
    assert_string_equal(c->regions[2]->region_name->en, "Naryn Region");
    protobuf_c_message_free_unpacked(out, NULL);
    /* Districts with felt: Kochkor's declaration was withdrawn, then declared again. */
    cin.hs_prefix = FELT;
    cin.kind = "rayon";
    assert_int_equal(call("CountSpecializations", NULL, &cin.base,
                          &ovop__v1__specialization_counts_response__descriptor, &out, NULL),
                     OVOP_OK);
    c = (Ovop__V1__SpecializationCountsResponse *)out;
    assert_int_equal(c->regions[2]->count, 1);
    assert_int_equal(c->regions[2]->total, 5);
    protobuf_c_message_free_unpacked(out, NULL);
    cin.kind = "republic";
    assert_int_equal(call("CountSpecializations", NULL, &cin.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
    cin.kind = "";
    cin.hs_prefix = "1234567";
    assert_int_equal(call("CountSpecializations", NULL, &cin.base, NULL, NULL, NULL),
                     OVOP_INVALID_ARGUMENT);
}

static void test_ctl_spec(void **state)
{
    const char *a1[] = {"spec", "declare", VILLAGE_C, FELT, "--narrative", "Шырдак", NULL};
    assert_int_equal(ovopctl("spec-declare", a1), 0);
    char *out = read_log("spec-declare");
    assert_non_null(strstr(out, "hs code        " FELT));
    free(out);
    assert_int_equal(ovopctl("spec-declare-again", a1), 10 + OVOP_ALREADY_EXISTS);
    const char *a2[] = {"spec", "declare", VILLAGE_C, "12", NULL};
    assert_int_equal(ovopctl("spec-declare-bad", a2), 10 + OVOP_INVALID_ARGUMENT);
    const char *a3[] = {"spec", "list", "--territory", BATKEN_D, NULL};
    assert_int_equal(ovopctl("spec-list", a3), 0);
    out = read_log("spec-list");
    assert_non_null(strstr(out, "(2 specializations)"));
    free(out);
    const char *a4[] = {"spec", "counts", "--hs", "0409", NULL};
    assert_int_equal(ovopctl("spec-counts", a4), 0);
    out = read_log("spec-counts");
    assert_non_null(strstr(out, "Naryn Region"));
    assert_non_null(strstr(out, "Talas Region"));
    free(out);
    const char *a5[] = {"spec", "unspecialized", "--territory", BATKEN_D, "--all", NULL};
    assert_int_equal(ovopctl("spec-unspecialized", a5), 0);
    out = read_log("spec-unspecialized");
    assert_non_null(strstr(out, "without a specialization"));
    assert_null(strstr(out, VILLAGE_C));
    free(out);
    const char *a6[] = {"spec", "withdraw", "1", NULL};
    assert_int_equal(ovopctl("spec-withdraw-usage", a6), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),           cmocka_unit_test(test_rename_history),
        cmocka_unit_test(test_reparent_history), cmocka_unit_test(test_concurrent_renames),
        cmocka_unit_test(test_retire),           cmocka_unit_test(test_import_direct),
        cmocka_unit_test(test_import_csv),       cmocka_unit_test(test_ctl_changes),
        cmocka_unit_test(test_declare_withdraw), cmocka_unit_test(test_queries),
        cmocka_unit_test(test_ctl_spec),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
