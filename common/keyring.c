#include "keyring.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "ovop/v1/envelope.pb-c.h"
#include "util.h"

#define GENERATION_SQL "SELECT generation FROM iam.state"
#define KEYRING_SQL                                                                                \
    "SELECT public_key, id, kind, display_name, array_to_string(roles, ' ') AS roles, "            \
    "territory, agency, expires_us FROM iam.keyring"

typedef struct slot {
    char key[OVOP_KEY_LEN + 1]; /* "" when empty */
    int64_t expires_us;         /* wall clock; 0: none */
    ovop_principal_t *p;
} slot_t;

typedef struct ring {
    slot_t *slots;
    size_t cap; /* a power of two, at least twice the keys */
    size_t n_keys;
    ovop_principal_t **principals;
    size_t n_principals;
} ring_t;

struct ovop_keyring {
    uv_loop_t *loop;
    ovop_pg_t *pg;
    uv_timer_t timer;
    unsigned refresh_ms;
    bool plaintext;
    ovop_principal_t *plain; /* the plaintext principal, when allowed */
    ring_t ring;
    ring_t old; /* the ring before the last reload, freed at the next */
    int64_t generation;
    bool loaded;
    bool busy;    /* a query is out */
    bool closing; /* destroyed; freed once no query is out and the timer closed */
    bool timer_closed;
    ovop_keyring_changed_fn changed;
    void *changed_ud;
    ovop_metric_t *m_reloads;
    ovop_metric_t *m_errors;
    ovop_metric_t *m_keys;
};

static void encode_principal(ovop_principal_t *p)
{
    Ovop__V1__Principal m = OVOP__V1__PRINCIPAL__INIT;
    m.id = p->id;
    m.kind = p->kind;
    m.roles = p->roles;
    m.n_roles = p->n_roles;
    m.territory = p->territory;
    m.agency = p->agency;
    m.display_name = p->display_name;
    p->encoded_len = ovop__v1__principal__get_packed_size(&m);
    p->encoded = xmalloc(p->encoded_len ? p->encoded_len : 1);
    ovop__v1__principal__pack(&m, p->encoded);
}

static ovop_principal_t *principal_new(const char *id, const char *kind, const char *name,
                                       const char *roles, const char *territory, const char *agency)
{
    ovop_principal_t *p = xcalloc(1, sizeof(*p));
    p->id = xstrdup(id);
    p->kind = xstrdup(kind);
    p->display_name = xstrdup(name);
    p->territory = xstrdup(territory);
    p->agency = xstrdup(agency);
    char *copy = xstrdup(roles), *save = NULL;
    for (char *r = strtok_r(copy, " ", &save); r; r = strtok_r(NULL, " ", &save)) {
        p->roles = xrealloc(p->roles, (p->n_roles + 1) * sizeof(char *));
        p->roles[p->n_roles++] = xstrdup(r);
    }
    free(copy);
    encode_principal(p);
    return p;
}

static void principal_free(ovop_principal_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_roles; i++)
        free(p->roles[i]);
    free(p->roles);
    free(p->id);
    free(p->kind);
    free(p->display_name);
    free(p->territory);
    free(p->agency);
    free(p->encoded);
    free(p);
}

static void ring_free(ring_t *r)
{
    for (size_t i = 0; i < r->n_principals; i++)
        principal_free(r->principals[i]);
    free(r->principals);
    free(r->slots);
    memset(r, 0, sizeof(*r));
}

static size_t hash_key(const char *k)
{
    return (size_t)ovop_fnv1a(OVOP_FNV_INIT, k, strlen(k));
}

static slot_t *ring_slot(const ring_t *r, const char *key)
{
    if (!r->cap)
        return NULL;
    for (size_t i = hash_key(key) & (r->cap - 1);; i = (i + 1) & (r->cap - 1)) {
        slot_t *s = &r->slots[i];
        if (!s->key[0] || strcmp(s->key, key) == 0)
            return s;
    }
}

bool ovop_principal_has_role(const ovop_principal_t *p, const char *role)
{
    for (size_t i = 0; i < p->n_roles; i++)
        if (strcmp(p->roles[i], role) == 0 || strcmp(p->roles[i], OVOP_ROLE_ANY) == 0)
            return true;
    return false;
}

const ovop_principal_t *ovop_keyring_find(const ovop_keyring_t *kr, const char *user_id)
{
    if (!user_id)
        return NULL;
    if (strcmp(user_id, OVOP_PLAINTEXT_USER) == 0)
        return kr->plain;
    if (!kr->loaded || strlen(user_id) != OVOP_KEY_LEN)
        return NULL;
    const slot_t *s = ring_slot(&kr->ring, user_id);
    if (!s || !s->key[0])
        return NULL;
    if (s->expires_us && ovop_now_us() >= s->expires_us)
        return NULL;
    return s->p;
}

size_t ovop_keyring_size(const ovop_keyring_t *kr)
{
    return kr->ring.n_keys;
}

bool ovop_keyring_loaded(const ovop_keyring_t *kr)
{
    return kr->loaded;
}

/* The principal of row i: the previous row's when the id repeats (rows of one principal's
 * keys come together: the query orders by id). */
static void build(ring_t *r, PGresult *res)
{
    int n = PQntuples(res);
    r->cap = 16;
    while (r->cap < (size_t)n * 2)
        r->cap *= 2;
    r->slots = xcalloc(r->cap, sizeof(slot_t));
    r->principals = xcalloc((size_t)n + 1, sizeof(ovop_principal_t *));
    ovop_principal_t *last = NULL;
    for (int i = 0; i < n; i++) {
        const char *key = ovop_pg_value(res, i, "public_key");
        const char *id = ovop_pg_value(res, i, "id");
        if (!ovop_key_valid(key))
            continue; /* the table's CHECK makes this impossible; never trust it blindly */
        if (!last || strcmp(last->id, id) != 0) {
            last =
                principal_new(id, ovop_pg_value(res, i, "kind"),
                              ovop_pg_value(res, i, "display_name"), ovop_pg_value(res, i, "roles"),
                              ovop_pg_value(res, i, "territory"), ovop_pg_value(res, i, "agency"));
            r->principals[r->n_principals++] = last;
        }
        slot_t *s = ring_slot(r, key);
        if (s->key[0])
            continue;
        memcpy(s->key, key, OVOP_KEY_LEN + 1);
        s->expires_us = strtoll(ovop_pg_value(res, i, "expires_us"), NULL, 10);
        s->p = last;
        r->n_keys++;
    }
}

static void maybe_free(ovop_keyring_t *kr)
{
    if (kr->closing && !kr->busy && kr->timer_closed) {
        ring_free(&kr->ring);
        ring_free(&kr->old);
        principal_free(kr->plain);
        free(kr);
    }
}

static void finish_query(ovop_keyring_t *kr)
{
    kr->busy = false;
    maybe_free(kr);
}

static void on_keys(PGresult *res, const char *error, void *userdata)
{
    ovop_keyring_t *kr = userdata;
    if (kr->closing) {
        finish_query(kr);
        return;
    }
    if (error) {
        ovop_metric_inc(kr->m_errors);
        log_warn("could not load the keyring: %s; %s", error,
                 kr->loaded ? "keeping the keys loaded before" : "every connection is refused");
        kr->generation = -1; /* read again at the next tick */
        finish_query(kr);
        return;
    }
    ring_free(&kr->old);
    kr->old = kr->ring;
    memset(&kr->ring, 0, sizeof(kr->ring));
    build(&kr->ring, res);
    if (!kr->loaded)
        log_info("keyring loaded: %zu keys of %zu principals", kr->ring.n_keys,
                 kr->ring.n_principals);
    else
        log_info("keyring reloaded (generation %lld): %zu keys of %zu principals",
                 (long long)kr->generation, kr->ring.n_keys, kr->ring.n_principals);
    kr->loaded = true;
    ovop_metric_inc(kr->m_reloads);
    ovop_metric_set(kr->m_keys, (double)kr->ring.n_keys);
    finish_query(kr);
    if (kr->changed)
        kr->changed(kr->changed_ud);
}

static void on_generation(PGresult *res, const char *error, void *userdata)
{
    ovop_keyring_t *kr = userdata;
    if (kr->closing) {
        finish_query(kr);
        return;
    }
    if (error || PQntuples(res) != 1) {
        ovop_metric_inc(kr->m_errors);
        if (kr->loaded)
            log_debug("could not read iam.state: %s", error ? error : "no row");
        else
            log_warn("could not read iam.state: %s; every connection is refused until the "
                     "keyring loads",
                     error ? error : "no row");
        finish_query(kr);
        return;
    }
    int64_t g = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (kr->loaded && g == kr->generation) {
        finish_query(kr);
        return;
    }
    kr->generation = g;
    ovop_pg_query(kr->pg, KEYRING_SQL " ORDER BY id, public_key", 0, NULL, on_keys, kr);
}

void ovop_keyring_refresh(ovop_keyring_t *kr)
{
    if (!kr->pg || kr->busy || kr->closing)
        return;
    kr->busy = true;
    ovop_pg_query(kr->pg, GENERATION_SQL, 0, NULL, on_generation, kr);
}

static void on_tick(uv_timer_t *t)
{
    ovop_keyring_refresh(t->data);
}

ovop_keyring_t *ovop_keyring_new(uv_loop_t *loop, ovop_pg_t *pg, unsigned refresh_ms,
                                 bool plaintext, ovop_metrics_t *metrics)
{
    ovop_keyring_t *kr = xcalloc(1, sizeof(*kr));
    kr->loop = loop;
    kr->pg = pg;
    kr->refresh_ms = refresh_ms ? refresh_ms : 1000;
    kr->plaintext = plaintext;
    kr->generation = -1;
    if (plaintext)
        kr->plain =
            principal_new(OVOP_PLAINTEXT_PRINCIPAL, "operator",
                          "local development (plaintext, loopback only)", OVOP_ROLE_ANY, "", "");
    kr->m_reloads = ovop_metrics_counter(metrics, "ovop_keyring_reloads_total",
                                         "Keyring loads from iam.keyring", NULL);
    kr->m_errors = ovop_metrics_counter(metrics, "ovop_keyring_errors_total",
                                        "Keyring refreshes that failed (the old keys stay)", NULL);
    kr->m_keys = ovop_metrics_gauge(metrics, "ovop_keyring_keys", "Public keys loaded", NULL);
    uv_timer_init(loop, &kr->timer);
    kr->timer.data = kr;
    if (!pg) {
        kr->loaded = true;
        return kr;
    }
    uv_timer_start(&kr->timer, on_tick, 0, kr->refresh_ms);
    return kr;
}

void ovop_keyring_on_change(ovop_keyring_t *kr, ovop_keyring_changed_fn fn, void *userdata)
{
    kr->changed = fn;
    kr->changed_ud = userdata;
}

static void on_timer_closed(uv_handle_t *h)
{
    ovop_keyring_t *kr = h->data;
    kr->timer_closed = true;
    maybe_free(kr);
}

void ovop_keyring_destroy(ovop_keyring_t **krp)
{
    ovop_keyring_t *kr = *krp;
    if (!kr)
        return;
    *krp = NULL;
    kr->closing = true;
    uv_timer_stop(&kr->timer);
    uv_close((uv_handle_t *)&kr->timer, on_timer_closed);
}
