"""A benchmark figure: a value beside its floor, as a ratio, and whether its goal holds."""

from __future__ import annotations

import operator
from dataclasses import dataclass

from chalicelib.clock import clock, iso

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass
class Figure:
    name: str
    value: float
    floor: float
    goal: str  # "<= 2", ">= 0.7", "~ 1 (< 3)", or "(reported)"
    unit: str
    why_floor: str

    @property
    def ratio(self) -> float:
        return round(self.value / self.floor, 3) if self.floor else float("nan")

    @property
    def holds(self) -> bool | None:
        parts = self.goal.split()
        if len(parts) >= 2 and parts[0] in _OPS:
            return _OPS[parts[0]](self.ratio, float(parts[1]))
        if self.goal.startswith("~") and "(<" in self.goal:
            return self.ratio < float(self.goal.split("(<")[1].rstrip(")").strip())
        return None

    def as_json(self) -> dict:
        return {"name": self.name, "value": round(self.value, 3), "floor": self.floor, "ratio": self.ratio,
                "goal": self.goal, "holds": self.holds, "unit": self.unit, "measured_at": iso(clock.now()),
                "floor_is": self.why_floor}
