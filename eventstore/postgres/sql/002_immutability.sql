-- Events are immutable: the database refuses UPDATE, DELETE and TRUNCATE on events, whoever
-- issues them, not only this library. (A superuser can still disable triggers: also REVOKE
-- UPDATE, DELETE, TRUNCATE from application roles.) Safe to apply twice.

CREATE OR REPLACE FUNCTION events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE OR REPLACE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();

CREATE OR REPLACE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
