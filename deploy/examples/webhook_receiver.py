#!/usr/bin/python3
"""A small webhook receiver for ovop.notify, with the Python standard library only.

It verifies each POST's Standard Webhooks signature (webhook-id, webhook-timestamp,
webhook-signature: "v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>" under the secret
"whsec_<base64 key>"; during a rotation two signatures are sent and either may match),
refuses stale timestamps (more than 5 minutes off), deduplicates on webhook-id (delivery is
at least once), prints one line per event and answers 204. A bad signature gets 401 and
notifyd retries it.

    /usr/bin/python3 deploy/examples/webhook_receiver.py --port 8085 --secret-file SECRET_FILE

SECRET_FILE holds the secret `ovopctl agency endpoint add` printed (or set
OVOP_WEBHOOK_SECRET). With --count N it exits after N new events.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def verify(secrets, msg_id, ts, sig_header, body):
    """True when one of the signatures of sig_header matches one of the secrets."""
    try:
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            return False
    except (TypeError, ValueError):
        return False
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    for secret in secrets:
        key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for part in (sig_header or "").split():
            version, _, sig = part.partition(",")
            if version == "v1" and hmac.compare_digest(sig, expected):
                return True
    return False


LOCK = threading.Lock()  # requests are handled in threads: one line at a time


def say(line):
    with LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Receiver(BaseHTTPRequestHandler):
    secrets = []
    seen = set()
    wanted = 0

    def log_message(self, fmt, *args):  # quiet: one line per event instead
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        if not verify(self.secrets, msg_id, self.headers.get("webhook-timestamp"),
                      self.headers.get("webhook-signature"), body):
            say(f"REFUSED {msg_id}: signature does not verify")
            self.send_response(401)
            self.end_headers()
            return
        # Handled first, answered after: a 2xx tells notifyd the event is safe here (a crash
        # before the answer means a redelivery, never a loss), and the next event of the
        # subscription comes only after this answer, so lines stay in sequence order.
        with LOCK:
            fresh = msg_id not in self.seen
            self.seen.add(msg_id)
            new = len(self.seen)
        if fresh:
            try:
                ev = json.loads(body)
                line = f"{ev.get('sequence', '?'):>6} {ev.get('type')} {ev.get('subject')}"
                data = ev.get("data") or {}
                if "status" in data or "destination" in data:
                    line += (f"  status={data.get('status', '')} "
                             f"destination={data.get('destination', '')}")
            except ValueError:
                line = f"{msg_id} ({self.headers.get('Content-Type')}, {len(body)} bytes)"
            say(f"verified {line}")
        self.send_response(204)
        self.end_headers()
        if not fresh:
            return  # a redelivery: already handled
        if self.wanted and new >= self.wanted:
            self.server.done = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret-file", help="file holding the whsec_ secret (one per line)")
    p.add_argument("--count", type=int, default=0, help="exit after N new events")
    a = p.parse_args()
    secrets = []
    if a.secret_file:
        with open(a.secret_file) as f:
            secrets = [line.strip() for line in f if line.strip()]
    elif os.environ.get("OVOP_WEBHOOK_SECRET"):
        secrets = [os.environ["OVOP_WEBHOOK_SECRET"]]
    if not secrets:
        sys.exit("webhook_receiver: give --secret-file or OVOP_WEBHOOK_SECRET")
    Receiver.secrets = secrets
    Receiver.wanted = a.count
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Receiver)
    srv.done = False
    srv.timeout = 0.5  # handle_request returns at least this often, to see `done`
    say(f"listening on http://127.0.0.1:{a.port}/")
    while not srv.done:
        srv.handle_request()


if __name__ == "__main__":
    main()
