"""The whole conformance suite: every promise class in one, which each engine's test class subclasses.

    class TestMyBackend(EventStoreConformance):
        def make_store(self) -> EventStore:
            return MyStore(...)          # a fresh, empty store for each test

Tests skip only what the backend's ``capabilities`` declare missing, and say so in the skip
reason, so a run's output shows exactly which guarantees a backend lacks. Every declared capability
is tested (``CAPABILITY_TESTS`` names the tests of each). Two capabilities need the engine's help to
be checked at all: a backend that declares them overrides the hooks ``category_read_work``
(``ReadConformance``) and ``transactional_setup`` / ``transactional_write`` /
``transactional_values`` (``SubscriptionConformance``).
"""
from __future__ import annotations

from .against_model import ModelConformance
from .appends import AppendConformance
from .reads import ReadConformance
from .snapshots import SnapshotConformance
from .subscriptions import SubscriptionConformance

#: Each ``Capabilities`` field and the suite's tests that check it when a backend declares it.
CAPABILITY_TESTS: dict[str, tuple[str, ...]] = {
    "optimistic_concurrency": (
        "test_no_stream_on_existing_stream_conflicts",
        "test_exists_on_missing_stream_conflicts",
        "test_exact_version",
        "test_concurrent_writers_lose_no_update",
        "test_execute_retries_on_conflict",
    ),
    "idempotent_append": (
        "test_exact_retry_returns_original_result",
        "test_retry_of_a_later_batch_with_its_expected_version",
        "test_partial_overlap_is_an_error_and_writes_nothing",
        "test_event_id_reused_in_another_stream_is_an_error",
    ),
    "atomic_batch": (
        "test_a_batch_the_engine_refuses_part_way_writes_nothing",
        "test_readers_never_see_part_of_a_batch",
    ),
    "global_order": ("test_read_all_order_cursor_and_limit",),
    "gap_safe_global_order": ("test_a_reader_following_racing_writers_skips_nothing",),
    "indexed_category_reads": ("test_category_reads_do_not_grow_with_other_categories",),
    "push_notifications": ("test_the_engine_wakes_an_idle_subscriber",),
    "transactional_checkpoints": ("test_transactional_handler_writes_and_checkpoint_commit_together",),
    "snapshots": (
        "test_snapshot_round_trip_and_schema_filter",
        "test_repository_snapshots_every_n_and_replays_only_the_tail",
        "test_batch_crossing_a_snapshot_boundary",
        "test_stale_schema_snapshots_are_ignored",
    ),
    "max_batch_events": ("test_declared_batch_limit",),
    "max_batch_bytes": ("test_declared_batch_byte_limit",),
    "max_event_bytes": ("test_declared_event_size_limit",),
}


# The bases in reverse: pytest collects the last base's tests first, and appends then run first, the
# slow model test last.
class EventStoreConformance(ModelConformance, SnapshotConformance, SubscriptionConformance, ReadConformance, AppendConformance):
    """Every semantic of the API, against a fresh store per test."""
