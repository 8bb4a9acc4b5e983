/* Secrets at rest: AES-256-GCM, "v1:" + base64(nonce[12] || ciphertext || tag[16]), the
 * additional authenticated data binding the sealed text to its row (the endpoint id). */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "util.h"

#define SEAL_PREFIX   "v1:"
#define NONCE_LEN     12
#define TAG_LEN       16
#define PLAINTEXT_MAX 4096
#define KEY_FILE_MAX  1024
#define KEY_HEADER    "# ovop notify secrets key (AES-256-GCM; readable by its owner only)\n"

static int fail(char **ret_err, int rc, char *msg)
{
    if (ret_err)
        *ret_err = msg;
    else
        free(msg);
    return rc;
}

int notify_seal_key_write(const char *path, char **ret_err)
{
    uint8_t key[32];
    if (!path || !*path)
        return fail(ret_err, -EINVAL, xstrdup("KEY_PATH_EMPTY: no key file named"));
    if (RAND_bytes(key, sizeof(key)) != 1)
        return fail(ret_err, -EIO, xstrdup("RANDOM_FAILED: RAND_bytes failed"));
    char *b64 = ovop_base64_encode(key, sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));
    char *text = xasprintf(KEY_HEADER "key = \"%s\"\n", b64);
    OPENSSL_cleanse(b64, strlen(b64));
    free(b64);
    /* O_EXCL: an existing key is never overwritten (it would make every sealed secret
     * unreadable). */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t n = strlen(text);
        if (fchmod(fd, 0600) < 0 || write(fd, text, n) != (ssize_t)n || fsync(fd) < 0)
            rc = errno ? -errno : -EIO;
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
    }
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc < 0)
        return fail(ret_err, rc, xasprintf("KEY_WRITE_FAILED: %s: %s", path, strerror(-rc)));
    return 0;
}

/* The base64 inside key = "..." of the file's text; NULL when there is none. */
static char *key_value(char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *q1 = strchr(line, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
        if (strncmp(line, "key = \"", 7) != 0 || !q2 || q2[1] != '\0')
            return NULL;
        *q2 = '\0';
        return q1 + 1;
    }
    return NULL;
}

int notify_seal_key_load(const char *path, uint8_t key[32], char **ret_err)
{
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return fail(ret_err, path ? -errno : -EINVAL,
                    xasprintf("KEY_UNREADABLE: %s: %s", path ? path : "(none)",
                              path ? strerror(errno) : "no key file named"));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 ||
        st.st_uid != geteuid()) {
        close(fd);
        return fail(ret_err, -EPERM,
                    xasprintf("KEY_FILE_INSECURE: %s must be a regular file of mode 0600 owned "
                              "by the user running the daemon",
                              path));
    }
    char text[KEY_FILE_MAX + 1];
    ssize_t n = read(fd, text, KEY_FILE_MAX);
    close(fd);
    if (n < 0 || n == KEY_FILE_MAX)
        return fail(ret_err, -EINVAL,
                    xasprintf("KEY_FILE_INVALID: %s is unreadable or too long", path));
    text[n] = '\0';
    const char *v = key_value(text);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc = v ? notify_b64_decode(v, &raw, &raw_len) : -EINVAL;
    OPENSSL_cleanse(text, sizeof(text));
    if (rc < 0 || raw_len != 32) {
        if (raw)
            OPENSSL_cleanse(raw, raw_len);
        free(raw);
        return fail(
            ret_err, -EINVAL,
            xasprintf("KEY_FILE_INVALID: %s holds no key = \"<base64 of 32 bytes>\" line", path));
    }
    memcpy(key, raw, 32);
    OPENSSL_cleanse(raw, raw_len);
    free(raw);
    return 0;
}

/* One AES-256-GCM pass; enc 1 seals (writes tag), 0 opens (checks tag). 0 or -EBADMSG. */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[NONCE_LEN], const char *aad,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = 0, n = 0, fin = 0;
    if (c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
        EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
        EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
        EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 &&
        (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
        EVP_CipherFinal_ex(c, out + n, &fin) == 1 &&
        (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1))
        ok = 1;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -EBADMSG;
}

char *notify_seal(const uint8_t key[32], const char *plaintext, const char *aad)
{
    if (!key || !plaintext || !aad || strlen(plaintext) > PLAINTEXT_MAX)
        return NULL;
    size_t len = strlen(plaintext);
    uint8_t *blob = xmalloc(NONCE_LEN + len + TAG_LEN);
    char *out = NULL;
    if (RAND_bytes(blob, NONCE_LEN) == 1 && gcm(1, key, blob, aad, (const uint8_t *)plaintext, len,
                                                blob + NONCE_LEN, blob + NONCE_LEN + len) == 0) {
        char *b64 = ovop_base64_encode(blob, NONCE_LEN + len + TAG_LEN);
        out = xasprintf(SEAL_PREFIX "%s", b64);
        free(b64);
    }
    OPENSSL_cleanse(blob, NONCE_LEN + len + TAG_LEN);
    free(blob);
    return out;
}

int notify_unseal(const uint8_t key[32], const char *sealed, const char *aad, char **ret)
{
    if (!key || !sealed || !aad || !ret || strncmp(sealed, SEAL_PREFIX, 3) != 0)
        return -EINVAL;
    uint8_t *blob;
    size_t n;
    if (notify_b64_decode(sealed + 3, &blob, &n) < 0)
        return -EINVAL;
    if (n < NONCE_LEN + TAG_LEN || n - NONCE_LEN - TAG_LEN > PLAINTEXT_MAX) {
        free(blob);
        return -EINVAL;
    }
    size_t len = n - NONCE_LEN - TAG_LEN;
    char *plain = xmalloc(len + 1);
    int rc =
        gcm(0, key, blob, aad, blob + NONCE_LEN, len, (uint8_t *)plain, blob + NONCE_LEN + len);
    free(blob);
    if (rc < 0 || memchr(plain, '\0', len)) {
        OPENSSL_cleanse(plain, len);
        free(plain);
        return rc < 0 ? rc : -EBADMSG;
    }
    plain[len] = '\0';
    *ret = plain;
    return 0;
}
