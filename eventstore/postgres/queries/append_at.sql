-- Append a batch at a known version: under StreamState.NO_STREAM (first version 0) or an exact
-- expected version (first version = expected + 1). No max(version) lookup, so it costs about
-- what a plain INSERT does: UNIQUE (stream_id, version) already refuses versions that another
-- writer holds, and the EXISTS only stops a stream that is behind the expected version from
-- getting a gap.
--
-- The WHERE line is left out when the previous version is known to exist: under NO_STREAM, and
-- after a version this store instance has already seen stored (a stored version exists for
-- good: the table refuses UPDATE, DELETE and TRUNCATE).
--
-- Parameters: %(stream_id)s, %(first)s; {batch} as in append.sql.
--
-- Outcomes:
--   rows returned    the batch was written; one row per event.
--   no row           the stream is behind the expected version; nothing was written.
--   unique violation on events_stream_version or events_event_id: the stream is past the
--                    expected version, or some ids are already stored (maybe as this very
--                    batch: an idempotent retry); look the ids up to tell which.
INSERT INTO events (stream_id, version, event_id, event_type, data, metadata)
SELECT %(stream_id)s, %(first)s::bigint + b.n - 1, b.event_id, b.event_type, b.data, b.metadata
FROM {batch}
WHERE EXISTS (SELECT FROM events WHERE stream_id = %(stream_id)s AND version = %(first)s::bigint - 1)
ORDER BY b.n
RETURNING version, transaction_id::text::bigint, global_position
