/* Fuzz target: notifyd's renderers (services/notify/render.c, render_epcis.c) on payloads as
 * they come out of bus.events: the database is outside input too, and a payload that
 * crashed the renderer would stop every webhook subscription at that event. The first byte
 * picks the format and the payload's message type, the rest is the payload. Every rendering
 * must either refuse (-ENOTSUP, -EBADMSG) or give a body that parses back: JSON for the JSON
 * formats, an io.cloudevents.v1.CloudEvent for protobuf. */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "io/cloudevents/v1/cloudevents.pb-c.h"
#include "render.h"

static const char *const schemas[] = {
    "ovop.v1.ExportEvent", "ovop.v1.ViolationNotice", "ovop.v1.Territory",
    "ovop.v1.Producer",    "ovop.v1.Product",         "ovop.v1.Cooperative",
    "ovop.v1.Certificate", "ovop.v1.Application",     "ovop.v1.Unknown",
};
static const char *const types[] = {
    "ovop.exports.shipment.departed",
    "ovop.exports.violation.recorded",
    "ovop.registry.territory.created",
    "ovop.exports.document.issued",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    notify_format_t f = (notify_format_t)(1 + data[0] % 3);
    notify_event_t ev = {
        .seq = 42,
        .id = "0b6f3c8e-7d1a-4c59-9a43-2f1e0c9d8b7a",
        .source = "/ovop/exports",
        .type = types[(data[0] / 3) % 4],
        .subject = "shipment/1",
        .time_us = 1796556542510086,
        .data_schema = schemas[(data[0] / 12) % 9],
        .data = data + 1,
        .data_len = size - 1,
        .hs6 = "081310",
        .soate = "41705214000000",
        .destination = "CN",
    };
    char *body = NULL;
    size_t len = 0;
    const char *ct = NULL;
    int r = notify_render(f, &ev, &body, &len, &ct);
    if (r == -ENOTSUP || r == -EBADMSG)
        return 0;
    if (r != 0 || !body || !ct)
        abort();
    if (f == NOTIFY_FORMAT_CLOUDEVENTS_PROTOBUF) {
        Io__Cloudevents__V1__CloudEvent *ce =
            io__cloudevents__v1__cloud_event__unpack(NULL, len, (const uint8_t *)body);
        if (!ce)
            abort();
        io__cloudevents__v1__cloud_event__free_unpacked(ce, NULL);
    } else {
        json_error_t err;
        json_t *j = json_loadb(body, len, 0, &err);
        if (!j)
            abort();
        json_decref(j);
    }
    free(body);
    return 0;
}
