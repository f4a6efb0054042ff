"""Progress bars (rich, with rate and ETA) and metric logs (``metrics.csv`` + the trackers of ``--report-to``).

``--report-to NAME[,NAME]`` (repeatable; the parser calls :func:`use_report_to`): ``none``, ``csv``, ``tensorboard``,
``wandb``, ``trackio``, through the libraries themselves. ``metrics.csv`` is always written (it is part of the run
directory: ``--resume`` rewrites it), so ``csv`` and ``none`` both mean "no tracker". Without the flag: TensorBoard
when it is installed, as before. wandb runs offline unless ``WANDB_MODE`` says otherwise (``wandb sync`` uploads
later); trackio writes its local database (``trackio show`` opens it). A tracker that is asked for and not installed
is refused when the flags are parsed, before any model loads.

Only rank 0 writes: other ranks get a silent bar and a logger that drops everything. When stderr is not a terminal
(CI, ``nohup``, ``| tee``) the bar is plain periodic lines instead (``stage: step/total (pct) rate, elapsed, eta``),
one every ``LANGRL_PROGRESS_EVERY`` seconds (default 10) plus the first and the last.
"""
from __future__ import annotations

import contextlib
import contextvars
import csv
import importlib.util
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator


class _Bar:
    def __init__(self, progress, task):
        self._p, self._t = progress, task

    def update(self, completed: int, **fields) -> None:
        if self._p is None:
            return
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        self._p.update(self._t, completed=completed, info=shown)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class LineBar:
    """Progress as plain lines for a log that is not a terminal: ``stage: step/total (pct) rate it/s, elapsed T,
    eta T, info``. A line is printed at the first update, then at most one per ``every`` seconds, and at the end."""

    def __init__(self, description: str, total: int, stream=None, every: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, unit: str = "it"):
        self.description, self.total, self.every, self.clock, self.unit = description, total, every, clock, unit
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = clock()
        self.start: int | None = None  # the first completed count seen (a resumed run starts past 0)
        self.last_print: float | None = None
        self.completed, self.shown, self.info = 0, None, ""

    def update(self, completed: int, **fields) -> None:
        now = self.clock()
        self.completed = completed
        if fields:
            self.info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        if self.start is None:
            self.start, self.t0 = completed, now
        if self.last_print is None or now - self.last_print >= self.every or completed >= self.total:
            self._print(now)

    def _print(self, now: float) -> None:
        elapsed = now - self.t0
        done = self.completed - (self.start or 0)
        rate = done / elapsed if elapsed > 0 and done > 0 else None
        pct = 100.0 * self.completed / self.total if self.total else 100.0
        parts = [f"{self.description}: {self.completed}/{self.total} ({pct:.0f}%)",
                 f"{rate:.3g} {self.unit}/s" if rate else f"- {self.unit}/s", f"elapsed {_duration(elapsed)}",
                 f"eta {_duration((self.total - self.completed) / rate)}" if rate else "eta -"]
        line = ", ".join(parts) + (f", {self.info}" if self.info else "")
        print(line, file=self.stream, flush=True)
        self.last_print, self.shown = now, self.completed

    def close(self) -> None:
        if self.start is not None and self.shown != self.completed:
            self._print(self.clock())


def _progress_every() -> float:
    try:
        return max(0.0, float(os.environ.get("LANGRL_PROGRESS_EVERY", "10")))
    except ValueError:
        return 10.0


@contextlib.contextmanager
def progress_bar(description: str, total: int, quiet: bool = False) -> Iterator[_Bar]:
    """A rich progress bar with rate and ETA on stderr (plain periodic lines when stderr is not a terminal: see the
    module docstring); silent when ``quiet`` or not rank 0."""
    from langrl.distributed import is_main_process

    if quiet or not is_main_process() or os.environ.get("LANGRL_QUIET"):
        yield _Bar(None, None)
        return
    if not sys.stderr.isatty():
        bar = LineBar(description, total, every=_progress_every())
        try:
            yield bar
        finally:
            bar.close()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(file=sys.stderr)
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.2f} it/s" if task.speed else "- it/s")

    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*cols, console=console, transient=False, refresh_per_second=4) as progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)


REPORTERS = ("none", "csv", "tensorboard", "wandb", "trackio")
_PACKAGES = {"tensorboard": ("tensorboard", "pip install 'langrl[tensorboard]' (or pip install tensorboard)"),
             "wandb": ("wandb", "pip install wandb"), "trackio": ("trackio", "pip install trackio")}
_REPORT: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("langrl_report_to", default=None)


def parse_report_to(values: list[str]) -> tuple[str, ...]:
    """``["tensorboard,wandb", "csv"]`` → ``("tensorboard", "wandb", "csv")``; unknown names, ``none`` with others and
    trackers whose library is not installed are errors naming ``--report-to``."""
    from langrl.errors import InputError

    names = [n.strip() for v in values for n in str(v).split(",") if n.strip()]
    for n in names:
        if n not in REPORTERS:
            raise InputError(f"expected one of {', '.join(REPORTERS)}, got {n!r}", field="report_to")
    if "none" in names and len(names) > 1:
        raise InputError("'none' cannot be combined with other trackers", field="report_to")
    for n in names:
        if n in _PACKAGES and importlib.util.find_spec(_PACKAGES[n][0]) is None:
            raise InputError(f"--report-to {n} needs the {_PACKAGES[n][0]} package, which is not installed; install "
                             f"it with: {_PACKAGES[n][1]}", field="report_to")
    return tuple(dict.fromkeys(names))


def use_report_to(names: tuple[str, ...] | None) -> None:
    """The trackers of this command's metric loggers (None: the default, TensorBoard when installed)."""
    _REPORT.set(None if names is None else tuple(names))


def report_to() -> tuple[str, ...] | None:
    return _REPORT.get()


class _Trackers:
    """wandb / trackio runs, through their own libraries (offline), one per logger."""

    def __init__(self, names: tuple[str, ...], out: Path):
        self.runs = []
        name = out.name
        if "wandb" in names:
            import wandb

            run = wandb.init(project=os.environ.get("WANDB_PROJECT", "langrl"), name=name,
                             mode=os.environ.get("WANDB_MODE", "offline"))
            self.runs.append(("wandb", run))
        if "trackio" in names:
            import trackio

            trackio.init(project=os.environ.get("TRACKIO_PROJECT", "langrl"), name=name)
            self.runs.append(("trackio", trackio))

    def log(self, step: int, metrics: dict) -> None:
        for kind, run in self.runs:
            run.log(metrics, step=step)

    def close(self) -> None:
        for kind, run in self.runs:
            run.finish()
        self.runs = []


class MetricsLogger:
    """Appends one row per logged step to ``out/metrics.csv`` (a ``step`` column + one per metric) and TensorBoard.

    Rows are appended; the CSV is rewritten whole (atomically) only when a new metric name appears, so columns stay
    aligned. On resume the existing rows up to the resumed step are kept and the file is rewritten with them at once:
    a run killed after logging a step but before its checkpoint left rows past that step, which the resumed run
    logs again (as ``truncate_samples`` does for ``samples.jsonl``).
    """

    def __init__(self, out: str | Path | None, enabled: bool = True, resume_step: int | None = None):
        self.enabled = enabled and out is not None
        self.rows: list[dict] = []
        self.columns: list[str] = ["step"]
        self.path = Path(out) / "metrics.csv" if out is not None else None
        self._tb = None
        self._trackers = None
        self.report = report_to()
        if not self.enabled:
            return
        if resume_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or ["step"])
                self.rows = [r for r in reader if int(r["step"]) <= resume_step]
            self._rewrite()
        self._tb_dir = Path(out) / "tb"
        self.resume_writing()
        if self.report and any(n in ("wandb", "trackio") for n in self.report):
            self._trackers = _Trackers(self.report, Path(out))

    def suspend(self) -> None:
        """Close open files before the output directory is swapped by a checkpoint."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def resume_writing(self) -> None:
        """(Re)open the TensorBoard writer (a new events file in ``tb/``)."""
        if not self.enabled or (self.report is not None and "tensorboard" not in self.report):
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self._tb_dir))
        except Exception:  # tensorboard not installed: CSV only (an explicit --report-to tensorboard was checked)
            self._tb = None

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step}
        new_column = False
        for k, v in metrics.items():
            v = float(v)
            row[k] = "" if math.isnan(v) else f"{v:.6g}"
            if k not in self.columns:
                self.columns.append(k)
                new_column = True
            if self._tb is not None and not math.isnan(v):
                self._tb.add_scalar(k, v, step)
        self.rows.append(row)
        if self._trackers is not None:
            self._trackers.log(step, {k: float(v) for k, v in metrics.items() if not math.isnan(float(v))})
        if new_column or len(self.rows) == 1 or not self.path.is_file():
            self.flush()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.columns, restval="").writerow(row)

    def flush(self) -> None:
        if not self.enabled:
            return
        self._rewrite()
        if self._tb is not None:
            self._tb.flush()

    def _rewrite(self) -> None:
        """The whole CSV from ``rows`` (atomically)."""
        from io import StringIO

        from langrl.io import atomic_write_text

        buf = StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, restval="")
        w.writeheader()
        w.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._trackers is not None:
            self._trackers.close()
