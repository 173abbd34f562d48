-- Append a batch to one stream: the expected-version check and the insert in one statement, so
-- it costs one round trip and is atomic in its own transaction.
--
-- Parameters: %(stream_id)s, %(expected)s ('any', 'no_stream', 'exists' or 'exact'),
-- %(expected_version)s (for 'exact'), and four arrays of equal length, one element per event.
--
-- Outcomes:
--   rows returned    the batch was written; one row per event.
--   no row           the stream is not at the expected version; nothing was written.
--   unique violation on events_stream_version: a concurrent writer took the same versions
--                    (a conflict; under 'any', simply try again).
--   unique violation on events_event_id: some ids are already stored: either an idempotent
--                    retry of this exact batch or an error; look the ids up to tell which.
INSERT INTO events (stream_id, version, event_id, event_type, data, metadata)
SELECT %(stream_id)s, coalesce(c.current + 1, 0) + b.n - 1, b.event_id, b.event_type, b.data, b.metadata
FROM (SELECT max(version) AS current FROM events WHERE stream_id = %(stream_id)s) AS c,
     unnest(%(event_ids)s::uuid[], %(event_types)s::text[], %(data)s::jsonb[], %(metadata)s::jsonb[])
         WITH ORDINALITY AS b (event_id, event_type, data, metadata, n)
WHERE CASE %(expected)s::text
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN c.current IS NULL
        WHEN 'exists' THEN c.current IS NOT NULL
        ELSE c.current = %(expected_version)s::bigint
      END
ORDER BY b.n
RETURNING version, transaction_id::text::bigint, global_position
