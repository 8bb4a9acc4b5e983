/* A multipart ZeroMQ message: an ordered list of frames (zmq_msg_t), moved between sockets
 * without copying. ovop_msg_send(&m) takes ownership on success. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <zmq.h>

typedef struct ovop_msg ovop_msg_t;

ovop_msg_t *ovop_msg_new(void);
void ovop_msg_destroy(ovop_msg_t **m);

size_t ovop_msg_frames(const ovop_msg_t *m);
/* Sum of the frame sizes. */
size_t ovop_msg_bytes(const ovop_msg_t *m);
const void *ovop_msg_data(const ovop_msg_t *m, size_t i);
size_t ovop_msg_len(const ovop_msg_t *m, size_t i);
/* The frame itself, e.g. to zmq_msg_move() it elsewhere. i must be < frames. */
zmq_msg_t *ovop_msg_frame(ovop_msg_t *m, size_t i);
bool ovop_msg_eq(const ovop_msg_t *m, size_t i, const void *p, size_t n);
bool ovop_msg_streq(const ovop_msg_t *m, size_t i, const char *s);
/* Copies frame i into a NUL-terminated malloc'd string (binary content is kept as is). */
char *ovop_msg_strdup(const ovop_msg_t *m, size_t i);

void ovop_msg_addmem(ovop_msg_t *m, const void *p, size_t n);
void ovop_msg_addstr(ovop_msg_t *m, const char *s);
void ovop_msg_pushmem(ovop_msg_t *m, const void *p, size_t n);
void ovop_msg_pushstr(ovop_msg_t *m, const char *s);
/* Appends a frame whose storage moves in: data is free()d when the frame is. */
void ovop_msg_addmem_take(ovop_msg_t *m, void *data, size_t n);
/* Moves frame i of src to the end of dst; src's frame becomes empty. */
void ovop_msg_move_frame(ovop_msg_t *dst, ovop_msg_t *src, size_t i);
/* Appends a copy of frame i of src (a reference-counted copy, no byte copy for large frames). */
void ovop_msg_copy_frame(ovop_msg_t *dst, const ovop_msg_t *src, size_t i);
/* Drops the first n frames. */
void ovop_msg_drop_front(ovop_msg_t *m, size_t n);

/* Receives one whole multipart message. Returns 0 or -errno (-EAGAIN with ZMQ_DONTWAIT). */
int ovop_msg_recv(ovop_msg_t **ret, void *sock, int flags);
/* Sends all frames. On success *m is consumed and nulled. On -EAGAIN nothing was sent and
 * *m is intact. On another error *m is intact too; the caller decides. */
int ovop_msg_send(ovop_msg_t **m, void *sock, int flags);
