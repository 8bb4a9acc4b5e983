/* ovopctl db: schema migrations and version. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "migrate.h"

static PGconn *connect_db(ctl_t *c)
{
    PGconn *conn = PQconnectdb(c->database_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "ovopctl: could not connect to database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    /* Keep the server's notices (e.g. "schema already exists") off the operator's screen. */
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

static int db_migrate(ctl_t *c)
{
    char *err = NULL;
    PGconn *conn = connect_db(c);
    if (!conn)
        return CTL_EXIT_UNREACHABLE;
    int n = ovop_migrate(conn, c->json ? NULL : stdout, &err);
    PQfinish(conn);
    if (n < 0) {
        fprintf(stderr, "ovopctl: migration failed: %s\n", err);
        free(err);
        return CTL_EXIT_FAILURE;
    }
    if (c->json)
        printf("{\"applied\": %d, \"schema_version\": %d}\n", n, ovop_schema_version);
    else
        printf("database at schema version %d (%d migration%s applied now)\n", ovop_schema_version,
               n, n == 1 ? "" : "s");
    return CTL_EXIT_OK;
}

static int db_version(ctl_t *c)
{
    char *err = NULL;
    int v = 0;
    PGconn *conn = connect_db(c);
    if (!conn)
        return CTL_EXIT_UNREACHABLE;
    int r = ovop_schema_version_get(conn, &v, &err);
    PQfinish(conn);
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        return CTL_EXIT_FAILURE;
    }
    if (c->json)
        printf("{\"database\": %d, \"build\": %d}\n", v, ovop_schema_version);
    else
        printf("database schema version %d, this build knows %d%s\n", v, ovop_schema_version,
               v == ovop_schema_version  ? ""
               : v < ovop_schema_version ? ": run `ovopctl db migrate`"
                                         : ": upgrade this binary");
    return v == ovop_schema_version ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

int ctl_db(ctl_t *c, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "migrate") == 0)
        return db_migrate(c);
    if (argc == 2 && strcmp(argv[1], "version") == 0)
        return db_version(c);
    if (argc >= 2 && strcmp(argv[1], "bootstrap") == 0)
        return ctl_db_bootstrap(c, argc - 1, argv + 1);
    fprintf(stderr, "ovopctl: usage: ovopctl [--database-url URL] db migrate|version|bootstrap\n");
    return CTL_EXIT_USAGE;
}
