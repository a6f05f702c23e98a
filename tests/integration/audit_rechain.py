#!/usr/bin/env python3
"""audit_rechain.py - an independent reimplementation of the audit hash chain
(schema/canonical.md) for t_audit_tamper.sh, working directly on a registry's
SQLite database (the server must not be running on it).

  audit_rechain.py check DB
      Recompute every entry's hash from its stored fields and check every
      link.  Prints the number of entries and the head "SEQ HASH"; exits 1
      naming the first entry that does not reproduce.  Run on an untouched
      chain this proves the recomputation below is byte-exact.

  audit_rechain.py rechain DB FROM_SEQ
      What an attacker with write access to the database does after editing
      a row: recompute prev_hash and hash of every entry with seq >= FROM_SEQ
      (in seq order) so that the chain is consistent again.  Prints how many
      rows were rewritten and the new head "SEQ HASH".

hash = lowercase_hex(SHA-256(prev_hash + "\\n" + canonical(E))), with E =
{v,seq,time,actor,action,subject,model,details}; canonical JSON is sorted
keys, no whitespace, UTF-8 unescaped, integers only.  For the data mlreg
writes, Python's json.dumps(sort_keys, compact separators, ensure_ascii=False)
produces exactly that (control characters become lowercase \\u00XX).
"""
import hashlib
import json
import sqlite3
import sys

ZERO = "0" * 64


def _no_floats(v):
    if isinstance(v, float):
        raise ValueError("floating-point value in audit details: %r" % v)
    if isinstance(v, dict):
        for x in v.values():
            _no_floats(x)
    elif isinstance(v, list):
        for x in v:
            _no_floats(x)


def canonical(obj):
    _no_floats(obj)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash, seq, ts, actor, action, subject, model, details_text):
    details = json.loads(details_text) if details_text else {}
    e = {
        "v": 1,
        "seq": seq,
        "time": ts,
        "actor": actor,
        "action": action,
        "subject": subject,
        "model": model,
        "details": details,
    }
    data = (prev_hash + "\n" + canonical(e)).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


COLS = "seq, ts, actor, action, subject, model, details, prev_hash, hash"


def rows(db):
    return db.execute("SELECT %s FROM audit_log ORDER BY seq" % COLS).fetchall()


def check(path):
    db = sqlite3.connect(path)
    prev, expect, n, head = ZERO, 1, 0, (0, "")
    for seq, ts, actor, action, subject, model, details, prev_hash, h in rows(db):
        if seq != expect:
            sys.exit("entry %d: expected seq %d (gap)" % (seq, expect))
        if prev_hash != prev:
            sys.exit("entry %d: prev_hash %s does not link to %s" % (seq, prev_hash, prev))
        mine = entry_hash(prev_hash, seq, ts, actor, action, subject, model, details)
        if mine != h:
            sys.exit("entry %d: recomputed %s, stored %s (action %s, details %s)" % (seq, mine, h, action, details))
        prev, expect, n, head = h, expect + 1, n + 1, (seq, h)
    print("%d %d %s" % (n, head[0], head[1]))


def rechain(path, first):
    db = sqlite3.connect(path)
    prev = ZERO
    n, head = 0, (0, "")
    for seq, ts, actor, action, subject, model, details, prev_hash, h in rows(db):
        if seq >= first:
            prev_hash = prev
            h = entry_hash(prev_hash, seq, ts, actor, action, subject, model, details)
            db.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?", (prev_hash, h, seq))
            n += 1
        prev, head = h, (seq, h)
    db.commit()
    db.close()
    print("%d %d %s" % (n, head[0], head[1]))


def main(argv):
    if len(argv) == 3 and argv[1] == "check":
        check(argv[2])
    elif len(argv) == 4 and argv[1] == "rechain":
        rechain(argv[2], int(argv[3]))
    else:
        sys.exit("usage: audit_rechain.py check DB | rechain DB FROM_SEQ")


if __name__ == "__main__":
    main(sys.argv)
