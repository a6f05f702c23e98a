#!/usr/bin/python3
"""sign_bundle.py KEY.pem IN.tar OUT.tar

Signs every version of a bundle made by `mlreg export` and the bundle itself
with an Ed25519 key, using the openssl command line tool - an implementation
independent of mlreg's - so t_bundles.sh checks that `mlreg import` accepts
standard Ed25519 signatures over the canonical statement of
schema/canonical.md ("Signature statement"):
  {"digest":"sha256:…","model":"m","type":"mlreg.signature.v1","version":3}
The detached mlreg-bundle.sig signs the exact bytes of the new index.
"""
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import os


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def sign(key, msg):
    with tempfile.NamedTemporaryFile() as f:
        f.write(msg)
        f.flush()
        return base64.b64encode(openssl("pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", f.name)).decode()


def main():
    key, src, dst = sys.argv[1:4]
    pub = openssl("pkey", "-in", key, "-pubout").decode()
    fp = "sha256:" + hashlib.sha256(openssl("pkey", "-in", key, "-pubout", "-outform", "DER")).hexdigest()
    entries = []
    with tarfile.open(src, "r:*") as t:
        for m in t.getmembers():
            entries.append((m.name, t.extractfile(m).read()))
    ix = json.loads(dict(entries)["mlreg-bundle.json"])
    for v in ix["versions"]:
        stmt = json.dumps({"digest": v["digest"], "model": v["model"], "type": "mlreg.signature.v1",
                           "version": v["version"]}, sort_keys=True, separators=(",", ":")).encode()
        v["signatures"] = [{"fingerprint": fp, "public_key": pub, "signature": sign(key, stmt)}]
    index = json.dumps(ix).encode()
    sig = json.dumps({"format": "mlreg-bundle-signature", "fingerprint": fp, "public_key": pub,
                      "signature": sign(key, index)}).encode()
    with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in [("mlreg-bundle.json", index), ("mlreg-bundle.sig", sig)] + \
                [(n, d) for n, d in entries if n.startswith("blobs/")]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))


if __name__ == "__main__":
    main()
