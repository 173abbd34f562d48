"""What the library's ``PostgresApplicationRecorder`` gives through our API, and what it does not."""
from __future__ import annotations

from ..capabilities import Capabilities

CAPABILITIES = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=False,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=False,
    push_notifications=True,
    transactional_checkpoints=False,
    snapshots=True,
    limitations=(
        "Every append takes an EXCLUSIVE lock on the events table until it commits (the library's way "
        "to keep notification ids gap-safe): appends to different streams queue behind one another.",
        "No event ids in the library's table (originator id, version, topic, state): the adapter keeps each "
        "event's id, data, metadata and time inside the state bytes, so a retried append is not recognised: "
        "with ANY it is stored twice, with an expected version it is a conflict.",
        "An expected version is checked by reading the stream's last version before the insert (the library "
        "has no expected-version check, only its primary key on (originator_id, originator_version)): one more "
        "round trip per append.",
        "No category column: read_category and category filters scan every event and filter in the adapter.",
        "Checkpoints and snapshots are two small tables of the adapter beside the library's events table: the "
        "library's tracking table only moves forward and its snapshot table has no schema version. No "
        "transactional checkpoints through this API.",
        "The events table is not protected against UPDATE, DELETE or TRUNCATE by the database.",
        "Every append sends a NOTIFY inside its transaction (the library's insert); writers of all such stores "
        "in one database share the channel name, so their subscribers also wake for each other's appends.",
    ),
)
