/* Cooperative proposals (see coop.h).
 *
 * Every point is a possible hub. A hub's group is its nearest free neighbours (within max_km,
 * the hub first) taken until their capacity reaches the target; its radius is the farthest
 * member's distance. When max_members cuts that short, the group is instead the hub and its
 * largest neighbours within max_km. Repeatedly the hub with the smallest radius (then the
 * lowest index) is accepted and its members leave the pool. Taking members away never
 * shrinks another hub's radius, so radii computed earlier are lower bounds: only the hub at
 * the front is recomputed (lazily) before it is accepted. Neighbours are found in a window of
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
    near_t *near; /* scratch: a hub's neighbours */
} pool_t;

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

/* The free neighbours of hub h within max_km into pool->near, the hub first then by
 * distance; their number. */
static size_t neighbours(const pool_t *pl, size_t h)
{
    const coop_point_t *c = &pl->pts[h];
    double dlat = pl->p->max_km / KM_PER_DEG;
    size_t lo = 0, hi = pl->n, k = 0;
    while (lo < hi) { /* first point with lat >= c->lat - dlat */
        size_t mid = lo + (hi - lo) / 2;
        if (pl->pts[pl->by_lat[mid]].lat < c->lat - dlat)
            lo = mid + 1;
        else
            hi = mid;
    }
    pl->near[k++] = (near_t){0.0, c->capacity, h};
    for (size_t j = lo; j < pl->n && pl->pts[pl->by_lat[j]].lat <= c->lat + dlat; j++) {
        size_t i = pl->by_lat[j];
        const coop_point_t *q = &pl->pts[i];
        if (i == h || pl->taken[i] || q->capacity <= 0)
            continue;
        double km = match_km(c->lat, c->lon, q->lat, q->lon);
        if (km <= pl->p->max_km)
            pl->near[k++] = (near_t){km, q->capacity, i};
    }
    qsort(pl->near + 1, k - 1, sizeof(*pl->near), near_by_km);
    return k;
}

/* Hub h's group: its size (in pool->near[0..size)), 0 when it cannot reach the target. */
static size_t hub_group(const pool_t *pl, size_t h, double *ret_radius)
{
    size_t k = neighbours(pl, h), limit = pl->p->max_members ? pl->p->max_members : k;
    double cap = 0, radius = 0;
    for (size_t j = 0; j < k; j++) {
        cap += pl->near[j].cap;
        radius = fmax(radius, pl->near[j].km);
        if (cap >= pl->p->target && j + 1 <= limit) {
            *ret_radius = radius;
            return j + 1;
        }
        if (j + 1 == limit)
            break;
    }
    if (cap >= pl->p->target || k <= limit)
        return 0; /* short even with every neighbour */
    /* Too many members nearest first: the largest neighbours instead. */
    qsort(pl->near + 1, k - 1, sizeof(*pl->near), near_by_cap);
    cap = radius = 0;
    for (size_t j = 0; j < limit; j++) {
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

/* The rounds: the free hub with the smallest radius, recomputed if stale, accepted if not. */
static int propose(pool_t *pl, double *radius, bool *fresh, coop_group_t *groups, size_t *ng)
{
    for (;;) {
        size_t best = SIZE_MAX;
        for (size_t h = 0; h < pl->n; h++)
            if (!pl->taken[h] && isfinite(radius[h]) &&
                (best == SIZE_MAX || radius[h] < radius[best]))
                best = h;
        if (best == SIZE_MAX)
            return 0;
        double r = INFINITY;
        size_t size = hub_group(pl, best, &r);
        if (!fresh[best]) {
            radius[best] = size ? r : INFINITY;
            fresh[best] = true;
            continue;
        }
        int rc = accept_group(pl, size, r, &groups[(*ng)++]);
        if (rc < 0)
            return rc;
        for (size_t h = 0; h < pl->n; h++)
            fresh[h] = false; /* their radii are now lower bounds */
    }
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
    pool_t pl = {
        pts, n, p, malloc(n * sizeof(size_t)), calloc(n, sizeof(bool)), malloc(n * sizeof(near_t))};
    double *radius = malloc(n * sizeof(*radius));
    bool *fresh = calloc(n, sizeof(*fresh));
    coop_group_t *groups = calloc(n, sizeof(*groups));
    size_t ng = 0;
    rc = -ENOMEM;
    if (pl.by_lat && pl.taken && pl.near && radius && fresh && groups) {
        for (size_t i = 0; i < n; i++)
            pl.by_lat[i] = i;
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
