/* ovopctl: command-line client of the OVOP backend for operators and scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"

static const char usage_text[] =
    "Verbs:\n"
    "  db migrate                      apply pending schema migrations (needs --database-url)\n"
    "  db version                      show the schema version of the database and of this build\n"
    "  db bootstrap ID --kind K --name N --key PUB [--roles R] [--territory C] [--agency A]\n"
    "                                  a principal written by the database owner (first admin)\n"
    "  keygen PATH [--force]           a CurveZMQ key pair: PATH.key and PATH.secret (0600)\n"
    "  ping SERVICE                    ask the broker whether SERVICE has workers (mmi.service)\n"
    "  whoami                          the principal the broker takes this key for\n"
    "  principal add ID --kind operator|agency|service --name N --key PUBLIC_KEY_OR_FILE\n"
    "                [--role R]... [--territory CODE] [--agency CODE]\n"
    "  principal list [--kind K] [--status active|disabled] [--role R] [--page-size N] [--all]\n"
    "  principal show ID | history ID  a principal with its keys | every change, by whom\n"
    "  principal disable|enable ID [--reason R]   refused by the broker within seconds\n"
    "  principal grant|revoke ID ROLE...          principal roles lists the roles\n"
    "  principal rotate-key ID (--key NEW_PUBLIC | --out PATH) [--overlap 24h]\n"
    "                                  old keys accepted for the overlap (0: refused now)\n"
    "  principal revoke-key ID KEY | principal roles\n"
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
    "  order create --buyer N --country CC --hs CODE --quantity Q --from D --to D --at SOATE\n"
    "               [--min-stars N] [--certs organic,...] [--price-ceiling USD] [--partial]\n"
    "  order get ID | list [--status S] [--hs CODE] | match ID | reject ID --reason R\n"
    "  order accept ID --exporter cooperative:ID --border KG-... --depart DATE [--kg-per-unit X]\n"
    "  coop propose --hs CODE --territory SOATE --target Q --max-km KM [--max-members N]\n"
    "  agency scope set AGENCY --types P,.. --soate P,.. --hs P,.. --dest CC,.. | scope get [A]\n"
    "  agency endpoint add URL [--agency A] [--format F] | list | get|rotate|disable ID\n"
    "  subscription create (--stream | --webhook ENDPOINT) [--types P,..] [--soate P,..] [--hs "
    "..]\n"
    "               [--dest CC,..] [--exporter producer:ID,..] [--from-seq N | --from-time T]\n"
    "  subscription get|pause|resume|delete|dead-letters|redrive ID | list | lag [--agency A]\n"
    "  subscription replay ID --from-seq N|--from-time T | deliveries ID [--limit N]\n"
    "  subscription listen ID [--from N] [--count N] [--idle-ms MS] [--stream ADDR]\n"
    "                                  receive a stream subscription's events and ack them\n"
    "  notify-keygen PATH              a key file for notifyd's --secrets-key (0600)\n"
    "  status [--json] [--max-lag N] [--database-read-url URL]\n"
    "                                  services, instances, event log, consumers, certificates,\n"
    "                                  database; exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN\n"
    "  stakeholder add --kind K --name N [--territory C] [--email E] [--phone P] | list\n"
    "  programme create --kind K [--topic T] --name N --stakeholders ID,.. --from D --to D\n"
    "  programme add-participant ID producer:P | set-outcome ID producer:P --outcome O\n"
    "                  [--grant SOM] [--on D] | list [--kind K] | show ID\n"
    "  programme untrained --territory SOATE | funds [--from D --to D] | before-export P\n"
    "  channel add --kind K --name N [--territory C] | list [--kind K]\n"
    "  sales report PRODUCER YYYY-MM --line HS:CHANNEL:QTY:SOM[:export]... [--employees N]\n"
    "               [--seasonal N] [--expected-revision R] | show PRODUCER YYYY-MM [--revision R]\n"
    "  sales stats --by region|district|hs_code|channel [--from M] [--to M] [--territory C]\n"
    "  web approve CODE                signs in the dashboard page showing CODE, as yourself\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 broker or service unreachable (timeout),\n"
    "10+N when the service answered with status code N (13 INVALID_ARGUMENT, 15 NOT_FOUND, ...).\n";

/* The verbs, by the first word after the global options. */
static const ctl_cmd_t verbs[] = {
    {"db", ctl_db},
    {"keygen", ctl_keygen},
    {"ping", ctl_ping},
    {"territory", ctl_territory},
    {"producer", ctl_producer},
    {"spec", ctl_spec},
    {"product", ctl_product},
    {"search", ctl_search},
    {"coop", ctl_coop},
    {"rubric", ctl_rubric},
    {"application", ctl_application},
    {"cert", ctl_cert},
    {"export", ctl_export},
    {"whoami", ctl_whoami},
    {"principal", ctl_principal},
    {"order", ctl_order},
    {"agency", ctl_agency},
    {"subscription", ctl_subscription},
    {"notify-keygen", ctl_notify_keygen},
    {"status", ctl_status},
    {"stakeholder", ctl_stakeholder},
    {"programme", ctl_programme},
    {"channel", ctl_channel},
    {"sales", ctl_sales},
    {"web", ctl_web}, /* dashboard sign-in */
};

/* Parses the global options (opts, n) of argv; *ret_argi: the verb. Returns 0, CTL_HELP after
 * printing the help and the verbs, or CTL_EXIT_USAGE after printing the problem. */
static int parse_globals(const ovop_opt_t *opts, size_t n, int argc, char **argv, int *ret_argi)
{
    ovop_config_t cfg = {"ovopctl",
                         "Operators' client of the OVOP backend. Global options come before "
                         "the verb.",
                         "[options] VERB [ARGS]",
                         opts,
                         n,
                         true,
                         false};
    char *err = NULL;
    int r = ovop_config_parse(&cfg, argc, argv, ret_argi, &err);
    if (r == 1) {
        /* --help or --version, whichever came first: only --help lists the verbs. */
        for (int i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
            if (strcmp(argv[i], "--version") == 0)
                return CTL_HELP;
            if (strcmp(argv[i], "--help") == 0)
                break;
        }
        printf("\n%s", usage_text);
        return CTL_HELP;
    }
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        return CTL_EXIT_USAGE;
    }
    if (*ret_argi >= argc) {
        fprintf(stderr, "Usage: ovopctl [options] VERB [ARGS] (ovopctl --help lists them)\n\n%s",
                usage_text);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* Runs the verb argv[0] with its arguments. */
static int run_verb(ctl_t *c, int argc, char **argv)
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(verbs); i++)
        if (strcmp(argv[0], verbs[i].name) == 0)
            return verbs[i].run(c, argc, argv);
    fprintf(stderr, "ovopctl: unknown verb \"%s\"\n\n%s", argv[0], usage_text);
    return CTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    ctl_t c = {0};
    const ovop_opt_t opts[] = {
        {"broker", OVOP_OPT_STRING, "tcp://127.0.0.1:5555", 0, 0,
         "broker endpoints, comma-separated", &c.broker},
        {"database-url", OVOP_OPT_STRING, "postgresql:///ovop", 0, 0,
         "PostgreSQL URL, for db verbs", &c.database_url},
        {"key", OVOP_OPT_STRING, NULL, 0, 0,
         "your secret key file (ovopctl keygen writes one; mode 0600): who you are on the bus",
         &c.key},
        {"broker-key", OVOP_OPT_STRING, NULL, 0, 0,
         "the broker's public key: 40 Z85 characters or its .key file", &c.broker_key},
        {"insecure-plaintext", OVOP_OPT_BOOL, "false", 0, 0,
         "no CURVE, for a broker run with --insecure-plaintext on loopback", &c.insecure_plaintext},
        {"caller", OVOP_OPT_STRING, NULL, 0, 0,
         "ignored (kept for old scripts): who calls is the principal of --key", &c.caller},
        {"json", OVOP_OPT_BOOL, "false", 0, 0, "print JSON for scripts", &c.json},
        {"request-id", OVOP_OPT_STRING, NULL, 0, 0,
         "idempotency key of the request (default: a fresh UUID); the same id again returns "
         "the first reply instead of acting twice",
         &c.request_id},
        {"timeout-ms", OVOP_OPT_INT, "3000", 10, 600000, "wait per attempt", &c.timeout_ms},
        {"retries", OVOP_OPT_INT, "2", 0, 100, "attempts after the first, same request id",
         &c.retries},
    };
    int argi = 0;

    ovop_log_setup("ovopctl", "", "text", "warn");
    int r = parse_globals(opts, OVOP_ARRAY_SIZE(opts), argc, argv, &argi);
    if (r == 0)
        r = run_verb(&c, argc - argi, argv + argi);
    else if (r == CTL_HELP)
        r = CTL_EXIT_OK;
    ovop_client_destroy(&c.client);
    ovop_config_free(opts, OVOP_ARRAY_SIZE(opts));
    return r;
}
