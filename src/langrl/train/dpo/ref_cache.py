"""Reference log-probs computed once per dataset and cached on disk.

The DPO family needs log π_ref(y|x) of every response, and π_ref never changes during a run, so it is computed once
(before the first step) and kept in ``$LANGRL_HOME/ref_logps/<key>.pt``. The key hashes:

- the reference model: its ``config.json`` and the bytes of its weight files (so a retrained model at the same path
  misses, and a copy of the same model elsewhere hits);
- the data *as the model sees it*: every (prompt ids, response ids) row in order, which covers the data file, the
  tokenizer and every tokenisation setting (max length, truncation, chat template, EOS);
- the dtype the log-probs were computed in, and a format version.

A second run on the same data (or ``--resume``, or ``langrl dpo reward``) reads the cache instead of running the
reference forward pass. Files are written atomically, so concurrent writers (two data-parallel ranks) are harmless.
"""
from __future__ import annotations

import hashlib
import json
import time
from array import array
from pathlib import Path
from typing import Callable

import torch

VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def model_fingerprint(model_dir: str | Path) -> str:
    """sha256 over a model directory's ``config.json`` and the contents of its top-level weight files."""
    model_dir = Path(model_dir)
    h = hashlib.sha256()
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and (p.name == "config.json"
                                                                       or p.suffix in WEIGHT_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"{model_dir}: no config.json or weight files to fingerprint")
    for p in files:
        h.update(p.name.encode() + b"\0" + _file_digest(p).encode() + b"\0")
    return h.hexdigest()


def rows_fingerprint(prompts: list[list[int]], responses: list[list[int]]) -> str:
    """sha256 over every (prompt ids, response ids) row, in order."""
    h = hashlib.sha256()
    for p, r in zip(prompts, responses):
        h.update(len(p).to_bytes(4, "little") + array("q", p).tobytes())
        h.update(len(r).to_bytes(4, "little") + array("q", r).tobytes())
    return h.hexdigest()


def cache_key(model_fp: str, rows_fp: str, dtype: str) -> str:
    blob = json.dumps({"model": model_fp, "rows": rows_fp, "dtype": dtype, "version": VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_dir() -> Path:
    from langrl.home import langrl_home

    return langrl_home() / "ref_logps"


def load(key: str, n_rows: int) -> torch.Tensor | None:
    """The cached (r,) log-probs for ``key``, or None (missing, unreadable or the wrong length)."""
    path = cache_dir() / f"{key}.pt"
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        logps = blob["logps"]
    except Exception:  # a damaged cache file is a miss, never an error
        return None
    return logps if logps.shape == (n_rows,) else None


def save(key: str, logps: torch.Tensor, meta: dict) -> Path:
    """Write the (r,) log-probs for ``key`` atomically (temp file + rename); returns the path."""
    import os
    import tempfile

    from langrl.io import owner_tag, remove_stale_temps

    path = cache_dir() / f"{key}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, key)  # what killed writers of this entry left
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"logps": logps.detach().cpu(), "meta": meta}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def reference_logps(prompts: list[list[int]], responses: list[list[int]], compute: Callable[[], torch.Tensor], *,
                    model_dir: str | Path, dtype: str = "float32", use_cache: bool = True,
                    write: bool = True, agree: Callable[[bool], bool] = bool) -> tuple[torch.Tensor, dict]:
    """(r,) reference log-probs of the rows, from the cache when possible, else ``compute()`` (then cached).

    Returns ``(logps, info)`` with info ``{"hit": bool, "seconds": float, "key": str | None, "path": str | None}``;
    ``seconds`` is the time to fingerprint + load, or to compute. ``write=False`` (other data-parallel ranks) reads but
    does not write. ``agree(hit) -> hit`` lets data-parallel ranks settle on one answer (all hit, or all compute).
    """
    t0 = time.perf_counter()
    key = None
    if use_cache:
        key = cache_key(model_fingerprint(model_dir), rows_fingerprint(prompts, responses), dtype)
        cached = load(key, len(prompts))
        if agree(cached is not None):
            return cached, {"hit": True, "seconds": time.perf_counter() - t0, "key": key,
                            "path": str(cache_dir() / f"{key}.pt")}
    logps = compute()
    if logps.shape != (len(prompts),):
        raise ValueError(f"compute(): expected {len(prompts)} log-probs, got shape {tuple(logps.shape)}")
    path = None
    if use_cache and write:
        path = str(save(key, logps, {"model_dir": str(model_dir), "rows": len(prompts), "dtype": dtype}))
    return logps, {"hit": False, "seconds": time.perf_counter() - t0, "key": key, "path": path}
