/* Webhook POSTs: libcurl multi driven by the libuv loop (curl_multi_socket_action with uv_poll
 * + uv_timer), keep-alive connection reuse, HTTP/1.1, a per-request timeout, the response body
 * read and discarded beyond 4 KiB. Addresses are checked at creation (notify_webhook_check_url)
 * and again at connect, so a name re-pointed to a private address (DNS rebinding) is refused. */
#pragma once

#include <stddef.h>

#include <uv.h>

#include "metrics.h"

typedef struct notify_webhook notify_webhook_t;
typedef struct notify_webhook_opts {
    long timeout_ms;           /* whole request; 0 = 10000 */
    const char *allow;         /* comma-separated CIDRs allowed although private; NULL none */
    long max_host_connections; /* 0 = 16 */
} notify_webhook_opts_t;
typedef struct notify_webhook_result {
    int status;         /* HTTP status, 0 when no response */
    long retry_after_s; /* -1 when absent; seconds or HTTP-date converted */
    double latency_ms;
    const char *error; /* NULL, or a curl error text / "ADDRESS_NOT_ALLOWED" */
} notify_webhook_result_t;
typedef void (*notify_webhook_cb)(void *userdata, const notify_webhook_result_t *r);

int notify_webhook_new(notify_webhook_t **ret, uv_loop_t *loop, const notify_webhook_opts_t *o,
                       ovop_metrics_t *metrics);
/* POSTs body (copied) with headers ("Name: value", NULL-terminated, copied). cb exactly
 * once, from the loop, never before this returns. 0 or -errno. */
int notify_webhook_post(notify_webhook_t *w, const char *url, const char *const *headers,
                        const char *body, size_t len, notify_webhook_cb cb, void *userdata);
/* At endpoint creation: scheme http/https, no userinfo, host resolves only to addresses
 * that are public or in allow. 0, or -EINVAL / -EPERM with *ret_why (malloc'd). */
int notify_webhook_check_url(const char *url, const char *allow, char **ret_why);
void notify_webhook_destroy(notify_webhook_t **w); /* in-flight callbacks get status 0 */
