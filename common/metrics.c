#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef OVOP_VERSION
#define OVOP_VERSION "unknown"
#endif

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

struct ovop_metric {
    char *name;
    char *help;
    char *labels; /* "" when none */
    metric_type_t type;
    double value; /* counter, gauge; histogram: sum */
    double *bounds;
    uint64_t *buckets; /* histogram: per-bucket (not cumulative) counts, n_bounds + 1 */
    size_t n_bounds;
    uint64_t count;
    struct ovop_metric *next;
};

struct ovop_metrics {
    ovop_metric_t *head, *tail;
    /* ovop_metrics_process: refreshed at each render. */
    ovop_metric_t *rss, *cpu;
};

const double ovop_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
const size_t ovop_latency_buckets_n = OVOP_ARRAY_SIZE(ovop_latency_buckets);

ovop_metrics_t *ovop_metrics_new(void)
{
    return xcalloc(1, sizeof(ovop_metrics_t));
}

void ovop_metrics_destroy(ovop_metrics_t **mp)
{
    ovop_metrics_t *m = *mp;
    if (!m)
        return;
    for (ovop_metric_t *s = m->head, *next; s; s = next) {
        next = s->next;
        free(s->name);
        free(s->help);
        free(s->labels);
        free(s->bounds);
        free(s->buckets);
        free(s);
    }
    free(m);
    *mp = NULL;
}

static ovop_metric_t *series(ovop_metrics_t *m, metric_type_t type, const char *name,
                             const char *help, const char *labels)
{
    if (!m)
        return NULL;
    labels = labels ? labels : "";
    for (ovop_metric_t *s = m->head; s; s = s->next)
        if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    ovop_metric_t *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(name);
    s->help = xstrdup(help);
    s->labels = xstrdup(labels);
    s->type = type;
    /* Keep series of one family together so the family is rendered once. */
    ovop_metric_t *after = NULL;
    for (ovop_metric_t *p = m->head; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            after = p;
    if (after) {
        s->next = after->next;
        after->next = s;
        if (m->tail == after)
            m->tail = s;
    } else {
        if (m->tail)
            m->tail->next = s;
        else
            m->head = s;
        m->tail = s;
    }
    return s;
}

ovop_metric_t *ovop_metrics_counter(ovop_metrics_t *m, const char *name, const char *help,
                                    const char *labels)
{
    return series(m, METRIC_COUNTER, name, help, labels);
}

ovop_metric_t *ovop_metrics_gauge(ovop_metrics_t *m, const char *name, const char *help,
                                  const char *labels)
{
    return series(m, METRIC_GAUGE, name, help, labels);
}

ovop_metric_t *ovop_metrics_histogram(ovop_metrics_t *m, const char *name, const char *help,
                                      const char *labels, const double *bounds, size_t n_bounds)
{
    ovop_metric_t *s = series(m, METRIC_HISTOGRAM, name, help, labels);
    if (s && !s->buckets) {
        s->bounds = xmemdup(bounds, n_bounds * sizeof(double));
        s->n_bounds = n_bounds;
        s->buckets = xcalloc(n_bounds + 1, sizeof(uint64_t));
    }
    return s;
}

void ovop_metric_inc(ovop_metric_t *c)
{
    if (c)
        c->value += 1;
}

void ovop_metric_add(ovop_metric_t *c, double v)
{
    if (c)
        c->value += v;
}

void ovop_metric_set(ovop_metric_t *g, double v)
{
    if (g)
        g->value = v;
}

double ovop_metric_value(const ovop_metric_t *c)
{
    return c ? c->value : 0;
}

void ovop_metric_observe(ovop_metric_t *h, double v)
{
    if (!h || !h->buckets)
        return;
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->value += v;
}

static void render_value(ovop_buf_t *out, const char *name, const char *suffix, const char *labels,
                         const char *extra, double v)
{
    bool any = labels[0] || (extra && extra[0]);
    ovop_buf_printf(out, "%s%s", name, suffix);
    if (any)
        ovop_buf_printf(out, "{%s%s%s}", labels, labels[0] && extra && extra[0] ? "," : "",
                        extra ? extra : "");
    if (isinf(v))
        ovop_buf_puts(out, " +Inf\n");
    else
        ovop_buf_printf(out, " %.17g\n", v);
}

/* The process gauges' values now: cheap enough for every scrape. */
static void refresh_process(const ovop_metrics_t *m)
{
    if (!m->rss)
        return;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        ovop_metric_set(m->cpu,
                        (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                            ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size, resident;
    if (f && fscanf(f, "%lu %lu", &size, &resident) == 2)
        ovop_metric_set(m->rss, (double)resident * (double)sysconf(_SC_PAGESIZE));
    if (f)
        fclose(f);
}

void ovop_metrics_process(ovop_metrics_t *m, const char *daemon)
{
    char *labels = xasprintf("version=\"%s\",daemon=\"%s\"", OVOP_VERSION, daemon);
    ovop_metric_set(ovop_metrics_gauge(m, "ovop_build_info",
                                       "Always 1; the labels name the build and the program",
                                       labels),
                    1);
    free(labels);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* Set up at start: the time of this call stands for the process's start. */
    ovop_metric_set(ovop_metrics_gauge(m, "process_start_time_seconds",
                                       "Start time of the process since the Unix epoch in seconds",
                                       NULL),
                    (double)now.tv_sec + (double)now.tv_nsec / 1e9);
    m->rss = ovop_metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes",
                                NULL);
    m->cpu = ovop_metrics_counter(m, "process_cpu_seconds_total",
                                  "Total user and system CPU time spent in seconds", NULL);
}

void ovop_metrics_render(const ovop_metrics_t *m, ovop_buf_t *out)
{
    refresh_process(m);
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    const char *last = "";
    for (const ovop_metric_t *s = m->head; s; s = s->next) {
        if (strcmp(last, s->name) != 0) {
            ovop_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
                            type_names[s->type]);
            last = s->name;
        }
        if (s->type != METRIC_HISTOGRAM) {
            render_value(out, s->name, "", s->labels, NULL, s->value);
            continue;
        }
        uint64_t cum = 0;
        char le[48];
        for (size_t i = 0; i <= s->n_bounds; i++) {
            cum += s->buckets[i];
            if (i < s->n_bounds)
                snprintf(le, sizeof(le), "le=\"%g\"", s->bounds[i]);
            else
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            render_value(out, s->name, "_bucket", s->labels, le, (double)cum);
        }
        render_value(out, s->name, "_sum", s->labels, NULL, s->value);
        render_value(out, s->name, "_count", s->labels, NULL, (double)s->count);
    }
}
