"""What the EventStoreDB store guarantees, from the server's documented behaviour, in plain words.

Sources (cited in full in README.md, "Guarantees and their sources"): the EventStoreDB client
documentation "Optimistic concurrency and idempotence" (the rules are unchanged through 24.10 and
KurrentDB 25.0: the server's ``IndexWriter.CheckCommit`` implements them as written), the KurrentDB
Python client documentation v1.1 "Appending events", server-side filtering (EventStoreDB 20.6+),
stream metadata (``$maxCount``, ``$tb``), and the server option ``MaxAppendSize`` (default 1 MiB).
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..capabilities import Capabilities, EngineInfo
from .config import DEFAULT_MAX_APPEND_SIZE, SNAPSHOTS_KEPT

LIMITATIONS = (
    "Idempotency by event id is the server's, which is narrower than this API's: a retry with an exact "
    "expected version or NO_STREAM is always recognised (the server compares the ids stored after the expected "
    "version) and returns the original result; with ANY or EXISTS it is recognised only while the ids are in the "
    "server's in-memory cache of recent commits ('not guaranteed', say the docs). An event id reused in another "
    "stream is stored again, and a batch that partly overlaps stored ids is refused as a version conflict "
    "(ConcurrencyError) or, when its first id is new and the expected version is ANY, stored.",
    "read_category and the type and category filters of read_all are the server's regular-expression filters "
    "over $all: the server scans the log from the cursor, it does not use an index. The indexed alternative, "
    "$ce- category streams, needs the system projections running and lags behind the append, so it is not used.",
    "The server applies one filter per read: with a prefix the stream-name filter scopes the store, and the "
    "event-type filter is applied by the adapter to what the server returns.",
    "An append with ANY or EXISTS costs one more read ($all at the position the server returned) to learn "
    "the versions it wrote: the server's answer carries the stream's revision, but the Python clients return only "
    "the position. An exact expected version or NO_STREAM needs none.",
    "Checkpoints live in one stream per subscription with $maxCount 1, written apart from the handler's "
    "writes (at-least-once).",
    f"Snapshots live in one stream per aggregate with $maxCount {SNAPSHOTS_KEPT}: a schema version absent from "
    "the last few snapshots is forgotten (that costs replay, never correctness); replaced snapshots stay on "
    "disk until a scavenge.",
    "drop() tombstones the store's streams: their names can never be written again, and their events stay on "
    "disk, visible in $all to readers without the prefix filter, until a scavenge. It needs a prefix.",
    "Stream ids and event types starting with '$' are refused: that namespace is the server's system streams "
    "and events.",
    "A call that fails transiently (server not ready, deadline, lost answer, not the leader) is tried again with the "
    "same request for up to 10 s: a retried append is safe with an exact expected version or NO_STREAM and relies on "
    "the server's cache of recent event ids with ANY or EXISTS; beyond that it raises StoreUnavailable, outcome unknown.",
    "The version reported is the URL's version= parameter, which the engine fills from the server's own answer "
    "(gRPC ServerFeatures); a store opened by hand without it reports 'unknown'.",
)

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
    max_batch_events=None,
    max_batch_bytes=DEFAULT_MAX_APPEND_SIZE,
    max_event_bytes=DEFAULT_MAX_APPEND_SIZE,
    limitations=(f"One append may be at most {DEFAULT_MAX_APPEND_SIZE:,} bytes as the server counts them "
                 "(data + metadata + 2 bytes per character of the type), the server's default MaxAppendSize.",
                 *LIMITATIONS),
)


def capabilities(max_append_size: int) -> Capabilities:
    """The record for a server whose ``MaxAppendSize`` is ``max_append_size``."""
    if max_append_size == DEFAULT_MAX_APPEND_SIZE:
        return CAPABILITIES
    return replace(
        CAPABILITIES,
        max_batch_bytes=max_append_size,
        max_event_bytes=max_append_size,
        limitations=(f"One append may be at most {max_append_size:,} bytes as the server counts them "
                     "(data + metadata + 2 bytes per character of the type): this server's MaxAppendSize.",
                     *LIMITATIONS),
    )


#: What the protocol double's release says (``tests/esdb_double``): an engine that reaches it is no product.
DOUBLE_MARK = "protocol double"


def engine_info(version: str) -> EngineInfo:
    """The product a server's release names: KurrentDB from 25.0 on, EventStoreDB before it; the protocol
    double as what it is, flagged like an emulator so that no result from it passes for the product's."""
    if DOUBLE_MARK in version:
        return EngineInfo("eventstoredb", "EventStoreDB protocol double (a test fixture, not the product)", version, emulator=True)
    major = re.match(r"\s*(\d+)\.", version)
    return EngineInfo("eventstoredb", "KurrentDB" if major and int(major.group(1)) >= 25 else "EventStoreDB", version)
