/* notifyd through the broker and its own stream endpoint, against PostgreSQL: access scopes
 * and filters (a filter wider than the scope is refused, bad inputs with stable reasons),
 * stream delivery of exactly the events scope and filter allow, in order, with a credit
 * window and cumulative acks; a subscriber that disconnects gets every missed event after
 * reconnecting; wrong or unknown CURVE keys are refused at the handshake; SIGKILL of the
 * instance holding a subscription loses nothing (another instance serves it).
 *
 * Events are written as the writers write them (bus.emit in a transaction, numbered by
 * bus.sequence_events, which notifies notifyd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "keys.h"
#include "notify_testlib.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/iam.pb-c.h"
#include "ovop/v1/notify.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

static svcenv_t E;
static uint16_t stream_port[2];

#define BATKEN "41705214000000"
#define NARYN  "41704235000000"

static int group_setup(void **state)
{
    (void)state;
    nt_start(&E, "test_notify", stream_port, 1, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    svcenv_stop(&E);
    return 0;
}

/* ---- scopes and filters ---- */

static void test_scope_and_filter_refusals(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "41705", "*", "*");
    Ovop__V1__Reply *rep = NULL;

    /* inside the scope */
    char *id = nt_subscribe(&E, "customs", "ovop.exports.shipment.*", "417052", NULL, NULL);
    assert_int_equal(strlen(id), 36);
    free(id);

    static const struct {
        const char *types, *soate, *exporter, *reason;
    } bad[] = {
        {"ovop.*", NULL, NULL, "FILTER_WIDER_THAN_SCOPE"},
        {"ovop.registry.territory.created", NULL, NULL, "FILTER_WIDER_THAN_SCOPE"},
        {NULL, "417", NULL, "FILTER_WIDER_THAN_SCOPE"},
        {NULL, "41706", NULL, "FILTER_WIDER_THAN_SCOPE"},
        {"Not A Type", NULL, NULL, "INVALID_ARGUMENT"},
        {NULL, "41x", NULL, "INVALID_ARGUMENT"},
        {NULL, NULL, "farmer:1", "INVALID_ARGUMENT"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(bad); i++) {
        int code =
            nt_try_subscribe(&E, "customs", "", bad[i].types, bad[i].soate, bad[i].exporter, &rep);
        assert_int_equal(code, OVOP__V1__STATUS__CODE__INVALID_ARGUMENT);
        svcenv_assert_reason(&E, rep, bad[i].reason);
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    /* another agency's, no scope, no role */
    assert_int_equal(nt_try_subscribe(&E, "customs", "statistics", NULL, NULL, NULL, &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    svcenv_assert_reason(&E, rep, "NOT_YOURS");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(nt_try_subscribe(&E, "intruder", "", NULL, NULL, NULL, &rep),
                     OVOP__V1__STATUS__CODE__FAILED_PRECONDITION);
    svcenv_assert_reason(&E, rep, "NO_SCOPE");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(nt_try_subscribe(&E, "veterinary", "", NULL, NULL, NULL, &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    svcenv_assert_reason(&E, rep, "MISSING_ROLE");
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* nothing was written by the refusals */
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM notify.subscriptions"), 1);
    /* an agency may not set its own scope */
    Ovop__V1__AgencyScope sc = OVOP__V1__AGENCY_SCOPE__INIT;
    sc.agency = "customs";
    assert_int_equal(svcenv_call_as(&E, "customs", "SetAgencyScope", NULL, &sc.base,
                                    &ovop__v1__agency_scope__descriptor, NULL, &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

/* ---- stream delivery ---- */

static void test_stream_exactly_what_scope_and_filter_allow(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "41705", "*", "*");
    char *sub = nt_subscribe(&E, "customs", "ovop.exports.shipment.*", NULL, NULL, NULL);
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_emit(&E, "ovop.exports.shipment.released", NARYN, "040900", "KZ", 9002); /* scope */
    nt_emit(&E, "ovop.registry.producer.created", BATKEN, NULL, NULL, 0);       /* scope */
    nt_emit(&E, "ovop.exports.document.issued", BATKEN, "081310", "CN", 9001);  /* filter */
    uint64_t e = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "RU", 9001);

    nt_stream_t *s = nt_connect(&E, "customs", stream_port[0]);
    uint64_t cursor = nt_subscribe_stream(s, sub, 0, 0, "");
    assert_true(cursor < a);
    assert_int_equal(nt_expect_event(s, sub), a);
    assert_int_equal(nt_expect_event(s, sub), e);
    nt_expect_nothing(s, 400);
    nt_ack(s, sub, e);
    nt_wait_cursor(&E, sub, e);
    /* the head moves past events that do not match: the cursor follows */
    uint64_t last = nt_emit(&E, "ovop.registry.producer.created", BATKEN, NULL, NULL, 0);
    nt_wait_cursor(&E, sub, last);
    nt_close(s);
    free(sub);
}

/* A scope narrowed while a stream runs applies from the next event on. */
static void test_scope_narrowed_applies_at_once(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    nt_stream_t *s = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    assert_int_equal(nt_expect_event(s, sub), a);
    nt_scope(&E, "customs", "ovop.exports.*", "41704", "*", "*");
    nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001); /* now out */
    uint64_t c = nt_emit(&E, "ovop.exports.shipment.departed", NARYN, "040900", "KZ", 9002);
    assert_int_equal(nt_expect_event(s, sub), c);
    nt_expect_nothing(s, 300);
    nt_ack(s, sub, c);
    nt_wait_cursor(&E, sub, c);
    nt_close(s);
    free(sub);
}

static void test_stream_window_and_resume(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "41705", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    uint64_t seq[6];
    for (int i = 0; i < 3; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);

    nt_stream_t *s = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 2, "");
    assert_int_equal(nt_expect_event(s, sub), seq[0]);
    assert_int_equal(nt_expect_event(s, sub), seq[1]);
    nt_expect_nothing(s, 300); /* the window is full */
    nt_ack(s, sub, seq[0]);
    assert_int_equal(nt_expect_event(s, sub), seq[2]);
    nt_close(s); /* seq[1] and seq[2] unacknowledged */

    for (int i = 3; i < 6; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    s = nt_connect(&E, "customs", stream_port[0]);
    /* a gap is refused */
    char from_bad[32];
    snprintf(from_bad, sizeof(from_bad), "%" PRIu64, seq[5] + 1);
    nt_subscribe_stream(s, sub, seq[5] + 1, 0, "GAP_NOT_ALLOWED");
    assert_int_equal(nt_subscribe_stream(s, sub, 0, 0, ""), seq[0]);
    for (int i = 1; i < 6; i++)
        assert_int_equal(nt_expect_event(s, sub), seq[i]);
    nt_expect_nothing(s, 300);
    nt_ack(s, sub, seq[5]);
    nt_wait_cursor(&E, sub, seq[5]);
    /* replay by from_sequence: everything again from seq[2] */
    assert_int_equal(nt_subscribe_stream(s, sub, seq[2], 0, ""), seq[5]);
    for (int i = 2; i < 6; i++)
        assert_int_equal(nt_expect_event(s, sub), seq[i]);
    nt_close(s);
    free(sub);
}

static void test_stream_refusals(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    nt_stream_t *s = nt_connect(&E, "statistics", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "NOT_YOURS");
    nt_subscribe_stream(s, "00000000-0000-4000-8000-000000000000", 0, 0, "NOT_FOUND");
    nt_subscribe_stream(s, sub, 0, 5000, "WINDOW_INVALID");
    nt_ack_expect(s, sub, 1, "NOT_SUBSCRIBED");
    nt_send_raw(s, "\xff\xff\xff", 3);
    nt_expect_error(s, "MALFORMED");
    nt_ping(s);
    nt_close(s);
    /* paused: refused, and a live stream stops */
    s = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    nt_set_status(&E, "customs", "PauseSubscription", sub);
    nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_expect_error(s, "SUBSCRIPTION_NOT_ACTIVE");
    nt_subscribe_stream(s, sub, 0, 0, "SUBSCRIPTION_NOT_ACTIVE");
    nt_set_status(&E, "customs", "ResumeSubscription", sub);
    nt_subscribe_stream(s, sub, 0, 0, "");
    nt_close(s);
    free(sub);
}

static void test_stream_wrong_keys_refused(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    /* an unknown key pair, and a known one with the wrong server key: no handshake, so
     * nothing ever comes back */
    nt_stream_t *s = nt_connect_unknown(&E, stream_port[0]);
    nt_send_subscribe(s, sub, 0, 0);
    nt_expect_nothing(s, 1500);
    nt_close(s);
    s = nt_connect_wrong_server(&E, "customs", stream_port[0]);
    nt_send_subscribe(s, sub, 0, 0);
    nt_expect_nothing(s, 1500);
    nt_close(s);
    free(sub);
}

/* Two instances: the newest Subscribe wins, and the session elsewhere is told. */
static void test_stream_newest_subscribe_wins(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    nt_spawn_second(&E, stream_port);
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_stream_t *first = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(first, sub, 0, 0, "");
    assert_int_equal(nt_expect_event(first, sub), a);
    nt_stream_t *second = nt_connect(&E, "customs", stream_port[1]);
    nt_subscribe_stream(second, sub, 0, 0, "");
    assert_int_equal(nt_expect_event(second, sub), a); /* never acknowledged: again */
    nt_expect_error(first, "SUBSCRIPTION_TAKEN_OVER");
    uint64_t b = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    assert_int_equal(nt_expect_event(second, sub), b);
    nt_expect_nothing(first, 300);
    nt_ack(second, sub, b);
    nt_wait_cursor(&E, sub, b);
    nt_close(first);
    nt_close(second);
    free(sub);
}

static void test_stream_survives_sigkill(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    uint64_t seq[5];
    for (int i = 0; i < 3; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_stream_t *s = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    for (int i = 0; i < 3; i++)
        assert_int_equal(nt_expect_event(s, sub), seq[i]);
    nt_ack(s, sub, seq[1]);
    nt_wait_cursor(&E, sub, seq[1]);
    assert_int_equal(harness_kill(E.daemon[0], SIGKILL), 0);
    harness_stop(E.daemon[0]);
    E.daemon[0] = 0;
    nt_close(s);
    for (int i = 3; i < 5; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    /* the agency reconnects to the address that answers now: the other instance */
    s = nt_connect(&E, "customs", stream_port[1]);
    assert_int_equal(nt_subscribe_stream(s, sub, 0, 0, ""), seq[1]);
    for (int i = 2; i < 5; i++)
        assert_int_equal(nt_expect_event(s, sub), seq[i]);
    nt_ack(s, sub, seq[4]);
    nt_wait_cursor(&E, sub, seq[4]);
    nt_close(s);
    free(sub);
}

static void test_replay_lag_and_delete(void **state)
{
    (void)state;
    nt_scope(&E, "customs", "ovop.exports.*", "*", "*", "*");
    char *sub = nt_subscribe(&E, "customs", NULL, NULL, NULL, NULL);
    uint64_t seq[3];
    for (int i = 0; i < 3; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    /* lag: head - cursor */
    Ovop__V1__ListSubscriptionsRequest lq = OVOP__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
    Ovop__V1__ListSubscriptionsResponse *lag = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "GetLag", NULL, &lq.base,
                                    &ovop__v1__list_subscriptions_response__descriptor,
                                    (ProtobufCMessage **)&lag, NULL),
                     0);
    assert_int_equal(lag->n_subscriptions, 1);
    assert_int_equal(lag->subscriptions[0]->lag, 3);
    protobuf_c_message_free_unpacked(&lag->base, NULL);
    /* and as a metric of the instance that delivers it */
    nt_stream_t *m = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(m, sub, 0, 1, "");
    assert_int_equal(nt_expect_event(m, sub), seq[0]);
    char *series = xasprintf("ovop_notify_lag{subscription=\"%s\"}", sub);
    double v = -1;
    for (int i = 0; i < 40 && v != 3; i++) {
        harness_sleep_ms(100);
        v = harness_port_metric(E.daemon_http[0], series);
    }
    assert_true(v == 3);
    free(series);
    nt_close(m);

    nt_stream_t *s = nt_connect(&E, "customs", stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    for (int i = 0; i < 3; i++)
        assert_int_equal(nt_expect_event(s, sub), seq[i]);
    nt_ack(s, sub, seq[2]);
    nt_wait_cursor(&E, sub, seq[2]);
    /* the national team replays from seq[1]: the session is told, subscribes again */
    Ovop__V1__ReplaySubscriptionRequest rq = OVOP__V1__REPLAY_SUBSCRIPTION_REQUEST__INIT;
    rq.id = sub;
    rq.from_sequence = seq[1];
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "ReplaySubscription", NULL, &rq.base,
                                    &ovop__v1__subscription__descriptor, NULL, &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    ovop__v1__reply__free_unpacked(rep, NULL);
    Ovop__V1__Subscription *out = NULL;
    assert_int_equal(svcenv_call_as(&E, NT_ADMIN, "ReplaySubscription", NULL, &rq.base,
                                    &ovop__v1__subscription__descriptor, (ProtobufCMessage **)&out,
                                    NULL),
                     0);
    assert_int_equal(out->cursor, seq[0]);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    nt_expect_error(s, "SUBSCRIPTION_TAKEN_OVER");
    assert_int_equal(nt_subscribe_stream(s, sub, 0, 0, ""), seq[0]);
    assert_int_equal(nt_expect_event(s, sub), seq[1]);
    assert_int_equal(nt_expect_event(s, sub), seq[2]);
    nt_close(s);
    /* deleted: gone from the lists, refused on the stream */
    nt_set_status(&E, "customs", "DeleteSubscription", sub);
    Ovop__V1__SubscriptionRef ref = OVOP__V1__SUBSCRIPTION_REF__INIT;
    ref.id = sub;
    assert_int_equal(svcenv_call_as(&E, "customs", "GetSubscription", NULL, &ref.base,
                                    &ovop__v1__subscription__descriptor, NULL, &rep),
                     OVOP__V1__STATUS__CODE__NOT_FOUND);
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(sub);
}

/* ovopctl's verbs, each with the key of its principal: scope, create, listen (the stream
 * client prints and acknowledges), refusals as exit codes 10 + status. */
static void test_ovopctl(void **state)
{
    (void)state;
    char *admin = ident_secret(&E.ident, NT_ADMIN);
    char *customs = ident_secret(&E.ident, "customs");
    char *notify_key = ident_public(&E.ident, "svc-ovop.notify");
    char stream[64];
    snprintf(stream, sizeof(stream), "tcp://127.0.0.1:%u", stream_port[0]);
    const char *scope[] = {"--key",   admin,     "agency",         "scope",   "set",
                           "customs", "--types", "ovop.exports.*", "--soate", "41705",
                           "--hs",    "*",       "--dest",         "*",       NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-scope", scope, 10000), 0);
    const char *own_scope[] = {"--key",   customs,   "agency", "scope", "set",
                               "customs", "--types", "*",      NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-own-scope", own_scope, 10000), 17);
    const char *wide[] = {"--key",    customs,   "subscription", "create",
                          "--stream", "--soate", "417",          NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-wide", wide, 10000), 13);
    const char *create[] = {"--key",
                            customs,
                            "subscription",
                            "create",
                            "--stream",
                            "--types",
                            "ovop.exports.shipment.*",
                            NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-create", create, 10000), 0);
    char *sub = svcenv_scalarf(&E, "SELECT id FROM notify.subscriptions");
    nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_emit(&E, "ovop.exports.document.issued", BATKEN, "081310", "CN", 9001); /* filtered */
    uint64_t b = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    const char *listen[] = {
        "--key", customs,    "--json", "subscription", "listen",   sub, "--count",
        "2",     "--stream", stream,   "--notify-key", notify_key, NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-listen", listen, 15000), 0);
    nt_wait_cursor(&E, sub, b);
    const char *lag[] = {"--key", customs, "subscription", "lag", NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-lag", lag, 10000), 0);
    const char *pause[] = {"--key", customs, "subscription", "pause", sub, NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-pause", pause, 10000), 0);
    const char *stranger[] = {
        "--key", customs, "subscription", "get", "00000000-0000-4000-8000-000000000000", NULL};
    assert_int_equal(svcenv_ovopctl(&E, "ctl-get", stranger, 10000), 15);
    free(sub);
    free(admin);
    free(customs);
    free(notify_key);
}

/* ovop.iam, answered by the broker, as the test's administrator. */
static void iam_call(const char *method, const ProtobufCMessage *in)
{
    svcenv_t iam = E;
    iam.cfg.service = "ovop.iam";
    assert_int_equal(
        svcenv_call(&iam, method, NULL, in, &ovop__v1__principal_record__descriptor, NULL, NULL),
        0);
}

/* A live session whose principal loses its role, or is disabled, ends within the keyring's
 * refresh (a second): an error, then nothing more is delivered to it. */
static void test_stream_ends_when_rights_go(void **state)
{
    (void)state;
    const char *who = "feed_rights";
    assert_int_equal(ident_add(&E.ident, E.conn, who, "agency", "notify.subscriber", NULL, who), 0);
    nt_scope(&E, who, "ovop.exports.*", "*", "*", "*");
    harness_sleep_ms(1500); /* the new key in the broker's and notifyd's keyrings */
    char *sub = nt_subscribe(&E, who, NULL, NULL, NULL, NULL);
    nt_stream_t *s = nt_connect(&E, who, stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    assert_int_equal(nt_expect_event(s, sub), a);
    nt_ack(s, sub, a);

    Ovop__V1__ChangeRolesRequest roles = OVOP__V1__CHANGE_ROLES_REQUEST__INIT;
    roles.id = (char *)who;
    roles.n_roles = 1;
    roles.roles = (char *[]){"notify.subscriber"};
    iam_call("RevokeRoles", &roles.base);
    nt_expect_error(s, "MISSING_ROLE");
    nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    nt_expect_nothing(s, 1500);
    nt_close(s);

    iam_call("GrantRoles", &roles.base);
    harness_sleep_ms(1500); /* the keyring's next load */
    s = nt_connect(&E, who, stream_port[0]);
    nt_subscribe_stream(s, sub, 0, 0, "");
    nt_expect_event(s, sub); /* the departure, held back while the role was gone */
    Ovop__V1__SetPrincipalStatusRequest st = OVOP__V1__SET_PRINCIPAL_STATUS_REQUEST__INIT;
    st.id = (char *)who;
    st.status = OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED;
    st.reason = "test-notify";
    iam_call("SetPrincipalStatus", &st.base);
    nt_expect_error(s, "KEY_NOT_CURRENT");
    nt_emit(&E, "ovop.exports.shipment.delivered", BATKEN, "081310", "CN", 9001);
    nt_expect_nothing(s, 1500);
    nt_close(s);
    free(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_scope_and_filter_refusals, nt_reset),
        cmocka_unit_test_setup(test_stream_exactly_what_scope_and_filter_allow, nt_reset),
        cmocka_unit_test_setup(test_scope_narrowed_applies_at_once, nt_reset),
        cmocka_unit_test_setup(test_stream_window_and_resume, nt_reset),
        cmocka_unit_test_setup(test_stream_refusals, nt_reset),
        cmocka_unit_test_setup(test_stream_wrong_keys_refused, nt_reset),
        cmocka_unit_test_setup(test_stream_ends_when_rights_go, nt_reset),
        cmocka_unit_test_setup(test_replay_lag_and_delete, nt_reset),
        cmocka_unit_test_setup(test_ovopctl, nt_reset),
        cmocka_unit_test_setup(test_stream_newest_subscribe_wins, nt_reset),
        cmocka_unit_test_setup(test_stream_survives_sigkill, nt_reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
