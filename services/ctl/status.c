/* ovopctl status: the whole system at a glance, for operators and for monitoring.
 *
 * Each broker of --broker answers ovop.broker GetStatus (its services and their workers, each
 * with the instance name and ops URL it gave in READY); each instance's /readyz is fetched
 * from its ops URL, all at once (libcurl multi, 2 s); the database answers
 * bus.status_summary() (event log head, consumers' cursors, certificates expiring) on
 * --database-url, which needs no more than the role ovop_monitor; a replica of
 * --database-read-url (or OVOP_DATABASE_READ_URL) tells whether it is in recovery and how far
 * behind it replays.
 *
 * The verdict is Nagios's: 0 OK; 1 WARNING (a lagging consumer, certificates expiring, a
 * replica behind or unreachable, an instance not ready while others serve); 2 CRITICAL (a
 * service with no ready worker, a broker or the database unreachable); 3 UNKNOWN (bad usage,
 * or a status that could not be read: refused, or not decodable). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/broker.pb-c.h"
#include "pbjson.h"

#define READYZ_TIMEOUT_MS 2000
#define READYZ_BODY_MAX   300
#define REPLICA_MAX_LAG_S 30.0
#define UNSEQUENCED_MAX_S 30.0
#define CERT_DAYS         30
#define DB_CONNECT_S      "5"

/* Levels in the order a verdict takes the worst; each one's exit code is its Nagios code. */
typedef enum level { LV_OK, LV_WARNING, LV_UNKNOWN, LV_CRITICAL } level_t;

static const char *const level_names[] = {"OK", "WARNING", "UNKNOWN", "CRITICAL"};
static const int level_exit[] = {0, 1, 3, 2};

typedef struct status {
    ctl_t *c;
    int64_t timeout_ms;
    int64_t max_lag;
    const char *read_url;
    level_t level;
    json_t *problems; /* [{level, message}] */
    json_t *brokers;  /* [{endpoint, reachable, error | instance, started_at, uptime_s}] */
    json_t *services; /* {name: {name, queued, queued_bytes, held, instances: [...]}} */
    json_t *doc;
} status_t;

static void problem(status_t *st, level_t lv, const char *fmt, ...) OVOP_PRINTF(3, 4);

static void problem(status_t *st, level_t lv, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (lv > st->level)
        st->level = lv;
    json_array_append_new(st->problems,
                          json_pack("{s:s,s:s}", "level", level_names[lv], "message", msg));
}

/* ---- brokers ---- */

/* A client of one broker endpoint alone, one attempt: each broker is asked for itself. */
static int broker_client(status_t *st, const char *endpoint, ovop_client_t **ret, char **ret_err)
{
    ovop_security_t sec;
    ctl_t *c = st->c;
    if (ovop_security_setup(&sec, c->insecure_plaintext, c->key, c->broker_key ? c->broker_key : "",
                            endpoint, ret_err) < 0)
        return -1;
    ovop_client_options_t o = {
        .brokers = endpoint,
        .timeout_ms = (uint32_t)st->timeout_ms,
        .retries = 0,
        .max_msg = OVOP_DEFAULT_MAX_MSG * 16,
        .security = &sec,
    };
    int r = ovop_client_new(ret, NULL, &o);
    ovop_security_clear(&sec);
    if (r < 0) {
        *ret_err = xstrdup(strerror(-r));
        return -1;
    }
    return 0;
}

/* The merged entry of a service named in some broker's answer. */
static json_t *service_entry(status_t *st, const char *name)
{
    json_t *s = json_object_get(st->services, name);
    if (!s) {
        s = json_pack("{s:s,s:I,s:I,s:I,s:[]}", "name", name, "queued", (json_int_t)0,
                      "queued_bytes", (json_int_t)0, "held", (json_int_t)0, "instances");
        json_object_set_new(st->services, name, s);
    }
    return s;
}

/* Adds a worker of service s seen by broker `endpoint`: an instance connected to several
 * brokers is one instance, with every broker it is on. */
static void add_instance(json_t *s, const Ovop__V1__BrokerWorker *w, const char *endpoint)
{
    json_t *list = json_object_get(s, "instances");
    size_t i;
    json_t *it;
    json_array_foreach(list, i, it)
    {
        if (w->instance[0] &&
            strcmp(json_string_value(json_object_get(it, "instance")), w->instance) == 0 &&
            strcmp(json_string_value(json_object_get(it, "ops_url")), w->ops_url) == 0) {
            json_array_append_new(json_object_get(it, "brokers"), json_string(endpoint));
            json_object_set_new(
                it, "held",
                json_integer(json_integer_value(json_object_get(it, "held")) + w->held));
            return;
        }
    }
    json_array_append_new(
        list, json_pack("{s:s,s:s,s:I,s:I,s:s,s:I,s:[s]}", "instance", w->instance, "ops_url",
                        w->ops_url, "credit", (json_int_t)w->credit, "held", (json_int_t)w->held,
                        "connected_since", w->connected_since, "last_heartbeat_age_ms",
                        (json_int_t)w->last_heartbeat_age_ms, "brokers", endpoint));
}

static void add_broker_answer(status_t *st, const char *endpoint,
                              const Ovop__V1__GetStatusResponse *out)
{
    json_array_append_new(
        st->brokers, json_pack("{s:s,s:b,s:s,s:s,s:I,s:b}", "endpoint", endpoint, "reachable", 1,
                               "instance", out->instance, "started_at", out->started_at, "uptime_s",
                               (json_int_t)out->uptime_s, "draining", out->draining));
    if (out->draining)
        problem(st, LV_WARNING, "broker %s is draining (stopping)", endpoint);
    for (size_t i = 0; i < out->n_services; i++) {
        const Ovop__V1__BrokerService *bs = out->services[i];
        json_t *s = service_entry(st, bs->name);
        const char *keys[] = {"queued", "queued_bytes", "held"};
        json_int_t add[] = {bs->queued, (json_int_t)bs->queued_bytes, bs->held};
        for (size_t k = 0; k < 3; k++)
            json_object_set_new(
                s, keys[k], json_integer(json_integer_value(json_object_get(s, keys[k])) + add[k]));
        for (size_t w = 0; w < bs->n_workers; w++)
            add_instance(s, bs->workers[w], endpoint);
    }
}

static void broker_failed(status_t *st, const char *endpoint, level_t lv, const char *error)
{
    json_array_append_new(st->brokers, json_pack("{s:s,s:b,s:s}", "endpoint", endpoint, "reachable",
                                                 lv != LV_CRITICAL, "error", error));
    problem(st, lv, "broker %s: %s", endpoint, error);
}

static void ask_broker(status_t *st, const char *endpoint)
{
    ovop_client_t *cl = NULL;
    char *err = NULL;
    if (broker_client(st, endpoint, &cl, &err) < 0) {
        broker_failed(st, endpoint, LV_CRITICAL, err);
        free(err);
        return;
    }
    Ovop__V1__GetStatusRequest in = OVOP__V1__GET_STATUS_REQUEST__INIT;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(cl, "ovop.broker", "GetStatus", NULL, &in.base,
                             &ovop__v1__get_status_response__descriptor, &rep, &out);
    if (r == -ETIMEDOUT) {
        broker_failed(st, endpoint, LV_CRITICAL, "unreachable (no answer in time)");
    } else if (r == -EACCES || r == -EPROTO) {
        broker_failed(st, endpoint, LV_UNKNOWN,
                      "refused this key (UNAUTHENTICATED): check --key and --broker-key");
    } else if (r < 0) {
        broker_failed(st, endpoint, LV_CRITICAL, strerror(-r));
    } else if (rep->status && rep->status->code != OVOP_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "%s: %s", ovop_code_to_string(rep->status->code),
                 rep->status->message);
        /* An old broker without ovop.broker answers UNIMPLEMENTED: it is up. */
        broker_failed(st, endpoint, LV_UNKNOWN, msg);
    } else {
        add_broker_answer(st, endpoint, (const Ovop__V1__GetStatusResponse *)out);
    }
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    ovop_client_destroy(&cl);
}

static void ask_brokers(status_t *st)
{
    char *list = xstrdup(st->c->broker ? st->c->broker : "");
    char *save = NULL;
    for (char *ep = strtok_r(list, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ')
            ep++;
        if (*ep)
            ask_broker(st, ep);
    }
    free(list);
    if (json_array_size(st->brokers) == 0)
        problem(st, LV_UNKNOWN, "no broker to ask: give --broker");
}

/* ---- the instances' /readyz ---- */

typedef struct probe {
    json_t *instance;
    CURL *easy;
    char body[READYZ_BODY_MAX + 1];
    size_t len;
} probe_t;

static size_t on_body(char *data, size_t size, size_t n, void *userdata)
{
    probe_t *p = userdata;
    size_t take = size * n;
    if (take > READYZ_BODY_MAX - p->len)
        take = READYZ_BODY_MAX - p->len;
    memcpy(p->body + p->len, data, take);
    p->len += take;
    p->body[p->len] = '\0';
    return size * n;
}

static CURL *probe_start(probe_t *p, const char *ops_url)
{
    char url[600];
    snprintf(url, sizeof(url), "%s/readyz", ops_url);
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)READYZ_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)READYZ_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    p->easy = e;
    return e;
}

/* Records what the probe found on its instance: ready (HTTP 200) or why not. */
static void probe_done(probe_t *p, CURLcode rc)
{
    long code = 0;
    char why[READYZ_BODY_MAX + 64];
    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    for (char *q = p->body; *q; q++)
        if (*q == '\n' || *q == '\r')
            *q = ' ';
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else if (code != 200)
        snprintf(why, sizeof(why), "HTTP %ld %s", code, p->body);
    else
        why[0] = '\0';
    json_object_set_new(p->instance, "ready", json_boolean(rc == CURLE_OK && code == 200));
    json_object_set_new(p->instance, "readyz", json_string(why));
}

static void probe_all(probe_t *probes, size_t n)
{
    CURLM *multi = curl_multi_init();
    for (size_t i = 0; i < n; i++) {
        const char *url = json_string_value(json_object_get(probes[i].instance, "ops_url"));
        if (probe_start(&probes[i], url))
            curl_multi_add_handle(multi, probes[i].easy);
        else
            json_object_set_new(probes[i].instance, "readyz", json_string("curl_easy_init"));
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(multi, NULL, 0, 200, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        probe_t *p;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        probe_done(p, m->data.result);
    }
    for (size_t i = 0; i < n; i++) {
        if (!probes[i].easy)
            continue;
        curl_multi_remove_handle(multi, probes[i].easy);
        curl_easy_cleanup(probes[i].easy);
    }
    curl_multi_cleanup(multi);
}

/* Fetches every instance's /readyz at once; an instance that gave no ops URL (a worker of an
 * older build) counts as serving, with ready null. */
static void probe_instances(status_t *st)
{
    size_t n = 0, cap = 0;
    probe_t *probes = NULL;
    const char *name;
    json_t *s;
    json_object_foreach(st->services, name, s)
    {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(s, "instances"), i, it)
        {
            if (!json_string_value(json_object_get(it, "ops_url"))[0]) {
                json_object_set_new(it, "ready", json_null());
                json_object_set_new(it, "readyz", json_string("no ops URL given"));
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                probes = xrealloc(probes, cap * sizeof(*probes));
            }
            probes[n++] = (probe_t){.instance = it};
        }
    }
    if (n)
        probe_all(probes, n);
    free(probes);
}

/* A service with no instance ready is CRITICAL; an instance not ready while others serve is a
 * WARNING. */
static void judge_services(status_t *st)
{
    const char *name;
    json_t *s;
    json_object_foreach(st->services, name, s)
    {
        size_t i, serving = 0, total = 0;
        json_t *it;
        json_t *list = json_object_get(s, "instances");
        json_array_foreach(list, i, it)
        {
            total++;
            serving += !json_is_false(json_object_get(it, "ready"));
        }
        json_object_set_new(s, "serving", json_integer((json_int_t)serving));
        if (total == 0) {
            problem(st, LV_CRITICAL, "service %s has no worker", name);
            continue;
        }
        if (serving == 0) {
            problem(st, LV_CRITICAL, "service %s has no ready worker (%zu not ready)", name, total);
            continue;
        }
        json_array_foreach(list, i, it)
        {
            if (json_is_false(json_object_get(it, "ready")))
                problem(st, LV_WARNING, "instance %s of %s is not ready: %s",
                        json_string_value(json_object_get(it, "instance")), name,
                        json_string_value(json_object_get(it, "readyz")));
        }
    }
}

/* ---- the database ---- */

static PGconn *db_connect(const char *url, char *err, size_t err_size)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {url, DB_CONNECT_S, "ovopctl-status", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, err_size, "%s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

static double num(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

/* The event log, the consumers and the certificates, from bus.status_summary(). */
static void judge_summary(status_t *st, json_t *sum)
{
    json_t *ev = json_object_get(sum, "events");
    if (num(ev, "oldest_unsequenced_age_s") > UNSEQUENCED_MAX_S)
        problem(st, LV_WARNING,
                "%lld events wait for a sequence number, the oldest for %.0f s (is a daemon's "
                "sequencer running?)",
                (long long)num(ev, "unsequenced"), num(ev, "oldest_unsequenced_age_s"));
    json_t *co = json_object_get(sum, "consumers");
    if (num(co, "lagging") > 0) {
        json_t *worst = json_array_get(json_object_get(co, "worst"), 0);
        problem(st, LV_WARNING, "%lld consumers lag more than %lld events; worst %s, %lld behind",
                (long long)num(co, "lagging"), (long long)st->max_lag,
                json_string_value(json_object_get(worst, "name")), (long long)num(worst, "lag"));
    }
    json_t *ce = json_object_get(sum, "certificates");
    if (num(ce, "expiring") > 0) {
        json_t *first = json_array_get(json_object_get(ce, "soonest"), 0);
        problem(st, LV_WARNING, "%lld brand certificates expire within %d days; first %s on %s",
                (long long)num(ce, "expiring"), CERT_DAYS,
                json_string_value(json_object_get(first, "number")),
                json_string_value(json_object_get(first, "expires_on")));
    }
    json_t *db = json_object_get(sum, "database");
    if (json_is_true(json_object_get(db, "in_recovery")))
        problem(st, LV_WARNING,
                "the primary database (--database-url) is in recovery: a "
                "standby, writes fail");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(db, "replication"), i, r)
    {
        if (num(r, "replay_lag_s") > REPLICA_MAX_LAG_S)
            problem(st, LV_WARNING, "standby %s replays %.1f s behind",
                    json_string_value(json_object_get(r, "application_name")),
                    num(r, "replay_lag_s"));
    }
}

static json_t *query_summary(status_t *st, PGconn *conn, char *err, size_t err_size)
{
    char lag[32], days[16];
    snprintf(lag, sizeof(lag), "%lld", (long long)st->max_lag);
    snprintf(days, sizeof(days), "%d", CERT_DAYS);
    const char *params[] = {lag, days};
    PGresult *res = PQexecParams(conn, "SELECT bus.status_summary($1::bigint, $2::int)::text", 2,
                                 NULL, params, NULL, NULL, 0);
    json_t *sum = NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, err_size, "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
    } else {
        sum = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
        if (!sum)
            snprintf(err, err_size, "bus.status_summary() answered no JSON");
    }
    PQclear(res);
    return sum;
}

/* The replica of --database-read-url: in recovery, and how far it replays behind (0 while it
 * has replayed all it received: an idle primary sends nothing to be behind on). */
static json_t *ask_replica(status_t *st)
{
    char err[512];
    PGconn *conn = db_connect(st->read_url, err, sizeof(err));
    if (!conn) {
        problem(st, LV_WARNING,
                "replica (--database-read-url) unreachable: %s; reads go to "
                "the primary",
                err);
        return json_pack("{s:b,s:s}", "reachable", 0, "error", err);
    }
    PGresult *res = PQexec(conn, "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() "
                                 "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
                                 "ELSE coalesce(extract(epoch FROM now() - "
                                 "pg_last_xact_replay_timestamp()), 0) END");
    json_t *out;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, sizeof(err), "%s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        problem(st, LV_WARNING, "replica (--database-read-url): %s", err);
        out = json_pack("{s:b,s:s}", "reachable", 1, "error", err);
    } else {
        bool recovery = PQgetvalue(res, 0, 0)[0] == 't';
        double lag = atof(PQgetvalue(res, 0, 1));
        out = json_pack("{s:b,s:b,s:f}", "reachable", 1, "in_recovery", recovery, "replay_lag_s",
                        lag);
        if (!recovery)
            problem(st, LV_WARNING,
                    "the replica (--database-read-url) is not in recovery: not "
                    "a standby (promoted?)");
        else if (lag > REPLICA_MAX_LAG_S)
            problem(st, LV_WARNING, "the replica (--database-read-url) replays %.1f s behind", lag);
    }
    PQclear(res);
    PQfinish(conn);
    return out;
}

static void ask_database(status_t *st)
{
    char err[512];
    json_t *db = json_object();
    json_object_set_new(st->doc, "database", db);
    PGconn *conn = db_connect(st->c->database_url, err, sizeof(err));
    json_object_set_new(db, "primary_reachable", json_boolean(conn != NULL));
    if (!conn) {
        problem(st, LV_CRITICAL, "database unreachable: %s", err);
    } else {
        json_t *sum = query_summary(st, conn, err, sizeof(err));
        if (!sum) {
            problem(st, LV_UNKNOWN,
                    "database status not readable (the login needs the role "
                    "ovop_monitor): %s",
                    err);
        } else {
            json_object_update(db, json_object_get(sum, "database"));
            json_object_set(st->doc, "events", json_object_get(sum, "events"));
            json_object_set(st->doc, "consumers", json_object_get(sum, "consumers"));
            json_object_set(st->doc, "certificates", json_object_get(sum, "certificates"));
            judge_summary(st, sum);
            json_decref(sum);
        }
        PQfinish(conn);
    }
    if (st->read_url && *st->read_url)
        json_object_set_new(db, "replica", ask_replica(st));
}

/* ---- output ---- */

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : "-";
}

static void print_services(status_t *st)
{
    static const ctl_column_t cols[] = {{"SERVICE", 16}, {"INSTANCE", 24}, {"READY", 5},
                                        {"CREDIT", 6},   {"HELD", 5},      {"QUEUED", 6},
                                        {"OPS", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    const char *name;
    json_t *s;
    json_object_foreach(st->services, name, s)
    {
        json_t *list = json_object_get(s, "instances");
        if (json_array_size(list) == 0) {
            ctl_print_cell(name, 16);
            ctl_print_cell("(no worker)", 24);
            ctl_print_cell("-", 5);
            ctl_print_cell("-", 6);
            ctl_print_cell("-", 5);
            ctl_print_int_cell((long long)num(s, "queued"), 6);
            printf("-\n");
        }
        size_t i;
        json_t *it;
        json_array_foreach(list, i, it)
        {
            json_t *ready = json_object_get(it, "ready");
            ctl_print_cell(i == 0 ? name : "", 16);
            ctl_print_cell(str(it, "instance"), 24);
            ctl_print_cell(json_is_true(ready) ? "yes" : json_is_false(ready) ? "NO" : "?", 5);
            ctl_print_int_cell((long long)num(it, "credit"), 6);
            ctl_print_int_cell((long long)num(it, "held"), 5);
            ctl_print_int_cell(i == 0 ? (long long)num(s, "queued") : 0, 6);
            printf("%s\n", str(it, "ops_url"));
        }
    }
}

static void print_database(status_t *st)
{
    json_t *ev = json_object_get(st->doc, "events");
    json_t *co = json_object_get(st->doc, "consumers");
    json_t *ce = json_object_get(st->doc, "certificates");
    json_t *db = json_object_get(st->doc, "database");
    if (ev && json_is_null(json_object_get(ev, "newest_at")))
        printf("events: none sequenced yet, %lld unsequenced\n", (long long)num(ev, "unsequenced"));
    else if (ev)
        printf("events: head %lld, %lld unsequenced, newest %.0f s ago\n",
               (long long)num(ev, "max_seq"), (long long)num(ev, "unsequenced"),
               num(ev, "newest_age_s"));
    if (co)
        printf("consumers: %lld, %lld lagging over %lld events, max lag %lld\n",
               (long long)num(co, "total"), (long long)num(co, "lagging"), (long long)st->max_lag,
               (long long)num(co, "max_lag"));
    if (ce) {
        printf("certificates expiring within %d days: %lld", CERT_DAYS,
               (long long)num(ce, "expiring"));
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(ce, "soonest"), i, c)
            printf("%s %s %s", i ? "," : ":", str(c, "number"), str(c, "expires_on"));
        printf("\n");
    }
    printf("database: primary %s",
           json_is_true(json_object_get(db, "primary_reachable")) ? "reachable" : "UNREACHABLE");
    if (json_object_get(db, "in_recovery"))
        printf(", %s", json_is_true(json_object_get(db, "in_recovery")) ? "IN RECOVERY"
                                                                        : "not in recovery");
    json_t *rep = json_object_get(db, "replication");
    if (json_is_array(rep))
        printf(", %zu standbys streaming", json_array_size(rep));
    json_t *replica = json_object_get(db, "replica");
    if (replica)
        printf("; replica %s", !json_is_true(json_object_get(replica, "reachable")) ? "UNREACHABLE"
                               : json_is_true(json_object_get(replica, "in_recovery"))
                                   ? "in recovery"
                                   : "NOT IN RECOVERY");
    if (replica && json_object_get(replica, "replay_lag_s"))
        printf(", replay lag %.1f s", num(replica, "replay_lag_s"));
    printf("\n");
}

static void print_human(status_t *st)
{
    size_t n = json_array_size(st->problems);
    json_t *first = json_array_get(st->problems, 0);
    if (n == 0)
        printf("OK: %zu services, every one with a ready worker\n", json_object_size(st->services));
    else
        printf("%s: %s%s\n", level_names[st->level], str(first, "message"),
               n > 1 ? " (and more below)" : "");
    size_t i;
    json_t *p;
    json_array_foreach(st->problems, i, p)
        printf("  %-8s %s\n", str(p, "level"), str(p, "message"));
    json_t *b;
    json_array_foreach(st->brokers, i, b)
    {
        if (json_is_true(json_object_get(b, "reachable")) && json_object_get(b, "uptime_s"))
            printf("broker %s: %s, up %lld s\n", str(b, "endpoint"), str(b, "instance"),
                   (long long)num(b, "uptime_s"));
        else
            printf("broker %s: %s\n", str(b, "endpoint"), str(b, "error"));
    }
    print_services(st);
    print_database(st);
}

/* One document: the verdict and its problems first, then what it was made of. */
static void print_json(status_t *st)
{
    json_t *services = json_array();
    const char *name;
    json_t *s;
    json_object_foreach(st->services, name, s) json_array_append(services, s);
    json_t *doc = json_pack("{s:s,s:O,s:O,s:o}", "status", level_names[st->level], "problems",
                            st->problems, "brokers", st->brokers, "services", services);
    json_object_update(doc, st->doc);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);
}

/* ---- the verb ---- */

int ctl_status(ctl_t *c, int argc, char **argv)
{
    bool json = false;
    int64_t timeout_ms = 0, max_lag = 1000;
    char *read_url = NULL;
    const ovop_opt_t opts[] = {
        {"json", OVOP_OPT_BOOL, "false", 0, 0, "one JSON document (as the global --json)", &json},
        {"timeout-ms", OVOP_OPT_INT, "0", 0, 600000,
         "how long each broker may take to answer (0: the global --timeout-ms)", &timeout_ms},
        {"max-lag", OVOP_OPT_INT, "1000", 0, INT64_MAX / 2,
         "events a consumer may be behind the log head before it is lagging (WARNING)", &max_lag},
        {"database-read-url", OVOP_OPT_STRING, NULL, 0, 0,
         "a replica to check (in recovery, replay lag); default OVOP_DATABASE_READ_URL", &read_url},
    };
    const ctl_verb_t verb = {
        .prog = "ovopctl status",
        .usage = "[--json] [--timeout-ms N] [--max-lag N] [--database-read-url URL]",
        .summary = "The whole system at a glance: services, instances and their readiness "
                   "(every broker of --broker), event log head, lagging consumers, certificates "
                   "expiring, database primary and replica (--database-url). Exit 0 OK, 1 "
                   "WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios).",
        .n_args = 0,
        .unexpected = true,
    };
    int argi = 0;
    int r = ctl_verb_parse(&verb, opts, OVOP_ARRAY_SIZE(opts), &argc, argv, &argi);
    if (r != 0) {
        ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
        return r == CTL_HELP ? 0 : level_exit[LV_UNKNOWN];
    }
    status_t st = {
        .c = c,
        .timeout_ms = timeout_ms ? timeout_ms : c->timeout_ms,
        .max_lag = max_lag,
        .read_url = read_url ? read_url : getenv("OVOP_DATABASE_READ_URL"),
        .problems = json_array(),
        .brokers = json_array(),
        .services = json_object(),
        .doc = json_object(),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ask_brokers(&st);
    probe_instances(&st);
    judge_services(&st);
    ask_database(&st);
    if (json || c->json)
        print_json(&st);
    else
        print_human(&st);
    r = level_exit[st.level];
    json_decref(st.problems);
    json_decref(st.brokers);
    json_decref(st.services);
    json_decref(st.doc);
    curl_global_cleanup();
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return r;
}
