-- Where each streaming pipeline (source type "nats") stands, written by the consumer after
-- every batch and read by /metrics on any replica: consumer lag (messages the stream holds
-- that the consumer has not acknowledged) and the delay from publication to serving.
CREATE TABLE stream_consumers (
    pipeline        TEXT PRIMARY KEY,
    stream          TEXT NOT NULL,
    consumer        TEXT NOT NULL,
    pending         BIGINT NOT NULL,     -- messages not yet delivered to the consumer
    ack_pending     BIGINT NOT NULL,     -- delivered, not yet acknowledged
    last_sequence   BIGINT NOT NULL,     -- stream sequence of the newest landed message
    landed_total    BIGINT NOT NULL,     -- rows landed by this pipeline since it was created
    visible_lag_ms  BIGINT,              -- publication to serving of the newest batch
    updated_at      BIGINT NOT NULL      -- epoch ms
);
