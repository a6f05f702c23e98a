-- 0005_controller: the deployment controller (issue 6): serving nodes,
-- deployments with their persisted rollout state, deployment events, the
-- reconciler's lease with its fencing epoch, and the generation counter
-- that wakes reconcilers.  See schema/schema.sql.

CREATE TABLE nodes (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    url         TEXT    NOT NULL,
    driver      TEXT    NOT NULL,
    labels      TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    observed    TEXT,
    observed_at INTEGER,
    fails       INTEGER NOT NULL DEFAULT 0,
    next_try_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE deployments (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    model_id             INTEGER NOT NULL REFERENCES models(id),
    stage                TEXT,
    alias                TEXT,
    selector             TEXT    NOT NULL,
    strategy             TEXT    NOT NULL,
    steps                TEXT,
    analysis             TEXT    NOT NULL DEFAULT '',
    min_requests         INTEGER NOT NULL,
    failure_limit        INTEGER NOT NULL,
    max_unavailable      INTEGER NOT NULL,
    progress_deadline_ms INTEGER NOT NULL,
    scale_down_delay_ms  INTEGER NOT NULL,
    analysis_interval_ms INTEGER NOT NULL,
    failure_margin       REAL    NOT NULL,
    created_at           INTEGER NOT NULL,
    created_by           TEXT    NOT NULL,
    state                TEXT    NOT NULL DEFAULT '{}',
    phase                TEXT    NOT NULL DEFAULT 'Progressing'
                                 CHECK (phase IN ('Healthy','Progressing','Paused','Degraded')),
    stable_version       INTEGER,
    target_version       INTEGER,
    rejected_version     INTEGER,
    verb                 TEXT    CHECK (verb IN ('pause','resume','promote','promote-full','abort','retry')),
    verb_by              TEXT,
    verb_at              INTEGER,
    updated_at           INTEGER NOT NULL,
    CHECK ((stage IS NULL) != (alias IS NULL))
);
CREATE INDEX deployments_model ON deployments(model_id);

CREATE TABLE deployment_events (
    id            INTEGER PRIMARY KEY,
    deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    ts            INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    message       TEXT    NOT NULL DEFAULT '',
    details       TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX deployment_events_deployment ON deployment_events(deployment_id, id);

CREATE TABLE controller_lease (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL DEFAULT '',
    epoch      INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0
);
INSERT INTO controller_lease(id) VALUES (1);

CREATE TABLE controller_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL DEFAULT 0
);
INSERT INTO controller_generation(id) VALUES (1);
