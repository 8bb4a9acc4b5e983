/* bench-match-quality: match_solve's allocations against the exact optimum of the same
 * objective, and its solve times.
 *
 *   1. N random instances (default 200, fixed seed): up to 40 producers at random places in
 *      Kyrgyzstan's bounding box (39.2-43.3 N, 69.2-80.3 E), a few cooperatives with
 *      overlapping membership, some orders larger than the capacity offered (with and without
 *      partial fills). Each is written as a GNU MathProg model of the MILP in alloc.h (x_i
 *      continuous, y_i, z_c, w_i binary) and solved by glpsol (Debian glpk-utils) as a
 *      subprocess with a time limit; the optimum is read from its output. match_solve's
 *      solution is checked independently (capacities, filled quantity, every line's cost
 *      recomputed from the coordinates and the cooperative chosen, total = sum of lines) and
 *      its gap to the optimum reported: mean, worst, instances glpsol did not prove optimal.
 *   2. match_solve's time per instance of part 1, and on 5,000 and 100,000 random candidates.
 *
 * Usage: bench-match-quality [--instances N] [--producers N (3-400, default 40)] [--seed S]
 *                            [--tmlim SECONDS] [--small-orders] [--check] [--no-speed]
 * --check (the ctest "quality"): exit 1 when a solution is infeasible or inconsistent, when
 * match_solve and glpsol disagree on feasibility, or when a gap exceeds 5%. Without it the
 * figures are printed and the exit code is 0 unless glpsol cannot run. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "coop.h"

#define MAX_PROD  400 /* --producers at most */
#define MAX_COOPS 6
#define GAP_LIMIT 0.05

typedef struct rng {
    uint64_t s;
} rng_t;

/* splitmix64: small, fast, and the same sequence everywhere for a seed. */
static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uni(rng_t *r, double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rng_next(r) >> 11) / 9007199254740992.0);
}

typedef struct instance {
    match_problem_t p;
    match_cand_t c[MAX_PROD];
    int64_t coops[MAX_PROD][MAX_COOPS];
    size_t n_coop_ids;
} instance_t;

static double clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Wall time, for glpsol (a subprocess). */
static double now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* match_solve's own CPU time: on a machine shared with other work, wall time measures the
 * neighbours as much as the solver. */
static double cpu_us(void)
{
    return clock_us(CLOCK_THREAD_CPUTIME_ID);
}

/* Cooperatives: around a random producer, each producer within a random radius joins with
 * probability 0.8, so that memberships overlap where cooperatives are close. */
static void gen_coops(rng_t *r, instance_t *in)
{
    size_t n = in->p.n, nc = (size_t)uni(r, 0, MAX_COOPS + 0.999);
    in->n_coop_ids = nc;
    for (size_t k = 0; k < nc; k++) {
        const match_cand_t *hub = &in->c[rng_next(r) % n];
        double radius = uni(r, 20, 150);
        for (size_t i = 0; i < n; i++) {
            match_cand_t *c = &in->c[i];
            if (match_km(hub->lat, hub->lon, c->lat, c->lon) <= radius && uni(r, 0, 1) < 0.8)
                in->coops[i][c->n_coops++] = (int64_t)(100 + k);
        }
    }
}

static void gen_instance(rng_t *r, instance_t *in, size_t max_prod, bool small)
{
    memset(in, 0, sizeof(*in));
    size_t n = 3 + rng_next(r) % (max_prod - 2);
    double total = 0, mean_km = 0;
    in->p.dest_lat = uni(r, 39.2, 43.3);
    in->p.dest_lon = uni(r, 69.2, 80.3);
    for (size_t i = 0; i < n; i++) {
        match_cand_t *c = &in->c[i];
        c->producer_id = (int64_t)(i + 1);
        c->product_id = 1;
        c->lat = uni(r, 39.2, 43.3);
        c->lon = uni(r, 69.2, 80.3);
        c->capacity = round(exp(uni(r, log(200), log(8000))));
        c->coops = in->coops[i];
        total += c->capacity;
        mean_km += match_km(in->p.dest_lat, in->p.dest_lon, c->lat, c->lon) / n;
    }
    in->p.cands = in->c;
    in->p.n = n;
    gen_coops(r, in);
    /* One order in ten asks for more than is offered; the others for 10-85% of it (with
     * --small-orders 1-5%: an order of a few producers among many, the pre-filter at work). */
    double share = small                ? uni(r, 0.01, 0.05)
                   : uni(r, 0, 1) < 0.1 ? uni(r, 1.05, 1.5)
                                        : uni(r, 0.1, 0.85);
    in->p.quantity = round(total * share);
    in->p.allow_partial = uni(r, 0, 1) < 0.5;
    in->p.rate = uni(r, 0.002, 0.02); /* US cents per kg-km */
    /* Coordination worth 0.1-3 times the transport of an average producer's lot. */
    in->p.coord_cost = round(uni(r, 0.1, 3.0) * in->p.rate * mean_km * total / n);
    in->p.coop_discount = uni(r, 0, 1) < 0.15 ? 0.0 : uni(r, 0.05, 0.6);
}

/* The MILP of alloc.h in GNU MathProg, with its data. */
static int write_model(const char *path, const instance_t *in)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    const match_problem_t *p = &in->p;
    double total = 0;
    for (size_t i = 0; i < p->n; i++)
        total += p->cands[i].capacity;
    double T = p->allow_partial && total < p->quantity ? total : p->quantity;
    fputs("set P; set C; set M within P cross C;\n"
          "param cap{P}; param c{P}; param f; param disc; param T;\n"
          "var x{P} >= 0; var y{P} binary; var z{C} binary; var w{P} binary;\n"
          "minimize cost: sum{i in P} (c[i]*x[i] + f*y[i] - f*disc*w[i]);\n"
          "s.t. fill: sum{i in P} x[i] = T;\n"
          "s.t. capy{i in P}: x[i] <= cap[i]*y[i];\n"
          "s.t. onec: sum{k in C} z[k] <= 1;\n"
          "s.t. wy{i in P}: w[i] <= y[i];\n"
          "s.t. wz{i in P}: w[i] <= sum{k in C: (i,k) in M} z[k];\n"
          "solve;\nprintf \"OBJ %.17g\\n\", cost;\ndata;\nset P :=",
          f);
    for (size_t i = 0; i < p->n; i++)
        fprintf(f, " %zu", i);
    fputs(";\nset C :=", f);
    for (size_t k = 0; k < in->n_coop_ids; k++)
        fprintf(f, " %zu", 100 + k);
    fputs(";\nset M :=", f);
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->cands[i].n_coops; k++)
            fprintf(f, " (%zu,%lld)", i, (long long)p->cands[i].coops[k]);
    fputs(";\nparam cap :=", f);
    for (size_t i = 0; i < p->n; i++)
        fprintf(f, " %zu %.17g", i, p->cands[i].capacity);
    fputs(";\nparam c :=", f);
    for (size_t i = 0; i < p->n; i++) {
        const match_cand_t *c = &p->cands[i];
        fprintf(f, " %zu %.17g", i, p->rate * match_km(p->dest_lat, p->dest_lon, c->lat, c->lon));
    }
    fprintf(f, ";\nparam f := %.17g;\nparam disc := %.17g;\nparam T := %.17g;\nend;\n",
            p->coord_cost, p->coop_discount, T);
    return fclose(f) == 0 ? 0 : -errno;
}

enum glp_status { GLP_OPTIMAL, GLP_NOT_PROVEN, GLP_INFEASIBLE, GLP_FAILED };

/* Runs glpsol on the model; the optimum (or best found) in *ret_obj. */
static enum glp_status run_glpsol(const char *path, int tmlim, double *ret_obj)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "glpsol --math '%s' --tmlim %d 2>&1", path, tmlim);
    FILE *f = popen(cmd, "r");
    if (!f)
        return GLP_FAILED;
    char line[512];
    bool optimal = false, infeasible = false, have_obj = false;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "INTEGER OPTIMAL SOLUTION FOUND"))
            optimal = true;
        if (strstr(line, "NO PRIMAL FEASIBLE") || strstr(line, "NO INTEGER FEASIBLE"))
            infeasible = true;
        if (strncmp(line, "OBJ ", 4) == 0)
            have_obj = sscanf(line + 4, "%lf", ret_obj) == 1;
    }
    int st = pclose(f);
    if (infeasible)
        return GLP_INFEASIBLE;
    if (st != 0 || !have_obj)
        return GLP_FAILED;
    return optimal ? GLP_OPTIMAL : GLP_NOT_PROVEN;
}

static bool member(const match_cand_t *c, int64_t coop)
{
    for (size_t k = 0; k < c->n_coops; k++)
        if (c->coops[k] == coop)
            return true;
    return false;
}

/* Checks a solution on its own terms; its recomputed cost in *ret_cost. NULL or a reason. */
static const char *check_solution(const match_problem_t *p, const match_solution_t *s, double T,
                                  double *ret_cost)
{
    bool used[MAX_PROD] = {0};
    double filled = 0, cost = 0, sum_lines = 0, tol = 1e-7 * fmax(1.0, T);
    for (size_t j = 0; j < s->n_lines; j++) {
        const match_line_t *l = &s->lines[j];
        if (l->cand >= p->n || used[l->cand])
            return "a line names a bad or repeated candidate";
        used[l->cand] = true;
        const match_cand_t *c = &p->cands[l->cand];
        if (!(l->quantity > 0) || l->quantity > c->capacity + tol)
            return "a line's quantity is outside (0, capacity]";
        double km = match_km(p->dest_lat, p->dest_lon, c->lat, c->lon);
        double coord =
            p->coord_cost * (1.0 - (s->coop_id && member(c, s->coop_id) ? p->coop_discount : 0.0));
        if (fabs(l->km - km) > 1e-6 || fabs(l->coord_cost - coord) > 1e-6 * fmax(1, coord) ||
            fabs(l->transport_cost - p->rate * km * l->quantity) >
                1e-6 * fmax(1, l->transport_cost))
            return "a line's distance or costs are wrong";
        filled += l->quantity;
        cost += p->rate * km * l->quantity + coord;
        sum_lines += l->transport_cost + l->coord_cost;
    }
    if (fabs(filled - T) > tol || fabs(s->filled - filled) > tol)
        return "the filled quantity is not the quantity to fill";
    if (fabs(s->total_cost - sum_lines) > 1e-7 * fmax(1.0, sum_lines))
        return "total_cost is not the sum of the lines";
    *ret_cost = cost;
    return NULL;
}

typedef struct tally {
    size_t solved, proven, not_proven, short_refused, failures;
    double gap_sum, gap_worst, us_sum, us_max, glp_s;
    size_t worst_at;
} tally_t;

static void fail(tally_t *t, size_t k, const char *why)
{
    fprintf(stderr, "instance %zu: %s\n", k, why);
    t->failures++;
}

/* One instance: glpsol and match_solve, compared. */
static int run_instance(const instance_t *in, size_t k, const char *model, int tmlim, tally_t *t)
{
    const match_problem_t *p = &in->p;
    int r = write_model(model, in);
    if (r < 0)
        return r;
    double opt = 0, t0 = now_us();
    enum glp_status g = run_glpsol(model, tmlim, &opt);
    t->glp_s += (now_us() - t0) / 1e6;
    if (g == GLP_FAILED)
        return -ECHILD;
    match_solution_t s;
    t0 = cpu_us();
    int rc = match_solve(p, &s);
    double us = cpu_us() - t0, total = 0, cost = 0;
    t->us_sum += us;
    t->us_max = fmax(t->us_max, us);
    for (size_t i = 0; i < p->n; i++)
        total += p->cands[i].capacity;
    bool refuse = total < p->quantity && !p->allow_partial;
    if (refuse || g == GLP_INFEASIBLE) {
        if (!refuse || g != GLP_INFEASIBLE || rc != -ENOSPC || s.n_lines)
            fail(t, k, "match_solve and glpsol disagree on feasibility");
        else
            t->short_refused++;
        match_solution_free(&s);
        return 0;
    }
    const char *why = (rc == 0 || (rc == -ENOSPC && total < p->quantity))
                          ? check_solution(p, &s, fmin(total, p->quantity), &cost)
                          : "match_solve failed";
    match_solution_free(&s);
    if (why) {
        fail(t, k, why);
        return 0;
    }
    double gap = opt > 1e-9 ? (cost - opt) / opt : (cost > 1e-9 ? INFINITY : 0);
    t->solved++;
    if (g == GLP_NOT_PROVEN) { /* the gap to glpsol's best found understates the true one */
        t->not_proven++;
        return 0;
    }
    t->proven++;
    t->gap_sum += gap;
    if (gap > t->gap_worst) {
        t->gap_worst = gap;
        t->worst_at = k;
    }
    if (gap > GAP_LIMIT) {
        char m[96];
        snprintf(m, sizeof(m), "gap %.2f%% (match_solve %.2f, optimum %.2f)", 100 * gap, cost, opt);
        fail(t, k, m);
    }
    return 0;
}

/* match_solve on n random candidates over the whole box (0-2 of n/25 cooperatives each), an
 * order of 20 t: mean and worst microseconds over runs orders to random destinations. */
static int speed(size_t n, int runs, uint64_t seed)
{
    rng_t r = {seed};
    match_cand_t *c = calloc(n, sizeof(*c));
    int64_t *coops = calloc(2 * n, sizeof(*coops));
    if (!c || !coops) {
        free(c);
        free(coops);
        return -ENOMEM;
    }
    size_t ncoop = n / 25 + 1;
    for (size_t i = 0; i < n; i++) {
        c[i] = (match_cand_t){(int64_t)i + 1,
                              1,
                              uni(&r, 39.2, 43.3),
                              uni(&r, 69.2, 80.3),
                              round(exp(uni(&r, log(200), log(8000)))),
                              coops + 2 * i,
                              rng_next(&r) % 3};
        for (size_t k = 0; k < c[i].n_coops; k++)
            coops[2 * i + k] = (int64_t)(1 + rng_next(&r) % ncoop);
    }
    double sum = 0, worst = 0, cost = 0;
    size_t lines = 0;
    for (int k = 0; k < runs; k++) {
        match_problem_t p = {
            20000, uni(&r, 39.2, 43.3), uni(&r, 69.2, 80.3), 0.01, 2000.0, 0.3, false, c, n};
        match_solution_t s;
        double t0 = cpu_us();
        int rc = match_solve(&p, &s);
        double us = cpu_us() - t0;
        if (rc != 0)
            fprintf(stderr, "speed: match_solve returned %d\n", rc);
        sum += us;
        worst = fmax(worst, us);
        cost += s.total_cost / runs;
        lines += s.n_lines;
        match_solution_free(&s);
    }
    printf("  %7zu candidates: %8.1f us mean, %8.1f us worst (CPU) over %d orders of 20 t "
           "(%.1f producers, cost %.0f on average)\n",
           n, sum / runs, worst, runs, (double)lines / runs, cost);
    free(c);
    free(coops);
    return 0;
}

/* coop_propose on n random producers in one oblast-sized box (1 x 2 degrees, 200-8000 kg),
 * for 20 t lots within 30 km: CPU time and what it proposed. */
static int coop_speed(size_t n, uint64_t seed)
{
    rng_t r = {seed};
    coop_point_t *pts = calloc(n, sizeof(*pts));
    if (!pts)
        return -ENOMEM;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        pts[i] = (coop_point_t){(int64_t)i + 1, uni(&r, 39.8, 40.8), uni(&r, 70.0, 72.0),
                                round(exp(uni(&r, log(200), log(8000))))};
        total += pts[i].capacity;
    }
    coop_params_t p = {20000, 30, 0};
    coop_group_t *g = NULL;
    size_t ng = 0, members = 0;
    double t0 = cpu_us();
    int rc = coop_propose(pts, n, &p, &g, &ng);
    double us = cpu_us() - t0;
    for (size_t k = 0; k < ng; k++)
        members += g[k].n;
    double radius = 0;
    for (size_t k = 0; k < ng; k++)
        radius += g[k].max_km / ng;
    printf("  coop_propose, %6zu producers: %9.1f us (CPU): %zu groups (%.1f members, radius "
           "%.1f km on average; the capacity could make at most %zu lots)\n",
           n, us, ng, ng ? (double)members / ng : 0.0, radius, (size_t)(total / p.target));
    coop_groups_free(g, ng);
    free(pts);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 200, max_prod = 40;
    uint64_t seed = 20261206;
    int tmlim = 60;
    bool check = false, do_speed = true, small = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--instances") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tmlim") && i + 1 < argc)
            tmlim = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--producers") && i + 1 < argc)
            max_prod = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--small-orders"))
            small = true;
        else if (!strcmp(argv[i], "--check"))
            check = true;
        else if (!strcmp(argv[i], "--no-speed"))
            do_speed = false;
        else {
            fprintf(stderr,
                    "usage: %s [--instances N] [--producers N] [--seed S] "
                    "[--tmlim SECONDS] [--small-orders] [--check] [--no-speed]\n",
                    argv[0]);
            return 2;
        }
    }
    if (max_prod < 3 || max_prod > MAX_PROD) {
        fprintf(stderr, "--producers: 3 to %d\n", MAX_PROD);
        return 2;
    }
    char dir[] = "/tmp/bench-match-quality.XXXXXX", model[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(model, sizeof(model), "%s/instance.mod", dir);
    rng_t r = {seed};
    tally_t t = {0};
    instance_t *in = malloc(sizeof(*in));
    if (!in)
        return 2;
    for (size_t k = 0; k < n; k++) {
        gen_instance(&r, in, max_prod, small);
        int rc = run_instance(in, k, model, tmlim, &t);
        if (rc < 0) {
            fprintf(stderr, "instance %zu: glpsol did not run (%s): is glpk-utils installed?\n", k,
                    strerror(-rc));
            unlink(model);
            rmdir(dir);
            return 2;
        }
    }
    unlink(model);
    rmdir(dir);
    free(in);
    printf("bench-match-quality: %zu instances (seed %llu, up to %zu producers)\n", n,
           (unsigned long long)seed, max_prod);
    printf("  gap to the glpsol optimum: mean %.3f%%, worst %.3f%% (instance %zu) over %zu "
           "proven optimal\n",
           t.proven ? 100 * t.gap_sum / t.proven : 0.0, 100 * t.gap_worst, t.worst_at, t.proven);
    printf("  glpsol not proven optimal within %d s: %zu; capacity short, refused by both: %zu; "
           "failures: %zu\n",
           tmlim, t.not_proven, t.short_refused, t.failures);
    printf("  match_solve: %.1f us mean, %.1f us worst per instance (CPU); glpsol %.1f ms mean "
           "(wall)\n",
           n ? t.us_sum / n : 0.0, t.us_max, n ? 1e3 * t.glp_s / n : 0.0);
    if (do_speed && (speed(5000, 200, seed) < 0 || speed(100000, 20, seed + 1) < 0 ||
                     coop_speed(2000, seed) < 0 || coop_speed(10000, seed) < 0))
        return 2;
    return check && t.failures ? 1 : 0;
}
