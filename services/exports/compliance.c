/* The compliance rule: violation notices from destination countries, and the phytosanitary
 * block they cause (exports.compliance_policy: 2 notices from one country within 12 months
 * block new phytosanitary certificates for 60 days). The block is computed from the notices
 * whenever it is needed (exports.phyto_block), so it needs no job to expire. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"

/* --- RecordViolationNotice --- */

/* A new id and the block the exporter would be under today with this notice added. */
static const char preview_sql[] =
    "SELECT nextval('exports.ids'), "
    "       coalesce((SELECT b.blocked_until::text "
    "                   FROM exports.phyto_block($1, $2::bigint, current_date, $3, $4::date) b), "
    "                '')";

typedef struct notice_ctx {
    ovop_call_t *call;
    exports_t *e;
    const Ovop__V1__RecordViolationNoticeRequest *in;
} notice_ctx_t;

/* Builds the notice (with the block the preview found) and stores it; the statement
 * refuses with a serialization failure (ABORTED, retry) if the notices changed meanwhile. */
static void on_preview(PGresult *res, const char *error, void *userdata)
{
    notice_ctx_t *cx = userdata;
    const Ovop__V1__RecordViolationNoticeRequest *in = cx->in;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        free(cx);
        return;
    }
    int64_t now = ovop_now_us();
    Ovop__V1__ViolationNotice v = OVOP__V1__VIOLATION_NOTICE__INIT;
    v.id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    v.exporter = in->exporter;
    v.country = in->country;
    v.noticed_on = in->noticed_on;
    v.authority = in->authority;
    v.reference = in->reference;
    v.description = in->description;
    v.shipment_id = in->shipment_id;
    v.created_us = now;
    v.phyto_blocked_until = PQgetvalue(res, 0, 1);

    char id[24], exporter[24], shipment[24], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)v.id);
    snprintf(exporter, sizeof(exporter), "%lld", (long long)in->exporter->id);
    snprintf(shipment, sizeof(shipment), "%lld", (long long)in->shipment_id);
    snprintf(at, sizeof(at), "%lld", (long long)now);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&v.base);
    const char *args[] = {id,
                          ovop_call_caller(cx->call),
                          exports_name(&exports_exporter_kinds, (int)in->exporter->kind),
                          exporter,
                          in->country,
                          in->noticed_on,
                          in->authority,
                          in->reference,
                          in->description,
                          in->shipment_id ? shipment : NULL,
                          v.phyto_blocked_until[0] ? v.phyto_blocked_until : NULL,
                          at,
                          uuid,
                          event};
    ovop_mutate_sql(cx->call, &cx->e->mutator,
                "SELECT * FROM exports.record_violation($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                "$11, $12, $13, $14, $15, $16, $17, $18, $19)",
                (int)OVOP_ARRAY_SIZE(args), args, &v.base);
    free(event);
    free(cx);
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
    notice_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->e = e;
    cx->in = in;
    char exporter[24];
    snprintf(exporter, sizeof(exporter), "%lld", (long long)in->exporter->id);
    const char *params[] = {exports_name(&exports_exporter_kinds, (int)in->exporter->kind),
                            exporter, in->country, in->noticed_on};
    ovop_call_query(call, e->pg, preview_sql, 4, params, on_preview, cx);
}

/* --- GetExporterCompliance --- */

static const char compliance_sql[] =
    "SELECT CASE $1 WHEN 'producer' "
    "            THEN EXISTS (SELECT 1 FROM registry_api.producers WHERE id = $2::bigint) "
    "            ELSE EXISTS (SELECT 1 FROM registry_api.cooperatives WHERE id = $2::bigint) "
    "       END, "
    "       coalesce(b.blocked_until::text, ''), coalesce(b.country::text, ''), "
    "       (SELECT json_agg(json_build_array(n.id, n.country, n.noticed_on::text, n.authority, "
    "                                         n.reference, n.description, "
    "                                         coalesce(n.shipment_id, 0), "
    "                                         exports.us_of(n.created_at)) "
    "                        ORDER BY n.noticed_on DESC, n.id DESC) "
    "          FROM exports.violation_notices n, exports.compliance_policy p "
    "         WHERE n.exporter_kind = $1 AND n.exporter_id = $2::bigint "
    "           AND n.noticed_on > current_date - p.window_length) "
    "  FROM (SELECT 1) one "
    "  LEFT JOIN exports.phyto_block($1, $2::bigint, current_date) b ON true";

typedef struct compliance_ctx {
    ovop_call_t *call;
    const Ovop__V1__GetExporterComplianceRequest *in;
} compliance_ctx_t;

/* Answers with the block today and the notices of the policy window, newest first. */
static void on_compliance(PGresult *res, const char *error, void *userdata)
{
    compliance_ctx_t *cx = userdata;
    const Ovop__V1__ExporterRef *x = cx->in->exporter;
    const char *kind = exports_name(&exports_exporter_kinds, (int)x->kind);
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no %s with id %lld", kind, (long long)x->id);
        goto out;
    }
    json_t *a = json_loads(PQgetvalue(res, 0, 3), 0, NULL);
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    Ovop__V1__ViolationNotice *v = xcalloc(n + 1, sizeof(*v));
    Ovop__V1__ViolationNotice **ptrs = xcalloc(n + 1, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(a, i);
        ovop__v1__violation_notice__init(&v[i]);
        v[i].id = (int64_t)json_integer_value(json_array_get(r, 0));
        v[i].exporter = (Ovop__V1__ExporterRef *)x;
        v[i].country = (char *)(json_string_value(json_array_get(r, 1)) ?: "");
        v[i].noticed_on = (char *)(json_string_value(json_array_get(r, 2)) ?: "");
        v[i].authority = (char *)(json_string_value(json_array_get(r, 3)) ?: "");
        v[i].reference = (char *)(json_string_value(json_array_get(r, 4)) ?: "");
        v[i].description = (char *)(json_string_value(json_array_get(r, 5)) ?: "");
        v[i].shipment_id = (int64_t)json_integer_value(json_array_get(r, 6));
        v[i].created_us = (int64_t)json_integer_value(json_array_get(r, 7));
        ptrs[i] = &v[i];
    }
    Ovop__V1__ExporterCompliance out = OVOP__V1__EXPORTER_COMPLIANCE__INIT;
    out.exporter = (Ovop__V1__ExporterRef *)x;
    out.phyto_blocked_until = PQgetvalue(res, 0, 1);
    out.blocked_by_country = PQgetvalue(res, 0, 2);
    out.n_notices = n;
    out.notices = ptrs;
    ovop_call_finish(cx->call, &out.base);
    free(v);
    free(ptrs);
    json_decref(a);
out:
    free(cx);
}

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
    compliance_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->in = in;
    char exporter[24];
    snprintf(exporter, sizeof(exporter), "%lld", (long long)in->exporter->id);
    const char *params[] = {exports_name(&exports_exporter_kinds, (int)in->exporter->kind),
                            exporter};
    ovop_call_query(call, e->pg, compliance_sql, 2, params, on_compliance, cx);
}

static const ovop_method_t methods[] = {
    {"RecordViolationNotice", record_notice, NULL},
    {"GetExporterCompliance", get_compliance, NULL},
};

void exports_compliance_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
