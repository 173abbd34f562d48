"""What the Kafka store guarantees in each mode, and what it does not, in plain words."""
from __future__ import annotations

from dataclasses import replace

from ..capabilities import Capabilities

#: The largest event (``PreparedEvent.size``) that fits librdkafka's 1,000,000-byte ``message.max.bytes``
#: with room for a 256-byte key, the headers and the record framing.
MAX_EVENT_BYTES = 990_000

_COMMON = (
    "One partition per prefix holds every event: it is the total order, so one prefix's writes do not "
    "scale across brokers; shard by prefix (for example one per bounded context).",
    "read_stream reads every record between the stream's first and last wanted offsets: its cost grows "
    "with how many other streams' events are interleaved with it.",
    "Every store instance reads the whole events partition once, at first use, to build its index of "
    "streams and event ids, and keeps it in memory (about 300 bytes per event).",
    "read_category and the type filter scan the partition from the cursor and filter in the client.",
    "Checkpoints are consumer-group offsets, written apart from any handler writes (at-least-once).",
    "Snapshots live in a compacted topic, last write per (stream, schema version) wins, and each store "
    "instance reads that topic whole into memory.",
    "A writer that dies inside an append holds back every reader (the last stable offset) until the next "
    "writer takes the fence or the 10 s transaction timeout aborts it.",
)

FENCED = Capabilities(
    optimistic_concurrency=True,
    idempotent_append=True,
    atomic_batch=True,
    global_order=True,
    gap_safe_global_order=True,
    indexed_category_reads=False,
    push_notifications=True,
    transactional_checkpoints=False,
    snapshots=True,
    max_event_bytes=MAX_EVENT_BYTES,
    limitations=(
        "One writer at a time per prefix: store instances take the writer fence (a shared transactional.id) "
        "in turn, and each takeover costs an init_transactions: about 60 ms, or 0.5 s when the broker is still "
        "completing the previous holder's last transaction. Route a prefix's writes through one process for throughput.",
        "The version and event-id checks hold only among writers using this adapter: a plain Kafka producer "
        "writing to the topic bypasses them.",
        *_COMMON,
    ),
)

NAIVE = replace(
    FENCED,
    optimistic_concurrency=False,
    idempotent_append=False,
    limitations=(
        "No optimistic concurrency between store instances: each checks the expected version and the event "
        "ids against its own index, read just before it appends, so two instances appending at once both "
        "succeed and both are told they wrote the same version (a lost update, and duplicate version numbers).",
        "Exact retries are recognised only when the first attempt is already in the log when the retry checks.",
        *_COMMON,
    ),
)
