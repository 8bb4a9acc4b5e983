/* Prometheus metrics: counters, gauges and histograms kept in memory by the loop thread
 * and rendered in the text exposition format (version 0.0.4) for /metrics. */
#pragma once

#include <stddef.h>

#include "util.h"

typedef struct ovop_metrics ovop_metrics_t;
typedef struct ovop_metric ovop_metric_t;

ovop_metrics_t *ovop_metrics_new(void);
void ovop_metrics_destroy(ovop_metrics_t **m);

/* Registers a series, or returns the one already registered with the same name and labels.
 * labels is the inside of the braces, e.g. "service=\"ovop.registry\"", or NULL.
 * The returned pointer lives as long as the registry. */
ovop_metric_t *ovop_metrics_counter(ovop_metrics_t *m, const char *name, const char *help,
                                    const char *labels);
ovop_metric_t *ovop_metrics_gauge(ovop_metrics_t *m, const char *name, const char *help,
                                  const char *labels);
/* bounds: increasing upper bounds of the buckets (+Inf is implied). */
ovop_metric_t *ovop_metrics_histogram(ovop_metrics_t *m, const char *name, const char *help,
                                      const char *labels, const double *bounds, size_t n_bounds);

/* Each accepts NULL, so optional metrics need no checks at the call site. */
void ovop_metric_inc(ovop_metric_t *c);
void ovop_metric_add(ovop_metric_t *c, double v);
void ovop_metric_set(ovop_metric_t *g, double v);
void ovop_metric_observe(ovop_metric_t *h, double v);
double ovop_metric_value(const ovop_metric_t *c);

/* Latency buckets in seconds, 100 µs .. 10 s, for request histograms. */
extern const double ovop_latency_buckets[];
extern const size_t ovop_latency_buckets_n;

void ovop_metrics_render(const ovop_metrics_t *m, ovop_buf_t *out);

/* Registers ovop_build_info{version,daemon} (always 1) and the process metrics
 * process_resident_memory_bytes, process_cpu_seconds_total and process_start_time_seconds,
 * which each render refreshes from /proc and getrusage. daemon names the program
 * ("registryd", "broker"...). */
void ovop_metrics_process(ovop_metrics_t *m, const char *daemon);
