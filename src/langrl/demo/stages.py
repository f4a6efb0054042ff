"""Stage caching and scheduling for ``langrl demo``: each stage writes its outputs under ``OUT/NAME/`` and a
``done.json`` last.

A stage whose ``done.json`` exists (with the same key) is skipped on the next run, so an interrupted demo resumes at the
stage it was in; a stage that failed half-way left no ``done.json`` and simply runs again. The key hashes the stage's
settings AND the keys of the stages it reads (``inputs``): a changed upstream stage re-runs everything downstream of it,
so a cached result is never stale.

The ``inputs`` make the stages a graph. With ``jobs`` = 1 each stage runs in this process when it is declared. With
``jobs`` > 1 a declared stage is queued and runs in a forked worker process as soon as its inputs are done, up to
``jobs`` at once, each worker with ``threads`` torch threads; :meth:`Stages.wait` blocks until every queued stage has
finished. Every stage seeds the global RNGs from its own key before it runs, so its result does not depend on which
stages ran before it in the same process: a parallel run gives a sequential run's results.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from pathlib import Path
from typing import Callable

from langrl.errors import InputError
from langrl.io import atomic_write_json

INPUT_ERROR_EXIT = 3  # a worker whose stage refused its input (InputError) exits with this and writes error.json


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def default_jobs() -> int:
    """2 workers on a machine with at least 2 cores, else 1."""
    return 2 if len(os.sched_getaffinity(0)) >= 2 else 1


def seed_everything(key: str) -> None:
    """Seed Python's, NumPy's and torch's global RNGs from a stage key."""
    import random

    import numpy as np
    import torch

    seed = int(key[:8], 16)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _exit(code: int) -> None:
    """End a forked worker without running the parent's exit handlers, its output flushed first."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


SFT_SAVE_EVERY = 500  # steps between an SFT stage's checkpoints (a killed stage continues from the last one)
RL_SAVE_EVERY = 20  # iterations between an online run's checkpoints (likewise)


def mark_started(stage_dir: Path, key: str) -> None:
    """Record in ``stage_dir/started.json`` that a run of the settings ``key`` starts there, and whether what an
    earlier, killed run left in the folder is of the same settings (then :func:`resumable` is True)."""
    started = stage_dir / "started.json"
    previous = json.loads(started.read_text()).get("key") if started.is_file() else None
    atomic_write_json(started, {"key": key, "resumable": previous == key})


def resumable(stage_dir: Path) -> bool:
    """True when the stage now running in ``stage_dir`` may continue from a checkpoint a killed run of the same
    settings left there (a stage whose trainer saves checkpoints, e.g. the SFT, passes ``--resume`` then)."""
    started = Path(stage_dir) / "started.json"
    return started.is_file() and bool(json.loads(started.read_text()).get("resumable"))


def checkpoint_to_resume(stage_dir: Path) -> str | None:
    """``stage_dir/model`` when it holds a checkpoint a killed run of the same settings left (:func:`resumable`): the
    ``--resume`` of a stage whose trainer writes its checkpoints there; else None (start afresh)."""
    from langrl.train.checkpoint import STATE_FILE

    ckpt = Path(stage_dir) / "model"
    return str(ckpt) if resumable(stage_dir) and (ckpt / STATE_FILE).is_file() else None


class Stages:
    """Runs named stages once each, recording their results and wall times."""

    def __init__(self, out: Path, log: Callable[[str], None] = print, jobs: int = 1, threads: int | None = None,
                 all_threads: int | None = None):
        """``threads``: torch threads of a worker; ``all_threads``: of a worker that starts with nothing else running
        or queued (e.g. the final evaluation), which has the machine to itself."""
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.jobs = max(1, jobs)
        self.threads = threads
        self.all_threads = all_threads or threads
        self.results: dict[str, dict] = {}
        self.seconds: dict[str, float] = {}
        self.keys: dict[str, str] = {}
        self.settings: dict[str, dict] = {}  # each declared stage's settings (a control reads its RL run's plan)
        self.errors: dict[str, str] = {}  # stages that refused their input (InputError), and what they said
        self._queue: list[tuple] = []
        self._running: dict[int, tuple[str, bool]] = {}  # worker pid: (stage, exclusive)
        self._failed: list[str] = []

    def run(self, name: str, settings: dict, fn: Callable[[Path], dict], inputs: tuple[str, ...] = (),
            exclusive: bool = False) -> dict | None:
        """Run ``fn(stage_dir) -> result dict`` unless a finished run with the same settings and inputs exists.

        ``inputs``: the names of the (already declared) stages whose outputs ``fn`` reads. ``exclusive``: with
        ``jobs`` > 1, start only when no other stage runs, with every core (``all_threads``). Returns the result, or
        with ``jobs`` > 1 None when the stage was queued (its result is in ``results`` after :meth:`wait`).
        """
        missing = [i for i in inputs if i not in self.keys]
        if missing:
            raise ValueError(f"stage {name}: input stage(s) {', '.join(missing)} have not run")
        stage_dir = self.out / name
        done = stage_dir / "done.json"
        key = settings_key({"settings": settings, "inputs": {i: self.keys[i] for i in inputs}})
        self.keys[name], self.settings[name] = key, settings
        if done.is_file():
            saved = json.loads(done.read_text())
            if saved.get("key") == key:
                self.log(f"[demo] {name}: cached ({saved['seconds']:.0f}s when it ran)")
                self.results[name], self.seconds[name] = saved["result"], saved["seconds"]
                return saved["result"]
        if self.jobs > 1:
            self._queue.append((name, key, settings, fn, inputs, exclusive))
            self._pump()
            return None
        stage_dir.mkdir(parents=True, exist_ok=True)
        mark_started(stage_dir, key)
        self.log(f"[demo] {name}: running")
        t0 = time.time()
        seed_everything(key)
        try:
            result = fn(stage_dir)
        except InputError as err:
            self.errors[name] = str(err)
            raise
        seconds = time.time() - t0
        atomic_write_json(done, {"key": key, "settings": settings, "seconds": seconds, "result": result})
        self.results[name], self.seconds[name] = result, seconds
        self.log(f"[demo] {name}: done in {seconds:.0f}s")
        return result

    def wait(self) -> None:
        """Block until every queued stage has finished (jobs > 1); raise if one failed (after the others stop)."""
        try:
            while self._queue or self._running:
                self._pump()
                if self._running:
                    time.sleep(0.2)
                elif self._queue:  # nothing runs and nothing can start: only stages after a failed one are left
                    for name, *_ in self._queue:
                        self.errors.setdefault(name, "an input stage failed")
                    self._queue.clear()
        except BaseException:
            for pid in list(self._running):
                os.kill(pid, 15)
                os.waitpid(pid, 0)
            self._running.clear()
            raise
        if self._failed:
            raise RuntimeError(f"demo: stage(s) {', '.join(self._failed)} failed (the traceback is above)")

    # ---- the scheduler (jobs > 1)
    def _set_threads(self, threads: int | None = None) -> None:
        threads = threads or self.all_threads
        if threads:
            import torch

            torch.set_num_threads(threads)

    def _pump(self) -> None:
        """Reap finished workers, then start every queued stage whose inputs are done, up to ``jobs`` at once."""
        for pid in list(self._running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._reap(self._running.pop(pid)[0], os.waitstatus_to_exitcode(status))
        for item in list(self._queue):
            name, key, settings, fn, inputs, exclusive = item
            if any(i in self.errors for i in inputs):
                self.errors[name] = f"input stage {next(i for i in inputs if i in self.errors)} refused its input"
                self._queue.remove(item)
            elif not self._failed and len(self._running) < self.jobs and all(i in self.results for i in inputs) \
                    and not (exclusive and self._running) and not any(e for *_, e in self._running.values()):
                self._queue.remove(item)
                self._start(name, key, settings, fn, exclusive)

    def _start(self, name: str, key: str, settings: dict, fn: Callable[[Path], dict], exclusive: bool) -> None:
        stage_dir = self.out / name
        stage_dir.mkdir(parents=True, exist_ok=True)
        (stage_dir / "error.json").unlink(missing_ok=True)
        mark_started(stage_dir, key)
        threads = self.all_threads if exclusive else self.threads
        self.log(f"[demo] {name}: running ({len(self._running) + 1} of {self.jobs} workers busy, "
                 f"{threads or 'default'} torch thread(s))")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._set_threads(threads)
                seed_everything(key)
                t0 = time.time()
                result = fn(stage_dir)
                atomic_write_json(stage_dir / "done.json", {"key": key, "settings": settings,
                                                            "seconds": time.time() - t0, "result": result})
                code = 0
            except InputError as err:
                atomic_write_json(stage_dir / "error.json", {"error": str(err)})
                code = INPUT_ERROR_EXIT
            except BaseException:
                traceback.print_exc()
            finally:
                _exit(code)
        self._running[pid] = (name, exclusive)

    def _reap(self, name: str, code: int) -> None:
        stage_dir = self.out / name
        if code == 0:
            saved = json.loads((stage_dir / "done.json").read_text())
            self.results[name], self.seconds[name] = saved["result"], saved["seconds"]
            self.log(f"[demo] {name}: done in {saved['seconds']:.0f}s")
        elif code == INPUT_ERROR_EXIT:
            self.errors[name] = json.loads((stage_dir / "error.json").read_text())["error"]
            self.log(f"[demo] {name}: refused its input: {self.errors[name]}")
        else:
            self._failed.append(name)
            self.log(f"[demo] {name}: failed (exit {code})")
