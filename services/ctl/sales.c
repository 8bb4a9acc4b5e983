/* ovopctl sales and channel: producers' monthly sales and jobs reports, their statistics
 * beside exports, and the sales channels (ovop.programme). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/programme.pb-c.h"

#define SERVICE "ovop.programme"

static const char *som(int64_t tyiyn, char out[static 32])
{
    snprintf(out, 32, "%s%lld.%02lld", tyiyn < 0 ? "-" : "", llabs(tyiyn) / 100,
             llabs(tyiyn) % 100);
    return out;
}

/* --- channel --- */

static void print_channel(const ProtobufCMessage *m)
{
    const Ovop__V1__SalesChannel *s = (const Ovop__V1__SalesChannel *)m;
    ctl_print_int_cell(s->id, 6);
    ctl_print_cell(ctl_enum_name(&ovop__v1__channel_kind__descriptor, s->kind), 20);
    ctl_print_cell(s->territory_code[0] ? s->territory_code : "-", 15);
    printf("%s\n", s->name);
}

static const ctl_column_t channel_columns[] = {
    {"ID", 6}, {"KIND", 20}, {"TERRITORY", 15}, {"NAME", 0}};

static void print_one_channel(const ProtobufCMessage *m)
{
    ctl_print_header(channel_columns, OVOP_ARRAY_SIZE(channel_columns));
    print_channel(m);
}

static int channel_add(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl channel add",
        .usage = "--kind K --name N [--territory SOATE]",
        .summary = "Registers a sales channel (ovop_shop, fair, online_marketplace, "
                   "wholesale_domestic, export).",
        .needs = "channel add needs --kind and --name",
        .unexpected = true};
    char *kind = NULL, *name = NULL, *territory = NULL;
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0,
         "ovop_shop, fair, online_marketplace, wholesale_domestic, export", &kind},
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "its name (unique per kind)", &name},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "where it is (SOATE)", &territory},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, k = 0;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!kind || !name))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__channel_kind__descriptor, "--kind", kind, &k);
    if (r == 0) {
        Ovop__V1__SalesChannel s = OVOP__V1__SALES_CHANNEL__INIT;
        s.kind = k;
        s.name = name;
        s.territory_code = territory ? territory : "";
        Ovop__V1__CreateChannelRequest in = OVOP__V1__CREATE_CHANNEL_REQUEST__INIT;
        in.channel = &s;
        r = ctl_call_show(c, SERVICE, "CreateChannel", &in.base,
                          &ovop__v1__sales_channel__descriptor, print_one_channel);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int parse_channel_kind(const char *s, int64_t *ret)
{
    int v;
    int r = ctl_programme_enum(&ovop__v1__channel_kind__descriptor, "--kind", s, &v);
    *ret = v;
    return r;
}

static const ctl_filter_t channel_filters[] = {
    {.name = "kind",
     .type = OVOP_OPT_STRING,
     .help = "only channels of this kind",
     .field = "kind",
     .parse = parse_channel_kind},
};

static const ctl_list_verb_t channel_list = {
    .verb = {.prog = "ovopctl channel list",
             .usage = "[--kind K]",
             .summary = "Lists the sales channels.",
             .unexpected = true},
    .filters = channel_filters,
    .n_filters = OVOP_ARRAY_SIZE(channel_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_channels_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListChannels",
             .response = &ovop__v1__list_channels_response__descriptor,
             .rows = "channels",
             .columns = channel_columns,
             .n_columns = OVOP_ARRAY_SIZE(channel_columns),
             .print_row = print_channel,
             .one = "channel",
             .many = "channels"},
};

int ctl_channel(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "add", .run = channel_add},
        {.name = "list", .run_with = ctl_list_cmd, .list = &channel_list},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl channel add|list ...");
}

/* --- sales report, show --- */

static void print_report(const ProtobufCMessage *m)
{
    const Ovop__V1__SalesReport *r = (const Ovop__V1__SalesReport *)m;
    static const ctl_column_t cols[] = {{"HS", 7},   {"CHANNEL", 8}, {"QUANTITY", 12},
                                        {"UNIT", 5}, {"KGS", 14},    {"MARKET", 0}};
    char a[32], b[32];
    printf("sales report producer %lld, %s, revision %d%s\n", (long long)r->producer_id, r->month,
           r->revision, r->superseded ? " (superseded)" : "");
    printf("territory    %s\n", r->territory_code);
    printf("jobs         %d employees, %d seasonal workers\n", r->jobs ? r->jobs->employees : 0,
           r->jobs ? r->jobs->seasonal_workers : 0);
    printf("reported by  %s\n", r->reported_by);
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < r->n_lines; i++) {
        const Ovop__V1__SalesLine *l = r->lines[i];
        ctl_print_cell(l->hs_code, 7);
        ctl_print_int_cell(l->channel_id, 8);
        ctl_print_cell(ctl_amount(l->quantity, a), 12);
        ctl_print_cell(l->unit, 5);
        ctl_print_cell(l->value ? som(l->value->minor, b) : "-", 14);
        printf("%s\n", ctl_enum_name(&ovop__v1__market__descriptor, l->market));
    }
}

/* HS:CHANNEL:QUANTITY:SOM[:domestic|export] */
static int parse_line(const char *s, Ovop__V1__SalesLine *l, Ovop__V1__Money *v, char *buf)
{
    char *f[5] = {0};
    size_t n = 0;
    strcpy(buf, s);
    for (char *p = buf, *tok; n < 5 && (tok = strsep(&p, ":"));)
        f[n++] = tok;
    char *end = NULL;
    if (n < 4 || n > 5 || !*f[0])
        goto bad;
    l->hs_code = f[0];
    if (ctl_parse_id("a line's channel", f[1], &l->channel_id) != 0)
        return CTL_EXIT_USAGE;
    l->quantity = strtod(f[2], &end);
    if (end == f[2] || *end || !isfinite(l->quantity))
        goto bad;
    if (ctl_parse_money("a line's value", f[3], &v->minor) != 0)
        return CTL_EXIT_USAGE;
    v->currency = "KGS";
    l->value = v;
    l->unit = "";
    l->market = OVOP__V1__MARKET__MARKET_DOMESTIC;
    if (n == 5 && strcmp(f[4], "export") == 0)
        l->market = OVOP__V1__MARKET__MARKET_EXPORT;
    else if (n == 5 && strcmp(f[4], "domestic") != 0)
        goto bad;
    return 0;
bad:
    fprintf(stderr,
            "ovopctl: --line must be HS:CHANNEL:QUANTITY:SOM[:domestic|export], got "
            "\"%s\"\n",
            s);
    return CTL_EXIT_USAGE;
}

typedef struct report_parts {
    Ovop__V1__SalesLine *lines;
    Ovop__V1__SalesLine **ptrs;
    Ovop__V1__Money *values;
    char **bufs;
    size_t n;
} report_parts_t;

static int fill_lines(char **flags, size_t n, report_parts_t *p, Ovop__V1__SalesReport *r)
{
    p->n = n;
    p->lines = xcalloc(n + 1, sizeof(*p->lines));
    p->ptrs = xcalloc(n + 1, sizeof(*p->ptrs));
    p->values = xcalloc(n + 1, sizeof(*p->values));
    p->bufs = xcalloc(n + 1, sizeof(*p->bufs));
    for (size_t i = 0; i < n; i++) {
        p->lines[i] = (Ovop__V1__SalesLine)OVOP__V1__SALES_LINE__INIT;
        p->values[i] = (Ovop__V1__Money)OVOP__V1__MONEY__INIT;
        p->bufs[i] = xmalloc(strlen(flags[i]) + 1);
        p->ptrs[i] = &p->lines[i];
        if (parse_line(flags[i], &p->lines[i], &p->values[i], p->bufs[i]) != 0)
            return CTL_EXIT_USAGE;
    }
    r->lines = p->ptrs;
    r->n_lines = n;
    return 0;
}

static void free_parts(report_parts_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->bufs[i]);
    free(p->bufs);
    free(p->lines);
    free(p->ptrs);
    free(p->values);
}

static int sales_report(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl sales report",
        .usage = "PRODUCER_ID YYYY-MM --line HS:CHANNEL:QTY:SOM[:export]... [--employees N] "
                 "[--seasonal N] [--expected-revision R]",
        .summary = "Submits a producer's monthly sales and jobs report; again for the same month "
                   "it is a correction (a new revision).",
        .n_args = 2,
        .flags_anywhere = true};
    char **line_flags = NULL;
    size_t n_lines = 0;
    int64_t employees = 0, seasonal = 0, expected = 0;
    const ovop_opt_t opts[] = {
        {"employees", OVOP_OPT_INT, "0", 0, 100000, "employees this month", &employees},
        {"seasonal", OVOP_OPT_INT, "0", 0, 100000, "seasonal workers this month", &seasonal},
        {"expected-revision", OVOP_OPT_INT, "0", -1, INT32_MAX,
         "the current revision you correct (-1: none yet; 0: no check)", &expected},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    report_parts_t parts = {0};
    Ovop__V1__SalesReport rep = OVOP__V1__SALES_REPORT__INIT;
    Ovop__V1__Jobs jobs = OVOP__V1__JOBS__INIT;
    int r = ctl_take_repeated(&argc, argv, "line", &line_flags, &n_lines);
    if (r == 0)
        r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("producer id", argv[argi], &rep.producer_id);
    if (r == 0)
        r = fill_lines(line_flags, n_lines, &parts, &rep);
    if (r == 0) {
        rep.month = argv[argi + 1];
        jobs.employees = (int32_t)employees;
        jobs.seasonal_workers = (int32_t)seasonal;
        rep.jobs = &jobs;
        Ovop__V1__SubmitSalesReportRequest in = OVOP__V1__SUBMIT_SALES_REPORT_REQUEST__INIT;
        in.report = &rep;
        in.expected_revision = (int32_t)expected;
        r = ctl_call_show(c, SERVICE, "SubmitSalesReport", &in.base,
                          &ovop__v1__sales_report__descriptor, print_report);
    }
    free_parts(&parts);
    free(line_flags);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int sales_show(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl sales show",
        .usage = "PRODUCER_ID YYYY-MM [--revision R]",
        .summary = "Shows a producer's sales report of a month (an earlier revision with "
                   "--revision).",
        .n_args = 2,
        .flags_anywhere = true};
    int64_t revision = 0;
    const ovop_opt_t opts[] = {
        {"revision", OVOP_OPT_INT, "0", 0, INT32_MAX, "a revision (0: the current one)", &revision},
    };
    int argi;
    Ovop__V1__GetSalesReportRequest in = OVOP__V1__GET_SALES_REPORT_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("producer id", argv[argi], &in.producer_id);
    if (r == 0) {
        in.month = argv[argi + 1];
        in.revision = (int32_t)revision;
        r = ctl_call_show(c, SERVICE, "GetSalesReport", &in.base,
                          &ovop__v1__sales_report__descriptor, print_report);
    }
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- sales stats --- */

static void print_stats(const ProtobufCMessage *m)
{
    const Ovop__V1__SalesStatsResponse *s = (const Ovop__V1__SalesStatsResponse *)m;
    static const ctl_column_t cols[] = {
        {"KEY", 15}, {"DOMESTIC KGS", 14}, {"EXPORT KGS", 14},           {"REPORTS", 8},
        {"JOBS", 6}, {"SEASONAL", 9},      {"EXPORTS DEPARTED KGS", 21}, {"LABEL", 0}};
    char a[32], b[32], e[32];
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < s->n_rows; i++) {
        const Ovop__V1__SalesStatsRow *r = s->rows[i];
        ctl_print_cell(r->key, 15);
        ctl_print_cell(som(r->domestic ? r->domestic->minor : 0, a), 14);
        ctl_print_cell(som(r->export ? r->export->minor : 0, b), 14);
        ctl_print_int_cell(r->reports, 8);
        ctl_print_int_cell(r->employees, 6);
        ctl_print_int_cell(r->seasonal_workers, 9);
        ctl_print_cell(r->exports_available
                           ? som(r->exports_departed ? r->exports_departed->minor : 0, e)
                           : "-",
                       21);
        printf("%s\n", r->label);
    }
}

static int sales_stats(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl sales stats",
        .usage = "--by region|district|hs_code|channel [--from YYYY-MM] [--to YYYY-MM] "
                 "[--territory SOATE] [--hs PREFIX]",
        .summary = "Sales and jobs of the current reports, grouped, beside exports' departed "
                   "lots.",
        .needs = "sales stats needs --by region, district, hs_code or channel",
        .unexpected = true};
    char *by = NULL, *from = NULL, *to = NULL, *territory = NULL, *hs = NULL;
    const ovop_opt_t opts[] = {
        {"by", OVOP_OPT_STRING, NULL, 0, 0, "region, district, hs_code or channel", &by},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "first month (YYYY-MM)", &from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "last month (YYYY-MM)", &to},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "only inside this territory (SOATE)",
         &territory},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "only HS codes starting so (2-6 digits)", &hs},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, g = 0;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !by)
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__sales_group__descriptor, "--by", by, &g);
    if (r == 0) {
        Ovop__V1__SalesStatsRequest in = OVOP__V1__SALES_STATS_REQUEST__INIT;
        in.group_by = g;
        in.from_month = from ? from : "";
        in.to_month = to ? to : "";
        in.territory_code = territory ? territory : "";
        in.hs_prefix = hs ? hs : "";
        r = ctl_call_show(c, SERVICE, "SalesStats", &in.base,
                          &ovop__v1__sales_stats_response__descriptor, print_stats);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_sales(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "report", .run = sales_report},
        {.name = "show", .run = sales_show},
        {.name = "stats", .run = sales_stats},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl sales report|show|stats ...");
}
