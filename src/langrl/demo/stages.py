"""Stage caching for ``langrl demo``: each stage writes its outputs under ``OUT/NAME/`` and a ``done.json`` last.

A stage whose ``done.json`` exists (with the same key) is skipped on the next run, so an interrupted demo resumes at the
stage it was in; a stage that failed half-way left no ``done.json`` and simply runs again. The key hashes the stage's
settings AND the keys of the stages it reads (``inputs``): a changed upstream stage re-runs everything downstream of it,
so a cached result is never stale.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

from langrl.io import atomic_write_json


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Stages:
    """Runs named stages once each, recording their results and wall times."""

    def __init__(self, out: Path, log: Callable[[str], None] = print):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.results: dict[str, dict] = {}
        self.seconds: dict[str, float] = {}
        self.keys: dict[str, str] = {}

    def run(self, name: str, settings: dict, fn: Callable[[Path], dict], inputs: tuple[str, ...] = ()) -> dict:
        """Run ``fn(stage_dir) -> result dict`` unless a finished run with the same settings and inputs exists.

        ``inputs``: the names of the (already run) stages whose outputs ``fn`` reads.
        """
        missing = [i for i in inputs if i not in self.keys]
        if missing:
            raise ValueError(f"stage {name}: input stage(s) {', '.join(missing)} have not run")
        stage_dir = self.out / name
        done = stage_dir / "done.json"
        key = settings_key({"settings": settings, "inputs": {i: self.keys[i] for i in inputs}})
        self.keys[name] = key
        if done.is_file():
            saved = json.loads(done.read_text())
            if saved.get("key") == key:
                self.log(f"[demo] {name}: cached ({saved['seconds']:.0f}s when it ran)")
                self.results[name], self.seconds[name] = saved["result"], saved["seconds"]
                return saved["result"]
        stage_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"[demo] {name}: running")
        t0 = time.time()
        result = fn(stage_dir)
        seconds = time.time() - t0
        atomic_write_json(done, {"key": key, "settings": settings, "seconds": seconds, "result": result})
        self.results[name], self.seconds[name] = result, seconds
        self.log(f"[demo] {name}: done in {seconds:.0f}s")
        return result
