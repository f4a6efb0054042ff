"""The built-in task protocol, and the small helpers every task shares.

A :class:`Task` is an offline, seed-deterministic source of text for every stage of the pipeline:

- ``corpus(n, seed)``: pretraining documents (prompt + completion), with the task's error types at controlled rates, so
  a small model pretrained on them makes those errors and RL has something to fix;
- ``sft_examples(n, seed)``: ``{"prompt", "completion"}`` pairs with good completions (a completion starts with a
  space and carries no end-of-sequence marker);
- ``prompts(split, n, seed)``: RL / evaluation rows ``{"prompt", <reward columns>, "meta"}``. The ``"train"`` and
  ``"eval"`` splits are disjoint by construction (each task assigns every underlying problem to one split by a stable
  hash), and ``corpus`` / ``sft_examples`` draw only from the ``"train"`` side;
- ``gold(rows, responses)``: the hidden evaluation, named per-response scores always including ``"gold"`` in [0, 1];
- ``annotator(seed, **noise)``: a simulated human (:class:`langrl.tasks.annotator.Annotator`) that emits every feedback
  kind of the project's JSONL contract, driven by the gold evaluator plus configurable noise.

Every prompt ends with the same delimiter, ``"\\nA:"``, so a tiny LM learns where the answer starts.
"""
from __future__ import annotations

import random
import re
import zlib
from abc import ABC, abstractmethod
from typing import Callable

from langrl.errors import InputError
from langrl.tasks.rng import make_rng  # noqa: F401  (re-exported: the tasks import it from here)

#: Every prompt of every built-in task ends with this, and every completion starts with a space after it.
ANSWER_DELIMITER = "\nA:"
SPLITS = ("train", "eval")
#: One in EVAL_MODULUS problems (by stable hash) belongs to the eval split; the rest to train.
EVAL_MODULUS = 5

_SENTENCE = re.compile(r"[^.!?]*[.!?]+|[^.!?]+$")


def split_of(key: str) -> str:
    """The split (``"train"`` or ``"eval"``) a problem with canonical ``key`` belongs to; stable across runs."""
    return "eval" if zlib.crc32(key.encode("utf-8")) % EVAL_MODULUS == 0 else "train"


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}", field="split")


def check_count(n: int, field: str = "n") -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InputError(f"expected a non-negative integer, got {n!r}", field=field)


def merge_rates(given: dict | None, defaults: dict, *, what: str = "error type", field: str = "error_rates") -> dict:
    """``defaults`` overridden by ``given``; an unknown key is an :class:`InputError` naming ``field``."""
    bad = sorted(set(given or {}) - set(defaults))
    if bad:
        raise InputError(f"unknown {what}(s) {', '.join(bad)}; valid: {', '.join(defaults)}", field=field)
    return {**defaults, **(given or {})}


def check_rows(rows: list[dict], responses: list[str]) -> None:
    """Refuse gold scoring on rows that do not come from ``Task.prompts`` (they lack ``meta``) or mismatched lengths."""
    if len(rows) != len(responses):
        raise InputError(f"got {len(rows)} rows but {len(responses)} responses; expected one response per row",
                         field="responses")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "meta" not in row or "prompt" not in row:
            raise InputError("row has no 'prompt'/'meta'; gold needs rows made by Task.prompts()",
                             field=f"rows[{i}]")


def sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text`` (ending at . ! ? or at the end of the text).

    Leading and trailing whitespace is excluded from each span; empty pieces are dropped.
    """
    out = []
    for m in _SENTENCE.finditer(text):
        start, end = m.start(), m.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            out.append((start, end))
    return out


def sample_unique(make: Callable[[random.Random], dict], key: Callable[[dict], str], n: int, rng: random.Random,
                  max_tries_per_item: int = 50) -> list[dict]:
    """Draw ``n`` items with ``make(rng)``, avoiding duplicate ``key`` values while the space allows.

    When the space is exhausted (``max_tries_per_item * n`` draws without a new key) duplicates are allowed, so the
    call always returns ``n`` items.
    """
    out, seen, tries = [], set(), 0
    while len(out) < n:
        item = make(rng)
        k = key(item)
        tries += 1
        if k in seen and tries < max_tries_per_item * max(n, 1):
            continue
        seen.add(k)
        out.append(item)
    return out


ORDINALS = ["first", "second", "third", "fourth", "fifth"]


def ordinal(i: int) -> str:
    """``ordinal(1) == "first"`` ... ``ordinal(5) == "fifth"``."""
    return ORDINALS[i - 1]


class Task(ABC):
    """Abstract built-in task. Subclasses set ``name`` and implement every ``@abstractmethod`` below.

    The annotator hooks (``utility``, ``label_spans``, ``refine``, ``critique_text``) turn the gold evaluator into
    the ground truth a simulated annotator perturbs; see :mod:`langrl.tasks.annotator`.
    """

    name: str = ""
    #: A rating is +1 when the gold utility is at least this (before label flips).
    rating_threshold: float = 0.5

    # ---- data -------------------------------------------------------------------------------------------------
    @abstractmethod
    def corpus(self, n: int, seed: int) -> list[str]:
        """``n`` pretraining documents (prompt + completion), with the task's error types at its stated rates."""

    @abstractmethod
    def sft_examples(self, n: int, seed: int) -> list[dict]:
        """``n`` dicts ``{"prompt", "completion"}`` with good completions (leading space, no EOS marker)."""

    @abstractmethod
    def prompts(self, split: str, n: int, seed: int) -> list[dict]:
        """``n`` rows ``{"prompt", <reward columns>, "meta"}`` from ``split`` ("train" or "eval")."""

    def _unique_rows(self, split: str, n: int, *rng_key) -> list[dict]:
        """``n`` rows with distinct prompts from the task's ``_row(rng, split)``, drawn from the stream
        ``make_rng(name, "prompts", split, *rng_key)`` (the shared body of the tasks' :meth:`prompts`)."""
        check_split(split)
        check_count(n)
        rng = make_rng(self.name, "prompts", split, *rng_key)
        return sample_unique(lambda r: self._row(r, split), lambda row: row["prompt"], n, rng)

    @abstractmethod
    def gold(self, rows: list[dict], responses: list[str]) -> dict[str, list[float]]:
        """Named per-response scores, always including ``"gold"`` (overall, higher is better, in [0, 1])."""

    # ---- annotator hooks ----------------------------------------------------------------------------------------
    def utility(self, row: dict, response: str) -> float:
        """The gold utility of one response (what a noiseless annotator ranks by)."""
        return self.gold([row], [response])["gold"][0]

    @abstractmethod
    def label_spans(self, row: dict, response: str) -> tuple[list[dict], list[str]]:
        """Noiseless span labels ``[{"start", "end", "category"}]`` (offsets into ``response``) and missing notes."""

    @abstractmethod
    def refine(self, row: dict, response: str) -> str:
        """A corrected version of ``response`` (what an annotator would write)."""

    @abstractmethod
    def critique_text(self, row: dict, response: str, spans: list[dict], missing: list[str]) -> str:
        """A one-paragraph critique naming the problems in ``spans`` and ``missing`` (or saying there are none)."""

    def annotator(self, seed: int, **noise):
        """A simulated annotator for this task; see :class:`langrl.tasks.annotator.Annotator` for the noise knobs."""
        from langrl.tasks.annotator import Annotator

        return Annotator(self, seed, **noise)

    def __repr__(self) -> str:
        return f"<Task {self.name}>"
