/* The dashboard's data, read through the brokers as svc-ovop.web with the read methods every
 * authenticated principal may call: the territories with their coordinates and the villages
 * without a specialization (ovop.registry), export statistics (ovop.exports), every
 * certificate (ListCertificates, all pages: counts must be right, not a page), programmes and
 * funds (ovop.programme). Runs on a pool thread with a broker client of its own. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dash.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/programme.pb-c.h"
#include "ovop/v1/registry.pb-c.h"
#include "web.h"

#define MAX_PAGES 10000 /* 10 million rows at 1000 a page: a bound, not a limit met */

typedef void (*page_fn)(dash_data_t *d, const ProtobufCMessage *page);

typedef struct fetch_ctx {
    ovop_client_t *client;
    dash_data_t *d;
    char *err;
} fetch_ctx_t;

/* The programmes seen, for their participants (ListProgrammes does not count them). */
static _Thread_local struct prog_ref {
    int64_t id;
    unsigned kind;
} * tl_progs;
static _Thread_local size_t tl_n_progs;

static ProtobufCMessage *call(fetch_ctx_t *f, const char *service, const char *method,
                              const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_d)
{
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;
    int r = ovop_client_call(f->client, service, method, NULL, in, out_d, &rep, &out);
    if (r < 0)
        f->err = xasprintf("%s %s did not answer: %s", service, method, strerror(-r));
    else if (!out)
        f->err = xasprintf("%s refused %s: %s: %s", service, method,
                           rep->status && rep->status->reason ? rep->status->reason : "?",
                           rep->status && rep->status->message ? rep->status->message : "");
    if (rep)
        ovop__v1__reply__free_unpacked(rep, NULL);
    return out;
}

static void *field(const ProtobufCMessage *m, const char *name)
{
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    return fd ? (char *)m + fd->offset : NULL;
}

/* Every page of a list method: page_size and page_token of in are set here. */
static int call_pages(fetch_ctx_t *f, const char *service, const char *method, ProtobufCMessage *in,
                      const ProtobufCMessageDescriptor *out_d, page_fn fn)
{
    /* The largest page each service allows: the registry's 1000, the programme's 500. */
    int32_t size = strcmp(service, "ovop.registry") == 0 ? 1000 : 500;
    memcpy(field(in, "page_size"), &size, sizeof(size)); /* uint32 or int32: same bytes */
    char *token = xstrdup("");
    int r = 0;
    for (int pages = 0; pages < MAX_PAGES; pages++) {
        *(char **)field(in, "page_token") = token;
        ProtobufCMessage *out = call(f, service, method, in, out_d);
        if (!out) {
            r = -1;
            break;
        }
        fn(f->d, out);
        free(token);
        token = xstrdup(*(char **)field(out, "next_page_token"));
        protobuf_c_message_free_unpacked(out, NULL);
        if (!token[0])
            break;
    }
    *(char **)field(in, "page_token") = "";
    free(token);
    return r;
}

static void *packed(fetch_ctx_t *f, const char *service, const char *method,
                    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_d)
{
    ProtobufCMessage *out = call(f, service, method, in, out_d);
    if (!out)
        return NULL;
    size_t n = protobuf_c_message_get_packed_size(out);
    uint8_t *b = xmalloc(n + sizeof(size_t));
    memcpy(b, &n, sizeof(n)); /* length first: the renderer unpacks it */
    protobuf_c_message_pack(out, b + sizeof(n));
    protobuf_c_message_free_unpacked(out, NULL);
    return b;
}

static bool kind_in(const char *kind, const char *const *kinds)
{
    for (; *kinds; kinds++)
        if (strcmp(kind, *kinds) == 0)
            return true;
    return false;
}

static const char *const region_kinds[] = {"oblast", "city_republican", NULL};
static const char *const district_kinds[] = {"rayon", "city_oblast", NULL};

/* Territories are kept whole (villages too, for the walk to their district), sorted later. */
static void add_territories(dash_data_t *d, const ProtobufCMessage *m)
{
    const Ovop__V1__ListTerritoriesResponse *r = (const Ovop__V1__ListTerritoriesResponse *)m;
    d->places = xrealloc(d->places, (d->n_places + r->n_territories) * sizeof(*d->places));
    for (size_t i = 0; i < r->n_territories; i++) {
        const Ovop__V1__Territory *t = r->territories[i];
        dash_place_t *p = &d->places[d->n_places++];
        memset(p, 0, sizeof(*p));
        snprintf(p->code, sizeof(p->code), "%s", t->code);
        snprintf(p->parent, sizeof(p->parent), "%s", t->parent_code);
        snprintf(p->kind, sizeof(p->kind), "%s", t->kind);
        p->name_en = xstrdup(t->name && t->name->en ? t->name->en : t->code);
        p->name_ru = xstrdup(t->name && t->name->ru ? t->name->ru : "");
        p->name_ky = xstrdup(t->name && t->name->ky ? t->name->ky : "");
        p->located = t->location && t->location->set;
        p->lat = p->located ? t->location->lat : 0;
        p->lon = p->located ? t->location->lon : 0;
        p->is_region = kind_in(t->kind, region_kinds);
        p->is_district = kind_in(t->kind, district_kinds);
    }
}

static int by_code(const void *a, const void *b)
{
    return strcmp(((const dash_place_t *)a)->code, ((const dash_place_t *)b)->code);
}

static dash_place_t *find(dash_data_t *d, const char *code)
{
    dash_place_t key;
    snprintf(key.code, sizeof(key.code), "%s", code);
    return bsearch(&key, d->places, d->n_places, sizeof(*d->places), by_code);
}

/* Unspecialized villages are marked with specialized = -1 until counted. */
static void mark_unspecialized(dash_data_t *d, const ProtobufCMessage *m)
{
    const Ovop__V1__ListTerritoriesResponse *r = (const Ovop__V1__ListTerritoriesResponse *)m;
    for (size_t i = 0; i < r->n_territories; i++) {
        dash_place_t *p = find(d, r->territories[i]->code);
        if (p)
            p->specialized = -1;
    }
}

/* The region of each district: its first ancestor of a region's kind. */
static void set_regions(dash_data_t *d)
{
    for (size_t i = 0; i < d->n_places; i++) {
        dash_place_t *t = &d->places[i];
        if (!t->is_district)
            continue;
        for (dash_place_t *p = find(d, t->parent); p; p = find(d, p->parent))
            if (p->is_region) {
                snprintf(t->region, sizeof(t->region), "%s", p->code);
                break;
            }
    }
}

/* Each village counts in its district and its region (the first ancestors of those kinds). */
static void count_villages(dash_data_t *d)
{
    for (size_t i = 0; i < d->n_places; i++) {
        dash_place_t *v = &d->places[i];
        if (strcmp(v->kind, "village") != 0)
            continue;
        bool covered = v->specialized != -1;
        dash_place_t *district = NULL, *region = NULL;
        for (dash_place_t *p = find(d, v->parent); p && !region; p = find(d, p->parent)) {
            if (p->is_district && !district)
                district = p;
            if (p->is_region)
                region = p;
        }
        if (district) {
            district->villages++;
            district->specialized += covered;
        }
        if (region) {
            region->villages++;
            region->specialized += covered;
        }
    }
}

/* Only regions and districts stay. */
static void keep_map_places(dash_data_t *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n_places; i++) {
        dash_place_t *p = &d->places[i];
        if (p->is_region || p->is_district) {
            d->places[n++] = *p;
        } else {
            free(p->name_en);
            free(p->name_ru);
            free(p->name_ky);
        }
    }
    d->n_places = n;
}

/* A district without coordinates (the seed lacks many) is drawn on a ring around its region's
 * point, marked approximate, so that every district of the country shows on the map. */
static void place_unlocated(dash_data_t *d)
{
    for (size_t i = 0; i < d->n_places; i++) {
        dash_place_t *r = &d->places[i];
        if (!r->is_region || !r->located)
            continue;
        int n = 0, k = 0;
        for (size_t j = 0; j < d->n_places; j++)
            n += d->places[j].is_district && !d->places[j].located &&
                 strcmp(d->places[j].region, r->code) == 0;
        for (size_t j = 0; j < d->n_places; j++) {
            dash_place_t *p = &d->places[j];
            if (!p->is_district || p->located || strcmp(p->region, r->code) != 0)
                continue;
            double a = 2 * M_PI * k++ / n;
            p->lat = r->lat + 0.3 * sin(a);
            p->lon = r->lon + 0.4 * cos(a);
            p->located = p->approximate = true;
        }
    }
}

static void add_certificates(dash_data_t *d, const ProtobufCMessage *m)
{
    const Ovop__V1__ListCertificatesResponse *r = (const Ovop__V1__ListCertificatesResponse *)m;
    for (size_t i = 0; i < r->n_certificates; i++) {
        const Ovop__V1__Certificate *c = r->certificates[i];
        d->certs[c->stars <= 5 ? c->stars : 0][(unsigned)c->status <= 4 ? c->status : 0]++;
    }
}

static void add_programmes(dash_data_t *d, const ProtobufCMessage *m)
{
    const Ovop__V1__ListProgrammesResponse *r = (const Ovop__V1__ListProgrammesResponse *)m;
    for (size_t i = 0; i < r->n_programmes; i++) {
        const Ovop__V1__Programme *p = r->programmes[i];
        unsigned k = (unsigned)p->kind <= 5 ? (unsigned)p->kind : 0;
        d->programmes[k][(unsigned)p->status <= 4 ? p->status : 0]++;
        tl_progs = xrealloc(tl_progs, (tl_n_progs + 1) * sizeof(*tl_progs));
        tl_progs[tl_n_progs++] = (struct prog_ref){p->id, k};
    }
}

static int fetch_registry(fetch_ctx_t *f)
{
    Ovop__V1__ListTerritoriesRequest lt = OVOP__V1__LIST_TERRITORIES_REQUEST__INIT;
    if (call_pages(f, "ovop.registry", "ListTerritories", &lt.base,
                   &ovop__v1__list_territories_response__descriptor, add_territories) < 0)
        return -1;
    qsort(f->d->places, f->d->n_places, sizeof(*f->d->places), by_code);
    Ovop__V1__UnspecializedTerritoriesRequest ut =
        OVOP__V1__UNSPECIALIZED_TERRITORIES_REQUEST__INIT;
    ut.kind = "village";
    if (call_pages(f, "ovop.registry", "ListUnspecializedTerritories", &ut.base,
                   &ovop__v1__list_territories_response__descriptor, mark_unspecialized) < 0)
        return -1;
    set_regions(f->d);
    count_villages(f->d);
    keep_map_places(f->d);
    place_unlocated(f->d);
    Ovop__V1__ListCertificatesRequest lc = OVOP__V1__LIST_CERTIFICATES_REQUEST__INIT;
    return call_pages(f, "ovop.registry", "ListCertificates", &lc.base,
                      &ovop__v1__list_certificates_response__descriptor, add_certificates);
}

/* GetProgramme counts a programme's participants: one call per programme. */
static int count_participants(fetch_ctx_t *f)
{
    for (size_t i = 0; i < tl_n_progs; i++) {
        Ovop__V1__GetProgrammeRequest in = OVOP__V1__GET_PROGRAMME_REQUEST__INIT;
        in.id = tl_progs[i].id;
        Ovop__V1__Programme *p = (Ovop__V1__Programme *)call(
            f, "ovop.programme", "GetProgramme", &in.base, &ovop__v1__programme__descriptor);
        if (!p)
            return -1;
        f->d->participants[tl_progs[i].kind] += p->participants;
        ovop__v1__programme__free_unpacked(p, NULL);
    }
    return 0;
}

static int fetch_others(fetch_ctx_t *f)
{
    Ovop__V1__StatsDimension by_region[] = {OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_REGION};
    Ovop__V1__StatsDimension by_dest[] = {OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_REGION,
                                          OVOP__V1__STATS_DIMENSION__STATS_DIMENSION_DESTINATION};
    Ovop__V1__ExportStatisticsRequest es = OVOP__V1__EXPORT_STATISTICS_REQUEST__INIT;
    es.group_by = by_region;
    es.n_group_by = 1;
    f->d->exports_region = packed(f, "ovop.exports", "GetExportStatistics", &es.base,
                                  &ovop__v1__export_statistics_response__descriptor);
    es.group_by = by_dest;
    es.n_group_by = 2;
    if (f->d->exports_region)
        f->d->exports_dest = packed(f, "ovop.exports", "GetExportStatistics", &es.base,
                                    &ovop__v1__export_statistics_response__descriptor);
    if (!f->d->exports_dest)
        return -1;
    Ovop__V1__ListProgrammesRequest lp = OVOP__V1__LIST_PROGRAMMES_REQUEST__INIT;
    tl_n_progs = 0;
    if (call_pages(f, "ovop.programme", "ListProgrammes", &lp.base,
                   &ovop__v1__list_programmes_response__descriptor, add_programmes) < 0 ||
        count_participants(f) < 0) {
        free(tl_progs);
        tl_progs = NULL;
        return -1;
    }
    free(tl_progs);
    tl_progs = NULL;
    Ovop__V1__FundsDisbursedRequest fd = OVOP__V1__FUNDS_DISBURSED_REQUEST__INIT;
    f->d->funds = packed(f, "ovop.programme", "FundsDisbursed", &fd.base,
                         &ovop__v1__funds_disbursed_response__descriptor);
    if (!f->d->funds)
        return -1;
    Ovop__V1__ListRecentEventsRequest re = OVOP__V1__LIST_RECENT_EVENTS_REQUEST__INIT;
    re.limit = 20;
    f->d->events = packed(f, "ovop.programme", "ListRecentEvents", &re.base,
                          &ovop__v1__list_recent_events_response__descriptor);
    return f->d->events ? 0 : -1;
}

int dash_data_fetch(const web_t *w, dash_data_t **ret, char **err)
{
    const web_conf_t *c = &w->conf;
    ovop_client_options_t opts = {.brokers = c->broker,
                                  .timeout_ms = (uint32_t)c->lookup_timeout_ms,
                                  .retries = 1,
                                  .max_msg = 16 << 20,
                                  .security = &w->security};
    fetch_ctx_t f = {.d = xcalloc(1, sizeof(dash_data_t))};
    int r = ovop_client_new(&f.client, NULL, &opts);
    if (r < 0) {
        *err = xasprintf("could not open a broker client: %s", strerror(-r));
        dash_data_free(&f.d);
        return -1;
    }
    r = fetch_registry(&f) == 0 && fetch_others(&f) == 0 ? 0 : -1;
    ovop_client_destroy(&f.client);
    if (r < 0) {
        *err = f.err ? f.err : xstrdup("?");
        dash_data_free(&f.d);
        return -1;
    }
    f.d->fetched_us = ovop_now_us();
    *ret = f.d;
    return 0;
}

void dash_data_free(dash_data_t **dp)
{
    dash_data_t *d = *dp;
    if (!d)
        return;
    *dp = NULL;
    for (size_t i = 0; i < d->n_places; i++) {
        free(d->places[i].name_en);
        free(d->places[i].name_ru);
        free(d->places[i].name_ky);
    }
    free(d->places);
    free(d->exports_region);
    free(d->exports_dest);
    free(d->funds);
    free(d->events);
    free(d);
}
