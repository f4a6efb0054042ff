"""Verifiable rewards: numeric answers, regex/format checks, JSON against a schema, Python code against unit tests.

Each returns 1.0 / 0.0 (python-tests: the fraction of tests passed) and puts a per-sample reason for a zero in
``info["reasons"]`` (None where the sample scored).

- ``math``: the final number of the response (GSM8K ``#### 42``, else the last ``\\boxed{...}``, else the last number
  in the text) equals the one in the ``answer`` column (itself parsed the same way, so a full GSM8K solution works):
  **exactly** when the reference is an integer (``1450001`` is wrong for ``1,450,000``; ``1450000.0`` is right), within
  ``rtol``/``atol`` only when it is not (``3.333`` for ``10/3`` with ``atol=0.01``). Numbers are parsed exactly
  (fractions), never through a float, so large integers compare digit for digit. Commas in numbers (``1,234``),
  currency and units (``$5``, ``5 apples``), ``%``, trailing periods, ``5.0`` vs ``5``, simple fractions (``3/4``,
  ``\\frac{3}{4}``) are all handled.
- ``regex``: ``re.search`` (default), ``re.match`` or ``re.fullmatch`` of ``pattern`` on the stripped response.
- ``json-schema``: the response (or the first fenced code block in it) parses as JSON and, when ``schema=FILE`` is
  given, validates against that JSON schema (jsonschema, the draft named by ``$schema``).
- ``python-tests``: the response's code (first fenced ``python`` block, else the whole text; with ``with_prompt`` the
  prompt is prepended, HumanEval style) runs in :mod:`langrl.rewards.sandbox` with the sample's tests. **Tests
  format:** the ``tests`` column holds a list of Python statement blocks, usually one ``assert`` each (MBPP's
  ``test_list``); a single string is one test. An optional ``setup`` column (MBPP's ``test_setup_code``) runs after
  the code (and again in the judge, before the tests). The tests run in a judge process that never runs the code:
  values the code returns cross as data only (see :mod:`langrl.rewards.sandbox`), so an object whose ``==`` always
  says yes does not pass, and the code cannot report its own score. Reward = passed / total; the status (``ok``,
  ``failed``, ``timeout``, ``memory``, ``syntax_error``, ``crash``, ``blocked``, ...) is in ``info["reasons"]`` and
  the sandbox's isolation in ``info["isolation"]``. Without bubblewrap the reward refuses to start unless
  ``unsafe_local=true`` (no isolation at all: the code can read files, environment and network, and forge a score).
"""
from __future__ import annotations

import json
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

from langrl.errors import InputError
from langrl.rewards.protocol import RewardOutput, column, map_samples, single

_NUM = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+"
_NUMBER = re.compile(rf"(?<![\w.])(?:{_NUM})(?:\s*/\s*(?:{_NUM}))?")
_FRAC = re.compile(r"\\[dt]?frac\{\s*(-?[\d.,]+)\s*\}\{\s*(-?[\d.,]+)\s*\}")
_GSM = re.compile(r"####\s*([^\n]*)")


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces balanced), or None."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return text[i:]


def _to_fraction(token: str) -> Fraction | None:
    """``"1,234.5"`` → Fraction(2469, 2), ``"3/4"`` → Fraction(3, 4), exactly; None for junk or a zero denominator."""
    token = token.replace(",", "").replace(" ", "")
    try:
        if "/" in token:
            num, den = token.split("/")
            return Fraction(num) / Fraction(den)
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def parse_exact(text: str) -> Fraction | None:
    """The last number in ``text`` as an exact fraction (a ``\\frac{a}{b}`` counts), ignoring commas, currency, units
    and a final period."""
    text = text.replace("$", " ").replace("\u2212", "-")
    frac = list(_FRAC.finditer(text))
    nums = list(_NUMBER.finditer(text))
    if frac and (not nums or nums[-1].start() < frac[-1].end()):  # the last number is inside (or before) a \frac
        a, b = _to_fraction(frac[-1].group(1)), _to_fraction(frac[-1].group(2))
        return a / b if a is not None and b not in (None, 0) else None
    return _to_fraction(nums[-1].group(0)) if nums else None


def parse_number(text: str) -> float | None:
    """The last number in ``text`` (a ``\\frac{a}{b}`` counts), ignoring commas, currency, units and a final period."""
    x = parse_exact(text)
    return None if x is None else float(x)


def extract_exact(text: str) -> Fraction | None:
    """The final numeric answer as a fraction: after ``####``, else in the last ``\\boxed{}``, else the last number."""
    m = list(_GSM.finditer(text))
    if m:
        return parse_exact(m[-1].group(1))
    boxed = _boxed(text)
    if boxed is not None:
        return parse_exact(boxed)
    return parse_exact(text)


def extract_answer(text: str) -> float | None:
    """The final numeric answer: after ``####`` (GSM8K), else in the last ``\\boxed{}``, else the last number."""
    x = extract_exact(text)
    return None if x is None else float(x)


def _show(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):g}"


class MathReward:
    """1.0 if the final number equals the answer column's: an integer exactly, a non-integer within rtol/atol.

    The tolerance is |a - b| <= atol + rtol * |b| and applies only where the reference is not an integer.

    ``#### 1450001`` against ``1,450,000`` is 0.0 (a relative tolerance would have passed it); ``1450000.0`` is 1.0.
    """

    def __init__(self, rtol: float = 1e-6, atol: float = 1e-9, column: str = "answer", name: str = "math"):
        self.name, self.rtol, self.atol, self.col = name, float(rtol), float(atol), column

    def _one(self, response: str, answer: Any) -> tuple[float, str | None]:
        if isinstance(answer, (int, float)) and not isinstance(answer, bool) and math.isfinite(answer):
            gold: Fraction | None = Fraction(answer)
        else:
            gold = extract_exact(str(answer))
        if gold is None:
            raise ValueError(f"no number in the {self.col!r} column value {answer!r}")
        got = extract_exact(response)
        if got is None:
            return 0.0, "no number found"
        if gold.denominator == 1:  # an integer reference: digit for digit, no tolerance
            ok = got == gold
        else:
            ok = math.isclose(float(got), float(gold), rel_tol=self.rtol, abs_tol=self.atol)
        return float(ok), None if ok else f"wrong answer {_show(got)} (expected {_show(gold)})"

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        answers = column(columns, self.col, self.name, len(responses))
        results = map_samples(self.name, self._one, responses, answers)
        return single(self.name, [s for s, _ in results], info={"reasons": [r for _, r in results]})


class RegexReward:
    """1.0 if ``pattern`` is found in the stripped response (``mode``: search, match or fullmatch)."""

    def __init__(self, pattern: str, mode: str = "search", ignorecase: bool = False, dotall: bool = True,
                 name: str = "regex"):
        if mode not in ("search", "match", "fullmatch"):
            raise InputError(f"regex: mode must be search, match or fullmatch, got {mode!r}", field="mode")
        flags = (re.IGNORECASE if ignorecase else 0) | (re.DOTALL if dotall else 0) | re.MULTILINE
        try:
            self.regex = re.compile(pattern, flags)
        except re.error as e:
            raise InputError(f"regex: invalid pattern {pattern!r}: {e}", field="pattern") from None
        self.name, self.match = name, getattr(self.regex, mode)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        hits = map_samples(self.name, lambda r: self.match(r.strip()) is not None, responses)
        return single(self.name, [float(h) for h in hits],
                      info={"reasons": [None if h else "no match" for h in hits]})


_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def fenced_block(text: str, languages: tuple[str, ...] = ()) -> str | None:
    """The first fenced code block whose language is in ``languages`` (or unlabelled); None if there is none."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    for lang, body in blocks:
        if not lang or lang in languages:
            return body
    return None


class JSONSchemaReward:
    """1.0 if the response is valid JSON (and valid under ``schema`` when one is given)."""

    def __init__(self, schema: str = "", extract: bool = True, name: str = "json-schema"):
        self.name, self.extract, self.validator = name, extract, None
        if schema:
            p = Path(schema)
            if not p.is_file():
                raise InputError("JSON schema file not found", path=schema, field="schema")
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except json.JSONDecodeError as e:
                raise InputError(f"invalid JSON in schema: {e.msg}", path=schema, line=e.lineno) from None
            import jsonschema

            cls = jsonschema.validators.validator_for(obj)
            try:
                cls.check_schema(obj)
            except jsonschema.SchemaError as e:
                raise InputError(f"not a valid JSON schema: {e.message}", path=schema, field="schema") from None
            self.validator = cls(obj)

    def _one(self, response: str) -> str | None:
        text = (fenced_block(response, ("json",)) if self.extract else None) or response
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            return f"invalid JSON: {e.msg} at line {e.lineno}"
        if self.validator is not None:
            err = next(iter(self.validator.iter_errors(obj)), None)
            if err is not None:
                where = "/".join(map(str, err.absolute_path)) or "(root)"
                return f"schema: {where}: {err.message}"[:300]
        return None

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        reasons = map_samples(self.name, self._one, responses)
        return single(self.name, [float(r is None) for r in reasons], info={"reasons": reasons})


class PythonTestsReward:
    """Fraction of unit tests the code passes in a bubblewrap sandbox (no bwrap: refused unless unsafe_local=true).

    The tests are judged in a separate sandboxed process that gets only data back; unsafe_local isolates nothing.
    """

    def __init__(self, timeout: float = 5.0, memory_mb: int = 1024, workers: int = 0, extract: bool = True,
                 with_prompt: bool = False, tests_column: str = "tests", setup_column: str = "setup",
                 unsafe_local: bool = False, name: str = "python-tests"):
        from langrl.rewards.sandbox import require_sandbox

        if not unsafe_local:
            require_sandbox()  # refuse now (exit 2, how to install bwrap), not on the first batch
        self.unsafe_local = bool(unsafe_local)
        self.name, self.timeout, self.memory_mb = name, float(timeout), int(memory_mb)
        self.workers = int(workers) or min(4, os.cpu_count() or 1)
        self.extract, self.with_prompt, self.tests_column, self.setup_column = (
            extract, with_prompt, tests_column, setup_column)

    def code_of(self, prompt: str, response: str) -> str:
        """The program to test: the first fenced python block (if ``extract``), with the prompt in front if asked."""
        code = (fenced_block(response, ("python", "py", "python3")) if self.extract else None) or response
        return prompt + code if self.with_prompt else code

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        from langrl.rewards.sandbox import isolation, run_tests

        b = len(responses)
        tests = column(columns, self.tests_column, self.name, b)
        setups = columns.get(self.setup_column) or [""] * b
        jobs = []
        for i, (t, s) in enumerate(zip(tests, setups)):
            t = [t] if isinstance(t, str) else list(t)
            if not all(isinstance(x, str) for x in t):
                raise InputError(f"reward {self.name!r}: sample {i}: tests must be a list of strings",
                                 field=self.tests_column)
            code = self.code_of(prompts[i] if prompts else "", responses[i])
            jobs.append((code, t, s or ""))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(run_tests, c, t, setup=s, timeout_s=self.timeout, memory_mb=self.memory_mb,
                                   unsafe_local=self.unsafe_local) for c, t, s in jobs]
            results = map_samples(self.name, lambda f: f.result(), futures)
        scores = [r.fraction if r.total else float("nan") for r in results]
        info = {"reasons": [None if r.status == "ok" else r.status for r in results],
                "details": [r.detail for r in results], "passed": [r.passed for r in results],
                "total": [r.total for r in results], "duration_s": [r.duration_s for r in results],
                "isolation": isolation(unsafe_local=self.unsafe_local)}
        return single(self.name, scores, info=info)
