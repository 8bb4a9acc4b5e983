/* ovop-registryd: serves ovop.registry (territories, producers, products, cooperatives,
 * specializations, certification) from PostgreSQL through the MDP broker. */
#include <stdlib.h>

#include "daemon.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

static int setup(ovop_daemon_t *d, void **ret_state)
{
    registry_t *r = xcalloc(1, sizeof(*r));
    r->d = d;
    r->pg = ovop_daemon_pg(d);
    ovop_sequencer_new(&r->sequencer, ovop_daemon_loop(d), r->pg, 50, ovop_daemon_metrics(d));
    r->mutator = (ovop_mutator_t){r->pg, r->sequencer, REGISTRY_SERVICE};
    registry_territories_register(r);
    registry_producers_register(r); /* creates r->producer_lookup */
    registry_products_register(r);
    registry_cooperatives_register(r);
    registry_certification_register(r);
    registry_certificates_register(r);
    registry_territory_admin_register(r);
    registry_specializations_register(r);
    registry_cert_metrics_start(r);
    *ret_state = r;
    return 0;
}

static void stop(void *state)
{
    registry_t *r = state;
    ovop_lookup_destroy(&r->producer_lookup);
    ovop_lookup_destroy(&r->territory_lookup);
    ovop_sequencer_destroy(&r->sequencer);
    registry_cert_metrics_stop(r);
}

static void teardown(void *state)
{
    free(state);
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-registryd",
        .summary = "OVOP registry service (ovop.registry): territories and the programme's "
                   "registers, over the MDP broker",
        .service = REGISTRY_SERVICE,
        .log_service = "registryd",
        .descriptor = &ovop__v1__registry__descriptor,
        .setup = setup,
        .stop = stop,
        .teardown = teardown,
    };
    return ovop_daemon_main(&spec, argc, argv);
}
