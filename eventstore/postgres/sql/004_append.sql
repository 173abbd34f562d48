-- append_events: the whole append in one statement, so it costs one round trip and runs in
-- the caller's transaction (its own, in autocommit). Safe to apply twice.
--
-- p_expected is 'any', 'no_stream', 'exists' or a version number as text.
-- Returns one row per event, with status:
--   'appended'  the batch was written (rows give version and position of each event);
--   'stored'    some ids were already stored (rows give where): the caller decides between an
--               idempotent retry and a duplicate-id error;
--   'conflict'  the stream is not at the expected version (one row, version = actual or NULL).
-- Two writers racing past the version check collide on UNIQUE (stream_id, version); the caller
-- maps that unique violation to a conflict.

CREATE OR REPLACE FUNCTION append_events(
    p_stream_id text,
    p_expected  text,
    p_event_ids uuid[],
    p_types     text[],
    p_data      jsonb[],
    p_metadata  jsonb[]
) RETURNS TABLE (status text, event_id uuid, stream_id text, version bigint, transaction_id xid8, global_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_current bigint;
    v_ok      boolean;
BEGIN
    RETURN QUERY
        SELECT 'stored', e.event_id, e.stream_id, e.version, e.transaction_id, e.global_position
        FROM events e WHERE e.event_id = ANY (p_event_ids);
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT max(e.version) INTO v_current FROM events e WHERE e.stream_id = p_stream_id;
    v_ok := CASE p_expected
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN v_current IS NULL
        WHEN 'exists' THEN v_current IS NOT NULL
        ELSE v_current IS NOT DISTINCT FROM p_expected::bigint
    END;
    IF NOT v_ok THEN
        RETURN QUERY SELECT 'conflict', NULL::uuid, p_stream_id, v_current, NULL::xid8, NULL::bigint;
        RETURN;
    END IF;

    RETURN QUERY
        INSERT INTO events AS e (stream_id, version, event_id, event_type, data, metadata)
        SELECT p_stream_id, coalesce(v_current + 1, 0) + n - 1, i, t, d, m
        FROM unnest(p_event_ids, p_types, p_data, p_metadata) WITH ORDINALITY AS b(i, t, d, m, n)
        ORDER BY n
        RETURNING 'appended', e.event_id, e.stream_id, e.version, e.transaction_id, e.global_position;
    -- Wake live subscribers of this schema; delivered at commit, collapsed per transaction.
    PERFORM pg_notify(current_schema() || '.events', '');
END
$$;
