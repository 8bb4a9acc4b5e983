/* registryd through the real broker, against a real PostgreSQL: territory queries, bad
 * input of every kind, two instances under load with one SIGKILLed, the broker restarted
 * under load, a graceful SIGTERM drain, the schema check, and ovopctl's exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "client.h"
#include "harness.h"
#include "mdp.h"
#include "migrate.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define HEARTBEAT_MS "200"

static svcenv_t E;

static const char *const broker_args[] = {"--heartbeat-ms", HEARTBEAT_MS, NULL};
/* Stored replies older than an hour are deleted every 200 ms (test_replay_window). */
static const char *const registryd_args[] = {"--heartbeat-ms",
                                             HEARTBEAT_MS,
                                             "--credit",
                                             "16",
                                             "--drain-ms",
                                             "5000",
                                             "--schema-wait-ms",
                                             "2000",
                                             "--replay-window-h",
                                             "1",
                                             "--replay-prune-ms",
                                             "200",
                                             NULL};

static pid_t spawn_registryd(int i, const char *db, const char *log)
{
    return svcenv_spawn_daemon(&E, i, db, log);
}

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "registry",
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .instances = 2,
                                        .broker_args = broker_args,
                                        .daemon_args = registryd_args});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

static ovop_client_t *new_client(unsigned timeout_ms, unsigned retries)
{
    ovop_client_t *c;
    ovop_client_options_t o = {.brokers = E.endpoint,
                               .timeout_ms = timeout_ms,
                               .retries = retries,
                               .max_msg = 4 << 20,
                               .security = &E.admin};
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    return c;
}

/* Calls GetTerritory; returns the status code, *ret_t the territory when OK. */
static int get_territory(ovop_client_t *c, const char *code, const char *as_of,
                         Ovop__V1__Territory **ret_t, Ovop__V1__Reply **ret_rep)
{
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = (char *)code;
    in.as_of = (char *)(as_of ? as_of : "");
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, "ovop.registry", "GetTerritory", NULL, &in.base,
                             &ovop__v1__territory__descriptor, &rep, &out);
    if (r < 0)
        return r;
    int code_ = rep->status ? (int)rep->status->code : 0;
    if (ret_rep)
        *ret_rep = rep;
    else
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (ret_t)
        *ret_t = (Ovop__V1__Territory *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code_;
}

static void test_get_territory(void **state)
{
    ovop_client_t *c = new_client(3000, 2);
    Ovop__V1__Territory *t = NULL;
    assert_int_equal(get_territory(c, "41704000000000", NULL, &t, NULL), 0);
    assert_string_equal(t->code, "41704000000000");
    assert_string_equal(t->kind, "oblast");
    assert_string_equal(t->name->en, "Naryn Region");
    assert_string_equal(t->name->ru, "Нарынская область");
    assert_string_equal(t->parent_code, "41700000000000");
    assert_true(t->location->set);
    assert_int_equal(t->children, 6); /* five rayons and the city of Naryn */
    assert_string_equal(t->valid_to, "");
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* A rayon without coordinates. */
    assert_int_equal(get_territory(c, "41705236000000", NULL, &t, NULL), 0);
    assert_string_equal(t->name->en, "Leilek District");
    assert_false(t->location->set);
    protobuf_c_message_free_unpacked(&t->base, NULL);
    ovop_client_destroy(&c);
}

static void expect_invalid(ovop_client_t *c, const char *code, const char *as_of, const char *field,
                           const char *fragment)
{
    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(get_territory(c, code, as_of, NULL, &rep), OVOP_INVALID_ARGUMENT);
    assert_true(rep->status->n_violations >= 1);
    assert_string_equal(rep->status->violations[0]->field, field);
    if (!strstr(rep->status->violations[0]->description, fragment))
        fail_msg("violation \"%s\" lacks \"%s\"", rep->status->violations[0]->description,
                 fragment);
    ovop__v1__reply__free_unpacked(rep, NULL);
}

static void test_get_territory_errors(void **state)
{
    ovop_client_t *c = new_client(3000, 2);
    expect_invalid(c, "", NULL, "code", "required");
    expect_invalid(c, "123", NULL, "code", "14 digits");
    expect_invalid(c, "4170400000000x", NULL, "code", "digits only");
    expect_invalid(c, "51704000000000", NULL, "code", "417");
    expect_invalid(c, "417040000000000000", NULL, "code", "14 digits");
    expect_invalid(c, "41704000000000", "2024-02-30", "as_of", "YYYY-MM-DD");
    expect_invalid(c, "41704000000000", "yesterday", "as_of", "YYYY-MM-DD");

    Ovop__V1__Reply *rep = NULL;
    assert_int_equal(get_territory(c, "41799999999999", NULL, NULL, &rep), OVOP_NOT_FOUND);
    assert_non_null(strstr(rep->status->message, "41799999999999"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    /* Before independence the classifier's rows were not valid. */
    assert_int_equal(get_territory(c, "41704000000000", "1990-01-01", NULL, NULL), OVOP_NOT_FOUND);
    assert_int_equal(get_territory(c, "41704000000000", "2000-01-01", NULL, NULL), OVOP_OK);
    ovop_client_destroy(&c);
}

static int list(ovop_client_t *c, const char *parent, const char *kind, unsigned page_size,
                const char *token, Ovop__V1__ListTerritoriesResponse **ret)
{
    Ovop__V1__ListTerritoriesRequest in = OVOP__V1__LIST_TERRITORIES_REQUEST__INIT;
    in.parent_code = (char *)parent;
    in.kind = (char *)kind;
    in.page_size = page_size;
    in.page_token = (char *)token;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, "ovop.registry", "ListTerritories", NULL, &in.base,
                             &ovop__v1__list_territories_response__descriptor, &rep, &out);
    if (r < 0)
        return r;
    int code = rep->status ? (int)rep->status->code : 0;
    ovop__v1__reply__free_unpacked(rep, NULL);
    if (ret)
        *ret = (Ovop__V1__ListTerritoriesResponse *)out;
    else if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code;
}

static void test_list_territories(void **state)
{
    ovop_client_t *c = new_client(3000, 2);
    Ovop__V1__ListTerritoriesResponse *resp = NULL;

    /* Batken region: three rayons and three cities. */
    assert_int_equal(list(c, "41705000000000", "", 0, "", &resp), 0);
    assert_int_equal(resp->n_territories, 6);
    assert_string_equal(resp->next_page_token, "");
    for (size_t i = 1; i < resp->n_territories; i++)
        assert_true(strcmp(resp->territories[i - 1]->code, resp->territories[i]->code) < 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    assert_int_equal(list(c, "41705000000000", "rayon", 0, "", &resp), 0);
    assert_int_equal(resp->n_territories, 3);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* All 40 rayons, in pages of 7, each code once. */
    char token[64] = "";
    size_t total = 0, pages = 0;
    char last[15] = "";
    do {
        assert_int_equal(list(c, "", "rayon", 7, token, &resp), 0);
        assert_true(resp->n_territories <= 7);
        for (size_t i = 0; i < resp->n_territories; i++) {
            assert_true(strcmp(last, resp->territories[i]->code) < 0);
            snprintf(last, sizeof(last), "%s", resp->territories[i]->code);
            assert_string_equal(resp->territories[i]->kind, "rayon");
        }
        total += resp->n_territories;
        pages++;
        snprintf(token, sizeof(token), "%s", resp->next_page_token);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    } while (token[0]);
    assert_int_equal(total, 40);
    assert_int_equal(pages, 6);

    /* Errors. */
    assert_int_equal(list(c, "41799999999999", "", 0, "", NULL), OVOP_NOT_FOUND);
    assert_int_equal(list(c, "12", "", 0, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list(c, "", "planet", 0, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list(c, "", "", 5000, "", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list(c, "", "", 0, "garbage", NULL), OVOP_INVALID_ARGUMENT);
    assert_int_equal(list(c, "", "", 0, "t1.' OR 1=1 --", NULL), OVOP_INVALID_ARGUMENT);
    /* A leaf (a city district has no children): empty, not an error. */
    assert_int_equal(list(c, "41711201000000", "", 0, "", &resp), 0);
    assert_int_equal(resp->n_territories, 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    ovop_client_destroy(&c);
}

/* Sends raw frames from a DEALER and returns the FINAL's body (Reply), or NULL after
 * timeout_ms. */
static Ovop__V1__Reply *raw_request(void *sock, const char *service, const void *body, size_t len,
                                    unsigned timeout_ms)
{
    ovop_msg_t *m = ovop_mdp_client_request(service, body, len);
    assert_int_equal(ovop_msg_send(&m, sock, 0), 0);
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    ovop_msg_t *in = NULL;
    assert_int_equal(ovop_msg_recv(&in, sock, 0), 0);
    ovop_mdp_view_t v;
    assert_int_equal(ovop_mdp_parse_client(in, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPC_FINAL);
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, ovop_msg_len(in, v.body_first),
                                                   ovop_msg_data(in, v.body_first));
    ovop_msg_destroy(&in);
    return rep;
}

static void *raw_dealer(void *ctx)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    assert_int_equal(ovop_security_apply_client(s, &E.admin), 0);
    assert_int_equal(zmq_connect(s, E.endpoint), 0);
    return s;
}

static void assert_still_serving(void)
{
    ovop_client_t *c = new_client(3000, 2);
    assert_int_equal(get_territory(c, "41702000000000", NULL, NULL, NULL), OVOP_OK);
    ovop_client_destroy(&c);
}

static void test_bad_input_through_broker(void **state)
{
    void *ctx = zmq_ctx_new();
    void *s = raw_dealer(ctx);

    /* Garbage body: answered INVALID_ARGUMENT without a request id. */
    static const uint8_t garbage[] = {0xde, 0xad, 0xbe, 0xef, 0xff, 0xff};
    Ovop__V1__Reply *rep = raw_request(s, "ovop.registry", garbage, sizeof(garbage), 3000);
    assert_non_null(rep);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* A truncated protobuf: a valid envelope cut short. */
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = "41704000000000";
    uint8_t body[64];
    size_t blen = ovop__v1__get_territory_request__pack(&in, body);
    size_t elen;
    uint8_t *env = ovop_request_encode("trunc-1", "GetTerritory", body, blen, 0, NULL, &elen);
    rep = raw_request(s, "ovop.registry", env, elen - 5, 3000);
    assert_non_null(rep);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(env);

    /* A valid envelope whose body is truncated: the method's input does not decode. */
    env = ovop_request_encode("trunc-2", "GetTerritory", body, blen - 3, 0, NULL, &elen);
    rep = raw_request(s, "ovop.registry", env, elen, 3000);
    assert_non_null(rep);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep->request_id, "trunc-2");
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(env);

    /* Unknown method. */
    env = ovop_request_encode("m-1", "DeleteEverything", body, blen, 0, NULL, &elen);
    rep = raw_request(s, "ovop.registry", env, elen, 3000);
    assert_non_null(rep);
    assert_int_equal(rep->status->code, OVOP_UNIMPLEMENTED);
    assert_non_null(strstr(rep->status->message, "DeleteEverything"));
    ovop__v1__reply__free_unpacked(rep, NULL);

    /* Unknown service: no answer (the broker holds it until its request timeout), and
     * mmi.service says 404. */
    rep = raw_request(s, "ovop.nonexistent", env, elen, 500);
    assert_null(rep);
    free(env);
    ovop_client_t *c = new_client(2000, 0);
    assert_int_equal(ovop_client_mmi_service(c, "ovop.nonexistent"), -ENOENT);
    assert_int_equal(ovop_client_mmi_service(c, "ovop.registry"), 0);
    ovop_client_destroy(&c);
    zmq_close(s);

    /* Oversized: 2 MiB is past the broker's 1 MiB limit; libzmq drops that peer. */
    s = raw_dealer(ctx);
    size_t big = 2 << 20;
    uint8_t *huge = calloc(1, big);
    rep = raw_request(s, "ovop.registry", huge, big, 1000);
    assert_null(rep);
    free(huge);
    zmq_close(s);

    /* Non-MDP frames. */
    s = raw_dealer(ctx);
    zmq_send(s, "hello", 5, 0);
    zmq_send(s, "MDPC02", 6, ZMQ_SNDMORE);
    zmq_send(s, "\x07", 1, ZMQ_SNDMORE);
    zmq_send(s, "ovop.registry", 13, 0);
    zmq_close(s);
    zmq_ctx_term(ctx);

    assert_still_serving();

    /* The daemons counted what they rejected. */
    ovop_buf_t page;
    ovop_buf_init(&page);
    double rejected = 0;
    for (int i = 0; i < 2; i++) {
        ovop_buf_reset(&page);
        assert_int_equal(harness_http_get(E.daemon_http[i], "/metrics", &page), 200);
        double d = harness_metric(
            page.data, "ovop_requests_rejected_total{service=\"ovop.registry\",reason=\"decode\"}");
        rejected += d > 0 ? d : 0;
    }
    assert_true(rejected >= 2);
    ovop_buf_free(&page);
}

static void test_health_endpoints(void **state)
{
    ovop_buf_t body;
    ovop_buf_init(&body);
    assert_int_equal(harness_http_get(E.daemon_http[0], "/healthz", &body), 200);
    ovop_buf_reset(&body);
    assert_int_equal(harness_http_get(E.daemon_http[0], "/readyz", &body), 200);
    ovop_buf_reset(&body);
    assert_int_equal(harness_http_get(E.daemon_http[0], "/nope", &body), 404);
    ovop_buf_reset(&body);
    assert_int_equal(harness_http_get(E.daemon_http[0], "/metrics", &body), 200);
    assert_non_null(strstr(body.data, "# TYPE ovop_requests_total counter"));
    assert_non_null(strstr(body.data, "ovop_pg_connections"));
    ovop_buf_free(&body);
}

/* --- load with failures --- */

typedef struct loader {
    pthread_t thread;
    unsigned requests;
    atomic_uint *done;
    unsigned ok;
    unsigned failed;
} loader_t;

static const char *const codes[] = {"41702000000000", "41703000000000", "41704000000000",
                                    "41705000000000", "41706000000000", "41707000000000",
                                    "41708000000000", "41711000000000"};

static void *load_thread(void *arg)
{
    loader_t *l = arg;
    ovop_client_t *c;
    ovop_client_options_t o = {
        .brokers = E.endpoint, .timeout_ms = 700, .retries = 30, .security = &E.admin};
    if (ovop_client_new(&c, NULL, &o) < 0)
        return NULL;
    for (unsigned i = 0; i < l->requests; i++) {
        Ovop__V1__Territory *t = NULL;
        const char *code = codes[i % OVOP_ARRAY_SIZE(codes)];
        int r = get_territory(c, code, NULL, &t, NULL);
        if (r == 0 && strcmp(t->code, code) == 0)
            l->ok++;
        else
            l->failed++;
        if (t)
            protobuf_c_message_free_unpacked(&t->base, NULL);
        atomic_fetch_add(l->done, 1);
    }
    ovop_client_destroy(&c);
    return NULL;
}

/* Runs n threads of per requests each; calls disrupt() once `at` requests are done. */
static void run_load(unsigned n, unsigned per, unsigned at, void (*disrupt)(void))
{
    atomic_uint done = 0;
    loader_t l[8];
    for (unsigned i = 0; i < n; i++) {
        l[i] = (loader_t){.requests = per, .done = &done};
        pthread_create(&l[i].thread, NULL, load_thread, &l[i]);
    }
    while (atomic_load(&done) < at)
        harness_sleep_ms(5);
    disrupt();
    unsigned ok = 0, failed = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(l[i].thread, NULL);
        ok += l[i].ok;
        failed += l[i].failed;
    }
    print_message("load: %u answered correctly, %u failed, of %u\n", ok, failed, n * per);
    assert_int_equal(failed, 0);
    assert_int_equal(ok, n * per);
}

static void kill_one_registryd(void)
{
    harness_kill(E.daemon[0], SIGKILL);
    harness_wait_exit(E.daemon[0], 5000, NULL);
    E.daemon[0] = 0;
}

static void test_sigkill_one_instance_under_load(void **state)
{
    run_load(8, 400, 600, kill_one_registryd);
    /* Bring the second instance back for the next cases. */
    E.daemon[0] = spawn_registryd(0, E.db, "registryd-0b");
    harness_sleep_ms(500);
}

static void restart_broker(void)
{
    harness_kill(E.broker, SIGKILL);
    harness_wait_exit(E.broker, 5000, NULL);
    harness_sleep_ms(300);
    svcenv_spawn_broker(&E);
}

static void test_broker_restart_under_load(void **state)
{
    run_load(4, 400, 300, restart_broker);
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.registry", 10000, &E.admin), 0);
}

static pid_t drained_pid;

static void sigterm_one_registryd(void)
{
    drained_pid = E.daemon[1];
    harness_kill(E.daemon[1], SIGTERM);
}

static void test_sigterm_drains(void **state)
{
    run_load(4, 300, 200, sigterm_one_registryd);
    int status = -1;
    assert_int_equal(harness_wait_exit(drained_pid, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    E.daemon[1] = spawn_registryd(1, E.db, "registryd-1b");
    assert_int_equal(harness_wait_service(E.endpoint, "ovop.registry", 10000, &E.admin), 0);
}

static void test_refuses_unknown_schema(void **state)
{
    /* A database that was never migrated. */
    char *db = pgtest_create("registry_nomigrate");
    pid_t pid = spawn_registryd(0, db, "registryd-nomigrate");
    int status = -1;
    assert_int_equal(harness_wait_exit(pid, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);

    /* A database newer than this build. */
    PGconn *c = pgtest_connect(db);
    char *err = NULL;
    assert_true(ovop_migrate(c, NULL, &err) >= 0);
    free(pgtest_scalar(c, "INSERT INTO bus.schema_migrations (version, name) VALUES (9999, "
                          "'future') RETURNING version"));
    PQfinish(c);
    pid = spawn_registryd(0, db, "registryd-future");
    assert_int_equal(harness_wait_exit(pid, 10000, &status), 0);
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 0);
    pgtest_drop(&db);

    /* Each said why. */
    char path[512];
    snprintf(path, sizeof(path), "%s/registryd-nomigrate.log", harness_tmpdir());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[8192] = "";
    fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    assert_non_null(strstr(buf, "ovopctl db migrate"));
    snprintf(path, sizeof(path), "%s/registryd-future.log", harness_tmpdir());
    f = fopen(path, "r");
    assert_non_null(f);
    memset(buf, 0, sizeof(buf));
    fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    assert_non_null(strstr(buf, "upgrade this binary"));
}

/* Stored replies are kept for the replay window (an hour here), then deleted by the daemons
 * in the background; younger ones stay, whatever their service. */
static void test_replay_window(void **state)
{
    long before = svcenv_count(&E, "SELECT count(*) FROM bus.idempotency");
    free(pgtest_scalar(
        E.conn, "INSERT INTO bus.idempotency (service, request_id, method, reply, "
                "created_at) SELECT s, 'old-' || g, 'M', '\\x00', now() - interval '2 hours' "
                "FROM generate_series(1, 50) g, unnest(ARRAY['ovop.registry', "
                "'ovop.exports']) s RETURNING 1"));
    free(pgtest_scalar(E.conn,
                       "INSERT INTO bus.idempotency (service, request_id, method, reply, "
                       "created_at) SELECT 'ovop.registry', 'young-' || g, 'M', '\\x00', "
                       "now() - interval '50 minutes' FROM generate_series(1, 5) g RETURNING 1"));
    long old = 1;
    for (int i = 0; i < 100 && old > 0; i++) {
        harness_sleep_ms(100);
        old =
            svcenv_count(&E, "SELECT count(*) FROM bus.idempotency WHERE request_id LIKE 'old-%'");
    }
    assert_int_equal(old, 0);
    assert_int_equal(
        svcenv_count(&E, "SELECT count(*) FROM bus.idempotency WHERE request_id LIKE 'young-%'"),
        5);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM bus.idempotency"), before + 5);
    /* The daemons say so on /metrics. */
    double pruned = 0;
    for (int i = 0; i < 2; i++) {
        double v = harness_port_metric(E.daemon_http[i], "ovop_replies_pruned_total");
        assert_true(v >= 0);
        pruned += v;
    }
    assert_true(pruned >= 100);
    /* Nonsense arguments are refused, not taken as "everything". */
    PGresult *res = PQexec(E.conn, "SELECT bus.prune_idempotency(0, 10)");
    assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
}

/* Runs ovopctl with args and returns its exit code; output goes to <tmpdir>/<log>.log. */
static int ovopctl(const char *log, const char *const *args)
{
    return svcenv_ovopctl(&E, log, args, 20000);
}

static char *read_log(const char *log)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.log", harness_tmpdir(), log);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

static void test_ovopctl(void **state)
{
    const char *a1[] = {"territory", "get", "41704000000000", NULL};
    assert_int_equal(ovopctl("ctl-get", a1), 0);
    char *out = read_log("ctl-get");
    assert_non_null(strstr(out, "Naryn Region"));
    free(out);

    const char *a2[] = {"--json", "territory", "get", "41704000000000", NULL};
    assert_int_equal(ovopctl("ctl-json", a2), 0);
    out = read_log("ctl-json");
    assert_non_null(strstr(out, "\"code\": \"41704000000000\""));
    free(out);

    const char *a3[] = {"territory", "get", "123", NULL};
    assert_int_equal(ovopctl("ctl-invalid", a3), 10 + OVOP_INVALID_ARGUMENT);
    out = read_log("ctl-invalid");
    assert_non_null(strstr(out, "INVALID_ARGUMENT"));
    assert_non_null(strstr(out, "code: must be 14 digits"));
    free(out);

    const char *a4[] = {"territory", "get", "41799999999999", NULL};
    assert_int_equal(ovopctl("ctl-notfound", a4), 10 + OVOP_NOT_FOUND);

    const char *a5[] = {"territory", "list", "--parent", "41705000000000", NULL};
    assert_int_equal(ovopctl("ctl-list", a5), 0);
    out = read_log("ctl-list");
    assert_non_null(strstr(out, "Leilek District"));
    assert_non_null(strstr(out, "(6 territories)"));
    free(out);

    const char *a6[] = {"territory", "list", "--kind", "rayon", "--page-size", "7", "--all", NULL};
    assert_int_equal(ovopctl("ctl-list-all", a6), 0);
    out = read_log("ctl-list-all");
    assert_non_null(strstr(out, "(40 territories)"));
    free(out);

    const char *a7[] = {"ping", "ovop.registry", NULL};
    assert_int_equal(ovopctl("ctl-ping", a7), 0);
    const char *a8[] = {"ping", "ovop.nothing", NULL};
    assert_int_equal(ovopctl("ctl-ping-404", a8), 10 + OVOP_NOT_FOUND);
    const char *a9[] = {"frobnicate", NULL};
    assert_int_equal(ovopctl("ctl-usage", a9), 2);
    const char *a10[] = {
        "--timeout-ms", "200", "--retries",      "0", "--broker", "tcp://127.0.0.1:1",
        "territory",    "get", "41704000000000", NULL};
    assert_int_equal(ovopctl("ctl-unreachable", a10), 3);
    const char *a11[] = {"--retries=abc", "ping", "ovop.registry", NULL};
    assert_int_equal(ovopctl("ctl-badflag", a11), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_territory),
        cmocka_unit_test(test_get_territory_errors),
        cmocka_unit_test(test_list_territories),
        cmocka_unit_test(test_bad_input_through_broker),
        cmocka_unit_test(test_health_endpoints),
        cmocka_unit_test(test_ovopctl),
        cmocka_unit_test(test_replay_window),
        cmocka_unit_test(test_sigkill_one_instance_under_load),
        cmocka_unit_test(test_broker_restart_under_load),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_refuses_unknown_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
