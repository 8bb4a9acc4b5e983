#include "permissions.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static bool word_ok(const char *w, bool role)
{
    if (role && strcmp(w, OVOP_PERMISSION_ANY) == 0)
        return true;
    if (!*w || strlen(w) > 64)
        return false;
    for (const char *p = w; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == ':'))
            return false;
    return true;
}

void ovop_permissions_free(ovop_permission_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].service);
        free(rows[i].method);
        for (size_t j = 0; j < rows[i].n_roles; j++)
            free(rows[i].roles[j]);
        free(rows[i].roles);
    }
    free(rows);
}

int ovop_permissions_parse(const char *text, ovop_permission_row_t **ret_rows, size_t *ret_n,
                           char **ret_why)
{
    ovop_permission_row_t *rows = NULL;
    size_t n = 0;
    char *copy = xstrdup(text);
    char *save_line = NULL;
    int line = 0;
    char *why = NULL;
    for (char *l = copy; l && !why; l = save_line) {
        char *nl = strchr(l, '\n');
        save_line = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        line++;
        char *hash = strchr(l, '#');
        if (hash)
            *hash = '\0';
        char *words[64];
        size_t nw = 0;
        char *save = NULL;
        for (char *w = strtok_r(l, " \t\r", &save); w && nw < OVOP_ARRAY_SIZE(words);
             w = strtok_r(NULL, " \t\r", &save))
            words[nw++] = w;
        if (nw == 0)
            continue;
        if (nw < 3) {
            why = xasprintf("line %d: expected SERVICE METHOD ROLE...", line);
            break;
        }
        for (size_t i = 0; i < nw && !why; i++)
            if (!word_ok(words[i], i >= 2))
                why = xasprintf("line %d: \"%s\" is not a valid %s", line, words[i],
                                i == 0   ? "service"
                                : i == 1 ? "method"
                                         : "role");
        for (size_t i = 0; i < n && !why; i++)
            if (strcmp(rows[i].service, words[0]) == 0 && strcmp(rows[i].method, words[1]) == 0)
                why = xasprintf("line %d: %s %s is listed twice (first on line %d)", line, words[0],
                                words[1], rows[i].line);
        if (why)
            break;
        rows = xrealloc(rows, (n + 1) * sizeof(*rows));
        ovop_permission_row_t *r = &rows[n++];
        r->service = xstrdup(words[0]);
        r->method = xstrdup(words[1]);
        r->n_roles = nw - 2;
        r->roles = xcalloc(r->n_roles, sizeof(char *));
        for (size_t i = 2; i < nw; i++)
            r->roles[i - 2] = xstrdup(words[i]);
        r->line = line;
    }
    free(copy);
    if (why) {
        ovop_permissions_free(rows, n);
        *ret_why = why;
        return -EINVAL;
    }
    *ret_rows = rows;
    *ret_n = n;
    return 0;
}
