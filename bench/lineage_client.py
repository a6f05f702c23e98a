#!/usr/bin/python3 -S
"""bench/lineage_client.py - the generator and clients bench/lineage drives (python3 stdlib only).

  plan OUT VERSIONS SEED
      Draws the graph (deterministic for VERSIONS and SEED) and writes it to OUT
      (marshal) with a summary OUT.json.  Shape: VERSIONS/50 models, 2% of them
      "base" models (foundation models others fine-tune from), sizes lognormal
      (sigma 0.8, mean 50 versions), each model active over a random span of time,
      pushes interleaved in time order.  Every version has 1 to 3 parents (a
      model's first version none, or 80% of task models one base-model version):
      the previous version (85%) or one of the 5 before it; a second parent with
      p 0.15 and a third with p 0.04, either an older version of the same model
      from the last 20 (a merge: diamonds) or, for task models 40% of the time, a
      recent base-model version (cross-model).  2 to 5 datasets (weights 90/6/3/1)
      from the model's own 2-6 names (each name's content changes with p 0.08 per
      use: a new sha256 node; 10% of names are s3:// URIs) or, 20% of the time,
      from a shared pool (VERSIONS/500 datasets, each known under 2 names).  One
      commit (a new one with p 0.6, else the model's last) with branch, remote,
      dirty and changed, and one CI run (its own id and url).  Plus one "hot"
      dataset (name hot/clickstream): used directly by VERSIONS/1000 versions, in
      blocks of 10 consecutive versions of task models chosen so that, with their
      descendants, the impact set (multi-source BFS, depth <= 63 below the users,
      as the server's default cap of 64 counts from the dataset) is ~10x that.
  push PLAN URL TOKEN FIRST LAST
      POSTs specs FIRST..LAST-1 of the plan through POST /api/v1/models/M/versions
      with their "lineage" body, in order, on one keep-alive connection (a child's
      parents exist before it).  Prints {"created","seconds","per_s"}.
  write PLAN DB FIRST LAST
      Writes specs FIRST..LAST-1 straight into the SQLite database DB (the server
      stopped), row for row as the server would: models, versions (status ready,
      created_by the admin principal, the manifest and file of the API-pushed
      versions), version_files, lineage_nodes in the order the server creates
      them (same ids), lineage_edges, dataset_names; one transaction,
      journal_mode=OFF and synchronous=OFF during the load, WAL restored after.
      No audit entries, no events.  Prints counts and seconds.
  compare DB_API DB_GEN
      The check that the generator writes what the server writes: every row of
      models, versions, version_files, lineage_nodes, lineage_edges and
      dataset_names (ids included, timestamps excluded) must be equal.
  bench URL TOKEN DB PLAN OUT ROOTS IMPACT_REPS
      One keep-alive connection (TCP_NODELAY), each request timed with
      perf_counter_ns from before the send to after the whole body is read.
      ROOTS random versions (seeded): GET /api/v1/lineage?ref=M:N&direction=up&depth=10
      and ...&direction=down&depth=10 (interleaved, 20 warm-up roots first);
      then IMPACT_REPS times each, interleaved: ?dataset=sha256:<hot>&direction=down
      (default depth) and GET /api/v1/datasets/sha256:<hot>.  Every answer is
      parsed after the timer to count nodes/edges/dependents; the impact answers
      must hold exactly the versions the plan predicts.  Latencies go to
      OUT.<kind> (ns a line); prints a JSON summary.
  explain DB PLAN [SOURCE_ROOT]
      EXPLAIN QUERY PLAN and median time (200 runs, python's sqlite3 = the same
      libsqlite3) of every SELECT in registry/meta_sqlite_lineage.c read from the
      source, bound to representative ids; markdown table.
  phases DB PLAN
      The impact walk replayed in python with the server's statements, timing
      each phase: edge scans (the BFS) and node details (node_get + stages);
      gives statement counts, so statement cost x count can be set against the
      server's time.
"""
import hashlib
import http.client
import json
import marshal
import os
import random
import socket
import sys
import time
import urllib.parse

FILE_PATH = "model.bin"
MODE = 420
HOT_NAME = "hot/clickstream"
HOT_DIGEST = "sha256:" + hashlib.sha256(b"mlreg-bench hot dataset").hexdigest()
HOT_DEPTH = 64  # the server's default --lineage-max-depth
CHANGED = ["src/train.py", "src/features.py", "configs/train.yaml", "src/model.py", "requirements.txt"]


# ---------------------------------------------------------------- plan
def model_name(i, nbase):
    return "base-%04d" % i if i < nbase else "m-%05d" % (i - nbase)


def plan(out, versions, seed):
    V, seed = int(versions), int(seed)
    rnd = random.Random(seed)
    t0 = time.perf_counter()
    nmod = max(20, V // 50)
    nbase = max(2, nmod // 50)
    # model sizes: lognormal, scaled to V exactly, each >= 1
    raw = [rnd.lognormvariate(0, 0.8) for _ in range(nmod)]
    s = sum(raw)
    sizes = [max(1, int(x * V / s)) for x in raw]
    diff = V - sum(sizes)
    i = 0
    while diff != 0:  # spread the rounding over the models
        j = i % nmod
        if diff > 0:
            sizes[j] += 1
            diff -= 1
        elif sizes[j] > 1:
            sizes[j] -= 1
            diff += 1
        i += 1
    # time order: each model is active over [start, 1]; base models start early
    ev = []
    for m in range(nmod):
        st = rnd.uniform(0, 0.3) if m < nbase else rnd.uniform(0.05, 0.85)
        ts = sorted(rnd.uniform(st, 1.0) for _ in range(sizes[m]))
        if m < nbase:
            ts[0] = min(ts[0], 0.05)  # every base model exists before task models start
        ev.extend((t, m) for t in ts)
    ev.sort()
    vm = [m for _, m in ev]
    del ev
    vn = [0] * V
    count = [0] * nmod
    mver = [[] for _ in range(nmod)]  # model -> its version indices in order
    for i, m in enumerate(vm):
        count[m] += 1
        vn[i] = count[m]
        mver[m].append(i)
    # parents
    vp = [()] * V
    seen = [0] * nmod
    base_live = []  # base models that have versions so far
    for i, m in enumerate(vm):
        n = seen[m] + 1
        seen[m] = n
        own = mver[m]
        task = m >= nbase
        if n == 1:
            if m < nbase:
                base_live.append(m)
            if task and base_live and rnd.random() < 0.8:
                b = rnd.choice(base_live)
                vp[i] = (mver[b][max(0, seen[b] - 1 - rnd.randrange(3))],)
            continue
        ps = [own[n - 2] if rnd.random() < 0.85 else own[n - 2 - rnd.randrange(min(5, n - 1))]]
        extra = 0
        if rnd.random() < 0.15:
            extra = 2 if rnd.random() < 0.04 / 0.15 else 1
        for _ in range(extra):
            for _try in range(4):
                if task and rnd.random() < 0.4 and base_live:
                    b = rnd.choice(base_live)
                    p = mver[b][max(0, seen[b] - 1 - rnd.randrange(3))]
                else:
                    p = own[n - 2 - rnd.randrange(min(20, n - 1))]
                if p not in ps:
                    ps.append(p)
                    break
        vp[i] = tuple(ps)
    # datasets: keys list (sha256:<hex> or uri:<uri>); per model names with a current content
    dkeys = []

    def new_key(tag, uri):
        if uri:
            dkeys.append("uri:" + uri)
        else:
            dkeys.append("sha256:" + hashlib.sha256(tag.encode()).hexdigest())
        return len(dkeys) - 1

    nshared = max(4, V // 500)
    shared = []  # (key index, (name a, name b))
    for k in range(nshared):
        shared.append((new_key("shared:%d" % k, None), ("common/corpus-%d" % k, "corpus%d" % k)))
    hot = new_key("unused", None)
    dkeys[hot] = HOT_DIGEST
    mnames = []  # model -> list of [name, uri template or None, current key, snapshot]
    for m in range(nmod):
        mn = model_name(m, nbase)
        names = []
        for j, label in enumerate(["train", "eval", "labels", "features", "holdout", "augment"][:rnd.randint(2, 6)]):
            uri = "s3://datasets-%s/%s/v%%d.parquet" % (mn, label) if rnd.random() < 0.1 else None
            names.append([mn + "/" + label, uri, -1, 0])
        mnames.append(names)
    vd = [()] * V
    kweights = [2] * 90 + [3] * 6 + [4] * 3 + [5]
    for i, m in enumerate(vm):
        k = rnd.choice(kweights)
        names = mnames[m]
        used = []
        for j in range(k):
            if j > 0 and rnd.random() < 0.2:
                key, alts = rnd.choice(shared)
                nm = rnd.choice(alts)
            else:
                cand = names[0] if j == 0 else rnd.choice(names)
                if cand[2] < 0 or rnd.random() < 0.08:
                    cand[3] += 1
                    cand[2] = new_key("%s:%d" % (cand[0], cand[3]), cand[1] % cand[3] if cand[1] else None)
                key, nm = cand[2], cand[0]
            if (key, nm) in used:
                continue
            used.append((key, nm))
        vd[i] = tuple(used)
    # commits: a new one with p 0.6, else the model's last; git variant per version
    commits = []
    vc = [0] * V
    vg = [0] * V  # bits: 1 dirty, 2 branch exp/, 4 null branch, 8..: changed count<<3
    last = [-1] * nmod
    for i, m in enumerate(vm):
        if last[m] < 0 or rnd.random() < 0.6:
            commits.append(hashlib.sha1(b"%d:%d" % (m, i)).hexdigest())
            last[m] = len(commits) - 1
        vc[i] = last[m]
        r = rnd.random()
        vg[i] = (1 if rnd.random() < 0.05 else 0) | (2 if r < 0.2 else 4 if r < 0.25 else 0) | (rnd.randrange(4) << 3)
    # children lists (for the hot dataset's impact)
    kids = [[] for _ in range(V)]
    for i, ps in enumerate(vp):
        for p in ps:
            kids[p].append(i)

    def closure(srcs, into, cap=HOT_DEPTH - 1):
        """versions within cap hops below any of srcs (multi-source BFS), added to into."""
        dist = {s: 0 for s in srcs}
        q = list(srcs)
        for s in srcs:
            into.add(s)
        h = 0
        while h < len(q):
            x = q[h]
            h += 1
            d = dist[x]
            if cap is not None and d >= cap:
                continue
            for c in kids[x]:
                if c not in dist:
                    dist[c] = d + 1
                    into.add(c)
                    q.append(c)
        return into

    # hot users: blocks of 10 consecutive versions of task models, about 100 versions from the
    # end of the model, so each block brings ~90 descendants (its model's later versions)
    want = max(10, V // 1000)
    users = []
    tasks = [m for m in range(nbase, nmod) if sizes[m] >= 20]
    rnd.shuffle(tasks)
    tasks.sort(key=lambda m: sizes[m] < 100)  # models with >= 100 versions first (stable: still shuffled)
    impact = set()
    for m in tasks:
        if len(users) >= want:
            break
        own = mver[m]
        span = min(len(own), 105)
        start = len(own) - span + rnd.randrange(max(1, span // 10))
        blk = own[start:start + min(10, want - len(users))]
        add = closure(blk, set()) - impact
        # keep on track: ~10 impacted versions per direct user
        if len(impact) + len(add) > 10 * (len(users) + len(blk)) * 1.15:
            continue
        users.extend(blk)
        impact |= add
    hot_users = set(users)
    vd = [((hot, HOT_NAME),) + d[:4] if i in hot_users else d for i, d in enumerate(vd)]
    impact = closure(sorted(hot_users), set())
    impact_all = closure(sorted(hot_users), set(), None)  # GET /api/v1/datasets/{id} walks without a depth cap
    direct = len(hot_users)
    data = {"V": V, "seed": seed, "nmod": nmod, "nbase": nbase, "vm": vm, "vn": vn, "vp": vp, "vd": vd,
            "vc": vc, "vg": vg, "dkeys": dkeys, "commits": commits}
    with open(out, "wb") as f:
        marshal.dump(data, f)
    # summary
    npar = [len(p) for p in vp]
    depth = [0] * V  # longest chain of parents (for "depth >= 10 reachable")
    for i, ps in enumerate(vp):
        if ps:
            depth[i] = 1 + max(depth[p] for p in ps)
    edges = sum(npar) + sum(len({k for k, _ in d}) for d in vd) + 2 * V
    summ = {"versions": V, "models": nmod, "base_models": nbase, "model_size_max": max(sizes),
            "model_size_median": sorted(sizes)[nmod // 2],
            "parents": {str(k): npar.count(k) for k in range(4)},
            "cross_model_parents": sum(1 for i, ps in enumerate(vp) for p in ps if vm[p] != vm[i]),
            "datasets": len(dkeys), "commits": len(commits), "runs": V, "edges": edges,
            "nodes": V + len(dkeys) + len(commits) + V,
            "longest_chain": max(depth), "versions_with_chain_ge_10": sum(1 for d in depth if d >= 10),
            "hot_digest": HOT_DIGEST, "hot_name": HOT_NAME, "hot_direct": direct, "hot_impact": len(impact),
            "hot_impact_all": len(impact_all),
            "hot_users": sorted(hot_users)[:5], "seconds": round(time.perf_counter() - t0, 1)}
    with open(out + ".json", "w") as f:
        json.dump(summ, f)
    print(json.dumps(summ))


def load_plan(fn):
    with open(fn, "rb") as f:
        return marshal.load(f)


def git_of(P, i):
    g = P["vg"][i]
    m = P["vm"][i]
    mn = model_name(m, P["nbase"])
    branch = None if g & 4 else ("exp/%s-%d" % (mn, P["vn"][i] % 7) if g & 2 else "main")
    return {"commit": P["commits"][P["vc"][i]], "branch": branch,
            "remote": "https://git.example.com/team-%d/%s.git" % (m % 97, mn),
            "dirty": bool(g & 1), "changed": CHANGED[:g >> 3]}


def run_of(P, i):
    mn = model_name(P["vm"][i], P["nbase"])
    rid = "ci-%s-%d" % (mn, P["vn"][i])
    return rid, "https://ci.example.com/%s/runs/%d" % (mn, P["vn"][i])


def body_of(P, i, digest, size):
    ds = []
    for k, nm in P["vd"][i]:
        key = P["dkeys"][k]
        ds.append({"name": nm, "uri": key[4:]} if key.startswith("uri:") else {"name": nm, "digest": key})
    parents = ["%s:%d" % (model_name(P["vm"][p], P["nbase"]), P["vn"][p]) for p in P["vp"][i]]
    rid, url = run_of(P, i)
    lin = {"datasets": ds, "parents": parents, "git": git_of(P, i), "run": {"id": rid, "url": url}}
    return {"files": [{"path": FILE_PATH, "size": size, "digest": digest, "mode": MODE}], "lineage": lin}


# ---------------------------------------------------------------- http
def conn_for(url):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
    c.connect()
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def request(c, method, path, headers, body=None):
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


def push(planfile, url, token, first, last, digest, size):
    P = load_plan(planfile)
    first, last, size = int(first), min(int(last), P["V"]), int(size)
    c = conn_for(url)
    h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    t0 = time.perf_counter()
    for i in range(first, last):
        mn = model_name(P["vm"][i], P["nbase"])
        st, data = request(c, "POST", "/api/v1/models/%s/versions" % mn, h, json.dumps(body_of(P, i, digest, size)))
        if st != 201:
            sys.exit("push: spec %d (%s:%d): HTTP %d: %s" % (i, mn, P["vn"][i], st, data[:400]))
        got = json.loads(data).get("version")
        if got != P["vn"][i]:
            sys.exit("push: spec %d became %s:%s, the plan says %d" % (i, mn, got, P["vn"][i]))
    secs = time.perf_counter() - t0
    n = last - first
    print(json.dumps({"created": n, "seconds": round(secs, 2), "per_s": round(n / secs, 1) if secs else 0}))


# ---------------------------------------------------------------- direct writer
def write(planfile, db, first, last, template_db=None):
    import sqlite3
    P = load_plan(planfile)
    first, last = int(first), min(int(last), P["V"])
    t0 = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1500000")  # 1.5 GB: the indexes stay in memory during the load
    con.execute("PRAGMA temp_store=MEMORY")
    # what a pushed version looks like: taken from the API-pushed versions (or another db)
    src = sqlite3.connect("file:%s?mode=ro" % (template_db or db), uri=True)
    t = src.execute("SELECT v.manifest_digest, v.size, v.file_count, v.created_by, b.size, f.size, f.digest, f.mode"
                    " FROM versions v JOIN blobs b ON b.digest=v.manifest_digest"
                    " JOIN version_files f ON f.version_id=v.id ORDER BY v.id LIMIT 1").fetchone()
    if not t:
        sys.exit("write: no pushed version to copy the manifest from (push some through the API first)")
    man, vsize, nfiles, who, man_size, fsize, fdigest, fmode = t
    src.close()
    now = int(time.time() * 1000)
    con.execute("BEGIN")
    con.execute("INSERT INTO blobs(digest,size,created_at) VALUES(?,?,?) ON CONFLICT DO NOTHING", (man, man_size, now))
    models = {n: [mid, num] for mid, n, num in con.execute(
        "SELECT m.id, m.name, COALESCE(MAX(v.number),0) FROM models m LEFT JOIN versions v ON v.model_id=m.id GROUP BY m.id")}
    next_mid = (con.execute("SELECT MAX(id) FROM models").fetchone()[0] or 0) + 1
    next_vid = (con.execute("SELECT MAX(id) FROM versions").fetchone()[0] or 0) + 1
    next_nid = (con.execute("SELECT MAX(id) FROM lineage_nodes").fetchone()[0] or 0) + 1
    nodes = {(k, key): nid for nid, k, key in con.execute("SELECT id, kind, key FROM lineage_nodes")}
    names = set(con.execute("SELECT name, node_id FROM dataset_names").fetchall())
    vnode = {}  # plan index -> node id, for parents
    for nid, key in ((nid, key) for (k, key), nid in nodes.items() if k == "version"):
        vnode[key] = nid
    nb = P["nbase"]
    vm, vn, vp, vd, dkeys = P["vm"], P["vn"], P["vp"], P["vd"], P["dkeys"]
    touched = {}
    R = dict(m=[], v=[], f=[], n=[], e=[], d=[])
    counts = dict.fromkeys(R, 0)

    def flush():
        con.executemany("INSERT INTO models(id,name,description,created_at,created_by,updated_at) VALUES(?,?,'',?,?,?)", R["m"])
        con.executemany("INSERT INTO versions(id,model_id,number,manifest_digest,size,file_count,status,description,format,"
                        "schema_json,created_at,created_by,updated_at) VALUES(?,?,?,?,?,?,'ready','',NULL,NULL,?,?,?)", R["v"])
        con.executemany("INSERT INTO version_files(version_id,path,size,digest,mode) VALUES(?,?,?,?,?)", R["f"])
        con.executemany("INSERT INTO lineage_nodes(id,kind,key,version_id,attrs) VALUES(?,?,?,?,?)", R["n"])
        con.executemany("INSERT INTO lineage_edges(src,dst,relation,attrs) VALUES(?,?,?,?)", R["e"])
        con.executemany("INSERT INTO dataset_names(name,node_id) VALUES(?,?)", R["d"])
        for k in R:
            counts[k] += len(R[k])
            R[k].clear()

    def ensure(kind, key, vid, attrs):
        nonlocal next_nid
        nid = nodes.get((kind, key))
        if nid is None:
            nid = next_nid
            next_nid += 1
            nodes[(kind, key)] = nid
            R["n"].append((nid, kind, key, vid, attrs))
        return nid

    for i in range(first, last):
        mn = model_name(vm[i], nb)
        ts = now + i
        mrow = models.get(mn)
        if mrow is None:
            mrow = models[mn] = [next_mid, 0]
            next_mid += 1
            R["m"].append((mrow[0], mn, ts, who, ts))
        mrow[1] += 1
        if mrow[1] != vn[i]:
            sys.exit("write: %s would get number %d, the plan says %d" % (mn, mrow[1], vn[i]))
        vid = next_vid
        next_vid += 1
        touched[mrow[0]] = ts
        R["v"].append((vid, mrow[0], vn[i], man, vsize, nfiles, ts, who, ts))
        R["f"].append((vid, FILE_PATH, fsize, fdigest, fmode))
        key = "%s:%d" % (mn, vn[i])
        self = ensure("version", key, vid, "{}")
        vnode[key] = self
        edges = {}
        for k, nm in vd[i]:
            d = ensure("dataset", dkeys[k], None, "{}")
            if (nm, d) not in names:
                names.add((nm, d))
                R["d"].append((nm, d))
            edges.setdefault((self, d, "trained_on"), "{}")
        for p in vp[i]:
            edges.setdefault((self, vnode["%s:%d" % (model_name(vm[p], nb), vn[p])], "derived_from"), "{}")
        g = git_of(P, i)
        sha = g.pop("commit")
        c = ensure("commit", sha, None, "{}")
        edges.setdefault((self, c, "built_from"), json.dumps(g, separators=(",", ":")))
        rid, url = run_of(P, i)
        r = ensure("run", rid, None, json.dumps({"url": url}, separators=(",", ":")))
        edges.setdefault((self, r, "produced_by"), "{}")
        R["e"].extend(k + (a,) for k, a in edges.items())
        if len(R["v"]) >= 20000:
            flush()
    flush()
    con.executemany("UPDATE models SET updated_at=? WHERE id=?", [(ts, mid) for mid, ts in touched.items()])
    con.execute("COMMIT")
    t1 = time.perf_counter()
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    print(json.dumps(dict(models=counts["m"], versions=counts["v"], version_files=counts["f"], nodes=counts["n"],
                          edges=counts["e"], dataset_names=counts["d"], seconds=round(time.perf_counter() - t0, 1), insert_seconds=round(t1 - t0, 1))))


# ---------------------------------------------------------------- compare
COMPARE = [
    ("models", "SELECT id, name, description, created_by FROM models ORDER BY id"),
    ("versions", "SELECT id, model_id, number, manifest_digest, size, file_count, status, description, format,"
                 " schema_json, created_by FROM versions ORDER BY id"),
    ("version_files", "SELECT * FROM version_files ORDER BY version_id, path"),
    ("lineage_nodes", "SELECT * FROM lineage_nodes ORDER BY id"),
    ("lineage_edges", "SELECT * FROM lineage_edges ORDER BY src, dst, relation"),
    ("dataset_names", "SELECT * FROM dataset_names ORDER BY name, node_id"),
]


def compare(db_api, db_gen):
    import sqlite3
    a = sqlite3.connect("file:%s?mode=ro" % db_api, uri=True)
    b = sqlite3.connect("file:%s?mode=ro" % db_gen, uri=True)
    out = {}
    bad = []
    for table, sql in COMPARE:
        ra, rb = a.execute(sql).fetchall(), b.execute(sql).fetchall()
        out[table] = len(ra)
        if ra != rb:
            sa, sb = set(ra), set(rb)
            bad.append({"table": table, "api_rows": len(ra), "gen_rows": len(rb),
                        "only_api": [list(x) for x in sorted(sa - sb, key=repr)[:3]],
                        "only_gen": [list(x) for x in sorted(sb - sa, key=repr)[:3]]})
    out["by_relation"] = dict(a.execute("SELECT relation, COUNT(*) FROM lineage_edges GROUP BY relation").fetchall())
    out["by_kind"] = dict(a.execute("SELECT kind, COUNT(*) FROM lineage_nodes GROUP BY kind").fetchall())
    out["identical"] = not bad
    out["differences"] = bad
    print(json.dumps(out))
    if bad:
        sys.exit(1)


# ---------------------------------------------------------------- bench
def pct(s, p):
    k = max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))  # nearest rank
    return s[k]


def summ(xs, scale=1.0, nd=3):
    s = sorted(xs)
    if not s:
        return {}
    r = (lambda x: round(x / scale, nd)) if nd else (lambda x: int(round(x / scale)))
    return {"n": len(s), "p50": r(pct(s, 50)), "p90": r(pct(s, 90)), "p99": r(pct(s, 99)), "max": r(s[-1]),
            "mean": r(sum(s) / len(s)), "min": r(s[0])}


def bench(url, token, db, planfile, out, roots, impact_reps):
    import sqlite3
    roots, impact_reps = int(roots), int(impact_reps)
    with open(planfile + ".json") as f:
        S = json.load(f)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    maxv = con.execute("SELECT MAX(id) FROM versions").fetchone()[0]
    rnd = random.Random(4242)
    picks = []
    while len(picks) < roots + 20:
        vid = rnd.randint(1, maxv)
        r = con.execute("SELECT m.name, v.number FROM versions v JOIN models m ON m.id=v.model_id WHERE v.id=?",
                        (vid,)).fetchone()
        if r:
            picks.append("%s:%d" % r)
    con.close()
    c = conn_for(url)
    h = {"Authorization": "Bearer " + token}

    def timed(path):
        a = time.perf_counter_ns()
        st, data = request(c, "GET", path, h)
        b = time.perf_counter_ns()
        if st != 200:
            sys.exit("bench: GET %s: HTTP %d: %s" % (path, st, data[:400]))
        return b - a, data

    lat = {"up": [], "down": [], "impact": [], "dataset": []}
    info = {k: {} for k in lat}

    def note(kind, **kv):
        for key, v in kv.items():
            info[kind].setdefault(key, []).append(v)

    def graph_facts(g, data):
        return dict(nodes=len(g["nodes"]), edges=len(g["edges"]), bytes=len(data),
                    versions=sum(1 for n in g["nodes"] if n["kind"] == "version"),
                    maxdepth=max(n["depth"] for n in g["nodes"]), truncated=int(bool(g["truncated"])))

    for j, ref in enumerate(picks):
        for d in ("up", "down"):
            ns, data = timed("/api/v1/lineage?ref=%s&direction=%s&depth=10" % (urllib.parse.quote(ref, safe=":"), d))
            if j < 20:
                continue  # warm-up
            lat[d].append(ns)
            note(d, **graph_facts(json.loads(data), data))
    hot = urllib.parse.quote(S["hot_digest"], safe=":")
    for j in range(impact_reps + 2):
        ns, data = timed("/api/v1/lineage?dataset=%s&direction=down" % hot)
        g = json.loads(data)
        f = graph_facts(g, data)
        if f["versions"] != S["hot_impact"] or f["truncated"]:
            sys.exit("bench: the impact query answered %d versions (truncated %s); the plan says %d"
                     % (f["versions"], g["truncated"], S["hot_impact"]))
        if j >= 2:  # 2 warm-up rounds
            lat["impact"].append(ns)
            note("impact", **f)
        ns, data = timed("/api/v1/datasets/%s" % hot)
        deps = json.loads(data)["dependents"]
        direct = sum(1 for d in deps if d["direct"])
        if len(deps) != S["hot_impact_all"] or direct != S["hot_direct"]:
            sys.exit("bench: GET /api/v1/datasets/%s answered %d dependents (%d direct); the plan says %d (%d)"
                     % (S["hot_digest"], len(deps), direct, S["hot_impact_all"], S["hot_direct"]))
        if j >= 2:
            lat["dataset"].append(ns)
            note("dataset", dependents=len(deps), direct=direct, bytes=len(data))
    res = {}
    for k, xs in lat.items():
        with open("%s.%s" % (out, k), "w") as f:
            f.write("".join("%d\n" % x for x in xs))
        res[k] = {"lat_ms": summ(xs, 1e6)}
        for key, v in info[k].items():
            res[k][key] = sum(v) if key == "truncated" else summ(v, 1, 0)
    res["roots"] = len(picks) - 20
    res["sample_roots"] = picks[20:25]
    print(json.dumps(res))


# ---------------------------------------------------------------- explain / phases
STATEMENTS = [
    # (walk phase, function, variable, params)
    ("roots", "node_find", "sql", ["kind_dataset", "hot_key"]),
    ("walk up, per node", "edges_of", "usql", ["vnode"]),
    ("walk down, per node", "edges_of", "dsql", ["vnode"]),
    ("walk down from the hot dataset", "edges_of", "dsql", ["hot_node"]),
    ("details, per node", "node_get", "sql", ["vnode"]),
    ("details, per model of a version", "stage_holders", "sql", ["model_id"]),
    ("details, per dataset", "add_names", "sql", ["hot_node"]),
    ("?dataset=NAME", "by_name", "sql", ["hot_name"]),
]


def source_sql(root):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from promotion_client import source_sql as ss
    return ss(root)


def timed_sql(con, sql, params, n=200):
    runs = []
    for _ in range(n):
        a = time.perf_counter_ns()
        con.execute(sql, params).fetchall()
        runs.append(time.perf_counter_ns() - a)
    runs.sort()
    return runs[len(runs) // 2] / 1e3


def env_of(con, S):
    hot_node = con.execute("SELECT id FROM lineage_nodes WHERE kind='dataset' AND key=?", (S["hot_digest"],)).fetchone()[0]
    # a typical version: one of the hot dataset's direct users
    vnode, vid, mid = con.execute("SELECT n.id, n.version_id, v.model_id FROM lineage_edges e"
                                  " JOIN lineage_nodes n ON n.id=e.src JOIN versions v ON v.id=n.version_id"
                                  " WHERE e.dst=? LIMIT 1", (hot_node,)).fetchone()
    return {"kind_dataset": "dataset", "hot_key": S["hot_digest"], "hot_node": hot_node, "vnode": vnode,
            "vid": vid, "model_id": mid, "hot_name": S["hot_name"]}


def explain(db, planfile, root=None):
    import sqlite3
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(planfile + ".json") as f:
        S = json.load(f)
    src = source_sql(root)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    env = env_of(con, S)
    print("| phase | statement (registry/meta_sqlite_lineage.c) | plan | µs, median of 200 |")
    print("|---|---|---|---|")
    rows = [(phase, "%s() `%s`" % (fn, var), src.get(("meta_sqlite_lineage.c", fn, var)), names)
            for phase, fn, var, names in STATEMENTS]
    for phase, label, sql, names in rows:
        if sql is None:
            print("| %s | %s | not found in the source: update bench/lineage_client.py | — |" % (phase, label))
            continue
        params = [env[n] for n in names]
        plan_ = "; ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params))
        print("| %s | %s | %s | %.1f |" % (phase, label, plan_.replace("|", "/"), timed_sql(con, sql, params)))


MMAP = "PRAGMA mmap_size=2147418112"  # the most this libsqlite3 maps (SQLITE_MAX_MMAP_SIZE)


def phases(db, planfile, root=None):
    """The impact walk, replayed with the server's statements (and rewrites): where the statements' time goes."""
    import sqlite3
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(planfile + ".json") as f:
        S = json.load(f)
    src = source_sql(root)
    q = {k: src[("meta_sqlite_lineage.c", f, v)] for k, f, v in
         [("down", "edges_of", "dsql"), ("node", "node_get", "sql"), ("stages", "stage_holders", "sql"),
          ("names", "add_names", "sql")]}
    # the server reads stage holders once per model per answer, and its
    # readers map the database (--db-mmap, default 2 GiB)
    variants = [
        ("as the server runs them (statements from the source, readers with mmap)",
         ["PRAGMA mmap_size=2147418112"], q["down"], True),
        ("the same without mmap (`--db-mmap 0`)", [], q["down"], True),
    ]
    print("| replay | BFS: one edge scan per node, ms | details: node row + stages per node, ms | total ms |")
    print("|---|---|---|---|")
    for label, pragmas, down, per_model in variants:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        for p in pragmas:
            con.execute(p)
        env = env_of(con, S)
        best = {}
        for rep in range(5):
            con.execute("BEGIN")
            t0 = time.perf_counter_ns()
            depth = {env["hot_node"]: 0}
            order = [env["hot_node"]]
            nedges = i = 0
            while i < len(order):
                x = order[i]
                i += 1
                if depth[x] >= HOT_DEPTH:
                    continue
                for other, rel, attrs in con.execute(down, (x,)):
                    nedges += 1
                    if other not in depth:
                        depth[other] = depth[x] + 1
                        order.append(other)
            t1 = time.perf_counter_ns()
            nver = 0
            holders = {}
            for x in order:
                row = con.execute(q["node"], (x,)).fetchone()
                if row[0] == "version" and row[3] not in holders:
                    holders[row[3]] = con.execute(q["stages"], (row[3],)).fetchall()
                if row[0] == "version":
                    nver += 1
                elif row[0] == "dataset":
                    con.execute(q["names"], (x,)).fetchall()
            t2 = time.perf_counter_ns()
            con.execute("COMMIT")
            for k, v in (("walk", (t1 - t0) / 1e6), ("details", (t2 - t1) / 1e6)):
                best[k] = min(best.get(k, 1e18), v)
        con.close()
        print("| %s | %.1f | %.1f | %.1f |" % (label, best["walk"], best["details"], best["walk"] + best["details"]))
    print()
    print("Walked: %d nodes (%d versions), %d edges; one edge scan and one node row per node, one stage-holders"
          " query per model (%d models)." % (len(order), nver, nedges, len(holders)))


if __name__ == "__main__":
    cmds = {"plan": plan, "push": push, "write": write, "compare": compare, "bench": bench, "explain": explain,
            "phases": phases}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
