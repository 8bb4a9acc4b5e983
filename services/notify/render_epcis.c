/* EPCIS 2.0 JSON-LD (GS1): one export move or document event = one ObjectEvent (action
 * OBSERVE) in an EPCISDocument. bizStep and disposition are the CBV 2.0 short names exportd
 * already writes; identifiers we have no GS1 keys for (products, border points, SOATE
 * districts, documents, exporters, countries) are URNs of the urn:ovop: namespace; the
 * attributes EPCIS has no place for are extensions under the "ovop" prefix. */
#include "render_epcis.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

#define EPCIS_CONTEXT "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
#define OVOP_NS       "urn:ovop:epcis:"

bool notify_epcis_type_mapped(const char *t, bool pattern_ok)
{
    static const char *const prefixes[] = {"ovop.exports.shipment.", "ovop.exports.document."};
    if (!t)
        return false;
    if (pattern_ok && strcmp(t, "ovop.exports.*") == 0)
        return true;
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(t, prefixes[i], n) == 0 && t[n] != '\0' &&
            (pattern_ok || strchr(t + n, '*') == NULL))
            return true;
    }
    return false;
}

/* "urn:ovop:<kind>:<value>" with value percent-encoded outside RFC 3986's unreserved set. */
static json_t *urn(const char *kind, const char *value)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_printf(&b, "urn:ovop:%s:", kind);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            ovop_buf_append(&b, p, 1);
        else
            ovop_buf_printf(&b, "%%%02X", *p);
    }
    json_t *j = json_string(b.data);
    ovop_buf_free(&b);
    return j;
}

static json_t *urn_id(const char *kind, int64_t id)
{
    char v[24];
    snprintf(v, sizeof(v), "%" PRId64, id);
    return urn(kind, v);
}

/* UN/ECE Recommendation 20 codes of the registry's units; NULL: none (the count of items
 * when there is no uom, in EPCIS, so only "pcs" could go without, and it has H87). */
static const char *uom_of(const char *unit)
{
    static const char *const map[][2] = {
        {"kg", "KGM"}, {"l", "LTR"}, {"pcs", "H87"}, {"pair", "PR"}, {"m2", "MTK"}, {"t", "TNE"},
    };
    for (size_t i = 0; unit && i < OVOP_ARRAY_SIZE(map); i++)
        if (strcmp(unit, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* The lower-case name of a document type without its prefix: "phytosanitary". */
static char *doc_kind(Ovop__V1__DocumentType t)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&ovop__v1__document_type__descriptor, (int)t);
    const char *name = v ? v->name : "DOCUMENT_TYPE_UNSPECIFIED";
    char *s = xstrdup(name + strlen("DOCUMENT_TYPE_"));
    for (char *p = s; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    return s;
}

/* CBV 2.0 business transaction types; a customs declaration has none, so a full URI. */
static const char *btt_of(Ovop__V1__DocumentType t)
{
    switch (t) {
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CONTRACT:
        return "po";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_INVOICE:
        return "inv";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_PACKING_LIST:
        return "desadv";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CMR:
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_TRANSPORT_WAYBILL:
        return "bol";
    case OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_CUSTOMS_DECLARATION:
        return OVOP_NS "btt:customs_declaration";
    default:
        return "cert"; /* origin, conformity, phytosanitary, veterinary */
    }
}

static void add_biz_transaction(json_t *list, Ovop__V1__DocumentType type, const char *number)
{
    if (!number || !*number)
        return;
    char *kind = doc_kind(type);
    char *path = xasprintf("document:%s", kind);
    json_t *t = json_object();
    json_object_set_new(t, "type", json_string(btt_of(type)));
    json_object_set_new(t, "bizTransaction", urn(path, number));
    json_array_append_new(list, t);
    free(path);
    free(kind);
}

/* quantityList (EPCIS) and the ovop:items extension with what EPCIS has no field for. */
static void add_items(json_t *e, const Ovop__V1__ExportEvent *x)
{
    json_t *q = json_array(), *items = json_array();
    for (size_t i = 0; i < x->n_what; i++) {
        const Ovop__V1__EventItem *it = x->what[i];
        json_t *qe = json_object();
        json_object_set_new(qe, "epcClass", urn_id("product", it->product_id));
        json_object_set_new(qe, "quantity", json_real(it->quantity));
        if (uom_of(it->unit))
            json_object_set_new(qe, "uom", json_string(uom_of(it->unit)));
        json_array_append_new(q, qe);
        json_t *o = json_object();
        json_object_set_new(o, "ovop:product", urn_id("product", it->product_id));
        json_object_set_new(o, "ovop:productName", json_string(it->product_name));
        json_object_set_new(o, "ovop:hsCode", json_string(it->hs_code));
        json_object_set_new(o, "ovop:netWeightKg", json_real(it->net_weight_kg));
        json_object_set_new(o, "ovop:producer", urn_id("producer", it->producer_id));
        json_object_set_new(o, "ovop:territory", urn("soate", it->territory_code));
        json_array_append_new(items, o);
    }
    json_object_set_new(e, "quantityList", q);
    json_object_set_new(e, "ovop:items", items);
}

/* sourceList (exporter as owning party, origin district) and destinationList (country). */
static void add_parties(json_t *e, const Ovop__V1__ExportEvent *x)
{
    json_t *src = json_array();
    if (x->exporter && x->exporter->id > 0) {
        bool coop = x->exporter->kind == OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
        json_t *s = json_object();
        json_object_set_new(s, "type", json_string("owning_party"));
        json_object_set_new(s, "source",
                            urn_id(coop ? "cooperative" : "producer", x->exporter->id));
        json_array_append_new(src, s);
    }
    if (x->origin_soate && *x->origin_soate) {
        json_t *s = json_object();
        json_object_set_new(s, "type", json_string("location"));
        json_object_set_new(s, "source", urn("soate", x->origin_soate));
        json_array_append_new(src, s);
    }
    json_object_set_new(e, "sourceList", src);
    json_t *dst = json_array();
    if (x->destination && *x->destination) {
        json_t *d = json_object();
        json_object_set_new(d, "type", json_string("location"));
        json_object_set_new(d, "destination", urn("country", x->destination));
        json_array_append_new(dst, d);
    }
    json_object_set_new(e, "destinationList", dst);
}

static void add_where_why(json_t *e, const Ovop__V1__ExportEvent *x)
{
    if (x->biz_step && *x->biz_step)
        json_object_set_new(e, "bizStep", json_string(x->biz_step));
    if (x->disposition && *x->disposition)
        json_object_set_new(e, "disposition", json_string(x->disposition));
    const char *rp = x->read_point && *x->read_point ? x->read_point : x->border_point;
    if (rp && *rp) {
        json_t *r = json_object();
        json_object_set_new(r, "id", urn("border_point", rp));
        json_object_set_new(e, "readPoint", r);
    }
    json_t *bt = json_array();
    for (size_t i = 0; i < x->n_documents; i++)
        add_biz_transaction(bt, x->documents[i]->type, x->documents[i]->number);
    if (x->document)
        add_biz_transaction(bt, x->document->type, x->document->number);
    json_object_set_new(e, "bizTransactionList", bt);
}

static json_t *object_event(const notify_event_t *ev, const Ovop__V1__ExportEvent *x)
{
    char t[40], id[24];
    notify_rfc3339(x->event_time_us ? x->event_time_us : ev->time_us, t);
    json_t *e = json_object();
    json_object_set_new(e, "type", json_string("ObjectEvent"));
    json_object_set_new(e, "eventTime", json_string(t));
    const char *tz = x->event_time_zone_offset;
    json_object_set_new(e, "eventTimeZoneOffset", json_string(tz && *tz ? tz : "+00:00"));
    char *eid = xasprintf("urn:uuid:%s", ev->id ? ev->id : "");
    json_object_set_new(e, "eventID", json_string(eid));
    free(eid);
    json_object_set_new(e, "action", json_string("OBSERVE"));
    add_where_why(e, x);
    add_items(e, x);
    add_parties(e, x);
    snprintf(id, sizeof(id), "%" PRId64, x->shipment_id);
    json_object_set_new(e, "ovop:shipment", urn("shipment", id));
    json_object_set_new(e, "ovop:eventType", json_string(ev->type));
    snprintf(id, sizeof(id), "%" PRIu64, ev->seq);
    json_object_set_new(e, "ovop:sequence", json_string(id));
    const ProtobufCEnumValue *st =
        protobuf_c_enum_descriptor_get_value(&ovop__v1__shipment_status__descriptor, x->status);
    if (x->status && st)
        json_object_set_new(e, "ovop:status", json_string(st->name));
    return e;
}

int notify_render_epcis(const notify_event_t *ev, const Ovop__V1__ExportEvent *x, char **ret,
                        size_t *ret_len)
{
    if (x->base.descriptor != &ovop__v1__export_event__descriptor || x->n_what == 0)
        return -ENOTSUP; /* an ObjectEvent needs goods (quantityList) */
    char t[40];
    notify_rfc3339(ev->time_us, t);
    json_t *doc = json_object();
    json_t *ctx = json_array(), *ns = json_object();
    json_array_append_new(ctx, json_string(EPCIS_CONTEXT));
    json_object_set_new(ns, "ovop", json_string(OVOP_NS));
    json_array_append_new(ctx, ns);
    json_object_set_new(doc, "@context", ctx);
    json_object_set_new(doc, "type", json_string("EPCISDocument"));
    json_object_set_new(doc, "schemaVersion", json_string("2.0"));
    /* The commit time, not the rendering time: a retry sends the same bytes. */
    json_object_set_new(doc, "creationDate", json_string(t));
    json_t *list = json_array();
    json_array_append_new(list, object_event(ev, x));
    json_t *body = json_object();
    json_object_set_new(body, "eventList", list);
    json_object_set_new(doc, "epcisBody", body);
    *ret = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*ret)
        return -EBADMSG;
    *ret_len = strlen(*ret);
    return 0;
}
