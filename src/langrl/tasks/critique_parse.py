"""A hand-written reader of critiques: critique text + response -> located issues (span + category) and missing ones.

This is the rule-based inverse of the simulated language annotator's phrasings (:mod:`langrl.tasks.language`): it
finds what each critique sentence points at (a quoted sentence, "the second sentence", "step 2", an equation, the
name of a wrong item) and which category the wording says (missing / irrelevant / untruthful for factqa; missing /
wrong answer / wrong step for arithmetic). It reads only the critique and the response, never the gold. It is the
test oracle for the annotator's phrasings and the baseline for the learned critique reader
(:mod:`langrl.train.critique_reader`), which must do the same from (critique, span) pairs alone.
"""
from __future__ import annotations

import re

from langrl.tasks.base import ORDINALS, sentences
from langrl.tasks.issues import Issue

# A critique sentence: quoted text may hold . ! ?, so a quote is consumed whole.
_CRIT_SENTENCE = re.compile(r'(?:"[^"]*"|[^".!?])+(?:[.!?]+|$)')
_QUOTE = re.compile(r'"([^"]*)"')
_NAME = re.compile(r"\b[A-Z][a-z]+\b")
_ORD_SENTENCE = re.compile(r"\b(first|second|third|fourth|fifth) sentence\b|\bsentence number (\d+)\b")
_STEP_NO = re.compile(r"\bstep (\d+)\b", re.I)
_ORD_STEP = re.compile(r"\b(first|second|third|fourth|fifth) (?:step|calculation)\b")
_ORDINAL_WORD = re.compile(r"\b(first|second|third|fourth|fifth)\b")
_RANK_OF_ITEM = re.compile(r"\b(first|second|third|fourth|fifth) (?:item|one|[a-z]+)\b")
_EQ = re.compile(r"(-?\d+) ([-+*]) (-?\d+)")

_MISSING = ("missing", "forgot", "also mention", "never account", "nothing handles", "answer line")
_IRRELEVANT = ("irrelevant", "off-topic", "not needed", "repeat", "twice", "not asked", "beyond what was asked",
               "does not answer", "drop it")
# A wrong item is the name just after these words, or just before the others.
_BEFORE_WRONG = ("not ", "list ", "names ")
_AFTER_WRONG = (" is not", " is wrong", " does not", " as the", " should be")


def critique_sentences(critique: str) -> list[str]:
    """The sentences of a critique (a quoted sentence stays inside the sentence that quotes it)."""
    return [m.group().strip() for m in _CRIT_SENTENCE.finditer(critique) if m.group().strip()]


def _find_all(text: str, sub: str) -> list[int]:
    out, i = [], text.find(sub)
    while sub and i >= 0:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def _names_outside_quotes(c: str, response: str) -> list[tuple[int, str]]:
    from langrl.tasks.factqa_world import is_name

    bare = _QUOTE.sub(lambda m: " " * len(m.group()), c)
    return [(m.start(), m.group()) for m in _NAME.finditer(bare)
            if is_name(m.group()) and re.search(rf"\b{m.group()}\b", response)]


def _wrong_name(c: str, names: list[tuple[int, str]]) -> str:
    """Of several response names in critique sentence ``c``, the one the wording marks as wrong."""
    for pos, name in names:
        if any(c[:pos].endswith(w) for w in _BEFORE_WRONG) or any(c[pos + len(name):].startswith(w)
                                                                    for w in _AFTER_WRONG):
            return name
    return names[0][1]


def factqa_span(response: str, name: str, unit: int | None = None, used: set = frozenset(),
                rank: int = 0) -> tuple[int, int, int]:
    """(start, end, unit) of ``name`` in ``response``: the whole sentence when the sentence names one item, else the
    name itself (the task's gold convention). With ``unit``, only that sentence is searched. Of several occurrences,
    one whose span is not in ``used`` comes first (a repeated wrong item is criticised once per occurrence), then one
    that claims ``rank`` (1-based; 0: any) by the sentence's ordinal word or its place in a list."""
    from langrl.tasks.factqa_world import is_name

    units, found = sentences(response), []
    for k, (s, e) in enumerate(units):
        if unit is not None and k != unit:
            continue
        text = response[s:e]
        names = [x.group() for x in _NAME.finditer(text) if is_name(x.group())]
        n_items = len(names) - 1  # less one for the entity ("The largest city of Vorland is Kelm.")
        ords = _ORDINAL_WORD.search(text.lower())
        for m in re.finditer(rf"\b{re.escape(name)}\b", text):
            if n_items <= 1:
                claimed = ORDINALS.index(ords.group(1)) + 1 if ords else 1
                span = (s, e, k)
            else:
                claimed = names[1:].index(name) + 1 if name in names[1:] else 0
                span = (s + m.start(), s + m.end(), k)
            found.append(((s, e) in used or span[:2] in used, rank > 0 and claimed != rank, len(found), span))
    if found:
        return min(found)[3]
    if unit is not None and 0 <= unit < len(units):
        return units[unit][0], units[unit][1], unit
    return -1, -1, -1


def parse_factqa(response: str, critique: str) -> list[Issue]:
    """The issues a factqa critique names, located in ``response`` (see the module docstring).

    Sentences that point at a place (a quote, "the second sentence") are read first; a sentence that only names a
    wrong item then takes that item's first sentence not already pointed at (a repeated wrong sentence is
    criticised twice).
    """
    units, out, by_name = sentences(response), [], []
    for c in critique_sentences(critique):
        low = c.lower()
        quote = _QUOTE.search(c)
        ords = _ORD_SENTENCE.search(low)
        if any(w in low for w in _MISSING):
            names = [n for _, n in _names_outside_quotes(c, critique)]
            out.append(Issue("missing", "item", should=names[0] if names else ""))
        elif quote and quote.group(1).strip():
            hits = _find_all(response, quote.group(1).strip())
            if not hits:
                continue
            pos = hits[-1] if ("repeat" in low or "twice" in low) else hits[0]
            s, e = pos, pos + len(quote.group(1).strip())
            cat = "irrelevant" if any(w in low for w in _IRRELEVANT) else "untruthful"
            out.append(Issue(cat, "quote", s, e, _unit(units, s)))
        elif ords:
            k = ORDINALS.index(ords.group(1)) if ords.group(1) else int(ords.group(2)) - 1
            if k >= len(units):
                continue
            if any(w in low for w in _IRRELEVANT):
                out.append(Issue("irrelevant", "unit", *units[k], k))
            else:
                names = _names_outside_quotes(c, response)
                s, e, k = factqa_span(response, _wrong_name(c, names), k, _used(out)) if names else (*units[k], k)
                out.append(Issue("untruthful", "unit", s, e, k))
        else:
            by_name.append(c)
    for c in by_name:
        names = _names_outside_quotes(c, response)
        if not names:
            continue
        m = _RANK_OF_ITEM.search(c.lower())
        rank = ORDINALS.index(m.group(1)) + 1 if m else 0
        s, e, k = factqa_span(response, _wrong_name(c, names), None, _used(out), rank)
        if s >= 0:
            out.append(Issue("untruthful", "item", s, e, k))
    return out


def _used(issues: list[Issue]) -> set:
    return {(i.start, i.end) for i in issues if i.located}


def _unit(units: list[tuple[int, int]], pos: int) -> int:
    return next((k for k, (s, e) in enumerate(units) if s <= pos < e), -1)


def parse_arithmetic(response: str, critique: str) -> list[Issue]:
    """The issues an arithmetic critique names, located in ``response`` (see the module docstring)."""
    from langrl.tasks.arithmetic import _ANSWER, _STEP

    m_ans = _ANSWER.search(response)
    steps = list(_STEP.finditer(response[:m_ans.start()] if m_ans else response))
    out = []
    for c in critique_sentences(critique):
        low = c.lower()
        if any(w in low for w in _MISSING):
            out.append(Issue("missing", "step"))
            continue
        if "answer" in low or "####" in low or "result" in low:
            if m_ans:
                out.append(Issue("wrong_answer", "answer", m_ans.start(), m_ans.end(), -1))
            continue
        k = None
        if (m := _STEP_NO.search(c)) is not None:
            k = int(m.group(1)) - 1
        elif (m := _ORD_STEP.search(low)) is not None:
            k = ORDINALS.index(m.group(1))
        elif (m := _EQ.search(c)) is not None:
            eq = (m.group(1), m.group(2), m.group(3))
            k = next((j for j, st in enumerate(steps) if (st.group(1), st.group(2), st.group(3)) == eq), None)
        if k is not None and 0 <= k < len(steps):
            out.append(Issue("wrong_step", "step", steps[k].start(), steps[k].end(), k, k + 1))
    return out


def parse_critique(task: str, response: str, critique: str) -> list[Issue]:
    """The located and missing issues a critique of ``response`` names, for ``task`` factqa or arithmetic."""
    if task == "factqa":
        return parse_factqa(response, critique)
    if task == "arithmetic":
        return parse_arithmetic(response, critique)
    from langrl.errors import InputError

    raise InputError(f"critiques can be parsed for factqa and arithmetic, not {task!r}", field="task")
