#!/usr/bin/python3
"""loadgen.py - live traffic for the controller tests: infer requests at a
fixed rate, spread round-robin over the nodes, with generous timeouts, until
SIGTERM (or --duration).  Then writes a summary:

  {"total":N,"non2xx":N,"transport_errors":N,"by_status":{"200":N,…},
   "by_version":{"3":N,…},"errors":["…first 10…"]}

usage: loadgen.py --urls http://a,http://b --model NAME --rows ROWS.json
                  --rate 50 --out SUMMARY.json [--duration S] [--timeout 30]
ROWS.json is what node_train.py --rows-out writes.
"""
import argparse
import http.client
import json
import signal
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--rows", required=True)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=float, default=0)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    urls = a.urls.split(",")
    rows = json.load(open(a.rows))["rows"]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock = threading.Lock()
    stats = {"total": 0, "non2xx": 0, "transport_errors": 0, "by_status": {}, "by_version": {}, "errors": []}
    seq = [0]
    t0 = time.monotonic()
    path = "/v2/models/%s/infer" % urllib.parse.quote(a.model, safe="")

    def worker(k):
        conns = {}
        while not stop.is_set():
            with lock:
                i = seq[0]
                seq[0] += 1
            due = t0 + i / a.rate
            while not stop.is_set():
                d = due - time.monotonic()
                if d <= 0:
                    break
                time.sleep(min(d, 0.05))
            if stop.is_set():
                break
            if a.duration and time.monotonic() - t0 > a.duration:
                stop.set()
                break
            u = urllib.parse.urlparse(urls[i % len(urls)])
            row = rows[i % len(rows)]
            body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, len(row)], "data": row}]})
            status, version, err = 0, None, None
            try:
                c = conns.get(u.netloc)
                if c is None:
                    c = conns[u.netloc] = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                c.request("POST", path, body, {"Content-Type": "application/json"})
                r = c.getresponse()
                data = r.read()
                status = r.status
                try:
                    j = json.loads(data)
                    version = j.get("model_version")
                    err = j.get("error")
                except ValueError:
                    err = data[:200].decode("utf-8", "replace")
            except Exception as e:  # the node went away: count it, reconnect next time
                err = "%s: %s" % (u.netloc, e)
                conns.pop(u.netloc, None)
            with lock:
                stats["total"] += 1
                if status == 0:
                    stats["transport_errors"] += 1
                if not (200 <= status < 300):
                    stats["non2xx"] += 1
                    if len(stats["errors"]) < 10:
                        stats["errors"].append("%s %s" % (status, err))
                stats["by_status"][str(status)] = stats["by_status"].get(str(status), 0) + 1
                if version:
                    stats["by_version"][version] = stats["by_version"].get(version, 0) + 1

    ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(a.threads)]
    for t in ts:
        t.start()
    while not stop.is_set():
        time.sleep(0.05)
    for t in ts:
        t.join(a.timeout + 1)
    with open(a.out + ".tmp", "w") as f:
        json.dump(stats, f)
    import os
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
