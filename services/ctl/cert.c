/* ovopctl rubric, application and cert: brand certification ("Made in Kyrgyzstan" / OVOP
 * label): the scoring rubric, applications and their decisions, certificates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

#define SERVICE "ovop.registry"

static const char *const app_status_names[] = {"-", "submitted", "scored", "approved", "rejected"};
static const char *const level_names[] = {"-", "district", "region", "national"};
static const char *const cert_status_names[] = {"-", "active", "suspended", "revoked", "expired"};

static const char *enum_name(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n ? names[v] : "?";
}

/* The index of s in names[1..n), or 0. */
static int enum_value(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return 0;
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

/* Parses the verb's flags and its one positional argument, which may come before or after
 * them. Returns 0 with *ret_arg, or an exit code (-1: --help was printed). */
static int parse_with_arg(const char *prog, const char *usage, const char *summary,
                          const ovop_opt_t *opts, size_t n, int argc, char **argv,
                          const char **ret_arg)
{
    int argi;
    ctl_flags_first(&argc, argv, opts, n);
    int r = ctl_parse_flags(prog, usage, summary, opts, n, argc, argv, &argi);
    if (r != 0)
        return r;
    if (argi != argc - 1) {
        fprintf(stderr, "ovopctl: usage: %s %s\n", prog, usage);
        return CTL_EXIT_USAGE;
    }
    *ret_arg = argv[argi];
    return 0;
}

/* Calls method and prints its output with print (or as JSON). Returns the exit code. */
static int call_and_print(ctl_t *c, const char *method, const ProtobufCMessage *in,
                          const ProtobufCMessageDescriptor *out_desc,
                          void (*print)(const ProtobufCMessage *))
{
    ProtobufCMessage *out = NULL;
    int r = ctl_call(c, SERVICE, method, in, out_desc, &out);
    if (r == CTL_EXIT_OK) {
        if (c->json)
            ctl_print_json(out);
        else
            print(out);
        protobuf_c_message_free_unpacked(out, NULL);
    }
    return r;
}

/* --- rubric --- */

static void print_rubric(const ProtobufCMessage *m)
{
    const Ovop__V1__Rubric *rb = (const Ovop__V1__Rubric *)m;
    uint32_t sum = 0;
    ctl_print_cell("CRITERION", 24);
    printf("MAX POINTS\n");
    for (size_t i = 0; i < rb->n_criteria; i++) {
        ctl_print_cell(rb->criteria[i]->name, 24);
        printf("%u\n", rb->criteria[i]->max_points);
        sum += rb->criteria[i]->max_points;
    }
    ctl_print_cell("(total)", 24);
    printf("%u\n\n", sum);
    ctl_print_cell("STARS", 24);
    printf("MIN POINTS\n");
    for (size_t i = 0; i < rb->n_thresholds; i++) {
        char stars[16];
        snprintf(stars, sizeof(stars), "%u", rb->thresholds[i]->stars);
        ctl_print_cell(stars, 24);
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

static int rubric_set(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "--version V --criterion NAME=MAX... --stars P1,P2,P3,P4,P5";
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
    size_t n_thresholds = 0;

    int r = take_pairs(&argc, argv, "criterion", &crit);
    if (r != 0)
        return r;
    r = ctl_parse_flags("ovopctl rubric set", usage,
                        "Replaces the certification rubric (each --criterion NAME=MAX once per "
                        "criterion, in order).",
                        opts, n_opts, argc, argv, &argi);
    if (r != 0)
        goto out;
    r = CTL_EXIT_USAGE;
    if (argi != argc || crit.n == 0 || !stars) {
        fprintf(stderr, "ovopctl: usage: ovopctl rubric set %s\n", usage);
        goto out;
    }
    criteria = xcalloc(crit.n, sizeof(*criteria));
    criterion_ptrs = xcalloc(crit.n, sizeof(*criterion_ptrs));
    for (size_t i = 0; i < crit.n; i++) {
        ovop__v1__rubric_criterion__init(&criteria[i]);
        criteria[i].name = crit.names[i];
        criteria[i].max_points = crit.values[i];
        criterion_ptrs[i] = &criteria[i];
    }
    size_t max_thresholds = 1;
    for (const char *p = stars; *p; p++)
        max_thresholds += *p == ',';
    thresholds = xcalloc(max_thresholds, sizeof(*thresholds));
    threshold_ptrs = xcalloc(max_thresholds, sizeof(*threshold_ptrs));
    for (char *p = stars; n_thresholds < max_thresholds; n_thresholds++) {
        char *end = NULL;
        errno = 0;
        unsigned long v = *p >= '0' && *p <= '9' ? strtoul(p, &end, 10) : 0;
        if (!end || errno || v > UINT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "ovopctl: --stars must be numbers separated by commas, got \"%s\"\n",
                    stars);
            goto out;
        }
        ovop__v1__star_threshold__init(&thresholds[n_thresholds]);
        thresholds[n_thresholds].stars = (uint32_t)n_thresholds + 1;
        thresholds[n_thresholds].min_points = (uint32_t)v;
        threshold_ptrs[n_thresholds] = &thresholds[n_thresholds];
        p = *end ? end + 1 : end;
    }
    Ovop__V1__Rubric rb = OVOP__V1__RUBRIC__INIT;
    rb.n_criteria = crit.n;
    rb.criteria = criterion_ptrs;
    rb.n_thresholds = n_thresholds;
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
    if (argc >= 2 && strcmp(argv[1], "get") == 0)
        return rubric_get(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "set") == 0)
        return rubric_set(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl rubric get | rubric set --version V --criterion "
                    "NAME=MAX... --stars P1,P2,P3,P4,P5\n");
    return CTL_EXIT_USAGE;
}

/* --- application --- */

static void print_application(const ProtobufCMessage *m)
{
    const Ovop__V1__Application *a = (const Ovop__V1__Application *)m;
    printf("application    %lld\n", (long long)a->id);
    printf("producer       %lld\n", (long long)a->producer_id);
    printf("product        %lld\n", (long long)a->product_id);
    printf("status         %s\n",
           enum_name(app_status_names, OVOP_ARRAY_SIZE(app_status_names), (int)a->status));
    if (a->n_scores > 0) {
        printf("scores        ");
        for (size_t i = 0; i < a->n_scores; i++)
            printf(" %s=%u", a->scores[i]->criterion, a->scores[i]->points);
        printf("\n");
        printf("total          %u points\n", a->total);
        printf("stars          %u\n", a->stars);
        printf("approved by    %s level\n",
               enum_name(level_names, OVOP_ARRAY_SIZE(level_names), (int)a->approval_level));
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
    int64_t producer = 0, product = 0;
    int argi;
    const ovop_opt_t opts[] = {
        {"producer", OVOP_OPT_INT, "0", 0, INT64_MAX, "the applying producer's id", &producer},
        {"product", OVOP_OPT_INT, "0", 0, INT64_MAX, "the product to certify", &product},
    };
    int r = ctl_parse_flags("ovopctl application submit", "--producer ID --product ID",
                            "Submits a product for certification.", opts, OVOP_ARRAY_SIZE(opts),
                            argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argi != argc || producer == 0 || product == 0) {
        fprintf(stderr, "ovopctl: usage: ovopctl application submit --producer ID --product ID\n");
        return CTL_EXIT_USAGE;
    }
    Ovop__V1__SubmitApplicationRequest in = OVOP__V1__SUBMIT_APPLICATION_REQUEST__INIT;
    in.producer_id = producer;
    in.product_id = product;
    return call_and_print(c, "SubmitApplication", &in.base, &ovop__v1__application__descriptor,
                          print_application);
}

static int application_score(ctl_t *c, int argc, char **argv)
{
    static const char usage[] = "ID --version V --score CRITERION=POINTS... [--committee NAME]";
    int64_t version = 0, id = 0;
    char *committee = NULL;
    const char *id_s = NULL;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the application's version you read",
         &version},
        {"committee", OVOP_OPT_STRING, NULL, 0, 0, "the scoring committee", &committee},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    pairs_t sc = {0};
    Ovop__V1__CriterionScore *scores = NULL, **score_ptrs = NULL;

    int r = take_pairs(&argc, argv, "score", &sc);
    if (r != 0)
        return r;
    r = parse_with_arg("ovopctl application score", usage,
                       "Records the committee's scores (--score once per rubric criterion).", opts,
                       n_opts, argc, argv, &id_s);
    if (r != 0 || (r = ctl_parse_id("application id", id_s, &id)) != 0)
        goto out;
    if (sc.n == 0) {
        fprintf(stderr, "ovopctl: usage: ovopctl application score %s\n", usage);
        r = CTL_EXIT_USAGE;
        goto out;
    }
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
    static const char usage[] = "ID --version V --approve|--reject --level "
                                "district|region|national [--reason R] [--decided-by NAME]";
    int64_t version = 0;
    bool approve = false, reject = false;
    char *level = NULL, *reason = NULL, *decided_by = NULL;
    const char *id_s = NULL;
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the application's version you read",
         &version},
        {"approve", OVOP_OPT_BOOL, "false", 0, 0, "approve: issues the certificate", &approve},
        {"reject", OVOP_OPT_BOOL, "false", 0, 0, "reject (needs --reason)", &reject},
        {"level", OVOP_OPT_STRING, NULL, 0, 0,
         "the approving level: district (1-3 stars), region (4), national (5)", &level},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why; required when rejecting", &reason},
        {"decided-by", OVOP_OPT_STRING, NULL, 0, 0, "who decides (default: --caller)", &decided_by},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int64_t id = 0;
    int r = parse_with_arg("ovopctl application decide", usage,
                           "Approves (issuing the certificate) or rejects an application.", opts,
                           n_opts, argc, argv, &id_s);
    if (r != 0 || (r = ctl_parse_id("application id", id_s, &id)) != 0)
        goto out;
    r = CTL_EXIT_USAGE;
    if (approve == reject) {
        fprintf(stderr, "ovopctl: usage: ovopctl application decide %s\n", usage);
        goto out;
    }
    int lv = level ? enum_value(level_names, OVOP_ARRAY_SIZE(level_names), level) : 0;
    if (level && !lv) {
        fprintf(stderr, "ovopctl: --level must be district, region or national, got \"%s\"\n",
                level);
        goto out;
    }
    Ovop__V1__DecideApplicationRequest in = OVOP__V1__DECIDE_APPLICATION_REQUEST__INIT;
    in.application_id = id;
    in.version = (int32_t)version;
    in.approve = approve;
    in.level = lv;
    in.reason = reason ? reason : "";
    in.decided_by = decided_by ? decided_by : "";
    r = call_and_print(c, "DecideApplication", &in.base, &ovop__v1__application__descriptor,
                       print_application);
out:
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int application_get(ctl_t *c, int argc, char **argv)
{
    int64_t id = 0;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl application get ID\n");
        return CTL_EXIT_USAGE;
    }
    int r = ctl_parse_id("application id", argv[1], &id);
    if (r != 0)
        return r;
    Ovop__V1__GetApplicationRequest in = OVOP__V1__GET_APPLICATION_REQUEST__INIT;
    in.id = id;
    return call_and_print(c, "GetApplication", &in.base, &ovop__v1__application__descriptor,
                          print_application);
}

int ctl_application(ctl_t *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "submit") == 0)
        return application_submit(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "score") == 0)
        return application_score(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "decide") == 0)
        return application_decide(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "get") == 0)
        return application_get(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl application submit|score|decide|get ... "
                    "(ovopctl application VERB --help)\n");
    return CTL_EXIT_USAGE;
}

/* --- cert --- */

static void print_certificate(const ProtobufCMessage *m)
{
    const Ovop__V1__Certificate *ct = (const Ovop__V1__Certificate *)m;
    printf("certificate    %s\n", ct->number);
    printf("status         %s\n",
           enum_name(cert_status_names, OVOP_ARRAY_SIZE(cert_status_names), (int)ct->status));
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

/* renew, suspend, reinstate, revoke: method is the rpc. */
static int cert_change(ctl_t *c, const char *verb, const char *method, int argc, char **argv)
{
    int64_t version = 0;
    char *reason = NULL;
    const char *number = NULL;
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl cert %s", verb);
    const ovop_opt_t opts[] = {
        {"version", OVOP_OPT_INT, "0", 0, INT32_MAX, "the certificate's version you read",
         &version},
        {"reason", OVOP_OPT_STRING, NULL, 0, 0, "why; required to suspend or revoke", &reason},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int r = parse_with_arg(prog, "NUMBER --version V [--reason R]",
                           "Changes a certificate (renewal issues a successor).", opts, n_opts,
                           argc, argv, &number);
    if (r == 0) {
        Ovop__V1__ChangeCertificateRequest in = OVOP__V1__CHANGE_CERTIFICATE_REQUEST__INIT;
        in.number = (char *)number;
        in.version = (int32_t)version;
        in.reason = reason ? reason : "";
        r = call_and_print(c, method, &in.base, &ovop__v1__certificate__descriptor,
                           print_certificate);
    }
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

static void print_cert_row(const ProtobufCMessage *m)
{
    const Ovop__V1__Certificate *ct = (const Ovop__V1__Certificate *)m;
    char producer[24], stars[8];
    snprintf(producer, sizeof(producer), "%lld", (long long)ct->producer_id);
    snprintf(stars, sizeof(stars), "%u", ct->stars);
    ctl_print_cell(ct->number, 16);
    ctl_print_cell(
        enum_name(cert_status_names, OVOP_ARRAY_SIZE(cert_status_names), (int)ct->status), 9);
    ctl_print_cell(stars, 5);
    ctl_print_cell(producer, 10);
    ctl_print_cell(ct->issued_on, 10);
    ctl_print_cell(ct->expires_on, 10);
    printf("%s\n", ct->renewed_from);
}

static void print_cert_header(void)
{
    ctl_print_cell("NUMBER", 16);
    ctl_print_cell("STATUS", 9);
    ctl_print_cell("STARS", 5);
    ctl_print_cell("PRODUCER", 10);
    ctl_print_cell("ISSUED", 10);
    ctl_print_cell("EXPIRES", 10);
    printf("RENEWED FROM\n");
}

static int cert_list(ctl_t *c, int argc, char **argv)
{
    int64_t producer = 0, page_size = 0;
    char *territory = NULL, *status = NULL, *token = NULL;
    bool all = false;
    int argi;
    const ovop_opt_t opts[] = {
        {"producer", OVOP_OPT_INT, "0", 0, INT64_MAX, "only this producer's", &producer},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0,
         "only producers in this SOATE territory (a region covers its villages)", &territory},
        {"status", OVOP_OPT_STRING, NULL, 0, 0, "active, suspended, revoked or expired", &status},
        {"page-size", OVOP_OPT_INT, "0", 0, 1000, "rows per page (0: the server's default)",
         &page_size},
        {"page-token", OVOP_OPT_STRING, NULL, 0, 0, "continue from a previous page", &token},
        {"all", OVOP_OPT_BOOL, "false", 0, 0, "follow page tokens to the end", &all},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int r = ctl_parse_flags("ovopctl cert list", "[options]", "Lists certificates.", opts, n_opts,
                            argc, argv, &argi);
    if (r != 0)
        goto out;
    r = CTL_EXIT_USAGE;
    if (argi != argc) {
        fprintf(stderr, "ovopctl: unexpected argument \"%s\"\n", argv[argi]);
        goto out;
    }
    int st = status ? enum_value(cert_status_names, OVOP_ARRAY_SIZE(cert_status_names), status) : 0;
    if (status && !st) {
        fprintf(stderr,
                "ovopctl: --status must be active, suspended, revoked or expired, got \"%s\"\n",
                status);
        goto out;
    }
    Ovop__V1__ListCertificatesRequest in = OVOP__V1__LIST_CERTIFICATES_REQUEST__INIT;
    in.producer_id = producer;
    in.territory_prefix = territory ? territory : "";
    in.status = st;
    in.page_size = (uint32_t)page_size;
    r = ctl_list_pages(c,
                       &(ctl_list_t){.service = SERVICE,
                                     .method = "ListCertificates",
                                     .request = &in.base,
                                     .response = &ovop__v1__list_certificates_response__descriptor,
                                     .rows = "certificates",
                                     .page_token = token,
                                     .all = all,
                                     .print_header = print_cert_header,
                                     .print_row = print_cert_row,
                                     .one = "certificate",
                                     .many = "certificates"});
out:
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_cert(ctl_t *c, int argc, char **argv)
{
    static const struct {
        const char *verb;
        const char *method;
    } changes[] = {{"renew", "RenewCertificate"},
                   {"suspend", "SuspendCertificate"},
                   {"reinstate", "ReinstateCertificate"},
                   {"revoke", "RevokeCertificate"}};
    if (argc >= 2 && strcmp(argv[1], "get") == 0)
        return cert_get(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return cert_list(c, argc - 1, argv + 1);
    for (size_t i = 0; argc >= 2 && i < OVOP_ARRAY_SIZE(changes); i++)
        if (strcmp(argv[1], changes[i].verb) == 0)
            return cert_change(c, changes[i].verb, changes[i].method, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl cert get|renew|suspend|reinstate|revoke NUMBER ... "
                    "| cert list [options]\n");
    return CTL_EXIT_USAGE;
}
