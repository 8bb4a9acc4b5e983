/* Hostile request bodies against a real registryd through the broker (issue 10, items 2 and
 * 6): messages that would cost far more memory decoded than their size are refused
 * (INVALID_ARGUMENT, MESSAGE_TOO_COMPLEX) before protobuf-c allocates, with registryd's
 * resident memory read from /proc staying under a stated bound; strings with a NUL byte are
 * refused with a violation naming the field, and nothing is written. Prints the figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "envelope.h"
#include "harness.h"
#include "ovop/v1/registry.pb-c.h"
#include "pgtest.h"
#include "svcenv.h"
#include "util.h"

#define VILLAGE "41704235000001"
/* What registryd may grow by, resident, after all the attacks, and at its peak. */
#define RSS_AFTER_MAX_KB (8 * 1024)
#define RSS_PEAK_MAX_KB  (48 * 1024)
#define CONCURRENT       64

static svcenv_t E;

static const char *const seed[] = {
    "INSERT INTO registry.territories (code, kind, parent_code, name_ru, name_en, valid_from, "
    "valid_to) VALUES ('" VILLAGE "', 'village', '41704235000000', 'Кочкор', 'Kochkor', "
    "'2000-01-01', NULL) RETURNING 1",
    NULL};

static int setup(void **state)
{
    svcenv_start(&E, &(svcenv_config_t){.db_name = "decode",
                                        .seed_sql = seed,
                                        .daemon = "ovop-registryd",
                                        .service = "ovop.registry",
                                        .client = {.timeout_ms = 20000, .retries = 1}});
    return 0;
}

static int teardown(void **state)
{
    svcenv_stop(&E);
    return 0;
}

/* A line "Key:  N kB" of /proc/<registryd>/status, in kB. */
static long proc_kb(const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)E.daemon[0]);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    assert_true(v >= 0);
    return v;
}

/* Sends body as method's input on client c; returns the reply (free it). */
static Ovop__V1__Reply *send_body(ovop_client_t *c, const char *rid, const char *method,
                                  const void *body, size_t n)
{
    size_t len, rlen;
    void *req = ovop_request_encode(rid, method, body, n, 0, NULL, &len);
    void *rbody = NULL;
    assert_int_equal(ovop_client_raw(c, "ovop.registry", req, len, NULL, NULL, &rbody, &rlen), 0);
    Ovop__V1__Reply *rep = ovop__v1__reply__unpack(NULL, rlen, rbody);
    assert_non_null(rep);
    free(rbody);
    free(req);
    return rep;
}

/* A GetTerritory of about 1 MiB: a valid code, then 2-byte unknown fields. */
static uint8_t *unknown_fields_body(size_t *ret_n)
{
    size_t n = (1 << 20) - 256;
    uint8_t *b = malloc(n);
    memcpy(b, "\x0a\x0e" VILLAGE, 16);
    for (size_t i = 16; i + 1 < n; i += 2) {
        b[i] = 15 << 3;
        b[i + 1] = 1;
    }
    *ret_n = n & ~(size_t)1;
    return b;
}

/* An ImportTerritories of 524,000 empty rows (2 bytes each). */
static uint8_t *empty_rows_body(size_t *ret_n)
{
    size_t n = 524000 * 2;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        b[i] = 0x0a;
        b[i + 1] = 0;
    }
    *ret_n = n;
    return b;
}

static void expect_too_complex(Ovop__V1__Reply *rep)
{
    print_message("  -> %s %s: %s\n", ovop_code_to_string(rep->status->code), rep->status->reason,
                  rep->status->message);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_string_equal(rep->status->reason, "MESSAGE_TOO_COMPLEX");
    ovop__v1__reply__free_unpacked(rep, NULL);
}

typedef struct attacker {
    pthread_t t;
    const uint8_t *body;
    size_t n;
    int index;
    Ovop__V1__Reply *rep;
} attacker_t;

static void *attack(void *arg)
{
    attacker_t *a = arg;
    ovop_client_t *c = svcenv_client(&E);
    char rid[32];
    snprintf(rid, sizeof(rid), "rows-%d", a->index);
    a->rep = send_body(c, rid, "ImportTerritories", a->body, a->n);
    ovop_client_destroy(&c);
    return NULL;
}

static void test_memory_amplification(void **state)
{
    ovop_client_t *c = svcenv_client(&E);
    long rss0 = proc_kb("VmRSS"), hwm0 = proc_kb("VmHWM");
    long territories = svcenv_count(&E, "SELECT count(*) FROM registry.territories");
    print_message("registryd at start: VmRSS %ld kB, VmHWM %ld kB\n", rss0, hwm0);

    size_t n;
    uint8_t *unk = unknown_fields_body(&n);
    expect_too_complex(send_body(c, "unk-1", "GetTerritory", unk, n));
    long rss1 = proc_kb("VmRSS"), hwm1 = proc_kb("VmHWM");
    print_message("1 MiB GetTerritory of unknown fields: VmRSS %+ld kB after, VmHWM %+ld kB\n",
                  rss1 - rss0, hwm1 - hwm0);

    uint8_t *rows = empty_rows_body(&n);
    expect_too_complex(send_body(c, "rows-0", "ImportTerritories", rows, n));
    long rss2 = proc_kb("VmRSS"), hwm2 = proc_kb("VmHWM");
    print_message("ImportTerritories of 524k empty rows: VmRSS %+ld kB after, VmHWM %+ld kB\n",
                  rss2 - rss1, hwm2 - hwm1);

    attacker_t a[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) {
        a[i] = (attacker_t){.body = rows, .n = n, .index = i + 1};
        assert_int_equal(pthread_create(&a[i].t, NULL, attack, &a[i]), 0);
    }
    for (int i = 0; i < CONCURRENT; i++) {
        pthread_join(a[i].t, NULL);
        assert_non_null(a[i].rep);
        assert_string_equal(a[i].rep->status->reason, "MESSAGE_TOO_COMPLEX");
        ovop__v1__reply__free_unpacked(a[i].rep, NULL);
    }
    long rss3 = proc_kb("VmRSS"), hwm3 = proc_kb("VmHWM");
    print_message("%d such requests at once: VmRSS %+ld kB after, VmHWM %+ld kB (peak %ld kB)\n",
                  CONCURRENT, rss3 - rss2, hwm3 - hwm2, hwm3);

    /* The service still answers. */
    Ovop__V1__GetTerritoryRequest in = OVOP__V1__GET_TERRITORY_REQUEST__INIT;
    in.code = VILLAGE;
    assert_int_equal(svcenv_call(&E, "GetTerritory", NULL, &in.base, NULL, NULL, NULL), OVOP_OK);
    print_message("registryd at end: VmRSS %ld kB (%+ld kB), VmHWM %ld kB (%+ld kB)\n", rss3,
                  rss3 - rss0, hwm3, hwm3 - hwm0);
    assert_true(HARNESS_RSS_BOUND_OK(rss3 - rss0, RSS_AFTER_MAX_KB));
    assert_true(HARNESS_RSS_BOUND_OK(hwm3 - hwm0, RSS_PEAK_MAX_KB));
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM registry.territories"), territories);
    free(unk);
    free(rows);
    ovop_client_destroy(&c);
}

/* tax_id "<14 digits>\0junk" was cut to its 14 digits and accepted; now it is refused with a
 * violation on tax_id and nothing is written. */
static void test_nul_in_strings(void **state)
{
    Ovop__V1__Contact contact = OVOP__V1__CONTACT__INIT;
    contact.phone = "+996 555 123 456";
    contact.address = "Kochkor, Orozbekov 12";
    Ovop__V1__RegisterProducerRequest in = OVOP__V1__REGISTER_PRODUCER_REQUEST__INIT;
    in.kind = OVOP__V1__PRODUCER_KIND__PRODUCER_KIND_SME;
    in.legal_name = "Kochkor Felt Makers LLC";
    in.tax_id = "01503201910011Xjunk";
    in.contact = &contact;
    in.territory_code = VILLAGE;
    size_t n = ovop__v1__register_producer_request__get_packed_size(&in);
    uint8_t *body = malloc(n);
    ovop__v1__register_producer_request__pack(&in, body);
    uint8_t *x = memmem(body, n, "Xjunk", 5);
    assert_non_null(x);
    *x = 0;
    ovop_client_t *c = svcenv_client(&E);
    Ovop__V1__Reply *rep = send_body(c, "nul-1", "RegisterProducer", body, n);
    print_message("tax_id with a NUL: %s %s\n", ovop_code_to_string(rep->status->code),
                  rep->status->message);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_int_equal(rep->status->n_violations, 1);
    assert_string_equal(rep->status->violations[0]->field, "tax_id");
    ovop__v1__reply__free_unpacked(rep, NULL);
    assert_int_equal(svcenv_count(&E, "SELECT count(*) FROM registry.producers"), 0);

    /* A request id with a NUL is refused, so "abc\0def" never shares "abc"'s key. */
    free(body);
    size_t len;
    void *req = ovop_request_encode("abcXdef", "GetTerritory", NULL, 0, 0, NULL, &len);
    *(char *)memmem(req, len, "X", 1) = 0;
    void *rbody;
    size_t rlen;
    assert_int_equal(ovop_client_raw(c, "ovop.registry", req, len, NULL, NULL, &rbody, &rlen), 0);
    rep = ovop__v1__reply__unpack(NULL, rlen, rbody);
    assert_int_equal(rep->status->code, OVOP_INVALID_ARGUMENT);
    assert_non_null(strstr(rep->status->message, "request_id"));
    ovop__v1__reply__free_unpacked(rep, NULL);
    free(rbody);
    free(req);
    ovop_client_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_memory_amplification),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
