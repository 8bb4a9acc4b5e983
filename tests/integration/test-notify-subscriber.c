/* The example stream subscriber (deploy/examples/stream_subscriber.py: pyzmq + protobuf, no
 * project code) against real processes: broker, ovop-notifyd and ovop-registryd on a scratch
 * database. registryd writes territory events through bus.emit; the subscriber connects with
 * CURVE as the agency customs, prints and acknowledges them; notifyd is SIGKILLed and started
 * again while more events are written, and the subscriber must resume by itself. Its output
 * must be exactly the expected events, in order, each once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "ident.h"
#include "ovop/v1/notify.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"

#define AGENCY   "customs"
#define NOTIFIER "notify-admin"
#define N_EVENTS 6

static svcenv_t E;
static pid_t registryd, subscriber;
static char stream_bind[64];

static void start(void)
{
    uint16_t port;
    assert_int_equal(harness_free_port(&port), 0);
    snprintf(stream_bind, sizeof(stream_bind), "tcp://127.0.0.1:%u", port);
    static const char *args[] = {"--stream-bind", stream_bind, NULL};
    svcenv_start(&E, &(svcenv_config_t){.db_name = "notify_subscriber",
                                        .daemon = "ovop-notifyd",
                                        .service = "ovop.notify",
                                        .daemon_args = args,
                                        .client = {.timeout_ms = 10000, .retries = 1}});
    /* registryd, the writer of the events, beside notifyd on the same broker. */
    uint16_t http;
    assert_int_equal(harness_free_port(&http), 0);
    char http_arg[32];
    snprintf(http_arg, sizeof(http_arg), "127.0.0.1:%u", http);
    char *db = pgtest_as_role(E.db, "ovop_registry");
    char *key = ident_secret(&E.ident, "svc-ovop.registry");
    const char *rargs[] = {
        "--broker", E.endpoint,     "--database-url",   db,  "--http", http_arg, "--key",
        key,        "--broker-key", E.ident.broker_key, NULL};
    char *bin = harness_bin("ovop-registryd");
    assert_int_equal(harness_spawn(&registryd, bin, rargs, NULL, "registryd"), 0);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.registry", 15000, &E.admin), 0);
    free(bin);
    free(key);
    free(db);
    /* The agency may receive streams; an operator of the national team sets scopes. */
    assert_int_equal(
        ident_add(&E.ident, E.conn, AGENCY, "agency", "customs notify.subscriber", NULL, AGENCY),
        0);
    assert_int_equal(ident_add(&E.ident, E.conn, NOTIFIER, "operator", "notify.admin", NULL, NULL),
                     0);
    sleep(3); /* the broker's and notifyd's keyrings reload every second */
}

static ProtobufCMessage *ok_as(const svcenv_t *e, const char *who, const char *method,
                               const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out)
{
    ProtobufCMessage *ret = NULL;
    Ovop__V1__Reply *rep = NULL;
    if (svcenv_call_as(e, who, method, NULL, in, out, &ret, &rep) != 0)
        fail_msg("%s as %s: %s %s", method, who, rep->status->reason, rep->status->message);
    ovop__v1__reply__free_unpacked(rep, NULL);
    return ret;
}

static char *subscribe(void)
{
    char *all[] = {"*"}, *types[] = {"ovop.registry.*"},
         *sub_types[] = {"ovop.registry.territory.*"};
    Ovop__V1__AgencyScope scope = OVOP__V1__AGENCY_SCOPE__INIT;
    scope.agency = AGENCY;
    scope.n_event_types = 1, scope.event_types = types;
    scope.n_soate_prefixes = 1, scope.soate_prefixes = all;
    scope.n_hs_prefixes = 1, scope.hs_prefixes = all;
    scope.n_destinations = 1, scope.destinations = all;
    protobuf_c_message_free_unpacked(
        ok_as(&E, NOTIFIER, "SetAgencyScope", &scope.base, &ovop__v1__agency_scope__descriptor),
        NULL);
    Ovop__V1__SubscriptionFilter f = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
    f.n_event_types = 1, f.event_types = sub_types;
    Ovop__V1__CreateSubscriptionRequest in = OVOP__V1__CREATE_SUBSCRIPTION_REQUEST__INIT;
    in.delivery = OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_STREAM;
    in.filter = &f;
    Ovop__V1__Subscription *s = (Ovop__V1__Subscription *)ok_as(
        &E, AGENCY, "CreateSubscription", &in.base, &ovop__v1__subscription__descriptor);
    char *id = xstrdup(s->id);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    return id;
}

static void village(int i)
{
    svcenv_t r = E; /* the same environment, calls to the registry */
    r.cfg.service = "ovop.registry";
    assert_in_range(i, 0, 99);
    char code[32];
    snprintf(code, sizeof(code), "417052140007%02d", i);
    Ovop__V1__LocalizedName ln = OVOP__V1__LOCALIZED_NAME__INIT;
    ln.ru = "Село";
    ln.en = "Village";
    Ovop__V1__CreateTerritoryRequest in = OVOP__V1__CREATE_TERRITORY_REQUEST__INIT;
    in.code = code;
    in.kind = "village";
    in.parent_code = IDENT_DISTRICT_SOATE;
    in.name = &ln;
    protobuf_c_message_free_unpacked(
        ok_as(&r, IDENT_ADMIN, "CreateTerritory", &in.base, &ovop__v1__territory__descriptor),
        NULL);
}

/* The JSON lines of the subscriber's log (its stderr lines start with "stream_subscriber:"). */
static json_t *events_printed(const char *log)
{
    json_t *all = json_array();
    FILE *f = fopen(log, "r");
    if (!f)
        return all;
    char line[8192];
    while (fgets(line, sizeof(line), f))
        if (line[0] == '{') {
            json_error_t err;
            json_t *j = json_loads(line, 0, &err);
            if (!j)
                fail_msg("subscriber printed bad JSON: %s", line);
            json_array_append_new(all, j);
        }
    fclose(f);
    return all;
}

static size_t wait_printed(const char *log, size_t n, unsigned timeout_ms)
{
    size_t got = 0;
    for (unsigned waited = 0; waited <= timeout_ms; waited += 100) {
        json_t *a = events_printed(log);
        got = json_array_size(a);
        json_decref(a);
        if (got >= n)
            break;
        usleep(100 * 1000);
    }
    return got;
}

/* Exactly the N_EVENTS villages, in order, each once, as in the log; the cursor reached the
 * last. */
static void check_printed(const char *log, const char *sub)
{
    json_t *got = events_printed(log);
    assert_int_equal(json_array_size(got), N_EVENTS);
    uint64_t prev = 0;
    for (size_t i = 0; i < N_EVENTS; i++) {
        json_t *ev = json_array_get(got, i);
        char subject[32], code[16];
        snprintf(code, sizeof(code), "417052140007%02zu", i + 1);
        snprintf(subject, sizeof(subject), "territory/%s", code);
        assert_string_equal(json_string_value(json_object_get(ev, "type")),
                            "ovop.registry.territory.created");
        assert_string_equal(json_string_value(json_object_get(ev, "subject")), subject);
        assert_string_equal(json_string_value(json_object_get(ev, "subscription")), sub);
        assert_string_equal(json_string_value(json_object_get(ev, "data_schema")),
                            "ovop.v1.Territory");
        /* The payload, decoded by the subscriber with the generated Python classes. */
        assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "code")),
                            code);
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(ev, "sequence"));
        assert_true(seq > prev);
        prev = seq;
        /* The same event as in the log. */
        assert_int_equal(svcenv_countf(&E,
                                       "SELECT count(*) FROM bus.events WHERE seq = %llu AND "
                                       "id = '%s' AND subject = '%s'",
                                       (unsigned long long)seq,
                                       json_string_value(json_object_get(ev, "id")), subject),
                         1);
    }
    /* The cursor reached the last one acknowledged. */
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.subscriptions WHERE id = '%s' "
                                   "AND cursor >= %llu",
                                   sub, (unsigned long long)prev),
                     1);
    json_decref(got);
}

static void test_subscriber(void **state)
{
    char *sub = subscribe();
    char *script = xasprintf("%s/deploy/examples/stream_subscriber.py", OVOP_SOURCE_DIR);
    char *server_key = ident_public(&E.ident, "svc-ovop.notify");
    char *key = ident_secret(&E.ident, AGENCY);
    char count[8];
    snprintf(count, sizeof(count), "%d", N_EVENTS);
    const char *args[] = {script,
                          "--endpoint",
                          stream_bind,
                          "--server-key",
                          server_key,
                          "--key",
                          key,
                          "--subscription",
                          sub,
                          "--json",
                          "--count",
                          count,
                          "--ping-interval",
                          "1",
                          "--max-seconds",
                          "120",
                          NULL};
    assert_int_equal(harness_spawn(&subscriber, "/usr/bin/python3", args, NULL, "subscriber"), 0);
    char *log = xasprintf("%s/subscriber.log", harness_tmpdir());

    for (int i = 1; i <= N_EVENTS / 2; i++)
        village(i);
    assert_int_equal(wait_printed(log, N_EVENTS / 2, 30000), N_EVENTS / 2);

    /* notifyd dies; events keep being written; a new notifyd takes the dead session's lease
     * and the subscriber, hearing no Pong, reconnects and subscribes again. */
    harness_stop(E.daemon[0]);
    for (int i = N_EVENTS / 2 + 1; i <= N_EVENTS; i++)
        village(i);
    E.daemon[0] = svcenv_spawn_daemon(&E, 0, E.db, "notifyd-2");
    int status = -1;
    assert_int_equal(harness_wait_exit(subscriber, 90000, &status), 0);
    subscriber = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    check_printed(log, sub);
    free(log);
    free(key);
    free(server_key);
    free(script);
    free(sub);
}

static int setup(void **state)
{
    start();
    return 0;
}

static int teardown(void **state)
{
    harness_stop(subscriber);
    harness_stop(registryd);
    svcenv_stop(&E);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_subscriber)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
