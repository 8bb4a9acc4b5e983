/* ovopctl stakeholder and programme: the support programme's stakeholders, programmes,
 * participants and outcomes, and the programme office's queries (ovop.programme). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/programme.pb-c.h"

#define SERVICE "ovop.programme"

static const char *som(int64_t tyiyn, char out[static 32])
{
    snprintf(out, 32, "%s%lld.%02lld", tyiyn < 0 ? "-" : "", llabs(tyiyn) / 100,
             llabs(tyiyn) % 100);
    return out;
}

/* An enum flag's value: 0 for none given, else its number, or CTL_EXIT_USAGE (negated) after
 * naming the values. */
int ctl_programme_enum(const ProtobufCEnumDescriptor *d, const char *flag, const char *s, int *ret)
{
    *ret = 0;
    if (!s)
        return 0;
    int v = ctl_enum_index(d, s);
    if (v < 0) {
        fprintf(stderr, "ovopctl: %s must be one of", flag);
        for (unsigned i = 1; i < d->n_values; i++)
            fprintf(stderr, "%s %s", i > 1 ? "," : "", ctl_enum_name(d, d->values[i].value));
        fprintf(stderr, "; got \"%s\"\n", s);
        return CTL_EXIT_USAGE;
    }
    *ret = v;
    return 0;
}

/* --- stakeholder --- */

static void print_stakeholder(const ProtobufCMessage *m)
{
    const Ovop__V1__Stakeholder *s = (const Ovop__V1__Stakeholder *)m;
    printf("stakeholder  %lld  %s (%s)\n", (long long)s->id, s->name,
           ctl_enum_name(&ovop__v1__stakeholder_kind__descriptor, s->kind));
    if (s->territory_code[0])
        printf("territory    %s\n", s->territory_code);
    if (s->contact_name[0] || s->contact_email[0] || s->contact_phone[0])
        printf("contact      %s %s %s\n", s->contact_name, s->contact_email, s->contact_phone);
    if (s->website[0])
        printf("website      %s\n", s->website);
}

static int stakeholder_add(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl stakeholder add",
        .usage = "--kind K --name N [--territory SOATE] [--contact N] [--email E] [--phone P] "
                 "[--website URL]",
        .summary = "Registers a stakeholder (state_body, fund, academic, association, business).",
        .needs = "stakeholder add needs --kind and --name",
        .unexpected = true};
    char *kind = NULL, *name = NULL, *territory = NULL, *contact = NULL, *email = NULL,
         *phone = NULL, *web = NULL;
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "state_body, fund, academic, association, business",
         &kind},
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "its name (unique)", &name},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "where it works (SOATE)", &territory},
        {"contact", OVOP_OPT_STRING, NULL, 0, 0, "a contact person", &contact},
        {"email", OVOP_OPT_STRING, NULL, 0, 0, "contact e-mail", &email},
        {"phone", OVOP_OPT_STRING, NULL, 0, 0, "contact phone (+996...)", &phone},
        {"website", OVOP_OPT_STRING, NULL, 0, 0, "https://...", &web},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, k = 0;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!kind || !name))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__stakeholder_kind__descriptor, "--kind", kind, &k);
    if (r == 0) {
        Ovop__V1__Stakeholder s = OVOP__V1__STAKEHOLDER__INIT;
        s.kind = k;
        s.name = name;
        s.territory_code = territory ? territory : "";
        s.contact_name = contact ? contact : "";
        s.contact_email = email ? email : "";
        s.contact_phone = phone ? phone : "";
        s.website = web ? web : "";
        Ovop__V1__CreateStakeholderRequest in = OVOP__V1__CREATE_STAKEHOLDER_REQUEST__INIT;
        in.stakeholder = &s;
        r = ctl_call_show(c, SERVICE, "CreateStakeholder", &in.base,
                          &ovop__v1__stakeholder__descriptor, print_stakeholder);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void stakeholder_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Stakeholder *s = (const Ovop__V1__Stakeholder *)m;
    ctl_print_int_cell(s->id, 6);
    ctl_print_cell(ctl_enum_name(&ovop__v1__stakeholder_kind__descriptor, s->kind), 12);
    ctl_print_cell(s->territory_code[0] ? s->territory_code : "-", 15);
    printf("%s\n", s->name);
}

static const ctl_column_t stakeholder_columns[] = {
    {"ID", 6}, {"KIND", 12}, {"TERRITORY", 15}, {"NAME", 0}};

static int parse_stakeholder_kind(const char *s, int64_t *ret)
{
    int v;
    int r = ctl_programme_enum(&ovop__v1__stakeholder_kind__descriptor, "--kind", s, &v);
    *ret = v;
    return r;
}

static const ctl_filter_t stakeholder_filters[] = {
    {.name = "kind",
     .type = OVOP_OPT_STRING,
     .help = "only stakeholders of this kind",
     .field = "kind",
     .parse = parse_stakeholder_kind},
};

static const ctl_list_verb_t stakeholder_list = {
    .verb = {.prog = "ovopctl stakeholder list",
             .usage = "[--kind K]",
             .summary = "Lists the stakeholders.",
             .unexpected = true},
    .filters = stakeholder_filters,
    .n_filters = OVOP_ARRAY_SIZE(stakeholder_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_stakeholders_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListStakeholders",
             .response = &ovop__v1__list_stakeholders_response__descriptor,
             .rows = "stakeholders",
             .columns = stakeholder_columns,
             .n_columns = OVOP_ARRAY_SIZE(stakeholder_columns),
             .print_row = stakeholder_row,
             .one = "stakeholder",
             .many = "stakeholders"},
};

int ctl_stakeholder(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "add", .run = stakeholder_add},
        {.name = "list", .run_with = ctl_list_cmd, .list = &stakeholder_list},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl stakeholder add|list ...");
}

/* --- programme create, show, list --- */

static void print_programme(const ProtobufCMessage *m)
{
    const Ovop__V1__Programme *g = (const Ovop__V1__Programme *)m;
    printf("programme    %lld  %s\n", (long long)g->id, g->name);
    printf("kind         %s%s%s\n", ctl_enum_name(&ovop__v1__programme_kind__descriptor, g->kind),
           g->topic ? ": " : "",
           g->topic ? ctl_enum_name(&ovop__v1__training_topic__descriptor, g->topic) : "");
    printf("status       %s\n", ctl_enum_name(&ovop__v1__programme_status__descriptor, g->status));
    printf("dates        %s .. %s\n", g->starts_on, g->ends_on);
    printf("territory    %s\n", g->territory_code[0] ? g->territory_code : "the whole country");
    printf("run by      ");
    for (size_t i = 0; i < g->n_stakeholder_ids; i++)
        printf(" %lld%s", (long long)g->stakeholder_ids[i], i == 0 ? " (lead)" : "");
    printf("\n");
    if (g->participants)
        printf("participants %d\n", g->participants);
}

/* "1,2,3" into ids (malloc'd). */
static int parse_ids(const char *flag, char *s, int64_t **ret, size_t *n)
{
    *n = 0;
    *ret = xcalloc(strlen(s) + 1, sizeof(**ret));
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ","))
        if (ctl_parse_id(flag, tok, &(*ret)[(*n)++]) != 0)
            return CTL_EXIT_USAGE;
    return 0;
}

typedef struct programme_flags {
    char *kind, *topic, *name, *stakeholders, *from, *to, *territory, *status;
} programme_flags_t;

static int fill_programme(programme_flags_t *f, Ovop__V1__Programme *g)
{
    int kind, topic, status;
    int r = ctl_programme_enum(&ovop__v1__programme_kind__descriptor, "--kind", f->kind, &kind);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__training_topic__descriptor, "--topic", f->topic, &topic);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__programme_status__descriptor, "--status", f->status,
                               &status);
    if (r == 0)
        r = parse_ids("--stakeholders", f->stakeholders, &g->stakeholder_ids,
                      &g->n_stakeholder_ids);
    g->kind = kind;
    g->topic = topic;
    g->status = status;
    g->name = f->name;
    g->starts_on = f->from;
    g->ends_on = f->to;
    g->territory_code = f->territory ? f->territory : "";
    return r;
}

static int programme_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl programme create",
        .usage = "--kind K [--topic T] --name N --stakeholders ID,.. --from DATE --to DATE "
                 "[--territory SOATE] [--status S]",
        .summary = "Creates a programme: training (with a topic), mentoring, grant, fair or "
                   "export_mission; the first stakeholder leads.",
        .needs = "programme create needs --kind, --name, --stakeholders, --from and --to",
        .unexpected = true};
    programme_flags_t f = {0};
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "training, mentoring, grant, fair, export_mission",
         &f.kind},
        {"topic", OVOP_OPT_STRING, NULL, 0, 0,
         "trainings: business_management, marketing, quality, export_procedures, other", &f.topic},
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "its name", &f.name},
        {"stakeholders", OVOP_OPT_STRING, NULL, 0, 0, "who runs it, the lead first: ID,ID",
         &f.stakeholders},
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "first day (YYYY-MM-DD)", &f.from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "last day (YYYY-MM-DD)", &f.to},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "where it runs (SOATE; default: the country)",
         &f.territory},
        {"status", OVOP_OPT_STRING, NULL, 0, 0, "planned (default), running, finished, cancelled",
         &f.status},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    Ovop__V1__Programme g = OVOP__V1__PROGRAMME__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!f.kind || !f.name || !f.stakeholders || !f.from || !f.to))
        r = ctl_misuse(&verb);
    if (r == 0)
        r = fill_programme(&f, &g);
    if (r == 0) {
        Ovop__V1__CreateProgrammeRequest in = OVOP__V1__CREATE_PROGRAMME_REQUEST__INIT;
        in.programme = &g;
        r = ctl_call_show(c, SERVICE, "CreateProgramme", &in.base, &ovop__v1__programme__descriptor,
                          print_programme);
    }
    free(g.stakeholder_ids);
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void participant_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Participant *t = (const Ovop__V1__Participant *)m;
    char a[32];
    ctl_print_cell(ctl_enum_name(&ovop__v1__participant_kind__descriptor, t->kind), 12);
    ctl_print_int_cell(t->participant_id, 8);
    ctl_print_cell(t->territory_code, 15);
    ctl_print_cell(ctl_enum_name(&ovop__v1__outcome__descriptor, t->outcome), 12);
    ctl_print_cell(t->outcome_on[0] ? t->outcome_on : "-", 11);
    ctl_print_cell(t->grant ? som(t->grant->minor, a) : "-", 12);
    printf("%s\n", t->name);
}

static const ctl_column_t participant_columns[] = {{"KIND", 12},    {"ID", 8},  {"TERRITORY", 15},
                                                   {"OUTCOME", 12}, {"ON", 11}, {"GRANT KGS", 12},
                                                   {"NAME", 0}};

static int programme_show(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl programme show",
                                    .usage = "ID",
                                    .summary = "Shows a programme and its participants.",
                                    .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    Ovop__V1__GetProgrammeRequest in = OVOP__V1__GET_PROGRAMME_REQUEST__INIT;
    if (r == 0)
        r = ctl_parse_id("programme id", argv[argi], &in.id);
    if (r == 0)
        r = ctl_call_show(c, SERVICE, "GetProgramme", &in.base, &ovop__v1__programme__descriptor,
                          print_programme);
    if (r == 0) {
        Ovop__V1__ListParticipantsRequest lp = OVOP__V1__LIST_PARTICIPANTS_REQUEST__INIT;
        lp.programme_id = in.id;
        const ctl_list_t list = {.service = SERVICE,
                                 .method = "ListParticipants",
                                 .response = &ovop__v1__list_participants_response__descriptor,
                                 .rows = "participants",
                                 .columns = participant_columns,
                                 .n_columns = OVOP_ARRAY_SIZE(participant_columns),
                                 .print_row = participant_row,
                                 .one = "participant",
                                 .many = "participants"};
        if (!c->json)
            printf("\n");
        r = ctl_list_pages(c, &list, &lp.base, NULL, true);
    }
    return r < 0 ? CTL_EXIT_OK : r;
}

static void programme_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Programme *g = (const Ovop__V1__Programme *)m;
    ctl_print_int_cell(g->id, 6);
    ctl_print_cell(ctl_enum_name(&ovop__v1__programme_kind__descriptor, g->kind), 15);
    ctl_print_cell(g->topic ? ctl_enum_name(&ovop__v1__training_topic__descriptor, g->topic) : "-",
                   20);
    ctl_print_cell(ctl_enum_name(&ovop__v1__programme_status__descriptor, g->status), 10);
    ctl_print_cell(g->starts_on, 11);
    ctl_print_cell(g->ends_on, 11);
    printf("%s\n", g->name);
}

static const ctl_column_t programme_columns[] = {
    {"ID", 6}, {"KIND", 15}, {"TOPIC", 20}, {"STATUS", 10}, {"FROM", 11}, {"TO", 11}, {"NAME", 0}};

static int parse_programme_kind(const char *s, int64_t *ret)
{
    int v;
    int r = ctl_programme_enum(&ovop__v1__programme_kind__descriptor, "--kind", s, &v);
    *ret = v;
    return r;
}

static int parse_programme_status(const char *s, int64_t *ret)
{
    int v;
    int r = ctl_programme_enum(&ovop__v1__programme_status__descriptor, "--status", s, &v);
    *ret = v;
    return r;
}

static int parse_id_filter(const char *s, int64_t *ret)
{
    return ctl_parse_id("--stakeholder", s, ret);
}

static const ctl_filter_t programme_filters[] = {
    {.name = "kind",
     .type = OVOP_OPT_STRING,
     .help = "only programmes of this kind",
     .field = "kind",
     .parse = parse_programme_kind},
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "only programmes in this status",
     .field = "status",
     .parse = parse_programme_status},
    {.name = "stakeholder",
     .type = OVOP_OPT_STRING,
     .help = "only programmes this stakeholder runs",
     .field = "stakeholder_id",
     .parse = parse_id_filter},
};

static const ctl_list_verb_t programme_list = {
    .verb = {.prog = "ovopctl programme list",
             .usage = "[--kind K] [--status S] [--stakeholder ID]",
             .summary = "Lists programmes.",
             .unexpected = true},
    .filters = programme_filters,
    .n_filters = OVOP_ARRAY_SIZE(programme_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_programmes_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListProgrammes",
             .response = &ovop__v1__list_programmes_response__descriptor,
             .rows = "programmes",
             .columns = programme_columns,
             .n_columns = OVOP_ARRAY_SIZE(programme_columns),
             .print_row = programme_row,
             .one = "programme",
             .many = "programmes"},
};

/* --- participants --- */

static void print_participant(const ProtobufCMessage *m)
{
    ctl_print_header(participant_columns, OVOP_ARRAY_SIZE(participant_columns));
    participant_row(m);
}

/* producer:ID or cooperative:ID */
static int parse_who(const char *s, int *kind, int64_t *id)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (colon && strncmp(s, "producer:", 9) == 0)
        *kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_PRODUCER;
    else if (colon && strncmp(s, "cooperative:", 12) == 0)
        *kind = OVOP__V1__PARTICIPANT_KIND__PARTICIPANT_KIND_COOPERATIVE;
    else {
        fprintf(stderr, "ovopctl: the participant must be producer:ID or cooperative:ID\n");
        return CTL_EXIT_USAGE;
    }
    return ctl_parse_id("the participant id", colon + 1, id);
}

static int programme_add_participant(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl programme add-participant",
                                    .usage = "PROGRAMME_ID producer:ID|cooperative:ID",
                                    .summary = "Enrols a producer or cooperative in a programme.",
                                    .n_args = 2};
    int argi, kind = 0;
    Ovop__V1__AddParticipantRequest in = OVOP__V1__ADD_PARTICIPANT_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("programme id", argv[argi], &in.programme_id);
    if (r == 0)
        r = parse_who(argv[argi + 1], &kind, &in.participant_id);
    in.kind = kind;
    if (r == 0)
        r = ctl_call_show(c, SERVICE, "AddParticipant", &in.base,
                          &ovop__v1__participant__descriptor, print_participant);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int programme_set_outcome(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl programme set-outcome",
        .usage = "PROGRAMME_ID producer:ID|cooperative:ID --outcome O [--grant SOM] [--on DATE]",
        .summary = "Records a participant's outcome (completed, dropped, certificate) and a "
                   "grant's amount.",
        .n_args = 2,
        .flags_anywhere = true,
        .needs = NULL};
    char *outcome = NULL, *grant = NULL, *on = NULL;
    const ovop_opt_t opts[] = {
        {"outcome", OVOP_OPT_STRING, NULL, 0, 0, "completed, dropped or certificate", &outcome},
        {"grant", OVOP_OPT_STRING, NULL, 0, 0, "grants: the amount disbursed, in som", &grant},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "when (YYYY-MM-DD; default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi, kind = 0, o = 0;
    Ovop__V1__SetOutcomeRequest in = OVOP__V1__SET_OUTCOME_REQUEST__INIT;
    Ovop__V1__Money money = OVOP__V1__MONEY__INIT;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !outcome)
        r = ctl_misuse(&verb);
    if (r == 0)
        r = ctl_parse_id("programme id", argv[argi], &in.programme_id);
    if (r == 0)
        r = parse_who(argv[argi + 1], &kind, &in.participant_id);
    if (r == 0)
        r = ctl_programme_enum(&ovop__v1__outcome__descriptor, "--outcome", outcome, &o);
    if (r == 0 && grant)
        r = ctl_parse_money("--grant", grant, &money.minor);
    if (r == 0) {
        money.currency = "KGS";
        in.kind = kind;
        in.outcome = o;
        in.grant = grant ? &money : NULL;
        in.outcome_on = on ? on : "";
        r = ctl_call_show(c, SERVICE, "SetOutcome", &in.base, &ovop__v1__participant__descriptor,
                          print_participant);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- the queries --- */

static void untrained_row(const ProtobufCMessage *m)
{
    const Ovop__V1__ProducerRef *p = (const Ovop__V1__ProducerRef *)m;
    ctl_print_int_cell(p->id, 8);
    ctl_print_cell(p->territory_code, 15);
    printf("%s\n", p->legal_name);
}

static const ctl_column_t untrained_columns[] = {{"ID", 8}, {"TERRITORY", 15}, {"NAME", 0}};

static const ctl_filter_t untrained_filters[] = {
    CTL_FILTER("territory", "the district (or any SOATE territory), required", "territory_code"),
};

static const ctl_list_verb_t untrained_list = {
    .verb = {.prog = "ovopctl programme untrained",
             .usage = "--territory SOATE",
             .summary = "Producers of a district with no completed business_management or "
                        "marketing training.",
             .unexpected = true},
    .filters = untrained_filters,
    .n_filters = OVOP_ARRAY_SIZE(untrained_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_untrained_producers_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListUntrainedProducers",
             .response = &ovop__v1__list_untrained_producers_response__descriptor,
             .rows = "producers",
             .columns = untrained_columns,
             .n_columns = OVOP_ARRAY_SIZE(untrained_columns),
             .print_row = untrained_row,
             .one = "producer",
             .many = "producers"},
};

static void print_funds(const ProtobufCMessage *m)
{
    const Ovop__V1__FundsDisbursedResponse *f = (const Ovop__V1__FundsDisbursedResponse *)m;
    static const ctl_column_t cols[] = {
        {"REGION", 15}, {"NAME", 20}, {"GRANTS", 7}, {"KGS", 14}, {"STAKEHOLDER", 0}};
    char a[32];
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < f->n_rows; i++) {
        const Ovop__V1__FundsRow *r = f->rows[i];
        ctl_print_cell(r->region_code, 15);
        ctl_print_cell(r->region_name, 20);
        ctl_print_int_cell(r->grants, 7);
        ctl_print_cell(r->amount ? som(r->amount->minor, a) : "0.00", 14);
        printf("%lld %s\n", (long long)r->stakeholder_id, r->stakeholder_name);
    }
}

static int programme_funds(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl programme funds",
        .usage = "[--from DATE] [--to DATE]",
        .summary = "Grants disbursed by region and lead stakeholder in a period.",
        .unexpected = true};
    char *from = NULL, *to = NULL;
    const ovop_opt_t opts[] = {
        {"from", OVOP_OPT_STRING, NULL, 0, 0, "first day (YYYY-MM-DD)", &from},
        {"to", OVOP_OPT_STRING, NULL, 0, 0, "last day (YYYY-MM-DD)", &to},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__FundsDisbursedRequest in = OVOP__V1__FUNDS_DISBURSED_REQUEST__INIT;
        in.from = from ? from : "";
        in.to = to ? to : "";
        r = ctl_call_show(c, SERVICE, "FundsDisbursed", &in.base,
                          &ovop__v1__funds_disbursed_response__descriptor, print_funds);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_before_export(const ProtobufCMessage *m)
{
    const Ovop__V1__TrainingsBeforeExportResponse *b =
        (const Ovop__V1__TrainingsBeforeExportResponse *)m;
    if (!b->exported) {
        printf("no export departed yet\n");
        return;
    }
    printf("first export %s (shipment %lld); %zu training%s before it\n", b->first_export_on,
           (long long)b->first_shipment_id, b->n_trainings, b->n_trainings == 1 ? "" : "s");
    for (size_t i = 0; i < b->n_trainings; i++) {
        const Ovop__V1__TrainingBefore *t = b->trainings[i];
        printf("  %s  %-18s %-12s %lld %s\n", t->ends_on,
               ctl_enum_name(&ovop__v1__training_topic__descriptor, t->topic),
               ctl_enum_name(&ovop__v1__outcome__descriptor, t->outcome),
               (long long)t->programme_id, t->name);
    }
}

static int programme_before_export(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl programme before-export",
        .usage = "PRODUCER_ID",
        .summary = "The trainings a producer completed before its first export departed.",
        .n_args = 1};
    int argi;
    Ovop__V1__TrainingsBeforeExportRequest in = OVOP__V1__TRAININGS_BEFORE_EXPORT_REQUEST__INIT;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r == 0)
        r = ctl_parse_id("producer id", argv[argi], &in.producer_id);
    if (r == 0)
        r = ctl_call_show(c, SERVICE, "TrainingsBeforeExport", &in.base,
                          &ovop__v1__trainings_before_export_response__descriptor,
                          print_before_export);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_programme(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = programme_create},
        {.name = "add-participant", .run = programme_add_participant},
        {.name = "set-outcome", .run = programme_set_outcome},
        {.name = "list", .run_with = ctl_list_cmd, .list = &programme_list},
        {.name = "show", .run = programme_show},
        {.name = "untrained", .run_with = ctl_list_cmd, .list = &untrained_list},
        {.name = "funds", .run = programme_funds},
        {.name = "before-export", .run = programme_before_export},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl programme create|add-participant|set-outcome|list|show|untrained|"
                   "funds|before-export ...");
}
