/* Brand certification, second half: certificates once issued (certification.c issues them
 * on approval). Renewal issues a successor; suspension, reinstatement and revocation change
 * the certificate itself. EXPIRED is never stored: an active certificate reads as expired
 * from the day of its expiry date (registry.certificate_status), the same rule by which
 * registry.producer_stars stops counting it, so expiry needs no job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "page.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

#define MAX_REASON        500
#define MAX_CERT_SEQUENCE 999999

static const char *const status_names[] = {"", "active", "suspended", "revoked", "expired"};

static int status_index(const char *s)
{
    for (size_t i = 1; i < OVOP_ARRAY_SIZE(status_names); i++)
        if (strcmp(status_names[i], s) == 0)
            return (int)i;
    return 0;
}

/* The certificate columns, in the order cert_from_row reads them. */
#define CERTIFICATE_COLUMNS                                                                        \
    "c.number, c.producer_id, c.product_id, c.application_id, c.stars, c.issued_on::text, "        \
    "c.expires_on::text, registry.certificate_status(c.status, c.expires_on), c.reason, "          \
    "coalesce(c.renewed_from, ''), c.version"
#define CERTIFICATE_NCOLS 11

static const char get_sql[] =
    "SELECT " CERTIFICATE_COLUMNS " FROM registry.certificates c WHERE c.number = $1";

/* For a renewal, also the database's today, the expiry of a certificate issued today and
 * the successor's number. */
static const char renew_sql[] = "SELECT " CERTIFICATE_COLUMNS ", current_date::text, "
                                "registry.certificate_expiry(current_date)::text, "
                                "nextval('registry.certificate_numbers') "
                                "FROM registry.certificates c WHERE c.number = $1";

/* Strings borrow res. */
static void cert_from_row(PGresult *res, int i, Ovop__V1__Certificate *c)
{
    ovop__v1__certificate__init(c);
    c->number = PQgetvalue(res, i, 0);
    c->producer_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    c->product_id = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    c->application_id = strtoll(PQgetvalue(res, i, 3), NULL, 10);
    c->stars = (uint32_t)strtoul(PQgetvalue(res, i, 4), NULL, 10);
    c->issued_on = PQgetvalue(res, i, 5);
    c->expires_on = PQgetvalue(res, i, 6);
    c->status = status_index(PQgetvalue(res, i, 7));
    c->reason = PQgetvalue(res, i, 8);
    c->renewed_from = PQgetvalue(res, i, 9);
    c->version = (int32_t)strtol(PQgetvalue(res, i, 10), NULL, 10);
}

/* OVOP-<4-digit year>-<6-digit sequence>. */
static bool number_valid(const char *s)
{
    static const char pattern[] = "OVOP-9999-999999"; /* 9: any digit */
    if (strlen(s) != sizeof(pattern) - 1)
        return false;
    for (size_t i = 0; pattern[i]; i++)
        if (pattern[i] == '9' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i])
            return false;
    return true;
}

static bool check_number(ovop_call_t *call, const char *number)
{
    if (!number[0])
        ovop_call_violation(call, "number", "is required");
    else if (!number_valid(number))
        ovop_call_violation(call, "number",
                            "must be a certificate number like OVOP-2026-000123, got \"%.32s\"",
                            number);
    else
        return true;
    return false;
}

/* --- GetCertificate --- */

typedef struct get_ctx {
    ovop_call_t *call;
    char number[17];
} get_ctx_t;

static void on_get(PGresult *res, const char *error, void *userdata)
{
    get_ctx_t *g = userdata;
    if (error) {
        ovop_call_fail_db(g->call, res, error);
    } else if (PQntuples(res) == 0) {
        ovop_call_fail(g->call, OVOP_NOT_FOUND, "no certificate with number %s", g->number);
    } else {
        Ovop__V1__Certificate c;
        cert_from_row(res, 0, &c);
        ovop_call_finish(g->call, &c.base);
    }
    free(g);
}

static void get_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetCertificateRequest *in = (const Ovop__V1__GetCertificateRequest *)input;
    registry_t *r = userdata;
    if (!check_number(call, in->number)) {
        ovop_call_fail_violations(call);
        return;
    }
    get_ctx_t *g = xmalloc(sizeof(*g));
    g->call = call;
    snprintf(g->number, sizeof(g->number), "%s", in->number);
    const char *params[] = {g->number};
    ovop_call_query(call, r->pg, get_sql, 1, params, on_get, g);
}

/* --- RenewCertificate, SuspendCertificate, ReinstateCertificate, RevokeCertificate --- */

typedef enum cert_action {
    CERT_RENEW,
    CERT_SUSPEND,
    CERT_REINSTATE,
    CERT_REVOKE,
} cert_action_t;

static const char *cert_action_to_string(cert_action_t a)
{
    static const char *const names[] = {"renew", "suspend", "reinstate", "revoke"};
    return names[a];
}

typedef struct change_ctx {
    ovop_call_t *call;
    registry_t *r;
    cert_action_t action;
    const Ovop__V1__ChangeCertificateRequest *in; /* outlives the call's queries */
} change_ctx_t;

/* The successor of the certificate in res, issued today. */
static void store_renewal(change_ctx_t *cx, PGresult *res)
{
    const char *today = PQgetvalue(res, 0, CERTIFICATE_NCOLS);
    long long seq = strtoll(PQgetvalue(res, 0, CERTIFICATE_NCOLS + 2), NULL, 10);
    if (seq > MAX_CERT_SEQUENCE) {
        log_error_rid(ovop_call_request_id(cx->call),
                      "registry.certificate_numbers reached %lld, past the six digits of "
                      "certificate numbers",
                      seq);
        ovop_call_fail(cx->call, OVOP_RESOURCE_EXHAUSTED,
                       "certificate numbers are exhausted; ask the operators to extend the "
                       "numbering");
        return;
    }
    char number[32];
    snprintf(number, sizeof(number), "OVOP-%.4s-%06lld", today, seq);
    Ovop__V1__Certificate c;
    cert_from_row(res, 0, &c);
    c.renewed_from = c.number;
    c.number = number;
    c.issued_on = (char *)today;
    c.expires_on = PQgetvalue(res, 0, CERTIFICATE_NCOLS + 1);
    c.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    c.reason = "";
    c.version = 1;

    char version[16], at[24], uuid[37];
    snprintf(version, sizeof(version), "%d", cx->in->version);
    snprintf(at, sizeof(at), "%lld", (long long)ovop_now_us());
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&c.base);
    const char *args[] = {c.renewed_from, version, number, today, at, uuid, event};
    ovop_mutate(cx->call, &cx->r->mutator,
                "SELECT * FROM registry.renew_certificate($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12)",
                (int)OVOP_ARRAY_SIZE(args), args, &c.base);
    free(event);
}

/* The certificate in res with its new status and reason. */
static void store_change(change_ctx_t *cx, PGresult *res)
{
    Ovop__V1__Certificate c;
    cert_from_row(res, 0, &c);
    switch (cx->action) {
    case CERT_SUSPEND:
        c.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED;
        break;
    case CERT_REINSTATE:
        c.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
        break;
    default:
        c.status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_REVOKED;
        break;
    }
    c.reason = cx->in->reason;
    c.version = cx->in->version + 1;

    char version[16], at[24], uuid[37];
    snprintf(version, sizeof(version), "%d", cx->in->version);
    snprintf(at, sizeof(at), "%lld", (long long)ovop_now_us());
    ovop_uuid4(uuid);
    char *event = ovop_bytea_message(&c.base);
    const char *args[] = {c.number, version, cert_action_to_string(cx->action), c.reason, at,
                          uuid,     event};
    ovop_mutate(cx->call, &cx->r->mutator,
                "SELECT * FROM registry.change_certificate($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                "$10, $11, $12)",
                (int)OVOP_ARRAY_SIZE(args), args, &c.base);
    free(event);
}

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    if (error)
        ovop_call_fail_db(cx->call, res, error);
    else if (PQntuples(res) == 0)
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no certificate with number %s", cx->in->number);
    else if (cx->action == CERT_RENEW)
        store_renewal(cx, res);
    else
        store_change(cx, res);
    free(cx);
}

static void change_certificate(ovop_call_t *call, const ProtobufCMessage *input, registry_t *r,
                               cert_action_t action)
{
    const Ovop__V1__ChangeCertificateRequest *in =
        (const Ovop__V1__ChangeCertificateRequest *)input;
    check_number(call, in->number);
    if (in->version <= 0)
        ovop_call_violation(call, "version", "must be the version you read, got %d", in->version);
    if (ovop_check_text(call, "reason", in->reason, MAX_REASON, false) && !in->reason[0] &&
        (action == CERT_SUSPEND || action == CERT_REVOKE))
        ovop_call_violation(call, "reason", "is required to %s a certificate",
                            cert_action_to_string(action));
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    change_ctx_t *cx = xcalloc(1, sizeof(*cx));
    cx->call = call;
    cx->r = r;
    cx->action = action;
    cx->in = in;
    const char *params[] = {in->number};
    ovop_call_query(call, r->pg, action == CERT_RENEW ? renew_sql : get_sql, 1, params, on_current,
                    cx);
}

static void renew_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_certificate(call, input, userdata, CERT_RENEW);
}

static void suspend_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_certificate(call, input, userdata, CERT_SUSPEND);
}

static void reinstate_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_certificate(call, input, userdata, CERT_REINSTATE);
}

static void revoke_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    change_certificate(call, input, userdata, CERT_REVOKE);
}

/* --- ListCertificates --- */

/* $3 is the status a client sees, so "expired" and "active" follow the dates. */
static const char list_sql[] =
    "SELECT " CERTIFICATE_COLUMNS " FROM registry.certificates c "
    "JOIN registry.producers p ON p.id = c.producer_id "
    "WHERE ($1::bigint = 0 OR c.producer_id = $1::bigint) "
    "  AND ($2 = '' OR p.territory_code LIKE $2 || '%') "
    "  AND ($3 = '' OR registry.certificate_status(c.status, c.expires_on) = $3) "
    "  AND c.number > $4 "
    "ORDER BY c.number LIMIT $5::int";

typedef struct list_ctx {
    ovop_call_t *call;
    unsigned page_size;
} list_ctx_t;

static void cert_decode(PGresult *res, int i, void *row)
{
    cert_from_row(res, i, row);
}

static const ovop_page_t cert_page = {
    .response = &ovop__v1__list_certificates_response__descriptor,
    .rows = "certificates",
    .row_size = sizeof(Ovop__V1__Certificate),
    .decode = cert_decode,
    .free_row = NULL,
    .key_column = 0,
};

static void on_list(PGresult *res, const char *error, void *userdata)
{
    list_ctx_t *l = userdata;
    if (error) {
        ovop_call_fail_db(l->call, res, error);
        free(l);
        return;
    }
    ovop_page_finish(l->call, res, l->page_size, &cert_page);
    free(l);
}

static void list_certificates(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__ListCertificatesRequest *in = (const Ovop__V1__ListCertificatesRequest *)input;
    registry_t *r = userdata;
    const char *why;
    char prefix[15] = "";
    const char *after = "";

    if (in->producer_id < 0)
        ovop_call_violation(call, "producer_id", "must be a producer id or 0 for any, got %lld",
                            (long long)in->producer_id);
    if (in->territory_prefix[0]) {
        if (!registry_soate_valid(in->territory_prefix, &why))
            ovop_call_violation(call, "territory_prefix", "%s, got \"%.32s\"", why,
                                in->territory_prefix);
        else
            registry_soate_prefix(in->territory_prefix, prefix);
    }
    if ((unsigned)in->status >= OVOP_ARRAY_SIZE(status_names))
        ovop_call_violation(call, "status", "unknown certificate status %d", (int)in->status);
    unsigned page =
        ovop_check_page_size(call, in->page_size, REGISTRY_DEFAULT_PAGE, REGISTRY_MAX_PAGE);
    if (ovop_page_token_read(call, in->page_token, &after) && after[0] && !number_valid(after))
        ovop_call_violation(call, "page_token",
                            "is not a token this service returned; start without one");
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    list_ctx_t *l = xmalloc(sizeof(*l));
    l->call = call;
    l->page_size = page;
    char producer[24], limit[16];
    snprintf(producer, sizeof(producer), "%lld", (long long)in->producer_id);
    snprintf(limit, sizeof(limit), "%u", page + 1);
    const char *params[] = {producer, prefix, status_names[in->status], after, limit};
    ovop_call_query(call, r->pg, list_sql, 5, params, on_list, l);
}

static const ovop_method_t methods[] = {
    {"GetCertificate", get_certificate, NULL},
    {"RenewCertificate", renew_certificate, NULL},
    {"SuspendCertificate", suspend_certificate, NULL},
    {"ReinstateCertificate", reinstate_certificate, NULL},
    {"RevokeCertificate", revoke_certificate, NULL},
    {"ListCertificates", list_certificates, NULL},
};

void registry_certificates_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}
