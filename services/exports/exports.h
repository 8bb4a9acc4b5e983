/* exportd: export shipments, their documents and lifecycle, compliance and statistics. The
 * service state shared by the handler files (one file per concept: shipments.c, moves.c,
 * documents.c, compliance.c, stats.c), their common checks (check.c) and the pieces of the
 * events they write (event.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "dbcall.h"
#include "daemon.h"
#include "lookup.h"
#include "mutation.h"
#include "ovop/v1/exports.pb-c.h"
#include "pbrow.h"
#include "read.h"
#include "sequencer.h"

#define EXPORTS_SERVICE      "ovop.exports"
#define EXPORTS_SOURCE       "/ovop/exports"
#define EXPORTS_DEFAULT_PAGE 100
#define EXPORTS_MAX_PAGE     1000
#define EXPORTS_MAX_LOTS     100
/* Requests waiting before a second lane of moves opens (--move-lanes): fewer would split the
 * batch the first lane carries next and cost more per move. */
#define EXPORTS_LANE_MIN 4
/* How far ahead of this host's clock a reported moment may be: clocks differ a little. */
#define EXPORTS_CLOCK_SKEW_US (5 * 60 * INT64_C(1000000))

typedef struct exports_group exports_group_t; /* a request's moves, queued (moves.c) */

typedef struct exports {
    ovop_daemon_t *d;
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer;
    ovop_lookup_t *shipment_lookup; /* GetShipment's batched reads */
    ovop_mutator_t mutator;
    unsigned batch_max;  /* transitions per RecordShipmentEvents, and per statement */
    unsigned move_lanes; /* statements of moves out at once */
    unsigned lanes_busy;
    unsigned queued;
    exports_group_t *queue_head, *queue_tail; /* requests waiting for a lane */
    uv_check_t moves_check;                   /* sends them after the loop turn's I/O */
    bool moves_stopped;
    ovop_metric_t *move_statements[3]; /* by kind: transitions, batch, refusals */
    ovop_metric_t *move_requests;      /* requests per statement */
    unsigned fold_ms;                  /* how often to fold the statistics' stripes */
    uv_timer_t fold_timer;
    bool folding; /* a fold query is out */
} exports_t;

/* Each registers its methods on the dispatcher. */
void exports_shipments_register(exports_t *e);
void exports_moves_register(exports_t *e);
void exports_documents_register(exports_t *e);
void exports_compliance_register(exports_t *e);
void exports_stats_register(exports_t *e);
/* Fails the requests still queued and closes the queue's handle (the daemon stops). */
void exports_moves_stop(exports_t *e);
/* Starts folding the statistics' stripes every e->fold_ms (exports.fold_stats), and stops
 * it; stop closes the timer, the state outlives the close. */
void exports_stats_start(exports_t *e);
void exports_stats_stop(exports_t *e);

/* --- enum values <-> the text the database stores: ovop_enum_text / ovop_enum_value on the
 * enum descriptors (pbrow.h: the value's name without its prefix, in lower case), for every
 * enum but Incoterm --- */

/* An Incoterms rule as the database stores it: in capitals, as the ICC writes the rules
 * ("EXW"), which is the value's name without its prefix; "" for UNSPECIFIED and values the
 * enum does not have. Reads select lower(incoterm) so that rows decode by the descriptor. */
const char *exports_incoterm_text(int v);

/* The stored text of an exporter's kind ("producer", "cooperative"). */
const char *exports_kind_text(const Ovop__V1__ExporterRef *x);

/* --- who may do what beyond the permission table (authority.c) --- */

/* The agency the call's principal acts for (Principal.agency): "" for none. */
const char *exports_agency(const ovop_call_t *call);
/* Checks the agency of each of the n moves of a request (batch: fields named
 * "transitions[i].agency"): a move names no agency or the principal's, and a move that one
 * agency alone records (RELEASED, DEPARTED: customs) is the principal's agency's. When one is
 * refused, fails the call with PERMISSION_DENIED (AGENCY_NOT_YOURS or AGENCY_REQUIRED), every
 * refused move as a violation, and returns false. */
bool exports_authorize_moves(ovop_call_t *call, bool batch,
                             Ovop__V1__ShipmentTransition *const *items, size_t n);
/* Checks that the principal may attach a document of `type` as `status` (REQUESTED or
 * ISSUED), or change one to `status`: the issuing agency issues, rejects and revokes its
 * documents, the export desk (exports.clerk) applies for them and handles the exporter's own
 * papers. When not, fails the call with PERMISSION_DENIED (AGENCY_REQUIRED or MISSING_ROLE)
 * and returns false. */
bool exports_authorize_attach(ovop_call_t *call, int type, int status);
bool exports_authorize_document_status(ovop_call_t *call, int type, int status);

/* --- checks shared by the handlers (check.c; the generic ones are common/check.h's);
 * each adds a violation on `field` --- */

/* An ISO 3166-1 alpha-2 code by its form (two capital letters); the database knows which
 * codes exist. */
bool exports_check_country(ovop_call_t *call, const char *field, const char *code);
/* A date YYYY-MM-DD (or empty when optional). */
bool exports_check_date(ovop_call_t *call, const char *field, const char *date, bool required);
/* An exporter reference: a kind and an id > 0. `field` is the prefix ("exporter"). */
bool exports_check_exporter(ovop_call_t *call, const char *field, const Ovop__V1__ExporterRef *x);
/* An agency code: lowercase letters, digits and '_', at most 32 (empty allowed). */
bool exports_check_agency(ovop_call_t *call, const char *field, const char *agency);
/* A crossing point code: "KG-" then capitals, digits and '-' (empty allowed). */
bool exports_check_border_point(ovop_call_t *call, const char *field, const char *code);
/* A SOATE code (14 digits starting with 417) reduced to its significant prefix, as
 * the registry's soate_prefix() does, into out (15 bytes); empty stays empty. */
bool exports_check_territory_prefix(ovop_call_t *call, const char *field, const char *code,
                                    char out[static 15]);
/* An HS prefix: 1 to 6 digits (or empty). */
bool exports_check_hs_prefix(ovop_call_t *call, const char *field, const char *prefix);

/* Today's date in Kyrgyzstan (UTC+6 all year), YYYY-MM-DD. */
void exports_today(char out[static 11]);

/* --- parameters --- */

/* page_size 0 means EXPORTS_DEFAULT_PAGE; over EXPORTS_MAX_PAGE adds a violation. */
#define exports_page_size(call, n)                                                                 \
    ovop_check_page_size((call), (n), EXPORTS_DEFAULT_PAGE, EXPORTS_MAX_PAGE)

/* The decimal text of v, in the call's arena. */
char *exports_number(ovop_call_t *call, int64_t v);
/* Appends s to a PostgreSQL array literal being built in b ("{" ... "}"), quoted. */
void exports_array_add(ovop_buf_t *b, const char *s);
/* Rounds to `decimals` places, as numeric(.., decimals) stores it. */
double exports_round(double v, int decimals);

/* --- events (event.c) --- */

/* The event of a move to `status`: type suffix (e.g. "departed"), CBV bizStep and
 * disposition. DRAFT stands for the creation. */
typedef struct exports_move_kind {
    const char *type;
    const char *biz_step;
    const char *disposition;
} exports_move_kind_t;

/* NULL for UNSPECIFIED or out of range. */
const exports_move_kind_t *exports_move_kind(int status);

/* The per-request part of an event, encoded as bytea text (malloc'd): the move fields of
 * ExportEvent. document may be NULL; status 0 for document events. */
char *exports_event_head(int64_t shipment_id, int status, int64_t at_us, const char *agency,
                         const char *caller, const char *reason, const char *reference,
                         const char *read_point, const Ovop__V1__Document *document);
/* The head of the event of a change the call's principal makes without reference or
 * crossing point (a creation, a document's change), under the principal's agency, and the
 * documents-list entry of a document: both as bytea text in the call's arena. */
char *exports_call_event_head(ovop_call_t *call, int64_t shipment_id, int status, int64_t at_us,
                              const char *reason, const Ovop__V1__Document *document);
char *exports_call_event_ref(ovop_call_t *call, const Ovop__V1__Document *d);
