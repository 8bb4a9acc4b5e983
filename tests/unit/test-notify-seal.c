/* Unit tests of sealed secrets: round trip, wrong key, wrong aad, tampering, key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "seal.h"
#include "util.h"

static char dir[] = "/tmp/test-notify-seal-XXXXXX";

static char *path_of(const char *name)
{
    return xasprintf("%s/%s", dir, name);
}

static void test_round_trip(void **state)
{
    char *p = path_of("k1");
    char *err = NULL;
    assert_int_equal(notify_seal_key_write(p, &err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t key[32];
    assert_int_equal(notify_seal_key_load(p, key, &err), 0);
    const char secret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    char *a = notify_seal(key, secret, "endpoint-1"), *b = notify_seal(key, secret, "endpoint-1");
    assert_non_null(a);
    assert_int_equal(strncmp(a, "v1:", 3), 0);
    assert_null(strstr(a, "MfKQ9r8G"));
    assert_string_not_equal(a, b); /* a fresh nonce each time */
    char *plain = NULL;
    assert_int_equal(notify_unseal(key, a, "endpoint-1", &plain), 0);
    assert_string_equal(plain, secret);
    free(plain);
    assert_int_equal(notify_unseal(key, b, "endpoint-1", &plain), 0);
    free(plain);
    /* An existing key file is never overwritten. */
    assert_int_equal(notify_seal_key_write(p, &err), -EEXIST);
    assert_non_null(strstr(err, "KEY_WRITE_FAILED"));
    free(err);
    free(a);
    free(b);
    unlink(p);
    free(p);
}

static void test_wrong_key_or_aad(void **state)
{
    uint8_t k1[32], k2[32];
    memset(k1, 1, sizeof(k1));
    memcpy(k2, k1, sizeof(k2));
    k2[31] ^= 1;
    char *s = notify_seal(k1, "whsec_secret", "endpoint-1");
    char *plain = NULL;
    assert_int_equal(notify_unseal(k2, s, "endpoint-1", &plain), -EBADMSG);
    /* Copied to another endpoint's row, it does not open. */
    assert_int_equal(notify_unseal(k1, s, "endpoint-2", &plain), -EBADMSG);
    assert_int_equal(notify_unseal(k1, s, "", &plain), -EBADMSG);
    assert_null(plain);
    /* One flipped character of the ciphertext or the tag. */
    size_t n = strlen(s);
    for (size_t i = 3 + 16; i < n - 2; i += 7) {
        char *t = xstrdup(s);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        int rc = notify_unseal(k1, t, "endpoint-1", &plain);
        assert_true(rc == -EBADMSG || rc == -EINVAL);
        free(t);
    }
    assert_int_equal(notify_unseal(k1, s + 3, "endpoint-1", &plain), -EINVAL);     /* no v1: */
    assert_int_equal(notify_unseal(k1, "v1:AAAA", "endpoint-1", &plain), -EINVAL); /* short */
    assert_int_equal(notify_unseal(k1, "v1:!!!!", "endpoint-1", &plain), -EINVAL);
    assert_int_equal(notify_unseal(k1, s, NULL, &plain), -EINVAL);
    assert_null(notify_seal(k1, "x", NULL));
    free(s);
}

static void write_text(const char *p, const char *text, mode_t mode)
{
    unlink(p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, mode);
}

static void test_key_files(void **state)
{
    uint8_t key[32];
    char *err = NULL, *p = path_of("k2");
    assert_int_equal(notify_seal_key_load(p, key, &err), -ENOENT);
    assert_non_null(strstr(err, "KEY_UNREADABLE"));
    xfree(err);
    /* A valid key readable by the group is refused, as ssh and the CURVE secrets do. */
    write_text(p, "key = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n", 0640);
    assert_int_equal(notify_seal_key_load(p, key, &err), -EPERM);
    assert_non_null(strstr(err, "KEY_FILE_INSECURE"));
    xfree(err);
    chmod(p, 0600);
    assert_int_equal(notify_seal_key_load(p, key, &err), 0);
    assert_int_equal(key[0], 1);
    const char *bad[] = {
        "key = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==\"\n", /* 31 bytes */
        "key = \"not base64\"\n",
        "secret = \"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"\n",
        "",
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(bad); i++) {
        write_text(p, bad[i], 0600);
        assert_int_equal(notify_seal_key_load(p, key, &err), -EINVAL);
        assert_non_null(strstr(err, "KEY_FILE_INVALID"));
        xfree(err);
    }
    unlink(p);
    free(p);
}

int main(void)
{
    assert_non_null(mkdtemp(dir));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_wrong_key_or_aad),
        cmocka_unit_test(test_key_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
