/* matchd: export orders filled from village producers' free capacity (orders.c), the
 * in-memory index of what producers offer (index.c), the shipments of accepted orders made in
 * ovop.exports (ship.c) and cooperative proposals (coops.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "daemon.h"
#include "keys.h"
#include "mutation.h"
#include "ovop/v1/matching.pb-c.h"
#include "periodic.h"
#include "read.h"
#include "sequencer.h"

#define MATCHING_SERVICE "ovop.matching"
#define MATCHING_SOURCE  "/ovop/matching"

/* --- the index (index.c) --- */

typedef struct mx_cert {
    int8_t stars;
    bool active;
    int32_t expires_day; /* days since 2000-01-01 */
} mx_cert_t;

/* One product of one producer, as allocation needs it. */
typedef struct mx_product {
    int64_t id, producer_id;
    char hs6[7];
    char territory[15];
    char status;     /* the producer's: 'a' active, 's' suspended, 'c' closed */
    bool located;    /* lat/lon known (the producer's or its territory's) */
    uint16_t season; /* bit m-1 for month m; 0: all year */
    /* unit when it has 1 to 5 bytes, else "": MatchOrder compares it without following the
     * unit pointer (a cache miss per candidate); it fits in the padding before lat. */
    char unit_key[6];
    double lat, lon;
    double cap_month; /* capacity_per_month */
    int64_t price_cents;
    char *category, *unit, *name; /* name: the producer's legal name */
    char *certs;                  /* ",organic,halal," */
    mx_cert_t *ovop;
    size_t n_ovop;
    int64_t *coops;
    size_t n_coops;
    size_t slot; /* position in its HS bucket */
} mx_product_t;

typedef struct mx_index mx_index_t;

/* Statistics of the index, for /metrics and the benchmark. */
typedef struct mx_stats {
    size_t products, hs_codes, territories;
    int64_t build_us; /* the start's load */
    int64_t cursor;   /* last registry event applied */
    bool ready;
} mx_stats_t;

/* instance: the daemon's name, under which the cursor is saved ("index:<instance>" in
 * matching.cursors). */
int mx_index_new(mx_index_t **ret, uv_loop_t *loop, ovop_pg_t *pg, unsigned refresh_ms,
                 const char *instance, ovop_metrics_t *metrics);
/* Sends the index's reads (load, events, reloads) where route(ctx) says at the start of each
 * chain of them, e.g. ovop_daemon_pg_read; without it, to pg. */
void mx_index_read_from(mx_index_t *x, ovop_pg_t *(*route)(void *ctx), void *ctx);
void mx_index_stop(mx_index_t *x);
void mx_index_free(mx_index_t *x);
mx_stats_t mx_index_stats(const mx_index_t *x);
/* The products of an HS code (NULL and 0 when none); valid until the loop turns. */
mx_product_t *const *mx_index_hs(const mx_index_t *x, const char *hs6, size_t *ret_n);
/* The unit of an HS code, NULL when the registry has no such code. */
const char *mx_index_hs_unit(const mx_index_t *x, const char *hs6);
/* The coordinates and English name of a current territory; false when unknown or it has no
 * coordinates. */
bool mx_index_place(const mx_index_t *x, const char *code, double *lat, double *lon,
                    const char **name);
/* How many times each calendar month (0..11) occurs in the window [from, to] (YYYY-MM-DD),
 * and a product's capacity there: capacity_per_month x the occurrences of its season's
 * months (every month when it names no season). */
void mx_window_months(const char *from, const char *to, int counts[12]);
double mx_window_capacity(const mx_product_t *p, const int counts[12]);
/* Days since 2000-01-01 of a YYYY-MM-DD date. */
int32_t mx_day(const char *date);

/* --- the service --- */

typedef struct matchd {
    ovop_daemon_t *d;
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer;
    ovop_mutator_t mutator;
    mx_index_t *index;
    double rate_cents;      /* transport, cents per unit-km */
    double coord_cents;     /* coordination, cents per producer */
    double coop_discount;   /* 0..1 */
    int64_t valid_seconds;  /* how long a proposal may be accepted */
    unsigned match_retries; /* recomputations after CAPACITY_TAKEN */
    ovop_periodic_t *expiry, *follower;
    /* shipments (ship.c) */
    unsigned ship_ms;
    uv_timer_t ship_timer;
    bool ship_busy, ship_again, ship_stopped;
    const ovop_security_t *security;
    const char *brokers;
    unsigned ship_timeout_ms;
    /* MatchOrder's per-candidate arrays (match.c), reused by every order: thousands of
     * candidates per HS code would otherwise cost fresh zeroed pages on each order. */
    struct match_scratch *scratch;
} matchd_t;

void matchd_orders_register(matchd_t *m);
void matchd_coops_register(matchd_t *m);
void matchd_ship_start(matchd_t *m);
void matchd_ship_kick(matchd_t *m);
void matchd_ship_stop(matchd_t *m);
void matchd_match_free(matchd_t *m);

/* The request id under which the shipment of order `id` is created: the same on every retry
 * and every instance, so ovop.exports makes it once. */
#define MATCHING_SHIPMENT_RID "matching-order-%lld-shipment"

/* An Order's columns, named as its fields (pbrow.h), of matching.orders o. */
#define ORDER_COLUMNS                                                                              \
    "o.id, json_build_object('name', o.buyer_name, 'country', o.buyer_country, "                   \
    "  'address', o.buyer_address) AS buyer, o.destination, o.hs6 AS hs_code, o.category, "        \
    "o.quantity::float8 AS quantity, o.unit, o.min_stars, to_json(o.certifications) AS "           \
    "certifications, o.window_from::text AS window_from, o.window_to::text AS window_to, "         \
    "json_build_object('territory_code', o.cons_territory, 'lat', o.cons_lat, 'lon', o.cons_lon, " \
    "  'name', o.cons_name) AS consolidation, o.price_ceiling_cents, o.allow_partial, o.status, "  \
    "o.version, o.filled::float8 AS filled, o.total_cost_cents, o.cooperative_id, "                \
    "coalesce((SELECT json_agg(json_build_object('producer_id', r.producer_id, 'product_id', "     \
    "  r.product_id, 'quantity', r.quantity::float8, 'km', r.km, 'transport_cost_cents', "         \
    "  r.transport_cost_cents, 'coordination_cost_cents', r.coordination_cost_cents, "             \
    "  'territory_code', r.territory_code, 'producer_name', r.producer_name, "                     \
    "  'unit_price_cents', r.unit_price_cents) ORDER BY r.ord) "                                   \
    "  FROM matching.reservations r WHERE r.order_id = o.id), '[]') AS lines, o.shortfalls, "      \
    "coalesce(o.shipment_id, 0) AS shipment_id, o.created_by, "                                    \
    "(extract(epoch FROM o.created_at) * 1000000)::bigint AS created_us, "                         \
    "coalesce((extract(epoch FROM o.proposed_at) * 1000000)::bigint, 0) AS proposed_us, "          \
    "coalesce((extract(epoch FROM o.expires_at) * 1000000)::bigint, 0) AS expires_us, "            \
    "o.accepted_by, o.status_reason"

/* Shared by orders.c and match.c: the mutation convention
 * (mutation.h) whose CAPACITY_TAKEN refusal calls on_taken(ctx) instead of finishing. */
void matchd_mutate(ovop_call_t *call, matchd_t *m, const char *function, const ovop_arg_t *args,
                   size_t n_args, const ProtobufCMessage *output, void (*on_taken)(void *),
                   void *ctx);
