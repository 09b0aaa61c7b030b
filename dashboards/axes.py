"""The MAP-Elites axes a campaign's problem declared, as its "started" event records them
(evolve/start.py: name, low, high, bins, integer, and the cells the search counted).

The heatmap opens on them, so that it shows the grid the search used: the declared range
and cells, not the observed range in a chosen number of bins, which splits an integer count
into stripes that no program can fill. The cell of a value is the search's
(evolve/strategy.py: axis_index), computed here over a whole column; dashboards do not
import the controller, and tests check that both give the same cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from db.records import CampaignRecord
from db.storage import Storage

# The most cells of a declared axis the heatmap draws (a grid of <div>s): beyond it the
# axis is binned as an undeclared one, in the bins the page asks for.
MAX_CELLS = 100


@dataclass(frozen=True)
class Axis:
    name: str
    low: float
    high: float
    bins: int
    integer: bool
    cells: int  # as the search counted them: for an integer axis, at most one per value

    @property
    def by_value(self) -> bool:
        """One cell per whole value (an integer axis with fewer values than bins); else
        [low, high] is split into equal cells."""
        return self.integer and self.cells < self.bins

    def index(self, values: Any) -> Any:
        """The cell of each value (an array), clipped to the axis, as axis_index gives it."""
        if self.by_value:
            cell = np.floor(values + 0.5) - math.ceil(self.low)
        else:
            span = (self.high - self.low) or 1.0
            cell = np.trunc((values - self.low) / span * self.cells)  # int() truncates
        return np.clip(cell, 0, self.cells - 1).astype(np.int64)

    def shown(self) -> dict[str, Any]:
        """The axis as the grid's answer describes it (see heatmap.grid)."""
        out = {"name": self.name, "min": self.low, "max": self.high, "bins": self.cells}
        out |= {"declared": True, "integer": self.integer}
        if self.by_value:  # cell i holds the value origin + i
            out["origin"] = math.ceil(self.low)
        return out


def parse(entries: Any) -> dict[str, Axis]:
    """name -> Axis from the recorded list, in declared order; an entry that is not a
    whole axis (hand-written, or from a later version) is left out: the heatmap bins that
    feature as it does an undeclared one."""
    out: dict[str, Axis] = {}
    for entry in entries if isinstance(entries, (list, tuple)) else ():  # stored frozen
        try:
            axis = Axis(
                name=str(entry["name"]),
                low=float(entry["low"]),
                high=float(entry["high"]),
                bins=int(entry["bins"]),
                integer=bool(entry.get("integer", False)),
                cells=int(entry["cells"]),
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            continue
        finite = math.isfinite(axis.low) and math.isfinite(axis.high)
        if finite and 1 <= axis.cells <= MAX_CELLS and axis.bins >= 1:
            out[axis.name] = axis
    return out


def declared(storage: Storage, record: CampaignRecord) -> dict[str, Axis]:
    """The campaign's declared axes; empty for a problem without any, or a campaign
    started before they were recorded (its heatmap bins the observed range as before)."""
    for event in storage.events(record.id, "started")[:1]:
        return parse(event.payload.get("feature_axes"))
    return {}
