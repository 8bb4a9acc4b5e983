/* The webhook client against the HTTP sink over loopback: keep-alive (one connection for many
 * posts), the allow list (127.0.0.1 refused without it, at creation and at connect), answers
 * 410 / 429 with Retry-After / 5xx, timeouts, connection failures, destroy with requests in
 * flight, and the URL checks of endpoint creation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "httpsink.h"
#include "sign.h"
#include "util.h"
#include "webhook.h"

typedef struct result {
    bool done;
    int status;
    long retry_after_s;
    double latency_ms;
    char error[256];
} result_t;

static void on_result(void *userdata, const notify_webhook_result_t *r)
{
    result_t *out = userdata;
    assert_false(out->done); /* exactly once */
    out->done = true;
    out->status = r->status;
    out->retry_after_s = r->retry_after_s;
    out->latency_ms = r->latency_ms;
    snprintf(out->error, sizeof(out->error), "%s", r->error ? r->error : "");
}

/* Runs the loop until every result is in (or 20 s pass: a failure). */
static void run_until(uv_loop_t *loop, result_t *res, size_t n)
{
    int64_t deadline = ovop_mono_us() + 20 * 1000000;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += res[i].done;
        if (done == n)
            return;
        assert_true(ovop_mono_us() < deadline);
        uv_run(loop, UV_RUN_ONCE);
    }
}

static void close_all(uv_loop_t *loop, notify_webhook_t **w)
{
    notify_webhook_destroy(w);
    while (uv_loop_alive(loop))
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(loop), 0);
}

static const char *headers[] = {"Content-Type: application/cloudevents+json", "webhook-id: evt-1",
                                NULL};

typedef struct chain {
    notify_webhook_t *w;
    char *url;
    unsigned left, ok;
    bool done;
} chain_t;

/* Posts the next one from the callback, as notifyd does (head of line per subscription). */
static void on_chain(void *userdata, const notify_webhook_result_t *r)
{
    chain_t *c = userdata;
    if (r->status == 200)
        c->ok++;
    if (--c->left == 0) {
        c->done = true;
        return;
    }
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"n\":%u}", c->left);
    assert_int_equal(notify_webhook_post(c->w, c->url, headers, body, (size_t)n, on_chain, c), 0);
}

static void test_keep_alive(void **state)
{
    httpsink_t *s = httpsink_start(0);
    assert_non_null(s);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8"};
    assert_int_equal(notify_webhook_new(&w, &loop, &o, NULL), 0);
    chain_t c = {.w = w, .url = httpsink_url(s, "/hook"), .left = 50};
    assert_int_equal(notify_webhook_post(w, c.url, headers, "{\"n\":50}", 8, on_chain, &c), 0);
    int64_t deadline = ovop_mono_us() + 20 * 1000000;
    while (!c.done && ovop_mono_us() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    assert_true(c.done);
    assert_int_equal(c.ok, 50);
    assert_true(httpsink_wait(s, 50, 1000));
    assert_int_equal(httpsink_connections(s), 1); /* one connection for the 50 posts */
    const httpsink_request_t *first = httpsink_get(s, 0), *last = httpsink_get(s, 49);
    assert_string_equal(first->method, "POST");
    assert_string_equal(first->path, "/hook");
    assert_string_equal(first->body, "{\"n\":50}");
    assert_string_equal(last->body, "{\"n\":1}");
    assert_int_equal(first->client_port, last->client_port);
    assert_string_equal(httpsink_header(first, "content-type"), "application/cloudevents+json");
    assert_string_equal(httpsink_header(first, "Webhook-Id"), "evt-1");
    assert_null(httpsink_header(first, "Expect"));
    free(c.url);
    close_all(&loop, &w);
    httpsink_stop(&s);
}

/* Many at once with a per-host limit: curl queues beyond it, every one is answered. */
static void test_concurrent(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.1", .max_host_connections = 4};
    assert_int_equal(notify_webhook_new(&w, &loop, &o, NULL), 0);
    char *url = httpsink_url(s, "/many");
    httpsink_script(s, "/many", 200, -1, NULL, 20);
    result_t res[40] = {0};
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(notify_webhook_post(w, url, NULL, "{}", 2, on_result, &res[i]), 0);
    for (size_t i = 0; i < 40; i++)
        assert_false(res[i].done); /* never before post returns */
    run_until(&loop, res, 40);
    for (size_t i = 0; i < 40; i++)
        assert_int_equal(res[i].status, 200);
    assert_in_range(httpsink_connections(s), 1, 4);
    free(url);
    close_all(&loop, &w);
    httpsink_stop(&s);
}

static void test_signed(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8"};
    assert_int_equal(notify_webhook_new(&w, &loop, &o, NULL), 0);
    char *secret = notify_secret_generate(), *other = notify_secret_generate();
    const char *secrets[] = {secret}, body[] = "{\"specversion\":\"1.0\"}";
    int64_t now = ovop_now_us() / 1000000;
    char *sig = notify_sign(secrets, 1, "evt-42", now, body, strlen(body));
    char h_id[64], h_ts[64], *h_sig = xasprintf("webhook-signature: %s", sig);
    snprintf(h_id, sizeof(h_id), "webhook-id: evt-42");
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)now);
    const char *h[] = {h_id, h_ts, h_sig, NULL};
    char *url = httpsink_url(s, "/signed");
    result_t res = {0};
    assert_int_equal(notify_webhook_post(w, url, h, body, strlen(body), on_result, &res), 0);
    run_until(&loop, &res, 1);
    assert_int_equal(res.status, 200);
    const httpsink_request_t *r = httpsink_get(s, 0);
    assert_int_equal(httpsink_verify(r, secrets, 1), 0);
    const char *wrong[] = {other};
    assert_int_equal(httpsink_verify(r, wrong, 1), -EKEYREJECTED);
    free(url);
    free(h_sig);
    free(sig);
    free(secret);
    free(other);
    close_all(&loop, &w);
    httpsink_stop(&s);
}

static void test_not_allowed(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    assert_int_equal(notify_webhook_new(&w, &loop, NULL, NULL), 0); /* no allow list */
    char *url = httpsink_url(s, "/x");
    char *by_name = xasprintf("http://localhost:%u/x", httpsink_port(s));
    result_t res[2] = {0};
    assert_int_equal(notify_webhook_post(w, url, NULL, "{}", 2, on_result, &res[0]), 0);
    /* A name is checked where it resolves at connect: localhost is loopback. */
    assert_int_equal(notify_webhook_post(w, by_name, NULL, "{}", 2, on_result, &res[1]), 0);
    run_until(&loop, res, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].status, 0);
        assert_string_equal(res[i].error, "ADDRESS_NOT_ALLOWED");
    }
    assert_int_equal(httpsink_count(s), 0);
    assert_int_equal(httpsink_connections(s), 0);
    free(url);
    free(by_name);
    close_all(&loop, &w);
    httpsink_stop(&s);
}

static void test_statuses(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8"};
    ovop_metrics_t *m = ovop_metrics_new();
    assert_int_equal(notify_webhook_new(&w, &loop, &o, m), 0);
    char date[64];
    time_t later = time(NULL) + 60;
    struct tm tm;
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&later, &tm));
    httpsink_script(s, "/gone", 410, 1, NULL, 0);
    httpsink_script(s, "/busy", 429, 1, "120", 0);
    httpsink_script(s, "/date", 503, 1, date, 0);
    httpsink_script(s, "/flaky", 500, 2, NULL, 0);
    const char *paths[] = {"/gone", "/busy", "/date", "/flaky", "/flaky", "/flaky", "/ok"};
    enum { N = 7 };
    result_t res[N] = {0};
    for (size_t i = 0; i < N; i++) {
        char *url = httpsink_url(s, paths[i]);
        assert_int_equal(notify_webhook_post(w, url, NULL, "{}", 2, on_result, &res[i]), 0);
        free(url);
        run_until(&loop, &res[i], 1); /* one after the other: /flaky's order is known */
    }
    assert_int_equal(res[0].status, 410);
    assert_int_equal(res[0].retry_after_s, -1);
    assert_int_equal(res[1].status, 429);
    assert_int_equal(res[1].retry_after_s, 120);
    assert_int_equal(res[2].status, 503);
    assert_in_range(res[2].retry_after_s, 55, 61);
    assert_int_equal(res[3].status, 500);
    assert_int_equal(res[4].status, 500);
    assert_int_equal(res[5].status, 200);
    assert_int_equal(res[6].status, 200);
    for (size_t i = 0; i < N; i++) {
        assert_string_equal(res[i].error, "");
        assert_true(res[i].latency_ms > 0);
    }
    /* Counted by result: 2 answered 2xx, 2 4xx (410, 429), 3 other (503, 500, 500). */
    static const char *const results[] = {"2xx", "4xx", "other_status", "error"};
    static const double want[] = {2, 2, 3, 0};
    for (size_t i = 0; i < 4; i++) {
        char labels[64];
        snprintf(labels, sizeof(labels), "result=\"%s\"", results[i]);
        assert_true(ovop_metric_value(ovop_metrics_counter(m, "ovop_notify_webhook_requests_total",
                                                           "", labels)) == want[i]);
    }
    close_all(&loop, &w);
    ovop_metrics_destroy(&m);
    httpsink_stop(&s);
}

static void test_timeout_and_failures(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8", .timeout_ms = 300};
    assert_int_equal(notify_webhook_new(&w, &loop, &o, NULL), 0);
    httpsink_script(s, "/slow", 200, 1, NULL, 3000);
    char *url = httpsink_url(s, "/slow");
    uint16_t dead = (uint16_t)(httpsink_port(s) == 65535 ? 65534 : httpsink_port(s) + 1);
    char *nobody = xasprintf("http://127.0.0.1:%u/x", dead); /* most likely nobody listens */
    result_t res[2] = {0};
    assert_int_equal(notify_webhook_post(w, url, NULL, "{}", 2, on_result, &res[0]), 0);
    assert_int_equal(notify_webhook_post(w, nobody, NULL, "{}", 2, on_result, &res[1]), 0);
    run_until(&loop, res, 2);
    assert_int_equal(res[0].status, 0);
    assert_non_null(strstr(res[0].error, "timed out"));
    assert_true(res[0].latency_ms >= 290 && res[0].latency_ms < 2500);
    assert_int_equal(res[1].status, 0);
    assert_true(res[1].error[0] != '\0');
    assert_null(strstr(res[1].error, "ADDRESS_NOT_ALLOWED"));
    free(url);
    free(nobody);
    close_all(&loop, &w);
    httpsink_stop(&s);
}

static void test_destroy_in_flight(void **state)
{
    httpsink_t *s = httpsink_start(0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t o = {.allow = "127.0.0.0/8"};
    assert_int_equal(notify_webhook_new(&w, &loop, &o, NULL), 0);
    httpsink_script(s, "/slow", 200, -1, NULL, 2000);
    char *url = httpsink_url(s, "/slow");
    result_t res[3] = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(notify_webhook_post(w, url, NULL, "{}", 2, on_result, &res[i]), 0);
    assert_true(httpsink_wait(s, 0, 0));
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT); /* connect and send */
    notify_webhook_destroy(&w);
    assert_null(w);
    for (int i = 0; i < 3; i++) {
        assert_true(res[i].done);
        assert_int_equal(res[i].status, 0);
        assert_string_equal(res[i].error, "WEBHOOK_CLIENT_DESTROYED");
    }
    close_all(&loop, &w);
    free(url);
    httpsink_stop(&s);
}

static void test_bad_posts(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    notify_webhook_t *w;
    notify_webhook_opts_t bad = {.allow = "10.0.0.0/33"};
    assert_int_equal(notify_webhook_new(&w, &loop, &bad, NULL), -EINVAL);
    assert_int_equal(notify_webhook_new(&w, &loop, NULL, NULL), 0);
    result_t res = {0};
    const char *smuggle[] = {"X-A: 1\r\nX-B: 2", NULL}, *noname[] = {": v", NULL},
               *nocolon[] = {"X-A", NULL};
    assert_int_equal(notify_webhook_post(w, "http://8.8.8.8/", smuggle, "{}", 2, on_result, &res),
                     -EINVAL);
    assert_int_equal(notify_webhook_post(w, "http://8.8.8.8/", noname, "{}", 2, on_result, &res),
                     -EINVAL);
    assert_int_equal(notify_webhook_post(w, "http://8.8.8.8/", nocolon, "{}", 2, on_result, &res),
                     -EINVAL);
    assert_int_equal(notify_webhook_post(w, NULL, NULL, "{}", 2, on_result, &res), -EINVAL);
    assert_int_equal(notify_webhook_post(w, "http://8.8.8.8/", NULL, NULL, 2, on_result, &res),
                     -EINVAL);
    assert_false(res.done);
    close_all(&loop, &w);
}

static void check(const char *url, const char *allow, int want, const char *reason)
{
    char *why = NULL;
    assert_int_equal(notify_webhook_check_url(url, allow, &why), want);
    if (reason) {
        assert_non_null(why);
        if (!strstr(why, reason))
            fail_msg("%s: \"%s\" lacks %s", url, why, reason);
    }
    free(why);
}

static void test_check_url(void **state)
{
    check("http://127.0.0.1:8080/hook", NULL, -EPERM, "ADDRESS_NOT_ALLOWED");
    check("http://127.0.0.1:8080/hook", "127.0.0.0/8", 0, NULL);
    check("https://8.8.8.8/hook", NULL, 0, NULL);
    check("http://[2606:4700:4700::1111]/hook", NULL, 0, NULL);
    check("http://localhost/hook", NULL, -EPERM, "loopback");
    check("http://localhost/hook", "127.0.0.0/8,::1/128", 0, NULL);
    check("http://10.1.2.3/", NULL, -EPERM, "private");
    check("http://10.1.2.3/", "10.1.2.0/24", 0, NULL);
    check("http://10.1.3.3/", "10.1.2.0/24", -EPERM, "private");
    check("http://172.16.5.4/", NULL, -EPERM, "private");
    check("http://192.168.1.1/", NULL, -EPERM, "private");
    check("http://169.254.169.254/latest/meta-data", NULL, -EPERM, "link-local");
    check("http://100.64.0.1/", NULL, -EPERM, "carrier-grade");
    check("http://0.0.0.0/", NULL, -EPERM, "ADDRESS_NOT_ALLOWED");
    check("http://[::1]/", NULL, -EPERM, "loopback");
    check("http://[fe80::1]/", NULL, -EPERM, "link-local");
    check("http://[fd00::1]/", NULL, -EPERM, "unique-local");
    check("http://[::ffff:10.0.0.1]/", NULL, -EPERM, "private");
    check("http://[::ffff:8.8.8.8]/", NULL, 0, NULL);
    check("http://[64:ff9b::7f00:1]/", NULL, -EPERM, "loopback");
    check("http://224.0.0.1/", NULL, -EPERM, "multicast");
    check("ftp://8.8.8.8/", NULL, -EINVAL, "URL_SCHEME_NOT_ALLOWED");
    check("file:///etc/passwd", NULL, -EINVAL, NULL);
    check("http://user:pw@8.8.8.8/", NULL, -EINVAL, "URL_USERINFO_NOT_ALLOWED");
    check("http://user@8.8.8.8/", NULL, -EINVAL, "URL_USERINFO_NOT_ALLOWED");
    check("not a url", NULL, -EINVAL, "URL_INVALID");
    check("/relative/path", NULL, -EINVAL, "URL_INVALID");
    check("", NULL, -EINVAL, "URL_INVALID");
    check("http://no-such-host.invalid/", NULL, -EINVAL, "HOST_UNRESOLVABLE");
    check("http://8.8.8.8/", "10.0.0.0/8,bogus", -EINVAL, "ALLOW_LIST_INVALID");
    check("http://8.8.8.8/", "10.0.0.0/33", -EINVAL, "ALLOW_LIST_INVALID");
    check("http://8.8.8.8/", "::1/129", -EINVAL, "ALLOW_LIST_INVALID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_signed),
        cmocka_unit_test(test_not_allowed),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_timeout_and_failures),
        cmocka_unit_test(test_destroy_in_flight),
        cmocka_unit_test(test_bad_posts),
        cmocka_unit_test(test_check_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
