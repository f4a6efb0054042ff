"""A simulated human annotator: a task's gold evaluator plus configurable, measurable noise.

Every method returns one feedback dict in the project's JSONL contract:

- ``rate``: ``{"prompt", "response", "rating": 1 | -1}``
- ``compare``: ``{"prompt", "chosen", "rejected"}`` or a tie ``{"prompt", "responses": [a, b], "tie": true}``
- ``rank``: ``{"prompt", "responses": [...], "ranking": [[i], [j, k], ...]}`` (tiers of indices, best to worst)
- ``spans``: ``{"prompt", "response", "spans": [{"start", "end", "category"}], "missing": [...], "corrected"}``
  (character offsets into ``response``)
- ``critique``: ``{"prompt", "response", "critique", "refinement"}``

Noise knobs (keyword arguments of ``Task.annotator(seed, **noise)``), with what each one touches:

- ``flip`` (default 0.05): probability that a rating's sign, a comparison's winner, or (in a ranking) the order of
  one random pair of adjacent tiers is flipped.
- ``temperature`` (default 0.1): Bradley-Terry temperature T on the gold utility g. A comparison prefers a with
  P(a > b) = sigmoid((g_a - g_b) / T); a ranking sorts g_i + T * Gumbel_i, which is the Plackett-Luce model with the
  same pairwise marginals. T = 0 is a deterministic annotator.
- ``intransitive`` (default 0.0): probability that a comparison is decided by a cyclic rock-paper-scissors rule on a
  hash of the two texts (class = crc32(text) mod 3; class c beats class c - 1 mod 3) instead of by gold, so the
  annotator's preferences contain cycles. Rankings cannot be cyclic and ignore it.
- ``tie_margin`` (default 0.02): comparisons whose gold utilities differ by at most this are ties; in a ranking,
  neighbours within this margin of their tier's first item share the tier.
- ``span_miss`` (default 0.05): probability that each span label and each missing note is omitted; ``critique``
  uses the same (noisy) labels, so it does not mention what the annotator missed.

Randomness is drawn per judgement from a generator seeded by ``(seed, kind, prompt, texts)``, so one annotator
always gives the same answer to the same question, whatever the order of calls.
"""
from __future__ import annotations

import math
import zlib

from langrl.errors import InputError
from langrl.tasks.rng import make_rng

NOISE_DEFAULTS = {"flip": 0.05, "temperature": 0.1, "intransitive": 0.0, "tie_margin": 0.02, "span_miss": 0.05}
_PROBABILITIES = ("flip", "intransitive", "span_miss")


def cyclic_class(text: str) -> int:
    """The rock-paper-scissors class (0, 1 or 2) of ``text`` used by intransitive judgements."""
    return zlib.crc32(text.encode("utf-8")) % 3


def cyclic_prefers(a: str, b: str) -> bool | None:
    """True if the cyclic rule prefers ``a`` over ``b``; None when both texts fall in the same class."""
    ca, cb = cyclic_class(a), cyclic_class(b)
    if ca == cb:
        return None
    return (ca - cb) % 3 == 1


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Annotator:
    """Simulated annotator for ``task``; see the module docstring for the noise knobs."""

    def __init__(self, task, seed: int, **noise):
        unknown = sorted(set(noise) - set(NOISE_DEFAULTS))
        if unknown:
            raise InputError(f"unknown noise knob(s) {', '.join(unknown)}; valid: {', '.join(NOISE_DEFAULTS)}",
                             field=unknown[0])
        knobs = {**NOISE_DEFAULTS, **noise}
        for name, value in knobs.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) or value < 0:
                raise InputError(f"expected a non-negative number, got {value!r}", field=name)
            if name in _PROBABILITIES and value > 1:
                raise InputError(f"expected a probability in [0, 1], got {value!r}", field=name)
        self.task, self.seed = task, seed
        self.flip = float(knobs["flip"])
        self.temperature = float(knobs["temperature"])
        self.intransitive = float(knobs["intransitive"])
        self.tie_margin = float(knobs["tie_margin"])
        self.span_miss = float(knobs["span_miss"])

    @property
    def noise(self) -> dict[str, float]:
        return {"flip": self.flip, "temperature": self.temperature, "intransitive": self.intransitive,
                "tie_margin": self.tie_margin, "span_miss": self.span_miss}

    def __repr__(self) -> str:
        return f"Annotator(task={self.task.name!r}, seed={self.seed}, " + \
            ", ".join(f"{k}={v}" for k, v in self.noise.items()) + ")"

    def _rng(self, kind: str, row: dict, *texts: str):
        return make_rng("annotator", self.task.name, self.seed, kind, row["prompt"], *texts)

    # ---- scalar feedback ------------------------------------------------------------------------------------
    def rate(self, row: dict, response: str) -> dict:
        """Thumbs up (+1) when gold >= the task's ``rating_threshold``, flipped with probability ``flip``."""
        good = self.task.utility(row, response) >= self.task.rating_threshold
        if self._rng("rate", row, response).random() < self.flip:
            good = not good
        return {"prompt": row["prompt"], "response": response, "rating": 1 if good else -1}

    def compare(self, row: dict, a: str, b: str) -> dict:
        """A pairwise preference (or a tie) between ``a`` and ``b``."""
        ga, gb = self.task.utility(row, a), self.task.utility(row, b)
        rng = self._rng("compare", row, a, b)
        u_cyclic, u_bt, u_flip = rng.random(), rng.random(), rng.random()  # always three draws: stable streams
        if abs(ga - gb) <= self.tie_margin:
            return {"prompt": row["prompt"], "responses": [a, b], "tie": True}
        cyc = cyclic_prefers(a, b) if u_cyclic < self.intransitive else None
        if cyc is not None:
            a_wins = cyc
        else:
            if self.temperature == 0:
                a_wins = ga > gb
            else:
                a_wins = u_bt < _sigmoid((ga - gb) / self.temperature)  # Bradley-Terry: P(a>b) = sigma((g_a-g_b)/T)
            if u_flip < self.flip:
                a_wins = not a_wins
        chosen, rejected = (a, b) if a_wins else (b, a)
        return {"prompt": row["prompt"], "chosen": chosen, "rejected": rejected}

    def rank(self, row: dict, responses: list[str]) -> dict:
        """A ranking of ``responses`` in tiers (best first), Plackett-Luce with temperature T on the gold utility."""
        if not responses:
            raise InputError("rank needs at least one response", field="responses")
        g = [self.task.utility(row, r) for r in responses]
        rng = self._rng("rank", row, *responses)
        noisy = []
        for i, gi in enumerate(g):
            gumbel = -math.log(-math.log(min(max(rng.random(), 1e-12), 1 - 1e-12)))
            noisy.append(gi + self.temperature * gumbel)  # Gumbel-max trick: sorting gives a Plackett-Luce draw
        order = sorted(range(len(g)), key=lambda i: (-noisy[i], i))
        tiers: list[list[int]] = []
        for i in order:
            if tiers and abs(g[i] - g[tiers[-1][0]]) <= self.tie_margin:
                tiers[-1].append(i)
            else:
                tiers.append([i])
        u_flip, u_where = rng.random(), rng.random()
        if len(tiers) >= 2 and u_flip < self.flip:
            j = int(u_where * (len(tiers) - 1))
            tiers[j], tiers[j + 1] = tiers[j + 1], tiers[j]
        return {"prompt": row["prompt"], "responses": list(responses), "ranking": tiers}

    # ---- fine-grained feedback ------------------------------------------------------------------------------
    def _noisy_labels(self, row: dict, response: str) -> tuple[list[dict], list[str]]:
        spans, missing = self.task.label_spans(row, response)
        rng = self._rng("spans", row, response)
        spans = [s for s in spans if rng.random() >= self.span_miss]
        missing = [m for m in missing if rng.random() >= self.span_miss]
        return sorted(spans, key=lambda s: (s["start"], s["end"])), missing

    def spans(self, row: dict, response: str) -> dict:
        """Span labels (offsets into ``response``), missing notes and a corrected response."""
        spans, missing = self._noisy_labels(row, response)
        return {"prompt": row["prompt"], "response": response, "spans": spans, "missing": missing,
                "corrected": self.task.refine(row, response)}

    def critique(self, row: dict, response: str) -> dict:
        """A natural-language critique naming the problems this annotator sees, and a refined response."""
        spans, missing = self._noisy_labels(row, response)
        return {"prompt": row["prompt"], "response": response,
                "critique": self.task.critique_text(row, response, spans, missing),
                "refinement": self.task.refine(row, response)}
