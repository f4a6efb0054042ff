"""One flag vocabulary across commands: the name each concept has everywhere, the other spellings accepted, and the
``--help`` sections. Read by the parser layer (:mod:`langrl.config`); the config dataclasses keep their field names
(what ``langrl_config.yaml`` records), so nothing here moves or renames a field.

- :data:`CONCEPTS`: a concept's one name and the field names commands use for it. ``--model`` is the model a command
  starts from in every command (``sample``/``sft``'s ``model``, ``rl``/``dpo``/``eval``'s ``policy``, ``rm train``'s
  ``base``); ``--samples-per-prompt`` is the responses per prompt (``sample``/``eval``'s ``n``). The field's own name
  stays an alias, so ``--policy`` and ``--base`` keep working.
- :data:`ALIASES`: other spellings, langrl's own (``--data`` for ``rl --prompts``) and those of TRL and
  ``transformers.TrainingArguments`` users type from habit. A TRL spelling prints a note naming the langrl flag.
- :data:`GROUPS`: the ``--help`` sections in order, each listing its fields most used first; a field not listed goes
  to "other options". ``arg(..., group=...)`` and ``arg(..., aliases=...)`` override per field.
"""
from __future__ import annotations

import sys

CONCEPTS: dict[str, tuple[str, ...]] = {
    "model": ("policy", "base"),
    "samples_per_prompt": ("n",),
}

# alias -> (langrl names tried in order, whether it is a TRL / TrainingArguments spelling)
ALIASES: dict[str, tuple[tuple[str, ...], bool]] = {
    "data": (("prompts",), False),
    "lr": (("learning_rate",), False),
    "model_name_or_path": (("model",), True),
    "dataset_name": (("data", "prompts"), True),
    "output_dir": (("out",), True),
    "per_device_train_batch_size": (("micro_batch_size",), True),
    "num_generations": (("samples_per_prompt",), True),
    "beta": (("kl_coef",), True),
    "max_completion_length": (("max_new_tokens",), True),
    "response_length": (("max_new_tokens",), True),
    "max_prompt_length": (("max_prompt_tokens",), True),
    "max_grad_norm": (("grad_clip",), True),
    "save_steps": (("save_every",), True),
    "eval_steps": (("eval_every",), True),
    "loss_type": (("loss",), True),
    "epsilon": (("clip_eps",), True),
    "cliprange": (("clip_eps",), True),
    "num_iterations": (("epochs",), True),
    "num_ppo_epochs": (("epochs",), True),
    "ref_model": (("ref",), True),
    "reward_funcs": (("reward",), True),
    "sft_model_path": (("model",), True),
}

GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("model", ("model", "policy", "base", "ref", "lora_r", "lora_alpha", "value_model")),
    ("data", ("data", "prompts", "task", "split", "column", "chat_template", "system_prompt", "num_prompts",
              "task_prompts", "task_examples", "kind", "fmt", "on_error", "max_length", "max_prompt_tokens",
              "truncate", "eval_fraction")),
    ("sampling", ("samples_per_prompt", "n", "max_new_tokens", "temperature", "top_p", "top_k", "stop",
                  "rollout_prompts")),
    ("reward", ("reward", "missing_eos_penalty", "reward_clip", "whiten_rewards", "reward_baseline", "normalize")),
    ("algorithm", ("algo", "loss", "epochs", "clip_eps", "value_clip_eps", "vf_coef", "entropy_coef", "gamma", "lam",
                   "whiten_advantages", "grpo_scale_std", "baseline_decay", "label_smoothing", "rpo_alpha",
                   "ipo_length_average", "desirable_weight", "undesirable_weight", "rating_threshold",
                   "reference_free", "mask_top_p", "mask_min_tokens", "mask_sync_every")),
    ("KL", ("kl_coef", "beta", "kl_estimator", "kl_in", "kl_controller", "kl_target", "kl_horizon", "ref_cache",
            "ref_batch_size")),
    ("optimisation", ("max_steps", "learning_rate", "batch_size", "prompts_per_step", "minibatch_size",
                      "micro_batch_size", "value_learning_rate", "weight_decay", "warmup_steps", "grad_clip",
                      "seed")),
    ("logging", ("report_to", "eval_every", "eval_prompts", "eval_num", "log_samples", "watch", "hacking_window",
                 "hacking_min_drop")),
    ("checkpointing", ("out", "save_every", "resume", "overwrite", "stop_at")),
]
OTHER = "other options"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class NameTable:
    """Every name a config accepts (flags and YAML keys, ``_`` form) → its field, with display names and notes."""

    def __init__(self, fields: dict):
        self.fields = list(fields)
        self._to_field: dict[str, str] = {n: n for n in fields}
        self._display: dict[str, str] = {n: n for n in fields}
        self._trl: set[str] = set()
        for concept, members in CONCEPTS.items():
            if concept in fields:
                continue
            for m in members:
                if m in fields:
                    self._to_field[concept] = m
                    self._display[m] = concept
                    break
        for name, f in fields.items():
            for a in getattr(f, "metadata", {}).get("aliases", ()) or ():
                self._to_field.setdefault(a.replace("-", "_"), name)
        for alias, (targets, trl) in ALIASES.items():
            if alias in self._to_field:
                continue
            for t in targets:
                if t in self._to_field:
                    self._to_field[alias] = self._to_field[t]
                    if trl:
                        self._trl.add(alias)
                    break

    def __contains__(self, name: str) -> bool:
        return name in self._to_field

    def field(self, name: str) -> str:
        return self._to_field[name]

    def display(self, field: str) -> str:
        """The name ``--help`` shows for ``field`` (its concept's name when it has one)."""
        return self._display[field]

    def shown(self) -> list[str]:
        """The valid keys as shown (one per field)."""
        return [self._display[f] for f in self.fields]

    def accepted(self) -> list[str]:
        return list(self._to_field)

    def aliases_of(self, field: str) -> list[str]:
        """The other accepted flags of ``field`` (TRL spellings marked)."""
        return [_flag(a) + (" (TRL)" if a in self._trl else "") for a, f in self._to_field.items()
                if f == field and a != self._display[field]]

    def note_alias(self, name: str, prog: str) -> None:
        """A TRL spelling was used: say which langrl flag it is (on stderr; the run goes on)."""
        if name in self._trl:
            print(f"note: {prog}: {_flag(name)} is TRL's name; langrl calls it "
                  f"{_flag(self._display[self._to_field[name]])}", file=sys.stderr)


def name_table(fields: dict) -> NameTable:
    return NameTable(fields)


def grouped(fields: dict) -> list[tuple[str, list[str]]]:
    """The fields in ``--help`` order: (section, field names) for each non-empty section, most used first."""
    rank = {}
    for gi, (group, names) in enumerate(GROUPS):
        for ni, n in enumerate(names):
            rank.setdefault(n, (gi, ni))
    order = [g for g, _ in GROUPS] + [OTHER]
    out: dict[str, list[tuple[tuple, str]]] = {g: [] for g in order}
    for i, (name, f) in enumerate(fields.items()):
        meta_group = getattr(f, "metadata", {}).get("group")
        if meta_group:
            out.setdefault(meta_group, []).append(((0, i), name))
        elif name in rank:
            out[order[rank[name][0]]].append(((rank[name][1], i), name))
        else:
            out[OTHER].append(((i, i), name))
    return [(g, [n for _, n in sorted(items)]) for g, items in out.items() if items]
