/* ovopctl: calling the services through the broker, showing what they answer, and ping. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "pbjson.h"

/* What a refusal of our key means, for people. */
static const char *refusal_text(int r)
{
    return r == -EACCES ? "the broker refused this key (unknown, disabled, revoked or expired: "
                          "see ovopctl whoami and --key)"
                        : "the broker and this client do not speak the same security (CURVE "
                          "against plaintext): check --key, --broker-key, --insecure-plaintext";
}

static int get_client(ctl_t *c, ovop_client_t **ret)
{
    if (!c->client) {
        ovop_security_t sec;
        char *err = NULL;
        if (ovop_security_setup(&sec, c->insecure_plaintext, c->key,
                                c->broker_key ? c->broker_key : "", c->broker, &err) < 0) {
            fprintf(stderr, "ovopctl: %s\n", err);
            free(err);
            return -EINVAL;
        }
        ovop_client_options_t o = {
            .brokers = c->broker,
            .timeout_ms = (uint32_t)c->timeout_ms,
            .retries = (uint32_t)c->retries,
            .max_msg = OVOP_DEFAULT_MAX_MSG * 16,
            .security = &sec,
        };
        int r = ovop_client_new(&c->client, NULL, &o);
        ovop_security_clear(&sec);
        if (r < 0) {
            fprintf(stderr, "ovopctl: could not connect to broker \"%s\": %s\n", c->broker,
                    strerror(-r));
            return r;
        }
    }
    *ret = c->client;
    return 0;
}

static void print_status(ctl_t *c, const Ovop__V1__Status *st)
{
    if (c->json) {
        ctl_print_json(&st->base);
        return;
    }
    /* The reason only when it says more than the code. */
    bool reason = st->reason[0] && strcmp(st->reason, ovop_code_to_string(st->code)) != 0;
    fprintf(stderr, "ovopctl: %s%s%s: %s\n", ovop_code_to_string(st->code), reason ? " " : "",
            reason ? st->reason : "", st->message);
    for (size_t i = 0; i < st->n_metadata; i++)
        fprintf(stderr, "  %s = %s\n", st->metadata[i]->key, st->metadata[i]->value);
    for (size_t i = 0; i < st->n_violations; i++)
        fprintf(stderr, "  %s: %s\n", st->violations[i]->field, st->violations[i]->description);
}

int ctl_call(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
             const ProtobufCMessageDescriptor *out_desc, ProtobufCMessage **ret_out)
{
    ovop_client_t *cl;
    Ovop__V1__Reply *rep = NULL;
    ProtobufCMessage *out = NULL;

    int gr = get_client(c, &cl);
    if (gr < 0)
        return gr == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_UNREACHABLE;
    int r = ovop_client_call(cl, service, method, c->request_id, in, out_desc, &rep, &out);
    if (r == -ETIMEDOUT) {
        fprintf(stderr,
                "ovopctl: no answer from %s via broker %s after %lld attempts of %lld ms; is "
                "the service running? (ovopctl ping %s)\n",
                service, c->broker, (long long)c->retries + 1, (long long)c->timeout_ms, service);
        return CTL_EXIT_UNREACHABLE;
    }
    if (r == -EACCES || r == -EPROTO) {
        fprintf(stderr, "ovopctl: UNAUTHENTICATED: %s\n", refusal_text(r));
        return CTL_EXIT_STATUS_BASE + OVOP_UNAUTHENTICATED;
    }
    if (r < 0) {
        fprintf(stderr, "ovopctl: %s %s failed: %s\n", service, method, strerror(-r));
        return CTL_EXIT_FAILURE;
    }
    int code = rep->status ? (int)rep->status->code : 0;
    if (code != OVOP_OK) {
        print_status(c, rep->status);
        ovop__v1__reply__free_unpacked(rep, NULL);
        return CTL_EXIT_STATUS_BASE + code;
    }
    ovop__v1__reply__free_unpacked(rep, NULL);
    *ret_out = out;
    return CTL_EXIT_OK;
}

void ctl_show(ctl_t *c, ProtobufCMessage *out, ctl_print_fn human)
{
    if (c->json)
        ctl_print_json(out);
    else
        human(out);
    protobuf_c_message_free_unpacked(out, NULL);
}

int ctl_call_show(ctl_t *c, const char *service, const char *method, const ProtobufCMessage *in,
                  const ProtobufCMessageDescriptor *out_desc, ctl_print_fn human)
{
    ProtobufCMessage *out = NULL;
    int r = ctl_call(c, service, method, in, out_desc, &out);
    if (r == CTL_EXIT_OK)
        ctl_show(c, out, human);
    return r;
}

int ctl_ping(ctl_t *c, int argc, char **argv)
{
    ovop_client_t *cl;
    if (argc != 2) {
        fprintf(stderr, "ovopctl: usage: ovopctl ping SERVICE (e.g. ovop.registry)\n");
        return CTL_EXIT_USAGE;
    }
    int gr = get_client(c, &cl);
    if (gr < 0)
        return gr == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_UNREACHABLE;
    int64_t t0 = ovop_mono_us();
    int r = ovop_client_mmi_service(cl, argv[1]);
    double ms = (double)(ovop_mono_us() - t0) / 1000.0;
    const char *state = r == 0                         ? "up"
                        : r == -ENOENT                 ? "no workers"
                        : r == -EACCES || r == -EPROTO ? "refused by the broker"
                                                       : "broker unreachable";
    if (r == -EACCES || r == -EPROTO)
        fprintf(stderr, "ovopctl: UNAUTHENTICATED: %s\n", refusal_text(r));
    if (c->json) {
        json_t *j = json_pack("{s:s,s:s,s:b,s:f}", "service", argv[1], "state", state, "ok", r == 0,
                              "round_trip_ms", ms);
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        printf("%s: %s (%.2f ms)\n", argv[1], state, ms);
    }
    if (r == 0)
        return CTL_EXIT_OK;
    if (r == -EACCES || r == -EPROTO)
        return CTL_EXIT_STATUS_BASE + OVOP_UNAUTHENTICATED;
    return r == -ENOENT ? CTL_EXIT_STATUS_BASE + OVOP_NOT_FOUND : CTL_EXIT_UNREACHABLE;
}
