-- ETL bookkeeping: which landing files each pipeline has landed, SQL watermarks, run reports.
CREATE TABLE etl_file_ledger (
    pipeline  TEXT NOT NULL,
    path      TEXT NOT NULL,
    size      BIGINT NOT NULL,
    version   TEXT NOT NULL,           -- etag, else modification time: a rewritten file is new
    run_id    TEXT NOT NULL,
    landed_at BIGINT NOT NULL,
    PRIMARY KEY (pipeline, path, size, version)
);

CREATE TABLE etl_watermarks (
    pipeline   TEXT PRIMARY KEY,
    value      TEXT NOT NULL,          -- JSON of the highest watermark value landed
    updated_at BIGINT NOT NULL
);

CREATE TABLE etl_runs (
    run_id      TEXT PRIMARY KEY,
    pipeline    TEXT NOT NULL,
    status      TEXT NOT NULL,         -- running | succeeded | failed
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    report      TEXT,                  -- JSON RunReport
    error       TEXT
);

CREATE INDEX etl_runs_pipeline ON etl_runs (pipeline, started_at);
