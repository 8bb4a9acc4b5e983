/* A service under test: a scratch database (migrated, optionally seeded), a broker on free
 * loopback ports and N instances of one daemon serving one service through it, plus the
 * calls and queries integration tests make against them. Everything here fails the running
 * cmocka test on error instead of returning one. */
#pragma once

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client.h"
#include "ident.h"
#include "ovop/v1/common.pb-c.h"
#include "util.h"

#define SVCENV_MAX_INSTANCES 4

/* A FieldMask (update_mask) of the paths given, e.g. SVCENV_MASK("legal_name", "members"),
 * living as long as the enclosing block. */
#define SVCENV_MASK(...)                                                                           \
    (&(Ovop__V1__FieldMask){PROTOBUF_C_MESSAGE_INIT(&ovop__v1__field_mask__descriptor),            \
                            OVOP_ARRAY_SIZE(((char *[]){__VA_ARGS__})), (char *[]){__VA_ARGS__}})

/* What to start. Only db_name, daemon and service are required. */
typedef struct svcenv_config {
    const char *db_name;            /* pgtest_create() name */
    const char *const *seed_sql;    /* run after the migrations, before any process starts
                                     * (NULL-terminated; may be NULL) */
    const char *daemon;             /* binary of the build, e.g. "ovop-registryd" */
    const char *service;            /* what it serves, e.g. "ovop.registry" */
    int instances;                  /* 1..SVCENV_MAX_INSTANCES; 0 means 1 */
    const char *log_name;           /* daemon log base; NULL: daemon without "ovop-" */
    const char *const *broker_args; /* after --bind and --http (NULL-terminated; may be NULL) */
    const char *const *daemon_args; /* after --broker, --database-url and --http (likewise) */
    ovop_client_options_t client;   /* for svcenv_call; .brokers and .security are filled in
                                     * (IDENT_ADMIN's keys) */
} svcenv_config_t;

/* The running environment. Tests may read everything and restart processes themselves. */
typedef struct svcenv {
    svcenv_config_t cfg;
    char *db;                                   /* conninfo of the scratch database */
    PGconn *conn;                               /* a connection to it, for queries */
    uint16_t port;                              /* the broker's MDP port */
    uint16_t broker_http;                       /* the broker's HTTP port */
    uint16_t daemon_http[SVCENV_MAX_INSTANCES]; /* each instance's HTTP port, kept on respawn */
    char endpoint[64];                          /* tcp://127.0.0.1:<port> */
    pid_t broker;
    pid_t daemon[SVCENV_MAX_INSTANCES];
    ident_t ident;           /* the keys: every process talks CURVE */
    ovop_security_t admin;   /* IDENT_ADMIN's, for the calls */
    char *broker_secret_arg; /* --key of the broker */
    char *daemon_key_arg;    /* --key of the daemon: svc-<service> */
} svcenv_t;

/* Creates and migrates the database, runs the seed, starts the broker and the instances
 * (logs "<log_name>" for one instance, "<log_name>-<i>" for several) and waits up to 15 s
 * for the service. *cfg is copied; the strings it points to must outlive e. */
void svcenv_start(svcenv_t *e, const svcenv_config_t *cfg);

/* Stops every process still running, closes the connection and drops the database. */
void svcenv_stop(svcenv_t *e);

/* Starts the broker on e's ports (again, after it was killed), connected to the database as
 * the role ovop_broker; sets e->broker. */
void svcenv_spawn_broker(svcenv_t *e);

/* Starts instance i of the daemon against database db (an owner's conninfo: the daemon
 * connects to it as its service's role, ovop_registry for ovop.registry...), logging to
 * <log>.log, on instance i's HTTP port. Returns its pid; e->daemon[i] is left to the caller. */
pid_t svcenv_spawn_daemon(svcenv_t *e, int i, const char *db, const char *log);

/* A new client with the configured options (destroy with ovop_client_destroy). */
ovop_client_t *svcenv_client(const svcenv_t *e);
/* The same with the keys of principal `who` (one of ident.h's, or one added with ident_add). */
ovop_client_t *svcenv_client_as(const svcenv_t *e, const char *who);

/* Calls method of the service with request id rid (NULL: a fresh one) on a client of its
 * own; the call itself must succeed. Returns the reply's status code, with *ret_out the
 * output on OK and *ret_rep the reply when asked for (each may be NULL: then freed). */
int svcenv_call(const svcenv_t *e, const char *method, const char *rid, const ProtobufCMessage *in,
                const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out,
                Ovop__V1__Reply **ret_rep);

/* svcenv_call as principal `who`. */
int svcenv_call_as(const svcenv_t *e, const char *who, const char *method, const char *rid,
                   const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
                   ProtobufCMessage **ret_out, Ovop__V1__Reply **ret_rep);

/* The reason a refusal with `code` and a violation on `field` (may be NULL) carries when the
 * method has none more precise: REQUEST_ID_REUSED on request_id, PAGE_TOKEN_INVALID on
 * page_token, VERSION_MISMATCH for ABORTED, else the code's name. */
const char *svcenv_default_reason(int code, const char *field);
/* Fails unless rep's status carries `reason` and the service as its domain. */
void svcenv_assert_reason(const svcenv_t *e, const Ovop__V1__Reply *rep, const char *reason);

/* The first column of the first row of sql, as a number (0 for none). */
long svcenv_count(const svcenv_t *e, const char *sql);

/* svcenv_count() of a formatted query. */
long svcenv_countf(const svcenv_t *e, const char *fmt, ...) OVOP_PRINTF(2, 3);

/* pgtest_scalar() of a formatted query (malloc'd). */
char *svcenv_scalarf(const svcenv_t *e, const char *fmt, ...) OVOP_PRINTF(2, 3);

/* Runs ovopctl with args (NULL-terminated) against e's broker (OVOP_BROKER), its output in
 * <tmpdir>/<log>.log; it must exit within timeout_ms. Returns its exit code. */
int svcenv_ovopctl(const svcenv_t *e, const char *log, const char *const *args,
                   unsigned timeout_ms);
