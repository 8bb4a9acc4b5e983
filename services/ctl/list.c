/* The paging loop every list verb shares; see ctl_list_pages() in ctl.h. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "page.h"

int ctl_list_pages(ctl_t *c, const ctl_list_t *spec)
{
    const ProtobufCFieldDescriptor *token_f = ovop_pb_field(
        spec->request->descriptor, "page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    const ProtobufCFieldDescriptor *rows_f = ovop_pb_field(
        spec->response, spec->rows, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE);
    const ProtobufCFieldDescriptor *next_f = ovop_pb_field(
        spec->response, "next_page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    char **in_token = (char **)((char *)spec->request + token_f->offset);

    char *next = xstrdup(spec->page_token ? spec->page_token : "");
    unsigned total = 0;
    int r;
    if (!c->json)
        spec->print_header();
    do {
        *in_token = next;
        ProtobufCMessage *out = NULL;
        r = ctl_call(c, spec->service, spec->method, spec->request, spec->response, &out);
        if (r != CTL_EXIT_OK)
            break;
        size_t n = *(const size_t *)((const char *)out + rows_f->quantifier_offset);
        const ProtobufCMessage *const *rows =
            *(const ProtobufCMessage *const *const *)((const char *)out + rows_f->offset);
        if (c->json)
            ctl_print_json(out);
        else
            for (size_t i = 0; i < n; i++)
                spec->print_row(rows[i]);
        total += (unsigned)n;
        free(next);
        next = xstrdup(*(char *const *)((const char *)out + next_f->offset));
        protobuf_c_message_free_unpacked(out, NULL);
    } while (spec->all && next[0]);
    *in_token = NULL;
    if (r == CTL_EXIT_OK && !c->json) {
        printf("(%u %s", total, total == 1 ? spec->one : spec->many);
        if (next[0])
            printf("; more with --page-token %s or --all", next);
        printf(")\n");
    }
    free(next);
    return r;
}
