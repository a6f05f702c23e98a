#!/usr/bin/python3 -S
"""bench/promotion_client.py - the clients bench/promotion drives (python3 stdlib only).

  seed URL TOKEN MODEL DIGEST SIZE COUNT PROCS BUDGET_S
      POST /api/v1/models/MODEL/versions COUNT times from PROCS processes, each
      on one keep-alive connection; every version has the one file
      (DIGEST, SIZE, "model.bin") and its own random metrics accuracy and auc
      in [0.6, 0.99].  Stops early after BUDGET_S seconds.  Prints JSON
      {"created","seconds","per_s","errors","first_error"}.
  promote URL TOKEN MODEL STAGE N WARMUP OUT V1 V2 [...]
      One keep-alive connection, WARMUP + N calls of POST
      .../stages/STAGE/promote with {"version": V}, cycling through V1 V2 ...
      from the one after the version the stage holds now (consecutive calls
      name different versions, so every call moves the stage; a call that answers anything but 200 "promoted":true stops the
      run).  Each call is timed with perf_counter_ns from before the request
      is sent to after the whole answer is read; the N timings after the
      warm-up are appended to OUT, one nanosecond count a line.  Prints JSON
      {"n","checks","seconds"}.
  get URL TOKEN PATH N OUT
      The same for N GETs of PATH.
  stats FILE...
      Percentiles (nearest rank) of the nanosecond lines of the FILEs:
      {"n","p50_ms","p90_ms","p99_ms","max_ms","mean_ms"}.
  hist ROUTE METHOD BEFORE AFTER [BEFORE AFTER ...]
      From pairs of /metrics snapshots: the requests of ROUTE/METHOD between them,
      their mean, and p50/p90/p99 estimated from the histogram buckets with
      linear interpolation inside a bucket (as Prometheus' histogram_quantile).
  clone DB MODEL TOTAL
      The documented fallback when seeding through the API is too slow (the
      server must be stopped): adds versions to MODEL until it has TOTAL, as
      copies of its latest version (same files, so the same manifest) with
      their own random metrics, written straight into SQLite in one
      transaction.  No audit entries are written for them.
  explain DB MODEL STAGE [SOURCE_ROOT]
      Read-only: for each read statement on the paths of resolve (GET
      .../versions/STAGE[/manifest]) and promote, taken from the current
      registry/meta_sqlite*.c of SOURCE_ROOT (default: this checkout) and bound
      to the stage's holder, its EXPLAIN QUERY PLAN and its median time over
      200 runs (python's sqlite3 module, the same libsqlite3 the server links).
      Prints a markdown table.
"""
import http.client
import json
import os
import random
import socket
import sys
import time
import urllib.parse


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def request(c, method, path, headers, body=None):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


def rand_metrics(rnd):
    return {"accuracy": round(rnd.uniform(0.6, 0.99), 6), "auc": round(rnd.uniform(0.6, 0.99), 6)}


# ---------------------------------------------------------------- seed
def seed_worker(url, token, model, digest, size, count, deadline, seed, out_fd):
    rnd = random.Random(seed)
    c = conn_for(url)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    path = "/api/v1/models/%s/versions" % urllib.parse.quote(model, safe="")
    made = errors = 0
    first_err = ""
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        body = json.dumps({"files": [{"path": "model.bin", "size": size, "digest": digest, "mode": 420}],
                           "metrics": rand_metrics(rnd)})
        try:
            st, data = request(c, "POST", path, h, body)
        except (http.client.HTTPException, OSError) as e:
            errors += 1
            first_err = first_err or repr(e)
            c.close()
            c = conn_for(url)
            continue
        if st == 201:
            made += 1
        else:
            errors += 1
            first_err = first_err or "%d %s" % (st, data[:200])
    os.write(out_fd, (json.dumps({"made": made, "errors": errors, "first_error": first_err}) + "\n").encode())
    os._exit(0)


def seed(url, token, model, digest, size, count, procs, budget):
    count, procs, size, budget = int(count), int(procs), int(size), float(budget)
    r, w = os.pipe()
    t0 = time.perf_counter()
    deadline = time.monotonic() + budget
    kids = []
    for i in range(procs):
        n = count // procs + (1 if i < count % procs else 0)
        pid = os.fork()
        if pid == 0:
            os.close(r)
            seed_worker(url, token, model, digest, size, n, deadline, os.getpid(), w)
        kids.append(pid)
    os.close(w)
    for pid in kids:
        os.waitpid(pid, 0)
    secs = time.perf_counter() - t0
    made = errors = 0
    first = ""
    with os.fdopen(r) as f:
        for line in f:
            d = json.loads(line)
            made += d["made"]
            errors += d["errors"]
            first = first or d["first_error"]
    print(json.dumps({"created": made, "seconds": round(secs, 3), "per_s": round(made / secs, 1),
                      "errors": errors, "first_error": first}))


# ---------------------------------------------------------------- latency
def promote(url, token, model, stage, n, warmup, out, *versions):
    n, warmup = int(n), int(warmup)
    vs = [int(v) for v in versions]
    if len(vs) < 2:
        sys.exit("promote: need at least two versions to alternate")
    c = conn_for(url)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    path = "/api/v1/models/%s/stages/%s/promote" % (urllib.parse.quote(model, safe=""), stage)
    # start after the version the stage holds now, so the first call moves it too
    st, data = request(c, "GET", "/api/v1/models/%s/stages" % urllib.parse.quote(model, safe=""), h)
    if st != 200:
        sys.exit("promote: GET stages: HTTP %d: %s" % (st, data[:400]))
    held = [s.get("version") for s in json.loads(data)["stages"] if s["stage"] == stage]
    start = vs.index(held[0]) + 1 if held and held[0] in vs else 0
    lat = []
    checks = 0
    t0 = time.perf_counter()
    for i in range(warmup + n):
        body = json.dumps({"version": vs[(start + i) % len(vs)]})
        a = time.perf_counter_ns()
        st, data = request(c, "POST", path, h, body)
        b = time.perf_counter_ns()
        if st != 200:
            sys.exit("promote: HTTP %d: %s" % (st, data[:400]))
        d = json.loads(data)
        if d.get("promoted") is not True:
            sys.exit("promote: the stage did not move: %s" % data[:400])
        if i == warmup:
            t0 = time.perf_counter()
        if i >= warmup:
            lat.append(b - a)
            checks = len(d.get("checks", []))
    secs = time.perf_counter() - t0
    with open(out, "a") as f:
        f.write("".join("%d\n" % x for x in lat))
    print(json.dumps({"n": len(lat), "checks": checks, "seconds": round(secs, 3)}))


def get(url, token, path, n, out):
    n = int(n)
    c = conn_for(url)
    h = {"Authorization": "Bearer " + token}
    lat = []
    t0 = time.perf_counter()
    for _ in range(n):
        a = time.perf_counter_ns()
        st, data = request(c, "GET", path, h)
        b = time.perf_counter_ns()
        if st != 200:
            sys.exit("get: HTTP %d: %s" % (st, data[:400]))
        lat.append(b - a)
    secs = time.perf_counter() - t0
    with open(out, "a") as f:
        f.write("".join("%d\n" % x for x in lat))
    print(json.dumps({"n": len(lat), "seconds": round(secs, 3)}))


def pct(s, p):
    k = max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))  # nearest rank
    return s[k] / 1e6


def stats(*files):
    lat = []
    for fn in files:
        with open(fn) as f:
            lat += [int(x) for x in f if x.strip()]
    if not lat:
        sys.exit("stats: no samples")
    lat.sort()
    print(json.dumps({"n": len(lat), "p50_ms": round(pct(lat, 50), 3), "p90_ms": round(pct(lat, 90), 3),
                      "p99_ms": round(pct(lat, 99), 3), "max_ms": round(lat[-1] / 1e6, 3),
                      "mean_ms": round(sum(lat) / len(lat) / 1e6, 3)}))


# ---------------------------------------------------------------- /metrics
def read_hist(fn, route, method):
    want = 'route="%s",method="%s"' % (route, method)
    buckets, total, count = {}, 0.0, 0
    with open(fn) as f:
        for line in f:
            if want not in line:
                continue
            name, _, val = line.rpartition(" ")
            if name.startswith("mlreg_http_request_duration_seconds_bucket"):
                le = name.split('le="')[1].split('"')[0]
                buckets[float("inf") if le == "+Inf" else float(le)] = float(val)
            elif name.startswith("mlreg_http_request_duration_seconds_sum"):
                total = float(val)
            elif name.startswith("mlreg_http_request_duration_seconds_count"):
                count = int(float(val))
    return buckets, total, count


def hist(route, method, *snaps):
    if len(snaps) < 2 or len(snaps) % 2:
        sys.exit("hist: give BEFORE AFTER pairs")
    delta, n, total = {}, 0, 0.0
    for before, after in zip(snaps[0::2], snaps[1::2]):
        b0, s0, c0 = read_hist(before, route, method)
        b1, s1, c1 = read_hist(after, route, method)
        for le, c in b1.items():
            delta[le] = delta.get(le, 0) + c - b0.get(le, 0)
        n += c1 - c0
        total += s1 - s0
    if n <= 0:
        print(json.dumps({"n": 0, "mean_ms": "-", "p50_ms": "-", "p90_ms": "-", "p99_ms": "-"}))
        return
    les = sorted(delta)
    cum = [delta[le] for le in les]

    def q(p):
        rank = p / 100 * n
        lo, prev = 0.0, 0.0
        for le, c in zip(les, cum):
            if c >= rank:
                if le == float("inf"):
                    return lo * 1e3
                return (lo + (le - lo) * (rank - prev) / max(c - prev, 1e-9)) * 1e3
            lo, prev = le, c
        return lo * 1e3

    print(json.dumps({"n": n, "mean_ms": round(total / n * 1e3, 3), "p50_ms": round(q(50), 3),
                      "p90_ms": round(q(90), 3), "p99_ms": round(q(99), 3)}))


# ---------------------------------------------------------------- fallback seeding
def clone(db, model, total):
    import sqlite3
    total = int(total)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("BEGIN IMMEDIATE")
    mid = con.execute("SELECT id FROM models WHERE name=?", (model,)).fetchone()[0]
    t = con.execute("SELECT id, number, manifest_digest, size, file_count, description, format, schema_json,"
                    " created_by FROM versions WHERE model_id=? ORDER BY number DESC LIMIT 1", (mid,)).fetchone()
    files = con.execute("SELECT path, size, digest, mode FROM version_files WHERE version_id=?", (t[0],)).fetchall()
    rnd = random.Random(1)
    now = int(time.time() * 1000)
    made = 0
    for number in range(t[1] + 1, total + 1):
        cur = con.execute("INSERT INTO versions(model_id,number,manifest_digest,size,file_count,status,description,"
                          "format,schema_json,created_at,created_by,updated_at) VALUES(?,?,?,?,?,'ready',?,?,?,?,?,?)",
                          (mid, number, t[2], t[3], t[4], t[5], t[6], t[7], now, t[8], now))
        vid = cur.lastrowid
        con.executemany("INSERT INTO version_files(version_id,path,size,digest,mode) VALUES(?,?,?,?,?)",
                        [(vid,) + tuple(f) for f in files])
        for key, val in rand_metrics(rnd).items():
            m = con.execute("INSERT INTO metrics(version_id,key,value,step,ts) VALUES(?,?,?,NULL,?)",
                            (vid, key, val, now))
            con.execute("INSERT INTO metric_latest(version_id,key,value,step,metric_id) VALUES(?,?,?,NULL,?)",
                        (vid, key, val, m.lastrowid))
        made += 1
    con.execute("UPDATE models SET updated_at=? WHERE id=?", (now, mid))
    con.execute("COMMIT")
    con.close()
    print(json.dumps({"cloned": made}))


# ---------------------------------------------------------------- statement costs
# The SELECTs a resolve or a promote runs, read from the source at run time (file,
# function, variable), so the costs are those of the code being benchmarked; writes
# (INSERT/DELETE) are left out.  Parameters: names bound positionally.
STATEMENTS = [
    ("resolve, promote", "meta_sqlite.c", "sq_model_id", "sql", ["model"]),
    ("promote", "meta_sqlite_promo.c", "stages_list", "sql", []),
    ("resolve, promote x2", "meta_sqlite_promo.c", "stack_top", "sql", ["mid", "stage"]),
    ("resolve, promote", "meta_sqlite_versions.c", "sq_version_lookup", "sql", ["model", "number"]),
    ("resolve (object)", "meta_sqlite_versions.c", "version_row", "fsql", ["vid"]),
    ("resolve", "meta_sqlite_versions.c", "version_row", "msql", ["vid"]),
    ("resolve", "meta_sqlite_versions.c", "version_row", "psql", ["vid"]),
    ("resolve", "meta_sqlite_versions.c", "version_row", "tsql", ["vid"]),
    ("resolve", "meta_sqlite_versions.c", "version_row", "ssql", ["vid"]),
    ("resolve", "meta_sqlite_versions.c", "version_row", "asql", ["vid"]),
    ("promote", "meta_sqlite_promo.c", "version_facts", "vsql", ["vid"]),
    ("promote", "meta_sqlite_promo.c", "version_facts", "msql", ["vid"]),
    ("promote", "meta_sqlite_promo.c", "policy_list", "sql", ["model"]),
    ("promote (policy)", "meta_sqlite_promo.c", "move_first_entered", "sql", ["mid", "from", "number"]),
    ("promote", "meta_sqlite.c", "sq_audit_tail", "sql", []),
]
# Rewrites measured beside them for comparison (not code the server runs).
WHAT_IF = [
    ("version_row ssql, one top-of-stack probe per stage",
     "SELECT g.name FROM stages g WHERE (SELECT t.version_id FROM stage_stack t WHERE t.model_id=?1 AND t.stage=g.name"
     " ORDER BY t.pos DESC LIMIT 1)=?2 ORDER BY g.position", ["mid", "vid"]),
]


def source_sql(root):
    """{(file, function, variable): SQL} of the static const char SQL strings in registry/meta_sqlite*.c."""
    import glob
    import re
    out = {}
    for fn in sorted(glob.glob(os.path.join(root, "registry", "meta_sqlite*.c"))):
        src = open(fn).read()
        funcs = [(m.start(), m.group(1)) for m in re.finditer(r"\n(?:static\s+)?[\w \*]+?\b(\w+)\([^;{)]*\)\s*\{", src)]
        for m in re.finditer(r'static const char (\w+)\[\]\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src):
            func = [f for pos, f in funcs if pos < m.start()]
            sql = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
            out[(os.path.basename(fn), func[-1] if func else "?", m.group(1))] = sql
    return out


def timed(con, sql, params):
    runs = []
    for _ in range(200):
        a = time.perf_counter_ns()
        con.execute(sql, params).fetchall()
        runs.append(time.perf_counter_ns() - a)
    runs.sort()
    return runs[len(runs) // 2] / 1e3


def explain(db, model, stage, root=None):
    import sqlite3
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = source_sql(root)
    con = sqlite3.connect("file:" + db + "?mode=ro", uri=True)
    mid = con.execute("SELECT id FROM models WHERE name=?", (model,)).fetchone()[0]
    number = con.execute("SELECT v.number FROM stage_stack s JOIN versions v ON v.id=s.version_id"
                         " WHERE s.model_id=? AND s.stage=? ORDER BY s.pos DESC LIMIT 1", (mid, stage)).fetchone()[0]
    vid = con.execute("SELECT id FROM versions WHERE model_id=? AND number=?", (mid, number)).fetchone()[0]
    depth = con.execute("SELECT COUNT(*) FROM stage_stack WHERE model_id=? AND stage=?", (mid, stage)).fetchone()[0]
    times = con.execute("SELECT COUNT(*) FROM stage_stack WHERE version_id=?", (vid,)).fetchone()[0]
    env = {"model": model, "mid": mid, "stage": stage, "number": number, "vid": vid, "from": "staging"}
    print("Stage %s of %s: holder version %d, stack depth %d; the holder is on stacks %d times." % (stage, model, number, depth, times))
    print()
    print("| path | statement (registry/…) | plan | µs, median of 200 |")
    print("|---|---|---|---|")
    rows = [(path, "%s %s() %s" % (f, fn, v), src.get((f, fn, v)), names) for path, f, fn, v, names in STATEMENTS]
    rows += [("(what-if)", label, sql, names) for label, sql, names in WHAT_IF]
    for path, label, sql, names in rows:
        if sql is None:
            print("| %s | %s | not found in the source: update bench/promotion_client.py | — |" % (path, label))
            continue
        params = [env[n] for n in names]
        plan = "; ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params))
        print("| %s | %s | %s | %.0f |" % (path, label, plan.replace("|", "/"), timed(con, sql, params)))


if __name__ == "__main__":
    cmds = {"seed": seed, "promote": promote, "get": get, "stats": stats, "hist": hist, "clone": clone, "explain": explain}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
