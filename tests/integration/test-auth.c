/* Authentication on the bus through real sockets: a broker with CURVE and its ZAP handler,
 * registryd behind it, clients and raw ZeroMQ sockets with keys of principals in PostgreSQL.
 * No key, an unknown key, a disabled key (disabled while connected), an expired or revoked
 * key are refused; a forged caller or principal frame changes nothing; only a principal with
 * worker:<service> registers a worker, and a worker's reply reaches only a client whose
 * request it holds; key rotation overlaps exactly as asked; a refusal writes nothing; without
 * a ZAP handler nobody connects. Then the ovopctl verbs of ovop.iam end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zmq.h>

#include "client.h"
#include "envelope.h"
#include "harness.h"
#include "msg.h"
#include "ovop/v1/iam.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define IAM       "ovop.iam"
#define REGISTRY  "ovop.registry"
#define VILLAGE   "41705214000101" /* in Batken District */
#define ACTIVE    OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_ACTIVE
#define DISABLED  OVOP__V1__PRINCIPAL_STATUS__PRINCIPAL_STATUS_DISABLED
#define RECORD    (&ovop__v1__principal_record__descriptor)
#define PRINCIPAL (&ovop__v1__principal__descriptor)
/* How long a change of a principal may take to reach the broker (refresh 250 ms here). */
#define TAKES_EFFECT_MS 3000

static svcenv_t E;

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from) "
    "VALUES ('" VILLAGE "', 'village', '41705214000000', 'Кара-Бак', 'Kara-Bak', '2000-01-01') "
    "RETURNING 1",
    NULL};

static const char *const broker_args[] = {"--auth-refresh-ms", "250", NULL};

static int setup(void **state)
{
    OVOP_UNUSED(state);
    svcenv_start(&E, &(svcenv_config_t){.db_name = "auth",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = REGISTRY,
                                        .broker_args = broker_args,
                                        .client = {.timeout_ms = 5000, .retries = 0}});
    return 0;
}

static int teardown(void **state)
{
    OVOP_UNUSED(state);
    svcenv_stop(&E);
    return 0;
}

/* ---- what a refusal must leave as it was ---- */

typedef struct counts {
    long principals, keys, history, producers, events, replies;
} counts_t;

static counts_t counts(void)
{
    return (counts_t){
        .principals = svcenv_count(&E, "SELECT count(*) FROM iam.principals"),
        .keys = svcenv_count(&E, "SELECT count(*) FROM iam.keys"),
        .history = svcenv_count(&E, "SELECT count(*) FROM iam.history"),
        .producers = svcenv_count(&E, "SELECT count(*) FROM registry.producers"),
        .events = svcenv_count(&E, "SELECT count(*) FROM bus.events"),
        .replies = svcenv_count(&E, "SELECT count(*) FROM bus.idempotency"),
    };
}

static void assert_unchanged(const counts_t *before)
{
    counts_t now = counts();
    assert_int_equal(now.principals, before->principals);
    assert_int_equal(now.keys, before->keys);
    assert_int_equal(now.history, before->history);
    assert_int_equal(now.producers, before->producers);
    assert_int_equal(now.events, before->events);
    assert_int_equal(now.replies, before->replies);
}

/* ---- clients and calls ---- */

static ovop_client_t *client_with(const ovop_security_t *sec, unsigned timeout_ms)
{
    ovop_client_options_t o = {.brokers = E.endpoint,
                               .timeout_ms = timeout_ms,
                               .retries = 0,
                               .max_msg = 1 << 20,
                               .security = sec};
    ovop_client_t *c;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    return c;
}

/* Calls service.method on c; the call must get an answer. Returns its status code, with the
 * output (OK) and the reply when asked for. */
static int call_on(ovop_client_t *c, const char *service, const char *method,
                   const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
                   ProtobufCMessage **ret_out, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, service, method, NULL, in, out_desc, &rep, &out);
    if (r != 0)
        fail_msg("%s %s: %s", service, method, strerror(-r));
    int code = rep->status ? (int)rep->status->code : 0;
    if (ret_rep)
        *ret_rep = rep;
    else
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (ret_out)
        *ret_out = out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

/* ovop.iam as the administrator; returns the status code. */
static int iam(const char *method, const ProtobufCMessage *in,
               const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out)
{
    ovop_client_t *c = svcenv_client(&E);
    int code = call_on(c, IAM, method, in, out_desc, ret_out, NULL);
    ovop_client_destroy(&c);
    return code;
}

static void set_status(const char *id, Ovop__V1__PrincipalStatus status)
{
    Ovop__V1__SetPrincipalStatusRequest in = OVOP__V1__SET_PRINCIPAL_STATUS_REQUEST__INIT;
    in.id = (char *)id;
    in.status = status;
    in.reason = "test-auth";
    ProtobufCMessage *out = NULL;
    assert_int_equal(iam("SetPrincipalStatus", &in.base, RECORD, &out), OVOP_OK);
    assert_int_equal(((Ovop__V1__PrincipalRecord *)out)->status, status);
    protobuf_c_message_free_unpacked(out, NULL);
}

/* WhoAmI on c: what ovop_client_call returns; with 0, the status code in *ret_code and, on
 * OK, the principal's id in ret_id. */
static int whoami(ovop_client_t *c, int *ret_code, char ret_id[static 64],
                  Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__WhoAmIRequest in = OVOP__V1__WHO_AM_IREQUEST__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    ret_id[0] = '\0';
    int r = ovop_client_call(c, IAM, "WhoAmI", NULL, &in.base, PRINCIPAL, &rep, &out);
    if (r != 0)
        return r;
    *ret_code = rep->status ? (int)rep->status->code : 0;
    if (out)
        snprintf(ret_id, 64, "%s", ((Ovop__V1__Principal *)out)->id);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    if (ret_rep)
        *ret_rep = rep;
    else
        ovop__v1__reply__free_unpacked(rep, NULL);
    return 0;
}

/* True when a fresh connection with sec is answered WhoAmI as expect_id; else what refused. */
static int fresh_whoami(const ovop_security_t *sec, const char *expect_id)
{
    ovop_client_t *c = client_with(sec, 2000);
    int code = -1;
    char id[64];
    int r = whoami(c, &code, id, NULL);
    ovop_client_destroy(&c);
    if (r != 0)
        return r;
    if (code != OVOP_OK)
        return 1000 + code;
    assert_string_equal(id, expect_id);
    return 0;
}

/* Polls fresh connections with sec until one is answered as expect_id (TAKES_EFFECT_MS at
 * most); returns the last outcome as fresh_whoami(). */
static int wait_accepted(const ovop_security_t *sec, const char *expect_id)
{
    int64_t deadline = ovop_mono_us() + TAKES_EFFECT_MS * 1000;
    int r;
    while ((r = fresh_whoami(sec, expect_id)) != 0 && ovop_mono_us() < deadline)
        harness_sleep_ms(100);
    return r;
}

static ovop_security_t security_of(const char *who)
{
    ovop_security_t sec;
    assert_int_equal(ident_security(&E.ident, who, &sec), 0);
    return sec;
}

/* A principal added straight into the database, and accepted by the broker. */
static ovop_security_t add_principal(const char *id, const char *kind, const char *roles)
{
    assert_int_equal(ident_add(&E.ident, E.conn, id, kind, roles, NULL, NULL), 0);
    ovop_security_t sec = security_of(id);
    assert_int_equal(wait_accepted(&sec, id), 0);
    return sec;
}

static double metric(const char *series)
{
    return harness_port_metric(E.broker_http, series);
}

/* ---- requests and raw sockets ---- */

/* A valid producer registration: refused only for who sends it. */
static Ovop__V1__RegisterProducerRequest producer_request(const char *tax_id)
{
    static Ovop__V1__Contact contact;
    ovop__v1__contact__init(&contact);
    contact.phone = "+996 555 123 456";
    contact.address = "Kara-Bak, Lenina 3";
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = "Kara-Bak Apricots LLC";
    in.tax_id = (char *)tax_id;
    in.contact = &contact;
    in.territory_code = VILLAGE;
    return in;
}

/* An ovop.v1.Request for method with body in, and the given caller and on_behalf_of
 * (malloc'd; *ret_len). */
static void *request_bytes(const char *rid, const char *method, const ProtobufCMessage *in,
                           const char *caller, const char *on_behalf_of, size_t *ret_len)
{
    Ovop__V1__Request req = OVOP__V1__REQUEST__INIT;
    size_t body_len = protobuf_c_message_get_packed_size(in);
    uint8_t *body = xmalloc(body_len + 1);
    protobuf_c_message_pack(in, body);
    req.request_id = (char *)rid;
    req.method = (char *)method;
    req.body.data = body;
    req.body.len = body_len;
    req.caller = (char *)(caller ? caller : "");
    req.on_behalf_of = (char *)(on_behalf_of ? on_behalf_of : "");
    *ret_len = protobuf_c_message_get_packed_size(&req.base);
    void *out = xmalloc(*ret_len + 1);
    protobuf_c_message_pack(&req.base, out);
    free(body);
    return out;
}

/* A DEALER connected to the broker with sec (NULL: plaintext) in zctx. */
static void *raw_socket(void *zctx, const ovop_security_t *sec)
{
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof(linger));
    if (sec)
        assert_int_equal(ovop_security_apply_client(d, sec), 0);
    assert_int_equal(zmq_connect(d, E.endpoint), 0);
    return d;
}

static void send_frames(void *sock, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const void *p = va_arg(ap, const void *);
        size_t len = va_arg(ap, size_t);
        assert_int_equal(zmq_send(sock, p, len, i + 1 < n ? ZMQ_SNDMORE : 0), (int)len);
    }
    va_end(ap);
}

#define F(s) (s), sizeof(s) - 1

/* Receives one message on sock within timeout_ms, skipping the broker's HEARTBEATs; a
 * worker socket (worker) heartbeats meanwhile so that the broker keeps it. NULL on timeout. */
static ovop_msg_t *raw_recv(void *sock, unsigned timeout_ms, bool worker)
{
    int64_t deadline = ovop_mono_us() + (int64_t)timeout_ms * 1000, beat = 0;
    while (ovop_mono_us() < deadline) {
        if (worker && ovop_mono_us() >= beat) {
            /* Without waiting: once the broker closed the connection nothing can be sent. */
            zmq_send(sock, "MDPW02", 6, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send(sock, "\x05", 1, ZMQ_DONTWAIT);
            beat = ovop_mono_us() + 300000;
        }
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 50) <= 0)
            continue;
        ovop_msg_t *m = NULL;
        assert_int_equal(ovop_msg_recv(&m, sock, 0), 0);
        if (ovop_msg_frames(m) == 2 && ovop_msg_streq(m, 0, "MDPW02") &&
            ovop_msg_eq(m, 1, "\x05", 1)) {
            ovop_msg_destroy(&m);
            continue;
        }
        return m;
    }
    return NULL;
}

/* Waits for worker command cmd on a raw worker socket (3 s at most). */
static bool expect_command(void *sock, char cmd)
{
    ovop_msg_t *m = raw_recv(sock, 3000, false);
    bool ok = m && ovop_msg_frames(m) >= 2 && ovop_msg_streq(m, 0, "MDPW02") &&
              ovop_msg_eq(m, 1, &cmd, 1);
    ovop_msg_destroy(&m);
    return ok;
}

/* Sends a client REQUEST of one body frame (plus extra frames) on a raw DEALER. */
static void raw_request(void *d, const char *service, const void *body, size_t len)
{
    send_frames(d, 4, F("MDPC02"), F("\x01"), service, strlen(service), body, len);
}

/* The Reply of a FINAL received on a raw client (3 s at most), decoded; NULL when none. */
static Ovop__V1__Reply *raw_reply(void *d, const char *service)
{
    ovop_msg_t *m = raw_recv(d, 3000, false);
    if (!m)
        return NULL;
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_true(ovop_msg_streq(m, 0, "MDPC02"));
    assert_true(ovop_msg_eq(m, 1, "\x03", 1));
    assert_true(ovop_msg_streq(m, 2, service));
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, ovop_msg_len(m, 3), ovop_msg_data(m, 3));
    assert_non_null(rep);
    ovop_msg_destroy(&m);
    return rep;
}

static void assert_status(const Ovop__V1__Reply *rep, int code, const char *reason,
                          const char *domain)
{
    assert_non_null(rep);
    int got = rep->status ? (int)rep->status->code : 0;
    if (got != code)
        fail_msg("status %d, expected %d (%s)", got, code, rep->status ? rep->status->message : "");
    if (reason)
        assert_string_equal(rep->status->reason, reason);
    if (domain)
        assert_string_equal(rep->status->domain, domain);
}

/* ---- who may connect ---- */

static void test_no_key_is_refused(void **state)
{
    OVOP_UNUSED(state);
    counts_t before = counts();
    /* A client without CURVE (plaintext, "no key") against the CURVE broker. Its timeout is
     * long: the refusal must come well before it, however loaded the machine (under ASan on
     * two busy cores it took 2.6 s once), while a call that waited the timeout out fails. */
    ovop_client_t *c = client_with(NULL, 15000);
    Ovop__V1__RegisterProducerRequest in = producer_request("01503201910011");
    Ovop__V1__Reply *rep = NULL;
    int64_t t0 = ovop_mono_us();
    int r = ovop_client_call(c, REGISTRY, "RegisterProducer", NULL, &in.base, NULL, &rep, NULL);
    int64_t ms = (ovop_mono_us() - t0) / 1000;
    ovop_client_destroy(&c);
    if (r != -EPROTO && r != -EACCES)
        fail_msg("a plaintext client got %d (%s), not -EPROTO or -EACCES", r, strerror(-r));
    if (ms >= 12000)
        fail_msg("the refusal took %lld ms: a timeout, not a refusal", (long long)ms);
    c = client_with(NULL, 3000);
    r = ovop_client_mmi_service(c, REGISTRY);
    assert_true(r == -EPROTO || r == -EACCES);
    ovop_client_destroy(&c);
    assert_unchanged(&before);
}

static void test_unknown_key_is_refused(void **state)
{
    OVOP_UNUSED(state);
    counts_t before = counts();
    const char *series = "ovop_auth_handshakes_total{result=\"unknown_key\",mechanism=\"CURVE\"}";
    double unknown0 = metric(series);
    /* A well-formed key pair that names no principal. */
    ovop_security_t sec = {0};
    char *err = NULL;
    assert_int_equal(ovop_key_generate(sec.public_key, sec.secret_key), 0);
    assert_int_equal(ovop_key_load_public(E.ident.broker_key, sec.server_key, &err), 0);
    int64_t t0 = ovop_mono_us();
    assert_int_equal(fresh_whoami(&sec, ""), -EACCES);
    assert_true(ovop_mono_us() - t0 < 2000000);
    ovop_client_t *c = client_with(&sec, 2000);
    Ovop__V1__RegisterProducerRequest in = producer_request("01503201910011");
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(
        ovop_client_call(c, REGISTRY, "RegisterProducer", NULL, &in.base, NULL, &rep, NULL),
        -EACCES);
    ovop_client_destroy(&c);
    assert_true(metric(series) >= unknown0 + 2);

    /* The administrator's public key without its secret: the handshake proves the secret. */
    ovop_security_t impostor = E.admin;
    char other_pub[OVOP_KEY_LEN + 1];
    assert_int_equal(ovop_key_generate(other_pub, impostor.secret_key), 0);
    assert_true(fresh_whoami(&impostor, IDENT_ADMIN) < 0);
    ovop_security_clear(&sec);
    ovop_security_clear(&impostor);
    assert_unchanged(&before);
}

/* Calls WhoAmI on c every 100 ms until it is refused (TAKES_EFFECT_MS at most): returns the
 * refusing reply, or NULL with *ret_r the call's error (-EACCES once the broker closed the
 * connection and refuses the handshake). */
static Ovop__V1__Reply *whoami_until_refused(ovop_client_t *c, int *ret_r)
{
    int64_t deadline = ovop_mono_us() + TAKES_EFFECT_MS * 1000;
    for (;;) {
        Ovop__V1__Reply *rep = NULL;
        int code = -1;
        char id[64];
        *ret_r = whoami(c, &code, id, &rep);
        if (*ret_r < 0)
            return NULL;
        if (code != OVOP_OK || ovop_mono_us() > deadline)
            return rep;
        ovop__v1__reply__free_unpacked(rep, NULL);
        harness_sleep_ms(100);
    }
}

static void test_disabled_while_connected(void **state)
{
    OVOP_UNUSED(state);
    ovop_security_t sec = add_principal("op-disabled", "operator", "registry.editor");
    ovop_client_t *c = client_with(&sec, 3000);
    int code = -1;
    char id[64];
    assert_int_equal(whoami(c, &code, id, NULL), 0);
    assert_int_equal(code, OVOP_OK);
    assert_string_equal(id, "op-disabled");

    /* Disabled by the administrator while its connection is open: its next request is
     * refused, KEY_NOT_CURRENT from the broker while the connection stands, and the broker
     * closes the connection, after which the open client's handshake is refused. */
    double closed0 = metric("ovop_broker_connections_closed_total");
    set_status("op-disabled", DISABLED);
    int64_t t0 = ovop_mono_us();
    int r = 0;
    Ovop__V1__Reply *rep = whoami_until_refused(c, &r);
    if (rep) {
        assert_status(rep, OVOP_UNAUTHENTICATED, "KEY_NOT_CURRENT", "ovop.broker");
        ovop__v1__reply__free_unpacked(rep, NULL);
    } else {
        assert_int_equal(r, -EACCES);
    }
    assert_true(ovop_mono_us() - t0 < TAKES_EFFECT_MS * 1000);
    for (int i = 0;
         i < TAKES_EFFECT_MS / 50 && metric("ovop_broker_connections_closed_total") <= closed0; i++)
        harness_sleep_ms(50);
    assert_true(metric("ovop_broker_connections_closed_total") > closed0);

    /* Its changes are refused on that client and write nothing; a new one is refused. */
    counts_t before = counts();
    Ovop__V1__RegisterProducerRequest in = producer_request("01503201910011");
    rep = NULL;
    assert_int_equal(
        ovop_client_call(c, REGISTRY, "RegisterProducer", NULL, &in.base, NULL, &rep, NULL),
        -EACCES);
    assert_int_equal(fresh_whoami(&sec, "op-disabled"), -EACCES);
    assert_unchanged(&before);

    /* Enabled again: new connections and the open one are answered. */
    set_status("op-disabled", ACTIVE);
    assert_int_equal(wait_accepted(&sec, "op-disabled"), 0);
    assert_int_equal(whoami(c, &code, id, NULL), 0);
    assert_int_equal(code, OVOP_OK);
    assert_string_equal(id, "op-disabled");
    ovop_client_destroy(&c);
    ovop_security_clear(&sec);
}

/* ---- who is calling ---- */

/* Sends method with body in, caller and on_behalf_of on raw client d; the Reply. */
static Ovop__V1__Reply *raw_call(void *d, const char *service, const char *rid, const char *method,
                                 const ProtobufCMessage *in, const char *caller,
                                 const char *on_behalf_of)
{
    size_t len;
    void *body = request_bytes(rid, method, in, caller, on_behalf_of, &len);
    raw_request(d, service, body, len);
    free(body);
    Ovop__V1__Reply *rep = raw_reply(d, service);
    assert_non_null(rep);
    assert_string_equal(rep->request_id, rid);
    return rep;
}

static void test_forged_caller_changes_nothing(void **state)
{
    OVOP_UNUSED(state);
    void *zctx = zmq_ctx_new();
    void *admin = raw_socket(zctx, &E.admin);
    ovop_security_t tax_sec = security_of("tax");
    void *tax = raw_socket(zctx, &tax_sec);

    /* caller "customs" on the administrator's key: the broker says who it is. */
    Ovop__V1__WhoAmIRequest w = OVOP__V1__WHO_AM_IREQUEST__INIT;
    Ovop__V1__Reply *rep = raw_call(admin, IAM, "forged-who", "WhoAmI", &w.base, "customs", NULL);
    assert_status(rep, OVOP_OK, NULL, NULL);
    Ovop__V1__Principal *p = ovop__v1__principal__unpack(NULL, rep->body.len, rep->body.data);
    assert_string_equal(p->id, IDENT_ADMIN);
    ovop__v1__principal__free_unpacked(p, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A change with caller "customs" is recorded as the administrator's. */
    char pub[OVOP_KEY_LEN + 1], sec[OVOP_KEY_LEN + 1];
    assert_int_equal(ovop_key_generate(pub, sec), 0);
    Ovop__V1__AddPrincipalRequest add = OVOP__V1__ADD_PRINCIPAL_REQUEST__INIT;
    add.id = "forged-add";
    add.kind = "operator";
    add.display_name = "Added under a forged caller";
    add.public_key = pub;
    rep = raw_call(admin, IAM, "forged-add", "AddPrincipal", &add.base, "customs", NULL);
    assert_status(rep, OVOP_OK, NULL, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE principal_id = "
                                      "'forged-add' AND by = '" IDENT_ADMIN "'"),
                     1);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE by = 'customs'"), 0);

    /* tax (no role) naming the administrator as caller: refused, nothing written. */
    counts_t before = counts();
    Ovop__V1__RegisterProducerRequest in = producer_request("01503201910011");
    rep = raw_call(tax, REGISTRY, "forged-reg-1", "RegisterProducer", &in.base, IDENT_ADMIN, NULL);
    assert_status(rep, OVOP_PERMISSION_DENIED, "MISSING_ROLE", REGISTRY);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* An operator acting "on behalf of" someone: only services may. */
    rep = raw_call(admin, REGISTRY, "forged-reg-2", "RegisterProducer", &in.base, NULL, "customs");
    assert_status(rep, OVOP_PERMISSION_DENIED, "ON_BEHALF_NOT_ALLOWED", REGISTRY);
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* A principal frame of its own after the body: the broker refuses the request. */
    Ovop__V1__Principal forged = OVOP__V1__PRINCIPAL__INIT;
    char *all_roles[] = {"*"};
    forged.id = IDENT_ADMIN;
    forged.kind = "operator";
    forged.roles = all_roles;
    forged.n_roles = 1;
    uint8_t frame[256];
    size_t frame_len = ovop__v1__principal__pack(&forged, frame);
    size_t len;
    void *body = request_bytes("forged-reg-3", "RegisterProducer", &in.base, NULL, NULL, &len);
    send_frames(tax, 5, F("MDPC02"), F("\x01"), F(REGISTRY), body, len, frame, frame_len);
    free(body);
    rep = raw_reply(tax, REGISTRY);
    assert_status(rep, OVOP_INVALID_ARGUMENT, NULL, "ovop.broker");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_unchanged(&before);

    /* The same registration on the administrator's key passes: the refusals were the key's. */
    rep = raw_call(admin, REGISTRY, "forged-reg-4", "RegisterProducer", &in.base, "customs", NULL);
    assert_status(rep, OVOP_OK, NULL, NULL);
    ovop__v1__reply__free_unpacked(rep, NULL);
    counts_t after = counts();
    assert_int_equal(after.producers, before.producers + 1);
    assert_int_equal(after.events, before.events + 1);

    zmq_close(admin);
    zmq_close(tax);
    zmq_ctx_term(zctx);
    ovop_security_clear(&tax_sec);
}

/* ---- who may serve ---- */

static void test_client_key_cannot_register_worker(void **state)
{
    OVOP_UNUSED(state);
    const char *series = "ovop_broker_dropped_total{reason=\"unauthorized_worker\"}";
    double refused0 = metric(series);
    void *zctx = zmq_ctx_new();
    /* An operator, an agency and the service principal of another service. */
    ovop_security_t customs = security_of("customs"), exports = security_of("svc-ovop.exports");
    const ovop_security_t *keys[] = {&E.admin, &customs, &exports};
    void *rogue[3];
    for (int i = 0; i < 3; i++) {
        rogue[i] = raw_socket(zctx, keys[i]);
        send_frames(rogue[i], 4, F("MDPW02"), F("\x01"), F(REGISTRY), F("1024"));
        assert_true(expect_command(rogue[i], 0x06)); /* DISCONNECT */
    }
    assert_true(metric(series) >= refused0 + 3);
    assert_int_equal(metric("ovop_broker_workers{service=\"ovop.registry\"}"), 1);

    /* Requests for ovop.registry still reach registryd, and nothing reaches the rogues. */
    ovop_client_t *c = svcenv_client(&E);
    for (int i = 0; i < 10; i++) {
        Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
        in.code = VILLAGE;
        ProtobufCMessage *out = NULL;
        assert_int_equal(call_on(c, REGISTRY, "GetTerritory", &in.base,
                                 &ovop__v1__territory__descriptor, &out, NULL),
                         OVOP_OK);
        assert_string_equal(((Ovop__V1__Territory *)out)->code, VILLAGE);
        protobuf_c_message_free_unpacked(out, NULL);
    }
    ovop_client_destroy(&c);
    for (int i = 0; i < 3; i++) {
        ovop_msg_t *m = raw_recv(rogue[i], 200, false);
        assert_null(m);
        zmq_close(rogue[i]);
    }
    zmq_ctx_term(zctx);
    ovop_security_clear(&customs);
    ovop_security_clear(&exports);
}

/* A REQUEST received by a raw worker: the client's address and the principal's id. */
typedef struct held {
    char addr[64];
    size_t addr_len;
    char rid[64];
    char principal[64];
} held_t;

/* Receives a REQUEST on raw worker w (heartbeating meanwhile): frames MDPW02, REQUEST,
 * client address, empty, body, and the principal the broker appended. */
static held_t worker_take(void *w)
{
    held_t h = {0};
    ovop_msg_t *m = raw_recv(w, 3000, true);
    assert_non_null(m);
    assert_int_equal(ovop_msg_frames(m), 6);
    assert_true(ovop_msg_streq(m, 0, "MDPW02"));
    assert_true(ovop_msg_eq(m, 1, "\x02", 1));
    h.addr_len = ovop_msg_len(m, 2);
    assert_true(h.addr_len > 0 && h.addr_len <= sizeof(h.addr));
    memcpy(h.addr, ovop_msg_data(m, 2), h.addr_len);
    assert_int_equal(ovop_msg_len(m, 3), 0);
    Ovop__V1__Request *req =
        ovop__v1__request__unpack(NULL, ovop_msg_len(m, 4), ovop_msg_data(m, 4));
    assert_non_null(req);
    snprintf(h.rid, sizeof(h.rid), "%s", req->request_id);
    ovop__v1__request__free_unpacked(req, NULL);
    Ovop__V1__Principal *p =
        ovop__v1__principal__unpack(NULL, ovop_msg_len(m, 5), ovop_msg_data(m, 5));
    assert_non_null(p);
    snprintf(h.principal, sizeof(h.principal), "%s", p->id);
    ovop__v1__principal__free_unpacked(p, NULL);
    ovop_msg_destroy(&m);
    return h;
}

/* Sends a FINAL from raw worker w to client address addr with an OK Reply for rid whose
 * status message is text. */
static void worker_final(void *w, const void *addr, size_t addr_len, const char *rid,
                         const char *text)
{
    Ovop__V1__Status st = OVOP__V1__STATUS__INIT;
    st.message = (char *)text;
    size_t n;
    void *rep = ovop_reply_encode(rid, &st, NULL, 0, &n);
    send_frames(w, 5, F("MDPW02"), F("\x04"), addr, addr_len, F(""), rep, n);
    free(rep);
}

/* Expects the FINAL of rid with status message text on raw client d. */
static void client_gets(void *d, const char *service, const char *rid, const char *text)
{
    Ovop__V1__Reply *rep = raw_reply(d, service);
    assert_non_null(rep);
    assert_string_equal(rep->request_id, rid);
    assert_string_equal(rep->status->message, text);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

static void test_service_key_registers_and_replies_reach_holders(void **state)
{
    OVOP_UNUSED(state);
    assert_int_equal(ident_role(E.conn, "worker:auth.echo"), 0);
    ovop_security_t svc = add_principal("svc-auth.echo", "service", "worker:auth.echo");
    ovop_security_t exports = security_of("svc-ovop.exports"), tax = security_of("tax");
    void *zctx = zmq_ctx_new();
    void *w = raw_socket(zctx, &svc), *w2 = raw_socket(zctx, &exports);
    send_frames(w, 4, F("MDPW02"), F("\x01"), F("auth.echo"), F("2"));
    send_frames(w2, 4, F("MDPW02"), F("\x01"), F("ovop.exports"), F("1"));
    assert_int_equal(harness_wait_service(E.endpoint, "auth.echo", 2000, &E.admin), 0);
    void *a = raw_socket(zctx, &E.admin), *b = raw_socket(zctx, &tax);
    const char *unsolicited = "ovop_broker_dropped_total{reason=\"unsolicited_reply\"}";
    double dropped0 = metric(unsolicited);

    /* Each request reaches the worker with its sender's principal, whatever caller says. */
    Ovop__V1__WhoAmIRequest empty = OVOP__V1__WHO_AM_IREQUEST__INIT;
    size_t len;
    void *body = request_bytes("echo-a", "Echo", &empty.base, "customs", NULL, &len);
    raw_request(a, "auth.echo", body, len);
    free(body);
    held_t ha = worker_take(w);
    assert_string_equal(ha.rid, "echo-a");
    assert_string_equal(ha.principal, IDENT_ADMIN);
    body = request_bytes("echo-b", "Echo", &empty.base, IDENT_ADMIN, NULL, &len);
    raw_request(b, "auth.echo", body, len);
    free(body);
    held_t hb = worker_take(w);
    assert_string_equal(hb.rid, "echo-b");
    assert_string_equal(hb.principal, "tax");

    /* A worker of another service replying to A: dropped. The holder's reply arrives. */
    worker_final(w2, ha.addr, ha.addr_len, "echo-a", "forged by another worker");
    worker_final(w, ha.addr, ha.addr_len, "echo-a", "from the holder");
    client_gets(a, "auth.echo", "echo-a", "from the holder");
    /* Once answered, A's address is no longer held; a made-up address never was. */
    worker_final(w, ha.addr, ha.addr_len, "echo-a", "a second FINAL");
    char guess[sizeof(ha.addr)];
    memcpy(guess, hb.addr, hb.addr_len);
    guess[hb.addr_len - 1] ^= 0x5a;
    worker_final(w, guess, hb.addr_len, "echo-b", "to a guessed address");
    ovop_msg_t *m = raw_recv(a, 1000, false);
    if (m)
        fail_msg("client A received a message it never asked for (%zu frames)", ovop_msg_frames(m));
    worker_final(w, hb.addr, hb.addr_len, "echo-b", "for B");
    client_gets(b, "auth.echo", "echo-b", "for B");
    assert_true(metric(unsolicited) >= dropped0 + 3);

    /* Disabling the worker's principal disconnects it, then the broker closes its
     * connection; a new connection with that key is refused by the ZAP handler, so its READY
     * never arrives. */
    double closed0 = metric("ovop_broker_connections_closed_total");
    set_status("svc-auth.echo", DISABLED);
    m = raw_recv(w, TAKES_EFFECT_MS, true);
    assert_non_null(m);
    assert_true(ovop_msg_frames(m) == 2 && ovop_msg_eq(m, 1, "\x06", 1));
    ovop_msg_destroy(&m);
    ovop_client_t *c = svcenv_client(&E);
    assert_int_equal(ovop_client_mmi_service(c, "auth.echo"), -ENOENT);
    for (int i = 0;
         i < TAKES_EFFECT_MS / 50 && metric("ovop_broker_connections_closed_total") <= closed0; i++)
        harness_sleep_ms(50);
    assert_true(metric("ovop_broker_connections_closed_total") > closed0);
    void *w3 = raw_socket(zctx, &svc);
    zmq_send(w3, "MDPW02", 6, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(w3, "\x01", 1, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(w3, "auth.echo", 9, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(w3, "2", 1, ZMQ_DONTWAIT);
    harness_sleep_ms(500);
    assert_int_equal(ovop_client_mmi_service(c, "auth.echo"), -ENOENT);
    zmq_close(w3);
    ovop_client_destroy(&c);

    void *socks[] = {w, w2, a, b};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(socks); i++)
        zmq_close(socks[i]);
    zmq_ctx_term(zctx);
    ovop_security_clear(&svc);
    ovop_security_clear(&exports);
    ovop_security_clear(&tax);
}

/* ---- keys ---- */

/* A new key pair of the principal's owner, NAME.key and NAME.secret in the key directory;
 * the security to connect with it. */
static ovop_security_t new_pair(const char *name)
{
    char pub[OVOP_KEY_LEN + 1], sec[OVOP_KEY_LEN + 1];
    char *base = xasprintf("%s/%s", E.ident.dir, name), *err = NULL;
    assert_int_equal(ovop_key_generate(pub, sec), 0);
    assert_int_equal(ovop_key_write(base, name, pub, sec, false, &err), 0);
    explicit_bzero(sec, sizeof(sec));
    free(base);
    return security_of(name);
}

/* AddKey (overlap_s) or RevokeKey (revoke) of key for principal id; the record. */
static Ovop__V1__PrincipalRecord *change_key(const char *id, const char *key, bool revoke,
                                             uint32_t overlap_s)
{
    ProtobufCMessage *out = NULL;
    if (revoke) {
        Ovop__V1__RevokeKeyRequest in = OVOP__V1__REVOKE_KEY_REQUEST__INIT;
        in.id = (char *)id;
        in.public_key = (char *)key;
        assert_int_equal(iam("RevokeKey", &in.base, RECORD, &out), OVOP_OK);
    } else {
        Ovop__V1__AddKeyRequest in = OVOP__V1__ADD_KEY_REQUEST__INIT;
        in.id = (char *)id;
        in.public_key = (char *)key;
        in.overlap_seconds = overlap_s;
        assert_int_equal(iam("AddKey", &in.base, RECORD, &out), OVOP_OK);
    }
    return (Ovop__V1__PrincipalRecord *)out;
}

/* The key of r whose public key is pub. */
static const Ovop__V1__PrincipalKey *key_of(const Ovop__V1__PrincipalRecord *r, const char *pub)
{
    for (size_t i = 0; i < r->n_keys; i++)
        if (strcmp(r->keys[i]->public_key, pub) == 0)
            return r->keys[i];
    fail_msg("principal %s has no key %s", r->principal->id, pub);
    return NULL;
}

/* Polls fresh connections with sec until one's handshake is refused (TAKES_EFFECT_MS at
 * most). A connection whose handshake passed just before the broker reloaded its keyring
 * gets KEY_NOT_CURRENT instead (1000 + UNAUTHENTICATED): a refusal too, so poll on. */
static int wait_refused(const ovop_security_t *sec, const char *id)
{
    int64_t deadline = ovop_mono_us() + TAKES_EFFECT_MS * 1000;
    int r;
    while ((r = fresh_whoami(sec, id)) >= 0 && ovop_mono_us() < deadline) {
        if (r != 0)
            assert_int_equal(r, 1000 + OVOP_UNAUTHENTICATED);
        harness_sleep_ms(100);
    }
    return r;
}

static void test_key_rotation(void **state)
{
    OVOP_UNUSED(state);
    ovop_security_t k1 = add_principal("op-rotate", "operator", "registry.editor");
    ovop_client_t *open1 = client_with(&k1, 3000); /* connected through the rotation */
    int code = -1;
    char id[64];
    assert_int_equal(whoami(open1, &code, id, NULL), 0);
    assert_int_equal(code, OVOP_OK);
    long history0 = svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE principal_id = "
                                     "'op-rotate'");

    /* The owner makes a new pair; the administrator adds its public key, 2 s of overlap. */
    ovop_security_t k2 = new_pair("op-rotate-2");
    Ovop__V1__PrincipalRecord *r = change_key("op-rotate", k2.public_key, false, 2);
    int64_t t_added = ovop_mono_us();
    assert_int_equal(r->n_keys, 2);
    assert_true(key_of(r, k1.public_key)->current && key_of(r, k1.public_key)->expires_at[0]);
    assert_true(key_of(r, k2.public_key)->current && !key_of(r, k2.public_key)->expires_at[0]);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    /* During the overlap both keys open connections. */
    assert_int_equal(fresh_whoami(&k1, "op-rotate"), 0);
    assert_int_equal(wait_accepted(&k2, "op-rotate"), 0);
    assert_true(ovop_mono_us() - t_added < 900000);
    assert_int_equal(fresh_whoami(&k1, "op-rotate"), 0);

    /* After it, the old key is refused on new connections and on the open one. */
    int64_t left_us = t_added + 2300000 - ovop_mono_us();
    if (left_us > 0)
        harness_sleep_ms((unsigned)(left_us / 1000));
    counts_t before = counts();
    assert_int_equal(fresh_whoami(&k1, "op-rotate"), -EACCES);
    /* The open connection: refused while it stands, closed by the broker at its next tick
     * (then the handshake of the reconnection is refused). */
    Ovop__V1__Reply *rep = NULL;
    int r1 = whoami(open1, &code, id, &rep);
    if (r1 == 0) {
        assert_status(rep, OVOP_UNAUTHENTICATED, "KEY_NOT_CURRENT", "ovop.broker");
        ovop__v1__reply__free_unpacked(rep, NULL);
    } else {
        assert_int_equal(r1, -EACCES);
    }
    assert_int_equal(fresh_whoami(&k2, "op-rotate"), 0);
    assert_unchanged(&before);

    /* Overlap 0: the previous key goes at once; a revoked key is refused. */
    ovop_security_t k3 = new_pair("op-rotate-3");
    r = change_key("op-rotate", k3.public_key, false, 0);
    assert_false(key_of(r, k2.public_key)->current);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(wait_refused(&k2, "op-rotate"), -EACCES);
    assert_int_equal(wait_accepted(&k3, "op-rotate"), 0);
    r = change_key("op-rotate", k3.public_key, true, 0);
    assert_true(key_of(r, k3.public_key)->revoked_at[0] && !key_of(r, k3.public_key)->current);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    assert_int_equal(wait_refused(&k3, "op-rotate"), -EACCES);

    /* Every key refused writes nothing; revoking it again is NOT_FOUND. */
    before = counts();
    const ovop_security_t *all[] = {&k1, &k2, &k3};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(all); i++) {
        ovop_client_t *c = client_with(all[i], 2000);
        Ovop__V1__RegisterProducerRequest in = producer_request("01503201910011");
        assert_int_equal(
            ovop_client_call(c, REGISTRY, "RegisterProducer", NULL, &in.base, NULL, &rep, NULL),
            -EACCES);
        ovop_client_destroy(&c);
    }
    Ovop__V1__RevokeKeyRequest again = OVOP__V1__REVOKE_KEY_REQUEST__INIT;
    again.id = "op-rotate";
    again.public_key = k3.public_key;
    assert_int_equal(iam("RevokeKey", &again.base, RECORD, NULL), OVOP_NOT_FOUND);
    assert_unchanged(&before);

    /* Three changes in the history, each by the administrator. */
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE principal_id = "
                                      "'op-rotate' AND by = '" IDENT_ADMIN "'"),
                     3);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE principal_id = "
                                      "'op-rotate'"),
                     history0 + 3);
    ovop_client_destroy(&open1);
    ovop_security_clear(&k1);
    ovop_security_clear(&k2);
    ovop_security_clear(&k3);
}

/* ---- no ZAP handler, no connection ---- */

/* Answers one ZAP request (RFC 27) on zap with 200. */
static void zap_accept(void *zap)
{
    ovop_msg_t *m = NULL;
    assert_int_equal(ovop_msg_recv(&m, zap, 0), 0);
    assert_true(ovop_msg_frames(m) >= 7);
    ovop_msg_t *out = ovop_msg_new();
    ovop_msg_copy_frame(out, m, 0); /* routing id */
    ovop_msg_addmem(out, "", 0);
    ovop_msg_addstr(out, "1.0");
    ovop_msg_copy_frame(out, m, 3); /* request id */
    ovop_msg_addstr(out, "200");
    ovop_msg_addstr(out, "OK");
    ovop_msg_addstr(out, "test");
    ovop_msg_addmem(out, "", 0);
    assert_int_equal(ovop_msg_send(&out, zap, 0), 0);
    ovop_msg_destroy(&m);
}

/* A ROUTER with the broker's server security (CURVE, ZAP domain enforced) in a context of
 * its own, with or without a ZAP handler, and a DEALER with the administrator's keys and the
 * right server key: true when the DEALER's message reaches the ROUTER within 1 s. */
static bool curve_gets_through(bool with_handler)
{
    void *zctx = zmq_ctx_new(), *zap = NULL;
    int linger = 0;
    if (with_handler) {
        zap = zmq_socket(zctx, ZMQ_ROUTER);
        zmq_setsockopt(zap, ZMQ_LINGER, &linger, sizeof(linger));
        assert_int_equal(zmq_bind(zap, "inproc://zeromq.zap.01"), 0);
    }
    ovop_security_t server;
    char *err = NULL, ep[64];
    assert_int_equal(
        ovop_security_setup(&server, false, E.ident.broker_secret, NULL, "tcp://127.0.0.1:1", &err),
        0);
    void *router = zmq_socket(zctx, ZMQ_ROUTER), *dealer = zmq_socket(zctx, ZMQ_DEALER);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger));
    assert_int_equal(ovop_security_apply_server(router, &server), 0);
    ovop_security_clear(&server);
    uint16_t port;
    assert_int_equal(harness_free_port(&port), 0);
    snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%u", port);
    assert_int_equal(zmq_bind(router, ep), 0);
    assert_int_equal(ovop_security_apply_client(dealer, &E.admin), 0);
    assert_int_equal(zmq_connect(dealer, ep), 0);
    assert_int_equal(zmq_send(dealer, "hello", 5, ZMQ_DONTWAIT), 5);
    bool got = false;
    int64_t deadline = ovop_mono_us() + 1000000;
    while (!got && ovop_mono_us() < deadline) {
        zmq_pollitem_t items[] = {{.socket = router, .events = ZMQ_POLLIN},
                                  {.socket = zap, .events = ZMQ_POLLIN}};
        if (zmq_poll(items, zap ? 2 : 1, 50) <= 0)
            continue;
        if (zap && (items[1].revents & ZMQ_POLLIN))
            zap_accept(zap);
        got = items[0].revents & ZMQ_POLLIN;
    }
    zmq_close(dealer);
    zmq_close(router);
    if (zap)
        zmq_close(zap);
    zmq_ctx_term(zctx);
    return got;
}

static void test_no_zap_handler_no_connection(void **state)
{
    OVOP_UNUSED(state);
    /* The control: the same sockets with a handler that says yes do connect. */
    assert_true(curve_gets_through(true));
    assert_false(curve_gets_through(false));
}

/* ---- ovopctl ---- */

/* Runs ovopctl (as the administrator unless args say --key); its exit code. Output in
 * <tmpdir>/<log>.log. */
static int ctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 20000);
}

/* Runs ovopctl until it exits with want (TAKES_EFFECT_MS at most); the last exit code. */
static int ctl_until(const char *log, const char *const *args, int want)
{
    int64_t deadline = ovop_mono_us() + TAKES_EFFECT_MS * 1000;
    int r;
    while ((r = ctl(log, args)) != want && ovop_mono_us() < deadline)
        harness_sleep_ms(100);
    return r;
}

static char *read_log(const char *log)
{
    char *path = xasprintf("%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = xcalloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    free(path);
    return buf;
}

static void expect_output(const char *log, const char *fragment)
{
    char *buf = read_log(log);
    if (!strstr(buf, fragment))
        fail_msg("%s.log lacks \"%s\":\n%s", log, fragment, buf);
    free(buf);
}

static void test_ovopctl_principal_add_list_show(void **state)
{
    OVOP_UNUSED(state);
    char *stats = xasprintf("%s/ctl-statistics", harness_tmpdir());
    char *stats_key = xasprintf("%s.key", stats);
    const char *keygen[] = {"keygen", stats, NULL};
    assert_int_equal(ctl("ctl-keygen", keygen), 0);

    /* From the .key file keygen wrote, and from the public key itself. */
    const char *add1[] = {"principal",
                          "add",
                          "statistics",
                          "--kind",
                          "agency",
                          "--name",
                          "National Statistical Committee",
                          "--key",
                          stats_key,
                          NULL};
    assert_int_equal(ctl("ctl-add-1", add1), 0);
    expect_output("ctl-add-1", "agency         statistics");
    expect_output("ctl-add-1", "status         active");
    ovop_security_t clerk = new_pair("ctl-clerk");
    const char *add2[] = {"principal",          "add",    "ctl-clerk",       "--kind",
                          "operator",           "--name", "Batken clerk",    "--key",
                          clerk.public_key,     "--role", "registry.editor", "--territory",
                          IDENT_DISTRICT_SOATE, NULL};
    assert_int_equal(ctl("ctl-add-2", add2), 0);
    expect_output("ctl-add-2", "territory      " IDENT_DISTRICT_SOATE);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM iam.history WHERE principal_id IN "
                                      "('statistics', 'ctl-clerk') AND change = 'added' AND by "
                                      "= '" IDENT_ADMIN "'"),
                     2);

    const char *list1[] = {"principal", "list", "--kind", "agency", "--status", "active", NULL};
    assert_int_equal(ctl("ctl-list-1", list1), 0);
    expect_output("ctl-list-1", "statistics           agency   active   1    -              "
                                "National Statistical Committee");
    expect_output("ctl-list-1", "customs ");
    const char *list2[] = {"principal",   "list", "--role", "registry.editor",
                           "--page-size", "2",    "--all",  NULL};
    assert_int_equal(ctl("ctl-list-2", list2), 0);
    expect_output("ctl-list-2", "ctl-clerk");
    expect_output("ctl-list-2", IDENT_DISTRICT " ");
    const char *list3[] = {"--json", "principal", "list", "--kind", "operator", "--all", NULL};
    assert_int_equal(ctl("ctl-list-3", list3), 0);
    expect_output("ctl-list-3", "\"id\": \"ctl-clerk\"");
    const char *show[] = {"principal", "show", "ctl-clerk", NULL};
    assert_int_equal(ctl("ctl-show", show), 0);
    expect_output("ctl-show", "roles          registry.editor");
    char *row = xasprintf("%s current", clerk.public_key);
    expect_output("ctl-show", row);
    free(row);
    const char *roles[] = {"principal", "roles", NULL};
    assert_int_equal(ctl("ctl-roles", roles), 0);
    expect_output("ctl-roles", "worker:ovop.registry");

    /* The new principal's own key: whoami, once the broker has it. */
    char *clerk_secret = ident_secret(&E.ident, "ctl-clerk");
    const char *who[] = {"--key", clerk_secret, "whoami", NULL};
    assert_int_equal(ctl_until("ctl-whoami", who, 0), 0);
    expect_output("ctl-whoami", "principal      ctl-clerk");
    expect_output("ctl-whoami", "territory      " IDENT_DISTRICT_SOATE);
    free(clerk_secret);
    free(stats);
    free(stats_key);
    ovop_security_clear(&clerk);
}

static void test_ovopctl_principal_changes(void **state)
{
    OVOP_UNUSED(state);
    /* test_ovopctl_principal_add_list_show added ctl-clerk with registry.editor. */
    const char *grant[] = {"principal",     "grant", "ctl-clerk", "certification.district",
                           "exports.clerk", NULL};
    assert_int_equal(ctl("ctl-grant", grant), 0);
    expect_output("ctl-grant", "roles          certification.district exports.clerk "
                               "registry.editor");
    const char *revoke[] = {"principal", "revoke", "ctl-clerk", "exports.clerk", NULL};
    assert_int_equal(ctl("ctl-revoke", revoke), 0);
    expect_output("ctl-revoke", "roles          certification.district registry.editor");

    char *secret1 = ident_secret(&E.ident, "ctl-clerk");
    const char *who1[] = {"--key", secret1, "whoami", NULL};
    const char *disable[] = {"principal", "disable", "ctl-clerk", "--reason", "on leave", NULL};
    assert_int_equal(ctl("ctl-disable", disable), 0);
    expect_output("ctl-disable", "status         disabled");
    assert_int_equal(ctl_until("ctl-whoami-disabled", who1, 10 + OVOP_UNAUTHENTICATED),
                     10 + OVOP_UNAUTHENTICATED);
    const char *enable[] = {"principal", "enable", "ctl-clerk", NULL};
    assert_int_equal(ctl("ctl-enable", enable), 0);
    expect_output("ctl-enable", "status         active");
    assert_int_equal(ctl_until("ctl-whoami-enabled", who1, 0), 0);

    /* rotate-key --out: a fresh pair here, registered; overlap 0 retires the old key now. */
    char *out = xasprintf("%s/ctl-clerk-2", harness_tmpdir());
    char *out_secret = xasprintf("%s.secret", out), *out_key = xasprintf("%s.key", out);
    const char *rotate[] = {"principal", "rotate-key", "ctl-clerk", "--out",
                            out,         "--overlap",  "0",         NULL};
    assert_int_equal(ctl("ctl-rotate", rotate), 0);
    expect_output("ctl-rotate", " expired ");
    expect_output("ctl-rotate", " current ");
    struct stat st;
    assert_int_equal(stat(out_secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(out_key, &st), 0);
    const char *who2[] = {"--key", out_secret, "whoami", NULL};
    assert_int_equal(ctl_until("ctl-whoami-rotated", who2, 0), 0);
    expect_output("ctl-whoami-rotated", "principal      ctl-clerk");
    assert_int_equal(ctl_until("ctl-whoami-old", who1, 10 + OVOP_UNAUTHENTICATED),
                     10 + OVOP_UNAUTHENTICATED);
    /* The pair is never written over. */
    assert_int_equal(ctl("ctl-rotate-again", rotate), 1);

    const char *revoke_key[] = {"principal", "revoke-key", "ctl-clerk", out_key, NULL};
    assert_int_equal(ctl("ctl-revoke-key", revoke_key), 0);
    expect_output("ctl-revoke-key", " revoked ");
    assert_int_equal(ctl_until("ctl-whoami-revoked", who2, 10 + OVOP_UNAUTHENTICATED),
                     10 + OVOP_UNAUTHENTICATED);

    const char *history[] = {"principal", "history", "ctl-clerk", NULL};
    assert_int_equal(ctl("ctl-history", history), 0);
    const char *changes[] = {"added",   "granted",   "revoked",     "disabled", "on leave",
                             "enabled", "key_added", "key_revoked", IDENT_ADMIN};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(changes); i++)
        expect_output("ctl-history", changes[i]);
    free(secret1);
    free(out);
    free(out_secret);
    free(out_key);
}

static void test_ovopctl_refusals_write_nothing(void **state)
{
    OVOP_UNUSED(state);
    counts_t before = counts();
    char *district = ident_secret(&E.ident, IDENT_DISTRICT);
    /* Someone without iam.admin: PERMISSION_DENIED (exit 17), reads and changes alike. */
    const char *who[] = {"--key", district, "whoami", NULL};
    assert_int_equal(ctl("ctl-district-whoami", who), 0);
    expect_output("ctl-district-whoami", "principal      " IDENT_DISTRICT);
    const char *list[] = {"--key", district, "principal", "list", NULL};
    assert_int_equal(ctl("ctl-district-list", list), 10 + OVOP_PERMISSION_DENIED);
    expect_output("ctl-district-list", "MISSING_ROLE");
    expect_output("ctl-district-list", "iam.admin");
    const char *grant[] = {"--key",        district,    "principal", "grant",
                           IDENT_DISTRICT, "iam.admin", NULL};
    assert_int_equal(ctl("ctl-district-grant", grant), 10 + OVOP_PERMISSION_DENIED);
    const char *disable[] = {"--key", district, "principal", "disable", IDENT_ADMIN, NULL};
    assert_int_equal(ctl("ctl-district-disable", disable), 10 + OVOP_PERMISSION_DENIED);
    free(district);

    /* Bad input: INVALID_ARGUMENT (exit 13) from ovop.iam, or a usage error (exit 2). */
    const char *bad_id[] = {"principal", "add", "Bad Id", "--kind",           "operator",
                            "--name",    "x",   "--key",  E.admin.public_key, NULL};
    assert_int_equal(ctl("ctl-bad-id", bad_id), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-bad-id", "id: must be");
    const char *bad_role[] = {"principal", "grant", IDENT_DISTRICT, "no.such.role", NULL};
    assert_int_equal(ctl("ctl-bad-role", bad_role), 10 + OVOP_INVALID_ARGUMENT);
    expect_output("ctl-bad-role", "unknown role");
    const char *taken[] = {"principal", "add",   "ctl-taken", "--kind",           "operator",
                           "--name",    "Taken", "--key",     E.admin.public_key, NULL};
    assert_int_equal(ctl("ctl-taken-key", taken), 10 + OVOP_ALREADY_EXISTS);
    const char *overlap[] = {"principal",        "rotate-key", IDENT_DISTRICT, "--key",
                             E.admin.public_key, "--overlap",  "31d",          NULL};
    assert_int_equal(ctl("ctl-bad-overlap", overlap), 10 + OVOP_INVALID_ARGUMENT);
    const char *missing[] = {"principal", "show", "nobody", NULL};
    assert_int_equal(ctl("ctl-missing", missing), 10 + OVOP_NOT_FOUND);
    const char *usage1[] = {"principal", "add",     "x",      "--kind", "operator",
                            "--key",     "garbage", "--name", "x",      NULL};
    assert_int_equal(ctl("ctl-usage-1", usage1), 2);
    const char *usage2[] = {"principal", "rotate-key", IDENT_DISTRICT, NULL};
    assert_int_equal(ctl("ctl-usage-2", usage2), 2);
    const char *usage3[] = {"principal", "rotate-key", IDENT_DISTRICT, "--out",
                            "/tmp/x",    "--overlap",  "5 minutes",    NULL};
    assert_int_equal(ctl("ctl-usage-3", usage3), 2);
    const char *usage4[] = {"principal", "list", "--status", "gone", NULL};
    assert_int_equal(ctl("ctl-usage-4", usage4), 2);
    const char *usage5[] = {"principal", "grant", IDENT_DISTRICT, NULL};
    assert_int_equal(ctl("ctl-usage-5", usage5), 2);
    assert_unchanged(&before);
}

/* Last: SIGTERM drains the broker and it exits, ovop.iam and the keyring included. */
static void test_broker_exits_on_sigterm(void **state)
{
    OVOP_UNUSED(state);
    int code = -1;
    char id[64];
    ovop_client_t *c = svcenv_client(&E);
    assert_int_equal(whoami(c, &code, id, NULL), 0);
    ovop_client_destroy(&c);
    assert_int_equal(harness_kill(E.broker, SIGTERM), 0);
    int status = -1;
    assert_int_equal(harness_wait_exit(E.broker, 5000, &status), 0);
    E.broker = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_key_is_refused),
        cmocka_unit_test(test_unknown_key_is_refused),
        cmocka_unit_test(test_disabled_while_connected),
        cmocka_unit_test(test_forged_caller_changes_nothing),
        cmocka_unit_test(test_client_key_cannot_register_worker),
        cmocka_unit_test(test_service_key_registers_and_replies_reach_holders),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_no_zap_handler_no_connection),
        cmocka_unit_test(test_ovopctl_principal_add_list_show),
        cmocka_unit_test(test_ovopctl_principal_changes),
        cmocka_unit_test(test_ovopctl_refusals_write_nothing),
        cmocka_unit_test(test_broker_exits_on_sigterm),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    printf("# logs in %s\n", harness_tmpdir());
    return cmocka_run_group_tests(tests, setup, teardown);
}
