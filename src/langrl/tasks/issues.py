"""The problems in one response as structured :class:`Issue` records, for ``factqa`` and ``arithmetic``.

An issue is what a critique talks about: a category, the span of the response it is about (``start``/``end``, -1 for
a missing item), the sentence (factqa) or step (arithmetic) it sits in, what the response said and what it should
say. The simulated language annotator (:mod:`langrl.tasks.language`) phrases issues as sentences; the critique
parser (:mod:`langrl.tasks.critique_parse`) and the learned critique reader turn sentences back into spans.

Categories: factqa ``irrelevant`` / ``untruthful`` / ``missing`` (Wu et al. 2023's axes); arithmetic ``wrong_step``
/ ``wrong_answer`` / ``missing``. The spans are exactly the task's gold ``label_spans`` (the same offsets and
categories); only the extra fields are new.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from langrl.tasks.base import sentences

CATEGORIES = {"factqa": ("irrelevant", "untruthful", "missing"),
              "arithmetic": ("wrong_step", "wrong_answer", "missing")}

_IT_IS = re.compile(r"it is (\w+), not (\w+)")
_STEP_NOTE = re.compile(r"Step (\d+)")


@dataclass(frozen=True)
class Issue:
    """One problem of a response.

    ``kind`` refines the category: factqa ``wrong_rank`` (a ranked item is wrong; ``should`` is the right one),
    ``not_member`` (the item is in no rank), ``off_topic``, ``repeat``, ``not_asked``, ``item`` (a missing item);
    arithmetic ``slip`` (a false step), ``bad_op``, ``bad_start``, ``answer``, ``step`` (a missing step),
    ``answer_line`` (the #### line is missing). ``rank`` is the factqa rank or the arithmetic step number (1-based;
    0: none). ``unit`` is the 0-based sentence (factqa) or written step (arithmetic) index, -1 when not located.
    """

    category: str
    kind: str
    start: int = -1
    end: int = -1
    unit: int = -1
    rank: int = 0
    said: str = ""
    should: str = ""

    @property
    def located(self) -> bool:
        return self.start >= 0


def sentence_index(response: str, pos: int) -> int:
    """The 0-based index of the sentence of ``response`` containing character ``pos`` (-1 if none)."""
    for i, (s, e) in enumerate(sentences(response)):
        if s <= pos < e:
            return i
    return -1


def factqa_issues(row: dict, response: str) -> list[Issue]:
    """The issues of a factqa response, in the order of the gold units then the missing ranks."""
    from langrl.tasks.factqa import _NAME, analyze
    from langrl.tasks.factqa_world import is_name

    meta = row["meta"]
    res = analyze(meta, response)
    out = []
    for u in res["units"]:
        s, e, note = u["start"], u["end"], u["note"]
        text, unit = response[s:e], sentence_index(response, s)
        if u["category"] == "irrelevant":
            kind = "repeat" if "repeats" in note else "not_asked" if "not asked" in note else "off_topic"
            out.append(Issue("irrelevant", kind, s, e, unit, said=text))
            continue
        names = [m.group() for m in _NAME.finditer(text) if is_name(m.group()) and m.group() != meta["entity"]]
        m = _IT_IS.search(note)
        if m:  # "The second item is wrong: it is Y, not X."
            rank = 1 + meta["items"].index(m.group(1))
            out.append(Issue("untruthful", "wrong_rank", s, e, unit, rank, said=m.group(2), should=m.group(1)))
        else:  # "X is not one of the ..."
            out.append(Issue("untruthful", "not_member", s, e, unit, said=names[-1] if names else text))
    for r in res["missing"]:
        out.append(Issue("missing", "item", rank=r, should=meta["items"][r - 1]))
    return out


def arithmetic_issues(row: dict, response: str) -> list[Issue]:
    """The issues of an arithmetic response: bad steps, a wrong final answer, missing steps and answer line."""
    from langrl.tasks.arithmetic import _STEP, _apply, analyze

    res = analyze(row["meta"], row["answer"], response)
    out = []
    for s, e, note in res["bad_steps"]:
        m = _STEP.match(response, s)
        x, op, b, z = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        op = "*" if op in "x×" else op
        i = int(_STEP_NOTE.match(note).group(1))
        kind = "slip" if _apply(x, op, b) != z else "bad_op" if "not an operation" in note else "bad_start"
        out.append(Issue("wrong_step", kind, s, e, i - 1, i, said=f"{x} {op} {b} = {z}",
                         should=str(_apply(x, op, b))))
    if res["answer_span"] and not res["correct"]:
        s, e = res["answer_span"]
        out.append(Issue("wrong_answer", "answer", s, e, -1, said=str(res["got"]), should=row["answer"]))
    for o in res["missing_ops"]:
        out.append(Issue("missing", "step", said=f"{o['op']} {o['b']}", should=o["phrase"]))
    if res["answer_span"] is None:
        out.append(Issue("missing", "answer_line", should=row["answer"]))
    return out


def task_issues(task: str, row: dict, response: str) -> list[Issue]:
    """The issues of ``response`` for the built-in ``task`` (``factqa`` or ``arithmetic``)."""
    if task == "factqa":
        return factqa_issues(row, response)
    if task == "arithmetic":
        return arithmetic_issues(row, response)
    from langrl.errors import InputError

    raise InputError(f"language critiques exist for factqa and arithmetic, not {task!r}", field="task")


def label_key(response: str, issues) -> tuple:
    """A comparable summary of located labels and missing counts: ``(sorted (unit, category) pairs, n missing)``.

    The unit is the sentence index of each located issue's start (arithmetic steps and the #### line each sit in
    their own sentence), so two readings that mark the same sentences with the same categories compare equal.
    """
    located = sorted({(sentence_index(response, i.start), i.category) for i in issues if i.located})
    return tuple(located), sum(1 for i in issues if not i.located)
