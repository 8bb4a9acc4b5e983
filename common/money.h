/* Money as integer minor units — US cents, tyiyn (1 som = 100 tyiyn) — and its decimal text,
 * converted exactly, never through a double. The text is what PostgreSQL's numeric(.., 2)
 * columns and operators read and print. */
#pragma once

#include <stdint.h>

/* Room for any int64 amount as text: "-92233720368547758.08" and the NUL. */
#define OVOP_MONEY_TEXT 24

/* minor as decimal text with exactly two places ("8200.00", "-0.05") into out; returns out. */
const char *ovop_money_format(int64_t minor, char out[static OVOP_MONEY_TEXT]);

/* Parses decimal text ("8200", "8200.5", "8200.50", "+1", "-3.25", ".5") into minor units,
 * exactly. Digits with at most two of them after the point; an optional sign; nothing else
 * (no exponent, no spaces, no thousands separators). Returns 0 and writes *ret_minor, or
 * -EINVAL for other text (more than two decimals included) or -ERANGE beyond int64. */
int ovop_money_parse(const char *s, int64_t *ret_minor);
