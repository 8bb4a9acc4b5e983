#include "unitcall.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ovop/v1/registry.pb-c.h"
#include "permissions.h"
#include "testprincipal.h"

static void on_open(ovop_call_t *call, const ProtobufCMessage *in, void *userdata)
{
    unit_call_t *u = userdata;
    u->call = call;
}

static void on_done(void *userdata, void *reply, size_t len)
{
    unit_call_t *u = userdata;
    assert_null(u->rep);
    u->rep = ovop__v1__reply__unpack(NULL, len, reply);
    assert_non_null(u->rep);
    assert_non_null(u->rep->status);
    u->call = NULL;
    free(reply);
}

void unit_call_open(unit_call_t *u)
{
    memset(u, 0, sizeof(*u));
    u->d = ovop_dispatch_new(&ovop__v1__registry__descriptor, "ovop.registry", 4096, NULL);
    const ovop_method_t methods[] = {{"GetTerritory", on_open}};
    assert_int_equal(ovop_dispatch_declare(u->d, methods, 1, u), 0);
    ovop_dispatch_permit(u->d, ovop_permissions_tsv);
    size_t n;
    void *req = ovop_request_encode("unit-1", "GetTerritory", NULL, 0, 0, NULL, &n);
    ovop_dispatch_handle(u->d, req, n, test_principal, sizeof(test_principal) - 1, on_done, u);
    free(req);
    assert_non_null(u->call);
    assert_null(u->rep);
}

const Ovop__V1__Status *unit_call_close(unit_call_t *u)
{
    if (u->call) {
        bool has = ovop_call_has_violations(u->call);
        ovop_call_fail_violations(u->call);
        assert_non_null(u->rep);
        assert_int_equal(has, u->rep->status->n_violations > 0);
    }
    assert_non_null(u->rep);
    assert_int_equal(ovop_dispatch_inflight(u->d), 0);
    return u->rep->status;
}

void unit_call_free(unit_call_t *u)
{
    if (u->rep)
        ovop__v1__reply__free_unpacked(u->rep, NULL);
    u->rep = NULL;
    ovop_dispatch_destroy(&u->d);
}

static void check_suite(const unit_check_suite_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        const unit_check_case_t *c = &s->cases[i];
        unit_call_t u;
        unit_call_open(&u);
        bool ok = s->fn(u.call, s->field, c->value);
        const Ovop__V1__Status *st = unit_call_close(&u);
        if (ok != c->ok)
            fail_msg("%s case %zu \"%s\": %s, expected %s", s->name, i, c->value,
                     ok ? "accepted" : "refused", c->ok ? "accepted" : "refused");
        if (st->n_violations != (c->ok ? 0u : 1u))
            fail_msg("%s case %zu \"%s\": %zu violations", s->name, i, c->value, st->n_violations);
        if (!c->ok) {
            const Ovop__V1__FieldViolation *v = st->violations[0];
            assert_string_equal(v->field, s->field);
            if (!strstr(v->description, c->why))
                fail_msg("%s case %zu \"%s\": \"%s\" does not say \"%s\"", s->name, i, c->value,
                         v->description, c->why);
        }
        unit_call_free(&u);
    }
}

void unit_check_suites(const unit_check_suite_t *suites, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check_suite(&suites[i]);
}
