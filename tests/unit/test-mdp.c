/* Unit tests of MDP/0.2 framing: every command built and parsed back, and the framings a
 * peer could send that must be refused with -EPROTO. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mdp.h"
#include "msg.h"

/* A message from (n, frame, len, frame, len, ...). */
static ovop_msg_t *frames(int n, ...)
{
    va_list ap;
    ovop_msg_t *m = ovop_msg_new();
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *p = va_arg(ap, const char *);
        size_t len = va_arg(ap, size_t);
        ovop_msg_addmem(m, p, len);
    }
    va_end(ap);
    return m;
}

#define F(s) (s), sizeof(s) - 1

static void assert_client_eproto(ovop_msg_t *m, size_t offset)
{
    ovop_mdp_view_t v;
    assert_int_equal(ovop_mdp_parse_client(m, offset, &v), -EPROTO);
    ovop_msg_destroy(&m);
}

static void assert_worker_eproto(ovop_msg_t *m)
{
    ovop_mdp_view_t v;
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), -EPROTO);
    ovop_msg_destroy(&m);
}

static void test_client_request_roundtrip(void **state)
{
    ovop_mdp_view_t v;
    ovop_msg_t *m = ovop_mdp_client_request("ovop.registry", "body", 4);
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_true(ovop_mdp_is_client(m, 0));
    assert_false(ovop_mdp_is_worker(m, 0));
    assert_int_equal(ovop_mdp_parse_client(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPC_REQUEST);
    assert_int_equal(v.service_len, 13);
    assert_memory_equal(v.service, "ovop.registry", 13);
    assert_int_equal(v.body_first, 3);
    assert_true(ovop_msg_eq(m, 3, "body", 4));

    /* On a ROUTER the identity comes first. */
    ovop_msg_pushmem(m, "\0id", 3);
    assert_int_equal(ovop_mdp_parse_client(m, 1, &v), 0);
    assert_int_equal(v.body_first, 4);
    ovop_msg_destroy(&m);
}

static void test_client_partial_final(void **state)
{
    ovop_mdp_view_t v;
    ovop_msg_t *m = frames(5, F("MDPC02"), F("\x02"), F("svc"), F("a"), F("b"));
    assert_int_equal(ovop_mdp_parse_client(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPC_PARTIAL);
    assert_int_equal(v.body_first, 3);
    ovop_msg_destroy(&m);
    m = frames(4, F("MDPC02"), F("\x03"), F("svc"), F(""));
    assert_int_equal(ovop_mdp_parse_client(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPC_FINAL);
    ovop_msg_destroy(&m);
}

static void test_client_bad_framings(void **state)
{
    assert_client_eproto(frames(4, F("MDPC01"), F("\x01"), F("svc"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPW02"), F("\x01"), F("svc"), F("b")), 0);
    assert_client_eproto(frames(3, F("MDPC02"), F("\x01"), F("svc")), 0); /* no body */
    assert_client_eproto(frames(1, F("MDPC02")), 0);
    assert_client_eproto(frames(0), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x00"), F("svc"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x04"), F("svc"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01\x01"), F("svc"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F(""), F("svc"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01"), F(""), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01"), F("a b"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01"), F("a\x7f"), F("b")), 0);
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01"), "a\0b", (size_t)3, F("b")), 0);
    /* The offset must be honoured: the header is not at frame 0 on a ROUTER. */
    assert_client_eproto(frames(4, F("MDPC02"), F("\x01"), F("svc"), F("b")), 1);
}

static void test_service_names(void **state)
{
    char name[300];
    memset(name, 'a', sizeof(name));
    assert_true(ovop_mdp_service_valid("mmi.service", 11));
    assert_true(ovop_mdp_service_valid(name, 255));
    assert_false(ovop_mdp_service_valid(name, 256));
    assert_false(ovop_mdp_service_valid(name, 0));
    assert_false(ovop_mdp_service_valid("\xc3\xa9", 2));
    assert_false(ovop_mdp_service_valid("tab\t", 4));
}

static void test_worker_ready(void **state)
{
    ovop_mdp_view_t v;
    ovop_msg_t *m = ovop_mdp_worker_ready("echo", 1);
    assert_int_equal(ovop_msg_frames(m), 3); /* plain RFC 18 READY */
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_READY);
    assert_int_equal(v.credit, 1);
    assert_memory_equal(v.service, "echo", 4);
    ovop_msg_destroy(&m);

    m = ovop_mdp_worker_ready("echo", 16);
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_true(ovop_msg_streq(m, 3, "16"));
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.credit, 16);
    ovop_msg_destroy(&m);

    m = ovop_mdp_worker_ready("echo", OVOP_MDP_MAX_CREDIT);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.credit, OVOP_MDP_MAX_CREDIT);
    ovop_msg_destroy(&m);
}

static void test_worker_ready_bad_credit(void **state)
{
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("0")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("abc")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("99999")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("1025")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F("-1")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x01"), F("echo"), F(" 8")));
    assert_worker_eproto(frames(6, F("MDPW02"), F("\x01"), F("echo"), F("8"), F("x"), F("y")));
    assert_worker_eproto(frames(2, F("MDPW02"), F("\x01"))); /* no service */
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x01"), F("")));
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x01"), F("sp ace")));
}

static void test_worker_ready_meta(void **state)
{
    ovop_mdp_view_t v;
    char out[64];
    ovop_msg_t *m =
        ovop_mdp_worker_ready_meta("echo", 1, "instance=h:42 ops=http://127.0.0.1:9101 x=");
    assert_int_equal(ovop_msg_frames(m), 5); /* the credit frame even for credit 1 */
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.credit, 1);
    assert_non_null(v.meta);
    assert_true(ovop_mdp_meta_get(v.meta, v.meta_len, "instance", out, sizeof(out)));
    assert_string_equal(out, "h:42");
    assert_true(ovop_mdp_meta_get(v.meta, v.meta_len, "ops", out, sizeof(out)));
    assert_string_equal(out, "http://127.0.0.1:9101");
    assert_true(ovop_mdp_meta_get(v.meta, v.meta_len, "x", out, sizeof(out)));
    assert_string_equal(out, "");
    assert_false(ovop_mdp_meta_get(v.meta, v.meta_len, "op", out, sizeof(out)));
    assert_false(ovop_mdp_meta_get(v.meta, v.meta_len, "h", out, sizeof(out)));
    assert_true(ovop_mdp_meta_get(v.meta, v.meta_len, "ops", out, 5)); /* truncated */
    assert_string_equal(out, "http");
    ovop_msg_destroy(&m);

    m = ovop_mdp_worker_ready_meta("echo", 4, NULL); /* none: as before */
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_null(v.meta);
    ovop_msg_destroy(&m);

    char big[OVOP_MDP_MAX_META + 2];
    memset(big, 'a', sizeof(big));
    big[OVOP_MDP_MAX_META] = '\0';
    assert_true(ovop_mdp_meta_valid(big, OVOP_MDP_MAX_META));
    assert_false(ovop_mdp_meta_valid(big, OVOP_MDP_MAX_META + 1));
    assert_false(ovop_mdp_meta_valid("", 0));
    assert_false(ovop_mdp_meta_valid("a\tb", 3));
    assert_worker_eproto(frames(5, F("MDPW02"), F("\x01"), F("echo"), F("8"), F("")));
    assert_worker_eproto(frames(5, F("MDPW02"), F("\x01"), F("echo"), F("8"), F("a\nb")));
}

static void test_worker_reply_roundtrip(void **state)
{
    ovop_mdp_view_t v;
    ovop_msg_t *m = ovop_mdp_worker_reply(OVOP_MDPW_FINAL, "\0abcd", 5, "result", 6);
    assert_int_equal(ovop_msg_frames(m), 5);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_FINAL);
    assert_int_equal(v.address_len, 5);
    assert_memory_equal(v.address, "\0abcd", 5);
    assert_int_equal(v.body_first, 4);
    assert_true(ovop_msg_eq(m, 4, "result", 6));
    ovop_msg_destroy(&m);

    m = ovop_mdp_worker_reply(OVOP_MDPW_PARTIAL, "c", 1, "", 0);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_PARTIAL);
    ovop_msg_destroy(&m);

    /* A REQUEST from the broker has the same shape. */
    m = frames(5, F("MDPW02"), F("\x02"), F("client"), F(""), F("body"));
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_REQUEST);
    assert_memory_equal(v.address, "client", 6);
    ovop_msg_destroy(&m);
}

static void test_worker_simple_commands(void **state)
{
    ovop_mdp_view_t v;
    ovop_msg_t *m = ovop_mdp_worker_command(OVOP_MDPW_HEARTBEAT);
    assert_int_equal(ovop_msg_frames(m), 2);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_HEARTBEAT);
    ovop_msg_destroy(&m);
    m = ovop_mdp_worker_command(OVOP_MDPW_DISCONNECT);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_DISCONNECT);
    ovop_msg_destroy(&m);
    m = ovop_mdp_worker_command(OVOP_MDPW_DRAINING);
    assert_int_equal(ovop_mdp_parse_worker(m, 0, &v), 0);
    assert_int_equal(v.command, OVOP_MDPW_DRAINING);
    assert_string_equal(ovop_mdpw_cmd_to_string(v.command), "DRAINING");
    ovop_msg_destroy(&m);
    assert_string_equal(ovop_mdpw_cmd_to_string(OVOP_MDPW_READY), "READY");
    assert_string_equal(ovop_mdpw_cmd_to_string(OVOP_MDPW_FINAL), "FINAL");
    assert_string_equal(ovop_mdpw_cmd_to_string(0x42), "UNKNOWN");
}

static void test_worker_bad_framings(void **state)
{
    assert_worker_eproto(frames(2, F("MDPW01"), F("\x05")));
    assert_worker_eproto(frames(2, F("MDPC02"), F("\x05")));
    assert_worker_eproto(frames(1, F("MDPW02")));
    assert_worker_eproto(frames(0));
    assert_worker_eproto(frames(2, F("MDPW02"), F("\x00")));
    assert_worker_eproto(frames(2, F("MDPW02"), F("\x08")));
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x07"), F("extra")));
    assert_worker_eproto(frames(2, F("MDPW02"), F("\x05\x05")));
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x05"), F("extra")));
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x06"), F("extra")));
    /* FINAL: missing empty delimiter, non-empty delimiter, empty address, no body. */
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x04"), F("addr"), F("body")));
    assert_worker_eproto(frames(5, F("MDPW02"), F("\x04"), F("addr"), F("x"), F("body")));
    assert_worker_eproto(frames(5, F("MDPW02"), F("\x04"), F(""), F(""), F("body")));
    assert_worker_eproto(frames(4, F("MDPW02"), F("\x04"), F("addr"), F("")));
    assert_worker_eproto(frames(3, F("MDPW02"), F("\x02"), F("addr")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_request_roundtrip),
        cmocka_unit_test(test_client_partial_final),
        cmocka_unit_test(test_client_bad_framings),
        cmocka_unit_test(test_service_names),
        cmocka_unit_test(test_worker_ready),
        cmocka_unit_test(test_worker_ready_bad_credit),
        cmocka_unit_test(test_worker_ready_meta),
        cmocka_unit_test(test_worker_reply_roundtrip),
        cmocka_unit_test(test_worker_simple_commands),
        cmocka_unit_test(test_worker_bad_framings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
