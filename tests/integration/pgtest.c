#include "pgtest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"
#include "util.h"

const char *pgtest_server_url(void)
{
    const char *url = getenv("OVOP_TEST_PG_URL");
    if (url && *url)
        return url;
    fprintf(stderr, "OVOP_TEST_PG_URL is not set: this test needs a PostgreSQL superuser URL. "
                    "Start a scratch server with `tests/pg-scratch.sh start DIR` and export "
                    "the line it prints, or run the suite with `deploy/ovop test`\n");
    return NULL;
}

/* conninfo with the value of keyword (dbname, user) replaced; fails the test otherwise. */
static char *conninfo_with(const char *conninfo, const char *keyword, const char *value)
{
    char *err = NULL;
    char *r = ovop_pg_conninfo_with(conninfo, keyword, value, &err);
    if (!r)
        fail_msg("could not parse a conninfo (OVOP_TEST_PG_URL's): %s", err);
    return r;
}

char *pgtest_as_role(const char *conninfo, const char *role)
{
    return conninfo_with(conninfo, "user", role);
}

PGconn *pgtest_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("could not connect to database: %s", PQerrorMessage(conn));
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

static void exec_ok(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("query failed: %s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
}

char *pgtest_scalar(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("query failed: %s: %s", sql, PQresultErrorMessage(res));
    char *v = xstrdup(PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return v;
}

const char *pgtest_sqlstate(PGconn *conn, const char *sql)
{
    static char state[6];
    PGresult *res = PQexec(conn, sql);
    const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(state, sizeof(state), "%s", s ? s : "00000");
    PQclear(res);
    return state;
}

static char *db_name(const char *name)
{
    return xasprintf("ovop_test_%s_%d", name, (int)getpid());
}

char *pgtest_create(const char *name)
{
    const char *url = pgtest_server_url();
    if (!url)
        fail_msg("OVOP_TEST_PG_URL is not set");
    char *db = db_name(name);
    PGconn *admin = pgtest_connect(url);
    char *sql = xasprintf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
    exec_ok(admin, sql);
    free(sql);
    sql = xasprintf("CREATE DATABASE \"%s\"", db);
    exec_ok(admin, sql);
    free(sql);
    PQfinish(admin);
    char *conninfo = conninfo_with(url, "dbname", db);
    free(db);
    return conninfo;
}

void pgtest_drop(char **conninfo)
{
    if (!conninfo || !*conninfo)
        return;
    PGconn *conn = pgtest_connect(*conninfo);
    char *db = pgtest_scalar(conn, "SELECT current_database()");
    PQfinish(conn);

    PGconn *admin = pgtest_connect(pgtest_server_url());
    char *sql = xasprintf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
    exec_ok(admin, sql);
    free(sql);
    PQfinish(admin);
    free(db);
    xfree(*conninfo);
}
