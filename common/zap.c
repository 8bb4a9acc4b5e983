#include "zap.h"

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "keys.h"
#include "log.h"
#include "msg.h"
#include "util.h"
#include "zsock.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
/* Before the keyring's first load, handshakes wait (libzmq does not reconnect a socket whose
 * handshake was refused, even with RFC 27's 300 "try again"), at most this many for at most
 * this long; then they get 300. */
#define ZAP_MAX_WAITING 1024
#define ZAP_WAIT_MS     10000

typedef enum zap_result {
    ZAP_CURVE_OK,
    ZAP_PLAINTEXT_OK,
    ZAP_UNKNOWN_KEY,
    ZAP_PLAINTEXT_REFUSED,
    ZAP_MECHANISM_REFUSED,
    ZAP_MALFORMED,
    ZAP__MAX,
} zap_result_t;

static const char *const result_labels[ZAP__MAX] = {
    [ZAP_CURVE_OK] = "result=\"accepted\",mechanism=\"CURVE\"",
    [ZAP_PLAINTEXT_OK] = "result=\"accepted\",mechanism=\"NULL\"",
    [ZAP_UNKNOWN_KEY] = "result=\"unknown_key\",mechanism=\"CURVE\"",
    [ZAP_PLAINTEXT_REFUSED] = "result=\"refused\",mechanism=\"NULL\"",
    [ZAP_MECHANISM_REFUSED] = "result=\"refused\",mechanism=\"other\"",
    [ZAP_MALFORMED] = "result=\"malformed\",mechanism=\"other\"",
};

struct ovop_zap {
    ovop_zsock_t *sock;
    const ovop_keyring_t *keyring;
    bool plaintext;
    ovop_metric_t *m[ZAP__MAX];
    ovop_msg_t *waiting[ZAP_MAX_WAITING]; /* requests held until the keyring loads */
    size_t n_waiting;
    uv_timer_t timer; /* answers the held ones 300 after ZAP_WAIT_MS */
};

/* The peer's address as libzmq gives it ("127.0.0.1" or "::1" for TCP, "" for ipc). */
static bool address_loopback(const ovop_msg_t *m, size_t i)
{
    char addr[80];
    size_t n = ovop_msg_len(m, i);
    if (n == 0)
        return true; /* ipc and inproc have no address */
    if (n >= sizeof(addr) - 16)
        return false;
    char ep[96];
    memcpy(addr, ovop_msg_data(m, i), n);
    addr[n] = '\0';
    snprintf(ep, sizeof(ep), strchr(addr, ':') ? "tcp://[%s]:1" : "tcp://%s:1", addr);
    return ovop_endpoint_is_loopback(ep);
}

static void reply(ovop_zap_t *z, ovop_msg_t *req, const char *code, const char *text,
                  const char *user)
{
    ovop_msg_t *out = ovop_msg_new();
    ovop_msg_copy_frame(out, req, 0); /* routing id */
    ovop_msg_addmem(out, NULL, 0);
    ovop_msg_addstr(out, "1.0");
    ovop_msg_copy_frame(out, req, 3); /* request id */
    ovop_msg_addstr(out, code);
    ovop_msg_addstr(out, text);
    ovop_msg_addstr(out, user);
    ovop_msg_addmem(out, NULL, 0); /* no metadata */
    if (ovop_zsock_send(z->sock, &out) < 0)
        log_warn("could not answer a ZAP request");
}

static zap_result_t judge(ovop_zap_t *z, ovop_msg_t *m, char user[static OVOP_KEY_LEN + 1],
                          const char **why)
{
    /* [routing id] [""] ["1.0"] [request id] [domain] [address] [identity] [mechanism] creds */
    size_t n = ovop_msg_frames(m);
    if (n < 8 || ovop_msg_len(m, 1) != 0 || !ovop_msg_streq(m, 2, "1.0")) {
        *why = "malformed ZAP request";
        return ZAP_MALFORMED;
    }
    if (ovop_msg_streq(m, 7, "CURVE")) {
        if (n != 9 || ovop_msg_len(m, 8) != 32) {
            *why = "malformed CURVE credentials";
            return ZAP_MALFORMED;
        }
        zmq_z85_encode(user, ovop_msg_data(m, 8), 32);
        if (!ovop_keyring_find(z->keyring, user)) {
            *why = ovop_keyring_loaded(z->keyring) ? "unknown, disabled, revoked or expired key"
                                                   : "the keyring has not loaded yet";
            return ZAP_UNKNOWN_KEY;
        }
        return ZAP_CURVE_OK;
    }
    if (ovop_msg_streq(m, 7, "NULL")) {
        if (!z->plaintext) {
            *why = "plaintext is not allowed: connect with CURVE";
            return ZAP_PLAINTEXT_REFUSED;
        }
        if (!address_loopback(m, 5)) {
            *why = "plaintext is allowed from loopback only";
            return ZAP_PLAINTEXT_REFUSED;
        }
        snprintf(user, OVOP_KEY_LEN + 1, "%s", OVOP_PLAINTEXT_USER);
        return ZAP_PLAINTEXT_OK;
    }
    *why = "only CURVE is accepted";
    return ZAP_MECHANISM_REFUSED;
}

/* Judges one request and answers it. */
static void answer(ovop_zap_t *z, ovop_msg_t *m)
{
    char user[OVOP_KEY_LEN + 1] = "";
    const char *why = "";
    zap_result_t r = judge(z, m, user, &why);
    ovop_metric_inc(z->m[r]);
    if (r == ZAP_MALFORMED && ovop_msg_frames(m) < 4)
        return; /* not even a request id to answer */
    if (r == ZAP_CURVE_OK || r == ZAP_PLAINTEXT_OK) {
        reply(z, m, "200", "OK", user);
        return;
    }
    if (r == ZAP_UNKNOWN_KEY && !ovop_keyring_loaded(z->keyring)) {
        /* RFC 27's temporary error, after waiting ZAP_WAIT_MS for the keyring. */
        reply(z, m, "300", why, "");
        return;
    }
    char *addr = ovop_msg_frames(m) > 5 ? ovop_msg_strdup(m, 5) : xstrdup("?");
    ovop_utf8_sanitize(addr);
    log_info("refused a connection from %s: %s%s%s", addr, why, user[0] ? ", key " : "", user);
    free(addr);
    reply(z, m, "400", why, "");
}

static void answer_waiting(ovop_zap_t *z)
{
    uv_timer_stop(&z->timer);
    for (size_t i = 0; i < z->n_waiting; i++) {
        answer(z, z->waiting[i]);
        ovop_msg_destroy(&z->waiting[i]);
    }
    z->n_waiting = 0;
}

static void on_wait_over(uv_timer_t *t)
{
    answer_waiting(t->data);
}

void ovop_zap_keyring_changed(ovop_zap_t *z)
{
    if (z && ovop_keyring_loaded(z->keyring))
        answer_waiting(z);
}

static void on_request(ovop_zsock_t *s, ovop_msg_t **msg, void *userdata)
{
    ovop_zap_t *z = userdata;
    OVOP_UNUSED(s);
    if (!ovop_keyring_loaded(z->keyring) && z->n_waiting < ZAP_MAX_WAITING) {
        if (z->n_waiting == 0)
            uv_timer_start(&z->timer, on_wait_over, ZAP_WAIT_MS, 0);
        z->waiting[z->n_waiting++] = *msg;
        *msg = NULL;
        return;
    }
    answer(z, *msg);
}

int ovop_zap_new(ovop_zap_t **ret, uv_loop_t *loop, void *zctx, const ovop_keyring_t *keyring,
                 bool plaintext, ovop_metrics_t *metrics)
{
    ovop_zap_t *z = xcalloc(1, sizeof(*z));
    z->keyring = keyring;
    z->plaintext = plaintext;
    int r = ovop_zsock_new(&z->sock, loop, zctx, ZMQ_ROUTER, 64 * 1024, on_request, z);
    if (r == 0)
        r = ovop_zsock_bind(z->sock, ZAP_ENDPOINT);
    if (r < 0) {
        ovop_zsock_destroy(&z->sock);
        free(z);
        return r;
    }
    for (int i = 0; i < ZAP__MAX; i++)
        z->m[i] = ovop_metrics_counter(metrics, "ovop_auth_handshakes_total",
                                       "Connections judged by the ZAP handler, by result",
                                       result_labels[i]);
    uv_timer_init(loop, &z->timer);
    z->timer.data = z;
    *ret = z;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void ovop_zap_destroy(ovop_zap_t **zp)
{
    ovop_zap_t *z = *zp;
    if (!z)
        return;
    *zp = NULL;
    for (size_t i = 0; i < z->n_waiting; i++)
        ovop_msg_destroy(&z->waiting[i]);
    ovop_zsock_destroy(&z->sock);
    uv_close((uv_handle_t *)&z->timer, on_timer_closed);
}
