/* Cooperative proposals (see coop.h).
 *
 * Every point is a possible hub. A hub's group is its nearest free neighbours (within max_km,
 * the hub first) taken until their capacity reaches the target; its radius is the farthest
 * member's distance. When max_members cuts that short, the group is instead the hub and its
 * largest neighbours within max_km. Repeatedly the hub with the smallest radius (then the
 * lowest index) is accepted and its members leave the pool. Taking members away never
 * shrinks another hub's radius, so radii computed earlier are lower bounds: the hubs near the
 * members taken are marked stale, and a stale hub at the front is recomputed before it can
 * be accepted. Neighbours are found in a window of
 * points sorted by latitude (a latitude difference bounds the great-circle distance). */
#include "coop.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define KM_PER_DEG (6371.0088 * M_PI / 180.0)

typedef struct near {
    double km, cap;
    size_t idx;
} near_t;

typedef struct pool {
    const coop_point_t *pts;
    size_t n;
    const coop_params_t *p;
    size_t *by_lat; /* point indexes by latitude */
    bool *taken;
    near_t *near;    /* scratch: a hub's neighbours */
    double *cos_lat; /* per point */
} pool_t;

/* match_km with the cosines of the latitudes computed once per point. */
static double km_between(const pool_t *pl, size_t a, size_t b)
{
    const double rad = M_PI / 180.0;
    const coop_point_t *p = &pl->pts[a], *q = &pl->pts[b];
    double sa = sin((q->lat - p->lat) * rad / 2), so = sin((q->lon - p->lon) * rad / 2);
    double h = sa * sa + pl->cos_lat[a] * pl->cos_lat[b] * so * so;
    return 2.0 * 6371.0088 * asin(fmin(1.0, sqrt(h)));
}

/* Whether b is certainly farther than r km from a by longitude alone: haversine's
 * hav(d) >= cos(lat_a) cos(lat_b) hav(dlon), and sin(x) >= 2x/pi below pi/2. */
static bool lon_beyond(const pool_t *pl, size_t a, size_t b, double r)
{
    double dlon = fabs(pl->pts[a].lon - pl->pts[b].lon) * M_PI / 180.0;
    if (dlon > M_PI)
        dlon = 2 * M_PI - dlon;
    double s = sin(fmin(r / (2.0 * 6371.0088), M_PI / 2));
    double lo = pl->cos_lat[a] * pl->cos_lat[b] * (dlon / M_PI) * (dlon / M_PI);
    return lo > s * s * (1 + 1e-9);
}

static int near_by_km(const void *a, const void *b)
{
    const near_t *x = a, *y = b;
    if (x->km != y->km)
        return x->km < y->km ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int near_by_cap(const void *a, const void *b)
{
    const near_t *x = a, *y = b;
    if (x->cap != y->cap)
        return x->cap > y->cap ? -1 : 1;
    return near_by_km(a, b);
}

static int by_lat(const void *a, const void *b, void *ctx)
{
    const coop_point_t *pts = ctx;
    double x = pts[*(const size_t *)a].lat, y = pts[*(const size_t *)b].lat;
    if (x != y)
        return x < y ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The first position in by_lat with latitude >= lat. */
static size_t lat_lower(const pool_t *pl, double lat)
{
    size_t lo = 0, hi = pl->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pl->pts[pl->by_lat[mid]].lat < lat)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Point i left the pool: the hubs whose group it could be in have stale radii now. A group
 * taken nearest first changes only if i was within its radius; one of largest neighbours
 * (with max_members) if i was within max_km. */
static void mark_stale(const pool_t *pl, size_t i, const double *radius, bool *fresh)
{
    const coop_point_t *c = &pl->pts[i];
    double dlat = pl->p->max_km / KM_PER_DEG;
    for (size_t j = lat_lower(pl, c->lat - dlat);
         j < pl->n && pl->pts[pl->by_lat[j]].lat <= c->lat + dlat; j++) {
        size_t h = pl->by_lat[j];
        const coop_point_t *q = &pl->pts[h];
        double reach = pl->p->max_members ? pl->p->max_km : radius[h] + 1e-9;
        if (!fresh[h] || fabs(q->lat - c->lat) * KM_PER_DEG > reach)
            continue; /* a latitude difference bounds the distance from below */
        if (!lon_beyond(pl, i, h, reach) && km_between(pl, i, h) <= reach)
            fresh[h] = false;
    }
}

/* The free neighbours of hub h within r km into pool->near, the hub first then by
 * distance; their number. */
static size_t neighbours(const pool_t *pl, size_t h, double r)
{
    const coop_point_t *c = &pl->pts[h];
    double dlat = r / KM_PER_DEG;
    size_t lo = lat_lower(pl, c->lat - dlat), k = 0;
    pl->near[k++] = (near_t){0.0, c->capacity, h};
    for (size_t j = lo; j < pl->n && pl->pts[pl->by_lat[j]].lat <= c->lat + dlat; j++) {
        size_t i = pl->by_lat[j];
        const coop_point_t *q = &pl->pts[i];
        if (i == h || pl->taken[i] || q->capacity <= 0)
            continue;
        if (lon_beyond(pl, h, i, r))
            continue;
        double km = km_between(pl, h, i);
        if (km <= r)
            pl->near[k++] = (near_t){km, q->capacity, i};
    }
    qsort(pl->near + 1, k - 1, sizeof(*pl->near), near_by_km);
    return k;
}

/* Hub h's group: its size (in pool->near[0..size)), 0 when it cannot reach the target. The
 * nearest neighbours are looked for within a radius doubled from hint (a lower bound of the
 * answer) up to max_km, as most groups are much tighter than max_km. */
static size_t hub_group(const pool_t *pl, size_t h, double hint, double *ret_radius)
{
    double r = fmax(hint, pl->p->max_km / 16), cap = 0, radius = 0;
    size_t k = 0, limit = 0;
    for (bool last = false; !last; r *= 2) {
        last = r >= pl->p->max_km;
        k = neighbours(pl, h, last ? pl->p->max_km : r);
        limit = pl->p->max_members ? pl->p->max_members : k;
        cap = radius = 0;
        for (size_t j = 0; j < k && j < limit; j++) {
            cap += pl->near[j].cap;
            radius = fmax(radius, pl->near[j].km);
            if (cap >= pl->p->target) {
                *ret_radius = radius;
                return j + 1;
            }
        }
        if (k > limit)
            break; /* too many members nearest first, whatever the radius */
    }
    if (k <= limit)
        return 0; /* short even with every neighbour */
    /* The largest neighbours within max_km instead. */
    k = neighbours(pl, h, pl->p->max_km);
    qsort(pl->near + 1, k - 1, sizeof(*pl->near), near_by_cap);
    cap = radius = 0;
    for (size_t j = 0; j < limit && j < k; j++) {
        cap += pl->near[j].cap;
        radius = fmax(radius, pl->near[j].km);
        if (cap >= pl->p->target) {
            qsort(pl->near + 1, j, sizeof(*pl->near), near_by_km);
            *ret_radius = radius;
            return j + 1;
        }
    }
    return 0;
}

/* Takes hub h's group (pool->near[0..size)) out of the pool as a proposal. */
static int accept_group(pool_t *pl, size_t size, double radius, coop_group_t *g)
{
    g->members = malloc(size * sizeof(*g->members));
    if (!g->members)
        return -ENOMEM;
    g->n = size;
    g->capacity = g->mean_km = 0;
    g->max_km = radius;
    for (size_t j = 0; j < size; j++) {
        g->members[j] = pl->near[j].idx;
        g->capacity += pl->near[j].cap;
        g->mean_km += pl->near[j].km;
        pl->taken[pl->near[j].idx] = true;
    }
    g->mean_km = size > 1 ? g->mean_km / (double)(size - 1) : 0.0; /* members but the hub */
    return 0;
}

static int validate(const coop_point_t *pts, size_t n, const coop_params_t *p)
{
    if (!p || (n && !pts) || !isfinite(p->target) || p->target <= 0 || !isfinite(p->max_km) ||
        p->max_km < 0)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(pts[i].lat) || !isfinite(pts[i].lon) || fabs(pts[i].lat) > 90.0 ||
            fabs(pts[i].lon) > 180.0 || !isfinite(pts[i].capacity) || pts[i].capacity < 0)
            return -EINVAL;
    return 0;
}

/* A binary min-heap of (radius, hub) entries; an entry whose radius is no longer the hub's is
 * outdated and skipped when it comes up. */
typedef struct heap {
    near_t *e; /* km: the radius, idx: the hub */
    size_t n, cap;
} heap_t;

static bool heap_less(const near_t *a, const near_t *b)
{
    return a->km < b->km || (a->km == b->km && a->idx < b->idx);
}

static int heap_push(heap_t *hp, double radius, size_t hub)
{
    if (hp->n == hp->cap) {
        size_t cap = hp->cap ? 2 * hp->cap : 64;
        near_t *e = realloc(hp->e, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        hp->e = e, hp->cap = cap;
    }
    size_t i = hp->n++;
    hp->e[i] = (near_t){radius, 0, hub};
    while (i > 0 && heap_less(&hp->e[i], &hp->e[(i - 1) / 2])) {
        near_t t = hp->e[i];
        hp->e[i] = hp->e[(i - 1) / 2];
        hp->e[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
    return 0;
}

static near_t heap_pop(heap_t *hp)
{
    near_t top = hp->e[0];
    hp->e[0] = hp->e[--hp->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < hp->n && heap_less(&hp->e[l], &hp->e[m]))
            m = l;
        if (l + 1 < hp->n && heap_less(&hp->e[l + 1], &hp->e[m]))
            m = l + 1;
        if (m == i)
            return top;
        near_t t = hp->e[i];
        hp->e[i] = hp->e[m];
        hp->e[m] = t;
        i = m;
    }
}

/* The rounds: the free hub with the smallest radius, recomputed if stale, accepted if not. */
static int propose(pool_t *pl, double *radius, bool *fresh, coop_group_t *groups, size_t *ng)
{
    heap_t hp = {0};
    int rc = 0;
    for (size_t h = 0; h < pl->n && rc == 0; h++)
        if (isfinite(radius[h]))
            rc = heap_push(&hp, radius[h], h);
    while (rc == 0 && hp.n) {
        near_t top = heap_pop(&hp);
        size_t h = top.idx;
        if (pl->taken[h] || top.km != radius[h])
            continue; /* outdated */
        double r = INFINITY;
        size_t size = hub_group(pl, h, radius[h], &r);
        if (!fresh[h]) {
            radius[h] = size ? r : INFINITY;
            fresh[h] = true;
            if (size)
                rc = heap_push(&hp, r, h);
            continue;
        }
        rc = accept_group(pl, size, r, &groups[(*ng)++]);
        for (size_t j = 0; rc == 0 && j < groups[*ng - 1].n; j++)
            mark_stale(pl, groups[*ng - 1].members[j], radius, fresh);
    }
    free(hp.e);
    return rc;
}

int coop_propose(const coop_point_t *pts, size_t n, const coop_params_t *p, coop_group_t **ret,
                 size_t *ret_n)
{
    if (!ret || !ret_n)
        return -EINVAL;
    *ret = NULL;
    *ret_n = 0;
    int rc = validate(pts, n, p);
    if (rc < 0 || n == 0)
        return rc;
    pool_t pl = {.pts = pts,
                 .n = n,
                 .p = p,
                 .by_lat = malloc(n * sizeof(size_t)),
                 .taken = calloc(n, sizeof(bool)),
                 .near = malloc(n * sizeof(near_t)),
                 .cos_lat = malloc(n * sizeof(double))};
    double *radius = malloc(n * sizeof(*radius));
    bool *fresh = calloc(n, sizeof(*fresh));
    coop_group_t *groups = calloc(n, sizeof(*groups));
    size_t ng = 0;
    rc = -ENOMEM;
    if (pl.by_lat && pl.taken && pl.near && pl.cos_lat && radius && fresh && groups) {
        for (size_t i = 0; i < n; i++) {
            pl.by_lat[i] = i;
            pl.cos_lat[i] = cos(pts[i].lat * M_PI / 180.0);
        }
        qsort_r(pl.by_lat, n, sizeof(size_t), by_lat, (void *)pts);
        for (size_t h = 0; h < n; h++)
            radius[h] = pts[h].capacity > 0 ? 0.0 : INFINITY; /* stale lower bounds */
        rc = propose(&pl, radius, fresh, groups, &ng);
    }
    if (rc == 0) {
        *ret = groups;
        *ret_n = ng;
    } else {
        coop_groups_free(groups, ng);
    }
    free(pl.by_lat);
    free(pl.taken);
    free(pl.near);
    free(pl.cos_lat);
    free(radius);
    free(fresh);
    return rc;
}

void coop_groups_free(coop_group_t *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++)
        free(g[i].members);
    free(g);
}
