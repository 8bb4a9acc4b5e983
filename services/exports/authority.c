/* Who may do what in exportd beyond the permission table (services/permissions.tsv, which
 * says only which roles may call a method): the agency a move is recorded under, the moves
 * one agency alone records, and which agency issues which document. Each rule is one small
 * table here, checked before anything is read or written for the request, and a refusal is
 * PERMISSION_DENIED with a stable reason:
 *
 *   AGENCY_NOT_YOURS  a move names an agency that is not the principal's (metadata "agency":
 *                     the principal's, empty for none)
 *   AGENCY_REQUIRED   the move or the document change is one agency's (metadata "agencies",
 *                     comma-separated, and "to" or "type")
 *   MISSING_ROLE      the document change is the export desk's (metadata "role":
 *                     exports.clerk)
 *
 * A principal's agency is Principal.agency, set by the broker from iam.principals: an
 * agency's own code, the agency an officer works for, empty for the export desk and the
 * services. It is the only agency a move is ever recorded under. */
#include <string.h>

#include "exports.h"

#define S(x)  OVOP__V1__SHIPMENT_STATUS__SHIPMENT_STATUS_##x
#define D(x)  OVOP__V1__DOCUMENT_TYPE__DOCUMENT_TYPE_##x
#define DS(x) OVOP__V1__DOCUMENT_STATUS__DOCUMENT_STATUS_##x

/* The export desk's role: creates shipments, applies for documents, attaches the exporter's
 * own papers, records the moves no agency owns (iam.roles, 0016_iam.sql). */
#define DESK_ROLE "exports.clerk"

/* The moves that only some agencies record, by the status moved to. This is
 * exports.transitions.agencies (deploy/migrations/0009_exports.sql), where the agencies of a
 * status are the same from every status it is reached from; test-exports compares the two.
 * The database still checks each move against its table (refusing with AGENCY_NOT_ALLOWED),
 * so that a row added there without this table holds anyway. Every other move is anyone's
 * whom the permission table lets call the method. */
static const struct move_rule {
    int to;
    const char *agencies[4]; /* NULL-terminated */
} move_rules[] = {
    {S(RELEASED), {"customs", NULL}},
    {S(DEPARTED), {"customs", NULL}},
    {S(REJECTED), {"customs", "plant_quarantine", "veterinary", NULL}},
};

/* Who issues each document. The agency alone issues it (attaching it ISSUED, or
 * SetDocumentStatus ISSUED), rejects and revokes it; the export desk applies for it
 * (attaches it REQUESTED). A type not listed is one of the exporter's own papers (contract,
 * invoice, packing list, CMR, waybill, declaration of conformity): the export desk attaches
 * it and changes its status. */
static const struct document_rule {
    int type;
    const char *agency;
} document_rules[] = {
    {D(PHYTOSANITARY), "plant_quarantine"},
    {D(VETERINARY), "veterinary"},
    {D(ORIGIN_CT1), "chamber"},
    {D(ORIGIN_FORM_A), "chamber"},
    {D(ORIGIN_GENERAL), "chamber"},
    {D(CUSTOMS_DECLARATION), "customs"},
};

const char *exports_agency(const ovop_call_t *call)
{
    const Ovop__V1__Principal *p = ovop_call_principal(call);
    return p && p->agency ? p->agency : "";
}

/* "for customs" or "for no agency", for messages. */
static const char *acting_for(ovop_call_t *call)
{
    const char *agency = exports_agency(call);
    return agency[0] ? ovop_call_printf(call, "for %s", agency) : "for no agency";
}

static const struct move_rule *move_rule(int to)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(move_rules); i++)
        if (move_rules[i].to == to)
            return &move_rules[i];
    return NULL;
}

static bool listed(const char *const *agencies, const char *agency)
{
    for (size_t i = 0; agencies[i]; i++)
        if (strcmp(agencies[i], agency) == 0)
            return true;
    return false;
}

/* The agencies joined by sep, in the call's arena. */
static const char *joined(ovop_call_t *call, const char *const *agencies, const char *sep)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    for (size_t i = 0; agencies[i]; i++)
        ovop_buf_printf(&b, "%s%s", i ? sep : "", agencies[i]);
    const char *s = ovop_call_strdup(call, b.data ? b.data : "");
    ovop_buf_free(&b);
    return s;
}

/* Checks the agencies of move t (its fields named prefix + name), adding a violation per
 * problem. Returns the reason of the first, or NULL. first: no move before was refused, so
 * this one's metadata are the reply's. */
static const char *check_move(ovop_call_t *call, const char *prefix,
                              const Ovop__V1__ShipmentTransition *t, bool first)
{
    const char *agency = exports_agency(call);
    const Ovop__V1__Principal *p = ovop_call_principal(call);
    const char *reason = NULL;
    char f[96];
    if (t->agency[0] && strcmp(t->agency, agency) != 0) {
        snprintf(f, sizeof(f), "%sagency", prefix);
        ovop_call_violation(call, f,
                            "a move is recorded under your own agency: principal %s acts %s, "
                            "got \"%.40s\" (leave agency empty)",
                            p->id, acting_for(call), t->agency);
        if (first)
            ovop_call_meta(call, "agency", "%s", agency);
        reason = "AGENCY_NOT_YOURS";
    }
    const struct move_rule *r = move_rule((int)t->to);
    if (r && !listed(r->agencies, agency)) {
        const char *to = ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)t->to);
        snprintf(f, sizeof(f), "%sto", prefix);
        ovop_call_violation(call, f, "a move to %s is recorded by %s; principal %s acts %s", to,
                            joined(call, r->agencies, " or "), p->id, acting_for(call));
        if (first && !reason) {
            ovop_call_meta(call, "agencies", "%s", joined(call, r->agencies, ","));
            ovop_call_meta(call, "to", "%s", to);
        }
        reason = reason ? reason : "AGENCY_REQUIRED";
    }
    if (reason && first)
        ovop_call_meta(call, "shipment_id", "%lld", (long long)t->shipment_id);
    return reason;
}

bool exports_authorize_moves(ovop_call_t *call, bool batch,
                             Ovop__V1__ShipmentTransition *const *items, size_t n)
{
    const char *reason = NULL;
    size_t refused = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        char prefix[48] = "";
        if (batch)
            snprintf(prefix, sizeof(prefix), "transitions[%zu].", i);
        const char *r = check_move(call, prefix, items[i], !reason);
        if (!r)
            continue;
        if (!reason) {
            reason = r;
            first = i;
        }
        refused++;
    }
    if (!reason)
        return true;
    /* The violations, with the first refused move's, are the reply's; the message repeats the
     * first, as a refused batch's does. */
    const Ovop__V1__ShipmentTransition *t = items[first];
    const char *id = ovop_call_principal(call)->id;
    const struct move_rule *r = move_rule((int)t->to);
    const char *what =
        strcmp(reason, "AGENCY_NOT_YOURS") == 0
            ? ovop_call_printf(call, "agency \"%.40s\" is not principal %s's, which acts %s",
                               t->agency, id, acting_for(call))
            : ovop_call_printf(call, "a move to %s is recorded by %s; principal %s acts %s",
                               ovop_enum_text(&ovop__v1__shipment_status__descriptor, (int)t->to),
                               joined(call, r->agencies, " or "), id, acting_for(call));
    if (batch)
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, reason,
                              "%zu of %zu transitions refused, none recorded; first: "
                              "transitions[%zu]: %s",
                              refused, n, first, what);
    else
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, reason, "%s", what);
    return false;
}

static const struct document_rule *document_rule(int type)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(document_rules); i++)
        if (document_rules[i].type == type)
            return &document_rules[i];
    return NULL;
}

/* Checks that the principal may bring a document of `type` to `status`, attaching it when
 * attach: the issuing agency's when the document has one and this is not an application for
 * it, the export desk's otherwise. Fails the call when not. */
static bool authorize_document(ovop_call_t *call, int type, int status, bool attach)
{
    const struct document_rule *r = document_rule(type);
    const char *name = ovop_enum_text(&ovop__v1__document_type__descriptor, type);
    const char *id = ovop_call_principal(call)->id;
    if (r && !(attach && status == DS(REQUESTED))) {
        if (strcmp(exports_agency(call), r->agency) == 0)
            return true;
        ovop_call_violation(call, "status",
                            "a %s document is issued, rejected and revoked by %s alone; "
                            "principal %s acts %s%s",
                            name, r->agency, id, acting_for(call),
                            attach ? " (the export desk attaches it as REQUESTED)" : "");
        ovop_call_meta(call, "agencies", "%s", r->agency);
        ovop_call_meta(call, "type", "%s", name);
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "AGENCY_REQUIRED",
                              "only %s issues, rejects or revokes a %s document", r->agency, name);
        return false;
    }
    if (ovop_call_has_role(call, DESK_ROLE))
        return true;
    const char *what = r ? ovop_call_printf(call, "applying for a %s document", name)
                         : ovop_call_printf(call, "%s, one of the exporter's papers,", name);
    ovop_call_violation(
        call,
        r        ? "status"
        : attach ? "type"
                 : "document_id",
        "%s is the export desk's: role " DESK_ROLE ", which principal %s does not have", what, id);
    ovop_call_meta(call, "role", DESK_ROLE);
    ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "MISSING_ROLE",
                          "%s is the export desk's (role " DESK_ROLE ")", what);
    return false;
}

bool exports_authorize_attach(ovop_call_t *call, int type, int status)
{
    return authorize_document(call, type, status, true);
}

bool exports_authorize_document_status(ovop_call_t *call, int type, int status)
{
    return authorize_document(call, type, status, false);
}
