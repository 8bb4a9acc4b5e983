/* ovopctl: command-line client of the OVOP backend for operators and scripts. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "pbjson.h"

static const char usage_text[] =
    "Verbs:\n"
    "  db migrate                      apply pending schema migrations (needs --database-url)\n"
    "  db version                      show the schema version of the database and of this build\n"
    "  ping SERVICE                    ask the broker whether SERVICE has workers (mmi.service)\n"
    "  territory get CODE [--as-of D]  one SOATE territory by its 14-digit code\n"
    "  territory list [--parent CODE] [--kind KIND] [--page-size N] [--page-token T] [--all]\n"
    "  territory create CODE --kind K --parent CODE --ru NAME [--ky N] [--en N] [--valid-from D]\n"
    "  territory rename CODE [--ru N] [--ky N] [--en N] [--on D]\n"
    "  territory reparent CODE --parent CODE [--on D] | retire CODE [--on D] [--superseded-by C]\n"
    "  territory import FILE [--valid-from D] [--batch N] [--progress]\n"
    "                                  the statistics committee's CSV; exits 1 if lines were "
    "rejected\n"
    "  spec declare TERRITORY HS [--narrative T] | withdraw ID --version V [--on D]\n"
    "  spec list [--territory CODE] [--hs PREFIX] | unspecialized [--territory CODE] [--kind K]\n"
    "  spec counts [--hs PREFIX] [--kind K]  per region: territories of a kind declaring a "
    "product\n"
    "  producer register --kind K --name N --tax-id INN --territory CODE [--members ...]\n"
    "  producer get ID | list [--territory CODE] [--hs PREFIX] [--min-stars N] ...\n"
    "  producer update ID --version V [--name N ...]  changes only the details given\n"
    "  producer suspend|reactivate|close ID --version V [--reason R]\n"
    "  product create --producer ID --name-en N --category C --hs CODE --unit U --capacity Q\n"
    "                 [--price USD] [--season 6,7,8] [--cert organic]... [--raw M]...\n"
    "  product update ID --version V [--price USD ...]  changes only the details given\n"
    "  product get ID | list [--producer ID] [--territory CODE] [--hs PREFIX] [--category C]\n"
    "  search WORDS... [--limit N]     producers and products by words (ru, en, ky)\n"
    "  coop create --name N --territory CODE --member ID --member ID [--founded DATE]\n"
    "  coop join|leave COOP_ID PRODUCER_ID --version V [--on DATE]\n"
    "  coop get ID | list [--territory CODE] [--hs PREFIX] | capacity COOP_ID --hs CODE\n"
    "  rubric get | rubric set --version V --criterion NAME=MAX... --stars P1,P2,P3,P4,P5\n"
    "  application submit --producer ID --product ID\n"
    "  application score ID --version V --score CRITERION=POINTS... [--committee NAME]\n"
    "  application decide ID --version V --approve|--reject --level district|region|national\n"
    "                     [--reason R]\n"
    "  application get ID\n"
    "  cert get NUMBER | renew|suspend|reinstate|revoke NUMBER --version V [--reason R]\n"
    "  cert list [--producer ID] [--territory CODE] [--status active|suspended|revoked|expired]\n"
    "  export create --exporter producer:ID --buyer N --destination CC --lot P:PR:QTY:KG:USD\n"
    "                --border KG-... --depart DATE [--incoterm FCA] [--mode road] ...\n"
    "  export get ID | history ID | list [--exporter K:ID] [--territory C] [--hs P] [--status S]\n"
    "  export declare|complete|release|depart|deliver|cancel|reject|return ID [--agency A]\n"
    "                [--reason R] [--reference R] [--at TIME] [--border POINT] [--version V]\n"
    "  export record FILE|- [--batch N]   moves from CSV: shipment_id,status,agency,reason,...\n"
    "  export doc attach SHIPMENT --type T --number N --issuer I [--issued-on D] [--requested]\n"
    "  export doc issue|reject|revoke DOCUMENT_ID [--reason R]\n"
    "  export violation --exporter K:ID --country CC --on DATE --authority A [--reference R]\n"
    "  export compliance producer:ID|cooperative:ID\n"
    "  export stats [--by month,region,district,hs,destination] [--from YYYY-MM] [--to YYYY-MM]\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 broker or service unreachable (timeout),\n"
    "10+N when the service answered with status code N (13 INVALID_ARGUMENT, 15 NOT_FOUND, ...).\n";

int ctl_parse_flags(const char *prog, const char *usage, const char *summary,
                    const ovop_opt_t *opts, size_t n, int argc, char **argv, int *ret_argi)
{
    ovop_config_t cfg = {prog, summary, usage, opts, n, true, true};
    char *err = NULL;
    int r = ovop_config_parse(&cfg, argc, argv, ret_argi, &err);
    if (r == 1)
        return -1;
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

void ctl_print_json(const ProtobufCMessage *m)
{
    json_t *j = ovop_pb_to_json(m);
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(j);
}

void ctl_print_cell(const char *s, int width)
{
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            chars++;
    fputs(s, stdout);
    for (int i = chars; i < width; i++)
        fputc(' ', stdout);
    fputc(' ', stdout);
}

static int get_client(ctl_t *c, ovop_client_t **ret)
{
    if (!c->client) {
        ovop_client_options_t o = {
            .brokers = c->broker,
            .timeout_ms = (uint32_t)c->timeout_ms,
            .retries = (uint32_t)c->retries,
            .max_msg = OVOP_DEFAULT_MAX_MSG * 16,
            .caller = c->caller,
        };
        int r = ovop_client_new(&c->client, NULL, &o);
        if (r < 0) {
            fprintf(stderr, "ovopctl: could not connect to broker \"%s\": %s\n", c->broker,
                    strerror(-r));
            return r;
        }
    }
    *ret = c->client;
    return 0;
}

static void print_status(ctl_t *c, const Ovop__V1__Status *st)
{
    if (c->json) {
        ctl_print_json(&st->base);
        return;
    }
    /* The reason only when it says more than the code. */
    bool reason = st->reason[0] && strcmp(st->reason, ovop_code_to_string(st->code)) != 0;
    fprintf(stderr, "ovopctl: %s%s%s: %s\n", ovop_code_to_string(st->code), reason ? " " : "",
            reason ? st->reason : "", st->message);
    for (size_t i = 0; i < st->n_metadata; i++)
        fprintf(stderr, "  %s = %s\n", st->metadata[i]->key, st->metadata[i]->value);
    for (size_t i = 0; i < st->n_violations; i++)
        fprintf(stderr, "  %s: %s\n", st->violations[i]->field, st->violations[i]->description);
}

int ctl_call(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out)
{
    ovop_client_t *cl;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;

    if (get_client(c, &cl) < 0)
        return CTL_EXIT_UNREACHABLE;
    int r = ovop_client_call(cl, service, method, c->request_id, in, out_desc, &rep, &out);
    if (r == -ETIMEDOUT) {
        fprintf(stderr,
                "ovopctl: no answer from %s via broker %s after %lld attempts of %lld ms; is "
                "the service running? (ovopctl ping %s)\n",
                service, c->broker, (long long)c->retries + 1, (long long)c->timeout_ms, service);
        return CTL_EXIT_UNREACHABLE;
    }
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s %s failed: %s\n", service, method, strerror(-r));
        return CTL_EXIT_FAILURE;
    }
    int code = rep->status ? (int)rep->status->code : 0;
    if (code != OVOP_OK) {
        print_status(c, rep->status);
        ovop__v1__reply__free_unpacked(rep, NULL);
        return CTL_EXIT_STATUS_BASE + code;
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    *ret_out = out;
    return CTL_EXIT_OK;
}

static int ctl_ping(ctl_t *c, int argc, char **argv)
{
    ovop_client_t *cl;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl ping SERVICE (e.g. ovop.registry)\n");
        return CTL_EXIT_USAGE;
    }
    if (get_client(c, &cl) < 0)
        return CTL_EXIT_UNREACHABLE;
    int64_t t0 = ovop_mono_us();
    int r = ovop_client_mmi_service(cl, argv[1]);
    double ms = (double)(ovop_mono_us() - t0) / 1000.0;
    const char *state = r == 0 ? "up" : r == -ENOENT ? "no workers" : "broker unreachable";
    if (c->json) {
        json_t *j = json_pack("{s:s,s:s,s:b,s:f}", "service", argv[1], "state", state, "ok", r == 0,
                              "round_trip_ms", ms);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        printf("%s: %s (%.2f ms)\n", argv[1], state, ms);
    }
    if (r == 0)
        return CTL_EXIT_OK;
    return r == -ENOENT ? CTL_EXIT_STATUS_BASE + OVOP_NOT_FOUND : CTL_EXIT_UNREACHABLE;
}

int main(int argc, char **argv)
{
    ctl_t c = {0};
    const ovop_opt_t opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0,
         "broker endpoints, comma-separated", &c.broker},
        {"database-url", OVOP_OPT_STRING, "postgresql:///ovop", 0, 0,
         "PostgreSQL URL, for db verbs", &c.database_url},
        {"caller", OVOP_OPT_STRING, "ovopctl", 0, 0, "who is calling, stamped into requests",
         &c.caller},
        {"json", OVOP_OPT_BOOL, "false", 0, 0, "print JSON for scripts", &c.json},
        {"request-id", OVOP_OPT_STRING, NULL, 0, 0,
         "idempotency key of the request (default: a fresh UUID); the same id again returns "
         "the first reply instead of acting twice",
         &c.request_id},
        {"timeout-ms", OVOP_OPT_INT, "3000", 10, 600000, "wait per attempt", &c.timeout_ms},
        {"retries", OVOP_OPT_INT, "2", 0, 100, "attempts after the first, same request id",
         &c.retries},
    };
    ovop_config_t cfg = {"ovopctl",
                         "Operators' client of the OVOP backend. Global options come before "
                         "the verb.",
                         "[options] VERB [ARGS]",
                         opts,
                         OVOP_ARRAY_SIZE(opts),
                         true,
                         false};
    char *err = NULL;
    int argi = 0;
    int exit_code;

    ovop_log_setup("ovopctl", "", "text", "warn");
    int r = ovop_config_parse(&cfg, argc, argv, &argi, &err);
    if (r == 1) {
        printf("\n%s", usage_text);
        exit_code = CTL_EXIT_OK;
        goto out;
    }
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        exit_code = CTL_EXIT_USAGE;
        goto out;
    }
    if (argi >= argc) {
        fprintf(stderr, "Usage: ovopctl [options] VERB [ARGS] (ovopctl --help lists them)\n\n%s",
                usage_text);
        exit_code = CTL_EXIT_USAGE;
        goto out;
    }
    const char *verb = argv[argi];
    int vargc = argc - argi;
    char **vargv = argv + argi;
    if (strcmp(verb, "db") == 0)
        exit_code = ctl_db(&c, vargc, vargv);
    else if (strcmp(verb, "ping") == 0)
        exit_code = ctl_ping(&c, vargc, vargv);
    else if (strcmp(verb, "territory") == 0)
        exit_code = ctl_territory(&c, vargc, vargv);
    else if (strcmp(verb, "producer") == 0)
        exit_code = ctl_producer(&c, vargc, vargv);
    else if (strcmp(verb, "spec") == 0)
        exit_code = ctl_spec(&c, vargc, vargv);
    else if (strcmp(verb, "product") == 0)
        exit_code = ctl_product(&c, vargc, vargv);
    else if (strcmp(verb, "search") == 0)
        exit_code = ctl_search(&c, vargc, vargv);
    else if (strcmp(verb, "coop") == 0)
        exit_code = ctl_coop(&c, vargc, vargv);
    else if (strcmp(verb, "rubric") == 0)
        exit_code = ctl_rubric(&c, vargc, vargv);
    else if (strcmp(verb, "application") == 0)
        exit_code = ctl_application(&c, vargc, vargv);
    else if (strcmp(verb, "cert") == 0)
        exit_code = ctl_cert(&c, vargc, vargv);
    else if (strcmp(verb, "export") == 0)
        exit_code = ctl_export(&c, vargc, vargv);
    else {
        fprintf(stderr, "ovopctl: unknown verb \"%s\"\n\n%s", verb, usage_text);
        exit_code = CTL_EXIT_USAGE;
    }
out:
    ovop_client_destroy(&c.client);
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return exit_code;
}
