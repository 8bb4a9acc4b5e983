#include "vcode.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The digit's value, or -1. Crockford's decoding: I and L read as 1, O as 0, any case. */
static int digit_value(char c)
{
    if (c >= 'a' && c <= 'z')
        c = (char)(c - 'a' + 'A');
    if (c == 'I' || c == 'L')
        return 1;
    if (c == 'O')
        return 0;
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

char ovop_vcode_check_digit(const char *digits, size_t n)
{
    unsigned mod = 0;
    for (size_t i = 0; i < n; i++) {
        int v = digit_value(digits[i]);
        if (v < 0)
            return 0;
        mod = (mod * 32 + (unsigned)v) % 37;
    }
    return mod < 32 ? alphabet[mod] : 0;
}

ovop_vcode_status_t ovop_vcode_parse(const char *s, char out[static OVOP_VCODE_LEN + 1])
{
    char code[OVOP_VCODE_LEN + 1];
    size_t n = 0;
    for (size_t i = 0; s[i] && i < 64; i++) {
        if (s[i] == '-' || s[i] == ' ')
            continue;
        int v = digit_value(s[i]);
        if (v < 0)
            return OVOP_VCODE_CHARACTER;
        if (n == OVOP_VCODE_LEN)
            return OVOP_VCODE_LENGTH;
        code[n++] = alphabet[v];
    }
    if (n != OVOP_VCODE_LEN || strlen(s) > 64)
        return OVOP_VCODE_LENGTH;
    code[n] = '\0';
    if (ovop_vcode_check_digit(code, OVOP_VCODE_DIGITS) != code[OVOP_VCODE_DIGITS])
        return OVOP_VCODE_CHECK;
    memcpy(out, code, sizeof(code));
    return OVOP_VCODE_OK;
}

int ovop_vcode_generate(char out[static OVOP_VCODE_LEN + 1])
{
    for (;;) {
        uint8_t rnd[OVOP_VCODE_DIGITS];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return -errno;
        for (size_t i = 0; i < OVOP_VCODE_DIGITS; i++)
            out[i] = alphabet[rnd[i] & 31]; /* 5 of each byte's 8 uniform bits */
        char check = ovop_vcode_check_digit(out, OVOP_VCODE_DIGITS);
        if (!check)
            continue;
        out[OVOP_VCODE_DIGITS] = check;
        out[OVOP_VCODE_LEN] = '\0';
        return 0;
    }
}

const char *ovop_vcode_why(ovop_vcode_status_t s)
{
    switch (s) {
    case OVOP_VCODE_OK:
        return "is valid";
    case OVOP_VCODE_LENGTH:
        return "must be 14 characters of 0-9 and A-Z (without I, L, O, U)";
    case OVOP_VCODE_CHARACTER:
        return "has a character outside 0-9 and A-Z (without U)";
    case OVOP_VCODE_CHECK:
        return "has a wrong check character: a typo";
    }
    return "is not a verification code";
}
