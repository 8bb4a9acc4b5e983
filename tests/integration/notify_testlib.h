/* What notifyd's integration tests share: the environment (notifyd behind a broker, its
 * stream endpoint on a free port, a --secrets-key, the agencies customs, statistics and
 * intruder with notify.subscriber and the operator notify-admin with notify.admin), event
 * writing as the writers do it, calls, and a raw stream client (a ZeroMQ DEALER with CURVE
 * speaking proto/ovop/v1/notify.proto's stream protocol). Failures fail the cmocka test. */
#pragma once

#include <stdint.h>

#include "ovop/v1/notify.pb-c.h"
#include "svcenv.h"

#define NT_ADMIN "notify-admin"

/* Starts notifyd (instances 1..2; instance i's stream on ports[i]) with extra daemon args
 * (NULL-terminated, may be NULL), and adds the principals. */
void nt_start(svcenv_t *e, const char *db, uint16_t ports[2], int instances,
              const char *const *extra_args);
/* Starts instance 1 (stream on ports[1]) and waits until its stream answers. */
void nt_spawn_second(svcenv_t *e, uint16_t ports[2]);
/* cmocka setup: forgets every scope, endpoint, subscription and delivery. */
int nt_reset(void **state);
/* The secrets key file notifyd was given. */
const char *nt_secrets_key(void);

/* SetAgencyScope as notify-admin; each dimension comma-separated ("" = nothing). */
void nt_scope(svcenv_t *e, const char *agency, const char *types, const char *soate, const char *hs,
              const char *dest);
/* CreateSubscription (stream) as who; comma-separated filters, NULL = none. Returns the id. */
char *nt_subscribe(svcenv_t *e, const char *who, const char *types, const char *soate,
                   const char *dest, const char *exporters);
/* The same for a webhook endpoint. */
char *nt_subscribe_webhook(svcenv_t *e, const char *who, const char *endpoint, const char *types,
                           const char *soate);
/* CreateSubscription that may be refused: the status code, the reply in *ret_rep. */
int nt_try_subscribe(svcenv_t *e, const char *who, const char *agency, const char *types,
                     const char *soate, const char *exporters, Ovop__V1__Reply **ret_rep);
void nt_set_status(svcenv_t *e, const char *who, const char *method, const char *sub);
/* CreateEndpoint as who: its id (malloc'd) and secret (*ret_secret, malloc'd). */
char *nt_endpoint(svcenv_t *e, const char *who, const char *url, char **ret_secret);
/* The same with a format (an Ovop__V1__EndpointFormat; 0: the default). */
char *nt_endpoint_format(svcenv_t *e, const char *who, const char *url, int format,
                         char **ret_secret);

/* Writes one event (payload an ExportEvent of exporter producer:exporter when not 0) the
 * way writers do, numbers it, and returns its sequence. */
uint64_t nt_emit(svcenv_t *e, const char *type, const char *soate, const char *hs6,
                 const char *dest, int64_t exporter);
/* Waits (5 s) until the subscription's stored cursor is seq. */
void nt_wait_cursor(svcenv_t *e, const char *sub, uint64_t seq);

typedef struct nt_stream nt_stream_t;
nt_stream_t *nt_connect(svcenv_t *e, const char *who, uint16_t port);
nt_stream_t *nt_connect_unknown(svcenv_t *e, uint16_t port);
nt_stream_t *nt_connect_wrong_server(svcenv_t *e, const char *who, uint16_t port);
void nt_close(nt_stream_t *s);
void nt_send_subscribe(nt_stream_t *s, const char *sub, uint64_t from, uint32_t window);
/* Subscribe and its answer: the cursor (reason ""), or the StreamError with reason. */
uint64_t nt_subscribe_stream(nt_stream_t *s, const char *sub, uint64_t from, uint32_t window,
                             const char *reason);
/* The next delivery of sub (within 5 s): its sequence. */
uint64_t nt_expect_event(nt_stream_t *s, const char *sub);
void nt_expect_error(nt_stream_t *s, const char *reason);
void nt_expect_nothing(nt_stream_t *s, unsigned ms);
void nt_ack(nt_stream_t *s, const char *sub, uint64_t seq);
void nt_ack_expect(nt_stream_t *s, const char *sub, uint64_t seq, const char *reason);
void nt_ping(nt_stream_t *s);
void nt_send_raw(nt_stream_t *s, const void *p, size_t n);
