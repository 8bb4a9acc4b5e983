/* A fuzz target over one service, driven by its service descriptor: the first input byte
 * picks a method (modulo the number of rpcs), the rest is that method's input as it would
 * arrive in an envelope. Every rpc is bound to one generic handler that walks the decoded
 * input and runs the service's real checks on its fields (field_fn, by field name), then
 * answers with the violations or an empty output; no database is involved. It asserts what
 * the decoding promises: the handler sees only NUL-free UTF-8 strings (the input re-encoded
 * passes the wire scan clean), the decoded input stayed within its memory budget, and every
 * reply decodes. Included by one fuzz-<service>.c each. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dispatch.h"
#include "envelope.h"
#include "permissions.h"
#include "testprincipal.h"

/* Runs the service's checks on one field of the decoded input: value points at the member
 * (char ** for a string, ProtobufCMessage ** for a message, uint32_t * for a uint32). */
typedef void (*fuzz_field_fn)(ovop_call_t *call, const char *path,
                              const ProtobufCFieldDescriptor *f, const void *value);

static fuzz_field_fn fuzz_field;

static void fuzz_string_seen(void *userdata, const char *path, const char *why)
{
    (void)userdata;
    fprintf(stderr, "a handler saw a bad string at %s (%s)\n", path, why);
    abort();
}

static void fuzz_walk(ovop_call_t *call, const ProtobufCMessage *m, const char *prefix,
                      unsigned depth);

/* One element of field f at p. */
static void fuzz_element(ovop_call_t *call, const ProtobufCFieldDescriptor *f, const void *p,
                         const char *path, unsigned depth)
{
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)p;
        ovop_check_text(call, path, s, 4096, false);
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub)
            fuzz_walk(call, sub, path, depth + 1);
    }
    fuzz_field(call, path, f, p);
}

static void fuzz_walk(ovop_call_t *call, const ProtobufCMessage *m, const char *prefix,
                      unsigned depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > 40)
        abort(); /* the wire scan bounds depth at 32 */
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m;
        char path[512];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", f->name);
            fuzz_element(call, f, base + f->offset, path, depth);
            continue;
        }
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        const char *arr = *(char *const *)(base + f->offset);
        size_t size = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
                          ? sizeof(void *)
                          : 0;
        for (size_t j = 0; size && j < n; j++) {
            snprintf(path, sizeof(path), "%s%s%s[%zu]", prefix, *prefix ? "." : "", f->name, j);
            fuzz_element(call, f, arr + j * size, path, depth);
        }
    }
}

static const ProtobufCServiceDescriptor *fuzz_desc;
static size_t fuzz_body_len;

static void fuzz_handler(ovop_call_t *call, const ProtobufCMessage *in, void *userdata)
{
    (void)userdata;
    /* Decoding kept to its budget (what the handler allocated comes after). */
    if (ovop_arena_used(ovop_call_arena(call)) > OVOP_DECODE_BUDGET(fuzz_body_len) + 65536)
        abort();
    size_t n = protobuf_c_message_get_packed_size(in);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(in, buf);
    const char *why;
    if (ovop_wire_scan(in->descriptor, buf, n, NULL, fuzz_string_seen, NULL, &why) == -EBADMSG)
        abort();
    free(buf);
    fuzz_walk(call, in, "", 0);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const ProtobufCMethodDescriptor *md =
        protobuf_c_service_descriptor_get_method_by_name(fuzz_desc, ovop_call_method(call));
    ovop_call_finish(call, ovop_call_message(call, md->output));
}

static void fuzz_on_done(void *userdata, void *reply, size_t len)
{
    int *answered = userdata;
    Ovop__V1__Reply *r = ovop__v1__reply__unpack(NULL, len, reply);
    if (!r)
        abort();
    ovop__v1__reply__free_unpacked(r, NULL);
    free(reply);
    (*answered)++;
}

/* A dispatcher of desc with every rpc bound to the generic handler and open to the test
 * principal (who holds "*"). */
static ovop_dispatch_t *fuzz_dispatch_new(const ProtobufCServiceDescriptor *desc,
                                          const char *service)
{
    ovop_dispatch_t *d = ovop_dispatch_new(desc, service, OVOP_DEFAULT_MAX_MSG, NULL);
    ovop_method_t *rows = calloc(desc->n_methods, sizeof(*rows));
    ovop_buf_t perm;
    ovop_buf_init(&perm);
    for (unsigned i = 0; i < desc->n_methods; i++) {
        rows[i] = (ovop_method_t){desc->methods[i].name, fuzz_handler};
        ovop_buf_printf(&perm, "%s %s *\n", service, desc->methods[i].name);
    }
    ovop_dispatch_declare(d, rows, desc->n_methods, NULL); /* rows live as long as d */
    ovop_dispatch_permit(d, perm.data);
    ovop_buf_free(&perm);
    const char *why;
    if (ovop_dispatch_verify(d, &why) < 0) {
        fprintf(stderr, "%s\n", why);
        abort();
    }
    return d;
}

/* The body of LLVMFuzzerTestOneInput for a service. */
static int fuzz_service_one(const ProtobufCServiceDescriptor *desc, const char *service,
                            fuzz_field_fn field_fn, const uint8_t *data, size_t size)
{
    static ovop_dispatch_t *d;
    if (!d) {
        fuzz_desc = desc;
        fuzz_field = field_fn;
        d = fuzz_dispatch_new(desc, service);
    }
    if (size < 1)
        return 0;
    const char *method = desc->methods[data[0] % desc->n_methods].name;
    size_t len;
    fuzz_body_len = size - 1;
    void *req = ovop_request_encode("fuzz-1", method, data + 1, size - 1, 0, NULL, &len);
    int answered = 0;
    ovop_dispatch_handle(d, req, len, test_principal, sizeof(test_principal) - 1, fuzz_on_done,
                         &answered);
    if (answered != 1 || ovop_dispatch_inflight(d) != 0)
        abort();
    free(req);
    return 0;
}
