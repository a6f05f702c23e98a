-- 0007_signing: Ed25519 signing (issue 7): the public keys the registry
-- trusts, and the signatures of versions.  See schema/schema.sql and
-- docs/security.md "Signing".

CREATE TABLE keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    removed_at  INTEGER,
    removed_by  TEXT
);
CREATE UNIQUE INDEX keys_live_name ON keys(name) WHERE removed_at IS NULL;
CREATE UNIQUE INDEX keys_live_fingerprint ON keys(fingerprint) WHERE removed_at IS NULL;

CREATE TABLE signatures (
    id          INTEGER PRIMARY KEY,
    version_id  INTEGER NOT NULL REFERENCES versions(id),
    fingerprint TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    signature   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    UNIQUE (version_id, fingerprint)
);
