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
 * no part, so the reply, the stored row and registry.producer_stars() agree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_CRITERIA      20
#define MAX_CRITERION     40   /* bytes of a criterion's name */
#define MAX_POINTS        1000 /* per criterion */
#define MAX_SCORES        64   /* scores in a request, before they meet the rubric */
#define STAR_LEVELS       5
#define MAX_COMMITTEE     200
#define MAX_REASON        500
#define MAX_CERT_SEQUENCE 999999 /* the six digits of OVOP-<year>-<sequence> */

static const char *const app_status_names[] = {"", "submitted", "scored", "approved", "rejected"};
static const char *const level_names[] = {"", "district", "region", "national"};

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return 0;
}

/* Who approves an application of `stars`: district for 1-3, region for 4, national for 5;
 * UNSPECIFIED when it has none. */
static Ovop__V1__ApprovalLevel level_for_stars(uint32_t stars)
{
    if (stars == 0)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED;
    if (stars <= 3)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_DISTRICT;
    if (stars == 4)
        return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_REGION;
    return OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_NATIONAL;
}

/* --- the rubric --- */

/* A rubric decoded from registry.rubric()'s JSON; names borrow `json`. */
typedef struct rubric {
    size_t n_criteria;
    const char *names[MAX_CRITERIA];
    uint32_t max_points[MAX_CRITERIA];
    size_t n_thresholds;
    uint32_t stars[STAR_LEVELS];
    uint32_t min_points[STAR_LEVELS];
    int32_t version;
    json_t *json;
} rubric_t;

/* Decodes text from registry.rubric(). Returns 0, or -EBADMSG for a document this code
 * cannot hold (a database edited by hand). */
static int rubric_parse(const char *text, rubric_t *ret)
{
    rubric_t r = {0};
    r.json = json_loads(text, 0, NULL);
    json_t *crit = json_object_get(r.json, "criteria");
    json_t *thr = json_object_get(r.json, "thresholds");
    if (!json_is_array(crit) || !json_is_array(thr) || json_array_size(crit) > MAX_CRITERIA ||
        json_array_size(thr) > STAR_LEVELS)
        goto bad;
    r.n_criteria = json_array_size(crit);
    for (size_t i = 0; i < r.n_criteria; i++) {
        json_t *c = json_array_get(crit, i);
        r.names[i] = json_string_value(json_array_get(c, 0));
        r.max_points[i] = (uint32_t)json_integer_value(json_array_get(c, 1));
        if (!r.names[i])
            goto bad;
    }
    r.n_thresholds = json_array_size(thr);
    for (size_t i = 0; i < r.n_thresholds; i++) {
        json_t *t = json_array_get(thr, i);
        r.stars[i] = (uint32_t)json_integer_value(json_array_get(t, 0));
        r.min_points[i] = (uint32_t)json_integer_value(json_array_get(t, 1));
    }
    r.version = (int32_t)json_integer_value(json_object_get(r.json, "version"));
    *ret = r;
    return 0;
bad:
    json_decref(r.json);
    return -EBADMSG;
}

static void rubric_free(rubric_t *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* Stars earned by `total` points: the highest threshold reached, 0 below every one. */
static uint32_t rubric_stars(const rubric_t *r, uint32_t total)
{
    uint32_t stars = 0;
    for (size_t i = 0; i < r->n_thresholds; i++)
        if (total >= r->min_points[i] && r->stars[i] > stars)
            stars = r->stars[i];
    return stars;
}

/* A Rubric message over a rubric_t (which must outlive it). */
typedef struct rubric_msg {
    Ovop__V1__Rubric m;
    Ovop__V1__RubricCriterion criteria[MAX_CRITERIA];
    Ovop__V1__RubricCriterion *criterion_ptrs[MAX_CRITERIA];
    Ovop__V1__StarThreshold thresholds[STAR_LEVELS];
    Ovop__V1__StarThreshold *threshold_ptrs[STAR_LEVELS];
} rubric_msg_t;

static void rubric_msg_init(rubric_msg_t *out, const rubric_t *r)
{
    ovop__v1__rubric__init(&out->m);
    for (size_t i = 0; i < r->n_criteria; i++) {
        ovop__v1__rubric_criterion__init(&out->criteria[i]);
        out->criteria[i].name = (char *)r->names[i];
        out->criteria[i].max_points = r->max_points[i];
        out->criterion_ptrs[i] = &out->criteria[i];
    }
    for (size_t i = 0; i < r->n_thresholds; i++) {
        ovop__v1__star_threshold__init(&out->thresholds[i]);
        out->thresholds[i].stars = r->stars[i];
        out->thresholds[i].min_points = r->min_points[i];
        out->threshold_ptrs[i] = &out->thresholds[i];
    }
    out->m.n_criteria = r->n_criteria;
    out->m.criteria = out->criterion_ptrs;
    out->m.n_thresholds = r->n_thresholds;
    out->m.thresholds = out->threshold_ptrs;
    out->m.version = r->version;
}

static void on_get_rubric(PGresult *res, const char *error, void *userdata)
{
    ovop_call_t *call = userdata;
    rubric_t r;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (rubric_parse(PQgetvalue(res, 0, 0), &r) < 0) {
        log_error_rid(ovop_call_request_id(call), "the stored rubric does not decode: %s",
                      PQgetvalue(res, 0, 0));
        ovop_call_fail(call, OVOP_INTERNAL, "the stored rubric is damaged");
        return;
    }
    rubric_msg_t msg;
    rubric_msg_init(&msg, &r);
    ovop_call_finish(call, &msg.m.base);
    rubric_free(&r);
}

static void get_rubric(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    registry_t *r = userdata;
    ovop_call_query(call, r->pg, "SELECT registry.rubric()::text", 0, NULL, on_get_rubric, call);
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
    Ovop__V1__Rubric out = *in->rubric;
    out.version = in->rubric->version + 1;
    json_t *crit = json_array(), *thr = json_array();
    for (size_t i = 0; i < out.n_criteria; i++)
        json_array_append_new(crit, json_pack("[sI]", out.criteria[i]->name,
                                              (json_int_t)out.criteria[i]->max_points));
    for (size_t i = 0; i < out.n_thresholds; i++)
        json_array_append_new(thr, json_pack("[II]", (json_int_t)out.thresholds[i]->stars,
                                             (json_int_t)out.thresholds[i]->min_points));
    char *crit_s = json_dumps(crit, JSON_COMPACT), *thr_s = json_dumps(thr, JSON_COMPACT);
    char version[16], uuid[37];
    snprintf(version, sizeof(version), "%d", in->rubric->version);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&out.base);
    const char *args[] = {version, crit_s, thr_s, uuid, event};
    ovop_mutate_sql(call, &r->mutator,
                "SELECT * FROM registry.set_rubric($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                (int)OVOP_ARRAY_SIZE(args), args, &out.base);
    free(event);
    free(crit_s);
    free(thr_s);
    json_decref(crit);
    json_decref(thr);
}

/* --- applications --- */

/* The application columns, in the order app_from_row reads them. */
#define APPLICATION_COLUMNS                                                                        \
    "a.id, a.producer_id, a.product_id, a.status, a.scores::text, a.total, a.stars, "              \
    "a.approval_level, a.committee, a.decided_by, a.reason, "                                      \
    "coalesce(a.certificate_number, ''), a.version, "                                              \
    "(extract(epoch FROM a.submitted_at) * 1000000)::bigint, "                                     \
    "(extract(epoch FROM a.updated_at) * 1000000)::bigint"
#define APPLICATION_NCOLS 15

static const char get_sql[] =
    "SELECT " APPLICATION_COLUMNS " FROM registry.applications a WHERE a.id = $1::bigint";

/* What a change needs besides the application: the rubric to score against; the database's
 * today, the expiry of a certificate issued today and, when approving ($2), a certificate
 * number. */
static const char current_sql[] =
    "SELECT " APPLICATION_COLUMNS ", registry.rubric()::text, current_date::text, "
    "registry.certificate_expiry(current_date)::text, "
    "CASE WHEN $2::bool THEN nextval('registry.certificate_numbers') END "
    "FROM registry.applications a WHERE a.id = $1::bigint";

/* An Application decoded from a row; strings borrow the PGresult and the scores' JSON. */
typedef struct app_row {
    Ovop__V1__Application a;
    Ovop__V1__CriterionScore *scores;
    Ovop__V1__CriterionScore **score_ptrs;
    json_t *scores_json;
} app_row_t;

static void app_row_free(app_row_t *r)
{
    free(r->scores);
    free(r->score_ptrs);
    json_decref(r->scores_json);
}

static void app_from_row(PGresult *res, int i, app_row_t *r)
{
    memset(r, 0, sizeof(*r));
    ovop__v1__application__init(&r->a);
    r->a.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    r->a.producer_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    r->a.product_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    r->a.status =
        name_index(app_status_names, OVOP_ARRAY_SIZE(app_status_names), PQgetvalue(res, i, 3));
    r->scores_json = json_loads(PQgetvalue(res, i, 4), 0, NULL);
    size_t n = json_is_array(r->scores_json) ? json_array_size(r->scores_json) : 0;
    r->scores = xcalloc(n, sizeof(*r->scores));
    r->score_ptrs = xcalloc(n, sizeof(*r->score_ptrs));
    for (size_t k = 0; k < n; k++) {
        json_t *s = json_array_get(r->scores_json, k);
        ovop__v1__criterion_score__init(&r->scores[k]);
        r->scores[k].criterion = (char *)(json_string_value(json_object_get(s, "criterion")) ?: "");
        r->scores[k].points = (uint32_t)json_integer_value(json_object_get(s, "points"));
        r->score_ptrs[k] = &r->scores[k];
    }
    r->a.n_scores = n;
    r->a.scores = r->score_ptrs;
    r->a.total = (uint32_t)strtoul(PQgetvalue(res, i, 5), NULL, 10);
    r->a.stars = (uint32_t)strtoul(PQgetvalue(res, i, 6), NULL, 10);
    r->a.approval_level =
        name_index(level_names, OVOP_ARRAY_SIZE(level_names), PQgetvalue(res, i, 7));
    r->a.committee = PQgetvalue(res, i, 8);
    r->a.decided_by = PQgetvalue(res, i, 9);
    r->a.reason = PQgetvalue(res, i, 10);
    r->a.certificate_number = PQgetvalue(res, i, 11);
    r->a.version = (int32_t)strtol(PQgetvalue(res, i, 12), NULL, 10);
    r->a.submitted_us = strtoll(PQgetvalue(res, i, 13), NULL, 10);
    r->a.updated_us = strtoll(PQgetvalue(res, i, 14), NULL, 10);
}

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

/* --- SubmitApplication --- */

typedef struct submit_ctx {
    ovop_call_t *call;
    registry_t *r;
    int64_t producer_id;
    int64_t product_id;
} submit_ctx_t;

static void on_application_id(int64_t id, const char *error, void *userdata)
{
    submit_ctx_t *s = userdata;
    if (error) {
        ovop_call_fail_db(s->call, NULL, error);
        free(s);
        return;
    }
    Ovop__V1__Application a = OVOP__V1__APPLICATION__INIT;
    a.id = id;
    a.producer_id = s->producer_id;
    a.product_id = s->product_id;
    a.status = OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SUBMITTED;
    a.version = 1;
    a.submitted_us = a.updated_us = ovop_now_us();
    char id_s[24], producer[24], product[24], at[24], uuid[37];
    snprintf(id_s, sizeof(id_s), "%lld", (long long)a.id);
    snprintf(producer, sizeof(producer), "%lld", (long long)a.producer_id);
    snprintf(product, sizeof(product), "%lld", (long long)a.product_id);
    snprintf(at, sizeof(at), "%lld", (long long)a.updated_us);
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&a.base);
    const char *args[] = {id_s, producer, product, at, uuid, event};
    ovop_mutate_sql(s->call, &s->r->mutator,
                "SELECT * FROM registry.submit_application($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11)",
                (int)OVOP_ARRAY_SIZE(args), args, &a.base);
    free(event);
    free(s);
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
    submit_ctx_t *s = xcalloc(1, sizeof(*s));
    s->call = call;
    s->r = userdata;
    s->producer_id = in->producer_id;
    s->product_id = in->product_id;
    registry_next_id(s->r, on_application_id, s);
}

/* --- ScoreApplication and DecideApplication: read, build the new state, store --- */

typedef struct change_ctx {
    ovop_call_t *call;
    registry_t *r;
    int64_t id;
    const ProtobufCMessage *input; /* the request outlives the call's queries */
    void (*build)(struct change_ctx *cx, PGresult *res);
} change_ctx_t;

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    if (error)
        ovop_call_fail_db(cx->call, res, error);
    else if (PQntuples(res) == 0)
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no application with id %lld", (long long)cx->id);
    else
        cx->build(cx, res);
    free(cx);
}

static void read_current(ovop_call_t *call, registry_t *r, int64_t id, bool approving,
                         const ProtobufCMessage *input, void (*build)(change_ctx_t *, PGresult *))
{
    change_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->r = r;
    cx->id = id;
    cx->input = input;
    cx->build = build;
    char id_s[24];
    snprintf(id_s, sizeof(id_s), "%lld", (long long)id);
    const char *params[] = {id_s, approving ? "true" : "false"};
    ovop_call_query(call, r->pg, current_sql, 2, params, on_current, cx);
}

/* Matches the request's scores with the rubric's criteria: every criterion scored exactly
 * once, within its maximum. Fills points[] in the rubric's order; adds violations. */
static void match_scores(ovop_call_t *call, const rubric_t *rb,
                         const Ovop__V1__ScoreApplicationRequest *in,
                         uint32_t points[static MAX_CRITERIA])
{
    char field[48];
    size_t scored_by[MAX_CRITERIA];
    for (size_t k = 0; k < rb->n_criteria; k++)
        scored_by[k] = SIZE_MAX;
    for (size_t i = 0; i < in->n_scores; i++) {
        const Ovop__V1__CriterionScore *s = in->scores[i];
        size_t k = 0;
        while (k < rb->n_criteria && strcmp(rb->names[k], s->criterion) != 0)
            k++;
        snprintf(field, sizeof(field), "scores[%zu].criterion", i);
        if (k == rb->n_criteria) {
            ovop_buf_t known;
            ovop_buf_init(&known);
            for (size_t j = 0; j < rb->n_criteria; j++)
                ovop_buf_printf(&known, "%s%s", j ? ", " : "", rb->names[j]);
            ovop_call_violation(call, field,
                                "\"%.48s\" is not a criterion of the rubric (version %d): %s",
                                s->criterion, rb->version, known.data);
            ovop_buf_free(&known);
            continue;
        }
        if (scored_by[k] != SIZE_MAX) {
            ovop_call_violation(call, field, "%s is scored twice (also scores[%zu])", rb->names[k],
                                scored_by[k]);
            continue;
        }
        scored_by[k] = i;
        points[k] = s->points;
        if (s->points > rb->max_points[k]) {
            snprintf(field, sizeof(field), "scores[%zu].points", i);
            ovop_call_violation(call, field, "%u is above the maximum of %u points for %s",
                                s->points, rb->max_points[k], rb->names[k]);
        }
    }
    for (size_t k = 0; k < rb->n_criteria; k++)
        if (scored_by[k] == SIZE_MAX)
            ovop_call_violation(call, "scores", "missing a score for %s (at most %u points)",
                                rb->names[k], rb->max_points[k]);
}

static void build_scored(change_ctx_t *cx, PGresult *res)
{
    const Ovop__V1__ScoreApplicationRequest *in =
        (const Ovop__V1__ScoreApplicationRequest *)cx->input;
    rubric_t rb;
    if (rubric_parse(PQgetvalue(res, 0, APPLICATION_NCOLS), &rb) < 0) {
        ovop_call_fail(cx->call, OVOP_INTERNAL, "the stored rubric is damaged");
        return;
    }
    uint32_t points[MAX_CRITERIA] = {0};
    match_scores(cx->call, &rb, in, points);
    if (ovop_call_has_violations(cx->call)) {
        ovop_call_fail_violations(cx->call);
        rubric_free(&rb);
        return;
    }

    app_row_t cur;
    app_from_row(res, 0, &cur);
    Ovop__V1__Application a = cur.a;
    Ovop__V1__CriterionScore scores[MAX_CRITERIA];
    Ovop__V1__CriterionScore *score_ptrs[MAX_CRITERIA];
    json_t *stored = json_array();
    a.total = 0;
    for (size_t k = 0; k < rb.n_criteria; k++) {
        ovop__v1__criterion_score__init(&scores[k]);
        scores[k].criterion = (char *)rb.names[k];
        scores[k].points = points[k];
        score_ptrs[k] = &scores[k];
        a.total += points[k];
        json_array_append_new(
            stored, json_pack("{sssI}", "criterion", rb.names[k], "points", (json_int_t)points[k]));
    }
    a.n_scores = rb.n_criteria;
    a.scores = score_ptrs;
    a.stars = rubric_stars(&rb, a.total);
    a.approval_level = level_for_stars(a.stars);
    a.status = OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_SCORED;
    a.committee = in->committee;
    a.version = in->version + 1;
    a.updated_us = ovop_now_us();

    char id[24], version[16], rubric_version[16], total[16], stars[8], at[24], uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)a.id);
    snprintf(version, sizeof(version), "%d", in->version);
    snprintf(rubric_version, sizeof(rubric_version), "%d", rb.version);
    snprintf(total, sizeof(total), "%u", a.total);
    snprintf(stars, sizeof(stars), "%u", a.stars);
    snprintf(at, sizeof(at), "%lld", (long long)a.updated_us);
    ovop_uuid4(uuid);
    char *scores_s = json_dumps(stored, JSON_COMPACT);
    char *event = ovop_bytea_message(&a.base);
    const char *args[] = {
        id,          version, rubric_version, scores_s, total, stars, level_names[a.approval_level],
        a.committee, at,      uuid,           event};
    ovop_mutate_sql(cx->call, &cx->r->mutator,
                "SELECT * FROM registry.score_application($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12, $13, $14, $15, $16)",
                (int)OVOP_ARRAY_SIZE(args), args, &a.base);
    free(event);
    free(scores_s);
    json_decref(stored);
    app_row_free(&cur);
    rubric_free(&rb);
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
    read_current(call, userdata, in->application_id, false, input, build_scored);
}

static void build_decided(change_ctx_t *cx, PGresult *res)
{
    const Ovop__V1__DecideApplicationRequest *in =
        (const Ovop__V1__DecideApplicationRequest *)cx->input;
    const char *today = PQgetvalue(res, 0, APPLICATION_NCOLS + 1);
    const char *expires = PQgetvalue(res, 0, APPLICATION_NCOLS + 2);
    char number[32] = "";
    if (in->approve) {
        long long seq = strtoll(PQgetvalue(res, 0, APPLICATION_NCOLS + 3), NULL, 10);
        if (seq > MAX_CERT_SEQUENCE) {
            log_error_rid(ovop_call_request_id(cx->call),
                          "registry.certificate_numbers reached %lld, past the six digits of "
                          "certificate numbers",
                          seq);
            ovop_call_fail(cx->call, OVOP_RESOURCE_EXHAUSTED,
                           "certificate numbers are exhausted; ask the operators to extend the "
                           "numbering");
            return;
        }
        snprintf(number, sizeof(number), "OVOP-%.4s-%06lld", today, seq);
    }

    app_row_t cur;
    app_from_row(res, 0, &cur);
    Ovop__V1__Application a = cur.a;
    a.status = in->approve ? OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_APPROVED
                           : OVOP__V1__APPLICATION_STATUS__APPLICATION_STATUS_REJECTED;
    a.decided_by = in->decided_by[0] ? in->decided_by : (char *)ovop_call_caller(cx->call);
    if (!a.decided_by)
        a.decided_by = "";
    a.reason = in->reason;
    a.certificate_number = number;
    a.version = in->version + 1;
    a.updated_us = ovop_now_us();

    /* The certificate approval issues: the payload of ovop.registry.certificate.issued. */
    Ovop__V1__Certificate c = OVOP__V1__CERTIFICATE__INIT;
    c.number = number;
    c.producer_id = a.producer_id;
    c.product_id = a.product_id;
    c.application_id = a.id;
    c.stars = a.stars;
    c.issued_on = (char *)today;
    c.expires_on = (char *)expires;
    c.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    c.version = 1;

    char id[24], version[16], at[24], uuid[37], cert_uuid[37];
    snprintf(id, sizeof(id), "%lld", (long long)a.id);
    snprintf(version, sizeof(version), "%d", in->version);
    snprintf(at, sizeof(at), "%lld", (long long)a.updated_us);
    ovop_uuid4(uuid);
    ovop_uuid4(cert_uuid);
    char *event = ovop_bytea_message(&a.base);
    char *cert_event = in->approve ? ovop_bytea_message(&c.base) : NULL;
    const char *args[] = {id,
                          version,
                          in->approve ? "true" : "false",
                          level_names[in->level],
                          a.decided_by,
                          a.reason,
                          today,
                          in->approve ? number : NULL,
                          at,
                          uuid,
                          event,
                          in->approve ? cert_uuid : NULL,
                          cert_event};
    ovop_mutate_sql(cx->call, &cx->r->mutator,
                "SELECT * FROM registry.decide_application($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12, $13, $14, $15, $16, $17, $18)",
                (int)OVOP_ARRAY_SIZE(args), args, &a.base);
    free(event);
    free(cert_event);
    app_row_free(&cur);
}

static void decide_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__DecideApplicationRequest *in =
        (const Ovop__V1__DecideApplicationRequest *)input;
    check_id(call, "application_id", in->application_id);
    check_version(call, in->version);
    if ((unsigned)in->level >= OVOP_ARRAY_SIZE(level_names))
        ovop_call_violation(call, "level", "unknown approval level %d", (int)in->level);
    else if (in->approve && in->level == OVOP__V1__APPROVAL_LEVEL__APPROVAL_LEVEL_UNSPECIFIED)
        ovop_call_violation(call, "level",
                            "is required when approving: DISTRICT (1 to 3 stars), REGION (4) or "
                            "NATIONAL (5)");
    ovop_check_text(call, "decided_by", in->decided_by, MAX_COMMITTEE, false);
    if (ovop_check_text(call, "reason", in->reason, MAX_REASON, false) && !in->approve &&
        !in->reason[0])
        ovop_call_violation(call, "reason", "is required when rejecting");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    read_current(call, userdata, in->application_id, in->approve, input, build_decided);
}

/* --- GetApplication --- */

typedef struct get_ctx {
    ovop_call_t *call;
    long long id;
} get_ctx_t;

static void on_get(PGresult *res, const char *error, void *userdata)
{
    get_ctx_t *g = userdata;
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (PQntuples(res) == 0) {
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no application with id %lld", g->id);
    } else {
        app_row_t row;
        app_from_row(res, 0, &row);
        ovop_call_finish(g->call, &row.a.base);
        app_row_free(&row);
    }
    free(g);
}

static void get_application(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetApplicationRequest *in = (const Ovop__V1__GetApplicationRequest *)input;
    registry_t *r = userdata;
    if (!check_id(call, "id", in->id)) {
        ovop_call_fail_violations(call);
        return;
    }
    get_ctx_t *g = xmalloc(sizeof(*g));
    g->call = call;
    g->id = (long long)in->id;
    char id[24];
    snprintf(id, sizeof(id), "%lld", g->id);
    const char *params[] = {id};
    ovop_call_query(call, r->pg, get_sql, 1, params, on_get, g);
}

static const ovop_method_t methods[] = {
    {"GetRubric", get_rubric, NULL},
    {"SetRubric", set_rubric, NULL},
    {"SubmitApplication", submit_application, NULL},
    {"ScoreApplication", score_application, NULL},
    {"DecideApplication", decide_application, NULL},
    {"GetApplication", get_application, NULL},
};

void registry_certification_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
