#!/usr/bin/python3 -S
"""bench/controller_sim.py - SIMULATED mlreg-node endpoints for bench/controller
(python3 standard library only).  A simulation, written from docs/node.md: it is
not mlreg-node and says nothing about mlreg-node's own speed.

  serve --count N --urls-out FILE --control-port-out FILE [--load-ms MS]
      One asyncio process listening on N ports of 127.0.0.1 (one simulated node
      each) plus a control port.  Each simulated node keeps its own table of
      models and answers the repository endpoints the controller's mlreg driver
      calls, with mlreg-node's shapes and checks:
        POST /v2/repository/index                  the table, as mlreg-node lists it
        POST /v2/repository/models/{m}/load        READY after --load-ms (default 0),
                                                   concurrent loads of one version wait
                                                   for each other; READY with the same
                                                   digest answers at once, another digest
                                                   409; the first version of a model gets
                                                   weight 100
        POST /v2/repository/models/{m}/traffic     integer weights 0-100 over loaded
                                                   versions summing to 100, weight only on
                                                   READY versions (400 and no change
                                                   otherwise); all weights change at once
        POST /v2/repository/models/{m}/unload      409 while the version has weight
        GET  /metrics                              loaded and weight gauges only
        GET  /v2/health/live, /v2/health/ready
      What it does NOT do: fetch or verify anything from the registry, check or
      load a model (a load is a sleep), fsync a state file, serve inference,
      count requests.  Every change of a node's weights is recorded with
      time.time(), so the control port can say exactly when each node changed.
      Control: GET /status?model=M&version=V&since=T ->
        {"nodes","done","all":<unix time the last node first served V alone at 100
        after T>,"first","p50","flaps","calls":{kind: count}}.
  register REGISTRY_URL TOKEN URLS_FILE LABEL=VALUE
      POST /api/v1/nodes for every URL (names s1, s2, ...), one keep-alive connection.
  watch CONTROL_URL MODEL VERSION TIMEOUT_S ARGV...
      Notes the time, runs ARGV (a CLI call), asks the control port every 20 ms
      until every node serves VERSION alone at 100 and the command exited, then
      prints {"rc","cmd_s","cmd_stderr","all_s","first_s","node_p50_s","flaps",
      "calls_index","calls_load","calls_traffic","calls_unload","calls_metrics"}
      with times in seconds from just before the command started.
"""
import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

CALLS = {"index": 0, "load": 0, "traffic": 0, "unload": 0, "metrics": 0, "other": 0}


class SimNode:
    def __init__(self, i):
        self.i = i
        self.models = {}   # name -> {version(str): {"state","digest","source","weight","shadow","reason"}}
        self.loading = {}  # (name, version) -> asyncio.Future
        self.history = {}  # name -> [(time, ((version, weight), ...))]

    def state_of(self, name):
        vs = self.models.get(name, {})
        return tuple(sorted((int(v), e["weight"]) for v, e in vs.items() if e["state"] == "READY" and e["weight"] > 0))

    def record(self, name):
        self.history.setdefault(name, []).append((time.time(), self.state_of(name)))

    def index(self):
        out = []
        for name in sorted(self.models):
            for v in sorted(self.models[name], key=int):
                e = self.models[name][v]
                out.append({"name": name, "version": v, "state": e["state"], "reason": e["reason"],
                            "weight": e["weight"], "shadow": e["shadow"], "digest": e["digest"],
                            "source": e["source"]})
        return 200, out

    async def load(self, name, body, load_s):
        p = body.get("parameters") if isinstance(body, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("version"), str) or not isinstance(p.get("digest"), str):
            return 400, {"error": "load needs parameters.version and parameters.digest"}
        v, digest = p["version"], p["digest"]
        source = p.get("model") or name
        vs = self.models.setdefault(name, {})
        e = vs.get(v)
        if e and e["state"] == "READY":
            if e["digest"] != digest:
                return 409, {"error": "version %s is loaded with another digest" % v}
            return 200, {"name": name, "version": v, "state": "READY", "digest": digest}
        key = (name, v)
        if key in self.loading:  # loads of one version wait for each other
            await asyncio.shield(self.loading[key])
            e = self.models.get(name, {}).get(v)
            if e and e["state"] == "READY":
                return 200, {"name": name, "version": v, "state": "READY", "digest": e["digest"]}
            return 500, {"error": "load failed", "state": "UNAVAILABLE"}
        fut = asyncio.get_running_loop().create_future()
        self.loading[key] = fut
        vs[v] = {"state": "LOADING", "digest": digest, "source": source, "weight": 0, "shadow": False, "reason": None}
        try:
            if load_s > 0:
                await asyncio.sleep(load_s)
            vs = self.models.setdefault(name, {})
            first = not any(x["weight"] > 0 for x in vs.values())
            vs[v] = {"state": "READY", "digest": digest, "source": source, "weight": 100 if first else 0,
                     "shadow": False, "reason": None}
            if first:
                self.record(name)
        finally:
            del self.loading[key]
            fut.set_result(True)
        return 200, {"name": name, "version": v, "state": "READY", "digest": digest}

    def traffic(self, name, body):
        vs = self.models.get(name)
        if not vs:
            return 404, {"error": "model '%s' is not loaded" % name}
        w = body.get("weights") if isinstance(body, dict) else None
        shadow = body.get("shadow") if isinstance(body, dict) else None
        if not isinstance(w, dict) or not w:
            return 400, {"error": "'weights' must be an object of versions"}
        total = 0
        for v, x in w.items():
            if v not in vs:
                return 400, {"error": "version %s is not loaded" % v}
            if not isinstance(x, int) or isinstance(x, bool) or x < 0 or x > 100:
                return 400, {"error": "weights are integers from 0 to 100"}
            if x > 0 and vs[v]["state"] != "READY":
                return 400, {"error": "version %s is not READY" % v}
            total += x
        if total != 100:
            return 400, {"error": "weights must sum to 100"}
        if shadow is not None and (not isinstance(shadow, str) or shadow not in vs):
            return 400, {"error": "shadow must be a loaded version or null"}
        before = self.state_of(name)
        for v, e in vs.items():
            e["weight"] = w.get(v, 0)
            e["shadow"] = v == shadow
        if self.state_of(name) != before:
            self.record(name)
        return 200, {"name": name, "weights": {v: e["weight"] for v, e in vs.items()}, "shadow": shadow}

    def unload(self, name, body):
        vs = self.models.get(name)
        p = body.get("parameters") if isinstance(body, dict) else None
        v = p.get("version") if isinstance(p, dict) else None
        if not vs:
            return 200, {"name": name, "unloaded": v or "all"}
        if v is None:
            del self.models[name]
            self.record(name)
            return 200, {"name": name, "unloaded": "all"}
        e = vs.get(v)
        if e and e["weight"] > 0:
            return 409, {"error": "version %s has weight %d" % (v, e["weight"])}
        vs.pop(v, None)
        return 200, {"name": name, "unloaded": v}

    def metrics(self):
        lines = ["# TYPE mlreg_node_model_loaded gauge"]
        for name, vs in sorted(self.models.items()):
            for v, e in sorted(vs.items()):
                lines.append('mlreg_node_model_loaded{model="%s",version="%s"} %d' % (name, v, e["state"] == "READY"))
        lines.append("# TYPE mlreg_node_traffic_weight gauge")
        for name, vs in sorted(self.models.items()):
            for v, e in sorted(vs.items()):
                lines.append('mlreg_node_traffic_weight{model="%s",version="%s"} %d' % (name, v, e["weight"]))
        return "\n".join(lines) + "\n"


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           500: "Internal Server Error"}


class Http(asyncio.Protocol):
    """Minimal HTTP/1.1 with keep-alive and Content-Length bodies (what libcurl sends)."""

    def __init__(self, handler):
        self.handler, self.buf, self.tr, self.busy = handler, b"", None, False

    def connection_made(self, tr):
        self.tr = tr
        s = tr.get_extra_info("socket")
        if s is not None:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self.next()

    def next(self):
        h = self.buf.find(b"\r\n\r\n")
        if h < 0:
            return
        head = self.buf[:h].decode("latin-1")
        lines = head.split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            self.tr.close()
            return
        length, close = 0, False
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v.strip())
            elif k == "connection" and v.strip().lower() == "close":
                close = True
        if len(self.buf) < h + 4 + length:
            return
        body = self.buf[h + 4:h + 4 + length]
        self.buf = self.buf[h + 4 + length:]
        self.busy = True
        res = self.handler(method, target, body)
        if asyncio.iscoroutine(res):
            asyncio.ensure_future(self.finish(res, close))
        else:
            self.reply(res, close)

    async def finish(self, coro, close):
        self.reply(await coro, close)

    def reply(self, res, close):
        code, payload, ctype = res
        data = payload if isinstance(payload, bytes) else payload.encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            code, REASONS.get(code, "Error"), ctype, len(data), "Connection: close\r\n" if close else "")
        if self.tr.is_closing():
            return
        self.tr.write(head.encode() + data)
        self.busy = False
        if close:
            self.tr.close()
        elif self.buf:
            self.next()


def node_handler(node, load_s):
    def h(method, target, body):
        path = urllib.parse.urlsplit(target).path
        if method == "GET" and path == "/metrics":
            CALLS["metrics"] += 1
            return 200, node.metrics(), "text/plain; version=0.0.4"
        if method == "GET" and path in ("/v2/health/live", "/v2/health/ready"):
            CALLS["other"] += 1
            return 200, '{"live":true,"ready":true}', "application/json"
        if method != "POST":
            CALLS["other"] += 1
            return 405, '{"error":"method not allowed"}', "application/json"
        try:
            b = json.loads(body) if body else {}
        except ValueError:
            return 400, '{"error":"body is not JSON"}', "application/json"
        if path == "/v2/repository/index":
            CALLS["index"] += 1
            code, o = node.index()
            return code, json.dumps(o), "application/json"
        parts = path.split("/")
        if len(parts) == 6 and parts[:4] == ["", "v2", "repository", "models"]:
            name, verb = urllib.parse.unquote(parts[4]), parts[5]
            if verb == "load":
                CALLS["load"] += 1

                async def run():
                    code, o = await node.load(name, b, load_s)
                    return code, json.dumps(o), "application/json"
                return run()
            if verb in ("traffic", "unload"):
                CALLS[verb] += 1
                code, o = node.traffic(name, b) if verb == "traffic" else node.unload(name, b)
                return code, json.dumps(o), "application/json"
        CALLS["other"] += 1
        return 404, '{"error":"no such route"}', "application/json"
    return h


def control_handler(nodes):
    def h(method, target, body):
        u = urllib.parse.urlsplit(target)
        q = urllib.parse.parse_qs(u.query)
        if u.path != "/status":
            return 404, '{"error":"no such route"}', "application/json"
        model, want = q["model"][0], ((int(q["version"][0]), 100),)
        since = float(q["since"][0])
        firsts, flaps = [], 0
        for n in nodes:
            first = None
            for t, st in n.history.get(model, []):
                if t < since:
                    continue
                if st == want and first is None:
                    first = t
                elif st != want and first is not None:
                    flaps += 1
                    break
            if first is None and n.state_of(model) == want and not any(
                    t >= since for t, _ in n.history.get(model, [])):
                first = since  # already serving it before since
            if first is not None:
                firsts.append(first)
        firsts.sort()
        o = {"nodes": len(nodes), "done": len(firsts), "flaps": flaps, "calls": CALLS,
             "all": firsts[-1] if len(firsts) == len(nodes) else None,
             "first": firsts[0] if firsts else None, "p50": firsts[len(firsts) // 2] if firsts else None}
        return 200, json.dumps(o), "application/json"
    return h


async def serve(a):
    loop = asyncio.get_running_loop()
    nodes, urls = [], []
    load_s = a["load_ms"] / 1000.0
    for i in range(a["count"]):
        n = SimNode(i)
        srv = await loop.create_server(lambda n=n: Http(node_handler(n, load_s)), "127.0.0.1", 0, backlog=1024)
        nodes.append(n)
        urls.append("http://127.0.0.1:%d" % srv.sockets[0].getsockname()[1])
    ctl = await loop.create_server(lambda: Http(control_handler(nodes)), "127.0.0.1", 0)
    with open(a["urls_out"] + ".tmp", "w") as f:
        f.write("\n".join(urls) + "\n")
    os.rename(a["urls_out"] + ".tmp", a["urls_out"])
    with open(a["control_out"] + ".tmp", "w") as f:
        f.write("%d\n" % ctl.sockets[0].getsockname()[1])
    os.rename(a["control_out"] + ".tmp", a["control_out"])
    print("simulating %d nodes; control port %d" % (len(nodes), ctl.sockets[0].getsockname()[1]), flush=True)
    await asyncio.Event().wait()


def register(url, token, urls_file, label):
    k, _, v = label.partition("=")
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    with open(urls_file) as f:
        urls = [l.strip() for l in f if l.strip()]
    for i, nu in enumerate(urls, 1):
        c.request("POST", "/api/v1/nodes", body=json.dumps({"name": "s%d" % i, "url": nu, "labels": {k: v}}), headers=h)
        r = c.getresponse()
        b = r.read()
        if r.status not in (200, 201):
            sys.exit("register s%d: %d %s" % (i, r.status, b[:300]))
    print(json.dumps({"registered": len(urls)}))


def watch(ctl, model, version, timeout, argv):
    u = urllib.parse.urlsplit(ctl)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def status(since):
        c.request("GET", "/status?model=%s&version=%d&since=%.6f" % (urllib.parse.quote(model), version, since))
        r = c.getresponse()
        return json.loads(r.read())

    calls0 = status(time.time())["calls"]
    err_path = "/tmp/controller_sim.%d.err" % os.getpid()
    t0 = time.time()
    p0 = time.perf_counter()
    with open(err_path, "wb") as ef:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=ef, stdin=subprocess.DEVNULL)
        cmd_s = None
        while True:
            if cmd_s is None and proc.poll() is not None:
                cmd_s = time.perf_counter() - p0
            s = status(t0)
            if (s["all"] is not None and cmd_s is not None) or time.perf_counter() - p0 > timeout:
                break
            time.sleep(0.02)
        if cmd_s is None:
            proc.kill()
            proc.wait()
    time.sleep(0.3)  # anything leaving the state right after?
    s = status(t0)
    with open(err_path, "rb") as f:
        err = f.read().decode("utf-8", "replace")[-400:]
    os.unlink(err_path)
    out = {"rc": proc.returncode, "cmd_s": cmd_s, "cmd_stderr": err.strip(), "t0_unix": t0,
           "all_s": s["all"] - t0 if s["all"] is not None else None, "converged": s["done"], "nodes": s["nodes"],
           "first_s": s["first"] - t0 if s["first"] is not None else None,
           "node_p50_s": s["p50"] - t0 if s["p50"] is not None else None, "flaps": s["flaps"]}
    for k, v in s["calls"].items():
        out["calls_" + k] = v - calls0.get(k, 0)
    print(json.dumps(out))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        a = {"count": 1000, "urls_out": None, "control_out": None, "load_ms": 0.0}
        i = 0
        while i < len(args):
            k = args[i]
            if k == "--count":
                a["count"] = int(args[i + 1])
            elif k == "--urls-out":
                a["urls_out"] = args[i + 1]
            elif k == "--control-port-out":
                a["control_out"] = args[i + 1]
            elif k == "--load-ms":
                a["load_ms"] = float(args[i + 1])
            else:
                sys.exit("serve: unknown flag " + k)
            i += 2
        if not a["urls_out"] or not a["control_out"]:
            sys.exit("serve needs --urls-out and --control-port-out")
        asyncio.run(serve(a))
    elif cmd == "register":
        register(*args[:4])
    elif cmd == "watch":
        watch(args[0], args[1], int(args[2]), float(args[3]), args[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
