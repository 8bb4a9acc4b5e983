/* Order allocation (see alloc.h): a single-sink fixed-charge problem with an optional
 * cooperative discount.
 *
 * For a chosen set S of producers the best quantities are known: fill Q from the nearest
 * (cheapest per unit) members of S first, so at most one producer is used partially. The
 * search is therefore over sets: a greedy construction by effective unit cost
 * c_i + f_i / min(cap_i, remaining), then local improvement by add, drop (with a greedy
 * refill) and swap moves until none improves, then (up to 128 kept candidates) a branch and
 * bound on the linear relaxation that proves or improves it. Each cooperative present among
 * the best candidates is tried as the preferred one (its members' coordination cost is
 * discounted); options whose linear-relaxation lower bound cannot beat the best found are
 * skipped. Large candidate sets are first cut to those with the lowest effective unit costs
 * (and the nearest few), which is where an optimal solution lives in practice. A counted
 * work budget bounds the time. Everything is deterministic: ties break on distance, then
 * candidate index, and nothing depends on the clock. */
#include "alloc.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EARTH_KM 6371.0088
#define NONE     SIZE_MAX
/* Candidate sets up to this size are searched whole. */
#define FILTER_ALL 64
/* Otherwise at least this many are kept by lowest possible effective unit cost, more until
 * their capacity covers FILTER_COVER times the quantity, plus the FILTER_NEAR nearest. */
#define FILTER_MIN   48
#define FILTER_COVER 3.0
#define FILTER_NEAR  16
#define FILTER_GAP   16
#define GAP_SHARE    (1.0 / 32)
/* Of a large candidate set, the cooperatives of this many best candidates are tried. */
#define OPTION_ITEMS 24
#define MAX_PASSES   200
/* Sets of kept candidates up to this size are also searched by branch and bound, with at
 * most BNB_NODES nodes per cooperative option. */
#define BNB_MAX_ITEMS 128
/* Of a large set, the options searched by branch and bound (the best after local search). */
#define BNB_OPTIONS 8
#define BNB_NODES   200000
/* The most work (set members visited by evaluations, items by bounds) of one match_solve, so
 * that an order needing a hundred producers out of thousands still answers in milliseconds
 * (with the best found so far; counted, not timed, so results stay deterministic). */
#define WORK_BUDGET 3000000L

typedef struct item {
    size_t cand;
    double km, c, u, f; /* distance, unit cost rate*km, capacity, fixed cost of the option */
} item_t;

typedef struct keyed {
    double key;
    size_t idx;
} keyed_t;

typedef struct solver {
    const match_problem_t *p;
    double T, eps;
    item_t *it; /* the kept candidates, by distance then candidate index */
    size_t m;
    size_t *set, *tmp, ns; /* current set: item indexes ascending (= fill order) */
    unsigned char *in;
    keyed_t *keys;
    long *work; /* toward WORK_BUDGET */
} solver_t;

/* fmin without the library call and its NaN rules (every number here is finite). */
static inline double min2(double a, double b)
{
    return a < b ? a : b;
}

double match_km(double lat1, double lon1, double lat2, double lon2)
{
    const double rad = M_PI / 180.0;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2.0 * EARTH_KM * asin(fmin(1.0, sqrt(a)));
}

/* The distance by the equirectangular projection at the mean latitude (its cosine from the
 * destination's by the angle-sum rule and short series): no libm call but sqrt, within a few
 * tenths of a percent of match_km over a country, so cheap enough to rank 100,000 candidates
 * for the filter; the kept ones get match_km. */
static double approx_km(const match_problem_t *p, const match_cand_t *c, double cos0, double sin0)
{
    const double rad = M_PI / 180.0;
    double h = (c->lat - p->dest_lat) * rad / 2, h2 = h * h;
    double cos_mid = cos0 * (1 - h2 / 2 + h2 * h2 / 24) - sin0 * h * (1 - h2 / 6 + h2 * h2 / 120);
    double dlon = fabs(c->lon - p->dest_lon);
    if (dlon > 180.0)
        dlon = 360.0 - dlon;
    double x = dlon * rad * cos_mid, y = 2 * h;
    return EARTH_KM * sqrt(x * x + y * y);
}

static bool position_ok(double lat, double lon)
{
    return isfinite(lat) && isfinite(lon) && fabs(lat) <= 90.0 && fabs(lon) <= 180.0;
}

/* -EINVAL unless every number is finite and in range; *ret_total is the capacity offered. */
static int validate(const match_problem_t *p, double *ret_total)
{
    if (!p || (p->n && !p->cands))
        return -EINVAL;
    if (!isfinite(p->quantity) || p->quantity <= 0 || !position_ok(p->dest_lat, p->dest_lon))
        return -EINVAL;
    if (!isfinite(p->rate) || p->rate < 0 || !isfinite(p->coord_cost) || p->coord_cost < 0)
        return -EINVAL;
    if (!(p->coop_discount >= 0.0 && p->coop_discount <= 1.0))
        return -EINVAL; /* NaN fails too */
    double total = 0;
    for (size_t i = 0; i < p->n; i++) {
        const match_cand_t *c = &p->cands[i];
        if (!position_ok(c->lat, c->lon) || !isfinite(c->capacity) || c->capacity <= 0)
            return -EINVAL;
        if (c->n_coops && !c->coops)
            return -EINVAL;
        for (size_t k = 0; k < c->n_coops; k++)
            if (c->coops[k] <= 0) /* 0 means "no cooperative" in the solution */
                return -EINVAL;
        total += c->capacity;
    }
    if (!isfinite(total))
        return -EINVAL;
    *ret_total = total;
    return 0;
}

static bool keyed_less(const keyed_t *a, const keyed_t *b)
{
    return a->key < b->key || (a->key == b->key && a->idx < b->idx);
}

static int keyed_cmp(const void *a, const void *b)
{
    return keyed_less(a, b) ? -1 : keyed_less(b, a) ? 1 : 0;
}

static void keyed_swap(keyed_t *a, keyed_t *b)
{
    keyed_t t = *a;
    *a = *b;
    *b = t;
}

/* Rearranges a[0..n) so that a[0..k) are its k smallest (in no order): quickselect of the
 * k-th with a median-of-three pivot, O(n) expected, deterministic (keys never tie: the index
 * breaks ties). */
static void select_smallest(keyed_t *a, size_t n, size_t k)
{
    if (k == 0 || k >= n)
        return;
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keyed_less(&a[mid], &a[lo]))
            keyed_swap(&a[mid], &a[lo]);
        if (keyed_less(&a[hi], &a[lo]))
            keyed_swap(&a[hi], &a[lo]);
        if (keyed_less(&a[mid], &a[hi]))
            keyed_swap(&a[mid], &a[hi]); /* the median is now at hi: the pivot */
        size_t st = lo;
        for (size_t i = lo; i < hi; i++)
            if (keyed_less(&a[i], &a[hi]))
                keyed_swap(&a[i], &a[st++]);
        keyed_swap(&a[st], &a[hi]);
        if (k == st)
            return;
        if (k < st)
            hi = st - 1;
        else
            lo = st + 1;
    }
}

/* The candidates worth searching, into keep[] (returns how many): all of a small set;
 * otherwise those with the lowest possible effective unit cost rate*d + coord*(1-discount) /
 * min(cap, T) until their capacity covers FILTER_COVER * T, the FILTER_NEAR nearest of the
 * rest (a near producer with little capacity can close the last gap cheaply) and the
 * FILTER_GAP cheapest to add for a small remainder (GAP_SHARE of T: a far cooperative member
 * with its discount can be). The least fixed cost counts the discount for members only. */
/* The least fixed cost candidate c can have: discounted only if it is in a cooperative. */
static double least_fixed(const match_problem_t *p, const match_cand_t *c)
{
    return p->coord_cost * (1.0 - (c->n_coops ? p->coop_discount : 0.0));
}

/* Ranks a[from..n) by key and keeps the want smallest at a[from..from+want); returns want. */
static size_t keep_best(keyed_t *a, size_t from, size_t n, size_t want)
{
    want = n - from < want ? n - from : want;
    select_smallest(a + from, n - from, want);
    return want;
}

static size_t filter(const match_problem_t *p, double T, const double *km, size_t *keep)
{
    size_t n = p->n, k = FILTER_MIN;
    if (n <= FILTER_ALL) {
        for (size_t i = 0; i < n; i++)
            keep[i] = i;
        return n;
    }
    keyed_t *a = malloc(n * sizeof(*a));
    if (!a)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const match_cand_t *c = &p->cands[i];
        a[i] = (keyed_t){p->rate * km[i] + least_fixed(p, c) / min2(c->capacity, T), i};
    }
    for (;;) {
        select_smallest(a, n, k);
        double cover = 0;
        for (size_t j = 0; j < k; j++)
            cover += min2(p->cands[a[j].idx].capacity, T);
        if (cover >= FILTER_COVER * T || k == n)
            break;
        k = k * 2 < n ? k * 2 : n;
    }
    for (size_t j = k; j < n; j++)
        a[j].key = km[a[j].idx];
    k += keep_best(a, k, n, FILTER_NEAR);
    for (size_t j = k; j < n; j++) /* the cheapest to add for a small remainder */
        a[j].key = least_fixed(p, &p->cands[a[j].idx]) + p->rate * km[a[j].idx] * T * GAP_SHARE;
    k += keep_best(a, k, n, FILTER_GAP);
    for (size_t j = 0; j < k; j++)
        keep[j] = a[j].idx;
    free(a);
    return k;
}

/* Cost of filling T nearest first from set[0..ns) with the member at position drop left out
 * and item add put in (NONE for neither); INFINITY when it cannot fill T. With keep, the
 * members the fill uses are written to keep[] and their number to *kept. */
static double fill_cost(const solver_t *s, const size_t *set, size_t ns, size_t drop, size_t add,
                        size_t *keep, size_t *kept)
{
    double rem = s->T, cost = 0;
    size_t k = 0, nk = 0;
    while (rem > s->eps) {
        size_t i;
        if (k < ns && k == drop) {
            k++;
            continue;
        }
        if (add != NONE && (k >= ns || add < set[k])) {
            i = add;
            add = NONE;
        } else if (k < ns) {
            i = set[k++];
        } else {
            *s->work += (long)k;
            return INFINITY;
        }
        double x = min2(s->it[i].u, rem);
        rem -= x;
        cost += s->it[i].f + s->it[i].c * x;
        if (keep)
            keep[nk++] = i;
    }
    if (kept)
        *kept = nk;
    *s->work += (long)k + 1;
    return cost;
}

/* Makes the move on the current set, keeping only the members the fill uses. */
static void apply_move(solver_t *s, size_t drop, size_t add)
{
    size_t nt = 0;
    fill_cost(s, s->set, s->ns, drop, add, s->tmp, &nt);
    size_t *t = s->set;
    s->set = s->tmp;
    s->tmp = t;
    s->ns = nt;
    memset(s->in, 0, s->m);
    for (size_t j = 0; j < nt; j++)
        s->in[s->set[j]] = 1;
}

/* Adds items not marked in in[] to set[0..*ns) (kept ascending) until its capacity reaches
 * T, each time the one with the lowest effective unit cost c + f / min(cap, missing).
 * false when the items run out. */
static bool greedy_fill(const solver_t *s, size_t *set, size_t *ns, unsigned char *in)
{
    double have = 0;
    for (size_t j = 0; j < *ns; j++)
        have += s->it[set[j]].u;
    while (s->T - have > s->eps) {
        double missing = s->T - have, best = INFINITY;
        size_t bi = NONE;
        *s->work += (long)s->m;
        for (size_t i = 0; i < s->m; i++) {
            if (in[i])
                continue;
            double e = s->it[i].c + s->it[i].f / min2(s->it[i].u, missing);
            if (e < best) {
                best = e;
                bi = i;
            }
        }
        if (bi == NONE)
            return false;
        size_t k = (*ns)++;
        for (; k > 0 && set[k - 1] > bi; k--)
            set[k] = set[k - 1];
        set[k] = bi;
        in[bi] = 1;
        have += s->it[bi].u;
    }
    return true;
}

/* The best move dropping one member and refilling greedily (one for several): its cost, the
 * set it makes in s->tmp and its size in *ret_n. */
static double best_drop_refill(solver_t *s, unsigned char *in2, size_t *ret_n)
{
    double best = INFINITY;
    size_t *r = s->tmp + s->m; /* scratch beyond tmp's m slots */
    for (size_t a = 0; a < s->ns && *s->work < WORK_BUDGET; a++) {
        size_t nr = 0;
        for (size_t j = 0; j < s->ns; j++)
            if (j != a)
                r[nr++] = s->set[j];
        memcpy(in2, s->in, s->m);
        in2[s->set[a]] = 2; /* neither a member nor a candidate for the refill */
        if (!greedy_fill(s, r, &nr, in2))
            continue;
        double v = fill_cost(s, r, nr, NONE, NONE, NULL, NULL);
        if (v < best) {
            best = v;
            memcpy(s->tmp, r, nr * sizeof(*r));
            *ret_n = nr;
        }
    }
    return best;
}

/* Local improvement of the current set: the best of all add, drop, swap and drop-refill
 * moves while one lowers the cost. */
static double improve(solver_t *s, unsigned char *in2)
{
    double cur = fill_cost(s, s->set, s->ns, NONE, NONE, NULL, NULL);
    for (int pass = 0; pass < MAX_PASSES && *s->work < WORK_BUDGET; pass++) {
        double tol = 1e-12 * fmax(1.0, cur), best = cur - tol;
        size_t bd = NONE, ba = NONE, nr = 0;
        for (size_t a = 0; a <= s->ns; a++) { /* a == ns: no drop */
            size_t drop = a < s->ns ? a : NONE;
            for (size_t b = 0; b <= s->m && *s->work < WORK_BUDGET; b++) { /* m: no add */
                size_t add = b < s->m ? b : NONE;
                if ((add != NONE && s->in[add]) || (drop == NONE && add == NONE))
                    continue;
                double v = fill_cost(s, s->set, s->ns, drop, add, NULL, NULL);
                if (v < best) {
                    best = v;
                    bd = drop;
                    ba = add;
                }
            }
        }
        double v = best_drop_refill(s, in2, &nr);
        if (v < best) {
            size_t *t = s->set; /* s->tmp holds the refilled set */
            s->set = s->tmp;
            s->tmp = t;
            s->ns = nr;
            memset(s->in, 0, s->m);
            for (size_t j = 0; j < nr; j++)
                s->in[s->set[j]] = 1;
            apply_move(s, NONE, NONE);
        } else if (bd != NONE || ba != NONE) {
            apply_move(s, bd, ba);
        } else {
            break;
        }
        cur = fill_cost(s, s->set, s->ns, NONE, NONE, NULL, NULL);
    }
    return cur;
}

static bool is_member(const match_cand_t *c, int64_t coop)
{
    for (size_t k = 0; k < c->n_coops; k++)
        if (c->coops[k] == coop)
            return true;
    return false;
}

/* Fixed costs when coop (0: none) is the preferred cooperative. */
static void set_option(solver_t *s, int64_t coop)
{
    const match_problem_t *p = s->p;
    for (size_t i = 0; i < s->m; i++) {
        bool member = coop && is_member(&p->cands[s->it[i].cand], coop);
        s->it[i].f = p->coord_cost * (1.0 - (member ? p->coop_discount : 0.0));
    }
}

/* A lower bound of the option's cost: the linear relaxation, in which producer i costs
 * c_i + f_i / min(cap_i, T) per unit (y_i >= x_i / min(cap_i, T)), filled cheapest first. */
static double lower_bound(solver_t *s)
{
    for (size_t i = 0; i < s->m; i++)
        s->keys[i] = (keyed_t){s->it[i].c + s->it[i].f / min2(s->it[i].u, s->T), i};
    qsort(s->keys, s->m, sizeof(*s->keys), keyed_cmp);
    double rem = s->T, lb = 0;
    for (size_t j = 0; j < s->m && rem > s->eps; j++) {
        double x = min2(min2(s->it[s->keys[j].idx].u, s->T), rem);
        lb += s->keys[j].key * x;
        rem -= x;
    }
    return lb;
}

/* Branch and bound over one option's items, for small candidate sets: depth first in order
 * of effective unit cost, each item in then out. The bound of a node is its included items'
 * fixed costs plus the cheapest continuous fill of T by the included items (unit cost c, up
 * to their capacity) and the undecided ones (unit cost c + f / min(cap, T), the linear
 * relaxation). The local search's set is the first incumbent; the node budget keeps the time
 * bounded (then the result is the best found, not proven). */
typedef struct bnb {
    solver_t *s;
    size_t *by_e; /* items by effective unit cost */
    double *e;
    signed char *state; /* per item: 0 undecided, 1 in, -1 out */
    size_t *inc;        /* scratch: the included items ascending */
    double best;
    long nodes;
} bnb_t;

static double node_bound(const bnb_t *b, double fixed)
{
    const solver_t *s = b->s;
    double rem = s->T, lb = fixed;
    size_t i = 0, j = 0;
    while (rem > s->eps) {
        while (i < s->m && b->state[i] != 1)
            i++;
        while (j < s->m && b->state[b->by_e[j]] != 0)
            j++;
        if (i == s->m && j == s->m)
            return INFINITY;
        double x;
        if (j == s->m || (i < s->m && s->it[i].c <= b->e[b->by_e[j]])) {
            x = min2(s->it[i].u, rem);
            lb += s->it[i++].c * x;
        } else {
            size_t k = b->by_e[j++];
            x = min2(min2(s->it[k].u, s->T), rem);
            lb += b->e[k] * x;
        }
        rem -= x;
    }
    return lb;
}

/* The included set as a solution: kept as the incumbent when it is cheaper. */
static void node_incumbent(bnb_t *b)
{
    solver_t *s = b->s;
    size_t n = 0, kept = 0;
    for (size_t i = 0; i < s->m; i++)
        if (b->state[i] == 1)
            b->inc[n++] = i;
    double v = fill_cost(s, b->inc, n, NONE, NONE, s->tmp, &kept);
    if (v < b->best - 1e-12 * fmax(1.0, b->best)) {
        b->best = v;
        memcpy(s->set, s->tmp, kept * sizeof(*s->set));
        s->ns = kept;
    }
}

static void branch(bnb_t *b, size_t pos, double fixed, double have)
{
    solver_t *s = b->s;
    if (++b->nodes > BNB_NODES || *s->work >= WORK_BUDGET)
        return;
    *s->work += (long)s->m;
    if (node_bound(b, fixed) >= b->best - 1e-9 * fmax(1.0, b->best))
        return;
    if (have >= s->T - s->eps)
        node_incumbent(b);
    if (pos == s->m)
        return;
    size_t k = b->by_e[pos];
    b->state[k] = 1;
    branch(b, pos + 1, fixed + s->it[k].f, have + s->it[k].u);
    b->state[k] = -1;
    branch(b, pos + 1, fixed, have);
    b->state[k] = 0;
}

/* Improves the current set (cost cur) to the optimum of the option when the budget allows. */
static double branch_and_bound(solver_t *s, double cur)
{
    bnb_t b = {s,
               malloc(s->m * sizeof(size_t)),
               malloc(s->m * sizeof(double)),
               calloc(s->m, 1),
               malloc(s->m * sizeof(size_t)),
               cur,
               0};
    if (b.by_e && b.e && b.state && b.inc) {
        for (size_t i = 0; i < s->m; i++) {
            b.e[i] = s->it[i].c + s->it[i].f / min2(s->it[i].u, s->T);
            s->keys[i] = (keyed_t){b.e[i], i};
        }
        qsort(s->keys, s->m, sizeof(*s->keys), keyed_cmp);
        for (size_t i = 0; i < s->m; i++)
            b.by_e[i] = s->keys[i].idx;
        branch(&b, 0, 0.0, 0.0);
        memset(s->in, 0, s->m);
        for (size_t j = 0; j < s->ns; j++)
            s->in[s->set[j]] = 1;
    }
    free(b.by_e);
    free(b.e);
    free(b.state);
    free(b.inc);
    return b.best;
}

/* The option's best set found: greedy construction, then local improvement, then with exact
 * the branch and bound. */
static double solve_option(solver_t *s, unsigned char *in2, bool exact)
{
    s->ns = 0;
    memset(s->in, 0, s->m);
    if (!greedy_fill(s, s->set, &s->ns, s->in))
        return INFINITY;
    apply_move(s, NONE, NONE);
    double v = improve(s, in2);
    return exact ? branch_and_bound(s, v) : v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The cooperatives worth trying as the preferred one, sorted, into *ret (malloc'd): those of
 * the candidates (of a large set, of its OPTION_ITEMS with the lowest effective unit cost and
 * its FILTER_GAP cheapest to add for a small remainder).
 * None is dominated by any cooperative (a discount never raises a cost), so {0} only when no
 * such candidate is a member or the discount is worth nothing. */
/* Appends the cooperatives of the items at s->keys[0..k) to o[*n...]. */
static void coops_of(const solver_t *s, size_t k, int64_t *o, size_t *n)
{
    for (size_t j = 0; j < k; j++) {
        const match_cand_t *c = &s->p->cands[s->it[s->keys[j].idx].cand];
        for (size_t q = 0; q < c->n_coops; q++)
            o[(*n)++] = c->coops[q];
    }
}

static size_t options(solver_t *s, int64_t **ret)
{
    const match_problem_t *p = s->p;
    size_t n = 0, cap = 0, m = s->m;
    for (size_t i = 0; i < m; i++)
        cap += 2 * p->cands[s->it[i].cand].n_coops;
    int64_t *o = malloc((cap + 1) * sizeof(*o));
    if (!o)
        return 0;
    bool few = p->n <= FILTER_ALL || m <= OPTION_ITEMS;
    if (p->coop_discount > 0 && p->coord_cost > 0) {
        for (size_t i = 0; i < m; i++) { /* by effective unit cost */
            const match_cand_t *c = &p->cands[s->it[i].cand];
            s->keys[i] = (keyed_t){s->it[i].c + least_fixed(p, c) / min2(s->it[i].u, s->T), i};
        }
        coops_of(s, few ? m : keep_best(s->keys, 0, m, OPTION_ITEMS), o, &n);
        if (!few) { /* and as the cheapest to add for a small remainder */
            for (size_t i = 0; i < m; i++)
                s->keys[i] = (keyed_t){
                    least_fixed(p, &p->cands[s->it[i].cand]) + s->it[i].c * s->T * GAP_SHARE, i};
            coops_of(s, keep_best(s->keys, 0, m, FILTER_GAP), o, &n);
        }
    }
    qsort(o, n, sizeof(*o), cmp_i64);
    size_t u = 0;
    for (size_t j = 0; j < n; j++)
        if (u == 0 || o[u - 1] != o[j])
            o[u++] = o[j];
    if (u == 0)
        o[u++] = 0;
    *ret = o;
    return u;
}

static int item_cmp(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->km != y->km)
        return x->km < y->km ? -1 : 1;
    return x->cand < y->cand ? -1 : x->cand > y->cand;
}

static void solver_free(solver_t *s)
{
    free(s->it);
    free(s->set);
    free(s->tmp);
    free(s->in);
    free(s->keys);
}

/* Distances, the kept candidates sorted by distance, and the scratch of the search. */
static int solver_init(solver_t *s, const match_problem_t *p, double T)
{
    memset(s, 0, sizeof(*s));
    s->p = p;
    s->T = T;
    s->eps = T * 1e-9;
    double *km = malloc(p->n * sizeof(*km));
    size_t *keep = malloc(p->n * sizeof(*keep));
    if (km && keep) {
        double cos0 = cos(p->dest_lat * M_PI / 180.0), sin0 = sin(p->dest_lat * M_PI / 180.0);
        for (size_t i = 0; i < p->n; i++)
            km[i] = p->n <= FILTER_ALL ? 0.0 : approx_km(p, &p->cands[i], cos0, sin0);
        s->m = filter(p, T, km, keep);
        for (size_t j = 0; j < s->m; j++)
            km[keep[j]] =
                match_km(p->dest_lat, p->dest_lon, p->cands[keep[j]].lat, p->cands[keep[j]].lon);
    }
    size_t m = s->m;
    if (m) {
        s->it = malloc(m * sizeof(*s->it));
        s->set = malloc(2 * m * sizeof(*s->set));
        s->tmp = malloc(2 * m * sizeof(*s->tmp));
        s->in = malloc(m);
        s->keys = malloc(m * sizeof(*s->keys));
    }
    if (!m || !s->it || !s->set || !s->tmp || !s->in || !s->keys) {
        free(km);
        free(keep);
        solver_free(s);
        return -ENOMEM;
    }
    for (size_t j = 0; j < m; j++) {
        size_t i = keep[j];
        s->it[j] = (item_t){i, km[i], p->rate * km[i], p->cands[i].capacity, 0};
    }
    qsort(s->it, m, sizeof(*s->it), item_cmp);
    free(km);
    free(keep);
    return 0;
}

/* The solution of set[0..ns) under the option already set: its lines nearest first. */
static int write_solution(const solver_t *s, const size_t *set, size_t ns, int64_t coop,
                          match_solution_t *out)
{
    out->lines = calloc(ns ? ns : 1, sizeof(*out->lines));
    if (!out->lines)
        return -ENOMEM;
    double rem = s->T;
    bool member = false;
    for (size_t j = 0; j < ns && rem > s->eps; j++) {
        const item_t *it = &s->it[set[j]];
        double x = min2(it->u, rem);
        rem -= x;
        out->lines[out->n_lines++] = (match_line_t){it->cand, x, it->km, it->c * x, it->f};
        out->filled += x;
        out->total_cost += it->c * x + it->f;
        member = member || (coop && is_member(&s->p->cands[it->cand], coop));
    }
    out->coop_id = member ? coop : 0;
    return 0;
}

typedef struct best {
    double cost;
    int64_t coop;
    size_t *set, n;
} best_t;

static void keep_if_better(const solver_t *s, double v, int64_t coop, best_t *b)
{
    double tol = isfinite(b->cost) ? 1e-12 * fmax(1.0, b->cost) : 0.0;
    if (v < b->cost - tol) {
        b->cost = v;
        b->coop = coop;
        b->n = s->ns;
        memcpy(b->set, s->set, s->ns * sizeof(*b->set));
    }
}

/* Every option whose lower bound can beat the best so far, cheapest bound first; of a small
 * set each with the branch and bound, of a large one only the BNB_OPTIONS best after the
 * local search (the bound is loose, and there can be dozens of cooperatives). */
static void try_options(solver_t *s, const int64_t *opt, size_t no, keyed_t *order,
                        unsigned char *in2, best_t *b)
{
    bool small = s->p->n <= FILTER_ALL, bnb = s->m <= BNB_MAX_ITEMS;
    for (size_t o = 0; o < no; o++) {
        set_option(s, opt[o]);
        order[o] = (keyed_t){lower_bound(s), o};
    }
    qsort(order, no, sizeof(*order), keyed_cmp);
    size_t tried = 0;
    for (; tried < no; tried++) {
        double tol = isfinite(b->cost) ? 1e-12 * fmax(1.0, b->cost) : 0.0;
        if (order[tried].key >= b->cost - tol)
            break;
        set_option(s, opt[order[tried].idx]);
        double v = solve_option(s, in2, small && bnb);
        keep_if_better(s, v, opt[order[tried].idx], b);
        order[tried].key = v; /* now the option's cost found */
    }
    if (small || !bnb)
        return;
    qsort(order, tried, sizeof(*order), keyed_cmp);
    for (size_t j = 0; j < tried && j < BNB_OPTIONS && isfinite(order[j].key); j++) {
        set_option(s, opt[order[j].idx]);
        keep_if_better(s, solve_option(s, in2, true), opt[order[j].idx], b);
    }
}

/* The options, the best solution among them written out. */
static int search(const match_problem_t *p, double T, match_solution_t *out)
{
    solver_t s;
    long work = 0;
    int r = solver_init(&s, p, T);
    if (r < 0)
        return r;
    s.work = &work;
    int64_t *opt = NULL;
    size_t no = options(&s, &opt);
    keyed_t *order = malloc((no ? no : 1) * sizeof(*order));
    unsigned char *in2 = malloc(s.m);
    best_t b = {INFINITY, 0, malloc(s.m * sizeof(size_t)), 0};
    r = -ENOMEM;
    if (no && order && in2 && b.set) {
        try_options(&s, opt, no, order, in2, &b);
        set_option(&s, b.coop);
        r = write_solution(&s, b.set, b.n, b.coop, out);
    }
    free(opt);
    free(order);
    free(in2);
    free(b.set);
    solver_free(&s);
    return r;
}

int match_solve(const match_problem_t *p, match_solution_t *out)
{
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    double total = 0;
    int r = validate(p, &total);
    if (r < 0)
        return r;
    bool short_ = total < p->quantity;
    if (short_ && (!p->allow_partial || p->n == 0))
        return -ENOSPC;
    r = search(p, short_ ? total : p->quantity, out);
    if (r < 0) {
        match_solution_free(out);
        return r;
    }
    return short_ ? -ENOSPC : 0;
}

void match_solution_free(match_solution_t *s)
{
    if (!s)
        return;
    free(s->lines);
    memset(s, 0, sizeof(*s));
}
