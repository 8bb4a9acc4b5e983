/* The keyring: which CurveZMQ public key names which principal, loaded from PostgreSQL
 * (iam.keyring) on a libuv loop and kept fresh. Every refresh_ms it reads one integer,
 * iam.state.generation, and reloads the keys only when it moved, so disabling a principal or
 * revoking a key takes effect within refresh_ms. Until the first load succeeds nobody is
 * known: authentication fails closed. When the database goes away the last loaded keyring
 * stays in force (a key's expiry still applies: it is checked at each lookup).
 *
 * A principal is looked up by the ZAP user id the connection got: the Z85 public key, or
 * OVOP_PLAINTEXT_USER for a plaintext connection when plaintext is allowed (local
 * development: the principal OVOP_PLAINTEXT_PRINCIPAL with every role). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "metrics.h"
#include "pg.h"

#define OVOP_PLAINTEXT_USER      "plaintext"
#define OVOP_PLAINTEXT_PRINCIPAL "local-dev"
#define OVOP_ROLE_ANY            "*" /* in roles: every role (the plaintext principal only) */

/* SQL turning the text parameter p ("r1 r2" or "r1,r2") into the text[] of roles that
 * iam.bootstrap() takes: for tools that bootstrap principals from a list typed by a person. */
#define IAM_ROLES_OF(p) "ARRAY(SELECT r FROM regexp_split_to_table(" p ", '[ ,]+') r WHERE r <> '')"

typedef struct ovop_principal {
    char *id;
    char *kind; /* operator, agency, service */
    char *display_name;
    char *territory; /* "" for the whole country */
    char *agency;    /* "" when none */
    char **roles;
    size_t n_roles;
    void *encoded; /* the serialized ovop.v1.Principal the broker hands to workers */
    size_t encoded_len;
} ovop_principal_t;

typedef struct ovop_keyring ovop_keyring_t;

/* Called after each successful (re)load, e.g. to drop connections of principals gone. */
typedef void (*ovop_keyring_changed_fn)(void *userdata);

/* pg may be NULL: then only the plaintext principal exists (allowed when plaintext is). */
ovop_keyring_t *ovop_keyring_new(uv_loop_t *loop, ovop_pg_t *pg, unsigned refresh_ms,
                                 bool plaintext, ovop_metrics_t *metrics);
void ovop_keyring_on_change(ovop_keyring_t *kr, ovop_keyring_changed_fn fn, void *userdata);
/* Stops the timer; a query still out frees the keyring from its callback. Accepts NULL. */
void ovop_keyring_destroy(ovop_keyring_t **kr);

/* True once a load succeeded (or when there is no database). */
bool ovop_keyring_loaded(const ovop_keyring_t *kr);
/* Reads the generation now instead of at the next tick (after a change made here). */
void ovop_keyring_refresh(ovop_keyring_t *kr);

/* The principal of a ZAP user id, when its key is current now; NULL otherwise. The pointer
 * stays valid until the loop runs again (a reload frees it). */
const ovop_principal_t *ovop_keyring_find(const ovop_keyring_t *kr, const char *user_id);

/* Keys loaded (current or with an expiry ahead). */
size_t ovop_keyring_size(const ovop_keyring_t *kr);

bool ovop_principal_has_role(const ovop_principal_t *p, const char *role);
