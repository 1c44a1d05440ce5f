-- Each user's latest events, for serving: written in the same transaction that buffers (and so
-- acknowledges) an event, read by every replica on every recommendation request, so an answer
-- reflects an event as soon as its acknowledgement has been sent. Bounded: reads take the
-- newest N per user, and the event flusher trims rows past N per user and past the retention.
CREATE TABLE recent_activity (
    event_id   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    value      DOUBLE PRECISION,
    ts         BIGINT NOT NULL           -- the event's time, epoch ms UTC
);

CREATE INDEX recent_activity_user_ts ON recent_activity (user_id, ts);
CREATE INDEX recent_activity_ts ON recent_activity (ts);
