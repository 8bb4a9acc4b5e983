/* The permission table: services/permissions.tsv, compiled in as ovop_permissions_tsv. One
 * row per method of every service, "SERVICE METHOD ROLE..." separated by blanks; a method may
 * be called by a principal holding any one of the roles, "*" meaning every authenticated
 * principal. A method without a row may be called by nobody (default deny), and a daemon
 * whose methods and rows disagree does not start (ovop_dispatch_verify). '#' starts a
 * comment. */
#pragma once

#include <stddef.h>

extern const char ovop_permissions_tsv[];

#define OVOP_PERMISSION_ANY "*"

typedef struct ovop_permission_row {
    char *service;
    char *method;
    char **roles;
    size_t n_roles;
    int line;
} ovop_permission_row_t;

/* Parses text. Returns 0 with *ret_rows and *ret_n (free with ovop_permissions_free), or -EINVAL
 * with *ret_why (malloc'd) naming the line: fewer than three words, a word that is not a
 * service, method or role name, or a method listed twice. */
int ovop_permissions_parse(const char *text, ovop_permission_row_t **ret_rows, size_t *ret_n,
                           char **ret_why);
void ovop_permissions_free(ovop_permission_row_t *rows, size_t n);
