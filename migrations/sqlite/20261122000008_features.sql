-- Feature store metadata.
-- `feature_views`: every version of every view definition (a changed definition is a new
-- version; old versions stay readable). `feature_materializations`: one row per materialized
-- day per view version (what the incremental run resumes from). `feature_runs`: per-run
-- statistics and drift warnings. `online_features`: the latest values per entity, one JSON
-- array per row in the version's feature order.
CREATE TABLE feature_views (
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    definition  TEXT NOT NULL,           -- JSON of the view definition
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE UNIQUE INDEX feature_views_fingerprint ON feature_views (name, fingerprint);

CREATE TABLE feature_materializations (
    view        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    dt          TEXT NOT NULL,           -- YYYY-MM-DD: values as of the end of this day (UTC)
    rows        BIGINT NOT NULL,
    commit_id   BIGINT NOT NULL,
    run_id      TEXT NOT NULL,
    PRIMARY KEY (view, version, dt)
);

CREATE TABLE feature_runs (
    id          TEXT PRIMARY KEY,
    view        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    from_dt     TEXT NOT NULL,
    to_dt       TEXT NOT NULL,
    source_rows BIGINT NOT NULL,
    rows        BIGINT NOT NULL,
    stats       TEXT NOT NULL,           -- JSON: per-feature statistics of the last day
    warnings    TEXT NOT NULL,           -- JSON: drift warnings against the previous run
    created_at  BIGINT NOT NULL
);
CREATE INDEX feature_runs_view ON feature_runs (view, version, created_at);

CREATE TABLE online_features (
    view        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    entity_id   TEXT NOT NULL,
    feature_values TEXT NOT NULL,        -- JSON array in the version's feature order
    event_ts    BIGINT NOT NULL,         -- epoch ms of the entity's last source event
    as_of       BIGINT NOT NULL,         -- epoch ms: the values include data before this instant
    PRIMARY KEY (view, version, entity_id)
);
