-- When each recent-activity row was written (epoch ms, the writer's clock): serving replicas
-- tail the table by it to keep their in-memory copy of the users' context current
-- (`recommend::activity_tail`). Rows written before this column existed read as 0 and are
-- loaded on a replica's first read of their user instead.
ALTER TABLE recent_activity ADD COLUMN received_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX recent_activity_received ON recent_activity (received_at, event_id);
