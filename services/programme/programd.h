/* programd: the support programme beyond the system of record: stakeholders, programmes and
 * their participants (programmes.c), sales channels and monthly sales reports (sales.c), and
 * the programme office's queries (queries.c), over PostgreSQL schema programme. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "mutation.h"
#include "ovop/v1/programme.pb-c.h"
#include "read.h"
#include "sequencer.h"

#define PROGRAMME_SERVICE "ovop.programme"

typedef struct programd {
    ovop_daemon_t *d;
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer;
    ovop_mutator_t mutator;
    unsigned max_lines; /* lines of one sales report */
} programd_t;

void programd_programmes_register(programd_t *p);
void programd_sales_register(programd_t *p);
void programd_queries_register(programd_t *p);
void programd_events_register(programd_t *p); /* events.c: ListRecentEvents */

/* ovop_mutate (mutation.h) through p's mutator. */
void programd_mutate(ovop_call_t *call, programd_t *p, const char *function, const ovop_arg_t *args,
                     size_t n_args, const ProtobufCMessage *output);

/* A number as text in the call's arena. */
char *programd_num(ovop_call_t *call, int64_t v);
