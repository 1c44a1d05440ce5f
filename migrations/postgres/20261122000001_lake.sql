-- Lake commit log: a run's files are visible only once its commit row exists. The store is
-- never listed to answer a read; only the sweep lists it, to delete what this log disowns.
-- `area` is the top-level lake folder (datasets | quarantine | features), so a dataset and
-- its quarantine can share a name without sharing files or idempotency keys.
CREATE TABLE lake_runs (
    run_id      TEXT PRIMARY KEY,
    area        TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    state       TEXT NOT NULL,          -- open | committed | aborted
    started_at  BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE INDEX lake_runs_state ON lake_runs (state, started_at);

CREATE TABLE lake_commits (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    area         TEXT NOT NULL,
    dataset      TEXT NOT NULL,
    run_id       TEXT NOT NULL UNIQUE,
    commit_key   TEXT,                  -- idempotency key of the input, unique per dataset
    row_count    BIGINT NOT NULL,
    byte_count   BIGINT NOT NULL,
    committed_at BIGINT NOT NULL,
    UNIQUE (area, dataset, commit_key)
);

CREATE TABLE lake_files (
    path       TEXT PRIMARY KEY,        -- object key relative to the lake root
    commit_id  BIGINT NOT NULL REFERENCES lake_commits (id),
    area       TEXT NOT NULL,
    dataset    TEXT NOT NULL,
    dt         TEXT NOT NULL,           -- YYYY-MM-DD partition
    row_count  BIGINT NOT NULL,
    byte_count BIGINT NOT NULL,
    removed_by BIGINT                   -- commit that replaced this file (compaction); NULL = live
);

CREATE INDEX lake_files_dataset_dt ON lake_files (area, dataset, dt);
CREATE INDEX lake_files_removed_by ON lake_files (removed_by);
