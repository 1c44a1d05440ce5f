-- What a lake commit did, for its Delta log entry: `write` (new data, possibly replacing
-- files, e.g. a rematerialized feature day) or `optimize` (compaction: the same rows in fewer
-- files, `dataChange = false`, so streaming readers of the Delta table skip it).
ALTER TABLE lake_commits ADD COLUMN operation TEXT NOT NULL DEFAULT 'write';
