-- Forecasts scored against the actuals that landed after them: one row per run, series and
-- target period that now has its actual. Re-scoring upserts (a late correction of a day's
-- sales updates its actual). Summaries (per series, run, horizon step and level) are computed
-- from these rows on read.
CREATE TABLE forecast_realised (
    run_id     TEXT NOT NULL,
    series_id  TEXT NOT NULL,
    date       TEXT NOT NULL,             -- YYYY-MM-DD, start of the target period
    step       BIGINT NOT NULL,           -- 1-based horizon step
    level      TEXT NOT NULL,
    actual     DOUBLE PRECISION NOT NULL,
    mean       DOUBLE PRECISION NOT NULL,
    lower_80   DOUBLE PRECISION,
    upper_80   DOUBLE PRECISION,
    lower_95   DOUBLE PRECISION,
    upper_95   DOUBLE PRECISION,
    mase_scale DOUBLE PRECISION,          -- the series' MASE denominator at training
    backtest_mase DOUBLE PRECISION,       -- what the run chose the model on
    scored_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, series_id, date)
);
CREATE INDEX forecast_realised_series ON forecast_realised (series_id);
