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
--               revoked_at set = no longer accepted (0006:) models is an
--               fnmatch glob of model names and stages a comma list of the
--               stages its moves may target (NULL: all); expires_at (ms,
--               NULL: never); last_used_at (ms) is flushed from memory
--               (docs/security.md "Token scopes, expiry and last use").
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
--
-- Promotion (0002):
-- stages        the ordered stage list (default staging, production).
-- stage_stack   each (model, stage)'s rollback stack: promote pushes a row
--               at pos = top+1, rollback deletes from the top; the holder is
--               the row with the highest pos.  A version may sit in several
--               stacks (several stages) and several times in one.
-- aliases       free pointers MODEL@ALIAS -> version.
-- moves         history of every stage and alias move: kind promote|rollback
--               (stages) or set|remove (aliases), version numbers from/to
--               (NULL = none), actor, time, comment.  moves_to answers "did
--               this version ever hold stage S, and since when" for gates.
-- policies      gate policy per (model name or '*', stage); metrics is a
--               JSON array of 'name op number' expressions.
-- approvals     one row per (version, stage, principal): distinct approvers.
-- webhooks      subscribers: events is a JSON array of event names or '*';
--               the HMAC secret is kept in clear because it must sign.
-- outbox        one row per (event, webhook), written in the transaction of
--               the change; the sender moves it pending -> delivered|failed
--               (dropped when its webhook is removed).
-- deliveries    one row per delivery attempt (the delivery log).
--
-- Lineage (0003):
-- lineage_nodes  one row per thing in the graph: kind version (key
--                'MODEL:N', version_id set), dataset (key 'sha256:<hex>' or
--                'uri:<uri>'), commit (key: the sha), run (key: its id);
--                attrs is JSON (a run's url).  Written at push, never
--                changed; a tombstoned version keeps its node.
-- lineage_edges  from a version (src) to what made it (dst): trained_on,
--                derived_from, built_from (attrs: branch, remote, dirty,
--                changed), produced_by.  The primary key serves upstream
--                walks, lineage_edges_dst (covering) downstream (impact)
--                walks without touching the table.
-- dataset_names  labels of dataset nodes: one content may have several
--                names, one name several contents over time.
--
-- Indexes (0004): stage_stack_stage (is a stage in use), audit_ts (audit
-- list by time).
--
-- Controller (0005, docs/controller.md):
-- nodes                 serving nodes: name, base URL (no trailing '/'),
--                       driver, labels (JSON object); observed is the JSON
--                       the reconciler last recorded (health, what it
--                       serves, last error) with observed_at, its failure
--                       count and when to try it next (backoff).
-- deployments           a model's stage or alias (exactly one) rolled out
--                       to the nodes its selector (JSON object) picks, with
--                       its strategy, steps (normalised text; NULL = the
--                       strategy's preset), analysis conditions and limits.
--                       state is the reconciler's rollout object, stored
--                       verbatim so it round-trips exactly; phase and the
--                       stable/target/rejected version numbers are copied
--                       out of it on every write, so readers (status, rm of
--                       a version in use, verbs) need no JSON.  verb is the
--                       pending rollout verb (who, when) the reconciler
--                       consumes.
-- deployment_events     what happened to a deployment, newest = highest id;
--                       details is JSON.  Go with their deployment.
-- controller_lease      the one row naming the reconciler that may act: a
--                       holder takes it when it expired (or renews its own);
--                       epoch grows on every change of holder and every
--                       rollout write checks it (fencing).
-- controller_generation one counter bumped in the transaction of every
--                       change a reconciler must react to (promote,
--                       rollback, alias moves, nodes, deployments, verbs):
--                       a reconciler in another process polls it.
--
-- Signing (0007, docs/security.md "Signing"):
-- keys          public keys (Ed25519, canonical PEM) the registry trusts,
--               named by name and by fingerprint ('sha256:' + hex SHA-256
--               of the DER SubjectPublicKeyInfo); removal sets removed_at
--               (the row stays for history) and ends the trust at once.
--               Name and fingerprint are unique among live keys only, so a
--               removed key can be added again.
-- signatures    one Ed25519 signature of a version's canonical statement
--               (schema/canonical.md) per (version, key fingerprint), with
--               the public key that made it: a signature by a key the
--               registry does not (or no longer) trust is kept, and shown
--               untrusted.  Verified before it is stored and again whenever
--               it is used.


CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    principal   TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('reader','writer','approver','deployer','admin','node')),
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    revoked_at  INTEGER,
    models      TEXT,
    stages      TEXT,
    expires_at  INTEGER,
    last_used_at INTEGER
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
CREATE INDEX audit_actor ON audit_log(actor, seq);    -- 0008

CREATE TABLE idempotency (
    principal    TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) WITHOUT ROWID;

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

CREATE TABLE lineage_nodes (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('version','dataset','commit','run')),
    key        TEXT    NOT NULL,
    version_id INTEGER REFERENCES versions(id),
    attrs      TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (kind, key)
);
CREATE UNIQUE INDEX lineage_nodes_version ON lineage_nodes(version_id) WHERE version_id IS NOT NULL;
CREATE INDEX lineage_nodes_kind ON lineage_nodes(kind, id);

CREATE TABLE lineage_edges (
    src      INTEGER NOT NULL REFERENCES lineage_nodes(id),
    dst      INTEGER NOT NULL REFERENCES lineage_nodes(id),
    relation TEXT    NOT NULL CHECK (relation IN ('trained_on','derived_from','built_from','produced_by')),
    attrs    TEXT    NOT NULL DEFAULT '{}',
    PRIMARY KEY (src, dst, relation)
) WITHOUT ROWID;
CREATE INDEX lineage_edges_dst ON lineage_edges(dst, src, relation, attrs);

CREATE TABLE dataset_names (
    name    TEXT    NOT NULL,
    node_id INTEGER NOT NULL REFERENCES lineage_nodes(id),
    PRIMARY KEY (name, node_id)
) WITHOUT ROWID;
CREATE INDEX dataset_names_node ON dataset_names(node_id);

CREATE INDEX stage_stack_stage ON stage_stack(stage);
CREATE INDEX audit_ts ON audit_log(ts);

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
