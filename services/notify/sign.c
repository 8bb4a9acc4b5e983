/* Standard Webhooks signatures: HMAC-SHA256 of "msg_id.timestamp.body" keyed with the
 * base64-decoded secret (after an optional "whsec_" prefix), written "v1,<base64>". */
#include "sign.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "b64.h"
#include "util.h"

#define SECRET_PREFIX    "whsec_"
#define SECRET_BYTES     32
#define SECRET_MIN_BYTES 24 /* the spec's range for symmetric secrets */
#define SECRET_MAX_BYTES 64
#define MSG_ID_MAX       256
#define SIG_HEADER_MAX   4096

char *notify_secret_generate(void)
{
    uint8_t raw[SECRET_BYTES];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return NULL;
    char *b64 = ovop_base64_encode(raw, sizeof(raw));
    OPENSSL_cleanse(raw, sizeof(raw));
    char *s = xasprintf(SECRET_PREFIX "%s", b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    return s;
}

/* The HMAC key of a secret; -EINVAL when it is not base64 of 24..64 bytes. */
static int secret_key(const char *secret, uint8_t **ret, size_t *ret_len)
{
    if (!secret)
        return -EINVAL;
    if (strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) == 0)
        secret += strlen(SECRET_PREFIX);
    if (notify_b64_decode(secret, ret, ret_len) < 0)
        return -EINVAL;
    if (*ret_len < SECRET_MIN_BYTES || *ret_len > SECRET_MAX_BYTES) {
        OPENSSL_cleanse(*ret, *ret_len);
        xfree(*ret);
        return -EINVAL;
    }
    return 0;
}

/* mac = HMAC-SHA256(key, msg_id "." ts "." body). */
static int mac_of(const char *secret, const char *msg_id, const char *ts, const char *body,
                  size_t len, uint8_t mac[32])
{
    uint8_t *key;
    size_t key_len;
    if (secret_key(secret, &key, &key_len) < 0)
        return -EINVAL;
    /* EVP_MAC: the HMAC_CTX functions are deprecated in OpenSSL 3. */
    int ok = 0;
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *c = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t out_len = 0;
    if (c && EVP_MAC_init(c, key, key_len, params) == 1 &&
        EVP_MAC_update(c, (const uint8_t *)msg_id, strlen(msg_id)) == 1 &&
        EVP_MAC_update(c, (const uint8_t *)".", 1) == 1 &&
        EVP_MAC_update(c, (const uint8_t *)ts, strlen(ts)) == 1 &&
        EVP_MAC_update(c, (const uint8_t *)".", 1) == 1 &&
        EVP_MAC_update(c, (const uint8_t *)body, len) == 1 &&
        EVP_MAC_final(c, mac, &out_len, 32) == 1)
        ok = out_len == 32;
    EVP_MAC_CTX_free(c);
    EVP_MAC_free(hmac);
    OPENSSL_cleanse(key, key_len);
    free(key);
    return ok ? 0 : -EINVAL;
}

/* A msg_id goes into the signed text and a header: printable ASCII without '.' ambiguity
 * concerns (the receiver reads it from its own header), no controls, bounded. */
static bool msg_id_valid(const char *id)
{
    if (!id || !*id || strlen(id) > MSG_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

char *notify_sign(const char *const *secrets, size_t n, const char *msg_id, int64_t ts,
                  const char *body, size_t len)
{
    if (!secrets || n == 0 || !msg_id_valid(msg_id) || ts < 0 || (!body && len > 0))
        return NULL;
    char ts_text[24];
    snprintf(ts_text, sizeof(ts_text), "%lld", (long long)ts);
    ovop_buf_t out;
    ovop_buf_init(&out);
    for (size_t i = 0; i < n; i++) {
        uint8_t mac[32];
        if (mac_of(secrets[i], msg_id, ts_text, body ? body : "", len, mac) < 0) {
            ovop_buf_free(&out);
            return NULL;
        }
        char *b64 = ovop_base64_encode(mac, sizeof(mac));
        ovop_buf_printf(&out, "%sv1,%s", i ? " " : "", b64);
        free(b64);
    }
    return out.data;
}

/* ts_header: decimal seconds, 1..15 digits (no sign, no spaces). */
static int parse_ts(const char *s, int64_t *ret)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 15 || !ovop_all_digits(s, n))
        return -EINVAL;
    *ret = strtoll(s, NULL, 10);
    return 0;
}

/* True when one "v1,<b64>" entry of the space-separated header equals mac. Every entry is
 * compared (in constant time each), so the position of the match is not timed. */
static bool header_has(const char *sig_header, const uint8_t mac[32])
{
    char *copy = xstrdup(sig_header), *save = NULL;
    bool found = false;
    for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strncmp(tok, "v1,", 3) != 0)
            continue; /* other schemes (v1a asymmetric...) are not ours */
        uint8_t *sig;
        size_t sig_len;
        if (notify_b64_decode(tok + 3, &sig, &sig_len) < 0)
            continue;
        if (sig_len == 32 && CRYPTO_memcmp(sig, mac, 32) == 0)
            found = true;
        free(sig);
    }
    free(copy);
    return found;
}

int notify_verify(const char *const *secrets, size_t n, const char *msg_id, const char *ts_header,
                  const char *sig_header, const char *body, size_t len, int64_t now,
                  int tolerance_s)
{
    int64_t ts;
    if (!secrets || n == 0 || !msg_id_valid(msg_id) || !sig_header ||
        strlen(sig_header) > SIG_HEADER_MAX || (!body && len > 0) || tolerance_s < 0 ||
        parse_ts(ts_header, &ts) < 0)
        return -EINVAL;
    if (ts < now - tolerance_s || ts > now + tolerance_s)
        return -ETIME;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t mac[32];
        if (mac_of(secrets[i], msg_id, ts_header, body ? body : "", len, mac) < 0)
            return -EINVAL;
        any |= header_has(sig_header, mac);
        OPENSSL_cleanse(mac, sizeof(mac));
    }
    return any ? 0 : -EKEYREJECTED;
}
