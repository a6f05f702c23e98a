#!/usr/bin/python3
"""webhook_receiver.py - a real HTTP receiver for the webhook tests.

Python standard library only (http.server), so it runs on Debian's
/usr/bin/python3 with nothing installed.  It binds 127.0.0.1 (port 0 = any
free port, or --port to come back on the port of a receiver that was
stopped), writes the bound port to --port-file once listening, and appends
every request it receives to --log as one JSON line:

    {"time": UNIX_SECONDS, "method": "POST", "path": "/hook",
     "headers": {lower-case name: value}, "body": TEXT, "body_b64": BYTES,
     "status": ANSWERED_STATUS}

body_b64 holds the exact bytes (the signature covers bytes, not text).

Failures on demand: --fail N answers 500 to the first N requests; while the
file named by --fail-file exists it holds a number of requests still to
answer 500 (decremented on each, so a test can arm it without a restart).
--delay SECONDS holds every answer that long (after logging the request),
to catch a sender in the middle of an attempt.  The line is written before
the answer is sent, so a client that saw the answer can rely on the log
holding it.
"""
import argparse
import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", type=int, default=0, help="answer 500 to the first N requests")
    ap.add_argument("--fail-file", help="file holding a count of requests still to answer 500")
    ap.add_argument("--delay", type=float, default=0, help="seconds to wait before each answer")
    args = ap.parse_args()

    lock = threading.Lock()
    state = {"fail": args.fail}

    def fail_now():
        if state["fail"] > 0:
            state["fail"] -= 1
            return True
        if args.fail_file and os.path.exists(args.fail_file):
            with open(args.fail_file) as f:
                n = int(f.read().strip() or "0")
            if n > 0:
                tmp = args.fail_file + ".tmp"
                with open(tmp, "w") as f:
                    f.write("%d\n" % (n - 1))
                os.replace(tmp, args.fail_file)
                return True
        return False

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            with lock:
                status = 500 if fail_now() else 200
                rec = {
                    "time": time.time(),
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "body_b64": base64.b64encode(body).decode("ascii"),
                    "status": status,
                }
                with open(args.log, "a") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
                    f.flush()
            if args.delay:
                time.sleep(args.delay)
            out = b'{"ok":true}\n' if status == 200 else b'{"ok":false}\n'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_PUT = do_POST
        do_GET = do_POST

        def log_message(self, fmt, *a):
            pass

    HTTPServer.allow_reuse_address = True
    srv = HTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
