/* Fuzz target: a request body as it arrives from the broker, through the envelope decoder
 * and the dispatcher into a handler that decodes the method's input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch.h"
#include "permissions.h"
#include "testprincipal.h"
#include "ovop/v1/registry.pb-c.h"

static void handler(ovop_call_t *call, const ProtobufCMessage *in, void *ud)
{
    ovop_call_fail(call, OVOP_NOT_FOUND, "nothing here");
}

static void on_done(void *ud, void *reply, size_t len)
{
    /* The reply must itself decode. */
    Ovop__V1__Reply *r = ovop__v1__reply__unpack(NULL, len, reply);
    if (!r)
        abort();
    ovop__v1__reply__free_unpacked(r, NULL);
    free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ovop_dispatch_t *d;
    if (!d) {
        d = ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 65536, NULL);
        static const ovop_method_t methods[] = {
            {"GetTerritory", handler},
            {"ListTerritories", handler},
        };
        OVOP_DECLARE_METHODS(d, methods, NULL);
        ovop_dispatch_permit(d, ovop_permissions_tsv);
    }
    ovop_dispatch_handle(d, data, size, test_principal, sizeof(test_principal) - 1, on_done, NULL);
    return 0;
}
