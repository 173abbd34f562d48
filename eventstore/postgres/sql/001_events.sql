-- The events table: the heart of the reference schema. Safe to apply twice.
--
-- global_position comes from a sequence and is handed out at INSERT, but a row becomes visible
-- at COMMIT, so positions can become visible out of order. The reference therefore also records
-- the writing transaction (transaction_id) and readers order by (transaction_id, global_position),
-- reading only rows of transactions older than the oldest one still running:
--
--   SELECT * FROM events
--   WHERE (transaction_id, global_position) > ($cursor_txid, $cursor_position)
--     AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
--   ORDER BY transaction_id, global_position LIMIT $n;
--
-- That pair is the cursor and the checkpoint: gap-safe without serialising writers. A long open
-- writing transaction delays readers (they wait for it) but can never make them skip an event.

CREATE TABLE IF NOT EXISTS events (
    global_position bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    stream_id       text        NOT NULL CHECK (stream_id <> '' AND octet_length(stream_id) <= 256),
    version         bigint      NOT NULL CHECK (version >= 0),
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL CHECK (event_type <> ''),
    -- "Order-7f3c..." is in category "Order": stored, so category reads use an index.
    category        text        GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    recorded_at     timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version),
    CONSTRAINT events_event_id UNIQUE (event_id)
);

-- read_all in commit-safe order, and the naive mode's order.
CREATE INDEX IF NOT EXISTS events_transaction_order ON events (transaction_id, global_position);
-- read_category without scanning other categories.
CREATE INDEX IF NOT EXISTS events_category_order ON events (category, transaction_id, global_position);
