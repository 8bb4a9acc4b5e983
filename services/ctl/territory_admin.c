/* ovopctl territory create|rename|reparent|retire|import: changes to the SOATE classifier,
 * one territory at a time or from the statistics committee's CSV list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ovop/v1/registry.pb-c.h"

#define IMPORT_MAX_BATCH 1000      /* the service's limit per request */
#define IMPORT_MAX_BYTES (1 << 19) /* keep a request well under the 1 MiB message limit */
#define MAX_FIELDS       16

/* The verbs' frame: flags may follow the code, and the usage line names the family. */
#define ADMIN_VERB(prog_, usage_, summary_)                                                        \
    {                                                                                              \
        .prog = (prog_), .usage = (usage_), .summary = (summary_), .n_args = 1,                    \
        .flags_anywhere = true, .usage_prog = "ovopctl territory"                                  \
    }

/* Sends one change and prints the territory it answers with. */
static int send_change(ctl_t *c, const char *method, const ProtobufCMessage *in)
{
    return ctl_call_show(c, "ovop.registry", method, in, &ovop__v1__territory__descriptor,
                         ctl_print_territory);
}

static int territory_create(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ADMIN_VERB("ovopctl territory create",
                   "create CODE --kind KIND --parent CODE --ru NAME [--ky NAME] [--en NAME] "
                   "[--lat X --lon Y] [--valid-from YYYY-MM-DD]",
                   "Creates a territory.");
    char *kind = NULL, *parent = NULL, *ru = NULL, *ky = NULL, *en = NULL, *lat = NULL, *lon = NULL,
         *valid_from = NULL;
    const ovop_opt_t opts[] = {
        {"kind", OVOP_OPT_STRING, NULL, 0, 0,
         "oblast, city_republican, city_oblast, city_district, rayon, aiyl_aimak, town, village",
         &kind},
        {"parent", OVOP_OPT_STRING, NULL, 0, 0, "code of the territory it lies in", &parent},
        {"ru", OVOP_OPT_STRING, NULL, 0, 0, "name in Russian (required)", &ru},
        {"ky", OVOP_OPT_STRING, NULL, 0, 0, "name in Kyrgyz", &ky},
        {"en", OVOP_OPT_STRING, NULL, 0, 0, "name in English", &en},
        {"lat", OVOP_OPT_STRING, NULL, 0, 0, "latitude, decimal degrees", &lat},
        {"lon", OVOP_OPT_STRING, NULL, 0, 0, "longitude, decimal degrees", &lon},
        {"valid-from", OVOP_OPT_STRING, NULL, 0, 0, "first day it exists (default: today)",
         &valid_from},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && (!kind || !parent || !ru || (!lat != !lon)))
        r = ctl_misuse(&verb);
    if (r == 0) {
        Ovop__V1__CreateTerritoryRequest in = OVOP__V1__CREATE_TERRITORY_REQUEST__INIT;
        Ovop__V1__LocalizedName name = OVOP__V1__LOCALIZED_NAME__INIT;
        Ovop__V1__GeoPoint loc = OVOP__V1__GEO_POINT__INIT;
        name.ru = ru;
        name.ky = ky ? ky : "";
        name.en = en ? en : "";
        if (lat) {
            loc.set = true;
            loc.lat = strtod(lat, NULL);
            loc.lon = strtod(lon, NULL);
        }
        in.code = argv[argi];
        in.kind = kind;
        in.parent_code = parent;
        in.name = &name;
        in.location = &loc;
        in.valid_from = valid_from ? valid_from : "";
        r = send_change(c, "CreateTerritory", &in.base);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int territory_rename(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ADMIN_VERB("ovopctl territory rename",
                   "rename CODE [--ru NAME] [--ky NAME] [--en NAME] [--on YYYY-MM-DD]",
                   "Renames a territory from a date; names not given stay as they are.");
    char *ru = NULL, *ky = NULL, *en = NULL, *on = NULL;
    const ovop_opt_t opts[] = {
        {"ru", OVOP_OPT_STRING, NULL, 0, 0, "new name in Russian", &ru},
        {"ky", OVOP_OPT_STRING, NULL, 0, 0, "new name in Kyrgyz", &ky},
        {"en", OVOP_OPT_STRING, NULL, 0, 0, "new name in English", &en},
        {"on", OVOP_OPT_STRING, NULL, 0, 0,
         "the day the new name takes effect (default: today); the old one stays valid before", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !ru && !ky && !en)
        r = ctl_misuse(&verb);
    if (r == 0) {
        Ovop__V1__RenameTerritoryRequest in = OVOP__V1__RENAME_TERRITORY_REQUEST__INIT;
        Ovop__V1__LocalizedName name = OVOP__V1__LOCALIZED_NAME__INIT;
        name.ru = ru ? ru : "";
        name.ky = ky ? ky : "";
        name.en = en ? en : "";
        in.code = argv[argi];
        in.name = &name;
        in.effective_on = on ? on : "";
        r = send_change(c, "RenameTerritory", &in.base);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int territory_reparent(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb =
        ADMIN_VERB("ovopctl territory reparent", "reparent CODE --parent CODE [--on YYYY-MM-DD]",
                   "Moves a territory under another parent from a date.");
    char *parent = NULL, *on = NULL;
    const ovop_opt_t opts[] = {
        {"parent", OVOP_OPT_STRING, NULL, 0, 0, "code of the new parent", &parent},
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the day of the move (default: today)", &on},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0 && !parent)
        r = ctl_misuse(&verb);
    if (r == 0) {
        Ovop__V1__ReparentTerritoryRequest in = OVOP__V1__REPARENT_TERRITORY_REQUEST__INIT;
        in.code = argv[argi];
        in.parent_code = parent;
        in.effective_on = on ? on : "";
        r = send_change(c, "ReparentTerritory", &in.base);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

static int territory_retire(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = ADMIN_VERB(
        "ovopctl territory retire", "retire CODE [--on YYYY-MM-DD] [--superseded-by CODE]",
        "Retires a territory from a date.");
    char *on = NULL, *successor = NULL;
    const ovop_opt_t opts[] = {
        {"on", OVOP_OPT_STRING, NULL, 0, 0, "the first day it no longer exists (default: today)",
         &on},
        {"superseded-by", OVOP_OPT_STRING, NULL, 0, 0, "code of its successor", &successor},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r == 0) {
        Ovop__V1__RetireTerritoryRequest in = OVOP__V1__RETIRE_TERRITORY_REQUEST__INIT;
        in.code = argv[argi];
        in.effective_on = on ? on : "";
        in.superseded_by = successor ? successor : "";
        r = send_change(c, "RetireTerritory", &in.base);
    }
    ovop_config_free(opts, n);
    return r < 0 ? CTL_EXIT_OK : r;
}

/* --- import: an RFC 4180 reader and the batches --- */

/* One record of the file: its line number and fields (pointing into the record's own
 * buffer), or the reason it could not be read. */
typedef struct csv_record {
    unsigned line;
    char *buf;
    char *fields[MAX_FIELDS];
    size_t n_fields;
    char *error;
} csv_record_t;

/* Splits one physical line (without its line break) into fields. Quoted fields may hold
 * commas and doubled quotes; unquoted fields lose surrounding blanks and may not contain a
 * quote. A quoted field must close on its line: territory names never span lines, and a stray
 * quote then costs that one line instead of swallowing the rest of the file. */
static void csv_split(const char *line, size_t len, csv_record_t *rec)
{
    char *out = rec->buf = xmalloc(len + 1);
    size_t i = 0;
    for (;;) {
        if (rec->n_fields == MAX_FIELDS) {
            rec->error = xasprintf("has more than %d fields", MAX_FIELDS);
            return;
        }
        rec->fields[rec->n_fields++] = out;
        size_t field = rec->n_fields;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i < len && line[i] == '"') {
            for (i++;; i++) {
                if (i >= len) {
                    rec->error =
                        xasprintf("field %zu: a quoted field does not close on its line", field);
                    return;
                }
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        *out++ = '"';
                        i++;
                        continue;
                    }
                    i++;
                    break;
                }
                *out++ = line[i];
            }
            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i < len && line[i] != ',') {
                rec->error = xasprintf("field %zu: text after the closing quote (a quote inside "
                                       "a quoted field is written twice: \"\")",
                                       field);
                return;
            }
        } else {
            char *start = out;
            for (; i < len && line[i] != ','; i++) {
                if (line[i] == '"') {
                    rec->error = xasprintf("field %zu: a quote inside an unquoted field (quote "
                                           "the whole field and write the quote twice)",
                                           field);
                    return;
                }
                *out++ = line[i];
            }
            while (out > start && (out[-1] == ' ' || out[-1] == '\t'))
                out--;
        }
        *out++ = '\0';
        if (i >= len)
            return;
        i++; /* the comma */
    }
}

typedef struct csv_file {
    csv_record_t *records; /* data records, the header excluded */
    size_t n, cap;
    char *data;
} csv_file_t;

static void csv_free(csv_file_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->records[i].buf);
        free(f->records[i].error);
    }
    free(f->records);
    free(f->data);
}

/* Reads path into records: CRLF or LF line breaks, a UTF-8 byte order mark skipped, blank
 * lines skipped, the first non-blank line taken as the header. Returns 0 or -errno. */
static int csv_read(const char *path, csv_file_t *f)
{
    memset(f, 0, sizeof(*f));
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -errno;
    ovop_buf_t b;
    ovop_buf_init(&b);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        ovop_buf_append(&b, chunk, got);
    int err = ferror(fp) ? -EIO : 0;
    fclose(fp);
    if (err) {
        ovop_buf_free(&b);
        return err;
    }
    f->data = b.data ? b.data : xstrdup("");
    const char *p = f->data, *end = f->data + b.len;
    if (b.len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        p += 3;
    bool header = true;
    for (unsigned line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t len = (size_t)(stop - p);
        if (len && p[len - 1] == '\r')
            len--;
        size_t blank = 0;
        while (blank < len && (p[blank] == ' ' || p[blank] == '\t'))
            blank++;
        if (blank < len) {
            if (header) {
                header = false;
            } else {
                if (f->n == f->cap) {
                    f->cap = f->cap ? 2 * f->cap : 1024;
                    f->records = xrealloc(f->records, f->cap * sizeof(*f->records));
                }
                csv_record_t *rec = &f->records[f->n++];
                memset(rec, 0, sizeof(*rec));
                rec->line = line;
                csv_split(p, len, rec);
            }
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* The rejections of the whole run: the reader's and the service's. */
typedef struct import_totals {
    Ovop__V1__ImportTerritoriesResponse sum;
    Ovop__V1__ImportRejection **rejected;
    size_t n_rejected, cap;
} import_totals_t;

static void add_rejection(import_totals_t *t, unsigned line, const char *code, const char *reason)
{
    if (t->n_rejected == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->rejected = xrealloc(t->rejected, t->cap * sizeof(*t->rejected));
    }
    Ovop__V1__ImportRejection *x = xmalloc(sizeof(*x));
    ovop__v1__import_rejection__init(x);
    x->line = line;
    x->code = xstrdup(code);
    x->reason = xstrdup(reason);
    t->rejected[t->n_rejected++] = x;
}

static int compare_rejection(const void *a, const void *b)
{
    const Ovop__V1__ImportRejection *x = *(Ovop__V1__ImportRejection *const *)a;
    const Ovop__V1__ImportRejection *y = *(Ovop__V1__ImportRejection *const *)b;
    return (x->line > y->line) - (x->line < y->line);
}

static void digits_of(const char *s, char out[static 33])
{
    size_t k = 0;
    for (; *s && k < 32; s++)
        if (*s >= '0' && *s <= '9')
            out[k++] = *s;
    out[k] = '\0';
}

/* Checks what the reader can: the number of fields and their encoding. Returns the reason
 * a record is rejected here, or NULL to send it. */
static const char *record_problem(csv_record_t *rec, char *buf, size_t size)
{
    static const char *const names[] = {"code",    "kind",        "name_ru",
                                        "name_ky", "parent code", "name_en"};
    if (rec->error)
        return rec->error;
    if (rec->n_fields < 5 || rec->n_fields > 6) {
        snprintf(buf, size,
                 "has %zu fields, expected 5 or 6: code, kind, name_ru, name_ky, parent code "
                 "[, name_en]",
                 rec->n_fields);
        return buf;
    }
    for (size_t i = 0; i < rec->n_fields; i++)
        if (!ovop_utf8_valid(rec->fields[i], strlen(rec->fields[i]))) {
            snprintf(buf, size, "%s is not valid UTF-8 (save the file as UTF-8)", names[i]);
            return buf;
        }
    return NULL;
}

typedef struct sendable {
    csv_record_t *rec;
    char code[33];
    size_t ordinal; /* position among the data records, for progress */
} sendable_t;

static int compare_sendable_code(const void *a, const void *b)
{
    const sendable_t *x = *(sendable_t *const *)a, *y = *(sendable_t *const *)b;
    int c = strcmp(x->code, y->code);
    return c ? c : (x->rec->line > y->rec->line) - (x->rec->line < y->rec->line);
}

/* Sends rows [from, to) of s as one request and adds its answer to the totals. */
static int send_batch(ctl_t *c, sendable_t *s, size_t from, size_t to, const char *valid_from,
                      import_totals_t *t)
{
    size_t n = to - from;
    Ovop__V1__TerritoryImportRow *rows = xcalloc(n, sizeof(*rows));
    Ovop__V1__TerritoryImportRow **ptrs = xcalloc(n, sizeof(*ptrs));
    for (size_t i = 0; i < n; i++) {
        csv_record_t *rec = s[from + i].rec;
        ovop__v1__territory_import_row__init(&rows[i]);
        rows[i].line = rec->line;
        rows[i].code = rec->fields[0];
        rows[i].kind = rec->fields[1];
        rows[i].name_ru = rec->fields[2];
        rows[i].name_ky = rec->fields[3];
        rows[i].parent_code = rec->fields[4];
        rows[i].name_en = rec->n_fields > 5 ? rec->fields[5] : "";
        ptrs[i] = &rows[i];
    }
    Ovop__V1__ImportTerritoriesRequest in = OVOP__V1__IMPORT_TERRITORIES_REQUEST__INIT;
    in.n_rows = n;
    in.rows = ptrs;
    in.valid_from = (char *)valid_from;
    /* With --request-id, each batch's key is derived from it and the batch's lines, so that
     * running the same file again replays every batch instead of reusing one key for all. */
    char *rid = c->request_id, batch_rid[256];
    if (rid) {
        snprintf(batch_rid, sizeof(batch_rid), "%.200s/lines-%u-%u", rid, rows[0].line,
                 rows[n - 1].line);
        c->request_id = batch_rid;
    }
    ProtobufCMessage *out = NULL;
    int r = ctl_call(c, "ovop.registry", "ImportTerritories", &in.base,
                     &ovop__v1__import_territories_response__descriptor, &out);
    c->request_id = rid;
    if (r == CTL_EXIT_OK) {
        const Ovop__V1__ImportTerritoriesResponse *resp =
            (const Ovop__V1__ImportTerritoriesResponse *)out;
        t->sum.inserted += resp->inserted;
        t->sum.updated += resp->updated;
        t->sum.unchanged += resp->unchanged;
        for (size_t i = 0; i < resp->n_rejected; i++)
            add_rejection(t, resp->rejected[i]->line, resp->rejected[i]->code,
                          resp->rejected[i]->reason);
        protobuf_c_message_free_unpacked(out, NULL);
    }
    free(rows);
    free(ptrs);
    return r;
}

static void print_summary(ctl_t *c, import_totals_t *t)
{
    if (t->n_rejected) /* qsort's array may not be NULL, even for no elements */
        qsort(t->rejected, t->n_rejected, sizeof(*t->rejected), compare_rejection);
    t->sum.n_rejected = t->n_rejected;
    t->sum.rejected = t->rejected;
    if (c->json) {
        ctl_print_json(&t->sum.base);
        return;
    }
    printf("inserted   %u\n", t->sum.inserted);
    printf("updated    %u\n", t->sum.updated);
    printf("unchanged  %u\n", t->sum.unchanged);
    printf("rejected   %zu\n", t->n_rejected);
    for (size_t i = 0; i < t->n_rejected; i++)
        printf("  line %u%s%s%s: %s\n", t->rejected[i]->line, t->rejected[i]->code[0] ? " (" : "",
               t->rejected[i]->code, t->rejected[i]->code[0] ? ")" : "", t->rejected[i]->reason);
}

static void totals_free(import_totals_t *t)
{
    for (size_t i = 0; i < t->n_rejected; i++) {
        free(t->rejected[i]->code);
        free(t->rejected[i]->reason);
        free(t->rejected[i]);
    }
    free(t->rejected);
}

/* The records of f to send, in file order (*ret_n of them): the reader's rejections and
 * repeated codes (the later lines) never reach the service, they go to t's rejections. */
static sendable_t *screen_records(csv_file_t *f, import_totals_t *t, size_t *ret_n)
{
    sendable_t *s = xcalloc(f->n + 1, sizeof(*s));
    size_t n_send = 0;
    for (size_t i = 0; i < f->n; i++) {
        char buf[200];
        csv_record_t *rec = &f->records[i];
        const char *why = record_problem(rec, buf, sizeof(buf));
        if (why) {
            char code[33] = "";
            if (rec->n_fields > 1 || (!rec->error && rec->n_fields > 0))
                digits_of(rec->fields[0], code);
            add_rejection(t, rec->line, code, why);
            continue;
        }
        s[n_send].rec = rec;
        s[n_send].ordinal = i;
        digits_of(rec->fields[0], s[n_send].code);
        n_send++;
    }
    sendable_t **by_code = xcalloc(n_send + 1, sizeof(*by_code));
    for (size_t i = 0; i < n_send; i++)
        by_code[i] = &s[i];
    if (n_send) /* NULL with no elements is undefined for qsort */
        qsort(by_code, n_send, sizeof(*by_code), compare_sendable_code);
    for (size_t i = 1; i < n_send; i++) {
        sendable_t *first = by_code[i - 1], *again = by_code[i];
        if (first->rec && first->code[0] && strcmp(first->code, again->code) == 0) {
            char why[120];
            snprintf(why, sizeof(why), "code %s appears again (first on line %u)", again->code,
                     first->rec->line);
            add_rejection(t, again->rec->line, again->code, why);
            again->rec = NULL; /* dropped; `first` stays the reference for later repeats */
            by_code[i] = first;
        }
    }
    free(by_code);
    size_t kept = 0;
    for (size_t i = 0; i < n_send; i++)
        if (s[i].rec)
            s[kept++] = s[i];
    *ret_n = kept;
    return s;
}

/* The import's flags. */
typedef struct import_opts {
    char *valid_from;
    int64_t batch;
    bool progress;
} import_opts_t;

/* Sends s[0..n) (of the n_records of the file) in batches of at most o->batch rows and
 * IMPORT_MAX_BYTES of text, adding the answers to t. Stops at the first batch refused and
 * returns its exit code. */
static int send_batches(ctl_t *c, sendable_t *s, size_t n, size_t n_records, const import_opts_t *o,
                        import_totals_t *t)
{
    for (size_t from = 0; from < n;) {
        size_t to = from, bytes = 0;
        while (to < n && to - from < (size_t)o->batch) {
            size_t row = 64;
            for (size_t k = 0; k < s[to].rec->n_fields; k++)
                row += strlen(s[to].rec->fields[k]);
            if (to > from && bytes + row > IMPORT_MAX_BYTES)
                break;
            bytes += row;
            to++;
        }
        int r = send_batch(c, s, from, to, o->valid_from ? o->valid_from : "", t);
        if (r != CTL_EXIT_OK) {
            fprintf(stderr, "ovopctl: stopped at line %u; the lines before it were imported\n",
                    s[from].rec->line);
            return r;
        }
        if (o->progress)
            fprintf(stderr, "imported %zu/%zu rows\n", to < n ? s[to].ordinal : n_records,
                    n_records);
        from = to;
    }
    return CTL_EXIT_OK;
}

static int territory_import_file(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = ADMIN_VERB(
        "ovopctl territory import",
        "import FILE [--valid-from YYYY-MM-DD] [--batch N] [--progress]",
        "Imports the statistics committee's list of territories: a CSV file (UTF-8, "
        "comma-separated, RFC 4180 quoting) with a header line, then code, kind, name_ru, name_ky, "
        "parent code and optionally name_en. Codes may be written with spaces. New codes are "
        "inserted; codes whose kind, parent or names changed get a new version from --valid-from; "
        "empty name_ky or name_en keep the stored ones; parents must come before what lies under "
        "them. Lines that cannot be imported are listed with their number and reason, the others "
        "are imported. Exit status: 0 when every line was imported or unchanged, 1 when some "
        "lines were rejected (or the file could not be read), 10+N when the service answered "
        "with status N (the batches before it stay imported; running the file again is safe).");
    import_opts_t o = {0};
    const ovop_opt_t opts[] = {
        {"valid-from", OVOP_OPT_STRING, NULL, 0, 0,
         "first day of new and changed territories (default: today)", &o.valid_from},
        {"batch", OVOP_OPT_INT, "500", 1, IMPORT_MAX_BATCH, "rows per request", &o.batch},
        {"progress", OVOP_OPT_BOOL, "false", 0, 0,
         "report each batch on stderr even when it is not a terminal", &o.progress},
    };
    size_t n_opts = OVOP_ARRAY_SIZE(opts);
    csv_file_t f = {0};
    import_totals_t t = {.sum = OVOP__V1__IMPORT_TERRITORIES_RESPONSE__INIT};
    sendable_t *s = NULL;
    size_t n_send = 0;
    int argi;
    int r = ctl_verb_parse(&verb, opts, n_opts, &argc, argv, &argi);
    if (r != 0)
        goto out;
    int err = csv_read(argv[argi], &f);
    if (err < 0) {
        fprintf(stderr, "ovopctl: could not read \"%s\": %s\n", argv[argi], strerror(-err));
        r = CTL_EXIT_FAILURE;
        goto out;
    }
    o.progress = o.progress || isatty(STDERR_FILENO);
    s = screen_records(&f, &t, &n_send);
    r = send_batches(c, s, n_send, f.n, &o, &t);
    print_summary(c, &t);
    if (r == CTL_EXIT_OK && t.n_rejected > 0)
        r = CTL_EXIT_FAILURE;
out:
    totals_free(&t);
    free(s);
    csv_free(&f);
    ovop_config_free(opts, n_opts);
    return r < 0 ? CTL_EXIT_OK : r;
}

int ctl_territory_admin(ctl_t *c, int argc, char **argv)
{
    static const ctl_cmd_t cmds[] = {
        {.name = "create", .run = territory_create},
        {.name = "rename", .run = territory_rename},
        {.name = "reparent", .run = territory_reparent},
        {.name = "retire", .run = territory_retire},
        {.name = "import", .run = territory_import_file},
    };
    return ctl_run(c, cmds, OVOP_ARRAY_SIZE(cmds), argc, argv,
                   "ovopctl territory create|rename|reparent|retire|import ... (--help after the "
                   "verb)");
}
