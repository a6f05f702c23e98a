-- mlreg canonical schema (SQLite dialect).
--
-- This file is the commented whole of the schema as it stands after every
-- migration in migrations/; the migrations are what the server applies.
-- Conventions: times are INTEGER milliseconds since the Unix epoch (UTC);
-- digests are TEXT 'sha256:<64 hex>'; names follow util/names.c.
--
-- schema_migrations(version, name, applied_at) is created by the migration
-- runner (registry/migrate.c) itself and records every applied migration;
-- a database whose highest version is above what this binary knows is
-- refused.
--
-- tokens        API tokens: only the SHA-256 of the token is stored; a
--               principal may hold several; role per docs/security.md;
--               revoked_at set = no longer accepted.
-- models        one row per model name (OCI repository grammar).
-- model_tags    free key/value tags on models.
-- blobs         every blob the registry has made durable: a row exists only
--               once the bytes are fsynced under blobs/; created_at drives
--               gc's grace period for not-yet-referenced uploads.
-- versions      immutable manifests: number is monotonic and gap-free per
--               model (allocated under the single writer), manifest_digest is
--               the version's digest, status ready|deprecated|deleted
--               (deleted = tombstone: bytes freed by gc, row kept), format and
--               schema_json come from the artifact's mlreg-model.json.
-- version_files the manifest's entries, for gc marking and diffs.
-- metrics       every logged value (history); metric_latest keeps the value
--               shown and searched: highest step, then latest logged.
-- params        string parameters, set at push.
-- version_tags  free key/value tags on versions.
-- audit_log     the hash chain (schema/canonical.md); append-only.
-- idempotency   first answer per (principal, Idempotency-Key) of a push.


CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    principal   TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('reader','writer','approver','deployer','admin','node')),
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE model_tags (
    model_id INTEGER NOT NULL REFERENCES models(id),
    key      TEXT    NOT NULL,
    value    TEXT    NOT NULL,
    PRIMARY KEY (model_id, key)
) WITHOUT ROWID;

CREATE TABLE blobs (
    digest     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE versions (
    id              INTEGER PRIMARY KEY,
    model_id        INTEGER NOT NULL REFERENCES models(id),
    number          INTEGER NOT NULL CHECK (number >= 1),
    manifest_digest TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    file_count      INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'ready' CHECK (status IN ('ready','deprecated','deleted')),
    description     TEXT    NOT NULL DEFAULT '',
    format          TEXT,
    schema_json     TEXT,
    created_at      INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (model_id, number)
);
CREATE INDEX versions_manifest ON versions(manifest_digest);

CREATE TABLE version_files (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    path       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    digest     TEXT    NOT NULL,
    mode       INTEGER NOT NULL,
    PRIMARY KEY (version_id, path)
) WITHOUT ROWID;
CREATE INDEX version_files_digest ON version_files(digest);

CREATE TABLE metrics (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    key        TEXT    NOT NULL,
    value      REAL    NOT NULL,
    step       INTEGER,
    ts         INTEGER NOT NULL
);
CREATE INDEX metrics_version ON metrics(version_id, key);

CREATE TABLE metric_latest (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    key        TEXT    NOT NULL,
    value      REAL    NOT NULL,
    step       INTEGER,
    metric_id  INTEGER NOT NULL,
    PRIMARY KEY (version_id, key)
) WITHOUT ROWID;
CREATE INDEX metric_latest_key ON metric_latest(key, value);

CREATE TABLE params (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    PRIMARY KEY (version_id, key)
) WITHOUT ROWID;

CREATE TABLE version_tags (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    key        TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    PRIMARY KEY (version_id, key)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    ts        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    model     TEXT,
    details   TEXT    NOT NULL,
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_model ON audit_log(model, seq);
CREATE INDEX audit_action ON audit_log(action, seq);

CREATE TABLE idempotency (
    principal    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) WITHOUT ROWID;
