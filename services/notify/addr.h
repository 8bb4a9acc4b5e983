/* Which addresses a webhook may connect to: public unicast ones, and others only when an
 * allow list (comma-separated CIDRs, "127.0.0.0/8,::1/128,10.1.2.3") names them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

typedef struct notify_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
} notify_cidr_t;

typedef struct notify_allow {
    notify_cidr_t *cidrs;
    size_t n;
} notify_allow_t;

/* Parses list (NULL or "" = empty). 0, or -EINVAL with *ret_why (malloc'd). */
int notify_allow_parse(const char *list, notify_allow_t *out, char **ret_why);
void notify_allow_free(notify_allow_t *a);

/* NULL when sa may be connected to; else why not ("a loopback address"...). */
const char *notify_addr_refusal(const struct sockaddr *sa, const notify_allow_t *allow);
