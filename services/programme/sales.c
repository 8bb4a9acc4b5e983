/* Sales channels and monthly sales reports: CreateChannel, ListChannels, SubmitSalesReport,
 * GetSalesReport. A report is checked in two steps: its form here, then what it names (the
 * producer, HS codes, channels) with one read, which also gives the current revision the
 * reply is built with; programme.submit_sales_report stores it if nothing changed since. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prog_check.h"
#include "dbcall.h"
#include "log.h"
#include "pbrow.h"
#include "programd.h"
#include "util.h"

#define DEFAULT_PAGE 50
#define MAX_PAGE     500
#define MAX_QUANTITY 1e12
#define MAX_JOBS     100000

#define CHANNEL_COLUMNS                                                                            \
    "c.id, c.kind, c.name, c.territory_code, c.created_by, "                                       \
    "(extract(epoch FROM c.created_at) * 1000000)::bigint AS created_us"

static const ovop_read_t channel_list = {
    .page = {.response = &ovop__v1__list_channels_response__descriptor,
             .rows = "channels",
             .key = "id"},
};

static bool fail_if_violations(ovop_call_t *call)
{
    if (!ovop_call_has_violations(call))
        return false;
    ovop_call_fail_violations(call);
    return true;
}

/* --- channels --- */

static void on_channel_id(PGresult *res, const char *error, void *userdata)
{
    void **ud = userdata;
    ovop_call_t *call = ud[0];
    programd_t *p = ud[1];
    Ovop__V1__SalesChannel *c = ud[2];
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    c->id = strtoll(ovop_pg_value(res, 0, "id"), NULL, 10);
    c->created_by = (char *)ovop_call_principal(call)->id;
    c->created_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", programd_num(call, c->id)},
        {"p_kind", ovop_enum_text(&ovop__v1__channel_kind__descriptor, (int)c->kind)},
        {"p_name", c->name},
        {"p_territory", c->territory_code},
        {"p_at_us", programd_num(call, c->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &c->base)},
    };
    programd_mutate(call, p, "programme.create_channel", args, OVOP_ARRAY_SIZE(args), &c->base);
}

static void create_channel(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateChannelRequest *in = (const Ovop__V1__CreateChannelRequest *)input;
    if (!in->channel) {
        ovop_call_violation(call, "channel", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__SalesChannel *c =
        (Ovop__V1__SalesChannel *)ovop_call_message(call, &ovop__v1__sales_channel__descriptor);
    *c = *in->channel;
    if (!ovop_enum_text(&ovop__v1__channel_kind__descriptor, (int)c->kind)[0])
        ovop_call_violation(call, "channel.kind",
                            "is required: ovop_shop, fair, online_marketplace, "
                            "wholesale_domestic or export");
    ovop_check_text(call, "channel.name", c->name, 300, true);
    const char *why = prog_check_soate(c->territory_code, true);
    if (why)
        ovop_call_violation(call, "channel.territory_code", "%s", why);
    if (fail_if_violations(call))
        return;
    void **ud = ovop_call_alloc(call, 3 * sizeof(void *));
    ud[0] = call;
    ud[1] = userdata;
    ud[2] = c;
    ovop_call_query(call, ((programd_t *)userdata)->pg,
                    "SELECT nextval('programme.channel_ids') AS id", 0, NULL, on_channel_id, ud);
}

static void list_channels(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__ListChannelsRequest *in = (const Ovop__V1__ListChannelsRequest *)input;
    int64_t after = 0;
    if (in->page_size < 0)
        ovop_call_violation(call, "page_size", "must not be negative");
    unsigned page = ovop_check_page_size(call, (unsigned)(in->page_size < 0 ? 0 : in->page_size),
                                         DEFAULT_PAGE, MAX_PAGE);
    ovop_check_page_token(call, in->page_token, &after);
    if (fail_if_violations(call))
        return;
    ovop_filter_t f;
    ovop_filter_init(&f, "SELECT " CHANNEL_COLUMNS " FROM programme.channels c WHERE ");
    if (in->kind)
        ovop_filter_add(&f, "c.kind = ", " AND ",
                        ovop_enum_text(&ovop__v1__channel_kind__descriptor, (int)in->kind));
    ovop_filter_add(&f, "c.id > ", "::bigint ", programd_num(call, after));
    ovop_filter_add(&f, "ORDER BY c.id LIMIT ", "::int", ovop_call_printf(call, "%u", page + 1));
    const char *sql = ovop_filter_sql(call, &f);
    ovop_read_page(call, p->pg, &channel_list, sql, f.n, f.params, page);
}

/* --- SubmitSalesReport --- */

static void check_line(ovop_call_t *call, size_t i, const Ovop__V1__SalesLine *l)
{
    const char *why;
    char *at = ovop_call_printf(call, "report.lines[%zu]", i);
    if ((why = prog_check_hs(l->hs_code, false))) {
        ovop_call_reason(call, "UNKNOWN_HS_CODE");
        ovop_call_violation(call, ovop_call_printf(call, "%s.hs_code", at), "%s", why);
    }
    if (l->channel_id <= 0)
        ovop_call_violation(call, ovop_call_printf(call, "%s.channel_id", at),
                            "must be a sales channel id");
    if (!(l->quantity > 0) || !isfinite(l->quantity) || l->quantity > MAX_QUANTITY)
        ovop_call_violation(call, ovop_call_printf(call, "%s.quantity", at),
                            "must be positive and at most 1e12, got %g", l->quantity);
    ovop_check_text(call, ovop_call_printf(call, "%s.unit", at), l->unit, 16, false);
    if (!l->value) {
        ovop_call_violation(call, ovop_call_printf(call, "%s.value", at), "is required");
    } else {
        if ((why = prog_check_minor(l->value->minor))) {
            ovop_call_reason(call, "INVALID_AMOUNT");
            ovop_call_violation(call, ovop_call_printf(call, "%s.value.minor", at), "%s", why);
        }
        if ((why = prog_check_currency(l->value->currency))) {
            ovop_call_reason(call, "UNSUPPORTED_CURRENCY");
            ovop_call_violation(call, ovop_call_printf(call, "%s.value.currency", at), "%s", why);
        }
    }
    if (!ovop_enum_text(&ovop__v1__market__descriptor, (int)l->market)[0])
        ovop_call_violation(call, ovop_call_printf(call, "%s.market", at),
                            "is required: domestic or export");
}

static void check_report(ovop_call_t *call, const programd_t *p,
                         const Ovop__V1__SubmitSalesReportRequest *in)
{
    const Ovop__V1__SalesReport *r = in->report;
    char today[11];
    prog_today(today);
    if (r->producer_id <= 0)
        ovop_call_violation(call, "report.producer_id", "must be a producer id");
    const char *why = prog_check_month(r->month, today);
    if (why) {
        ovop_call_reason(call, "INVALID_MONTH");
        ovop_call_violation(call, "report.month", "%s", why);
    }
    if (r->n_lines == 0 || r->n_lines > p->max_lines)
        ovop_call_violation(call, "report.lines", "a report has 1 to %u lines, got %zu",
                            p->max_lines, r->n_lines);
    for (size_t i = 0; i < r->n_lines && i < p->max_lines; i++)
        check_line(call, i, r->lines[i]);
    if (r->jobs && (r->jobs->employees < 0 || r->jobs->employees > MAX_JOBS))
        ovop_call_violation(call, "report.jobs.employees", "must be 0 to %d", MAX_JOBS);
    if (r->jobs && (r->jobs->seasonal_workers < 0 || r->jobs->seasonal_workers > MAX_JOBS))
        ovop_call_violation(call, "report.jobs.seasonal_workers", "must be 0 to %d", MAX_JOBS);
    if (in->expected_revision < -1)
        ovop_call_violation(call, "expected_revision",
                            "must be 0 (no check), -1 (no report yet) or a revision");
}

/* "{a,b}" of the lines' HS codes and channel ids (checked: digits only). */
static void line_arrays(ovop_call_t *call, const Ovop__V1__SalesReport *r, const char **hs,
                        const char **channels)
{
    ovop_buf_t h, c;
    ovop_buf_init(&h);
    ovop_buf_init(&c);
    for (size_t i = 0; i < r->n_lines; i++) {
        ovop_buf_printf(&h, "%s%s", i ? "," : "{", r->lines[i]->hs_code);
        ovop_buf_printf(&c, "%s%lld", i ? "," : "{", (long long)r->lines[i]->channel_id);
    }
    ovop_buf_puts(&h, "}");
    ovop_buf_puts(&c, "}");
    *hs = ovop_call_strdup(call, h.data);
    *channels = ovop_call_strdup(call, c.data);
    ovop_buf_free(&h);
    ovop_buf_free(&c);
}

static bool id_in(json_t *ids, int64_t id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        if (json_integer_value(v) == id)
            return true;
    }
    return false;
}

/* What the lines name, against the registry's HS codes and the channels; fills units. */
static void check_refs(ovop_call_t *call, Ovop__V1__SalesReport *r, json_t *units, json_t *chans)
{
    for (size_t i = 0; i < r->n_lines; i++) {
        Ovop__V1__SalesLine *l = r->lines[i];
        const char *unit = json_string_value(json_object_get(units, l->hs_code));
        char *at = ovop_call_printf(call, "report.lines[%zu]", i);
        if (!unit) {
            ovop_call_reason(call, "UNKNOWN_HS_CODE");
            ovop_call_violation(call, ovop_call_printf(call, "%s.hs_code", at),
                                "no HS code %s in the registry", l->hs_code);
        } else if (!l->unit[0]) {
            l->unit = ovop_call_strdup(call, unit);
        } else if (strcmp(l->unit, unit) != 0) {
            ovop_call_reason(call, "UNIT_MISMATCH");
            ovop_call_violation(call, ovop_call_printf(call, "%s.unit", at),
                                "HS code %s is counted in %s, not %s", l->hs_code, unit, l->unit);
        }
        if (!id_in(chans, l->channel_id)) {
            ovop_call_reason(call, "UNKNOWN_CHANNEL");
            ovop_call_violation(call, ovop_call_printf(call, "%s.channel_id", at),
                                "no sales channel with id %lld", (long long)l->channel_id);
        }
    }
}

static char *lines_json(ovop_call_t *call, const Ovop__V1__SalesReport *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_lines; i++) {
        const Ovop__V1__SalesLine *l = r->lines[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:f, s:s, s:I, s:s, s:s}", "hs6", l->hs_code, "channel_id",
                         (json_int_t)l->channel_id, "quantity", l->quantity, "unit", l->unit,
                         "value_minor", (json_int_t)l->value->minor, "currency", l->value->currency,
                         "market", ovop_enum_text(&ovop__v1__market__descriptor, (int)l->market)));
    }
    char *s = json_dumps(a, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(a);
    char *out = ovop_call_strdup(call, s);
    free(s);
    return out;
}

typedef struct submit_ctx {
    ovop_call_t *call;
    programd_t *p;
    const Ovop__V1__SubmitSalesReportRequest *in;
    Ovop__V1__SalesReport *r;
} submit_ctx_t;

static void store_report(submit_ctx_t *cx, PGresult *res)
{
    ovop_call_t *call = cx->call;
    Ovop__V1__SalesReport *r = cx->r;
    r->revision = (int32_t)strtol(ovop_pg_value(res, 0, "revision"), NULL, 10) + 1;
    r->territory_code = ovop_call_strdup(call, ovop_pg_value(res, 0, "territory_code"));
    r->reported_by = (char *)ovop_call_principal(call)->id;
    r->reported_us = ovop_now_us();
    r->superseded = false;
    int32_t ex = cx->in->expected_revision;
    const ovop_arg_t args[] = {
        {"p_producer_id", programd_num(call, r->producer_id)},
        {"p_month", ovop_call_printf(call, "%s-01", r->month)},
        {"p_revision", programd_num(call, r->revision)},
        {"p_expected", ex == 0 ? NULL : programd_num(call, ex < 0 ? 0 : ex)},
        {"p_territory", r->territory_code},
        {"p_employees", programd_num(call, r->jobs ? r->jobs->employees : 0)},
        {"p_seasonal_workers", programd_num(call, r->jobs ? r->jobs->seasonal_workers : 0)},
        {"p_lines", lines_json(call, r)},
        {"p_at_us", programd_num(call, r->reported_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &r->base)},
    };
    programd_mutate(call, cx->p, "programme.submit_sales_report", args, OVOP_ARRAY_SIZE(args),
                    &r->base);
}

static void on_report_refs(PGresult *res, const char *error, void *userdata)
{
    submit_ctx_t *cx = userdata;
    ovop_call_t *call = cx->call;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail_reason(call, OVOP_NOT_FOUND, "UNKNOWN_PRODUCER",
                              "no producer with id %lld in the registry",
                              (long long)cx->r->producer_id);
        return;
    }
    json_t *units = json_loads(ovop_pg_value(res, 0, "units"), 0, NULL);
    json_t *chans = json_loads(ovop_pg_value(res, 0, "channels"), 0, NULL);
    if (!json_is_object(units) || !json_is_array(chans)) {
        log_error("SubmitSalesReport: the reference read returned no JSON");
        json_decref(units);
        json_decref(chans);
        ovop_call_fail_internal(call);
        return;
    }
    check_refs(call, cx->r, units, chans);
    json_decref(units);
    json_decref(chans);
    if (fail_if_violations(call))
        return;
    store_report(cx, res);
}

static void submit_sales_report(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__SubmitSalesReportRequest *in =
        (const Ovop__V1__SubmitSalesReportRequest *)input;
    if (!in->report) {
        ovop_call_violation(call, "report", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    check_report(call, p, in);
    if (fail_if_violations(call))
        return;
    /* The report as stored: the request's lines (units filled in) and the service's fields. */
    Ovop__V1__SalesReport *r =
        (Ovop__V1__SalesReport *)ovop_call_message(call, &ovop__v1__sales_report__descriptor);
    *r = *in->report;
    r->lines = ovop_call_alloc(call, r->n_lines * sizeof(*r->lines));
    for (size_t i = 0; i < r->n_lines; i++) {
        r->lines[i] = ovop_call_alloc(call, sizeof(Ovop__V1__SalesLine));
        *r->lines[i] = *in->report->lines[i];
    }
    submit_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (submit_ctx_t){call, p, in, r};
    const char *params[4] = {programd_num(call, r->producer_id),
                             ovop_call_printf(call, "%s-01", r->month)};
    line_arrays(call, r, &params[2], &params[3]);
    ovop_call_query(
        call, p->pg,
        "SELECT p.territory_code, (SELECT coalesce(max(r.revision), 0) FROM "
        "programme.sales_reports r WHERE r.producer_id = p.id AND r.month = $2::date) AS revision, "
        "(SELECT coalesce(json_object_agg(h.hs6, h.unit), '{}') FROM registry_api.hs_code_units h "
        "WHERE h.hs6 = ANY ($3::bpchar[])) AS units, (SELECT coalesce(json_agg(c.id), '[]') FROM "
        "programme.channels c WHERE c.id = ANY ($4::bigint[])) AS channels "
        "FROM registry_api.producers p WHERE p.id = $1::bigint",
        4, params, on_report_refs, cx);
}

/* --- GetSalesReport --- */

static const ovop_read_t report_read = {
    .sql = "SELECT r.producer_id, to_char(r.month, 'YYYY-MM') AS month, r.revision, "
           "(SELECT json_agg(json_build_object('hs_code', l.hs6, 'channel_id', l.channel_id, "
           "'quantity', l.quantity::float8, 'unit', l.unit, 'value', json_build_object('minor', "
           "l.value_minor, 'currency', l.currency), 'market', l.market) ORDER BY l.ord) FROM "
           "programme.sales_lines l WHERE l.producer_id = r.producer_id AND l.month = r.month AND "
           "l.revision = r.revision) AS lines, r.employees AS \"jobs.employees\", "
           "r.seasonal_workers AS \"jobs.seasonal_workers\", r.territory_code, r.reported_by, "
           "(extract(epoch FROM r.reported_at) * 1000000)::bigint AS reported_us, "
           "r.superseded_at IS NOT NULL AS superseded FROM programme.sales_reports r "
           "WHERE r.producer_id = $1::bigint AND r.month = ($2 || '-01')::date "
           "AND (($3::int = 0 AND r.superseded_at IS NULL) OR r.revision = $3::int)",
    .row = &ovop__v1__sales_report__descriptor,
    .noun = "sales report",
};

static void get_sales_report(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__GetSalesReportRequest *in = (const Ovop__V1__GetSalesReportRequest *)input;
    if (in->producer_id <= 0)
        ovop_call_violation(call, "producer_id", "must be a producer id");
    const char *why = prog_check_month(in->month, "9999-12");
    if (why) {
        ovop_call_reason(call, "INVALID_MONTH");
        ovop_call_violation(call, "month", "%s", why);
    }
    if (in->revision < 0)
        ovop_call_violation(call, "revision", "must be 0 (the current one) or a revision");
    if (fail_if_violations(call))
        return;
    const char *params[] = {programd_num(call, in->producer_id), in->month,
                            programd_num(call, in->revision)};
    const char *key = ovop_call_printf(
        call, "of producer %lld for %s%s", (long long)in->producer_id, in->month,
        in->revision ? ovop_call_printf(call, " revision %d", (int)in->revision) : "");
    ovop_read_one(call, p->pg, &report_read, key, 3, params);
}

void programd_sales_register(programd_t *p)
{
    static const ovop_method_t methods[] = {
        {"CreateChannel", create_channel},
        {"ListChannels", list_channels},
        {"SubmitSalesReport", submit_sales_report},
        {"GetSalesReport", get_sales_report},
    };
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(p->d), methods, p);
}
