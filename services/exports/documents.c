/* Documents of shipments: attaching them and changing their status. Which documents a
 * shipment needs is data (exports.document_rules); GetShipment shows what is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"

/* True for the statuses that must say why (REJECTED, REVOKED). */
static bool needs_reason(int status)
{
    return status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REJECTED ||
           status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REVOKED;
}

/* --- AttachDocument --- */

typedef struct attach_ctx {
    ovop_call_t *call;
    exports_t *e;
    const Ovop__V1__AttachDocumentRequest *in;
    int status;
} attach_ctx_t;

/* With a new id: builds the Document (the reply and the event's document), stores it. */
static void on_attach_id(PGresult *res, const char *error, void *userdata)
{
    attach_ctx_t *cx = userdata;
    const Ovop__V1__AttachDocumentRequest *in = cx->in;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        free(cx);
        return;
    }
    int64_t now = ovop_now_us();
    Ovop__V1__Document d = OVOP__V1__DOCUMENT__INIT;
    d.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    d.shipment_id = in->shipment_id;
    d.type = in->type;
    d.number = in->number;
    d.issuer = in->issuer;
    d.issued_on = in->issued_on;
    d.valid_until = in->valid_until;
    d.status = cx->status;
    d.status_reason = "";
    d.created_us = d.updated_us = now;

    char id[24], shipment[24], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)d.id);
    snprintf(shipment, sizeof(shipment), "%lld", (long long)in->shipment_id);
    snprintf(at, sizeof(at), "%lld", (long long)now);
    ovop_uuid4(uuid);
    char *head =
        exports_event_head(in->shipment_id, 0, now, "", ovop_call_caller(cx->call), "", "", "", &d);
    char *ref = exports_event_ref(&d);
    const char *args[] = {id,
                          shipment,
                          exports_name(&exports_doc_types, (int)in->type),
                          in->number,
                          in->issuer,
                          in->issued_on[0] ? in->issued_on : NULL,
                          in->valid_until[0] ? in->valid_until : NULL,
                          exports_name(&exports_doc_statuses, cx->status),
                          at,
                          uuid,
                          head,
                          ref};
    ovop_mutate_sql(cx->call, &cx->e->mutator,
                "SELECT * FROM exports.attach_document($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                "$11, $12, $13, $14, $15, $16, $17)",
                (int)OVOP_ARRAY_SIZE(args), args, &d.base);
    free(head);
    free(ref);
    free(cx);
}

/* AttachDocument: a document as REQUESTED (no date yet) or ISSUED (dated, not in the
 * future); the database checks the shipment's status, duplicates and the phytosanitary block. */
static void attach_document(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AttachDocumentRequest *in = (const Ovop__V1__AttachDocumentRequest *)input;
    exports_t *e = userdata;
    char today[11];
    exports_today(today);
    int status = in->status ? (int)in->status : OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
    bool requested = status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_REQUESTED;

    if (in->shipment_id <= 0)
        ovop_call_violation(call, "shipment_id", "must be a shipment id, got %lld",
                            (long long)in->shipment_id);
    if (!exports_name(&exports_doc_types, (int)in->type)[0])
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
    attach_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->e = e;
    cx->in = in;
    cx->status = status;
    ovop_call_query(call, e->pg, "SELECT nextval('exports.ids')", 0, NULL, on_attach_id, cx);
}

/* --- SetDocumentStatus: read the document, build its new state, store --- */

static const char doc_sql[] =
    "SELECT d.shipment_id, d.doc_type, d.number, d.issuer, coalesce(d.issued_on::text, ''), "
    "       coalesce(d.valid_until::text, ''), d.status, exports.us_of(d.created_at) "
    "  FROM exports.documents d WHERE d.id = $1::bigint";

typedef struct status_ctx {
    ovop_call_t *call;
    exports_t *e;
    const Ovop__V1__SetDocumentStatusRequest *in;
    char issued_on[11];
} status_ctx_t;

/* With the stored document: builds its new state (reply, event, documents-list entry)
 * and stores it; the database checks the move from the status it holds. */
static void on_document(PGresult *res, const char *error, void *userdata)
{
    status_ctx_t *cx = userdata;
    const Ovop__V1__SetDocumentStatusRequest *in = cx->in;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        goto out;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no document with id %lld",
                       (long long)in->document_id);
        goto out;
    }
    int64_t now = ovop_now_us();
    bool issuing = in->status == OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_ISSUED;
    Ovop__V1__Document d = OVOP__V1__DOCUMENT__INIT;
    d.id = in->document_id;
    d.shipment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    d.type = exports_value(&exports_doc_types, PQgetvalue(res, 0, 1));
    d.number = PQgetvalue(res, 0, 2);
    d.issuer = PQgetvalue(res, 0, 3);
    d.issued_on = issuing ? cx->issued_on : PQgetvalue(res, 0, 4);
    d.valid_until = PQgetvalue(res, 0, 5);
    d.status = in->status;
    d.status_reason = in->reason;
    d.created_us = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
    d.updated_us = now;

    char id[24], at[24], uuid[37], type[64];
    snprintf(id, sizeof(id), "%lld", (long long)d.id);
    snprintf(at, sizeof(at), "%lld", (long long)now);
    snprintf(type, sizeof(type), "ovop.exports.document.%s",
             exports_name(&exports_doc_statuses, (int)in->status));
    ovop_uuid4(uuid);
    char *head = exports_event_head(d.shipment_id, 0, now, "", ovop_call_caller(cx->call),
                                    in->reason, "", "", &d);
    char *ref = exports_event_ref(&d);
    const char *args[] = {id,         exports_name(&exports_doc_statuses, (int)in->status),
                          in->reason, issuing ? cx->issued_on : NULL,
                          at,         uuid,
                          type,       head,
                          ref};
    ovop_mutate_sql(cx->call, &cx->e->mutator,
                "SELECT * FROM exports.set_document_status($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12, $13, $14)",
                (int)OVOP_ARRAY_SIZE(args), args, &d.base);
    free(head);
    free(ref);
out:
    free(cx);
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
    status_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->e = e;
    cx->in = in;
    snprintf(cx->issued_on, sizeof(cx->issued_on), "%s", in->issued_on[0] ? in->issued_on : today);
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)in->document_id);
    const char *params[] = {id};
    ovop_call_query(call, e->pg, doc_sql, 1, params, on_document, cx);
}

static const ovop_method_t methods[] = {
    {"AttachDocument", attach_document, NULL},
    {"SetDocumentStatus", set_document_status, NULL},
};

void exports_documents_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
