-- Append a batch to one stream under StreamState.ANY or EXISTS: the version check and the insert
-- in one statement, so it costs one round trip and is atomic in its own transaction.
-- (NO_STREAM and exact expected versions use the cheaper append_at.sql.)
--
-- Parameters: %(stream_id)s, %(expected)s ('any' or 'exists').
-- {batch} stands for the events as rows b (event_id, event_type, data, metadata, n), n counting
-- from 1: unnest() WITH ORDINALITY over four parameter arrays, or a VALUES list for small batches.
--
-- Outcomes:
--   rows returned    the batch was written; one row per event.
--   no row           'exists' and the stream does not exist; nothing was written.
--   unique violation on events_stream_version: a concurrent writer took the same versions
--                    (simply try again).
--   unique violation on events_event_id: some ids are already stored: either an idempotent
--                    retry of this exact batch or an error; look the ids up to tell which.
INSERT INTO events (stream_id, version, event_id, event_type, data, metadata)
SELECT %(stream_id)s, coalesce(c.current + 1, 0) + b.n - 1, b.event_id, b.event_type, b.data, b.metadata
FROM (SELECT max(version) AS current FROM events WHERE stream_id = %(stream_id)s) AS c, {batch}
WHERE %(expected)s::text = 'any' OR c.current IS NOT NULL
ORDER BY b.n
RETURNING version, transaction_id::text::bigint, global_position
