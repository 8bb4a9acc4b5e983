/* The in-memory index of what producers offer: products by id and by HS code with their
 * producer's location, status, OVOP certificates and cooperatives; HS units; territories'
 * coordinates. Built from PostgreSQL (registry_api) at start, then kept fresh from the
 * registry's events in bus.events: every --index-refresh-ms it reads the events after its
 * cursor and reloads the products they concern. The cursor is taken before the load, so an
 * event committed during the load is applied again (a reload is idempotent) rather than
 * missed. Matching reads this index instead of querying every producer per order. Each
 * instance writes its position to matching.cursors ("index:<instance>", at most once a
 * second) for whoever watches its lag; a restart rebuilds the index and starts afresh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "matchd.h"
#include "util.h"

/* --- an open-addressing map from int64 keys (> 0) to pointers --- */

typedef struct imap {
    int64_t *keys;
    void **vals;
    size_t cap, n;
} imap_t;

static size_t imap_slot(const imap_t *m, int64_t k)
{
    uint64_t h = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 17) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void *imap_get(const imap_t *m, int64_t k)
{
    if (!m->cap)
        return NULL;
    size_t i = imap_slot(m, k);
    return m->keys[i] ? m->vals[i] : NULL;
}

static void imap_put(imap_t *m, int64_t k, void *v)
{
    if ((m->n + 1) * 2 > m->cap) {
        imap_t g = {.cap = m->cap ? m->cap * 2 : 64};
        g.keys = xcalloc(g.cap, sizeof(*g.keys));
        g.vals = xcalloc(g.cap, sizeof(*g.vals));
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = imap_slot(&g, m->keys[i]);
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
                g.n++;
            }
        free(m->keys);
        free(m->vals);
        *m = g;
    }
    size_t i = imap_slot(m, k);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
}

static void imap_free(imap_t *m, void (*fn)(void *))
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && fn)
            fn(m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = (imap_t){0};
}

/* --- the index --- */

typedef struct bucket {
    mx_product_t **items;
    size_t n, cap;
} bucket_t;

typedef struct place {
    double lat, lon;
    char *name;
} place_t;

struct mx_index {
    uv_loop_t *loop;
    ovop_pg_t *pg;  /* the primary: the cursor is saved there */
    ovop_pg_t *rpg; /* where the reads of the chain under way go (see refresh) */
    ovop_pg_t *(*route)(void *ctx);
    void *route_ctx;
    uv_timer_t timer;
    unsigned refresh_ms;
    imap_t products; /* id -> mx_product_t */
    imap_t buckets;  /* hs6 as a number -> bucket_t */
    imap_t units;    /* hs6 -> unit (char *) */
    imap_t places;   /* SOATE code as a number -> place_t */
    int64_t cursor;
    int64_t saved, saved_us; /* the cursor last written to matching.cursors, and when */
    char *instance;
    int64_t started_us, build_us;
    bool ready, busy, stopped;
    int step; /* load: 0 cursor, 1 units, 2 places, 3 products */
    ovop_metric_t *m_products, *m_refreshes, *m_cursor;
    ovop_metric_t *m_head; /* the sequencer's ovop_event_log_head (common/sequencer.c) */
    ovop_metric_t *m_lag;  /* ovop_consumer_lag_events{consumer="matching:index"} */
};

int32_t mx_day(const char *s)
{
    int y, mo, d;
    if (sscanf(s, "%d-%d-%d", &y, &mo, &d) != 3)
        return 0;
    /* days from civil (H. Hinnant), shifted to 2000-01-01 */
    y -= mo <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (unsigned)(mo + (mo > 2 ? -3 : 9)) + 2) / 5 + (unsigned)d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468 - 10957);
}

void mx_window_months(const char *from, const char *to, int counts[12])
{
    int y1 = 0, m1 = 0, y2 = 0, m2 = 0, d;
    sscanf(from, "%d-%d-%d", &y1, &m1, &d);
    sscanf(to, "%d-%d-%d", &y2, &m2, &d);
    memset(counts, 0, 12 * sizeof(int));
    for (int y = y1, mo = m1; (y < y2 || (y == y2 && mo <= m2)) && mo >= 1 && mo <= 12;
         mo = mo == 12 ? 1 : mo + 1, y += mo == 1)
        counts[mo - 1]++;
}

double mx_window_capacity(const mx_product_t *p, const int counts[12])
{
    int months = 0;
    for (int m = 0; m < 12; m++)
        months += (!p->season || (p->season & (1u << m))) ? counts[m] : 0;
    return p->cap_month * months;
}

static int64_t code_key(const char *code)
{
    return ovop_all_digits(code, strlen(code)) && code[0] ? strtoll(code, NULL, 10) : 0;
}

static void product_free(void *p)
{
    mx_product_t *x = p;
    free(x->category);
    free(x->unit);
    free(x->name);
    free(x->certs);
    free(x->ovop);
    free(x->coops);
    free(x);
}

static bucket_t *bucket_of(mx_index_t *x, const char *hs6, bool create)
{
    int64_t k = code_key(hs6) + 1; /* 000000 is not a key */
    bucket_t *b = imap_get(&x->buckets, k);
    if (!b && create) {
        b = xcalloc(1, sizeof(*b));
        imap_put(&x->buckets, k, b);
    }
    return b;
}

static void bucket_remove(mx_index_t *x, mx_product_t *p)
{
    bucket_t *b = bucket_of(x, p->hs6, false);
    if (!b || p->slot >= b->n || b->items[p->slot] != p)
        return;
    b->items[p->slot] = b->items[--b->n];
    b->items[p->slot]->slot = p->slot;
}

static void bucket_add(mx_index_t *x, mx_product_t *p)
{
    bucket_t *b = bucket_of(x, p->hs6, true);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->items = xrealloc(b->items, b->cap * sizeof(*b->items));
    }
    p->slot = b->n;
    b->items[b->n++] = p;
}

/* "{6,7,8}" -> bits 5, 6, 7. */
static uint16_t season_bits(const char *s)
{
    uint16_t bits = 0;
    for (const char *p = s; *p;) {
        char *end;
        long m = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (m >= 1 && m <= 12)
            bits |= (uint16_t)(1u << (m - 1));
        p = end;
    }
    return bits;
}

/* "5:9131:active,3:8000:suspended" */
static void parse_ovop(mx_product_t *p, const char *s)
{
    p->n_ovop = 0;
    for (const char *q = s; *q; q++)
        if (*q == ',')
            p->n_ovop++;
    p->n_ovop += *s != '\0';
    p->ovop = p->n_ovop ? xcalloc(p->n_ovop, sizeof(*p->ovop)) : NULL;
    size_t i = 0;
    for (const char *q = s; *q && i < p->n_ovop; i++) {
        int stars = 0, day = 0, used = 0;
        char st[16] = "";
        sscanf(q, "%d:%d:%15[a-z]%n", &stars, &day, st, &used);
        p->ovop[i] = (mx_cert_t){(int8_t)stars, strcmp(st, "active") == 0, day};
        q = strchr(q, ',');
        if (!q)
            break;
    }
}

static void parse_coops(mx_product_t *p, const char *s)
{
    p->n_coops = 0;
    p->coops = NULL;
    if (!*s)
        return;
    size_t n = 1;
    for (const char *q = s; *q; q++)
        n += *q == ',';
    p->coops = xcalloc(n, sizeof(*p->coops));
    for (const char *q = s; *q;) {
        char *end;
        long long v = strtoll(q, &end, 10);
        if (end == q)
            break;
        p->coops[p->n_coops++] = v;
        q = *end == ',' ? end + 1 : end;
    }
}

static void apply_product_row(mx_index_t *x, const PGresult *res, int i)
{
    int64_t id = strtoll(ovop_pg_value(res, i, "id"), NULL, 10);
    mx_product_t *old = imap_get(&x->products, id);
    if (old) {
        bucket_remove(x, old);
        product_free(old);
    }
    mx_product_t *p = xcalloc(1, sizeof(*p));
    p->id = id;
    p->producer_id = strtoll(ovop_pg_value(res, i, "producer_id"), NULL, 10);
    snprintf(p->hs6, sizeof(p->hs6), "%s", ovop_pg_value(res, i, "hs6"));
    snprintf(p->territory, sizeof(p->territory), "%s", ovop_pg_value(res, i, "territory_code"));
    p->status = ovop_pg_value(res, i, "status")[0];
    const char *lat = ovop_pg_value(res, i, "lat"), *lon = ovop_pg_value(res, i, "lon");
    p->located = lat[0] && lon[0];
    p->lat = p->located ? strtod(lat, NULL) : 0;
    p->lon = p->located ? strtod(lon, NULL) : 0;
    p->season = season_bits(ovop_pg_value(res, i, "season"));
    p->cap_month = strtod(ovop_pg_value(res, i, "cap"), NULL);
    p->price_cents = strtoll(ovop_pg_value(res, i, "price_cents"), NULL, 10);
    p->category = xstrdup(ovop_pg_value(res, i, "category"));
    p->unit = xstrdup(ovop_pg_value(res, i, "unit"));
    if (strlen(p->unit) < sizeof(p->unit_key))
        memcpy(p->unit_key, p->unit, strlen(p->unit) + 1);
    p->name = xstrdup(ovop_pg_value(res, i, "legal_name"));
    p->certs = xasprintf(",%s,", ovop_pg_value(res, i, "certs"));
    parse_ovop(p, ovop_pg_value(res, i, "ovop"));
    parse_coops(p, ovop_pg_value(res, i, "coops"));
    imap_put(&x->products, id, p);
    bucket_add(x, p);
}

/* The product columns; FROM and WHERE follow. */
#define PRODUCT_COLUMNS                                                                            \
    "SELECT o.id, o.producer_id, o.hs6, o.category, o.unit, o.capacity_per_month::float8 AS cap, " \
    "o.season_months::text AS season, round(o.price_usd * 100)::bigint AS price_cents, "           \
    "array_to_string(o.certifications, ',') AS certs, pr.territory_code, pr.legal_name, "          \
    "pr.status, coalesce(pr.lat, t.lat, tp.lat) AS lat, coalesce(pr.lon, t.lon, tp.lon) AS lon, "
#define PRODUCT_JOINS                                                                              \
    "FROM registry_api.product_offers o "                                                          \
    "JOIN registry_api.producer_places pr ON pr.id = o.producer_id "                               \
    "LEFT JOIN registry_api.territory_points t "                                                   \
    "  ON t.code = pr.territory_code AND t.valid_to IS NULL "                                      \
    "LEFT JOIN registry_api.territory_points tp ON tp.code = t.parent_code AND tp.valid_to IS "    \
    "NULL "
/* Certificates "stars:expiry day:status" and current cooperatives of one product's maker. */
#define OVOP_AGG                                                                                   \
    "string_agg(c.stars || ':' || (c.expires_on - date '2000-01-01') || ':' || c.status, ',') "
#define OVOP_FROM "FROM registry_api.certificates c "
#define COOPS_AGG "string_agg(m.cooperative_id::text, ',') "
#define COOPS_FROM                                                                                 \
    "FROM registry_api.cooperative_members m WHERE m.joined_on <= current_date "                   \
    "AND (m.left_on IS NULL OR m.left_on > current_date) "

/* The whole load aggregates certificates and memberships once, joined by key. */
static const char load_sql[] = PRODUCT_COLUMNS
    "coalesce(cs.ovop, '') AS ovop, coalesce(ms.coops, '') AS coops " PRODUCT_JOINS
    "LEFT JOIN (SELECT c.product_id, c.producer_id, " OVOP_AGG "AS ovop " OVOP_FROM
    "GROUP BY 1, 2) cs ON cs.product_id = o.id AND cs.producer_id = o.producer_id "
    "LEFT JOIN (SELECT m.producer_id, " COOPS_AGG "AS coops " COOPS_FROM "GROUP BY 1) ms "
    "ON ms.producer_id = o.producer_id";

/* A refresh reloads the products the events name: $1 products, $2 producers, $3
 * certificates, $4 cooperatives, $5 territories (arrays). */
static const char reload_sql[] =
    PRODUCT_COLUMNS "coalesce((SELECT " OVOP_AGG OVOP_FROM
                    "WHERE c.product_id = o.id AND c.producer_id = o.producer_id), '') AS ovop, "
                    "coalesce((SELECT " COOPS_AGG COOPS_FROM
                    "AND m.producer_id = o.producer_id), '') AS coops " PRODUCT_JOINS
                    "WHERE o.id = ANY ($1::bigint[]) OR o.producer_id = ANY ($2::bigint[]) "
                    "OR o.producer_id IN (SELECT producer_id FROM registry_api.certificates "
                    "                     WHERE number = ANY ($3::text[])) "
                    "OR o.producer_id IN (SELECT producer_id FROM registry_api.cooperative_members "
                    "                     WHERE cooperative_id = ANY ($4::bigint[])) "
                    "OR pr.territory_code = ANY ($5::text[])";

static const char places_sql[] =
    "SELECT code, lat, lon, coalesce(nullif(name_en, ''), name_ru) AS name "
    "FROM registry_api.territory_points WHERE valid_to IS NULL AND lat IS NOT NULL";
static const char units_sql[] = "SELECT hs6, unit FROM registry_api.hs_code_units";
static const char cursor_sql[] = "SELECT last_seq FROM bus.sequencer";
static const char events_sql[] =
    "SELECT seq, type, subject FROM bus.events WHERE seq > $1::bigint ORDER BY seq LIMIT 5000";

static void place_free(void *p)
{
    place_t *pl = p;
    free(pl->name);
    free(pl);
}

static void apply_places(mx_index_t *x, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t k = code_key(ovop_pg_value(res, i, "code"));
        place_t *old = imap_get(&x->places, k);
        if (old)
            place_free(old);
        place_t *pl = xcalloc(1, sizeof(*pl));
        pl->lat = strtod(ovop_pg_value(res, i, "lat"), NULL);
        pl->lon = strtod(ovop_pg_value(res, i, "lon"), NULL);
        pl->name = xstrdup(ovop_pg_value(res, i, "name"));
        imap_put(&x->places, k, pl);
    }
}

static void arm(mx_index_t *x, unsigned ms);
static void refresh(mx_index_t *x);

static void on_saved(PGresult *res, const char *error, void *userdata)
{
    if (error)
        log_warn("index: could not save its event-log cursor: %s", error);
}

/* Writes the cursor to matching.cursors ("index:<instance>") when it moved, at most once a
 * second: the instance's position in the event log, for whoever watches its lag. */
static void save_cursor(mx_index_t *x)
{
    int64_t now = ovop_mono_us();
    if (x->cursor == x->saved || now - x->saved_us < 1000000)
        return;
    char seq[24];
    snprintf(seq, sizeof(seq), "%lld", (long long)x->cursor);
    const char *params[2] = {x->instance, seq};
    ovop_pg_query(x->pg, "SELECT matching.save_index_cursor($1, $2::bigint)", 2, params, on_saved,
                  NULL);
    x->saved = x->cursor;
    x->saved_us = now;
}

static void on_load(PGresult *res, const char *error, void *userdata)
{
    mx_index_t *x = userdata;
    x->busy = false;
    if (x->stopped)
        return;
    if (error) {
        log_warn("index: could not load step %d: %s; trying again", x->step, error);
        x->rpg = x->pg; /* the primary is never behind what the earlier steps read */
        arm(x, 1000);
        return;
    }
    if (x->step == 0) {
        x->cursor = strtoll(ovop_pg_value(res, 0, "last_seq"), NULL, 10);
    } else if (x->step == 1) {
        for (int i = 0; i < PQntuples(res); i++)
            imap_put(&x->units, code_key(ovop_pg_value(res, i, "hs6")) + 1,
                     xstrdup(ovop_pg_value(res, i, "unit")));
    } else if (x->step == 2) {
        apply_places(x, res);
    } else {
        for (int i = 0; i < PQntuples(res); i++)
            apply_product_row(x, res, i);
        x->ready = true;
        x->build_us = ovop_mono_us() - x->started_us;
        ovop_metric_set(x->m_products, (double)x->products.n);
        log_info("index: %zu products of %zu HS codes, %zu places, loaded in %.3f s (cursor %lld)",
                 x->products.n, x->buckets.n, x->places.n, (double)x->build_us / 1e6,
                 (long long)x->cursor);
        save_cursor(x);
        arm(x, x->refresh_ms);
        return;
    }
    x->step++;
    refresh(x);
}

/* Event subjects "kind/key" gathered into the arrays of reload_sql. */
typedef struct affected {
    ovop_buf_t a[5];
    bool places;
} affected_t;

static void add_key(ovop_buf_t *b, const char *key)
{
    ovop_buf_puts(b, b->len ? "," : "{");
    ovop_buf_printf(b, "\"%s\"", key);
}

static bool gather(affected_t *af, const PGresult *res)
{
    static const char *const kinds[5] = {"product/", "producer/", "certificate/", "cooperative/",
                                         "territory/"};
    bool any = false;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *type = ovop_pg_value(res, i, "type");
        const char *subject = ovop_pg_value(res, i, "subject");
        if (strncmp(type, "ovop.registry.", 14) != 0)
            continue;
        for (int k = 0; k < 5; k++) {
            size_t n = strlen(kinds[k]);
            const char *key = subject + n;
            if (strncmp(subject, kinds[k], n) != 0 || !*key || strchr(key, '"') ||
                strchr(key, '\\'))
                continue;
            add_key(&af->a[k], key);
            af->places |= k == 4;
            any = true;
        }
    }
    return any;
}

typedef struct reload {
    mx_index_t *x;
    int64_t last;
    bool places;
} reload_t;

static void on_reloaded(PGresult *res, const char *error, void *userdata);

static void on_places_reloaded(PGresult *res, const char *error, void *userdata)
{
    reload_t *r = userdata;
    mx_index_t *x = r->x;
    if (!error && !x->stopped)
        apply_places(x, res);
    on_reloaded(NULL, error, r);
}

/* The index's distance behind the event log: 0 when a read found nothing new, else the head
 * (read every 5 s by the sequencer) minus the cursor. */
static void note_lag(mx_index_t *x, bool caught_up)
{
    double head = ovop_metric_value(x->m_head);
    double lag = caught_up || head <= (double)x->cursor ? 0 : head - (double)x->cursor;
    ovop_metric_set(x->m_lag, lag);
}

static void on_reloaded(PGresult *res, const char *error, void *userdata)
{
    reload_t *r = userdata;
    mx_index_t *x = r->x;
    x->busy = false;
    if (x->stopped) {
        free(r);
        return;
    }
    if (error) {
        log_warn("index: could not reload after events up to %lld: %s", (long long)r->last, error);
        free(r);
        arm(x, x->refresh_ms * 4);
        return;
    }
    if (res)
        for (int i = 0; i < PQntuples(res); i++)
            apply_product_row(x, res, i);
    if (r->places) { /* the places after the products: one more statement */
        r->places = false;
        x->busy = true;
        ovop_pg_query(x->rpg, places_sql, 0, NULL, on_places_reloaded, r);
        return;
    }
    x->cursor = r->last;
    save_cursor(x);
    ovop_metric_set(x->m_cursor, (double)x->cursor);
    ovop_metric_set(x->m_products, (double)x->products.n);
    ovop_metric_inc(x->m_refreshes);
    note_lag(x, false);
    free(r);
    arm(x, 1); /* more events may wait */
}

static void on_events(PGresult *res, const char *error, void *userdata)
{
    mx_index_t *x = userdata;
    x->busy = false;
    if (x->stopped)
        return;
    if (error || PQntuples(res) == 0) {
        if (error)
            log_warn("index: could not read the event log: %s", error);
        else
            save_cursor(x); /* a position saved less than a second ago, when quiet */
        note_lag(x, !error);
        arm(x, x->refresh_ms);
        return;
    }
    int64_t last = strtoll(ovop_pg_value(res, PQntuples(res) - 1, "seq"), NULL, 10);
    affected_t af = {0};
    for (int k = 0; k < 5; k++)
        ovop_buf_init(&af.a[k]);
    if (!gather(&af, res)) {
        x->cursor = last;
        save_cursor(x);
        ovop_metric_set(x->m_cursor, (double)x->cursor);
        note_lag(x, false);
        arm(x, 1);
        return;
    }
    const char *params[5];
    for (int k = 0; k < 5; k++) {
        ovop_buf_puts(&af.a[k], af.a[k].len ? "}" : "{}");
        params[k] = af.a[k].data;
    }
    reload_t *r = xcalloc(1, sizeof(*r));
    *r = (reload_t){x, last, af.places};
    x->busy = true;
    ovop_pg_query(x->rpg, reload_sql, 5, params, on_reloaded, r);
    for (int k = 0; k < 5; k++)
        ovop_buf_free(&af.a[k]);
}

static void refresh(mx_index_t *x)
{
    if (x->busy || x->stopped)
        return;
    x->busy = true;
    /* The reads of one chain (the load's steps; events then the rows they name) go to one
     * database, chosen at its start: a replica read after the primary could be behind the
     * cursor already taken and miss changes. Switching to the primary is always safe. */
    if (x->ready || x->step == 0)
        x->rpg = x->route ? x->route(x->route_ctx) : x->pg;
    if (!x->ready) {
        static const char *const steps[4] = {cursor_sql, units_sql, places_sql, load_sql};
        ovop_pg_query(x->rpg, steps[x->step], 0, NULL, on_load, x);
        return;
    }
    char cur[24];
    snprintf(cur, sizeof(cur), "%lld", (long long)x->cursor);
    const char *params[1] = {cur};
    ovop_pg_query(x->rpg, events_sql, 1, params, on_events, x);
}

static void on_timer(uv_timer_t *t)
{
    refresh(t->data);
}

static void arm(mx_index_t *x, unsigned ms)
{
    if (!x->stopped)
        uv_timer_start(&x->timer, on_timer, ms, 0);
}

int mx_index_new(mx_index_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned refresh_ms,
                 const char *instance, ovop_metrics_t *metrics)
{
    mx_index_t *x = xcalloc(1, sizeof(*x));
    x->instance = xstrdup(instance);
    x->loop = loop;
    x->pg = x->rpg = pg;
    x->refresh_ms = refresh_ms;
    x->started_us = ovop_mono_us();
    uv_timer_init(loop, &x->timer);
    x->timer.data = x;
    if (metrics) {
        x->m_products = ovop_metrics_gauge(metrics, "ovop_matching_index_products",
                                           "products in matchd's in-memory index", NULL);
        x->m_cursor = ovop_metrics_gauge(metrics, "ovop_matching_index_cursor",
                                         "last event-log sequence the index applied", NULL);
        x->m_refreshes = ovop_metrics_counter(metrics, "ovop_matching_index_refreshes_total",
                                              "reloads of products named by registry events", NULL);
        x->m_head =
            ovop_metrics_gauge(metrics, "ovop_event_log_head",
                               "Highest sequence number of the event log (read every 5 s)", NULL);
        x->m_lag = ovop_metrics_gauge(metrics, "ovop_consumer_lag_events",
                                      "Events of the log a consumer has yet to apply",
                                      "consumer=\"matching:index\"");
    }
    arm(x, 0);
    *ret = x;
    return 0;
}

void mx_index_stop(mx_index_t *x)
{
    x->stopped = true;
    uv_close((uv_handle_t *)&x->timer, NULL);
}

/* After the loop ended: queries still out when the daemon stopped got their error callbacks
 * from the pool's destruction, found `stopped` and touched nothing but the flags. */
void mx_index_free(mx_index_t *x)
{
    if (!x)
        return;
    imap_free(&x->products, product_free);
    for (size_t i = 0; i < x->buckets.cap; i++)
        if (x->buckets.keys[i])
            free(((bucket_t *)x->buckets.vals[i])->items);
    imap_free(&x->buckets, free);
    imap_free(&x->units, free);
    imap_free(&x->places, place_free);
    free(x->instance);
    free(x);
}

mx_stats_t mx_index_stats(const mx_index_t *x)
{
    return (mx_stats_t){x->products.n, x->units.n, x->places.n, x->build_us, x->cursor, x->ready};
}

mx_product_t *const *mx_index_hs(const mx_index_t *x, const char *hs6, size_t *ret_n)
{
    bucket_t *b = bucket_of((mx_index_t *)x, hs6, false);
    *ret_n = b ? b->n : 0;
    return b ? b->items : NULL;
}

const char *mx_index_hs_unit(const mx_index_t *x, const char *hs6)
{
    return imap_get(&x->units, code_key(hs6) + 1);
}

bool mx_index_place(const mx_index_t *x, const char *code, double *lat, double *lon,
                    const char **name)
{
    const place_t *p = imap_get(&x->places, code_key(code));
    if (!p)
        return false;
    *lat = p->lat;
    *lon = p->lon;
    *name = p->name;
    return true;
}

void mx_index_read_from(mx_index_t *x, ovop_pg_t *(*route)(void *ctx), void *ctx)
{
    x->route = route;
    x->route_ctx = ctx;
}
