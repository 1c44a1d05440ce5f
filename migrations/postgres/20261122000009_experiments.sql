-- A/B experiments. The definition (variants, weights, coverage, metrics) is JSON; status,
-- layer and times are columns because queries filter on them. At most one experiment per
-- layer runs at a time (the partial unique index backs the check in the code), which makes
-- experiments of one layer mutually exclusive for every user.
CREATE TABLE experiments (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    layer       TEXT NOT NULL,
    status      TEXT NOT NULL,            -- draft | running | stopped
    definition  TEXT NOT NULL,            -- JSON
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    started_at  BIGINT,
    stopped_at  BIGINT
);
CREATE UNIQUE INDEX experiments_one_running_per_layer ON experiments (layer) WHERE status = 'running';

-- One row per recommendation response served under an experiment, written before the
-- response is sent: the readout's denominator.
CREATE TABLE experiment_exposures (
    recommendation_id TEXT PRIMARY KEY,
    experiment_id     TEXT NOT NULL,
    variant           TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    ts                BIGINT NOT NULL        -- epoch ms
);
CREATE INDEX experiment_exposures_experiment ON experiment_exposures (experiment_id, ts);
