"""Progress bars (rich, with rate and ETA) and metric logs (``metrics.csv`` + TensorBoard when installed).

Only rank 0 writes: other ranks get a silent bar and a logger that drops everything.
"""
from __future__ import annotations

import contextlib
import csv
import math
import os
import sys
from pathlib import Path
from typing import Iterator


class _Bar:
    def __init__(self, progress, task):
        self._p, self._t = progress, task

    def update(self, completed: int, **fields) -> None:
        if self._p is None:
            return
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
        self._p.update(self._t, completed=completed, info=shown)


@contextlib.contextmanager
def progress_bar(description: str, total: int, quiet: bool = False) -> Iterator[_Bar]:
    """A rich progress bar with rate and ETA on stderr; silent when ``quiet`` or not rank 0."""
    from langrl.distributed import is_main_process

    if quiet or not is_main_process() or os.environ.get("LANGRL_QUIET"):
        yield _Bar(None, None)
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

    def suspend(self) -> None:
        """Close open files before the output directory is swapped by a checkpoint."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def resume_writing(self) -> None:
        """(Re)open the TensorBoard writer (a new events file in ``tb/``)."""
        if not self.enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self._tb_dir))
        except Exception:  # tensorboard not installed: CSV only
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
