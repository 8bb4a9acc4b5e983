/* See ident.h. */
#include "ident.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "keyring.h"
#include "util.h"

static const struct standard {
    const char *name, *kind, *roles, *territory, *agency;
} standard[] = {
    {IDENT_ADMIN, "operator", IDENT_ADMIN_ROLES, NULL, NULL},
    {"svc-ovop.registry", "service", "worker:ovop.registry", NULL, NULL},
    {"svc-ovop.exports", "service", "worker:ovop.exports", NULL, NULL},
    {"svc-ovop.matching", "service", "worker:ovop.matching exports.from_order", NULL, NULL},
    {"svc-ovop.notify", "service", "worker:ovop.notify", NULL, NULL},
    {"customs", "agency", "customs", NULL, "customs"},
    {"plant_quarantine", "agency", "plant_quarantine", NULL, "plant_quarantine"},
    {"veterinary", "agency", "veterinary", NULL, "veterinary"},
    {"chamber", "agency", "chamber", NULL, "chamber"},
    {"tax", "agency", "", NULL, "tax"},
    {IDENT_DISTRICT, "operator", "registry.editor certification.district", IDENT_DISTRICT_SOATE,
     NULL},
    {IDENT_REGION, "operator", "registry.editor certification.region", IDENT_REGION_SOATE, NULL},
    {"svc-ovop.programme", "service", "worker:ovop.programme", NULL, NULL},
    {"svc-ovop.web", "service", "worker:ovop.web", NULL, NULL}, /* dashboard sign-in */
};

char *ident_secret(const ident_t *id, const char *name)
{
    return xasprintf("%s/%s.secret", id->dir, name);
}

char *ident_public(const ident_t *id, const char *name)
{
    return xasprintf("%s/%s.key", id->dir, name);
}

static int keypair(const ident_t *id, const char *name, char pub[static OVOP_KEY_LEN + 1])
{
    char sec[OVOP_KEY_LEN + 1];
    char *base = xasprintf("%s/%s", id->dir, name);
    char *err = NULL;
    int r = ovop_key_generate(pub, sec);
    if (r == 0)
        r = ovop_key_write(base, name, pub, sec, true, &err);
    if (r < 0)
        fprintf(stderr, "ident: key pair %s: %s\n", name, err ? err : strerror(-r));
    free(err);
    free(base);
    return r < 0 ? -1 : 0;
}

int ident_role(PGconn *conn, const char *role)
{
    const char *params[] = {role};
    PGresult *res = PQexecParams(conn,
                                 "INSERT INTO iam.roles (name, description) VALUES ($1, 'test') "
                                 "ON CONFLICT DO NOTHING",
                                 1, NULL, params, NULL, NULL, 0);
    int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (r < 0)
        fprintf(stderr, "ident: role %s: %s", role, PQerrorMessage(conn));
    PQclear(res);
    return r;
}

int ident_add(const ident_t *id, PGconn *conn, const char *name, const char *kind,
              const char *roles, const char *territory, const char *agency)
{
    char pub[OVOP_KEY_LEN + 1];
    if (keypair(id, name, pub) < 0)
        return -1;
    /* A principal re-added gets a new key: the old ones go. */
    const char *params[] = {name, kind, name, roles ? roles : "", pub, territory, agency};
    PGresult *res = PQexecParams(
        conn,
        "WITH old AS (UPDATE iam.keys SET revoked_at = now() "
        "WHERE principal_id = $1 AND public_key <> $5 AND revoked_at "
        "IS NULL RETURNING 1) "
        "SELECT iam.bootstrap($1, $2, $3, " IAM_ROLES_OF("$4") ", $5, $6, $7), "
                                                               "(SELECT count(*) FROM old)",
        7, NULL, params, NULL, NULL, 0);
    int r = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (r < 0)
        fprintf(stderr, "ident: principal %s: %s", name, PQerrorMessage(conn));
    PQclear(res);
    return r;
}

int ident_setup(ident_t *id, PGconn *conn, const char *tag)
{
    char pub[OVOP_KEY_LEN + 1];
    memset(id, 0, sizeof(*id));
    snprintf(id->dir, sizeof(id->dir), "%s/keys-%s", harness_tmpdir(), tag);
    if (mkdir(id->dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "ident: mkdir %s: %s\n", id->dir, strerror(errno));
        return -1;
    }
    snprintf(id->broker_secret, sizeof(id->broker_secret), "%s/broker.secret", id->dir);
    snprintf(id->broker_key, sizeof(id->broker_key), "%s/broker.key", id->dir);
    if (keypair(id, "broker", pub) < 0)
        return -1;
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(standard); i++) {
        const struct standard *s = &standard[i];
        if (ident_add(id, conn, s->name, s->kind, s->roles, s->territory, s->agency) < 0)
            return -1;
    }
    return 0;
}

int ident_security(const ident_t *id, const char *name, ovop_security_t *sec)
{
    char *path = ident_secret(id, name);
    char *err = NULL;
    int r = ovop_security_setup(sec, false, path, id->broker_key, "tcp://127.0.0.1:1", &err);
    if (r < 0)
        fprintf(stderr, "ident: %s\n", err);
    free(err);
    free(path);
    return r < 0 ? -1 : 0;
}
