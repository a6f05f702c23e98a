#!/usr/bin/python3
"""node_client.py - a keep-alive Open Inference Protocol client for the
mlreg-node tests (thousands of requests in a second, which curl in a shell
loop cannot do).

  node_client.py split   URL MODEL N ROWS          infer N times without an id;
                                                   prints {"counts":{version:n},"errors":n}
  node_client.py sticky  URL MODEL IDS REPEAT ROWS each of IDS ids REPEAT times;
                                                   prints {"consistent":bool,"counts":{…}}
  node_client.py compare URL MODEL ROWS [VERSION]  all rows in one batch and the
                                                   first 10 one by one; prints
                                                   {"max_diff":x,"n":n,"version":v}
ROWS is the file node_train.py --rows-out wrote.
"""
import http.client
import json
import sys
import urllib.parse


class Client:
    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def infer(self, model, rows, version=None, rid=None):
        body = {"inputs": [{"name": "input", "datatype": "FP32",
                            "shape": [len(rows), len(rows[0])],
                            "data": [v for r in rows for v in r]}]}
        if rid is not None:
            body["id"] = rid
        path = "/v2/models/%s%s/infer" % (urllib.parse.quote(model, safe=""),
                                         "/versions/%s" % version if version else "")
        self.conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data)


def load_rows(path):
    with open(path) as f:
        return json.load(f)


def main():
    mode, url, model = sys.argv[1], sys.argv[2], sys.argv[3]
    c = Client(url)
    if mode == "split":
        n, rows = int(sys.argv[4]), load_rows(sys.argv[5])["rows"]
        counts, errors = {}, 0
        for i in range(n):
            st, a = c.infer(model, [rows[i % len(rows)]])
            if st != 200:
                errors += 1
                continue
            counts[a["model_version"]] = counts.get(a["model_version"], 0) + 1
        print(json.dumps({"counts": counts, "errors": errors}))
    elif mode == "sticky":
        ids, repeat, rows = int(sys.argv[4]), int(sys.argv[5]), load_rows(sys.argv[6])["rows"]
        consistent, counts = True, {}
        for i in range(ids):
            seen = set()
            for k in range(repeat):
                st, a = c.infer(model, [rows[(i + k) % len(rows)]], rid="client-%d" % i)
                if st != 200 or a.get("id") != "client-%d" % i:
                    print(json.dumps({"error": a, "status": st}))
                    sys.exit(1)
                seen.add(a["model_version"])
            if len(seen) != 1:
                consistent = False
            v = seen.pop()
            counts[v] = counts.get(v, 0) + 1
        print(json.dumps({"consistent": consistent, "counts": counts}))
    elif mode == "compare":
        data = load_rows(sys.argv[4])
        version = sys.argv[5] if len(sys.argv) > 5 else None
        rows, pred = data["rows"], data["pred"]
        st, a = c.infer(model, rows, version)
        if st != 200:
            print(json.dumps({"error": a, "status": st}))
            sys.exit(1)
        out = a["outputs"][0]
        flat = [p for r in pred for p in (r if isinstance(r, list) else [r])]
        if len(out["data"]) != len(flat):
            print(json.dumps({"error": "length %d vs %d" % (len(out["data"]), len(flat))}))
            sys.exit(1)
        diff = max(abs(x - y) for x, y in zip(out["data"], flat))
        for i in range(min(10, len(rows))):
            st, b = c.infer(model, [rows[i]], version)
            want = pred[i] if isinstance(pred[i], list) else [pred[i]]
            if st != 200:
                print(json.dumps({"error": b, "status": st}))
                sys.exit(1)
            diff = max(diff, max(abs(x - y) for x, y in zip(b["outputs"][0]["data"], want)))
        print(json.dumps({"max_diff": diff, "n": len(rows), "version": a["model_version"],
                          "shape": out["shape"], "datatype": out["datatype"]}))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
