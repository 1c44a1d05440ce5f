-- Planner overrides of the statistical forecast, and their audit trail: a row is never
-- deleted; withdrawing an override stamps `retired_at`/`retired_by`. Keyed by series and
-- dates, not by training run, so overrides survive retraining.
CREATE TABLE forecast_overrides (
    id          TEXT PRIMARY KEY,
    series_id   TEXT NOT NULL,
    start_date  TEXT NOT NULL,            -- YYYY-MM-DD, first period start it covers
    end_date    TEXT NOT NULL,            -- YYYY-MM-DD, last period start it covers
    kind        TEXT NOT NULL,            -- 'value' (the quantity) or 'percent' (a change)
    amount      DOUBLE PRECISION NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,            -- API key id
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT,
    retired_by  TEXT
);
CREATE INDEX forecast_overrides_series ON forecast_overrides (series_id, created_at);
