/* Unit tests of exportd's input checks, enum texts and parameter encodings
 * (services/exports/check.c), on real calls of the dispatcher. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "exports.h"
#include "unitcall.h"

static void test_incoterm_text(void **state)
{
    /* The database stores the rules in capitals: each value's name without its prefix. */
    const ProtobufCEnumDescriptor *desc = &ovop__v1__incoterm__descriptor;
    for (unsigned i = 0; i < desc->n_values; i++) {
        int v = desc->values[i].value;
        if (v == 0)
            continue;
        const char *text = exports_incoterm_text(v);
        assert_int_equal(strlen(text), 3);
        assert_string_equal(desc->values[i].name + strlen("INCOTERM_"), text);
        /* Reads lower() it, which the descriptor decodes. */
        char lower[4];
        for (size_t k = 0; k < 4; k++)
            lower[k] = (char)tolower((unsigned char)text[k]);
        assert_int_equal(ovop_enum_value(desc, lower), v);
    }
    assert_string_equal(exports_incoterm_text(OVOP__V1__INCOTERM__INCOTERM_EXW), "EXW");
    assert_string_equal(exports_incoterm_text(OVOP__V1__INCOTERM__INCOTERM_FOB), "FOB");
    assert_string_equal(exports_incoterm_text(0), "");
    assert_string_equal(exports_incoterm_text(-1), "");
    assert_string_equal(exports_incoterm_text((int)desc->n_values), "");
}

static void test_kind_text(void **state)
{
    Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
    x.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER;
    assert_string_equal(exports_kind_text(&x), "producer");
    x.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE;
    assert_string_equal(exports_kind_text(&x), "cooperative");
    x.kind = OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_UNSPECIFIED;
    assert_string_equal(exports_kind_text(&x), "");
    x.kind = (Ovop__V1__ExporterKind)3;
    assert_string_equal(exports_kind_text(&x), "");
}

static const unit_check_case_t country_cases[] = {
    {"CN", true},
    {"KZ", true},
    {"AA", true},
    {"ZZ", true},
    {"", false, "is required"},
    {"cn", false, "got \"cn\""},
    {"Cn", false, "two capital letters"},
    {"cN", false, "two capital letters"},
    {"C", false, "two capital letters"},
    {"CHN", false, "got \"CHN\""},
    {"C1", false, "two capital letters"},
    {"@A", false, "two capital letters"},
    {"A[", false, "two capital letters"},
    {" CN", false, "two capital letters"},
    {"C\n", false, "two capital letters"},
    {"\xc3\x84\xc3\x84", false, "two capital letters"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", false, "got \"ABCDEFGHIJKLMNOP\""},
};

static bool check_date_required(ovop_call_t *call, const char *field, const char *value)
{
    return exports_check_date(call, field, value, true);
}

static const unit_check_case_t date_required_cases[] = {
    {"2024-02-29", true, NULL},
    {"2000-02-29", true, NULL},
    {"1900-01-01", true, NULL},
    {"9999-12-31", true, NULL},
    {"", false, "is required (YYYY-MM-DD)"},
    {"2023-02-29", false, "got \"2023-02-29\""},
    {"1900-02-29", false, "YYYY-MM-DD"},
    {"2024-04-31", false, "YYYY-MM-DD"},
    {"2024-13-01", false, "YYYY-MM-DD"},
    {"2024-00-10", false, "YYYY-MM-DD"},
    {"2024-01-00", false, "YYYY-MM-DD"},
    {"1899-12-31", false, "YYYY-MM-DD"},
    {"2024-2-29", false, "YYYY-MM-DD"},
    {"2024/02/29", false, "YYYY-MM-DD"},
    {"29.02.2024", false, "YYYY-MM-DD"},
    {"2024-02-29T00:00:00", false, "got \"2024-02-29T00:00:00\""},
    {" 2024-02-2", false, "YYYY-MM-DD"},
    {"+024-02-29", false, "YYYY-MM-DD"},
};

static bool check_date_optional(ovop_call_t *call, const char *field, const char *value)
{
    return exports_check_date(call, field, value, false);
}

static const unit_check_case_t date_optional_cases[] = {
    {"", true, NULL},
    {"2024-01-31", true, NULL},
    {"2024-01-32", false, "YYYY-MM-DD"},
    {"today", false, "got \"today\""},
};

static const unit_check_case_t agency_cases[] = {
    {"", true, NULL},
    {"customs", true},
    {"plant_quarantine", true, NULL},
    {"a", true},
    {"z9_", true, NULL},
    {"abcdefghijklmnopqrstuvwxyz_01234", true, NULL}, /* 32 */
    {"abcdefghijklmnopqrstuvwxyz_012345", false, "agency code"},
    {"Customs", false, "got \"Customs\""},
    {"CUSTOMS", false, "agency code"},
    {"1customs", false, "agency code"},
    {"_customs", false, "agency code"},
    {"plant-quarantine", false, "agency code"},
    {"plant quarantine", false, "agency code"},
    {"customs\n", false, "agency code"},
    {"customs\x7f", false, "agency code"},
    {"tamozhnya\xc3\xa9", false, "agency code"},
};

static const unit_check_case_t border_point_cases[] = {
    {"", true, NULL},
    {"KG-IRKESHTAM", true, NULL},
    {"KG-TORUGART-2", true, NULL},
    {"KG-A", true, NULL},
    {"KG-ABCDEFGHIJKLMNOPQRSTUVWXYZ012", true, NULL}, /* 32 */
    {"KG-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123", false, "crossing point code"},
    {"KG-", false, "crossing point code"},
    {"KG", false, "crossing point code"},
    {"kg-irkeshtam", false, "got \"kg-irkeshtam\""},
    {"KZ-KORDAI", false, "crossing point code"},
    {"KG-Irkeshtam", false, "crossing point code"},
    {"KG-IRKESHTAM ", false, "crossing point code"},
    {"KG_IRKESHTAM", false, "crossing point code"},
    {"KG-IRKESHTAM\n", false, "crossing point code"},
    {"KG-\xd0\x98\xd0\xa0\xd0\x9a", false, "crossing point code"},
};

static const unit_check_case_t hs_prefix_cases[] = {
    {"", true, NULL},
    {"0", true, NULL},
    {"09", true, NULL},
    {"090411", true, NULL},
    {"0904111", false, "1 to 6 digits, got \"0904111\""},
    {"09a", false, "1 to 6 digits"},
    {" 09", false, "1 to 6 digits"},
    {"-1", false, "1 to 6 digits"},
    {"0904.1", false, "1 to 6 digits"},
};

static void test_field_checks(void **state)
{
    static const unit_check_suite_t suites[] = {
        UNIT_CHECK_SUITE(exports_check_country, "buyer.country", country_cases),
        UNIT_CHECK_SUITE(check_date_required, "planned_departure", date_required_cases),
        UNIT_CHECK_SUITE(check_date_optional, "planned_arrival", date_optional_cases),
        UNIT_CHECK_SUITE(exports_check_agency, "agency", agency_cases),
        UNIT_CHECK_SUITE(exports_check_border_point, "border_point", border_point_cases),
        UNIT_CHECK_SUITE(exports_check_hs_prefix, "hs_prefix", hs_prefix_cases),
    };
    unit_check_suites(suites, OVOP_ARRAY_SIZE(suites));
}

static void test_exporter(void **state)
{
    /* The fields refused, in order, space-separated. */
    static const struct {
        bool null;
        int kind;
        int64_t id;
        const char *refused;
    } cases[] = {
        {false, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER, 1, ""},
        {false, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_COOPERATIVE, INT64_MAX, ""},
        {false, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_UNSPECIFIED, 7, "exporter.kind"},
        {false, 3, 7, "exporter.kind"},
        {false, -1, 7, "exporter.kind"},
        {false, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER, 0, "exporter.id"},
        {false, OVOP__V1__EXPORTER_KIND__EXPORTER_KIND_PRODUCER, -5, "exporter.id"},
        {false, 0, 0, "exporter.kind exporter.id"},
        {true, 0, 0, "exporter.kind exporter.id"},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        Ovop__V1__ExporterRef x = OVOP__V1__EXPORTER_REF__INIT;
        x.kind = (Ovop__V1__ExporterKind)cases[i].kind;
        x.id = cases[i].id;
        unit_call_t u;
        unit_call_open(&u);
        bool ok = exports_check_exporter(u.call, "exporter", cases[i].null ? NULL : &x);
        const Ovop__V1__Status *st = unit_call_close(&u);
        char refused[128] = "";
        for (size_t k = 0; k < st->n_violations; k++)
            snprintf(refused + strlen(refused), sizeof(refused) - strlen(refused), "%s%s",
                     k ? " " : "", st->violations[k]->field);
        assert_string_equal(refused, cases[i].refused);
        assert_int_equal(ok, cases[i].refused[0] == '\0');
        unit_call_free(&u);
    }
}

static void test_territory_prefix(void **state)
{
    static const struct {
        const char *code;
        bool ok;
        const char *prefix;
    } cases[] = {
        {"", true, ""},
        {"41700000000000", true, "417"}, /* the republic covers everything */
        {"41702000000000", true, "41702"},
        {"41700100000000", true, "41700100"},
        {"41702100000000", true, "41702100"},
        {"41702100100000", true, "41702100100"},
        {"41702100100001", true, "41702100100001"},
        {"4170200000000", false, ""},
        {"417020000000000", false, ""},
        {"41802000000000", false, ""},
        {"4170200000000a", false, ""},
        {"41702 00000000", false, ""},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        char out[15];
        memset(out, 'x', sizeof(out));
        unit_call_t u;
        unit_call_open(&u);
        bool ok = exports_check_territory_prefix(u.call, "territory", cases[i].code, out);
        const Ovop__V1__Status *st = unit_call_close(&u);
        assert_int_equal(ok, cases[i].ok);
        assert_string_equal(out, cases[i].prefix);
        assert_int_equal(st->n_violations, ok ? 0 : 1);
        if (!ok)
            assert_non_null(strstr(st->violations[0]->description, "14 digits starting with 417"));
        unit_call_free(&u);
    }
}

static void test_array_add(void **state)
{
    ovop_buf_t b;
    ovop_buf_init(&b);
    ovop_buf_puts(&b, "{");
    static const char *const words[] = {"draft", "say \"hi\"", "back\\slash", "", "a,b}"};
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(words); i++)
        exports_array_add(&b, words[i]);
    ovop_buf_puts(&b, "}");
    assert_string_equal(b.data, "{\"draft\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"\",\"a,b}\"}");
    ovop_buf_free(&b);
}

static void test_round(void **state)
{
    static const struct {
        double v;
        int decimals;
        double want;
    } cases[] = {
        {1234.5678, 2, 1234.57}, {1234.5678, 3, 1234.568},
        {0.125, 2, 0.13},        {-0.125, 2, -0.13},
        {0.0625, 3, 0.063},      {0.004, 2, 0.0},
        {7.0, 3, 7.0},           {123456789.125, 2, 123456789.13},
    };
    for (size_t i = 0; i < OVOP_ARRAY_SIZE(cases); i++) {
        double r = exports_round(cases[i].v, cases[i].decimals);
        if (r != cases[i].want)
            fail_msg("case %zu: round(%.17g, %d) = %.17g, expected %.17g", i, cases[i].v,
                     cases[i].decimals, r, cases[i].want);
    }
}

static void test_today(void **state)
{
    char before[11], out[11], after[11];
    time_t t = time(NULL) + 6 * 3600;
    struct tm tm;
    strftime(before, sizeof(before), "%Y-%m-%d", gmtime_r(&t, &tm));
    exports_today(out);
    t = time(NULL) + 6 * 3600;
    strftime(after, sizeof(after), "%Y-%m-%d", gmtime_r(&t, &tm));
    assert_true(ovop_date_valid(out));
    if (strcmp(out, before) != 0)
        assert_string_equal(out, after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incoterm_text),
        cmocka_unit_test(test_kind_text),
        cmocka_unit_test(test_field_checks),
        cmocka_unit_test(test_exporter),
        cmocka_unit_test(test_territory_prefix),
        cmocka_unit_test(test_array_add),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_today),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
