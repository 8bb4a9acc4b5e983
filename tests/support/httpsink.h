/* A test HTTP server (libmicrohttpd, one thread per connection, keep-alive) on 127.0.0.1 that
 * records every request and answers by a script per path: a status for the next N requests
 * (500 three times, then the default 200), a Retry-After header, a delay before answering.
 * Tests wait until K requests arrived, read them, count the TCP connections the client opened,
 * and check Standard Webhooks signatures with notify_verify. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct httpsink httpsink_t;

typedef struct httpsink_header {
    char *name, *value;
} httpsink_header_t;

typedef struct httpsink_request {
    char *method, *path;
    httpsink_header_t *headers;
    size_t n_headers;
    char *body;
    size_t body_len;
    int64_t time_us;      /* wall clock when the body was complete */
    uint16_t client_port; /* the client's source port: one per TCP connection */
    unsigned connection;  /* 1, 2, ... in the order the sink accepted connections */
    int status;           /* what the sink answered */
} httpsink_request_t;

/* Starts the sink on 127.0.0.1:port (0: a free port). NULL on failure. */
httpsink_t *httpsink_start(uint16_t port);
/* Stops the server (waking delayed answers) and frees every recorded request. */
void httpsink_stop(httpsink_t **s);
uint16_t httpsink_port(const httpsink_t *s);
/* "http://127.0.0.1:<port><path>", malloc'd. */
char *httpsink_url(const httpsink_t *s, const char *path);

/* The next `times` requests to path (exact match; -1 times: every one from now on) are
 * answered with status, a Retry-After header when retry_after is not NULL, after delay_ms.
 * Rules of one path apply in the order they were added; without one the answer is 200. */
void httpsink_script(httpsink_t *s, const char *path, int status, int times,
                     const char *retry_after, unsigned delay_ms);

/* Waits until at least k requests were recorded. true when they were, false at timeout. */
bool httpsink_wait(httpsink_t *s, size_t k, unsigned timeout_ms);
size_t httpsink_count(httpsink_t *s);
/* Request i (0 = first); valid until httpsink_stop. NULL when there is no such request. */
const httpsink_request_t *httpsink_get(httpsink_t *s, size_t i);
/* TCP connections accepted so far. */
unsigned httpsink_connections(httpsink_t *s);

/* The value of a header (name case-insensitive), NULL when absent. */
const char *httpsink_header(const httpsink_request_t *r, const char *name);
/* notify_verify of the request's webhook-id, webhook-timestamp and webhook-signature
 * headers and body against secrets, at the current time with a 5-minute tolerance. */
int httpsink_verify(const httpsink_request_t *r, const char *const *secrets, size_t n);
