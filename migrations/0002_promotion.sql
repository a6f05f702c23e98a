-- 0002_promotion: stages with rollback stacks, aliases, the move history,
-- gate policies, approvals, and the webhook outbox.  See schema/schema.sql.

CREATE TABLE stages (
    name     TEXT    PRIMARY KEY,
    position INTEGER NOT NULL UNIQUE
) WITHOUT ROWID;
INSERT INTO stages(name, position) VALUES ('staging', 1), ('production', 2);

CREATE TABLE stage_stack (
    model_id   INTEGER NOT NULL REFERENCES models(id),
    stage      TEXT    NOT NULL,
    pos        INTEGER NOT NULL,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (model_id, stage, pos)
) WITHOUT ROWID;
CREATE INDEX stage_stack_version ON stage_stack(version_id);

CREATE TABLE aliases (
    model_id   INTEGER NOT NULL REFERENCES models(id),
    alias      TEXT    NOT NULL,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (model_id, alias)
) WITHOUT ROWID;
CREATE INDEX aliases_version ON aliases(version_id);

CREATE TABLE moves (
    id           INTEGER PRIMARY KEY,
    model_id     INTEGER NOT NULL REFERENCES models(id),
    target       TEXT    NOT NULL CHECK (target IN ('stage','alias')),
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('promote','rollback','set','remove')),
    from_version INTEGER,
    to_version   INTEGER,
    actor        TEXT    NOT NULL,
    ts           INTEGER NOT NULL,
    comment      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX moves_target ON moves(model_id, target, name, id);
CREATE INDEX moves_to ON moves(model_id, target, name, to_version, ts);

CREATE TABLE policies (
    model             TEXT    NOT NULL,
    stage             TEXT    NOT NULL,
    from_stage        TEXT,
    metrics           TEXT    NOT NULL DEFAULT '[]',
    approvals         INTEGER NOT NULL DEFAULT 0 CHECK (approvals >= 0),
    require_signature INTEGER NOT NULL DEFAULT 0,
    soak_ms           INTEGER,
    same_schema       INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL,
    updated_by        TEXT    NOT NULL,
    PRIMARY KEY (model, stage)
) WITHOUT ROWID;

CREATE TABLE approvals (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    stage      TEXT    NOT NULL,
    principal  TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    comment    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (version_id, stage, principal)
) WITHOUT ROWID;

CREATE TABLE webhooks (
    id         TEXT    PRIMARY KEY,
    url        TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    removed_at INTEGER
) WITHOUT ROWID;

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    webhook_id TEXT    NOT NULL REFERENCES webhooks(id),
    event_id   TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    INTEGER NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed','dropped')),
    done_at    INTEGER
);
CREATE INDEX outbox_due ON outbox(state, next_at);
CREATE INDEX outbox_webhook ON outbox(webhook_id, state);

CREATE TABLE deliveries (
    id         INTEGER PRIMARY KEY,
    outbox_id  INTEGER NOT NULL REFERENCES outbox(id),
    webhook_id TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    status     INTEGER,
    error      TEXT    NOT NULL DEFAULT '',
    outcome    TEXT    NOT NULL CHECK (outcome IN ('delivered','retry','failed'))
);
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
