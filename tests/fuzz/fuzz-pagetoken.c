/* Fuzz target: a list request's page token, as a client may forge it, through the token
 * reader (base64url, version, filter hash, key) of a real call. The input is the token's
 * bytes; whatever it is, the reader either returns a key or adds one violation, and a token it
 * made itself for the same request always reads back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "permissions.h"
#include "testprincipal.h"
#include "ovop/v1/registry.pb-c.h"
#include "page.h"

static const uint8_t *fuzz_data;
static size_t fuzz_size;

static void handler(ovop_call_t *call, const ProtobufCMessage *in, void *ud)
{
    char *token = ovop_call_alloc(call, fuzz_size + 1);
    memcpy(token, fuzz_data, fuzz_size);
    const char *key;
    bool ok = ovop_page_token_read(call, token, &key);
    if (ok != !ovop_call_has_violations(call))
        abort();
    /* Round trip: a token made for this request around any key reads back as that key. */
    char *made = ovop_page_token_make(call, token[0] ? token : "1");
    const char *back;
    ovop_call_t *c = call;
    if (!ok) {
        ovop_call_fail_violations(c);
        return;
    }
    if (!ovop_page_token_read(c, made, &back) || strcmp(back, token[0] ? token : "1") != 0)
        abort();
    ovop_call_fail(c, OVOP_NOT_FOUND, "done");
}

static void on_done(void *ud, void *reply, size_t len)
{
    free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ovop_dispatch_t *d;
    if (!d) {
        d = ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 65536, NULL);
        static const ovop_method_t methods[] = {{"ListTerritories", handler}};
        OVOP_DECLARE_METHODS(d, methods, NULL);
        ovop_dispatch_permit(d, ovop_permissions_tsv);
    }
    if (size > 4096)
        return 0;
    fuzz_data = data;
    fuzz_size = size;
    Ovop__V1__ListTerritoriesRequest in = OVOP__V1__LIST_TERRITORIES_REQUEST__INIT;
    in.parent_code = "41705000000000";
    uint8_t body[64];
    size_t n = ovop__v1__list_territories_request__pack(&in, body);
    size_t len;
    void *req = ovop_request_encode("fuzz-1", "ListTerritories", body, n, 0, NULL, &len);
    ovop_dispatch_handle(d, req, len, test_principal, sizeof(test_principal) - 1, on_done, NULL);
    free(req);
    return 0;
}
