/* Unit tests of protobuf messages to JSON (common/pbjson.c) on the generated types: every
 * field present, enums by name, 64-bit integers as strings, bytes as base64, nested and
 * repeated fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ovop/v1/envelope.pb-c.h"
#include "ovop/v1/event.pb-c.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pbjson.h"
#include "util.h"

/* The JSON of j, keys sorted, compact; j is released. */
static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    assert_non_null(s);
    json_decref(j);
    return s;
}

static void assert_json(const ProtobufCMessage *m, const char *want)
{
    char *s = dump(ovop_pb_to_json(m));
    assert_string_equal(s, want);
    free(s);
}

static void test_scalars_and_nested(void **state)
{
    Ovop__V1__GeoPoint unset = OVOP__V1__GEO_POINT__INIT;
    Ovop__V1__GeoPoint osh = OVOP__V1__GEO_POINT__INIT;
    osh.set = true;
    osh.lat = 40.5;
    osh.lon = -72.8125;
    Ovop__V1__ExporterRef coop = OVOP__V1__EXPORTER_REF__INIT;
    coop.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
    coop.id = INT64_MAX;
    Ovop__V1__ExporterRef odd = OVOP__V1__EXPORTER_REF__INIT;
    odd.kind = (Ovop__V1__ExporterKind)99; /* not a value of the enum: kept as a number */
    odd.id = INT64_MIN;
    Ovop__V1__LocalizedName name = OVOP__V1__LOCALIZED_NAME__INIT;
    name.ru = "\xd0\x9e\xd1\x88";
    name.en = "Osh";
    name.ky = "\xff"; /* not UTF-8 */
    Ovop__V1__Territory t = OVOP__V1__TERRITORY__INIT;
    t.code = "41721000000000";
    t.name = &name;
    t.children = UINT32_MAX;
    Ovop__V1__Request req = OVOP__V1__REQUEST__INIT;
    req.request_id = "r-1";
    req.deadline_ms = 1500;
    req.body.data = (uint8_t *)"\xfb\xff";
    req.body.len = 2;

    static const char *const want[] = {
        "{\"lat\":0.0,\"lon\":0.0,\"set\":false}",
        "{\"lat\":40.5,\"lon\":-72.8125,\"set\":true}",
        "{\"id\":\"9223372036854775807\",\"kind\":\"EXPORTER_KIND_COOPERATIVE\"}",
        "{\"id\":\"-9223372036854775808\",\"kind\":99}",
        "{\"children\":4294967295,\"code\":\"41721000000000\",\"kind\":\"\",\"location\":null,"
        "\"name\":{\"en\":\"Osh\",\"ky\":\"(invalid UTF-8)\",\"ru\":\"\xd0\x9e\xd1\x88\"},"
        "\"parent_code\":\"\",\"superseded_by\":\"\",\"valid_from\":\"\",\"valid_to\":\"\"}",
        "{\"body\":\"+/8=\",\"caller\":\"\",\"deadline_ms\":1500,\"method\":\"\","
        "\"on_behalf_of\":\"\",\"request_id\":\"r-1\"}",
    };
    const ProtobufCMessage *msgs[] = {&unset.base, &osh.base, &coop.base,
                                      &odd.base,   &t.base,   &req.base};
    assert_int_equal(OVOP_ARRAY_SIZE(msgs), OVOP_ARRAY_SIZE(want));
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(msgs); i++)
        assert_json(msgs[i], want[i]);
}

static void test_bytes_base64(void **state)
{
    /* RFC 4648's test vectors, and the two characters past the alphanumerics. */
    static const struct {
        const char *bytes;
        size_t n;
        const char *b64;
    } cases[] = {
        {"", 0, ""},
        {"f", 1, "Zg=="},
        {"fo", 2, "Zm8="},
        {"foo", 3, "Zm9v"},
        {"foob", 4, "Zm9vYg=="},
        {"fooba", 5, "Zm9vYmE="},
        {"foobar", 6, "Zm9vYmFy"},
        {"\0\0\0", 3, "AAAA"},
        {"\xfb\xef\xbe", 3, "++++"},
        {"\xff\xff\xff", 3, "////"},
        {"\x00\x10\x83\x10\x51\x87", 6, "ABCDEFGH"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        Ovop__V1__Event e = OVOP__V1__EVENT__INIT;
        e.data.data = (uint8_t *)cases[i].bytes;
        e.data.len = cases[i].n;
        json_t *j = ovop_pb_to_json(&e.base);
        assert_string_equal(json_string_value(json_object_get(j, "data")), cases[i].b64);
        json_decref(j);
    }
}

static void test_event_64_bit(void **state)
{
    Ovop__V1__Event e = OVOP__V1__EVENT__INIT;
    e.id = "ev-1";
    e.type = "ovop.territory.created";
    e.time_us = -1;
    e.sequence = UINT64_MAX;
    e.data.data = (uint8_t *)"foo";
    e.data.len = 3;
    assert_json(&e.base,
                "{\"data\":\"Zm9v\",\"data_content_type\":\"\",\"data_schema\":\"\","
                "\"id\":\"ev-1\",\"sequence\":\"18446744073709551615\",\"source\":\"\","
                "\"subject\":\"\",\"time_us\":\"-1\",\"type\":\"ovop.territory.created\"}");
}

static void test_repeated(void **state)
{
    Ovop__V1__FieldViolation v1 = OVOP__V1__FIELD_VIOLATION__INIT;
    v1.field = "code";
    v1.description = "must be 14 digits";
    Ovop__V1__FieldViolation v2 = OVOP__V1__FIELD_VIOLATION__INIT;
    v2.field = "lots[2].quantity";
    Ovop__V1__FieldViolation *vs[] = {&v1, &v2};
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    st.code = OVOP__V1__STATUS__CODE__INVALID_ARGUMENT;
    st.message = "invalid";
    Ovop__V1__Status empty = OVOP__V1__STATUS__INIT;
    assert_json(&empty.base, "{\"code\":\"OK\",\"domain\":\"\",\"message\":\"\",\"metadata\":{},"
                             "\"reason\":\"\",\"violations\":[]}");
    st.n_violations = 2;
    st.violations = vs;
    st.reason = "INVALID_ARGUMENT";
    Ovop__V1__Status__MetadataEntry me = OVOP__V1__STATUS__METADATA_ENTRY__INIT, *mes[] = {&me};
    me.key = "shipment_id";
    me.value = "41";
    st.n_metadata = 1;
    st.metadata = mes;
    assert_json(
        &st.base,
        "{\"code\":\"INVALID_ARGUMENT\",\"domain\":\"\",\"message\":\"invalid\","
        "\"metadata\":{\"shipment_id\":\"41\"},\"reason\":\"INVALID_ARGUMENT\",\"violations\":"
        "[{\"description\":\"must be 14 digits\",\"field\":\"code\"},"
        "{\"description\":\"\",\"field\":\"lots[2].quantity\"}]}");
}

static void test_shipment(void **state)
{
    Ovop__V1__ExporterRef producer = OVOP__V1__EXPORTER_REF__INIT;
    producer.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    producer.id = 7;
    Ovop__V1__Lot walnuts = OVOP__V1__LOT__INIT;
    walnuts.product_id = 5;
    walnuts.quantity = 1.5;
    walnuts.unit = "kg";
    Ovop__V1__Lot honey = OVOP__V1__LOT__INIT;
    honey.product_id = 6;
    honey.value_usd_cents = 1225;
    Ovop__V1__Lot *lots[] = {&walnuts, &honey};
    Ovop__V1__DocumentType required[] = {OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_INVOICE,
                                         OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_PHYTOSANITARY};
    Ovop__V1__DocumentType missing[] = {(Ovop__V1__DocumentType)42};
    Ovop__V1__Shipment s = OVOP__V1__SHIPMENT__INIT;
    s.id = 12;
    s.exporter = &producer;
    s.destination = "CN";
    s.status = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED;
    s.version = -3;
    s.net_weight_kg = 1234.5;
    s.n_lots = 2;
    s.lots = lots;
    s.n_required_documents = 2;
    s.required_documents = required;
    s.n_missing_documents = 1;
    s.missing_documents = missing;

    static const struct {
        const char *key, *json;
    } fields[] = {
        {"id", "\"12\""},
        {"exporter", "{\"id\":\"7\",\"kind\":\"EXPORTER_KIND_PRODUCER\"}"},
        {"buyer", "null"},
        {"transport", "null"},
        {"destination", "\"CN\""},
        {"status", "\"SHIPMENT_STATUS_DEPARTED\""},
        {"incoterm", "\"INCOTERM_UNSPECIFIED\""},
        {"version", "-3"},
        {"net_weight_kg", "1234.5"},
        {"declared_us", "\"0\""},
        {"lots",
         "[{\"hs_code\":\"\",\"net_weight_kg\":0.0,\"producer_id\":\"0\",\"product_id\":\"5\","
         "\"product_name\":\"\",\"quantity\":1.5,\"territory_code\":\"\",\"unit\":\"kg\","
         "\"value_som_tyiyn\":\"0\",\"value_usd_cents\":\"0\"},"
         "{\"hs_code\":\"\",\"net_weight_kg\":0.0,\"producer_id\":\"0\",\"product_id\":\"6\","
         "\"product_name\":\"\",\"quantity\":0.0,\"territory_code\":\"\",\"unit\":\"\","
         "\"value_som_tyiyn\":\"0\",\"value_usd_cents\":\"1225\"}]"},
        {"documents", "[]"},
        {"required_documents", "[\"DOCUMENT_TYPE_INVOICE\",\"DOCUMENT_TYPE_PHYTOSANITARY\"]"},
        {"missing_documents", "[42]"},
    };
    json_t *j = ovop_pb_to_json(&s.base);
    /* Every field of the message, default or not. */
    assert_int_equal(json_object_size(j), ovop__v1__shipment__descriptor.n_fields);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(fields); i++) {
        json_t *v = json_object_get(j, fields[i].key);
        if (!v)
            fail_msg("no field \"%s\"", fields[i].key);
        char *got = dump(json_incref(v));
        assert_string_equal(got, fields[i].json);
        free(got);
    }
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars_and_nested), cmocka_unit_test(test_bytes_base64),
        cmocka_unit_test(test_event_64_bit),       cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_shipment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
