/* EPCIS 2.0 JSON-LD rendering of ovop.exports.* events (internal to render.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ovop/v1/exports.pb-c.h"
#include "render.h"

/* True when events of type t map to an EPCIS ObjectEvent: ovop.exports.shipment.* and
 * ovop.exports.document.*. With pattern_ok, t may also be a subscription pattern ending in
 * ".*" that selects only such events or "ovop.exports.*" (whose violation notices render
 * -ENOTSUP: an EPCIS ObjectEvent needs goods, and a notice has none). */
bool notify_epcis_type_mapped(const char *t, bool pattern_ok);

/* An EPCISDocument holding one ObjectEvent for ev whose payload is x. 0 or -ENOTSUP. */
int notify_render_epcis(const notify_event_t *ev, const Ovop__V1__ExportEvent *x, char **ret,
                        size_t *ret_len);

/* RFC 3339 UTC text of a time in µs, with microseconds: "2026-12-06T10:10:33.123456Z". */
void notify_rfc3339(int64_t us, char buf[static 40]);
