/* CurveZMQ keys (RFC 26) and the socket options that use them.
 *
 * A key pair lives in two files written by `ovopctl keygen NAME`: NAME.key with the public key
 * and NAME.secret with both, each a few "name = "value"" lines in CZMQ's certificate style:
 *
 *     # ovop CurveZMQ key: NAME (secret; readable by its owner only)
 *     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
 *     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
 *
 * A secret file readable by anyone but its owner is refused, as ssh does. Keys are Z85 text
 * of 40 characters; the secret never goes into a log, a message or the database. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define OVOP_KEY_LEN 40 /* Z85 characters of a 32-byte key */

/* The security of one connecting socket (client, worker) or one binding socket (broker). */
typedef struct ovop_security {
    /* Plain ZeroMQ without CURVE: only by an explicit option, and only on loopback. */
    bool plaintext;
    char public_key[OVOP_KEY_LEN + 1]; /* ours */
    char secret_key[OVOP_KEY_LEN + 1]; /* ours */
    char server_key[OVOP_KEY_LEN + 1]; /* the server's public key (connecting sockets) */
} ovop_security_t;

/* True when s is 40 characters of the Z85 alphabet that decode to 32 bytes. */
bool ovop_key_valid(const char *s);

/* A fresh key pair. Returns 0 or -errno. */
int ovop_key_generate(char pub[static OVOP_KEY_LEN + 1], char sec[static OVOP_KEY_LEN + 1]);

/* Writes BASE.key (mode 0644) and BASE.secret (mode 0600, created exclusively unless force:
 * an existing secret is never overwritten by accident). Returns 0 or -errno with *ret_err
 * (malloc'd) saying what failed. */
int ovop_key_write(const char *base, const char *name, const char *pub, const char *sec, bool force,
                   char **ret_err);

/* Reads a secret file into pub and sec. Refuses (-EPERM) a file that group or others may read
 * or that its reader does not own. Returns 0 or -errno with *ret_err (malloc'd). */
int ovop_key_load_secret(const char *path, char pub[static OVOP_KEY_LEN + 1],
                         char sec[static OVOP_KEY_LEN + 1], char **ret_err);

/* A public key given as the path of a .key or .secret file, or as itself (40 Z85
 * characters; an existing file of that name wins). Returns 0 or -errno with *ret_err. */
int ovop_key_load_public(const char *arg, char pub[static OVOP_KEY_LEN + 1], char **ret_err);

/* Fills sec from options: secret_file (our key pair) and server (the server's public key,
 * for connecting sockets; NULL for a server), or plaintext. Exactly one of plaintext and
 * secret_file must be given; plaintext is refused unless every endpoint of the
 * comma-separated list is on loopback. Returns 0 or -EINVAL with *ret_err (malloc'd). */
int ovop_security_setup(ovop_security_t *sec, bool plaintext, const char *secret_file,
                        const char *server, const char *endpoints, char **ret_err);

/* True when the endpoint is tcp:// on 127.0.0.0/8, localhost or [::1], or ipc:// or
 * inproc://. */
bool ovop_endpoint_is_loopback(const char *endpoint);
/* True when the comma-separated list has endpoints and every one is loopback. */
bool ovop_endpoints_loopback(const char *list);

/* Applies sec to a socket that connects (CURVE client options) or binds (CURVE server with
 * ZAP domain "ovop" enforced: no connection without a ZAP handler's yes). Plaintext sockets
 * that bind still go through ZAP (mechanism NULL). Returns 0 or -errno. */
int ovop_security_apply_client(void *sock, const ovop_security_t *sec);
int ovop_security_apply_server(void *sock, const ovop_security_t *sec);

/* Wipes the secret key from memory. */
void ovop_security_clear(ovop_security_t *sec);
