/* Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * "msg_id.timestamp.body" with the base64-decoded part of a "whsec_" secret. */
#pragma once

#include <stddef.h>
#include <stdint.h>

char *notify_secret_generate(void); /* "whsec_" + base64(32 random bytes) */
/* The signature header value: "v1,<b64>" per secret, space-separated. NULL on bad secret. */
char *notify_sign(const char *const *secrets, size_t n, const char *msg_id, int64_t ts,
                  const char *body, size_t len);
/* 0; -EKEYREJECTED no signature matches; -ETIME timestamp outside tolerance; -EINVAL. */
int notify_verify(const char *const *secrets, size_t n, const char *msg_id, const char *ts_header,
                  const char *sig_header, const char *body, size_t len, int64_t now,
                  int tolerance_s);
