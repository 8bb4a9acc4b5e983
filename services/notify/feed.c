/* The subscriptions this instance delivers: the event log's head, woken by the commit that
 * numbered events (LISTEN ovop_events on a connection of its own, driven by a uv_poll) and
 * polled every 200 ms in case a notification was missed; fetching each subscription's next
 * events in sequence order (notify.fetch applies scope and filter, here the exporter
 * filter); cursors written at most every 50 ms; leases renewed every second. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "notifyd.h"
#include "ovop/v1/exports.pb-c.h"

#define TICK_MS  200
#define FLUSH_MS 50
#define RENEW_MS 1000

static const char fetch_sql[] =
    "SELECT seq, id::text AS id, source, type, subject, time_us, data_schema, data, hs6, soate, "
    "destination FROM notify.fetch($1::uuid, $2, $3::bigint, $4::bigint, $5::int)";
/* The same on a replica, which may be behind the head the primary announced: it examines
 * only up to what the replica has numbered (column upper, on every row; without events one
 * row of NULLs but upper), so that events it does not have yet are never skipped. */
static const char fetch_replica_sql[] =
    "SELECT f.seq, f.id::text AS id, f.source, f.type, f.subject, f.time_us, f.data_schema, "
    "f.data, f.hs6, f.soate, f.destination, h.upper "
    "FROM (SELECT LEAST($4::bigint, last_seq) AS upper FROM bus.sequencer WHERE id = 1) h "
    "LEFT JOIN LATERAL notify.fetch($1::uuid, $2, $3::bigint, h.upper, $5::int) f ON true";

bool notify_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

void feed_new_holder(notifyd_t *n, char out[static 128])
{
    snprintf(out, 128, "%s#%u", n->instance, ++n->lease_seq);
}

notify_sub_t *feed_sub_new(notifyd_t *n, const char *id, const char *holder, bool is_stream)
{
    notify_sub_t *s = xcalloc(1, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->holder, sizeof(s->holder), "%s", holder);
    s->is_stream = is_stream;
    s->window = 1;
    s->next = n->subs;
    n->subs = s;
    return s;
}

notify_sub_t *feed_sub_find(notifyd_t *n, const char *id)
{
    for (notify_sub_t *s = n->subs; s; s = s->next)
        if (!s->dead && strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static void list_free(notify_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    *l = (notify_list_t){0};
}

static void rules_free(notify_sub_t *s)
{
    for (int d = 0; d < 4; d++) {
        list_free(&s->scope[d]);
        list_free(&s->filter[d]);
    }
    s->have_rules = false;
}

static void sub_free(notify_sub_t *s)
{
    for (size_t i = 0; i < s->n_exporters; i++)
        free(s->exporters[i]);
    free(s->exporters);
    rules_free(s);
    free(s->inflight);
    hook_sub_free(s);
    free(s);
}

static void on_release(PGresult *res, const char *error, void *userdata)
{
    (void)res;
    (void)userdata;
    if (error)
        log_warn("could not release a lease: %s", error);
}

void feed_sub_drop(notifyd_t *n, notify_sub_t *s, bool release)
{
    for (notify_sub_t **p = &n->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (release && n->pg) {
        char cursor[24];
        snprintf(cursor, sizeof(cursor), "%" PRIu64, s->cursor);
        const char *params[] = {s->id, s->holder, cursor};
        ovop_pg_query(n->pg,
                      "UPDATE notify.subscriptions SET cursor = greatest(cursor, $3::bigint), "
                      "lease_holder = NULL, lease_until = NULL, updated_at = now() "
                      "WHERE id = $1::uuid AND lease_holder = $2",
                      3, params, on_release, NULL);
    }
    s->dead = true;
    s->next = NULL;
    if (!s->fetching)
        sub_free(s);
}

void feed_set_exporters(notify_sub_t *s, const char *json_array)
{
    /* The column is to_json(text[]): ["producer:1","cooperative:2"]; ids carry no quotes. */
    const char *p = json_array;
    while (p && (p = strchr(p, '"'))) {
        const char *e = strchr(p + 1, '"');
        if (!e)
            break;
        s->exporters = xrealloc(s->exporters, (s->n_exporters + 1) * sizeof(char *));
        s->exporters[s->n_exporters++] = xstrndup(p + 1, (size_t)(e - p - 1));
        p = e + 1;
    }
}

static void list_from(notify_list_t *l, json_t *a)
{
    size_t i;
    json_t *v;
    l->v = xcalloc(json_array_size(a) + 1, sizeof(char *));
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v))
            l->v[l->n++] = xstrdup(json_string_value(v));
    }
}

void feed_set_rules(notify_sub_t *s, const char *text)
{
    rules_free(s);
    json_t *j = json_loads(text, 0, NULL);
    json_t *scope = json_object_get(j, "scope"), *filter = json_object_get(j, "filter");
    if (j && json_array_size(filter) == 4) {
        s->no_scope = json_array_size(scope) != 4;
        for (int d = 0; d < 4; d++) {
            if (!s->no_scope)
                list_from(&s->scope[d], json_array_get(scope, (size_t)d));
            list_from(&s->filter[d], json_array_get(filter, (size_t)d));
        }
        s->have_rules = true;
    }
    json_decref(j);
}

/* As notify.type_match / notify.prefix_match: '*', an exact type or a prefix "a.b.*"; a
 * prefix of a present value. */
static bool type_match(const char *t, const notify_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->v[i];
        size_t n = strlen(p);
        if (strcmp(p, "*") == 0 || strcmp(p, t) == 0 ||
            (n >= 2 && strcmp(p + n - 2, ".*") == 0 && strncmp(t, p, n - 1) == 0))
            return true;
    }
    return false;
}

static bool prefix_match(const char *v, const notify_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], "*") == 0 || (*v && strncmp(v, l->v[i], strlen(l->v[i])) == 0))
            return true;
    return false;
}

/* notify.visible() in memory: scope AND filter (an empty filter dimension: the scope's). */
static bool row_visible(const notify_sub_t *s, const notify_row_t *ev)
{
    if (s->no_scope)
        return false;
    const char *attr[4] = {ev->type, ev->soate, ev->hs6, ev->destination};
    for (int d = 0; d < 4; d++) {
        bool (*match)(const char *, const notify_list_t *) = d == 0 ? type_match : prefix_match;
        if (!match(attr[d], &s->scope[d]))
            return false;
        if (s->filter[d].n && !match(attr[d], &s->filter[d]))
            return false;
    }
    return true;
}

bool feed_event_passes(const notify_sub_t *s, const char *data_schema, const uint8_t *data,
                       size_t len)
{
    if (s->n_exporters == 0)
        return true;
    if (strcmp(data_schema, "ovop.v1.ExportEvent") != 0)
        return false; /* no exporter: a restricted dimension is not satisfied */
    Ovop__V1__ExportEvent *ev = ovop__v1__export_event__unpack(NULL, len, data);
    if (!ev)
        return false;
    char who[64] = "";
    if (ev->exporter && ev->exporter->id)
        snprintf(who, sizeof(who), "%s:%" PRId64,
                 ev->exporter->kind == OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE
                     ? "cooperative"
                     : "producer",
                 ev->exporter->id);
    ovop__v1__export_event__free_unpacked(ev, NULL);
    for (size_t i = 0; i < s->n_exporters; i++)
        if (strcmp(s->exporters[i], who) == 0)
            return true;
    return false;
}

/* ---- rows ---- */

static char *dup_value(PGresult *res, int row, const char *col)
{
    return xstrdup(ovop_pg_value(res, row, col));
}

void notify_row_from(notify_row_t *ev, PGresult *res, int row)
{
    ev->seq = strtoull(ovop_pg_value(res, row, "seq"), NULL, 10);
    ev->time_us = strtoll(ovop_pg_value(res, row, "time_us"), NULL, 10);
    ev->id = dup_value(res, row, "id");
    ev->source = dup_value(res, row, "source");
    ev->type = dup_value(res, row, "type");
    ev->subject = dup_value(res, row, "subject");
    ev->data_schema = dup_value(res, row, "data_schema");
    ev->hs6 = dup_value(res, row, "hs6");
    ev->soate = dup_value(res, row, "soate");
    ev->destination = dup_value(res, row, "destination");
    size_t len = 0;
    unsigned char *data =
        PQunescapeBytea((const unsigned char *)ovop_pg_value(res, row, "data"), &len);
    ev->data = xmemdup(data ? data : (unsigned char *)"", len ? len : 1);
    ev->len = len;
    PQfreemem(data);
    stream_pack_event(ev);
}

void notify_row_clear(notify_row_t *ev)
{
    free(ev->id);
    free(ev->source);
    free(ev->type);
    free(ev->subject);
    free(ev->data_schema);
    free(ev->hs6);
    free(ev->soate);
    free(ev->destination);
    free(ev->data);
    free(ev->packed);
    *ev = (notify_row_t){0};
}

/* Hands ev to s's delivery when the exporter filter lets it through. */
static void offer(notifyd_t *n, notify_sub_t *s, const notify_row_t *ev)
{
    if (!feed_event_passes(s, ev->data_schema, ev->data, ev->len))
        return;
    if (s->is_stream)
        stream_deliver(n, s, ev);
    else
        hook_deliver(n, s, ev);
}

/* ---- fetching ---- */

typedef struct fetch {
    notifyd_t *n;
    notify_sub_t *s;
    uint64_t after;
    uint64_t upper;
    int limit;
    bool replica; /* sent to the read replica (fetch_replica_sql) */
} fetch_t;

static void fetch_send(fetch_t *f, ovop_pg_t *pg);

static void fetch_failed(notifyd_t *n, notify_sub_t *s, PGresult *res, const char *error)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && strcmp(state, "OVN01") == 0) {
        log_info("subscription %s is no longer active, delivery stops", s->id);
        if (s->is_stream)
            stream_sub_error(n, s, OVOP__V1__STATUS__CODE__FAILED_PRECONDITION,
                             "SUBSCRIPTION_NOT_ACTIVE", "the subscription is paused or deleted");
        feed_sub_drop(n, s, true);
    } else if (state && strcmp(state, "OVN02") == 0) {
        log_info("subscription %s: lease taken over by another session", s->id);
        if (s->is_stream)
            stream_sub_error(n, s, OVOP__V1__STATUS__CODE__ABORTED, "SUBSCRIPTION_TAKEN_OVER",
                             "a newer Subscribe took this subscription over");
        feed_sub_drop(n, s, false);
    } else {
        /* Database trouble: the next tick tries again from the same place; said once per
         * 10 s, not at every tick of every subscription. */
        static int64_t said_us;
        if (ovop_mono_us() - said_us > 10000000) {
            said_us = ovop_mono_us();
            log_warn("could not fetch events of subscription %s: %s", s->id, error);
        }
    }
}

static void on_fetch(PGresult *res, const char *error, void *userdata)
{
    fetch_t *f = userdata;
    notifyd_t *n = f->n;
    notify_sub_t *s = f->s;
    if (s->dead) {
        sub_free(s);
        free(f);
        return;
    }
    if (error && f->replica) {
        /* The replica could not serve it (unreachable, or behind on the subscription's lease
         * or status, which the primary decides): the primary does. */
        f->replica = false;
        fetch_send(f, n->pg);
        return;
    }
    if (error) {
        s->fetching = false;
        fetch_failed(n, s, res, error);
        free(f);
        return;
    }
    /* s->fetching stays true while the rows are handed out: a delivery that finishes at
     * once (a dead letter) must not start the next fetch before `scanned` moved. */
    int rows = PQntuples(res);
    if (f->replica) {
        uint64_t upper = rows ? strtoull(ovop_pg_value(res, 0, "upper"), NULL, 10) : 0;
        if (rows == 1 && !*ovop_pg_value(res, 0, "seq"))
            rows = 0; /* no event: the row only says how far the replica examined */
        /* A replica behind the head: the next fetch of s asks the primary (no busy loop). */
        s->primary_next = upper < f->upper;
        f->upper = upper > f->after ? upper : f->after;
    }
    uint64_t last = 0;
    for (int i = 0; i < rows && !s->dead; i++) {
        notify_row_t ev;
        notify_row_from(&ev, res, i);
        last = ev.seq;
        offer(n, s, &ev);
        notify_row_clear(&ev);
    }
    s->fetching = false;
    if (s->dead) {
        sub_free(s);
        free(f);
        return;
    }
    uint64_t scanned = rows == f->limit ? last : f->upper;
    if (scanned > s->scanned)
        s->scanned = scanned;
    /* Nothing matching between the cursor and what was examined: the cursor moves on. */
    if (s->n_inflight == 0 && s->cursor < s->scanned)
        s->cursor = s->scanned;
    free(f);
    feed_pump(n, s);
}

/* Serves s from the cache when what it needs next is there: no query at all. Returns false
 * when s must read the database (behind the cache, or its rules not loaded). */
static void tail_load(notifyd_t *n);

static bool pump_cached(notifyd_t *n, notify_sub_t *s)
{
    if (!n->cache || !s->have_rules || s->scanned + 1 < n->cache_lo)
        return false;
    if (s->scanned >= n->cache_hi) {
        tail_load(n); /* it pumps again when the events are in */
        return true;
    }
    s->fetching = true; /* no fetch from a delivery that finishes at once */
    while (!s->dead && s->scanned < n->cache_hi && s->n_inflight < s->window) {
        const notify_row_t *ev = &n->cache[(s->scanned + 1) % NOTIFY_CACHE];
        s->scanned++;
        if (row_visible(s, ev))
            offer(n, s, ev);
    }
    s->fetching = false;
    if (s->dead) {
        sub_free(s);
        return true;
    }
    if (s->n_inflight == 0 && s->cursor < s->scanned)
        s->cursor = s->scanned;
    return true;
}

void feed_pump(notifyd_t *n, notify_sub_t *s)
{
    if (s->dead || s->held || s->fetching || s->scanned >= n->head || s->n_inflight >= s->window)
        return;
    if (pump_cached(n, s))
        return;
    fetch_t *f = xcalloc(1, sizeof(*f));
    f->n = n;
    f->s = s;
    f->after = s->scanned;
    f->upper = s->scanned + NOTIFY_SCAN_MAX < n->head ? s->scanned + NOTIFY_SCAN_MAX : n->head;
    f->limit = (int)(s->window - s->n_inflight);
    s->fetching = true;
    /* Catch-up reads of events past the cache may go to the read replica. */
    ovop_pg_t *pg = s->primary_next ? n->pg : ovop_daemon_pg_read(n->d);
    s->primary_next = false;
    f->replica = pg != n->pg;
    fetch_send(f, pg);
}

static void fetch_send(fetch_t *f, ovop_pg_t *pg)
{
    notify_sub_t *s = f->s;
    char after[24], upper[24], limit[16];
    snprintf(after, sizeof(after), "%" PRIu64, f->after);
    snprintf(upper, sizeof(upper), "%" PRIu64, f->upper);
    snprintf(limit, sizeof(limit), "%d", f->limit);
    const char *params[] = {s->id, s->holder, after, upper, limit};
    ovop_pg_query(pg, f->replica ? fetch_replica_sql : fetch_sql, 5, params, on_fetch, f);
}

void feed_pump_all(notifyd_t *n)
{
    notify_sub_t *next;
    for (notify_sub_t *s = n->subs; s; s = next) {
        next = s->next;
        feed_pump(n, s);
    }
}

/* ---- the cache of recent events ---- */

static void on_tail(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->tail_out = false;
    if (error || !n->cache) {
        if (error)
            log_warn("could not read new events: %s", error);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        uint64_t seq = strtoull(ovop_pg_value(res, i, "seq"), NULL, 10);
        if (seq != n->cache_hi + 1)
            break; /* gap-free by construction; anything else is read again */
        notify_row_t *slot = &n->cache[seq % NOTIFY_CACHE];
        notify_row_clear(slot);
        notify_row_from(slot, res, i);
        n->cache_hi = seq;
        if (n->cache_hi - n->cache_lo + 1 > NOTIFY_CACHE)
            n->cache_lo = n->cache_hi - NOTIFY_CACHE + 1;
    }
    if (n->cache_hi < n->head)
        tail_load(n);
    feed_pump_all(n);
}

/* Reads the events past the cache's end (up to 2000 at once), once for every subscription. */
static void tail_load(notifyd_t *n)
{
    if (!n->cache || n->tail_out || n->cache_hi >= n->head)
        return;
    char after[24], upper[24];
    snprintf(after, sizeof(after), "%" PRIu64, n->cache_hi);
    snprintf(upper, sizeof(upper), "%" PRIu64,
             n->head - n->cache_hi > 2000 ? n->cache_hi + 2000 : n->head);
    const char *params[] = {after, upper};
    n->tail_out = true;
    ovop_pg_query(n->pg,
                  "SELECT e.seq, e.id::text AS id, e.source, e.type, e.subject, "
                  "(extract(epoch FROM e.time) * 1000000)::bigint AS time_us, e.data_schema, "
                  "e.data, coalesce(e.hs6::text, '') AS hs6, coalesce(e.soate::text, '') AS soate, "
                  "coalesce(e.destination::text, '') AS destination FROM bus.events e "
                  "WHERE e.seq > $1::bigint AND e.seq <= $2::bigint ORDER BY e.seq",
                  2, params, on_tail, n);
}

/* ---- the head ---- */

static void set_head(notifyd_t *n, uint64_t head)
{
    if (!n->cache) {
        /* The cache starts at the head this instance first sees: subscriptions behind it
         * read the database until they catch up. */
        n->cache = xcalloc(NOTIFY_CACHE, sizeof(notify_row_t));
        n->cache_hi = head;
        n->cache_lo = head + 1;
    }
    if (head <= n->head)
        return;
    n->head = head;
    tail_load(n);
    feed_pump_all(n);
}

static void reread(notifyd_t *n);
static void refresh_rules(notifyd_t *n, PGresult *res, bool with_rules);

static void on_reread(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->reread_out = false;
    if (error) {
        log_warn("could not read changed subscriptions: %s", error);
        n->reread_again = true; /* the tick tries again; they stay held meanwhile */
        return;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        notify_sub_t *s = feed_sub_find(n, ovop_pg_value(res, r, "id"));
        if (s && strcmp(ovop_pg_value(res, r, "lease_holder"), s->holder) != 0) {
            log_info("subscription %s: lease lost (replayed or taken over)", s->id);
            if (s->is_stream)
                stream_sub_error(n, s, OVOP__V1__STATUS__CODE__ABORTED, "SUBSCRIPTION_TAKEN_OVER",
                                 "the subscription was replayed or taken over: subscribe again");
            feed_sub_drop(n, s, false);
        }
    }
    refresh_rules(n, res, true);
    for (notify_sub_t *s = n->subs; s; s = s->next)
        if (s->held == 2)
            s->held = 0;
    if (n->reread_again)
        reread(n);
    feed_pump_all(n);
}

/* Reads the rules of the held subscriptions again; they deliver nothing until it answers. */
static void reread(notifyd_t *n)
{
    if (n->reread_out) {
        n->reread_again = true;
        return;
    }
    n->reread_again = false;
    ovop_buf_t ids;
    ovop_buf_init(&ids);
    ovop_buf_puts(&ids, "{");
    size_t k = 0;
    for (notify_sub_t *s = n->subs; s; s = s->next)
        if (s->held) {
            s->held = 2;
            ovop_buf_printf(&ids, "%s%s", k++ ? "," : "", s->id);
        }
    ovop_buf_puts(&ids, "}");
    if (k) {
        const char *params[] = {ids.data};
        n->reread_out = true;
        ovop_pg_query(n->pg,
                      "SELECT s.id::text AS id, s.status, coalesce(s.lease_holder, '') AS "
                      "lease_holder, notify.rules(s) AS rules FROM notify.subscriptions s "
                      "WHERE s.id = ANY($1::uuid[])",
                      1, params, on_reread, n);
    }
    ovop_buf_free(&ids);
}

/* A subscription (its id) or an agency's scope ("agency:CODE") changed. */
static void hold(notifyd_t *n, const char *what)
{
    bool any = false;
    for (notify_sub_t *s = n->subs; s; s = s->next)
        if (strncmp(what, "agency:", 7) == 0 || strcmp(what, s->id) == 0) {
            s->held = 1;
            any = true;
        }
    if (any)
        reread(n);
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    (void)events;
    notifyd_t *n = p->data;
    if (status < 0 || !PQconsumeInput(n->listen)) {
        log_warn("LISTEN connection lost: %s; polling until it is back",
                 n->listen ? PQerrorMessage(n->listen) : "closed");
        uv_poll_stop(&n->listen_poll);
        uv_close((uv_handle_t *)&n->listen_poll, NULL);
        n->listen_polling = false;
        PQfinish(n->listen);
        n->listen = NULL;
        return;
    }
    PGnotify *nt;
    uint64_t head = 0;
    /* In commit order: a pause committed before an event is seen before it. */
    while ((nt = PQnotifies(n->listen))) {
        if (strcmp(nt->relname, "ovop_subscriptions") == 0) {
            hold(n, nt->extra);
        } else {
            uint64_t h = strtoull(nt->extra, NULL, 10);
            if (h > head)
                head = h;
        }
        PQfreemem(nt);
    }
    if (head > 0)
        set_head(n, head);
}

/* Opens the LISTEN connection (blocking, bounded by connect_timeout): at start and from the
 * tick after it dropped. Until it works the 200 ms poll carries the wake-ups. */
static void listen_open(notifyd_t *n)
{
    /* Keepalives: a LISTEN connection to a primary gone without a word would wait forever. */
    char *url = ovop_pg_conninfo_defaults(ovop_daemon_database_url(n->d));
    char *err = NULL;
    char *ci = ovop_pg_conninfo_with(url, "connect_timeout", "2", &err);
    free(url);
    if (!ci) {
        free(err);
        return;
    }
    PGconn *c = PQconnectdb(ci);
    free(ci);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return;
    }
    PGresult *r = PQexec(c, "LISTEN ovop_events; LISTEN ovop_subscriptions");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return;
    }
    n->listen = c;
    uv_poll_init(n->loop, &n->listen_poll, PQsocket(c));
    n->listen_poll.data = n;
    uv_poll_start(&n->listen_poll, UV_READABLE, on_listen_readable);
    n->listen_polling = true;
}

static void on_head(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->head_query_out = false;
    if (!error && PQntuples(res) == 1)
        set_head(n, strtoull(PQgetvalue(res, 0, 0), NULL, 10));
}

static void on_tick(uv_timer_t *t)
{
    notifyd_t *n = t->data;
    static unsigned ticks;
    if (!n->listen && ++ticks % 10 == 0)
        listen_open(n);
    if (!n->head_query_out) {
        n->head_query_out = true;
        ovop_pg_query(n->pg, "SELECT last_seq FROM bus.sequencer WHERE id = 1", 0, NULL, on_head,
                      n);
    }
    if (n->reread_again)
        reread(n);
    /* Subscriptions whose fetch failed (database trouble) are retried from here. */
    feed_pump_all(n);
}

/* ---- cursors and leases ---- */

static void array_item(ovop_buf_t *b, const char *v)
{
    ovop_buf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            ovop_buf_puts(b, "\\");
        ovop_buf_append(b, p, 1);
    }
    ovop_buf_puts(b, "\"");
}

/* The rows the renewal returned: a subscription no longer active stops (its lease
 * released); the others' scope and filter are refreshed when the rows carry them
 * (with_rules: the renewal every second and a re-read, so a narrowed scope applies within a
 * second; the cursor flush every 50 ms only checks the status). */
static void refresh_rules(notifyd_t *n, PGresult *res, bool with_rules)
{
    for (int r = 0; r < PQntuples(res); r++) {
        notify_sub_t *s = feed_sub_find(n, ovop_pg_value(res, r, "id"));
        if (!s)
            continue;
        if (strcmp(ovop_pg_value(res, r, "status"), "active") != 0) {
            log_info("subscription %s is %s, delivery stops", s->id,
                     ovop_pg_value(res, r, "status"));
            if (s->is_stream)
                stream_sub_error(n, s, OVOP__V1__STATUS__CODE__FAILED_PRECONDITION,
                                 "SUBSCRIPTION_NOT_ACTIVE",
                                 "the subscription is paused or deleted");
            feed_sub_drop(n, s, true);
        } else if (with_rules) {
            feed_set_rules(s, ovop_pg_value(res, r, "rules"));
        }
    }
}

typedef struct sync {
    notifyd_t *n;
    bool renew;
    size_t count;
    char (*ids)[37];
    char (*holders)[128];
} sync_t;

static void on_sync(PGresult *res, const char *error, void *userdata)
{
    sync_t *y = userdata;
    notifyd_t *n = y->n;
    if (y->renew)
        n->renew_out = false;
    else
        n->flush_out = false;
    if (error) {
        log_warn("could not write cursors and leases: %s", error);
    } else {
        int rows = PQntuples(res);
        refresh_rules(n, res, y->renew);
        for (size_t i = 0; i < y->count; i++) {
            bool kept = false;
            for (int r = 0; r < rows && !kept; r++)
                kept = strcmp(PQgetvalue(res, r, 0), y->ids[i]) == 0;
            notify_sub_t *s = feed_sub_find(n, y->ids[i]);
            if (kept || !s || strcmp(s->holder, y->holders[i]) != 0)
                continue;
            log_info("subscription %s: lease lost", s->id);
            if (s->is_stream)
                stream_sub_error(n, s, OVOP__V1__STATUS__CODE__ABORTED, "SUBSCRIPTION_TAKEN_OVER",
                                 "another session took this subscription over");
            feed_sub_drop(n, s, false);
        }
    }
    free(y->ids);
    free(y->holders);
    free(y);
}

/* Writes the cursors that moved (flush) or every held subscription's cursor and lease
 * (renew); a subscription whose lease another holder took is dropped. */
static void sync_subs(notifyd_t *n, bool renew)
{
    ovop_buf_t ids, holders, cursors;
    ovop_buf_init(&ids);
    ovop_buf_init(&holders);
    ovop_buf_init(&cursors);
    ovop_buf_puts(&ids, "{");
    ovop_buf_puts(&holders, "{");
    ovop_buf_puts(&cursors, "{");
    sync_t *y = xcalloc(1, sizeof(*y));
    y->n = n;
    y->renew = renew;
    for (notify_sub_t *s = n->subs; s; s = s->next) {
        if (!renew && s->cursor == s->persisted)
            continue;
        y->ids = xrealloc(y->ids, (y->count + 1) * sizeof(*y->ids));
        y->holders = xrealloc(y->holders, (y->count + 1) * sizeof(*y->holders));
        memcpy(y->ids[y->count], s->id, sizeof(s->id));
        memcpy(y->holders[y->count], s->holder, sizeof(s->holder));
        y->count++;
        array_item(&ids, s->id);
        array_item(&holders, s->holder);
        char c[24];
        snprintf(c, sizeof(c), "%" PRIu64, s->cursor);
        array_item(&cursors, c);
        s->persisted = s->cursor;
    }
    ovop_buf_puts(&ids, "}");
    ovop_buf_puts(&holders, "}");
    ovop_buf_puts(&cursors, "}");
    if (y->count == 0) {
        free(y);
    } else {
        if (renew)
            n->renew_out = true;
        else
            n->flush_out = true;
        const char *params[] = {ids.data, holders.data, cursors.data, renew ? "t" : "f"};
        ovop_pg_query(n->pg,
                      "UPDATE notify.subscriptions s SET cursor = greatest(s.cursor, u.c), "
                      "lease_until = CASE WHEN $4::boolean "
                      "THEN now() + interval '5 s' "
                      "ELSE s.lease_until END, updated_at = now() "
                      "FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS u(id, holder, c) "
                      "WHERE s.id = u.id AND s.lease_holder = u.holder "
                      "RETURNING s.id::text AS id, s.status, "
                      "CASE WHEN $4::boolean THEN notify.rules(s) ELSE '' END AS rules",
                      4, params, on_sync, y);
    }
    ovop_buf_free(&ids);
    ovop_buf_free(&holders);
    ovop_buf_free(&cursors);
}

static void on_flush(uv_timer_t *t)
{
    notifyd_t *n = t->data;
    if (!n->flush_out)
        sync_subs(n, false);
}

static void on_renew(uv_timer_t *t)
{
    notifyd_t *n = t->data;
    if (!n->renew_out)
        sync_subs(n, true);
    for (notify_sub_t *s = n->subs; s; s = s->next) {
        char labels[64];
        snprintf(labels, sizeof(labels), "subscription=\"%s\"", s->id);
        double lag = (double)(n->head > s->cursor ? n->head - s->cursor : 0);
        ovop_metric_set(ovop_metrics_gauge(n->metrics, "ovop_notify_lag",
                                           "Head of the event log minus the subscription's "
                                           "cursor (subscriptions this instance delivers)",
                                           labels),
                        lag);
        /* The same figure under the name every consumer's lag has (deploy/observability). */
        snprintf(labels, sizeof(labels), "consumer=\"notify:%s\"", s->id);
        ovop_metric_set(ovop_metrics_gauge(n->metrics, "ovop_consumer_lag_events",
                                           "Events of the log a consumer has yet to apply", labels),
                        lag);
    }
    stream_tick(n);
    hook_tick(n);
}

int feed_start(notifyd_t *n)
{
    listen_open(n);
    if (!n->listen)
        log_warn("could not LISTEN ovop_events yet: polling every %d ms until it works", TICK_MS);
    uv_timer_init(n->loop, &n->tick);
    uv_timer_init(n->loop, &n->flush);
    uv_timer_init(n->loop, &n->renew);
    n->tick.data = n->flush.data = n->renew.data = n;
    uv_timer_start(&n->tick, on_tick, 0, TICK_MS);
    uv_timer_start(&n->flush, on_flush, FLUSH_MS, FLUSH_MS);
    uv_timer_start(&n->renew, on_renew, RENEW_MS, RENEW_MS);
    return 0;
}

void feed_stop(notifyd_t *n)
{
    uv_timer_stop(&n->tick);
    uv_timer_stop(&n->flush);
    uv_timer_stop(&n->renew);
    uv_close((uv_handle_t *)&n->tick, NULL);
    uv_close((uv_handle_t *)&n->flush, NULL);
    uv_close((uv_handle_t *)&n->renew, NULL);
    /* Cursors and leases: written once more, then released. */
    while (n->subs)
        feed_sub_drop(n, n->subs, true);
    if (n->listen_polling) {
        uv_poll_stop(&n->listen_poll);
        uv_close((uv_handle_t *)&n->listen_poll, NULL);
        n->listen_polling = false;
    }
    if (n->listen) {
        PQfinish(n->listen);
        n->listen = NULL;
    }
    if (n->cache) {
        for (size_t i = 0; i < NOTIFY_CACHE; i++)
            notify_row_clear(&n->cache[i]);
        free(n->cache);
        n->cache = NULL; /* a tail read still out sees it gone */
    }
}
