/* Real calls of the dispatcher for unit tests of checks that add violations to a call, and a
 * table-driven runner for such checks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "dispatch.h"

typedef struct unit_call {
    ovop_dispatch_t *d;
    ovop_call_t *call;    /* open, until finished */
    Ovop__V1__Reply *rep; /* the reply, once finished */
} unit_call_t;

/* Opens a call (of a real method of a real service) that a test can add violations to. */
void unit_call_open(unit_call_t *u);

/* Fails the call with its violations unless it is finished already; returns the status of
 * its reply. Asserts that ovop_call_has_violations agreed with the count. */
const Ovop__V1__Status *unit_call_close(unit_call_t *u);

/* Frees the reply and the dispatcher; accepts a closed or never opened call. */
void unit_call_free(unit_call_t *u);

/* One value and what a check must make of it. */
typedef struct unit_check_case {
    const char *value;
    bool ok;
    const char *why; /* when refused: a substring of the violation's description */
} unit_check_case_t;

typedef bool (*unit_check_fn)(ovop_call_t *call, const char *field, const char *value);

/* A check, the field it is told to name, and its cases. */
typedef struct unit_check_suite {
    const char *name;
    unit_check_fn fn;
    const char *field;
    const unit_check_case_t *cases;
    size_t n;
} unit_check_suite_t;

#define UNIT_CHECK_SUITE(check, field_name, table)                                                 \
    {                                                                                              \
        .name = #check, .fn = (check), .field = (field_name), .cases = (table),                    \
        .n = OVOP_ARRAY_SIZE(table)                                                                \
    }

/* Runs each suite's check on each of its cases in a call of its own and asserts its answer,
 * and exactly one violation on the suite's field whose description contains `why` when it
 * refuses, none when it accepts. */
void unit_check_suites(const unit_check_suite_t *suites, size_t n);
