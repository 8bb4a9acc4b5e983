/* Export statistics from the aggregates the moves maintain (exports.stats_monthly): a
 * shipment counts when it departs, in the month of departure, by region and district of its
 * producers, HS code and destination. Reading them sums a few rows per cell (the stripes),
 * never the shipments. */
#include <stdio.h>
#include <string.h>

#include "exports.h"
#include "log.h"

/* Per dimension (index: StatsDimension): the column grouped on and its text in the reply,
 * named as StatsRow's field (formatting after grouping, not once per row). */
static const struct {
    const char *column;
    const char *text;
    const char *name;
} dims[] = {
    {NULL, NULL, NULL},
    {"m.month", "to_char(m.month, 'YYYY-MM') AS month", "MONTH"},
    {"m.region", "m.region::text AS region", "REGION"},
    {"m.district", "m.district::text AS district", "DISTRICT"},
    {"m.hs6", "m.hs6::text AS hs_code", "HS_CODE"},
    {"m.destination", "m.destination::text AS destination", "DESTINATION"},
};
#define N_DIMS 6

/* Every row in the response; the statement depends on the dimensions (statistics_sql). */
static const ovop_read_t statistics = {
    .page = {.response = &ovop__v1__export_statistics_response__descriptor, .rows = "rows"},
};

/* True for a month written YYYY-MM. */
static bool month_valid(const char *s)
{
    char date[11];
    if (strlen(s) != 7)
        return false;
    snprintf(date, sizeof(date), "%s-01", s);
    return ovop_date_valid(date);
}

/* The dimensions asked for, each once, into want. */
static void check_dimensions(ovop_call_t *call, const Ovop__V1__ExportStatisticsRequest *in,
                             bool want[static N_DIMS])
{
    for (size_t i = 0; i < in->n_group_by; i++) {
        int d = (int)in->group_by[i];
        if (d <= 0 || d >= N_DIMS)
            ovop_call_violation(call, "group_by",
                                "must list MONTH, REGION, DISTRICT, HS_CODE or DESTINATION");
        else if (want[d])
            ovop_call_violation(call, "group_by", "lists %s twice", dims[d].name);
        else
            want[d] = true;
    }
}

/* The statement for the set of dimensions (at most 32 texts), never for values: the sums
 * over the stripes of each cell, in the call's arena. */
static const char *statistics_sql(ovop_call_t *call, const bool want[static N_DIMS])
{
    ovop_buf_t sql, group;
    ovop_buf_init(&sql);
    ovop_buf_init(&group);
    ovop_buf_puts(&sql, "SELECT ");
    for (int d = 1; d < N_DIMS; d++) {
        if (!want[d])
            continue;
        ovop_buf_printf(&sql, "%s, ", dims[d].text);
        ovop_buf_printf(&group, "%s%s", group.len ? ", " : "", dims[d].column);
    }
    ovop_buf_puts(&sql, "coalesce(sum(m.net_g), 0) / 1000000.0 AS tonnes, "
                        "coalesce(sum(m.usd_cents), 0) AS value_usd_cents, "
                        "coalesce(sum(m.som_tyiyn), 0) AS value_som_tyiyn, "
                        "coalesce(sum(m.shipments), 0) AS shipments "
                        "FROM exports.stats_monthly m "
                        "WHERE ($1 = '' OR m.month >= ($1 || '-01')::date) "
                        "AND ($2 = '' OR m.month <= ($2 || '-01')::date) "
                        "AND ($3 = '' OR m.district LIKE $3 || '%') "
                        "AND ($4 = '' OR m.hs6 LIKE $4 || '%') "
                        "AND ($5 = '' OR m.destination = $5) ");
    /* Without dimensions: one row of totals, zero when nothing departed. */
    if (group.len)
        ovop_buf_printf(&sql, "GROUP BY %s HAVING sum(m.shipments) <> 0 ORDER BY %s", group.data,
                        group.data);
    const char *text = ovop_call_strdup(call, sql.data);
    ovop_buf_free(&sql);
    ovop_buf_free(&group);
    return text;
}

static void get_statistics(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ExportStatisticsRequest *in = (const Ovop__V1__ExportStatisticsRequest *)input;
    exports_t *e = userdata;
    bool want[N_DIMS] = {false};
    char prefix[15];

    check_dimensions(call, in, want);
    if (in->from_month[0] && !month_valid(in->from_month))
        ovop_call_violation(call, "from_month", "must be a month written YYYY-MM, got \"%.16s\"",
                            in->from_month);
    if (in->to_month[0] && !month_valid(in->to_month))
        ovop_call_violation(call, "to_month", "must be a month written YYYY-MM, got \"%.16s\"",
                            in->to_month);
    if (exports_check_territory_prefix(call, "territory_prefix", in->territory_prefix, prefix) &&
        strlen(prefix) > 8)
        ovop_call_violation(call, "territory_prefix",
                            "statistics go down to districts: give a region or district code");
    exports_check_hs_prefix(call, "hs_prefix", in->hs_prefix);
    if (in->destination[0])
        exports_check_country(call, "destination", in->destination);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->from_month, in->to_month, prefix, in->hs_prefix, in->destination};
    ovop_read_all(call, ovop_daemon_pg_read(e->d), &statistics, statistics_sql(call, want), 5,
                  params);
}

/* --- folding the stripes --- */

static void on_fold(PGresult *res, const char *error, void *userdata)
{
    exports_t *e = userdata;
    e->folding = false;
    if (error)
        log_warn("could not fold the export statistics: %s, retrying in %u ms", error, e->fold_ms);
}

/* Starts a fold unless one is out. */
static void on_fold_timer(uv_timer_t *t)
{
    exports_t *e = t->data;
    if (e->folding)
        return;
    e->folding = true;
    ovop_pg_query(e->pg, "SELECT exports.fold_stats()", 0, NULL, on_fold, e);
}

void exports_stats_start(exports_t *e)
{
    uv_timer_init(ovop_daemon_loop(e->d), &e->fold_timer);
    e->fold_timer.data = e;
    uv_timer_start(&e->fold_timer, on_fold_timer, e->fold_ms, e->fold_ms);
}

void exports_stats_stop(exports_t *e)
{
    if (uv_is_closing((uv_handle_t *)&e->fold_timer))
        return;
    uv_timer_stop(&e->fold_timer);
    uv_close((uv_handle_t *)&e->fold_timer, NULL);
}

static const ovop_method_t methods[] = {
    {"GetExportStatistics", get_statistics},
};

void exports_stats_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
