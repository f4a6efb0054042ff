"""Feedback in formats other tools already write, read as langrl records.

``trl``
    TRL preference columns ``{"prompt", "chosen", "rejected"}`` (plus ``"margin"``), standard (strings) or
    conversational (lists of ``{"role", "content"}`` messages, ``chosen``/``rejected`` holding the one assistant
    reply); with no ``"prompt"`` the shared leading messages are the prompt (TRL's implicit prompt). TRL's unpaired
    form ``{"prompt", "completion", "label": bool}`` becomes a :class:`Rating` with ``rating`` true/false.
``hh``
    Anthropic HH: ``chosen``/``rejected`` are whole dialogues of ``"\\n\\nHuman:"``/``"\\n\\nAssistant:"`` turns and
    there is no prompt. The prompt is everything up to and including the last ``"\\n\\nAssistant:"`` (it must be the
    same in both), the replies are the rest, so ``prompt + reply`` is the original text and a reply keeps its leading
    space (as the DPO reference repo's ``extract_anthropic_prompt`` does).
``qa-feedback``
    The QA-Feedback data of Wu et al. 2023, *Fine-Grained Human Feedback Gives Better Rewards for Language Model
    Training* (allenai/FineGrainedRLHF, ``tasks/qa_feedback/data/*_feedback.json``): a JSON list of examples with
    ``question``, ``passages`` (lists ``[title, sentence 1, sentence 2, ...]``), ``gold``, ``prediction 1..4``,
    ``feedback`` on prediction 1 (``errors`` with ``start``/``end`` character offsets, an ``error type`` —
    Irrelevant, Wrong-Grounding, Unverifiable, Redundant, Incoherent — and an ``explanation``: the repeated text for
    Redundant, ``'{"passage_id": p, "sentence_id": [s]}'`` for Wrong-Grounding, else empty; ``missing-info`` items with
    an ``error type`` (Missing-Answer, Missing-Major-Auxiliary, Missing-Minor-Auxiliary), ``passage_id`` counting from
    1 and ``sentence_id``, a list of indices into the passage list, 0 being the title (the annotation interface numbers
    the title sentence #0); ``corrected-prediction``, possibly empty) and ``preference``: 6 pairwise labels for 1v2,
    1v3, 1v4, 2v3, 2v4, 3v4 (1: the first is preferred, 2: the second, 0: no preference). An example becomes one
    :class:`SpanFeedback` (category = the error type in lower case, a non-empty ``explanation`` kept on the span, and
    for Wrong-Grounding the cited passage text as ``evidence``; each missing-info item as the text of the passage
    sentences it names, the raw items in ``extra["missing_info"]``) and 6 :class:`Comparison` records (0 -> a tie;
    ``extra["pair"]`` holds the 0-based prediction indices). With ``kind="ranking"`` the preferences become one :class:`Ranking` instead, and
    an example whose pairwise labels fit no ranking (e.g. 1 = 2, 2 = 4, 4 > 1) is rejected. The prompt is the question;
    passages, gold answer and any other fields are kept in ``extra``. Departures from the paper's scripts: no
    sentence splitting, no minimum span length, no grouping of error types into the paper's two reward categories —
    those belong to the reward model that reads these records.
"""
from __future__ import annotations

import json

from langrl.feedback.parse import FieldError, is_int, parse_record, prompt_field, show, text_field
from langrl.feedback.records import Record

FORMATS = ("auto", "langrl", "trl", "hh", "qa-feedback")
HH_ASSISTANT, HH_HUMAN = "\n\nAssistant:", "\n\nHuman:"


def _as(kind: str, d: dict, rename: dict[str, str]) -> Record:
    """Validate ``d`` as a ``kind`` record, naming fields in errors as the source does (``rename``: ours -> theirs)."""
    try:
        return parse_record(d, kind)
    except FieldError as e:
        field = e.field
        for ours, theirs in rename.items():
            if field is not None and (field == ours or field.startswith((ours + "[", ours + "."))):
                field = theirs + field[len(ours):]
                break
        raise FieldError(field, e.reason) from None


def _object(d) -> dict:
    if not isinstance(d, dict):
        raise FieldError(None, f"expected a JSON object (one record), got {show(d)}")
    return dict(d)


def _pop(d: dict, key: str, needs: str):
    if key not in d:
        raise FieldError(key, f"missing ({needs})")
    return d.pop(key)


# ------------------------------------------------------------------------------------------------------------ TRL, HH
def _reply(value, name: str) -> str:
    """A response given as a string, or as a list holding exactly one assistant message."""
    if isinstance(value, str):
        return value
    prompt_field(value, name)
    if len(value) != 1 or value[0]["role"] != "assistant":
        roles = ", ".join(m["role"] for m in value)
        raise FieldError(name, f"expected one assistant message, got {len(value)} message(s) ({roles})")
    return value[0]["content"]


def split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two HH dialogues into (shared prompt ending in ``"\\n\\nAssistant:"``, chosen reply, rejected reply)."""
    parts = []
    for name, text in (("chosen", chosen), ("rejected", rejected)):
        text_field(text, name)
        cut = text.rfind(HH_ASSISTANT)
        if cut < 0 or HH_HUMAN in text[cut:]:
            raise FieldError(name, f"expected a dialogue whose last turn is '\\n\\nAssistant:', got {show(text)}")
        parts.append((text[:cut + len(HH_ASSISTANT)], text[cut + len(HH_ASSISTANT):]))
    if parts[0][0] != parts[1][0]:
        raise FieldError("rejected", "expected the same dialogue as 'chosen' before the final Assistant reply")
    return parts[0][0], parts[0][1], parts[1][1]


def _implicit_prompt(chosen, rejected):
    if isinstance(chosen, list) and isinstance(rejected, list):
        prompt_field(chosen, "chosen")
        prompt_field(rejected, "rejected")
        k = 0
        while k < min(len(chosen), len(rejected)) - 1 and chosen[k] == rejected[k]:
            k += 1
        if k == 0:
            raise FieldError("prompt", "missing, and chosen/rejected share no leading messages to take it from")
        return chosen[:k], _reply(chosen[k:], "chosen"), _reply(rejected[k:], "rejected")
    if isinstance(chosen, str) and isinstance(rejected, str):
        return split_hh(chosen, rejected)
    raise FieldError("chosen", "expected chosen and rejected both strings or both message lists")


def from_trl(d, kind: str | None = None) -> list[Record]:
    """One TRL row (preference, implicit-prompt preference, or unpaired with a boolean label) as a record."""
    rest = _object(d)
    if "completion" in rest or "label" in rest:
        needs = "an unpaired TRL row needs prompt, completion, label"
        label = _pop(rest, "label", needs)
        if not isinstance(label, bool):
            raise FieldError("label", f"expected true or false, got {show(label)}")
        core = {"response": _reply(_pop(rest, "completion", needs), "completion"), "rating": label}
        if "prompt" in rest:
            core["prompt"] = rest.pop("prompt")
        return [_as("rating", {**rest, **core}, {"response": "completion", "rating": "label"})]
    needs = "a TRL preference row needs chosen, rejected (and prompt)"
    chosen, rejected = _pop(rest, "chosen", needs), _pop(rest, "rejected", needs)
    if "prompt" in rest:
        prompt = rest.pop("prompt")
        chosen, rejected = _reply(chosen, "chosen"), _reply(rejected, "rejected")
    else:
        prompt, chosen, rejected = _implicit_prompt(chosen, rejected)
    return [_as("comparison", {**rest, "prompt": prompt, "chosen": chosen, "rejected": rejected}, {})]


def from_hh(d, kind: str | None = None) -> list[Record]:
    """One Anthropic HH row ``{"chosen": dialogue, "rejected": dialogue}`` as a comparison."""
    rest = _object(d)
    if "prompt" in rest:
        raise FieldError("prompt", "unexpected: HH rows are whole dialogues without a prompt; "
                                   "use fmt='trl' or 'langrl'")
    needs = "an HH row needs chosen and rejected dialogues"
    prompt, chosen, rejected = split_hh(_pop(rest, "chosen", needs), _pop(rest, "rejected", needs))
    return [_as("comparison", {**rest, "prompt": prompt, "chosen": chosen, "rejected": rejected}, {})]


# -------------------------------------------------------------------------------------------------------- QA-Feedback
_QA_RENAME = {"prompt": "question", "response": "prediction 1", "spans": "feedback.errors",
              "missing": "feedback.missing-info", "corrected": "feedback.corrected-prediction"}


def _qa_passage_text(item, name: str, passages) -> str:
    """The text of the passage sentences ``{"passage_id": p, "sentence_id": [s, ...]}`` names.

    ``passage_id`` counts from 1; ``sentence_id`` indexes the passage list ``[title, sentence 1, ...]``, so 0 is the
    title (the annotation interface shows the title as sentence #0, and annotators do cite it).
    """
    if not isinstance(item, dict):
        raise FieldError(name, f"expected an object with passage_id and sentence_id, got {show(item)}")
    if not isinstance(passages, list):
        raise FieldError("passages", "expected the list of passages that missing-info refers to")
    pid, sids = item.get("passage_id"), item.get("sentence_id")
    if not is_int(pid) or not 1 <= pid <= len(passages):
        raise FieldError(f"{name}.passage_id", f"expected a passage number in 1..{len(passages)}, got {show(pid)}")
    passage = passages[pid - 1]
    if not isinstance(passage, list) or not passage or not all(isinstance(s, str) for s in passage):
        raise FieldError(f"passages[{pid - 1}]", "expected a list of strings [title, sentence 1, ...]")
    sids = [sids] if is_int(sids) else sids
    if not isinstance(sids, list) or not sids:
        raise FieldError(f"{name}.sentence_id", f"expected a list of sentence numbers, got {show(sids)}")
    last = len(passage) - 1
    for sid in sids:
        if not is_int(sid) or not 0 <= sid <= last:
            raise FieldError(f"{name}.sentence_id", f"passage {pid} has sentences 1..{last}, got {show(sid)}; "
                                                    f"expected 0 (its title) to {last}")
    return " ".join(" ".join(passage[sid].split()) for sid in sids)


def _qa_evidence(err: dict, passages) -> str | None:
    """The passage text a Wrong-Grounding span's explanation ``'{"passage_id": p, "sentence_id": [s]}'`` cites, or
    ``None`` (the explanation is free text the paper does not use, so one that names nothing is kept as it is)."""
    try:
        cited = json.loads(err.get("explanation") or "")
        return _qa_passage_text(cited, "explanation", passages)
    except (ValueError, FieldError):
        return None


def _qa_spans(question, response: str, feedback, rest: dict) -> Record:
    if not isinstance(feedback, dict):
        raise FieldError("feedback", "expected an object with errors, missing-info, corrected-prediction, "
                                     f"got {show(feedback)}")
    fb = dict(feedback)
    errors, missing_info = fb.pop("errors", []), fb.pop("missing-info", [])
    for name, value in (("feedback.errors", errors), ("feedback.missing-info", missing_info)):
        if not isinstance(value, list):
            raise FieldError(name, f"expected a list, got {show(value)}")
    spans = []
    for i, err in enumerate(errors):
        if not isinstance(err, dict):
            raise FieldError(f"feedback.errors[{i}]",
                             f"expected an object with start, end, error type, got {show(err)}")
        span = dict(err)
        etype = text_field(span.pop("error type", None), f"feedback.errors[{i}].error type")
        span["category"] = etype.strip().lower()
        if not span.get("explanation"):
            span.pop("explanation", None)
        elif span["category"] == "wrong-grounding" and isinstance(span["explanation"], str):
            evidence = _qa_evidence(span, rest.get("passages"))
            if evidence is not None:
                span["evidence"] = evidence
        spans.append(span)
    core = {"prompt": question, "response": response, "spans": spans,
            "missing": [_qa_passage_text(m, f"feedback.missing-info[{i}]", rest.get("passages"))
                        for i, m in enumerate(missing_info)]}
    corrected = fb.pop("corrected-prediction", None)
    if corrected not in (None, ""):
        core["corrected"] = corrected
    extra = dict(rest)
    if missing_info:
        extra["missing_info"] = missing_info
    if fb:
        extra["feedback"] = fb  # fields of the feedback object this reader does not know
    return _as("spans", {**extra, **core}, _QA_RENAME)


def _qa_preferences(preference, n: int) -> list[tuple[int, int, int]]:
    """``(i, j, label)`` for the pairs 1v2, 1v3, ..., (n-1)vn, with 0-based i < j."""
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not isinstance(preference, list) or len(preference) != len(pairs):
        raise FieldError("preference", f"expected {len(pairs)} labels (one per pair of the {n} predictions: "
                                       f"1v2, 1v3, ...), got {show(preference)}")
    for k, label in enumerate(preference):
        if not is_int(label) or label not in (0, 1, 2):
            raise FieldError(f"preference[{k}]", f"expected 0 (no preference), 1 or 2, got {show(label)}")
    return [(i, j, label) for (i, j), label in zip(pairs, preference)]


def preferences_to_tiers(prefs: list[tuple[int, int, int]], n: int) -> list[list[int]] | None:
    """The ranking (tiers, best first) that agrees with every pairwise label, or ``None`` when none does.

    In a ranking with ties an item beats exactly the items in lower tiers, so grouping by number of wins recovers the
    tiers whenever they exist; the labels are then checked against them.
    """
    wins = [0] * n
    for i, j, label in prefs:
        if label:
            wins[i if label == 1 else j] += 1
    tiers = [[i for i in range(n) if wins[i] == w] for w in sorted(set(wins), reverse=True)]
    tier_of = {i: t for t, tier in enumerate(tiers) for i in tier}
    for i, j, label in prefs:
        implied = 0 if tier_of[i] == tier_of[j] else (1 if tier_of[i] < tier_of[j] else 2)
        if label != implied:
            return None
    return tiers


def _qa_comparisons(question, preds: list[str], prefs, rest: dict) -> list[Record]:
    out = []
    for i, j, label in prefs:
        d = {**rest, "pair": [i, j], "prompt": question}
        if label == 0:
            d.update(responses=[preds[i], preds[j]], tie=True)
        else:
            d.update(chosen=preds[i if label == 1 else j], rejected=preds[j if label == 1 else i])
        out.append(_as("comparison", d, _QA_RENAME))
    return out


def from_qa_feedback(d, kind: str | None = None) -> list[Record]:
    """One QA-Feedback example as span feedback and comparisons (or a ranking with ``kind="ranking"``)."""
    if kind in ("rating", "critique"):
        raise FieldError(None, f"QA-Feedback holds span feedback and preferences, not {kind} feedback")
    rest = _object(d)
    question = text_field(_pop(rest, "question", "a QA-Feedback example needs question and prediction 1"), "question")
    preds = []
    while f"prediction {len(preds) + 1}" in rest:
        name = f"prediction {len(preds) + 1}"
        preds.append(text_field(rest.pop(name), name))
    if not preds:
        raise FieldError("prediction 1", "missing (a QA-Feedback example has 'prediction 1', 'prediction 2', ...)")
    feedback, preference = rest.pop("feedback", None), rest.pop("preference", None)
    if kind == "spans" and feedback is None:
        raise FieldError("feedback", "missing (asked for span feedback)")
    if kind in ("comparison", "ranking") and preference is None:
        raise FieldError("preference", f"missing (asked for {kind} feedback)")
    if feedback is None and preference is None:
        raise FieldError("feedback", "missing (a QA-Feedback example needs feedback and/or preference)")
    out = []
    if kind in (None, "spans") and feedback is not None:
        out.append(_qa_spans(question, preds[0], feedback, rest))
    if kind in (None, "comparison", "ranking") and preference is not None:
        prefs = _qa_preferences(preference, len(preds))
        if kind != "ranking":
            out.extend(_qa_comparisons(question, preds, prefs, rest))
        else:
            tiers = preferences_to_tiers(prefs, len(preds))
            if tiers is None:
                raise FieldError("preference", f"the pairwise labels {show(preference)} fit no ranking "
                                               "(a cycle or an intransitive tie); read them as comparisons instead")
            out.append(_as("ranking", {**rest, "prompt": question, "responses": preds, "ranking": tiers}, _QA_RENAME))
    return out


# ------------------------------------------------------------------------------------------------------ dispatch
def from_langrl(d, kind: str | None = None) -> list[Record]:
    return [parse_record(d, kind)]


_READERS = {"langrl": from_langrl, "trl": from_trl, "hh": from_hh, "qa-feedback": from_qa_feedback}


def detect_format(d) -> str:
    """The format one JSON object is in, from its fields (``"langrl"`` when nothing else fits)."""
    if not isinstance(d, dict) or "kind" in d:
        return "langrl"
    if "prediction 1" in d:
        return "qa-feedback"
    if "completion" in d and "label" in d:
        return "trl"
    if "chosen" in d and "rejected" in d:
        if isinstance(d["chosen"], list) or isinstance(d["rejected"], list):
            return "trl"
        if "prompt" not in d:
            return "hh"
    return "langrl"


def convert(d, fmt: str = "auto", kind: str | None = None) -> list[Record]:
    """The records one source object holds; with ``kind``, every record must be (or is selected to be) of that kind."""
    records = _READERS[detect_format(d) if fmt == "auto" else fmt](d, kind)
    for r in records:
        if kind is not None and r.kind != kind:
            raise FieldError(None, f"holds {r.kind} feedback, expected {kind} feedback")
    return records
