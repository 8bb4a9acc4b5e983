/* The compliance rule: violation notices from destination countries, and the phytosanitary
 * block they cause (exports.compliance_policy: 2 notices from one country within 12 months
 * block new phytosanitary certificates for 60 days). The block is computed from the notices
 * whenever it is needed (exports.phyto_block), so it needs no job to expire. */
#include <string.h>

#include "exports.h"

/* --- RecordViolationNotice --- */

/* A new id and the block the exporter would be under today with this notice added. */
static const ovop_read_t preview = {
    .sql = "SELECT nextval('exports.ids') AS id, "
           "       (SELECT b.blocked_until::text "
           "          FROM exports.phyto_block($1, $2::bigint, current_date, $3, $4::date) b) "
           "       AS phyto_blocked_until",
    .row = &ovop__v1__violation_notice__descriptor,
};

/* Builds the notice (with the block the preview found) and stores it; the statement
 * refuses with a serialization failure (ABORTED, retry) if the notices changed meanwhile. */
static void store_notice(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *userdata)
{
    (void)res;
    exports_t *e = userdata;
    const Ovop__V1__RecordViolationNoticeRequest *in =
        (const Ovop__V1__RecordViolationNoticeRequest *)ovop_call_input(call);
    Ovop__V1__ViolationNotice *v = (Ovop__V1__ViolationNotice *)row;
    v->exporter = in->exporter;
    v->country = in->country;
    v->noticed_on = in->noticed_on;
    v->authority = in->authority;
    v->reference = in->reference;
    v->description = in->description;
    v->shipment_id = in->shipment_id;
    v->created_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", exports_number(call, v->id)},
        {"p_caller", ovop_call_caller(call)},
        {"p_kind", exports_kind_text(in->exporter)},
        {"p_exporter", exports_number(call, in->exporter->id)},
        {"p_country", in->country},
        {"p_on", in->noticed_on},
        {"p_authority", in->authority},
        {"p_reference", in->reference},
        {"p_description", in->description},
        {"p_shipment", in->shipment_id ? exports_number(call, in->shipment_id) : NULL},
        {"p_expected_until", v->phyto_blocked_until[0] ? v->phyto_blocked_until : NULL},
        {"p_at_us", exports_number(call, v->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &v->base)},
    };
    OVOP_MUTATE(call, &e->mutator, "exports.record_violation", args, &v->base);
}

/* RecordViolationNotice: checks the fields, then previews the block the notice makes. */
static void record_notice(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__RecordViolationNoticeRequest *in =
        (const Ovop__V1__RecordViolationNoticeRequest *)input;
    exports_t *e = userdata;
    char today[11];
    exports_today(today);

    exports_check_exporter(call, "exporter", in->exporter);
    exports_check_country(call, "country", in->country);
    if (exports_check_date(call, "noticed_on", in->noticed_on, true) &&
        strcmp(in->noticed_on, today) > 0)
        ovop_call_violation(call, "noticed_on", "%s is in the future (today is %s)", in->noticed_on,
                            today);
    ovop_check_text(call, "authority", in->authority, 100, true);
    ovop_check_text(call, "reference", in->reference, 100, false);
    ovop_check_text(call, "description", in->description, 2000, false);
    if (in->shipment_id < 0)
        ovop_call_violation(call, "shipment_id", "must be a shipment id or 0, got %lld",
                            (long long)in->shipment_id);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {exports_kind_text(in->exporter), exports_number(call, in->exporter->id),
                            in->country, in->noticed_on};
    ovop_read_then(call, e->pg, &preview, NULL, 4, params, store_notice, e);
}

/* --- GetExporterCompliance --- */

/* The block today and the notices of the policy window, newest first, of the exporter $1, $2
 * found in `exporters` (a registry_api view): no row when it has no such exporter. */
#define COMPLIANCE_SQL(exporters)                                                                  \
    "SELECT $1::text AS \"exporter.kind\", x.id AS \"exporter.id\", "                              \
    "       b.blocked_until::text AS phyto_blocked_until, b.country AS blocked_by_country, "       \
    "       (SELECT json_agg(v ORDER BY v.noticed_on DESC, v.id DESC) "                            \
    "          FROM (SELECT n.id, json_build_object('kind', n.exporter_kind, "                     \
    "                                               'id', n.exporter_id) AS exporter, "            \
    "                       n.country, n.noticed_on, n.authority, n.reference, n.description, "    \
    "                       n.shipment_id, exports.us_of(n.created_at) AS created_us "             \
    "                  FROM exports.violation_notices n, exports.compliance_policy p "             \
    "                 WHERE n.exporter_kind = $1 AND n.exporter_id = $2::bigint "                  \
    "                   AND n.noticed_on > current_date - p.window_length) v) AS notices "         \
    "  FROM " exporters " x "                                                                      \
    "  LEFT JOIN exports.phyto_block($1, $2::bigint, current_date) b ON true "                     \
    " WHERE x.id = $2::bigint"

/* By ExporterKind: NOT_FOUND names the kind the registry does not have. */
static const ovop_read_t compliance[] = {
    [OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER] =
        {
            .sql = COMPLIANCE_SQL("registry_api.producers"),
            .row = &ovop__v1__exporter_compliance__descriptor,
            .noun = "producer with id",
        },
    [OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE] =
        {
            .sql = COMPLIANCE_SQL("registry_api.cooperatives"),
            .row = &ovop__v1__exporter_compliance__descriptor,
            .noun = "cooperative with id",
        },
};

/* GetExporterCompliance: NOT_FOUND for an exporter the registry does not have. */
static void get_compliance(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetExporterComplianceRequest *in =
        (const Ovop__V1__GetExporterComplianceRequest *)input;
    exports_t *e = userdata;
    if (!exports_check_exporter(call, "exporter", in->exporter)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {exports_kind_text(in->exporter),
                            exports_number(call, in->exporter->id)};
    ovop_read_one(call, e->pg, &compliance[in->exporter->kind], params[1], 2, params);
}

static const ovop_method_t methods[] = {
    {"RecordViolationNotice", record_notice},
    {"GetExporterCompliance", get_compliance},
};

void exports_compliance_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
