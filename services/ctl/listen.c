/* ovopctl subscription listen: an agency's stream client (proto/ovop/v1/notify.proto, STREAM
 * PROTOCOL). Connects a DEALER with this key to notifyd's stream endpoint, subscribes, prints
 * each event (one line, or one JSON document with --json, the ExportEvent payload decoded),
 * acknowledges it, and pings every 5 s. Ends after --count events, after --idle-ms without
 * one, or on a StreamError (exit 10 + its code). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ctl.h"
#include "keys.h"
#include "ovop/v1/exports.pb-c.h"
#include "ovop/v1/notify.pb-c.h"
#include "pbjson.h"

static void send_request(void *sock, const Ovop__V1__StreamRequest *rq)
{
    size_t len = ovop__v1__stream_request__get_packed_size(rq);
    uint8_t *buf = xmalloc(len + 1);
    ovop__v1__stream_request__pack(rq, buf);
    zmq_send(sock, buf, len, 0);
    free(buf);
}

static void print_event(ctl_t *c, const Ovop__V1__Event *ev)
{
    if (!c->json) {
        char when[32];
        time_t t = (time_t)(ev->time_us / 1000000);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        printf("%-8" PRIu64 " %s  %-40s %s\n", ev->sequence, when, ev->type, ev->subject);
        fflush(stdout);
        return;
    }
    json_t *j = ovop_pb_to_json(&ev->base);
    if (strcmp(ev->data_schema, "ovop.v1.ExportEvent") == 0) {
        Ovop__V1__ExportEvent *x =
            ovop__v1__export_event__unpack(NULL, ev->data.len, ev->data.data);
        if (x) {
            json_object_set_new(j, "payload", ovop_pb_to_json(&x->base));
            ovop__v1__export_event__free_unpacked(x, NULL);
        }
    }
    char *s = json_dumps(j, JSON_COMPACT);
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

/* Handles one reply: 1 for an event, 0 for anything else, or an exit code (> 1) to end. */
static int on_reply(ctl_t *c, void *sock, const char *id, const Ovop__V1__StreamReply *r)
{
    if (r->kind_case == OVOP__V1__STREAM_REPLY__KIND_ERROR) {
        fprintf(stderr, "ovopctl: stream: %s: %s\n", r->error->reason, r->error->message);
        return CTL_EXIT_STATUS_BASE + (int)r->error->code;
    }
    if (r->kind_case == OVOP__V1__STREAM_REPLY__KIND_SUBSCRIBED) {
        fprintf(stderr, "ovopctl: subscribed to %s: cursor %" PRIu64 ", head %" PRIu64 "\n", id,
                r->subscribed->cursor, r->subscribed->head);
        return 0;
    }
    if (r->kind_case != OVOP__V1__STREAM_REPLY__KIND_DELIVERY || !r->delivery->event)
        return 0;
    print_event(c, r->delivery->event);
    Ovop__V1__StreamAck a = OVOP__V1__STREAM_ACK__INIT;
    a.subscription_id = (char *)id;
    a.sequence = r->delivery->event->sequence;
    Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
    rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_ACK;
    rq.ack = &a;
    send_request(sock, &rq);
    return 1;
}

static int listen_loop(ctl_t *c, void *sock, const char *id, int64_t count, int64_t idle_ms)
{
    int64_t seen = 0, last = ovop_mono_us(), pinged = last;
    for (;;) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 500);
        int64_t now = ovop_mono_us();
        if (now - pinged > 5000000) {
            Ovop__V1__StreamPing p = OVOP__V1__STREAM_PING__INIT;
            Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
            rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_PING;
            rq.ping = &p;
            send_request(sock, &rq);
            pinged = now;
        }
        if (it.revents & ZMQ_POLLIN) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) < 0)
                continue;
            Ovop__V1__StreamReply *r =
                ovop__v1__stream_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            zmq_msg_close(&m);
            int k = r ? on_reply(c, sock, id, r) : 0;
            if (r)
                ovop__v1__stream_reply__free_unpacked(r, NULL);
            if (k > 1)
                return k;
            if (k == 1) {
                last = now;
                if (++seen >= count && count)
                    return CTL_EXIT_OK;
            }
        }
        if (idle_ms && now - last > idle_ms * 1000) {
            fprintf(stderr, "ovopctl: no event for %lld ms, done (%lld received)\n",
                    (long long)idle_ms, (long long)seen);
            return CTL_EXIT_OK;
        }
    }
}

int ctl_subscription_listen(ctl_t *c, int argc, char **argv)
{
    static const ctl_verb_t verb = {
        .prog = "ovopctl subscription listen",
        .usage = "ID [--from N] [--window W] [--count N] [--idle-ms MS] [--stream ADDR] "
                 "[--notify-key KEY|FILE]",
        .summary = "Receives a stream subscription's events with this --key, prints and "
                   "acknowledges each. --stream defaults to $OVOP_NOTIFY_STREAM, --notify-key "
                   "(notifyd's public key) to $OVOP_NOTIFY_KEY, else the broker's.",
        .n_args = 1,
        .flags_anywhere = true,
    };
    int64_t from = 0, window = 0, count = 0, idle_ms = 0;
    char *stream = NULL, *notify_key = NULL;
    const ovop_opt_t opts[] = {
        {"from", OVOP_OPT_INT, "0", 0, INT64_MAX, "deliver again from this sequence", &from},
        {"window", OVOP_OPT_INT, "0", 0, 1000, "events in flight (0: 100)", &window},
        {"count", OVOP_OPT_INT, "0", 0, INT64_MAX, "stop after N events (0: never)", &count},
        {"idle-ms", OVOP_OPT_INT, "0", 0, INT64_MAX, "stop after MS without an event", &idle_ms},
        {"stream", OVOP_OPT_STRING, NULL, 0, 0, "notifyd's stream endpoint", &stream},
        {"notify-key", OVOP_OPT_STRING, NULL, 0, 0, "notifyd's public key", &notify_key},
    };
    size_t n = OVOP_ARRAY_SIZE(opts);
    int argi;
    int r = ctl_verb_parse(&verb, opts, n, &argc, argv, &argi);
    if (r != 0) {
        ovop_config_free(opts, n);
        return r < 0 ? CTL_EXIT_OK : r;
    }
    const char *ep = stream ? stream : getenv("OVOP_NOTIFY_STREAM");
    const char *server = notify_key ? notify_key : getenv("OVOP_NOTIFY_KEY");
    if (!server || !*server)
        server = c->broker_key ? c->broker_key : "";
    ep = ep && *ep ? ep : "tcp://127.0.0.1:5571";
    ovop_security_t sec;
    char *err = NULL;
    if (ovop_security_setup(&sec, c->insecure_plaintext, c->key, server, ep, &err) < 0) {
        fprintf(stderr, "ovopctl: %s\n", err);
        free(err);
        ovop_config_free(opts, n);
        return CTL_EXIT_USAGE;
    }
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero));
    ovop_security_apply_client(sock, &sec);
    ovop_security_clear(&sec);
    if (zmq_connect(sock, ep) < 0) {
        fprintf(stderr, "ovopctl: cannot connect to %s: %s\n", ep, zmq_strerror(zmq_errno()));
        r = CTL_EXIT_USAGE;
    } else {
        Ovop__V1__StreamSubscribe sb = OVOP__V1__STREAM_SUBSCRIBE__INIT;
        sb.subscription_id = argv[argi];
        sb.from_sequence = (uint64_t)from;
        sb.window = (uint32_t)window;
        Ovop__V1__StreamRequest rq = OVOP__V1__STREAM_REQUEST__INIT;
        rq.kind_case = OVOP__V1__STREAM_REQUEST__KIND_SUBSCRIBE;
        rq.subscribe = &sb;
        send_request(sock, &rq);
        r = listen_loop(c, sock, argv[argi], count, idle_ms);
    }
    zmq_close(sock);
    zmq_ctx_term(ctx);
    ovop_config_free(opts, n);
    return r;
}
