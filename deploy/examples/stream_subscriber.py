#!/usr/bin/python3
"""An agency's subscriber to notifyd's event stream, written with nothing of the project but its
.proto files: pyzmq (Debian python3-zmq) for the CURVE DEALER socket and the protobuf runtime
(python3-protobuf) for the messages, generated at run time with protoc --python_out.

It connects with the agency's CURVE key pair and notifyd's public key, sends Subscribe for each
subscription, prints every delivered event (one line each, JSON with --json), acknowledges it
(cumulative Ack) and pings every few seconds. When notifyd stops answering (restart, network
cut) it reconnects and subscribes again: notifyd resumes after the acknowledged cursor, so
nothing is missed, and an event delivered twice (sent, not yet acknowledged before the cut) is
recognised by its sequence and not printed again. Delivery is at least once: a consumer that
keeps state elsewhere deduplicates on the event id.

    stream_subscriber.py --endpoint tcp://notify.example:5571 --server-key notifyd.key \\
        --key customs.secret --subscription 6f1c... [--subscription ...] [--json]

Exit codes: 0 done (--count reached, or SIGINT/SIGTERM), 1 timeout (--max-seconds),
2 refused by notifyd (unknown subscription, not ours, ...), 64 usage.
"""

import argparse
import base64
import json
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

# Errors after which subscribing again cannot help.
FATAL_REASONS = {"NOT_FOUND", "NOT_YOURS", "MISSING_ROLE", "NOT_STREAM", "SUBSCRIPTION_NOT_ACTIVE",
                 "GAP_NOT_ALLOWED", "WINDOW_INVALID", "SUBSCRIPTION_TAKEN_OVER"}


def load_protos(proto_dir):
    """Compiles proto_dir/ovop/v1/*.proto into a temporary directory and imports them."""
    out = tempfile.mkdtemp(prefix="ovop-proto-")
    atexit.register(shutil.rmtree, out, True)
    files = sorted(os.path.join("ovop/v1", f) for f in os.listdir(os.path.join(proto_dir, "ovop/v1"))
                   if f.endswith(".proto"))
    subprocess.run(["protoc", "--python_out=" + out, "-I", proto_dir] + files, check=True)
    sys.path.insert(0, out)
    import ovop.v1.notify_pb2 as notify_pb2  # noqa: E402  (generated just now)
    for f in files:  # every payload type must be known to decode event data
        __import__(f[:-len(".proto")].replace("/", ".") + "_pb2")
    return notify_pb2


def read_key(arg, which):
    """A Z85 key: the value of `which` ("public-key"/"secret-key") in a CZMQ-style key file
    written by `ovopctl keygen`, or the 40 characters themselves."""
    if len(arg) == 40 and not os.path.exists(arg):
        return arg.encode()
    with open(arg, encoding="ascii") as f:
        for line in f:
            name, _, value = line.partition("=")
            if name.strip() == which:
                return value.strip().strip('"').encode()
    raise SystemExit(f"{arg}: no {which} line")


def decode_data(event):
    """The event's payload as a dict, decoded by its data_schema (a message of the protos)."""
    from google.protobuf import json_format, symbol_database
    try:
        cls = symbol_database.Default().GetSymbol(event.data_schema)
    except KeyError:
        return {"undecoded_base64": base64.b64encode(event.data).decode()}
    msg = cls()
    msg.ParseFromString(event.data)
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


class Subscriber:
    def __init__(self, args, pb):
        self.args, self.pb = args, pb
        self.ctx = zmq.Context.instance()
        self.sock = self.monitor = None
        self.last = {s: 0 for s in args.subscription}  # highest sequence handled, per subscription
        self.printed = 0
        self.last_reply = 0.0
        self.last_ping = 0.0

    def connect(self):
        if self.sock is not None:
            self.sock.disable_monitor()
            self.monitor.close(linger=0)
            self.sock.close(linger=0)
        s = self.ctx.socket(zmq.DEALER)
        s.curve_secretkey = read_key(self.args.key, "secret-key")
        s.curve_publickey = read_key(self.args.key, "public-key")
        s.curve_serverkey = read_key(self.args.server_key, "public-key")
        s.setsockopt(zmq.LINGER, 0)
        # libzmq reconnects by itself, possibly to a new notifyd that knows nothing of our
        # subscriptions: every successful handshake is followed by Subscribe.
        self.monitor = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        s.connect(self.args.endpoint)
        self.sock = s
        self.last_reply = self.last_ping = time.monotonic()
        log(f"connecting to {self.args.endpoint}")

    def subscribe(self):
        for sub in self.args.subscription:
            req = self.pb.StreamRequest()
            req.subscribe.subscription_id = sub
            req.subscribe.from_sequence = self.args.from_sequence if self.last[sub] == 0 else 0
            req.subscribe.window = self.args.window
            self.send(req)
        log(f"subscribing {', '.join(self.args.subscription)}")

    def on_monitor(self):
        ev = recv_monitor_message(self.monitor)
        if ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self.last_reply = time.monotonic()
            self.subscribe()
        elif ev["event"] == zmq.EVENT_DISCONNECTED:
            log("disconnected; libzmq reconnects")

    def send(self, req):
        # A DEALER without a connected peer would block: while notifyd is away, requests are
        # dropped (the reconnect subscribes again, and acks are cumulative).
        try:
            self.sock.send(req.SerializeToString(), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def ack(self, sub, seq):
        req = self.pb.StreamRequest()
        req.ack.subscription_id = sub
        req.ack.sequence = seq
        self.send(req)

    def on_delivery(self, d):
        ev, sub = d.event, d.subscription_id
        if ev.sequence > self.last.get(sub, 0):
            self.last[sub] = ev.sequence
            self.output(sub, ev)
        # A repeat (sent before a reconnect, not acknowledged then) is acknowledged again.
        return sub, ev.sequence

    def output(self, sub, ev):
        if self.args.json:
            line = json.dumps({"subscription": sub, "sequence": ev.sequence, "id": ev.id,
                               "type": ev.type, "subject": ev.subject, "source": ev.source,
                               "time_us": ev.time_us, "data_schema": ev.data_schema,
                               "data": decode_data(ev)}, ensure_ascii=False)
        else:
            line = f"{ev.sequence} {ev.type} {ev.subject} {ev.id}"
        print(line, flush=True)
        self.printed += 1

    def on_reply(self, frame):
        rep = self.pb.StreamReply()
        rep.ParseFromString(frame)
        self.last_reply = time.monotonic()
        kind = rep.WhichOneof("kind")
        if kind == "delivery":
            return self.on_delivery(rep.delivery)
        if kind == "subscribed":
            s = rep.subscribed
            log(f"subscribed {s.subscription_id}: cursor {s.cursor}, head {s.head}")
        elif kind == "error":
            e = rep.error
            log(f"error on {e.subscription_id or '(session)'}: {e.reason}: {e.message}")
            if e.reason in FATAL_REASONS:
                raise SystemExit(2)
            # UNAVAILABLE, NOT_SUBSCRIBED (a notifyd that lost our session): subscribe again.
            time.sleep(1)
            self.subscribe()
        return None

    def run(self):
        self.connect()
        deadline = time.monotonic() + self.args.max_seconds if self.args.max_seconds else None
        while True:
            now = time.monotonic()
            if deadline and now > deadline:
                log(f"timeout after {self.args.max_seconds} s with {self.printed} events")
                return 1
            if now - self.last_ping >= self.args.ping_interval:
                self.send(self.pb.StreamRequest(ping=self.pb.StreamPing()))
                self.last_ping = now
            if now - self.last_reply > 3 * self.args.ping_interval:
                log("no answer from notifyd: reconnecting")
                self.connect()
            poller = zmq.Poller()
            poller.register(self.sock, zmq.POLLIN)
            poller.register(self.monitor, zmq.POLLIN)
            ready = dict(poller.poll(int(self.args.ping_interval * 1000 / 2)))
            if self.monitor in ready:
                self.on_monitor()
            if self.sock not in ready:
                continue
            acks = {}
            while True:  # drain what has arrived, then one cumulative Ack per subscription
                try:
                    frame = self.sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                got = self.on_reply(frame)
                if got:
                    acks[got[0]] = max(acks.get(got[0], 0), got[1])
                if self.args.count and self.printed >= self.args.count:
                    break
            for sub, seq in acks.items():
                self.ack(sub, seq)
            if self.args.count and self.printed >= self.args.count:
                time.sleep(0.2)  # let the last Ack leave before the socket closes
                return 0


def log(msg):
    print(f"stream_subscriber: {msg}", file=sys.stderr, flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default=os.environ.get("OVOP_NOTIFY_STREAM", "tcp://127.0.0.1:5571"))
    p.add_argument("--server-key", required=True, help="notifyd's public key (.key file or Z85)")
    p.add_argument("--key", required=True, help="the agency's key pair (.secret file)")
    p.add_argument("--subscription", action="append", required=True)
    p.add_argument("--from-sequence", type=int, default=0,
                   help="first subscribe: deliver again from this sequence (0: after the cursor)")
    p.add_argument("--window", type=int, default=100)
    p.add_argument("--ping-interval", type=float, default=2.0, help="seconds (notifyd wants <= 5)")
    p.add_argument("--count", type=int, default=0, help="exit after this many events")
    p.add_argument("--max-seconds", type=float, default=0, help="exit 1 after this long")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--proto-dir", default=os.path.join(here, "..", "..", "proto"))
    args = p.parse_args()
    if not 0 < args.ping_interval <= 5:
        p.error("--ping-interval must be in (0, 5]")
    pb = load_protos(args.proto_dir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        return Subscriber(args, pb).run()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
