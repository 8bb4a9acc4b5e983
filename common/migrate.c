/* Schema migrations over a synchronous libpq connection (ovopctl db migrate, tests) and the
 * version check daemons run before serving. */
#include "migrate.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* pg_advisory_lock key that serialises migrators of one database: "ovopmigr" in ASCII. */
#define MIGRATE_LOCK_KEY "8031729514124502898"

/* Notices such as "schema already exists, skipping" are noise on the operator's screen:
 * silenced for our own transactions only, leaving the session's setting alone. */
#define QUIET "SET LOCAL client_min_messages = warning;\n"

static const char bootstrap_sql[] = "BEGIN;\n" QUIET "CREATE SCHEMA IF NOT EXISTS bus;\n"
                                    "CREATE TABLE IF NOT EXISTS bus.schema_migrations (\n"
                                    "    version int PRIMARY KEY,\n"
                                    "    name text NOT NULL,\n"
                                    "    applied_at timestamptz NOT NULL DEFAULT now()\n"
                                    ");\n"
                                    "ALTER TABLE bus.schema_migrations\n"
                                    "    ADD COLUMN IF NOT EXISTS checksum text;\n"
                                    "COMMIT";

/* PostgreSQL's primary message for a failed result, else libpq's (connection errors), without
 * the trailing newline. Points into res or conn. */
static const char *result_message(const PGconn *conn, const PGresult *res, char *buf, size_t size)
{
    const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!m)
        m = PQerrorMessage(conn);
    snprintf(buf, size, "%s", m && *m ? m : "unknown error");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

/* Runs sql (one or more statements) and checks it succeeded. On failure writes "<what>: <PG's
 * message>" to *ret_err and returns -EIO. */
static int exec_ok(PGconn *conn, const char *sql, const char *what, char **ret_err)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    char buf[512];
    *ret_err = xasprintf("%s: %s", what, result_message(conn, res, buf, sizeof(buf)));
    PQclear(res);
    return -EIO;
}

/* The line of sql (1-based) at character position pos (1-based, as PostgreSQL reports
 * it, counting UTF-8 characters). */
static int line_at(const char *sql, int pos)
{
    int line = 1;
    for (const unsigned char *p = (const unsigned char *)sql; *p && pos > 1; p++) {
        if ((*p & 0xc0) == 0x80)
            continue;
        if (*p == '\n')
            line++;
        pos--;
    }
    return line;
}

/* Applies m in its own transaction and records it. On failure rolls back and writes the
 * migration's name, PostgreSQL's message and, when known, the line to *ret_err. */
static int apply_one(PGconn *conn, const ovop_migration_t *m, char **ret_err)
{
    char what[128];
    int r;

    snprintf(what, sizeof(what), "could not apply migration %s", m->name);
    r = exec_ok(conn, "BEGIN; " QUIET, what, ret_err);
    if (r < 0)
        return r;

    PGresult *res = PQexec(conn, m->sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char buf[512];
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        const char *msg = result_message(conn, res, buf, sizeof(buf));
        if (pos)
            *ret_err = xasprintf("%s: %s (line %d)", what, msg, line_at(m->sql, atoi(pos)));
        else
            *ret_err = xasprintf("%s: %s", what, msg);
        PQclear(res);
        r = -EIO;
        goto rollback;
    }
    PQclear(res);
    if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
        *ret_err = xasprintf("%s: it must not end the transaction it runs in", what);
        r = -EIO;
        goto rollback;
    }

    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[] = {version, m->name, m->sql};
    res = PQexecParams(conn,
                       "INSERT INTO bus.schema_migrations (version, name, checksum) "
                       "VALUES ($1, $2, md5($3))",
                       3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        char buf[512];
        *ret_err = xasprintf("%s: could not record it: %s", what,
                             result_message(conn, res, buf, sizeof(buf)));
        PQclear(res);
        r = -EIO;
        goto rollback;
    }
    PQclear(res);

    /* Deferred constraints fail here; an aborted transaction would answer ROLLBACK. */
    res = PQexec(conn, "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        char buf[512];
        *ret_err = xasprintf("%s: could not commit: %s", what,
                             PQresultStatus(res) == PGRES_COMMAND_OK
                                 ? "the transaction was rolled back"
                                 : result_message(conn, res, buf, sizeof(buf)));
        PQclear(res);
        r = -EIO;
        goto rollback;
    }
    PQclear(res);
    return 0;

rollback:
    if (PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    return r;
}

/* Fills applied[v] for each version 1 <= v <= known recorded in bus.schema_migrations and
 * writes the highest recorded version to *ret_max. */
static int read_applied(PGconn *conn, bool *applied, int known, int *ret_max, char **ret_err)
{
    PGresult *res = PQexec(conn, "SELECT version FROM bus.schema_migrations ORDER BY version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char buf[512];
        *ret_err = xasprintf("could not read applied migrations: %s",
                             result_message(conn, res, buf, sizeof(buf)));
        PQclear(res);
        return -EIO;
    }
    int max = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        int v = atoi(PQgetvalue(res, i, 0));
        if (v > max)
            max = v;
        if (v >= 1 && v <= known)
            applied[v] = true;
    }
    PQclear(res);
    *ret_max = max;
    return 0;
}

/* Refuses a database built from other text of a migration than this build carries: a
 * migration edited after it was applied leaves the schema different from what the daemons
 * expect under the same version number. Rows recorded before checksums existed are trusted. */
static int verify_checksums(PGconn *conn, const ovop_migration_t *migrations, int count,
                            char **ret_err)
{
    PGresult *res = PQexec(conn, "SELECT 1 FROM information_schema.columns "
                                 "WHERE table_schema = 'bus' AND table_name = 'schema_migrations' "
                                 "AND column_name = 'checksum'");
    bool has_column = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    if (!has_column)
        return 0;
    for (int i = 0; i < count; i++) {
        char version[16];
        snprintf(version, sizeof(version), "%d", migrations[i].version);
        const char *params[] = {version, migrations[i].sql};
        res = PQexecParams(conn,
                           "SELECT 1 FROM bus.schema_migrations WHERE version = $1::int "
                           "AND checksum IS NOT NULL AND checksum <> md5($2)",
                           2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            char buf[512];
            *ret_err = xasprintf("could not verify applied migrations: %s",
                                 result_message(conn, res, buf, sizeof(buf)));
            PQclear(res);
            return -EIO;
        }
        bool differs = PQntuples(res) > 0;
        PQclear(res);
        if (differs) {
            *ret_err = xasprintf("migration %s was applied to this database from a different "
                                 "text than this build carries: the schema is not the one "
                                 "this build expects; rebuild the database (for a local one: "
                                 "deploy/ovop down --purge)",
                                 migrations[i].name);
            return -EPROTO;
        }
    }
    return 0;
}

/* Applies the pending ones of migrations under the advisory lock; see migrate.h. */
int ovop_migrate_list(PGconn *conn, const ovop_migration_t *migrations, int count, FILE *out,
                      char **ret_err)
{
    char *err = NULL;
    bool *applied = NULL;
    int known = count > 0 ? migrations[count - 1].version : 0;
    int max = 0, n = 0, r;

    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        *ret_err = xstrdup("could not migrate: the connection is inside a transaction or broken");
        return -EINVAL;
    }
    r = exec_ok(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
                "could not take the migration lock", &err);
    if (r < 0)
        goto finish;
    r = exec_ok(conn, bootstrap_sql, "could not create bus.schema_migrations", &err);
    if (r < 0) {
        /* An error inside the multi-statement string leaves its transaction open. */
        if (PQtransactionStatus(conn) != PQTRANS_IDLE)
            PQclear(PQexec(conn, "ROLLBACK"));
        goto unlock;
    }

    applied = xcalloc((size_t)known + 1, sizeof(*applied));
    r = read_applied(conn, applied, known, &max, &err);
    if (r < 0)
        goto unlock;
    if (max > known) {
        err = xasprintf("database schema is at version %d, newer than this build knows (%d): "
                        "upgrade this binary",
                        max, known);
        r = -EPROTO;
        goto unlock;
    }
    r = verify_checksums(conn, migrations, count, &err);
    if (r < 0)
        goto unlock;

    for (int i = 0; i < count; i++) {
        const ovop_migration_t *m = &migrations[i];
        assert(m->version >= 1 && m->version <= known);
        if (applied[m->version])
            continue;
        r = apply_one(conn, m, &err);
        if (r < 0)
            goto unlock;
        n++;
        if (out) {
            fprintf(out, "applied %s\n", m->name);
            fflush(out);
        }
    }
    r = n;

unlock:
    /* A failure to unlock leaves the lock to the session's end: no worse than an error. */
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
finish:
    free(applied);
    if (r < 0)
        *ret_err = err;
    return r;
}

/* Applies the migrations compiled into this build; see migrate.h. */
int ovop_migrate(PGconn *conn, FILE *out, char **ret_err)
{
    return ovop_migrate_list(conn, ovop_migrations, ovop_migrations_count, out, ret_err);
}

/* Reads max(version) of bus.schema_migrations, 0 when the table does not exist yet. */
int ovop_schema_version_get(PGconn *conn, int *ret_version, char **ret_err)
{
    char buf[512];
    PGresult *res = PQexec(conn, "SELECT to_regclass('bus.schema_migrations') IS NOT NULL");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        goto fail;
    bool exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!exists) {
        *ret_version = 0;
        return 0;
    }

    res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM bus.schema_migrations");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        goto fail;
    *ret_version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;

fail:
    *ret_err = xasprintf("could not read the database schema version: %s",
                         result_message(conn, res, buf, sizeof(buf)));
    PQclear(res);
    return -EIO;
}

/* Compares the database's schema version with this build's; see migrate.h. */
int ovop_schema_check(PGconn *conn, char **ret_err)
{
    int v = 0;
    int r = ovop_schema_version_get(conn, &v, ret_err);
    if (r < 0)
        return r;
    if (v < ovop_schema_version) {
        *ret_err = xasprintf("database schema is at version %d but this build needs %d: "
                             "run `ovopctl db migrate`",
                             v, ovop_schema_version);
        return -EPROTO;
    }
    if (v > ovop_schema_version) {
        *ret_err = xasprintf("database schema is at version %d, newer than this build knows "
                             "(%d): upgrade this binary",
                             v, ovop_schema_version);
        return -EPROTO;
    }
    return verify_checksums(conn, ovop_migrations, ovop_migrations_count, ret_err);
}
