/* A ZAP handler (ZeroMQ RFC 27) on a libuv loop: a ROUTER bound to inproc://zeromq.zap.01 in
 * the context of the sockets it guards, answering from the keyring. It accepts
 *   - CURVE with a key that names a current principal: user id = the Z85 public key,
 *   - NULL (plaintext) from a loopback address, only when plaintext was allowed:
 *     user id = OVOP_PLAINTEXT_USER,
 * and refuses everything else (unknown, disabled, revoked, expired or malformed key; PLAIN;
 * plaintext from elsewhere) with 400. Until the keyring has loaded, handshakes wait (up to
 * 10 s, then 300, "try again"): libzmq does not reconnect a socket whose handshake failed.
 * Bind it before the server sockets: with ZMQ_ZAP_ENFORCE_DOMAIN a server without a handler
 * accepts nobody (keys.h sets it). */
#pragma once

#include <stdbool.h>
#include <uv.h>

#include "keyring.h"
#include "metrics.h"

typedef struct ovop_zap ovop_zap_t;

/* Returns 0 or -errno (-EADDRINUSE when the context has a handler already). */
int ovop_zap_new(ovop_zap_t **ret, uv_loop_t *loop, void *zctx, const ovop_keyring_t *keyring,
                 bool plaintext, ovop_metrics_t *metrics);
/* Call after each keyring load: answers the handshakes that waited for it. Accepts NULL. */
void ovop_zap_keyring_changed(ovop_zap_t *z);
/* Closes the socket; the rest is freed from the loop. Accepts NULL. */
void ovop_zap_destroy(ovop_zap_t **z);
