/* The pieces of ExportEvent payloads that exportd encodes per request. The database appends
 * the goods-and-route part stored with the shipment and the documents list (see
 * deploy/migrations/0009_exports.sql): protobuf concatenation merges them into one message. */
#include <stdlib.h>
#include <string.h>

#include "exports.h"

/* Kyrgyzstan keeps UTC+6 all year. */
#define TZ_OFFSET "+06:00"

/* Indexed by ShipmentStatus. CBV 2.0 short names. */
static const exports_move_kind_t kinds[] = {
    {NULL, NULL, NULL},
    {"created", "staging_outbound", "in_progress"},
    {"declared", "shipping", "in_progress"},
    {"documents_completed", "inspecting", "completeness_verified"},
    {"released", "inspecting", "conformant"},
    {"departed", "departing", "in_transit"},
    {"delivered", "arriving", "sellable_accessible"},
    {"cancelled", "void_shipping", "inactive"},
    {"rejected", "inspecting", "non_conformant"},
    {"returned", "arriving", "returned"},
};

const exports_move_kind_t *exports_move_kind(int status)
{
    if (status <= 0 || (size_t)status >= OVOP_ARRAY_SIZE(kinds))
        return NULL;
    return &kinds[status];
}

/* The move part of an event, in ev; strings borrow the arguments. */
static void head(Ovop__V1__ExportEvent *ev, int64_t shipment_id, int status, int64_t at_us,
                 const char *agency, const char *caller, const char *reason, const char *reference,
                 const char *read_point, const Ovop__V1__Document *document)
{
    const exports_move_kind_t *k = exports_move_kind(status);
    ev->shipment_id = shipment_id;
    ev->status = status;
    ev->event_time_us = at_us;
    ev->event_time_zone_offset = TZ_OFFSET;
    if (k) {
        ev->biz_step = (char *)k->biz_step;
        ev->disposition = (char *)k->disposition;
    }
    ev->agency = (char *)(agency ? agency : "");
    ev->caller = (char *)(caller ? caller : "");
    ev->reason = (char *)(reason ? reason : "");
    ev->reference = (char *)(reference ? reference : "");
    ev->read_point = (char *)(read_point ? read_point : "");
    ev->document = (Ovop__V1__Document *)document;
}

char *exports_event_head(int64_t shipment_id, int status, int64_t at_us, const char *agency,
                         const char *caller, const char *reason, const char *reference,
                         const char *read_point, const Ovop__V1__Document *document)
{
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    head(&ev, shipment_id, status, at_us, agency, caller, reason, reference, read_point, document);
    return ovop_bytea_message(&ev.base);
}

char *exports_call_event_head(ovop_call_t *call, int64_t shipment_id, int status, int64_t at_us,
                              const char *reason, const Ovop__V1__Document *document)
{
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    head(&ev, shipment_id, status, at_us, exports_agency(call), ovop_call_caller(call), reason, "",
         "", document);
    return ovop_call_bytea(call, &ev.base);
}

char *exports_call_event_ref(ovop_call_t *call, const Ovop__V1__Document *d)
{
    Ovop__V1__DocumentRef ref = OVOP__V1__DOCUMENT_REF__INIT;
    Ovop__V1__DocumentRef *refs[] = {&ref};
    Ovop__V1__ExportEvent ev = OVOP__V1__EXPORT_EVENT__INIT;
    ref.type = d->type;
    ref.number = d->number;
    ref.issuer = d->issuer;
    ref.issued_on = d->issued_on;
    /* An event with only this entry encodes as exactly the entry's bytes. */
    ev.n_documents = 1;
    ev.documents = refs;
    return ovop_call_bytea(call, &ev.base);
}
