"""The settings every trainer shares: one typed section that the five command configs inherit.

``langrl sft``, ``rm train``, ``dpo``, ``rl`` and ``agent sft|train`` all write an ``--out`` directory, seed their
run, take optimizer steps over micro-batches with AdamW, clip gradients, warm the rate up, checkpoint every
``save_every`` steps, stop early at ``stop_at`` and continue exactly from ``--resume``. Those fields live here once,
with one doc line each; a command inherits them and states only the defaults it changes::

    @dataclass
    class SFTConfig(TrainerConfig, defaults={"out": "runs/sft", "learning_rate": 1e-3, "warmup_steps": 10}):
        model: str = arg("tiny", "model spec ...")

The flags and YAML keys are the field names, exactly as before (``--learning-rate``, ``learning_rate:``): the
section changes where a field is declared, not how it is spelled. A command whose field means something more
specific (``langrl rl``'s ``max_steps`` counts iterations, each several optimizer steps) redeclares it with its own
doc, which dataclasses keep at the shared field's place. The trainer set-up (:mod:`langrl.train.setup`) reads its
settings from this section. ``--help`` shows them in its optimisation and checkpointing sections, and their aliases
(``--lr``, ``--max-grad-norm``, ``--save-steps``, ...) come from :mod:`langrl.config_names` like every field's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from langrl.config import arg
from langrl.errors import InputError


@dataclass
class TrainerConfig:
    out: str = arg("runs/train", "output directory (a loadable model dir + langrl state + metrics.csv)")
    seed: int = arg(0, "random seed (data order, initialisation, sampling)")
    max_steps: int = arg(100, "optimizer steps")
    micro_batch_size: int = arg(16, "examples per forward/backward on one rank (gradient accumulation below it)")
    learning_rate: float = arg(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = arg(0.0, "AdamW weight decay")
    warmup_steps: int = arg(0, "linear learning-rate warm-up, in optimizer steps")
    grad_clip: float = arg(1.0, "max global gradient norm (0 = no clipping)")
    save_every: int = arg(0, "steps between checkpoints (0 = only at the end)")
    stop_at: int = arg(0, "stop with a checkpoint after this many steps (split a run across jobs; 0 = run to the end)")
    resume: str | None = arg(None, "checkpoint directory to continue from exactly")
    overwrite: bool = arg(False, "replace a non-empty --out directory")

    def __init_subclass__(cls, defaults: dict | None = None, **kwargs):
        """``class C(TrainerConfig, defaults={"learning_rate": 1e-3})``: C's fields keep the shared doc, type and
        place, with C's default (re-declared here, before ``@dataclass`` reads the class body)."""
        super().__init_subclass__(**kwargs)
        if not defaults:
            return
        shared = {f.name: f for f in dataclasses.fields(TrainerConfig)}
        own = cls.__dict__.get("__annotations__", {})
        annotations = {}
        for name, value in defaults.items():
            if name not in shared:
                raise TypeError(f"{cls.__name__}: {name!r} is not a TrainerConfig field")
            if name in own:
                raise TypeError(f"{cls.__name__}: {name!r} is both re-declared and given in defaults")
            meta = dict(shared[name].metadata)  # doc, choices, aliases, --help group: all kept
            annotations[name] = shared[name].type
            setattr(cls, name, arg(value, meta.pop("doc"), **meta))
        cls.__annotations__ = {**annotations, **own}

    def check_trainer(self, prog: str) -> None:
        """Refuse values of the shared fields no trainer can use (each command checks its own fields)."""
        for name in ("micro_batch_size",):
            if getattr(self, name) < 1:
                raise InputError(f"{prog}: field '{name}': expected >= 1, got {getattr(self, name)}")
        for name in ("weight_decay", "warmup_steps", "grad_clip", "save_every", "stop_at", "learning_rate"):
            if getattr(self, name) < 0:
                raise InputError(f"{prog}: field '{name}': expected >= 0, got {getattr(self, name)}")
