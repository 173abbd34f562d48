-- Snapshots are a cache of aggregate state: deleting them all changes no result.
-- Checkpoints: a named consumer's last processed position. In the reference (gap-safe) mode the
-- position is the pair (transaction_id, global_position); the naive mode leaves transaction_id NULL.
-- Safe to apply twice.

CREATE TABLE IF NOT EXISTS snapshots (
    stream_id      text        NOT NULL,
    schema_version integer     NOT NULL CHECK (schema_version >= 0),
    version        bigint      NOT NULL CHECK (version >= 0),
    state          jsonb       NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, schema_version, version)
);

CREATE TABLE IF NOT EXISTS subscription_checkpoints (
    name            text        PRIMARY KEY,
    transaction_id  xid8,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
