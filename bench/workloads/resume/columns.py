"""The matrix columns resume feeds: events missed on resume, and the most repeated after one restart."""
from __future__ import annotations

from bench.harness.columns import OperatingPoints, Source, totals

from .tables import resume_summary
from .workload import Resume


def columns(p: OperatingPoints) -> list[Source]:
    return [
        Source("missed on resume", Resume, "missed_events", "resume: events in the store the consumer never handled, all repetitions (must be 0)",
               totals(resume_summary, Resume.name), key="missed_on_resume"),
        Source("max repeats/restart", Resume, "max_repeats_per_restart", "resume: largest number of events handled again after one restart",
               totals(resume_summary, Resume.name), key="repeats_per_restart"),
    ]
