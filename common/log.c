#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

ovop_log_level_t ovop_log_min_level = OVOP_LOG_INFO;

static char log_service[64] = "ovop";
static char log_instance[128] = "";
static bool log_json = true;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *ovop_log_level_to_string(ovop_log_level_t l)
{
    return (unsigned)l < OVOP_ARRAY_SIZE(level_names) ? level_names[l] : "unknown";
}

int ovop_log_setup(const char *service, const char *instance, const char *format, const char *level)
{
    bool json;
    int lvl = -1;

    if (!format || strcmp(format, "json") == 0)
        json = true;
    else if (strcmp(format, "text") == 0)
        json = false;
    else
        return -EINVAL;
    if (!level)
        lvl = OVOP_LOG_INFO;
    for (unsigned i = 0; level && i < OVOP_ARRAY_SIZE(level_names); i++)
        if (strcmp(level, level_names[i]) == 0)
            lvl = (int)i;
    if (lvl < 0)
        return -EINVAL;

    log_json = json;
    ovop_log_min_level = (ovop_log_level_t)lvl;
    if (service)
        snprintf(log_service, sizeof(log_service), "%s", service);
    if (instance)
        snprintf(log_instance, sizeof(log_instance), "%s", instance);
    return 0;
}

void ovop_log_write(ovop_log_level_t level, const char *request_id, const char *fmt, ...)
{
    char msg[2048];
    char ts[40];
    va_list ap;
    int64_t now = ovop_now_us();
    time_t secs = (time_t)(now / 1000000);
    struct tm tm;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gmtime_r(&secs, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%06dZ", (int)(now % 1000000));

    if (request_id && !request_id[0])
        request_id = NULL; /* a request whose id could not be read */
    if (!log_json) {
        fprintf(stderr, "%s %-5s %s[%s] %s%s%s%s\n", ts, ovop_log_level_to_string(level),
                log_service, log_instance, msg, request_id ? " (request " : "",
                request_id ? request_id : "", request_id ? ")" : "");
        return;
    }

    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "level", json_string(ovop_log_level_to_string(level)));
    json_object_set_new(o, "service", json_string(log_service));
    json_object_set_new(o, "instance", json_string(log_instance));
    /* json_string rejects invalid UTF-8; a message can carry peer bytes, so fall back. */
    json_t *m = json_string(msg);
    json_object_set_new(o, "message", m ? m : json_string("(message was not valid UTF-8)"));
    if (request_id && request_id[0]) {
        json_t *r = json_string(request_id);
        if (r)
            json_object_set_new(o, "request_id", r);
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (line) {
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    json_decref(o);
}
