/* Process harness for integration tests and benchmarks: spawn the project's binaries with
 * extra environment, logs under a per-test temporary directory, signals, reaping, free
 * loopback ports, waiting for a service to appear on a broker, and a plain HTTP GET for
 * /metrics. Nothing here knows about a particular daemon. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys.h"
#include "util.h"

/* The test's temporary directory, created on first use (under $TMPDIR or /tmp) and kept
 * after the run for the logs. Aborts when it cannot be created. */
const char *harness_tmpdir(void);

/* The path of a binary of the build, OVOP_BIN_DIR "/" name (malloc'd). */
char *harness_bin(const char *name);

/* Starts bin (a path) with args (NULL-terminated, argv[1..]) and the current environment
 * plus env ("NAME=value" strings, NULL-terminated, may be NULL). Its stdout and stderr are
 * appended to <tmpdir>/<log_name>.log. Returns 0 with *ret_pid, or -errno. */
int harness_spawn(pid_t *ret_pid, const char *bin, const char *const *args, const char *const *env,
                  const char *log_name);

/* Sends sig to pid. Returns 0 or -errno. */
int harness_kill(pid_t pid, int sig);

/* Waits up to timeout_ms for pid to exit and reaps it. Returns 0 with *ret_status (as from
 * waitpid; may be NULL), or -ETIMEDOUT (the process still runs), or -errno. */
int harness_wait_exit(pid_t pid, unsigned timeout_ms, int *ret_status);

/* SIGKILLs pid and reaps it; accepts pid <= 0. */
void harness_stop(pid_t pid);

/* A TCP port on 127.0.0.1 that was free a moment ago. Returns 0 or -errno. */
int harness_free_port(uint16_t *ret_port);

/* Polls the broker at endpoint with mmi.service until it answers "200" for service, or
 * timeout_ms passes, connecting with sec (NULL: plaintext). Returns 0 or -ETIMEDOUT. */
int harness_wait_service(const char *endpoint, const char *service, unsigned timeout_ms,
                         const ovop_security_t *sec);

/* A whole HTTP reply: its status, its head as received (status line and headers, ending
 * "\r\n") and its body, both malloc'd. */
typedef struct harness_http_reply {
    int status;
    char *headers;
    char *body;
} harness_http_reply_t;

/* Sends "METHOD path HTTP/1.0" to 127.0.0.1:port with "Host: host" (NULL: 127.0.0.1) and the
 * header lines extra (each ending "\r\n"; NULL: none), reads the reply to the end of the
 * connection into *ret. Returns the status code, or -errno with *ret zeroed. */
int harness_http(uint16_t port, const char *method, const char *path, const char *host,
                 const char *extra, harness_http_reply_t *ret);
void harness_http_reply_free(harness_http_reply_t *r);

/* GET path from 127.0.0.1:port (HTTP/1.0). Returns the status code with the body appended
 * to *body, or -errno. */
int harness_http_get(uint16_t port, const char *path, ovop_buf_t *body);

/* The value of the sample `series` (name with its labels exactly as rendered, e.g.
 * ovop_broker_dropped_total{reason="bad_header"}) in a Prometheus text page; -1 when absent. */
double harness_metric(const char *page, const char *series);

/* harness_metric() of the /metrics page of 127.0.0.1:port; -1 when the page cannot be read
 * or has no such sample. */
double harness_port_metric(uint16_t port, const char *series);

/* True in a build with AddressSanitizer: processes then use several times their memory
 * (shadow memory, quarantine), so memory bounds are measured and printed but not asserted. */
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_SANITIZED 1
#else
#define HARNESS_SANITIZED 0
#endif
/* A memory bound (KiB) that holds unless the build is sanitized. */
#define HARNESS_RSS_BOUND_OK(kib, bound) (HARNESS_SANITIZED || (kib) < (bound))

/* Sleeps ms milliseconds. */
void harness_sleep_ms(unsigned ms);
