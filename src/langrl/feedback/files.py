"""Reading and writing feedback files.

A feedback file is JSON lines, one record per line (blank lines are skipped), or a JSON list of records (the shape of
the QA-Feedback files), read by :mod:`langrl.jsonl` (UTF-8, a BOM dropped, the line-size limit, finite numbers, a
regular file). Line numbers in errors are the line a record starts on. With ``on_error="fail"`` the first bad
record raises :class:`InputError` as ``path:line: field 'x': expected ...``; with ``on_error="skip"`` bad records are
left out, listed in ``FeedbackFile.skipped`` and copied, as they were, to a rejects file (``NAME.rejects.jsonl`` next
to the input unless given) so they can be fixed and read again. A JSON list that is itself broken cannot be skipped
past and always raises.

Writing is atomic and round-trips every kind: ``read_feedback(write_feedback(p, recs))`` gives records equal to
``recs``. Human ranking strings are written in canonical spacing (``"B > C = D > A"``), tier order kept.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from langrl.errors import InputError
from langrl.feedback.formats import FORMATS, convert
from langrl.feedback.parse import FieldError, check_kind, parse_record, show
from langrl.feedback.records import KINDS, Record
from langrl.io import atomic_write_jsonl, atomic_write_text
from langrl.jsonl import Row, iter_records


@dataclass
class FeedbackFile:
    """The records read from one source, and the bad lines left out (``(line, reason)``) when skipping."""

    path: str
    records: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    rejects_path: str | None = None

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def by_kind(self) -> dict[str, int]:
        """How many records of each kind, in the order of ``KINDS`` (kinds with none left out)."""
        counts = Counter(r.kind for r in self.records)
        return {k: counts[k] for k in KINDS if counts[k]}

    def of_kind(self, kind: str) -> list[Record]:
        """The records of one kind, in file order."""
        return [r for r in self.records if r.kind == check_kind(kind)]

    def report(self) -> str:
        """Each skipped record as ``path:line: reason``, then :meth:`summary` (with the count)."""
        return "".join(f"{self.path}:{line}: {reason}\n" for line, reason in self.skipped) + self.summary()

    def summary(self) -> str:
        """One line (two when lines were skipped): how many records of which kinds, and how many bad lines and why."""
        kinds = ", ".join(f"{k} {n}" for k, n in self.by_kind().items()) or "none"
        text = f"{self.path}: {len(self.records)} records ({kinds})"
        if not self.skipped:
            return text
        first_line: dict[str, int] = {}
        counts: Counter = Counter()
        for line, reason in self.skipped:
            # group reasons that differ only in the value seen: cut ", got ..." and " (details)"
            group = reason.split(", got ")[0].split(" (")[0]
            first_line.setdefault(group, line)
            counts[group] += 1
        why = "; ".join(f"{n}x {reason} (first at line {first_line[reason]})" for reason, n in counts.most_common(3))
        more = len(counts) - 3
        where = f", written to {self.rejects_path}" if self.rejects_path else ""
        return (f"{text}\nskipped {len(self.skipped)} bad line(s){where}: {why}"
                + (f"; and {more} other reason(s)" if more > 0 else ""))


def _file_items(path: Path):
    """The records of a feedback file (JSON lines, or a JSON list), bad ones included: :mod:`langrl.jsonl` rows."""
    return iter_records(path, "feedback file")


def _check_options(kind, fmt, on_error) -> None:
    if kind is not None:
        try:
            check_kind(kind)
        except FieldError as e:
            raise InputError(e.reason, field="kind") from None
    if fmt not in FORMATS:
        raise InputError(f"expected one of {', '.join(FORMATS)}, got {show(fmt)}", field="fmt")
    if on_error not in ("fail", "skip"):
        raise InputError(f"expected 'fail' or 'skip', got {show(on_error)}", field="on_error")


def _collect(rows: Iterable[Row], source: str, kind, fmt, on_error, rejects_path) -> FeedbackFile:
    out = FeedbackFile(path=source)
    rejected = []
    for row in rows:
        try:
            if not row.ok:
                raise FieldError(row.field, row.reason)
            out.records.extend(convert(row.value, fmt, kind))
        except FieldError as e:
            if on_error == "fail":
                raise InputError(e.reason, path=source, line=row.line, field=e.field) from None
            out.skipped.append((row.line, str(e)))
            if row.raw is not None:  # a line over the size limit is not kept, so not copied
                rejected.append(row.raw)
    if rejected and rejects_path is not None:
        atomic_write_text(rejects_path, "".join(r + "\n" for r in rejected))
        out.rejects_path = str(rejects_path)
    return out


def default_rejects_path(path: str | os.PathLike) -> Path:
    """Where the bad lines of ``path`` go: ``data/fb.jsonl`` -> ``data/fb.rejects.jsonl``."""
    path = Path(path)
    return path.with_name(path.stem + ".rejects.jsonl")


def read_feedback(path: str | os.PathLike, kind: str | None = None, fmt: str = "auto", on_error: str = "fail",
                  rejects_path: str | os.PathLike | None = None) -> FeedbackFile:
    """Read and validate a feedback file.

    ``kind``: read every record as this kind (for QA-Feedback: keep only the records of this kind, ``"ranking"``
    turning its preferences into rankings); ``None`` tells the kind from each record's fields.
    ``fmt``: ``"langrl"``, ``"trl"``, ``"hh"``, ``"qa-feedback"`` (see :mod:`langrl.feedback.formats`), or ``"auto"``
    to tell from each record's fields.
    ``on_error``: ``"fail"`` raises at the first bad record; ``"skip"`` leaves bad records out and writes them to
    ``rejects_path`` (default :func:`default_rejects_path`).
    """
    _check_options(kind, fmt, on_error)
    if on_error == "skip" and rejects_path is None:
        rejects_path = default_rejects_path(path)
    return _collect(_file_items(Path(path)), str(path), kind, fmt, on_error, rejects_path)


def read_rows(rows: Iterable[dict], kind: str | None = None, fmt: str = "auto", on_error: str = "fail",
              source: str = "<rows>", rejects_path: str | os.PathLike | None = None) -> FeedbackFile:
    """Like :func:`read_feedback` for rows already in memory (a list of dicts, a Hugging Face ``Dataset``).

    Errors name ``source:N`` with N the 1-based row number; skipped rows go to ``rejects_path`` only if given.
    """
    _check_options(kind, fmt, on_error)
    items = (Row(source, n, json.dumps(row, ensure_ascii=False, default=str), row) for n, row in enumerate(rows, 1))
    return _collect(items, source, kind, fmt, on_error, rejects_path)


def write_feedback(path: str | os.PathLike, records: Iterable[Record]) -> int:
    """Write records as langrl JSON lines, atomically; returns how many were written.

    Each record is validated first, so a file written here always reads back; a bad record raises
    :class:`InputError` naming the line it would have had.
    """
    rows = []
    for n, rec in enumerate(records, 1):
        row = rec.to_dict()
        try:
            parse_record(row, rec.kind)
        except FieldError as e:
            raise InputError(e.reason, path=str(path), line=n, field=e.field) from None
        rows.append(row)
    atomic_write_jsonl(path, rows)
    return len(rows)
