/* ImportTerritories: one batch (at most 1000 rows) of the statistics committee's list of
 * territories, already split into fields by the client.
 *
 * Each row is checked on its own first (code, kind, names, parent code); then the latest
 * version of every code the batch names, its rows' and their parents', is read in one query,
 * and each row is classified against it: a new code is inserted, a code whose kind, parent
 * or names differ gets a new version from valid_from, an equal one is unchanged, and a row
 * that cannot be applied is rejected with its line and reason while the others go on. Rows
 * are classified parents first (shorter significant prefix first), so a batch may hold an
 * aiyl aimak and its villages. registry.import_territories() then writes the inserts, the
 * new versions, one event per written territory and the reply in one transaction, after
 * checking that none of the codes read moved meanwhile (else 'stale': send the batch again).
 * Running the same rows again finds them all unchanged. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "territory_state.h"

#define MAX_ROWS   1000
#define MAX_REASON 400

typedef enum row_fate {
    ROW_PENDING,
    ROW_REJECTED,
    ROW_INSERT,
    ROW_UPDATE,
    ROW_UNCHANGED,
} row_fate_t;

typedef struct import_row {
    const Ovop__V1__TerritoryImportRow *in;
    size_t index;
    char digits[33]; /* the code with non-digits stripped (at most 32 digits kept) */
    char code[15];   /* the same when it is a valid SOATE code */
    char parent[15];
    row_fate_t fate;
    char *reason;           /* when rejected */
    const char *type;       /* event type when written */
    territory_state_t next; /* the state it is written with */
} import_row_t;

typedef struct import {
    ovop_call_t *call;
    registry_t *r;
    import_row_t *rows;
    size_t n;
    import_row_t **by_code; /* rows past the single-row checks, sorted by code */
    size_t n_by_code;
    char **codes; /* every code read: the rows' and their parents' */
    size_t n_codes;
} import_t;

/* Rejects row with a reason of at most MAX_REASON - 1 bytes. */
static void reject(ovop_call_t *call, import_row_t *row, const char *fmt, ...) OVOP_PRINTF(3, 4);
static void reject(ovop_call_t *call, import_row_t *row, const char *fmt, ...)
{
    char reason[MAX_REASON];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    row->reason = ovop_call_strdup(call, reason);
    row->fate = ROW_REJECTED;
}

/* Keeps the digits of s (at most 32) in out; returns how many digits s has. */
static size_t strip_digits(const char *s, char out[static 33])
{
    size_t n = 0, kept = 0;
    for (; *s; s++)
        if (*s >= '0' && *s <= '9') {
            if (kept < 32)
                out[kept++] = *s;
            n++;
        }
    out[kept] = '\0';
    return n;
}

/* A field's value fit to quote in a reason: at most 32 printable ASCII characters, others
 * shown as '?' (the reply must stay valid UTF-8 whatever the row held). */
static const char *quoted(const char *s, char out[static 36])
{
    size_t i = 0;
    for (; s[i] && i < 32; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* Why a name field cannot be stored, or NULL. */
static const char *name_problem(const char *s, bool required)
{
    size_t n = strlen(s);
    if (required && n == 0)
        return "is required";
    if (n > TERRITORY_MAX_NAME)
        return "must be at most 200 bytes";
    if (!ovop_utf8_valid(s, n))
        return "must be valid UTF-8";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "must not contain control characters";
    return NULL;
}

/* Checks a code field; fills out (15 bytes) or rejects the row. */
static bool row_code(ovop_call_t *call, import_row_t *row, const char *field, const char *value,
                     char *out)
{
    char digits[33];
    const char *why;
    size_t n = strip_digits(value, digits);
    if (n == 0) {
        reject(call, row, "%s is required", field);
        return false;
    }
    if (n != 14) {
        reject(call, row, "%s %s must be 14 digits, got %zu", field, digits, n);
        return false;
    }
    if (!registry_soate_valid(digits, &why)) {
        reject(call, row, "%s %s %s", field, digits, why);
        return false;
    }
    memcpy(out, digits, 15);
    return true;
}

/* The checks that need nothing but the row. */
static void check_row(ovop_call_t *call, import_row_t *row)
{
    const Ovop__V1__TerritoryImportRow *in = row->in;
    char q[36];
    const char *why;
    strip_digits(in->code, row->digits);
    if (!row_code(call, row, "code", in->code, row->code))
        return;
    if (!in->kind[0]) {
        reject(call, row, "kind is required");
        return;
    }
    if (!territory_kind_known(in->kind)) {
        reject(call, row, "kind \"%s\" is not one of %s", quoted(in->kind, q), territory_kind_list);
        return;
    }
    if ((why = name_problem(in->name_ru, true))) {
        reject(call, row, "name_ru %s", why);
        return;
    }
    if ((why = name_problem(in->name_ky, false))) {
        reject(call, row, "name_ky %s", why);
        return;
    }
    if ((why = name_problem(in->name_en, false))) {
        reject(call, row, "name_en %s", why);
        return;
    }
    if (strcmp(in->kind, "republic") == 0) {
        char digits[33];
        if (strip_digits(in->parent_code, digits) > 0)
            reject(call, row, "the republic has no parent, got parent code %s", digits);
        return;
    }
    row_code(call, row, "parent code", in->parent_code, row->parent);
}

static int compare_row_code(const void *a, const void *b)
{
    const import_row_t *x = *(import_row_t *const *)a, *y = *(import_row_t *const *)b;
    int c = strcmp(x->code, y->code);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static import_row_t *find_row(const import_t *im, const char *code)
{
    size_t lo = 0, hi = im->n_by_code;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(im->by_code[mid]->code, code);
        if (c == 0)
            return im->by_code[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the rows past their own checks by code, rejects repeated codes (the later lines),
 * and collects the distinct codes to read: theirs and their parents'. */
static void index_rows(import_t *im)
{
    ovop_call_t *call = im->call;
    im->by_code = ovop_call_alloc(call, (im->n + 1) * sizeof(*im->by_code));
    for (size_t i = 0; i < im->n; i++)
        if (im->rows[i].fate == ROW_PENDING)
            im->by_code[im->n_by_code++] = &im->rows[i];
    if (im->n_by_code) /* NULL with no elements is undefined for qsort */
        qsort(im->by_code, im->n_by_code, sizeof(*im->by_code), compare_row_code);
    size_t kept = 0;
    for (size_t i = 0; i < im->n_by_code; i++) {
        import_row_t *row = im->by_code[i];
        if (kept && strcmp(im->by_code[kept - 1]->code, row->code) == 0)
            reject(call, row, "code %s appears again (first on line %u)", row->code,
                   im->by_code[kept - 1]->in->line);
        else
            im->by_code[kept++] = row;
    }
    im->n_by_code = kept;

    im->codes = ovop_call_alloc(call, (2 * kept + 1) * sizeof(*im->codes));
    for (size_t i = 0; i < kept; i++) {
        im->codes[im->n_codes++] = im->by_code[i]->code;
        if (im->by_code[i]->parent[0])
            im->codes[im->n_codes++] = im->by_code[i]->parent;
    }
    if (im->n_codes) /* NULL with no elements is undefined for qsort */
        qsort(im->codes, im->n_codes, sizeof(*im->codes), compare_str);
    size_t distinct = 0;
    for (size_t i = 0; i < im->n_codes; i++)
        if (!distinct || strcmp(im->codes[distinct - 1], im->codes[i]) != 0)
            im->codes[distinct++] = im->codes[i];
    im->n_codes = distinct;
}

/* Parents before what lies under them: by length of the significant prefix, then by line. */
static int compare_depth(const void *a, const void *b)
{
    const import_row_t *x = *(import_row_t *const *)a, *y = *(import_row_t *const *)b;
    char px[15], py[15];
    registry_soate_prefix(x->code, px);
    registry_soate_prefix(y->code, py);
    size_t lx = strlen(px), ly = strlen(py);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Why row cannot lie under its parent on date `on`, into buf, or NULL. A parent written by an
 * earlier row of this batch counts with its new kind. */
static const char *placement(const import_t *im, const territory_states_t *s,
                             const import_row_t *row, char *buf, size_t size)
{
    const import_row_t *p = find_row(im, row->parent);
    const char *parent_kind;
    if (p && (p->fate == ROW_INSERT || p->fate == ROW_UPDATE || p->fate == ROW_UNCHANGED)) {
        parent_kind = p->next.kind;
    } else {
        const territory_state_t *ps = territory_state_find(s, row->parent);
        const char *why = territory_parent_problem(ps, row->parent, s->on, buf, size);
        if (why)
            return why;
        parent_kind = ps->kind;
    }
    return territory_placement_problem(row->code, row->next.kind, row->parent, parent_kind, false,
                                       buf, size);
}

/* The state row is written with from date `on`: cur (NULL for a new code) with the row's
 * kind, parent and names. */
static void next_state(import_row_t *row, const territory_state_t *cur, const char *on)
{
    const Ovop__V1__TerritoryImportRow *in = row->in;
    if (cur) {
        row->next = *cur;
    } else {
        memset(&row->next, 0, sizeof(row->next));
        row->next.code = row->code;
        row->next.first_from = on;
    }
    row->next.kind = in->kind;
    row->next.parent_code = row->parent;
    /* The committee's list often lacks translations: empty ky and en keep what is stored. */
    row->next.name_ru = in->name_ru;
    row->next.name_ky = in->name_ky[0] || !cur ? in->name_ky : cur->name_ky;
    row->next.name_en = in->name_en[0] || !cur ? in->name_en : cur->name_en;
    row->next.valid_from = on;
    row->next.valid_to = "";
    row->next.superseded_by = "";
}

static void classify(import_t *im, const territory_states_t *s, import_row_t *row)
{
    ovop_call_t *call = im->call;
    const Ovop__V1__TerritoryImportRow *in = row->in;
    const territory_state_t *cur = territory_state_find(s, row->code);
    char buf[MAX_REASON];
    const char *why;

    if (cur) {
        if (cur->valid_to[0]) {
            reject(call, row, "territory %s was retired on %s; a retired code is not reused",
                   row->code, cur->valid_to);
            return;
        }
        if (strcmp(cur->valid_from, s->on) > 0) {
            reject(call, row,
                   "territory %s has a version from %s, after the import date %s; import with "
                   "a later valid_from",
                   row->code, cur->valid_from, s->on);
            return;
        }
    }
    next_state(row, cur, s->on);

    bool kind_changed = cur && strcmp(cur->kind, row->next.kind) != 0;
    bool parent_changed = cur && strcmp(cur->parent_code, row->parent) != 0;
    bool names_changed = cur && (strcmp(cur->name_ru, row->next.name_ru) != 0 ||
                                 strcmp(cur->name_ky, row->next.name_ky) != 0 ||
                                 strcmp(cur->name_en, row->next.name_en) != 0);
    if (cur && !kind_changed && !parent_changed && !names_changed) {
        row->fate = ROW_UNCHANGED;
        return;
    }
    if (!cur && strcmp(in->kind, "republic") == 0) {
        reject(call, row, "the republic cannot be created");
        return;
    }
    if ((!cur || kind_changed || parent_changed) && row->parent[0] &&
        (why = placement(im, s, row, buf, sizeof(buf)))) {
        reject(call, row, "%s", why);
        return;
    }
    if (!cur) {
        row->fate = ROW_INSERT;
        row->type = "ovop.registry.territory.created";
    } else {
        row->fate = ROW_UPDATE;
        row->type = !kind_changed && !parent_changed  ? "ovop.registry.territory.renamed"
                    : !kind_changed && !names_changed ? "ovop.registry.territory.reparented"
                                                      : "ovop.registry.territory.updated";
    }
}

/* What registry.import_territories() writes for row, an insert or an update, as JSON. */
static json_t *write_json(ovop_call_t *call, import_row_t *row)
{
    const char *event = ovop_call_bytea(call, &territory_message(call, &row->next)->base);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "op",
                     row->fate == ROW_INSERT ? "insert" : "update", "code", row->code, "kind",
                     row->next.kind, "parent", row->parent, "ru", row->next.name_ru, "ky",
                     row->next.name_ky, "en", row->next.name_en, "type", row->type, "id",
                     ovop_call_uuid(call), "event", event + 2 /* past "\x" */);
}

/* Classifies the rows, parents first, and returns the writes of those to insert or update. */
static char *classify_all(import_t *im, const territory_states_t *s)
{
    import_row_t **order = ovop_call_alloc(im->call, (im->n_by_code + 1) * sizeof(*order));
    for (size_t i = 0; i < im->n_by_code; i++)
        order[i] = im->by_code[i];
    if (im->n_by_code) /* NULL with no elements is undefined for qsort */
        qsort(order, im->n_by_code, sizeof(*order), compare_depth);
    json_t *writes = json_array();
    for (size_t i = 0; i < im->n_by_code; i++) {
        classify(im, s, order[i]);
        if (order[i]->fate == ROW_INSERT || order[i]->fate == ROW_UPDATE)
            json_array_append_new(writes, write_json(im->call, order[i]));
    }
    return registry_json_text(im->call, writes);
}

/* The version of every code read (0: none), which the statement checks are still current. */
static char *expected_json(import_t *im, const territory_states_t *s)
{
    json_t *expect = json_array();
    for (size_t i = 0; i < im->n_codes; i++) {
        const territory_state_t *t = territory_state_find(s, im->codes[i]);
        json_array_append_new(
            expect, json_pack("{s:s,s:i}", "code", im->codes[i], "version", t ? t->version : 0));
    }
    return registry_json_text(im->call, expect);
}

/* The reply: how many rows were inserted, updated and unchanged, and the rejections. */
static Ovop__V1__ImportTerritoriesResponse *summary(import_t *im)
{
    Ovop__V1__ImportTerritoriesResponse *out =
        (Ovop__V1__ImportTerritoriesResponse *)ovop_call_message(
            im->call, &ovop__v1__import_territories_response__descriptor);
    out->rejected = ovop_call_alloc(im->call, (im->n + 1) * sizeof(*out->rejected));
    for (size_t i = 0; i < im->n; i++) {
        import_row_t *row = &im->rows[i];
        if (row->fate == ROW_INSERT) {
            out->inserted++;
        } else if (row->fate == ROW_UPDATE) {
            out->updated++;
        } else if (row->fate == ROW_UNCHANGED) {
            out->unchanged++;
        } else {
            Ovop__V1__ImportRejection *x = (Ovop__V1__ImportRejection *)ovop_call_message(
                im->call, &ovop__v1__import_rejection__descriptor);
            x->line = row->in->line;
            x->code = row->digits;
            x->reason = row->reason;
            out->rejected[out->n_rejected++] = x;
        }
    }
    return out;
}

static void on_import_state(const territory_states_t *s, void *userdata)
{
    import_t *im = userdata;
    const char *writes = classify_all(im, s); /* decides each row's fate */
    const ovop_arg_t args[] = {
        {"p_valid_from", s->on},
        {"p_expect", expected_json(im, s)},
        {"p_rows", writes},
    };
    OVOP_MUTATE(im->call, &im->r->mutator, "registry.import_territories", args, &summary(im)->base);
}

void territory_import(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ImportTerritoriesRequest *in =
        (const Ovop__V1__ImportTerritoriesRequest *)input;
    if (in->n_rows == 0)
        ovop_call_violation(call, "rows", "at least one row is required");
    else if (in->n_rows > MAX_ROWS)
        ovop_call_violation(call, "rows", "at most %d rows per request, got %zu", MAX_ROWS,
                            in->n_rows);
    registry_check_date(call, "valid_from", in->valid_from);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    import_t *im = ovop_call_alloc(call, sizeof(*im));
    im->call = call;
    im->r = userdata;
    im->n = in->n_rows;
    im->rows = ovop_call_alloc(call, im->n * sizeof(*im->rows));
    for (size_t i = 0; i < im->n; i++) {
        im->rows[i].in = in->rows[i];
        im->rows[i].index = i;
        check_row(call, &im->rows[i]);
    }
    index_rows(im);
    territory_read_state(im->r, call, (const char *const *)im->codes, im->n_codes, in->valid_from,
                         on_import_state, im);
}
