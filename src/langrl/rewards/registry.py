"""The reward registry and spec strings: ``name:key=value,key=value`` → a reward.

Every reward has a registry entry (name, one-line doc, parameters with defaults) used by :func:`build_reward`,
``langrl reward list`` and ``--reward`` flags. Other modules add their own with :func:`register_reward` (the factory's
keyword parameters, their defaults and its docstring's first line are read from its signature unless given).

Spec syntax: ``bleu``, ``rouge:type=rougeL,measure=f``, ``regex:pattern="^\\d{1,3}$",mode=fullmatch``. A value
containing ``,`` must be quoted with ``"`` or ``'``. Every spec also takes the composition keys ``weight=`` (float,
default 1), ``clip=lo:hi``, ``normalize=true`` (running mean/std) and ``name=`` (rename the objective).
"""
from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from langrl.errors import InputError
from langrl.rewards.compose import CompositeReward, Term
from langrl.rewards.protocol import RewardFunction

REQUIRED = inspect.Parameter.empty
COMMON_KEYS = {"weight": "weight of the objective(s) in the total (default 1)",
               "clip": "clip the score to lo:hi before weighting",
               "normalize": "running mean/std normalisation before weighting (true/false)",
               "name": "objective name (default: the reward's name)"}
# modules that register rewards when imported (imported on first use of the registry; missing ones are skipped)
PLUGIN_MODULES: list[str] = [  # modules that register rewards on import
    "langrl.rewards.learned", "langrl.rewards.critic", "langrl.loop.reward"]


@dataclass
class Param:
    name: str
    type: type
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def show(self) -> str:
        return f"{self.name} ({self.type.__name__}, required)" if self.required else f"{self.name}={self.default!r}"


@dataclass
class RewardEntry:
    name: str
    factory: Callable[..., RewardFunction]
    doc: str
    params: dict[str, Param] = field(default_factory=dict)
    takes_name: bool = False


_REGISTRY: dict[str, RewardEntry] = {}
_LOADED = False


def _param_type(annotation: Any, default: Any) -> type:
    if default is not REQUIRED and default is not None and type(default) in (bool, int, float, str):
        return float if type(default) is int and annotation is float else type(default)
    args = typing.get_args(annotation) or (annotation,)
    for tp in args:
        if tp in (bool, int, float, str):
            return tp
    return str


def _introspect(factory: Callable) -> tuple[dict[str, Param], bool, str]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the defaults' types
        hints = {}
    params, takes_name = {}, False
    for p in inspect.signature(factory).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == "name":
            takes_name = True
            continue
        params[p.name] = Param(p.name, _param_type(hints.get(p.name), p.default), p.default)
    doc = (inspect.getdoc(factory) or "").strip().splitlines()
    return params, takes_name, doc[0] if doc else ""


def register_reward(name: str, factory: Callable[..., RewardFunction], *, doc: str | None = None,
                    params: dict[str, Any] | None = None, overwrite: bool = False) -> None:
    """Register ``factory(**params) -> RewardFunction`` under ``name`` (the spec's name part).

    ``params`` (name → default, :data:`REQUIRED` for none) and ``doc`` default to the factory's signature and the
    first line of its docstring. A factory parameter called ``name`` receives the spec's ``name=`` key.
    """
    if name in _REGISTRY and not overwrite and _REGISTRY[name].factory is not factory:
        raise ValueError(f"a reward named {name!r} is already registered")
    found, takes_name, first_line = _introspect(factory)
    if params is not None:
        found = {k: Param(k, _param_type(None, v) if v is not REQUIRED else str, v) for k, v in params.items()}
    clash = set(found) & set(COMMON_KEYS)
    if clash:
        raise ValueError(f"reward {name!r}: parameter(s) {sorted(clash)} clash with the composition keys")
    _REGISTRY[name] = RewardEntry(name, factory, doc if doc is not None else first_line, found, takes_name)


def _builtins() -> None:
    from langrl.rewards import bertscore, length, metrics, sentiment, task_gold, verifiable

    for name, factory in [("bleu", metrics.BLEUReward), ("chrf", metrics.CHRFReward), ("ter", metrics.TERReward),
                          ("rouge", metrics.ROUGEReward), ("exact", metrics.ExactMatchReward),
                          ("bertscore", bertscore.BERTScoreReward), ("vader", sentiment.VaderReward),
                          ("classifier", sentiment.ClassifierReward), ("math", verifiable.MathReward),
                          ("regex", verifiable.RegexReward), ("json-schema", verifiable.JSONSchemaReward),
                          ("python-tests", verifiable.PythonTestsReward), ("length", length.LengthReward),
                          ("overlong", length.OverlongReward),
                          ("gold", task_gold.TaskGoldReward)]:
        register_reward(name, factory, overwrite=True)


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    _builtins()
    for mod in PLUGIN_MODULES:
        try:
            if importlib.util.find_spec(mod) is not None:
                importlib.import_module(mod)
        except ImportError:
            continue


def reward_entries() -> dict[str, RewardEntry]:
    """Every registered reward, built-ins first."""
    _load()
    return dict(_REGISTRY)


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"name:k=v,k2='a,b'"`` → ``("name", {"k": "v", "k2": "a,b"})`` (values stay strings)."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise InputError(f"reward spec {spec!r}: missing the reward name (e.g. bleu, rouge:type=rougeL)")
    out: dict[str, str] = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        comma = rest.find(",", i)
        if eq < 0 or (0 <= comma < eq):
            part = rest[i:comma if comma >= 0 else len(rest)]
            raise InputError(f"reward spec {spec!r}: expected key=value, got {part!r}")
        key = rest[i:eq].strip()
        j = eq + 1
        if j < len(rest) and rest[j] in "\"'":
            close = rest.find(rest[j], j + 1)
            if close < 0:
                raise InputError(f"reward spec {spec!r}: unclosed quote in the value of {key!r}")
            value, j = rest[j + 1:close], close + 1
            if j < len(rest) and rest[j] != ",":
                raise InputError(f"reward spec {spec!r}: expected ',' after the quoted value of {key!r}")
        else:
            end = rest.find(",", j)
            end = len(rest) if end < 0 else end
            value, j = rest[j:end], end
        if key in out:
            raise InputError(f"reward spec {spec!r}: key {key!r} given twice")
        out[key] = value
        i = j + 1
    return name, out


def _convert(value: str, tp: type, where: str) -> Any:
    if tp is bool:
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise InputError(f"{where}: expected true or false, got {value!r}")
    if tp in (int, float):
        try:
            return tp(value)
        except ValueError:
            raise InputError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def build_reward(spec: str) -> Term:
    """A reward from a spec string, wrapped in a :class:`Term` carrying its weight, clip range and normalisation."""
    name, raw = parse_spec(spec)
    entries = reward_entries()
    if name not in entries:
        near = difflib.get_close_matches(name, list(entries), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise InputError(f"unknown reward {name!r}{hint}; rewards: {', '.join(entries)}")
    entry = entries[name]
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"reward spec {spec!r}: {key}"
        if key in COMMON_KEYS:
            continue
        if key not in entry.params:
            valid = ", ".join(list(entry.params) + list(COMMON_KEYS))
            raise InputError(f"reward spec {spec!r}: unknown parameter {key!r}; {name} takes: {valid}")
        kwargs[key] = _convert(value, entry.params[key].type, where)
    missing = [p.name for p in entry.params.values() if p.required and p.name not in kwargs]
    if missing:
        raise InputError(f"reward spec {spec!r}: missing required parameter(s) {', '.join(missing)} "
                         f"(e.g. {name}:{missing[0]}=...)")
    if "name" in raw and entry.takes_name:
        kwargs["name"] = raw["name"]
    reward = entry.factory(**kwargs)
    if "name" in raw and not entry.takes_name:
        reward.name = raw["name"]
    clip = None
    if "clip" in raw:
        lo, sep, hi = raw["clip"].partition(":")
        try:
            clip = (float(lo), float(hi))
        except ValueError:
            raise InputError(f"reward spec {spec!r}: clip must be lo:hi (e.g. clip=-1:1), got {raw['clip']!r}") from None
    weight = _convert(raw.get("weight", "1"), float, f"reward spec {spec!r}: weight")
    normalize = _convert(raw.get("normalize", "false"), bool, f"reward spec {spec!r}: normalize")
    return Term(reward, weight=weight, clip=clip, normalize=normalize, spec=spec)


def build_rewards(specs: list[str], nan: str = "error") -> CompositeReward:
    """A :class:`CompositeReward` of the given specs: each objective's column plus the weighted ``total``."""
    if not specs:
        raise InputError("no reward given; pass at least one --reward SPEC (see `langrl reward list`)")
    return CompositeReward([build_reward(s) for s in specs], nan=nan)
