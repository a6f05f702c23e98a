-- 0001_init: the registry core (models, versions, files, metadata, blobs,
-- tokens, audit chain, idempotency keys).  See schema/schema.sql for the
-- commented canonical form of the whole schema.

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
