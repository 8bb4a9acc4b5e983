/* Versioned SQL migrations, compiled into the binaries from deploy/migrations/NNNN_name.sql.
 * They are applied in order under a PostgreSQL advisory lock, each in its own transaction,
 * and recorded in bus.schema_migrations with an md5 of their text; running them twice changes
 * nothing, and a database built from a migration whose text has since changed is refused
 * (-EPROTO) by both ovop_migrate and ovop_schema_check. */
#pragma once

#include <libpq-fe.h>
#include <stdio.h>

typedef struct ovop_migration {
    int version;
    const char *name;
    const char *sql;
} ovop_migration_t;

extern const ovop_migration_t ovop_migrations[];
extern const int ovop_migrations_count;
/* The highest version this build knows. */
extern const int ovop_schema_version;

/* Applies pending migrations over conn, printing one line per applied migration to out
 * (may be NULL). Returns the number applied (>= 0) or -errno with *ret_err set (malloc'd):
 * -EPROTO when the database is newer than this build. */
int ovop_migrate(PGconn *conn, FILE *out, char **ret_err);

/* ovop_migrate over another list: migrations[0..count), versions increasing, the last one
 * the highest this caller knows. For tests of failing migrations. */
int ovop_migrate_list(PGconn *conn, const ovop_migration_t *migrations, int count, FILE *out,
                      char **ret_err);

/* Reads the version the database is at (0 when never migrated) into *ret_version.
 * Returns 0 or -EIO with *ret_err set. */
int ovop_schema_version_get(PGconn *conn, int *ret_version, char **ret_err);

/* Checks, at daemon start, that the database is exactly at the version this build knows.
 * Returns 0, or -EPROTO with a message naming both versions and the fix
 * ("run ovopctl db migrate" or "upgrade this binary"), or -EIO when it cannot ask. */
int ovop_schema_check(PGconn *conn, char **ret_err);
