/* bench-verify: verification lookups per second through ovop-webd's public endpoint (HTTP/1.1
 * keep-alive clients asking GET /v/CODE.json for codes drawn at random from many
 * certificates) with the cache on, against the same requests to a second ovop-webd started
 * with --no-cache, in one run, on one broker and one registryd. Not a test: it prints figures. */
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "benchlib.h"
#include "harness.h"
#include "log.h"
#include "migrate.h"
#include "util.h"

static char (*codes)[16];
static long n_codes;

typedef struct target {
    uint16_t port;
} target_t;

typedef struct conn {
    int fd;
    unsigned seed;
    uint16_t port;
    long fixed; /* >= 0: ask this code, not a random one (the warm-up) */
    char buf[16384];
} conn_t;

static int dial(uint16_t port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *conn_open(void *arg)
{
    static atomic_uint seeds;
    conn_t *c = xcalloc(1, sizeof(*c));
    c->port = ((target_t *)arg)->port;
    c->seed = atomic_fetch_add(&seeds, 1) * 2654435761u + 1;
    c->fd = dial(c->port);
    c->fixed = -1;
    return c;
}

/* One GET on the kept-alive connection; the answer read whole by its Content-Length. */
static int round_trip(void *state)
{
    conn_t *c = state;
    if (c->fd < 0 && (c->fd = dial(c->port)) < 0)
        return -ECONNREFUSED;
    char req[128];
    int n = snprintf(req, sizeof(req), "GET /v/%s.json HTTP/1.1\r\nHost: bench\r\n\r\n",
                     codes[c->fixed >= 0 ? c->fixed : rand_r(&c->seed) % n_codes]);
    if (write(c->fd, req, (size_t)n) != n)
        goto broken;
    size_t have = 0;
    long want = -1;
    int status = 0;
    for (;;) {
        ssize_t got = read(c->fd, c->buf + have, sizeof(c->buf) - 1 - have);
        if (got <= 0)
            goto broken;
        have += (size_t)got;
        c->buf[have] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end)
            continue;
        if (want < 0) {
            sscanf(c->buf, "HTTP/1.1 %d", &status);
            const char *cl = strcasestr(c->buf, "Content-Length:");
            want = (long)(end + 4 - c->buf) + (cl ? atol(cl + 15) : 0);
        }
        if ((long)have >= want)
            break;
    }
    return status == 200 ? 0 : -EIO;
broken:
    close(c->fd);
    c->fd = -1;
    return -EPIPE;
}

static void conn_close(void *state)
{
    conn_t *c = state;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void exec_or_die(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench: %s: %s", sql, PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

/* n certificates of n cooperatives in Kochkor District; their codes into codes[]. */
static void load(const char *db, long n)
{
    PGconn *c = PQconnectdb(db);
    char sql[2048];
    exec_or_die(c, "SET client_min_messages = warning");
    snprintf(sql, sizeof(sql),
             "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
             "created_at, updated_at) SELECT g, 'cooperative', 'Cooperative ' || g, "
             "lpad(g::text, 14, '0'), '41704235000000', now(), now() "
             "FROM generate_series(1, %ld) g",
             n);
    exec_or_die(c, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO registry.products (id, producer_id, name_ru, name_en, category, hs6, "
             "territory_code, unit, capacity_per_month, price_usd, created_at, updated_at) "
             "SELECT g, g, 'Орех ' || g, 'Walnuts ' || g, 'nuts', '080231', '41704235000000', "
             "'kg', 100, 5, now(), now() FROM generate_series(1, %ld) g",
             n);
    exec_or_die(c, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO registry.applications (id, producer_id, product_id, status, stars, "
             "submitted_at, updated_at) SELECT g, g, g, 'approved', 3, now(), now() "
             "FROM generate_series(1, %ld) g",
             n);
    exec_or_die(c, sql);
    snprintf(sql, sizeof(sql),
             "INSERT INTO registry.certificates (number, producer_id, product_id, "
             "application_id, stars, issued_on, expires_on, status, updated_at) "
             "SELECT 'OVOP-2026-' || lpad(g::text, 6, '0'), g, g, g, 3, current_date, "
             "current_date + 1000, 'active', now() FROM generate_series(1, %ld) g",
             n);
    exec_or_die(c, sql);
    PGresult *r = PQexec(c, "SELECT verification_code FROM registry.certificates");
    n_codes = PQntuples(r);
    codes = xcalloc((size_t)n_codes, sizeof(*codes));
    for (long i = 0; i < n_codes; i++)
        snprintf(codes[i], sizeof(codes[i]), "%s", PQgetvalue(r, (int)i, 0));
    PQclear(r);
    PQfinish(c);
}

static bench_bus_t bus;
static pid_t children[4]; /* registryd and the two webd, stopped however main ends */
static int n_children;

static void stop_all(void)
{
    while (n_children > 0)
        harness_stop(children[--n_children]);
    if (bus.broker > 0)
        bench_bus_stop(&bus);
}

static pid_t spawn_webd(uint16_t port, bool cache, const char *log)
{
    char listen[32], ops[32];
    uint16_t ops_port;
    if (harness_free_port(&ops_port) < 0)
        exit(1);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(ops, sizeof(ops), "127.0.0.1:%u", ops_port);
    const char *args[] = {"--dashboard-listen", /* two webd, no dashboard port taken */
                          "",
                          "--public-listen",
                          listen,
                          "--http",
                          ops,
                          "--rate-limit",
                          "0",
                          "--log-level",
                          "warn",
                          "--lookup-threads",
                          "8",
                          cache ? "--cache-ttl" : "--no-cache",
                          cache ? "60" : NULL,
                          NULL};
    pid_t pid;
    if (bench_bus_spawn(&bus, "ovop-webd", "svc-ovop.web", args, log, &pid) < 0)
        exit(1);
    children[n_children++] = pid;
    for (int i = 0; i < 200; i++) {
        ovop_buf_t b;
        ovop_buf_init(&b);
        int st = harness_http_get(ops_port, "/healthz", &b);
        ovop_buf_free(&b);
        if (st == 200)
            return pid;
        harness_sleep_ms(25);
    }
    fprintf(stderr, "bench: ovop-webd did not come up (see %s/%s.log)\n", harness_tmpdir(), log);
    exit(1);
}

static void row(const char *what, int n, const bench_result_t *r, double base)
{
    char label[64];
    snprintf(label, sizeof(label), "%s, %d client%s", what, n, n > 1 ? "s" : "");
    printf("  %-40s %10.0f %8.3f %8.3f %8.1f %7lu", label, r->rps, r->p50_us / 1000,
           r->p99_us / 1000, base > 0 ? r->rps / base : 1.0, (unsigned long)r->errors);
    printf("\n");
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    long n = argc > 2 ? atol(argv[2]) : 10000;
    if (seconds <= 0 || n < 1) {
        fprintf(stderr, "usage: bench-verify [SECONDS] [CERTIFICATES]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ovop_log_setup("bench", "", "text", "warn");
    char *db = bench_database("ovop_bench_verify");
    ident_t id;
    bench_ident(&id, db, "bench-verify");
    PGconn *c = PQconnectdb(db);
    if (ident_add(&id, c, "svc-ovop.web", "service", "", NULL, NULL) < 0) {
        fprintf(stderr, "bench: could not add svc-ovop.web\n");
        return 1;
    }
    PQfinish(c);
    load(db, n);
    const char *rargs[] = {"--database-url", db,     "--credit", "64", "--db-pool", "8",
                           "--log-level",    "warn", NULL};
    pid_t reg = 0;
    atexit(stop_all);
    if (bench_bus_start(&bus, &id, db, "bench-broker", NULL) < 0 ||
        bench_bus_spawn(&bus, "ovop-registryd", "svc-ovop.registry", rargs, "bench-registryd",
                        &reg) < 0 ||
        (children[n_children++] = reg, bench_bus_wait(&bus, "ovop.registry", 15000) < 0)) {
        fprintf(stderr, "bench: could not start the broker and registryd\n");
        return 1;
    }
    target_t cached, uncached;
    if (harness_free_port(&cached.port) < 0 || harness_free_port(&uncached.port) < 0)
        return 1;
    spawn_webd(cached.port, true, "bench-webd-cache");
    spawn_webd(uncached.port, false, "bench-webd-nocache");
    printf("bench-verify: %.1f s per figure, %ld certificates, codes drawn at random, "
           "GET /v/CODE.json over HTTP/1.1 keep-alive (logs in %s)\n",
           seconds, n_codes, harness_tmpdir());

    /* The cache as a popular code list sees it: every code asked once before. */
    int64_t t0 = ovop_mono_us();
    conn_t *warm = conn_open(&cached);
    for (long i = 0; i < n_codes; i++) {
        warm->fixed = i;
        if (round_trip(warm) < 0) {
            fprintf(stderr, "bench: the warm-up lookup of code %ld failed: %.300s\n", i, warm->buf);
            return 1;
        }
    }
    conn_close(warm);
    printf("  cache filled with %ld lookups in %.2f s\n", n_codes,
           (double)(ovop_mono_us() - t0) / 1e6);

    const bench_client_ops_t ops = {conn_open, round_trip, conn_close};
    printf("\n  %-40s %10s %8s %8s %8s %7s\n", "lookups through ovop-webd", "per second", "p50 ms",
           "p99 ms", "ratio", "errors");
    const int clients[] = {1, 8, 32};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(clients); i++) {
        bench_result_t off, on;
        bench_measure(&ops, &uncached, clients[i], seconds, &off);
        bench_measure(&ops, &cached, clients[i], seconds, &on);
        row("--no-cache", clients[i], &off, 0);
        row("cache on", clients[i], &on, off.rps);
        bench_result_free(&off);
        bench_result_free(&on);
    }
    printf("  (ratio: to --no-cache with as many clients; both daemons on one broker and one "
           "registryd)\n");
    stop_all();
    free(codes);
    free(db);
    return 0;
}
