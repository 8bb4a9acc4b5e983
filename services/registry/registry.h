/* registryd: the programme's system of record. This file ties the handlers together. */
#pragma once

#include "daemon.h"

/* Registers the territory methods (GetTerritory, ListTerritories) on the dispatcher. */
void registry_territories_register(ovop_daemon_t *d);
