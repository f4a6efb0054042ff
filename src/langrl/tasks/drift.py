"""Simulated annotators whose preferences change over time ("How to chase changing preferences through time?").

At time t (a round of ``langrl loop``) the annotator's utility is a rotation between the task's gold utility g and a
second utility h:

    u_t(y) = cos(theta_t) g(y) + sin(theta_t) h(y)

and it judges exactly like :class:`langrl.tasks.annotator.Annotator` (Bradley-Terry / Plackett-Luce noise on u_t, the
same noise knobs), so a fixed theta = 0 is the ordinary annotator. Schedules of theta_t:

    none              theta_t = 0
    switch            theta_t = 0 for t < at, then ``angle`` (180 degrees: the preferences reverse; 90: h alone)
    rotate            theta_t = min(angle * t, limit): a slow rotation of ``angle`` degrees per round, capped

Second utilities h (each in [0, 1], like the tasks' gold): ``brevity`` (1 - words/40, clipped: shorter is better)
and ``length`` (words/40, clipped: longer is better). The schedule is a pure function of t; the annotator at time t is
:meth:`DriftingAnnotator.at`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from langrl.errors import InputError

SCHEDULES = ("none", "switch", "rotate")


def brevity(response: str) -> float:
    """1 - words / 40, clipped to [0, 1]."""
    return 1.0 - min(len(response.split()), 40) / 40


def length(response: str) -> float:
    """words / 40, clipped to [0, 1]."""
    return min(len(response.split()), 40) / 40


SECOND_UTILITIES = {"brevity": brevity, "length": length}


@dataclass(frozen=True)
class DriftSchedule:
    """theta_t in radians for time t (see the module docstring). ``angle`` and ``limit`` in degrees."""

    kind: str = "none"
    at: int = 0
    angle: float = 180.0
    limit: float = 180.0

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise InputError(f"expected one of {', '.join(SCHEDULES)}, got {self.kind!r}", field="drift")
        if self.kind == "switch" and self.at < 1:
            raise InputError(f"expected a round >= 1 for a switch, got {self.at}", field="drift_round")
        for name in ("angle", "limit"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"expected a finite number of degrees, got {getattr(self, name)}", field=f"drift_{name}")

    def theta(self, t: float) -> float:
        """The rotation at time ``t``, radians."""
        if self.kind == "switch":
            return math.radians(self.angle) if t >= self.at else 0.0
        if self.kind == "rotate":
            return math.radians(min(self.angle * t, self.limit))
        return 0.0

    def changed(self, t: float) -> bool:
        """Whether the preferences at ``t`` differ from those at time 0."""
        return self.theta(t) != 0.0


def drifted_utility(gold: float, second: float, theta: float) -> float:
    """u = cos(theta) g + sin(theta) h (exactly g at theta = 0)."""
    if theta == 0.0:
        return gold
    return math.cos(theta) * gold + math.sin(theta) * second


class DriftedTask:
    """``task`` with its utility replaced by u_theta (everything else, gold included, is the task's own)."""

    def __init__(self, task, theta: float, second: str = "brevity"):
        if second not in SECOND_UTILITIES:
            raise InputError(f"expected one of {', '.join(SECOND_UTILITIES)}, got {second!r}", field="drift_target")
        self._task, self.theta, self.second = task, theta, SECOND_UTILITIES[second]

    def __getattr__(self, name):
        return getattr(self._task, name)

    def utility(self, row: dict, response: str) -> float:
        g = self._task.utility(row, response)
        return drifted_utility(g, self.second(response) if self.theta else 0.0, self.theta)


class DriftingAnnotator:
    """A simulated annotator for ``task`` whose preferences follow ``schedule``; ``noise`` as for ``Annotator``."""

    def __init__(self, task, seed: int, schedule: DriftSchedule, second: str = "brevity", **noise):
        from langrl.tasks.annotator import Annotator

        self.task, self.seed, self.schedule, self.second, self.noise = task, seed, schedule, second, noise
        Annotator(task, seed, **noise)  # check the noise knobs now
        DriftedTask(task, 0.0, second)  # and the second utility

    def task_at(self, t: float) -> DriftedTask:
        """The task whose utility is the preferences at time ``t`` (what "gold" means at ``t``)."""
        return DriftedTask(self.task, self.schedule.theta(t), self.second)

    def at(self, t: float):
        """The annotator at time ``t``: an :class:`~langrl.tasks.annotator.Annotator` on u_t."""
        from langrl.tasks.annotator import Annotator

        return Annotator(self.task_at(t), self.seed, **self.noise)
