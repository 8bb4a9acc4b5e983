/* Brand certification ("Made in Kyrgyzstan" / OVOP label), first half: the scoring rubric
 * and applications (submit -> score -> approve | reject). Approval issues the certificate
 * in the same statement; certificates.c serves certificates from then on.
 *
 * As everywhere in registryd, a change builds its new entity message (the reply and the
 * event payload) before the one SQL statement that stores it. Changes of an existing
 * application therefore read it first; every state check is the SQL function's, after its
 * replay check, so that a retry of a change that succeeded gets its first reply back.
 *
 * Dates: a certificate is "issued today" and expires 36 months later, and the reply that
 * says so is built before the statement runs. The read before a change therefore also
 * selects the database's current_date and the expiry that registry.certificate_expiry()
 * gives it; the SQL function stores exactly that date and refuses one more than a day away
 * from its own current_date (see 0008_registry_certification.sql). The daemon's clock plays
 * no part, so the reply, the stored row and registry.producer_stars() agree.
 *
 * Who decides: the principal's certification role must reach the application's level
 * (district 1-3 stars, region 4, national 5; registry_level_allowed), the decision is
 * recorded under the authenticated principal, and the producer must lie inside the
 * principal's territory (checked by the database for every change, 0017_registry_scope.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pbrow.h"
#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_CRITERIA  20
#define MAX_CRITERION 40   /* bytes of a criterion's name */
#define MAX_POINTS    1000 /* per criterion */
#define MAX_SCORES    64   /* scores in a request, before they meet the rubric */
#define STAR_LEVELS   5
#define MAX_COMMITTEE 200
#define MAX_REASON    500

/* --- the rubric --- */

/* The rubric as columns named like Rubric's fields, from registry.rubric()'s document
 * ({"criteria": [[name, max_points], ...] in order, "thresholds": [[stars, min_points], ...],
 * "version": n}): a subquery aliased rubric. */
#define RUBRIC_FROM                                                                                \
    "(SELECT (SELECT json_agg(json_build_object('name', c->>0, 'max_points', (c->>1)::int) "       \
    "                         ORDER BY i) "                                                        \
    "           FROM jsonb_array_elements(d->'criteria') WITH ORDINALITY AS e(c, i)) "             \
    "        AS criteria, "                                                                        \
    "        (SELECT json_agg(json_build_object('stars', (t->>0)::int, "                           \
    "                                           'min_points', (t->>1)::int) ORDER BY i) "          \
    "           FROM jsonb_array_elements(d->'thresholds') WITH ORDINALITY AS e(t, i)) "           \
    "        AS thresholds, "                                                                      \
    "        (d->>'version')::int AS version "                                                     \
    "   FROM registry.rubric() AS d) rubric"

static const ovop_read_t rubric = {
    .sql = "SELECT rubric.* FROM " RUBRIC_FROM,
    .row = &ovop__v1__rubric__descriptor,
    .noun = "rubric",
};

static void get_rubric(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    registry_t *r = userdata;
    ovop_read_one(call, r->pg, &rubric, "", 0, NULL);
}

/* Stars earned by `total` points: the highest threshold reached, 0 below every one. */
static uint32_t rubric_stars(const Ovop__V1__Rubric *rb, uint32_t total)
{
    uint32_t stars = 0;
    for (size_t i = 0; i < rb->n_thresholds; i++)
        if (total >= rb->thresholds[i]->min_points && rb->thresholds[i]->stars > stars)
            stars = rb->thresholds[i]->stars;
    return stars;
}

static bool criterion_name_valid(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return false;
    return true;
}

/* Checks a proposed rubric: 1 to 20 uniquely named criteria of 1 to 1000 points, and the
 * minimum points of 1, 2, 3, 4 and 5 stars, in that order, strictly increasing, from at
 * least 1 point up to no more than the criteria can give. */
static void check_rubric(ovop_call_t *call, const Ovop__V1__Rubric *rb)
{
    char field[64];
    uint32_t sum = 0;

    if (rb->version <= 0)
        ovop_call_violation(call, "rubric.version", "must be the version you read, got %d",
                            rb->version);
    if (rb->n_criteria == 0)
        ovop_call_violation(call, "rubric.criteria", "at least one criterion is required");
    else if (rb->n_criteria > MAX_CRITERIA)
        ovop_call_violation(call, "rubric.criteria", "at most %d criteria, got %zu", MAX_CRITERIA,
                            rb->n_criteria);
    for (size_t i = 0; i < rb->n_criteria && i < MAX_CRITERIA; i++) {
        const Ovop__V1__RubricCriterion *c = rb->criteria[i];
        snprintf(field, sizeof(field), "rubric.criteria[%zu].name", i);
        if (!c->name[0])
            ovop_call_violation(call, field, "is required");
        else if (strlen(c->name) > MAX_CRITERION || !criterion_name_valid(c->name))
            ovop_call_violation(call, field,
                                "must be up to %d lowercase letters and underscores starting "
                                "with a letter, got \"%.48s\"",
                                MAX_CRITERION, c->name);
        for (size_t j = 0; j < i; j++)
            if (c->name[0] && strcmp(c->name, rb->criteria[j]->name) == 0) {
                ovop_call_violation(
                    call, field, "\"%s\" is listed twice (also rubric.criteria[%zu])", c->name, j);
                break;
            }
        snprintf(field, sizeof(field), "rubric.criteria[%zu].max_points", i);
        if (c->max_points < 1 || c->max_points > MAX_POINTS)
            ovop_call_violation(call, field, "must be 1 to %d, got %u", MAX_POINTS, c->max_points);
        else
            sum += c->max_points;
    }
    if (rb->n_thresholds != STAR_LEVELS) {
        ovop_call_violation(call, "rubric.thresholds",
                            "must list the minimum points of 1, 2, 3, 4 and 5 stars, got %zu "
                            "thresholds",
                            rb->n_thresholds);
        return;
    }
    for (size_t i = 0; i < STAR_LEVELS; i++) {
        const Ovop__V1__StarThreshold *t = rb->thresholds[i];
        if (t->stars != i + 1) {
            snprintf(field, sizeof(field), "rubric.thresholds[%zu].stars", i);
            ovop_call_violation(call, field,
                                "must be %zu: list the thresholds of 1 to 5 stars in order, got %u",
                                i + 1, t->stars);
        }
        snprintf(field, sizeof(field), "rubric.thresholds[%zu].min_points", i);
        if (i == 0 && t->min_points < 1)
            ovop_call_violation(call, field,
                                "must be at least 1: an application without points earns no "
                                "star");
        else if (i > 0 && t->min_points <= rb->thresholds[i - 1]->min_points)
            ovop_call_violation(call, field,
                                "must be above the %u points of %zu star%s (thresholds strictly "
                                "increase), got %u",
                                rb->thresholds[i - 1]->min_points, i, i == 1 ? "" : "s",
                                t->min_points);
    }
    if (rb->n_criteria > 0 && rb->n_criteria <= MAX_CRITERIA &&
        rb->thresholds[STAR_LEVELS - 1]->min_points > sum)
        ovop_call_violation(call, "rubric.thresholds[4].min_points",
                            "5 stars need %u points but the criteria give at most %u",
                            rb->thresholds[STAR_LEVELS - 1]->min_points, sum);
}

static void set_rubric(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetRubricRequest *in = (const Ovop__V1__SetRubricRequest *)input;
    registry_t *r = userdata;
    if (!in->rubric) {
        ovop_call_violation(call, "rubric", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    check_rubric(call, in->rubric);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__Rubric *out = ovop_call_alloc(call, sizeof(*out));
    *out = *in->rubric;
    out->version = in->rubric->version + 1;
    /* The function's documents: criteria [[name, max_points], ...], thresholds [[stars,
     * min_points], ...]. */
    json_t *crit = json_array(), *thr = json_array();
    for (size_t i = 0; i < out->n_criteria; i++)
        json_array_append_new(crit, json_pack("[sI]", out->criteria[i]->name,
                                              (json_int_t)out->criteria[i]->max_points));
    for (size_t i = 0; i < out->n_thresholds; i++)
        json_array_append_new(thr, json_pack("[II]", (json_int_t)out->thresholds[i]->stars,
                                             (json_int_t)out->thresholds[i]->min_points));
    const ovop_arg_t args[] = {
        {"p_version", ovop_call_printf(call, "%d", in->rubric->version)},
        {"p_criteria", registry_json_text(call, crit)},
        {"p_thresholds", registry_json_text(call, thr)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &out->base)},
    };
    OVOP_MUTATE(call, &r->mutator, "registry.set_rubric", args, &out->base);
}

/* --- applications --- */

/* An Application, its columns named as its fields (read by name, pbrow.h); status and
 * approval_level are stored as the enums' texts (submitted, district...). */
#define APPLICATION_COLUMNS                                                                        \
    "a.id, a.producer_id, a.product_id, a.status, a.scores, a.total, a.stars, "                    \
    "a.approval_level, a.committee, a.decided_by, a.reason, "                                      \
    "coalesce(a.certificate_number, '') AS certificate_number, a.version, "                        \
    "(extract(epoch FROM a.submitted_at) * 1000000)::bigint AS submitted_us, "                     \
    "(extract(epoch FROM a.updated_at) * 1000000)::bigint AS updated_us"

static const ovop_read_t application = {
    .sql = "SELECT " APPLICATION_COLUMNS " FROM registry.applications a WHERE a.id = $1::bigint",
    .row = &ovop__v1__application__descriptor,
    .noun = "application with id",
};

/* What a change needs besides the application: the rubric to score against (a JSON object
 * named like Rubric's fields); the database's today, the expiry of a certificate issued
 * today and, when approving ($2), a certificate number's sequence. */
static const ovop_read_t application_change = {
    .sql = "SELECT " APPLICATION_COLUMNS ", row_to_json(rubric) AS rubric, "
           "current_date::text AS today, "
           "registry.certificate_expiry(current_date)::text AS new_expiry, "
           "CASE WHEN $2::bool THEN nextval('registry.certificate_numbers') END AS new_sequence "
           "FROM registry.applications a, " RUBRIC_FROM " WHERE a.id = $1::bigint",
    .row = &ovop__v1__application__descriptor,
    .noun = "application with id",
};

static bool check_id(ovop_call_t *call, const char *field, int64_t id)
{
    if (id > 0)
        return true;
    ovop_call_violation(call, field, "must be a positive id, got %lld", (long long)id);
    return false;
}

static void check_version(ovop_call_t *call, int32_t version)
{
    if (version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", version);
}

static char *number(ovop_call_t *call, int64_t v)
{
    return ovop_call_printf(call, "%lld", (long long)v);
}

/* --- SubmitApplication --- */

static void store_submitted(ovop_call_t *call, int64_t id, const char *today, void *userdata)
{
    registry_t *r = userdata;
    const Ovop__V1__SubmitApplicationRequest *in =
        (const Ovop__V1__SubmitApplicationRequest *)ovop_call_input(call);
    (void)today;
    Ovop__V1__Application *a =
        (Ovop__V1__Application *)ovop_call_message(call, &ovop__v1__application__descriptor);
    a->id = id;
    a->producer_id = in->producer_id;
    a->product_id = in->product_id;
    a->status = OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SUBMITTED;
    a->version = 1;
    a->submitted_us = a->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", number(call, a->id)},
        {"p_producer", number(call, a->producer_id)},
        {"p_product", number(call, a->product_id)},
        {"p_at_us", number(call, a->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &a->base)},
    };
    OVOP_MUTATE(call, &r->mutator, "registry.submit_application", args, &a->base);
}

static void submit_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SubmitApplicationRequest *in =
        (const Ovop__V1__SubmitApplicationRequest *)input;
    check_id(call, "producer_id", in->producer_id);
    check_id(call, "product_id", in->product_id);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    registry_new_id(call, userdata, store_submitted, userdata);
}

/* --- ScoreApplication and DecideApplication: read, build the new state, store --- */

typedef struct change_ctx change_ctx_t;
/* Builds the changed application a (read with application_change into res) and stores it. */
typedef void (*change_fn)(change_ctx_t *cx, Ovop__V1__Application *a, PGresult *res);

struct change_ctx {
    ovop_call_t *call;
    registry_t *r;
    int64_t id;
    change_fn store;
};

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    Ovop__V1__Application *a;
    if (error)
        ovop_call_fail_db(cx->call, res, error);
    else if (PQntuples(res) == 0)
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no application with id %lld", (long long)cx->id);
    else if ((a = (Ovop__V1__Application *)ovop_read_row(cx->call, &application_change, res, 0)))
        cx->store(cx, a, res);
}

static void read_current(ovop_call_t *call, registry_t *r, int64_t id, bool approving,
                         change_fn store)
{
    change_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    *cx = (change_ctx_t){call, r, id, store};
    const char *params[] = {number(call, id), approving ? "true" : "false"};
    ovop_call_query(call, r->pg, application_change.sql, 2, params, on_current, cx);
}

/* The rubric read with the application, in the call's arena; NULL after failing the call
 * when it does not decode (a database edited by hand). */
static Ovop__V1__Rubric *current_rubric(ovop_call_t *call, PGresult *res)
{
    const char *text = ovop_pg_value(res, 0, "rubric"), *why = "rubric";
    ProtobufCMessage *rb =
        ovop_pb_from_json_text(ovop_call_arena(call), &ovop__v1__rubric__descriptor, text, &why);
    if (!rb) {
        log_error_rid(ovop_call_request_id(call), "the stored rubric does not decode (%s): %s", why,
                      text);
        ovop_call_fail(call, OVOP_INTERNAL, "the stored rubric is damaged");
    }
    return (Ovop__V1__Rubric *)rb;
}

/* The index of rb's criterion `name`, or rb->n_criteria when it has none. */
static size_t criterion_index(const Ovop__V1__Rubric *rb, const char *name)
{
    size_t k = 0;
    while (k < rb->n_criteria && strcmp(rb->criteria[k]->name, name) != 0)
        k++;
    return k;
}

static void unknown_criterion(ovop_call_t *call, const char *field, const Ovop__V1__Rubric *rb,
                              const char *name)
{
    ovop_buf_t known;
    ovop_buf_init(&known);
    for (size_t j = 0; j < rb->n_criteria; j++)
        ovop_buf_printf(&known, "%s%s", j ? ", " : "", rb->criteria[j]->name);
    ovop_call_violation(call, field, "\"%.48s\" is not a criterion of the rubric (version %d): %s",
                        name, rb->version, known.data ? known.data : "");
    ovop_buf_free(&known);
}

/* Matches the request's scores with the rubric's criteria: every criterion scored exactly
 * once, within its maximum. Returns the points in the rubric's order (in the call's arena);
 * adds violations. */
static uint32_t *match_scores(ovop_call_t *call, const Ovop__V1__Rubric *rb,
                              const Ovop__V1__ScoreApplicationRequest *in)
{
    char field[48];
    uint32_t *points = ovop_call_alloc(call, (rb->n_criteria + 1) * sizeof(*points));
    size_t *scored_by = ovop_call_alloc(call, (rb->n_criteria + 1) * sizeof(*scored_by));
    for (size_t k = 0; k < rb->n_criteria; k++)
        scored_by[k] = SIZE_MAX;
    for (size_t i = 0; i < in->n_scores; i++) {
        const Ovop__V1__CriterionScore *s = in->scores[i];
        const Ovop__V1__RubricCriterion *c;
        size_t k = criterion_index(rb, s->criterion);
        snprintf(field, sizeof(field), "scores[%zu].criterion", i);
        if (k == rb->n_criteria) {
            unknown_criterion(call, field, rb, s->criterion);
            continue;
        }
        c = rb->criteria[k];
        if (scored_by[k] != SIZE_MAX) {
            ovop_call_violation(call, field, "%s is scored twice (also scores[%zu])", c->name,
                                scored_by[k]);
            continue;
        }
        scored_by[k] = i;
        points[k] = s->points;
        if (s->points > c->max_points) {
            snprintf(field, sizeof(field), "scores[%zu].points", i);
            ovop_call_violation(call, field, "%u is above the maximum of %u points for %s",
                                s->points, c->max_points, c->name);
        }
    }
    for (size_t k = 0; k < rb->n_criteria; k++)
        if (scored_by[k] == SIZE_MAX)
            ovop_call_violation(call, "scores", "missing a score for %s (at most %u points)",
                                rb->criteria[k]->name, rb->criteria[k]->max_points);
    return points;
}

/* Scores a with points (in rb's order): its scores, total, stars and the level that approves
 * it. Returns the scores as the function stores them (JSON text). */
static char *score(ovop_call_t *call, Ovop__V1__Application *a, const Ovop__V1__Rubric *rb,
                   const uint32_t *points)
{
    json_t *stored = json_array();
    a->scores = ovop_call_alloc(call, (rb->n_criteria + 1) * sizeof(*a->scores));
    a->n_scores = rb->n_criteria;
    a->total = 0;
    for (size_t k = 0; k < rb->n_criteria; k++) {
        Ovop__V1__CriterionScore *s = (Ovop__V1__CriterionScore *)ovop_call_message(
            call, &ovop__v1__criterion_score__descriptor);
        s->criterion = rb->criteria[k]->name;
        s->points = points[k];
        a->scores[k] = s;
        a->total += points[k];
        json_array_append_new(stored, json_pack("{sssI}", "criterion", s->criterion, "points",
                                                (json_int_t)s->points));
    }
    a->stars = rubric_stars(rb, a->total);
    a->approval_level = registry_level_for_stars(a->stars);
    return registry_json_text(call, stored);
}

static void store_scored(change_ctx_t *cx, Ovop__V1__Application *a, PGresult *res)
{
    ovop_call_t *call = cx->call;
    const Ovop__V1__ScoreApplicationRequest *in =
        (const Ovop__V1__ScoreApplicationRequest *)ovop_call_input(call);
    Ovop__V1__Rubric *rb = current_rubric(call, res);
    if (!rb)
        return;
    uint32_t *points = match_scores(call, rb, in);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    char *scores = score(call, a, rb, points);
    a->status = OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SCORED;
    a->committee = in->committee;
    a->version = in->version + 1;
    a->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", number(call, a->id)},
        {"p_version", ovop_call_printf(call, "%d", in->version)},
        {"p_rubric_version", ovop_call_printf(call, "%d", rb->version)},
        {"p_scores", scores},
        {"p_total", ovop_call_printf(call, "%u", a->total)},
        {"p_stars", ovop_call_printf(call, "%u", a->stars)},
        {"p_level", ovop_enum_text(&ovop__v1__approval_level__descriptor, a->approval_level)},
        {"p_committee", a->committee},
        {"p_at_us", number(call, a->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &a->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator, "registry.score_application", args, &a->base);
}

static void score_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ScoreApplicationRequest *in = (const Ovop__V1__ScoreApplicationRequest *)input;
    check_id(call, "application_id", in->application_id);
    check_version(call, in->version);
    if (in->n_scores == 0)
        ovop_call_violation(call, "scores", "one score per criterion of the rubric is required");
    else if (in->n_scores > MAX_SCORES)
        ovop_call_violation(call, "scores", "at most %d, got %zu", MAX_SCORES, in->n_scores);
    for (size_t i = 0; i < in->n_scores && i < MAX_SCORES; i++) {
        char field[48];
        snprintf(field, sizeof(field), "scores[%zu].criterion", i);
        ovop_check_text(call, field, in->scores[i]->criterion, MAX_CRITERION, true);
    }
    ovop_check_text(call, "committee", in->committee, MAX_COMMITTEE, false);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    read_current(call, userdata, in->application_id, false, store_scored);
}

/* The certificate approving a issues on `today`: the payload of
 * ovop.registry.certificate.issued. */
static Ovop__V1__Certificate *issued(ovop_call_t *call, const Ovop__V1__Application *a,
                                     const char *today, const char *expires)
{
    Ovop__V1__Certificate *c =
        (Ovop__V1__Certificate *)ovop_call_message(call, &ovop__v1__certificate__descriptor);
    c->number = a->certificate_number;
    c->producer_id = a->producer_id;
    c->product_id = a->product_id;
    c->application_id = a->id;
    c->stars = a->stars;
    c->issued_on = ovop_call_strdup(call, today);
    c->expires_on = ovop_call_strdup(call, expires);
    c->status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    c->version = 1;
    return c;
}

/* a approved (issuing the certificate `number`) or rejected as the request says, by the
 * authenticated principal: the request's decided_by is ignored (a client could write any
 * name there). */
static void decide(ovop_call_t *call, Ovop__V1__Application *a,
                   const Ovop__V1__DecideApplicationRequest *in, char *number)
{
    a->status = in->approve ? OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_APPROVED
                            : OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_REJECTED;
    a->decided_by = ovop_call_strdup(call, ovop_call_caller(call));
    a->reason = in->reason;
    a->certificate_number = number;
    a->version = in->version + 1;
    a->updated_us = ovop_now_us();
}

static void store_decided(change_ctx_t *cx, Ovop__V1__Application *a, PGresult *res)
{
    ovop_call_t *call = cx->call;
    const Ovop__V1__DecideApplicationRequest *in =
        (const Ovop__V1__DecideApplicationRequest *)ovop_call_input(call);
    const char *today = ovop_pg_value(res, 0, "today");
    char *cert_number = "";
    /* The level is the application's as read: approving needs in->level to be the same, and
     * the function goes on only while the application is at the version the client sent,
     * so these are the stars decided on or nothing is written. Rejecting a national
     * application is as much a national decision as approving it. */
    if (!registry_level_allowed(call, a->stars,
                                ovop_call_printf(call, "%s application %lld",
                                                 in->approve ? "approving" : "rejecting",
                                                 (long long)a->id)))
        return;
    if (in->approve && !(cert_number = registry_certificate_number(
                             call, today, ovop_pg_value(res, 0, "new_sequence"))))
        return;
    decide(call, a, in, cert_number);
    Ovop__V1__Certificate *c =
        in->approve ? issued(call, a, today, ovop_pg_value(res, 0, "new_expiry")) : NULL;
    const ovop_arg_t args[] = {
        {"p_id", number(call, a->id)},
        {"p_version", ovop_call_printf(call, "%d", in->version)},
        {"p_approve", in->approve ? "true" : "false"},
        {"p_level", ovop_enum_text(&ovop__v1__approval_level__descriptor, in->level)},
        {"p_decided_by", a->decided_by},
        {"p_reason", a->reason},
        {"p_today", today},
        {"p_number", c ? c->number : NULL},
        {"p_at_us", number(call, a->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &a->base)},
        {"p_cert_event_id", c ? ovop_call_uuid(call) : NULL},
        {"p_cert_event", c ? ovop_call_bytea(call, &c->base) : NULL},
    };
    OVOP_MUTATE(call, &cx->r->mutator, "registry.decide_application", args, &a->base);
}

static void decide_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__DecideApplicationRequest *in =
        (const Ovop__V1__DecideApplicationRequest *)input;
    check_id(call, "application_id", in->application_id);
    check_version(call, in->version);
    if (in->level && !ovop_enum_text(&ovop__v1__approval_level__descriptor, in->level)[0])
        ovop_call_violation(call, "level", "unknown approval level %d", (int)in->level);
    else if (in->approve && in->level == OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED)
        ovop_call_violation(call, "level",
                            "is required when approving: DISTRICT (1 to 3 stars), REGION (4) or "
                            "NATIONAL (5)");
    if (ovop_check_text(call, "reason", in->reason, MAX_REASON, false) && !in->approve &&
        !in->reason[0])
        ovop_call_violation(call, "reason", "is required when rejecting");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    read_current(call, userdata, in->application_id, in->approve, store_decided);
}

/* --- GetApplication --- */

static void get_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetApplicationRequest *in = (const Ovop__V1__GetApplicationRequest *)input;
    registry_t *r = userdata;
    if (!check_id(call, "id", in->id)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {number(call, in->id)};
    ovop_read_one(call, r->pg, &application, params[0], 1, params);
}

static const ovop_method_t methods[] = {
    {"GetRubric", get_rubric},
    {"SetRubric", set_rubric},
    {"SubmitApplication", submit_application},
    {"ScoreApplication", score_application},
    {"DecideApplication", decide_application},
    {"GetApplication", get_application},
};

void registry_certification_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
