/* Migrations against a real PostgreSQL: apply, idempotence, version checks, the advisory
 * lock under concurrent migrators, rollback of a failing migration, what 0001/0002 build
 * (territories and their constraints, the daemons' roles), that the exports schema reads
 * the registry only through its published interface (registry_api, 0013), and that each
 * daemon's role may do its daemon's work and nothing more (0018). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"
#include "pgtest.h"
#include "util.h"

/* Asserts that sql's first value is expected. */
static void assert_scalar(PGconn *conn, const char *sql, const char *expected)
{
    char *v = pgtest_scalar(conn, sql);
    if (strcmp(v, expected) != 0)
        fail_msg("%s: got \"%s\", expected \"%s\"", sql, v, expected);
    free(v);
}

static void assert_contains(const char *s, const char *part)
{
    if (!s || !strstr(s, part))
        fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

static void assert_no_advisory_lock(PGconn *conn)
{
    assert_scalar(conn,
                  "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                  "AND pid = pg_backend_pid()",
                  "0");
}

static void test_fresh_then_idempotent(void **state)
{
    char *db = pgtest_create("migrate_fresh");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;
    char *printed = NULL;
    size_t printed_len = 0;

    FILE *out = open_memstream(&printed, &printed_len);
    int n = ovop_migrate(conn, out, &err);
    fclose(out);
    if (n < 0)
        fail_msg("ovop_migrate: %s", err);
    assert_int_equal(n, ovop_migrations_count);
    assert_true(ovop_migrations_count >= 2);
    assert_int_equal(ovop_schema_version, ovop_migrations[ovop_migrations_count - 1].version);
    assert_string_equal(ovop_migrations[0].name, "0001_foundation");
    ovop_buf_t expected;
    ovop_buf_init(&expected);
    for (int i = 0; i < ovop_migrations_count; i++)
        ovop_buf_printf(&expected, "applied %s\n", ovop_migrations[i].name);
    assert_string_equal(printed, expected.data);
    ovop_buf_free(&expected);
    free(printed);
    assert_no_advisory_lock(conn);

    char *count = xasprintf("%d", ovop_migrations_count);
    assert_scalar(conn, "SELECT count(*) FROM bus.schema_migrations", count);
    free(count);
    assert_scalar(conn, "SELECT name FROM bus.schema_migrations WHERE version = 1",
                  "0001_foundation");

    /* Second run: nothing to do, nothing printed. */
    printed = NULL;
    out = open_memstream(&printed, &printed_len);
    assert_int_equal(ovop_migrate(conn, out, &err), 0);
    fclose(out);
    assert_string_equal(printed, "");
    free(printed);
    assert_no_advisory_lock(conn);

    int v = -1;
    assert_int_equal(ovop_schema_version_get(conn, &v, &err), 0);
    assert_int_equal(v, ovop_schema_version);
    assert_int_equal(ovop_schema_check(conn, &err), 0);

    /* A database newer than this build: migrate refuses, the check names the fix. */
    PQclear(PQexec(conn, "INSERT INTO bus.schema_migrations (version, name) "
                         "VALUES (9999, '9999_future')"));
    assert_int_equal(ovop_migrate(conn, NULL, &err), -EPROTO);
    assert_contains(err, "version 9999, newer than this build knows");
    assert_contains(err, "upgrade this binary");
    xfree(err);
    assert_no_advisory_lock(conn);
    assert_int_equal(ovop_schema_check(conn, &err), -EPROTO);
    char *want = xasprintf("database schema is at version 9999, newer than this build knows "
                           "(%d): upgrade this binary",
                           ovop_schema_version);
    assert_string_equal(err, want);
    free(want);
    xfree(err);

    PQfinish(conn);
    pgtest_drop(&db);
}

static void test_unmigrated(void **state)
{
    char *db = pgtest_create("migrate_empty");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;
    int v = -1;

    assert_int_equal(ovop_schema_version_get(conn, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ovop_schema_check(conn, &err), -EPROTO);
    char *want = xasprintf("database schema is at version 0 but this build needs %d: run "
                           "`ovopctl db migrate`",
                           ovop_schema_version);
    assert_string_equal(err, want);
    free(want);
    xfree(err);

    /* Behind by some: the same advice. */
    assert_int_equal(ovop_migrate(conn, NULL, &err), ovop_migrations_count);
    PQclear(PQexec(conn, "DELETE FROM bus.schema_migrations WHERE version > 1"));
    assert_int_equal(ovop_schema_check(conn, &err), -EPROTO);
    assert_contains(err, "is at version 1 but this build needs");
    xfree(err);

    PQfinish(conn);
    pgtest_drop(&db);
}

/* A failing migration rolls back entirely, is reported with its name, PostgreSQL's message
 * and line, and leaves the lock free. Made to fail by an object 0001 creates. */
static void test_failure_rolls_back(void **state)
{
    char *db = pgtest_create("migrate_fail");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;

    PQclear(PQexec(conn, "CREATE SCHEMA bus; CREATE TABLE bus.idempotency (x int)"));
    assert_int_equal(ovop_migrate(conn, NULL, &err), -EIO);
    assert_string_equal(err, "could not apply migration 0001_foundation: relation "
                             "\"idempotency\" already exists");
    xfree(err);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_no_advisory_lock(conn);
    assert_scalar(conn, "SELECT count(*) FROM bus.schema_migrations", "0");
    assert_scalar(conn, "SELECT to_regnamespace('registry') IS NULL", "t");

    /* A connection inside a transaction is refused before anything happens. */
    PQclear(PQexec(conn, "BEGIN"));
    assert_int_equal(ovop_migrate(conn, NULL, &err), -EINVAL);
    xfree(err);
    PQclear(PQexec(conn, "ROLLBACK"));

    PQclear(PQexec(conn, "DROP TABLE bus.idempotency"));
    assert_int_equal(ovop_migrate(conn, NULL, &err), ovop_migrations_count);

    PQfinish(conn);
    pgtest_drop(&db);
}

/* Migrations that fail in other ways, through ovop_migrate_list: the error names the line
 * (counted in characters, as PostgreSQL does), earlier migrations stay applied, and a
 * migration may not end its own transaction. */
static void test_bad_migrations(void **state)
{
    char *db = pgtest_create("migrate_bad");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;
    char *printed = NULL;
    size_t printed_len = 0;
    const ovop_migration_t list[] = {
        {1, "0001_ok", "CREATE TABLE bus.t1 (x int);\nINSERT INTO bus.t1 VALUES (1)"},
        {2, "0002_typo", "INSERT INTO bus.t1 VALUES (2);\nSELECT 'ж', 'ё';\nSELEC 3;\n"},
        {3, "0003_commits", "INSERT INTO bus.t1 VALUES (3); COMMIT"},
    };

    FILE *out = open_memstream(&printed, &printed_len);
    assert_int_equal(ovop_migrate_list(conn, list, 2, out, &err), -EIO);
    fclose(out);
    assert_string_equal(printed, "applied 0001_ok\n");
    free(printed);
    assert_string_equal(err, "could not apply migration 0002_typo: syntax error at or near "
                             "\"SELEC\" (line 3)");
    xfree(err);
    assert_scalar(conn, "SELECT string_agg(version::text, ',') FROM bus.schema_migrations", "1");
    assert_scalar(conn, "SELECT string_agg(x::text, ',') FROM bus.t1", "1");
    assert_no_advisory_lock(conn);

    /* Skipping the typo (as if fixed): 0003 commits by itself and is refused. */
    const ovop_migration_t fixed[] = {list[0], {2, "0002_typo", "SELECT 1"}, list[2]};
    assert_int_equal(ovop_migrate_list(conn, fixed, 3, NULL, &err), -EIO);
    assert_string_equal(err, "could not apply migration 0003_commits: it must not end the "
                             "transaction it runs in");
    xfree(err);
    assert_int_equal(PQtransactionStatus(conn), PQTRANS_IDLE);
    assert_scalar(conn, "SELECT string_agg(version::text, ',') FROM bus.schema_migrations", "1,2");
    assert_no_advisory_lock(conn);

    /* A deferred constraint fails at COMMIT: reported, nothing of 0004 recorded. */
    const ovop_migration_t deferred[] = {
        fixed[0],
        fixed[1],
        {3, "0003_fine", "SELECT 1"},
        {4, "0004_deferred",
         "CREATE TABLE bus.p (id int PRIMARY KEY);\n"
         "CREATE TABLE bus.c (p int REFERENCES bus.p DEFERRABLE INITIALLY DEFERRED);\n"
         "INSERT INTO bus.c VALUES (1)"},
    };
    assert_int_equal(ovop_migrate_list(conn, deferred, 4, NULL, &err), -EIO);
    assert_contains(err, "could not apply migration 0004_deferred: could not commit: insert or "
                         "update on table \"c\" violates foreign key constraint");
    xfree(err);
    assert_scalar(conn, "SELECT string_agg(version::text, ',') FROM bus.schema_migrations",
                  "1,2,3");
    assert_scalar(conn, "SELECT to_regclass('bus.c') IS NULL", "t");
    assert_no_advisory_lock(conn);

    PQfinish(conn);
    pgtest_drop(&db);
}

typedef struct racer {
    const char *db;
    pthread_barrier_t *barrier;
    int applied;
    char *err;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    PGconn *conn = PQconnectdb(r->db);
    if (PQstatus(conn) != CONNECTION_OK) {
        r->applied = -EIO;
        r->err = xstrdup(PQerrorMessage(conn));
    }
    pthread_barrier_wait(r->barrier);
    if (r->applied == 0)
        r->applied = ovop_migrate(conn, NULL, &r->err);
    PQfinish(conn);
    return NULL;
}

/* Two migrators at once: the advisory lock makes one apply everything and the other none. */
static void test_concurrent(void **state)
{
    char *db = pgtest_create("migrate_race");
    pthread_barrier_t barrier;
    racer_t r[2] = {{.db = db, .barrier = &barrier}, {.db = db, .barrier = &barrier}};
    pthread_t t[2];

    pthread_barrier_init(&barrier, NULL, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);

    for (int i = 0; i < 2; i++)
        if (r[i].applied < 0)
            fail_msg("migrator %d: %s", i, r[i].err);
    assert_int_equal(r[0].applied + r[1].applied, ovop_migrations_count);
    assert_true(r[0].applied == 0 || r[1].applied == 0);

    PGconn *conn = pgtest_connect(db);
    char *count = xasprintf("%d", ovop_migrations_count);
    assert_scalar(conn, "SELECT count(*) FROM bus.schema_migrations", count);
    free(count);
    PQfinish(conn);
    pgtest_drop(&db);
}

/* What 0001 and 0002 build, alone (later migrations have their own tests): the seed, the
 * territory constraints, the roles' privileges. */
/* A migration whose text changed after it was applied: refused by migrate and by the
 * daemons' start-up check, naming the migration. */
static void test_changed_migration(void **state)
{
    char *db = pgtest_create("migrate_changed");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;
    assert_int_equal(ovop_migrate(conn, NULL, &err), ovop_migrations_count);
    assert_int_equal(ovop_schema_check(conn, &err), 0);
    free(pgtest_scalar(conn, "UPDATE bus.schema_migrations SET checksum = md5('other text') "
                             "WHERE version = 2 RETURNING 1"));
    assert_int_equal(ovop_migrate(conn, NULL, &err), -EPROTO);
    assert_non_null(strstr(err, ovop_migrations[1].name));
    assert_non_null(strstr(err, "different text"));
    free(err);
    err = NULL;
    assert_int_equal(ovop_schema_check(conn, &err), -EPROTO);
    assert_non_null(strstr(err, ovop_migrations[1].name));
    free(err);
    /* A database recorded before checksums existed is trusted. */
    free(pgtest_scalar(conn, "UPDATE bus.schema_migrations SET checksum = NULL RETURNING 1"));
    err = NULL;
    assert_int_equal(ovop_schema_check(conn, &err), 0);
    PQfinish(conn);
    pgtest_drop(&db);
}

static void test_schema_contents(void **state)
{
    char *db = pgtest_create("migrate_schema");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;

    assert_true(ovop_migrations_count >= 2);
    assert_string_equal(ovop_migrations[1].name, "0002_territories_seed");
    if (ovop_migrate_list(conn, ovop_migrations, 2, NULL, &err) != 2)
        fail_msg("ovop_migrate_list: %s", err);

    assert_scalar(conn, "SELECT count(*) FROM registry.territories", "66");
    assert_scalar(conn,
                  "SELECT count(*) FROM registry.territories WHERE valid_to IS NULL "
                  "AND valid_from = '1991-08-31' AND name_ky = '' AND version = 1",
                  "66");
    assert_scalar(conn, "SELECT count(*) FROM registry.territories WHERE kind = 'rayon'", "40");
    assert_scalar(conn,
                  "SELECT name_ru || '|' || name_en FROM registry.territories "
                  "WHERE code = '41703410000010'",
                  "город Джалал-Абад|Jalal-Abad");
    assert_scalar(
        conn, "SELECT count(*) FROM registry.territories WHERE lat IS NULL AND lon IS NULL", "41");
    /* Every parent is itself a territory. */
    assert_scalar(conn,
                  "SELECT count(*) FROM registry.territories t WHERE t.parent_code IS NOT NULL "
                  "AND NOT EXISTS (SELECT 1 FROM registry.territories p "
                  "WHERE p.code = t.parent_code)",
                  "0");

    static const char ins[] =
        "INSERT INTO registry.territories (code, kind, parent_code, name_ru, valid_from";
    /* check_violation: a code outside SOATE, an unknown kind, a latitude off the globe,
     * an empty validity period. */
    assert_string_equal(pgtest_sqlstate(conn, "INSERT INTO registry.territories (code, kind, "
                                              "name_ru, valid_from) VALUES ('41800000000000', "
                                              "'village', 'x', '2020-01-01')"),
                        "23514");
    assert_string_equal(pgtest_sqlstate(conn, "INSERT INTO registry.territories (code, kind, "
                                              "name_ru, valid_from) VALUES ('4170200000000X', "
                                              "'village', 'x', '2020-01-01')"),
                        "23514");
    assert_string_equal(pgtest_sqlstate(conn, "INSERT INTO registry.territories (code, kind, "
                                              "name_ru, valid_from) VALUES ('41702000000099', "
                                              "'hamlet', 'x', '2020-01-01')"),
                        "23514");
    assert_string_equal(pgtest_sqlstate(conn, "INSERT INTO registry.territories (code, kind, "
                                              "name_ru, valid_from, lat, lon) VALUES "
                                              "('41702000000099', 'village', 'x', "
                                              "'2020-01-01', 91, 75)"),
                        "23514");
    assert_string_equal(pgtest_sqlstate(conn, "INSERT INTO registry.territories (code, kind, "
                                              "name_ru, valid_from, valid_to) VALUES "
                                              "('41702000000099', 'village', 'x', "
                                              "'2020-01-01', '2020-01-01')"),
                        "23514");

    /* exclusion_violation: a second version of Karakol overlapping the current one. */
    char *sql = xasprintf("%s) VALUES ('41702410000010', 'city_oblast', '41702000000000', "
                          "'Karakol again', '2000-01-01')",
                          ins);
    assert_string_equal(pgtest_sqlstate(conn, sql), "23P01");
    free(sql);
    /* Closing the current version, then opening the next one from that day, is allowed. */
    assert_string_equal(pgtest_sqlstate(conn, "UPDATE registry.territories SET valid_to = "
                                              "'2024-01-01' WHERE code = '41702410000010'"),
                        "00000");
    sql = xasprintf("%s, version) VALUES ('41702410000010', 'city_oblast', '41702000000000', "
                    "'город Каракол', '2024-01-01', 2)",
                    ins);
    assert_string_equal(pgtest_sqlstate(conn, sql), "00000");
    free(sql);
    /* ...and a third one overlapping the second is not. */
    sql = xasprintf("%s) VALUES ('41702410000010', 'city_oblast', '41702000000000', "
                    "'Karakol 3', '2025-01-01')",
                    ins);
    assert_string_equal(pgtest_sqlstate(conn, sql), "23P01");
    free(sql);

    /* Each role: USAGE but not CREATE on its schema and bus, all on its own tables, nothing
     * on another service's, SELECT + INSERT on bus tables, read-only schema_migrations. */
    assert_scalar(conn,
                  "SELECT has_schema_privilege('ovop_registry', 'registry', 'USAGE')"
                  " AND has_schema_privilege('ovop_registry', 'bus', 'USAGE')"
                  " AND NOT has_schema_privilege('ovop_registry', 'registry', 'CREATE')"
                  " AND NOT has_schema_privilege('ovop_registry', 'bus', 'CREATE')"
                  " AND NOT has_schema_privilege('ovop_registry', 'exports', 'USAGE')",
                  "t");
    assert_scalar(conn,
                  "SELECT has_table_privilege('ovop_registry', 'registry.territories', "
                  "'SELECT, INSERT, UPDATE, DELETE')"
                  " AND has_sequence_privilege('ovop_registry', "
                  "'registry.territories_id_seq', 'USAGE')"
                  " AND NOT has_table_privilege('ovop_exports', 'registry.territories', "
                  "'SELECT')",
                  "t");
    assert_scalar(conn,
                  "SELECT bool_and(has_table_privilege(r, 'bus.idempotency', 'SELECT, INSERT')"
                  " AND NOT has_table_privilege(r, 'bus.idempotency', 'UPDATE')"
                  " AND has_table_privilege(r, 'bus.schema_migrations', 'SELECT')"
                  " AND NOT has_table_privilege(r, 'bus.schema_migrations', 'INSERT')) "
                  "FROM unnest(ARRAY['ovop_registry', 'ovop_exports', 'ovop_matching', "
                  "'ovop_notify']) r",
                  "t");
    /* Default privileges reach tables created later by the migrating role. */
    PQclear(PQexec(conn, "CREATE TABLE exports.later (x int); CREATE TABLE bus.later (x int)"));
    assert_scalar(conn,
                  "SELECT has_table_privilege('ovop_exports', 'exports.later', 'UPDATE')"
                  " AND has_table_privilege('ovop_notify', 'bus.later', 'INSERT')"
                  " AND NOT has_table_privilege('ovop_notify', 'exports.later', 'SELECT')",
                  "t");
    assert_scalar(conn, "SELECT to_regclass('bus.events') IS NULL", "t"); /* a later one's */

    PQfinish(conn);
    pgtest_drop(&db);
}

/* No function or view of schema exports names a table (or function) of schema registry: they
 * read registry_api's views, and exportd's role may read those and nothing of registry. */
static void test_registry_interface(void **state)
{
    char *db = pgtest_create("migrate_interface");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;

    if (ovop_migrate(conn, NULL, &err) < 0)
        fail_msg("ovop_migrate: %s", err);
    assert_scalar(conn,
                  "SELECT coalesce(string_agg(proname, ', ' ORDER BY proname), '') FROM pg_proc "
                  "WHERE pronamespace = 'exports'::regnamespace AND prosrc ~ 'registry\\.'",
                  "");
    assert_scalar(conn,
                  "SELECT count(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
                  "JOIN pg_class v ON v.oid = r.ev_class JOIN pg_class t ON t.oid = d.refobjid "
                  "WHERE v.relnamespace = 'exports'::regnamespace "
                  "AND t.relnamespace = 'registry'::regnamespace",
                  "0");
    assert_scalar(conn,
                  "SELECT has_schema_privilege('ovop_exports', 'registry_api', 'USAGE')"
                  " AND has_table_privilege('ovop_exports', 'registry_api.products', 'SELECT')"
                  " AND NOT has_table_privilege('ovop_exports', 'registry_api.products', 'UPDATE')"
                  " AND NOT has_schema_privilege('ovop_exports', 'registry', 'USAGE')"
                  " AND NOT has_table_privilege('ovop_exports', 'registry.products', 'SELECT')",
                  "t");
    /* Every view of the interface says it is one. */
    assert_scalar(conn,
                  "SELECT count(*) FROM pg_class c WHERE c.relnamespace = "
                  "'registry_api'::regnamespace AND c.relkind = 'v' AND coalesce("
                  "obj_description(c.oid, 'pg_class'), '') NOT LIKE 'published interface%'",
                  "0");

    PQfinish(conn);
    pgtest_drop(&db);
}

/* 0015 turns the members stored by earlier versions ([name, role, tax id] arrays) into
 * objects named like Member's fields, and leaves producers without members as they were. */
static void test_members_as_objects(void **state)
{
    char *db = pgtest_create("migrate_members");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;

    if (ovop_migrate_list(conn, ovop_migrations, 14, NULL, &err) != 14)
        fail_msg("ovop_migrate_list: %s", err);
    free(pgtest_scalar(
        conn, "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
              "valid_from) VALUES ('41704235000101', 'village', '41704235000000', 'Кочкор', "
              "'Kochkor', '2000-01-01') RETURNING 1"));
    free(pgtest_scalar(
        conn, "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
              "members, created_at, updated_at) VALUES "
              "(1, 'family_group', 'Family', '10101199000015', '41704235000101', "
              "'[[\"Aibek\", \"head\", \"\"], [\"Nurgul\", \"\", \"21203198500027\"]]', "
              "now(), now()), "
              "(2, 'individual', 'Alone', '10101199000023', '41704235000101', '[]', now(), now()) "
              "RETURNING 1"));
    if (ovop_migrate(conn, NULL, &err) < 0)
        fail_msg("ovop_migrate: %s", err);
    assert_scalar(conn, "SELECT members::text FROM registry.producers WHERE id = 1",
                  "[{\"name\": \"Aibek\", \"role\": \"head\", \"tax_id\": \"\"}, "
                  "{\"name\": \"Nurgul\", \"role\": \"\", \"tax_id\": \"21203198500027\"}]");
    assert_scalar(conn, "SELECT members::text FROM registry.producers WHERE id = 2", "[]");
    PQfinish(conn);
    pgtest_drop(&db);
}

/* Runs sql as conn's role and expects insufficient_privilege (42501). */
static void assert_refused(PGconn *conn, const char *sql)
{
    const char *state = pgtest_sqlstate(conn, sql);
    if (strcmp(state, "42501") != 0)
        fail_msg("as %s: %s: SQLSTATE %s (%s), expected 42501 (insufficient_privilege)",
                 PQuser(conn), sql, state, PQerrorMessage(conn));
}

/* Runs sql as conn's role and expects success. */
static void assert_allowed(PGconn *conn, const char *sql)
{
    const char *state = pgtest_sqlstate(conn, sql);
    if (strcmp(state, "00000") != 0)
        fail_msg("as %s: %s: SQLSTATE %s (%s), expected success", PQuser(conn), sql, state,
                 PQerrorMessage(conn));
}

static PGconn *connect_as(const char *db, const char *role)
{
    char *conninfo = pgtest_as_role(db, role);
    PGconn *conn = pgtest_connect(conninfo);
    free(conninfo);
    return conn;
}

static void registry_role_is_confined(const char *db)
{
    PGconn *c = connect_as(db, "ovop_registry");
    assert_allowed(c, "SELECT count(*) FROM registry.producers");
    assert_allowed(c, "UPDATE registry.producers SET phone = phone WHERE id = 1");
    assert_allowed(c, "SELECT nextval('registry.ids')");
    assert_allowed(c, "SELECT bus.act('op', '', 'ovop.registry')");
    assert_allowed(c, "SELECT count(*) FROM bus.events");
    /* Nothing of exports, nothing of iam. */
    assert_refused(c, "INSERT INTO exports.shipments (id) VALUES (1)");
    assert_refused(c, "UPDATE exports.shipments SET status = status");
    assert_refused(c, "INSERT INTO iam.principals (id, kind, display_name) "
                      "VALUES ('rogue', 'operator', 'Rogue')");
    assert_refused(c, "UPDATE iam.principals SET roles = '{iam.admin}'");
    assert_refused(c, "SELECT count(*) FROM iam.keys");
    assert_refused(c, "SELECT iam.bootstrap('rogue', 'operator', 'Rogue', '{iam.admin}', NULL)");
    /* Within its schema: no TRUNCATE, no reference data, no setval, no DDL. */
    assert_refused(c, "TRUNCATE registry.producers");
    assert_refused(c, "UPDATE registry.hs_codes SET unit = unit");
    assert_refused(c, "SELECT setval('registry.ids', 1)");
    assert_refused(c, "CREATE TABLE registry.extra (a int)");
    assert_refused(c, "CREATE TEMP TABLE scratch (a int)");
    assert_refused(c, "CREATE TABLE public.extra (a int)");
    assert_refused(c, "DELETE FROM bus.events");
    assert_refused(c, "INSERT INTO bus.schema_migrations (version, name) VALUES (9999, 'x')");
    PQfinish(c);
}

static void exports_role_is_confined(const char *db)
{
    PGconn *c = connect_as(db, "ovop_exports");
    assert_allowed(c, "SELECT count(*) FROM exports.shipments");
    assert_allowed(c, "SELECT nextval('exports.ids')");
    /* exports.create_shipment locks the exporter through the interface. */
    assert_allowed(c, "SELECT id FROM registry_api.producers WHERE id = 1 FOR KEY SHARE");
    assert_allowed(c, "SELECT id FROM registry_api.cooperatives FOR KEY SHARE");
    /* The registry: not its tables, and the interface only to read. */
    assert_refused(c, "SELECT count(*) FROM registry.producers");
    assert_refused(c, "UPDATE registry.producers SET status = 'closed'");
    assert_refused(c, "INSERT INTO registry.producers (id, kind, legal_name, tax_id, "
                      "territory_code, created_at, updated_at) VALUES (2, 'individual', 'X', "
                      "'10101199000031', '41704235000101', now(), now())");
    assert_refused(c, "UPDATE registry_api.producers SET legal_name = 'Renamed'");
    assert_refused(c, "UPDATE registry_api.producers SET id = id");
    assert_refused(c, "DELETE FROM registry_api.producers");
    assert_refused(c, "UPDATE registry_api.cooperatives SET name = 'Renamed'");
    /* Its own history and reference data stay as written. */
    assert_refused(c, "DELETE FROM exports.shipment_history");
    assert_refused(c, "UPDATE exports.shipment_history SET caller = 'someone else'");
    assert_refused(c, "UPDATE exports.transitions SET agencies = '{}'");
    assert_refused(c, "TRUNCATE exports.shipments");
    assert_refused(c, "SELECT count(*) FROM iam.principals");
    PQfinish(c);
}

static void broker_role_is_confined(const char *db)
{
    PGconn *c = connect_as(db, "ovop_broker");
    assert_allowed(c, "SELECT count(*) FROM iam.keyring");
    assert_allowed(c, "SELECT count(*) FROM iam.principal_records");
    assert_allowed(c, "SELECT count(*) FROM registry_api.territories");
    assert_allowed(c, "SELECT count(*) FROM bus.idempotency");
    assert_refused(c, "SELECT count(*) FROM registry.producers");
    assert_refused(c, "SELECT count(*) FROM registry.territories");
    assert_refused(c, "SELECT count(*) FROM registry_api.producers");
    assert_refused(c, "SELECT count(*) FROM exports.shipments");
    assert_refused(c, "SELECT count(*) FROM bus.events");
    assert_refused(c, "DELETE FROM iam.history");
    assert_refused(c, "SELECT iam.bootstrap('rogue', 'operator', 'Rogue', '{iam.admin}', NULL)");
    PQfinish(c);
}

/* A login of the cluster that is none of the daemons' cannot open the database. */
static void stranger_cannot_connect(PGconn *owner, const char *db)
{
    char role[64], pw[33];
    snprintf(role, sizeof(role), "ovop_test_stranger_%d", (int)getpid());
    FILE *f = fopen("/dev/urandom", "rb");
    unsigned char raw[16];
    assert_non_null(f);
    assert_int_equal(fread(raw, 1, sizeof(raw), f), sizeof(raw));
    fclose(f);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(pw + 2 * i, 3, "%02x", raw[i]);
    char *sql = xasprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, pw);
    assert_allowed(owner, sql);
    free(sql);
    char *as_role = pgtest_as_role(db, role);
    char *conninfo = xasprintf("%s password='%s'", as_role, pw);
    PGconn *c = PQconnectdb(conninfo);
    bool refused = PQstatus(c) == CONNECTION_BAD;
    char *why = xstrdup(PQerrorMessage(c));
    PQfinish(c);
    explicit_bzero(conninfo, strlen(conninfo));
    free(conninfo);
    free(as_role);
    sql = xasprintf("DROP ROLE %s", role);
    assert_allowed(owner, sql);
    free(sql);
    if (!refused || !strstr(why, "permission denied for database"))
        fail_msg("a stranger's login: %s", refused ? why : "connected");
    free(why);
}

/* 0018: each daemon connects as its own role, which reaches its own schema and the bus
 * tables it needs, and nothing else: refused statements fail with insufficient_privilege. */
static void test_least_privilege(void **state)
{
    char *db = pgtest_create("migrate_privilege");
    PGconn *conn = pgtest_connect(db);
    char *err = NULL;

    if (ovop_migrate(conn, NULL, &err) < 0)
        fail_msg("ovop_migrate: %s", err);
    free(pgtest_scalar(
        conn, "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, "
              "valid_from) VALUES ('41704235000101', 'village', '41704235000000', 'Кочкор', "
              "'Kochkor', '2000-01-01') RETURNING 1"));
    free(pgtest_scalar(
        conn, "INSERT INTO registry.producers (id, kind, legal_name, tax_id, territory_code, "
              "created_at, updated_at) VALUES (1, 'individual', 'Apricots', '10101199000015', "
              "'41704235000101', now(), now()) RETURNING 1"));
    /* What is granted to everyone: nothing of ours. */
    assert_scalar(conn,
                  "SELECT count(*) FROM pg_proc WHERE pronamespace::regnamespace::text IN "
                  "('bus', 'registry', 'registry_api', 'exports', 'iam', 'matching', 'notify') "
                  "AND has_function_privilege('public', oid, 'EXECUTE')",
                  "0");
    assert_scalar(conn,
                  "SELECT has_schema_privilege('public', 'public', 'CREATE') OR "
                  "has_database_privilege('public', current_database(), 'CONNECT') OR "
                  "has_database_privilege('public', current_database(), 'TEMP')",
                  "f");
    assert_scalar(conn,
                  "SELECT count(*) FROM pg_roles WHERE rolname IN ('ovop_registry', "
                  "'ovop_exports', 'ovop_broker', 'ovop_matching', 'ovop_notify') AND NOT "
                  "(rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)",
                  "5");

    registry_role_is_confined(db);
    exports_role_is_confined(db);
    broker_role_is_confined(db);
    stranger_cannot_connect(conn, db);

    /* The refusals wrote nothing. */
    assert_scalar(conn,
                  "SELECT (SELECT count(*) FROM exports.shipments) || ' ' || "
                  "(SELECT count(*) FROM iam.principals) || ' ' || "
                  "(SELECT string_agg(legal_name || ':' || status, ',') FROM registry.producers)",
                  "0 0 Apricots:active");
    PQfinish(conn);
    pgtest_drop(&db);
}

int main(void)
{
    if (!pgtest_server_url())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_then_idempotent),
        cmocka_unit_test(test_unmigrated),
        cmocka_unit_test(test_failure_rolls_back),
        cmocka_unit_test(test_bad_migrations),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_changed_migration),
        cmocka_unit_test(test_schema_contents),
        cmocka_unit_test(test_registry_interface),
        cmocka_unit_test(test_members_as_objects),
        cmocka_unit_test(test_least_privilege),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
