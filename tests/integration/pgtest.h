/* Scratch databases for the PostgreSQL integration tests (test-pg, test-migrate), on the
 * server named by OVOP_TEST_PG_URL, a superuser URL as `tests/pg-scratch.sh start DIR`
 * prints (its passfile=... holds the daemon roles' passwords too). Without it the tests fail:
 * they never pass by skipping. */
#pragma once

#include <libpq-fe.h>

/* The server URL, or NULL after printing how to get one. */
const char *pgtest_server_url(void);

/* Creates the empty database ovop_test_<name>_<pid> and returns a conninfo string for it
 * (malloc'd); the server's other settings are kept. Fails the test on any error. */
char *pgtest_create(const char *name);

/* conninfo (of pgtest_create) for another role of the server, e.g. "ovop_registry": the same
 * database, host and password file (malloc'd). */
char *pgtest_as_role(const char *conninfo, const char *role);

/* Drops the database of conninfo (terminating its sessions) and frees *conninfo. Accepts
 * NULL. */
void pgtest_drop(char **conninfo);

/* Connects to conninfo or fails the test. */
PGconn *pgtest_connect(const char *conninfo);

/* Runs sql and returns the first column of the first row as a malloc'd string ("" when
 * there is no row), failing the test on an error. */
char *pgtest_scalar(PGconn *conn, const char *sql);

/* Runs sql and returns its SQLSTATE ("00000" on success) as a static string. */
const char *pgtest_sqlstate(PGconn *conn, const char *sql);
