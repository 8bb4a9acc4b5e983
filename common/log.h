/* Logging: one JSON object per line on stderr (time, level, service, instance, message,
 * request id), or a human-readable line with --log-format=text. The level is checked before
 * anything is formatted. */
#pragma once

#include <stdbool.h>

#include "util.h"

typedef enum ovop_log_level {
    OVOP_LOG_DEBUG,
    OVOP_LOG_INFO,
    OVOP_LOG_WARN,
    OVOP_LOG_ERROR,
} ovop_log_level_t;

/* Sets the identity stamped on every line. format is "json" or "text"; level one of
 * "debug", "info", "warn", "error". Returns 0 or -EINVAL for an unknown format or level. */
int ovop_log_setup(const char *service, const char *instance, const char *format,
                   const char *level);

extern ovop_log_level_t ovop_log_min_level;

const char *ovop_log_level_to_string(ovop_log_level_t l);

/* Writes one line. request_id may be NULL. Returns nothing: logging never fails loudly. */
void ovop_log_write(ovop_log_level_t level, const char *request_id, const char *fmt, ...)
    OVOP_PRINTF(3, 4);

#define ovop_log(level, rid, ...)                                                                  \
    do {                                                                                           \
        if ((level) >= ovop_log_min_level)                                                         \
            ovop_log_write((level), (rid), __VA_ARGS__);                                           \
    } while (0)

#define log_debug(...)          ovop_log(OVOP_LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)           ovop_log(OVOP_LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)           ovop_log(OVOP_LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...)          ovop_log(OVOP_LOG_ERROR, NULL, __VA_ARGS__)
#define log_debug_rid(rid, ...) ovop_log(OVOP_LOG_DEBUG, (rid), __VA_ARGS__)
#define log_info_rid(rid, ...)  ovop_log(OVOP_LOG_INFO, (rid), __VA_ARGS__)
#define log_warn_rid(rid, ...)  ovop_log(OVOP_LOG_WARN, (rid), __VA_ARGS__)
#define log_error_rid(rid, ...) ovop_log(OVOP_LOG_ERROR, (rid), __VA_ARGS__)

/* Logs at error level and evaluates to r (a negative errno), for `return log_error_errno(...)`. */
#define log_error_errno(r, ...) (ovop_log(OVOP_LOG_ERROR, NULL, __VA_ARGS__), (r))
