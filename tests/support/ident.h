/* Identity for tests and benchmarks: the broker's key pair and a set of principals with
 * their key files, written into a scratch database by its owner (iam.bootstrap), so that
 * every process of a test talks CURVE as it does in production.
 *
 * The standard principals (IDENT_*): the national test operator, one service principal per
 * daemon kind ("svc-" + service name, with the role worker:<service>), the agencies customs,
 * plant_quarantine, veterinary, chamber and tax (tax holds no role), and officers of Batken
 * district (registry.editor, certification.district) and Batken region (certification.region).
 * Functions return 0 or -1 after printing why on stderr: benchmarks use them too. */
#pragma once

#include <libpq-fe.h>

#include "keys.h"

#define IDENT_ADMIN "test-admin"
#define IDENT_ADMIN_ROLES                                                                          \
    "iam.admin territory.admin registry.editor certification.national exports.clerk"
#define IDENT_DISTRICT       "op-batken"
#define IDENT_DISTRICT_SOATE "41705214000000"
#define IDENT_REGION         "op-batken-region"
#define IDENT_REGION_SOATE   "41705000000000"

typedef struct ident {
    char dir[512];           /* the key files: NAME.key and NAME.secret */
    char broker_secret[600]; /* for the broker's --key */
    char broker_key[600];    /* for everyone's --broker-key */
} ident_t;

/* Makes the key directory (under harness_tmpdir(), named after tag), the broker's key pair
 * and the standard principals, written with conn (the database owner). */
int ident_setup(ident_t *id, PGconn *conn, const char *tag);

/* Adds a role to the catalogue (e.g. "worker:echo" for a test service). */
int ident_role(PGconn *conn, const char *role);

/* Creates or updates principal name with a fresh key pair (roles blank-separated; territory
 * and agency may be NULL). */
int ident_add(const ident_t *id, PGconn *conn, const char *name, const char *kind,
              const char *roles, const char *territory, const char *agency);

/* The path of name's secret key file (malloc'd). */
char *ident_secret(const ident_t *id, const char *name);
/* The path of name's public key file (malloc'd). */
char *ident_public(const ident_t *id, const char *name);

/* name's keys and the broker's public key, for a client or a worker. */
int ident_security(const ident_t *id, const char *name, ovop_security_t *sec);
