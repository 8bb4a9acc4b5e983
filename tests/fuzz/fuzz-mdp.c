/* Fuzz target: MDP/0.2 command parsing. The input is split into frames at each 0x00 0xff
 * pair, so the fuzzer controls the frame count and contents. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ovop_msg_t *m = ovop_msg_new();
    size_t start = 0;
    for (size_t i = 0; i + 1 < size; i++) {
        if (data[i] == 0x00 && data[i + 1] == 0xff) {
            ovop_msg_addmem(m, data + start, i - start);
            start = i + 2;
            i++;
        }
    }
    ovop_msg_addmem(m, data + start, size - start);
    ovop_mdp_view_t v;
    for (size_t off = 0; off < 2; off++) {
        if (ovop_mdp_parse_client(m, off, &v) == 0 && v.body_first > ovop_msg_frames(m))
            __builtin_trap();
        if (ovop_mdp_parse_worker(m, off, &v) == 0 && v.body_first > ovop_msg_frames(m))
            __builtin_trap();
    }
    ovop_msg_destroy(&m);
    return 0;
}
