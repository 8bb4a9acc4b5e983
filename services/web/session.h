/* The dashboard's sign-ins and sessions, in memory (webd keeps no database). A browser that
 * opens the sign-in page gets a pending session: a random 256-bit id in its cookie and a
 * one-time code of 8 Crockford base32 characters (40 bits) shown as XXXX-XXXX. An operator
 * approves the code with their own key (ovop.web ApproveSignIn); the pending session then
 * becomes theirs. A code is valid for code_ttl, once; a session ends after idle without a
 * request or at its absolute expiry, whichever comes first, or at sign-out. The table is
 * bounded: when full, the least recently used entry (pending ones first) is forgotten.
 * Sessions do not survive a restart of webd (the operator approves again). Loop thread only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEB_SESSION_ID_LEN  64 /* hex of 32 random bytes */
#define WEB_SIGNIN_CODE_LEN 9  /* XXXX-XXXX */

typedef struct web_sessions web_sessions_t;

typedef enum web_session_state {
    WEB_SESSION_NONE,    /* no such id, or it expired */
    WEB_SESSION_PENDING, /* waiting for approval: code is its code */
    WEB_SESSION_ACTIVE,  /* signed in: principal is who */
} web_session_state_t;

typedef struct web_session_info {
    web_session_state_t state;
    char code[WEB_SIGNIN_CODE_LEN + 1];
    char principal[128];
    int64_t expires_us; /* monotonic: pending: the code's end; active: the absolute end */
} web_session_info_t;

web_sessions_t *web_sessions_new(size_t capacity, int64_t code_ttl_us, int64_t idle_us,
                                 int64_t absolute_us);
void web_sessions_destroy(web_sessions_t **s);

/* Starts a sign-in: a new pending session; id and code filled. */
void web_signin_start(web_sessions_t *s, int64_t now_us, char id[static WEB_SESSION_ID_LEN + 1],
                      char code[static WEB_SIGNIN_CODE_LEN + 1]);

/* The canonical form XXXX-XXXX of a code as typed (any case, hyphens and spaces anywhere,
 * I and L read as 1, O as 0); false when it is not 8 base32 characters. */
bool web_signin_code_parse(const char *typed, char out[static WEB_SIGNIN_CODE_LEN + 1]);

/* Approves the pending session whose code is code (canonical) for principal: 0 and the
 * session's remaining lifetime in *ret_lifetime_us, or -ENOENT when no pending session has
 * that code (unknown, expired or used: one answer, so a guess learns nothing). */
int web_signin_approve(web_sessions_t *s, const char *code, const char *principal, int64_t now_us,
                       int64_t *ret_lifetime_us);

/* Looks id up at now_us; an active session's idle timer restarts. */
web_session_info_t web_session_get(web_sessions_t *s, const char *id, int64_t now_us);

/* Forgets id (sign-out). */
void web_session_end(web_sessions_t *s, const char *id);

size_t web_sessions_count(const web_sessions_t *s);
