/* The NotifyService methods: access scopes, subscriptions and their visibility (endpoints
 * are in endpoints.c). A notify.subscriber acts on its own agency's things (a request naming
 * another agency: PERMISSION_DENIED NOT_YOURS); a notify.admin on any agency's. */
#include <inttypes.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dbcall.h"
#include "log.h"
#include "methods.h"
#include "pbrow.h"
#include "read.h"

/* ---- shared ---- */

static ovop_pg_t *methods_pg; /* the daemon's pool, for callbacks that have only the call */

const char *methods_agency(ovop_call_t *call, const char *requested, bool required)
{
    if (ovop_call_has_role(call, "notify.admin")) {
        if (required && !*requested) {
            ovop_call_violation(call, "agency", "required: the agency acted for");
            ovop_call_fail_violations(call);
            return NULL;
        }
        if (*requested && !methods_name_ok(requested)) {
            ovop_call_violation(call, "agency", "not an agency code: %s", requested);
            ovop_call_fail_violations(call);
            return NULL;
        }
        return requested;
    }
    const char *own = ovop_call_principal(call)->agency;
    if (!own || !*own) {
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "NOT_AN_AGENCY",
                              "the caller is no agency's principal");
        return NULL;
    }
    if (*requested && strcmp(requested, own) != 0) {
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "NOT_YOURS",
                              "agency %s is not the caller's (%s)", requested, own);
        return NULL;
    }
    return own;
}

bool methods_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static bool match(const char *re, const char *s)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

/* Checks each value of a pattern list against re ('*' allowed when star) and returns the
 * PostgreSQL array literal (in the call's arena). */
static const char *pattern_list(ovop_call_t *call, const char *field, char **v, size_t n,
                                const char *re, const char *what, bool star)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "{");
    if (n > 100)
        ovop_call_violation(call, field, "at most 100 values, got %zu", n);
    for (size_t i = 0; i < n && i < 100; i++) {
        if (!(star && strcmp(v[i], "*") == 0) && !match(re, v[i]))
            ovop_call_violation(call, field, "%s is not %s", v[i], what);
        ovop_buf_printf(&b, "%s\"%s\"", i ? "," : "", strchr(v[i], '"') ? "" : v[i]);
    }
    ovop_buf_puts(&b, "}");
    char *out = ovop_call_strdup(call, b.data);
    ovop_buf_free(&b);
    return out;
}

#define RE_TYPE     "^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*(\\.\\*)?$"
#define RE_SOATE    "^[0-9]{1,14}$"
#define RE_HS       "^[0-9]{1,6}$"
#define RE_DEST     "^[A-Z]{2}$"
#define RE_EXPORTER "^(producer|cooperative):[1-9][0-9]{0,17}$"

static void fail_refusal(ovop_call_t *call, const char *reason, const char *message)
{
    static const struct {
        const char *reason;
        ovop_code_t code;
    } codes[] = {
        {"NOT_FOUND", OVOP_NOT_FOUND},
        {"ENDPOINT_NOT_FOUND", OVOP_NOT_FOUND},
        {"NO_SCOPE", OVOP_FAILED_PRECONDITION},
        {"NOT_YOURS", OVOP_PERMISSION_DENIED},
        {"ALREADY_DELETED", OVOP_FAILED_PRECONDITION},
        {"NOT_PAUSED", OVOP_FAILED_PRECONDITION},
        {"NOT_ACTIVE", OVOP_FAILED_PRECONDITION},
    };
    ovop_code_t code = OVOP_INVALID_ARGUMENT;
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(codes); i++)
        if (strcmp(codes[i].reason, reason) == 0)
            code = codes[i].code;
    ovop_call_fail_reason(call, code, reason, "%s", message);
}

/* ---- reads ---- */

static const ovop_read_t subscription = {
    .sql = "SELECT v.* FROM notify.subscription_view v WHERE v.id = $1",
    .row = &ovop__v1__subscription__descriptor,
    .noun = "subscription",
};

static const ovop_read_t subscriptions = {
    .row = &ovop__v1__subscription__descriptor,
    .page = {&ovop__v1__list_subscriptions_response__descriptor, "subscriptions", "id"},
};

static const ovop_read_t scope = {
    .sql = "SELECT v.* FROM notify.scope_view v WHERE v.agency = $1",
    .row = &ovop__v1__agency_scope__descriptor,
    .noun = "access scope of agency",
};

/* A subscription the caller may act on: NOT_FOUND / NOT_YOURS otherwise; then `then`. */
typedef void (*owned_fn)(ovop_call_t *call, notifyd_t *n, const char *id);
typedef struct owned {
    notifyd_t *n;
    owned_fn then;
    const char *agency;
    const char *id;
} owned_t;

typedef struct owned_call {
    ovop_call_t *call;
    owned_t o;
} owned_call_t;

static void on_owned(PGresult *res, const char *error, void *userdata)
{
    owned_call_t *oc = userdata;
    ovop_call_t *call = oc->call;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) == 0) {
        ovop_call_fail_reason(call, OVOP_NOT_FOUND, "NOT_FOUND", "no subscription %s", oc->o.id);
        return;
    }
    const char *agency = ovop_pg_value(res, 0, "agency");
    if (*oc->o.agency && strcmp(agency, oc->o.agency) != 0) {
        ovop_call_fail_reason(call, OVOP_PERMISSION_DENIED, "NOT_YOURS",
                              "subscription %s belongs to another agency", oc->o.id);
        return;
    }
    oc->o.then(call, oc->o.n, oc->o.id);
}

static void owned(ovop_call_t *call, notifyd_t *n, const char *id, owned_fn then)
{
    if (!notify_uuid_valid(id)) {
        ovop_call_violation(call, "id", "must be a subscription's UUID, got \"%s\"", id);
        ovop_call_fail_violations(call);
        return;
    }
    const char *agency = methods_agency(call, "", false);
    if (!agency)
        return;
    owned_call_t *oc = ovop_call_alloc(call, sizeof(*oc));
    oc->call = call;
    oc->o = (owned_t){n, then, agency, ovop_call_strdup(call, id)};
    const char *params[] = {id};
    ovop_call_query(call, n->pg,
                    "SELECT agency FROM notify.subscriptions WHERE id = $1::uuid "
                    "AND status <> 'deleted'",
                    1, params, on_owned, oc);
}

static void answer_subscription(ovop_call_t *call, notifyd_t *n, const char *id)
{
    const char *params[] = {id};
    ovop_read_one(call, n->pg, &subscription, id, 1, params);
}

static void get_subscription(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    owned(call, userdata, ((const Ovop__V1__SubscriptionRef *)input)->id, answer_subscription);
}

static void list_subscriptions(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__ListSubscriptionsRequest *in =
        (const Ovop__V1__ListSubscriptionsRequest *)input;
    const char *agency = methods_agency(call, in->agency, false);
    if (!agency)
        return;
    const char *params[] = {agency};
    ovop_read_all(call, n->pg, &subscriptions,
                  "SELECT v.* FROM notify.subscription_view v WHERE ($1 = '' OR v.agency = $1) "
                  "AND v.status <> 'deleted' "
                  "ORDER BY v.agency, v.created_us, v.id",
                  1, params);
}

/* ---- status changes ---- */

typedef struct status_change {
    const char *to;
} status_change_t;

/* After a change made by a SQL function (which the same statement's snapshot would not
 * show): the refusal it returned, or the subscription read afresh. */
static void on_status(PGresult *res, const char *error, void *userdata)
{
    ovop_call_t *call = userdata;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    const char *reason = ovop_pg_value(res, 0, "reason");
    if (*reason) {
        fail_refusal(call, reason, ovop_pg_value(res, 0, "message"));
        return;
    }
    const char *id = ovop_call_strdup(call, ovop_pg_value(res, 0, "sub_id"));
    const char *params[] = {id};
    ovop_read_one(call, methods_pg, &subscription, id, 1, params);
}

static void change_status(ovop_call_t *call, notifyd_t *n, const char *id, const char *to)
{
    const char *agency = methods_agency(call, "", false);
    if (!agency)
        return;
    const char *params[] = {id, agency, to};
    ovop_call_query(call, n->pg,
                    "SELECT c.reason, c.message, $1::uuid::text AS sub_id "
                    "FROM notify.set_status($1::uuid, $2, $3) c",
                    3, params, on_status, call);
}

#define STATUS_METHOD(fn, to)                                                                      \
    static void fn(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)               \
    {                                                                                              \
        const char *id = ((const Ovop__V1__SubscriptionRef *)input)->id;                           \
        if (!notify_uuid_valid(id)) {                                                              \
            ovop_call_violation(call, "id", "must be a subscription's UUID, got \"%s\"", id);      \
            ovop_call_fail_violations(call);                                                       \
            return;                                                                                \
        }                                                                                          \
        change_status(call, userdata, id, to);                                                     \
    }
STATUS_METHOD(pause_subscription, "paused")
STATUS_METHOD(resume_subscription, "active")
STATUS_METHOD(delete_subscription, "deleted")

static void replay_subscription(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__ReplaySubscriptionRequest *in =
        (const Ovop__V1__ReplaySubscriptionRequest *)input;
    if (!notify_uuid_valid(in->id))
        ovop_call_violation(call, "id", "must be a subscription's UUID, got \"%s\"", in->id);
    if ((in->from_sequence == 0) == (in->from_time_us == 0))
        ovop_call_violation(call, "from_sequence",
                            "give exactly one of from_sequence and "
                            "from_time_us");
    if (in->from_time_us < 0)
        ovop_call_violation(call, "from_time_us", "must be positive");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    char from[24], t[24];
    snprintf(from, sizeof(from), "%" PRIu64, in->from_sequence);
    snprintf(t, sizeof(t), "%" PRId64, in->from_time_us);
    const char *params[] = {in->id, from, t};
    ovop_call_query(call, n->pg,
                    "SELECT c.reason, c.message, $1::uuid::text AS sub_id "
                    "FROM notify.replay($1::uuid, $2::bigint, $3::bigint) c",
                    3, params, on_status, call);
}

/* ---- CreateSubscription ---- */

static void on_created(PGresult *res, const char *error, void *userdata)
{
    on_status(res, error, userdata);
}

static void create_subscription(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__CreateSubscriptionRequest *in =
        (const Ovop__V1__CreateSubscriptionRequest *)input;
    const char *agency = methods_agency(call, in->agency, true);
    if (!agency)
        return;
    bool webhook = in->delivery == OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_WEBHOOK;
    if (in->delivery != OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_STREAM && !webhook)
        ovop_call_violation(call, "delivery", "required: stream or webhook");
    if (webhook && !notify_uuid_valid(in->endpoint_id))
        ovop_call_violation(call, "endpoint_id", "a webhook subscription needs an endpoint's id");
    if (!webhook && *in->endpoint_id)
        ovop_call_violation(call, "endpoint_id", "only for webhook subscriptions");
    if (in->start_sequence && in->start_time_us)
        ovop_call_violation(call, "start_sequence",
                            "give at most one of start_sequence and "
                            "start_time_us");
    if (in->start_time_us < 0)
        ovop_call_violation(call, "start_time_us", "must be positive");
    Ovop__V1__SubscriptionFilter empty = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
    const Ovop__V1__SubscriptionFilter *f = in->filter ? in->filter : &empty;
    const char *types = pattern_list(call, "filter.event_types", f->event_types, f->n_event_types,
                                     RE_TYPE, "an event type or a prefix ending in .*", false);
    const char *hs = pattern_list(call, "filter.hs_prefixes", f->hs_prefixes, f->n_hs_prefixes,
                                  RE_HS, "1..6 digits of an HS code", false);
    const char *soate =
        pattern_list(call, "filter.soate_prefixes", f->soate_prefixes, f->n_soate_prefixes,
                     RE_SOATE, "1..14 digits of a SOATE code", false);
    const char *dest = pattern_list(call, "filter.destinations", f->destinations, f->n_destinations,
                                    RE_DEST, "an ISO 3166-1 alpha-2 code", false);
    const char *exporters = pattern_list(call, "filter.exporters", f->exporters, f->n_exporters,
                                         RE_EXPORTER, "producer:ID or cooperative:ID", false);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    bool epcis_ok = f->n_event_types > 0;
    for (size_t i = 0; i < f->n_event_types; i++)
        epcis_ok = epcis_ok && strncmp(f->event_types[i], "ovop.exports.", 13) == 0;
    const char *id = ovop_call_uuid(call);
    char seq[24], t[24];
    snprintf(seq, sizeof(seq), "%" PRIu64, in->start_sequence);
    snprintf(t, sizeof(t), "%" PRId64, in->start_time_us);
    const char *params[] = {
        id,
        agency,
        webhook ? "webhook" : "stream",
        webhook ? in->endpoint_id : NULL,
        types,
        hs,
        soate,
        dest,
        exporters,
        seq,
        in->start_time_us ? t : NULL,
        epcis_ok ? "t" : "f",
        ovop_call_caller(call),
        ovop_call_request_id(call),
    };
    ovop_call_query(
        call, n->pg,
        "SELECT c.reason, c.message, c.id::text AS sub_id FROM notify.create_subscription("
        "$1::uuid, $2, $3, $4::uuid, $5::text[], $6::text[], $7::text[], $8::text[], "
        "$9::text[], $10::bigint, to_timestamp($11::bigint / 1e6), $12::boolean, $13, "
        "$14) c",
        14, params, on_created, call);
}

/* ---- scopes ---- */

static void set_scope(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__AgencyScope *in = (const Ovop__V1__AgencyScope *)input;
    if (!methods_name_ok(in->agency))
        ovop_call_violation(call, "agency", "required: an agency code ([a-z][a-z0-9_]{0,31})");
    const char *types = pattern_list(call, "event_types", in->event_types, in->n_event_types,
                                     RE_TYPE, "an event type or a prefix ending in .*", true);
    const char *soate = pattern_list(call, "soate_prefixes", in->soate_prefixes,
                                     in->n_soate_prefixes, RE_SOATE, "1..14 digits", true);
    const char *hs = pattern_list(call, "hs_prefixes", in->hs_prefixes, in->n_hs_prefixes, RE_HS,
                                  "1..6 digits", true);
    const char *dest = pattern_list(call, "destinations", in->destinations, in->n_destinations,
                                    RE_DEST, "an ISO 3166-1 alpha-2 code or *", true);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->agency, types, soate, hs, dest, ovop_call_caller(call)};
    static const ovop_read_t upsert = {
        .sql = "WITH u AS (INSERT INTO notify.scopes AS s (agency, event_types, soate_prefixes, "
               "hs_prefixes, destinations, updated_by) VALUES ($1, $2::text[], $3::text[], "
               "$4::text[], $5::text[], $6) ON CONFLICT (agency) DO UPDATE SET "
               "event_types = EXCLUDED.event_types, soate_prefixes = EXCLUDED.soate_prefixes, "
               "hs_prefixes = EXCLUDED.hs_prefixes, destinations = EXCLUDED.destinations, "
               "updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING s.*) "
               "SELECT u.agency, to_json(u.event_types)::text AS event_types, "
               "to_json(u.soate_prefixes)::text AS soate_prefixes, "
               "to_json(u.hs_prefixes)::text AS hs_prefixes, "
               "to_json(u.destinations)::text AS destinations, "
               "(extract(epoch FROM u.updated_at) * 1000000)::bigint AS updated_us, u.updated_by "
               "FROM u",
        .row = &ovop__v1__agency_scope__descriptor,
        .noun = "agency",
    };
    ovop_read_one(call, n->pg, &upsert, in->agency, 6, params);
}

static void get_scope(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__GetAgencyScopeRequest *in = (const Ovop__V1__GetAgencyScopeRequest *)input;
    const char *agency = methods_agency(call, in->agency, true);
    if (!agency)
        return;
    const char *params[] = {agency};
    ovop_read_one(call, n->pg, &scope, agency, 1, params);
}

/* ---- visibility ---- */

static const ovop_read_t deliveries = {
    .row = &ovop__v1__delivery__descriptor,
    .page = {&ovop__v1__list_deliveries_response__descriptor, "deliveries", "id"},
};

static const ovop_read_t dead_letters = {
    .row = &ovop__v1__dead_letter__descriptor,
    .page = {&ovop__v1__list_dead_letters_response__descriptor, "dead_letters", "seq"},
};

static void answer_deliveries(ovop_call_t *call, notifyd_t *n, const char *id)
{
    const Ovop__V1__ListDeliveriesRequest *in =
        (const Ovop__V1__ListDeliveriesRequest *)ovop_call_input(call);
    char limit[16];
    snprintf(limit, sizeof(limit), "%u", in->limit ? (in->limit > 1000 ? 1000 : in->limit) : 100);
    const char *params[] = {id, limit};
    ovop_read_all(call, n->pg, &deliveries,
                  "SELECT d.subscription_id::text AS subscription_id, d.seq AS sequence, "
                  "d.attempt, d.status_code, d.latency_ms, d.error, "
                  "(extract(epoch FROM d.at) * 1000000)::bigint AS at_us FROM notify.deliveries d "
                  "WHERE d.subscription_id = $1::uuid ORDER BY d.seq DESC, d.attempt DESC "
                  "LIMIT $2::int",
                  2, params);
}

static void list_deliveries(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    owned(call, userdata, ((const Ovop__V1__ListDeliveriesRequest *)input)->subscription_id,
          answer_deliveries);
}

static void answer_dead_letters(ovop_call_t *call, notifyd_t *n, const char *id)
{
    const char *params[] = {id};
    ovop_read_all(call, n->pg, &dead_letters,
                  "SELECT l.subscription_id::text AS subscription_id, l.seq AS sequence, "
                  "l.attempts, l.last_status, l.last_error, "
                  "(extract(epoch FROM l.at) * 1000000)::bigint AS at_us, "
                  "l.redrive_requested_at IS NOT NULL AS redrive_requested "
                  "FROM notify.dead_letters l WHERE l.subscription_id = $1::uuid ORDER BY l.seq",
                  1, params);
}

static void list_dead_letters(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    owned(call, userdata, ((const Ovop__V1__SubscriptionRef *)input)->id, answer_dead_letters);
}

static void on_redrive(PGresult *res, const char *error, void *userdata)
{
    ovop_call_t *call = userdata;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    Ovop__V1__RedriveDeadLettersResponse *out =
        (Ovop__V1__RedriveDeadLettersResponse *)ovop_call_message(
            call, &ovop__v1__redrive_dead_letters_response__descriptor);
    out->requested = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    ovop_call_finish(call, &out->base);
}

static void answer_redrive(ovop_call_t *call, notifyd_t *n, const char *id)
{
    const char *params[] = {id};
    ovop_call_query(call, n->pg,
                    "WITH u AS (UPDATE notify.dead_letters SET redrive_requested_at = now() "
                    "WHERE subscription_id = $1::uuid AND redrive_requested_at IS NULL "
                    "RETURNING 1) SELECT count(*) FROM u",
                    1, params, on_redrive, call);
}

static void redrive(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    owned(call, userdata, ((const Ovop__V1__SubscriptionRef *)input)->id, answer_redrive);
}

static const ovop_method_t methods[] = {
    {"SetAgencyScope", set_scope},
    {"GetAgencyScope", get_scope},
    {"CreateSubscription", create_subscription},
    {"GetSubscription", get_subscription},
    {"ListSubscriptions", list_subscriptions},
    {"GetLag", list_subscriptions},
    {"PauseSubscription", pause_subscription},
    {"ResumeSubscription", resume_subscription},
    {"DeleteSubscription", delete_subscription},
    {"ReplaySubscription", replay_subscription},
    {"ListDeliveries", list_deliveries},
    {"ListDeadLetters", list_dead_letters},
    {"RedriveDeadLetters", redrive},
};

void methods_register(notifyd_t *n)
{
    methods_pg = n->pg;
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(n->d), methods, n);
    endpoints_register(n);
}
