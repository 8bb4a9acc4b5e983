/* What methods.c and endpoints.c share. */
#pragma once

#include "dispatch.h"
#include "notifyd.h"

/* The agency the call acts for: the caller's own (requested empty or equal), or for a
 * notify.admin the requested one (required: must be given). NULL after finishing the call
 * with its refusal (NOT_YOURS, NOT_AN_AGENCY, a violation of `agency`): the caller returns
 * without touching the call again. */
const char *methods_agency(ovop_call_t *call, const char *requested, bool required);
/* True for an agency code: [a-z][a-z0-9_]{0,31}. */
bool methods_name_ok(const char *s);
void endpoints_register(notifyd_t *n);
