/* ovopctl agency and subscription (ovop.notify): access scopes, webhook endpoints and
 * subscriptions of the agencies, their delivery log and dead letters; `subscription listen`
 * receives a stream subscription's events (the stream protocol of proto/ovop/v1/notify.proto)
 * and acknowledges them; notify-keygen writes notifyd's --secrets-key file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ctl.h"
#include "keys.h"
#include "ovop/v1/notify.pb-c.h"
#include "pbjson.h"
#include "seal.h"

#define SERVICE "ovop.notify"

/* ---- printing ---- */

static void print_list(const char *label, char **v, size_t n)
{
    printf("%-15s", label);
    if (n == 0)
        printf("-");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", v[i]);
    printf("\n");
}

static void print_scope(const ProtobufCMessage *m)
{
    const Ovop__V1__AgencyScope *s = (const Ovop__V1__AgencyScope *)m;
    printf("agency         %s\n", s->agency);
    print_list("event types", s->event_types, s->n_event_types);
    print_list("soate", s->soate_prefixes, s->n_soate_prefixes);
    print_list("hs", s->hs_prefixes, s->n_hs_prefixes);
    print_list("destinations", s->destinations, s->n_destinations);
    printf("updated by     %s\n", s->updated_by);
}

static void print_endpoint(const ProtobufCMessage *m)
{
    const Ovop__V1__Endpoint *e = (const Ovop__V1__Endpoint *)m;
    printf("id             %s\nagency         %s\nurl            %s\nformat         %s\n"
           "status         %s\n",
           e->id, e->agency, e->url,
           ctl_enum_name(&ovop__v1__endpoint_format__descriptor, e->format), e->status);
}

static void print_secret(const ProtobufCMessage *m)
{
    const Ovop__V1__EndpointSecret *s = (const Ovop__V1__EndpointSecret *)m;
    print_endpoint(&s->endpoint->base);
    printf("secret         %s\n(shown once: keep it with the receiver, it verifies "
           "webhook-signature)\n",
           s->secret);
}

static void print_endpoints(const ProtobufCMessage *m)
{
    const Ovop__V1__ListEndpointsResponse *l = (const Ovop__V1__ListEndpointsResponse *)m;
    static const ctl_column_t cols[] = {
        {"ID", 37}, {"AGENCY", 17}, {"FORMAT", 21}, {"STATUS", 9}, {"URL", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < l->n_endpoints; i++) {
        const Ovop__V1__Endpoint *e = l->endpoints[i];
        ctl_print_cell(e->id, 37);
        ctl_print_cell(e->agency, 17);
        ctl_print_cell(ctl_enum_name(&ovop__v1__endpoint_format__descriptor, e->format), 21);
        ctl_print_cell(e->status, 9);
        printf("%s\n", e->url);
    }
}

static void print_subscription(const ProtobufCMessage *m)
{
    const Ovop__V1__Subscription *s = (const Ovop__V1__Subscription *)m;
    printf("id             %s\nagency         %s\ndelivery       %s%s%s\nstatus         %s\n",
           s->id, s->agency,
           ctl_enum_name(&ovop__v1__subscription_delivery__descriptor, s->delivery),
           s->endpoint_id[0] ? " to endpoint " : "", s->endpoint_id, s->status);
    printf("cursor         %" PRIu64 " (head %" PRIu64 ", lag %" PRIu64 ")\n", s->cursor, s->head,
           s->lag);
    printf("delivered by   %s\n", s->lease_holder[0] ? s->lease_holder : "-");
    const Ovop__V1__SubscriptionFilter *f = s->filter;
    if (f) {
        print_list("event types", f->event_types, f->n_event_types);
        print_list("hs", f->hs_prefixes, f->n_hs_prefixes);
        print_list("soate", f->soate_prefixes, f->n_soate_prefixes);
        print_list("destinations", f->destinations, f->n_destinations);
        print_list("exporters", f->exporters, f->n_exporters);
    }
}

static void print_subscriptions(const ProtobufCMessage *m)
{
    const Ovop__V1__ListSubscriptionsResponse *l = (const Ovop__V1__ListSubscriptionsResponse *)m;
    static const ctl_column_t cols[] = {{"ID", 37},     {"AGENCY", 17}, {"DELIVERY", 9},
                                        {"STATUS", 12}, {"CURSOR", 9},  {"LAG", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < l->n_subscriptions; i++) {
        const Ovop__V1__Subscription *s = l->subscriptions[i];
        ctl_print_cell(s->id, 37);
        ctl_print_cell(s->agency, 17);
        ctl_print_cell(ctl_enum_name(&ovop__v1__subscription_delivery__descriptor, s->delivery), 9);
        ctl_print_cell(s->status, 12);
        ctl_print_int_cell((long long)s->cursor, 9);
        printf("%" PRIu64 "\n", s->lag);
    }
}

static void print_deliveries(const ProtobufCMessage *m)
{
    const Ovop__V1__ListDeliveriesResponse *l = (const Ovop__V1__ListDeliveriesResponse *)m;
    static const ctl_column_t cols[] = {
        {"SEQUENCE", 10}, {"ATTEMPT", 8}, {"STATUS", 7}, {"MS", 9}, {"ERROR", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < l->n_deliveries; i++) {
        const Ovop__V1__Delivery *d = l->deliveries[i];
        char ms[32];
        ctl_print_int_cell((long long)d->sequence, 10);
        ctl_print_int_cell(d->attempt, 8);
        ctl_print_int_cell(d->status_code, 7);
        ctl_print_cell(ctl_amount(d->latency_ms, ms), 9);
        printf("%s\n", d->error[0] ? d->error : "-");
    }
}

static void print_dead_letters(const ProtobufCMessage *m)
{
    const Ovop__V1__ListDeadLettersResponse *l = (const Ovop__V1__ListDeadLettersResponse *)m;
    static const ctl_column_t cols[] = {
        {"SEQUENCE", 10}, {"ATTEMPTS", 9}, {"STATUS", 7}, {"REDRIVE", 8}, {"ERROR", 0}};
    ctl_print_header(cols, OVOP_ARRAY_SIZE(cols));
    for (size_t i = 0; i < l->n_dead_letters; i++) {
        const Ovop__V1__DeadLetter *d = l->dead_letters[i];
        ctl_print_int_cell((long long)d->sequence, 10);
        ctl_print_int_cell(d->attempts, 9);
        ctl_print_int_cell(d->last_status, 7);
        ctl_print_cell(d->redrive_requested ? "queued" : "-", 8);
        printf("%s\n", d->last_error[0] ? d->last_error : "-");
    }
}

static void print_redrive(const ProtobufCMessage *m)
{
    printf("%u dead letters queued for delivery\n",
           ((const Ovop__V1__RedriveDeadLettersResponse *)m)->requested);
}

/* Splits a comma-separated list (NULL: none) into a malloc'd vector of pointers into s. */
static char **split(char *s, size_t *n)
{
    *n = 0;
    if (!s || !*s)
        return NULL;
    char **v = xcalloc(strlen(s) + 1, sizeof(char *));
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save))
        v[(*n)++] = t;
    return v;
}

/* ---- agency scope / endpoint ---- */

static int scope_set(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl agency scope set",
        .usage = "AGENCY --types P,... --soate P,... --hs P,... --dest CC,...",
        .summary = "Sets what an agency may receive (notify.admin). Each list: patterns "
                   "(\"ovop.exports.*\", SOATE / HS prefixes, countries); \"*\" = unrestricted; "
                   "a dimension left out = nothing passes.",
        .n_args = 1,
        .flags_anywhere = true,
    };
    char *types = NULL, *soate = NULL, *hs = NULL, *dest = NULL;
    const ovop_opt_t opts[] = {
        {"types", OVOP_OPT_STRING, NULL, 0, 0, "event type patterns", &types},
        {"soate", OVOP_OPT_STRING, NULL, 0, 0, "SOATE prefixes", &soate},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code prefixes", &hs},
        {"dest", OVOP_OPT_STRING, NULL, 0, 0, "destination countries", &dest},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__AgencyScope in = OVOP__V1__AGENCY_SCOPE__INIT;
        in.agency = argv[argi];
        in.event_types = split(types, &in.n_event_types);
        in.soate_prefixes = split(soate, &in.n_soate_prefixes);
        in.hs_prefixes = split(hs, &in.n_hs_prefixes);
        in.destinations = split(dest, &in.n_destinations);
        r = ctl_call_show(c, SERVICE, "SetAgencyScope", &in.base,
                          &ovop__v1__agency_scope__descriptor, print_scope);
        free(in.event_types);
        free(in.soate_prefixes);
        free(in.hs_prefixes);
        free(in.destinations);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int scope_get(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl agency scope get",
                                    .usage = "[AGENCY]",
                                    .summary = "An agency's access scope (default: the caller's).",
                                    .n_args = CTL_ARGS_ANY};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    if (argc - argi > 1)
        return ctl_misuse(&verb);
    Ovop__V1__GetAgencyScopeRequest in = OVOP__V1__GET_AGENCY_SCOPE_REQUEST__INIT;
    in.agency = argi < argc ? argv[argi] : "";
    return ctl_call_show(c, SERVICE, "GetAgencyScope", &in.base,
                         &ovop__v1__agency_scope__descriptor, print_scope);
}

static int endpoint_add(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl agency endpoint add",
        .usage = "URL [--agency A] [--format cloudevents_json|cloudevents_protobuf|epcis_jsonld]",
        .summary = "A webhook endpoint; prints its signing secret once.",
        .n_args = 1,
        .flags_anywhere = true,
    };
    char *agency = NULL, *format = NULL;
    const ovop_opt_t opts[] = {
        {"agency", OVOP_OPT_STRING, NULL, 0, 0, "the agency (notify.admin; default: own)", &agency},
        {"format", OVOP_OPT_STRING, "cloudevents_json", 0, 0, "what the POST carries", &format},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    int f = r == 0 ? ctl_enum_index(&ovop__v1__endpoint_format__descriptor, format) : 0;
    if (r == 0 && f < 0) {
        fprintf(stderr, "ovopctl: --format must be cloudevents_json, cloudevents_protobuf or "
                        "epcis_jsonld\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0) {
        Ovop__V1__CreateEndpointRequest in = OVOP__V1__CREATE_ENDPOINT_REQUEST__INIT;
        in.url = argv[argi];
        in.agency = agency ? agency : "";
        in.format = (Ovop__V1__EndpointFormat)f;
        r = ctl_call_show(c, SERVICE, "CreateEndpoint", &in.base,
                          &ovop__v1__endpoint_secret__descriptor, print_secret);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* agency endpoint get|rotate|disable ID: cmd->method; rotate prints the new secret. */
static int endpoint_one(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl agency endpoint %s", cmd->name);
    const ctl_verb_t verb = {.prog = prog,
                             .usage = "ID",
                             .summary = "One endpoint (rotate: a new secret, the old one valid "
                                        "for notifyd's --overlap; disable: no more deliveries).",
                             .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__GetEndpointRequest in = OVOP__V1__GET_ENDPOINT_REQUEST__INIT;
    in.id = argv[argi];
    bool rotate = strcmp(cmd->method, "RotateEndpointSecret") == 0;
    return ctl_call_show(c, SERVICE, cmd->method, &in.base,
                         rotate ? &ovop__v1__endpoint_secret__descriptor
                                : &ovop__v1__endpoint__descriptor,
                         rotate ? print_secret : print_endpoint);
}

/* agency endpoint list / subscription list / subscription lag [--agency A] */
static int by_agency(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl %s %s",
             strcmp(cmd->method, "ListEndpoints") == 0 ? "agency endpoint" : "subscription",
             cmd->name);
    const ctl_verb_t verb = {.prog = prog,
                             .usage = "[--agency A]",
                             .summary = "The caller's agency's (notify.admin: every agency's, or "
                                        "--agency's).",
                             .unexpected = true};
    char *agency = NULL;
    const ovop_opt_t opts[] = {
        {"agency", OVOP_OPT_STRING, NULL, 0, 0, "one agency", &agency},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r == 0 && strcmp(cmd->method, "ListEndpoints") == 0) {
        Ovop__V1__ListEndpointsRequest in = OVOP__V1__LIST_ENDPOINTS_REQUEST__INIT;
        in.agency = agency ? agency : "";
        r = ctl_call_show(c, SERVICE, cmd->method, &in.base,
                          &ovop__v1__list_endpoints_response__descriptor, print_endpoints);
    } else if (r == 0) {
        Ovop__V1__ListSubscriptionsRequest in = OVOP__V1__LIST_SUBSCRIPTIONS_REQUEST__INIT;
        in.agency = agency ? agency : "";
        r = ctl_call_show(c, SERVICE, cmd->method, &in.base,
                          &ovop__v1__list_subscriptions_response__descriptor, print_subscriptions);
    }
    ovop_config_free(opts, 1);
    return r < 0 ? CTL_EXIT_OK : r;
}

static const ctl_cmd_t endpoint_cmds[] = {
    {"add", endpoint_add},
    {"list", NULL, by_agency, 0, "ListEndpoints"},
    {"get", NULL, endpoint_one, 0, "GetEndpoint"},
    {"rotate", NULL, endpoint_one, 0, "RotateEndpointSecret"},
    {"disable", NULL, endpoint_one, 0, "DisableEndpoint"},
};

static int agency_endpoint(ctl_t *c, int argc, char **argv)
{
    return ctl_run(c, endpoint_cmds, OVOP_ARRAY_SIZE(endpoint_cmds), argc - 1, argv + 1,
                   "ovopctl agency endpoint add|list|get|rotate|disable ...");
}

static const ctl_cmd_t scope_cmds[] = {
    {"set", scope_set},
    {"get", scope_get},
};

static int agency_scope(ctl_t *c, int argc, char **argv)
{
    return ctl_run(c, scope_cmds, OVOP_ARRAY_SIZE(scope_cmds), argc - 1, argv + 1,
                   "ovopctl agency scope set|get ...");
}

static const ctl_cmd_t agency_cmds[] = {
    {"scope", agency_scope},
    {"endpoint", agency_endpoint},
};

int ctl_agency(ctl_t *c, int argc, char **argv)
{
    return ctl_run(c, agency_cmds, OVOP_ARRAY_SIZE(agency_cmds), argc - 1, argv + 1,
                   "ovopctl agency scope|endpoint ...");
}

/* ---- subscription ---- */

static int sub_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl subscription create",
        .usage = "(--stream | --webhook ENDPOINT_ID) [--agency A] [--types P,...] [--hs P,...] "
                 "[--soate P,...] [--dest CC,...] [--exporter producer:ID,...] "
                 "[--from-seq N | --from-time RFC3339]",
        .summary = "A subscription, from now unless --from-seq or --from-time; the filter must "
                   "lie inside the agency's scope.",
        .unexpected = true,
        .needs = "subscription create needs --stream or --webhook ENDPOINT_ID",
    };
    bool stream = false;
    char *webhook = NULL, *agency = NULL, *types = NULL, *hs = NULL, *soate = NULL, *dest = NULL,
         *exporters = NULL, *from_time = NULL;
    int64_t from_seq = 0;
    const ovop_opt_t opts[] = {
        {"stream", OVOP_OPT_BOOL, "false", 0, 0, "delivered by the stream endpoint", &stream},
        {"webhook", OVOP_OPT_STRING, NULL, 0, 0, "delivered to this endpoint", &webhook},
        {"agency", OVOP_OPT_STRING, NULL, 0, 0, "the agency (notify.admin)", &agency},
        {"types", OVOP_OPT_STRING, NULL, 0, 0, "event type patterns", &types},
        {"hs", OVOP_OPT_STRING, NULL, 0, 0, "HS code prefixes", &hs},
        {"soate", OVOP_OPT_STRING, NULL, 0, 0, "SOATE prefixes", &soate},
        {"dest", OVOP_OPT_STRING, NULL, 0, 0, "destination countries", &dest},
        {"exporter", OVOP_OPT_STRING, NULL, 0, 0, "exporters producer:ID / cooperative:ID",
         &exporters},
        {"from-seq", OVOP_OPT_INT, "0", 0, INT64_MAX, "first sequence to deliver", &from_seq},
        {"from-time", OVOP_OPT_STRING, NULL, 0, 0, "first event time, e.g. 2026-12-01T00:00:00Z",
         &from_time},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && stream == (webhook != NULL))
        r = ctl_misuse(&verb);
    struct tm tm = {0};
    if (r == 0 && from_time && !strptime(from_time, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        fprintf(stderr, "ovopctl: --from-time must be YYYY-MM-DDTHH:MM:SSZ\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0) {
        Ovop__V1__SubscriptionFilter f = OVOP__V1__SUBSCRIPTION_FILTER__INIT;
        f.event_types = split(types, &f.n_event_types);
        f.hs_prefixes = split(hs, &f.n_hs_prefixes);
        f.soate_prefixes = split(soate, &f.n_soate_prefixes);
        f.destinations = split(dest, &f.n_destinations);
        f.exporters = split(exporters, &f.n_exporters);
        Ovop__V1__CreateSubscriptionRequest in = OVOP__V1__CREATE_SUBSCRIPTION_REQUEST__INIT;
        in.agency = agency ? agency : "";
        in.delivery = stream ? OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_STREAM
                             : OVOP__V1__SUBSCRIPTION_DELIVERY__SUBSCRIPTION_DELIVERY_WEBHOOK;
        in.endpoint_id = webhook ? webhook : "";
        in.filter = &f;
        in.start_sequence = (uint64_t)from_seq;
        in.start_time_us = from_time ? (int64_t)timegm(&tm) * 1000000 : 0;
        r = ctl_call_show(c, SERVICE, "CreateSubscription", &in.base,
                          &ovop__v1__subscription__descriptor, print_subscription);
        free(f.event_types);
        free(f.hs_prefixes);
        free(f.soate_prefixes);
        free(f.destinations);
        free(f.exporters);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* subscription get|pause|resume|delete|dead-letters|redrive ID: cmd->method. */
static int sub_one(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "ovopctl subscription %s", cmd->name);
    const ctl_verb_t verb = {
        .prog = prog, .usage = "ID", .summary = "One subscription.", .n_args = 1};
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__SubscriptionRef in = OVOP__V1__SUBSCRIPTION_REF__INIT;
    in.id = argv[argi];
    if (strcmp(cmd->method, "ListDeadLetters") == 0)
        return ctl_call_show(c, SERVICE, cmd->method, &in.base,
                             &ovop__v1__list_dead_letters_response__descriptor, print_dead_letters);
    if (strcmp(cmd->method, "RedriveDeadLetters") == 0)
        return ctl_call_show(c, SERVICE, cmd->method, &in.base,
                             &ovop__v1__redrive_dead_letters_response__descriptor, print_redrive);
    return ctl_call_show(c, SERVICE, cmd->method, &in.base, &ovop__v1__subscription__descriptor,
                         print_subscription);
}

static int sub_replay(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl subscription replay",
        .usage = "ID (--from-seq N | --from-time YYYY-MM-DDTHH:MM:SSZ)",
        .summary = "Delivers again from a sequence or a time (notify.admin): the cursor goes "
                   "back there.",
        .n_args = 1,
        .flags_anywhere = true,
        .needs = "subscription replay needs --from-seq or --from-time",
    };
    int64_t from_seq = 0;
    char *from_time = NULL;
    const ovop_opt_t opts[] = {
        {"from-seq", OVOP_OPT_INT, "0", 0, INT64_MAX, "first sequence", &from_seq},
        {"from-time", OVOP_OPT_STRING, NULL, 0, 0, "first event time", &from_time},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 2, &argc, argv, &argi);
    struct tm tm = {0};
    if (r == 0 && (from_seq != 0) == (from_time != NULL))
        r = ctl_misuse(&verb);
    if (r == 0 && from_time && !strptime(from_time, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        fprintf(stderr, "ovopctl: --from-time must be YYYY-MM-DDTHH:MM:SSZ\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0) {
        Ovop__V1__ReplaySubscriptionRequest in = OVOP__V1__REPLAY_SUBSCRIPTION_REQUEST__INIT;
        in.id = argv[argi];
        in.from_sequence = (uint64_t)from_seq;
        in.from_time_us = from_time ? (int64_t)timegm(&tm) * 1000000 : 0;
        r = ctl_call_show(c, SERVICE, "ReplaySubscription", &in.base,
                          &ovop__v1__subscription__descriptor, print_subscription);
    }
    ovop_config_free(opts, 2);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int sub_deliveries(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {.prog = "ovopctl subscription deliveries",
                                    .usage = "ID [--limit N]",
                                    .summary = "The webhook attempts of a subscription, newest "
                                               "first.",
                                    .n_args = 1,
                                    .flags_anywhere = true};
    int64_t limit = 20;
    const ovop_opt_t opts[] = {
        {"limit", OVOP_OPT_INT, "20", 1, 1000, "attempts shown", &limit},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, 1, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    Ovop__V1__ListDeliveriesRequest in = OVOP__V1__LIST_DELIVERIES_REQUEST__INIT;
    in.subscription_id = argv[argi];
    in.limit = (uint32_t)limit;
    return ctl_call_show(c, SERVICE, "ListDeliveries", &in.base,
                         &ovop__v1__list_deliveries_response__descriptor, print_deliveries);
}

int ctl_subscription_listen(ctl_t *c, int argc, char **argv);

static const ctl_cmd_t sub_cmds[] = {
    {"create", sub_create},
    {"get", NULL, sub_one, 0, "GetSubscription"},
    {"list", NULL, by_agency, 0, "ListSubscriptions"},
    {"lag", NULL, by_agency, 0, "GetLag"},
    {"pause", NULL, sub_one, 0, "PauseSubscription"},
    {"resume", NULL, sub_one, 0, "ResumeSubscription"},
    {"delete", NULL, sub_one, 0, "DeleteSubscription"},
    {"replay", sub_replay},
    {"deliveries", sub_deliveries},
    {"dead-letters", NULL, sub_one, 0, "ListDeadLetters"},
    {"redrive", NULL, sub_one, 0, "RedriveDeadLetters"},
    {"listen", ctl_subscription_listen},
};

int ctl_subscription(ctl_t *c, int argc, char **argv)
{
    return ctl_run(c, sub_cmds, OVOP_ARRAY_SIZE(sub_cmds), argc - 1, argv + 1,
                   "ovopctl subscription create|get|list|lag|pause|resume|delete|replay|"
                   "deliveries|dead-letters|redrive|listen ...");
}

/* ---- notify-keygen ---- */

int ctl_notify_keygen(ctl_t *c, int argc, char **argv)
{
    (void)c;
    static const ctl_verb_t verb = {
        .prog = "ovopctl notify-keygen",
        .usage = "PATH",
        .summary = "Writes a new key for notifyd's --secrets-key (mode 0600; an existing file "
                   "is never overwritten: the secrets sealed under it would be lost).",
        .n_args = 1,
    };
    int argi;
    int r = ctl_verb_parse(&verb, NULL, 0, &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    char *err = NULL;
    if (notify_seal_key_write(argv[argi], &err) < 0) {
        fprintf(stderr, "ovopctl: %s: %s\n", argv[argi], err ? err : "could not write");
        free(err);
        return CTL_EXIT_FAILURE;
    }
    printf("%s\n", argv[argi]);
    return CTL_EXIT_OK;
}
