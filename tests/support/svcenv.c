/* See svcenv.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "migrate.h"
#include "pgtest.h"
#include "svcenv.h"

#define MAX_ARGS 64

/* Appends the NULL-terminated extra to args (holding *n), keeping room for the final NULL. */
static void append_args(const char **args, size_t *n, const char *const *extra)
{
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(*n + 1 < MAX_ARGS);
        args[(*n)++] = extra[i];
    }
    args[*n] = NULL;
}

/* The database role a daemon of service connects as, as in production: "ovop.registry" ->
 * "ovop_registry" (deploy/migrations/0018_least_privilege.sql says what each may do); NULL
 * for a service without one (test services keep the owner's conninfo). */
static const char *service_role(const char *service)
{
    static const char *const roles[][2] = {
        {"ovop.registry", "ovop_registry"},   {"ovop.exports", "ovop_exports"},
        {"ovop.matching", "ovop_matching"},   {"ovop.notify", "ovop_notify"},
        {"ovop.programme", "ovop_programme"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(roles); i++)
        if (strcmp(service, roles[i][0]) == 0)
            return roles[i][1];
    return NULL;
}

void svcenv_spawn_broker(svcenv_t *e)
{
    char http[32];
    snprintf(http, sizeof(http), "127.0.0.1:%u", e->broker_http);
    char *db = pgtest_as_role(e->db, "ovop_broker");
    const char *args[MAX_ARGS] = {"--bind", e->endpoint,          "--http",         http,
                                  "--key",  e->broker_secret_arg, "--database-url", db};
    size_t n = 8;
    append_args(args, &n, e->cfg.broker_args);
    char *bin = harness_bin("ovop-broker");
    assert_int_equal(harness_spawn(&e->broker, bin, args, NULL, "broker"), 0);
    free(bin);
    free(db);
}

pid_t svcenv_spawn_daemon(svcenv_t *e, int i, const char *db, const char *log)
{
    assert_true(i >= 0 && i < SVCENV_MAX_INSTANCES);
    char http[32];
    snprintf(http, sizeof(http), "127.0.0.1:%u", e->daemon_http[i]);
    const char *role = service_role(e->cfg.service);
    char *role_db = role ? pgtest_as_role(db, role) : xstrdup(db);
    const char *args[MAX_ARGS] = {
        "--broker", e->endpoint, "--database-url",  role_db,        "--http",
        http,       "--key",     e->daemon_key_arg, "--broker-key", e->ident.broker_key};
    size_t n = 10;
    append_args(args, &n, e->cfg.daemon_args);
    char *bin = harness_bin(e->cfg.daemon);
    pid_t pid;
    assert_int_equal(harness_spawn(&pid, bin, args, NULL, log), 0);
    free(bin);
    free(role_db);
    return pid;
}

void svcenv_start(svcenv_t *e, const svcenv_config_t *cfg)
{
    *e = (svcenv_t){.cfg = *cfg};
    if (e->cfg.instances == 0)
        e->cfg.instances = 1;
    assert_true(e->cfg.instances > 0 && e->cfg.instances <= SVCENV_MAX_INSTANCES);
    if (!e->cfg.log_name)
        e->cfg.log_name = strncmp(cfg->daemon, "ovop-", 5) == 0 ? cfg->daemon + 5 : cfg->daemon;

    e->db = pgtest_create(cfg->db_name);
    e->conn = pgtest_connect(e->db);
    char *err = NULL;
    if (ovop_migrate(e->conn, NULL, &err) < 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(ident_setup(&e->ident, e->conn, cfg->db_name), 0);
    assert_int_equal(ident_security(&e->ident, IDENT_ADMIN, &e->admin), 0);
    e->broker_secret_arg = xstrdup(e->ident.broker_secret);
    char *svc = xasprintf("svc-%s", cfg->service);
    e->daemon_key_arg = ident_secret(&e->ident, svc);
    free(svc);
    for (size_t i = 0; cfg->seed_sql && cfg->seed_sql[i]; i++)
        if (strcmp(pgtest_sqlstate(e->conn, cfg->seed_sql[i]), "00000") != 0)
            fail_msg("seed statement failed: %s: %s", cfg->seed_sql[i], PQerrorMessage(e->conn));

    assert_int_equal(harness_free_port(&e->port), 0);
    assert_int_equal(harness_free_port(&e->broker_http), 0);
    for (int i = 0; i < e->cfg.instances; i++)
        assert_int_equal(harness_free_port(&e->daemon_http[i]), 0);
    snprintf(e->endpoint, sizeof(e->endpoint), "tcp://127.0.0.1:%u", e->port);
    e->cfg.client.brokers = e->endpoint;
    e->cfg.client.security = &e->admin;

    svcenv_spawn_broker(e);
    for (int i = 0; i < e->cfg.instances; i++) {
        char log[64];
        if (e->cfg.instances == 1)
            snprintf(log, sizeof(log), "%s", e->cfg.log_name);
        else
            snprintf(log, sizeof(log), "%s-%d", e->cfg.log_name, i);
        e->daemon[i] = svcenv_spawn_daemon(e, i, e->db, log);
    }
    assert_int_equal(harness_wait_service(e->endpoint, e->cfg.service, 15000, &e->admin), 0);
}

void svcenv_stop(svcenv_t *e)
{
    for (int i = 0; i < SVCENV_MAX_INSTANCES; i++)
        harness_stop(e->daemon[i]);
    harness_stop(e->broker);
    if (e->conn)
        PQfinish(e->conn);
    e->conn = NULL;
    pgtest_drop(&e->db);
    xfree(e->broker_secret_arg);
    xfree(e->daemon_key_arg);
    ovop_security_clear(&e->admin);
}

ovop_client_t *svcenv_client(const svcenv_t *e)
{
    ovop_client_t *c;
    assert_int_equal(ovop_client_new(&c, NULL, &e->cfg.client), 0);
    return c;
}

ovop_client_t *svcenv_client_as(const svcenv_t *e, const char *who)
{
    ovop_security_t sec;
    assert_int_equal(ident_security(&e->ident, who, &sec), 0);
    ovop_client_options_t o = e->cfg.client;
    o.security = &sec;
    ovop_client_t *c;
    assert_int_equal(ovop_client_new(&c, NULL, &o), 0);
    ovop_security_clear(&sec);
    return c;
}

int svcenv_call(const svcenv_t *e, const char *method, const char *rid, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                Ovop__V1__Reply **ret_rep)
{
    return svcenv_call_as(e, NULL, method, rid, in, out_desc, ret_out, ret_rep);
}

int svcenv_call_as(const svcenv_t *e, const char *who, const char *method, const char *rid,
                   const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
                   ProtobufCMessage **ret_out, Ovop__V1__Reply **ret_rep)
{
    ovop_client_t *c = who ? svcenv_client_as(e, who) : svcenv_client(e);
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(c, e->cfg.service, method, rid, in, out_desc, &rep, &out);
    ovop_client_destroy(&c);
    assert_int_equal(r, 0);
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

const char *svcenv_default_reason(int code, const char *field)
{
    if (field && strcmp(field, "request_id") == 0)
        return "REQUEST_ID_REUSED";
    if (field && strcmp(field, "page_token") == 0)
        return "PAGE_TOKEN_INVALID";
    if (code == OVOP_ABORTED)
        return "VERSION_MISMATCH";
    return ovop_code_to_string(code);
}

void svcenv_assert_reason(const svcenv_t *e, const Ovop__V1__Reply *rep, const char *reason)
{
    assert_non_null(rep->status);
    if (strcmp(rep->status->reason, reason) != 0)
        fail_msg("reason %s, expected %s (%s)", rep->status->reason, reason, rep->status->message);
    assert_string_equal(rep->status->domain, e->cfg.service);
}

long svcenv_count(const svcenv_t *e, const char *sql)
{
    char *v = pgtest_scalar(e->conn, sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* The formatted query (malloc'd). */
static char *vformat(const char *fmt, va_list ap) OVOP_PRINTF(1, 0);
static char *vformat(const char *fmt, va_list ap)
{
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    assert_true(n >= 0);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

long svcenv_countf(const svcenv_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vformat(fmt, ap);
    va_end(ap);
    long n = svcenv_count(e, sql);
    free(sql);
    return n;
}

char *svcenv_scalarf(const svcenv_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = vformat(fmt, ap);
    va_end(ap);
    char *v = pgtest_scalar(e->conn, sql);
    free(sql);
    return v;
}

int svcenv_ovopctl(const svcenv_t *e, const char *log, const char *const *args, unsigned timeout_ms)
{
    char *bin = harness_bin("ovopctl");
    char env_broker[96];
    snprintf(env_broker, sizeof(env_broker), "OVOP_BROKER=%s", e->endpoint);
    char *secret = ident_secret(&e->ident, IDENT_ADMIN);
    char *env_key = xasprintf("OVOP_KEY=%s", secret);
    char *env_broker_key = xasprintf("OVOP_BROKER_KEY=%s", e->ident.broker_key);
    free(secret);
    const char *env[] = {env_broker, env_key, env_broker_key, NULL};
    pid_t pid;
    int status = -1;
    assert_int_equal(harness_spawn(&pid, bin, args, env, log), 0);
    free(bin);
    free(env_key);
    free(env_broker_key);
    assert_int_equal(harness_wait_exit(pid, timeout_ms, &status), 0);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}
