/* ovop.broker, answered by the broker itself: its status (broker.proto GetStatus), what
 * ovopctl status shows of the bus. */
#pragma once

#include "broker.h"
#include "dispatch.h"

#define STATUS_SERVICE "ovop.broker"

typedef struct bstatus bstatus_t;

/* Declares the methods of ovop.broker on d (a dispatcher of ovop__v1__broker__descriptor);
 * instance is the broker's --instance (copied). */
bstatus_t *bstatus_new(ovop_dispatch_t *d, const char *instance);
/* The broker to report on (NULL while there is none: GetStatus is then UNAVAILABLE). */
void bstatus_attach(bstatus_t *st, ovop_broker_t *broker);
void bstatus_free(bstatus_t **st);
