/* Unit tests of the named contracts between SQL and C: enum texts from the descriptors, rows
 * decoded by column name (on results built with libpq's own constructors), JSON members by
 * field name, and the SQLSTATE classes' statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbcall.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pbrow.h"

static void test_enum_text(void **state)
{
    const ProtobufCEnumDescriptor *kind = &ovop__v1__producer_kind__descriptor;
    assert_string_equal(ovop_enum_text(kind, OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP),
                        "family_group");
    assert_string_equal(ovop_enum_text(kind, 0), "");
    assert_string_equal(ovop_enum_text(kind, 999), "");
    assert_int_equal(ovop_enum_value(kind, "sme"), OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME);
    assert_int_equal(ovop_enum_value(kind, "PRODUCER_KIND_SME"),
                     OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME);
    assert_int_equal(ovop_enum_value(kind, "unspecified"), -1);
    assert_int_equal(ovop_enum_value(kind, ""), -1);
    assert_int_equal(ovop_enum_value(kind, "SME"), -1);
    assert_int_equal(ovop_enum_value(kind, "kind_sme"), -1);
    const ProtobufCEnumDescriptor *st = &ovop__v1__shipment_status__descriptor;
    assert_string_equal(
        ovop_enum_text(st, OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DOCUMENTS_COMPLETE),
        "documents_complete");
}

/* A result with the given column names and one row of values (NULL: SQL NULL). */
static PGresult *result(int n, const char *const *names, const char *const *values)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[16];
    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < n; i++) {
        attrs[i].name = (char *)names[i];
        attrs[i].format = 0;
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_true(PQsetResultAttrs(res, n, attrs));
    for (int i = 0; i < n; i++)
        assert_true(
            PQsetvalue(res, 0, i, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1));
    return res;
}

static void test_row_by_name(void **state)
{
    static const char *const names[] = {"legal_name",  "id",    "contact.phone", "kind",
                                        "members",     "stars", "location.lat",  "location.set",
                                        "not_a_field", "tax_id"};
    static const char *const values[] = {
        "Toktogulov",
        "42",
        "+996 555 123456",
        "family_group",
        "[{\"name\": \"Aibek\", \"role\": \"head\"}, {\"name\": \"Nurgul\"}]",
        "3",
        "41.5",
        "t",
        "ignored",
        NULL};
    PGresult *res = result(10, names, values);
    ovop_arena_t *a = ovop_arena_new();
    ovop_rowmap_t *m = ovop_rowmap_new(a, &ovop__v1__producer__descriptor, res);
    const char *why = NULL;
    Ovop__V1__Producer *p = (Ovop__V1__Producer *)ovop_rowmap_decode(m, res, 0, &why);
    assert_non_null(p);
    assert_string_equal(p->legal_name, "Toktogulov");
    assert_int_equal(p->id, 42);
    assert_non_null(p->contact);
    assert_string_equal(p->contact->phone, "+996 555 123456");
    assert_string_equal(p->contact->email, "");
    assert_int_equal(p->kind, OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_FAMILY_GROUP);
    assert_int_equal(p->n_members, 2);
    assert_string_equal(p->members[0]->name, "Aibek");
    assert_string_equal(p->members[0]->role, "head");
    assert_string_equal(p->members[1]->name, "Nurgul");
    assert_string_equal(p->members[1]->role, "");
    assert_int_equal(p->stars, 3);
    assert_true(p->location->set);
    assert_true(p->location->lat == 41.5);
    assert_string_equal(p->tax_id, ""); /* NULL keeps the default */
    PQclear(res);

    /* A value that does not convert names its column. */
    static const char *const bad_names[] = {"id"};
    static const char *const bad_values[] = {"4x2"};
    res = result(1, bad_names, bad_values);
    m = ovop_rowmap_new(a, &ovop__v1__producer__descriptor, res);
    assert_null(ovop_rowmap_decode(m, res, 0, &why));
    assert_string_equal(why, "id");
    PQclear(res);
    static const char *const bad_enum[] = {"kind"};
    static const char *const bad_enum_v[] = {"giant"};
    res = result(1, bad_enum, bad_enum_v);
    m = ovop_rowmap_new(a, &ovop__v1__producer__descriptor, res);
    assert_null(ovop_rowmap_decode(m, res, 0, &why));
    PQclear(res);
    ovop_arena_destroy(&a);
}

static void test_json(void **state)
{
    ovop_arena_t *a = ovop_arena_new();
    const char *why = NULL;
    json_t *j = json_loads("{\"code\": \"41704000000000\", \"name\": {\"en\": \"Naryn\"}, "
                           "\"children\": 5, \"unknown\": [1, 2]}",
                           0, NULL);
    Ovop__V1__Territory *t =
        (Ovop__V1__Territory *)ovop_pb_from_json(a, &ovop__v1__territory__descriptor, j, &why);
    json_decref(j);
    assert_non_null(t);
    assert_string_equal(t->code, "41704000000000");
    assert_string_equal(t->name->en, "Naryn");
    j = json_loads("{\"code\": {\"nested\": true}}", 0, NULL);
    assert_null(ovop_pb_from_json(a, &ovop__v1__territory__descriptor, j, &why));
    assert_string_equal(why, "code");
    json_decref(j);
    j = json_loads("[1]", 0, NULL);
    assert_null(ovop_pb_from_json(a, &ovop__v1__territory__descriptor, j, &why));
    json_decref(j);
    ovop_arena_destroy(&a);
}

/* JSON text decoded as it is read, as jansson's document would decode (the fuzz target
 * fuzz-pbrow compares the two on any text). */
static void test_json_text(void **state)
{
    ovop_arena_t *a = ovop_arena_new();
    const char *why = NULL;
    const ProtobufCMessageDescriptor *desc = &ovop__v1__shipment__descriptor;
    Ovop__V1__Shipment *s = (Ovop__V1__Shipment *)ovop_pb_from_json_text(
        a, desc,
        " {\"id\": \"41\", \"exporter\": {\"kind\": \"cooperative\", \"id\": 9100}, "
        "\"exporter_name\": \"\\u041a\\u0430\\u0440\\u0430 \\\"x\\\"\\n\\ud83c\\udf51\", "
        "\"incoterm\": \"INCOTERM_CIF\", \"buyer\": null, \"version\": 12.0, "
        "\"net_weight_kg\": 2000.444, \"value_usd_cents\": 1e2, \"border_point\": 12, "
        "\"lots\": [{\"ord\": 1, \"quantity\": 1000.123, \"unit\": \"kg\"}, {}], "
        "\"required_documents\": [\"contract\", \"cmr\"], \"missing_documents\": [], "
        "\"unknown\": {\"a\": [1, 2.5e10, {\"b\": null}], \"c\": true}} ",
        &why);
    assert_non_null(s);
    assert_int_equal(s->id, 41);
    assert_int_equal(s->exporter->kind, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE);
    assert_int_equal(s->exporter->id, 9100);
    assert_string_equal(s->exporter_name,
                        "\xd0\x9a\xd0\xb0\xd1\x80\xd0\xb0 \"x\"\n\xf0\x9f\x8d\x91");
    assert_int_equal(s->incoterm, OVOP__V1__INCOTERM__INCOTERM_CIF);
    assert_null(s->buyer);
    assert_int_equal(s->version, 12); /* jansson's 12.0, printed "12" */
    assert_true(s->net_weight_kg == 2000.444);
    assert_int_equal(s->value_usd_cents, 100); /* 1e2 */
    assert_string_equal(s->border_point, "12");
    assert_int_equal(s->n_lots, 2);
    assert_true(s->lots[0]->quantity == 1000.123);
    assert_string_equal(s->lots[0]->unit, "kg");
    assert_string_equal(s->lots[1]->unit, "");
    assert_int_equal(s->n_required_documents, 2);
    assert_int_equal(s->required_documents[1], OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CMR);
    assert_int_equal(s->n_missing_documents, 0);

    /* Refused as jansson refuses them, or as their values do not convert. */
    static const char *const refused[] = {
        "",
        "[{\"id\": 1}]",
        "{\"id\": 1} x",
        "{\"id\": 01}",
        "{\"id\": 1.5}",
        "{\"id\": 99999999999999999999}",
        "{\"unknown\": 99999999999999999999}",
        "{\"unknown\": 1e400}",
        "{\"net_weight_kg\": 1e400}",
        "{\"exporter_name\": \"a\\u0000b\"}",
        "{\"exporter_name\": \"\\udc00\"}",
        "{\"exporter_name\": \"\\ud800x\"}",
        "{\"exporter_name\": \"\xc3\x28\"}",
        "{\"exporter_name\": \"tab\there\"}",
        "{\"exporter_name\": \"\\q\"}",
        "{\"exporter_name\": truex}",
        "{\"incoterm\": \"bogus\"}",
        "{\"lots\": 5}",
        "{\"lots\": [null]}",
        "{\"lots\": [[]]}",
        "{\"exporter\": \"producer\"}",
        "{\"id\": {}}",
        "{\"id\" 1}",
        "{\"id\": 1,}",
        "{id: 1}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(*refused); i++) {
        why = NULL;
        if (ovop_pb_from_json_text(a, desc, refused[i], &why))
            fail_msg("accepted %s", refused[i]);
        assert_string_equal(why, desc->name);
    }
    ovop_arena_destroy(&a);
}

static void test_sqlstate_classes(void **state)
{
    static const struct {
        const char *state, *constraint;
        int code;
        const char *reason;
    } cases[] = {
        {"08006", NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"},
        {"53100", NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"},
        {"57P01", NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"},
        {"58030", NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"},
        {"40001", NULL, OVOP_ABORTED, "CONCURRENT_CHANGE"},
        {"40P01", NULL, OVOP_ABORTED, "CONCURRENT_CHANGE"},
        {"23505", "producers_tax_id_key", OVOP_ALREADY_EXISTS, "ALREADY_EXISTS"},
        {"23505", "idempotency_pkey", OVOP_ABORTED, "REQUEST_IN_PROGRESS"},
        {"23503", NULL, OVOP_FAILED_PRECONDITION, "CONSTRAINT_VIOLATED"},
        {"OV409", NULL, OVOP_INVALID_ARGUMENT, "REQUEST_ID_REUSED"},
        {"22012", NULL, OVOP_INTERNAL, "INTERNAL"},
        {"42883", NULL, OVOP_INTERNAL, "INTERNAL"},
        {NULL, NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"}, /* no server answer */
        {"bad", NULL, OVOP_UNAVAILABLE, "DATABASE_UNAVAILABLE"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ovop_db_status_t st = ovop_db_status_of(cases[i].state, cases[i].constraint, "x");
        assert_int_equal(st.code, cases[i].code);
        assert_string_equal(st.reason, cases[i].reason);
    }
    assert_true(ovop_db_status_of("22012", NULL, "x").log);
    assert_false(ovop_db_status_of("40001", NULL, "x").log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_text),
        cmocka_unit_test(test_row_by_name),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_sqlstate_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
