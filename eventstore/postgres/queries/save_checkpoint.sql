-- Record a named consumer's checkpoint, in a transaction of its own (save_checkpoint without tx).
-- set_config(..., true) turns synchronous_commit off for this statement's own transaction only:
-- the commit returns without waiting for the WAL flush, and the row is visible to every session
-- at once. A live subscriber saves a checkpoint each time it goes idle, so waiting for a flush
-- there would put one disk flush between every two deliveries.
--
-- What it costs: a server crash can lose the newest checkpoints (those of the last ~0.6 s, three
-- times wal_writer_delay). A checkpoint only moves forward, and only past events already handled,
-- so the consumer then resumes from an older one and handles those events again: at-least-once,
-- never a skipped event. Inside a caller's transaction (save_checkpoint(..., tx=...)) the plain
-- upsert runs instead and the caller's commit decides, durably.
--
-- Parameters: %(name)s, %(transaction_id)s (NULL in naive mode), %(global_position)s.
WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO subscription_checkpoints (name, transaction_id, global_position, updated_at)
SELECT %(name)s, %(transaction_id)s::text::xid8, %(global_position)s, now() FROM no_flush_wait
ON CONFLICT (name) DO UPDATE
SET transaction_id = excluded.transaction_id, global_position = excluded.global_position, updated_at = now()
