"""Hugging Face ``datasets`` inputs, read as rows of the one reader (:mod:`langrl.jsonl`) so every validator, and every
``path:row: field`` error, is the same as for a JSON-lines file.

A data argument (``--data``, ``--prompts``, ...) is a ``datasets`` source when it is:

- a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (``state.json`` /
  ``dataset_dict.json`` inside);
- a ``.parquet``, ``.csv`` or ``.arrow`` file (JSON and JSON lines stay with langrl's own reader, which keeps line
  numbers);
- ``hf:OWNER/NAME`` (or a bare ``OWNER/NAME`` that is no path) for a hub dataset **already in the local cache**:
  it is loaded with ``HF_DATASETS_OFFLINE=1``, so nothing is ever downloaded.

Options for every data argument of a command (:func:`use_data_options`, set by the parser from ``--split NAME`` and
``--column NEW=OLD``): the split of a ``DatasetDict`` or hub dataset (default ``train``, or the only one), and column
renames applied to every record of every source, JSON lines included (``--column prompt=question``).

Each record is converted to JSON text and parsed back with the reader's own decoder, so the number rules (no NaN,
no infinities) and the line-size limit hold as for a file; errors name ``SOURCE:ROW`` (the row of the chosen split),
rows counted from 1.
"""
from __future__ import annotations

import contextvars
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from langrl.errors import InputError

INSTALL = "pip install 'langrl[hf]' (or pip install datasets)"
FILE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
_HUB = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class DataOptions:
    split: str | None = None
    columns: dict = field(default_factory=dict)  # new name -> source column


_OPTIONS: contextvars.ContextVar[DataOptions] = contextvars.ContextVar("langrl_data_options", default=DataOptions())


def parse_columns(specs: list[str]) -> dict[str, str]:
    """``["prompt=question", ...]`` → ``{"prompt": "question"}``; a malformed one is an error naming ``--column``."""
    out = {}
    for spec in specs:
        new, eq, old = str(spec).partition("=")
        if not eq or not new.strip() or not old.strip():
            raise InputError(f"expected NEW=OLD (e.g. prompt=question), got {spec!r}", field="column")
        out[new.strip()] = old.strip()
    return out


def use_data_options(split: str | None = None, columns: dict | None = None) -> None:
    """Set the split and column mapping the data readers of this command apply (the parser calls it)."""
    _OPTIONS.set(DataOptions(split, dict(columns or {})))


def data_options() -> DataOptions:
    return _OPTIONS.get()


def rename_columns(rec, mapping: dict[str, str]):
    """``rec`` with ``mapping``'s columns renamed (new ← old); a record without the old column is left as it is."""
    if not mapping or not isinstance(rec, dict):
        return rec
    out = {k: v for k, v in rec.items() if k not in mapping.values() or k in mapping}
    for new, old in mapping.items():
        if old in rec:
            out[new] = rec[old]
    return out


def is_dataset_source(path) -> bool:
    """Whether ``path`` names a ``datasets`` source (see the module docstring) rather than a JSON(-lines) file."""
    name = str(path)
    if name.startswith("hf:"):
        return True
    p = Path(os.path.expanduser(name))
    if p.is_dir():
        return any((p / f).is_file() for f in ("state.json", "dataset_dict.json", "dataset_info.json"))
    if p.suffix.lower() in FILE_BUILDERS:
        return True
    return not p.exists() and not p.suffix and bool(_HUB.match(name))


def _datasets():
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise InputError(f"reading a Hugging Face dataset needs the datasets package; install it with: {INSTALL}") \
            from None
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _pick_split(obj, name: str, split: str | None):
    """A ``Dataset`` out of a ``DatasetDict`` (``split``, else ``train``, else the only one) and its label (``name``)."""
    if not hasattr(obj, "keys"):
        return obj, name
    splits = list(obj.keys())
    chosen = split or ("train" if "train" in splits else (splits[0] if len(splits) == 1 else None))
    if chosen not in splits:
        raise InputError(f"expected --split one of {', '.join(splits)}, got {split or 'nothing'}", path=name)
    return obj[chosen], name


def load_dataset_source(path, what: str = "data file", file_error=InputError):
    """(dataset, label for errors) of a ``datasets`` source; clear errors for a missing package, file or cache
    (``file_error(message, path=None)`` builds them: :func:`langrl.jsonl.file_error` names the flag)."""
    ds_mod = _datasets()
    name = str(path)
    split = data_options().split
    if name.startswith("hf:") or (not Path(name).exists() and _HUB.match(name)):
        hub = name[3:] if name.startswith("hf:") else name
        try:
            obj = ds_mod.load_dataset(hub, split=split) if split else ds_mod.load_dataset(hub)
        except Exception as e:  # offline: not in the cache (or no such dataset)
            raise file_error(f"hub dataset {hub!r} is not in the local Hugging Face cache and this project never "
                             f"downloads (no such file either); save it with Dataset.save_to_disk elsewhere and pass "
                             f"its directory ({type(e).__name__})") from None
        return (obj, name) if split else _pick_split(obj, name, None)
    p = Path(os.path.expanduser(name))
    if p.is_dir():
        try:
            obj = ds_mod.load_from_disk(str(p))
        except Exception as e:
            raise file_error(f"not a readable datasets directory ({type(e).__name__}: {e})", path=name) from None
        return _pick_split(obj, name, split)
    if not p.is_file():
        raise file_error(f"{what} not found: {name} (no such file)")
    try:
        obj = ds_mod.load_dataset(FILE_BUILDERS[p.suffix.lower()], data_files=str(p), split="train")
    except Exception as e:
        raise file_error(f"cannot read the {what} as {p.suffix[1:]} ({type(e).__name__}: {e})", path=name) from None
    return obj, name


def iter_dataset_records(path, what: str = "data file", file_error=InputError):
    """(label, row number from 1, record) of every record of a ``datasets`` source; :mod:`langrl.jsonl` turns each
    into a :class:`~langrl.jsonl.Row` through its own decoder and limits."""
    ds, label = load_dataset_source(path, what, file_error)
    for i, rec in enumerate(ds):
        yield label, i + 1, rec
