/* Documents of shipments: attaching them and changing their status. Which documents a
 * shipment needs is data (exports.document_rules); GetShipment shows what is missing. Who
 * may attach or change which document is authority.c's table: the issuing agency issues,
 * rejects and revokes its certificates, the export desk applies for them and handles the
 * exporter's own papers. */
#include <string.h>

#include "exports.h"

/* True for the statuses that must say why (REJECTED, REVOKED). */
static bool needs_reason(int status)
{
    return status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REJECTED ||
           status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REVOKED;
}

/* The status a document is attached with: REQUESTED or ISSUED (UNSPECIFIED). */
static int attached_status(const Ovop__V1__AttachDocumentRequest *in)
{
    return in->status ? (int)in->status : OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
}

/* --- AttachDocument --- */

/* The new document's id. */
static const ovop_read_t new_document = {
    .sql = "SELECT nextval('exports.ids') AS id",
    .row = &ovop__v1__document__descriptor,
};

/* With a new id: builds the Document (the reply and the event's document), stores it. */
static void store_attached(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    (void)res;
    exports_t *e = userdata;
    const Ovop__V1__AttachDocumentRequest *in =
        (const Ovop__V1__AttachDocumentRequest *)ovop_call_input(call);
    Ovop__V1__Document *d = (Ovop__V1__Document *)row;
    d->shipment_id = in->shipment_id;
    d->type = in->type;
    d->number = in->number;
    d->issuer = in->issuer;
    d->issued_on = in->issued_on;
    d->valid_until = in->valid_until;
    d->status = attached_status(in);
    d->created_us = d->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", exports_number(call, d->id)},
        {"p_shipment", exports_number(call, d->shipment_id)},
        {"p_type", ovop_enum_text(&ovop__v1__document_type__descriptor, (int)d->type)},
        {"p_number", d->number},
        {"p_issuer", d->issuer},
        {"p_issued_on", d->issued_on[0] ? d->issued_on : NULL},
        {"p_valid_until", d->valid_until[0] ? d->valid_until : NULL},
        {"p_status", ovop_enum_text(&ovop__v1__document_status__descriptor, (int)d->status)},
        {"p_at_us", exports_number(call, d->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_head", exports_call_event_head(call, d->shipment_id, 0, d->created_us, "", d)},
        {"p_ref", exports_call_event_ref(call, d)},
    };
    OVOP_MUTATE(call, &e->mutator, "exports.attach_document", args, &d->base);
}

/* AttachDocument: a document as REQUESTED (no date yet) or ISSUED (dated, not in the
 * future); the database checks the shipment's status, duplicates and the phytosanitary block. */
static void attach_document(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AttachDocumentRequest *in = (const Ovop__V1__AttachDocumentRequest *)input;
    exports_t *e = userdata;
    char today[11];
    exports_today(today);
    int status = attached_status(in);
    bool requested = status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED;
    /* Whose document it is comes first; an unknown type or status is refused below. */
    if (ovop_enum_text(&ovop__v1__document_type__descriptor, (int)in->type)[0] &&
        (requested || status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED) &&
        !exports_authorize_attach(call, (int)in->type, status))
        return;

    if (in->shipment_id <= 0)
        ovop_call_violation(call, "shipment_id", "must be a shipment id, got %lld",
                            (long long)in->shipment_id);
    if (!ovop_enum_text(&ovop__v1__document_type__descriptor, (int)in->type)[0])
        ovop_call_violation(call, "type", "unknown document type %d", (int)in->type);
    ovop_check_text(call, "number", in->number, 64, true);
    ovop_check_text(call, "issuer", in->issuer, 200, true);
    if (!requested && status != OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED)
        ovop_call_violation(call, "status",
                            "a document is attached as REQUESTED or ISSUED; change it later with "
                            "SetDocumentStatus");
    if (requested && in->issued_on[0])
        ovop_call_violation(call, "issued_on", "a requested document has no date of issue yet");
    else if (exports_check_date(call, "issued_on", in->issued_on, !requested) && in->issued_on[0] &&
             strcmp(in->issued_on, today) > 0)
        ovop_call_violation(call, "issued_on", "%s is in the future (today is %s)", in->issued_on,
                            today);
    if (exports_check_date(call, "valid_until", in->valid_until, false) && in->valid_until[0] &&
        in->issued_on[0] && strcmp(in->valid_until, in->issued_on) < 0)
        ovop_call_violation(call, "valid_until", "%s is before the date of issue %s",
                            in->valid_until, in->issued_on);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    ovop_read_then(call, e->pg, &new_document, NULL, 0, NULL, store_attached, e);
}

/* --- SetDocumentStatus: read the document, build its new state, store --- */

static const ovop_read_t document = {
    .sql = "SELECT d.id, d.shipment_id, d.doc_type AS type, d.number, d.issuer, "
           "       d.issued_on::text, d.valid_until::text, d.status, d.status_reason, "
           "       exports.us_of(d.created_at) AS created_us, "
           "       exports.us_of(d.updated_at) AS updated_us "
           "  FROM exports.documents d WHERE d.id = $1::bigint",
    .row = &ovop__v1__document__descriptor,
    .noun = "document with id",
};

/* With the stored document: checks that the principal may change a document of its type,
 * builds its new state (reply, event, documents-list entry) and stores it; the database
 * checks the move from the status it holds. */
static void store_status(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    (void)res;
    exports_t *e = userdata;
    const Ovop__V1__SetDocumentStatusRequest *in =
        (const Ovop__V1__SetDocumentStatusRequest *)ovop_call_input(call);
    Ovop__V1__Document *d = (Ovop__V1__Document *)row;
    if (!exports_authorize_document_status(call, (int)d->type, (int)in->status))
        return;
    const char *status = ovop_enum_text(&ovop__v1__document_status__descriptor, (int)in->status);
    bool issuing = in->status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
    if (issuing) {
        char today[11];
        exports_today(today);
        d->issued_on = in->issued_on[0] ? in->issued_on : ovop_call_strdup(call, today);
    }
    d->status = in->status;
    d->status_reason = in->reason;
    d->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", exports_number(call, d->id)},
        {"p_status", status},
        {"p_reason", in->reason},
        {"p_issued_on", issuing ? d->issued_on : NULL},
        {"p_at_us", exports_number(call, d->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event_type", ovop_call_printf(call, "ovop.exports.document.%s", status)},
        {"p_head", exports_call_event_head(call, d->shipment_id, 0, d->updated_us, in->reason, d)},
        {"p_ref", exports_call_event_ref(call, d)},
    };
    OVOP_MUTATE(call, &e->mutator, "exports.set_document_status", args, &d->base);
}

/* SetDocumentStatus: ISSUED (date of issue, default today), REJECTED or REVOKED (with a
 * reason). */
static void set_document_status(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetDocumentStatusRequest *in =
        (const Ovop__V1__SetDocumentStatusRequest *)input;
    exports_t *e = userdata;
    char today[11];
    exports_today(today);
    bool issuing = in->status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;

    if (in->document_id <= 0)
        ovop_call_violation(call, "document_id", "must be a document id, got %lld",
                            (long long)in->document_id);
    if (!issuing && !needs_reason((int)in->status))
        ovop_call_violation(call, "status", "must be ISSUED, REJECTED or REVOKED");
    ovop_check_text(call, "reason", in->reason, 500, needs_reason((int)in->status));
    if (!issuing && in->issued_on[0])
        ovop_call_violation(call, "issued_on", "only an ISSUED document takes a date of issue");
    else if (exports_check_date(call, "issued_on", in->issued_on, false) && in->issued_on[0] &&
             strcmp(in->issued_on, today) > 0)
        ovop_call_violation(call, "issued_on", "%s is in the future (today is %s)", in->issued_on,
                            today);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {exports_number(call, in->document_id)};
    ovop_read_then(call, e->pg, &document, params[0], 1, params, store_status, e);
}

static const ovop_method_t methods[] = {
    {"AttachDocument", attach_document},
    {"SetDocumentStatus", set_document_status},
};

void exports_documents_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
