/* Asynchronous PostgreSQL pool on a libuv loop.
 *
 * Each connection is a small state machine (down → connecting → idle ⇄ busy) driven by a
 * uv_poll on its libpq socket. Queries wait in one FIFO and go to the first idle connection,
 * which runs each through its prepared statement for that SQL (pg_stmt.h): prepared on first
 * use, executed by name afterwards, prepared again should the server's copy go stale.
 * Every path that can be reached from inside ovop_pg_query (sending, a send that finds the
 * connection dead) hands failures to a uv_idle that delivers them on the next loop turn, so a
 * caller never sees its callback before ovop_pg_query returns. Results that arrive from the
 * server are delivered directly from the poll callback.
 *
 * A user callback may call ovop_pg_query or ovop_pg_destroy. Memory stays valid until the last
 * close callback, so after each user callback the code only checks pg->closing and returns. */
#include "pg.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pg_stmt.h"
#include "util.h"

#define PG_BACKOFF_MIN_MS 100u
#define PG_BACKOFF_MAX_MS 5000u
/* How long a connection attempt may take when conninfo sets no connect_timeout. libpq applies
 * connect_timeout only in its blocking connect, so the pool times attempts itself. */
#define PG_CONNECT_TIMEOUT_MS 10000u

#define PG_ERR_LOST "connection to database lost"
/* Deadlines: a query whose deadline passed while it waited is never sent; a running one is
 * cancelled. Callers recognise both through ovop_pg_deadline_error(). */
static const char pg_err_deadline_queued[] = "deadline passed before the statement started";
static const char pg_err_deadline_running[] = "statement cancelled at its deadline";
#define PG_ERR_SHUTDOWN         "database pool is shutting down"
#define PG_ERR_SHUTDOWN_RUNNING "database pool shut down while the query was running"

typedef struct pg_query pg_query_t;
typedef struct pg_conn pg_conn_t;

/* One query, allocated once: the struct, the parameter pointers, then the SQL text and the
 * parameter strings, so submitting costs a single allocation. */
struct pg_query {
    pg_query_t *next;
    ovop_pg_cb cb;
    void *userdata;
    int64_t start_us;
    int64_t deadline_us; /* monotonic; 0: none */
    bool cancelled;      /* a cancel request was sent for it at its deadline */
    const char *sql;
    uint64_t hash; /* of sql, for the statement caches */
    bool retried;  /* re-prepared once after its statement went stale */
    /* Set while the query waits in pg->failed for delivery by the idle handle. */
    PGresult *res;
    const char *error;
    char *error_owned;
    int nparams;
    const char *values[];
};

typedef struct pg_list {
    pg_query_t *head;
    pg_query_t *tail;
    unsigned n;
} pg_list_t;

typedef enum pg_conn_state {
    PG_CONN_DOWN,       /* no PGconn; the reconnect timer may be running */
    PG_CONN_CONNECTING, /* PQconnectPoll in progress */
    PG_CONN_IDLE,       /* established, no query */
    PG_CONN_BUSY,       /* established, running c->query */
    PG_CONN_CANCELLING, /* established, no query, a cancel request still on its way */
} pg_conn_state_t;

struct pg_conn {
    ovop_pg_t *pg;
    PGconn *conn;
    pg_conn_state_t state;
    /* Allocated per socket: libpq may switch sockets while connecting, and a closing handle
     * cannot be re-initialised before its close callback. Freed in pg_handle_closed. */
    uv_poll_t *poll;
    int poll_fd;
    int poll_events;
    uv_timer_t timer;          /* connect timeout while connecting, the next attempt while down */
    uv_timer_t deadline_timer; /* the running query's deadline */
    bool cancel_out;           /* a cancel request runs in libuv's thread pool */
    unsigned backoff_ms;
    pg_query_t *query;
    PGresult *res; /* the running query's result so far */
    pg_stmt_cache_t stmts;
    pg_stmt_t *stmt; /* the running query's entry in stmts, NULL when it runs unprepared */
    bool preparing;  /* the step in flight prepares stmt: the query itself has not run */
};

struct ovop_pg {
    uv_loop_t *loop;
    char *conninfo;
    unsigned connect_timeout_ms;
    pg_conn_t *conns;
    unsigned n_conns;
    unsigned n_idle;
    unsigned n_up; /* idle or busy */
    unsigned n_running;
    pg_list_t queue;  /* waiting for a connection */
    pg_list_t failed; /* errors waiting for the idle handle */
    uv_idle_t idle;
    unsigned handles_open;
    bool closing;
    bool drained;

    ovop_metric_t *m_queries;
    ovop_metric_t *m_errors;
    ovop_metric_t *m_connections;
    ovop_metric_t *m_queue_depth;
    ovop_metric_t *m_duration;
    ovop_metric_t *m_deadline_queued;
    ovop_metric_t *m_deadline_cancelled;
    ovop_metric_t *m_busy;
    ovop_metric_t *m_reconnects;
};

static void pg_dispatch(ovop_pg_t *pg);
static void conn_connect_start(pg_conn_t *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_retry_timer(uv_timer_t *t);
static void on_connect_timeout(uv_timer_t *t);
static void on_idle(uv_idle_t *h);
static void on_deadline(uv_timer_t *t);

static void list_push(pg_list_t *l, pg_query_t *q)
{
    q->next = NULL;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

static void list_push_front(pg_list_t *l, pg_query_t *q)
{
    q->next = l->head;
    l->head = q;
    if (!l->tail)
        l->tail = q;
    l->n++;
}

static pg_query_t *list_pop(pg_list_t *l)
{
    pg_query_t *q = l->head;
    if (!q)
        return NULL;
    l->head = q->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    q->next = NULL;
    return q;
}

/* The first line of a libpq message, for logs and error strings: the rest, when there is
 * any, is a hint ("Is the server running on that host...") or a second way of saying the
 * same ("server closed the connection unexpectedly" after the server's FATAL message). */
static const char *first_line(const char *msg, char *buf, size_t size)
{
    snprintf(buf, size, "%s", msg ? msg : "");
    size_t n = strcspn(buf, "\n");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    return n ? buf : "unknown error";
}

/* Calls the query's callback once with (res, error), counts it, then frees res and the query. */
static void query_finish(ovop_pg_t *pg, pg_query_t *q, PGresult *res, const char *error)
{
    if (error)
        ovop_metric_inc(pg->m_errors);
    ovop_metric_observe(pg->m_duration, (double)(ovop_mono_us() - q->start_us) / 1e6);
    q->cb(res, error, q->userdata);
    PQclear(res);
    free(q->error_owned);
    free(q);
}

/* Hands q to the idle handle, which calls it back with error (and res, owned) on the next loop
 * turn. error is copied unless it is one of this file's constant messages. */
static void query_fail_later(ovop_pg_t *pg, pg_query_t *q, PGresult *res, const char *error,
                             bool copy)
{
    q->res = res;
    q->error_owned = copy ? xstrdup(error) : NULL;
    q->error = copy ? q->error_owned : error;
    list_push(&pg->failed, q);
    if (!pg->closing)
        uv_idle_start(&pg->idle, on_idle);
}

/* Delivers the failures queued by query_fail_later, then stops until there are more. */
static void on_idle(uv_idle_t *h)
{
    ovop_pg_t *pg = h->data;
    /* Only those present now: a callback that resubmits a failing query waits a turn. */
    unsigned n = pg->failed.n;
    pg_query_t *q;
    while (n-- > 0 && (q = list_pop(&pg->failed)))
        query_finish(pg, q, q->res, q->error);
    if (!pg->closing && pg->failed.n == 0)
        uv_idle_stop(&pg->idle);
}

static void pg_free(ovop_pg_t *pg)
{
    for (unsigned i = 0; i < pg->n_conns; i++)
        pg_stmt_free(&pg->conns[i].stmts);
    free(pg->conns);
    free(pg->conninfo);
    free(pg);
}

/* Close callback of every handle; the last one frees the pool. */
static void pg_handle_closed(ovop_pg_t *pg)
{
    assert(pg->handles_open > 0);
    if (--pg->handles_open == 0 && pg->closing)
        pg_free(pg);
}

static void on_poll_closed(uv_handle_t *h)
{
    pg_conn_t *c = h->data;
    ovop_pg_t *pg = c->pg;
    free(h);
    pg_handle_closed(pg);
}

static void on_handle_closed(uv_handle_t *h)
{
    pg_handle_closed(h->data);
}

/* Stops watching the connection's socket and closes its poll handle. */
static void conn_unwatch(pg_conn_t *c)
{
    if (!c->poll)
        return;
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    c->poll_fd = -1;
    c->poll_events = 0;
}

/* Watches PQsocket for events, re-creating the poll handle when the socket changed. rearm
 * stops and restarts the watch even when nothing changed: while connecting, libpq may close a
 * socket and open another that gets the same descriptor number, which epoll would no longer
 * report. Returns 0 or a negative libuv error. */
static int conn_watch(pg_conn_t *c, int events, bool rearm)
{
    int fd = PQsocket(c->conn);
    int r;

    if (fd < 0)
        return UV_EBADF;
    if (c->poll && c->poll_fd != fd)
        conn_unwatch(c);
    if (!c->poll) {
        uv_poll_t *h = xmalloc(sizeof(*h));
        r = uv_poll_init(c->pg->loop, h, fd);
        if (r < 0) {
            free(h);
            return r;
        }
        h->data = c;
        c->pg->handles_open++;
        c->poll = h;
        c->poll_fd = fd;
        c->poll_events = 0;
    } else if (rearm && c->poll_events) {
        uv_poll_stop(c->poll);
        c->poll_events = 0;
    }
    if (events == c->poll_events)
        return 0;
    r = uv_poll_start(c->poll, events, on_poll);
    if (r < 0)
        return r;
    c->poll_events = events;
    return 0;
}

/* Drops the PGconn and its poll handle; accounts for an established connection going away. */
static void conn_close(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;

    if (c->state == PG_CONN_IDLE || c->state == PG_CONN_BUSY || c->state == PG_CONN_CANCELLING) {
        pg->n_up--;
        ovop_metric_set(pg->m_connections, pg->n_up);
    }
    if (c->state == PG_CONN_IDLE)
        pg->n_idle--;
    conn_unwatch(c);
    PQclear(c->res);
    c->res = NULL;
    c->stmt = NULL;
    pg_stmt_clear(&c->stmts); /* prepared statements die with the session */
    PQfinish(c->conn);
    c->conn = NULL;
    c->state = PG_CONN_DOWN;
}

/* Schedules the next connection attempt after the current back-off, then doubles it. */
static unsigned conn_schedule_retry(pg_conn_t *c)
{
    unsigned delay = c->backoff_ms;
    uv_timer_start(&c->timer, on_retry_timer, delay, 0);
    c->backoff_ms = delay * 2 > PG_BACKOFF_MAX_MS ? PG_BACKOFF_MAX_MS : delay * 2;
    return delay;
}

/* A connection attempt failed: logs why (libpq's message never holds the password), closes
 * it and retries later. */
static void conn_connect_failed(pg_conn_t *c, const char *why)
{
    char buf[512];
    const char *msg = why ? why : first_line(PQerrorMessage(c->conn), buf, sizeof(buf));

    conn_close(c);
    unsigned delay = conn_schedule_retry(c);
    log_warn("could not connect to database: %s, retrying in %u ms", msg, delay);
}

/* The running query leaves c, which becomes idle (until conn_close, if it is broken) — or,
 * while a cancel request for it is on its way, waits for that to arrive first: a cancel that
 * reached the server during the next query would cancel that one. */
static pg_query_t *conn_release(pg_conn_t *c)
{
    pg_query_t *q = c->query;
    uv_timer_stop(&c->deadline_timer);
    c->query = NULL;
    c->stmt = NULL;
    c->pg->n_running--;
    ovop_metric_set(c->pg->m_busy, c->pg->n_running);
    if (c->cancel_out) {
        c->state = PG_CONN_CANCELLING;
    } else {
        c->state = PG_CONN_IDLE;
        c->pg->n_idle++;
    }
    return q;
}

/* The running query, which has not run, goes back to the head of the queue. */
static void conn_requeue(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;
    PQclear(c->res);
    c->res = NULL;
    list_push_front(&pg->queue, conn_release(c));
    ovop_metric_set(pg->m_queue_depth, pg->queue.n);
}

/* An established connection broke: the running query, which may have committed, fails with
 * PG_ERR_LOST (never re-run), unless only its statement was being prepared: then it goes back
 * to the head of the queue. Queued queries wait for a connection. Never calls back (it can be
 * reached from ovop_pg_query) nor dispatches (it can be reached from pg_dispatch). */
static void conn_lost(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;
    char buf[512];
    const char *msg = first_line(PQerrorMessage(c->conn), buf, sizeof(buf));

    if (c->query && c->preparing) {
        conn_requeue(c);
    } else if (c->query) {
        PGresult *res = c->res;
        c->res = NULL;
        query_fail_later(pg, conn_release(c), res, PG_ERR_LOST, false);
    }
    conn_close(c);
    unsigned delay = conn_schedule_retry(c);
    log_warn("connection to database lost: %s, reconnecting in %u ms", msg, delay);
}

/* Routes server notices to the log instead of libpq's default of printing to stderr. */
static void on_notice(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (sev && strcmp(sev, "WARNING") == 0)
        log_warn("database warning: %s", msg ? msg : "");
    else
        log_debug("database notice: %s", msg ? msg : "");
}

/* The connection is up: switch libpq to non-blocking sends, watch the socket for input (a
 * server closing an idle connection shows there) and start queued queries. */
static void conn_established(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;

    if (PQsetnonblocking(c->conn, 1) < 0) {
        conn_connect_failed(c, NULL);
        return;
    }
    int r = conn_watch(c, UV_READABLE, true);
    if (r < 0) {
        conn_connect_failed(c, uv_strerror(r));
        return;
    }
    uv_timer_stop(&c->timer);
    c->state = PG_CONN_IDLE;
    c->backoff_ms = PG_BACKOFF_MIN_MS;
    pg->n_up++;
    pg->n_idle++;
    ovop_metric_set(pg->m_connections, pg->n_up);
    pg_dispatch(pg);
}

/* One step of PQconnectPoll, after the socket became ready for what it asked. */
static void conn_connect_step(pg_conn_t *c)
{
    int r;

    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        r = conn_watch(c, UV_READABLE, true);
        break;
    case PGRES_POLLING_WRITING:
        r = conn_watch(c, UV_WRITABLE, true);
        break;
    case PGRES_POLLING_OK:
        conn_established(c);
        return;
    default:
        conn_connect_failed(c, NULL);
        return;
    }
    if (r < 0)
        conn_connect_failed(c, uv_strerror(r));
}

/* Starts a non-blocking connection attempt. */
static void conn_connect_start(pg_conn_t *c)
{
    assert(c->state == PG_CONN_DOWN && !c->conn);

    c->conn = PQconnectStart(c->pg->conninfo);
    if (!c->conn) {
        fprintf(stderr, "out of memory starting a database connection, aborting\n");
        abort();
    }
    PQsetNoticeReceiver(c->conn, on_notice, NULL);
    c->state = PG_CONN_CONNECTING;
    uv_timer_start(&c->timer, on_connect_timeout, c->pg->connect_timeout_ms, 0);
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_connect_failed(c, NULL);
        return;
    }
    /* Just after PQconnectStart, behave as if PQconnectPoll asked to write. */
    int r = conn_watch(c, UV_WRITABLE, true);
    if (r < 0)
        conn_connect_failed(c, uv_strerror(r));
}

static void on_retry_timer(uv_timer_t *t)
{
    pg_conn_t *c = t->data;
    /* Every attempt after a lost or failed connection: a storm shows as a steep rate. */
    ovop_metric_inc(c->pg->m_reconnects);
    conn_connect_start(c);
}

static void on_connect_timeout(uv_timer_t *t)
{
    pg_conn_t *c = t->data;
    assert(c->state == PG_CONN_CONNECTING);
    conn_connect_failed(c, "timeout expired");
}

/* Issues the libpq call for the next step of c->query: prepare its statement, or run it
 * (prepared or not). Returns what libpq returned: 0 when nothing of this step was sent. */
static int conn_issue(pg_conn_t *c)
{
    pg_query_t *q = c->query;
    pg_stmt_t *st = c->stmt;

    c->preparing = st && !st->prepared;
    if (!st)
        return PQsendQueryParams(c->conn, q->sql, q->nparams, NULL, q->values, NULL, NULL, 0);
    if (st->prepared)
        return PQsendQueryPrepared(c->conn, st->name, q->nparams, q->values, NULL, NULL, 0);
    return PQsendPrepare(c->conn, st->name, q->sql, q->nparams, NULL);
}

/* Sends the next step of c->query and watches for its answer. When libpq refuses, the query
 * has not run: it goes back to the head of the queue if the connection is gone, or fails
 * from the loop with libpq's reason and the connection becomes idle. Never calls back nor
 * dispatches (reached from ovop_pg_query through pg_dispatch). */
static void conn_step(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;

    if (!conn_issue(c)) {
        if (PQstatus(c->conn) == CONNECTION_BAD) {
            conn_requeue(c);
            conn_lost(c);
        } else {
            char buf[512];
            const char *why = first_line(PQerrorMessage(c->conn), buf, sizeof(buf));
            query_fail_later(pg, conn_release(c), NULL, why, true);
        }
        return;
    }
    int r = PQflush(c->conn);
    if (r < 0 || conn_watch(c, r ? UV_READABLE | UV_WRITABLE : UV_READABLE, false) < 0)
        conn_lost(c);
}

/* Starts q on idle connection c, through c's prepared statement for q's SQL when there is
 * room for one. */
static void conn_send(pg_conn_t *c, pg_query_t *q)
{
    c->state = PG_CONN_BUSY;
    c->pg->n_idle--;
    c->pg->n_running++;
    ovop_metric_set(c->pg->m_busy, c->pg->n_running);
    c->query = q;
    c->stmt = pg_stmt_get(&c->stmts, q->sql, q->hash);
    if (q->deadline_us) {
        int64_t left_ms = (q->deadline_us - ovop_mono_us() + 999) / 1000;
        uv_timer_start(&c->deadline_timer, on_deadline, left_ms > 0 ? (uint64_t)left_ms : 0, 0);
    }
    conn_step(c);
}

/* True for the errors a prepared statement gives when the server's copy no longer fits:
 * "cached plan must not change result type" (feature_not_supported) after a table changed,
 * or the statement gone (invalid_sql_statement_name). Retrying is safe whatever raised them:
 * the error aborted the statement's implicit transaction, so nothing it did persists. */
static bool stale_statement(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && (strcmp(state, "0A000") == 0 || strcmp(state, "26000") == 0);
}

/* What went wrong with a finished query, in words; NULL when it succeeded. */
static const char *result_error(const PGresult *res, char *buf, size_t size)
{
    switch (res ? PQresultStatus(res) : PGRES_FATAL_ERROR) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
        return NULL;
    case PGRES_EMPTY_QUERY:
        return "empty query";
    default: {
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        return primary ? primary : first_line(res ? PQresultErrorMessage(res) : NULL, buf, size);
    }
    }
}

/* Reads what the server sent for the step in flight. Once libpq has all of it: after a
 * successful prepare, runs the statement; after a stale statement, prepares it again (once);
 * otherwise delivers the result. */
static void conn_read_results(pg_conn_t *c)
{
    ovop_pg_t *pg = c->pg;

    for (;;) {
        if (PQisBusy(c->conn))
            return;
        PGresult *r = PQgetResult(c->conn);
        if (!r)
            break;
        /* One statement gives one result; should there be more, keep an error over the
         * rest, else the last. */
        if (c->res && PQresultStatus(c->res) == PGRES_FATAL_ERROR) {
            PQclear(r);
        } else {
            PQclear(c->res);
            c->res = r;
        }
    }

    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_lost(c);
        pg_dispatch(pg);
        return;
    }
    pg_query_t *q = c->query;
    bool again = false;
    if (c->preparing && c->res && PQresultStatus(c->res) == PGRES_COMMAND_OK) {
        c->stmt->prepared = true; /* now run it */
        again = true;
    } else if (!c->preparing && c->stmt && !q->retried && stale_statement(c->res)) {
        q->retried = true;
        pg_stmt_renew(&c->stmts, c->stmt); /* prepare it again, under a new name */
        again = true;
    }
    if (again) {
        PQclear(c->res);
        c->res = NULL;
        conn_step(c);
        if (c->state != PG_CONN_BUSY)
            pg_dispatch(pg);
        return;
    }

    /* Done (a failed prepare ends the query too). Free the connection for the next query
     * before calling back. */
    PGresult *res = c->res;
    char buf[512];
    const char *error = result_error(res, buf, sizeof(buf));
    const char *state = error && res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (q->cancelled && state && strcmp(state, "57014") == 0)
        error = pg_err_deadline_running;
    c->res = NULL;
    conn_release(c);
    if (conn_watch(c, UV_READABLE, false) < 0)
        conn_lost(c);
    pg_dispatch(pg);
    query_finish(pg, q, res, error);
}

/* The connection's socket is ready: advance the connection attempt, or send what is left,
 * read what arrived and notice a connection the server closed. */
static void on_poll(uv_poll_t *h, int status, int events)
{
    pg_conn_t *c = h->data;

    if (c->pg->closing)
        return;
    if (c->state == PG_CONN_CONNECTING) {
        /* An error on the socket (libuv reports EPOLLERR as UV_EBADF and stops the handle) is
         * PQconnectPoll's to read: a refused connection to one host of a multi-host conninfo
         * moves it on to the next, and conn_connect_step re-arms the watch. */
        conn_connect_step(c);
        return;
    }
    if (status < 0 || !PQconsumeInput(c->conn)) {
        conn_lost(c);
        pg_dispatch(c->pg);
        return;
    }
    if (c->state == PG_CONN_BUSY && (c->poll_events & UV_WRITABLE)) {
        int r = PQflush(c->conn);
        if (r < 0 || conn_watch(c, r ? UV_READABLE | UV_WRITABLE : UV_READABLE, false) < 0) {
            conn_lost(c);
            pg_dispatch(c->pg);
            return;
        }
    }
    /* Notifications are not used through the pool; drop them so they do not pile up. */
    PGnotify *n;
    while ((n = PQnotifies(c->conn)))
        PQfreemem(n);
    if (c->state == PG_CONN_BUSY)
        conn_read_results(c);
    else if (PQstatus(c->conn) == CONNECTION_BAD)
        conn_lost(c);
}

/* Starts queued queries on idle connections. */
static void pg_dispatch(ovop_pg_t *pg)
{
    while (pg->queue.n > 0 && pg->n_idle > 0) {
        pg_conn_t *c = NULL;
        for (unsigned i = 0; i < pg->n_conns; i++) {
            if (pg->conns[i].state == PG_CONN_IDLE) {
                c = &pg->conns[i];
                break;
            }
        }
        assert(c);
        pg_query_t *q = list_pop(&pg->queue);
        ovop_metric_set(pg->m_queue_depth, pg->queue.n);
        if (q->deadline_us && ovop_mono_us() >= q->deadline_us) {
            ovop_metric_inc(pg->m_deadline_queued);
            query_fail_later(pg, q, NULL, pg_err_deadline_queued, false);
            continue;
        }
        conn_send(c, q);
    }
}

/* Validates conninfo, sets up the handles and starts every connection; see pg.h. */
int ovop_pg_new(ovop_pg_t **ret, uv_loop_t *loop, const char *conninfo, unsigned pool_size,
                ovop_metrics_t *metrics)
{
    char *errmsg = NULL;
    PQconninfoOption *opts;

    assert(ret && loop && conninfo);
    if (pool_size == 0)
        return -EINVAL;
    opts = PQconninfoParse(conninfo, &errmsg);
    PQfreemem(errmsg);
    if (!opts)
        return -EINVAL;
    unsigned timeout_ms = PG_CONNECT_TIMEOUT_MS, hosts = 1;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "host") == 0 && o->val) {
            for (const char *p = o->val; *p; p++)
                hosts += *p == ',';
        }
        if (strcmp(o->keyword, "connect_timeout") != 0 || !o->val)
            continue;
        /* As libpq reads it: whole seconds, at least 2. Its 0, wait forever, is our default. */
        int secs = atoi(o->val);
        if (secs > 0)
            timeout_ms = (unsigned)(secs < 2 ? 2 : secs > 3600 ? 3600 : secs) * 1000u;
    }
    PQconninfoFree(opts);
    /* A multi-host conninfo (failover) tries its hosts in turn within one attempt: a dead
     * first host must leave the next one its time. */
    timeout_ms *= hosts > 8 ? 8 : hosts;
    char *with_defaults = ovop_pg_conninfo_defaults(conninfo);

    ovop_pg_t *pg = xcalloc(1, sizeof(*pg));
    pg->loop = loop;
    pg->conninfo = with_defaults;
    pg->connect_timeout_ms = timeout_ms;
    pg->n_conns = pool_size;
    pg->conns = xcalloc(pool_size, sizeof(*pg->conns));
    if (metrics) {
        pg->m_queries = ovop_metrics_counter(metrics, "ovop_pg_queries_total",
                                             "Queries submitted to the database pool.", NULL);
        pg->m_errors = ovop_metrics_counter(metrics, "ovop_pg_errors_total",
                                            "Queries that ended in an error.", NULL);
        pg->m_connections = ovop_metrics_gauge(metrics, "ovop_pg_connections",
                                               "Established database connections.", NULL);
        pg->m_queue_depth = ovop_metrics_gauge(metrics, "ovop_pg_queue_depth",
                                               "Queries waiting for a database connection.", NULL);
        pg->m_duration = ovop_metrics_histogram(
            metrics, "ovop_pg_query_duration_seconds",
            "Time from submitting a query to its callback, queueing included.", NULL,
            ovop_latency_buckets, ovop_latency_buckets_n);
        pg->m_deadline_queued = ovop_metrics_counter(
            metrics, "ovop_pg_deadline_total",
            "Queries ended by their call's deadline: never sent, or cancelled while running.",
            "stage=\"queued\"");
        pg->m_deadline_cancelled = ovop_metrics_counter(
            metrics, "ovop_pg_deadline_total",
            "Queries ended by their call's deadline: never sent, or cancelled while running.",
            "stage=\"running\"");
        ovop_metric_set(pg->m_connections, 0);
        ovop_metric_set(pg->m_queue_depth, 0);
        ovop_metric_set(ovop_metrics_gauge(metrics, "ovop_pg_pool_size",
                                           "Connections the database pool keeps (--db-pool).",
                                           NULL),
                        pool_size);
        pg->m_busy = ovop_metrics_gauge(metrics, "ovop_pg_connections_busy",
                                        "Database connections running a query now.", NULL);
        pg->m_reconnects = ovop_metrics_counter(
            metrics, "ovop_pg_reconnects_total",
            "Database connection attempts after a connection was lost or an attempt failed.", NULL);
    }

    uv_idle_init(loop, &pg->idle);
    pg->idle.data = pg;
    pg->handles_open++;
    for (unsigned i = 0; i < pool_size; i++) {
        pg_conn_t *c = &pg->conns[i];
        c->pg = pg;
        c->poll_fd = -1;
        c->backoff_ms = PG_BACKOFF_MIN_MS;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        uv_timer_init(loop, &c->deadline_timer);
        c->deadline_timer.data = c;
        pg->handles_open += 2;
    }
    /* The connect timeouts count from now: the loop's cached time may be old when the pool
     * is made outside a callback (after a slow start-up step). */
    uv_update_time(loop);
    for (unsigned i = 0; i < pool_size; i++)
        conn_connect_start(&pg->conns[i]);

    *ret = pg;
    return 0;
}

/* Allocates q with copies of sql and the parameters in one block. */
static pg_query_t *query_new(const char *sql, int nparams, const char *const *values, ovop_pg_cb cb,
                             void *userdata)
{
    size_t sql_len = strlen(sql) + 1;
    size_t size = sizeof(pg_query_t) + (size_t)nparams * sizeof(char *) + sql_len;
    size_t lens[OVOP_PG_MAX_PARAMS];

    for (int i = 0; i < nparams; i++) {
        lens[i] = values[i] ? strlen(values[i]) + 1 : 0;
        size += lens[i];
    }
    pg_query_t *q = xmalloc(size);
    char *p = (char *)&q->values[nparams];
    memcpy(p, sql, sql_len);
    q->sql = p;
    p += sql_len;
    for (int i = 0; i < nparams; i++) {
        if (values[i]) {
            memcpy(p, values[i], lens[i]);
            q->values[i] = p;
            p += lens[i];
        } else {
            q->values[i] = NULL;
        }
    }
    q->next = NULL;
    q->cb = cb;
    q->userdata = userdata;
    q->start_us = ovop_mono_us();
    q->deadline_us = 0;
    q->cancelled = false;
    q->hash = pg_stmt_hash(sql, sql_len - 1);
    q->retried = false;
    q->res = NULL;
    q->error = NULL;
    q->error_owned = NULL;
    q->nparams = nparams;
    return q;
}

/* A cancel request, sent from libuv's thread pool: PQcancel blocks while it connects. */
typedef struct pg_cancel {
    uv_work_t work;
    pg_conn_t *c;
    PGcancel *cancel;
    bool sent;
    char error[256];
} pg_cancel_t;

static void cancel_work(uv_work_t *w)
{
    pg_cancel_t *k = w->data;
    k->sent = PQcancel(k->cancel, k->error, (int)sizeof(k->error)) == 1;
}

/* The cancel request has been delivered (or failed): the connection may take queries again. */
static void cancel_done(uv_work_t *w, int status)
{
    pg_cancel_t *k = w->data;
    pg_conn_t *c = k->c;
    ovop_pg_t *pg = c->pg;
    OVOP_UNUSED(status);
    if (!k->sent)
        log_warn("could not cancel a statement past its deadline: %s", k->error);
    PQfreeCancel(k->cancel);
    free(k);
    c->cancel_out = false;
    if (!pg->closing && c->state == PG_CONN_CANCELLING) {
        c->state = PG_CONN_IDLE;
        pg->n_idle++;
        pg_dispatch(pg);
    }
    pg_handle_closed(pg);
}

/* The running query's deadline passed: ask the server to cancel it. Its error result, when
 * it comes, is reported as pg_err_deadline_running. */
static void on_deadline(uv_timer_t *t)
{
    pg_conn_t *c = t->data;
    if (c->state != PG_CONN_BUSY || !c->query || c->cancel_out || c->pg->closing)
        return;
    PGcancel *cancel = PQgetCancel(c->conn);
    if (!cancel)
        return;
    pg_cancel_t *k = xcalloc(1, sizeof(*k));
    k->c = c;
    k->cancel = cancel;
    k->work.data = k;
    if (uv_queue_work(c->pg->loop, &k->work, cancel_work, cancel_done) < 0) {
        PQfreeCancel(cancel);
        free(k);
        return;
    }
    c->pg->handles_open++; /* the pool outlives the work */
    c->cancel_out = true;
    c->query->cancelled = true;
    ovop_metric_inc(c->pg->m_deadline_cancelled);
}

bool ovop_pg_deadline_error(const char *error)
{
    return error == pg_err_deadline_queued || error == pg_err_deadline_running;
}

/* Queues one statement and starts it when a connection is idle; see pg.h. */
void ovop_pg_query(ovop_pg_t *pg, const char *sql, int nparams, const char *const *values,
                   ovop_pg_cb cb, void *userdata)
{
    ovop_pg_query_until(pg, 0, sql, nparams, values, cb, userdata);
}

void ovop_pg_query_until(ovop_pg_t *pg, int64_t deadline_us, const char *sql, int nparams,
                         const char *const *values, ovop_pg_cb cb, void *userdata)
{
    assert(pg && sql && cb && nparams >= 0 && (nparams == 0 || values));
    assert(!pg->drained); /* used after ovop_pg_destroy returned */

    ovop_metric_inc(pg->m_queries);
    if (nparams > OVOP_PG_MAX_PARAMS) {
        pg_query_t *q = query_new(sql, 0, NULL, cb, userdata);
        char *msg = xasprintf("too many query parameters: %d, at most %d are supported", nparams,
                              OVOP_PG_MAX_PARAMS);
        query_fail_later(pg, q, NULL, msg, true);
        free(msg);
        return;
    }
    pg_query_t *q = query_new(sql, nparams, values, cb, userdata);
    q->deadline_us = deadline_us;
    if (pg->closing) {
        query_fail_later(pg, q, NULL, PG_ERR_SHUTDOWN, false);
        return;
    }
    if (pg->queue.n >= OVOP_PG_MAX_QUEUE) {
        query_fail_later(pg, q, NULL, "too many queries waiting for a database connection", false);
        return;
    }
    list_push(&pg->queue, q);
    pg_dispatch(pg);
    ovop_metric_set(pg->m_queue_depth, pg->queue.n);
}

const char *ovop_pg_value(const PGresult *res, int row, const char *name)
{
    int c = PQfnumber(res, name);
    return c >= 0 && !PQgetisnull(res, row, c) ? PQgetvalue(res, row, c) : "";
}

bool ovop_pg_ready(const ovop_pg_t *pg)
{
    return pg && pg->n_up > 0;
}

unsigned ovop_pg_pending(const ovop_pg_t *pg)
{
    return pg ? pg->queue.n + pg->n_running : 0;
}

/* Closes the connections, calls back every query still held (running, queued or waiting to
 * be told of an error), and closes the handles; the last close callback frees the pool. */
void ovop_pg_destroy(ovop_pg_t **p)
{
    ovop_pg_t *pg = p ? *p : NULL;

    if (!pg)
        return;
    *p = NULL;
    if (pg->closing)
        return;
    pg->closing = true;

    pg_list_t running = {0};
    for (unsigned i = 0; i < pg->n_conns; i++) {
        pg_conn_t *c = &pg->conns[i];
        if (c->query && c->preparing)
            conn_requeue(c); /* has not run */
        else if (c->query)
            list_push(&running, conn_release(c));
        conn_close(c);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        c->timer.data = pg;
        uv_close((uv_handle_t *)&c->deadline_timer, on_handle_closed);
        c->deadline_timer.data = pg;
    }
    uv_close((uv_handle_t *)&pg->idle, on_handle_closed);

    pg_query_t *q;
    while ((q = list_pop(&running)))
        query_finish(pg, q, NULL, PG_ERR_SHUTDOWN_RUNNING);
    /* Callbacks may submit more, which land in pg->failed: loop until both are empty. */
    for (;;) {
        if ((q = list_pop(&pg->failed)))
            query_finish(pg, q, q->res, q->error);
        else if ((q = list_pop(&pg->queue)))
            query_finish(pg, q, NULL, PG_ERR_SHUTDOWN);
        else
            break;
    }
    ovop_metric_set(pg->m_queue_depth, 0);
    pg->drained = true;
}

char *ovop_pg_conninfo_with(const char *conninfo, const char *keyword, const char *value,
                            char **ret_err)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        *ret_err = xstrdup(errmsg ? errmsg : "out of memory");
        PQfreemem(errmsg);
        return NULL;
    }
    ovop_buf_t b;
    ovop_buf_init(&b);
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = strcmp(o->keyword, keyword) == 0 ? value : o->val;
        if (!v)
            continue;
        ovop_buf_printf(&b, "%s%s='", b.len ? " " : "", o->keyword);
        for (const char *p = v; *p; p++) {
            if (*p == '\'' || *p == '\\')
                ovop_buf_append(&b, "\\", 1);
            ovop_buf_append(&b, p, 1);
        }
        ovop_buf_append(&b, "'", 1);
    }
    PQconninfoFree(opts);
    return b.data;
}

/* TCP settings for a server that vanishes without closing its connections (a host down, a
 * network cut): without them an idle connection, the LISTEN one above all, stays "up" for
 * hours and a busy one waits for the kernel's retransmission limit (about 15 minutes). */
static const char *const pg_tcp_defaults[][2] = {
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "30000"},
};

char *ovop_pg_conninfo_defaults(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    PQfreemem(errmsg);
    if (!opts)
        return xstrdup(conninfo);
    char *ci = xstrdup(conninfo);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(pg_tcp_defaults); i++) {
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (strcmp(o->keyword, pg_tcp_defaults[i][0]) != 0 || (o->val && *o->val))
                continue;
            char *err = NULL;
            char *next = ovop_pg_conninfo_with(ci, o->keyword, pg_tcp_defaults[i][1], &err);
            free(err);
            if (next) {
                free(ci);
                ci = next;
            }
        }
    }
    PQconninfoFree(opts);
    return ci;
}
