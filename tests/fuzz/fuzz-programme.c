/* Fuzz target: programd's pure request checks (services/programme/prog_check.c) on arbitrary
 * text. The input is one NUL-free string (cut at the first NUL); whatever it is, no check
 * crashes or reads past it, and what a check accepts has the form it promises: a month is
 * YYYY-MM with a month 01..12 not after today, a SOATE code 14 digits from 417, an HS code 6
 * digits, an e-mail one '@' with a dot after it, a phone '+' and digits, a website https://. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prog_check.h"

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    size_t n = strlen(s);
    if (!prog_check_month(s, "2026-03-15")) {
        int m = (s[5] - '0') * 10 + (s[6] - '0');
        if (n != 7 || s[4] != '-' || !digits(s, 4) || m < 1 || m > 12 ||
            strncmp(s, "2026-03", 7) > 0)
            abort();
    }
    if (!prog_check_soate(s, false) && (n != 14 || !digits(s, 14) || strncmp(s, "417", 3) != 0))
        abort();
    if (!prog_check_hs(s, false) && (n != 6 || !digits(s, 6)))
        abort();
    if (!prog_check_hs(s, true) && n && (n < 2 || n > 6 || !digits(s, n)))
        abort();
    if (!prog_check_email(s) && n) {
        const char *at = strchr(s, '@');
        if (!at || strchr(at + 1, '@') || !strchr(at + 1, '.') || strchr(s, ' '))
            abort();
    }
    if (!prog_check_phone(s) && n && (s[0] != '+' || !digits(s + 1, n - 1)))
        abort();
    if (!prog_check_website(s) && n && (strncmp(s, "https://", 8) != 0 || strchr(s, ' ')))
        abort();
    if (!prog_check_currency(s) && strcmp(s, "KGS") != 0)
        abort();
    (void)prog_check_past_date(s, "2026-03-15");
    free(s);
    return 0;
}
