/* Stakeholders, programmes and their participants: CreateStakeholder, ListStakeholders,
 * CreateProgramme, GetProgramme, ListProgrammes, AddParticipant, SetOutcome,
 * ListParticipants. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prog_check.h"
#include "dbcall.h"
#include "pbrow.h"
#include "programd.h"
#include "util.h"

#define DEFAULT_PAGE     50
#define MAX_PAGE         500
#define MAX_STAKEHOLDERS 20

#define STAKEHOLDER_COLUMNS                                                                        \
    "s.id, s.kind, s.name, s.territory_code, s.contact_name, s.contact_email, s.contact_phone, "   \
    "s.website, s.created_by, (extract(epoch FROM s.created_at) * 1000000)::bigint AS created_us"

#define PROGRAMME_COLUMNS                                                                          \
    "g.id, g.kind, g.topic, g.name, (SELECT array_to_json(array_agg(r.stakeholder_id ORDER BY "    \
    "r.ord)) FROM programme.runs r WHERE r.programme_id = g.id) AS stakeholder_ids, "              \
    "g.starts_on::text AS starts_on, g.ends_on::text AS ends_on, g.territory_code, g.status, "     \
    "g.created_by, (extract(epoch FROM g.created_at) * 1000000)::bigint AS created_us"

#define PARTICIPANT_COLUMNS                                                                        \
    "t.programme_id, t.kind, t.participant_id, t.name, t.territory_code, t.outcome, "              \
    "CASE WHEN t.grant_minor > 0 THEN t.grant_minor END AS \"grant.minor\", "                      \
    "CASE WHEN t.grant_minor > 0 THEN t.currency END AS \"grant.currency\", "                      \
    "coalesce(t.outcome_on::text, '') AS outcome_on, t.updated_by, "                               \
    "(extract(epoch FROM t.updated_at) * 1000000)::bigint AS updated_us"

static const ovop_read_t stakeholder_list = {
    .page = {.response = &ovop__v1__list_stakeholders_response__descriptor,
             .rows = "stakeholders",
             .key = "id"},
};

static const ovop_read_t programme_read = {
    .sql = "SELECT " PROGRAMME_COLUMNS ", (SELECT count(*) FROM programme.participants t WHERE "
           "t.programme_id = g.id) AS participants FROM programme.programmes g WHERE g.id = "
           "$1::bigint",
    .row = &ovop__v1__programme__descriptor,
    .noun = "programme with id",
};

static const ovop_read_t programme_list = {
    .page = {.response = &ovop__v1__list_programmes_response__descriptor,
             .rows = "programmes",
             .key = "id"},
};

static const ovop_read_t participant_list = {
    .page = {.response = &ovop__v1__list_participants_response__descriptor,
             .rows = "participants",
             .key = "k"},
};

static void violation_if(ovop_call_t *call, const char *field, const char *why)
{
    if (why)
        ovop_call_violation(call, field, "%s", why);
}

static bool fail_if_violations(ovop_call_t *call)
{
    if (!ovop_call_has_violations(call))
        return false;
    ovop_call_fail_violations(call);
    return true;
}

/* page_size and page_token of a list whose key is an id: the id to continue after, or -1
 * after failing the call. */
static int64_t page_start(ovop_call_t *call, int32_t size, const char *token, unsigned *page)
{
    int64_t after = 0;
    if (size < 0)
        ovop_call_violation(call, "page_size", "must not be negative");
    *page = ovop_check_page_size(call, (unsigned)(size < 0 ? 0 : size), DEFAULT_PAGE, MAX_PAGE);
    ovop_check_page_token(call, token, &after);
    return fail_if_violations(call) ? -1 : after;
}

static void page_tail(ovop_call_t *call, ovop_filter_t *f, const char *key, int64_t after,
                      unsigned page)
{
    ovop_filter_add(f, ovop_call_printf(call, "%s > ", key), "::bigint ",
                    programd_num(call, after));
    ovop_filter_add(f, ovop_call_printf(call, "ORDER BY %s LIMIT ", key), "::int",
                    ovop_call_printf(call, "%u", page + 1));
}

/* --- stakeholders --- */

static void check_stakeholder(ovop_call_t *call, const Ovop__V1__Stakeholder *s)
{
    if (!s->kind || !ovop_enum_text(&ovop__v1__stakeholder_kind__descriptor, (int)s->kind)[0])
        ovop_call_violation(call, "stakeholder.kind",
                            "is required: state_body, fund, academic, association or business");
    ovop_check_text(call, "stakeholder.name", s->name, 300, true);
    violation_if(call, "stakeholder.territory_code", prog_check_soate(s->territory_code, true));
    ovop_check_text(call, "stakeholder.contact_name", s->contact_name, 200, false);
    violation_if(call, "stakeholder.contact_email", prog_check_email(s->contact_email));
    violation_if(call, "stakeholder.contact_phone", prog_check_phone(s->contact_phone));
    violation_if(call, "stakeholder.website", prog_check_website(s->website));
}

typedef struct create_ctx {
    programd_t *p;
    ProtobufCMessage *out;
} create_ctx_t;

static void on_stakeholder_id(PGresult *res, const char *error, void *userdata)
{
    create_ctx_t *cx = userdata;
    ovop_call_t *call = *(ovop_call_t **)(cx + 1);
    Ovop__V1__Stakeholder *s = (Ovop__V1__Stakeholder *)cx->out;
    programd_t *p = cx->p;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    s->id = strtoll(ovop_pg_value(res, 0, "id"), NULL, 10);
    s->created_by = (char *)ovop_call_principal(call)->id;
    s->created_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_id", programd_num(call, s->id)},
        {"p_kind", ovop_enum_text(&ovop__v1__stakeholder_kind__descriptor, (int)s->kind)},
        {"p_name", s->name},
        {"p_territory", s->territory_code},
        {"p_contact_name", s->contact_name},
        {"p_contact_email", s->contact_email},
        {"p_contact_phone", s->contact_phone},
        {"p_website", s->website},
        {"p_at_us", programd_num(call, s->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &s->base)},
    };
    programd_mutate(call, p, "programme.create_stakeholder", args, OVOP_ARRAY_SIZE(args), &s->base);
}

/* Takes the next id of sequence seq, then calls cb with a create_ctx_t followed by the call
 * (both in the call's arena). */
static void next_id(ovop_call_t *call, programd_t *p, const char *seq, ProtobufCMessage *out,
                    ovop_pg_cb cb)
{
    create_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx) + sizeof(ovop_call_t *));
    cx->p = p;
    cx->out = out;
    *(ovop_call_t **)(cx + 1) = call;
    ovop_call_query(call, p->pg, ovop_call_printf(call, "SELECT nextval('%s') AS id", seq), 0, NULL,
                    cb, cx);
}

static void create_stakeholder(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateStakeholderRequest *in =
        (const Ovop__V1__CreateStakeholderRequest *)input;
    if (!in->stakeholder) {
        ovop_call_violation(call, "stakeholder", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__Stakeholder *s =
        (Ovop__V1__Stakeholder *)ovop_call_message(call, &ovop__v1__stakeholder__descriptor);
    *s = *in->stakeholder;
    check_stakeholder(call, s);
    if (fail_if_violations(call))
        return;
    next_id(call, userdata, "programme.stakeholder_ids", &s->base, on_stakeholder_id);
}

static void list_stakeholders(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__ListStakeholdersRequest *in = (const Ovop__V1__ListStakeholdersRequest *)input;
    unsigned page;
    int64_t after = page_start(call, in->page_size, in->page_token, &page);
    if (after < 0)
        return;
    ovop_filter_t f;
    ovop_filter_init(&f, "SELECT " STAKEHOLDER_COLUMNS " FROM programme.stakeholders s WHERE ");
    if (in->kind)
        ovop_filter_add(&f, "s.kind = ", " AND ",
                        ovop_enum_text(&ovop__v1__stakeholder_kind__descriptor, (int)in->kind));
    page_tail(call, &f, "s.id", after, page);
    const char *sql = ovop_filter_sql(call, &f);
    ovop_read_page(call, p->pg, &stakeholder_list, sql, f.n, f.params, page);
}

/* --- programmes --- */

static void check_programme_refs(ovop_call_t *call, const Ovop__V1__Programme *g)
{
    if (g->n_stakeholder_ids == 0 || g->n_stakeholder_ids > MAX_STAKEHOLDERS)
        ovop_call_violation(call, "programme.stakeholder_ids",
                            "one to %d stakeholders run a programme, got %zu", MAX_STAKEHOLDERS,
                            g->n_stakeholder_ids);
    for (size_t i = 0; i < g->n_stakeholder_ids && i < MAX_STAKEHOLDERS; i++) {
        if (g->stakeholder_ids[i] <= 0)
            ovop_call_violation(call, ovop_call_printf(call, "programme.stakeholder_ids[%zu]", i),
                                "must be a stakeholder id");
        for (size_t j = 0; j < i; j++)
            if (g->stakeholder_ids[j] == g->stakeholder_ids[i])
                ovop_call_violation(
                    call, ovop_call_printf(call, "programme.stakeholder_ids[%zu]", i),
                    "names stakeholder %lld twice", (long long)g->stakeholder_ids[i]);
    }
}

static void check_programme(ovop_call_t *call, Ovop__V1__Programme *g)
{
    if (!g->kind || !ovop_enum_text(&ovop__v1__programme_kind__descriptor, (int)g->kind)[0])
        ovop_call_violation(call, "programme.kind",
                            "is required: training, mentoring, grant, fair or export_mission");
    bool topic_known = ovop_enum_text(&ovop__v1__training_topic__descriptor, (int)g->topic)[0];
    if (g->kind == OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_TRAINING && !topic_known)
        ovop_call_violation(call, "programme.topic",
                            "a training needs a topic: business_management, marketing, quality, "
                            "export_procedures or other");
    else if (g->kind != OVOP__V1__PROGRAMME_KIND__PROGRAMME_KIND_TRAINING && g->topic)
        ovop_call_violation(call, "programme.topic", "only trainings have a topic");
    ovop_check_text(call, "programme.name", g->name, 300, true);
    check_programme_refs(call, g);
    bool from = ovop_date_valid(g->starts_on), to = ovop_date_valid(g->ends_on);
    if (!from)
        ovop_call_violation(call, "programme.starts_on", "must be a date written YYYY-MM-DD");
    if (!to)
        ovop_call_violation(call, "programme.ends_on", "must be a date written YYYY-MM-DD");
    if (from && to && strcmp(g->ends_on, g->starts_on) < 0)
        ovop_call_violation(call, "programme.ends_on", "%s is before the start %s", g->ends_on,
                            g->starts_on);
    violation_if(call, "programme.territory_code", prog_check_soate(g->territory_code, true));
    if (!g->status)
        g->status = OVOP__V1__PROGRAMME_STATUS__PROGRAMME_STATUS_PLANNED;
    else if (!ovop_enum_text(&ovop__v1__programme_status__descriptor, (int)g->status)[0])
        ovop_call_violation(call, "programme.status",
                            "must be planned, running, finished or cancelled");
}

static char *id_array(ovop_call_t *call, const int64_t *ids, size_t n)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "{");
    for (size_t i = 0; i < n; i++)
        ovop_buf_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
    ovop_buf_puts(&b, "}");
    char *s = ovop_call_strdup(call, b.data);
    ovop_buf_free(&b);
    return s;
}

static void on_programme_id(PGresult *res, const char *error, void *userdata)
{
    create_ctx_t *cx = userdata;
    ovop_call_t *call = *(ovop_call_t **)(cx + 1);
    Ovop__V1__Programme *g = (Ovop__V1__Programme *)cx->out;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    g->id = strtoll(ovop_pg_value(res, 0, "id"), NULL, 10);
    g->created_by = (char *)ovop_call_principal(call)->id;
    g->created_us = ovop_now_us();
    g->participants = 0;
    const ovop_arg_t args[] = {
        {"p_id", programd_num(call, g->id)},
        {"p_kind", ovop_enum_text(&ovop__v1__programme_kind__descriptor, (int)g->kind)},
        {"p_topic", ovop_enum_text(&ovop__v1__training_topic__descriptor, (int)g->topic)},
        {"p_name", g->name},
        {"p_stakeholders", id_array(call, g->stakeholder_ids, g->n_stakeholder_ids)},
        {"p_starts_on", g->starts_on},
        {"p_ends_on", g->ends_on},
        {"p_territory", g->territory_code},
        {"p_status", ovop_enum_text(&ovop__v1__programme_status__descriptor, (int)g->status)},
        {"p_at_us", programd_num(call, g->created_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &g->base)},
    };
    programd_mutate(call, cx->p, "programme.create_programme", args, OVOP_ARRAY_SIZE(args),
                    &g->base);
}

static void create_programme(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__CreateProgrammeRequest *in = (const Ovop__V1__CreateProgrammeRequest *)input;
    if (!in->programme) {
        ovop_call_violation(call, "programme", "is required");
        ovop_call_fail_violations(call);
        return;
    }
    Ovop__V1__Programme *g =
        (Ovop__V1__Programme *)ovop_call_message(call, &ovop__v1__programme__descriptor);
    *g = *in->programme;
    check_programme(call, g);
    if (fail_if_violations(call))
        return;
    next_id(call, userdata, "programme.programme_ids", &g->base, on_programme_id);
}

static void get_programme(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__GetProgrammeRequest *in = (const Ovop__V1__GetProgrammeRequest *)input;
    if (in->id <= 0) {
        ovop_call_violation(call, "id", "must be a programme id");
        ovop_call_fail_violations(call);
        return;
    }
    const char *key = programd_num(call, in->id);
    ovop_read_one(call, p->pg, &programme_read, key, 1, &key);
}

static void list_programmes(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__ListProgrammesRequest *in = (const Ovop__V1__ListProgrammesRequest *)input;
    if (in->stakeholder_id < 0)
        ovop_call_violation(call, "stakeholder_id", "must be 0 (any) or a stakeholder id");
    unsigned page;
    int64_t after = page_start(call, in->page_size, in->page_token, &page);
    if (after < 0)
        return;
    ovop_filter_t f;
    ovop_filter_init(&f, "SELECT " PROGRAMME_COLUMNS " FROM programme.programmes g WHERE ");
    if (in->kind)
        ovop_filter_add(&f, "g.kind = ", " AND ",
                        ovop_enum_text(&ovop__v1__programme_kind__descriptor, (int)in->kind));
    if (in->status)
        ovop_filter_add(&f, "g.status = ", " AND ",
                        ovop_enum_text(&ovop__v1__programme_status__descriptor, (int)in->status));
    if (in->stakeholder_id)
        ovop_filter_add(&f,
                        "EXISTS (SELECT 1 FROM programme.runs r WHERE r.programme_id = g.id "
                        "AND r.stakeholder_id = ",
                        "::bigint) AND ", programd_num(call, in->stakeholder_id));
    page_tail(call, &f, "g.id", after, page);
    const char *sql = ovop_filter_sql(call, &f);
    ovop_read_page(call, p->pg, &programme_list, sql, f.n, f.params, page);
}

/* --- participants --- */

static const ovop_read_t producer_ref = {
    .sql = "SELECT id, legal_name, territory_code FROM registry_api.producers WHERE id = "
           "$1::bigint",
    .row = &ovop__v1__producer_ref__descriptor,
};

static const ovop_read_t cooperative_ref = {
    .sql = "SELECT id, name AS legal_name, territory_code FROM registry_api.cooperatives WHERE "
           "id = $1::bigint",
    .row = &ovop__v1__producer_ref__descriptor,
};

static const char *kind_text(int kind)
{
    return ovop_enum_text(&ovop__v1__participant_kind__descriptor, kind);
}

static bool check_who(ovop_call_t *call, int64_t programme_id, int kind, int64_t id)
{
    if (programme_id <= 0)
        ovop_call_violation(call, "programme_id", "must be a programme id");
    if (!kind_text(kind)[0])
        ovop_call_violation(call, "kind", "is required: producer or cooperative");
    if (id <= 0)
        ovop_call_violation(call, "participant_id", "must be a registry id");
    return !fail_if_violations(call);
}

static void on_participant_ref(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *ud)
{
    (void)res;
    programd_t *p = ((void **)ud)[0];
    const Ovop__V1__AddParticipantRequest *in = ((void **)ud)[1];
    const char *kind = kind_text((int)in->kind);
    if (!row) {
        ovop_call_fail_reason(call, OVOP_NOT_FOUND,
                              in->kind == OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER
                                  ? "UNKNOWN_PRODUCER"
                                  : "UNKNOWN_COOPERATIVE",
                              "no %s with id %lld in the registry", kind,
                              (long long)in->participant_id);
        return;
    }
    const Ovop__V1__ProducerRef *ref = (const Ovop__V1__ProducerRef *)row;
    Ovop__V1__Participant *t =
        (Ovop__V1__Participant *)ovop_call_message(call, &ovop__v1__participant__descriptor);
    t->programme_id = in->programme_id;
    t->kind = in->kind;
    t->participant_id = in->participant_id;
    t->name = ref->legal_name;
    t->territory_code = ref->territory_code;
    t->outcome = OVOP__V1__OUTCOME__OUTCOME_ENROLLED;
    t->updated_by = (char *)ovop_call_principal(call)->id;
    t->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_programme_id", programd_num(call, t->programme_id)},
        {"p_kind", kind},
        {"p_participant_id", programd_num(call, t->participant_id)},
        {"p_name", t->name},
        {"p_territory", t->territory_code},
        {"p_at_us", programd_num(call, t->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &t->base)},
    };
    programd_mutate(call, p, "programme.add_participant", args, OVOP_ARRAY_SIZE(args), &t->base);
}

static void add_participant(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__AddParticipantRequest *in = (const Ovop__V1__AddParticipantRequest *)input;
    if (!check_who(call, in->programme_id, (int)in->kind, in->participant_id))
        return;
    programd_t *p = userdata;
    void **ud = ovop_call_alloc(call, 2 * sizeof(void *));
    ud[0] = p;
    ud[1] = (void *)in;
    const char *key = programd_num(call, in->participant_id);
    const ovop_read_t *r = in->kind == OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER
                               ? &producer_ref
                               : &cooperative_ref;
    ovop_read_then(call, p->pg, r, key, 1, &key, on_participant_ref, ud);
}

static const ovop_read_t participant_read = {
    .sql = "SELECT " PARTICIPANT_COLUMNS " FROM programme.participants t WHERE t.programme_id = "
           "$1::bigint AND t.kind = $2 AND t.participant_id = $3::bigint",
    .row = &ovop__v1__participant__descriptor,
};

static void check_outcome(ovop_call_t *call, const Ovop__V1__SetOutcomeRequest *in,
                          const char *today)
{
    if (in->outcome != OVOP__V1__OUTCOME__OUTCOME_COMPLETED &&
        in->outcome != OVOP__V1__OUTCOME__OUTCOME_DROPPED &&
        in->outcome != OVOP__V1__OUTCOME__OUTCOME_CERTIFICATE)
        ovop_call_violation(call, "outcome", "must be completed, dropped or certificate");
    if (in->grant) {
        const char *why = prog_check_minor(in->grant->minor);
        if (why) {
            ovop_call_reason(call, "INVALID_AMOUNT");
            ovop_call_violation(call, "grant.minor", "%s", why);
        } else if (in->grant->minor == 0) {
            ovop_call_violation(call, "grant.minor", "a grant disbursed is more than 0");
        }
        violation_if(call, "grant.currency", prog_check_currency(in->grant->currency));
        if (in->outcome == OVOP__V1__OUTCOME__OUTCOME_DROPPED)
            ovop_call_violation(call, "grant", "a dropped participant is paid no grant");
    }
    if (in->outcome_on[0])
        violation_if(call, "outcome_on", prog_check_past_date(in->outcome_on, today));
}

static void on_participant_row(ovop_call_t *call, ProtobufCMessage *row, PGresult *res, void *ud)
{
    (void)res;
    programd_t *p = ((void **)ud)[0];
    const Ovop__V1__SetOutcomeRequest *in = ((void **)ud)[1];
    const char *today = ((void **)ud)[2];
    if (!row) {
        ovop_call_fail_reason(call, OVOP_NOT_FOUND, "NOT_PARTICIPATING",
                              "%s %lld does not take part in programme %lld",
                              kind_text((int)in->kind), (long long)in->participant_id,
                              (long long)in->programme_id);
        return;
    }
    Ovop__V1__Participant *t = (Ovop__V1__Participant *)row;
    t->outcome = in->outcome;
    t->grant = in->grant;
    t->outcome_on = (char *)(in->outcome_on[0] ? in->outcome_on : today);
    t->updated_by = (char *)ovop_call_principal(call)->id;
    t->updated_us = ovop_now_us();
    const ovop_arg_t args[] = {
        {"p_programme_id", programd_num(call, t->programme_id)},
        {"p_kind", kind_text((int)t->kind)},
        {"p_participant_id", programd_num(call, t->participant_id)},
        {"p_outcome", ovop_enum_text(&ovop__v1__outcome__descriptor, (int)t->outcome)},
        {"p_grant_minor", programd_num(call, in->grant ? in->grant->minor : 0)},
        {"p_outcome_on", t->outcome_on},
        {"p_at_us", programd_num(call, t->updated_us)},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &t->base)},
    };
    programd_mutate(call, p, "programme.set_outcome", args, OVOP_ARRAY_SIZE(args), &t->base);
}

static void set_outcome(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__SetOutcomeRequest *in = (const Ovop__V1__SetOutcomeRequest *)input;
    char *today = ovop_call_alloc(call, 11);
    prog_today(today);
    check_outcome(call, in, today);
    if (!check_who(call, in->programme_id, (int)in->kind, in->participant_id))
        return;
    programd_t *p = userdata;
    void **ud = ovop_call_alloc(call, 3 * sizeof(void *));
    ud[0] = p;
    ud[1] = (void *)in;
    ud[2] = today;
    const char *params[] = {programd_num(call, in->programme_id), kind_text((int)in->kind),
                            programd_num(call, in->participant_id)};
    ovop_read_then(call, p->pg, &participant_read, params[2], 3, params, on_participant_row, ud);
}

static void list_participants(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    programd_t *p = userdata;
    const Ovop__V1__ListParticipantsRequest *in = (const Ovop__V1__ListParticipantsRequest *)input;
    if (in->programme_id <= 0)
        ovop_call_violation(call, "programme_id", "must be a programme id");
    unsigned page;
    int64_t after = page_start(call, in->page_size, in->page_token, &page);
    if (after < 0)
        return;
    ovop_filter_t f;
    /* The key: a producer and a cooperative may have the same id. */
    ovop_filter_init(&f, "SELECT * FROM (SELECT " PARTICIPANT_COLUMNS ", t.participant_id * 2 + "
                         "(t.kind = 'cooperative')::int AS k FROM programme.participants t "
                         "WHERE ");
    ovop_filter_add(&f, "t.programme_id = ", "::bigint) t WHERE ",
                    programd_num(call, in->programme_id));
    page_tail(call, &f, "k", after, page);
    const char *sql = ovop_filter_sql(call, &f);
    ovop_read_page(call, p->pg, &participant_list, sql, f.n, f.params, page);
}

void programd_programmes_register(programd_t *p)
{
    static const ovop_method_t methods[] = {
        {"CreateStakeholder", create_stakeholder},
        {"ListStakeholders", list_stakeholders},
        {"CreateProgramme", create_programme},
        {"GetProgramme", get_programme},
        {"ListProgrammes", list_programmes},
        {"AddParticipant", add_participant},
        {"SetOutcome", set_outcome},
        {"ListParticipants", list_participants},
    };
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(p->d), methods, p);
}
