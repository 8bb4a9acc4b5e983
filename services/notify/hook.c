/* Webhook delivery. Each instance claims webhook subscriptions whose lease is free or
 * expired (FOR UPDATE SKIP LOCKED, at most its fair share ceil(active / live instances)),
 * renews them every second with the stream ones (feed.c), and delivers each strictly in
 * order, head of line: the next event waits for the current one's 2xx or dead letter.
 * A failure is retried on the --retry-schedule (jitter, Retry-After honoured); 410 Gone sets
 * the subscription `unsubscribed_by_endpoint`; an exhausted schedule writes a dead letter,
 * flags the endpoint `failing` and moves the cursor on. Every attempt is logged in
 * notify.deliveries. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "notifyd.h"
#include "render.h"
#include "seal.h"
#include "sign.h"
#include "webhook.h"

struct notify_hook {
    notifyd_t *n;
    notify_sub_t *sub; /* NULL once the subscription was dropped */
    char *url;
    notify_format_t format;
    char *secrets[2];
    size_t n_secrets;
    /* the event being delivered */
    uint64_t seq;
    char *event_id;
    char *body;
    size_t len;
    const char *content_type;
    unsigned attempt;
    int last_status;
    char *last_error;
    bool posting;
    bool redrive;        /* a re-driven dead letter: the cursor is past it already */
    bool not_applicable; /* the format cannot carry the event: dead letter, endpoint not flagged */
    bool dl_pending;     /* its dead letter is to be written again (the last write failed) */
    uv_timer_t *retry;
};

static void free_secrets(notify_hook_t *h)
{
    for (size_t i = 0; i < h->n_secrets; i++) {
        explicit_bzero(h->secrets[i], strlen(h->secrets[i]));
        free(h->secrets[i]);
    }
    h->n_secrets = 0;
}

static void clear_event(notify_hook_t *h)
{
    free(h->event_id);
    free(h->body);
    free(h->last_error);
    h->event_id = h->body = h->last_error = NULL;
    h->attempt = 0;
    h->last_status = 0;
    h->not_applicable = false;
    h->dl_pending = false;
}

static void hook_free(notify_hook_t *h)
{
    free_secrets(h);
    clear_event(h);
    free(h->url);
    free(h);
}

static void on_timer_closed(uv_handle_t *t)
{
    free(t);
}

void hook_sub_free(notify_sub_t *s)
{
    notify_hook_t *h = s->hook;
    if (!h)
        return;
    s->hook = NULL;
    h->sub = NULL;
    if (h->retry) {
        uv_timer_stop(h->retry);
        uv_close((uv_handle_t *)h->retry, on_timer_closed);
        h->retry = NULL;
    }
    if (!h->posting)
        hook_free(h);
}

/* Reads the endpoint's url, format and secrets from a row (claim or refresh). */
static void hook_endpoint(notifyd_t *n, notify_hook_t *h, PGresult *res, int row)
{
    free(h->url);
    h->url = xstrdup(ovop_pg_value(res, row, "url"));
    if (notify_format_parse(ovop_pg_value(res, row, "format"), &h->format) < 0)
        h->format = NOTIFY_FORMAT_CLOUDEVENTS_JSON;
    free_secrets(h);
    const char *eid = ovop_pg_value(res, row, "endpoint_id");
    const char *sealed[] = {ovop_pg_value(res, row, "secret_sealed"),
                            ovop_pg_value(res, row, "old_secret_sealed")};
    for (int i = 0; i < 2; i++) {
        char *plain = NULL;
        if (*sealed[i] && notify_unseal(n->seal_key, sealed[i], eid, &plain) == 0)
            h->secrets[h->n_secrets++] = plain;
        else if (i == 0)
            log_error("endpoint %s: its secret does not open with this --secrets-key", eid);
    }
}

/* ---- one attempt ---- */

static void post(notify_hook_t *h);

static void on_db_done(PGresult *res, const char *error, void *userdata)
{
    (void)res;
    if (error)
        log_warn("%s: %s", (const char *)userdata, error);
}

/* The delivery log is written in batches: one INSERT out at a time carries every attempt
 * logged meanwhile (at thousands of deliveries a second, one INSERT each overflowed the
 * pool's queue and lost rows of the log). Rows waiting are bounded: past LOG_MAX_PENDING,
 * while the database does not take them, the newest are counted and dropped. */
#define LOG_MAX_PENDING 50000

static void log_flush(notifyd_t *n);

static void on_log_written(PGresult *res, const char *error, void *userdata)
{
    (void)res;
    notifyd_t *n = userdata;
    n->log_out = false;
    if (error)
        log_warn("could not write the delivery log (retried): %s", error);
    if (json_array_size(n->log_rows))
        log_flush(n);
}

static void log_flush(notifyd_t *n)
{
    if (n->log_out || !json_array_size(n->log_rows) || !n->pg)
        return;
    char *rows = json_dumps(n->log_rows, JSON_COMPACT);
    if (!rows)
        return;
    json_array_clear(n->log_rows);
    const char *params[] = {rows};
    n->log_out = true;
    ovop_pg_query(n->pg,
                  "INSERT INTO notify.deliveries (subscription_id, seq, attempt, status_code, "
                  "latency_ms, error) SELECT x.s, x.q, x.a, x.c, x.l, left(x.e, 500) "
                  "FROM json_to_recordset($1::json) AS x(s uuid, q bigint, a int, c int, "
                  "l float8, e text)",
                  1, params, on_log_written, n);
    free(rows);
}

static void log_attempt(notifyd_t *n, notify_hook_t *h, const notify_sub_t *s,
                        const notify_webhook_result_t *r)
{
    if (!n->log_rows)
        n->log_rows = json_array();
    if (json_array_size(n->log_rows) >= LOG_MAX_PENDING) {
        ovop_metric_inc(ovop_metrics_counter(n->metrics, "ovop_notify_delivery_log_dropped_total",
                                             "Delivery log rows dropped while the database "
                                             "did not take them",
                                             NULL));
        return;
    }
    json_array_append_new(n->log_rows,
                          json_pack("{s:s, s:I, s:i, s:i, s:f, s:s}", "s", s->id, "q",
                                    (json_int_t)h->seq, "a", (int)h->attempt, "c", r->status, "l",
                                    r->latency_ms, "e", r->error ? r->error : ""));
    log_flush(n);
}

static void delivered(notifyd_t *n, notify_hook_t *h, notify_sub_t *s, bool ok)
{
    if (h->redrive && ok) {
        char seq[24];
        snprintf(seq, sizeof(seq), "%" PRIu64, h->seq);
        const char *params[] = {s->id, seq};
        ovop_pg_query(n->pg,
                      "DELETE FROM notify.dead_letters WHERE subscription_id = $1::uuid "
                      "AND seq = $2::bigint",
                      2, params, on_db_done, "could not delete a re-driven dead letter");
    } else if (!h->redrive && h->seq > s->cursor) {
        s->cursor = h->seq;
    }
    h->redrive = false;
    s->n_inflight = 0;
    clear_event(h);
    feed_pump(n, s);
}

static void on_retry_timer(uv_timer_t *t);

/* The next attempt of h (a post, or the write of its dead letter) in ms. */
static void retry_in(notify_hook_t *h, uint64_t ms)
{
    h->retry = xcalloc(1, sizeof(uv_timer_t));
    uv_timer_init(h->n->loop, h->retry);
    h->retry->data = h;
    uv_timer_start(h->retry, on_retry_timer, ms, 0);
}
static void dead_letter(notifyd_t *n, notify_hook_t *h, notify_sub_t *s);

static void on_dead_lettered(PGresult *res, const char *error, void *userdata)
{
    (void)res;
    notify_hook_t *h = userdata;
    h->posting = false;
    notify_sub_t *s = h->sub;
    if (!s) {
        hook_free(h);
        return;
    }
    notifyd_t *n = h->n;
    if (error) {
        /* The cursor may pass the event only once its dead letter is stored: try again. */
        log_warn("subscription %s: could not write the dead letter of event %" PRIu64
                 " (retried in 1 s): %s",
                 s->id, h->seq, error);
        h->dl_pending = true;
        retry_in(h, 1000);
        return;
    }
    ovop_metric_inc(n->m_dead);
    log_warn("subscription %s: event %" PRIu64 " dead-lettered after %u attempts (%s)", s->id,
             h->seq, h->attempt, h->last_error ? h->last_error : "");
    delivered(n, h, s, false);
}

/* Stores the event as a dead letter and, when its retries were exhausted, flags the endpoint
 * `failing` (an event the endpoint's format cannot carry is not the endpoint's fault); the
 * cursor moves past the event only after that commit, so a failed write cannot lose it. */
static void dead_letter(notifyd_t *n, notify_hook_t *h, notify_sub_t *s)
{
    char seq[24], attempts[16], status[16];
    snprintf(seq, sizeof(seq), "%" PRIu64, h->seq);
    snprintf(attempts, sizeof(attempts), "%u", h->attempt);
    snprintf(status, sizeof(status), "%d", h->last_status);
    const char *params[] = {s->id,
                            seq,
                            attempts,
                            status,
                            h->last_error ? h->last_error : "",
                            h->not_applicable ? "false" : "true"};
    h->dl_pending = false;
    h->posting = true; /* a query holds h: hook_sub_free leaves it to the callback */
    ovop_pg_query(n->pg,
                  "WITH d AS (INSERT INTO notify.dead_letters (subscription_id, seq, attempts, "
                  "last_status, last_error) VALUES ($1::uuid, $2::bigint, $3::int, $4::int, "
                  "left($5, 500)) ON CONFLICT (subscription_id, seq) DO UPDATE SET "
                  "attempts = EXCLUDED.attempts, last_status = EXCLUDED.last_status, "
                  "last_error = EXCLUDED.last_error, at = now(), redrive_requested_at = NULL) "
                  "UPDATE notify.endpoints e SET status = 'failing', updated_at = now() "
                  "FROM notify.subscriptions s WHERE $6::boolean AND s.id = $1::uuid "
                  "AND e.id = s.endpoint_id AND e.status = 'active'",
                  6, params, on_dead_lettered, h);
}

static void on_retry_timer(uv_timer_t *t)
{
    notify_hook_t *h = t->data;
    uv_close((uv_handle_t *)t, on_timer_closed);
    h->retry = NULL;
    if (h->sub && h->dl_pending)
        dead_letter(h->n, h, h->sub);
    else if (h->sub)
        post(h);
}

static void on_posted(void *userdata, const notify_webhook_result_t *r)
{
    notify_hook_t *h = userdata;
    h->posting = false;
    notify_sub_t *s = h->sub;
    if (!s) {
        hook_free(h);
        return;
    }
    notifyd_t *n = h->n;
    log_attempt(n, h, s, r);
    ovop_metric_observe(n->m_latency, r->latency_ms / 1000.0);
    if (r->status >= 200 && r->status < 300) {
        ovop_metric_inc(n->m_delivered_ok);
        delivered(n, h, s, true);
        return;
    }
    ovop_metric_inc(n->m_delivered_fail);
    if (r->status == 410) {
        const char *params[] = {s->id};
        ovop_pg_query(n->pg,
                      "UPDATE notify.subscriptions SET status = 'unsubscribed_by_endpoint', "
                      "lease_holder = NULL, lease_until = NULL, updated_at = now() "
                      "WHERE id = $1::uuid",
                      1, params, on_db_done, "could not unsubscribe after 410");
        log_info("subscription %s: endpoint answered 410 Gone, unsubscribed", s->id);
        feed_sub_drop(n, s, false);
        return;
    }
    h->last_status = r->status;
    free(h->last_error);
    h->last_error = xstrdup(r->error ? r->error : "");
    uint64_t rnd = 0;
    RAND_bytes((unsigned char *)&rnd, sizeof(rnd));
    long delay = notify_retry_delay_ms(&n->retry, h->attempt, r->retry_after_s, rnd);
    if (delay < 0) {
        dead_letter(n, h, s);
        return;
    }
    retry_in(h, (uint64_t)delay);
}

static void post(notify_hook_t *h)
{
    notifyd_t *n = h->n;
    h->attempt++;
    int64_t ts = (int64_t)time(NULL);
    char *sig = notify_sign((const char *const *)h->secrets, h->n_secrets, h->event_id, ts, h->body,
                            h->len);
    char ct[128], id[96], tsh[48], sigh[512];
    snprintf(ct, sizeof(ct), "Content-Type: %s", h->content_type);
    snprintf(id, sizeof(id), "webhook-id: %s", h->event_id);
    snprintf(tsh, sizeof(tsh), "webhook-timestamp: %" PRId64, ts);
    snprintf(sigh, sizeof(sigh), "webhook-signature: %s", sig ? sig : "");
    free(sig);
    const char *headers[] = {ct, id, tsh, sigh, NULL};
    h->posting = true;
    int r = notify_webhook_post(n->webhook, h->url, headers, h->body, h->len, on_posted, h);
    if (r < 0) {
        h->posting = false;
        notify_webhook_result_t fail = {0, -1, 0, "could not start the request"};
        h->posting = true;
        on_posted(h, &fail);
    }
}

void hook_deliver(notifyd_t *n, notify_sub_t *s, const notify_row_t *row)
{
    notify_hook_t *h = s->hook;
    notify_event_t ev = {
        .seq = row->seq,
        .id = row->id,
        .source = row->source,
        .type = row->type,
        .subject = row->subject,
        .time_us = row->time_us,
        .data_schema = row->data_schema,
        .data = row->data,
        .data_len = row->len,
        .hs6 = row->hs6,
        .soate = row->soate,
        .destination = row->destination,
    };
    bool redrive = h->redrive;
    clear_event(h);
    h->redrive = redrive;
    h->seq = ev.seq;
    h->event_id = xstrdup(ev.id);
    int r = notify_render(h->format, &ev, &h->body, &h->len, &h->content_type);
    s->n_inflight = 1;
    if (r < 0) {
        /* Not renderable in this format (an EPCIS subscription's violation notice, a payload
         * that does not decode): a dead letter at once, with the reason, listable and
         * visible, without flagging the endpoint, whose answers are not at fault. */
        h->last_error = xstrdup(r == -ENOTSUP ? "FORMAT_NOT_APPLICABLE" : "PAYLOAD_UNDECODABLE");
        h->not_applicable = true;
        dead_letter(n, h, s);
        return;
    }
    post(h);
}

/* ---- claims ---- */

static void on_claim(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->claim_out = false;
    if (error) {
        log_warn("could not claim webhook subscriptions: %s", error);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *id = ovop_pg_value(res, i, "id");
        notify_sub_t *old = feed_sub_find(n, id);
        if (old)
            feed_sub_drop(n, old, false);
        notify_sub_t *s = feed_sub_new(n, id, ovop_pg_value(res, i, "lease_holder"), false);
        s->window = 1;
        s->cursor = s->persisted = s->scanned = strtoull(ovop_pg_value(res, i, "cursor"), NULL, 10);
        feed_set_exporters(s, ovop_pg_value(res, i, "exporters"));
        feed_set_rules(s, ovop_pg_value(res, i, "rules"));
        notify_hook_t *h = xcalloc(1, sizeof(*h));
        h->n = n;
        h->sub = s;
        s->hook = h;
        hook_endpoint(n, h, res, i);
        log_info("webhook subscription %s claimed from cursor %" PRIu64, id, s->cursor);
        feed_pump(n, s);
    }
}

static void on_refresh(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->refresh_out = false;
    if (error)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        notify_sub_t *s = feed_sub_find(n, ovop_pg_value(res, i, "id"));
        if (s && s->hook)
            hook_endpoint(n, s->hook, res, i);
    }
}

/* Re-driven dead letters go out when their subscription is idle between live events: one
 * at a time, each retried on the schedule again; delivered, its dead letter is deleted. */
static void on_redrive(PGresult *res, const char *error, void *userdata)
{
    notifyd_t *n = userdata;
    n->redrive_out = false;
    if (error)
        return;
    for (int i = 0; i < PQntuples(res); i++) {
        notify_sub_t *s = feed_sub_find(n, ovop_pg_value(res, i, "sid"));
        if (!s || !s->hook || s->fetching || s->n_inflight)
            continue;
        s->hook->redrive = true;
        notify_row_t ev;
        notify_row_from(&ev, res, i);
        hook_deliver(n, s, &ev);
        notify_row_clear(&ev);
    }
}

#define ENDPOINT_COLS                                                                              \
    "e.id::text AS endpoint_id, e.url, e.format, e.secret_sealed, "                                \
    "CASE WHEN e.old_secret_until > now() THEN coalesce(e.old_secret_sealed, '') ELSE '' END "     \
    "AS old_secret_sealed"

void hook_tick(notifyd_t *n)
{
    if (!n->webhook)
        return;
    unsigned held = 0;
    ovop_buf_t ids;
    ovop_buf_init(&ids);
    ovop_buf_puts(&ids, "{");
    for (notify_sub_t *s = n->subs; s; s = s->next)
        if (!s->is_stream) {
            ovop_buf_printf(&ids, "%s%s", held ? "," : "", s->id);
            held++;
        }
    ovop_buf_puts(&ids, "}");
    if (held && !n->refresh_out) {
        /* Endpoint changes (rotated secret, new url) reach the deliverer within a second. */
        n->refresh_out = true;
        const char *params[] = {ids.data};
        ovop_pg_query(
            n->pg,
            "SELECT s.id::text AS id, " ENDPOINT_COLS " FROM notify.subscriptions s "
            "JOIN notify.endpoints e ON e.id = s.endpoint_id WHERE s.id = ANY($1::uuid[])",
            1, params, on_refresh, n);
    }
    if (held && !n->redrive_out) {
        n->redrive_out = true;
        const char *params[] = {ids.data};
        ovop_pg_query(
            n->pg,
            "SELECT DISTINCT ON (l.subscription_id) l.subscription_id::text AS sid, "
            "e.seq, e.id::text AS id, e.source, e.type, e.subject, "
            "(extract(epoch FROM e.time) * 1000000)::bigint AS time_us, e.data_schema, "
            "e.data, coalesce(e.hs6::text, '') AS hs6, coalesce(e.soate::text, '') AS soate, "
            "coalesce(e.destination::text, '') AS destination "
            "FROM notify.dead_letters l JOIN bus.events e ON e.seq = l.seq "
            "WHERE l.subscription_id = ANY($1::uuid[]) "
            "AND l.redrive_requested_at IS NOT NULL ORDER BY l.subscription_id, l.seq",
            1, params, on_redrive, n);
    }
    ovop_buf_free(&ids);
    if (n->claim_out)
        return;
    char held_s[16];
    snprintf(held_s, sizeof(held_s), "%u", held);
    const char *params[] = {n->instance, held_s};
    n->claim_out = true;
    ovop_pg_query(
        n->pg,
        "WITH hb AS (INSERT INTO notify.instances (id, seen_at) VALUES ($1, now()) "
        "ON CONFLICT (id) DO UPDATE SET seen_at = now()), "
        "live AS (SELECT count(*) + 1 AS k FROM notify.instances "
        "WHERE seen_at > now() - interval '5 s' AND id <> $1), "
        "act AS (SELECT count(*) AS a FROM notify.subscriptions "
        "WHERE delivery = 'webhook' AND status = 'active'), "
        "cand AS (SELECT s.id FROM notify.subscriptions s JOIN notify.endpoints e "
        "ON e.id = s.endpoint_id AND e.status <> 'disabled' "
        "WHERE s.delivery = 'webhook' AND s.status = 'active' "
        "AND (s.lease_until IS NULL OR s.lease_until < now()) ORDER BY s.lease_until NULLS FIRST "
        "LIMIT greatest(0, ceil((SELECT a FROM act)::numeric / (SELECT k FROM live))::int "
        "- $2::int) FOR UPDATE OF s SKIP LOCKED) "
        "UPDATE notify.subscriptions s SET lease_holder = $1 || '#' || s.id::text, "
        "lease_until = now() + interval '5 s', updated_at = now() "
        "FROM cand, notify.endpoints e WHERE s.id = cand.id AND e.id = s.endpoint_id "
        "RETURNING s.id::text AS id, s.lease_holder, s.cursor, "
        "to_json(s.exporters)::text AS exporters, notify.rules(s) AS rules, " ENDPOINT_COLS,
        2, params, on_claim, n);
}

int hook_start(notifyd_t *n)
{
    if (!n->have_seal_key) {
        log_warn("no --secrets-key: webhook endpoints and delivery are off");
        return 0;
    }
    notify_webhook_opts_t o = {.allow = n->webhook_allow};
    int r = notify_webhook_new((notify_webhook_t **)&n->webhook, n->loop, &o, n->metrics);
    if (r < 0)
        log_error("could not start the webhook client: %s", strerror(-r));
    return r;
}

void hook_stop(notifyd_t *n)
{
    notify_webhook_destroy((notify_webhook_t **)&n->webhook);
    log_flush(n); /* best effort: the pool may be closing */
    json_decref(n->log_rows);
    n->log_rows = NULL;
}
