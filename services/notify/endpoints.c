/* Webhook endpoints: the URL (checked against the private-address rules, again at every
 * connection by the webhook client), the format, and the signing secret notifyd generates:
 * returned once by CreateEndpoint and RotateEndpointSecret, stored sealed under
 * --secrets-key with the endpoint id as associated data, never logged. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dbcall.h"
#include "log.h"
#include "methods.h"
#include "pbrow.h"
#include "read.h"
#include "seal.h"
#include "sign.h"
#include "webhook.h"

#define ENDPOINT_COLUMNS                                                                           \
    "e.id::text AS id, e.agency, e.url, e.format, e.status, "                                      \
    "coalesce((extract(epoch FROM e.old_secret_until) * 1000000)::bigint, 0) "                     \
    "AS old_secret_until_us, (extract(epoch FROM e.created_at) * 1000000)::bigint AS created_us"

static const ovop_read_t endpoint = {
    .sql = "SELECT " ENDPOINT_COLUMNS " FROM notify.endpoints e "
           "WHERE e.id = $1::uuid AND ($2 = '' OR e.agency = $2)",
    .row = &ovop__v1__endpoint__descriptor,
    .noun = "endpoint (of the caller's agency)",
};

static const ovop_read_t endpoints = {
    .row = &ovop__v1__endpoint__descriptor,
    .page = {&ovop__v1__list_endpoints_response__descriptor, "endpoints", "id"},
};

/* A freshly generated secret, sealed for endpoint id; false after failing the call. */
static bool new_secret(ovop_call_t *call, notifyd_t *n, const char *id, char **ret_secret,
                       char **ret_sealed)
{
    if (!n->have_seal_key) {
        ovop_call_fail_reason(call, OVOP_FAILED_PRECONDITION, "SECRETS_KEY_MISSING",
                              "this notifyd has no --secrets-key: it cannot keep signing secrets");
        return false;
    }
    char *secret = notify_secret_generate();
    char *sealed = secret ? notify_seal(n->seal_key, secret, id) : NULL;
    if (!sealed) {
        free(secret);
        log_error_rid(ovop_call_request_id(call), "could not generate or seal a secret");
        ovop_call_fail_internal(call);
        return false;
    }
    *ret_secret = ovop_call_strdup(call, secret);
    *ret_sealed = ovop_call_strdup(call, sealed);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    free(sealed);
    return true;
}

typedef struct secret_call {
    ovop_call_t *call;
    char *secret;
    /* CreateEndpoint: what it asked for, to answer it again when it is sent again. */
    notifyd_t *n;
    const char *agency, *url, *format;
    bool replay; /* the row is the one an earlier copy created: its secret is unsealed */
} secret_call_t;

static void on_secret_row(PGresult *res, const char *error, void *userdata);

/* CreateEndpoint sent again with the request id of one that created its endpoint (its reply
 * was lost, or a client resent it when a broker restarted): the same endpoint and its current
 * secret, as any retry gets its first answer. The caller's agency could rotate the secret
 * anyway, so this shows it nothing new. Another URL or format under that id is a reuse. */
static void replay_created(secret_call_t *sc)
{
    const char *params[] = {sc->agency, ovop_call_request_id(sc->call), sc->url, sc->format};
    sc->replay = true;
    ovop_call_query(sc->call, sc->n->pg,
                    "SELECT " ENDPOINT_COLUMNS ", e.secret_sealed FROM notify.endpoints e "
                    "WHERE e.agency = $1 AND e.request_id = $2 AND e.url = $3 AND e.format = $4",
                    4, params, on_secret_row, sc);
}

/* The replayed endpoint's secret, unsealed into the call; false after failing it. */
static bool unseal_secret(secret_call_t *sc, PGresult *res, const char *id)
{
    char *plain = NULL;
    int col = PQfnumber(res, "secret_sealed");
    if (col < 0 || notify_unseal(sc->n->seal_key, PQgetvalue(res, 0, col), id, &plain) < 0) {
        log_error("request %s: the secret of endpoint %s does not unseal with this --secrets-key",
                  ovop_call_request_id(sc->call), id);
        ovop_call_fail_internal(sc->call);
        return false;
    }
    sc->secret = ovop_call_strdup(sc->call, plain);
    explicit_bzero(plain, strlen(plain));
    free(plain);
    return true;
}

static void on_secret_row(PGresult *res, const char *error, void *userdata)
{
    secret_call_t *sc = userdata;
    ovop_call_t *call = sc->call;
    if (error) {
        ovop_call_fail_db(call, res, error);
        return;
    }
    if (PQntuples(res) != 1) {
        const Ovop__V1__GetEndpointRequest *in =
            (const Ovop__V1__GetEndpointRequest *)ovop_call_input(call);
        if (sc->n && !sc->replay)
            replay_created(sc);
        else if (sc->n)
            ovop_call_fail_reason(call, OVOP_ALREADY_EXISTS, "REQUEST_ID_REUSED",
                                  "this request id created an endpoint with another url or "
                                  "format already");
        else
            ovop_call_fail_reason(call, OVOP_NOT_FOUND, "NOT_FOUND",
                                  "no endpoint %s of the caller's agency", in->id);
        return;
    }
    ovop_rowmap_t *map =
        ovop_rowmap_new(ovop_call_arena(call), &ovop__v1__endpoint__descriptor, res);
    const char *why;
    ProtobufCMessage *ep = ovop_rowmap_decode(map, res, 0, &why);
    if (!ep) {
        log_error_rid(ovop_call_request_id(call), "endpoint row: %s", why);
        ovop_call_fail_internal(call);
        return;
    }
    if (sc->replay && !unseal_secret(sc, res, ((Ovop__V1__Endpoint *)ep)->id))
        return;
    Ovop__V1__EndpointSecret *out =
        (Ovop__V1__EndpointSecret *)ovop_call_message(call, &ovop__v1__endpoint_secret__descriptor);
    out->endpoint = (Ovop__V1__Endpoint *)ep;
    out->secret = sc->secret;
    ovop_call_finish(call, &out->base);
}

/* CreateEndpoint after the validation: the URL's address check resolves its host name, which
 * may take seconds, so it runs on libuv's thread pool and the loop keeps serving. */
typedef struct create_call {
    uv_work_t work;
    ovop_call_t *call;
    notifyd_t *n;
    const char *agency, *url, *format; /* in the call's arena or its input */
    int r;
    char *why;
} create_call_t;

static void url_check_work(uv_work_t *w)
{
    create_call_t *cc = w->data;
    cc->r = notify_webhook_check_url(cc->url, cc->n->webhook_allow, &cc->why);
}

static void url_check_done(uv_work_t *w, int status)
{
    create_call_t *cc = w->data;
    ovop_call_t *call = cc->call;
    notifyd_t *n = cc->n;
    if (status < 0 || cc->r < 0) {
        ovop_call_reason(call, cc->r == -EPERM ? "ADDRESS_NOT_ALLOWED" : "URL_INVALID");
        ovop_call_violation(call, "url", "%s", cc->why ? cc->why : "could not be checked");
        free(cc->why);
        ovop_call_fail_violations(call);
        return;
    }
    free(cc->why);
    const char *id = ovop_call_uuid(call);
    secret_call_t *sc = ovop_call_alloc(call, sizeof(*sc));
    *sc = (secret_call_t){
        .call = call, .n = n, .agency = cc->agency, .url = cc->url, .format = cc->format};
    char *sealed;
    if (!new_secret(call, n, id, &sc->secret, &sealed))
        return;
    const char *params[] = {id,
                            cc->agency,
                            cc->url,
                            cc->format,
                            sealed,
                            ovop_call_caller(call),
                            ovop_call_request_id(call)};
    ovop_call_query(call, n->pg,
                    "INSERT INTO notify.endpoints AS e (id, agency, url, format, secret_sealed, "
                    "created_by, request_id) VALUES ($1::uuid, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT (agency, request_id) DO NOTHING RETURNING " ENDPOINT_COLUMNS,
                    7, params, on_secret_row, sc);
}

static void create_endpoint(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__CreateEndpointRequest *in = (const Ovop__V1__CreateEndpointRequest *)input;
    const char *agency = methods_agency(call, in->agency, true);
    if (!agency)
        return;
    if (strlen(in->url) > 2000) {
        ovop_call_reason(call, "URL_INVALID");
        ovop_call_violation(call, "url", "longer than 2000 characters");
    }
    const char *format =
        in->format ? ovop_enum_text(&ovop__v1__endpoint_format__descriptor, (int)in->format)
                   : "cloudevents_json";
    if (!*format)
        ovop_call_violation(call, "format", "unknown format %d", (int)in->format);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    create_call_t *cc = ovop_call_alloc(call, sizeof(*cc));
    *cc = (create_call_t){.call = call, .n = n, .agency = agency, .url = in->url, .format = format};
    cc->work.data = cc;
    int r = uv_queue_work(n->loop, &cc->work, url_check_work, url_check_done);
    if (r < 0) {
        log_error_rid(ovop_call_request_id(call), "could not queue the URL check: %s",
                      uv_strerror(r));
        ovop_call_fail_internal(call);
    }
}

static bool check_id(ovop_call_t *call, const char *id)
{
    if (notify_uuid_valid(id))
        return true;
    ovop_call_violation(call, "id", "must be an endpoint's UUID, got \"%s\"", id);
    ovop_call_fail_violations(call);
    return false;
}

static void rotate_secret(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__GetEndpointRequest *in = (const Ovop__V1__GetEndpointRequest *)input;
    const char *agency;
    if (!check_id(call, in->id) || !(agency = methods_agency(call, "", false)))
        return;
    secret_call_t *sc = ovop_call_alloc(call, sizeof(*sc));
    *sc = (secret_call_t){.call = call};
    char *sealed;
    if (!new_secret(call, n, in->id, &sc->secret, &sealed))
        return;
    char overlap[24];
    snprintf(overlap, sizeof(overlap), "%" PRId64, n->overlap_s);
    const char *params[] = {in->id, agency, sealed, overlap};
    ovop_call_query(
        call, n->pg,
        "UPDATE notify.endpoints AS e SET old_secret_sealed = e.secret_sealed, "
        "old_secret_until = now() + make_interval(secs => $4::bigint), "
        "secret_sealed = $3, updated_at = now() "
        "WHERE e.id = $1::uuid AND ($2 = '' OR e.agency = $2) RETURNING " ENDPOINT_COLUMNS,
        4, params, on_secret_row, sc);
}

static void disable_endpoint(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__GetEndpointRequest *in = (const Ovop__V1__GetEndpointRequest *)input;
    const char *agency;
    if (!check_id(call, in->id) || !(agency = methods_agency(call, "", false)))
        return;
    static const ovop_read_t disable = {
        .sql = "UPDATE notify.endpoints AS e SET status = 'disabled', updated_at = now() "
               "WHERE e.id = $1::uuid AND ($2 = '' OR e.agency = $2) RETURNING " ENDPOINT_COLUMNS,
        .row = &ovop__v1__endpoint__descriptor,
        .noun = "endpoint (of the caller's agency)",
    };
    const char *params[] = {in->id, agency};
    ovop_read_one(call, n->pg, &disable, in->id, 2, params);
}

static void get_endpoint(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__GetEndpointRequest *in = (const Ovop__V1__GetEndpointRequest *)input;
    const char *agency;
    if (!check_id(call, in->id) || !(agency = methods_agency(call, "", false)))
        return;
    const char *params[] = {in->id, agency};
    ovop_read_one(call, n->pg, &endpoint, in->id, 2, params);
}

static void list_endpoints(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    notifyd_t *n = userdata;
    const Ovop__V1__ListEndpointsRequest *in = (const Ovop__V1__ListEndpointsRequest *)input;
    const char *agency = methods_agency(call, in->agency, false);
    if (!agency)
        return;
    const char *params[] = {agency};
    ovop_read_all(call, n->pg, &endpoints,
                  "SELECT " ENDPOINT_COLUMNS " FROM notify.endpoints e "
                  "WHERE ($1 = '' OR e.agency = $1) ORDER BY e.agency, e.created_at, e.id",
                  1, params);
}

static const ovop_method_t methods[] = {
    {"CreateEndpoint", create_endpoint},   {"GetEndpoint", get_endpoint},
    {"ListEndpoints", list_endpoints},     {"RotateEndpointSecret", rotate_secret},
    {"DisableEndpoint", disable_endpoint},
};

void endpoints_register(notifyd_t *n)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(n->d), methods, n);
}
