/* Unit tests of ovop_msg: building, pushing, moving, copying and dropping frames, and a
 * send/receive over a socket pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg.h"
#include "util.h"

static void test_add_and_read(void **state)
{
    ovop_msg_t *m = ovop_msg_new();
    assert_int_equal(ovop_msg_frames(m), 0);
    assert_int_equal(ovop_msg_bytes(m), 0);
    ovop_msg_addstr(m, "one");
    ovop_msg_addmem(m, NULL, 0);
    ovop_msg_addmem(m, "t\0o", 3);
    ovop_msg_addmem_take(m, xstrdup("taken"), 5);
    assert_int_equal(ovop_msg_frames(m), 4);
    assert_int_equal(ovop_msg_bytes(m), 11);
    assert_true(ovop_msg_streq(m, 0, "one"));
    assert_int_equal(ovop_msg_len(m, 1), 0);
    assert_true(ovop_msg_eq(m, 1, "", 0));
    assert_true(ovop_msg_eq(m, 2, "t\0o", 3));
    assert_false(ovop_msg_eq(m, 2, "t\0p", 3));
    assert_false(ovop_msg_eq(m, 9, "x", 1)); /* out of range is not equal, not a crash */
    assert_true(ovop_msg_streq(m, 3, "taken"));
    char *s = ovop_msg_strdup(m, 2);
    assert_memory_equal(s, "t\0o\0", 4);
    free(s);
    ovop_msg_destroy(&m);
    assert_null(m);
    ovop_msg_destroy(&m); /* NULL accepted */
}

static void test_push(void **state)
{
    ovop_msg_t *m = ovop_msg_new();
    ovop_msg_addstr(m, "b");
    ovop_msg_pushstr(m, "a");
    ovop_msg_pushmem(m, "\0id", 3);
    assert_int_equal(ovop_msg_frames(m), 3);
    assert_true(ovop_msg_eq(m, 0, "\0id", 3));
    assert_true(ovop_msg_streq(m, 1, "a"));
    assert_true(ovop_msg_streq(m, 2, "b"));
    /* Growing past the initial capacity keeps the order. */
    for (int i = 0; i < 20; i++) {
        char buf[8];
        snprintf(buf, sizeof(buf), "p%d", i);
        ovop_msg_pushstr(m, buf);
    }
    assert_int_equal(ovop_msg_frames(m), 23);
    assert_true(ovop_msg_streq(m, 0, "p19"));
    assert_true(ovop_msg_streq(m, 22, "b"));
    ovop_msg_destroy(&m);
}

static void test_drop_front_then_push(void **state)
{
    ovop_msg_t *m = ovop_msg_new();
    ovop_msg_addstr(m, "id");
    ovop_msg_addstr(m, "x");
    ovop_msg_addstr(m, "y");
    ovop_msg_drop_front(m, 2);
    assert_int_equal(ovop_msg_frames(m), 1);
    assert_true(ovop_msg_streq(m, 0, "y"));
    /* A push reuses a dropped slot. */
    ovop_msg_pushstr(m, "new");
    assert_int_equal(ovop_msg_frames(m), 2);
    assert_true(ovop_msg_streq(m, 0, "new"));
    assert_true(ovop_msg_streq(m, 1, "y"));
    ovop_msg_drop_front(m, 10); /* more than there are */
    assert_int_equal(ovop_msg_frames(m), 0);
    ovop_msg_addstr(m, "z");
    assert_int_equal(ovop_msg_frames(m), 1);
    assert_true(ovop_msg_streq(m, 0, "z"));
    ovop_msg_destroy(&m);
}

static void test_move_and_copy(void **state)
{
    char big[4096];
    memset(big, 'q', sizeof(big));
    ovop_msg_t *src = ovop_msg_new();
    ovop_msg_addstr(src, "small");
    ovop_msg_addmem(src, big, sizeof(big));
    ovop_msg_t *dst = ovop_msg_new();

    ovop_msg_copy_frame(dst, src, 1);
    assert_int_equal(ovop_msg_len(dst, 0), sizeof(big));
    /* A large frame is shared, not duplicated. */
    assert_ptr_equal(ovop_msg_data(dst, 0), ovop_msg_data(src, 1));
    ovop_msg_copy_frame(dst, src, 0);
    assert_true(ovop_msg_streq(dst, 1, "small"));
    assert_true(ovop_msg_streq(src, 0, "small"));

    ovop_msg_move_frame(dst, src, 0);
    assert_true(ovop_msg_streq(dst, 2, "small"));
    assert_int_equal(ovop_msg_len(src, 0), 0); /* moved out */
    assert_int_equal(ovop_msg_frames(src), 2);

    ovop_msg_destroy(&src); /* dst's shared copy stays valid */
    assert_memory_equal(ovop_msg_data(dst, 0), big, sizeof(big));
    assert_int_equal(ovop_msg_bytes(dst), sizeof(big) + 10);
    ovop_msg_destroy(&dst);
}

static void test_send_recv(void **state)
{
    void *ctx = zmq_ctx_new();
    void *a = zmq_socket(ctx, ZMQ_PAIR);
    void *b = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(a, "inproc://test-msg"), 0);
    assert_int_equal(zmq_connect(b, "inproc://test-msg"), 0);

    ovop_msg_t *m = NULL;
    assert_int_equal(ovop_msg_recv(&m, b, ZMQ_DONTWAIT), -EAGAIN);
    assert_null(m);

    m = ovop_msg_new();
    ovop_msg_addstr(m, "h");
    ovop_msg_addmem(m, NULL, 0);
    ovop_msg_addstr(m, "body");
    assert_int_equal(ovop_msg_send(&m, a, 0), 0);
    assert_null(m);
    assert_int_equal(ovop_msg_recv(&m, b, 0), 0);
    assert_int_equal(ovop_msg_frames(m), 3);
    assert_true(ovop_msg_streq(m, 0, "h"));
    assert_int_equal(ovop_msg_len(m, 1), 0);
    assert_true(ovop_msg_streq(m, 2, "body"));
    ovop_msg_destroy(&m);

    /* An empty message sends nothing and is consumed. */
    m = ovop_msg_new();
    assert_int_equal(ovop_msg_send(&m, a, 0), 0);
    assert_null(m);
    assert_int_equal(ovop_msg_recv(&m, b, ZMQ_DONTWAIT), -EAGAIN);

    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_and_read),
        cmocka_unit_test(test_push),
        cmocka_unit_test(test_drop_front_then_push),
        cmocka_unit_test(test_move_and_copy),
        cmocka_unit_test(test_send_recv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
