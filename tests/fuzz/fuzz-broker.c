/* Fuzz target: the broker's routing state machine. The input is a sequence of messages
 * separated by 0x00 0xfe; each message's first byte picks one of four peers (its identity),
 * the rest is split into frames at each 0x00 0xff pair. So the fuzzer can register workers,
 * send requests, replies, disconnects and garbage from the same peers in any order. After
 * every message the broker's bookkeeping must be consistent. If the input starts with an odd
 * byte, heartbeats and expiry run every millisecond (workers die and requests are re-queued
 * as the loop turns), at the price of a run that depends on timing. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker.h"
#include "log.h"
#include "msg.h"

static void *zctx;
static uv_loop_t loop;
static unsigned instance;

static ovop_msg_t *message(const uint8_t *p, size_t n)
{
    ovop_msg_t *m = ovop_msg_new();
    uint8_t id[2] = {0, (uint8_t)(n > 0 ? p[0] % 4 : 0)};
    ovop_msg_addmem(m, id, sizeof(id));
    if (n == 0)
        return m;
    size_t start = 1;
    for (size_t i = 1; i + 1 < n; i++) {
        if (p[i] == 0x00 && p[i + 1] == 0xff) {
            ovop_msg_addmem(m, p + start, i - start);
            start = i + 2;
            i++;
        }
    }
    ovop_msg_addmem(m, p + start, n - start);
    return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char endpoint[64];
    ovop_broker_t *b = NULL;
    bool fast = size > 0 && (data[0] & 1);

    if (!zctx) {
        zctx = zmq_ctx_new();
        uv_loop_init(&loop);
        ovop_log_setup("fuzz-broker", NULL, "text", "error");
    }
    snprintf(endpoint, sizeof(endpoint), "inproc://fuzz-broker-%u", instance++);
    ovop_broker_options_t o = {.bind = endpoint,
                               .heartbeat_ms = fast ? 1 : 60000,
                               .liveness = 1,
                               .max_msg = 1 << 20,
                               .request_timeout_ms = fast ? 2 : 60000,
                               .held_timeout_ms = fast ? 3 : 60000,
                               /* small shares (8 KiB a client), so inputs reach them */
                               .max_queue_bytes = 64 * 1024,
                               .max_queue = 8};
    if (ovop_broker_new(&b, &loop, zctx, &o, NULL) < 0)
        __builtin_trap();

    size_t start = size > 0 ? 1 : 0;
    for (size_t i = start; i <= size; i++) {
        bool end = i == size;
        if (!end && !(i + 1 < size && data[i] == 0x00 && data[i + 1] == 0xfe))
            continue;
        ovop_msg_t *m = message(data + start, i - start);
        ovop_broker_handle(b, &m);
        if (m || !ovop_broker_check(b))
            __builtin_trap();
        uv_run(&loop, UV_RUN_NOWAIT);
        if (!ovop_broker_check(b))
            __builtin_trap();
        start = i + 2;
        i++;
    }
    ovop_broker_destroy(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}
