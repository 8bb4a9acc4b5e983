/* The programme dashboard of ovop-webd: a listener of its own (--dashboard-listen), separate
 * from the public pages, for operators signed in with their principals (session.h) through
 * ovop.web ApproveSignIn, which webd answers as an MDP worker. Its pages show aggregates read
 * through the brokers as svc-ovop.web (dashdata.c), cached for --dashboard-cache-ttl. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lang.h"
#include "session.h"
#include "util.h"

typedef struct web web_t;
typedef struct web_dash web_dash_t;

/* One territory of the map (a region or a district), with its villages' coverage. */
typedef struct dash_place {
    char code[24], parent[24], kind[24], region[24];
    char *name_en, *name_ru, *name_ky;
    bool located, approximate; /* approximate: placed around its region's point */
    double lat, lon;
    int villages, specialized;
    bool is_region, is_district;
} dash_place_t;

/* What the dashboard shows, read at fetched_us (Unix µs). Owned by the dashboard. */
typedef struct dash_data {
    dash_place_t *places;
    size_t n_places;
    /* Exports by region, and by region and destination (packed ExportStatisticsResponse). */
    void *exports_region, *exports_dest;
    /* Certificates: [stars 0..5][status 0..4] counts, every certificate counted once. */
    int64_t certs[6][5];
    /* Programmes: [kind 0..5][status 0..4] counts, and their participants by kind. */
    int64_t programmes[6][5], participants[6];
    void *funds;  /* FundsDisbursedResponse */
    void *events; /* ListRecentEventsResponse: the last events, newest first */
    int64_t fetched_us;
} dash_data_t;

/* Reads everything through the brokers (pool thread): 0 or -1 with *err (malloc'd). */
int dash_data_fetch(const web_t *w, dash_data_t **ret, char **err);
void dash_data_free(dash_data_t **d);

/* The dashboard's body (HTML) in l; signed_in: the principal shown. */
void dash_render(ovop_buf_t *out, web_lang_t l, const dash_data_t *d, const char *principal);
/* The sign-in page showing code. */
void dash_render_signin(ovop_buf_t *out, web_lang_t l, const char *code, int64_t ttl_s);

int web_dash_new(web_dash_t **ret, web_t *w, void *zctx);
uint16_t web_dash_port(const web_dash_t *d);
/* Says DRAINING to the brokers; the dashboard stops taking approvals. */
void web_dash_drain(web_dash_t *d);
size_t web_dash_waiting(const web_dash_t *d);
void web_dash_destroy(web_dash_t **d);
