-- Job queue: leased with expiry so a dead worker's job is picked up again.
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,     -- JSON
    state            TEXT NOT NULL,     -- queued | running | succeeded | failed | cancelled
    priority         BIGINT NOT NULL DEFAULT 0,
    idempotency_key  TEXT UNIQUE,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    run_at           BIGINT NOT NULL,   -- not before (epoch ms); pushed back by retry backoff
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    progress         REAL NOT NULL DEFAULT 0,
    progress_message TEXT,
    result           TEXT,              -- JSON summary on success
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);

CREATE INDEX jobs_ready ON jobs (state, run_at);
CREATE INDEX jobs_created ON jobs (created_at);
