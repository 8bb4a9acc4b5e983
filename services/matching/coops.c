/* ProposeCooperatives: the active, located producers of an HS code inside a territory, each
 * with its capacity in a window (all its products of that code), grouped by coop_propose()
 * (coop.h) into disjoint proposed cooperatives that reach the target lot within the distance
 * limit; each proposal says why (hub, members, distances, capacity against the target). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coop.h"
#include "matchd.h"
#include "util.h"

#define MAX_MEMBERS_LIMIT 1000

/* The significant prefix of a SOATE code: 417 and the groups (oblast 2, rayon 3, aiyl aimak 3,
 * village 3 digits) up to the last that is not all zeros. */
static size_t soate_prefix_len(const char *code)
{
    static const size_t cuts[] = {3, 5, 8, 11, 14};
    size_t len = 3;
    for (size_t i = 1; i < OVOP_ARRAY_SIZE(cuts); i++)
        for (size_t k = cuts[i - 1]; k < cuts[i]; k++)
            if (code[k] != '0')
                len = cuts[i];
    return len;
}

static void default_window(ovop_call_t *call, const char **from, const char **to)
{
    time_t now = time(NULL);
    struct tm tm;
    char a[11], b[11];
    gmtime_r(&now, &tm);
    strftime(a, sizeof(a), "%Y-%m-%d", &tm);
    now += 30 * 86400;
    gmtime_r(&now, &tm);
    strftime(b, sizeof(b), "%Y-%m-%d", &tm);
    *from = ovop_call_strdup(call, a);
    *to = ovop_call_strdup(call, b);
}

typedef struct who {
    const mx_product_t *p; /* one product of the producer: name, territory */
} who_t;

typedef struct offer {
    int64_t producer_id;
    double capacity;
    const mx_product_t *p;
} offer_t;

static int cmp_offer(const void *a, const void *b)
{
    int64_t x = ((const offer_t *)a)->producer_id, y = ((const offer_t *)b)->producer_id;
    return x < y ? -1 : x > y;
}

/* One point per producer of the territory (its products of the code add up): offers sorted
 * by producer, then merged. Returns the number of points. */
static size_t points_of(ovop_call_t *call, mx_product_t *const *all, size_t n, const char *prefix,
                        size_t plen, const int counts[12], coop_point_t *pts, who_t *who)
{
    offer_t *offers = ovop_call_alloc(call, (n + 1) * sizeof(*offers));
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        const mx_product_t *p = all[i];
        if (p->status != 'a' || !p->located || strncmp(p->territory, prefix, plen) != 0)
            continue;
        double cap = mx_window_capacity(p, counts);
        if (cap > 0)
            offers[m++] = (offer_t){p->producer_id, cap, p};
    }
    if (m)
        qsort(offers, m, sizeof(*offers), cmp_offer);
    for (size_t i = 0; i < m; i++) {
        if (k && pts[k - 1].producer_id == offers[i].producer_id) {
            pts[k - 1].capacity += offers[i].capacity;
            continue;
        }
        pts[k] = (coop_point_t){offers[i].producer_id, offers[i].p->lat, offers[i].p->lon,
                                offers[i].capacity};
        who[k++].p = offers[i].p;
    }
    return k;
}

static bool check(ovop_call_t *call, const Ovop__V1__ProposeCooperativesRequest *in)
{
    if (strlen(in->hs_code) != 6 || !ovop_all_digits(in->hs_code, 6))
        ovop_call_violation(call, "hs_code", "must be 6 digits");
    if (strlen(in->territory_code) != 14 || !ovop_all_digits(in->territory_code, 14) ||
        strncmp(in->territory_code, "417", 3) != 0)
        ovop_call_violation(call, "territory_code", "must be a SOATE code (14 digits, 417...)");
    if (!(in->target > 0) || !isfinite(in->target))
        ovop_call_violation(call, "target", "must be positive (the lot to reach)");
    if (!(in->max_km > 0) || !isfinite(in->max_km) || in->max_km > 2000)
        ovop_call_violation(call, "max_km", "must be positive, at most 2000");
    if (in->max_members < 0 || in->max_members > MAX_MEMBERS_LIMIT)
        ovop_call_violation(call, "max_members", "must be 0 (no limit) to %d", MAX_MEMBERS_LIMIT);
    if ((in->window_from[0] || in->window_to[0]) &&
        (!ovop_date_valid(in->window_from) || !ovop_date_valid(in->window_to) ||
         strcmp(in->window_to, in->window_from) < 0))
        ovop_call_violation(call, "window_to", "the window must be two dates, from <= to");
    return !ovop_call_has_violations(call);
}

static Ovop__V1__ProposedCooperative *proposal(ovop_call_t *call, const coop_group_t *g,
                                               const coop_point_t *pts, const who_t *who,
                                               double target, const char *unit)
{
    Ovop__V1__ProposedCooperative *c = (Ovop__V1__ProposedCooperative *)ovop_call_message(
        call, &ovop__v1__proposed_cooperative__descriptor);
    c->n_producer_ids = c->n_territory_codes = g->n;
    c->producer_ids = ovop_call_alloc(call, (g->n + 1) * sizeof(*c->producer_ids));
    c->territory_codes = ovop_call_alloc(call, (g->n + 1) * sizeof(*c->territory_codes));
    for (size_t k = 0; k < g->n; k++) {
        c->producer_ids[k] = pts[g->members[k]].producer_id;
        c->territory_codes[k] = ovop_call_strdup(call, who[g->members[k]].p->territory);
    }
    c->capacity = g->capacity;
    c->max_km = round(g->max_km * 10) / 10;
    c->mean_km = round(g->mean_km * 10) / 10;
    const mx_product_t *hub = who[g->members[0]].p;
    c->explanation = ovop_call_printf(
        call,
        "hub %s (producer %lld, %s); %zu members within %.1f km of it (mean %.1f km) together "
        "offer %.0f %s in the window, %.0f%% of the %.0f %s lot",
        hub->name, (long long)hub->producer_id, hub->territory, g->n, g->max_km, g->mean_km,
        g->capacity, unit, 100 * g->capacity / target, target, unit);
    return c;
}

static void propose(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    matchd_t *m = userdata;
    const Ovop__V1__ProposeCooperativesRequest *in =
        (const Ovop__V1__ProposeCooperativesRequest *)input;
    if (!check(call, in)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *from = in->window_from, *to = in->window_to;
    if (!from[0])
        default_window(call, &from, &to);
    size_t n, plen = soate_prefix_len(in->territory_code);
    mx_product_t *const *all = mx_index_hs(m->index, in->hs_code, &n);
    coop_point_t *pts = ovop_call_alloc(call, (n + 1) * sizeof(*pts));
    who_t *who = ovop_call_alloc(call, (n + 1) * sizeof(*who));
    int counts[12];
    mx_window_months(from, to, counts);
    size_t k = points_of(call, all, n, in->territory_code, plen, counts, pts, who);
    coop_params_t params = {in->target, in->max_km, (size_t)in->max_members};
    coop_group_t *groups = NULL;
    size_t n_groups = 0;
    if (k && coop_propose(pts, k, &params, &groups, &n_groups) < 0) {
        ovop_call_fail_reason(call, OVOP_INTERNAL, "INTERNAL", "the proposal failed");
        return;
    }
    Ovop__V1__ProposeCooperativesResponse *out =
        (Ovop__V1__ProposeCooperativesResponse *)ovop_call_message(
            call, &ovop__v1__propose_cooperatives_response__descriptor);
    const char *unit = mx_index_hs_unit(m->index, in->hs_code);
    out->candidates = (int32_t)k;
    out->n_proposals = n_groups;
    out->proposals = ovop_call_alloc(call, (n_groups + 1) * sizeof(*out->proposals));
    double assigned = 0, total = 0;
    for (size_t g = 0; g < n_groups; g++) {
        out->proposals[g] = proposal(call, &groups[g], pts, who, in->target, unit ? unit : "");
        assigned += groups[g].capacity;
    }
    for (size_t i = 0; i < k; i++)
        total += pts[i].capacity;
    out->unassigned_capacity = total - assigned;
    coop_groups_free(groups, n_groups);
    ovop_call_finish(call, &out->base);
}

void matchd_coops_register(matchd_t *m)
{
    static const ovop_method_t methods[] = {{"ProposeCooperatives", propose}};
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(m->d), methods, m);
}
