/* Standard base64 (RFC 4648 §4, with padding) decoding, strict: no whitespace, padding only at
 * the end. Shared by sign.c (Standard Webhooks secrets and signatures) and seal.c. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Decodes s into a malloc'd buffer (*ret, *ret_len); -EINVAL when s is not base64. */
int notify_b64_decode(const char *s, uint8_t **ret, size_t *ret_len);
