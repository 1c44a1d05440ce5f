-- Durable buffer behind POST /v1/events. An acknowledged event is a committed row here (WAL,
-- synchronous=FULL), so it survives a crash of the process or the machine.
--
-- The buffer is append-only: a flush claims the next range of `seq` (at most N values past the
-- highest range claimed so far) by inserting one `event_flushes` row, lands the range under
-- the lake commit key `events:<flush_id>`, then sets the claim's `flushed_at`. A claim
-- without `flushed_at` whose `claimed_at` is old belongs to a flusher that died; it is landed
-- again (same range, same key), which the lake commit log turns into a no-op when the first
-- attempt had committed. A range claim writes one row, where stamping every claimed event
-- would rewrite each one while holding SQLite's only write lock.
--
-- Ranges are exact because no insert is in flight while a claim is made: on SQLite the claim
-- statement holds the write lock; on Postgres inserts hold a shared advisory lock and claims
-- the exclusive one (see `db::events`). `from_seq` is unique, so two claims can never cover
-- the same rows.
--
-- Rows of flushed claims stay for the idempotency window (7 days): `event_id` is unique, so
-- a re-sent event is a duplicate, not a second row.
CREATE TABLE event_buffer (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    payload     TEXT NOT NULL,          -- the event as JSON, canonical field names, ts in UTC
    received_at BIGINT NOT NULL
);

CREATE TABLE event_flushes (
    flush_id   TEXT PRIMARY KEY,
    from_seq   BIGINT NOT NULL UNIQUE,  -- the claim covers from_seq < seq <= to_seq
    to_seq     BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,         -- renewed when a flusher takes over a stale claim
    flushed_at BIGINT                   -- set once the claim's rows are committed in the lake
);

CREATE INDEX event_flushes_to_seq ON event_flushes (to_seq);
CREATE INDEX event_flushes_open ON event_flushes (claimed_at) WHERE flushed_at IS NULL;
CREATE INDEX event_flushes_done ON event_flushes (flushed_at) WHERE flushed_at IS NOT NULL;
