#!/usr/bin/python3
"""demo_watch.py - what scripts/demo shows of a rollout, read from the
registry's REST API (MLREG_REGISTRY, MLREG_TOKEN) and from the nodes.

  watch NAME --until EXPR [--timeout S]
      polls the deployment and prints each new rollout event (every step
      the controller takes), each new analysis result, and a status line
      each time its phase, step, versions or per-node weights change (the
      weights as the controller last saw them on each node), with what the
      nodes served per version since the line before (their own /metrics
      counters); ends with exit 0 once the Python expression EXPR holds over
      the status object `j`, exit 1 after S seconds.
  nodes NAME [--expect JSON] [--timeout S]
      asks every node of the deployment what it serves (POST
      /v2/repository/index) and prints it; with --expect, waits up to S
      seconds until every node serves exactly those weights (READY
      versions, e.g. '{"2":100}') and fails otherwise.
  traffic NAME
      what every node answered for the deployment, per version and status
      code, since the node started.
  curl-infer URL NAME ROWS
      one inference request on a node, printed as the command a person
      would type, and its answer.

It is a separate program so the demo script stays readable; everything it
shows is also in `mlreg deploy status NAME --json` and the nodes' endpoints.
"""
import argparse
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request

REG = os.environ.get("MLREG_REGISTRY", "")
TOKEN = os.environ.get("MLREG_TOKEN", "")
T0 = time.monotonic()


def api(path):
    req = urllib.request.Request(REG + path, headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)
    except OSError as e:
        raise OSError("GET %s%s: %s" % (REG, path, e)) from None


def node_urls(name):
    """The deployment's nodes as {node name: base URL}, from the registry."""
    picked = {n["name"] for n in api("/api/v1/deployments/" + urllib.parse.quote(name, safe=""))["nodes"]}
    return {n["name"]: n["url"] for n in api("/api/v1/nodes")["nodes"] if n["name"] in picked}


def node_index(url, model):
    req = urllib.request.Request(url + "/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return {e["version"]: e["weight"] for e in json.load(r) if e["name"] == model and e["state"] == "READY"}


SAMPLE = re.compile(r'^mlreg_node_requests_total\{([^}]*)\} ([0-9.e+]+)$')


def served(urls, model):
    """{(version, code): count} summed over the nodes (nodes that do not answer count 0)."""
    out = {}
    for url in urls.values():
        try:
            with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            m = SAMPLE.match(line)
            if not m:
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels.get("model") != model:
                continue
            key = (labels.get("version", "?"), labels.get("code", "?"))
            out[key] = out.get(key, 0) + int(float(m.group(2)))
    return out


def fmt_served(now, before):
    per = {}
    for (v, code), n in now.items():
        d = n - before.get((v, code), 0)
        if d <= 0:
            continue
        ok, bad = per.get(v, (0, {}))
        if code.startswith("2"):
            ok += d
        else:
            bad[code] = bad.get(code, 0) + d
        per[v] = (ok, bad)
    if not per:
        return "no requests"
    parts = []
    for v in sorted(per, key=int):
        ok, bad = per[v]
        s = ["%d ok" % ok] if ok else []
        s += ["%d failed (%s)" % (n, code) for code, n in sorted(bad.items())]
        parts.append("v%s %s" % (v, ", ".join(s)))
    return " · ".join(parts)


def step_text(j):
    st = j.get("step")
    if not st:
        return ""
    steps = (j.get("steps") or "").split(",")
    i = st["index"]
    name = steps[i] if 0 <= i < len(steps) else st.get("kind", "?")
    return "step %d/%d %s" % (i + 1, st["count"], name)


def weights_text(j):
    parts = []
    for n in j.get("nodes", []):
        vs = n.get("versions") or []
        if not n.get("healthy"):
            parts.append("%s unhealthy" % n["name"])
        elif not vs:
            parts.append("%s -" % n["name"])
        else:
            parts.append("%s %s" % (n["name"], " ".join("v%d %d%%" % (v["version"], v["weight"])
                                                         for v in sorted(vs, key=lambda v: v["version"]))))
    return " | ".join(parts)


def ver(x):
    return "-" if x is None else "v%d" % x


def analysis_key(r):
    return json.dumps(r, sort_keys=True)


def events(name):
    """The deployment's events, oldest first."""
    ev = api("/api/v1/deployments/%s/events?limit=50" % urllib.parse.quote(name, safe=""))["events"]
    return list(reversed(ev))


def event_key(e):
    return (e["time"], e["kind"], e["message"])


def stamp():
    return "  %6.1fs" % (time.monotonic() - T0)


def cmd_watch(a):
    end = time.monotonic() + a.timeout
    quoted = urllib.parse.quote(a.name, safe="")
    urls = node_urls(a.name)
    last_view = None
    last_served = served(urls, a.name)
    # what happened before the watch began is not news
    seen_events = {event_key(e) for e in events(a.name)}
    seen_analysis = {analysis_key(r) for r in api("/api/v1/deployments/" + quoted).get("analysis") or []}
    while True:
        for e in events(a.name):
            if event_key(e) not in seen_events:
                seen_events.add(event_key(e))
                if e["kind"].startswith("rollout."):
                    print("%s  %-16s %s" % (stamp(), e["kind"], e["message"]), flush=True)
        j = api("/api/v1/deployments/" + quoted)
        for r in j.get("analysis") or []:
            if analysis_key(r) not in seen_analysis:
                seen_analysis.add(analysis_key(r))
                m = r.get("metrics") or {}
                shown = " ".join("%s=%s" % (k, round(m[k], 2) if isinstance(m[k], float) else m[k])
                                 for k in ("requests", "failures", "failure_rate", "p99_ms") if k in m)
                print("%s  %-16s step %d: %s  %s" % (stamp(), "analysis", r["step"], r["result"], shown), flush=True)
        view = (j["phase"], step_text(j), j["stable_version"], j["target_version"], j["rejected_version"],
                weights_text(j), j.get("desired_version"))
        done = eval(a.until, {}, {"j": j})
        if view != last_view:
            now = served(urls, a.name)
            ph = j["phase"] + (", " + step_text(j) if j.get("step") else "")
            follows = j.get("stage") or "@" + (j.get("alias") or "?")
            print("%s  %-16s %s; stable %s, target %s, rejected %s; %s points at %s" %
                  (stamp(), "status", ph, ver(j["stable_version"]), ver(j["target_version"]),
                   ver(j["rejected_version"]), follows, ver(j.get("desired_version"))), flush=True)
            print("            nodes: %s" % view[5], flush=True)
            print("            served since the line before: %s" % fmt_served(now, last_served), flush=True)
            last_served = now
            last_view = view
        if done:
            return 0
        if time.monotonic() > end:
            print("demo_watch: (%s) did not hold within %ss; status:\n%s" % (a.until, a.timeout, json.dumps(j, indent=1)),
                  file=sys.stderr)
            return 1
        time.sleep(0.1)


def cmd_nodes(a):
    urls = node_urls(a.name)
    want = json.loads(a.expect) if a.expect else None
    end = time.monotonic() + a.timeout
    while True:
        got = {}
        for n, url in sorted(urls.items()):
            try:
                got[n] = node_index(url, a.name)
            except OSError as e:
                got[n] = {"error": str(e)}
        if want is None or all(g == want for g in got.values()) or time.monotonic() > end:
            break
        time.sleep(0.1)
    for n, g in got.items():
        ws = " ".join("v%s %d%%" % (v, w) for v, w in sorted(g.items(), key=lambda kv: int(kv[0]))) \
            if "error" not in g else g["error"]
        print("  %s (%s): %s" % (n, urls[n], ws or "serves nothing"))
    if want is not None and not all(g == want for g in got.values()):
        print("demo_watch: not every node serves %s" % a.expect, file=sys.stderr)
        return 1
    return 0


def cmd_traffic(a):
    total = served(node_urls(a.name), a.name)
    per = {}
    for (v, code), n in total.items():
        per.setdefault(v, {})[code] = n
    for v in sorted(per, key=int):
        print("  v%s: %s" % (v, ", ".join("%d answered %s" % (n, code) for code, n in sorted(per[v].items()))))
    return 0


def cmd_curl_infer(a):
    rows = json.load(open(a.rows))["rows"]
    body = json.dumps({"id": "demo-1", "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, len(rows[0])],
                                                   "data": rows[0]}]})
    shown = body[:body.index("[", body.index('"data"')) + 1] + "%s, … 30 numbers]}]}" % rows[0][0]
    path = "/v2/models/%s/infer" % urllib.parse.quote(a.name, safe="")
    print("$ curl -s -X POST %s%s -d '%s'" % (a.url, path, shown))
    req = urllib.request.Request(a.url + path, data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.read().decode())
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("watch")
    w.add_argument("name")
    w.add_argument("--until", required=True)
    w.add_argument("--timeout", type=float, default=90)
    n = sub.add_parser("nodes")
    n.add_argument("name")
    n.add_argument("--expect")
    n.add_argument("--timeout", type=float, default=30)
    t = sub.add_parser("traffic")
    t.add_argument("name")
    c = sub.add_parser("curl-infer")
    c.add_argument("url")
    c.add_argument("name")
    c.add_argument("rows")
    a = ap.parse_args()
    if not REG or not TOKEN:
        print("demo_watch: MLREG_REGISTRY and MLREG_TOKEN must be set", file=sys.stderr)
        return 2
    try:
        return {"watch": cmd_watch, "nodes": cmd_nodes, "traffic": cmd_traffic, "curl-infer": cmd_curl_infer}[a.cmd](a)
    except OSError as e:  # the registry or a node did not answer: say so in one line
        print("demo_watch: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
