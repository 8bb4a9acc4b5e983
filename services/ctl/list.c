/* The list verbs: their flags filled into the request by field name, and the paging loop
 * they share; see ctl_list_verb() and ctl_list_pages() in ctl.h. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl.h"
#include "page.h"

int ctl_list_pages(ctl_t *c, const ctl_list_t *list, ProtobufCMessage *request,
                   const char *page_token, bool all)
{
    const ProtobufCFieldDescriptor *token_f = ovop_pb_field(
        request->descriptor, "page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    const ProtobufCFieldDescriptor *rows_f = ovop_pb_field(
        list->response, list->rows, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_MESSAGE);
    const ProtobufCFieldDescriptor *next_f = ovop_pb_field(
        list->response, "next_page_token", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_STRING);
    char **in_token = (char **)((char *)request + token_f->offset);

    char *next = xstrdup(page_token ? page_token : "");
    unsigned total = 0;
    int r;
    if (!c->json)
        ctl_print_header(list->columns, list->n_columns);
    do {
        *in_token = next;
        ProtobufCMessage *out = NULL;
        r = ctl_call(c, list->service, list->method, request, list->response, &out);
        if (r != CTL_EXIT_OK)
            break;
        size_t n = *(const size_t *)((const char *)out + rows_f->quantifier_offset);
        const ProtobufCMessage *const *rows =
            *(const ProtobufCMessage *const *const *)((const char *)out + rows_f->offset);
        if (c->json)
            ctl_print_json(out);
        else
            for (size_t i = 0; i < n; i++)
                list->print_row(rows[i]);
        total += (unsigned)n;
        free(next);
        next = xstrdup(*(char *const *)((const char *)out + next_f->offset));
        protobuf_c_message_free_unpacked(out, NULL);
    } while (all && next[0]);
    *in_token = NULL;
    if (r == CTL_EXIT_OK && !c->json && list->one) {
        printf("(%u %s", total, total == 1 ? list->one : list->many);
        if (next[0])
            printf("; more with --page-token %s or --all", next);
        printf(")\n");
    }
    free(next);
    return r;
}

/* A flag's value, where ovop_config_parse() writes it (each member at the union's address). */
typedef union value {
    char *s;
    int64_t i;
    bool b;
} value_t;

/* Sets the number, enum or bool field f of m to v. */
static void set_number(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, int64_t v)
{
    void *p = (char *)m + f->offset;
    assert(f->label == PROTOBUF_C_LABEL_NONE);
    switch (f->type) {
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_INT32:
        *(int32_t *)p = (int32_t)v;
        break;
    case PROTOBUF_C_TYPE_UINT32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case PROTOBUF_C_TYPE_INT64:
        *(int64_t *)p = v;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        *(protobuf_c_boolean *)p = v != 0;
        break;
    default:
        assert(!"a filter's field is a number, an enum, a bool, a string or a message");
    }
}

/* Fills the field of filter f into m from its value v. A message it makes is put in
 * *ret_made for the caller to free. Returns 0 or the exit code of a value parse refused. */
static int fill(const ctl_filter_t *f, const value_t *v, ProtobufCMessage *m, void **ret_made)
{
    const ProtobufCFieldDescriptor *field =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, f->field);
    assert(field && field->label == PROTOBUF_C_LABEL_NONE);
    void *p = (char *)m + field->offset;
    int64_t number = 0;
    int r;
    switch (f->type) {
    case OVOP_OPT_STRING:
        if (!v->s)
            return 0;
        if (f->parse_message) {
            const ProtobufCMessageDescriptor *d = field->descriptor;
            ProtobufCMessage *sub = *ret_made = xcalloc(1, d->sizeof_message);
            protobuf_c_message_init(d, sub);
            *(ProtobufCMessage **)p = sub;
            return f->parse_message(v->s, sub);
        }
        if (!f->parse) {
            assert(field->type == PROTOBUF_C_TYPE_STRING);
            *(char **)p = v->s;
            return 0;
        }
        if ((r = f->parse(v->s, &number)) == 0)
            set_number(m, field, number);
        return r;
    case OVOP_OPT_INT:
        set_number(m, field, v->i);
        return 0;
    case OVOP_OPT_BOOL:
        if (v->b)
            set_number(m, field, f->when_set ? f->when_set : 1);
        return 0;
    }
    return 0;
}

/* The options of list verb v: its filters, then --page-size, --page-token and --all, writing
 * into values (as many). */
static ovop_opt_t *list_opts(const ctl_list_verb_t *v, value_t *values)
{
    size_t nf = v->n_filters;
    ovop_opt_t *opts = xcalloc(nf + 3, sizeof(*opts));
    for (size_t i = 0; i < nf; i++) {
        const ctl_filter_t *f = &v->filters[i];
        opts[i] = (ovop_opt_t){.name = f->name,
                               .type = f->type,
                               .def = f->type == OVOP_OPT_INT    ? "0"
                                      : f->type == OVOP_OPT_BOOL ? "false"
                                                                 : NULL,
                               .max = f->max,
                               .help = f->help,
                               .target = &values[i]};
    }
    opts[nf] = (ovop_opt_t){.name = "page-size",
                            .type = OVOP_OPT_INT,
                            .def = "0",
                            .max = 1000,
                            .help = v->page_size_help,
                            .target = &values[nf].i};
    opts[nf + 1] = (ovop_opt_t){.name = "page-token",
                                .type = OVOP_OPT_STRING,
                                .help = "continue from a previous page",
                                .target = &values[nf + 1].s};
    opts[nf + 2] = (ovop_opt_t){.name = "all",
                                .type = OVOP_OPT_BOOL,
                                .def = "false",
                                .help = "follow page tokens to the end",
                                .target = &values[nf + 2].b};
    return opts;
}

int ctl_list_verb(ctl_t *c, const ctl_list_verb_t *v, int argc, char **argv)
{
    size_t nf = v->n_filters, n = nf + 3;
    value_t *values = xcalloc(n, sizeof(*values));
    ovop_opt_t *opts = list_opts(v, values);
    void **made = xcalloc(nf + 1, sizeof(*made));
    ProtobufCMessage *in = xcalloc(1, v->request->sizeof_message);
    protobuf_c_message_init(v->request, in);

    /* Stray arguments are judged before or after the filters' values, as v says. */
    ctl_verb_t frame = v->verb;
    frame.n_args = CTL_ARGS_ANY;
    int argi;
    int r = ctl_verb_parse(&frame, opts, n, &argc, argv, &argi);
    if (r == 0 && !v->filters_first)
        r = ctl_verb_args(&v->verb, argc, argv, argi);
    for (size_t i = 0; r == 0 && i < nf; i++)
        r = fill(&v->filters[i], &values[i], in, &made[i]);
    if (r == 0 && v->filters_first)
        r = ctl_verb_args(&v->verb, argc, argv, argi);
    if (r == 0) {
        const ProtobufCFieldDescriptor *size_f =
            ovop_pb_field(v->request, "page_size", PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_UINT32);
        set_number(in, size_f, values[nf].i);
        r = ctl_list_pages(c, &v->list, in, values[nf + 1].s, values[nf + 2].b);
    }
    for (size_t i = 0; i < nf; i++)
        free(made[i]);
    free(made);
    free(in);
    ovop_config_free(opts, n);
    free(opts);
    free(values);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_list_cmd(ctl_t *c, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return ctl_list_verb(c, cmd->list, argc, argv);
}
