/* Brand verification end to end: registryd's VerifyCertificate through the real broker
 * against PostgreSQL, and ovop-webd in front of it over real HTTP: valid, suspended,
 * revoked, expired, unknown and malformed codes, as HTML in each language and as JSON, the
 * QR code, HTML escaping, no personal data, security headers, GET/HEAD only, the cache
 * (metrics), the rate limit (429 then recovery) and a broker that goes away (stale answers,
 * else a clear 503 page). Fixtures are written with SQL as the database owner; the codes
 * are drawn by the database as at issue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "browser.h"
#include "harness.h"
#include "lang.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"
#include "vcode.h"

#define VILLAGE "41704235000101" /* in Kochkor District, Naryn Region */
#define WEB     "svc-ovop.web"

static svcenv_t E;
static uint16_t web_port, web_http, limited_port, limited_http;
static pid_t web_pid, limited_pid;

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, name_ky, "
    "valid_from) VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', "
    "'Кочкор', '2000-01-01') RETURNING 1",
    "INSERT INTO registry.specializations (id, territory_code, hs6, narrative, declared_on) "
    "VALUES (9301, '41704000000000', '080231', 'walnuts', '2020-01-01') RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, phone, email, address, "
    "territory_code, created_at, updated_at) VALUES "
    "(9001, 'cooperative', 'Ak-Jol <script>alert(\"x\")</script> & Co', '01234567890123', "
    "'+996555123456', 'akjol@example.kg', 'Lenin street 1', '" VILLAGE "', now(), now()), "
    "(9002, 'individual', 'Aibek Usenovich Private', '98765432109876', '+996700000000', "
    "'aibek@example.kg', 'Home 2', '" VILLAGE "', now(), now()) RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_ru, name_en, name_ky, category, hs6, "
    "territory_code, unit, capacity_per_month, price_usd, created_at, updated_at) VALUES "
    "(9101, 9001, 'Грецкий орех', 'Walnuts <img src=x onerror=alert(1)>', 'Жаңгак', 'nuts', "
    "'080231', '" VILLAGE "', 'kg', 100, 5, now(), now()), "
    "(9102, 9002, 'Мёд', 'Honey', 'Бал', 'honey', '040900', '" VILLAGE "', 'kg', 10, 9, now(), "
    "now()) RETURNING 1",
    "INSERT INTO registry.applications (id, producer_id, product_id, status, stars, "
    "submitted_at, updated_at) SELECT 9200 + g, CASE WHEN g = 5 THEN 9002 ELSE 9001 END, "
    "CASE WHEN g = 5 THEN 9102 ELSE 9101 END, 'approved', 3, now(), now() "
    "FROM generate_series(1, 5) g RETURNING 1",
    "INSERT INTO registry.certificates (number, producer_id, product_id, application_id, "
    "stars, issued_on, expires_on, status, updated_at) VALUES "
    "('OVOP-2026-000901', 9001, 9101, 9201, 3, current_date - 10, current_date + 1000, "
    "'active', now()), "
    "('OVOP-2026-000902', 9001, 9101, 9202, 3, current_date - 10, current_date + 1000, "
    "'suspended', now()), "
    "('OVOP-2026-000903', 9001, 9101, 9203, 3, current_date - 10, current_date + 1000, "
    "'revoked', now()), "
    "('OVOP-2022-000904', 9001, 9101, 9204, 4, current_date - 1100, current_date - 5, "
    "'active', now()), "
    "('OVOP-2026-000905', 9002, 9102, 9205, 2, current_date - 10, current_date + 1000, "
    "'active', now()) RETURNING 1",
    NULL};

static char *code_of(const char *number)
{
    return svcenv_scalarf(&E,
                          "SELECT verification_code FROM registry.certificates "
                          "WHERE number = '%s'",
                          number);
}

/* --- HTTP/1.0 to webd (harness_http): any method, extra headers, status, headers and body --- */

typedef harness_http_reply_t http_reply_t;

static http_reply_t http(uint16_t port, const char *method, const char *path, const char *extra)
{
    http_reply_t r;
    assert_true(harness_http(port, method, path, NULL, extra, &r) > 0);
    return r;
}

static http_reply_t get(const char *path, const char *extra)
{
    return http(web_port, "GET", path, extra);
}

static bool has_header(const http_reply_t *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

static pid_t spawn_web(uint16_t port, uint16_t ops, const char *const *extra, const char *log)
{
    char listen[32], base[64], http_arg[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(base, sizeof(base), "https://verify.example.kg/");
    snprintf(http_arg, sizeof(http_arg), "127.0.0.1:%u", ops);
    char *key = ident_secret(&E.ident, WEB);
    const char *args[32] = {"--broker",
                            E.endpoint,
                            "--key",
                            key,
                            "--broker-key",
                            E.ident.broker_key,
                            "--public-listen",
                            listen,
                            "--public-base-url",
                            base,
                            "--http",
                            http_arg,
                            "--lookup-timeout-ms",
                            "700",
                            "--log-format",
                            "text",
                            "--dashboard-listen", /* no dashboard here, so no port taken */
                            ""};
    size_t n = 18;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    char *bin = harness_bin("ovop-webd");
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, bin, args, NULL, log), 0);
    free(bin);
    free(key);
    for (int i = 0; i < 100; i++) {
        ovop_buf_t b;
        ovop_buf_init(&b);
        int st = harness_http_get(ops, "/healthz", &b);
        ovop_buf_free(&b);
        if (st == 200)
            return pid;
        harness_sleep_ms(50);
    }
    fail_msg("ovop-webd did not come up");
    return pid;
}

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "verify",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    /* The web daemon's principal holds no role: VerifyCertificate is open to everyone. */
    assert_int_equal(ident_add(&E.ident, E.conn, WEB, "service", "", NULL, NULL), 0);
    harness_sleep_ms(1500); /* the new key in the broker's keyring */
    assert_int_equal(harness_free_port(&web_port), 0);
    assert_int_equal(harness_free_port(&web_http), 0);
    assert_int_equal(harness_free_port(&limited_port), 0);
    assert_int_equal(harness_free_port(&limited_http), 0);
    web_pid =
        spawn_web(web_port, web_http,
                  (const char *const[]){"--cache-ttl", "2", "--rate-limit", "0", NULL}, "webd");
    limited_pid = spawn_web(limited_port, limited_http,
                            (const char *const[]){"--rate-limit", "2", "--rate-burst", "3",
                                                  "--trusted-proxy", "10.9.9.9,127.0.0.1", NULL},
                            "webd-limited");
    return 0;
}

static int teardown(void **state)
{
    harness_stop(web_pid);
    harness_stop(limited_pid);
    svcenv_stop(&E);
    return 0;
}

/* --- the registry --- */

/* Every certificate got a well-formed, distinct code, which never changes. */
static void test_codes(void **state)
{
    assert_int_equal(svcenv_count(&E, "SELECT count(DISTINCT verification_code) "
                                      "FROM registry.certificates"),
                     svcenv_count(&E, "SELECT count(*) FROM registry.certificates"));
    const char *numbers[] = {"OVOP-2026-000901", "OVOP-2026-000902", "OVOP-2026-000903",
                             "OVOP-2022-000904", "OVOP-2026-000905"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(numbers); i++) {
        char *code = code_of(numbers[i]);
        char canon[OVOP_VCODE_LEN + 1];
        assert_int_equal(strlen(code), OVOP_VCODE_LEN);
        assert_int_equal(ovop_vcode_parse(code, canon), OVOP_VCODE_OK);
        assert_string_equal(canon, code);
        free(code);
    }
    PGresult *res = PQexec(E.conn, "UPDATE registry.certificates SET verification_code = "
                                   "registry.new_verification_code() "
                                   "WHERE number = 'OVOP-2026-000901'");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    assert_non_null(strstr(PQresultErrorMessage(res), "never changes"));
    PQclear(res);
    /* GetCertificate shows it to operators. */
    Ovop__V1__GetCertificateRequest in = OVOP__V1__GET_CERTIFICATE_REQUEST__INIT;
    in.number = "OVOP-2026-000901";
    ProtobufCMessage *out = NULL;
    assert_int_equal(svcenv_call(&E, "GetCertificate", NULL, &in.base,
                                 &ovop__v1__certificate__descriptor, &out, NULL),
                     OVOP_OK);
    char *code = code_of("OVOP-2026-000901");
    assert_string_equal(((Ovop__V1__Certificate *)out)->verification_code, code);
    free(code);
    protobuf_c_message_free_unpacked(out, NULL);
}

static Ovop__V1__VerifiedCertificate *verify_ok(const char *code)
{
    Ovop__V1__VerifyCertificateRequest in = OVOP__V1__VERIFY_CERTIFICATE_REQUEST__INIT;
    in.code = (char *)code;
    ProtobufCMessage *out = NULL;
    assert_int_equal(svcenv_call_as(&E, WEB, "VerifyCertificate", NULL, &in.base,
                                    &ovop__v1__verified_certificate__descriptor, &out, NULL),
                     OVOP_OK);
    return (Ovop__V1__VerifiedCertificate *)out;
}

static void test_verify_method(void **state)
{
    char *code = code_of("OVOP-2026-000901");
    Ovop__V1__VerifiedCertificate *c = verify_ok(code);
    assert_string_equal(c->number, "OVOP-2026-000901");
    assert_int_equal(c->status, OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE);
    assert_int_equal(c->stars, 3);
    assert_string_equal(c->hs_code, "080231");
    assert_string_equal(c->product_name_ru, "Грецкий орех");
    assert_string_equal(c->producer_name, "Ak-Jol <script>alert(\"x\")</script> & Co");
    assert_non_null(c->village);
    assert_string_equal(c->village->name_en, "Kochkor");
    assert_non_null(c->region);
    assert_string_equal(c->region->code, "41704000000000");
    assert_non_null(c->district);
    assert_int_equal(c->n_specializations, 1);
    assert_string_equal(c->specializations[0]->hs_code, "080231");
    protobuf_c_message_free_unpacked(&c->base, NULL);

    /* Typed by a person: lower case, hyphens, O for 0 are read as the code. */
    char typed[32];
    snprintf(typed, sizeof(typed), "%.4s-%.5s-%s", code, code + 4, code + 9);
    for (char *p = typed; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    c = verify_ok(typed);
    assert_string_equal(c->number, "OVOP-2026-000901");
    protobuf_c_message_free_unpacked(&c->base, NULL);
    free(code);

    static const struct {
        const char *number;
        int status;
    } statuses[] = {
        {"OVOP-2026-000902", OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED},
        {"OVOP-2026-000903", OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_REVOKED},
        {"OVOP-2022-000904", OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_EXPIRED},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(statuses); i++) {
        code = code_of(statuses[i].number);
        c = verify_ok(code);
        assert_int_equal(c->status, statuses[i].status);
        protobuf_c_message_free_unpacked(&c->base, NULL);
        free(code);
    }
    /* An individual's name is personal data: not published. */
    code = code_of("OVOP-2026-000905");
    c = verify_ok(code);
    assert_string_equal(c->producer_name, "");
    assert_int_equal(c->producer_kind, OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_INDIVIDUAL);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    free(code);
}

/* Unknown (well-formed) and malformed codes. */
static void test_verify_refusals(void **state)
{
    char unknown[OVOP_VCODE_LEN + 1];
    assert_int_equal(ovop_vcode_generate(unknown), 0);
    Ovop__V1__VerifyCertificateRequest in = OVOP__V1__VERIFY_CERTIFICATE_REQUEST__INIT;
    in.code = unknown;
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, WEB, "VerifyCertificate", NULL, &in.base, NULL, NULL, &rep),
                     OVOP_NOT_FOUND);
    ovop__v1__reply__free_unpacked(rep, NULL);
    const char *bad[] = {"", "ABC", "0123456789ABCU", "0123456789ABCDEF"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(bad); i++) {
        in.code = (char *)bad[i];
        rep = NULL;
        assert_int_equal(
            svcenv_call_as(&E, WEB, "VerifyCertificate", NULL, &in.base, NULL, NULL, &rep),
            OVOP_INVALID_ARGUMENT);
        assert_non_null(strstr(rep->status->message, "code"));
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    /* A wrong check character (one digit changed) is refused before any lookup. */
    char *code = code_of("OVOP-2026-000901");
    code[3] = code[3] == 'A' ? 'B' : 'A';
    in.code = code;
    rep = NULL;
    assert_int_equal(svcenv_call_as(&E, WEB, "VerifyCertificate", NULL, &in.base, NULL, NULL, &rep),
                     OVOP_INVALID_ARGUMENT);
    assert_non_null(strstr(rep->status->message, "check character"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(code);
}

/* --- ovopctl --- */

static char *log_text(const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_ovopctl(void **state)
{
    char *code = code_of("OVOP-2026-000903");
    assert_int_equal(svcenv_ovopctl(&E, "ctl-verify",
                                    (const char *const[]){"cert", "verify", code, NULL}, 20000),
                     0);
    char *out = log_text("ctl-verify");
    assert_non_null(strstr(out, "status         revoked"));
    assert_non_null(strstr(out, "region         Naryn Region"));
    assert_null(strstr(out, "01234567890123"));
    free(out);
    assert_int_equal(svcenv_ovopctl(&E, "ctl-get",
                                    (const char *const[]){"cert", "get", "OVOP-2026-000903", NULL},
                                    20000),
                     0);
    out = log_text("ctl-get");
    char *line = xasprintf("verification   %s", code);
    assert_non_null(strstr(out, line));
    free(line);
    free(out);
    /* A typo: refused with the field named, exit 10 + INVALID_ARGUMENT. */
    code[2] = code[2] == 'A' ? 'B' : 'A';
    int rc =
        svcenv_ovopctl(&E, "ctl-typo", (const char *const[]){"cert", "verify", code, NULL}, 20000);
    assert_int_equal(rc, 10 + OVOP_INVALID_ARGUMENT);
    free(code);
}

/* --- the public pages --- */

static char *path_of(const char *number, const char *suffix)
{
    char *code = code_of(number);
    char *p = xasprintf("/v/%s%s", code, suffix);
    free(code);
    return p;
}

static void test_json(void **state)
{
    char *path = path_of("OVOP-2026-000901", ".json");
    http_reply_t r = get(path, NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/json"));
    json_error_t err;
    json_t *doc = json_loads(r.body, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "active");
    assert_int_equal(json_integer_value(json_object_get(doc, "stars")), 3);
    assert_false(json_is_true(json_object_get(doc, "stale")));
    json_t *region = json_object_get(doc, "region");
    assert_string_equal(json_string_value(json_object_get(region, "name_en")), "Naryn Region");
    char *code = code_of("OVOP-2026-000901");
    char *url = xasprintf("https://verify.example.kg/v/%s", code);
    assert_string_equal(json_string_value(json_object_get(doc, "verification_url")), url);
    free(url);
    json_decref(doc);
    /* No personal data: tax id, phone, e-mail, address. */
    assert_null(strstr(r.body, "01234567890123"));
    assert_null(strstr(r.body, "996555"));
    assert_null(strstr(r.body, "akjol@"));
    assert_null(strstr(r.body, "Lenin"));
    harness_http_reply_free(&r);

    /* Accept: application/json on the page's address. */
    char *page = xasprintf("/v/%s", code);
    r = get(page, "Accept: application/json\r\n");
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/json"));
    harness_http_reply_free(&r);
    free(page);
    free(path);

    /* The individual: neither the name nor the contacts. */
    path = path_of("OVOP-2026-000905", ".json");
    r = get(path, NULL);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "Aibek"));
    assert_null(strstr(r.body, "98765432109876"));
    assert_null(strstr(r.body, "aibek@"));
    assert_non_null(strstr(r.body, "\"kind\":\"individual\""));
    harness_http_reply_free(&r);
    free(path);
    free(code);
}

static void test_html_languages(void **state)
{
    char *path = path_of("OVOP-2026-000901", "");
    static const char *const tags[] = {"en", "ky", "ru", "ja", "zh"};
    for (int l = 0; l < WEB_LANG_COUNT; l++) {
        char header[64], html_lang[32];
        snprintf(header, sizeof(header), "Accept-Language: %s;q=0.9, de;q=0.5\r\n", tags[l]);
        snprintf(html_lang, sizeof(html_lang), "<html lang=\"%s\">", tags[l]);
        http_reply_t r = get(path, header);
        assert_int_equal(r.status, 200);
        assert_true(has_header(&r, "Content-Type: text/html; charset=utf-8"));
        assert_non_null(strstr(r.body, html_lang));
        assert_non_null(strstr(r.body, web_text((web_lang_t)l, "status_active")));
        assert_non_null(strstr(r.body, "class=\"status status-active\""));
        harness_http_reply_free(&r);
        /* ?lang= wins over the header. */
        char *q = xasprintf("%s?lang=%s", path, tags[l]);
        r = get(q, "Accept-Language: de, fr\r\n");
        assert_non_null(strstr(r.body, html_lang));
        harness_http_reply_free(&r);
        free(q);
    }
    http_reply_t r = get(path, "Accept-Language: ru-RU,ru;q=0.9,en;q=0.8\r\n");
    assert_non_null(strstr(r.body, "Действующий сертификат"));
    assert_non_null(strstr(r.body, "Нарынская область"));
    assert_non_null(strstr(r.body, "Грецкий орех"));
    /* The language switcher. */
    assert_non_null(strstr(r.body, "?lang=ky\" hreflang=\"ky\""));
    assert_non_null(strstr(r.body, "?lang=zh\""));
    harness_http_reply_free(&r);
    r = get(path, NULL); /* no header: English */
    assert_non_null(strstr(r.body, "<html lang=\"en\">"));
    assert_non_null(strstr(r.body, "Valid certificate"));
    harness_http_reply_free(&r);
    free(path);
}

static void test_statuses(void **state)
{
    static const struct {
        const char *number, *status, *en;
    } rows[] = {
        {"OVOP-2026-000902", "suspended", "Certificate suspended"},
        {"OVOP-2026-000903", "revoked", "Certificate revoked"},
        {"OVOP-2022-000904", "expired", "Certificate expired"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(rows); i++) {
        char *path = path_of(rows[i].number, "");
        http_reply_t r = get(path, NULL);
        assert_int_equal(r.status, 200);
        char *cls = xasprintf("status-%s", rows[i].status);
        assert_non_null(strstr(r.body, cls));
        assert_non_null(strstr(r.body, rows[i].en));
        assert_null(strstr(r.body, "Valid certificate"));
        free(cls);
        harness_http_reply_free(&r);
        free(path);
        path = path_of(rows[i].number, ".json");
        r = get(path, NULL);
        char *st = xasprintf("\"status\":\"%s\"", rows[i].status);
        assert_non_null(strstr(r.body, st));
        free(st);
        harness_http_reply_free(&r);
        free(path);
    }
}

static void test_unknown_and_malformed(void **state)
{
    char unknown[OVOP_VCODE_LEN + 1];
    assert_int_equal(ovop_vcode_generate(unknown), 0);
    char *path = xasprintf("/v/%s", unknown);
    http_reply_t r = get(path, "Accept-Language: ja\r\n");
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, web_text(WEB_LANG_JA, "notfound_title")));
    assert_non_null(strstr(r.body, "status-notfound"));
    harness_http_reply_free(&r);
    char *json = xasprintf("/v/%s.json", unknown);
    r = get(json, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "\"error\":\"NOT_FOUND\""));
    harness_http_reply_free(&r);
    free(json);
    free(path);

    /* Malformed codes are answered without a lookup: no cache miss counted. */
    double misses = harness_port_metric(web_http, "ovop_web_cache_total{result=\"miss\"}");
    const char *bad[] = {"/v/ABC",      "/v/0123456789ABCDEFGH", "/v/%3Cscript%3E",
                         "/v/<b>x</b>", "/v/0000000000000.json", "/v/"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(bad); i++) {
        r = get(bad[i], "Accept-Language: ky\r\n");
        assert_int_equal(r.status, 404);
        assert_null(strstr(r.body, "<b>x"));
        if (!strstr(bad[i], ".json"))
            assert_non_null(strstr(r.body, web_text(WEB_LANG_KY, "malformed_title")));
        harness_http_reply_free(&r);
    }
    /* One wrong character of a real code: the check character catches it. */
    char *code = code_of("OVOP-2026-000901");
    code[5] = code[5] == '7' ? '8' : '7';
    path = xasprintf("/v/%s", code);
    r = get(path, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "status-malformed"));
    harness_http_reply_free(&r);
    free(path);
    free(code);
    assert_true(harness_port_metric(web_http, "ovop_web_cache_total{result=\"miss\"}") == misses);
    r = get("/nothing-here", NULL);
    assert_int_equal(r.status, 404);
    harness_http_reply_free(&r);
}

static void test_escaping_and_headers(void **state)
{
    char *path = path_of("OVOP-2026-000901", "");
    http_reply_t r = get(path, "Accept-Language: en\r\n");
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "<script"));
    assert_null(strstr(r.body, "<img src=x"));
    assert_non_null(strstr(r.body, "Ak-Jol &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; "
                                   "&amp; Co"));
    assert_non_null(strstr(r.body, "Walnuts &lt;img src=x onerror=alert(1)&gt;"));
    assert_true(has_header(&r, "Content-Security-Policy: default-src 'self'"));
    assert_true(has_header(&r, "X-Content-Type-Options: nosniff"));
    assert_true(has_header(&r, "Referrer-Policy: no-referrer"));
    harness_http_reply_free(&r);

    /* Only GET and HEAD. */
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(methods); i++) {
        r = http(web_port, methods[i], path, "Content-Length: 0\r\n");
        assert_int_equal(r.status, 405);
        assert_true(has_header(&r, "Allow: GET, HEAD"));
        harness_http_reply_free(&r);
    }
    r = http(web_port, "HEAD", path, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    harness_http_reply_free(&r);

    /* The QR code and the style sheet. */
    char *qr = path_of("OVOP-2026-000901", "/qr.svg");
    r = get(qr, NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: image/svg+xml"));
    assert_non_null(strstr(r.body, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(r.body, "h1v1h-1z"));
    harness_http_reply_free(&r);
    free(qr);
    /* GS1 Digital Link form: /01/{GTIN}/21/{code}; a GTIN with a wrong check digit is not. */
    char *code = code_of("OVOP-2026-000901");
    char *gs1 = xasprintf("/01/04600000000015/21/%s.json", code);
    r = get(gs1, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"active\""));
    harness_http_reply_free(&r);
    free(gs1);
    gs1 = xasprintf("/01/04600000000016/21/%s", code);
    r = get(gs1, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "status-malformed"));
    harness_http_reply_free(&r);
    free(gs1);
    free(code);
    r = get("/static/verify.css", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/css"));
    assert_non_null(strstr(r.body, ".status-active"));
    harness_http_reply_free(&r);
    free(path);
}

/* The second lookup of a code within the TTL is a cache hit; concurrent misses would share
 * one call (single flight; see the unit and benchmark figures). */
static void test_cache(void **state)
{
    char *path = path_of("OVOP-2026-000903", ".json");
    harness_sleep_ms(2100); /* past any entry of earlier cases */
    double hits = harness_port_metric(web_http, "ovop_web_cache_total{result=\"hit\"}");
    double misses = harness_port_metric(web_http, "ovop_web_cache_total{result=\"miss\"}");
    http_reply_t r = get(path, NULL);
    assert_int_equal(r.status, 200);
    harness_http_reply_free(&r);
    r = get(path, NULL);
    assert_int_equal(r.status, 200);
    harness_http_reply_free(&r);
    assert_true(harness_port_metric(web_http, "ovop_web_cache_total{result=\"miss\"}") ==
                misses + 1);
    assert_true(harness_port_metric(web_http, "ovop_web_cache_total{result=\"hit\"}") == hits + 1);
    assert_true(
        harness_port_metric(web_http,
                            "ovop_web_requests_total{route=\"verify_json\",status=\"200\"}") >= 2);
    free(path);
}

static void test_rate_limit(void **state)
{
    char *path = path_of("OVOP-2026-000901", ".json");
    int ok = 0, limited = 0;
    http_reply_t r;
    for (int i = 0; i < 6; i++) {
        r = http(limited_port, "GET", path, NULL);
        if (r.status == 200) {
            ok++;
        } else {
            assert_int_equal(r.status, 429);
            assert_true(has_header(&r, "Retry-After: 1"));
            limited++;
        }
        harness_http_reply_free(&r);
    }
    assert_int_equal(ok, 3); /* the burst */
    assert_int_equal(limited, 3);
    assert_true(harness_port_metric(limited_http, "ovop_web_rate_limited_total") == 3);
    /* (one more below, for the proxied client) */
    r = http(limited_port, "GET", "/static/verify.css", "Accept-Language: ru\r\n");
    assert_int_equal(r.status, 429);
    harness_http_reply_free(&r);
    /* Behind a trusted proxy (127.0.0.1 here) the client is the last X-Forwarded-For
     * address, which has a bucket of its own; what the client itself wrote before it counts
     * for nothing. */
    for (int i = 0; i < 3; i++) {
        r = http(limited_port, "GET", path, "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n");
        assert_int_equal(r.status, 200);
        harness_http_reply_free(&r);
    }
    r = http(limited_port, "GET", path, "X-Forwarded-For: 198.51.100.2, 203.0.113.7\r\n");
    assert_int_equal(r.status, 429);
    harness_http_reply_free(&r);
    harness_sleep_ms(1100); /* two tokens back */
    r = http(limited_port, "GET", path, NULL);
    assert_int_equal(r.status, 200);
    harness_http_reply_free(&r);
    free(path);
}

typedef struct getter {
    pthread_t thread;
    const char *path;
    int status;
} getter_t;

static void *get_thread(void *arg)
{
    getter_t *g = arg;
    http_reply_t r = get(g->path, NULL);
    g->status = r.status;
    harness_http_reply_free(&r);
    return NULL;
}

/* Last: the broker goes away. A code seen before is served stale (marked), an unseen one
 * gets a clear 503 page. */
static void test_broker_down(void **state)
{
    char *seen = path_of("OVOP-2026-000901", "");
    http_reply_t r = get(seen, NULL);
    assert_int_equal(r.status, 200);
    harness_http_reply_free(&r);
    harness_stop(E.broker);
    E.broker = 0;
    harness_sleep_ms(2100); /* the entry is now past its TTL */
    double stale = harness_port_metric(web_http, "ovop_web_cache_total{result=\"stale\"}");
    r = get(seen, "Accept-Language: ru\r\n");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "id=\"stale\""));
    assert_non_null(strstr(r.body, web_text(WEB_LANG_RU, "stale")));
    assert_true(has_header(&r, "Cache-Control: no-store"));
    harness_http_reply_free(&r);
    assert_true(harness_port_metric(web_http, "ovop_web_cache_total{result=\"stale\"}") ==
                stale + 1);
    char *json = path_of("OVOP-2026-000901", ".json");
    r = get(json, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"stale\":true"));
    harness_http_reply_free(&r);
    free(json);

    char code[OVOP_VCODE_LEN + 1]; /* never looked up, so nothing stale to serve */
    assert_int_equal(ovop_vcode_generate(code), 0);
    char *unseen = xasprintf("/v/%s", code);
    r = get(unseen, "Accept-Language: zh\r\n");
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, web_text(WEB_LANG_ZH, "unavailable_title")));
    assert_true(has_header(&r, "Retry-After: 5"));
    harness_http_reply_free(&r);
    /* Single flight: concurrent misses for one code make one broker call (each waits out the
     * lookup timeout here, so all of them overlap). */
    double lookups = harness_port_metric(web_http, "ovop_web_lookups_total");
    getter_t getters[8];
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(getters); i++) {
        getters[i].path = unseen;
        assert_int_equal(pthread_create(&getters[i].thread, NULL, get_thread, &getters[i]), 0);
    }
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(getters); i++) {
        pthread_join(getters[i].thread, NULL);
        assert_int_equal(getters[i].status, 503);
    }
    double calls = harness_port_metric(web_http, "ovop_web_lookups_total") - lookups;
    assert_true(calls == 1);
    free(unseen);
    free(seen);
    ovop_buf_t why;
    ovop_buf_init(&why);
    assert_int_equal(harness_http_get(web_http, "/readyz", &why), 503);
    ovop_buf_free(&why);
}

#ifdef VERIFY_BROWSER
/* --- in a real browser (ctest browser.test-verify) --- */

static void test_browser(void **state)
{
    char unknown[OVOP_VCODE_LEN + 1];
    assert_int_equal(ovop_vcode_generate(unknown), 0);
    char *valid = code_of("OVOP-2026-000901"), *revoked = code_of("OVOP-2026-000903");
    const struct {
        const char *name, *code, *status;
    } pages[] = {{"valid", valid, "active"},
                 {"revoked", revoked, "revoked"},
                 {"unknown", unknown, "notfound"}};
    const struct {
        const char *tag;
        web_lang_t lang;
    } langs[] = {{"ru", WEB_LANG_RU}, {"ja", WEB_LANG_JA}};
    assert_int_equal(system("mkdir -p " VERIFY_BROWSER_OUT), 0);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(pages); i++)
        for (size_t l = 0; l < OVOP_ARRAY_SIZE(langs); l++) {
            char *url = xasprintf("http://127.0.0.1:%u/v/%s?lang=%s", web_port, pages[i].code,
                                  langs[l].tag);
            char *dom = browser_run("chromium", "--dump-dom", url);
            char *frag = xasprintf("<html lang=\"%s\">", langs[l].tag);
            browser_expect_dom(dom, frag, url);
            free(frag);
            frag = xasprintf("data-status=\"%s\"", pages[i].status);
            browser_expect_dom(dom, frag, url);
            free(frag);
            char key[32];
            snprintf(key, sizeof(key), "status_%s", pages[i].status);
            browser_expect_dom(dom,
                               web_text(langs[l].lang, strcmp(pages[i].status, "notfound") == 0
                                                           ? "notfound_title"
                                                           : key),
                               url);
            browser_expect_dom(dom, "hreflang=\"ky\"", url); /* the language switcher */
            if (strcmp(pages[i].name, "unknown") != 0) {
                browser_expect_dom(
                    dom, langs[l].lang == WEB_LANG_RU ? "Грецкий орех" : "Walnuts &lt;img", url);
                browser_expect_dom(dom, "/qr.svg\"", url);
                browser_expect_dom(
                    dom, langs[l].lang == WEB_LANG_RU ? "Нарынская область" : "Naryn Region",
                    url); /* ja falls back to English names */
            }
            /* Escaped text stays text: the producer's "<script>" never became an element. */
            assert_null(strstr(dom, "<script"));
            free(dom);
            char *shot = xasprintf("--screenshot=%s/verify-%s-%s.png --window-size=412,915",
                                   VERIFY_BROWSER_OUT, pages[i].name, langs[l].tag);
            free(browser_run("chromium", shot, url));
            free(shot);
            char *png =
                xasprintf("%s/verify-%s-%s.png", VERIFY_BROWSER_OUT, pages[i].name, langs[l].tag);
            browser_expect_png(png);
            free(png);
            free(url);
        }
    /* A laptop-sized shot of the valid page, for the README. */
    char *url = xasprintf("http://127.0.0.1:%u/v/%s?lang=en", web_port, valid);
    free(browser_run("chromium",
                     "--screenshot=" VERIFY_BROWSER_OUT "/verify-valid-en-laptop.png "
                     "--window-size=1280,900",
                     url));
    free(url);
    free(valid);
    free(revoked);
}

int main(void)
{
    if (!browser_available()) {
        fprintf(stderr, "browser.test-verify: chromium is not installed (deploy/ovop deps "
                        "installs it): skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_browser)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
#else
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_verify_method),
        cmocka_unit_test(test_verify_refusals),
        cmocka_unit_test(test_ovopctl),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_html_languages),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_unknown_and_malformed),
        cmocka_unit_test(test_escaping_and_headers),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_broker_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
