#include "benchlib.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "client.h"
#include "harness.h"
#include "migrate.h"
#include "ovop/v1/registry.pb-c.h"
#include "pg.h"
#include "util.h"

#define BODY_LEN    BENCH_BODY_LEN
#define MAX_CLIENTS BENCH_MAX_CLIENTS
#define MAX_ARGS    48

typedef struct bench_thread {
    pthread_t thread;
    const bench_client_ops_t *ops;
    void *arg;
    pthread_barrier_t *ready; /* every client open: the clock starts */
    double seconds;
    uint64_t done;
    uint64_t errors;
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
} bench_thread_t;

static void *bench_thread_main(void *p)
{
    bench_thread_t *t = p;
    void *state = t->ops->open(t->arg);
    pthread_barrier_wait(t->ready);
    if (!state) {
        fprintf(stderr, "bench: a client could not open (or its first call failed)\n");
        t->errors++;
        return NULL;
    }
    int64_t now = ovop_mono_us();
    int64_t deadline = now + (int64_t)(t->seconds * 1e6);
    while (now < deadline) {
        int64_t t0 = now;
        int r = t->ops->round_trip(state);
        now = ovop_mono_us();
        if (r < 0) {
            t->errors++;
            continue;
        }
        t->done++;
        if (t->n_lat == t->cap_lat) {
            t->cap_lat = t->cap_lat ? 2 * t->cap_lat : 4096;
            t->lat_us = xrealloc(t->lat_us, t->cap_lat * sizeof(*t->lat_us));
        }
        int64_t us = now - t0;
        t->lat_us[t->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    t->ops->close(state);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const uint32_t *sorted, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(q * (double)n);
    return sorted[i < n ? i : n - 1];
}

/* Sorts the samples and sets the rate and percentiles from them. */
static void result_finish(bench_result_t *r)
{
    qsort(r->lat_us, r->n_lat, sizeof(*r->lat_us), cmp_u32);
    r->rps = r->seconds > 0 ? (double)r->done / r->seconds : 0;
    r->p50_us = percentile(r->lat_us, r->n_lat, 0.50);
    r->p90_us = percentile(r->lat_us, r->n_lat, 0.90);
    r->p99_us = percentile(r->lat_us, r->n_lat, 0.99);
    r->max_us = r->n_lat ? r->lat_us[r->n_lat - 1] : 0;
}

void bench_measure(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                   bench_result_t *ret)
{
    bench_thread_t threads[MAX_CLIENTS];
    pthread_barrier_t ready;

    memset(ret, 0, sizeof(*ret));
    if (nclients > MAX_CLIENTS)
        nclients = MAX_CLIENTS;
    pthread_barrier_init(&ready, NULL, (unsigned)nclients + 1);
    for (int i = 0; i < nclients; i++) {
        threads[i] = (bench_thread_t){.ops = ops, .arg = arg, .ready = &ready, .seconds = seconds};
        pthread_create(&threads[i].thread, NULL, bench_thread_main, &threads[i]);
    }
    pthread_barrier_wait(&ready);
    int64_t start = ovop_mono_us();
    for (int i = 0; i < nclients; i++) {
        bench_thread_t *t = &threads[i];
        pthread_join(t->thread, NULL);
        ret->done += t->done;
        ret->errors += t->errors;
        ret->lat_us = xrealloc(ret->lat_us, (ret->n_lat + t->n_lat + 1) * sizeof(*ret->lat_us));
        if (t->n_lat)
            memcpy(ret->lat_us + ret->n_lat, t->lat_us, t->n_lat * sizeof(*t->lat_us));
        ret->n_lat += t->n_lat;
        free(t->lat_us);
    }
    ret->seconds = (double)(ovop_mono_us() - start) / 1e6;
    pthread_barrier_destroy(&ready);
    result_finish(ret);
}

void bench_result_merge(bench_result_t *sum, const bench_result_t *b)
{
    sum->done += b->done;
    sum->errors += b->errors;
    sum->seconds += b->seconds;
    sum->lat_us = xrealloc(sum->lat_us, (sum->n_lat + b->n_lat + 1) * sizeof(*sum->lat_us));
    if (b->n_lat)
        memcpy(sum->lat_us + sum->n_lat, b->lat_us, b->n_lat * sizeof(*b->lat_us));
    sum->n_lat += b->n_lat;
    result_finish(sum);
}

void bench_result_free(bench_result_t *r)
{
    free(r->lat_us);
    r->lat_us = NULL;
    r->n_lat = 0;
}

double bench_run(const bench_client_ops_t *ops, void *arg, int nclients, double seconds,
                 uint64_t *ret_errors)
{
    bench_result_t r;
    bench_measure(ops, arg, nclients, seconds, &r);
    if (ret_errors)
        *ret_errors = r.errors;
    bench_result_free(&r);
    return r.rps;
}

double bench_cpu_us(pid_t pid)
{
    if (pid == 0) {
        struct rusage ru;
        if (getrusage(RUSAGE_SELF, &ru) < 0)
            return 0;
        return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
               (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    if (!dir)
        return 0;
    double ns = 0;
    for (struct dirent *de; (de = readdir(dir));) {
        if (de->d_name[0] == '.')
            continue;
        char file[sizeof(path) + sizeof(de->d_name) + 16];
        snprintf(file, sizeof(file), "%s/%s/schedstat", path, de->d_name);
        FILE *f = fopen(file, "r");
        unsigned long long on_cpu;
        if (f && fscanf(f, "%llu", &on_cpu) == 1)
            ns += (double)on_cpu;
        if (f)
            fclose(f);
    }
    closedir(dir);
    return ns / 1e3;
}

/* ---- raw ZeroMQ: DEALER -> ROUTER echo ---- */

typedef struct raw_server {
    void *zctx;
    char endpoint[64];
    pthread_t thread;
    atomic_bool stop;
    bool curve;
    char server_public[OVOP_KEY_LEN + 1];
    char server_secret[OVOP_KEY_LEN + 1];
} raw_server_t;

static void *raw_echo_main(void *p)
{
    raw_server_t *srv = p;
    void *router = zmq_socket(srv->zctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
    if (srv->curve) {
        int on = 1;
        zmq_setsockopt(router, ZMQ_CURVE_SERVER, &on, sizeof(on));
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, srv->server_secret, OVOP_KEY_LEN);
    }
    if (zmq_bind(router, srv->endpoint) < 0) {
        fprintf(stderr, "bench: could not bind %s: %s\n", srv->endpoint, zmq_strerror(errno));
        zmq_close(router);
        return NULL;
    }
    while (!atomic_load(&srv->stop)) {
        zmq_pollitem_t item = {.socket = router, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        /* Echo every frame back, identity first, as it came. */
        for (;;) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            if (zmq_msg_recv(&part, router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&part);
                break;
            }
            int more = zmq_msg_more(&part);
            zmq_msg_send(&part, router, more ? ZMQ_SNDMORE : 0);
            zmq_msg_close(&part);
        }
    }
    zmq_close(router);
    return NULL;
}

typedef struct raw_client {
    void *sock;
    char body[BODY_LEN];
} raw_client_t;

static int raw_round_trip(void *state)
{
    raw_client_t *c = state;
    char buf[BODY_LEN];
    if (zmq_send(c->sock, c->body, sizeof(c->body), 0) < 0)
        return -errno;
    return zmq_recv(c->sock, buf, sizeof(buf), 0) < 0 ? -errno : 0;
}

static void *raw_open(void *arg)
{
    raw_server_t *srv = arg;
    raw_client_t *c = xcalloc(1, sizeof(*c));
    int linger = 0;
    c->sock = zmq_socket(srv->zctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (srv->curve) {
        char pub[OVOP_KEY_LEN + 1], sec[OVOP_KEY_LEN + 1];
        ovop_key_generate(pub, sec);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, srv->server_public, OVOP_KEY_LEN);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, OVOP_KEY_LEN);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, OVOP_KEY_LEN);
    }
    zmq_connect(c->sock, srv->endpoint);
    memset(c->body, 'x', sizeof(c->body));
    /* One untimed round trip: the connection (and its handshake) is up before the clock. */
    if (raw_round_trip(c) < 0) {
        zmq_close(c->sock);
        free(c);
        return NULL;
    }
    return c;
}

static void raw_close(void *state)
{
    raw_client_t *c = state;
    zmq_close(c->sock);
    free(c);
}

static const bench_client_ops_t raw_ops = {raw_open, raw_round_trip, raw_close};

static double raw_zmq(int nclients, double seconds, bool curve)
{
    raw_server_t srv = {.zctx = zmq_ctx_new(), .curve = curve};
    if (curve && ovop_key_generate(srv.server_public, srv.server_secret) < 0)
        return 0;
    uint16_t port;
    if (harness_free_port(&port) < 0)
        return 0;
    snprintf(srv.endpoint, sizeof(srv.endpoint), "tcp://127.0.0.1:%u", port);
    atomic_init(&srv.stop, false);
    pthread_create(&srv.thread, NULL, raw_echo_main, &srv);
    harness_sleep_ms(100);
    double rps = bench_run(&raw_ops, &srv, nclients, seconds, NULL);
    atomic_store(&srv.stop, true);
    pthread_join(srv.thread, NULL);
    zmq_ctx_term(srv.zctx);
    return rps;
}

double bench_raw_zmq(int nclients, double seconds)
{
    return raw_zmq(nclients, seconds, false);
}

double bench_raw_zmq_curve(int nclients, double seconds)
{
    return raw_zmq(nclients, seconds, true);
}

/* ---- the bus ---- */

/* conninfo with its dbname replaced by db (malloc'd), or NULL after saying why. */
char *bench_conninfo_with_db(const char *conninfo, const char *db)
{
    char *err = NULL;
    char *r = ovop_pg_conninfo_with(conninfo, "dbname", db, &err);
    if (!r) {
        fprintf(stderr, "bench: could not parse OVOP_TEST_PG_URL: %s\n", err);
        free(err);
    }
    return r;
}

static PGconn *connect_or_exit(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench: could not connect: %s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static void exec_or_exit(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

char *bench_database(const char *name)
{
    const char *server = getenv("OVOP_TEST_PG_URL");
    if (!server || !*server) {
        fprintf(stderr, "bench: OVOP_TEST_PG_URL is not set (a PostgreSQL superuser URL); "
                        "run ./deploy/ovop bench, or export what tests/pg-scratch.sh prints\n");
        exit(1);
    }
    PGconn *admin = connect_or_exit(server);
    char *drop = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    char *create = xasprintf("CREATE DATABASE %s", name);
    exec_or_exit(admin, drop);
    exec_or_exit(admin, create);
    free(drop);
    free(create);
    PQfinish(admin);
    char *url = bench_conninfo_with_db(server, name);
    if (!url)
        exit(1);
    PGconn *c = connect_or_exit(url);
    char *err = NULL;
    if (ovop_migrate(c, NULL, &err) < 0) {
        fprintf(stderr, "bench: migrate: %s\n", err);
        exit(1);
    }
    PQfinish(c);
    return url;
}

void bench_ident(ident_t *id, const char *db, const char *tag)
{
    PGconn *c = connect_or_exit(db);
    if (ident_setup(id, c, tag) < 0 || ident_role(c, "worker:echo") < 0 ||
        ident_add(id, c, "svc-echo", "service", "worker:echo", NULL, NULL) < 0)
        exit(1); /* ident printed why */
    PQfinish(c);
}

int bench_bus_start(bench_bus_t *bus, const ident_t *id, const char *db, const char *log,
                    const char *const *extra)
{
    char bind[64], http[64];
    memset(bus, 0, sizeof(*bus));
    bus->id = id;
    bus->client.plaintext = true;
    uint16_t port;
    if (harness_free_port(&port) < 0 || harness_free_port(&bus->http_port) < 0)
        return -EADDRNOTAVAIL;
    snprintf(bus->endpoint, sizeof(bus->endpoint), "tcp://127.0.0.1:%u", port);
    snprintf(bind, sizeof(bind), "tcp://127.0.0.1:%u", port);
    snprintf(http, sizeof(http), "127.0.0.1:%u", bus->http_port);
    const char *args[MAX_ARGS] = {"--bind", bind, "--http", http, "--log-level", "warn"};
    size_t n = 6;
    if (id) {
        if (ident_security(id, IDENT_ADMIN, &bus->client) < 0)
            return -EINVAL;
        args[n++] = "--key";
        args[n++] = id->broker_secret;
        args[n++] = "--database-url";
        args[n++] = db;
    } else {
        args[n++] = "--insecure-plaintext";
    }
    for (size_t i = 0; extra && extra[i] && n + 1 < MAX_ARGS; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *bin = harness_bin("ovop-broker");
    int r = harness_spawn(&bus->broker, bin, args, NULL, log);
    free(bin);
    if (r < 0) {
        fprintf(stderr, "bench: could not start ovop-broker: %s\n", strerror(-r));
        return r;
    }
    /* Ready: its keyring is loaded. Before that its ZAP handler answers "not yet" (300), and
     * libzmq does not reconnect a socket refused so: workers would wait for their liveness
     * to run out before they try again. */
    for (int i = 0; i < 300; i++) {
        ovop_buf_t page;
        ovop_buf_init(&page);
        int status = harness_http_get(bus->http_port, "/readyz", &page);
        ovop_buf_free(&page);
        if (status == 200)
            return 0;
        harness_sleep_ms(50);
    }
    fprintf(stderr, "bench: ovop-broker was not ready within 15 s\n");
    return -ETIMEDOUT;
}

int bench_bus_spawn(const bench_bus_t *bus, const char *bin_name, const char *principal,
                    const char *const *args, const char *log, pid_t *ret_pid)
{
    const char *all[MAX_ARGS];
    size_t n = 0;
    char *secret = bus->id ? ident_secret(bus->id, principal) : NULL;
    for (size_t i = 0; args && args[i] && n + 8 < MAX_ARGS; i++)
        all[n++] = args[i];
    all[n++] = "--broker";
    all[n++] = bus->endpoint;
    if (bus->id) {
        all[n++] = "--key";
        all[n++] = secret;
        all[n++] = "--broker-key";
        all[n++] = bus->id->broker_key;
    } else {
        all[n++] = "--insecure-plaintext";
    }
    all[n] = NULL;
    char *bin = harness_bin(bin_name);
    int r = harness_spawn(ret_pid, bin, all, NULL, log);
    if (r < 0)
        fprintf(stderr, "bench: could not start %s: %s\n", bin_name, strerror(-r));
    free(bin);
    free(secret);
    return r;
}

int bench_bus_wait(const bench_bus_t *bus, const char *service, unsigned timeout_ms)
{
    int r = harness_wait_service(bus->endpoint, service, timeout_ms, &bus->client);
    if (r < 0)
        fprintf(stderr, "bench: no worker of %s on %s within %u ms\n", service, bus->endpoint,
                timeout_ms);
    return r;
}

void bench_bus_stop(bench_bus_t *bus)
{
    if (bus->broker > 0) {
        harness_kill(bus->broker, SIGTERM);
        if (harness_wait_exit(bus->broker, 2000, NULL) < 0)
            harness_stop(bus->broker);
    }
    bus->broker = 0;
    ovop_security_clear(&bus->client);
}

/* ---- calls ---- */

int bench_finish_call(int r, Ovop__V1__Reply *rep, ProtobufCMessage *out)
{
    static atomic_int reported;
    int code = r < 0 ? r : (rep->status ? (int)rep->status->code : 0);
    if (code != 0 && atomic_fetch_add(&reported, 1) < 5) {
        /* The first few failures say why (the figures only count them). */
        if (r < 0)
            fprintf(stderr, "bench: a call failed: %s\n", strerror(-r));
        else
            fprintf(stderr, "bench: a call was answered %s %s: %s\n", ovop_code_to_string(code),
                    rep->status->reason, rep->status->message);
    }
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    return code == 0 ? 0 : -EIO;
}

int bench_get_territory(void *client)
{
    static const char *const codes[] = {"41704000000000", "41705214000000", "41711000000000",
                                        "41703207000000"};
    static atomic_uint n;
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = (char *)codes[atomic_fetch_add(&n, 1) % 4];
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(client, "ovop.registry", "GetTerritory", NULL, &in.base,
                             &ovop__v1__territory__descriptor, &rep, &out);
    return bench_finish_call(r, rep, out);
}

ovop_client_t *bench_bus_client(const bench_bus_t *bus, void *zctx)
{
    ovop_client_t *c;
    ovop_client_options_t o = {.brokers = bus->endpoint,
                               .timeout_ms = 5000,
                               .retries = 1,
                               .max_msg = 4 << 20,
                               .security = &bus->client};
    return ovop_client_new(&c, zctx, &o) < 0 ? NULL : c;
}

void bench_client_close(void *client)
{
    ovop_client_t *c = client;
    ovop_client_destroy(&c);
}
