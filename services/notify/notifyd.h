/* ovop-notifyd's state, shared by its parts:
 *   methods.c  the NotifyService methods (endpoints, scopes, subscriptions, visibility),
 *   feed.c     the event log's head (LISTEN ovop_events + a poll), the subscriptions this
 *              instance delivers (fetching in sequence order, cursors, leases),
 *   stream.c   the CURVE ROUTER endpoint of the stream protocol (sessions, credit, acks),
 *   hook.c     webhook delivery (claims, retries, dead letters, delivery log).
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "daemon.h"
#include "keyring.h"
#include "ovop/v1/notify.pb-c.h"
#include "retry.h"
#include "zap.h"
#include "zsock.h"

#define NOTIFY_SERVICE   "ovop.notify"
#define NOTIFY_LEASE_S   5    /* a lease not renewed for this long may be taken */
#define NOTIFY_SCAN_MAX  1000 /* sequences examined by one fetch */
#define NOTIFY_SILENT_US 15000000LL

typedef struct notifyd notifyd_t;

/* One event of bus.events as delivered ("" for absent attributes). */
typedef struct notify_row {
    uint64_t seq;
    int64_t time_us;
    char *id, *source, *type, *subject, *data_schema, *hs6, *soate, *destination;
    uint8_t *data;
    size_t len;
    /* The row as an ovop.v1.Event, packed once: every stream subscription's StreamReply
     * carries these bytes as they are (stream_pack_event). */
    uint8_t *packed;
    size_t packed_len;
} notify_row_t;

/* The patterns of one dimension (event types, SOATE, HS, destinations). */
typedef struct notify_list {
    char **v;
    size_t n;
} notify_list_t;

#define NOTIFY_CACHE 8192 /* recent events kept for every subscription to match */
typedef struct notify_session notify_session_t;
typedef struct notify_hook notify_hook_t;

/* A subscription this instance delivers now (it holds the lease `holder`). */
typedef struct notify_sub {
    char id[37];
    char holder[128];
    bool is_stream;
    notify_session_t *session; /* stream: the session it belongs to */
    uint32_t window;           /* stream: events in flight at most */
    uint64_t cursor;           /* acknowledged (2xx / dead letter for webhooks) */
    uint64_t persisted;        /* the cursor last written */
    uint64_t scanned;          /* highest sequence examined (sent or skipped) */
    uint64_t *inflight;        /* stream: sequences sent and not acknowledged, ascending */
    size_t n_inflight;
    size_t cap_inflight; /* slots allocated in inflight */
    char **exporters;    /* filter applied here: "producer:ID" / "cooperative:ID" */
    size_t n_exporters;
    /* scope and filter, matched here against the cache (refreshed every second) */
    bool have_rules;
    bool no_scope;
    int held; /* its subscription or scope changed: no delivery until re-read (1: to read,
               * 2: being read) */
    notify_list_t scope[4], filter[4];
    bool fetching;
    bool primary_next;   /* the replica was behind at the last fetch: the next asks the primary */
    bool dead;           /* dropped; freed when the fetch out returns */
    notify_hook_t *hook; /* webhook state */
    struct notify_sub *next;
} notify_sub_t;

struct notifyd {
    ovop_daemon_t *d;
    ovop_pg_t *pg;
    uv_loop_t *loop;
    ovop_metrics_t *metrics;
    char instance[96];
    uint64_t head;
    notify_sub_t *subs;
    /* the recent events, read once for every subscription: seqs [cache_lo, cache_hi] */
    notify_row_t *cache;
    uint64_t cache_lo, cache_hi;
    bool tail_out;
    bool reread_out, reread_again;
    unsigned lease_seq;
    /* LISTEN connection */
    PGconn *listen;
    uv_poll_t listen_poll;
    bool listen_polling;
    uv_timer_t tick;  /* 200 ms: head poll, reconnect of LISTEN */
    uv_timer_t flush; /* 50 ms: cursors */
    uv_timer_t renew; /* 1 s: leases, silent sessions, webhook claims */
    bool head_query_out, flush_out, renew_out, claim_out, refresh_out, redrive_out;
    /* stream */
    char *stream_bind;
    ovop_keyring_t *keyring;
    ovop_zap_t *zap;
    ovop_zsock_t *router;
    notify_session_t *sessions;
    /* webhooks */
    void *webhook; /* notify_webhook_t */
    uint8_t seal_key[32];
    bool have_seal_key;
    notify_retry_t retry;
    char *webhook_allow;
    int64_t overlap_s;
    int64_t log_retention_h;
    struct ovop_periodic *pruner; /* the delivery log's pruning */
    struct json_t *log_rows;      /* delivery log rows waiting for their INSERT (hook.c) */
    bool log_out;                 /* that INSERT is out */
    ovop_metric_t *m_delivered_stream, *m_delivered_ok, *m_delivered_fail, *m_dead;
    ovop_metric_t *m_latency;
};

/* feed.c */
int feed_start(notifyd_t *n);
void feed_stop(notifyd_t *n);
notify_sub_t *feed_sub_new(notifyd_t *n, const char *id, const char *holder, bool is_stream);
notify_sub_t *feed_sub_find(notifyd_t *n, const char *id);
/* Stops delivering s (its lease is released when release). */
void feed_sub_drop(notifyd_t *n, notify_sub_t *s, bool release);
/* Fetches what s may receive next (when it has room and something lies beyond). */
void feed_pump(notifyd_t *n, notify_sub_t *s);
void feed_pump_all(notifyd_t *n);
void feed_set_exporters(notify_sub_t *s, const char *json_array);
/* Reads notify.rules() JSON into s's scope and filter. */
void feed_set_rules(notify_sub_t *s, const char *json);
/* A row of a result with the columns of notify.fetch, borrowed from res (data malloc'd:
 * notify_row_clear). */
void notify_row_from(notify_row_t *ev, PGresult *res, int row);
void notify_row_clear(notify_row_t *ev);
/* A new lease token of this instance: "<instance>#<n>". */
void feed_new_holder(notifyd_t *n, char out[static 128]);
bool feed_event_passes(const notify_sub_t *s, const char *data_schema, const uint8_t *data,
                       size_t len);

/* stream.c */
int stream_start(notifyd_t *n);
void stream_stop(notifyd_t *n);
/* Packs row as an ovop.v1.Event into row->packed (once per row, not per subscription). */
void stream_pack_event(notify_row_t *row);
/* Delivers one event row to the stream subscription's session. */
void stream_deliver(notifyd_t *n, notify_sub_t *s, const notify_row_t *ev);
/* The subscription ended (lease lost, not active): tells its session. */
void stream_sub_error(notifyd_t *n, notify_sub_t *s, int code, const char *reason,
                      const char *message);
void stream_tick(notifyd_t *n);

/* hook.c */
int hook_start(notifyd_t *n);
void hook_stop(notifyd_t *n);
void hook_deliver(notifyd_t *n, notify_sub_t *s, const notify_row_t *ev);
void hook_tick(notifyd_t *n);
void hook_sub_free(notify_sub_t *s);

/* methods.c */
void methods_register(notifyd_t *n);

/* True when s is a UUID in its text form. */
bool notify_uuid_valid(const char *s);
