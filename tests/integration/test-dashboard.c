/* The programme dashboard end to end: PostgreSQL, the broker, registryd, exportd, programd and
 * ovop-webd over real sockets. The sign-in flow (a code approved with ovopctl's call by an
 * operator holding dashboard.viewer signs the browser in; by one without it PERMISSION_DENIED
 * and nothing changes; malformed, unknown and reused codes), the cookie's flags, pages refused
 * without a session, sign-out (same origin only), GET/HEAD + POST sign-out only, the pages'
 * figures against the database, and HTML escaping of what the services return. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "browser.h"
#include "harness.h"
#include "ovop/v1/programme.pb-c.h"
#include "ovop/v1/web.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define WEB     "svc-ovop.web"
#define VIEWER  "dash-viewer"
#define NOBODY  "dash-nobody"
#define KOCHKOR "41704235000000"
#define ATBASHY "41704220000000"
#define ORIGIN  "https://dash.example.kg"

static svcenv_t E;
static uint16_t dash_port, web_port, web_http, exp_http, prog_http;
static pid_t web_pid, exp_pid, prog_pid;

static const char *const seed[] = {
    /* Five villages in Naryn: Kochkor 1 of 3 specialized, At-Bashy 0 of 2. */
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "SELECT c, 'village', p, 'Село ' || c, 'Village ' || c, '2000-01-01' FROM (VALUES "
    "('41704235000101', '" KOCHKOR "'), ('41704235000102', '" KOCHKOR "'), "
    "('41704235000103', '" KOCHKOR "'), ('41704220000101', '" ATBASHY "'), "
    "('41704220000102', '" ATBASHY "')) v(c, p) RETURNING 1",
    /* A district whose name would be markup if not escaped. */
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, lat, lon, "
    "valid_from) VALUES ('41704299000000', 'rayon', '41704000000000', 'Район <b>', "
    "'<script>alert(1)</script> District', 41.5, 75.5, '2000-01-01') RETURNING 1",
    "INSERT INTO registry.specializations (id, territory_code, hs6, narrative, declared_on) "
    "VALUES (9301, '41704235000101', '080231', 'walnuts', '2020-01-01') RETURNING 1",
    "INSERT INTO registry.producers (id, kind, legal_name, tax_id, phone, email, address, "
    "territory_code, created_at, updated_at) VALUES (9001, 'cooperative', 'Ak-Jol', "
    "'01234567890123', '+996555123456', 'a@example.kg', 'Lenin 1', '41704235000101', now(), "
    "now()) RETURNING 1",
    "INSERT INTO registry.products (id, producer_id, name_ru, name_en, name_ky, category, hs6, "
    "territory_code, unit, capacity_per_month, price_usd, created_at, updated_at) VALUES "
    "(9101, 9001, 'Орех', 'Walnuts', 'Жаңгак', 'nuts', '080231', '41704235000101', 'kg', 100, "
    "5, now(), now()) RETURNING 1",
    "INSERT INTO registry.applications (id, producer_id, product_id, status, stars, "
    "submitted_at, updated_at) SELECT 9200 + g, 9001, 9101, 'approved', 3, now(), now() "
    "FROM generate_series(1, 6) g RETURNING 1",
    "INSERT INTO registry.certificates (number, producer_id, product_id, application_id, "
    "stars, issued_on, expires_on, status, updated_at) VALUES "
    "('OVOP-2026-000901', 9001, 9101, 9201, 3, current_date - 10, current_date + 1000, "
    "'active', now()), "
    "('OVOP-2026-000902', 9001, 9101, 9202, 3, current_date - 10, current_date + 1000, "
    "'active', now()), "
    "('OVOP-2026-000903', 9001, 9101, 9203, 3, current_date - 10, current_date + 1000, "
    "'suspended', now()), "
    "('OVOP-2026-000904', 9001, 9101, 9204, 5, current_date - 10, current_date + 1000, "
    "'revoked', now()), "
    "('OVOP-2026-000905', 9001, 9101, 9205, 2, current_date - 10, current_date + 1000, "
    "'active', now()) RETURNING 1",
    "INSERT INTO programme.stakeholders (id, kind, name, created_by, created_at) VALUES "
    "(1, 'fund', 'Fund <i>&</i>', 'test', now()) RETURNING 1",
    "INSERT INTO programme.programmes (id, kind, topic, name, starts_on, ends_on, status, "
    "created_by, created_at) VALUES "
    "(1, 'training', 'marketing', 'Marketing 1', '2026-01-10', '2026-01-20', 'finished', 't', "
    "now()), (2, 'training', 'business_management', 'BM', '2026-02-01', '2026-12-01', "
    "'running', 't', now()), (3, 'grant', '', 'Grants', '2026-01-01', '2026-12-31', 'running', "
    "'t', now()) RETURNING 1",
    "INSERT INTO programme.runs (programme_id, ord, stakeholder_id) VALUES (1, 0, 1), (2, 0, 1), "
    "(3, 0, 1) RETURNING 1",
    "INSERT INTO programme.participants (programme_id, kind, participant_id, name, "
    "territory_code, outcome, grant_minor, outcome_on, updated_by, updated_at) VALUES "
    "(1, 'producer', 9001, 'Ak-Jol', '41704235000101', 'completed', 0, '2026-01-20', 't', now()), "
    "(3, 'producer', 9001, 'Ak-Jol', '41704235000101', 'completed', 1234567, '2026-03-01', 't', "
    "now()) RETURNING 1",
    /* 25 numbered events past any the migrations made, one with markup in its subject. */
    "INSERT INTO bus.events (id, seq, source, type, subject, time, data_schema, data, soate) "
    "SELECT gen_random_uuid(), 1000 + g, 'test', 'ovop.test.thing_' || g, "
    "CASE WHEN g = 25 THEN 'thing/<b>25' ELSE 'thing/' || g END, now() - (25 - g) * "
    "interval '1 minute', 'ovop.v1.Test', '\\x0a0373656372657421'::bytea, "
    "CASE WHEN g % 2 = 0 THEN '" KOCHKOR "' END FROM generate_series(1, 25) g RETURNING 1",
    NULL};

/* --- HTTP/1.0 to the dashboard (harness_http), with its Host as a browser sends it --- */

typedef harness_http_reply_t reply_t;

static reply_t http(const char *method, const char *path, const char *extra)
{
    reply_t r;
    char host[32];
    snprintf(host, sizeof(host), "127.0.0.1:%u", dash_port);
    assert_true(harness_http(dash_port, method, path, host, extra, &r) > 0);
    return r;
}

static reply_t get(const char *path, const char *cookie)
{
    char *extra = cookie ? xasprintf("Cookie: ovop_dash=%s\r\n", cookie) : NULL;
    reply_t r = http("GET", path, extra);
    free(extra);
    return r;
}

static bool has(const reply_t *r, const char *s)
{
    return strcasestr(r->headers, s) || strstr(r->body, s);
}

/* The value between `after` and the next `until` in s (malloc'd), or NULL. */
static char *between(const char *s, const char *after, const char *until)
{
    const char *p = strstr(s, after);
    if (!p)
        return NULL;
    p += strlen(after);
    const char *e = strstr(p, until);
    return e ? xasprintf("%.*s", (int)(e - p), p) : NULL;
}

/* --- processes --- */

static pid_t spawn_service(const char *bin_name, const char *service, const char *role,
                           uint16_t http_port, const char *log)
{
    char http_arg[32];
    snprintf(http_arg, sizeof(http_arg), "127.0.0.1:%u", http_port);
    char *svc = xasprintf("svc-%s", service);
    char *key = ident_secret(&E.ident, svc);
    char *db = pgtest_as_role(E.db, role);
    const char *args[] = {"--broker",
                          E.endpoint,
                          "--database-url",
                          db,
                          "--http",
                          http_arg,
                          "--key",
                          key,
                          "--broker-key",
                          E.ident.broker_key,
                          "--log-format",
                          "text",
                          NULL};
    char *bin = harness_bin(bin_name);
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, bin, args, NULL, log), 0);
    free(bin);
    free(db);
    free(key);
    free(svc);
    return pid;
}

static void spawn_web(void)
{
    char listen[32], dash[32], http_arg[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", web_port);
    snprintf(dash, sizeof(dash), "127.0.0.1:%u", dash_port);
    snprintf(http_arg, sizeof(http_arg), "127.0.0.1:%u", web_http);
    char *key = ident_secret(&E.ident, WEB);
    const char *args[] = {"--broker",
                          E.endpoint,
                          "--key",
                          key,
                          "--broker-key",
                          E.ident.broker_key,
                          "--public-listen",
                          listen,
                          "--dashboard-listen",
                          dash,
#ifndef DASH_BROWSER /* Chromium then gets a plain http cookie on 127.0.0.1 */
                          "--dashboard-base-url",
                          ORIGIN "/",
#endif
                          "--http",
                          http_arg,
                          "--log-format",
                          "text",
                          NULL};
    char *bin = harness_bin("ovop-webd");
    assert_int_equal(harness_spawn(&web_pid, bin, args, NULL, "webd-dash"), 0);
    free(bin);
    free(key);
}

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "dashboard",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .client = {.timeout_ms = 5000, .retries = 1}});
    assert_int_equal(ident_add(&E.ident, E.conn, WEB, "service", "worker:ovop.web", NULL, NULL), 0);
    assert_int_equal(
        ident_add(&E.ident, E.conn, VIEWER, "operator", "dashboard.viewer", NULL, NULL), 0);
    assert_int_equal(ident_add(&E.ident, E.conn, NOBODY, "operator", "registry.editor", NULL, NULL),
                     0);
    harness_sleep_ms(1500); /* the new keys in the broker's keyring */
    assert_int_equal(harness_free_port(&dash_port), 0);
    assert_int_equal(harness_free_port(&web_port), 0);
    assert_int_equal(harness_free_port(&web_http), 0);
    assert_int_equal(harness_free_port(&exp_http), 0);
    assert_int_equal(harness_free_port(&prog_http), 0);
    exp_pid = spawn_service("ovop-exportd", "ovop.exports", "ovop_exports", exp_http, "exportd");
    prog_pid =
        spawn_service("ovop-programd", "ovop.programme", "ovop_programme", prog_http, "programd");
    spawn_web();
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.exports", 15000, &E.admin), 0);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.programme", 15000, &E.admin), 0);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.web", 15000, &E.admin), 0);
    return 0;
}

static int teardown(void **state)
{
    harness_stop(web_pid);
    harness_stop(exp_pid);
    harness_stop(prog_pid);
    svcenv_stop(&E);
    return 0;
}

/* --- sign-in --- */

/* ApproveSignIn as who: the status code, the reason in *reason (malloc'd), the output. */
static int approve(const char *who, const char *code, char **reason,
                   Ovop__V1__ApproveSignInResponse **ret)
{
    ovop_client_t *c = svcenv_client_as(&E, who);
    Ovop__V1__ApproveSignInRequest in = OVOP__V1__APPROVE_SIGN_IN_REQUEST__INIT;
    in.code = (char *)code;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(ovop_client_call(c, "ovop.web", "ApproveSignIn", NULL, &in.base,
                                      &ovop__v1__approve_sign_in_response__descriptor, &rep, &out),
                     0);
    int code_ = rep->status ? (int)rep->status->code : 0;
    if (reason)
        *reason = xstrdup(rep->status && rep->status->reason ? rep->status->reason : "");
    if (ret)
        *ret = (Ovop__V1__ApproveSignInResponse *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    return code_;
}

/* A pending sign-in: its cookie and code (malloc'd). */
static void start_signin(char **cookie, char **code)
{
    reply_t r = get("/signin", NULL);
    assert_int_equal(r.status, 200);
    *cookie = between(r.headers, "ovop_dash=", ";");
    *code = between(r.body, "id=\"signin-code\">", "<");
    assert_non_null(*cookie);
    assert_non_null(*code);
    assert_int_equal(strlen(*cookie), 64);
    assert_int_equal(strlen(*code), 9);
    assert_true(has(&r, "HttpOnly"));
    assert_true(has(&r, "SameSite=Strict"));
    assert_true(has(&r, "; Secure")); /* --dashboard-base-url is https */
    assert_true(has(&r, "Path=/"));
    assert_true(has(&r, "http-equiv=\"refresh\""));
    assert_true(has(&r, "Content-Security-Policy: default-src 'self'"));
    assert_true(has(&r, "script-src 'none'"));
    harness_http_reply_free(&r);
}

/* A signed-in session of VIEWER (malloc'd cookie). */
static char *signed_in(void)
{
    char *cookie, *code;
    start_signin(&cookie, &code);
    assert_int_equal(approve(VIEWER, code, NULL, NULL), OVOP_OK);
    free(code);
    return cookie;
}

static void test_signin_flow(void **state)
{
    /* No session: the dashboard sends to the sign-in page. */
    reply_t r = get("/", NULL);
    assert_int_equal(r.status, 303);
    assert_true(has(&r, "Location: /signin"));
    harness_http_reply_free(&r);
    char *cookie, *code, *reason;
    start_signin(&cookie, &code);
    /* The same pending cookie sees the same code; the dashboard is still refused. */
    r = get("/signin", cookie);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, code));
    assert_false(has(&r, "Set-Cookie"));
    harness_http_reply_free(&r);
    r = get("/", cookie);
    assert_int_equal(r.status, 303);
    harness_http_reply_free(&r);
    /* An operator without a dashboard role: refused by the permission table, nothing changes. */
    assert_int_equal(approve(NOBODY, code, &reason, NULL), OVOP_PERMISSION_DENIED);
    free(reason);
    r = get("/", cookie);
    assert_int_equal(r.status, 303);
    harness_http_reply_free(&r);
    /* Malformed and unknown codes. */
    assert_int_equal(approve(VIEWER, "ABC", &reason, NULL), OVOP_INVALID_ARGUMENT);
    assert_string_equal(reason, "MALFORMED_SIGNIN_CODE");
    free(reason);
    assert_int_equal(approve(VIEWER, "UUUU-UUUU", &reason, NULL), OVOP_INVALID_ARGUMENT);
    free(reason);
    const char *unknown = strcmp(code, "ZZZZ-ZZZZ") == 0 ? "YYYY-YYYY" : "ZZZZ-ZZZZ";
    assert_int_equal(approve(VIEWER, unknown, &reason, NULL), OVOP_NOT_FOUND);
    assert_string_equal(reason, "SIGNIN_CODE_UNKNOWN");
    free(reason);
    /* The viewer approves it, typed in lower case without the hyphen. */
    char typed[16];
    snprintf(typed, sizeof(typed), "%.4s%s", code, code + 5);
    for (char *p = typed; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    Ovop__V1__ApproveSignInResponse *ok = NULL;
    assert_int_equal(approve(VIEWER, typed, NULL, &ok), OVOP_OK);
    assert_string_equal(ok->principal_id, VIEWER);
    int64_t left = ok->expires_at_us - ovop_now_us();
    assert_true(left > 28700LL * 1000000 && left <= 28800LL * 1000000); /* 8 h by default */
    protobuf_c_message_free_unpacked(&ok->base, NULL);
    /* Used once: again is unknown. */
    assert_int_equal(approve(VIEWER, code, &reason, NULL), OVOP_NOT_FOUND);
    free(reason);
    /* The sign-in page now goes to the dashboard, which shows who is signed in. */
    r = get("/signin", cookie);
    assert_int_equal(r.status, 303);
    assert_true(has(&r, "Location: /\r\n"));
    harness_http_reply_free(&r);
    r = get("/", cookie);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "id=\"principal\">" VIEWER "<"));
    harness_http_reply_free(&r);
    free(cookie);
    free(code);
}

static void test_signout(void **state)
{
    char *cookie = signed_in();
    char *c = xasprintf("Cookie: ovop_dash=%s\r\nContent-Length: 0\r\n", cookie);
    /* Without an origin, or from another site: refused, still signed in. */
    reply_t r = http("POST", "/signout", c);
    assert_int_equal(r.status, 403);
    harness_http_reply_free(&r);
    char *evil = xasprintf("%sOrigin: https://evil.example\r\n", c);
    r = http("POST", "/signout", evil);
    assert_int_equal(r.status, 403);
    harness_http_reply_free(&r);
    r = get("/", cookie);
    assert_int_equal(r.status, 200);
    harness_http_reply_free(&r);
    char *good = xasprintf("%sOrigin: " ORIGIN "\r\n", c);
    r = http("POST", "/signout", good);
    assert_int_equal(r.status, 303);
    assert_true(has(&r, "Location: /signin"));
    assert_true(has(&r, "Max-Age=0"));
    harness_http_reply_free(&r);
    r = get("/", cookie);
    assert_int_equal(r.status, 303);
    harness_http_reply_free(&r);
    free(evil);
    free(good);
    free(c);
    free(cookie);
}

static void test_methods(void **state)
{
    char *cookie = signed_in();
    char *c = xasprintf("Cookie: ovop_dash=%s\r\nContent-Length: 0\r\n", cookie);
    const char *const refused[][2] = {{"POST", "/"},       {"PUT", "/"},          {"DELETE", "/"},
                                      {"POST", "/signin"}, {"PATCH", "/signout"}, {"OPTIONS", "/"}};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(refused); i++) {
        reply_t r = http(refused[i][0], refused[i][1], c);
        assert_int_equal(r.status, 405);
        assert_true(has(&r, "Allow: GET, HEAD, POST"));
        harness_http_reply_free(&r);
    }
    reply_t r = http("HEAD", "/", c);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    harness_http_reply_free(&r);
    r = get("/nothing", cookie);
    assert_int_equal(r.status, 404);
    harness_http_reply_free(&r);
    r = get("/static/dash.css", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has(&r, "text/css"));
    harness_http_reply_free(&r);
    /* A forged cookie is no session. */
    r = get("/", "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(r.status, 303);
    harness_http_reply_free(&r);
    free(c);
    free(cookie);
}

/* --- the pages' figures --- */

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The number after `cell` within the element starting at `row` in body. */
static long cell(const char *body, const char *row, const char *cell_attr)
{
    const char *p = strstr(body, row);
    assert_non_null(p);
    const char *end = strstr(p, "</tr>");
    const char *c = strstr(p, cell_attr);
    assert_non_null(c);
    assert_true(c < end);
    return strtol(c + strlen(cell_attr), NULL, 10);
}

/* Programmes by kind and status, and their participants, against the tables. */
static void check_programmes(const char *b)
{
    static const char *const kinds[] = {"",      "training", "mentoring",
                                        "grant", "fair",     "export_mission"};
    static const char *const pst[] = {"", "planned", "running", "finished", "cancelled"};
    for (int k = 1; k <= 5; k++) {
        char row[32], attr[32];
        snprintf(row, sizeof(row), "<tr data-kind=\"%d\">", k);
        for (int s = 1; s <= 4; s++) {
            snprintf(attr, sizeof(attr), "data-status=\"%d\">", s);
            assert_int_equal(cell(b, row, attr),
                             svcenv_countf(&E,
                                           "SELECT count(*) FROM programme.programmes WHERE "
                                           "kind = '%s' AND status = '%s'",
                                           kinds[k], pst[s]));
        }
        assert_int_equal(cell(b, row, "participants\">"),
                         svcenv_countf(&E,
                                       "SELECT count(*) FROM programme.participants p JOIN "
                                       "programme.programmes g ON g.id = p.programme_id WHERE "
                                       "g.kind = '%s'",
                                       kinds[k]));
    }
}

static void test_figures(void **state)
{
    char *cookie = signed_in();
    reply_t r = get("/?lang=en", cookie);
    assert_int_equal(r.status, 200);
    const char *b = r.body;
    /* The map: one shape per district and city of oblast rank, one ring per region. */
    assert_non_null(strstr(b, "<svg class=\"map\""));
    assert_int_equal(count_of(b, "<circle class=\"district "),
                     svcenv_count(&E, "SELECT count(*) FROM registry.territories WHERE kind IN "
                                      "('rayon', 'city_oblast') AND valid_to IS NULL"));
    assert_int_equal(count_of(b, "<circle class=\"region "),
                     svcenv_count(&E, "SELECT count(*) FROM registry.territories WHERE kind IN "
                                      "('oblast', 'city_republican') AND valid_to IS NULL"));
    /* Coverage: Kochkor 1 of its 3 villages, At-Bashy 0 of 2, Naryn 1 of 5. */
    const char *places[][2] = {{KOCHKOR, "1"}, {ATBASHY, "0"}, {"41704000000000", "1"}};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(places); i++) {
        char *row = xasprintf("<tr id=\"t-%s\"", places[i][0]);
        long expect_v = svcenv_countf(
            &E,
            "SELECT count(*) FROM registry.territories WHERE kind = 'village' AND valid_to IS "
            "NULL AND left(code, %d) = left('%s', %d)",
            places[i][0][5] == '0' ? 5 : 8, places[i][0], places[i][0][5] == '0' ? 5 : 8);
        long expect_s = svcenv_countf(
            &E,
            "SELECT count(DISTINCT territory_code) FROM registry.specializations WHERE "
            "left(territory_code, %d) = left('%s', %d) AND territory_code LIKE '%%01__'",
            places[i][0][5] == '0' ? 5 : 8, places[i][0], places[i][0][5] == '0' ? 5 : 8);
        assert_int_equal(cell(b, row, "data-villages=\""), expect_v);
        assert_int_equal(cell(b, row, "data-specialized=\""), expect_s);
        assert_int_equal(expect_s, atol(places[i][1]));
        free(row);
    }
    /* Certificates by stars and status, each against the table. */
    static const char *const st[] = {"", "active", "suspended", "revoked"};
    for (int stars = 1; stars <= 5; stars++)
        for (int s = 1; s <= 3; s++) {
            char row[32], attr[32];
            snprintf(row, sizeof(row), "<tr data-stars=\"%d\">", stars);
            snprintf(attr, sizeof(attr), "data-status=\"%d\">", s);
            assert_int_equal(cell(b, row, attr),
                             svcenv_countf(&E,
                                           "SELECT count(*) FROM registry.certificates WHERE "
                                           "stars = %d AND status = '%s' AND expires_on >= "
                                           "current_date",
                                           stars, st[s]));
        }
    assert_int_equal(cell(b, "<tr data-stars=\"3\">", "data-status=\"1\">"), 2);
    check_programmes(b);
    assert_int_equal(cell(strstr(b, "<table id=\"funds\">"), "<tr data-minor", "=\""),
                     svcenv_count(&E, "SELECT sum(grant_minor) FROM programme.participants"));
    assert_non_null(strstr(b, "12345.67"));
    /* The last 20 events, newest first, against the log; no payload shown. */
    assert_int_equal(count_of(b, "<tr data-seq="), 20);
    long max_seq = svcenv_count(&E, "SELECT max(seq) FROM bus.events");
    char *newest = xasprintf("<tr data-seq=\"%ld\">", max_seq);
    assert_non_null(strstr(b, newest));
    free(newest);
    assert_non_null(strstr(b, "thing/&lt;b&gt;25"));
    assert_null(strstr(b, "secret!"));
    /* Exports: none shipped yet, and the table says so. */
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM exports.shipments"), 0);
    assert_null(strstr(b, "data-region="));
    harness_http_reply_free(&r);
    free(cookie);
}

/* ListRecentEvents (ovop.programme): newest first, bounded, envelope only, who may call. */
static void test_recent_events(void **state)
{
    ovop_client_t *c = svcenv_client_as(&E, VIEWER);
    Ovop__V1__ListRecentEventsRequest in = OVOP__V1__LIST_RECENT_EVENTS_REQUEST__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    assert_int_equal(ovop_client_call(c, "ovop.programme", "ListRecentEvents", NULL, &in.base,
                                      &ovop__v1__list_recent_events_response__descriptor, &rep,
                                      &out),
                     0);
    Ovop__V1__ListRecentEventsResponse *r = (Ovop__V1__ListRecentEventsResponse *)out;
    assert_non_null(r);
    assert_int_equal(r->n_events, 20); /* the default */
    assert_int_equal(r->events[0]->seq, svcenv_count(&E, "SELECT max(seq) FROM bus.events"));
    for (size_t i = 1; i < r->n_events; i++)
        assert_true(r->events[i]->seq < r->events[i - 1]->seq);
    assert_string_equal(r->events[0]->subject, "thing/<b>25");
    assert_string_equal(r->events[1]->soate, KOCHKOR);
    protobuf_c_message_free_unpacked(out, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    rep = NULL, out = NULL;
    in.limit = 101;
    assert_int_equal(ovop_client_call(c, "ovop.programme", "ListRecentEvents", NULL, &in.base,
                                      &ovop__v1__list_recent_events_response__descriptor, &rep,
                                      &out),
                     0);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_null(out);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
    c = svcenv_client_as(&E, NOBODY);
    rep = NULL;
    in.limit = 5;
    assert_int_equal(ovop_client_call(c, "ovop.programme", "ListRecentEvents", NULL, &in.base,
                                      &ovop__v1__list_recent_events_response__descriptor, &rep,
                                      &out),
                     0);
    assert_int_equal(rep->status->code, OVOP_PERMISSION_DENIED);
    ovop__v1__reply__free_unpacked(rep, NULL);
    ovop_client_destroy(&c);
}

static void test_escaping_and_languages(void **state)
{
    char *cookie = signed_in();
    reply_t r = get("/?lang=ru", cookie);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "<script"));
    assert_null(strstr(r.body, "<b>"));
    assert_null(strstr(r.body, "<i>"));
    assert_non_null(strstr(r.body, "Район &lt;b&gt;"));
    assert_non_null(strstr(r.body, "Fund &lt;i&gt;&amp;&lt;/i&gt;"));
    assert_non_null(strstr(r.body, "Охват сёл специализацией"));
    assert_non_null(strstr(r.body, "<html lang=\"ru\">"));
    harness_http_reply_free(&r);
    r = get("/?lang=en", cookie);
    assert_non_null(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt; District"));
    assert_non_null(strstr(r.body, "Specialization coverage of villages"));
    harness_http_reply_free(&r);
    free(cookie);
}

#ifdef DASH_BROWSER
/* --- in a real browser (ctest browser.test-dashboard) --- */

/* The browser signs in as an operator would: it opens the sign-in page (its cookie stays in
 * the profile), the test approves the code it shows, and the browser opens the dashboard. */
static void test_browser(void **state)
{
    assert_int_equal(system("mkdir -p " DASH_BROWSER_OUT), 0);
    char *signin = xasprintf("http://127.0.0.1:%u/signin?lang=en", dash_port);
    char *dom = browser_run("profile", "--dump-dom", signin);
    char *code = between(dom, "id=\"signin-code\">", "<");
    assert_non_null(code);
    free(dom);
    free(browser_run("signin-shot",
                     "--screenshot=" DASH_BROWSER_OUT "/dashboard-signin.png --window-size=412,915",
                     signin));
    browser_expect_png(DASH_BROWSER_OUT "/dashboard-signin.png");
    assert_int_equal(approve(VIEWER, code, NULL, NULL), OVOP_OK);
    long districts = svcenv_count(&E, "SELECT count(*) FROM registry.territories WHERE kind IN "
                                      "('rayon', 'city_oblast') AND valid_to IS NULL");
    const char *langs[] = {"en", "ru"};
    for (size_t l = 0; l < OVOP_ARRAY_SIZE(langs); l++) {
        char *url = xasprintf("http://127.0.0.1:%u/?lang=%s", dash_port, langs[l]);
        dom = browser_run("profile", "--dump-dom", url);
        browser_expect_dom(dom, "id=\"principal\">" VIEWER "<", url);
        browser_expect_dom(dom, "<svg class=\"map\"", url);
        assert_int_equal(count_of(dom, "<circle class=\"district "), districts);
        assert_int_equal(cell(dom, "<tr data-stars=\"3\">", "data-status=\"1\">"), 2);
        assert_int_equal(cell(dom, "<tr data-kind=\"1\">", "data-status=\"2\">"), 1);
        assert_int_equal(cell(dom, "<tr id=\"t-" KOCHKOR "\"", "data-villages=\""), 3);
        assert_null(strstr(dom, "<script"));
        free(dom);
        free(url);
    }
    const struct {
        const char *name, *size;
    } shots[] = {{"phone", "412,2600"}, {"laptop", "1280,1900"}};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(shots); i++) {
        char *url = xasprintf("http://127.0.0.1:%u/?lang=en", dash_port);
        char *flags = xasprintf("--screenshot=%s/dashboard-%s.png --window-size=%s",
                                DASH_BROWSER_OUT, shots[i].name, shots[i].size);
        free(browser_run("profile", flags, url));
        char *png = xasprintf("%s/dashboard-%s.png", DASH_BROWSER_OUT, shots[i].name);
        browser_expect_png(png);
        free(png);
        free(flags);
        free(url);
    }
    free(code);
    free(signin);
}

int main(void)
{
    if (!browser_available()) {
        fprintf(stderr, "browser.test-dashboard: chromium is not installed (deploy/ovop deps "
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
        cmocka_unit_test(test_signin_flow),   cmocka_unit_test(test_signout),
        cmocka_unit_test(test_methods),       cmocka_unit_test(test_figures),
        cmocka_unit_test(test_recent_events), cmocka_unit_test(test_escaping_and_languages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
