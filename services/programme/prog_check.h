/* Pure checks of programd's request fields (no I/O, no call): unit-tested and fuzzed. Each
 * returns NULL when the value is acceptable, else a static message saying what is wrong. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A month written YYYY-MM (years 2000..2999) that is not after the month `today` (YYYY-MM-DD
 * or YYYY-MM) falls in. */
const char *prog_check_month(const char *month, const char *today);
/* A date written YYYY-MM-DD that is not after today (YYYY-MM-DD). */
const char *prog_check_past_date(const char *date, const char *today);
/* Optional contact fields ("" passes). */
const char *prog_check_email(const char *s);
const char *prog_check_phone(const char *s);
const char *prog_check_website(const char *s);
/* A SOATE code: 14 digits starting 417 ("" passes when optional). */
const char *prog_check_soate(const char *s, bool optional);
/* An HS code (6 digits) or, when prefix, 2 to 6 digits ("" passes for a prefix). */
const char *prog_check_hs(const char *s, bool prefix);
/* A currency we take: "KGS". */
const char *prog_check_currency(const char *s);
/* Money in minor units: 0..1e15 (ten trillion som). */
const char *prog_check_minor(int64_t minor);
/* today's date in Bishkek (UTC+6), YYYY-MM-DD, into out[11]. */
void prog_today(char out[static 11]);
