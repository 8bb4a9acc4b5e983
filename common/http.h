/* The operations endpoint of a daemon: GET /metrics (Prometheus text), /healthz (the process
 * and its loop are alive) and /readyz (it can do its job: broker and database reachable).
 * Served by libmicrohttpd in external-epoll mode, driven from the daemon's libuv loop, so
 * the handlers read the loop's state without locks. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "metrics.h"
#include "util.h"

typedef struct ovop_http ovop_http_t;

/* Returns true when ready; otherwise appends the reason to why. */
typedef bool (*ovop_http_ready_fn)(void *userdata, ovop_buf_t *why);

/* listen is "HOST:PORT" (port 0 picks a free one). Returns 0 or -errno (-EINVAL for a bad
 * address, -EADDRINUSE...). */
int ovop_http_new(ovop_http_t **ret, uv_loop_t *loop, const char *listen, ovop_metrics_t *metrics,
                  ovop_http_ready_fn ready, void *userdata);
/* Parses listen, "HOST:PORT" with an IPv4 HOST (port 0..65535), into ret. Returns 0 or -EINVAL.
 * Shared by every HTTP listener (ovop-webd's public pages and dashboard too). */
int ovop_http_parse_listen(const char *listen, struct sockaddr_in *ret);

/* The port actually bound. */
uint16_t ovop_http_port(const ovop_http_t *h);
void ovop_http_destroy(ovop_http_t **h);
