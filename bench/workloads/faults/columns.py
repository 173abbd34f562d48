"""The matrix columns faults feeds: acknowledged appends lost in crashes, and in power cuts, under the
setting the engine's row is measured under (its first declared one). Both are exact counts (no CI),
and no timing of a power-loss run is read here or anywhere in the matrix."""
from __future__ import annotations

from bench.harness.columns import Cell, OperatingPoints, Pick, Source, why_missing
from bench.harness.metrics import Metric
from bench.harness.results import Results

from .tables import faults_summary, own_setting
from .workload import Faults


def _losses(power_loss: bool) -> Pick:
    """Acknowledged appends lost over every fault of one kind (power cuts, or process crashes) under
    the row's own setting; not measured, with the reason, when none could be injected under it."""
    kind, count = ("power cut", "power_cuts") if power_loss else ("crash", "crashes")

    def pick(results: Results, engine: str, metric: Metric) -> Cell:
        table = faults_summary(results)
        setting = own_setting(engine)
        if not table.empty:
            kind_of = table["power_loss"].eq(True) if "power_loss" in table.columns else False  # records from before power cuts: crashes only
            table = table[(table["engine"] == engine) & (table["setting"] == setting.label) & (kind_of == power_loss)]
        rows = table
        if rows.empty:
            return Cell(None, reason=why_missing(results, engine, "faults", {}))
        if not rows[count].fillna(0).sum():
            why = next((str(n) for n in rows["not_measured"] if isinstance(n, str) and n), f"no {kind} was injected")
            return Cell(None, reason=f"not measured under {setting.label}: {why.removeprefix('not measured: ')}")
        lost = rows["lost"].sum(min_count=1)
        if lost != lost:  # NaN: the engine did not come back, or was not read afterwards
            return Cell(None, reason=f"unknown: {rows['verdict'].iloc[0]}")
        faults = results.of("faults")
        return Cell(float(lost), ",".join(sorted(set(faults[faults["engine"] == engine]["run_id"]))))

    return pick


_crash_losses = _losses(False)
_power_losses = _losses(True)


def columns(p: OperatingPoints) -> list[Source]:
    return [
        Source("lost in crashes, row's setting", Faults, "lost",
               "faults: acknowledged appends missing after every engine crash (SIGKILL and restart) under the setting the engine's row is measured under "
               "(must be 0; a crash cannot show what a power failure loses)", _crash_losses, key="crash_losses"),
        Source("lost in power loss, row's setting", Faults, "lost",
               "faults: acknowledged appends missing after every power cut (unsynced writes dropped on a power-loss mount) under the setting the "
               "engine's row is measured under (0 for a setting that fsyncs what it acknowledges)", _power_losses, key="power_losses"),
    ]
