/* ovop.iam, the service the broker answers itself: principals, keys, roles (iam.proto). */
#pragma once

#include "dispatch.h"
#include "keyring.h"
#include "pg.h"

#define IAM_SERVICE "ovop.iam"

typedef struct iam iam_t;

/* Declares the methods of ovop.iam on d (a dispatcher of ovop__v1__iam__descriptor). */
iam_t *iam_new(ovop_dispatch_t *d, ovop_pg_t *pg, ovop_keyring_t *keyring);
void iam_free(iam_t **iam);
