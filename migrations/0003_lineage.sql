-- 0003_lineage: the lineage graph - nodes (version, dataset, commit, run)
-- and the edges from a version to what made it.  See schema/schema.sql.

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

-- every version is a node, so any version can be a root or a parent
INSERT INTO lineage_nodes(kind, key, version_id)
    SELECT 'version', m.name || ':' || v.number, v.id FROM versions v JOIN models m ON m.id = v.model_id;
