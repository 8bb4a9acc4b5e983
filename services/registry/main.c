/* ovop-registryd: serves ovop.registry (territories, producers, products, cooperatives,
 * specializations, certification) from PostgreSQL through the MDP broker. */
#include "daemon.h"
#include "ovop/v1/registry.pb-c.h"
#include "registry.h"

static int setup(ovop_daemon_t *d, void **ret_state)
{
    registry_territories_register(d);
    *ret_state = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    static const ovop_daemon_spec_t spec = {
        .prog = "ovop-registryd",
        .summary = "OVOP registry service (ovop.registry): territories and the programme's "
                   "registers, over the MDP broker",
        .service = "ovop.registry",
        .log_service = "registryd",
        .descriptor = &ovop__v1__registry__descriptor,
        .setup = setup,
    };
    return ovop_daemon_main(&spec, argc, argv);
}
