/* ovopctl keygen and db bootstrap: a principal's key pair, and the first principals written
 * straight into the database by its owner (before anyone could call ovop.iam). */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "keys.h"
#include "keyring.h"

int ctl_keygen(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl keygen",
        .usage = "PATH [--force]",
        .summary = "Writes a new CurveZMQ key pair: PATH.key (the public key, to give to the "
                   "operations team or to ovopctl principal add) and PATH.secret (mode 0600, "
                   "for --key; it never leaves this machine). Prints the public key.",
        .n_args = 1,
        .flags_anywhere = true,
    };
    bool force = false;
    const ovop_opt_t opts[] = {
        {"force", OVOP_OPT_BOOL, "false", 0, 0, "overwrite an existing PATH.secret", &force},
    };
    int argi;
    int r = ctl_verb_parse(&verb, opts, OVOP_ARRAY_SIZE(opts), &argc, argv, &argi);
    if (r != 0)
        return r < 0 ? CTL_EXIT_OK : r;
    char pub[OVOP_KEY_LEN + 1], sec[OVOP_KEY_LEN + 1];
    char *err = NULL;
    const char *base = argv[argi];
    const char *name = strrchr(base, '/') ? strrchr(base, '/') + 1 : base;
    if (ovop_key_generate(pub, sec) < 0) {
        fprintf(stderr, "ovopctl: could not generate a key pair (is libzmq built with CURVE?)\n");
        return CTL_EXIT_FAILURE;
    }
    r = ovop_key_write(base, name, pub, sec, force, &err);
    explicit_bzero(sec, sizeof(sec));
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s%s\n", err, r == -EEXIST ? " (--force overwrites it)" : "");
        free(err);
        return CTL_EXIT_FAILURE;
    }
    if (c->json)
        printf("{\"public_key\": \"%s\", \"public_file\": \"%s.key\", \"secret_file\": "
               "\"%s.secret\"}\n",
               pub, base, base);
    else
        printf("%s\n", pub);
    return CTL_EXIT_OK;
}

/* db bootstrap ID --kind K --name N --role R... --key FILE|KEY [--territory C] [--agency A] */
int ctl_db_bootstrap(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl db bootstrap",
        .usage = "ID --kind operator|agency|service --name NAME --key PUBLIC [--role R]... "
                 "[--territory CODE] [--agency CODE]",
        .summary = "Creates or updates a principal straight in the database, as its owner "
                   "(--database-url): how the first administrator and the services get their "
                   "keys. Everything else goes through ovopctl principal (ovop.iam).",
        .n_args = 1,
        .flags_anywhere = true,
    };
    char *kind = NULL, *name = NULL, *key = NULL, *roles = NULL, *territory = NULL, *agency = NULL;
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0, "operator, agency or service", &kind},
        {"name", OVOP_OPT_STRING, NULL, 0, 0, "display name", &name},
        {"key", OVOP_OPT_STRING, NULL, 0, 0, "its public key: Z85 or a .key file", &key},
        {"roles", OVOP_OPT_STRING, "", 0, 0, "roles, separated by blanks or commas", &roles},
        {"territory", OVOP_OPT_STRING, NULL, 0, 0, "SOATE code it is limited to", &territory},
        {"agency", OVOP_OPT_STRING, NULL, 0, 0, "agency it acts for", &agency},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    int argi;
    char pub[OVOP_KEY_LEN + 1];
    char *err = NULL;
    int r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r == 0 && (!kind || !name || !key)) {
        fprintf(stderr, "ovopctl: db bootstrap needs --kind, --name and --key\n");
        r = CTL_EXIT_USAGE;
    }
    if (r == 0 && ovop_key_load_public(key, pub, &err) < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        r = CTL_EXIT_USAGE;
    }
    if (r != 0) {
        ovop_config_free(opts, n_opts);
        return r < 0 ? CTL_EXIT_OK : r;
    }
    PGconn *conn = PQconnectdb(c->database_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "ovopctl: could not connect to database: %s", PQerrorMessage(conn));
        r = CTL_EXIT_UNREACHABLE;
    } else {
        const char *params[] = {argv[argi], kind, name, roles, pub, territory, agency};
        PGresult *res = PQexecParams(
            conn, "SELECT iam.bootstrap($1, $2, $3, " IAM_ROLES_OF("$4") ", $5, $6, $7)", 7, NULL,
            params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            fprintf(stderr, "ovopctl: could not bootstrap principal %s: %s", argv[argi],
                    PQresultErrorMessage(res));
            r = CTL_EXIT_FAILURE;
        } else if (!c->json) {
            printf("principal %s (%s) with key %s\n", argv[argi], kind, pub);
        }
        PQclear(res);
    }
    PQfinish(conn);
    ovop_config_free(opts, n_opts);
    return r;
}
