/* The bodies of the public pages: HTML from the templates (templates/, embedded at build)
 * with the texts of lang.c, JSON with jansson, QR codes with libqrencode. Everything that
 * comes from the registry is escaped: the templates insert values escaped unless a value is
 * HTML this file built itself. */
#include <errno.h>
#include <jansson.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#include "ovop/v1/registry.pb-c.h"
#include "pbrow.h"
#include "web.h"

extern const char web_tpl_verify[];
extern const char web_tpl_message[];

void web_html_escape(ovop_buf_t *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            ovop_buf_puts(out, "&amp;");
            break;
        case '<':
            ovop_buf_puts(out, "&lt;");
            break;
        case '>':
            ovop_buf_puts(out, "&gt;");
            break;
        case '"':
            ovop_buf_puts(out, "&quot;");
            break;
        case '\'':
            ovop_buf_puts(out, "&#39;");
            break;
        default:
            ovop_buf_append(out, s, 1);
        }
    }
}

static const char *var_value(web_lang_t l, const web_var_t *vars, size_t n_vars, const char *name,
                             size_t n)
{
    char key[64];
    if (n > 2 && strncmp(name, "t:", 2) == 0 && n - 2 < sizeof(key)) {
        memcpy(key, name + 2, n - 2);
        key[n - 2] = '\0';
        return web_text(l, key);
    }
    for (size_t i = 0; i < n_vars; i++)
        if (strlen(vars[i].name) == n && strncmp(vars[i].name, name, n) == 0)
            return vars[i].value ? vars[i].value : "";
    return "";
}

void web_template(ovop_buf_t *out, const char *tpl, web_lang_t l, const web_var_t *vars,
                  size_t n_vars)
{
    const char *p = tpl;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open) {
            ovop_buf_puts(out, p);
            return;
        }
        ovop_buf_append(out, p, (size_t)(open - p));
        bool raw = open[2] == '{';
        const char *name = open + (raw ? 3 : 2);
        const char *close = strstr(name, raw ? "}}}" : "}}");
        if (!close) {
            ovop_buf_puts(out, open);
            return;
        }
        const char *v = var_value(l, vars, n_vars, name, (size_t)(close - name));
        if (raw)
            ovop_buf_puts(out, v);
        else
            web_html_escape(out, v);
        p = close + (raw ? 3 : 2);
    }
}

/* Links to the same page in each language, the current one marked. */
static void lang_links(ovop_buf_t *out, web_lang_t cur, const char *path)
{
    static const char *const native[WEB_LANG_COUNT] = {"English", "Кыргызча", "Русский", "日本語",
                                                       "中文"};
    static const web_lang_t order[] = {WEB_LANG_KY, WEB_LANG_RU, WEB_LANG_EN, WEB_LANG_JA,
                                       WEB_LANG_ZH};
    for (size_t i = 0; i < WEB_LANG_COUNT; i++) {
        web_lang_t l = order[i];
        ovop_buf_puts(out, "<a href=\"");
        web_html_escape(out, path);
        ovop_buf_printf(out, "?lang=%s\" hreflang=\"%s\" lang=\"%s\"%s>%s</a>", web_lang_tag(l),
                        web_lang_tag(l), web_lang_tag(l), l == cur ? " aria-current=\"true\"" : "",
                        native[l]);
    }
}

/* The name in l: Kyrgyz and Russian as given, else English, falling back in turn. */
static const char *pick(web_lang_t l, const char *ru, const char *en, const char *ky)
{
    const char *order[3];
    if (l == WEB_LANG_KY)
        order[0] = ky, order[1] = ru, order[2] = en;
    else if (l == WEB_LANG_RU)
        order[0] = ru, order[1] = ky, order[2] = en;
    else
        order[0] = en, order[1] = ru, order[2] = ky;
    for (int i = 0; i < 3; i++)
        if (order[i] && order[i][0])
            return order[i];
    return "";
}

static const char *place(web_lang_t l, const Ovop__V1__VerifiedPlace *p)
{
    return p ? pick(l, p->name_ru, p->name_en, p->name_ky) : "";
}

static const char *status_text(const Ovop__V1__VerifiedCertificate *c)
{
    const char *s = ovop_enum_text(&ovop__v1__certificate_status__descriptor, c->status);
    return s[0] ? s : "revoked"; /* an unknown status is never shown as valid */
}

/* The specializations as HTML lines, and the note of a stale answer. */
static void page_parts(ovop_buf_t *specs, ovop_buf_t *stale_note, web_lang_t l,
                       const Ovop__V1__VerifiedCertificate *c, bool stale)
{
    for (size_t i = 0; i < c->n_specializations; i++) {
        ovop_buf_puts(specs, i ? "<br>" : "");
        web_html_escape(specs, c->specializations[i]->hs_code);
        ovop_buf_puts(specs, " ");
        web_html_escape(specs, c->specializations[i]->description);
    }
    if (stale) {
        ovop_buf_puts(stale_note, "<p class=\"stale\" id=\"stale\">");
        web_html_escape(stale_note, web_text(l, "stale"));
        ovop_buf_puts(stale_note, "</p>");
    }
    ovop_buf_puts(specs, "");
    ovop_buf_puts(stale_note, "");
}

void web_render_page(ovop_buf_t *out, web_lang_t l, const Ovop__V1__VerifiedCertificate *c,
                     bool stale, const char *path)
{
    const char *status = status_text(c);
    char key[64], stars[8], glyphs[32] = "";
    snprintf(key, sizeof(key), "status_%s", status);
    snprintf(stars, sizeof(stars), "%u", c->stars);
    for (unsigned i = 0; i < c->stars && i < 5; i++)
        strcat(glyphs, "★");
    ovop_buf_t links, specs, stale_note;
    ovop_buf_init(&links);
    ovop_buf_init(&specs);
    ovop_buf_init(&stale_note);
    lang_links(&links, l, path);
    page_parts(&specs, &stale_note, l, c, stale);
    const web_var_t vars[] = {
        {"lang", web_lang_tag(l)},
        {"lang_links", links.data},
        {"status", status},
        {"status_text", web_text(l, key)},
        {"status_note",
         web_text(l, strcmp(status, "active") == 0 ? "status_note_active" : "status_note_bad")},
        {"stale_note", stale_note.data},
        {"product", pick(l, c->product_name_ru, c->product_name_en, c->product_name_ky)},
        {"hs_code", c->hs_code},
        {"hs_description", c->hs_description},
        {"producer", c->producer_name[0] ? c->producer_name : web_text(l, "producer_private")},
        {"village", place(l, c->village)},
        {"district", place(l, c->district)},
        {"region", place(l, c->region)},
        {"specializations", specs.data},
        {"stars", stars},
        {"star_glyphs", glyphs},
        {"issued_on", c->issued_on},
        {"expires_on", c->expires_on},
        {"number", c->number},
        {"code", c->code},
    };
    web_template(out, web_tpl_verify, l, vars, OVOP_ARRAY_SIZE(vars));
    ovop_buf_free(&links);
    ovop_buf_free(&specs);
    ovop_buf_free(&stale_note);
}

void web_render_message(ovop_buf_t *out, web_lang_t l, const char *what, const char *path)
{
    char title[64], text[64];
    snprintf(title, sizeof(title), "%s_title", what);
    snprintf(text, sizeof(text), "%s_text", what);
    ovop_buf_t links;
    ovop_buf_init(&links);
    lang_links(&links, l, path);
    const web_var_t vars[] = {
        {"lang", web_lang_tag(l)},   {"title", web_text(l, title)},
        {"lang_links", links.data},  {"what", what},
        {"text", web_text(l, text)},
    };
    web_template(out, web_tpl_message, l, vars, OVOP_ARRAY_SIZE(vars));
    ovop_buf_free(&links);
}

static json_t *place_json(const Ovop__V1__VerifiedPlace *p)
{
    if (!p)
        return json_null();
    return json_pack("{s:s, s:s, s:s, s:s}", "code", p->code, "name_ru", p->name_ru, "name_en",
                     p->name_en, "name_ky", p->name_ky);
}

void web_render_json(ovop_buf_t *out, const Ovop__V1__VerifiedCertificate *c, bool stale,
                     const char *url)
{
    json_t *specs = json_array();
    for (size_t i = 0; i < c->n_specializations; i++)
        json_array_append_new(specs,
                              json_pack("{s:s, s:s}", "hs_code", c->specializations[i]->hs_code,
                                        "description", c->specializations[i]->description));
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:b, s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s, s:s}, s:o, s:o, s:o, s:o, "
        "s:i, s:s, s:s, s:s}",
        "code", c->code, "number", c->number, "status", status_text(c), "stale", stale, "product",
        "name_ru", c->product_name_ru, "name_en", c->product_name_en, "name_ky", c->product_name_ky,
        "hs_code", c->hs_code, "hs_description", c->hs_description, "producer", "kind",
        ovop_enum_text(&ovop__v1__producer_kind__descriptor, c->producer_kind), "name",
        c->producer_name, "village", place_json(c->village), "district", place_json(c->district),
        "region", place_json(c->region), "specializations", specs, "stars", (int)c->stars,
        "issued_on", c->issued_on, "valid_until", c->expires_on, "verification_url", url);
    char *text = json_dumps(doc, JSON_COMPACT);
    ovop_buf_puts(out, text ? text : "{}");
    ovop_buf_puts(out, "\n");
    free(text);
    json_decref(doc);
}

char *web_public_url(const web_t *w, const char *code)
{
    const char *base = w->conf.public_base_url;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    return xasprintf("%.*s/v/%s", (int)n, base, code);
}

int web_qr_svg(ovop_buf_t *out, const char *url)
{
    QRcode *qr = QRcode_encodeString(url, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr)
        return -errno;
    const int quiet = 4, size = qr->width + 2 * quiet;
    ovop_buf_printf(out,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/"
                    "2000/svg\" viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
                    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"",
                    size, size, size, size);
    for (int y = 0; y < qr->width; y++)
        for (int x = 0; x < qr->width; x++)
            if (qr->data[y * qr->width + x] & 1)
                ovop_buf_printf(out, "M%d %dh1v1h-1z", x + quiet, y + quiet);
    ovop_buf_puts(out, "\"/></svg>\n");
    QRcode_free(qr);
    return 0;
}
