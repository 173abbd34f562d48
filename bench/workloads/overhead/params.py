"""The overhead workload's parameters and the paths it compares."""
from __future__ import annotations

from dataclasses import dataclass

from bench.harness.params import ParameterError, Params, param

#: Every path, in the order the page shows them: three in this process, two in worker processes.
PATHS = ("append_single", "append_batch", "read_all", "append_concurrent", "live_delivery")
#: The paths whose writers (and listener) are worker processes.
PROCESS_PATHS = ("append_concurrent", "live_delivery")


@dataclass(frozen=True)
class OverheadParams(Params):
    repetitions: int = param(1, "repetitions of every path; each is a full set of ABBA rounds with its own ratio")
    budget_s: float | None = param(60.0, "seconds one engine may spend on this workload (its server's start-up included); later cases are recorded as skipped")
    paths: tuple[str, ...] = param(PATHS, "paths to compare: append_single, append_batch, read_all, append_concurrent, live_delivery")
    rounds: int = param(6, "rounds of each side per path, in ABBA order (adapter, raw, raw, adapter, ...); a ratio per round pair")
    round_s: float = param(0.4, "seconds of one round of a rate path (a slow call may run past it: a round is at least one call)")
    batch_size: int = param(100, "events per append_batch call, to a new stream (capped by the engine's batch limit)")
    read_events: int = param(5000, "events the adapter writes before the read_all rounds, for both sides to read")
    read_page: int = param(1000, "events per read_all call: a page of a catch-up from the start, which starts over after its last page")
    fill_s: float = param(4.0, "at most this many seconds writing the read_all store (a slow engine reads fewer events; the records say how many)")
    warmup_calls: int = param(10, "calls of each side before a path's rounds, or as many as fit in round_s (connections, caches, prepared statements)")
    writers: int = param(4, "writer processes of append_concurrent, each with its own store and raw path, each on a stream of its own")
    live_rate: float = param(1000.0, "events/s the live_delivery writers append together, open loop (each writer its share, interleaved)")
    live_writers: int = param(2, "writer processes of live_delivery, each on a stream of its own")
    live_round_s: float = param(1.0, "seconds of one live_delivery round: the events committed in it are measured")
    live_poll_s: float = param(0.5, "poll_interval of the store's subscriber (its default) and of a raw listener that can only poll")

    def check(self) -> None:
        super().check()
        unknown = set(self.paths) - set(PATHS)
        if unknown or not self.paths:
            raise ParameterError(f"paths must be among {PATHS}, not {sorted(unknown)}")
        if self.rounds < 1 or self.round_s <= 0 or self.live_round_s <= 0:
            raise ParameterError("rounds must be >= 1; round_s and live_round_s > 0")
        if self.batch_size < 1 or self.read_events < 1 or self.read_page < 1 or self.warmup_calls < 0 or self.fill_s <= 0:
            raise ParameterError("batch_size, read_events and read_page must be >= 1; warmup_calls >= 0; fill_s > 0")
        if self.writers < 1 or self.live_writers < 1 or self.live_rate <= 0 or self.live_poll_s <= 0:
            raise ParameterError("writers and live_writers must be >= 1; live_rate and live_poll_s > 0")

    def process_writers(self) -> int:
        """Writer processes the chosen paths need: the larger of ``writers`` and ``live_writers``, of those in use."""
        return max([self.writers] * ("append_concurrent" in self.paths) + [self.live_writers] * ("live_delivery" in self.paths) + [0])
