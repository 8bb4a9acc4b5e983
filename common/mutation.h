/* Mutations as one SQL statement: the change, its events and the stored reply commit
 * together, and a retried request (same request_id) gets the first reply back.
 *
 * Convention for a service's mutation function in SQL: its first five parameters are
 * (service text, request_id text, method text, fingerprint text, reply bytea) and it returns
 * one row (outcome text, reply bytea, field text, message text). It starts with
 * bus.replay(service, request_id, fingerprint) and, when that finds a reply, returns
 * ('replay', reply); otherwise it checks, writes, calls bus.emit() for each event and
 * bus.remember() with the reply, and returns ('ok', reply). A refusal writes nothing and
 * returns one of: invalid (with the field), not_found, stale, precondition, exists, denied
 * (PERMISSION_DENIED: the caller may not make this change). */
#pragma once

#include "dispatch.h"
#include "pg.h"
#include "sequencer.h"

typedef struct ovop_mutator {
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer; /* kicked after a change; may be NULL */
    const char *service;         /* e.g. "ovop.registry" */
} ovop_mutator_t;

/* A named argument of a mutation function: `name => value` (value NULL for SQL NULL). */
typedef struct ovop_arg {
    const char *name;
    const char *value;
} ovop_arg_t;

/* Calls the SQL function `function` (e.g. "registry.change_certificate") in named notation,
 * after bus.act() made the call's principal and its territorial scope the transaction's
 * settings ovop.principal and ovop.scope (current_setting('ovop.scope', true): "" for the
 * whole country), which triggers check:
 * the five conventional parameters (p_service, p_request_id, p_method, p_fp, p_reply, the
 * reply being ovop_call_encode_ok(call, output)) and then each of args by its name, so an
 * argument can never land in another's place, a misspelt name fails when the statement is
 * prepared, and a parameter added with a default leaves old callers working. Finishes the
 * call with the outcome. */
void ovop_mutate(ovop_call_t *call, const ovop_mutator_t *m, const char *function,
                 const ovop_arg_t *args, size_t n_args, const ProtobufCMessage *output);
#define OVOP_MUTATE(call, m, function, args, output)                                               \
    ovop_mutate((call), (m), (function), (args), OVOP_ARRAY_SIZE(args), (output))

/* The status of a refusal outcome of the convention ("invalid" is INVALID_ARGUMENT,
 * "not_found" NOT_FOUND, "stale" ABORTED...), OVOP_INTERNAL for an outcome it does not
 * define; and its default reason. */
ovop_code_t ovop_mutation_status(const char *outcome);

/* Gives the call's coming failure the reason and metadata of refusal row `row` of res: its
 * `reason` column, or its outcome's default; its `metadata` column (a JSON object of
 * strings) as Status.metadata. */
void ovop_mutation_explain(ovop_call_t *call, PGresult *res, int row);

/* Finishes call with row `row` of res in the convention's columns (outcome, reply, field,
 * message): the reply for ok and replay (kicking seq, which may be NULL, after ok), the
 * status of a refusal otherwise. For handlers whose statement answers many requests. */
void ovop_mutation_finish(ovop_call_t *call, PGresult *res, int row, ovop_sequencer_t *seq);
