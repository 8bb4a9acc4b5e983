/* Brand certification, second half: certificates once issued (certification.c issues them
 * on approval). Renewal issues a successor; suspension, reinstatement and revocation change
 * the certificate itself. EXPIRED is never stored: an active certificate reads as expired
 * from the day of its expiry date (registry.certificate_status), the same rule by which
 * registry.producer_stars stops counting it, so expiry needs no job.
 *
 * Renewing needs the certification role of the certificate's stars (registry_level_allowed);
 * suspending and reinstating are open to every certification role, revoking is national
 * (services/permissions.tsv). Every change is bounded by the principal's territory in the
 * database (0017_registry_scope.sql). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pbrow.h"
#include "read.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"
#include "vcode.h"

#define MAX_REASON 500

/* A Certificate, its columns named as its fields (read by name, pbrow.h). */
#define CERTIFICATE_COLUMNS                                                                        \
    "c.number, c.producer_id, c.product_id, c.application_id, c.stars, c.issued_on::text, "        \
    "c.expires_on::text, registry.certificate_status(c.status, c.expires_on) AS status, "          \
    "c.reason, coalesce(c.renewed_from, '') AS renewed_from, c.version, c.verification_code"

static const ovop_read_t certificate = {
    .sql = "SELECT " CERTIFICATE_COLUMNS " FROM registry.certificates c WHERE c.number = $1",
    .row = &ovop__v1__certificate__descriptor,
    .noun = "certificate with number",
};

/* For a renewal, also the database's today, the expiry of a certificate issued today and
 * the successor's sequence number. */
static const ovop_read_t renewal = {
    .sql = "SELECT " CERTIFICATE_COLUMNS ", current_date::text AS today, "
           "registry.certificate_expiry(current_date)::text AS new_expiry, "
           "nextval('registry.certificate_numbers') AS new_sequence "
           "FROM registry.certificates c WHERE c.number = $1",
    .row = &ovop__v1__certificate__descriptor,
    .noun = "certificate with number",
};

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

static void get_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__GetCertificateRequest *in = (const Ovop__V1__GetCertificateRequest *)input;
    registry_t *r = userdata;
    if (!check_number(call, in->number)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {in->number};
    ovop_read_one(call, r->pg, &certificate, in->number, 1, params);
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

/* The successor of the certificate c read with `renewal`, issued today. */
static void store_renewal(change_ctx_t *cx, Ovop__V1__Certificate *c, PGresult *res)
{
    ovop_call_t *call = cx->call;
    /* A renewal certifies the same stars again, so it needs the role that would approve
     * them (stars never change on a certificate: the one read is the one renewed). */
    if (!registry_level_allowed(call, c->stars,
                                ovop_call_printf(call, "renewing certificate %s", c->number)))
        return;
    const char *today = ovop_pg_value(res, 0, "today");
    char *number = registry_certificate_number(call, today, ovop_pg_value(res, 0, "new_sequence"));
    if (!number)
        return;
    c->renewed_from = c->number;
    c->number = number;
    c->issued_on = ovop_call_strdup(call, today);
    c->expires_on = ovop_call_strdup(call, ovop_pg_value(res, 0, "new_expiry"));
    c->status = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE;
    c->reason = "";
    c->version = 1;
    /* The successor's code is drawn by the database as it is inserted (0022_verification.sql):
     * not the old one's; ovopctl cert get shows it. */
    c->verification_code = "";
    const ovop_arg_t args[] = {
        {"p_number", c->renewed_from},
        {"p_version", ovop_call_printf(call, "%d", cx->in->version)},
        {"p_new_number", c->number},
        {"p_today", c->issued_on},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)ovop_now_us())},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &c->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator, "registry.renew_certificate", args, &c->base);
}

/* The certificate c with its new status and reason. */
static void store_change(change_ctx_t *cx, Ovop__V1__Certificate *c)
{
    static const int status_after[] = {
        [CERT_SUSPEND] = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_SUSPENDED,
        [CERT_REINSTATE] = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_ACTIVE,
        [CERT_REVOKE] = OVOP__V1__CERTIFICATE_STATUS__CERTIFICATE_STATUS_REVOKED,
    };
    ovop_call_t *call = cx->call;
    c->status = status_after[cx->action];
    c->reason = cx->in->reason;
    c->version = cx->in->version + 1;
    const ovop_arg_t args[] = {
        {"p_number", c->number},
        {"p_version", ovop_call_printf(call, "%d", cx->in->version)},
        {"p_action", cert_action_to_string(cx->action)},
        {"p_reason", c->reason},
        {"p_at_us", ovop_call_printf(call, "%lld", (long long)ovop_now_us())},
        {"p_event_id", ovop_call_uuid(call)},
        {"p_event", ovop_call_bytea(call, &c->base)},
    };
    OVOP_MUTATE(call, &cx->r->mutator, "registry.change_certificate", args, &c->base);
}

static void on_current(PGresult *res, const char *error, void *userdata)
{
    change_ctx_t *cx = userdata;
    Ovop__V1__Certificate *c;
    if (error)
        ovop_call_fail_db(cx->call, res, error);
    else if (PQntuples(res) == 0)
        ovop_call_fail(cx->call, OVOP_NOT_FOUND, "no certificate with number %s", cx->in->number);
    else if (!(c = (Ovop__V1__Certificate *)ovop_read_row(cx->call, &certificate, res, 0)))
        return; /* failed */
    else if (cx->action == CERT_RENEW)
        store_renewal(cx, c, res);
    else
        store_change(cx, c);
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
    change_ctx_t *cx = ovop_call_alloc(call, sizeof(*cx));
    cx->call = call;
    cx->r = r;
    cx->action = action;
    cx->in = in;
    const char *params[] = {in->number};
    ovop_call_query(call, r->pg, action == CERT_RENEW ? renewal.sql : certificate.sql, 1, params,
                    on_current, cx);
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
static const ovop_read_t certificate_list = {
    .sql = "SELECT " CERTIFICATE_COLUMNS " FROM registry.certificates c "
           "JOIN registry.producers p ON p.id = c.producer_id "
           "WHERE ($1::bigint = 0 OR c.producer_id = $1::bigint) "
           "  AND ($2 = '' OR p.territory_code LIKE $2 || '%') "
           "  AND ($3 = '' OR registry.certificate_status(c.status, c.expires_on) = $3) "
           "  AND c.number > $4 "
           "ORDER BY c.number LIMIT $5::int",
    .page = {.response = &ovop__v1__list_certificates_response__descriptor,
             .rows = "certificates",
             .key = "number"},
};

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
    const char *status = ovop_enum_text(&ovop__v1__certificate_status__descriptor, in->status);
    if (in->status && !status[0])
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
    const char *params[] = {ovop_call_printf(call, "%lld", (long long)in->producer_id), prefix,
                            status, after, ovop_call_printf(call, "%u", page + 1)};
    ovop_read_page(call, ovop_daemon_pg_read(r->d), &certificate_list, NULL, 5, params, page);
}

/* --- VerifyCertificate --- */

/* What the certificate publishes (registry.verify_certificate): open to every authenticated
 * principal, ovop-webd's among them, since it is what anyone reads on the packaging. */
static const ovop_read_t verified = {
    .sql = "SELECT * FROM registry.verify_certificate($1)",
    .row = &ovop__v1__verified_certificate__descriptor,
    .noun = "certificate with verification code",
};

static void verify_certificate(ovop_call_t *call, const ProtobufCMessage *input, void *userdata)
{
    const Ovop__V1__VerifyCertificateRequest *in =
        (const Ovop__V1__VerifyCertificateRequest *)input;
    registry_t *r = userdata;
    char code[OVOP_VCODE_LEN + 1];
    ovop_vcode_status_t st = ovop_vcode_parse(in->code, code);
    if (!in->code[0])
        ovop_call_violation(call, "code", "is required");
    else if (st != OVOP_VCODE_OK)
        ovop_call_violation(call, "code", "%s, got \"%.32s\"", ovop_vcode_why(st), in->code);
    if (ovop_call_has_violations(call)) {
        ovop_call_fail_violations(call);
        return;
    }
    const char *params[] = {ovop_call_strdup(call, code)};
    ovop_read_one(call, r->pg, &verified, params[0], 1, params);
}

static const ovop_method_t methods[] = {
    {"GetCertificate", get_certificate},         {"RenewCertificate", renew_certificate},
    {"SuspendCertificate", suspend_certificate}, {"ReinstateCertificate", reinstate_certificate},
    {"RevokeCertificate", revoke_certificate},   {"ListCertificates", list_certificates},
    {"VerifyCertificate", verify_certificate},
};

void registry_certificates_register(registry_t *r)
{
    OVOP_DECLARE_METHODS(ovop_daemon_dispatch(r->d), methods, r);
}

/* --- certificate gauges for /metrics --- */

/* Certificates by status as registry.certificate_status reads them today (expired
 * included), and the active ones expiring within 30 days that have not been renewed: the
 * ones somebody has to act on (alert OvopCertificatesExpiring, deploy/observability). */
#define CERT_METRICS_SQL                                                                           \
    "SELECT registry.certificate_status(c.status, c.expires_on) AS status, count(*)::text AS n, "  \
    "count(*) FILTER (WHERE registry.certificate_status(c.status, c.expires_on) = 'active' "       \
    "AND c.expires_on <= current_date + 30 AND NOT EXISTS (SELECT 1 FROM registry.certificates "   \
    "s WHERE s.renewed_from = c.number))::text AS expiring "                                       \
    "FROM registry.certificates c GROUP BY 1"

static const char *const cert_statuses[] = {"active", "suspended", "revoked", "expired"};

static void on_cert_counts(PGresult *res, const char *error, void *userdata)
{
    registry_t *r = userdata;
    r->cert_query_out = false;
    if (r->cert_stopped)
        return; /* the pool's error at shutdown is no news */
    if (error) {
        log_warn("could not count certificates for /metrics: %s", error);
        return;
    }
    double expiring = 0;
    double by_status[OVOP_ARRAY_SIZE(cert_statuses)] = {0};
    for (int i = 0; i < PQntuples(res); i++) {
        const char *status = ovop_pg_value(res, i, "status");
        expiring += strtod(ovop_pg_value(res, i, "expiring"), NULL);
        for (size_t k = 0; k < OVOP_ARRAY_SIZE(cert_statuses); k++)
            if (strcmp(status, cert_statuses[k]) == 0)
                by_status[k] = strtod(ovop_pg_value(res, i, "n"), NULL);
    }
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(cert_statuses); k++)
        ovop_metric_set(r->m_certs[k], by_status[k]);
    ovop_metric_set(r->m_certs_expiring, expiring);
}

static void on_cert_timer(uv_timer_t *t)
{
    registry_t *r = t->data;
    if (r->cert_query_out)
        return;
    r->cert_query_out = true;
    ovop_pg_query(r->pg, CERT_METRICS_SQL, 0, NULL, on_cert_counts, r);
}

void registry_cert_metrics_start(registry_t *r)
{
    ovop_metrics_t *m = ovop_daemon_metrics(r->d);
    for (size_t k = 0; k < OVOP_ARRAY_SIZE(cert_statuses); k++) {
        char labels[48];
        snprintf(labels, sizeof(labels), "status=\"%s\"", cert_statuses[k]);
        r->m_certs[k] = ovop_metrics_gauge(
            m, "ovop_registry_certificates",
            "Brand certificates by status as of today (counted every 60 s)", labels);
    }
    r->m_certs_expiring = ovop_metrics_gauge(
        m, "ovop_registry_certificates_expiring",
        "Active certificates, not renewed, expiring within the window (counted every 60 s)",
        "within=\"30d\"");
    uv_timer_init(ovop_daemon_loop(r->d), &r->cert_timer);
    r->cert_timer.data = r;
    /* The first count soon after start, so a fresh scrape has figures. */
    uv_timer_start(&r->cert_timer, on_cert_timer, 1000, REGISTRY_CERT_METRICS_MS);
}

void registry_cert_metrics_stop(registry_t *r)
{
    r->cert_stopped = true;
    uv_timer_stop(&r->cert_timer);
    uv_close((uv_handle_t *)&r->cert_timer, NULL);
}
