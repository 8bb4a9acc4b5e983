#include "keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "util.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a DRAFT option of libzmq 4.3, implemented by the library */
#endif

#define ZAP_DOMAIN   "ovop"
#define MAX_KEY_FILE 4096

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool ovop_key_valid(const char *s)
{
    uint8_t raw[32];
    if (!s || strlen(s) != OVOP_KEY_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr(z85_chars, *p))
            return false;
    return zmq_z85_decode(raw, s) != NULL;
}

int ovop_key_generate(char pub[static OVOP_KEY_LEN + 1], char sec[static OVOP_KEY_LEN + 1])
{
    return zmq_curve_keypair(pub, sec) == 0 ? 0 : -errno;
}

static int write_file(const char *path, int flags, mode_t mode, const char *text)
{
    int fd = open(path, flags | O_WRONLY | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int r = w == (ssize_t)n ? 0 : -EIO;
    if (fchmod(fd, mode) < 0 && r == 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    return r;
}

int ovop_key_write(const char *base, const char *name, const char *pub, const char *sec, bool force,
                   char **ret_err)
{
    char *sec_path = xasprintf("%s.secret", base);
    char *pub_path = xasprintf("%s.key", base);
    char *sec_text = xasprintf("# ovop CurveZMQ key: %s (secret; readable by its owner only)\n"
                               "public-key = \"%s\"\nsecret-key = \"%s\"\n",
                               name, pub, sec);
    char *pub_text =
        xasprintf("# ovop CurveZMQ key: %s (public)\npublic-key = \"%s\"\n", name, pub);
    int r = write_file(sec_path, O_CREAT | (force ? O_TRUNC : O_EXCL), 0600, sec_text);
    if (r < 0)
        *ret_err = xasprintf("could not write %s: %s", sec_path, strerror(-r));
    else if ((r = write_file(pub_path, O_CREAT | O_TRUNC, 0644, pub_text)) < 0)
        *ret_err = xasprintf("could not write %s: %s", pub_path, strerror(-r));
    explicit_bzero(sec_text, strlen(sec_text));
    free(sec_text);
    free(pub_text);
    free(sec_path);
    free(pub_path);
    return r;
}

/* The quoted value of `name = "..."` in text, copied into out (41 bytes). */
static bool field(const char *text, const char *name, char out[static OVOP_KEY_LEN + 1])
{
    size_t nl = strlen(name);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, name, nl) != 0)
            continue;
        const char *p = line + nl;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '"')
            continue;
        const char *end = strchr(p, '"');
        if (!end || end - p != OVOP_KEY_LEN)
            return false;
        memcpy(out, p, OVOP_KEY_LEN);
        out[OVOP_KEY_LEN] = '\0';
        return ovop_key_valid(out);
    }
    return false;
}

/* Reads a whole small file. Returns 0 or -errno; st gets its status. */
static int read_small(const char *path, char **ret, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size > MAX_KEY_FILE) {
        int r = S_ISREG(st->st_mode) ? -EFBIG : -EINVAL;
        close(fd);
        return r;
    }
    char *buf = xcalloc(1, MAX_KEY_FILE + 1);
    ssize_t n = read(fd, buf, MAX_KEY_FILE);
    close(fd);
    if (n < 0) {
        free(buf);
        return -EIO;
    }
    *ret = buf;
    return 0;
}

int ovop_key_load_secret(const char *path, char pub[static OVOP_KEY_LEN + 1],
                         char sec[static OVOP_KEY_LEN + 1], char **ret_err)
{
    struct stat st;
    char *text = NULL;
    int r = read_small(path, &text, &st);
    if (r < 0) {
        *ret_err = xasprintf("could not read the secret key file %s: %s", path, strerror(-r));
        return r;
    }
    if ((st.st_mode & 077) != 0 || st.st_uid != geteuid()) {
        *ret_err = xasprintf("refusing the secret key file %s: it must be owned by this user and "
                             "readable by nobody else (chmod 600 %s)",
                             path, path);
        r = -EPERM;
    } else if (!field(text, "public-key", pub) || !field(text, "secret-key", sec)) {
        *ret_err = xasprintf("%s is not a secret key file: it needs public-key = \"...\" and "
                             "secret-key = \"...\" lines of 40 Z85 characters (ovopctl keygen)",
                             path);
        r = -EINVAL;
    } else {
        /* The secret must belong to the public key beside it. */
        char derived[OVOP_KEY_LEN + 1];
        if (zmq_curve_public(derived, sec) != 0 || strcmp(derived, pub) != 0) {
            *ret_err = xasprintf("%s: its public key is not the one of its secret key", path);
            r = -EINVAL;
        }
    }
    explicit_bzero(text, MAX_KEY_FILE);
    free(text);
    if (r < 0)
        explicit_bzero(sec, OVOP_KEY_LEN + 1);
    return r;
}

int ovop_key_load_public(const char *arg, char pub[static OVOP_KEY_LEN + 1], char **ret_err)
{
    /* A file first: a path of 40 characters can be valid Z85 too (var/keys/...key). */
    if (ovop_key_valid(arg) && access(arg, F_OK) != 0) {
        memcpy(pub, arg, OVOP_KEY_LEN + 1);
        return 0;
    }
    struct stat st;
    char *text = NULL;
    int r = read_small(arg, &text, &st);
    if (r < 0) {
        *ret_err = xasprintf("%s is neither a Z85 public key of 40 characters nor a readable key "
                             "file: %s",
                             arg, strerror(-r));
        return r;
    }
    r = field(text, "public-key", pub) ? 0 : -EINVAL;
    if (r < 0)
        *ret_err = xasprintf("%s has no public-key = \"...\" line of 40 Z85 characters", arg);
    explicit_bzero(text, MAX_KEY_FILE);
    free(text);
    return r;
}

bool ovop_endpoint_is_loopback(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *host = ep + 6;
    /* A connect endpoint may name a source: tcp://src;dst. The destination counts. */
    const char *semi = strchr(host, ';');
    if (semi)
        host = semi + 1;
    if (strncmp(host, "[::1]:", 6) == 0 || strncmp(host, "localhost:", 10) == 0)
        return true;
    const char *colon = strrchr(host, ':');
    if (!colon || colon - host >= 64)
        return false;
    char addr[64];
    memcpy(addr, host, (size_t)(colon - host));
    addr[colon - host] = '\0';
    struct in_addr in;
    return inet_pton(AF_INET, addr, &in) == 1 && (ntohl(in.s_addr) >> 24) == 127;
}

bool ovop_endpoints_loopback(const char *list)
{
    char *copy = xstrdup(list ? list : "");
    char *save = NULL;
    bool ok = true, any = false;
    for (char *ep = strtok_r(copy, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ')
            ep++;
        if (!*ep)
            continue;
        any = true;
        ok &= ovop_endpoint_is_loopback(ep);
    }
    free(copy);
    return ok && any;
}

int ovop_security_setup(ovop_security_t *s, bool plaintext, const char *secret_file,
                        const char *server, const char *endpoints, char **ret_err)
{
    memset(s, 0, sizeof(*s));
    if (plaintext) {
        if (!ovop_endpoints_loopback(endpoints)) {
            *ret_err = xasprintf("plaintext (insecure-plaintext) is for local development on "
                                 "loopback only, and %s is not loopback; give a key instead",
                                 endpoints ? endpoints : "(none)");
            return -EINVAL;
        }
        s->plaintext = true;
        return 0;
    }
    if (!secret_file || !*secret_file) {
        *ret_err = xstrdup("no key: give this principal's secret key file (--key, OVOP_KEY; "
                           "ovopctl keygen writes one), or --insecure-plaintext for local "
                           "development on loopback");
        return -EINVAL;
    }
    int r = ovop_key_load_secret(secret_file, s->public_key, s->secret_key, ret_err);
    if (r < 0)
        return -EINVAL;
    if (server) {
        if (!*server) {
            *ret_err = xstrdup("no broker key: give the broker's public key or its .key file "
                               "(--broker-key, OVOP_BROKER_KEY)");
            ovop_security_clear(s);
            return -EINVAL;
        }
        if (ovop_key_load_public(server, s->server_key, ret_err) < 0) {
            ovop_security_clear(s);
            return -EINVAL;
        }
    }
    return 0;
}

int ovop_security_apply_client(void *sock, const ovop_security_t *s)
{
    if (s->plaintext)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s->server_key, OVOP_KEY_LEN) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s->public_key, OVOP_KEY_LEN) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->secret_key, OVOP_KEY_LEN) < 0)
        return -errno;
    return 0;
}

int ovop_security_apply_server(void *sock, const ovop_security_t *s)
{
    int one = 1, v = 0;
    size_t vl = sizeof(v);
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) < 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof(one)) < 0 ||
        zmq_getsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &v, &vl) < 0 || v != 1)
        return -ENOTSUP; /* fail closed: without enforcement a missing handler lets anyone in */
    if (s->plaintext)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->secret_key, OVOP_KEY_LEN) < 0)
        return -errno;
    return 0;
}

void ovop_security_clear(ovop_security_t *s)
{
    explicit_bzero(s->secret_key, sizeof(s->secret_key));
}
