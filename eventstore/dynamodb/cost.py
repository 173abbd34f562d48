"""What the DynamoDB backend costs: capacity units per operation, and dollars under on-demand pricing.

Pure functions. Item sizes come from ``eventstore.dynamodb.layout``, the builders the store writes
with, so the model prices exactly the store's items. The rules (AWS developer guide, "DynamoDB read
and write operations"): a write costs 1 unit per started KB of the item, twice that inside a
transaction; a strongly consistent read costs 1 unit per started 4 KB (half that eventually
consistent, twice transactional); GetItem and BatchGetItem round each item up, Query rounds the sum of
the items it reads (before any projection or filter). A partition serves at most 1,000 write and
3,000 read units per second.

    python -m eventstore.dynamodb.cost --data-bytes 500 --events-per-append 3

The report shows ``model(event_bytes)`` (the engine's ``cost_model`` hook) priced for the event
size a run appended.
"""
from __future__ import annotations

import argparse
import math
import uuid
from dataclasses import dataclass

from ..plugins import CostModel
from ..validation import PreparedEvent
from . import layout

KB = 1024
QUERY_PAGE_BYTES = 1024 * KB
BATCH_GET_KEYS = 100
PARTITION_WRITE_UNITS_PER_S = 1000
#: Storage is billed on each item's size plus this much per item.
STORAGE_OVERHEAD_PER_ITEM = 100
GB = 1024**3
#: Representative numbers in the keys (their digits count towards item sizes): an event at version
#: 1,000 of its stream, appended as the 10-millionth append of the store.
TYPICAL_VERSION = 1_000
TYPICAL_SEQUENCE = 10_000_000
_CONSISTENCY = {"eventual": 0.5, "strong": 1.0, "transactional": 2.0}


@dataclass(frozen=True)
class OnDemandPrices:
    """On-demand unit prices in USD, with where and when they were read: check them before relying on a figure."""

    write_request_unit: float = 0.625 / 1e6
    read_request_unit: float = 0.125 / 1e6
    storage_gb_month: float = 0.25
    region: str = "us-east-1"
    table_class: str = "Standard"
    source: str = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
    as_of: str = "2024-11-01, when AWS halved on-demand throughput prices; assumed unchanged since: check the source"


@dataclass(frozen=True)
class Workload:
    """Sizes in bytes of what callers append: the JSON of data and metadata, the type, the stream id."""

    data_bytes: int = 200
    metadata_bytes: int = 2  # "{}"
    type_bytes: int = 12
    stream_id_bytes: int = 42  # "Order-" and a UUID
    category_bytes: int = 5
    events_per_append: int = 1

    def __post_init__(self) -> None:
        if self.data_bytes < 2 or self.metadata_bytes < 2:
            raise ValueError("data and metadata are JSON objects: at least 2 bytes ('{}')")
        if not 0 < self.category_bytes < self.stream_id_bytes:
            raise ValueError("the category is a proper prefix of the stream id")
        if not 1 <= self.events_per_append <= layout.MAX_BATCH_EVENTS:
            raise ValueError(f"events_per_append must be 1..{layout.MAX_BATCH_EVENTS}")


@dataclass(frozen=True)
class Cost:
    """Capacity units and requests of one operation (or of many, after ``times``)."""

    read_units: float
    write_units: float
    requests: int

    def times(self, factor: float) -> Cost:
        return Cost(self.read_units * factor, self.write_units * factor, math.ceil(self.requests * factor))

    def dollars(self, prices: OnDemandPrices = OnDemandPrices()) -> float:
        return self.read_units * prices.read_request_unit + self.write_units * prices.write_request_unit


def write_units(item_bytes: int, *, transactional: bool = False) -> int:
    """Write units for one item: 1 per started KB, at least 1; doubled in a transaction."""
    return max(1, math.ceil(item_bytes / KB)) * (2 if transactional else 1)


def read_units(item_bytes: int, *, consistency: str = "strong") -> float:
    """Read units for one item (GetItem, BatchGetItem) or one Query page's sum: 1 per started 4 KB, at least 1."""
    return max(1, math.ceil(item_bytes / (4 * KB))) * _CONSISTENCY[consistency]


# -- the store's items for a workload --------------------------------------------------------------


def append_items(w: Workload) -> list[layout.Item]:
    """The items one append writes: events, id guards, the global and the category feed entries."""
    stream_id = "C" * w.category_bytes + "-" + "s" * (w.stream_id_bytes - w.category_bytes - 1)
    batch = [_event(w) for _ in range(w.events_per_append)]
    actions = layout.append_actions(layout.Tables("table"), stream_id, TYPICAL_VERSION, TYPICAL_SEQUENCE, batch, "2025-01-01T00:00:00.000000+00:00")
    return [a["Put"]["Item"] for a in actions]


def _event(w: Workload) -> PreparedEvent:
    def json_of(size: int) -> str:
        return "{}" if size < 8 else '{"d":"' + "x" * (size - 8) + '"}'

    return PreparedEvent(uuid.uuid4(), "T" * w.type_bytes, {}, {}, json_of(w.data_bytes), json_of(w.metadata_bytes))


def item_sizes(w: Workload) -> dict[str, int]:
    """Bytes of each kind of item (DynamoDB's accounting) for this workload."""
    items = append_items(w)
    n = w.events_per_append
    return {"event": layout.item_size(items[0]), "guard": layout.item_size(items[n]), "feed entry": layout.item_size(items[2 * n])}


# -- operations ------------------------------------------------------------------------------------


def append_cost(w: Workload) -> Cost:
    """One append of ``w.events_per_append`` events: two strongly consistent one-item Queries (the
    stream's last event, the feed's last entry), then one transaction of every item."""
    sizes = item_sizes(w)
    writes = sum(write_units(layout.item_size(item), transactional=True) for item in append_items(w))
    return Cost(read_units(sizes["event"]) + read_units(sizes["feed entry"]), writes, requests=3)


def bare_put_cost(w: Workload) -> Cost:
    """The baseline: one plain PutItem per event, with no concurrency control, idempotency or global order."""
    return Cost(0, write_units(item_sizes(w)["event"]) * w.events_per_append, requests=w.events_per_append)


def read_stream_cost(w: Workload, events: int) -> Cost:
    """Reading ``events`` events of one stream: strongly consistent Query pages of up to 1 MB."""
    return _query_cost(item_sizes(w)["event"], events)


def read_all_cost(w: Workload, events: int) -> Cost:
    """Reading ``events`` events in global order: a Query of the feed, then BatchGetItem of the events."""
    sizes = item_sizes(w)
    feed = _query_cost(sizes["feed entry"], math.ceil(events / w.events_per_append))
    fetch = Cost(events * read_units(sizes["event"]), 0, math.ceil(events / BATCH_GET_KEYS))
    return Cost(feed.read_units + fetch.read_units, 0, feed.requests + fetch.requests)


def _query_cost(item_bytes: int, items: int) -> Cost:
    per_page = max(1, QUERY_PAGE_BYTES // item_bytes)
    full, rest = divmod(items, per_page)
    units = full * read_units(per_page * item_bytes) + (read_units(rest * item_bytes) if rest or not full else 0)
    return Cost(units, 0, full + (1 if rest or not full else 0))


def per_million_events(w: Workload) -> dict[str, Cost]:
    """Appending a million events, reading them all in global order, and replaying them by stream."""
    million = 1_000_000
    return {
        "append": append_cost(w).times(million / w.events_per_append),
        "bare PutItem (baseline)": bare_put_cost(w).times(million / w.events_per_append),
        "read_all": read_all_cost(w, million),
        "read_stream": read_stream_cost(w, million),
    }


def stored_bytes_per_event(w: Workload) -> float:
    """Billed storage per event: its item and guard, and its share of the two feed entries."""
    sizes = {k: v + STORAGE_OVERHEAD_PER_ITEM for k, v in item_sizes(w).items()}
    return sizes["event"] + sizes["guard"] + 2 * sizes["feed entry"] / w.events_per_append


def monthly_dollars(w: Workload, appended_events: int, stored_events: int, read_all_passes: float = 1.0, prices: OnDemandPrices = OnDemandPrices()) -> dict[str, float]:
    """A month: appending ``appended_events``, each consumer pass reading them once, holding ``stored_events``."""
    appends = append_cost(w).times(appended_events / w.events_per_append)
    reads = read_all_cost(w, appended_events).times(read_all_passes)
    storage = stored_events * stored_bytes_per_event(w) / GB * prices.storage_gb_month
    return {"appends": appends.dollars(prices), "read_all": reads.dollars(prices), "storage": storage}


def feed_ceiling_appends_per_s(w: Workload) -> float:
    """Appends per second one partition admits at the feed's tail (writes only; the round trips of the
    optimistic claim usually bind first)."""
    return PARTITION_WRITE_UNITS_PER_S / write_units(item_sizes(w)["feed entry"], transactional=True)


def model(data_bytes: int | None) -> CostModel:
    """Capacity units and on-demand dollars per million events of ``data_bytes`` bytes of data
    (None: ``Workload``'s default), one event per append."""
    workload = Workload() if data_bytes is None else Workload(data_bytes=max(2, data_bytes))
    prices = OnDemandPrices()
    rows = [
        {"per million events": name, "write units": cost.write_units, "read units": cost.read_units, "requests": cost.requests,
         "USD (on-demand)": cost.dollars(prices)}
        for name, cost in per_million_events(workload).items()
    ]
    return CostModel("DynamoDB: what a million events cost", rows, [
        f"event data {workload.data_bytes} bytes ({'model default' if data_bytes is None else 'as appended in this run'}), one event per append",
        f"stored bytes per event: {stored_bytes_per_event(workload):,.0f}; one feed partition admits at most {feed_ceiling_appends_per_s(workload):,.0f} appends/s",
        f"prices: {prices.region} {prices.table_class}, {prices.source}, as of {prices.as_of}",
        "the model counts what DynamoDB would bill; the emulator's timings on the other pages say nothing about that",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field, default in vars(Workload()).items():
        parser.add_argument(f"--{field.replace('_', '-')}", type=int, default=default)
    w = Workload(**vars(parser.parse_args(argv)))
    prices = OnDemandPrices()
    print(f"{w}\nitem bytes: {item_sizes(w)}")
    print(f"one append: {append_cost(w)}; a bare PutItem per event: {bare_put_cost(w)}")
    for name, cost in per_million_events(w).items():
        print(f"per million events, {name}: {cost.write_units:,.0f} WRU, {cost.read_units:,.0f} RRU = ${cost.dollars(prices):,.2f}")
    print(f"storage: {stored_bytes_per_event(w):,.0f} bytes per event; feed partition ceiling {feed_ceiling_appends_per_s(w):,.0f} appends/s")
    print(f"prices: {prices.region} {prices.table_class}, {prices.source}, as of {prices.as_of}")


if __name__ == "__main__":
    main()
