#!/usr/bin/env python3
"""lineage_dot.py GRAPH_JSON DOT_JSON: compare `mlreg lineage --format dot`,
parsed by the real Graphviz (`dot -Tjson`), with `mlreg lineage --json` for
the same root.  Used by t_lineage.sh (not a test itself).

Checks (docs/cli.md "lineage"): the DOT node names are exactly the JSON node
ids, each once; the DOT edges (tail, head, label) are exactly the JSON edges
(from, to, relation), as multisets; the bold nodes (penwidth 2) are exactly
the roots (depth 0); and each label shows what the text form shows: a
version's stages and a status other than ready, a dataset's names and the
first 8 hex digits of its digest (or its URI), a commit's 7 hex digits, a
run's id.  Prints "nodes N edges M" on success, else the differences, exit 1.
"""
import json
import sys

with open(sys.argv[1]) as f:
    graph = json.load(f)
with open(sys.argv[2]) as f:
    dot = json.load(f)

nodes = {n["id"]: n for n in graph["nodes"]}
objs = dot.get("objects", [])
names = [o["name"] for o in objs]
problems = []

if len(nodes) != len(graph["nodes"]):
    problems.append("the JSON repeats a node id")
if len(names) != len(set(names)):
    problems.append("the DOT repeats a node: %r" % sorted(n for n in names if names.count(n) > 1))
if set(names) != set(nodes):
    problems.append("DOT nodes missing from the JSON: %r" % sorted(set(names) - set(nodes)))
    problems.append("JSON nodes missing from the DOT: %r" % sorted(set(nodes) - set(names)))

want = sorted((e["from"], e["to"], e["relation"]) for e in graph["edges"])
got = sorted((objs[e["tail"]]["name"], objs[e["head"]]["name"], e.get("label")) for e in dot.get("edges", []))
if want != got:
    problems.append("edges differ:\n  JSON only %r\n  DOT only  %r" %
                    (sorted(set(want) - set(got)), sorted(set(got) - set(want))))

bold = {o["name"] for o in objs if str(o.get("penwidth", "")) == "2"}
roots = {i for i, n in nodes.items() if n.get("depth") == 0}
if bold != roots:
    problems.append("bold nodes %r, roots (depth 0) %r" % (sorted(bold), sorted(roots)))

for o in objs:
    n = nodes.get(o["name"])
    if n is None:
        continue
    label = o.get("label", "").replace("\\\\", "\\")  # Graphviz shows \\ as one backslash
    need = []
    if n["kind"] == "version":
        need = ["%s:%d" % (n["model"], n["version"])] + n["stages"]
        if n["status"] != "ready":
            need.append("(%s)" % n["status"])
    elif n["kind"] == "dataset":
        need = list(n["names"]) + [n["digest"][:15] if "digest" in n else n["uri"]]
    elif n["kind"] == "commit":
        need = [n["sha"][:7]]
    elif n["kind"] == "run":
        need = [n["id"][len("run:"):]]
    for s in need:
        if s not in label:
            problems.append("label of %s is %r: it lacks %r" % (o["name"], label, s))

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("nodes %d edges %d" % (len(names), len(got)))
