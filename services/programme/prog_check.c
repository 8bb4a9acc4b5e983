/* See check.h. */
#include "prog_check.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define MAX_MINOR 1000000000000000LL

/* The first n bytes of s are ASCII digits (ovop_all_digits wants exactly n). */
static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

const char *prog_check_month(const char *month, const char *today)
{
    if (strlen(month) != 7 || month[4] != '-' || !digits(month, 4) || !digits(month + 5, 2))
        return "must be a month written YYYY-MM";
    int m = (month[5] - '0') * 10 + (month[6] - '0');
    if (m < 1 || m > 12 || month[0] != '2')
        return "must be a month written YYYY-MM (01..12, years 2000..2999)";
    if (strncmp(month, today, 7) > 0)
        return "is in the future: a month is reported once it has begun";
    return NULL;
}

const char *prog_check_past_date(const char *date, const char *today)
{
    if (!ovop_date_valid(date))
        return "must be a date written YYYY-MM-DD";
    if (strcmp(date, today) > 0)
        return "is in the future";
    return NULL;
}

const char *prog_check_email(const char *s)
{
    if (!*s)
        return NULL;
    const char *at = strchr(s, '@');
    size_t n = strlen(s);
    if (n > 254 || !at || at == s || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
        s[n - 1] == '.')
        return "must be an e-mail address local@domain.tld";
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return "must be an e-mail address local@domain.tld";
    return NULL;
}

const char *prog_check_phone(const char *s)
{
    if (!*s)
        return NULL;
    size_t n = strlen(s);
    if (s[0] != '+' || n < 9 || n > 16 || !digits(s + 1, n - 1))
        return "must be an international number: + and 8 to 15 digits (e.g. +996312123456)";
    if (strncmp(s, "+996", 4) == 0 && n != 13)
        return "a Kyrgyz number is +996 and 9 digits";
    return NULL;
}

const char *prog_check_website(const char *s)
{
    if (!*s)
        return NULL;
    size_t n = strlen(s);
    if (n > 500 || strncmp(s, "https://", 8) != 0 || n < 12 || !strchr(s + 8, '.'))
        return "must be an https:// address";
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
            return "must be an https:// address without spaces or quotes";
    return NULL;
}

const char *prog_check_soate(const char *s, bool optional)
{
    if (!*s)
        return optional ? NULL : "is required: a SOATE code (14 digits)";
    if (strlen(s) != 14 || !digits(s, 14) || strncmp(s, "417", 3) != 0)
        return "must be a SOATE code: 14 digits starting 417";
    return NULL;
}

const char *prog_check_hs(const char *s, bool prefix)
{
    size_t n = strlen(s);
    if (prefix) {
        if (n == 0)
            return NULL;
        if (n < 2 || n > 6 || !digits(s, n))
            return "must be 2 to 6 digits of an HS code";
        return NULL;
    }
    if (n != 6 || !digits(s, 6))
        return "must be an HS code: 6 digits";
    return NULL;
}

const char *prog_check_currency(const char *s)
{
    if (strcmp(s, "KGS") != 0)
        return "must be KGS (amounts are in tyiyn, 1 som = 100 tyiyn)";
    return NULL;
}

const char *prog_check_minor(int64_t minor)
{
    if (minor < 0)
        return "must not be negative";
    if (minor > MAX_MINOR)
        return "is beyond 10 trillion som";
    return NULL;
}

void prog_today(char out[static 11])
{
    time_t t = time(NULL) + 6 * 3600; /* Asia/Bishkek: UTC+6, no daylight saving */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}
