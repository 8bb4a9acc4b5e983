/* ovopctl rubric, application and cert: brand certification ("Made in Kyrgyzstan" / OVOP
 * label): the scoring rubric, applications and their decisions, certificates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

#define SERVICE "ovop.registry"

#define APP_STATUSES  (&ovop__v1__application_status__descriptor)
#define LEVELS        (&ovop__v1__approval_level__descriptor)
#define CERT_STATUSES (&ovop__v1__certificate_status__descriptor)

#define NAME_OF(desc, v) ctl_enum_name((desc), (int)(v))

/* The frame of a verb taking one argument, before or after its flags. */
#define ONE_ARG_VERB(prog_, usage_, summary_)                                                      \
    {                                                                                              \
        .prog = (prog_), .usage = (usage_), .summary = (summary_), .n_args = 1,                    \
        .flags_anywhere = true                                                                     \
    }

/* The NAME=NUMBER values of a flag given once per item (--score quality=30 ...). */
typedef struct pairs {
    size_t n;
    char **names;
    uint32_t *values;
} pairs_t;

static void pairs_free(pairs_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->names[i]);
    free(p->names);
    free(p->values);
    *p = (pairs_t){0};
}

/* Moves every --flag NAME=NUMBER out of argv into *ret. Returns 0, or CTL_EXIT_USAGE after
 * saying what is wrong. */
static int take_pairs(int *argc, char **argv, const char *flag, pairs_t *ret)
{
    char **raw = NULL;
    size_t n = 0;
    pairs_t p = {0};
    int r = ctl_take_repeated(argc, argv, flag, &raw, &n);
    if (r != 0)
        goto out;
    p.names = xcalloc(n, sizeof(*p.names));
    p.values = xcalloc(n, sizeof(*p.values));
    for (; p.n < n; p.n++) {
        const char *eq = strchr(raw[p.n], '=');
        char *end = NULL;
        unsigned long v = 0;
        if (eq && eq != raw[p.n] && eq[1] >= '0' && eq[1] <= '9') {
            errno = 0;
            v = strtoul(eq + 1, &end, 10);
        }
        if (!end || *end || errno || v > UINT32_MAX) {
            fprintf(stderr, "ovopctl: --%s must be NAME=NUMBER, got \"%s\"\n", flag, raw[p.n]);
            r = CTL_EXIT_USAGE;
            pairs_free(&p);
            goto out;
        }
        p.names[p.n] = xstrndup(raw[p.n], (size_t)(eq - raw[p.n]));
        p.values[p.n] = (uint32_t)v;
    }
    *ret = p;
out:
    free(raw);
    return r;
}

/* Calls method and prints its output with print (or as JSON). Returns the exit code. */
static int call_and_print(ctl_t *c, const char *method, const ProtobufCMessage *in,
                          const ProtobufCMessageDescriptor *out_desc, ctl_print_fn print)
{
    return ctl_call_show(c, SERVICE, method, in, out_desc, print);
}

/* --- rubric --- */

static void print_rubric(const ProtobufCMessage *m)
{
    static const ctl_column_t criteria[] = {{"CRITERION", 24}, {"MAX POINTS", 0}};
    static const ctl_column_t thresholds[] = {{"STARS", 24}, {"MIN POINTS", 0}};
    const Ovop__V1__Rubric *rb = (const Ovop__V1__Rubric *)m;
    uint32_t sum = 0;
    ctl_print_header(criteria, OVOP_ARRAY_SIZE(criteria));
    for (size_t i = 0; i < rb->n_criteria; i++) {
        ctl_print_cell(rb->criteria[i]->name, 24);
        printf("%u\n", rb->criteria[i]->max_points);
        sum += rb->criteria[i]->max_points;
    }
    ctl_print_cell("(total)", 24);
    printf("%u\n\n", sum);
    ctl_print_header(thresholds, OVOP_ARRAY_SIZE(thresholds));
    for (size_t i = 0; i < rb->n_thresholds; i++) {
        ctl_print_int_cell(rb->thresholds[i]->stars, 24);
        printf("%u\n", rb->thresholds[i]->min_points);
    }
    printf("\nversion %d\n", rb->version);
}

static int rubric_get(ctl_t *c, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "ovopctl: usage: ovopctl rubric get\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__GetRubricRequest in = OVOP__V1__GET_RUBRIC_REQUEST__INIT;
    return call_and_print(c, "GetRubric", &in.base, &ovop__v1__rubric__descriptor, print_rubric);
}

/* The star thresholds "P1,P2,..." (each a number of points, for 1, 2, ... stars) into
 * *ret_items and *ret_ptrs (malloc'd; *ret_n of them). Returns 0, or CTL_EXIT_USAGE after
 * saying what is wrong (*ret_items and *ret_ptrs are then still the caller's to free). */
static int parse_stars(const char *stars, Ovop__V1__StarThreshold **ret_items,
                       Ovop__V1__StarThreshold ***ret_ptrs, size_t *ret_n)
{
    size_t max = 1, n = 0;
    for (const char *p = stars; *p; p++)
        max += *p == ',';
    Ovop__V1__StarThreshold *items = *ret_items = xcalloc(max, sizeof(*items));
    Ovop__V1__StarThreshold **ptrs = *ret_ptrs = xcalloc(max, sizeof(*ptrs));
    for (const char *p = stars; n < max; n++) {
        char *end = NULL;
        errno = 0;
        unsigned long v = *p >= '0' && *p <= '9' ? strtoul(p, &end, 10) : 0;
        if (!end || errno || v > UINT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "ovopctl: --stars must be numbers separated by commas, got \"%s\"\n",
                    stars);
            return CTL_EXIT_USAGE;
        }
        ovop__v1__star_threshold__init(&items[n]);
        items[n].stars = (uint32_t)n + 1;
        items[n].min_points = (uint32_t)v;
        ptrs[n] = &items[n];
        p = *end ? end + 1 : end;
    }
    *ret_n = n;
    return 0;
}

static int rubric_set(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl rubric set",
        .usage = "--version V --criterion NAME=MAX... --stars P1,P2,P3,P4,P5",
        .summary = "Replaces the certification rubric (each --criterion NAME=MAX once per "
                   "criterion, in order)."};
    int64_t version = 0;
    char *stars = NULL;
    int argi;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the rubric's version you read", &version},
        {"stars", OVOP_OPT_STRING, NULL, 0, 0,
         "minimum points of 1, 2, 3, 4 and 5 stars, comma-separated", &stars},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    pairs_t crit = {0};
    Ovop__V1__RubricCriterion *criteria = NULL, **criterion_ptrs = NULL;
    Ovop__V1__StarThreshold *thresholds = NULL, **threshold_ptrs = NULL;
    Ovop__V1__Rubric rb = OVOP__V1__RUBRIC__INIT;

    int r = take_pairs(&argc, argv, "criterion", &crit);
    if (r != 0)
        return r;
    r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && (crit.n == 0 || !stars))
        r = ctl_misuse(&verb);
    if (r != 0)
        goto out;
    criteria = xcalloc(crit.n, sizeof(*criteria));
    criterion_ptrs = xcalloc(crit.n, sizeof(*criterion_ptrs));
    for (size_t i = 0; i < crit.n; i++) {
        ovop__v1__rubric_criterion__init(&criteria[i]);
        criteria[i].name = crit.names[i];
        criteria[i].max_points = crit.values[i];
        criterion_ptrs[i] = &criteria[i];
    }
    if ((r = parse_stars(stars, &thresholds, &threshold_ptrs, &rb.n_thresholds)) != 0)
        goto out;
    rb.n_criteria = crit.n;
    rb.criteria = criterion_ptrs;
    rb.thresholds = threshold_ptrs;
    rb.version = (int32_t)version;
    Ovop__V1__SetRubricRequest in = OVOP__V1__SET_RUBRIC_REQUEST__INIT;
    in.rubric = &rb;
    r = call_and_print(c, "SetRubric", &in.base, &ovop__v1__rubric__descriptor, print_rubric);
out:
    free(criteria);
    free(criterion_ptrs);
    free(thresholds);
    free(threshold_ptrs);
    pairs_free(&crit);
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_rubric(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "get", .run = rubric_get},
        {.name = "set", .run = rubric_set},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl rubric get | rubric set --version V --criterion NAME=MAX... --stars "
                   "P1,P2,P3,P4,P5");
}

/* --- application --- */

static void print_application(const ProtobufCMessage *m)
{
    const Ovop__V1__Application *a = (const Ovop__V1__Application *)m;
    printf("application    %lld\n", (long long)a->id);
    printf("producer       %lld\n", (long long)a->producer_id);
    printf("product        %lld\n", (long long)a->product_id);
    printf("status         %s\n", NAME_OF(APP_STATUSES, a->status));
    if (a->n_scores > 0) {
        printf("scores        ");
        for (size_t i = 0; i < a->n_scores; i++)
            printf(" %s=%u", a->scores[i]->criterion, a->scores[i]->points);
        printf("\n");
        printf("total          %u points\n", a->total);
        printf("stars          %u\n", a->stars);
        printf("approved by    %s level\n", NAME_OF(LEVELS, a->approval_level));
    }
    if (a->committee[0])
        printf("committee      %s\n", a->committee);
    if (a->decided_by[0])
        printf("decided by     %s\n", a->decided_by);
    if (a->reason[0])
        printf("reason         %s\n", a->reason);
    if (a->certificate_number[0])
        printf("certificate    %s\n", a->certificate_number);
    printf("version        %d\n", a->version);
}

static int application_submit(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl application submit",
                                    .usage = "--producer ID --product ID",
                                    .summary = "Submits a product for certification."};
    int64_t producer = 0, product = 0;
    int argi;
    const ovop_opt_t opts[] = {
        {"producer", OVOP_OPT_INT, "0", 0, INT64_MAX, "the applying producer's id", &producer},
        {"product", OVOP_OPT_INT, "0", 0, INT64_MAX, "the product to certify", &product},
    };
    int r = ctl_verb_parse(&verb, opts, OVOP_ARRAY_SIZE(opts), &argc, argv, &argi);
    if (r == 0 && (producer == 0 || product == 0))
        r = ctl_misuse(&verb);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__SubmitApplicationRequest in = OVOP__V1__SUBMIT_APPLICATION_REQUEST__INIT;
    in.producer_id = producer;
    in.product_id = product;
    return call_and_print(c, "SubmitApplication", &in.base, &ovop__v1__application__descriptor,
                          print_application);
}

static int application_score(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ONE_ARG_VERB("ovopctl application score",
                     "ID --version V --score CRITERION=POINTS... [--committee NAME]",
                     "Records the committee's scores (--score once per rubric criterion).");
    int64_t version = 0, id = 0;
    char *committee = NULL;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the application's version you read",
         &version},
        {"committee", OVOP_OPT_STRING, NULL, 0, 0, "the scoring committee", &committee},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    pairs_t sc = {0};
    Ovop__V1__CriterionScore *scores = NULL, **score_ptrs = NULL;
    int argi;

    int r = take_pairs(&argc, argv, "score", &sc);
    if (r != 0)
        return r;
    r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && (r = ctl_parse_id("application id", argv[argi], &id)) == 0 && sc.n == 0)
        r = ctl_misuse(&verb);
    if (r != 0)
        goto out;
    scores = xcalloc(sc.n, sizeof(*scores));
    score_ptrs = xcalloc(sc.n, sizeof(*score_ptrs));
    for (size_t i = 0; i < sc.n; i++) {
        ovop__v1__criterion_score__init(&scores[i]);
        scores[i].criterion = sc.names[i];
        scores[i].points = sc.values[i];
        score_ptrs[i] = &scores[i];
    }
    Ovop__V1__ScoreApplicationRequest in = OVOP__V1__SCORE_APPLICATION_REQUEST__INIT;
    in.application_id = id;
    in.version = (int32_t)version;
    in.n_scores = sc.n;
    in.scores = score_ptrs;
    in.committee = committee ? committee : "";
    r = call_and_print(c, "ScoreApplication", &in.base, &ovop__v1__application__descriptor,
                       print_application);
out:
    free(scores);
    free(score_ptrs);
    pairs_free(&sc);
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int application_decide(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ONE_ARG_VERB("ovopctl application decide",
                     "ID --version V --approve|--reject --level district|region|national "
                     "[--reason R] [--decided-by NAME]",
                     "Approves (issuing the certificate) or rejects an application.");
    int64_t version = 0;
    bool approve = false, reject = false;
    char *level = NULL, *reason = NULL, *decided_by = NULL;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the application's version you read",
         &version},
        {"approve", OVOP_OPT_BOOL, "false", 0, 0, "approve: issues the certificate", &approve},
        {"reject", OVOP_OPT_BOOL, "false", 0, 0, "reject (needs --reason)", &reject},
        {"level", OVOP_OPT_STRING, NULL, 0, 0,
         "the approving level: district (1-3 stars), region (4), national (5)", &level},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why; required when rejecting", &reason},
        {"decided-by", OVOP_OPT_STRING, NULL, 0, 0,
         "ignored: a decision is recorded under the principal of --key", &decided_by},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int64_t id = 0;
    int argi;
    int r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && (r = ctl_parse_id("application id", argv[argi], &id)) == 0 && approve == reject)
        r = ctl_misuse(&verb);
    int lv = r == 0 && level ? ctl_enum_index(LEVELS, level) : 0;
    if (r == 0 && lv < 0) {
        fprintf(stderr, "ovopctl: --level must be district, region or national, got \"%s\"\n",
                level);
        r = CTL_EXIT_USAGE;
    }
    if (r == 0) {
        Ovop__V1__DecideApplicationRequest in = OVOP__V1__DECIDE_APPLICATION_REQUEST__INIT;
        in.application_id = id;
        in.version = (int32_t)version;
        in.approve = approve;
        in.level = lv;
        in.reason = reason ? reason : "";
        in.decided_by = decided_by ? decided_by : "";
        r = call_and_print(c, "DecideApplication", &in.base, &ovop__v1__application__descriptor,
                           print_application);
    }
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int application_get(ctl_t *c, int argc, char **argv)
{
    Ovop__V1__GetApplicationRequest in = OVOP__V1__GET_APPLICATION_REQUEST__INIT;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl application get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("application id", argv[1], &in.id);
    if (r != 0)
        return r;
    return call_and_print(c, "GetApplication", &in.base, &ovop__v1__application__descriptor,
                          print_application);
}

int ctl_application(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "submit", .run = application_submit},
        {.name = "score", .run = application_score},
        {.name = "decide", .run = application_decide},
        {.name = "get", .run = application_get},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
                   "ovopctl application submit|score|decide|get ... (ovopctl application VERB "
                   "--help)");
}

/* --- cert --- */

static void print_certificate(const ProtobufCMessage *m)
{
    const Ovop__V1__Certificate *ct = (const Ovop__V1__Certificate *)m;
    printf("certificate    %s\n", ct->number);
    printf("status         %s\n", NAME_OF(CERT_STATUSES, ct->status));
    printf("stars          %u\n", ct->stars);
    printf("producer       %lld\n", (long long)ct->producer_id);
    printf("product        %lld\n", (long long)ct->product_id);
    printf("application    %lld\n", (long long)ct->application_id);
    printf("issued on      %s\n", ct->issued_on);
    printf("expires on     %s\n", ct->expires_on);
    if (ct->renewed_from[0])
        printf("renewed from   %s\n", ct->renewed_from);
    if (ct->reason[0])
        printf("reason         %s\n", ct->reason);
    printf("version        %d\n", ct->version);
    if (ct->verification_code[0])
        printf("verification   %s\n", ct->verification_code);
}

static int cert_get(ctl_t *c, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl cert get NUMBER\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__GetCertificateRequest in = OVOP__V1__GET_CERTIFICATE_REQUEST__INIT;
    in.number = argv[1];
    return call_and_print(c, "GetCertificate", &in.base, &ovop__v1__certificate__descriptor,
                          print_certificate);
}

/* renew, suspend, reinstate, revoke: cmd->method is the rpc. */
static int cert_change(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl cert %s", cmd->name);
    const ctl_verb_t verb = ONE_ARG_VERB(prog, "NUMBER --version V [--reason R]",
                                         "Changes a certificate (renewal issues a successor).");
    int64_t version = 0;
    char *reason = NULL;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the certificate's version you read",
         &version},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why; required to suspend or revoke", &reason},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__ChangeCertificateRequest in = OVOP__V1__CHANGE_CERTIFICATE_REQUEST__INIT;
        in.number = argv[argi];
        in.version = (int32_t)version;
        in.reason = reason ? reason : "";
        r = call_and_print(c, cmd->method, &in.base, &ovop__v1__certificate__descriptor,
                           print_certificate);
    }
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_cert_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Certificate *ct = (const Ovop__V1__Certificate *)m;
    ctl_print_cell(ct->number, 16);
    ctl_print_cell(NAME_OF(CERT_STATUSES, ct->status), 9);
    ctl_print_int_cell(ct->stars, 5);
    ctl_print_int_cell(ct->producer_id, 10);
    ctl_print_cell(ct->issued_on, 10);
    ctl_print_cell(ct->expires_on, 10);
    printf("%s\n", ct->renewed_from);
}

static const ctl_column_t cert_columns[] = {
    {"NUMBER", 16}, {"STATUS", 9},   {"STARS", 5},        {"PRODUCER", 10},
    {"ISSUED", 10}, {"EXPIRES", 10}, {"RENEWED FROM", 0},
};

static int parse_cert_status(const char *s, int64_t *ret)
{
    int st = ctl_enum_index(CERT_STATUSES, s);
    if (st < 0) {
        fprintf(stderr,
                "ovopctl: --status must be active, suspended, revoked or expired, got \"%s\"\n", s);
        return CTL_EXIT_USAGE;
    }
    *ret = st;
    return 0;
}

static const ctl_filter_t cert_filters[] = {
    {.name = "producer",
     .type = OVOP_OPT_INT,
     .max = INT64_MAX,
     .help = "only this producer's",
     .field = "producer_id"},
    CTL_FILTER("territory", "only producers in this SOATE territory (a region covers its villages)",
               "territory_prefix"),
    {.name = "status",
     .type = OVOP_OPT_STRING,
     .help = "active, suspended, revoked or expired",
     .field = "status",
     .parse = parse_cert_status},
};

static const ctl_list_verb_t cert_list = {
    .verb = {.prog = "ovopctl cert list",
             .usage = "[options]",
             .summary = "Lists certificates.",
             .unexpected = true},
    .filters = cert_filters,
    .n_filters = OVOP_ARRAY_SIZE(cert_filters),
    .page_size_help = CTL_PAGE_SIZE_DEFAULT_HELP,
    .request = &ovop__v1__list_certificates_request__descriptor,
    .list = {.service = SERVICE,
             .method = "ListCertificates",
             .response = &ovop__v1__list_certificates_response__descriptor,
             .rows = "certificates",
             .columns = cert_columns,
             .n_columns = OVOP_ARRAY_SIZE(cert_columns),
             .print_row = print_cert_row,
             .one = "certificate",
             .many = "certificates"},
};

/* --- cert verify: what a buyer reads by the code on the package --- */

static const char *place_name(const Ovop__V1__VerifiedPlace *p)
{
    if (!p)
        return "";
    return p->name_en[0] ? p->name_en : p->name_ru;
}

static void print_verified(const ProtobufCMessage *m)
{
    const Ovop__V1__VerifiedCertificate *v = (const Ovop__V1__VerifiedCertificate *)m;
    printf("code           %s\n", v->code);
    printf("certificate    %s\n", v->number);
    printf("status         %s\n", NAME_OF(CERT_STATUSES, v->status));
    printf("product        %s\n", v->product_name_en[0] ? v->product_name_en : v->product_name_ru);
    printf("hs code        %s %s\n", v->hs_code, v->hs_description);
    printf("producer       %s\n", v->producer_name[0] ? v->producer_name : "(individual)");
    printf("village        %s\n", place_name(v->village));
    printf("district       %s\n", place_name(v->district));
    printf("region         %s\n", place_name(v->region));
    for (size_t i = 0; i < v->n_specializations; i++)
        printf("specialization %s %s\n", v->specializations[i]->hs_code,
               v->specializations[i]->description);
    printf("stars          %u\n", v->stars);
    printf("issued on      %s\n", v->issued_on);
    printf("valid until    %s\n", v->expires_on);
}

static int cert_verify(ctl_t *c, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl cert verify CODE\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__VerifyCertificateRequest in = OVOP__V1__VERIFY_CERTIFICATE_REQUEST__INIT;
    in.code = argv[1];
    return call_and_print(c, "VerifyCertificate", &in.base,
                          &ovop__v1__verified_certificate__descriptor, print_verified);
}

int ctl_cert(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "get", .run = cert_get},
        {.name = "list", .run_with = ctl_list_cmd, .list = &cert_list},
        {.name = "renew", .run_with = cert_change, .method = "RenewCertificate"},
        {.name = "suspend", .run_with = cert_change, .method = "SuspendCertificate"},
        {.name = "reinstate", .run_with = cert_change, .method = "ReinstateCertificate"},
        {.name = "revoke", .run_with = cert_change, .method = "RevokeCertificate"},
        {.name = "verify", .run = cert_verify},
    };
    return ctl_run(
        c, cmds, OVOP_ARRAY_SIZE(cmds), argc - 1, argv + 1,
        "ovopctl cert get|renew|suspend|reinstate|revoke NUMBER ... | cert verify CODE | "
        "cert list [options]");
}
