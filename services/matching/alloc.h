/* Order allocation: fill an export order of quantity Q at a consolidation point D from
 * producers' free capacity, minimising
 *     sum_i rate*d_i*x_i + sum_{i used} coord * (1 - discount*[C in M_i])
 * with x_i <= cap_i, sum x_i = Q (or min(Q, sum cap) with partial fills) and at most one
 * preferred cooperative C. Pure: no I/O, no allocation beyond the solution's lines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct match_cand {
    int64_t producer_id, product_id;
    double lat, lon;
    double capacity; /* free capacity in the order's unit, > 0 */
    const int64_t *coops;
    size_t n_coops; /* cooperatives the producer is a member of */
} match_cand_t;

typedef struct match_problem {
    double quantity, dest_lat, dest_lon;
    double rate, coord_cost, coop_discount;
    bool allow_partial;
    const match_cand_t *cands;
    size_t n;
} match_problem_t;

typedef struct match_line {
    size_t cand; /* index into cands */
    double quantity, km, transport_cost, coord_cost;
} match_line_t;

typedef struct match_solution {
    match_line_t *lines;
    size_t n_lines;
    double filled, total_cost;
    int64_t coop_id; /* the cooperative preferred, 0 none */
} match_solution_t;

/* Great-circle distance in km (haversine, R = 6371.0088). */
double match_km(double lat1, double lon1, double lat2, double lon2);

/* 0: filled; -ENOSPC: capacity short (with allow_partial the solution holds the best
 * partial fill of min(Q, sum cap); without it, the solution is empty); -EINVAL bad input. */
int match_solve(const match_problem_t *p, match_solution_t *out);

void match_solution_free(match_solution_t *s);
