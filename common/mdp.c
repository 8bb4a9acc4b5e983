#include "mdp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const char *ovop_mdpw_cmd_to_string(int cmd)
{
    switch (cmd) {
    case OVOP_MDPW_READY:
        return "READY";
    case OVOP_MDPW_REQUEST:
        return "REQUEST";
    case OVOP_MDPW_PARTIAL:
        return "PARTIAL";
    case OVOP_MDPW_FINAL:
        return "FINAL";
    case OVOP_MDPW_HEARTBEAT:
        return "HEARTBEAT";
    case OVOP_MDPW_DISCONNECT:
        return "DISCONNECT";
    case OVOP_MDPW_DRAINING:
        return "DRAINING";
    default:
        return "UNKNOWN";
    }
}

bool ovop_mdp_service_valid(const char *s, size_t n)
{
    if (n == 0 || n > OVOP_MDP_MAX_SERVICE)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return false;
    return true;
}

bool ovop_mdp_is_client(const ovop_msg_t *m, size_t offset)
{
    return ovop_msg_eq(m, offset, OVOP_MDPC, 6);
}

bool ovop_mdp_is_worker(const ovop_msg_t *m, size_t offset)
{
    return ovop_msg_eq(m, offset, OVOP_MDPW, 6);
}

static int command_byte(const ovop_msg_t *m, size_t i)
{
    if (i >= ovop_msg_frames(m) || ovop_msg_len(m, i) != 1)
        return -1;
    return *(const unsigned char *)ovop_msg_data(m, i);
}

int ovop_mdp_parse_client(const ovop_msg_t *m, size_t offset, ovop_mdp_view_t *ret)
{
    size_t n = ovop_msg_frames(m);
    ovop_mdp_view_t v = {0};

    if (n < offset + 4 || !ovop_mdp_is_client(m, offset))
        return -EPROTO;
    v.command = command_byte(m, offset + 1);
    if (v.command < OVOP_MDPC_REQUEST || v.command > OVOP_MDPC_FINAL)
        return -EPROTO;
    v.service = ovop_msg_data(m, offset + 2);
    v.service_len = ovop_msg_len(m, offset + 2);
    if (!ovop_mdp_service_valid(v.service, v.service_len))
        return -EPROTO;
    v.body_first = offset + 3;
    *ret = v;
    return 0;
}

int ovop_mdp_parse_worker(const ovop_msg_t *m, size_t offset, ovop_mdp_view_t *ret)
{
    size_t n = ovop_msg_frames(m);
    ovop_mdp_view_t v = {0};

    if (n < offset + 2 || !ovop_mdp_is_worker(m, offset))
        return -EPROTO;
    v.command = command_byte(m, offset + 1);
    switch (v.command) {
    case OVOP_MDPW_READY:
        if (n < offset + 3 || n > offset + 5)
            return -EPROTO;
        v.service = ovop_msg_data(m, offset + 2);
        v.service_len = ovop_msg_len(m, offset + 2);
        if (!ovop_mdp_service_valid(v.service, v.service_len))
            return -EPROTO;
        v.credit = 1;
        if (n >= offset + 4) {
            size_t len = ovop_msg_len(m, offset + 3);
            const char *p = ovop_msg_data(m, offset + 3);
            uint32_t c = 0;
            if (len == 0 || len > 4)
                return -EPROTO;
            for (size_t i = 0; i < len; i++) {
                if (p[i] < '0' || p[i] > '9')
                    return -EPROTO;
                c = c * 10 + (uint32_t)(p[i] - '0');
            }
            if (c < 1 || c > OVOP_MDP_MAX_CREDIT)
                return -EPROTO;
            v.credit = c;
        }
        if (n == offset + 5) {
            v.meta = ovop_msg_data(m, offset + 4);
            v.meta_len = ovop_msg_len(m, offset + 4);
            if (!ovop_mdp_meta_valid(v.meta, v.meta_len))
                return -EPROTO;
        }
        break;
    case OVOP_MDPW_REQUEST:
    case OVOP_MDPW_PARTIAL:
    case OVOP_MDPW_FINAL:
        /* address, empty delimiter, at least one body frame */
        if (n < offset + 5 || ovop_msg_len(m, offset + 3) != 0)
            return -EPROTO;
        v.address = ovop_msg_data(m, offset + 2);
        v.address_len = ovop_msg_len(m, offset + 2);
        if (v.address_len == 0)
            return -EPROTO;
        v.body_first = offset + 4;
        break;
    case OVOP_MDPW_HEARTBEAT:
    case OVOP_MDPW_DISCONNECT:
    case OVOP_MDPW_DRAINING:
        if (n != offset + 2)
            return -EPROTO;
        break;
    default:
        return -EPROTO;
    }
    *ret = v;
    return 0;
}

ovop_msg_t *ovop_mdp_client_request(const char *service, const void *body, size_t len)
{
    ovop_msg_t *m = ovop_msg_new();
    unsigned char cmd = OVOP_MDPC_REQUEST;
    ovop_msg_addstr(m, OVOP_MDPC);
    ovop_msg_addmem(m, &cmd, 1);
    ovop_msg_addstr(m, service);
    ovop_msg_addmem(m, body, len);
    return m;
}

ovop_msg_t *ovop_mdp_worker_ready(const char *service, uint32_t credit)
{
    ovop_msg_t *m = ovop_mdp_worker_command(OVOP_MDPW_READY);
    char buf[16];
    ovop_msg_addstr(m, service);
    if (credit != 1) {
        snprintf(buf, sizeof(buf), "%u", credit);
        ovop_msg_addstr(m, buf);
    }
    return m;
}

ovop_msg_t *ovop_mdp_worker_ready_meta(const char *service, uint32_t credit, const char *meta)
{
    if (!meta || !*meta)
        return ovop_mdp_worker_ready(service, credit);
    ovop_msg_t *m = ovop_mdp_worker_command(OVOP_MDPW_READY);
    char buf[16];
    ovop_msg_addstr(m, service);
    snprintf(buf, sizeof(buf), "%u", credit);
    ovop_msg_addstr(m, buf);
    ovop_msg_addstr(m, meta);
    return m;
}

bool ovop_mdp_meta_valid(const char *meta, size_t len)
{
    if (len == 0 || len > OVOP_MDP_MAX_META)
        return false;
    for (size_t i = 0; i < len; i++)
        if (meta[i] < 0x20 || meta[i] > 0x7e)
            return false;
    return true;
}

bool ovop_mdp_meta_get(const char *meta, size_t len, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    size_t i = 0;
    if (size > 0)
        out[0] = '\0';
    while (i < len) {
        while (i < len && meta[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && meta[i] != ' ')
            i++;
        /* one word: meta[start..i) */
        if (i - start > klen && meta[start + klen] == '=' && memcmp(meta + start, key, klen) == 0) {
            size_t vlen = i - start - klen - 1;
            if (size == 0)
                return true;
            if (vlen > size - 1)
                vlen = size - 1;
            memcpy(out, meta + start + klen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
    }
    return false;
}

ovop_msg_t *ovop_mdp_worker_command(ovop_mdpw_cmd_t cmd)
{
    ovop_msg_t *m = ovop_msg_new();
    unsigned char c = (unsigned char)cmd;
    ovop_msg_addstr(m, OVOP_MDPW);
    ovop_msg_addmem(m, &c, 1);
    return m;
}

ovop_msg_t *ovop_mdp_worker_reply(ovop_mdpw_cmd_t cmd, const void *address, size_t address_len,
                                  const void *body, size_t len)
{
    ovop_msg_t *m = ovop_mdp_worker_command(cmd);
    ovop_msg_addmem(m, address, address_len);
    ovop_msg_addmem(m, NULL, 0);
    ovop_msg_addmem(m, body, len);
    return m;
}
