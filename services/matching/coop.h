/* Cooperative proposals: group nearby producers of one product into disjoint proposed
 * cooperatives whose combined capacity reaches an export lot. Pure: no I/O. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct coop_point {
    int64_t producer_id;
    double lat, lon, capacity;
} coop_point_t;

typedef struct coop_params {
    double target;      /* lot to reach, e.g. 20000 (kg) */
    double max_km;      /* every member within max_km of the group's hub member */
    size_t max_members; /* 0 = no limit */
} coop_params_t;

typedef struct coop_group {
    size_t *members;
    size_t n; /* indexes into pts; members[0] is the hub */
    double capacity, max_km, mean_km;
} coop_group_t;

/* Groups points into disjoint proposed cooperatives each reaching target within max_km,
 * as many as possible, each as compact as possible. 0 (possibly zero groups). */
int coop_propose(const coop_point_t *pts, size_t n, const coop_params_t *p, coop_group_t **ret,
                 size_t *ret_n);

void coop_groups_free(coop_group_t *g, size_t n);
