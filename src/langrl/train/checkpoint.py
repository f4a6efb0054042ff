"""Checkpoints: a Hugging Face model directory + the resolved config + trainer state, swapped in atomically.

Layout of every trainer's ``--out`` directory (itself a valid model spec)::

    config.json, model.safetensors, tokenizer files   # AutoModelForCausalLM / AutoTokenizer load these
    adapter/                                          # LoRA adapter (when --lora-r > 0); the top level holds merged weights
    langrl_config.yaml                                # the resolved config of the run
    langrl_state.pt                                   # optimizer, scheduler, RNG states, step (for --resume)
    langrl_metrics.json                               # final summary
    metrics.csv, tb/                                  # per-step metrics (TensorBoard when installed)

The whole directory is built as a temporary sibling and swapped in (:func:`langrl.io.atomic_dir`), so a run killed
while saving leaves the previous checkpoint intact; the temporaries it leaves (``.NAME.PID-HOST.*.tmp``,
``.NAME.old-PID-HOST``) are removed when the next run in that ``--out`` starts (:func:`begin_run`).
"""
from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from langrl.errors import InputError
from langrl.io import atomic_dir, atomic_write_json, remove_stale_temps

STATE_FILE = "langrl_state.pt"


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def restore_state(state: dict | None, **parts) -> int:
    """Resume from a checkpoint's ``state``: each of ``parts`` (``optimizer=opt, scheduler=sched, ...``) loads the
    entry of the same name, then the RNG streams; returns the step to continue from (0 when ``state`` is None)."""
    if not state:
        return 0
    for name, obj in parts.items():
        obj.load_state_dict(state[name])
    set_rng_state(state["rng"])
    return state["step"]


def check_out_dir(out: str | Path, resume: str | None, overwrite: bool) -> None:
    """Refuse to start a fresh run over a non-empty ``out`` (its results would be replaced) unless asked to."""
    out = Path(out)
    if resume or overwrite or not out.exists():
        return
    if any(out.iterdir()):
        raise InputError(f"output directory {out} exists and is not empty; pass --resume {out} to continue the run "
                         "there, --overwrite true to replace it, or another --out")


def begin_run(out: str | Path) -> Path:
    """Make ``out`` (and its parents), and remove what killed runs left there: the temporaries of interrupted saves
    beside it and inside it whose process is gone (never a live run's), saying so on stderr (deleting files is never
    silent, even with --json). Every trainer calls it on rank 0 once its input is checked, before it writes anything
    into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    removed = remove_stale_temps(out.parent, out.name) + remove_stale_temps(out)
    if removed:
        print(f"langrl: removed {len(removed)} temporary file(s) left by killed runs: "
              + ", ".join(str(p) for p in removed), file=sys.stderr)
    return out


def unwrap(model):
    """The plain model under DDP / compile wrappers."""
    return getattr(model, "module", model)


def save_pretrained_merged(model, path: Path) -> None:
    """Save a loadable HF model; for a peft model, the merged weights at the top and the adapter in ``adapter/``."""
    model = unwrap(model)
    if hasattr(model, "peft_config"):
        import copy

        model.save_pretrained(path / "adapter")
        merged = copy.deepcopy(model).merge_and_unload()
        merged.save_pretrained(path)
    else:
        model.save_pretrained(path)


def save_checkpoint(out: str | Path, *, model, tokenizer, config_yaml: str, state: dict, extra_files: dict | None = None,
                    metrics_logger=None, save_model=None) -> None:
    """Write the whole checkpoint atomically. ``state`` holds optimizer/scheduler state dicts, step, etc.

    ``extra_files``: name -> bytes|str|Path written beside the model (e.g. reward-model heads).
    ``save_model(path)``: overrides how the model is saved (defaults to :func:`save_pretrained_merged`).
    """
    out = Path(out)
    if metrics_logger is not None:
        metrics_logger.suspend()
    try:
        with atomic_dir(out) as tmp:
            if out.is_dir():  # keep files written by the run (metrics.csv, tb/, plots) that we do not regenerate
                for item in out.iterdir():
                    if item.name in ("metrics.csv", "tb", "samples.jsonl", "warnings.jsonl") or item.suffix == ".png":
                        dst = tmp / item.name
                        shutil.copytree(item, dst) if item.is_dir() else shutil.copy2(item, dst)
            (save_model or (lambda p: save_pretrained_merged(model, p)))(tmp)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            (tmp / "langrl_config.yaml").write_text(config_yaml)
            torch.save({**state, "rng": rng_state()}, tmp / STATE_FILE)
            for name, content in (extra_files or {}).items():
                dst = tmp / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, Path):
                    shutil.copytree(content, dst) if content.is_dir() else shutil.copy2(content, dst)
                elif isinstance(content, bytes):
                    dst.write_bytes(content)
                elif isinstance(content, (dict, list)):
                    atomic_write_json(dst, content)
                else:
                    dst.write_text(str(content))
    finally:
        if metrics_logger is not None:
            metrics_logger.resume_writing()


def load_state(resume: str | Path) -> dict:
    """The trainer state saved by :func:`save_checkpoint` (restores RNG states as a side effect of ``restore_rng``)."""
    path = Path(resume) / STATE_FILE
    if not path.is_file():
        raise InputError(f"--resume {resume}: no {STATE_FILE} there (not a langrl checkpoint directory)")
    return torch.load(path, map_location="cpu", weights_only=False)
