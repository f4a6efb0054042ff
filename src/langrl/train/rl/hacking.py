"""Reward-hacking detection during online RL: the proxy keeps rising while a held-out signal falls; length drift.

The held-out signal is whatever the run watches on its held-out prompts: the task's gold evaluator (``eval/gold``,
``task:NAME`` prompts), or ``--watch SPEC``, any reward spec scored there as ``eval/watch`` (a second reward model,
or ``rm:path=ENSEMBLE,uncertainty=...`` whose penalty grows with the ensemble's disagreement). The rules are pure
functions of the logged evaluation history, so they are tested with hand-made numbers and a report can re-derive them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence


def hacking_alarm(proxy: Sequence[float], held: Sequence[float], window: int = 3, min_drop: float = 0.05) -> bool:
    """True when, across the last ``window`` held-out evaluations, the proxy rose while the held-out signal fell:
    ``proxy[-1] > proxy[-1 - window]`` and ``held[-1] < held[-1 - window] - min_drop``. False with fewer than
    ``window + 1`` evaluations."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if len(proxy) != len(held):
        raise ValueError(f"{len(proxy)} proxy values for {len(held)} held-out values")
    if len(proxy) <= window:
        return False
    return proxy[-1] > proxy[-1 - window] and held[-1] < held[-1 - window] - min_drop


def length_drift(lengths: Sequence[float]) -> float:
    """Relative change of the mean response length since the first iteration: ``L[-1] / L[0] - 1`` (0 when empty)."""
    if not lengths or lengths[0] <= 0:
        return 0.0
    return lengths[-1] / lengths[0] - 1.0


@dataclass
class HackingWatch:
    """Follows a run's metrics; :meth:`update` returns the warnings that start at this step (each once per episode
    of the condition: a new warning only after the condition has cleared)."""

    held_key: str  # e.g. "eval/gold" or "eval/watch"
    window: int = 3
    min_drop: float = 0.05  # above the noise of a mean over a few dozen held-out prompts
    length_tolerance: float = 0.3  # warn when the mean response length moved by more than this fraction
    proxy: list = field(default_factory=list)
    held: list = field(default_factory=list)
    lengths: list = field(default_factory=list)
    alarmed: bool = False
    drifted: bool = False

    def update(self, step: int, metrics: dict) -> list[str]:
        """Feed one logged step; writes ``length_drift`` (when it has ``response_length``) and ``eval/hacking`` (when
        it has a held-out evaluation) into ``metrics``; returns the warnings that start here."""
        out = []
        if "response_length" in metrics:
            self.lengths.append(float(metrics["response_length"]))
            drift = length_drift(self.lengths)
            metrics["length_drift"] = drift
            if abs(drift) > self.length_tolerance and not self.drifted:
                out.append(f"step {step}: response length drifted {drift:+.0%} since the first iteration "
                           f"({self.lengths[0]:.1f} -> {self.lengths[-1]:.1f} tokens)")
            self.drifted = abs(drift) > self.length_tolerance
        if "eval/reward" in metrics and self.held_key in metrics:
            self.proxy.append(float(metrics["eval/reward"]))
            self.held.append(float(metrics[self.held_key]))
            alarm = hacking_alarm(self.proxy, self.held, self.window, self.min_drop)
            metrics["eval/hacking"] = float(alarm)
            if alarm and not self.alarmed:
                w = self.window
                out.append(f"step {step}: possible reward hacking: over the last {w} evaluations the proxy rose "
                           f"{self.proxy[-1 - w]:.3f} -> {self.proxy[-1]:.3f} while {self.held_key} fell "
                           f"{self.held[-1 - w]:.3f} -> {self.held[-1]:.3f}")
            self.alarmed = alarm
        return out


class WarningLog:
    """The run's ``warnings.jsonl`` ({"step", "warning"} per line), kept in step with checkpoints, and stderr."""

    def __init__(self, out, enabled: bool, resume_step: int | None = None):
        from pathlib import Path

        self.enabled = enabled
        self.path = Path(out) / "warnings.jsonl"
        if enabled and self.path.is_file():  # a resumed run rewrites what came after; a fresh one starts empty
            from langrl.train.rl.eval import truncate_samples

            truncate_samples(self.path, resume_step or 0)

    def write(self, step: int, warnings: list[str]) -> None:
        import json
        import sys

        if not self.enabled or not warnings:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            for w in warnings:
                f.write(json.dumps({"step": step, "warning": w}) + "\n")
                print(f"langrl rl: warning: {w}", file=sys.stderr, flush=True)

    def all(self) -> list[str]:
        return read_warnings(self.path)


def read_warnings(path) -> list[str]:
    """The warnings of a run's ``warnings.jsonl`` (none when the file does not exist)."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line)["warning"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def replay(watch: HackingWatch, rows: list[dict]) -> None:
    """Bring ``watch`` to the state it had after ``rows`` (a resumed run's logged metrics, values as strings)."""
    for r in rows:
        watch.update(int(r["step"]), {k: float(v) for k, v in r.items() if k != "step" and v not in ("", None)})
