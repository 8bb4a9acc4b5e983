/* ListRecentEvents: the newest events of the log (bus.events, which every service role may
 * read), envelope fields only: type, subject, time, territory and sequence, never the
 * payload. Only numbered events (seq set after commit) are shown, newest first, so the list
 * is what subscribers see too. The unique index on seq makes it a short backward scan. */
#include <stdio.h>

#include "programd.h"
#include "read.h"

#define DEFAULT_LIMIT 20
#define MAX_LIMIT     100

static const ovop_read_t recent = {
    .sql = "SELECT e.seq, e.type, e.subject, (extract(epoch FROM e.time) * 1000000)::bigint "
           "AS time_us, coalesce(e.soate, '') AS soate FROM bus.events e WHERE e.seq IS NOT "
           "NULL ORDER BY e.seq DESC LIMIT $1::int",
    .page = {.response = &ovop__v1__list_recent_events_response__descriptor, .rows = "events"},
};

static void list_recent_events(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__ListRecentEventsRequest *in = (const Ovop__V1__ListRecentEventsRequest *)input;
    if (in->limit > MAX_LIMIT) {
        ovop_call_violation(call, "limit", "must be 1..%d (0: %d), got %u", MAX_LIMIT,
                            DEFAULT_LIMIT, in->limit);
        ovop_call_fail_violations(call);
        return;
    }
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", in->limit ? in->limit : DEFAULT_LIMIT);
    const char *params[] = {limit};
    ovop_read_all(call, p->pg, &recent, NULL, 1, params);
}

void programd_events_register(programd_t *p)
{
    static const ovop_method_t methods[] = {
        {"ListRecentEvents", list_recent_events},
    };
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(p->d), methods, p);
}
