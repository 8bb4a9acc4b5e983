/* Rendering of one bus.events row into a webhook body: CloudEvents 1.0 JSON structured mode,
 * CloudEvents protobuf (io.cloudevents.v1.CloudEvent) and EPCIS 2.0 JSON-LD (ovop.exports.*). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum notify_format {
    NOTIFY_FORMAT_CLOUDEVENTS_JSON = 1,
    NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF = 2,
    NOTIFY_FORMAT_EPCIS_JSONLD = 3
} notify_format_t;

typedef struct notify_event { /* one row of bus.events */
    uint64_t seq;
    const char *id;
    const char *source, *type, *subject;
    int64_t time_us;
    const char *data_schema;
    const uint8_t *data;
    size_t data_len;
    const char *hs6, *soate, *destination; /* "" when absent */
} notify_event_t;

/* Renders ev; *ret_body malloc'd (caller frees), *ret_content_type static.
 * 0; -ENOTSUP: no mapping of ev->type to f; -EBADMSG: data does not decode as data_schema. */
int notify_render(notify_format_t f, const notify_event_t *ev, char **ret_body, size_t *ret_len,
                  const char **ret_content_type);
bool notify_format_supports(notify_format_t f, const char *event_type_pattern);
int notify_format_parse(const char *name, notify_format_t *ret); /* "cloudevents_json"... */
const char *notify_format_name(notify_format_t f);
