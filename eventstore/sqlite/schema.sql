-- The embedded default's schema. Safe to apply twice (every statement is IF NOT EXISTS).
-- SQLite serialises writers (BEGIN IMMEDIATE), so an AUTOINCREMENT position is assigned and
-- committed in one order: global order here is gap-safe without any extra machinery.

CREATE TABLE IF NOT EXISTS events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id   TEXT    NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 0),
    event_id    TEXT    NOT NULL UNIQUE,
    event_type  TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    data        TEXT    NOT NULL CHECK (json_valid(data)),
    metadata    TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);

CREATE INDEX IF NOT EXISTS events_category_position ON events (category, position);
CREATE INDEX IF NOT EXISTS events_type_position ON events (event_type, position);

-- Events are immutable: the database itself refuses changes, whoever issues them.
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are immutable: DELETE refused'); END;

CREATE TABLE IF NOT EXISTS snapshots (
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    state          TEXT    NOT NULL CHECK (json_valid(state)),
    recorded_at    TEXT    NOT NULL,
    PRIMARY KEY (stream_id, version, schema_version)
);

CREATE TABLE IF NOT EXISTS subscription_checkpoints (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL,
    updated_at TEXT    NOT NULL
);
