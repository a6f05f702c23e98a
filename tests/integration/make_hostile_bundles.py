#!/usr/bin/python3
"""make_hostile_bundles.py GOOD.tar OUTDIR CANARY_REL CANARY_ABS

Writes hostile variants of a good bundle (made by `mlreg export`) into
OUTDIR, one .tar (or .tar.gz) per attack, for t_bundles.sh.  Each is what an
attacker could hand an air-gapped site: the good entries plus, or instead
of, something that must make `mlreg import` refuse the whole bundle.
tarfile writes link, device and fifo headers without privileges, so no
root is needed.

CANARY_REL is a relative path with '..' (e.g. ../../canary-123) and
CANARY_ABS an absolute path: the test checks that neither appears.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile


def read_good(path):
    entries = []
    with tarfile.open(path, "r:*") as t:
        for m in t.getmembers():
            entries.append((m.name, t.extractfile(m).read()))
    return entries


def reg(name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    return ti, io.BytesIO(data)


def write(path, members, mode="w"):
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as t:
        for ti, data in members:
            t.addfile(ti, data)


def good_members(entries):
    return [reg(n, d) for n, d in entries]


def special(name, kind, target=""):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = target
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti, None


def main():
    good, out, canary_rel, canary_abs = sys.argv[1:5]
    os.makedirs(out, exist_ok=True)
    entries = read_good(good)
    index = dict(entries)["mlreg-bundle.json"]
    blobs = [n for n, _ in entries if n.startswith("blobs/sha256/")]
    big = max((n for n, _ in entries if n.startswith("blobs/")), key=lambda n: len(dict(entries)[n]))
    P = lambda name: os.path.join(out, name)

    # names that would escape a naive extraction
    write(P("dotdot.tar"), good_members(entries) + [reg(canary_rel, b"escaped\n")])
    write(P("absolute.tar"), good_members(entries) + [reg(canary_abs, b"escaped\n")])
    write(P("dotdot_blob.tar"), good_members(entries) + [reg("blobs/sha256/../../" + os.path.basename(canary_rel), b"x")])
    # link -> link -> /etc, then a file through the chain
    write(P("symlink_chain.tar"), [special("blobs", tarfile.SYMTYPE, "l2"), special("l2", tarfile.SYMTYPE, "/etc"),
                                   reg("blobs/passwd", b"root::0:0::/:/bin/sh\n")] + good_members(entries))
    write(P("symlink_blob.tar"), [special(blobs[0], tarfile.SYMTYPE, "/etc/passwd")] + good_members(entries))
    write(P("hardlink.tar"), [special(blobs[0], tarfile.LNKTYPE, "/etc/passwd")] + good_members(entries))
    write(P("chardev.tar"), [special(blobs[0], tarfile.CHRTYPE)] + good_members(entries))
    write(P("fifo.tar"), good_members(entries) + [special("mlreg-bundle.sig", tarfile.FIFOTYPE)])
    write(P("unknown_name.tar"), good_members(entries) + [reg("README", b"hello\n")])
    write(P("dir_other.tar"), [special("models", tarfile.DIRTYPE)] + good_members(entries))
    # many entries: acceptable folder entries past --max-entries
    write(P("many.tar"), good_members(entries) + [special("blobs/", tarfile.DIRTYPE) for _ in range(300)])
    # a gzip bomb: a correctly named blob of 64 MiB of zeros, ~64 KiB compressed
    zeros = bytes(64 << 20)
    zname = "blobs/sha256/" + hashlib.sha256(zeros).hexdigest()
    write(P("bomb.tar.gz"), [reg("mlreg-bundle.json", index), reg(zname, zeros)], "w:gz")
    # one entry larger than --max-entry-size (the test sets it below this)
    write(P("oversized.tar"), good_members(entries) + [reg("blobs/sha256/" + "0" * 64, bytes(3 << 20))])
    # a blob whose bytes do not match its name
    tampered = [(n, (d[:-1] + bytes([d[-1] ^ 1]) if n == big else d)) for n, d in entries]
    write(P("bad_blob.tar"), good_members(tampered))
    # an index whose file list does not hash to the version's digest
    ix = json.loads(index)
    ix["versions"][0]["files"][0]["mode"] = 493 if ix["versions"][0]["files"][0]["mode"] == 420 else 420
    write(P("bad_manifest.tar"), good_members([(n, json.dumps(ix).encode() if n == "mlreg-bundle.json" else d)
                                               for n, d in entries]))
    # a blob the index does not list at all, and a listed blob missing
    write(P("extra_blob.tar"), good_members(entries) + [reg("blobs/sha256/" + hashlib.sha256(b"extra").hexdigest(), b"extra")])
    write(P("missing_blob.tar"), good_members([(n, d) for n, d in entries if n != big]))
    # signatures that cannot verify: a per-version signature and a detached one
    ix = json.loads(index)
    sigs = ix["versions"][0].get("signatures") or []
    if sigs:  # a real signature with one character changed
        s0 = sigs[0]["signature"]
        sigs[0]["signature"] = ("B" if s0[0] != "B" else "C") + s0[1:]
    else:
        sigs.append({"fingerprint": "sha256:" + "ab" * 32, "public_key": "junk", "signature": "AAAA" * 22})
    ix["versions"][0]["signatures"] = sigs
    write(P("bad_signature.tar"), good_members([(n, json.dumps(ix).encode() if n == "mlreg-bundle.json" else d)
                                                for n, d in entries]))
    write(P("bad_bundle_sig.tar"), good_members([(n, d) for n, d in entries if n != "mlreg-bundle.sig"]) +
          [reg("mlreg-bundle.sig", b"\x00" * 64)])
    # an index changed after signing (only the bundle signature can tell)
    ix = json.loads(index)
    ix["versions"][0]["metadata"]["description"] = "changed after signing"
    write(P("tampered_index.tar"), good_members([(n, json.dumps(ix).encode() if n == "mlreg-bundle.json" else d)
                                                 for n, d in entries]))
    # the same entry twice (the second could replace what was checked)
    write(P("duplicate_blob.tar"), good_members(entries) + [reg(blobs[0], dict(entries)[blobs[0]])])
    write(P("duplicate_index.tar"), good_members(entries) + [reg("mlreg-bundle.json", index)])
    write(P("no_index.tar"), good_members([(n, d) for n, d in entries if n != "mlreg-bundle.json"]))
    with open(P("not_tar.tar"), "wb") as f:
        f.write(b"this is not a tar archive\n" * 40)
    with open(P("truncated.tar"), "wb") as f:
        f.write(open(good, "rb").read()[:1500])


if __name__ == "__main__":
    main()
