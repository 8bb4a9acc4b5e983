/* registryd: the programme's system of record. The service state shared by the handler
 * files (one file per concept: territories.c, producers.c, ...) and their common checks. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "dbcall.h"
#include "daemon.h"
#include "lookup.h"
#include "mutation.h"
#include "ovop/v1/registry.pb-c.h"
#include "sequencer.h"

#define REGISTRY_SERVICE      "ovop.registry"
#define REGISTRY_SOURCE       "/ovop/registry"
#define REGISTRY_DEFAULT_PAGE 100
#define REGISTRY_MAX_PAGE     1000
/* The six digits of certificate numbers, OVOP-<year>-<sequence>. */
#define REGISTRY_MAX_CERT_SEQUENCE 999999

typedef struct registry {
    ovop_daemon_t *d;
    ovop_pg_t *pg;
    ovop_sequencer_t *sequencer;
    ovop_mutator_t mutator;
    ovop_lookup_t *producer_lookup;  /* batched reads of producers by id */
    ovop_lookup_t *territory_lookup; /* batched reads of today's territories by code */
    uv_timer_t cert_timer;           /* certificate gauges (registry_cert_metrics_start) */
    bool cert_query_out;
    bool cert_stopped;
    ovop_metric_t *m_certs[4]; /* ovop_registry_certificates{status}: active..expired */
    ovop_metric_t *m_certs_expiring;
} registry_t;

/* Each registers its methods on the dispatcher. */
void registry_territories_register(registry_t *r);
void registry_producers_register(registry_t *r);
void registry_products_register(registry_t *r);
void registry_cooperatives_register(registry_t *r);
void registry_certification_register(registry_t *r);
void registry_certificates_register(registry_t *r);
void registry_territory_admin_register(registry_t *r);
void registry_specializations_register(registry_t *r);
/* The certificate gauges of /metrics, counted every REGISTRY_CERT_METRICS_MS
 * (certificates.c); stop closes the timer. */
#define REGISTRY_CERT_METRICS_MS 60000
void registry_cert_metrics_start(registry_t *r);
void registry_cert_metrics_stop(registry_t *r);

/* --- checks shared by the handlers (check.c; the generic ones are in common/check.h) --- */

/* A SOATE code: 14 digits starting with 417. Writes the reason otherwise. */
bool registry_soate_valid(const char *code, const char **ret_why);
/* The significant prefix of a SOATE code, as registry.soate_prefix() in SQL computes it,
 * into out (15 bytes). */
void registry_soate_prefix(const char *code, char out[static 15]);
/* A Kyrgyz INN: 14 digits; first digit 0 (organisation) or 1/2 (person, by sex); digits
 * 2..9 a real date DDMMYYYY (birth or registration). */
bool registry_inn_valid(const char *inn, const char **ret_why);
/* An HS code of 6 digits (existence in the list is the database's check). */
bool registry_hs_valid(const char *hs);
/* An optional date field: empty, or a real date written YYYY-MM-DD. Adds a violation. */
void registry_check_date(ovop_call_t *call, const char *field, const char *date);
/* A page token of a list ordered by SOATE code: *ret_after is the code to continue after
 * ("" without a token). Adds a violation on page_token otherwise. */
bool registry_check_code_token(ovop_call_t *call, const char *token, const char **ret_after);

/* --- certification levels --- */

/* Who approves an application (renews a certificate) of `stars`: district for 1-3, region
 * for 4, national for 5; UNSPECIFIED when it has none. */
Ovop__V1__ApprovalLevel registry_level_for_stars(uint32_t stars);
/* Whether the call's principal may decide on `stars` (0: anyone who got past the permission
 * table): certification.district approves 1-3 stars, certification.region up to 4,
 * certification.national up to 5. Otherwise fails the call with PERMISSION_DENIED, reason
 * LEVEL_NOT_ALLOWED, a message naming `what` ("approving application 9") and the role it
 * needs, and metadata level and role; nothing has been written then. */
bool registry_level_allowed(ovop_call_t *call, uint32_t stars, const char *what);

/* --- field masks of the update methods (AIP-134) --- */

/* A path an update method accepts, and the fields it names as bits of the method's own. */
typedef struct registry_mask_path {
    const char *path;
    uint32_t fields;
} registry_mask_path_t;

/* The fields an update changes: those mask's paths name (looked up in the method's table of n
 * paths; "*" names all of them), or, when mask is absent or has no paths, `given`: the fields
 * the request gives a value. Adds a violation on update_mask for each path not in the table,
 * and when the update would change no field. */
uint32_t registry_mask_fields(ovop_call_t *call, const Ovop__V1__FieldMask *mask,
                              const registry_mask_path_t *paths, size_t n, uint32_t given);

/* --- helpers of the handlers (check.c) --- */

/* A JSON document as compact text in the call's arena, for a jsonb argument; takes j's
 * reference. */
char *registry_json_text(ovop_call_t *call, json_t *j);
/* The number of a certificate issued on `today` (YYYY-MM-DD) whose sequence is `sequence`
 * (the text of nextval('registry.certificate_numbers')): OVOP-<year>-<6 digits>, in the
 * call's arena. Past six digits it logs, fails the call with RESOURCE_EXHAUSTED and returns
 * NULL. */
char *registry_certificate_number(ovop_call_t *call, const char *today, const char *sequence);

/* Reserves a new id from registry.ids and reads the database's today (YYYY-MM-DD, in the
 * call's arena), under the call's deadline, for a handler about to build a new record. cb
 * runs once with them; on a database error the call fails instead and cb never runs. */
typedef void (*registry_new_id_fn)(ovop_call_t *call, int64_t id, const char *today,
                                   void *userdata);
void registry_new_id(ovop_call_t *call, registry_t *r, registry_new_id_fn cb, void *userdata);

/* --- territory rows (territories.c), for every handler that answers with territories --- */

/* A Territory's columns, named as its fields (read by name, pbrow.h), from
 * registry.territories aliased t. The children count covers the versions valid on `date`
 * (REGISTRY_TERRITORY_COLUMNS: the query's date parameter $2). */
#define REGISTRY_TERRITORY_COLUMNS_ON(date)                                                        \
    "t.code, t.kind, coalesce(t.parent_code, '') AS parent_code, t.name_ru AS \"name.ru\", "       \
    "t.name_en AS \"name.en\", t.name_ky AS \"name.ky\", t.lat IS NOT NULL AS \"location.set\", "  \
    "t.lat AS \"location.lat\", t.lon AS \"location.lon\", t.valid_from::text AS valid_from, "     \
    "coalesce(t.valid_to::text, '') AS valid_to, coalesce(t.superseded_by, '') AS superseded_by, " \
    "(SELECT count(*) FROM registry.territories c WHERE c.parent_code = t.code "                   \
    "   AND c.valid_from <= " date " AND (c.valid_to IS NULL OR c.valid_to > " date ")) "          \
    "AS children"
#define REGISTRY_TERRITORY_COLUMNS REGISTRY_TERRITORY_COLUMNS_ON("$2::date")

/* The condition "the version aliased `alias` is valid on the date parameter `param`". */
#define REGISTRY_VALID_ON(alias, param)                                                            \
    alias ".valid_from <= " param "::date AND (" alias ".valid_to IS NULL OR " alias               \
          ".valid_to > " param "::date)"
