-- The rows of one run at one level: serving reads a reconciled run's item x store rows to
-- carry planner overrides through its hierarchy.
CREATE INDEX forecasts_run_level ON forecasts (run_id, level);
