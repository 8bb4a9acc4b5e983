/* Address classes that must not be reached from the internet-facing webhook client unless
 * allow-listed: loopback, private (RFC 1918, unique-local), link-local, shared (CGNAT),
 * multicast, reserved and documentation ranges, and IPv4 embedded in IPv6 (mapped, NAT64,
 * 6to4) judged as the IPv4 address they carry. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "util.h"

static bool prefix_match(const unsigned char *a, const unsigned char *net, unsigned bits)
{
    size_t bytes = bits / 8;
    if (memcmp(a, net, bytes) != 0)
        return false;
    if (bits % 8 == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - bits % 8));
    return (a[bytes] & mask) == (net[bytes] & mask);
}

static const struct {
    unsigned char net[4];
    unsigned bits;
    const char *what;
} v4_refused[] = {
    {{0, 0, 0, 0}, 8, "a \"this network\" address"},
    {{10, 0, 0, 0}, 8, "a private address"},
    {{100, 64, 0, 0}, 10, "a shared (carrier-grade NAT) address"},
    {{127, 0, 0, 0}, 8, "a loopback address"},
    {{169, 254, 0, 0}, 16, "a link-local address"},
    {{172, 16, 0, 0}, 12, "a private address"},
    {{192, 0, 0, 0}, 24, "an IETF protocol assignment address"},
    {{192, 0, 2, 0}, 24, "a documentation address"},
    {{192, 168, 0, 0}, 16, "a private address"},
    {{198, 18, 0, 0}, 15, "a benchmarking address"},
    {{198, 51, 100, 0}, 24, "a documentation address"},
    {{203, 0, 113, 0}, 24, "a documentation address"},
    {{224, 0, 0, 0}, 4, "a multicast address"},
    {{240, 0, 0, 0}, 4, "a reserved address"},
};

static const char *v4_class(const unsigned char a[4])
{
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(v4_refused); i++)
        if (prefix_match(a, v4_refused[i].net, v4_refused[i].bits))
            return v4_refused[i].what;
    return NULL;
}

static const struct {
    unsigned char net[16];
    unsigned bits;
    const char *what;
} v6_refused[] = {
    {{0}, 128, "the unspecified address"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "a loopback address"},
    {{0x01, 0x00}, 64, "a discard-only address"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "a documentation address"},
    {{0xfc}, 7, "a unique-local address"},
    {{0xfe, 0x80}, 10, "a link-local address"},
    {{0xfe, 0xc0}, 10, "a site-local address"},
    {{0xff}, 8, "a multicast address"},
};

/* The IPv4 address carried by a mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) or 6to4
 * (2002::/16) address; false for other IPv6 addresses. */
static bool embedded_v4(const unsigned char a[16], unsigned char v4[4])
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        memcpy(v4, a + 12, 4);
        return true;
    }
    if (a[0] == 0x20 && a[1] == 0x02) {
        memcpy(v4, a + 2, 4);
        return true;
    }
    return false;
}

static bool allowed(int family, const unsigned char *a, const notify_allow_t *allow)
{
    for (size_t i = 0; allow && i < allow->n; i++)
        if (allow->cidrs[i].family == family &&
            prefix_match(a, allow->cidrs[i].addr, allow->cidrs[i].prefix))
            return true;
    return false;
}

const char *notify_addr_refusal(const struct sockaddr *sa, const notify_allow_t *allow)
{
    if (!sa)
        return "no address";
    if (sa->sa_family == AF_INET) {
        const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        return allowed(AF_INET, a, allow) ? NULL : v4_class(a);
    }
    if (sa->sa_family != AF_INET6)
        return "not an IP address";
    const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    if (allowed(AF_INET6, a, allow))
        return NULL;
    unsigned char v4[4];
    if (embedded_v4(a, v4))
        return allowed(AF_INET, v4, allow) ? NULL : v4_class(v4);
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(v6_refused); i++)
        if (prefix_match(a, v6_refused[i].net, v6_refused[i].bits))
            return v6_refused[i].what;
    return NULL;
}

static int parse_one(const char *s, notify_cidr_t *c)
{
    char buf[64];
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, buf, c->addr) == 1)
        c->family = AF_INET, c->prefix = 32;
    else if (inet_pton(AF_INET6, buf, c->addr) == 1)
        c->family = AF_INET6, c->prefix = 128;
    else
        return -EINVAL;
    if (slash) {
        const char *p = slash + 1;
        size_t n = strlen(p);
        if (n == 0 || n > 3 || !ovop_all_digits(p, n) || (unsigned)atoi(p) > c->prefix)
            return -EINVAL;
        c->prefix = (unsigned)atoi(p);
    }
    return 0;
}

int notify_allow_parse(const char *list, notify_allow_t *out, char **ret_why)
{
    notify_allow_t a = {0};
    char *copy = xstrdup(list ? list : ""), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        for (size_t n = strlen(tok); n > 0 && tok[n - 1] == ' '; n--)
            tok[n - 1] = '\0';
        a.cidrs = xrealloc(a.cidrs, (a.n + 1) * sizeof(*a.cidrs));
        if (parse_one(tok, &a.cidrs[a.n]) < 0) {
            if (ret_why)
                *ret_why = xasprintf("ALLOW_LIST_INVALID: \"%s\" is not an IP address or CIDR "
                                     "(e.g. 10.0.0.0/8, ::1/128)",
                                     tok);
            free(copy);
            free(a.cidrs);
            return -EINVAL;
        }
        a.n++;
    }
    free(copy);
    *out = a;
    return 0;
}

void notify_allow_free(notify_allow_t *a)
{
    if (!a)
        return;
    xfree(a->cidrs);
    a->n = 0;
}
