-- Demand forecasts. `forecast_runs`: one row per training run (parameters and counts);
-- `forecasts`: the latest forecast of each series (a later run replaces the row), with the
-- points and backtest accuracy as JSON so serving reads one row per request.
CREATE TABLE forecast_runs (
    id            TEXT PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    status        TEXT NOT NULL,          -- running | succeeded | failed
    params        TEXT NOT NULL,          -- JSON
    series_total  BIGINT NOT NULL,
    series_fitted BIGINT NOT NULL,
    series_failed BIGINT NOT NULL,
    export_path   TEXT,
    error         TEXT
);
CREATE INDEX forecast_runs_started ON forecast_runs (started_at);

CREATE TABLE forecasts (
    series_id    TEXT PRIMARY KEY,
    item_id      TEXT,
    store_id     TEXT,
    level        TEXT NOT NULL,           -- item_store | item | store
    frequency    TEXT NOT NULL,           -- day | week | month
    model        TEXT NOT NULL,
    params       TEXT NOT NULL,           -- JSON: spec, parameters, selection notes
    accuracy     TEXT NOT NULL,           -- JSON: backtest metrics of the chosen model
    points       TEXT NOT NULL,           -- JSON: [{date, mean, lower_80, upper_80, lower_95, upper_95}]
    horizon      BIGINT NOT NULL,
    history_end  TEXT NOT NULL,           -- YYYY-MM-DD, start of the last observed period
    trained_at   BIGINT NOT NULL,
    run_id       TEXT NOT NULL
);
CREATE INDEX forecasts_item ON forecasts (item_id);
CREATE INDEX forecasts_store ON forecasts (store_id);
