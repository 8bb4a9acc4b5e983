/* The dashboard's pages, server-rendered: every value from the services is HTML-escaped
 * (web_html_escape, web_template); the map is an inline SVG of the territories' coordinates
 * (an equirectangular projection scaled by the cosine of the mean latitude), one circle per
 * district coloured by the share of its villages with a declared specialization, regions
 * drawn as a dashed ring around their districts with their names. No tiles, no script. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dash.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/programme.pb-c.h"
#include "web.h"

extern const char web_tpl_dashboard[];
extern const char web_tpl_signin[];

#define MAP_W    800.0
#define MAP_H    420.0
#define MAP_PAD  45.0
#define RING_MAX 60.0 /* a region spread wide gets a ring this big, not one over the map */

static void links(ovop_buf_t *out, web_lang_t cur, const char *path)
{
    static const char *const native[WEB_LANG_COUNT] = {"English", "Кыргызча", "Русский", "日本語",
                                                       "中文"};
    static const web_lang_t order[] = {WEB_LANG_KY, WEB_LANG_RU, WEB_LANG_EN};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(order); i++) {
        web_lang_t l = order[i];
        ovop_buf_printf(out, "<a href=\"%s?lang=%s\" hreflang=\"%s\"%s>%s</a>", path,
                        web_lang_tag(l), web_lang_tag(l), l == cur ? " aria-current=\"true\"" : "",
                        native[l]);
    }
}

static const char *name(web_lang_t l, const dash_place_t *p)
{
    if (l == WEB_LANG_RU && p->name_ru[0])
        return p->name_ru;
    if (l == WEB_LANG_KY && p->name_ky[0])
        return p->name_ky;
    return p->name_en;
}

/* Colour class c0 (no villages) .. c5 (80% and more covered). */
static int bucket(const dash_place_t *p)
{
    if (p->villages == 0)
        return 0;
    int pct = p->specialized * 100 / p->villages;
    return pct >= 80 ? 5 : pct >= 60 ? 4 : pct >= 40 ? 3 : pct >= 20 ? 2 : 1;
}

typedef struct proj {
    double lon0, lat1, sx, k;
} proj_t;

static proj_t projection(const dash_data_t *d)
{
    double lo0 = 1e9, lo1 = -1e9, la0 = 1e9, la1 = -1e9;
    for (size_t i = 0; i < d->n_places; i++) {
        const dash_place_t *p = &d->places[i];
        if (!p->located)
            continue;
        lo0 = fmin(lo0, p->lon), lo1 = fmax(lo1, p->lon);
        la0 = fmin(la0, p->lat), la1 = fmax(la1, p->lat);
    }
    if (lo0 > lo1) /* nothing located: Kyrgyzstan's box */
        lo0 = 69.2, lo1 = 80.3, la0 = 39.2, la1 = 43.3;
    proj_t pr = {lo0, la1, cos((la0 + la1) / 2 * M_PI / 180), 1};
    double w = fmax((lo1 - lo0) * pr.sx, 0.01), h = fmax(la1 - la0, 0.01);
    pr.k = fmin((MAP_W - 2 * MAP_PAD) / w, (MAP_H - 2 * MAP_PAD) / h);
    return pr;
}

static void project(const proj_t *pr, const dash_place_t *p, double *x, double *y)
{
    *x = MAP_PAD + (p->lon - pr->lon0) * pr->sx * pr->k;
    *y = MAP_PAD + (pr->lat1 - p->lat) * pr->k;
}

static void district_shape(ovop_buf_t *out, web_lang_t l, const proj_t *pr, const dash_place_t *p)
{
    double x, y;
    project(pr, p, &x, &y);
    ovop_buf_printf(out,
                    "<a href=\"#t-%s\"><circle class=\"district c%d\" data-code=\"%s\" "
                    "cx=\"%.1f\" cy=\"%.1f\" r=\"9\"><title>",
                    p->code, bucket(p), p->code, x, y);
    web_html_escape(out, name(l, p));
    ovop_buf_printf(out, ": %d / %d %s%s</title></circle></a>\n", p->specialized, p->villages,
                    web_text(l, "dash_villages_specialized"),
                    p->approximate ? web_text(l, "dash_approximate") : "");
}

/* A region: a dashed ring around its districts and its name at its own point. */
static void region_shape(ovop_buf_t *out, web_lang_t l, const proj_t *pr, const dash_data_t *d,
                         const dash_place_t *r)
{
    double cx = 0, cy = 0, rad = 14;
    int n = 0;
    for (size_t i = 0; i < d->n_places; i++) {
        const dash_place_t *p = &d->places[i];
        if (p->is_district && p->located && strcmp(p->region, r->code) == 0) {
            double x, y;
            project(pr, p, &x, &y);
            cx += x, cy += y, n++;
        }
    }
    if (n == 0 && !r->located)
        return;
    if (n == 0)
        project(pr, r, &cx, &cy);
    else
        cx /= n, cy /= n;
    for (size_t i = 0; i < d->n_places; i++) {
        const dash_place_t *p = &d->places[i];
        if (p->is_district && p->located && strcmp(p->region, r->code) == 0) {
            double x, y;
            project(pr, p, &x, &y);
            rad = fmax(rad, hypot(x - cx, y - cy) + 14);
        }
    }
    rad = fmin(rad, RING_MAX);
    ovop_buf_printf(out,
                    "<g class=\"region-group\" data-code=\"%s\"><a href=\"#t-%s\">"
                    "<circle class=\"region c%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"><title>",
                    r->code, r->code, bucket(r), cx, cy, rad);
    web_html_escape(out, name(l, r));
    ovop_buf_printf(out, ": %d / %d %s</title></circle>", r->specialized, r->villages,
                    web_text(l, "dash_villages_specialized"));
    ovop_buf_printf(out,
                    "<text class=\"region-label\" x=\"%.1f\" y=\"%.1f\" "
                    "text-anchor=\"middle\">",
                    cx, fmax(cy - rad - 3, 12));
    web_html_escape(out, name(l, r));
    ovop_buf_puts(out, "</text></a></g>\n");
}

static void render_map(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    proj_t pr = projection(d);
    ovop_buf_printf(out,
                    "<svg class=\"map\" id=\"map\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" "
                    "aria-labelledby=\"map-title\"><title id=\"map-title\">",
                    MAP_W, MAP_H);
    web_html_escape(out, web_text(l, "dash_map"));
    ovop_buf_puts(out, "</title>\n");
    for (size_t i = 0; i < d->n_places; i++)
        if (d->places[i].is_region)
            region_shape(out, l, &pr, d, &d->places[i]);
    for (size_t i = 0; i < d->n_places; i++)
        if (d->places[i].is_district && d->places[i].located)
            district_shape(out, l, &pr, &d->places[i]);
    ovop_buf_puts(out, "</svg>\n");
}

static void render_legend(ovop_buf_t *out, web_lang_t l)
{
    static const char *const ranges[] = {"", "0–19%", "20–39%", "40–59%", "60–79%", "80–100%"};
    ovop_buf_puts(out, "<ul class=\"legend\" id=\"legend\">");
    for (int i = 0; i < 6; i++) {
        ovop_buf_printf(out, "<li><span class=\"c%d\"></span>", i);
        ovop_buf_puts(out, i == 0 ? web_text(l, "dash_no_villages") : ranges[i]);
        ovop_buf_puts(out, "</li>");
    }
    ovop_buf_printf(out, "</ul><p class=\"muted\">%s</p>\n", web_text(l, "dash_coverage_note"));
}

static void coverage_table(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    ovop_buf_printf(out,
                    "<table id=\"coverage\"><thead><tr><th>%s</th><th>%s</th><th class=\"n\">%s"
                    "</th><th class=\"n\">%s</th><th class=\"n\">%%</th></tr></thead><tbody>\n",
                    web_text(l, "dash_territory"), web_text(l, "dash_level"),
                    web_text(l, "dash_villages"), web_text(l, "dash_specialized"));
    for (size_t i = 0; i < d->n_places; i++) {
        const dash_place_t *p = &d->places[i];
        ovop_buf_printf(out,
                        "<tr id=\"t-%s\" data-code=\"%s\" data-villages=\"%d\" "
                        "data-specialized=\"%d\"><td>",
                        p->code, p->code, p->villages, p->specialized);
        web_html_escape(out, name(l, p));
        ovop_buf_printf(out,
                        "</td><td>%s</td><td class=\"n\">%d</td><td class=\"n\">%d</td>"
                        "<td class=\"n\">%d</td></tr>\n",
                        web_text(l, p->is_region ? "region" : "district"), p->villages,
                        p->specialized, p->villages ? p->specialized * 100 / p->villages : 0);
    }
    ovop_buf_puts(out, "</tbody></table>\n");
}

static const char *place_name(web_lang_t l, const dash_data_t *d, const char *code)
{
    for (size_t i = 0; i < d->n_places; i++)
        if (strcmp(d->places[i].code, code) == 0)
            return name(l, &d->places[i]);
    return code;
}

static void *unpack(const void *b, const ProtobufCMessageDescriptor *desc)
{
    size_t n;
    memcpy(&n, b, sizeof(n));
    return protobuf_c_message_unpack(desc, NULL, n, (const uint8_t *)b + sizeof(n));
}

static void money(ovop_buf_t *out, int64_t minor)
{
    ovop_buf_printf(out, "%lld.%02lld", (long long)(minor / 100), (long long)llabs(minor % 100));
}

/* Destinations of a region: "CN 12.0 t, KZ 3.5 t". */
static void destinations(ovop_buf_t *out, const Ovop__V1__ExportStatisticsResponse *dest,
                         const char *region)
{
    int n = 0;
    for (size_t j = 0; dest && j < dest->n_rows; j++) {
        const Ovop__V1__StatsRow *r = dest->rows[j];
        if (strcmp(r->region, region) != 0)
            continue;
        ovop_buf_puts(out, n++ ? ", " : "");
        ovop_buf_printf(out, "<span class=\"dest\" data-dest=\"");
        web_html_escape(out, r->destination);
        ovop_buf_puts(out, "\">");
        web_html_escape(out, r->destination);
        ovop_buf_printf(out, " %.1f t</span>", r->tonnes);
    }
}

static void render_exports(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    Ovop__V1__ExportStatisticsResponse *reg =
        unpack(d->exports_region, &ovop__v1__export_statistics_response__descriptor);
    Ovop__V1__ExportStatisticsResponse *dest =
        unpack(d->exports_dest, &ovop__v1__export_statistics_response__descriptor);
    ovop_buf_printf(out,
                    "<table id=\"exports\"><thead><tr><th>%s</th><th class=\"n\">%s</th>"
                    "<th class=\"n\">%s</th><th class=\"n\">%s</th><th>%s</th></tr></thead>"
                    "<tbody>\n",
                    web_text(l, "region"), web_text(l, "dash_tonnes"), web_text(l, "dash_usd"),
                    web_text(l, "dash_shipments"), web_text(l, "dash_destinations"));
    for (size_t i = 0; reg && i < reg->n_rows; i++) {
        const Ovop__V1__StatsRow *r = reg->rows[i];
        ovop_buf_printf(out, "<tr data-region=\"");
        web_html_escape(out, r->region);
        ovop_buf_printf(out, "\" data-shipments=\"%lld\" data-usd-cents=\"%lld\"><td>",
                        (long long)r->shipments, (long long)r->value_usd_cents);
        web_html_escape(out, place_name(l, d, r->region));
        ovop_buf_printf(out, "</td><td class=\"n\">%.1f</td><td class=\"n\">", r->tonnes);
        money(out, r->value_usd_cents);
        ovop_buf_printf(out, "</td><td class=\"n\">%lld</td><td>", (long long)r->shipments);
        destinations(out, dest, r->region);
        ovop_buf_puts(out, "</td></tr>\n");
    }
    if (!reg || reg->n_rows == 0)
        ovop_buf_printf(out, "<tr><td colspan=\"5\">%s</td></tr>", web_text(l, "dash_none"));
    ovop_buf_puts(out, "</tbody></table>\n");
    if (reg)
        ovop__v1__export_statistics_response__free_unpacked(reg, NULL);
    if (dest)
        ovop__v1__export_statistics_response__free_unpacked(dest, NULL);
}

static void render_certs(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    static const char *const st[] = {"dash_valid", "dash_suspended", "dash_revoked",
                                     "dash_expired"};
    ovop_buf_printf(out, "<table id=\"certs\"><thead><tr><th>%s</th>", web_text(l, "stars"));
    for (int s = 0; s < 4; s++)
        ovop_buf_printf(out, "<th class=\"n\">%s</th>", web_text(l, st[s]));
    ovop_buf_printf(out, "<th class=\"n\">%s</th></tr></thead><tbody>\n",
                    web_text(l, "dash_total"));
    for (int stars = 5; stars >= 1; stars--) {
        int64_t total = 0;
        ovop_buf_printf(out, "<tr data-stars=\"%d\"><td>", stars);
        for (int i = 0; i < stars; i++)
            ovop_buf_puts(out, "★");
        ovop_buf_puts(out, "</td>");
        for (int s = 1; s <= 4; s++) {
            ovop_buf_printf(out, "<td class=\"n\" data-status=\"%d\">%lld</td>", s,
                            (long long)d->certs[stars][s]);
            total += d->certs[stars][s];
        }
        ovop_buf_printf(out, "<td class=\"n total\">%lld</td></tr>\n", (long long)total);
    }
    ovop_buf_puts(out, "</tbody></table>\n");
}

static void render_programmes(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    static const char *const kinds[] = {"",           "dash_training", "dash_mentoring",
                                        "dash_grant", "dash_fair",     "dash_mission"};
    static const char *const st[] = {"", "dash_planned", "dash_running", "dash_finished",
                                     "dash_cancelled"};
    ovop_buf_printf(out, "<table id=\"programmes\"><thead><tr><th>%s</th>",
                    web_text(l, "dash_kind"));
    for (int s = 1; s <= 4; s++)
        ovop_buf_printf(out, "<th class=\"n\">%s</th>", web_text(l, st[s]));
    ovop_buf_printf(out, "<th class=\"n\">%s</th></tr></thead><tbody>\n",
                    web_text(l, "dash_participants"));
    for (int k = 1; k <= 5; k++) {
        ovop_buf_printf(out, "<tr data-kind=\"%d\"><td>%s</td>", k, web_text(l, kinds[k]));
        for (int s = 1; s <= 4; s++)
            ovop_buf_printf(out, "<td class=\"n\" data-status=\"%d\">%lld</td>", s,
                            (long long)d->programmes[k][s]);
        ovop_buf_printf(out, "<td class=\"n participants\">%lld</td></tr>\n",
                        (long long)d->participants[k]);
    }
    ovop_buf_puts(out, "</tbody></table>\n");
}

static void render_funds(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    Ovop__V1__FundsDisbursedResponse *f =
        unpack(d->funds, &ovop__v1__funds_disbursed_response__descriptor);
    ovop_buf_printf(out,
                    "<h3>%s</h3><table id=\"funds\"><thead><tr><th>%s</th><th>%s</th>"
                    "<th class=\"n\">%s</th><th class=\"n\">%s</th></tr></thead><tbody>\n",
                    web_text(l, "dash_funds"), web_text(l, "region"),
                    web_text(l, "dash_stakeholder"), web_text(l, "dash_grants"),
                    web_text(l, "dash_som"));
    for (size_t i = 0; f && i < f->n_rows; i++) {
        const Ovop__V1__FundsRow *r = f->rows[i];
        ovop_buf_printf(out, "<tr data-minor=\"%lld\"><td>",
                        (long long)(r->amount ? r->amount->minor : 0));
        web_html_escape(out, r->region_name[0] ? r->region_name : r->region_code);
        ovop_buf_puts(out, "</td><td>");
        web_html_escape(out, r->stakeholder_name);
        ovop_buf_printf(out, "</td><td class=\"n\">%d</td><td class=\"n\">", r->grants);
        money(out, r->amount ? r->amount->minor : 0);
        ovop_buf_puts(out, "</td></tr>\n");
    }
    if (!f || f->n_rows == 0)
        ovop_buf_printf(out, "<tr><td colspan=\"4\">%s</td></tr>", web_text(l, "dash_none"));
    ovop_buf_puts(out, "</tbody></table>\n");
    if (f)
        ovop__v1__funds_disbursed_response__free_unpacked(f, NULL);
}

static void render_events(ovop_buf_t *out, web_lang_t l, const dash_data_t *d)
{
    Ovop__V1__ListRecentEventsResponse *ev =
        unpack(d->events, &ovop__v1__list_recent_events_response__descriptor);
    ovop_buf_printf(out,
                    "<table id=\"events\"><thead><tr><th class=\"n\">#</th><th>%s</th>"
                    "<th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>\n",
                    web_text(l, "dash_time"), web_text(l, "dash_event"),
                    web_text(l, "dash_subject"), web_text(l, "dash_territory"));
    for (size_t i = 0; ev && i < ev->n_events; i++) {
        const Ovop__V1__RecentEvent *e = ev->events[i];
        char when[32] = "";
        time_t t = (time_t)(e->time_us / 1000000);
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        ovop_buf_printf(out, "<tr data-seq=\"%lld\"><td class=\"n\">%lld</td><td>%s</td><td>",
                        (long long)e->seq, (long long)e->seq, when);
        web_html_escape(out, e->type);
        ovop_buf_puts(out, "</td><td>");
        web_html_escape(out, e->subject);
        ovop_buf_puts(out, "</td><td>");
        web_html_escape(out, e->soate[0] ? place_name(l, d, e->soate) : "");
        ovop_buf_puts(out, "</td></tr>\n");
    }
    if (!ev || ev->n_events == 0)
        ovop_buf_printf(out, "<tr><td colspan=\"5\">%s</td></tr>", web_text(l, "dash_none"));
    ovop_buf_puts(out, "</tbody></table>\n");
    if (ev)
        ovop__v1__list_recent_events_response__free_unpacked(ev, NULL);
}

void dash_render(ovop_buf_t *out, web_lang_t l, const dash_data_t *d, const char *principal)
{
    ovop_buf_t parts[9];
    for (int i = 0; i < 9; i++) {
        ovop_buf_init(&parts[i]);
        ovop_buf_puts(&parts[i], "");
    }
    links(&parts[0], l, "/");
    render_map(&parts[1], l, d);
    render_legend(&parts[2], l);
    coverage_table(&parts[3], l, d);
    render_exports(&parts[4], l, d);
    render_certs(&parts[5], l, d);
    render_programmes(&parts[6], l, d);
    render_funds(&parts[7], l, d);
    render_events(&parts[8], l, d);
    char asof[32] = "";
    time_t t = (time_t)(d->fetched_us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(asof, sizeof(asof), "%Y-%m-%dT%H:%M:%SZ", &tm);
    const web_var_t vars[] = {
        {"lang", web_lang_tag(l)},
        {"lang_links", parts[0].data},
        {"principal", principal},
        {"asof", asof},
        {"map", parts[1].data},
        {"legend", parts[2].data},
        {"coverage_table", parts[3].data},
        {"exports", parts[4].data},
        {"certs", parts[5].data},
        {"programmes", parts[6].data},
        {"funds", parts[7].data},
        {"events", parts[8].data},
    };
    web_template(out, web_tpl_dashboard, l, vars, OVOP_ARRAY_SIZE(vars));
    for (int i = 0; i < 9; i++)
        ovop_buf_free(&parts[i]);
}

void dash_render_signin(ovop_buf_t *out, web_lang_t l, const char *code, int64_t ttl_s)
{
    ovop_buf_t lk;
    ovop_buf_init(&lk);
    ovop_buf_puts(&lk, "");
    links(&lk, l, "/signin");
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%lld", (long long)ttl_s);
    const web_var_t vars[] = {
        {"lang", web_lang_tag(l)}, {"lang_links", lk.data}, {"code", code}, {"ttl", ttl}};
    web_template(out, web_tpl_signin, l, vars, OVOP_ARRAY_SIZE(vars));
    ovop_buf_free(&lk);
}
