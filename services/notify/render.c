/* Webhook bodies from bus.events rows: CloudEvents 1.0 JSON (structured mode), CloudEvents
 * protobuf (the specification's io.cloudevents.v1.CloudEvent) and EPCIS 2.0 JSON-LD. */
#include "render.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "io/cloudevents/v1/cloudevents.pb-c.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pbjson.h"
#include "render_epcis.h"
#include "util.h"

#define TYPE_URL_PREFIX "type.googleapis.com/"
/* dataschema must be a URI in the JSON format; the protobuf format's SHOULD is the type URL. */
#define SCHEMA_URN_PREFIX "urn:ovop:proto:"

static const struct {
    notify_format_t f;
    const char *name, *content_type;
} formats[] = {
    {NOTIFY_FORMAT_CLOUDEVENTS_JSON, "cloudevents_json", "application/cloudevents+json"},
    {NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF, "cloudevents_protobuf",
     "application/cloudevents+protobuf"},
    {NOTIFY_FORMAT_EPCIS_JSONLD, "epcis_jsonld", "application/ld+json"},
};

/* The payload messages of bus.events (event.proto lists which type carries which). */
static const ProtobufCMessageDescriptor *const schemas[] = {
    &ovop__v1__territory__descriptor,      &ovop__v1__producer__descriptor,
    &ovop__v1__product__descriptor,        &ovop__v1__cooperative__descriptor,
    &ovop__v1__specialization__descriptor, &ovop__v1__rubric__descriptor,
    &ovop__v1__application__descriptor,    &ovop__v1__certificate__descriptor,
    &ovop__v1__export_event__descriptor,   &ovop__v1__violation_notice__descriptor,
};

int notify_format_parse(const char *name, notify_format_t *ret)
{
    for (size_t i = 0; name && i < OVOP_ARRAY_SIZE(formats); i++)
        if (strcmp(name, formats[i].name) == 0) {
            *ret = formats[i].f;
            return 0;
        }
    return -EINVAL;
}

const char *notify_format_name(notify_format_t f)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(formats); i++)
        if (formats[i].f == f)
            return formats[i].name;
    return NULL;
}

bool notify_format_supports(notify_format_t f, const char *event_type_pattern)
{
    if (!event_type_pattern || !notify_format_name(f))
        return false;
    if (f != NOTIFY_FORMAT_EPCIS_JSONLD)
        return true;
    return notify_epcis_type_mapped(event_type_pattern, true);
}

/* The payload decoded as its data_schema; NULL when the schema is unknown or the bytes do
 * not decode. */
static ProtobufCMessage *decode(const notify_event_t *ev)
{
    for (size_t i = 0; ev->data_schema && i < OVOP_ARRAY_SIZE(schemas); i++)
        if (strcmp(schemas[i]->name, ev->data_schema) == 0)
            return protobuf_c_message_unpack(schemas[i], NULL, ev->data_len,
                                             ev->data ? ev->data : (const uint8_t *)"");
    return NULL;
}

void notify_rfc3339(int64_t us, char buf[static 40])
{
    time_t s = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    long frac = (long)(us - (int64_t)s * 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 40 - n, ".%06ldZ", frac);
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(o, k, json_string(v));
}

static int render_ce_json(const notify_event_t *ev, const ProtobufCMessage *data, char **ret,
                          size_t *ret_len)
{
    char t[40], seq[24];
    notify_rfc3339(ev->time_us, t);
    snprintf(seq, sizeof(seq), "%" PRIu64, ev->seq);
    json_t *o = json_object();
    json_object_set_new(o, "specversion", json_string("1.0"));
    set_str(o, "id", ev->id);
    set_str(o, "source", ev->source);
    set_str(o, "type", ev->type);
    set_str(o, "subject", ev->subject);
    json_object_set_new(o, "time", json_string(t));
    json_object_set_new(o, "datacontenttype", json_string("application/json"));
    char *schema = xasprintf(SCHEMA_URN_PREFIX "%s", ev->data_schema);
    json_object_set_new(o, "dataschema", json_string(schema));
    free(schema);
    json_object_set_new(o, "sequence", json_string(seq));
    json_object_set_new(o, "data", ovop_pb_to_json(data));
    *ret = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!*ret)
        return -EBADMSG; /* a string of the payload that is not UTF-8 */
    *ret_len = strlen(*ret);
    return 0;
}

#define CE(kind) IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_##kind
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue ce_value_t;
typedef Io__Cloudevents__V1__CloudEvent__AttributesEntry ce_entry_t;

/* One attributes map entry in the caller's arrays (k-th slot). */
static void ce_attr(ce_entry_t *e, ce_value_t *v, const char *key, int kind, char *s,
                    Google__Protobuf__Timestamp *ts)
{
    io__cloudevents__v1__cloud_event__attributes_entry__init(e);
    io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init(v);
    e->key = (char *)key;
    e->value = v;
    v->attr_case = kind;
    if (kind == CE(CE_TIMESTAMP))
        v->ce_timestamp = ts;
    else
        v->ce_string = s; /* ce_string, ce_uri and ce_uri_ref share the union's slot */
}

static int render_ce_proto(const notify_event_t *ev, char **ret, size_t *ret_len)
{
    enum { N = 5 };
    ce_entry_t e[N], *ep[N];
    ce_value_t v[N];
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    int64_t s = ev->time_us >= 0 ? ev->time_us / 1000000 : (ev->time_us - 999999) / 1000000;
    ts.seconds = s;
    ts.nanos = (int32_t)((ev->time_us - s * 1000000) * 1000);
    char seq[24];
    snprintf(seq, sizeof(seq), "%" PRIu64, ev->seq);
    char *type_url = xasprintf(TYPE_URL_PREFIX "%s", ev->data_schema);
    size_t n = 0;
    ce_attr(&e[n], &v[n], "time", CE(CE_TIMESTAMP), NULL, &ts), n++;
    ce_attr(&e[n], &v[n], "datacontenttype", CE(CE_STRING), (char *)"application/protobuf", NULL),
        n++;
    ce_attr(&e[n], &v[n], "dataschema", CE(CE_URI), type_url, NULL), n++;
    ce_attr(&e[n], &v[n], "sequence", CE(CE_STRING), seq, NULL), n++;
    if (ev->subject && *ev->subject)
        ce_attr(&e[n], &v[n], "subject", CE(CE_STRING), (char *)ev->subject, NULL), n++;
    for (size_t i = 0; i < n; i++)
        ep[i] = &e[i];
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = type_url;
    any.value.data = (uint8_t *)ev->data;
    any.value.len = ev->data_len;
    Io__Cloudevents__V1__CloudEvent ce;
    io__cloudevents__v1__cloud_event__init(&ce);
    ce.id = (char *)(ev->id ? ev->id : "");
    ce.source = (char *)(ev->source ? ev->source : "");
    ce.spec_version = (char *)"1.0";
    ce.type = (char *)(ev->type ? ev->type : "");
    ce.n_attributes = n;
    ce.attributes = ep;
    ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA;
    ce.proto_data = &any;
    size_t len = io__cloudevents__v1__cloud_event__get_packed_size(&ce);
    uint8_t *out = xmalloc(len + 1);
    io__cloudevents__v1__cloud_event__pack(&ce, out);
    free(type_url);
    *ret = (char *)out;
    *ret_len = len;
    return 0;
}

int notify_render(notify_format_t f, const notify_event_t *ev, char **ret_body, size_t *ret_len,
                  const char **ret_content_type)
{
    if (!ev || !ev->type || !ret_body || !ret_len || !notify_format_name(f))
        return -EINVAL;
    if (f == NOTIFY_FORMAT_EPCIS_JSONLD && !notify_epcis_type_mapped(ev->type, false))
        return -ENOTSUP;
    ProtobufCMessage *data = decode(ev);
    if (!data)
        return -EBADMSG;
    int rc;
    if (f == NOTIFY_FORMAT_CLOUDEVENTS_JSON)
        rc = render_ce_json(ev, data, ret_body, ret_len);
    else if (f == NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF)
        rc = render_ce_proto(ev, ret_body, ret_len);
    else
        rc = notify_render_epcis(ev, (const Ovop__V1__ExportEvent *)data, ret_body, ret_len);
    protobuf_c_message_free_unpacked(data, NULL);
    if (rc == 0 && ret_content_type)
        for (size_t i = 0; i < OVOP_ARRAY_SIZE(formats); i++)
            if (formats[i].f == f)
                *ret_content_type = formats[i].content_type;
    return rc;
}
