/* Unit tests of webhook rendering: each format parsed back (jansson, protobuf-c) and checked
 * field by field against CloudEvents 1.0 and EPCIS 2.0; refusals for payloads that do not
 * decode and for events a format has no mapping for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "google/protobuf/any.pb-c.h"
#include "io/cloudevents/v1/cloudevents.pb-c.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "render.h"
#include "util.h"

#define EV_ID   "0b6f1c52-6a43-4c1e-9d4a-2f0c3e9b8a11"
#define EV_TIME INT64_C(1765015833123456) /* 2025-12-06T10:10:33.123456Z */

static uint8_t *export_payload(size_t *len)
{
    Ovop__V1__ExporterRef exp = OVOP__V1__EXPORTER_REF__INIT;
    exp.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
    exp.id = 17;
    Ovop__V1__EventItem it = OVOP__V1__EVENT_ITEM__INIT, *its[] = {&it};
    it.product_id = 42;
    it.product_name = (char *)"Dried apricots";
    it.hs_code = (char *)"081320";
    it.quantity = 1200.5;
    it.unit = (char *)"kg";
    it.net_weight_kg = 1200.5;
    it.producer_id = 7;
    it.territory_code = (char *)"41702000000000";
    Ovop__V1__DocumentRef d1 = OVOP__V1__DOCUMENT_REF__INIT, d2 = OVOP__V1__DOCUMENT_REF__INIT;
    Ovop__V1__DocumentRef *docs[] = {&d1, &d2};
    d1.type = OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_PHYTOSANITARY;
    d1.number = (char *)"PH 2025/77";
    d2.type = OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_INVOICE;
    d2.number = (char *)"INV-9";
    Ovop__V1__ExportEvent x = OVOP__V1__EXPORT_EVENT__INIT;
    x.shipment_id = 501;
    x.status = OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_DEPARTED;
    x.event_time_us = EV_TIME - 1000000;
    x.event_time_zone_offset = (char *)"+06:00";
    x.biz_step = (char *)"departing";
    x.disposition = (char *)"in_transit";
    x.read_point = (char *)"KG-IRKESHTAM";
    x.exporter = &exp;
    x.n_what = 1;
    x.what = its;
    x.origin_soate = (char *)"41702000000000";
    x.destination = (char *)"CN";
    x.n_documents = 2;
    x.documents = docs;
    *len = ovop__v1__export_event__get_packed_size(&x);
    uint8_t *p = xmalloc(*len);
    ovop__v1__export_event__pack(&x, p);
    return p;
}

static notify_event_t export_event(const uint8_t *data, size_t len)
{
    return (notify_event_t){.seq = 12345,
                            .id = EV_ID,
                            .source = "/ovop/exports",
                            .type = "ovop.exports.shipment.departed",
                            .subject = "shipment/501",
                            .time_us = EV_TIME,
                            .data_schema = "ovop.v1.ExportEvent",
                            .data = data,
                            .data_len = len,
                            .hs6 = "081320",
                            .soate = "41702000000000",
                            .destination = "CN"};
}

static json_t *render_json(notify_format_t f, const notify_event_t *ev, const char *want_ct)
{
    char *body = NULL;
    size_t len = 0;
    const char *ct = NULL;
    assert_int_equal(notify_render(f, ev, &body, &len, &ct), 0);
    assert_string_equal(ct, want_ct);
    assert_int_equal(strlen(body), len);
    json_error_t err;
    json_t *j = json_loadb(body, len, 0, &err);
    assert_non_null(j);
    free(body);
    return j;
}

#define assert_json_str(o, k, v) assert_string_equal(json_string_value(json_object_get(o, k)), v)

static void test_cloudevents_json(void **state)
{
    size_t n;
    uint8_t *data = export_payload(&n);
    notify_event_t ev = export_event(data, n);
    json_t *j = render_json(NOTIFY_FORMAT_CLOUDEVENTS_JSON, &ev, "application/cloudevents+json");
    assert_json_str(j, "specversion", "1.0");
    assert_json_str(j, "id", EV_ID);
    assert_json_str(j, "source", "/ovop/exports");
    assert_json_str(j, "type", "ovop.exports.shipment.departed");
    assert_json_str(j, "subject", "shipment/501");
    assert_json_str(j, "time", "2025-12-06T10:10:33.123456Z");
    assert_json_str(j, "datacontenttype", "application/json");
    assert_json_str(j, "dataschema", "urn:ovop:proto:ovop.v1.ExportEvent");
    assert_json_str(j, "sequence", "12345"); /* the Sequence extension is a string */
    json_t *d = json_object_get(j, "data");
    assert_true(json_is_object(d));
    assert_json_str(d, "shipment_id", "501"); /* proto3 JSON: int64 as a string */
    assert_json_str(d, "status", "SHIPMENT_STATUS_DEPARTED");
    assert_json_str(d, "biz_step", "departing");
    assert_json_str(d, "destination", "CN");
    json_t *what = json_object_get(d, "what");
    assert_int_equal(json_array_size(what), 1);
    assert_json_str(json_array_get(what, 0), "hs_code", "081320");
    assert_true(json_real_value(json_object_get(json_array_get(what, 0), "quantity")) == 1200.5);
    /* Every attribute name is a valid CloudEvents name: lower-case letters and digits. */
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        for (const char *p = k; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'));
    }
    json_decref(j);
    free(data);
}

static const char *ce_attr_string(const Io__Cloudevents__V1__CloudEvent *ce, const char *key,
                                  int want_case)
{
    for (size_t i = 0; i < ce->n_attributes; i++)
        if (strcmp(ce->attributes[i]->key, key) == 0) {
            assert_int_equal(ce->attributes[i]->value->attr_case, want_case);
            return ce->attributes[i]->value->ce_string;
        }
    fail_msg("attribute %s missing", key);
    return NULL;
}

#define CE_CASE(k) IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_##k

static void test_cloudevents_protobuf(void **state)
{
    size_t n;
    uint8_t *data = export_payload(&n);
    notify_event_t ev = export_event(data, n);
    char *body;
    size_t len;
    const char *ct;
    assert_int_equal(notify_render(NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF, &ev, &body, &len, &ct), 0);
    assert_string_equal(ct, "application/cloudevents+protobuf");
    Io__Cloudevents__V1__CloudEvent *ce =
        io__cloudevents__v1__cloud_event__unpack(NULL, len, (uint8_t *)body);
    assert_non_null(ce);
    assert_string_equal(ce->id, EV_ID);
    assert_string_equal(ce->source, "/ovop/exports");
    assert_string_equal(ce->spec_version, "1.0");
    assert_string_equal(ce->type, "ovop.exports.shipment.departed");
    assert_string_equal(ce_attr_string(ce, "subject", CE_CASE(CE_STRING)), "shipment/501");
    assert_string_equal(ce_attr_string(ce, "sequence", CE_CASE(CE_STRING)), "12345");
    assert_string_equal(ce_attr_string(ce, "datacontenttype", CE_CASE(CE_STRING)),
                        "application/protobuf");
    assert_string_equal(ce_attr_string(ce, "dataschema", CE_CASE(CE_URI)),
                        "type.googleapis.com/ovop.v1.ExportEvent");
    bool have_time = false;
    for (size_t i = 0; i < ce->n_attributes; i++)
        if (strcmp(ce->attributes[i]->key, "time") == 0) {
            assert_int_equal(ce->attributes[i]->value->attr_case, CE_CASE(CE_TIMESTAMP));
            assert_int_equal(ce->attributes[i]->value->ce_timestamp->seconds, 1765015833);
            assert_int_equal(ce->attributes[i]->value->ce_timestamp->nanos, 123456000);
            have_time = true;
        }
    assert_true(have_time);
    assert_int_equal(ce->data_case, IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA);
    assert_string_equal(ce->proto_data->type_url, "type.googleapis.com/ovop.v1.ExportEvent");
    Ovop__V1__ExportEvent *x =
        ovop__v1__export_event__unpack(NULL, ce->proto_data->value.len, ce->proto_data->value.data);
    assert_non_null(x);
    assert_int_equal(x->shipment_id, 501);
    assert_string_equal(x->what[0]->hs_code, "081320");
    ovop__v1__export_event__free_unpacked(x, NULL);
    io__cloudevents__v1__cloud_event__free_unpacked(ce, NULL);
    free(body);
    free(data);
}

static json_t *find_typed(json_t *list, const char *type_key, const char *type,
                          const char *value_key)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, type_key)), type) == 0)
            return json_object_get(v, value_key);
    }
    return NULL;
}

static void test_epcis(void **state)
{
    size_t n;
    uint8_t *data = export_payload(&n);
    notify_event_t ev = export_event(data, n);
    json_t *j = render_json(NOTIFY_FORMAT_EPCIS_JSONLD, &ev, "application/ld+json");
    json_t *ctx = json_object_get(j, "@context");
    assert_string_equal(json_string_value(json_array_get(ctx, 0)),
                        "https://ref.gs1.org/standards/epcis/epcis-context.jsonld");
    assert_json_str(json_array_get(ctx, 1), "ovop", "urn:ovop:epcis:");
    assert_json_str(j, "type", "EPCISDocument");
    assert_json_str(j, "schemaVersion", "2.0");
    assert_json_str(j, "creationDate", "2025-12-06T10:10:33.123456Z");
    json_t *list = json_object_get(json_object_get(j, "epcisBody"), "eventList");
    assert_int_equal(json_array_size(list), 1);
    json_t *e = json_array_get(list, 0);
    assert_json_str(e, "type", "ObjectEvent");
    assert_json_str(e, "eventTime", "2025-12-06T10:10:32.123456Z");
    assert_json_str(e, "eventTimeZoneOffset", "+06:00");
    assert_json_str(e, "eventID", "urn:uuid:" EV_ID);
    assert_json_str(e, "action", "OBSERVE");
    assert_json_str(e, "bizStep", "departing");
    assert_json_str(e, "disposition", "in_transit");
    assert_json_str(json_object_get(e, "readPoint"), "id", "urn:ovop:border_point:KG-IRKESHTAM");
    json_t *q = json_array_get(json_object_get(e, "quantityList"), 0);
    assert_json_str(q, "epcClass", "urn:ovop:product:42");
    assert_true(json_real_value(json_object_get(q, "quantity")) == 1200.5);
    assert_json_str(q, "uom", "KGM");
    json_t *bt = json_object_get(e, "bizTransactionList");
    assert_int_equal(json_array_size(bt), 2);
    assert_string_equal(json_string_value(find_typed(bt, "type", "cert", "bizTransaction")),
                        "urn:ovop:document:phytosanitary:PH%202025%2F77");
    assert_string_equal(json_string_value(find_typed(bt, "type", "inv", "bizTransaction")),
                        "urn:ovop:document:invoice:INV-9");
    json_t *src = json_object_get(e, "sourceList");
    assert_string_equal(json_string_value(find_typed(src, "type", "owning_party", "source")),
                        "urn:ovop:cooperative:17");
    assert_string_equal(json_string_value(find_typed(src, "type", "location", "source")),
                        "urn:ovop:soate:41702000000000");
    json_t *dst = json_object_get(e, "destinationList");
    assert_string_equal(json_string_value(find_typed(dst, "type", "location", "destination")),
                        "urn:ovop:country:CN");
    assert_json_str(json_array_get(json_object_get(e, "ovop:items"), 0), "ovop:hsCode", "081320");
    assert_json_str(e, "ovop:shipment", "urn:ovop:shipment:501");
    assert_json_str(e, "ovop:status", "SHIPMENT_STATUS_DEPARTED");
    assert_json_str(e, "ovop:sequence", "12345");
    json_decref(j);
    free(data);
}

/* A document event: no bizStep or disposition, the document among the business transactions,
 * the commit time when the payload has no event time, UTC when it has no offset. */
static void test_epcis_document_event(void **state)
{
    Ovop__V1__EventItem it = OVOP__V1__EVENT_ITEM__INIT, *its[] = {&it};
    it.product_id = 5;
    it.quantity = 3;
    it.unit = (char *)"barrel"; /* no UN/ECE code known: no uom */
    Ovop__V1__Document doc = OVOP__V1__DOCUMENT__INIT;
    doc.type = OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CUSTOMS_DECLARATION;
    doc.number = (char *)"10702020/061226/0001";
    Ovop__V1__ExportEvent x = OVOP__V1__EXPORT_EVENT__INIT;
    x.shipment_id = 9;
    x.n_what = 1;
    x.what = its;
    x.document = &doc;
    uint8_t buf[512];
    size_t n = ovop__v1__export_event__pack(&x, buf);
    notify_event_t ev = export_event(buf, n);
    ev.type = "ovop.exports.document.issued";
    json_t *j = render_json(NOTIFY_FORMAT_EPCIS_JSONLD, &ev, "application/ld+json");
    json_t *e = json_array_get(json_object_get(json_object_get(j, "epcisBody"), "eventList"), 0);
    assert_null(json_object_get(e, "bizStep"));
    assert_null(json_object_get(e, "disposition"));
    assert_null(json_object_get(e, "readPoint"));
    assert_null(json_object_get(e, "ovop:status"));
    assert_json_str(e, "eventTime", "2025-12-06T10:10:33.123456Z");
    assert_json_str(e, "eventTimeZoneOffset", "+00:00");
    assert_json_str(e, "ovop:eventType", "ovop.exports.document.issued");
    json_t *q = json_array_get(json_object_get(e, "quantityList"), 0);
    assert_null(json_object_get(q, "uom"));
    json_t *bt = json_object_get(e, "bizTransactionList");
    assert_int_equal(json_array_size(bt), 1);
    assert_json_str(json_array_get(bt, 0), "type", "urn:ovop:epcis:btt:customs_declaration");
    assert_json_str(json_array_get(bt, 0), "bizTransaction",
                    "urn:ovop:document:customs_declaration:10702020%2F061226%2F0001");
    assert_int_equal(json_array_size(json_object_get(e, "destinationList")), 0);
    json_decref(j);
    /* Without goods there is no ObjectEvent to make. */
    x.n_what = 0;
    n = ovop__v1__export_event__pack(&x, buf);
    ev = export_event(buf, n);
    char *body = NULL;
    size_t len;
    const char *ct;
    assert_int_equal(notify_render(NOTIFY_FORMAT_EPCIS_JSONLD, &ev, &body, &len, &ct), -ENOTSUP);
}

static void test_refusals(void **state)
{
    size_t n;
    uint8_t *data = export_payload(&n);
    notify_event_t ev = export_event(data, n);
    char *body = NULL;
    size_t len;
    const char *ct;
    /* Bytes that are not an ExportEvent (a truncated one). */
    ev.data_len = n - 3;
    for (int f = 1; f <= 3; f++)
        assert_int_equal(notify_render((notify_format_t)f, &ev, &body, &len, &ct), -EBADMSG);
    ev.data_len = n;
    ev.data_schema = "ovop.v1.NoSuchMessage";
    assert_int_equal(notify_render(NOTIFY_FORMAT_CLOUDEVENTS_JSON, &ev, &body, &len, &ct),
                     -EBADMSG);
    ev.data_schema = "ovop.v1.ExportEvent";
    assert_int_equal(notify_render((notify_format_t)9, &ev, &body, &len, &ct), -EINVAL);
    /* EPCIS: only shipment and document events. */
    Ovop__V1__Territory t = OVOP__V1__TERRITORY__INIT;
    t.code = (char *)"41702000000000";
    uint8_t tb[128];
    notify_event_t reg = {.seq = 1,
                          .id = EV_ID,
                          .source = "/ovop/registry",
                          .type = "ovop.registry.territory.created",
                          .time_us = EV_TIME,
                          .data_schema = "ovop.v1.Territory",
                          .data = tb,
                          .data_len = ovop__v1__territory__pack(&t, tb)};
    assert_int_equal(notify_render(NOTIFY_FORMAT_EPCIS_JSONLD, &reg, &body, &len, &ct), -ENOTSUP);
    json_t *j = render_json(NOTIFY_FORMAT_CLOUDEVENTS_JSON, &reg, "application/cloudevents+json");
    assert_json_str(json_object_get(j, "data"), "code", "41702000000000");
    json_decref(j);
    Ovop__V1__ViolationNotice vn = OVOP__V1__VIOLATION_NOTICE__INIT;
    vn.country = (char *)"CN";
    notify_event_t viol = reg;
    viol.type = "ovop.exports.violation.recorded";
    viol.data_schema = "ovop.v1.ViolationNotice";
    viol.data_len = ovop__v1__violation_notice__pack(&vn, tb);
    assert_int_equal(notify_render(NOTIFY_FORMAT_EPCIS_JSONLD, &viol, &body, &len, &ct), -ENOTSUP);
    assert_null(body);
    free(data);
}

static void test_formats(void **state)
{
    notify_format_t f;
    assert_int_equal(notify_format_parse("cloudevents_json", &f), 0);
    assert_int_equal(f, NOTIFY_FORMAT_CLOUDEVENTS_JSON);
    assert_int_equal(notify_format_parse("cloudevents_protobuf", &f), 0);
    assert_int_equal(f, NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF);
    assert_int_equal(notify_format_parse("epcis_jsonld", &f), 0);
    assert_int_equal(f, NOTIFY_FORMAT_EPCIS_JSONLD);
    assert_int_equal(notify_format_parse("EPCIS_JSONLD", &f), -EINVAL);
    assert_int_equal(notify_format_parse("", &f), -EINVAL);
    assert_int_equal(notify_format_parse(NULL, &f), -EINVAL);
    assert_string_equal(notify_format_name(NOTIFY_FORMAT_EPCIS_JSONLD), "epcis_jsonld");
    assert_null(notify_format_name((notify_format_t)0));
    notify_format_t e = NOTIFY_FORMAT_EPCIS_JSONLD;
    assert_true(notify_format_supports(e, "ovop.exports.*"));
    assert_true(notify_format_supports(e, "ovop.exports.shipment.*"));
    assert_true(notify_format_supports(e, "ovop.exports.shipment.departed"));
    assert_true(notify_format_supports(e, "ovop.exports.document.issued"));
    assert_false(notify_format_supports(e, "ovop.exports.violation.recorded"));
    assert_false(notify_format_supports(e, "ovop.registry.*"));
    assert_false(notify_format_supports(e, "ovop.*"));
    assert_false(notify_format_supports(e, "*"));
    assert_false(notify_format_supports(e, "ovop.exports.shipment."));
    assert_true(notify_format_supports(NOTIFY_FORMAT_CLOUDEVENTS_JSON, "ovop.*"));
    assert_true(notify_format_supports(NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF, "*"));
    assert_false(notify_format_supports((notify_format_t)7, "*"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cloudevents_json),
        cmocka_unit_test(test_cloudevents_protobuf),
        cmocka_unit_test(test_epcis),
        cmocka_unit_test(test_epcis_document_event),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
