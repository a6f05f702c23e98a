#!/usr/bin/env python3
"""role_matrix.py - every route x every role against a running server.

Usage: role_matrix.py URL ROUTES_FILE TOKENS_JSON

ROUTES_FILE is the output of `mlreg server --print-routes` (METHOD PATH
PERMISSION ROLES, tab-separated): the same table the server routes by, so a
route added anywhere is checked here without touching this file.
TOKENS_JSON maps each role name to a live token of that role.

For each route that needs a token it asserts: no token -> 401, a bad token
-> 401, a role outside ROLES -> 403 `forbidden`, a role inside ROLES -> neither
401 nor 403 (placeholder path parameters name nothing, so 404 or 400 count as
"allowed").  Routes that need none must not answer 401/403 at all.  Prints
each failure and a closing "N passed, N failed" line; exits 1 on a failure.
"""
import json
import sys
import urllib.error
import urllib.request

PLACEHOLDER = {
    "digest": "sha256:" + "0" * 64,
    "ref": "1",
    "stage": "zz-stage",
    "alias": "zz-alias",
    "verb": "pause",
}


def fill(path):
    out = []
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            seg = PLACEHOLDER.get(seg[1:-1], "zz-none")
        out.append(seg)
    return "/".join(out)


def call(url, method, path, token):
    data = None
    headers = {}
    if method in ("POST", "PUT", "PATCH"):
        data = b"{}"
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def code_of(body):
    try:
        return json.loads(body)["error"]["code"]
    except Exception:  # noqa: BLE001 - any non-error body
        return None


def main():
    url, routes_file, tokens_file = sys.argv[1:4]
    tokens = json.load(open(tokens_file))
    roles = ["reader", "writer", "approver", "deployer", "admin", "node"]
    missing = [r for r in roles if r not in tokens]
    if missing:
        print("no token for roles: %s" % ", ".join(missing))
        return 1
    passed = failed = 0
    routes = [l.rstrip("\n").split("\t") for l in open(routes_file) if l.strip()]
    if len(routes) < 40:
        print("only %d routes in %s: is it --print-routes output?" % (len(routes), routes_file))
        return 1

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL " + what)

    for method, path, perm, allowed in routes:
        p = fill(path)
        if perm == "none":
            st, _ = call(url, method, p, None)
            check(st not in (401, 403), "%s %s needs no token but answered %d" % (method, path, st))
            continue
        allowed = set(allowed.split(","))
        for label, tok in (("no token", None), ("bad token", "mlr_" + "A" * 43)):
            st, body = call(url, method, p, tok)
            check(st == 401 and code_of(body) == "unauthenticated",
                  "%s %s with %s: want 401 unauthenticated, got %d %s" % (method, path, label, st, body[:120]))
        for role in roles:
            st, body = call(url, method, p, tokens[role])
            if role in allowed:
                check(st not in (401, 403),
                      "%s %s as %s (%s allowed): got %d %s" % (method, path, role, perm, st, body[:120]))
            else:
                check(st == 403 and code_of(body) == "forbidden",
                      "%s %s as %s (%s not allowed): want 403 forbidden, got %d %s" % (method, path, role, perm, st, body[:120]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
