/* Majordomo Protocol MDP/0.2 (ZeroMQ RFC 18) framing: pure parse and build functions,
 * shared by the broker, the worker and the client. Nothing here touches a socket.
 *
 * Three extensions, compatible with plain RFC 18 peers. A worker's READY may carry a fourth
 * frame, its credit (ASCII decimal, 1..OVOP_MDP_MAX_CREDIT): how many requests it holds at
 * once; a READY without it means credit 1, as the RFC's one-request-at-a-time worker.
 *
 * After the credit frame, READY may carry a fifth frame, who the worker is, as space-separated
 * key=value words of printable ASCII (at most OVOP_MDP_MAX_META bytes), e.g.
 * "instance=host:4242 ops=http://127.0.0.1:9101". The broker shows them in its status
 * (ovop.broker GetStatus) and ignores keys it does not know; a READY without it is a worker
 * that said nothing about itself (an RFC 18 worker, or one built before this extension).
 *
 * A worker that is stopping may say DRAINING (0x07, no frames): the broker sends it nothing
 * new but takes its replies until its DISCONNECT. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define OVOP_MDPC            "MDPC02"
#define OVOP_MDPW            "MDPW02"
#define OVOP_MDP_MAX_SERVICE 255
#define OVOP_MDP_MAX_CREDIT  1024
#define OVOP_MDP_MAX_META    512

typedef enum ovop_mdpc_cmd {
    OVOP_MDPC_REQUEST = 0x01,
    OVOP_MDPC_PARTIAL = 0x02,
    OVOP_MDPC_FINAL = 0x03,
} ovop_mdpc_cmd_t;

typedef enum ovop_mdpw_cmd {
    OVOP_MDPW_READY = 0x01,
    OVOP_MDPW_REQUEST = 0x02,
    OVOP_MDPW_PARTIAL = 0x03,
    OVOP_MDPW_FINAL = 0x04,
    OVOP_MDPW_HEARTBEAT = 0x05,
    OVOP_MDPW_DISCONNECT = 0x06,
    /* Extension: from a worker that is stopping: send it no new request; it still answers
     * those it holds, then says DISCONNECT. A plain RFC 18 broker drops it as malformed. */
    OVOP_MDPW_DRAINING = 0x07,
} ovop_mdpw_cmd_t;

const char *ovop_mdpw_cmd_to_string(int cmd);

/* A view into a message; pointers borrow the message's frames. */
typedef struct ovop_mdp_view {
    int command;
    const char *service; /* not NUL-terminated */
    size_t service_len;
    const void *address; /* worker commands: the client address frame */
    size_t address_len;
    uint32_t credit;  /* READY: 1 unless the credit frame is present */
    const char *meta; /* READY: the metadata frame (not NUL-terminated), NULL when absent */
    size_t meta_len;
    size_t body_first; /* index of the first body frame */
} ovop_mdp_view_t;

/* True when s[0..n) is a valid service name: 1..255 printable ASCII characters. */
bool ovop_mdp_service_valid(const char *s, size_t n);

/* Parses a client command starting at frame `offset` (1 on a ROUTER, after the identity;
 * 0 on a DEALER). Returns 0 or -EPROTO for anything that is not a well-formed command
 * of MDP/Client 0.2 (REQUEST from a client; PARTIAL/FINAL to a client). */
int ovop_mdp_parse_client(const ovop_msg_t *m, size_t offset, ovop_mdp_view_t *ret);

/* Parses a worker command starting at frame `offset`. Returns 0 or -EPROTO. */
int ovop_mdp_parse_worker(const ovop_msg_t *m, size_t offset, ovop_mdp_view_t *ret);

/* True when frame `offset` carries the client or the worker protocol header. */
bool ovop_mdp_is_client(const ovop_msg_t *m, size_t offset);
bool ovop_mdp_is_worker(const ovop_msg_t *m, size_t offset);

/* Builders. Each returns a new message the caller owns. */
ovop_msg_t *ovop_mdp_client_request(const char *service, const void *body, size_t len);
ovop_msg_t *ovop_mdp_worker_ready(const char *service, uint32_t credit);
/* READY with the metadata frame meta (NULL or "": none, as ovop_mdp_worker_ready); the credit
 * frame is then always sent, since the metadata is the fifth frame. */
ovop_msg_t *ovop_mdp_worker_ready_meta(const char *service, uint32_t credit, const char *meta);

/* True when meta[0..len) is a valid metadata frame: 1..OVOP_MDP_MAX_META bytes of 0x20..0x7e. */
bool ovop_mdp_meta_valid(const char *meta, size_t len);
/* Copies the value of `key` in the metadata frame meta[0..len) into out (NUL-terminated,
 * truncated to size - 1). Returns false, out "", when the key is absent. */
bool ovop_mdp_meta_get(const char *meta, size_t len, const char *key, char *out, size_t size);
ovop_msg_t *ovop_mdp_worker_command(ovop_mdpw_cmd_t cmd); /* HEARTBEAT, DISCONNECT, DRAINING */
/* FINAL/PARTIAL from a worker: the body is copied. */
ovop_msg_t *ovop_mdp_worker_reply(ovop_mdpw_cmd_t cmd, const void *address, size_t address_len,
                                  const void *body, size_t len);
