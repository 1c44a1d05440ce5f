-- Model registry: one row per trained version; the artifact lives in the lake under
-- models/<kind>/<id>/. At most one version per kind is `promoted`; `promoted_at` of the
-- versions promoted before it is kept so a rollback can find the previous one.
CREATE TABLE models (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,          -- candidate | promoted | retired
    params        TEXT NOT NULL,          -- JSON
    data_snapshot BIGINT,                 -- lake commit id the training data was read at
    metrics       TEXT NOT NULL,          -- JSON
    artifact_path TEXT NOT NULL,
    checksum      TEXT NOT NULL,          -- SHA-256 of model.bin, hex
    size_bytes    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    promoted_at   BIGINT
);
CREATE INDEX models_kind_created ON models (kind, created_at);
CREATE UNIQUE INDEX models_one_promoted ON models (kind) WHERE status = 'promoted';
