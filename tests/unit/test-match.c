/* Unit tests of the allocation solver and the cooperative proposals: instances whose optimum
 * is worked out by hand (producers on the destination's meridian, 0.1 degree = KM01 km
 * apart), capacity short with and without partial fills, a cooperative discount changing the
 * choice, refusals of bad input, small random instances against exhaustive enumeration, and
 * proposals within max_km reaching the target. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "coop.h"

/* This cmocka has no assert_double_equal. */
static void near_equal(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) {
        print_error("%.17g != %.17g (within %g)\n", a, b, eps);
        _fail(file, line);
    }
}
#define assert_double_equal(a, b, eps) near_equal((a), (b), (eps), __FILE__, __LINE__)

#define KM01 (6371.0088 * M_PI / 1800.0) /* 0.1 degree of latitude, ~11.12 km */
#define DLAT 42.0
#define DLON 75.0

static match_cand_t cand(int64_t id, double dlat_tenths, double cap)
{
    return (match_cand_t){id, 1, DLAT + dlat_tenths / 10.0, DLON, cap, NULL, 0};
}

static match_problem_t problem(double q, double coord, const match_cand_t *c, size_t n)
{
    return (match_problem_t){q, DLAT, DLON, 1.0, coord, 0.0, false, c, n};
}

/* The solution's lines as a bit set of candidates, checking each line's figures. */
static unsigned used(const match_problem_t *p, const match_solution_t *s)
{
    unsigned set = 0;
    double filled = 0, total = 0;
    for (size_t j = 0; j < s->n_lines; j++) {
        const match_line_t *l = &s->lines[j];
        assert_true(l->cand < p->n);
        assert_true(l->quantity > 0 && l->quantity <= p->cands[l->cand].capacity + 1e-9);
        assert_double_equal(l->transport_cost, p->rate * l->km * l->quantity, 1e-9);
        if (l->cand < 32) /* the bit set is for the small instances */
            set |= 1u << l->cand;
        filled += l->quantity;
        total += l->transport_cost + l->coord_cost;
    }
    assert_double_equal(filled, s->filled, 1e-9);
    assert_double_equal(total, s->total_cost, 1e-9);
    return set;
}

/* Q 12 from P0 (0 km, 10), P1 (KM01, 5), P2 (2 KM01, 20). Coordination 100: {P0, P1} costs
 * 200 + 2 KM01 = 222.2 against {P0, P2} 244.5 and {P2} 366.9. Coordination 1000: {P2} alone
 * (1000 + 24 KM01 = 1266.9 against 2022.2). */
static void test_hand_fixed_charge(void **state)
{
    match_cand_t c[] = {cand(1, 0, 10), cand(2, 1, 5), cand(3, 2, 20)};
    match_problem_t p = problem(12, 100, c, 3);
    match_solution_t s;
    assert_int_equal(match_solve(&p, &s), 0);
    assert_int_equal(used(&p, &s), 0x3);
    assert_double_equal(s.filled, 12, 1e-9);
    assert_double_equal(s.total_cost, 200 + 2 * KM01, 1e-6);
    assert_int_equal(s.lines[0].cand, 0); /* nearest first, full */
    assert_double_equal(s.lines[0].quantity, 10, 1e-9);
    assert_double_equal(s.lines[1].km, KM01, 1e-6);
    assert_double_equal(s.lines[1].quantity, 2, 1e-9);
    assert_int_equal(s.coop_id, 0);
    match_solution_free(&s);

    p.coord_cost = 1000;
    assert_int_equal(match_solve(&p, &s), 0);
    assert_int_equal(used(&p, &s), 0x4);
    assert_double_equal(s.total_cost, 1000 + 12 * 2 * KM01, 1e-6);
    match_solution_free(&s);
}

/* Q 10: P0 (3 KM01, 10) alone costs 300 + 30 KM01 = 633.6; P1 (KM01, 6) and P2 (2 KM01, 6),
 * both of cooperative 7, cost 600 + 14 KM01 = 755.7 without the discount but 60 + 14 KM01 =
 * 215.7 with 90% off their coordination: the discount changes the choice. */
static void test_hand_coop_discount(void **state)
{
    static const int64_t c7[] = {7}, c9[] = {9};
    match_cand_t c[] = {cand(1, 3, 10), cand(2, 1, 6), cand(3, 2, 6)};
    c[0].coops = c9, c[0].n_coops = 1;
    c[1].coops = c[2].coops = c7, c[1].n_coops = c[2].n_coops = 1;
    match_problem_t p = problem(10, 300, c, 3);
    match_solution_t s;
    assert_int_equal(match_solve(&p, &s), 0);
    assert_int_equal(used(&p, &s), 0x1);
    assert_double_equal(s.total_cost, 300 + 30 * KM01, 1e-6);
    assert_int_equal(s.coop_id, 0); /* no discount offered: no cooperative preferred */
    match_solution_free(&s);

    p.coop_discount = 0.9;
    assert_int_equal(match_solve(&p, &s), 0);
    assert_int_equal(used(&p, &s), 0x6);
    assert_int_equal(s.coop_id, 7);
    assert_double_equal(s.total_cost, 60 + 14 * KM01, 1e-6);
    assert_double_equal(s.lines[0].coord_cost, 30, 1e-9);
    match_solution_free(&s);
}

/* 22 offered for 100: refused without partial fills (empty solution), everything with. */
static void test_capacity_short(void **state)
{
    match_cand_t c[] = {cand(1, 0, 10), cand(2, 1, 5), cand(3, 2, 7)};
    match_problem_t p = problem(100, 100, c, 3);
    match_solution_t s;
    assert_int_equal(match_solve(&p, &s), -ENOSPC);
    assert_int_equal(s.n_lines, 0);
    assert_null(s.lines);
    assert_double_equal(s.filled, 0, 0);

    p.allow_partial = true;
    assert_int_equal(match_solve(&p, &s), -ENOSPC);
    assert_int_equal(used(&p, &s), 0x7);
    assert_double_equal(s.filled, 22, 1e-9);
    assert_double_equal(s.total_cost, 300 + 5 * KM01 + 14 * KM01, 1e-6);
    match_solution_free(&s);

    p.n = 0; /* nobody at all */
    assert_int_equal(match_solve(&p, &s), -ENOSPC);
    assert_int_equal(s.n_lines, 0);
    match_solution_free(&s);
}

static void test_bad_input(void **state)
{
    static const int64_t zero[] = {0};
    match_cand_t c[] = {cand(1, 0, 10), cand(2, 1, 5)};
    match_problem_t good = problem(12, 100, c, 2), p;
    match_solution_t s;
    assert_int_equal(match_solve(&good, &s), 0);
    match_solution_free(&s);
#define REFUSED(stmt)                                                                              \
    do {                                                                                           \
        p = good;                                                                                  \
        stmt;                                                                                      \
        assert_int_equal(match_solve(&p, &s), -EINVAL);                                            \
        assert_int_equal(s.n_lines, 0);                                                            \
        c[0] = cand(1, 0, 10), c[1] = cand(2, 1, 5);                                               \
    } while (0)
    REFUSED(p.quantity = NAN);
    REFUSED(p.quantity = -1);
    REFUSED(p.quantity = 0);
    REFUSED(p.quantity = INFINITY);
    REFUSED(p.dest_lat = 90.5);
    REFUSED(p.dest_lon = -180.5);
    REFUSED(p.rate = -0.01);
    REFUSED(p.coord_cost = NAN);
    REFUSED(p.coop_discount = 1.5);
    REFUSED(p.coop_discount = -0.1);
    REFUSED(p.coop_discount = NAN);
    REFUSED(p.cands = NULL);
    REFUSED(c[1].capacity = 0);
    REFUSED(c[1].capacity = -5);
    REFUSED(c[1].capacity = NAN);
    REFUSED(c[0].lat = 91);
    REFUSED(c[0].lon = 200);
    REFUSED(c[0].lat = NAN);
    REFUSED(c[0].n_coops = 1);                      /* and no array */
    REFUSED((c[0].coops = zero, c[0].n_coops = 1)); /* 0 means "none" */
    assert_int_equal(match_solve(&good, NULL), -EINVAL);
    assert_int_equal(match_solve(NULL, &s), -EINVAL);
#undef REFUSED
}

static uint64_t rnd_state = 12345;

static double rnd(double lo, double hi)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(rnd_state >> 11) / 9007199254740992.0;
}

/* The exact optimum by enumeration of every set and cooperative (fill nearest first). */
static double brute_force(const match_problem_t *p, double T)
{
    size_t n = p->n, order[16];
    double km[16], best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        km[i] = match_km(p->dest_lat, p->dest_lon, p->cands[i].lat, p->cands[i].lon);
        size_t k = i;
        for (; k > 0 && km[order[k - 1]] > km[i]; k--)
            order[k] = order[k - 1];
        order[k] = i;
    }
    for (int64_t coop = 0; coop <= 3; coop++) {
        for (unsigned set = 1; set < 1u << n; set++) {
            double rem = T, cost = 0;
            for (size_t j = 0; j < n && rem > 1e-12; j++) {
                const match_cand_t *c = &p->cands[order[j]];
                if (!(set & 1u << order[j]))
                    continue;
                bool member = c->n_coops && coop &&
                              (c->coops[0] == coop || (c->n_coops > 1 && c->coops[1] == coop));
                double x = fmin(c->capacity, rem);
                rem -= x;
                cost += p->rate * km[order[j]] * x +
                        p->coord_cost * (1 - (member ? p->coop_discount : 0));
            }
            if (rem <= 1e-9 * T && cost < best)
                best = cost;
        }
    }
    return best;
}

/* 300 random instances of 2-9 producers (cooperatives 1-3, some members of two): the cost of
 * match_solve's solution is the exhaustive optimum. */
static void test_random_exhaustive(void **state)
{
    static const int64_t memb[][2] = {{1, 0}, {2, 0}, {3, 0}, {1, 2}, {2, 3}};
    for (int k = 0; k < 300; k++) {
        match_cand_t c[9];
        size_t n = 2 + (size_t)rnd(0, 7.999);
        double total = 0;
        for (size_t i = 0; i < n; i++) {
            c[i] = (match_cand_t){
                (int64_t)i + 1, 1, rnd(39.2, 43.3), rnd(69.2, 80.3), round(rnd(100, 3000)),
                NULL,           0};
            int m = (int)rnd(-3, 4.999);
            if (m >= 0)
                c[i].coops = memb[m], c[i].n_coops = m < 3 ? 1 : 2;
            total += c[i].capacity;
        }
        match_problem_t p = {round(total * rnd(0.1, 0.9)),
                             rnd(39.2, 43.3),
                             rnd(69.2, 80.3),
                             rnd(0.005, 0.02),
                             round(rnd(50, 5000)),
                             rnd(0, 0.7),
                             false,
                             c,
                             n};
        match_solution_t s;
        assert_int_equal(match_solve(&p, &s), 0);
        used(&p, &s);
        assert_double_equal(s.filled, p.quantity, 1e-9 * p.quantity);
        double opt = brute_force(&p, p.quantity);
        assert_double_equal(s.total_cost, opt, 1e-9 * opt);
        match_solution_free(&s);
    }
}

/* 5,000 candidates (the pre-filter at work): a feasible, consistent, repeatable solution. */
static void test_large_feasible(void **state)
{
    size_t n = 5000;
    match_cand_t *c = calloc(n, sizeof(*c));
    assert_non_null(c);
    for (size_t i = 0; i < n; i++)
        c[i] = (match_cand_t){
            (int64_t)i + 1, 1, rnd(39.2, 43.3), rnd(69.2, 80.3), round(rnd(200, 8000)), NULL, 0};
    match_problem_t p = {20000, 41.0, 75.0, 0.01, 2000, 0.3, false, c, n};
    match_solution_t s, again;
    assert_int_equal(match_solve(&p, &s), 0);
    used(&p, &s);
    assert_double_equal(s.filled, 20000, 1e-6);
    assert_int_equal(match_solve(&p, &again), 0);
    assert_int_equal(again.n_lines, s.n_lines);
    assert_memory_equal(again.lines, s.lines, s.n_lines * sizeof(*s.lines));
    match_solution_free(&s);
    match_solution_free(&again);
    free(c);
}

static coop_point_t pt(int64_t id, double lat, double lon, double cap)
{
    return (coop_point_t){id, lat, lon, cap};
}

/* Checks groups against the rules: disjoint, each reaching target, every member within
 * max_km of the hub, figures matching the members. */
static void check_groups(const coop_point_t *pts, size_t n, const coop_params_t *p,
                         const coop_group_t *g, size_t ng)
{
    bool seen[64] = {0};
    for (size_t k = 0; k < ng; k++) {
        double cap = 0, far = 0, sum = 0;
        const coop_point_t *hub = &pts[g[k].members[0]];
        assert_true(g[k].n >= 1 && (!p->max_members || g[k].n <= p->max_members));
        for (size_t j = 0; j < g[k].n; j++) {
            size_t i = g[k].members[j];
            assert_true(i < n && !seen[i]);
            seen[i] = true;
            double km = match_km(hub->lat, hub->lon, pts[i].lat, pts[i].lon);
            assert_true(km <= p->max_km + 1e-9);
            cap += pts[i].capacity;
            far = fmax(far, km);
            sum += km;
        }
        assert_true(cap >= p->target);
        assert_double_equal(g[k].capacity, cap, 1e-9);
        assert_double_equal(g[k].max_km, far, 1e-9);
        assert_double_equal(g[k].mean_km, g[k].n > 1 ? sum / (g[k].n - 1) : 0, 1e-9);
    }
}

/* Target 10 within 15 km: point 5 reaches it alone (radius 0); 3 and 4 are 5.56 km apart;
 * 0-1 and 1-2 are KM01 apart (0-2 too far), the tie goes to hub 0 with 1, leaving 2 (5)
 * short alone. Within 5 km only point 5 remains a proposal. */
static void test_coop_hand(void **state)
{
    coop_point_t pts[] = {pt(10, 42.0, 75.0, 5), pt(11, 42.1, 75.0, 5),  pt(12, 42.2, 75.0, 5),
                          pt(13, 45.0, 70.0, 6), pt(14, 45.05, 70.0, 6), pt(15, 40.0, 79.0, 100)};
    coop_params_t p = {10, 15, 0};
    coop_group_t *g = NULL;
    size_t ng = 0;
    assert_int_equal(coop_propose(pts, 6, &p, &g, &ng), 0);
    assert_int_equal(ng, 3);
    check_groups(pts, 6, &p, g, ng);
    assert_int_equal(g[0].n, 1);
    assert_int_equal(g[0].members[0], 5);
    assert_double_equal(g[0].max_km, 0, 0);
    assert_int_equal(g[1].n, 2);
    assert_int_equal(g[1].members[0], 3);
    assert_int_equal(g[1].members[1], 4);
    assert_double_equal(g[1].max_km, 0.5 * KM01, 1e-6);
    assert_int_equal(g[2].n, 2);
    assert_int_equal(g[2].members[0], 0);
    assert_int_equal(g[2].members[1], 1);
    assert_double_equal(g[2].capacity, 10, 0);
    assert_double_equal(g[2].mean_km, KM01, 1e-6);
    coop_groups_free(g, ng);

    p.max_km = 5;
    assert_int_equal(coop_propose(pts, 6, &p, &g, &ng), 0);
    assert_int_equal(ng, 1);
    assert_int_equal(g[0].members[0], 5);
    coop_groups_free(g, ng);

    p.target = 1000; /* nobody reaches it: zero groups, not an error */
    assert_int_equal(coop_propose(pts, 6, &p, &g, &ng), 0);
    assert_int_equal(ng, 0);
    coop_groups_free(g, ng);
}

/* 60 random producers in a 1x1 degree box: every rule holds, with and without a member
 * limit, and some groups are proposed. */
static void test_coop_random(void **state)
{
    coop_point_t pts[60];
    for (size_t i = 0; i < 60; i++)
        pts[i] = pt((int64_t)i + 1, rnd(41.5, 42.5), rnd(74.0, 75.0), round(rnd(500, 6000)));
    for (size_t limit = 0; limit <= 8; limit += 8) {
        coop_params_t p = {20000, 30, limit};
        coop_group_t *g = NULL;
        size_t ng = 0;
        assert_int_equal(coop_propose(pts, 60, &p, &g, &ng), 0);
        assert_true(ng >= 2);
        check_groups(pts, 60, &p, g, ng);
        for (size_t k = 1; k < ng; k++) /* the most compact first */
            assert_true(g[k].max_km >= g[k - 1].max_km - 1e-9);
        coop_groups_free(g, ng);
    }
}

static void test_coop_bad_input(void **state)
{
    coop_point_t pts[] = {pt(1, 42.0, 75.0, 5), pt(2, 42.1, 75.0, 5)};
    coop_params_t good = {10, 15, 0}, p;
    coop_group_t *g = (coop_group_t *)&g;
    size_t ng = 99;
    p = good, p.target = 0;
    assert_int_equal(coop_propose(pts, 2, &p, &g, &ng), -EINVAL);
    assert_null(g);
    assert_int_equal(ng, 0);
    p = good, p.target = NAN;
    assert_int_equal(coop_propose(pts, 2, &p, &g, &ng), -EINVAL);
    p = good, p.max_km = -1;
    assert_int_equal(coop_propose(pts, 2, &p, &g, &ng), -EINVAL);
    p = good, p.max_km = INFINITY;
    assert_int_equal(coop_propose(pts, 2, &p, &g, &ng), -EINVAL);
    assert_int_equal(coop_propose(pts, 2, NULL, &g, &ng), -EINVAL);
    assert_int_equal(coop_propose(NULL, 2, &good, &g, &ng), -EINVAL);
    assert_int_equal(coop_propose(pts, 2, &good, NULL, &ng), -EINVAL);
    pts[1].lat = 95;
    assert_int_equal(coop_propose(pts, 2, &good, &g, &ng), -EINVAL);
    pts[1].lat = 42.1, pts[1].capacity = -1;
    assert_int_equal(coop_propose(pts, 2, &good, &g, &ng), -EINVAL);
    pts[1].capacity = 5;
    assert_int_equal(coop_propose(pts, 2, &good, &g, &ng), 0);
    assert_int_equal(ng, 1);
    coop_groups_free(g, ng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_fixed_charge), cmocka_unit_test(test_hand_coop_discount),
        cmocka_unit_test(test_capacity_short),    cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_random_exhaustive), cmocka_unit_test(test_large_feasible),
        cmocka_unit_test(test_coop_hand),         cmocka_unit_test(test_coop_random),
        cmocka_unit_test(test_coop_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
