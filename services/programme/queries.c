/* The programme office's queries, read-only: ListUntrainedProducers, FundsDisbursed,
 * TrainingsBeforeExport, SalesStats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prog_check.h"
#include "dbcall.h"
#include "pbrow.h"
#include "programd.h"
#include "util.h"

#define DEFAULT_PAGE 100
#define MAX_PAGE     1000

static bool fail_if_violations(ovop_call_t *call)
{
    if (!ovop_call_has_violations(call))
        return false;
    ovop_call_fail_violations(call);
    return true;
}

/* --- ListUntrainedProducers --- */

static const ovop_read_t untrained_list = {
    .sql = "SELECT p.id, p.legal_name, p.territory_code FROM registry_api.producers p "
           "WHERE p.territory_code LIKE programme.soate_prefix($1) || '%' AND p.status = 'active' "
           "AND NOT EXISTS (SELECT 1 FROM programme.participants t JOIN programme.programmes g "
           "ON g.id = t.programme_id WHERE t.kind = 'producer' AND t.participant_id = p.id AND "
           "g.kind = 'training' AND g.topic IN ('business_management', 'marketing') AND "
           "t.outcome IN ('completed', 'certificate')) "
           "AND p.id > $2::bigint ORDER BY p.id LIMIT $3::int",
    .page = {.response = &ovop__v1__list_untrained_producers_response__descriptor,
             .rows = "producers",
             .key = "id"},
};

typedef struct untrained_ctx {
    ovop_call_t *call;
    programd_t *p;
    const char *params[3];
    unsigned page;
} untrained_ctx_t;

static void on_territory(PGresult *res, const char *error, void *userdata)
{
    untrained_ctx_t *cx = userdata;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        return;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail_reason(cx->call, OVOP_NOT_FOUND, "UNKNOWN_TERRITORY",
                              "no current territory %s", cx->params[0]);
        return;
    }
    ovop_read_page(cx->call, cx->p->pg, &untrained_list, NULL, 3, cx->params, cx->page);
}

static void list_untrained(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListUntrainedProducersRequest *in =
        (const Ovop__V1__ListUntrainedProducersRequest *)input;
    int64_t after = 0;
    const char *why = prog_check_soate(in->territory_code, false);
    if (why)
        ovop_call_violation(call, "territory_code", "%s", why);
    if (in->page_size < 0)
        ovop_call_violation(call, "page_size", "must not be negative");
    unsigned page = ovop_check_page_size(call, (unsigned)(in->page_size < 0 ? 0 : in->page_size),
                                         DEFAULT_PAGE, MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    if (fail_if_violations(call))
        return;
    untrained_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (untrained_ctx_t){
        call,
        userdata,
        {in->territory_code, programd_num(call, after), ovop_call_printf(call, "%u", page + 1)},
        page};
    ovop_call_query(call, cx->p->pg,
                    "SELECT 1 FROM registry_api.territory_points WHERE code = $1::bpchar AND "
                    "valid_to IS NULL",
                    1, cx->params, on_territory, cx);
}

/* --- FundsDisbursed --- */

static const ovop_read_t funds = {
    .sql = "SELECT f.region_code, programme.territory_name(f.region_code) AS region_name, "
           "f.stakeholder_id, s.name AS stakeholder_name, f.minor AS \"amount.minor\", "
           "'KGS' AS \"amount.currency\", f.grants "
           "FROM (SELECT programme.region_of(t.territory_code) AS region_code, r.stakeholder_id, "
           "sum(t.grant_minor)::bigint AS minor, count(*)::int AS grants "
           "FROM programme.participants t JOIN programme.runs r ON r.programme_id = "
           "t.programme_id AND r.ord = 0 WHERE t.grant_minor > 0 "
           "AND t.outcome_on >= coalesce(nullif($1, '')::date, '-infinity') "
           "AND t.outcome_on <= coalesce(nullif($2, '')::date, 'infinity') GROUP BY 1, 2) f "
           "JOIN programme.stakeholders s ON s.id = f.stakeholder_id "
           "ORDER BY f.region_code, f.stakeholder_id",
    .page = {.response = &ovop__v1__funds_disbursed_response__descriptor, .rows = "rows"},
};

static void funds_disbursed(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__FundsDisbursedRequest *in = (const Ovop__V1__FundsDisbursedRequest *)input;
    if (in->from[0] && !ovop_date_valid(in->from))
        ovop_call_violation(call, "from", "must be empty or a date written YYYY-MM-DD");
    if (in->to[0] && !ovop_date_valid(in->to))
        ovop_call_violation(call, "to", "must be empty or a date written YYYY-MM-DD");
    if (in->from[0] && in->to[0] && strcmp(in->to, in->from) < 0)
        ovop_call_violation(call, "to", "the period is empty: %s is before %s", in->to, in->from);
    if (fail_if_violations(call))
        return;
    const char *params[] = {in->from, in->to};
    ovop_read_all(call, p->pg, &funds, NULL, 2, params);
}

/* --- TrainingsBeforeExport --- */

static const ovop_read_t before_export = {
    .sql = "WITH f AS (SELECT d.departed_on, d.shipment_id FROM exports_api.departed_lots d "
           "WHERE d.producer_id = $1::bigint ORDER BY d.departed_on, d.shipment_id LIMIT 1) "
           "SELECT EXISTS (SELECT 1 FROM registry_api.producers WHERE id = $1::bigint) AS known, "
           "f.departed_on IS NOT NULL AS exported, coalesce(f.departed_on::text, '') AS "
           "first_export_on, coalesce(f.shipment_id, 0) AS first_shipment_id, "
           "(SELECT json_agg(json_build_object('programme_id', g.id, 'name', g.name, 'topic', "
           "g.topic, 'ends_on', coalesce(t.outcome_on, g.ends_on)::text, 'outcome', t.outcome) "
           "ORDER BY coalesce(t.outcome_on, g.ends_on), g.id) FROM programme.participants t "
           "JOIN programme.programmes g ON g.id = t.programme_id WHERE t.kind = 'producer' AND "
           "t.participant_id = $1::bigint AND g.kind = 'training' AND t.outcome IN "
           "('completed', 'certificate') AND coalesce(t.outcome_on, g.ends_on) <= f.departed_on) "
           "AS trainings FROM (SELECT 1) one LEFT JOIN f ON true",
    .row = &ovop__v1__trainings_before_export_response__descriptor,
};

static void on_before_export(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *ud)
{
    (void)ud;
    if (strcmp(ovop_pg_value(res, 0, "known"), "t") != 0) {
        const Ovop__V1__TrainingsBeforeExportRequest *in =
            (const Ovop__V1__TrainingsBeforeExportRequest *)ovop_call_input(call);
        ovop_call_fail_reason(call, OVOP_NOT_FOUND, "UNKNOWN_PRODUCER",
                              "no producer with id %lld in the registry",
                              (long long)in->producer_id);
        return;
    }
    ovop_call_finish(call, row);
}

static void trainings_before_export(ovop_call_t *call, const ProtobufCMessage *input,
                                    void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__TrainingsBeforeExportRequest *in =
        (const Ovop__V1__TrainingsBeforeExportRequest *)input;
    if (in->producer_id <= 0) {
        ovop_call_violation(call, "producer_id", "must be a producer id");
        ovop_call_fail_violations(call);
        return;
    }
    const char *key = programd_num(call, in->producer_id);
    ovop_read_then(call, p->pg, &before_export, key, 1, &key, on_before_export, NULL);
}

/* --- SalesStats --- */

static const ovop_read_t stats = {
    .sql = "SELECT key, label, domestic_minor AS \"domestic.minor\", 'KGS' AS "
           "\"domestic.currency\", export_minor AS \"export.minor\", 'KGS' AS \"export.currency\", "
           "quantity, reports, employees, seasonal_workers, exports_available, exports_minor AS "
           "\"exports_departed.minor\", 'KGS' AS \"exports_departed.currency\", exports_net_kg, "
           "export_shipments FROM programme.sales_stats($1, ($2 || '-01')::date, "
           "($3 || '-01')::date, CASE WHEN $4 = '' THEN '' ELSE programme.soate_prefix($4) END, "
           "$5)",
    .page = {.response = &ovop__v1__sales_stats_response__descriptor, .rows = "rows"},
};

static void check_stats(ovop_call_t *call, const Ovop__V1__SalesStatsRequest *in)
{
    const char *why;
    if (!ovop_enum_text(&ovop__v1__sales_group__descriptor, (int)in->group_by)[0])
        ovop_call_violation(call, "group_by", "is required: region, district, hs_code or channel");
    if (in->from_month[0] && (why = prog_check_month(in->from_month, "9999-12"))) {
        ovop_call_reason(call, "INVALID_MONTH");
        ovop_call_violation(call, "from_month", "%s", why);
    }
    if (in->to_month[0] && (why = prog_check_month(in->to_month, "9999-12"))) {
        ovop_call_reason(call, "INVALID_MONTH");
        ovop_call_violation(call, "to_month", "%s", why);
    }
    if (in->from_month[0] && in->to_month[0] && strcmp(in->to_month, in->from_month) < 0)
        ovop_call_violation(call, "to_month", "the period is empty: %s is before %s", in->to_month,
                            in->from_month);
    if ((why = prog_check_soate(in->territory_code, true)))
        ovop_call_violation(call, "territory_code", "%s", why);
    if ((why = prog_check_hs(in->hs_prefix, true)))
        ovop_call_violation(call, "hs_prefix", "%s", why);
}

static void sales_stats(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__SalesStatsRequest *in = (const Ovop__V1__SalesStatsRequest *)input;
    check_stats(call, in);
    if (fail_if_violations(call))
        return;
    const char *params[] = {
        ovop_enum_text(&ovop__v1__sales_group__descriptor, (int)in->group_by),
        in->from_month[0] ? in->from_month : "2000-01",
        in->to_month[0] ? in->to_month : "2999-12",
        in->territory_code,
        in->hs_prefix,
    };
    ovop_read_all(call, p->pg, &stats, NULL, 5, params);
}

void programd_queries_register(programd_t *p)
{
    static const ovop_method_t methods[] = {
        {"ListUntrainedProducers", list_untrained},
        {"FundsDisbursed", funds_disbursed},
        {"TrainingsBeforeExport", trainings_before_export},
        {"SalesStats", sales_stats},
    };
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(p->d), methods, p);
}
