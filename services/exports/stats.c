/* Export statistics from the aggregates the moves maintain (exports.stats_monthly): a
 * shipment counts when it departs, in the month of departure, by region and district of its
 * producers, HS code and destination. Reading them sums a few rows per cell (the stripes),
 * never the shipments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exports.h"
#include "log.h"

/* Per dimension (index: StatsDimension): the column grouped on and its text in the reply
 * (formatting after grouping, not once per row). */
static const struct {
    const char *column;
    const char *text;
    const char *name;
} dims[] = {
    {NULL, NULL, NULL},
    {"m.month", "to_char(m.month, 'YYYY-MM')", "MONTH"},
    {"m.region", "m.region::text", "REGION"},
    {"m.district", "m.district::text", "DISTRICT"},
    {"m.hs6", "m.hs6::text", "HS_CODE"},
    {"m.destination", "m.destination::text", "DESTINATION"},
};
#define N_DIMS 6

/* True for a month written YYYY-MM. */
static bool month_valid(const char *s)
{
    char date[11];
    if (strlen(s) != 7)
        return false;
    snprintf(date, sizeof(date), "%s-01", s);
    return ovop_date_valid(date);
}

typedef struct stats_ctx {
    ovop_call_t *call;
    int order[N_DIMS]; /* dimensions in the order of the select list */
    int n;
} stats_ctx_t;

/* Answers the rows, dimensions in select-list order, then the sums. */
static void on_stats(PGresult *res, const char *error, void *userdata)
{
    stats_ctx_t *cx = userdata;
    if (error) {
        ovop_call_fail_db(cx->call, res, error);
        free(cx);
        return;
    }
    int rows = PQntuples(res);
    Ovop__V1__StatsRow *r = xcalloc((size_t)rows + 1, sizeof(*r));
    Ovop__V1__StatsRow **ptrs = xcalloc((size_t)rows + 1, sizeof(*ptrs));
    for (int i = 0; i < rows; i++) {
        ovop__v1__stats_row__init(&r[i]);
        for (int k = 0; k < cx->n; k++) {
            char *v = PQgetvalue(res, i, k);
            switch (cx->order[k]) {
            case OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_MONTH:
                r[i].month = v;
                break;
            case OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_REGION:
                r[i].region = v;
                break;
            case OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DISTRICT:
                r[i].district = v;
                break;
            case OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_HS_CODE:
                r[i].hs_code = v;
                break;
            default:
                r[i].destination = v;
                break;
            }
        }
        r[i].tonnes = strtod(PQgetvalue(res, i, cx->n), NULL);
        r[i].value_usd_cents = strtoll(PQgetvalue(res, i, cx->n + 1), NULL, 10);
        r[i].value_som_tyiyn = strtoll(PQgetvalue(res, i, cx->n + 2), NULL, 10);
        r[i].shipments = strtoll(PQgetvalue(res, i, cx->n + 3), NULL, 10);
        ptrs[i] = &r[i];
    }
    Ovop__V1__ExportStatisticsResponse out = OVOP__V1__EXPORT_STATISTICS_RESPONSE__INIT;
    out.n_rows = (size_t)rows;
    out.rows = ptrs;
    ovop_call_finish(cx->call, &out.base);
    free(r);
    free(ptrs);
    free(cx);
}

/* The SQL text depends only on the set of dimensions (at most 32 texts), never on values. */
static void get_statistics(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ExportStatisticsRequest *in = (const Ovop__V1__ExportStatisticsRequest *)input;
    exports_t *e = userdata;
    bool want[N_DIMS] = {false};
    char prefix[15];

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

    stats_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    ovop_buf_t sql, group;
    ovop_buf_init(&sql);
    ovop_buf_init(&group);
    ovop_buf_puts(&sql, "SELECT ");
    for (int d = 1; d < N_DIMS; d++) {
        if (!want[d])
            continue;
        cx->order[cx->n++] = d;
        ovop_buf_printf(&sql, "%s, ", dims[d].text);
        ovop_buf_printf(&group, "%s%s", group.len ? ", " : "", dims[d].column);
    }
    ovop_buf_puts(&sql, "(coalesce(sum(m.net_g), 0) / 1000000.0)::text, "
                        "coalesce(sum(m.usd_cents), 0), coalesce(sum(m.som_tyiyn), 0), "
                        "coalesce(sum(m.shipments), 0) "
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
    const char *params[] = {in->from_month, in->to_month, prefix, in->hs_prefix, in->destination};
    ovop_call_query(call, e->pg, sql.data, 5, params, on_stats, cx);
    ovop_buf_free(&sql);
    ovop_buf_free(&group);
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
    {"GetExportStatistics", get_statistics, NULL},
};

void exports_stats_register(exports_t *e)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(e->d), methods, e);
}
