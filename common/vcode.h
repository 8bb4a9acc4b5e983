/* Public verification codes of brand certificates: 13 random Crockford base32 digits and a
 * check digit, the value modulo 37 (Crockford's check symbol), drawn again when the check
 * would be one of the five extra symbols, so a code is 14 characters of the alphabet
 * 0-9 A-Z without I L O U. The database draws them (deploy/migrations, registry.
 * new_verification_code); this file reads what people type: lower case, I and L for 1, O
 * for 0, hyphens and spaces between groups, and refuses a wrong check digit before anything
 * is looked up (every single wrong digit and every swap of two neighbours is caught). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OVOP_VCODE_DIGITS 13
#define OVOP_VCODE_LEN    (OVOP_VCODE_DIGITS + 1)

typedef enum ovop_vcode_status {
    OVOP_VCODE_OK = 0,
    OVOP_VCODE_LENGTH,    /* not 14 digits once separators are dropped */
    OVOP_VCODE_CHARACTER, /* a character outside the alphabet */
    OVOP_VCODE_CHECK,     /* the check digit does not match: a typo */
} ovop_vcode_status_t;

/* Normalizes s (at most 64 bytes are looked at) into out, the canonical 14 upper-case
 * characters, and checks it. out is written only on OVOP_VCODE_OK. */
ovop_vcode_status_t ovop_vcode_parse(const char *s, char out[static OVOP_VCODE_LEN + 1]);

/* The check digit of n digits of the alphabet (canonical), or 0 when the value modulo 37 is
 * 32 or more. */
char ovop_vcode_check_digit(const char *digits, size_t n);

/* A fresh code from getrandom(2), as the database draws them (tests, tools). Returns 0 or
 * -errno. */
int ovop_vcode_generate(char out[static OVOP_VCODE_LEN + 1]);

/* Why a status refuses a code, in English, for messages. */
const char *ovop_vcode_why(ovop_vcode_status_t s);
