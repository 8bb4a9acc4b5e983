/* notifyd's webhooks against a local HTTP sink (tests/support/httpsink), two notifyd
 * instances sharing the subscriptions: exactly the events scope and filter allow, in order,
 * as CloudEvents JSON with Standard Webhooks signatures (a tampered body or a stale timestamp
 * fails verification); an endpoint answering 500 for a while gets every event afterwards, in
 * order; an exhausted schedule dead-letters the event and flags the endpoint; 410 Gone
 * unsubscribes; SIGKILL of the instance holding a subscription loses nothing (the other
 * takes it over); private addresses are refused unless allowed. Retries run on a 1 s
 * schedule here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "httpsink.h"
#include "notify_testlib.h"
#include "pgtest.h"
#include "sign.h"
#include "svcenv.h"
#include "util.h"

static svcenv_t E;
static uint16_t stream_port[2];
static httpsink_t *sink;

#define BATKEN "41705214000000"

static int group_setup(void **state)
{
    (void)state;
    static const char *const args[] = {"--retry-schedule", "1s,1s,1s", NULL};
    nt_start(&E, "test_notify_hooks", stream_port, 2, args);
    sink = httpsink_start(0);
    assert_non_null(sink);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    httpsink_stop(&sink);
    svcenv_stop(&E);
    return 0;
}

/* The `sequence` extension of request i's CloudEvents JSON body. */
static uint64_t body_sequence(size_t i)
{
    const httpsink_request_t *r = httpsink_get(sink, i);
    assert_non_null(r);
    const char *p = strstr(r->body, "\"sequence\"");
    assert_non_null(p);
    p = strchr(p + 10, '"');
    assert_non_null(p);
    return strtoull(p + 1, NULL, 10);
}

/* Requests to path from index `from` on, as sequences, into seqs (at most max). */
static size_t sequences(const char *path, size_t from, uint64_t *seqs, size_t max)
{
    size_t n = 0;
    for (size_t i = from; i < httpsink_count(sink) && n < max; i++)
        if (strcmp(httpsink_get(sink, i)->path, path) == 0 && httpsink_get(sink, i)->status == 200)
            seqs[n++] = body_sequence(i);
    return n;
}

static void wait_ok(const char *path, size_t from, size_t k)
{
    uint64_t seqs[64];
    for (int i = 0; i < 300; i++) {
        if (sequences(path, from, seqs, 64) >= k)
            return;
        harness_sleep_ms(50);
    }
    fail_msg("%zu answered requests to %s expected within 15 s, got %zu", k, path,
             sequences(path, from, seqs, 64));
}

/* The first request of a subscription: headers, a signature that verifies with the secret,
 * and a tampered body, a stale timestamp and another secret that do not. */
static void check_signatures(const httpsink_request_t *r, uint64_t seq, const char *secret)
{
    assert_string_equal(httpsink_header(r, "Content-Type"), "application/cloudevents+json");
    char *id = svcenv_scalarf(&E, "SELECT id FROM bus.events WHERE seq = %" PRIu64, seq);
    assert_string_equal(httpsink_header(r, "webhook-id"), id);
    free(id);
    const char *secrets[] = {secret};
    assert_int_equal(httpsink_verify(r, secrets, 1), 0);
    /* a tampered body, a stale timestamp and another secret fail */
    char *body = xstrdup(r->body);
    body[r->body_len / 2] ^= 1;
    assert_int_equal(notify_verify(secrets, 1, httpsink_header(r, "webhook-id"),
                                   httpsink_header(r, "webhook-timestamp"),
                                   httpsink_header(r, "webhook-signature"), body, r->body_len,
                                   ovop_now_us() / 1000000, 300),
                     -EKEYREJECTED);
    free(body);
    assert_int_equal(notify_verify(secrets, 1, httpsink_header(r, "webhook-id"),
                                   httpsink_header(r, "webhook-timestamp"),
                                   httpsink_header(r, "webhook-signature"), r->body, r->body_len,
                                   ovop_now_us() / 1000000 + 3600, 300),
                     -ETIME);
    const char *other[] = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
    assert_int_equal(httpsink_verify(r, other, 1), -EKEYREJECTED);
}

static void test_webhook_exact_signed_in_order(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/stats");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    assert_true(strncmp(secret, "whsec_", 6) == 0);
    size_t base = httpsink_count(sink);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, "ovop.exports.shipment.*", NULL);
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    nt_emit(&E, "ovop.registry.producer.created", BATKEN, NULL, NULL, 0);      /* scope */
    nt_emit(&E, "ovop.exports.document.issued", BATKEN, "081310", "CN", 9001); /* filter */
    uint64_t d = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "RU", 9001);
    wait_ok("/stats", base, 2);
    harness_sleep_ms(500);
    uint64_t seqs[8];
    assert_int_equal(sequences("/stats", base, seqs, 8), 2);
    assert_int_equal(seqs[0], a);
    assert_int_equal(seqs[1], d);
    nt_wait_cursor(&E, sub, d);
    /* each attempt logged */
    for (int i = 0; i < 60 && svcenv_countf(&E,
                                            "SELECT count(*) FROM notify.deliveries WHERE "
                                            "subscription_id = '%s'",
                                            sub) < 2;
         i++)
        harness_sleep_ms(50);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.deliveries WHERE "
                                   "subscription_id = '%s' AND status_code = 200",
                                   sub),
                     2);

    check_signatures(httpsink_get(sink, base), a, secret);
    /* replay (the national team's): a and d again, in order, then live again */
    Ovop__V1__ReplaySubscriptionRequest rq = OVOP__V1__REPLAY_SUBSCRIPTION_REQUEST__INIT;
    rq.id = sub;
    rq.from_sequence = a;
    size_t replayed = httpsink_count(sink);
    assert_int_equal(svcenv_call_as(&E, NT_ADMIN, "ReplaySubscription", NULL, &rq.base,
                                    &ovop__v1__subscription__descriptor, NULL, NULL),
                     0);
    wait_ok("/stats", replayed, 2);
    assert_int_equal(sequences("/stats", replayed, seqs, 8), 2);
    assert_int_equal(seqs[0], a);
    assert_int_equal(seqs[1], d);
    nt_wait_cursor(&E, sub, d);

    /* rotation: both secrets sign during the overlap */
    Ovop__V1__GetEndpointRequest gq = OVOP__V1__GET_ENDPOINT_REQUEST__INIT;
    gq.id = ep;
    Ovop__V1__EndpointSecret *rot = NULL;
    assert_int_equal(svcenv_call_as(&E, "statistics", "RotateEndpointSecret", NULL, &gq.base,
                                    &ovop__v1__endpoint_secret__descriptor,
                                    (ProtobufCMessage **)&rot, NULL),
                     0);
    assert_string_not_equal(rot->secret, secret);
    assert_true(rot->endpoint->old_secret_until_us > ovop_now_us());
    harness_sleep_ms(1500); /* the deliverer reads endpoint changes every second */
    size_t before = httpsink_count(sink);
    uint64_t f = nt_emit(&E, "ovop.exports.shipment.delivered", BATKEN, "081310", "RU", 9001);
    wait_ok("/stats", before, 1);
    const httpsink_request_t *rr = httpsink_get(sink, before);
    assert_int_equal(body_sequence(before), f);
    const char *news[] = {rot->secret};
    assert_int_equal(httpsink_verify(rr, news, 1), 0);
    const char *olds[] = {secret};
    assert_int_equal(httpsink_verify(rr, olds, 1), 0);
    protobuf_c_message_free_unpacked(&rot->base, NULL);
    /* the secret is stored sealed, never in clear */
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.endpoints WHERE "
                                   "secret_sealed LIKE '%%%s%%'",
                                   secret + 6),
                     0);
    free(sub);
    free(ep);
    free(secret);
    free(url);
}

static void test_webhook_500_for_a_while(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/flaky");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    size_t base = httpsink_count(sink);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL);
    httpsink_script(sink, "/flaky", 500, 2, NULL, 0);
    uint64_t seq[4];
    for (int i = 0; i < 4; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    wait_ok("/flaky", base, 4);
    uint64_t got[8];
    assert_int_equal(sequences("/flaky", base, got, 8), 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], seq[i]);
    nt_wait_cursor(&E, sub, seq[3]);
    /* the delivery log has the failures, the first event's attempts 1..3 */
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.deliveries WHERE "
                                   "subscription_id = '%s' AND status_code = 500",
                                   sub),
                     2);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT max(attempt) FROM notify.deliveries WHERE "
                                   "subscription_id = '%s' AND seq = %" PRIu64,
                                   sub, seq[0]),
                     3);
    /* the log is written beside the delivery: the last row may come a moment later */
    for (int i = 0; i < 100 && svcenv_countf(&E,
                                             "SELECT count(*) FROM notify.deliveries WHERE "
                                             "subscription_id = '%s'",
                                             sub) < 6;
         i++)
        harness_sleep_ms(50);
    Ovop__V1__ListDeliveriesRequest in = OVOP__V1__LIST_DELIVERIES_REQUEST__INIT;
    in.subscription_id = sub;
    Ovop__V1__ListDeliveriesResponse *out = NULL;
    assert_int_equal(svcenv_call_as(&E, "statistics", "ListDeliveries", NULL, &in.base,
                                    &ovop__v1__list_deliveries_response__descriptor,
                                    (ProtobufCMessage **)&out, NULL),
                     0);
    assert_int_equal(out->n_deliveries, 6);
    assert_int_equal(out->deliveries[0]->sequence, seq[3]); /* newest first */
    protobuf_c_message_free_unpacked(&out->base, NULL);
    /* another agency may not read them */
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, "customs", "ListDeliveries", NULL, &in.base,
                                    &ovop__v1__list_deliveries_response__descriptor, NULL, &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    svcenv_assert_reason(&E, rep, "NOT_YOURS");
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(sub);
    free(ep);
    free(secret);
    free(url);
}

static void test_webhook_dead_letter_and_redrive(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/dead");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    size_t base = httpsink_count(sink);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL);
    httpsink_script(sink, "/dead", 503, 4, NULL, 0); /* 1 + 3 retries: exhausted */
    uint64_t a = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    uint64_t b = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    wait_ok("/dead", base, 1);
    uint64_t got[4];
    assert_int_equal(sequences("/dead", base, got, 4), 1);
    assert_int_equal(got[0], b); /* a went to the dead letters, b came next */
    nt_wait_cursor(&E, sub, b);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.dead_letters WHERE "
                                   "subscription_id = '%s' AND seq = %" PRIu64 " AND attempts = 4",
                                   sub, a),
                     1);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.endpoints WHERE id = '%s' AND "
                                   "status = 'failing'",
                                   ep),
                     1);
    Ovop__V1__SubscriptionRef ref = OVOP__V1__SUBSCRIPTION_REF__INIT;
    ref.id = sub;
    Ovop__V1__ListDeadLettersResponse *dl = NULL;
    assert_int_equal(svcenv_call_as(&E, "statistics", "ListDeadLetters", NULL, &ref.base,
                                    &ovop__v1__list_dead_letters_response__descriptor,
                                    (ProtobufCMessage **)&dl, NULL),
                     0);
    assert_int_equal(dl->n_dead_letters, 1);
    assert_int_equal(dl->dead_letters[0]->sequence, a);
    assert_int_equal(dl->dead_letters[0]->last_status, 503);
    protobuf_c_message_free_unpacked(&dl->base, NULL);

    /* re-driven (the national team's): delivered again, its dead letter gone; the cursor
     * stays where it is */
    Ovop__V1__RedriveDeadLettersResponse *rd = NULL;
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(svcenv_call_as(&E, "statistics", "RedriveDeadLetters", NULL, &ref.base,
                                    &ovop__v1__redrive_dead_letters_response__descriptor, NULL,
                                    &rep),
                     OVOP__V1__STATUS__CODE__PERMISSION_DENIED);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(svcenv_call_as(&E, NT_ADMIN, "RedriveDeadLetters", NULL, &ref.base,
                                    &ovop__v1__redrive_dead_letters_response__descriptor,
                                    (ProtobufCMessage **)&rd, NULL),
                     0);
    assert_int_equal(rd->requested, 1);
    protobuf_c_message_free_unpacked(&rd->base, NULL);
    wait_ok("/dead", base, 2);
    assert_int_equal(sequences("/dead", base, got, 4), 2);
    assert_int_equal(got[1], a);
    for (int i = 0; i < 100 && svcenv_countf(&E,
                                             "SELECT count(*) FROM notify.dead_letters WHERE "
                                             "subscription_id = '%s'",
                                             sub) != 0;
         i++)
        harness_sleep_ms(50);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.dead_letters WHERE "
                                   "subscription_id = '%s'",
                                   sub),
                     0);
    nt_wait_cursor(&E, sub, b);

    free(sub);
    free(ep);
    free(secret);
    free(url);
}

/* An event the endpoint's format cannot carry (EPCIS has no form for a violation notice, nor
 * for a move without goods) is kept as a dead letter with reason FORMAT_NOT_APPLICABLE and
 * the cursor moves on; the endpoint, which answered nothing wrong, stays active. */
static void test_webhook_format_not_applicable(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/epcis");
    char *secret = NULL;
    char *ep = nt_endpoint_format(&E, "statistics", url,
                                  OVOP__V1__ENDPOINT_FORMAT__ENDPOINT_FORMAT_EPCIS_JSONLD, &secret);
    size_t base = httpsink_count(sink);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, "ovop.exports.*", NULL);
    uint64_t a = nt_emit(&E, "ovop.exports.violation.recorded", BATKEN, "081310", "CN", 9001);
    uint64_t b = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    nt_wait_cursor(&E, sub, b);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.dead_letters WHERE "
                                   "subscription_id = '%s' AND seq IN (%" PRIu64 ", %" PRIu64
                                   ") AND last_error = 'FORMAT_NOT_APPLICABLE'",
                                   sub, a, b),
                     2);
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.endpoints WHERE id = '%s' AND "
                                   "status = 'active'",
                                   ep),
                     1);
    for (size_t i = base; i < httpsink_count(sink); i++) /* other tests' late retries aside */
        assert_string_not_equal(httpsink_get(sink, i)->path, "/epcis");
    free(sub);
    free(ep);
    free(secret);
    free(url);
}

static void test_webhook_gone_unsubscribes(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/gone");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL);
    httpsink_script(sink, "/gone", 410, 1, NULL, 0);
    nt_emit(&E, "ovop.exports.shipment.delivered", BATKEN, "081310", "CN", 9001);
    for (int i = 0; i < 200; i++) {
        if (svcenv_countf(&E,
                          "SELECT count(*) FROM notify.subscriptions WHERE id = '%s' AND "
                          "status = 'unsubscribed_by_endpoint'",
                          sub) == 1)
            break;
        harness_sleep_ms(50);
    }
    assert_int_equal(svcenv_countf(&E,
                                   "SELECT count(*) FROM notify.subscriptions WHERE id = '%s' AND "
                                   "status = 'unsubscribed_by_endpoint'",
                                   sub),
                     1);
    /* nothing more goes there */
    nt_emit(&E, "ovop.exports.shipment.returned", BATKEN, "081310", "CN", 9001);
    harness_sleep_ms(2500);
    size_t gone = 0;
    for (size_t i = 0; i < httpsink_count(sink); i++)
        gone += strcmp(httpsink_get(sink, i)->path, "/gone") == 0;
    assert_int_equal(gone, 1);
    free(sub);
    free(ep);
    free(secret);
    free(url);
}

/* Webhook subscriptions are shared: each of the two instances holds its fair share. */
static void test_webhook_fair_share(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/share");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    for (int i = 0; i < 4; i++)
        free(nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL));
    long held = 0, per_instance = 0;
    for (int i = 0; i < 100 && !(held == 4 && per_instance == 2); i++) {
        harness_sleep_ms(100);
        held = svcenv_count(&E, "SELECT count(*) FROM notify.subscriptions "
                                "WHERE lease_until > now()");
        per_instance = svcenv_count(&E, "SELECT max(n) FROM (SELECT count(*) AS n FROM "
                                        "notify.subscriptions WHERE lease_until > now() "
                                        "GROUP BY split_part(lease_holder, '#', 1)) c");
    }
    assert_int_equal(held, 4);
    assert_int_equal(per_instance, 2);
    free(ep);
    free(secret);
    free(url);
}

static void test_webhook_takeover_after_sigkill(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    char *url = httpsink_url(sink, "/takeover");
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    size_t base = httpsink_count(sink);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL);
    uint64_t seq[6];
    seq[0] = nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    wait_ok("/takeover", base, 1);
    /* the holder: "<host>:<pid>:<nonce>#<subscription>" */
    char *holder = svcenv_scalarf(&E,
                                  "SELECT lease_holder FROM notify.subscriptions WHERE "
                                  "id = '%s'",
                                  sub);
    long pid = strtol(strchr(holder, ':') + 1, NULL, 10);
    int victim = E.daemon[0] == (pid_t)pid ? 0 : 1;
    assert_int_equal(E.daemon[victim], (pid_t)pid);
    free(holder);
    assert_int_equal(harness_kill(E.daemon[victim], SIGKILL), 0);
    harness_stop(E.daemon[victim]);
    E.daemon[victim] = 0;
    for (int i = 1; i < 6; i++)
        seq[i] = nt_emit(&E, "ovop.exports.shipment.departed", BATKEN, "081310", "CN", 9001);
    int64_t t0 = ovop_mono_us();
    wait_ok("/takeover", base, 6);
    double took = (double)(ovop_mono_us() - t0) / 1e6;
    print_message("takeover: the 5 events after the SIGKILL delivered within %.1f s\n", took);
    assert_true(took < 10.0);
    uint64_t got[16];
    size_t n = sequences("/takeover", base, got, 16);
    /* at least once, in order: every sequence, none missing */
    size_t k = 0;
    for (size_t i = 0; i < n && k < 6; i++)
        if (got[i] == seq[k])
            k++;
        else
            assert_true(got[i] < seq[k]); /* a redelivery of an earlier one */
    assert_int_equal(k, 6);
    nt_wait_cursor(&E, sub, seq[5]);
    free(sub);
    free(ep);
    free(secret);
    free(url);
}

static void test_endpoint_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *url, *reason;
    } bad[] = {
        {"http://10.1.2.3/hook", "ADDRESS_NOT_ALLOWED"},
        {"http://[::1]:8080/hook", "ADDRESS_NOT_ALLOWED"},
        {"ftp://127.0.0.1/hook", "URL_INVALID"},
        {"http://user:pw@127.0.0.1/hook", "URL_INVALID"},
        {"not a url", "URL_INVALID"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(bad); i++) {
        Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
        in.url = (char *)bad[i].url;
        Ovop__V1__Reply *rep = NULL;
        assert_int_equal(svcenv_call_as(&E, "statistics", "CreateEndpoint", NULL, &in.base,
                                        &ovop__v1__endpoint_secret__descriptor, NULL, &rep),
                         OVOP__V1__STATUS__CODE__INVALID_ARGUMENT);
        svcenv_assert_reason(&E, rep, bad[i].reason);
        ovop__v1__reply__free_unpacked(rep, NULL);
    }
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM notify.endpoints"), 0);
    /* EPCIS only for export events */
    nt_scope(&E, "statistics", "*", "*", "*", "*");
    Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
    char *url = httpsink_url(sink, "/epcis");
    in.url = url;
    in.format = OVOP__V1__ENDPOINT_FORMAT__ENDPOINT_FORMAT_EPCIS_JSONLD;
    Ovop__V1__EndpointSecret *out = NULL;
    assert_int_equal(svcenv_call_as(&E, "statistics", "CreateEndpoint", NULL, &in.base,
                                    &ovop__v1__endpoint_secret__descriptor,
                                    (ProtobufCMessage **)&out, NULL),
                     0);
    Ovop__V1__Reply *rep = NULL;
    char *id = NULL;
    (void)id;
    Ovop__V1__SubscriptionFilter f = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
    Ovop__V1__CreateSubscriptionRequest cs = OVOP__V1__CREATE_SUBSCRIPTION_REQUEST__INIT;
    cs.delivery = OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_WEBHOOK;
    cs.endpoint_id = out->endpoint->id;
    cs.filter = &f;
    assert_int_equal(svcenv_call_as(&E, "statistics", "CreateSubscription", NULL, &cs.base,
                                    &ovop__v1__subscription__descriptor, NULL, &rep),
                     OVOP__V1__STATUS__CODE__INVALID_ARGUMENT);
    svcenv_assert_reason(&E, rep, "FORMAT_NOT_APPLICABLE");
    ovop__v1__reply__free_unpacked(rep, NULL);
    protobuf_c_message_free_unpacked(&out->base, NULL);
    free(url);
}

/* deploy/examples/webhook_receiver.py (Python's standard library only) verifies what
 * notifyd sends: an independent implementation of Standard Webhooks. */
static void test_example_receiver(void **state)
{
    (void)state;
    nt_scope(&E, "statistics", "ovop.exports.*", "*", "*", "*");
    uint16_t port;
    assert_int_equal(harness_free_port(&port), 0);
    char url[64], portarg[16];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/ovop", port);
    snprintf(portarg, sizeof(portarg), "%u", port);
    char *secret = NULL;
    char *ep = nt_endpoint(&E, "statistics", url, &secret);
    char *secret_file = xasprintf("%s/receiver.secret", harness_tmpdir());
    FILE *f = fopen(secret_file, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", secret);
    fclose(f);
    char *script = xasprintf("%s/deploy/examples/webhook_receiver.py", OVOP_SOURCE_DIR);
    const char *args[] = {script,      "--port",  portarg, "--secret-file",
                          secret_file, "--count", "3",     NULL};
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, "/usr/bin/python3", args, NULL, "receiver"), 0);
    harness_sleep_ms(500);
    char *sub = nt_subscribe_webhook(&E, "statistics", ep, NULL, NULL);
    for (int i = 0; i < 3; i++)
        nt_emit(&E, "ovop.exports.shipment.released", BATKEN, "081310", "CN", 9001);
    int status = -1;
    int r = harness_wait_exit(pid, 20000, &status);
    if (r < 0)
        harness_stop(pid);
    assert_int_equal(r, 0);
    assert_int_equal(status, 0);
    char *log = xasprintf("%s/receiver.log", harness_tmpdir());
    f = fopen(log, "r");
    assert_non_null(f);
    char line[512];
    int verified = 0, refused = 0;
    while (fgets(line, sizeof(line), f)) {
        verified += strncmp(line, "verified", 8) == 0;
        refused += strncmp(line, "REFUSED", 7) == 0;
    }
    fclose(f);
    assert_int_equal(verified, 3);
    assert_int_equal(refused, 0);
    free(log);
    free(sub);
    free(script);
    free(secret_file);
    free(ep);
    free(secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_webhook_exact_signed_in_order, nt_reset),
        cmocka_unit_test_setup(test_webhook_500_for_a_while, nt_reset),
        cmocka_unit_test_setup(test_webhook_dead_letter_and_redrive, nt_reset),
        cmocka_unit_test_setup(test_webhook_format_not_applicable, nt_reset),
        cmocka_unit_test_setup(test_webhook_gone_unsubscribes, nt_reset),
        cmocka_unit_test_setup(test_endpoint_refusals, nt_reset),
        cmocka_unit_test_setup(test_example_receiver, nt_reset),
        cmocka_unit_test_setup(test_webhook_fair_share, nt_reset),
        cmocka_unit_test_setup(test_webhook_takeover_after_sigkill, nt_reset),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
