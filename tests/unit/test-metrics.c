/* Unit tests of the metrics registry's text exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_render(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_metric_t *a = ovop_metrics_counter(m, "x_total", "Things", "k=\"a\"");
    ovop_metric_t *g = ovop_metrics_gauge(m, "y", "Level", NULL);
    ovop_metric_t *b = ovop_metrics_counter(m, "x_total", "Things", "k=\"b\"");
    assert_ptr_equal(ovop_metrics_counter(m, "x_total", "Things", "k=\"a\""), a);
    static const double bounds[] = {0.1, 1};
    ovop_metric_t *h = ovop_metrics_histogram(m, "lat_seconds", "Latency", NULL, bounds, 2);
    ovop_metric_inc(a);
    ovop_metric_add(b, 2);
    ovop_metric_set(g, 7);
    ovop_metric_observe(h, 0.05);
    ovop_metric_observe(h, 0.5);
    ovop_metric_observe(h, 5);
    ovop_metric_inc(NULL); /* accepted */

    ovop_buf_t out;
    ovop_buf_init(&out);
    ovop_metrics_render(m, &out);
    const char *s = out.data;
    /* One HELP/TYPE per family, series of a family together. */
    const char *fam = strstr(s, "# TYPE x_total counter\nx_total{k=\"a\"} 1\nx_total{k=\"b\"} 2\n");
    assert_non_null(fam);
    assert_non_null(strstr(s, "# TYPE y gauge\ny 7\n"));
    assert_non_null(strstr(s, "lat_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(s, "lat_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(s, "lat_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(s, "lat_seconds_count 3\n"));
    assert_null(strstr(fam + 1, "# TYPE x_total"));
    ovop_buf_free(&out);
    ovop_metrics_destroy(&m);
    assert_null(m);
    ovop_metrics_destroy(&m);
}

/* Build info and the process metrics, refreshed by each render. */
static void test_process(void **state)
{
    ovop_metrics_t *m = ovop_metrics_new();
    ovop_metrics_process(m, "registryd");
    ovop_buf_t out;
    ovop_buf_init(&out);
    ovop_metrics_render(m, &out);
    assert_non_null(strstr(out.data, "# TYPE ovop_build_info gauge\novop_build_info{version=\""));
    assert_non_null(strstr(out.data, "\",daemon=\"registryd\"} 1\n"));
    assert_non_null(strstr(out.data, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(out.data, "# TYPE process_start_time_seconds gauge\n"));
    /* A running process has resident memory: the render read it (not the initial 0). */
    const char *rss = strstr(out.data, "\nprocess_resident_memory_bytes ");
    assert_non_null(rss);
    assert_true(strtod(rss + strlen("\nprocess_resident_memory_bytes "), NULL) > 1e5);
    const char *start = strstr(out.data, "\nprocess_start_time_seconds ");
    assert_true(strtod(start + strlen("\nprocess_start_time_seconds "), NULL) > 1.7e9);
    ovop_buf_free(&out);
    ovop_metrics_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_render),
                                       cmocka_unit_test(test_process)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
