#include "b64.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

static bool b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int notify_b64_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n % 4 != 0 || n > (1u << 20))
        return -EINVAL;
    size_t pad = (s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
    for (size_t i = 0; i < n - pad; i++)
        if (!b64_char(s[i]))
            return -EINVAL;
    /* "xx=x" would pass the two checks above; the padding must be a suffix. */
    if (pad == 1 && s[n - 1] != '=')
        return -EINVAL;
    uint8_t *out = xmalloc(n / 4 * 3 + 1);
    int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (len < 0 || (size_t)len < pad) {
        free(out);
        return -EINVAL;
    }
    *ret = out;
    *ret_len = (size_t)len - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
    return 0;
}
