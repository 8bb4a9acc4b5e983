/* ovopctl: output for people and for scripts: JSON documents, table cells and headers,
 * amounts, and the names of enum values. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "pbrow.h"
#include "pbjson.h"

void ctl_print_json(const ProtobufCMessage *m)
{
    json_t *j = ovop_pb_to_json(m);
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(j);
}

void ctl_print_cell(const char *s, int width)
{
    int chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80)
            chars++;
    fputs(s, stdout);
    for (int i = chars; i < width; i++)
        fputc(' ', stdout);
    fputc(' ', stdout);
}

void ctl_print_int_cell(long long v, int width)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", v);
    ctl_print_cell(s, width);
}

void ctl_print_header(const ctl_column_t *cols, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        ctl_print_cell(cols[i].title, cols[i].width);
    printf("%s\n", n ? cols[n - 1].title : "");
}

const char *ctl_amount(double v, char out[static 32])
{
    snprintf(out, 32, "%.3f", v);
    char *dot = strchr(out, '.');
    if (dot) {
        char *end = out + strlen(out) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    return out;
}

const char *ctl_enum_name(const ProtobufCEnumDescriptor *desc, int v)
{
    if (v == 0)
        return "-";
    const char *text = ovop_enum_text(desc, v);
    return text[0] ? text : "?";
}

int ctl_enum_index(const ProtobufCEnumDescriptor *desc, const char *s)
{
    return ovop_enum_value(desc, s);
}
