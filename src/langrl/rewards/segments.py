"""Dense, fine-grained rewards: segmenters and the placement of segment rewards onto response tokens.

Implements the reward assignment of fine-grained RLHF (Wu et al. 2023, Eq. 1)::

    r_t = Σ_k Σ_j 1(t = T_j^k) · w_k · R_k(x, y, j)

every reward k scores every segment j of its segmentation, and the reward lands on T_j^k, the last token of the
segment: the token holding the segment's last character. Character offsets come from decoding the response tokens
(:func:`token_char_ends`), so they refer to the same decoded text the rewards saw.

Departures from the paper: the paper segments with spaCy's sentencizer (``split_sentences``) and then splits at
, ; ! ? with at least 5 words per piece (``split_subsentences``); we use a rule-based splitter with no model download
(abbreviations, initials, decimals, quotes, ellipses and newlines handled), so boundaries can differ on hard text. A
segment that ends beyond the last token (the response was truncated at the length limit) is dropped: only complete
segments are rewarded.

Shapes: b batch, t response length (token i of response b is column i, as in the Rollout's response mask).
"""
from __future__ import annotations

import bisect
import os
import re
from typing import Sequence

import torch

from langrl.rewards.protocol import Segment

# titles and Latin/reference abbreviations after which a period never ends a sentence
_NONFINAL = {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "gen", "col", "lt", "sgt", "capt", "cmdr",
             "gov", "sen", "rep", "rev", "hon", "pres", "messrs", "e.g", "i.e", "cf", "vs", "viz", "approx", "al",
             "fig", "figs", "no", "nos", "vol", "pp", "p", "ch", "sec", "eq", "ref", "dept", "est", "incl", "ca"}
# after an initialism (U.S., a.m.) a sentence ends only if one of these words follows
_STARTERS = {"the", "it", "he", "she", "they", "we", "i", "this", "that", "these", "those", "but", "and", "so",
             "in", "on", "at", "a", "an", "there", "its", "his", "her", "our", "my", "their", "however", "then",
             "what", "when", "why", "how", "you", "if", "as", "after", "before"}
_CANDIDATE = re.compile(r"(?:\.{2,}|…|[.!?]+)[\"'”’)\]]*(?=\s|$)")
_INITIALISM = re.compile(r"^(?:[a-z]\.)+[a-z]$")
_SUBSENT_END = re.compile(r"[,;!?][\"'”’)\]]*(?=\s)")
_OPENERS = "\"'“‘([{"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _next_word(text: str, pos: int) -> str:
    m = re.match(r"\s*[" + re.escape(_OPENERS) + r"]*(\S*)", text[pos:])
    return m.group(1) if m else ""


def _is_boundary(text: str, m: re.Match, line_start: int) -> bool:
    nxt = _next_word(text, m.end())
    if not nxt:  # end of the line
        return True
    if nxt[0].islower():  # "e.g. this", "“Really?” she asked"
        return False
    mark = m.group(0).rstrip("\"'”’)]")
    if mark.startswith("..") or mark.startswith("…"):  # an ellipsis ends a sentence only before a capital
        return nxt[0].isupper()
    if mark != ".":
        return True
    before = text[line_start:m.start()].split()
    word = before[-1].lstrip(_OPENERS).lower() if before else ""
    if word in _NONFINAL or (len(word) == 1 and word.isalpha()):  # "Dr. Smith", "J. Smith"
        return False
    if _INITIALISM.match(word):  # "U.S." ends a sentence only before a typical sentence starter
        return nxt.strip(",;:").lower() in _STARTERS
    return True


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text`` (end exclusive, surrounding whitespace excluded).

    A sentence ends at . ! ? or an ellipsis (with any closing quotes/brackets) followed by whitespace, unless the
    next word is lower-case or the period belongs to an abbreviation, an initial or an initialism; every newline
    also ends a sentence. Decimals (3.14) and dotted names (file.txt) never split because no space follows the dot.
    """
    spans: list[tuple[int, int]] = []
    line_start = 0
    for line_end in [m.start() for m in re.finditer("\n", text)] + [len(text)]:
        start = line_start
        for m in _CANDIDATE.finditer(text, line_start, line_end):
            if _is_boundary(text[:line_end], m, line_start):
                span = _trimmed(text, start, m.end())
                if span:
                    spans.append(span)
                start = m.end()
        span = _trimmed(text, start, line_end)
        if span:
            spans.append(span)
        line_start = line_end + 1
    return spans


def split_subsentences(text: str, min_words: int = 5) -> list[tuple[int, int]]:
    """Sub-sentence spans: each sentence is split again after , ; ! ? (followed by a space), as in the paper.

    Pieces are merged until each has at least ``min_words`` words (a short last piece joins the one before), so a
    sentence shorter than ``min_words`` stays whole.
    """
    spans = []
    for s_start, s_end in split_sentences(text):
        cuts = [m.end() for m in _SUBSENT_END.finditer(text, s_start, s_end)] + [s_end]
        pieces: list[list[int]] = []
        start = s_start
        for cut in cuts:
            if pieces and len(text[pieces[-1][0]:pieces[-1][1]].split()) < min_words:
                pieces[-1][1] = cut  # the open piece is still too short: extend it
            else:
                pieces.append([start, cut])
            start = cut
        if len(pieces) > 1 and len(text[pieces[-1][0]:pieces[-1][1]].split()) < min_words:
            last = pieces.pop()
            pieces[-1][1] = last[1]
        spans += [sp for p in pieces if (sp := _trimmed(text, p[0], p[1]))]
    return spans


def segments_from_spans(spans: Sequence[tuple[int, int]], values: Sequence[float], objective: str) -> list[Segment]:
    """One :class:`Segment` per span (its end offset), with the given values, for one objective."""
    if len(spans) != len(values):
        raise ValueError(f"{len(spans)} spans but {len(values)} values")
    return [Segment(end=int(e), value=float(v), objective=objective) for (_, e), v in zip(spans, values)]


def token_char_ends(tokenizer, response_ids: Sequence[Sequence[int]], skip_special_tokens: bool = True,
                    **decode_kwargs) -> list[list[int]]:
    """Character end offset (exclusive) of each response token within the decoded response text.

    Computed by cumulative decoding: token i ends where ``decode(ids[:i+1])`` stops agreeing with
    ``decode(ids)``, so a token that completes a multi-byte character owns it, special tokens skipped by the decode
    own no characters, and the offsets refer to exactly the text ``decode(ids, **kwargs)`` returns (pass the same
    keyword arguments the rollout used). ``tokenizer`` is a transformers tokenizer or a ``tokenizers.Tokenizer``.
    Non-decreasing; the last equals ``len(decode(ids))``. O(t²) decoding per
    response, batched in the tokenizer.
    """
    kwargs = dict(skip_special_tokens=skip_special_tokens, **decode_kwargs)
    # a transformers tokenizer has batch_decode; a raw `tokenizers.Tokenizer` has decode_batch
    batch = getattr(tokenizer, "batch_decode", None) or tokenizer.decode_batch
    out = []
    for ids in response_ids:
        ids = [int(i) for i in ids]
        if not ids:
            out.append([])
            continue
        prefixes = batch([ids[:i + 1] for i in range(len(ids))], **kwargs)
        full = tokenizer.decode(ids, **kwargs)
        ends, prev = [], 0
        for p in prefixes:
            e = len(p) if full.startswith(p) else len(os.path.commonprefix([p, full]))
            prev = max(prev, min(e, len(full)))
            ends.append(prev)
        ends[-1] = len(full)
        out.append(ends)
    return out


def place_segment_rewards(segments: Sequence[Sequence[Segment]], token_ends: Sequence[Sequence[int]], t: int,
                          weights: dict[str, float] | None = None) -> torch.Tensor:
    """Dense per-token rewards from segment rewards (fine-grained RLHF, Eq. 1).

    Args:
        segments: per response, the segments of every objective (``Segment.end`` is a character offset).
        token_ends: per response, the character end of each token (:func:`token_char_ends`), non-decreasing.
        t: the width of the Rollout's response tensors; every response has at most t tokens.
        weights: w_k per objective name (all 1 when None); an objective missing from it is an error.

    Returns:
        (b, t) float32 rewards; a segment's weighted value lands on the first token whose end reaches the segment's
        end (the token holding its last character). Segments ending beyond the last token's end are dropped.
    """
    if len(segments) != len(token_ends):
        raise ValueError(f"{len(segments)} segment lists for {len(token_ends)} responses")
    rewards = torch.zeros(len(segments), t, dtype=torch.float32)  # (b, t)
    for b, (segs, ends) in enumerate(zip(segments, token_ends)):
        ends = list(ends)
        if len(ends) > t:
            raise ValueError(f"response {b} has {len(ends)} tokens, more than t={t}")
        if any(x > y for x, y in zip(ends, ends[1:])):
            raise ValueError(f"token_ends of response {b} must be non-decreasing")
        for seg in segs:
            i = bisect.bisect_left(ends, seg.end)  # T_j^k: first token with end >= segment end
            if i == len(ends):
                continue  # the segment is incomplete (truncated response): no reward
            if weights is None:
                w = 1.0
            elif seg.objective in weights:
                w = weights[seg.objective]
            else:
                raise ValueError(f"no weight for objective {seg.objective!r}; weights: {sorted(weights)}")
            rewards[b, i] += w * seg.value  # Eq. 1: r_t += 1(t = T_j^k) · w_k · R_k(x, y, j)
    return rewards


def weighted_segment_sum(segments: Sequence[Sequence[Segment]], weights: dict[str, float] | None = None) -> list[float]:
    """Σ_k Σ_j w_k · R_k(x, y, j) per response: what its dense rewards add up to when nothing is truncated."""
    return [sum((1.0 if weights is None else weights[s.objective]) * s.value for s in segs) for segs in segments]


sentence_spans = split_sentences  # the name langrl.models.rm.data imports, so rewards and reward models agree


SEGMENT_VALUES = ("signed", "fraction", "penalty")


def segment_values(probs: Sequence[float], mode: str = "signed", scale: float = 1.0) -> list[float]:
    """The reward R(j) of each of a response's n segments for one error category, from P_j = P(segment j has it).

    - ``signed`` (Wu et al. 2023, Sec. 4.1, in expectation): R(j) = scale · (1 - 2 P_j), the expected value of the
      paper's +scale (no error) / -scale (error) segment reward. Its sum over segments grows by up to +scale with
      every segment the model passes, so a weak error head pays for every extra sentence it misses.
    - ``fraction``: R(j) = -scale · P_j / n, whose sum over segments is -scale · (the expected share of segments
      with the error), i.e. scale · (E[error-free share] - 1): factqa's gold relevance and factuality are such
      shares, and an extra sentence pays only if it lowers the share of bad ones.
    - ``penalty``: R(j) = -scale · P_j, the sum is -scale · (the expected number of bad segments): only errors cost.

    Shapes: ``probs`` (n,) floats in [0, 1] -> (n,) values; no segments give [].
    """
    if mode not in SEGMENT_VALUES:
        raise ValueError(f"segment values: unknown mode {mode!r}; expected one of {', '.join(SEGMENT_VALUES)}")
    n = len(probs)
    if mode == "signed":
        return [scale * (1.0 - 2.0 * float(p)) for p in probs]
    if mode == "fraction":
        return [-scale * float(p) / n for p in probs]
    return [-scale * float(p) for p in probs]
