"""Composing rewards: weighted sums over named objectives, clipping, running normalisation, NaN policy, timing.

A :class:`CompositeReward` calls each term's reward on the batch and returns every objective's *raw* column (for
logging and multi-objective work) plus a ``total`` column::

    total_b = Σ_k w_k · norm_k(clip_k(s_bk))        (k over objectives; a term's weight applies to all its columns)

``info["shaped"]`` holds the clipped/normalised (b, k) scores before weighting, ``info["weights"]`` the weight of each
objective (the ``w_k`` of the fine-grained formula, used by
:func:`langrl.rewards.segments.place_segment_rewards`; dense segment values are weighted only, never clipped or
normalised), ``info["time_s"]`` each reward's wall time, and ``info[name]`` each reward's own info.

NaN/inf policy: ``nan="error"`` (default) raises, naming the reward and sample; ``nan="skip"`` counts them per
objective in ``info["nonfinite"]``, sums the finite objectives only (TRL's ``nansum``) and leaves a NaN total where
no objective scored, flagged in ``info["valid"]`` (b,) bool.

Shapes: b batch, k objectives.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from langrl.errors import InputError
from langrl.rewards.protocol import RewardError, RewardFunction, RewardOutput


class RunningNorm:
    """Running mean and standard deviation of one objective (Chan et al.'s parallel update), NaN ignored.

    ``normalize(x) = (x - mean) / (std + eps)`` once two values have been seen; before that it returns ``x - mean``.
    """

    def __init__(self, eps: float = 1e-8):
        self.eps, self.count, self.mean, self.m2 = eps, 0, 0.0, 0.0

    def update(self, x: torch.Tensor) -> None:
        """Fold in the finite values of ``x`` (any shape)."""
        x = x[torch.isfinite(x)].double()
        n = x.numel()
        if n == 0:
            return
        mean_b, m2_b = x.mean().item(), ((x - x.mean()) ** 2).sum().item()
        total = self.count + n
        delta = mean_b - self.mean
        self.mean += delta * n / total
        self.m2 += m2_b + delta ** 2 * self.count * n / total  # Chan et al. (1979) pairwise update
        self.count = total

    @property
    def std(self) -> float:
        return (self.m2 / self.count) ** 0.5 if self.count > 1 else 1.0

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / (self.std + self.eps) if self.count > 1 else x - self.mean

    def state_dict(self) -> dict:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.mean, self.m2 = int(state["count"]), float(state["mean"]), float(state["m2"])


class Term:
    """One reward in a composite, with its weight, optional clip range and running normalisation.

    A Term is itself a RewardFunction (it calls through to the reward, unchanged); :func:`build_reward` returns one.
    """

    def __init__(self, reward: RewardFunction, weight: float = 1.0, clip: tuple[float, float] | None = None,
                 normalize: bool = False, spec: str | None = None):
        if clip is not None and not clip[0] <= clip[1]:
            raise InputError(f"reward {reward.name!r}: clip range must be lo:hi with lo <= hi, got {clip}")
        self.reward, self.weight, self.clip, self.normalize, self.spec = reward, float(weight), clip, normalize, spec

    @property
    def name(self) -> str:
        return self.reward.name

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        return self.reward(prompts, responses, **columns)

    def __repr__(self) -> str:
        return f"Term({self.spec or self.name!r}, weight={self.weight}, clip={self.clip}, normalize={self.normalize})"


class CompositeReward:
    """Several rewards → each objective's column plus a weighted ``total`` (see the module docstring)."""

    def __init__(self, terms: Sequence[RewardFunction | Term], nan: str = "error", name: str = "total"):
        if nan not in ("error", "skip"):
            raise InputError(f"nan policy must be 'error' or 'skip', got {nan!r}")
        if not terms:
            raise InputError("a composite reward needs at least one reward")
        self.terms = [t if isinstance(t, Term) else Term(t) for t in terms]
        self.nan, self.name = nan, name
        self.norms: dict[str, RunningNorm] = {}
        self.update_norm = True  # set False to normalise with frozen statistics (evaluation)
        self.timings: dict[str, float] = {t.name: 0.0 for t in self.terms}
        self.weights: dict[str, float] = {}

    @property
    def objective_names(self) -> list[str]:
        """The terms' names (one objective each for the built-in rewards), in order."""
        return [t.name for t in self.terms]

    def set_weights(self, weights, field: str = "weights") -> dict[str, float]:
        """Give each term a new weight: ``weights`` by position or ``{name: w}`` (validated by
        :func:`langrl.rewards.weights.check_weights`: one per term, non-negative, names that exist). Returns them."""
        from langrl.rewards.weights import check_weights

        checked = check_weights(weights, self.objective_names, field=field)
        for term in self.terms:
            term.weight = checked[term.name]
        return checked

    def _call_term(self, term: Term, prompts: list[str], responses: list[str], columns: dict) -> RewardOutput:
        try:
            out = term(prompts, responses, **columns)
        except (InputError, RewardError):
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the reward named
            raise RewardError(f"reward {term.name!r} failed: {type(e).__name__}: {e}", reward=term.name) from e
        if not isinstance(out, RewardOutput) or out.scores.shape[0] != len(responses):
            got = tuple(out.scores.shape) if isinstance(out, RewardOutput) else type(out).__name__
            raise RewardError(f"reward {term.name!r} returned {got} for {len(responses)} responses; expected a "
                              f"RewardOutput with scores of shape (b, k)", reward=term.name)
        return out

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        b = len(responses)
        if prompts is not None and len(prompts) != b:
            raise InputError(f"{len(prompts)} prompts for {b} responses")
        outs, time_s = [], {}
        for term in self.terms:
            t0 = time.perf_counter()
            outs.append(self._call_term(term, prompts, responses, columns))
            time_s[term.name] = time.perf_counter() - t0
            self.timings[term.name] = self.timings.get(term.name, 0.0) + time_s[term.name]
        names = [n for o in outs for n in o.names]
        dupes = sorted({n for n in names if names.count(n) > 1} | ({self.name} & set(names)))
        if dupes:
            raise InputError(f"objective name(s) {', '.join(map(repr, dupes))} appear twice (or clash with "
                             f"{self.name!r}); rename a reward with name=... in its spec")
        raw = torch.cat([o.scores for o in outs], dim=1) if outs else torch.zeros(b, 0)  # (b, k)
        info: dict[str, Any] = {"time_s": time_s}
        self._check_finite(raw, names, info)
        shaped, weights = [], []
        for term, out in zip(self.terms, outs):
            for j, obj in enumerate(out.names):
                col = out.scores[:, j]
                col = torch.where(torch.isfinite(col), col, torch.full_like(col, float("nan")))
                if term.clip is not None:
                    col = col.clamp(term.clip[0], term.clip[1])
                if term.normalize:
                    norm = self.norms.setdefault(obj, RunningNorm())
                    if self.update_norm:
                        norm.update(col)
                    col = norm.normalize(col)
                shaped.append(col)
                weights.append(term.weight)
            if out.info:
                info[term.name] = out.info
        shaped_t = torch.stack(shaped, dim=1)  # (b, k)
        w = torch.tensor(weights, dtype=torch.float32)  # (k,)
        weighted = shaped_t * w
        total = weighted.nansum(dim=1)  # Σ_k w_k · shaped_bk over the finite objectives
        valid = torch.isfinite(shaped_t).any(dim=1)
        total = torch.where(valid, total, torch.full_like(total, float("nan")))
        self.weights = dict(zip(names, weights))
        info.update(shaped=shaped_t, weights=dict(self.weights), valid=valid)
        segments = None
        if any(o.segments is not None for o in outs):
            segments = [[s for o in outs if o.segments is not None for s in o.segments[i]] for i in range(b)]
        return RewardOutput(torch.cat([raw, total[:, None]], dim=1), names + [self.name], segments, info)

    def _check_finite(self, raw: torch.Tensor, names: list[str], info: dict) -> None:
        bad = ~torch.isfinite(raw)
        if not bad.any():
            return
        if self.nan == "error":
            i, j = (int(v) for v in bad.nonzero()[0])
            raise RewardError(f"reward objective {names[j]!r} gave a non-finite score ({raw[i, j].item()}) for "
                              f"sample {i}; use nan='skip' to count and skip such scores", reward=names[j], index=i)
        raw[bad] = float("nan")
        info["nonfinite"] = {n: int(bad[:, j].sum()) for j, n in enumerate(names) if bad[:, j].any()}

    def state_dict(self) -> dict:
        """Running-normalisation statistics and cumulative timings (for ``--resume``)."""
        return {"norms": {k: v.state_dict() for k, v in self.norms.items()}, "timings": dict(self.timings)}

    def load_state_dict(self, state: dict) -> None:
        self.norms = {}
        for k, v in state.get("norms", {}).items():
            self.norms[k] = RunningNorm()
            self.norms[k].load_state_dict(v)
        self.timings.update(state.get("timings", {}))

