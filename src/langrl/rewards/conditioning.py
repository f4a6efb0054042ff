"""Preference conditioning (Rewards-in-Context, Yang et al. 2024; Conditioned Language Policies, Wang et al. 2024):
the weight vector w written into the prompt, so one policy serves every user's trade-off.

The documented prefix, put before the prompt text (and stripped before any reward function sees the prompt)::

    [w helpful=0.7 harmless=0.3] Q: Pim in Dorvik asks: how do I open the copper gate?

``[w``, then ``NAME=W`` for every objective in order (W printed with ``:g``, at most 4 significant digits), then
``] ``. A byte-level BPE tokenizer (``tiny``'s, GPT-2's, Llama 3's) decodes its tokens back to exactly this text, so the
prefix survives tokenisation intact.

The **compact** format (``condition_format: compact``) writes one letter per objective, in order, for w quantised to
twentieths (normalised to sum 1; level L = round(20·w_k) written as the letter ``"abcdefghijklmnopqrstu"[L]``)::

    [p,f] Q: Pim in Dorvik asks: how do I open the copper gate?        (w = 0.75, 0.25)

The letters are separated by commas, so a byte-level BPE tokenizer's pre-tokenizer (letters apart from punctuation)
cannot merge two of them, or a letter with a bracket, into one token: the prefix is 2k + 2 tokens on any such
tokenizer (6 for two objectives on ``tiny``, against 24 for the named one), each level one single-byte token. Grids of 1, 2, 4, 5, 10
and 20 steps are written exactly; other weights are rounded to the nearest 0.05 (and :func:`strip_prefix` reads back
the rounded w).

The **short** format (``condition_format: short``, the default) uses that the weights sum to 1: the levels of the
first k − 1 objectives (the last is 20 minus their sum), comma-separated, then a newline::

    p
    Q: Pim in Dorvik asks: how do I open the copper gate?              (w = 0.75, 0.25: "p\\n")

For two objectives that is one letter and a newline, 2 tokens on ``tiny`` (2k − 2 in general; the compact prefix
takes 2k + 2): a byte-level BPE pre-tokenizer keeps a newline apart from a letter and from the non-space text after
it, so the prefix stays its own tokens before any prompt that does not begin with whitespace (one that does may merge
with the newline; the text still decodes intact). w is quantised by largest remainders so the levels sum to 20
exactly (:func:`quantise_sum`). Ordinary text can begin with a letter and a newline, so a short prefix is read back
only when asked for (:func:`strip_prefix` with ``fmt="short"``).

The **byte** format (``condition_format: byte``) writes the same levels as the short one, each as one control
character of :data:`BYTES` (level L is ``BYTES[L]``: U+0001–U+0008 for 0–7, U+000E–U+001A for 8–20; no whitespace,
no NUL), and nothing else::

    \x16Q: Pim in Dorvik asks: how do I open the copper gate?           (w = 0.75, 0.25: BYTES[15] = "\x16")

k − 1 tokens (one for two objectives) on a byte-level BPE tokenizer that holds all 256 bytes and learnt no merge with
these characters (``tiny``'s: text never holds them); the prompt's own tokens are unchanged. A tokenizer may lack
some (SmolLM2's GGUF vocabulary drops U+0004, U+0006, U+0013, U+0014, U+0016), so :func:`byte_prefix_problems`
checks the policy's tokenizer, and ``auto`` (the default) picks ``byte`` where it holds and ``short`` elsewhere
(:func:`resolve_format`; the run saves the format it chose). Text does not begin with a control character, so a byte
prefix is read back whenever no format is named.

Training (``langrl rl --condition true``) draws w for each prompt uniformly from the simplex grid with
``condition_steps`` steps (:func:`langrl.rewards.weights.weight_grid`), seeded by (seed, step, prompt index), and the
prompt's reward is w·r over its objectives. At inference ``langrl sample --weights`` and ``langrl eval --weights``
write the user's w the same way, in the format the policy was trained with (:func:`saved_format`).
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from langrl.errors import InputError

_PREFIX = re.compile(r"^\[w((?: [A-Za-z0-9_.\-]+=[0-9.eE+\-]+)+)\] ")
LEVELS = "abcdefghijklmnopqrstu"
"""The compact format's letters: LEVELS[L] stands for w = L / 20."""
_COMPACT = re.compile(r"^\[([a-u](?:,[a-u])*)\] ")
_SHORT = re.compile(r"^([a-u](?:,[a-u])*)\n")
BYTES = "".join(map(chr, [*range(0x01, 0x09), *range(0x0E, 0x1B)]))
"""The byte format's characters: BYTES[L] stands for level L (w = L / 20); 21 control characters, none whitespace."""
_BYTE = re.compile("^([" + re.escape(BYTES) + "]+)")
FORMATS = ("names", "compact", "short", "byte")
CONFIG_FORMATS = ("auto",) + FORMATS
"""What a config may name: a format, or ``auto`` (:func:`resolve_format`)."""


def quantise(weights: Sequence[float]) -> list[int]:
    """Weights (k,) → levels (k,) in 0..20: L_k = round(20 · w_k / Σ_j w_j) (the compact prefix's letters).
    (0.75, 0.25) → (15, 5); (0.7, 0.3) → (14, 6); (2, 1) → 20·(2/3, 1/3) = (13.3, 6.7) → (13, 7)."""
    total = float(sum(weights))
    if not total > 0 or any(w < 0 for w in weights):
        raise InputError(f"conditioning weights must be non-negative and not all 0, got {list(weights)}",
                         field="weights")
    return [int(round(20 * w / total)) for w in weights]


def quantise_sum(weights: Sequence[float]) -> list[int]:
    """Weights (k,) → levels (k,) in 0..20 that sum to exactly 20 (the short prefix's): the largest-remainder
    rounding of x_k = 20 · w_k / Σ_j w_j (floors, then one more to the largest remainders; ties: the lower index).
    (0.75, 0.25) → (15, 5); (1/3, 1/3, 1/3) → x = 6.67 each → floors (6, 6, 6), 2 left → (7, 7, 6);
    (0.725, 0.275) → x = (14.5, 5.5), floors (14, 5), the tie → (15, 5)."""
    import math

    quantise(weights)  # the same checks: non-negative, not all 0
    total = float(sum(weights))
    x = [20 * w / total for w in weights]
    levels = [int(math.floor(v + 1e-9)) for v in x]
    order = sorted(range(len(x)), key=lambda k: (-(x[k] - levels[k]), k))
    for k in order[:20 - sum(levels)]:
        levels[k] += 1
    return levels


def weight_prefix(weights: Mapping[str, float], fmt: str = "names") -> str:
    """``{"helpful": 0.7, "harmless": 0.3}`` → ``"[w helpful=0.7 harmless=0.3] "`` (``fmt="compact"``: ``"[o,g] "``,
    the levels 14 and 6; ``fmt="short"``: ``"o\\n"``, the first level, the last being 20 − 14 = 6)."""
    if fmt == "compact":
        return "[" + ",".join(LEVELS[q] for q in quantise(list(weights.values()))) + "] "
    if fmt in ("short", "byte"):
        if len(weights) < 2:
            raise InputError(f"the {fmt} conditioning prefix needs at least 2 objectives, got {list(weights)}",
                             field="condition_format")
        first = quantise_sum(list(weights.values()))[:-1]
        return "".join(BYTES[q] for q in first) if fmt == "byte" else ",".join(LEVELS[q] for q in first) + "\n"
    if fmt != "names":
        raise InputError(f"expected a conditioning format in {FORMATS}, got {fmt!r}", field="condition_format")
    for name in weights:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise InputError(f"objective name {name!r}: a conditioning prefix needs names of letters, digits, _ . -",
                             field="weights")
    return "[w " + " ".join(f"{k}={float(v):.4g}" for k, v in weights.items()) + "] "


def condition_prompt(prompt, weights: Mapping[str, float], fmt: str = "names"):
    """The prompt with the weight prefix (``fmt``: one of :data:`FORMATS`): before the text, or before the first user
    message's content."""
    prefix = weight_prefix(weights, fmt)
    if isinstance(prompt, str):
        return prefix + prompt
    if isinstance(prompt, list):
        out, done = [], False
        for m in prompt:
            if not done and isinstance(m, dict) and m.get("role") == "user":
                m, done = {**m, "content": prefix + str(m.get("content", ""))}, True
            out.append(m)
        if done:
            return out
    raise InputError("a conditioned prompt must be text or a message list with a user message", field="prompt")


def parse_condition_weights(text: str | None, field: str = "weights") -> dict[str, float] | None:
    """``"helpful=0.7,harmless=0.3"`` → {name: w} for ``sample``/``eval --weights`` (by name: the policy was trained
    with those names; non-negative, not all 0); None for no text."""
    if not text:
        return None
    from langrl.rewards.weights import parse_weights

    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts or not all("=" in p for p in parts):
        raise InputError(f"expected NAME=W,... (the conditioned run's objective names), got {text!r}", field=field)
    return parse_weights(text, [p.split("=", 1)[0].strip() for p in parts], field=field)


def _keyed(levels: list[float], names: Sequence[str] | None) -> dict[str, float]:
    keys = list(names) if names is not None and len(names) == len(levels) else [str(i + 1) for i in range(len(levels))]
    return dict(zip(keys, levels))


def strip_prefix(text: str, names: Sequence[str] | None = None,
                 fmt: str | None = None) -> tuple[str, dict[str, float] | None]:
    """(the text without a leading weight prefix, its weights) or (text, None) when it has none. A compact or short
    prefix carries no names: its weights are keyed by ``names`` (default "1", "2", ...). ``fmt``: the format to read
    (None: ``byte``, ``compact`` or ``names``; a ``short`` prefix is read only with ``fmt="short"``, since ordinary
    text can begin with a letter and a newline)."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"expected a conditioning format in {FORMATS}, got {fmt!r}", field="condition_format")
    if fmt in ("short", "byte", None):  # the level formats: the first k − 1 levels written, the last implied
        m = (_SHORT if fmt == "short" else _BYTE).match(text)
        if m:
            first = ([LEVELS.index(x) for x in m.group(1).split(",")] if fmt == "short"
                     else [BYTES.index(x) for x in m.group(1)])
            if sum(first) <= 20:
                return text[m.end():], _keyed([q / 20 for q in first + [20 - sum(first)]], names)
        if fmt is not None:
            return text, None
    c = _COMPACT.match(text) if fmt in (None, "compact") else None
    if c:
        return text[c.end():], _keyed([LEVELS.index(x) / 20 for x in c.group(1).split(",")], names)
    if fmt == "compact":
        return text, None
    m = _PREFIX.match(text)
    if not m:
        return text, None
    pairs = [p.split("=", 1) for p in m.group(1).split()]
    return text[m.end():], {k: float(v) for k, v in pairs}


def sample_condition_weights(names: Sequence[str], count: int, *, seed: int, step: int,
                             steps: int = 10) -> list[dict[str, float]]:
    """``count`` weight vectors drawn uniformly (with replacement) from the simplex grid of ``steps`` steps over
    ``names``, one per prompt, from a generator seeded by (seed, step): the same draw whatever the number of ranks."""
    import random

    from langrl.rewards.weights import weight_grid

    grid = weight_grid(len(names), steps)
    rng = random.Random(f"condition|{seed}|{step}")  # a string seed: stable across runs and PYTHONHASHSEED
    return [dict(zip(names, grid[rng.randrange(len(grid))])) for _ in range(count)]


CONDITION_COLUMN = "condition_weights"
"""The row column that carries a conditioned prompt's w (popped before any reward function is called)."""


def condition_rows(rows: list[dict], names: Sequence[str], *, seed: int, step: int, steps: int = 10,
                   fmt: str = "names") -> list[dict]:
    """Copies of ``rows`` with a sampled w written before each prompt (in format ``fmt``) and kept in the
    ``condition_weights`` column (a list in the order of ``names``)."""
    ws = sample_condition_weights(names, len(rows), seed=seed, step=step, steps=steps)
    return [{**r, "prompt": condition_prompt(r["prompt"], w, fmt), CONDITION_COLUMN: list(w.values())}
            for r, w in zip(rows, ws)]


def saved_format(model: str) -> str:
    """The conditioning format a policy directory was trained with (its ``langrl_config.yaml``'s
    ``condition_format``; ``names`` when it records none, as every policy before the compact format)."""
    from pathlib import Path

    path = Path(str(model)) / "langrl_config.yaml"
    if not path.is_file():
        return "names"
    import yaml

    saved = yaml.safe_load(path.read_text()) or {}
    fmt = saved.get("condition_format") or "names"
    return fmt if fmt in FORMATS else "names"


def _prompt_text(prompt) -> str:
    if isinstance(prompt, list):  # the prefix goes before the first user message's content
        return next((str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user"), "")
    return str(prompt)


def byte_prefix_problems(tok, prompts: Sequence, k: int = 2) -> list[str]:
    """Why ``tok`` does not keep the byte prefix intact (empty: it does): every level alone must be one token that
    decodes back to itself, every pair of levels (k > 2 writes k − 1 of them in a row) two tokens, and before each of
    ``prompts`` (its text, or its first user message) the level's token followed by the prompt's own tokens."""
    def ids(text: str) -> list[int]:
        return list(tok(text, add_special_tokens=False)["input_ids"])

    alone = {c: ids(c) for c in BYTES}
    problems = [f"level {level} (U+{ord(c):04X}) is {len(alone[c])} tokens alone" for level, c in enumerate(BYTES)
                if len(alone[c]) != 1 or tok.decode(alone[c]) != c]
    if problems:
        return problems
    if k > 2 and any(len(ids(a + b)) != 2 for a in BYTES for b in BYTES):
        problems.append("two levels in a row merge into one token")
    for text in {_prompt_text(p) for p in prompts}:
        body = ids(text)
        for c in BYTES:
            joined = ids(c + text)
            if joined != alone[c] + body or tok.decode(joined) != c + text:
                problems.append(f"level U+{ord(c):04X} changes the tokens of the prompt {text[:40]!r}")
                break
    return problems


def resolve_format(fmt: str, tok, prompts: Sequence, k: int) -> str:
    """The format a conditioned run writes: ``auto`` → ``byte`` when :func:`byte_prefix_problems` finds none for
    ``tok`` and ``prompts`` (k objectives), else ``short``; ``byte`` is checked the same way (an InputError naming
    what breaks); any other format as given."""
    if fmt not in CONFIG_FORMATS:
        raise InputError(f"expected a conditioning format in {CONFIG_FORMATS}, got {fmt!r}", field="condition_format")
    if fmt not in ("auto", "byte"):
        return fmt
    problems = byte_prefix_problems(tok, prompts, k)
    if fmt == "byte" and problems:
        raise InputError("condition_format byte: this tokenizer does not keep the one-token prefix intact ("
                         + "; ".join(problems[:3]) + "); use --condition-format short (2 tokens a level) or auto",
                         field="condition_format")
    return "short" if problems else "byte"


def _finite(x: float) -> float:
    return x if x == x else float("-inf")  # a NaN score (a reward that could not score it) is never chosen


def best_per_weight(rewards: Sequence[Sequence[float]], grid: Sequence[Sequence[float]]) -> list[int]:
    """For each weight vector, the candidate it would choose: c*(w) = argmax_c Σ_k w_k r_ck (the scalarised reward
    of the conditioned policy, w·r), ties broken by the larger Σ_k r_ck (a response that costs w nothing and gives
    more on the unweighted axes), then by the lower index.

    Shapes: ``rewards`` (c, k), one row per candidate response; ``grid`` (g, k); returns (g,) candidate indices.
    Example: r = [(1, 0), (0, 1), (1, 1)]: w = (1, 0) scores 1, 0, 1 → a tie of 0 and 2, Σr 1 vs 2 → 2."""
    if not rewards:
        raise ValueError("best_per_weight: no candidates")
    out = []
    for w in grid:
        if len(w) != len(rewards[0]):
            raise ValueError(f"best_per_weight: {len(w)} weights for {len(rewards[0])} objectives")
        key = [(_finite(sum(wk * rk for wk, rk in zip(w, r))), _finite(sum(r)), -c) for c, r in enumerate(rewards)]
        out.append(-max(key)[2])
    return out
