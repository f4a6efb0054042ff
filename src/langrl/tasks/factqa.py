"""``factqa``: ranked-fact questions about a made-up world, with fine-grained gold (Wu et al. 2023's three axes).

A prompt holds a short passage and a question; the answer names the top ``k`` (1-3) items of one ranked attribute:

    Vorland is a small country. The largest cities of Vorland, in order, are Kelm, Ardo, Pim and Sorv. The longest
    rivers of Vorland, in order, are Sul, Varo, Tesk and Mool.
    Q: What are the 3 largest cities of Vorland?
    A: The largest city of Vorland is Kelm. The second largest is Ardo. The third largest is Pim.

(or, in list style, "The 3 largest cities of Vorland are Kelm, Ardo and Pim."). The corpus contains the lecture's
error types at ``ERROR_RATES``: an irrelevant sentence (the passage's filler, a fact about the other attribute, or the
item after the k-th), a redundant (repeated) sentence, an untruthful item (a wrong item, or two items in the wrong
order) and a missing item.

Gold, per response (departing from the paper, which trains reward models on human labels, we compute the labels):

- sentences are split at . ! ?; a sentence naming no item, talking about the other attribute (by its nouns, else
  its superlative, else because it names only that attribute's items), naming only items past the k-th, or making
  only claims already made, is **irrelevant** (the lecture's "irrelevant / redundant");
- each (rank, item) claim is **untruthful** when the item is not the passage's item at that rank (a single item with
  an ordinal word, "The second largest is X", claims that rank; a superlative alone claims rank 1; a list claims
  ranks 1, 2, ... in order; an item with neither only claims membership);
- relevance = 1 - irrelevant sentences / sentences; factuality = 1 - untruthful claims / claims;
  completeness = asked ranks claimed correctly / k; **gold = relevance * factuality * completeness**.
"""
from __future__ import annotations

import re

from langrl.tasks.base import ANSWER_DELIMITER, Task, check_count, check_rows, make_rng, merge_rates, ordinal, \
    sentences
from langrl.tasks.factqa_world import ATTRIBUTES, ITEMS_PER_ATTRIBUTE, N_COUNTRIES, N_PLANETS, Entity, \
    filler_sentence, is_name, join_names, world

_NAME = re.compile(r"\b[A-Z][a-z]+\b")
_ORDINAL = re.compile(r"\b(first|second|third|fourth|fifth)\b")
_ORDINAL_RANK = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}


def _mentions(low: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(w)}\b", low) for w in words)


def _about_other(low: str, a, other, names: list[str], other_items: set) -> bool:
    """Whether a sentence talks about the other attribute: by its nouns, else its superlative, else its names."""
    by_noun = (_mentions(low, (a.singular, a.plural)), _mentions(low, (other.singular, other.plural)))
    for asked_sig, other_sig in [by_noun, (a.sup in low, other.sup in low)]:
        if asked_sig != other_sig:
            return other_sig
    return all(n in other_items for n in names)


def analyze(meta: dict, response: str) -> dict:
    """Fine-grained gold labels for one response; see the module docstring for the rules.

    Returns ``{"units": [{"start", "end", "category", "note"}], "missing": [rank, ...], "relevance", "factuality",
    "completeness", "gold", "list_style"}`` where ``units`` are the labelled spans (offsets into ``response``).
    """
    a, other = ATTRIBUTES[meta["attr"]], ATTRIBUTES[meta["other_attr"]]
    entity, k, items, other_items = meta["entity"], meta["k"], meta["items"], set(meta["other_items"])
    units, seen, covered = [], set(), set()
    n_sent = n_irrelevant = n_claims = n_untrue = 0
    list_style = False
    for s, e in sentences(response):
        n_sent += 1
        text, low = response[s:e], response[s:e].lower()
        names = [(s + m.start(), s + m.end(), m.group()) for m in _NAME.finditer(text)
                 if is_name(m.group()) and m.group() != entity]
        about_other = bool(names) and _about_other(low, a, other, [n for _, _, n in names], other_items)
        if not names or about_other:
            n_irrelevant += 1
            units.append({"start": s, "end": e, "category": "irrelevant",
                          "note": f'"{text}" is irrelevant to the question.'})
            continue
        if len(names) == 1:
            m = _ORDINAL.search(low)
            rank = _ORDINAL_RANK[m.group(1)] if m else (1 if a.sup in low else None)
            claims = [(rank, names[0])]
        else:
            list_style = True
            claims = [(i + 1, nm) for i, nm in enumerate(names)]
        untrue, relevant = [], []
        for rank, (ns, ne, name) in claims:
            n_claims += 1
            true = name in items if rank is None else rank <= len(items) and items[rank - 1] == name
            if not true:
                n_untrue += 1
                if rank is not None and rank <= len(items):
                    note = f"The {ordinal(rank)} item is wrong: it is {items[rank - 1]}, not {name}."
                else:
                    note = f"{name} is not one of the {a.many(entity)}."
                untrue.append((ns, ne, note))
            elif (items.index(name) + 1 if rank is None else rank) <= k:
                relevant.append((rank, name))
        for rank, name in relevant:
            if rank is not None:
                covered.add(rank)
        if untrue:
            for ns, ne, note in untrue:
                span = (s, e) if len(claims) == 1 else (ns, ne)
                units.append({"start": span[0], "end": span[1], "category": "untruthful", "note": note})
        elif not relevant or all(c in seen for c in relevant):
            n_irrelevant += 1
            why = "repeats an earlier sentence" if relevant else "is not asked for"
            units.append({"start": s, "end": e, "category": "irrelevant", "note": f'"{text}" {why}.'})
        seen.update(relevant)
    relevance = 1.0 - n_irrelevant / n_sent if n_sent else 0.0
    factuality = 1.0 - n_untrue / n_claims if n_claims else 1.0
    completeness = len(covered & set(range(1, k + 1))) / k
    return {"units": units, "missing": [r for r in range(1, k + 1) if r not in covered], "relevance": relevance,
            "factuality": factuality, "completeness": completeness,
            "gold": relevance * factuality * completeness, "list_style": list_style}


def render_answer(meta: dict, style: str = "items") -> str:
    """The correct answer (no leading space) in ``style`` "items" (one sentence per item) or "list"."""
    a, entity, k, items = ATTRIBUTES[meta["attr"]], meta["entity"], meta["k"], meta["items"]
    if style == "list" and k >= 2:
        return a.list_claim(entity, k, items[:k])
    return " ".join(a.claim(entity, r, items[r - 1]) for r in range(1, k + 1))


class FactQA(Task):
    """Ranked-fact QA over a made-up world; see the module docstring."""

    name = "factqa"
    rating_threshold = 0.9  # a thumbs-up only for an answer without a visible error
    #: Per-document probability of each error type in ``corpus``.
    ERROR_RATES = {"irrelevant": 0.15, "redundant": 0.08, "untruthful": 0.15, "missing": 0.15}
    K_WEIGHTS = {1: 0.2, 2: 0.35, 3: 0.45}
    LIST_STYLE_RATE = 0.4

    def __init__(self, world_seed: int = 0, error_rates: dict | None = None):
        self.error_rates = merge_rates(error_rates, self.ERROR_RATES)
        self.world_seed = world_seed
        w = world(world_seed)
        self._eval_entities = w.by_split("eval")
        self._names = sorted({n for e in w.entities for n in [e.name, *(i for v in e.attributes.values() for i in v)]})

    def _entity(self, rng, split: str) -> Entity:
        """The entity a problem asks about.

        eval: one of the world's held-out entities. train (corpus, SFT data, training prompts): a fresh entity per
        draw, its name and ranked items sampled from the world's names, so its facts exist only in the passage. A
        fixed training world gets memorised instead (a small model then answers from memory and never learns to read
        the passage), and the held-out entities' own lists never appear in training.
        """
        if split == "eval":
            return rng.choice(self._eval_entities)
        kind = "country" if rng.random() < N_COUNTRIES / (N_COUNTRIES + N_PLANETS) else "planet"
        keys = [a.key for a in ATTRIBUTES.values() if a.kind == kind]
        names = rng.sample(self._names, 1 + ITEMS_PER_ATTRIBUTE * len(keys))
        attrs = {key: names[1 + i * ITEMS_PER_ATTRIBUTE: 1 + (i + 1) * ITEMS_PER_ATTRIBUTE] for i, key in enumerate(keys)}
        return Entity(names[0], kind, attrs, filler_sentence(rng, kind, names[0]))

    # ---- problems -----------------------------------------------------------------------------------------------
    def _row(self, rng, split: str) -> dict:
        ent = self._entity(rng, split)
        attr, other = rng.sample(sorted(ent.attributes), 2)
        k = rng.choices(list(self.K_WEIGHTS), weights=list(self.K_WEIGHTS.values()))[0]
        a, o = ATTRIBUTES[attr], ATTRIBUTES[other]
        lists = [a.passage(ent.name, ent.attributes[attr]), o.passage(ent.name, ent.attributes[other])]
        if rng.random() < 0.5:
            lists.reverse()
        passage = " ".join([ent.filler] + lists)
        meta = {"entity": ent.name, "kind": ent.kind, "attr": attr, "k": k, "items": list(ent.attributes[attr]),
                "other_attr": other, "other_items": list(ent.attributes[other]), "filler": ent.filler}
        return {"prompt": f"{passage}\nQ: {a.question(ent.name, k)}{ANSWER_DELIMITER}",
                "answer": join_names(meta["items"][:k]), "reference": render_answer(meta), "meta": meta}

    def _completion(self, meta: dict, rng, rates: dict) -> str:
        """One completion with each error type injected at its rate (leading space)."""
        a, o = ATTRIBUTES[meta["attr"]], ATTRIBUTES[meta["other_attr"]]
        entity, k, items = meta["entity"], meta["k"], meta["items"]
        style = "list" if k >= 2 and rng.random() < self.LIST_STYLE_RATE else "items"
        chosen, ranks = list(items[:k]), list(range(1, k + 1))
        if rng.random() < rates["untruthful"]:
            r = rng.randrange(k)
            if k >= 2 and rng.random() < 0.4:  # two items in the wrong order
                j = r + 1 if r + 1 < k else r - 1
                chosen[r], chosen[j] = chosen[j], chosen[r]
            else:  # a wrong item: a later item of the same list, or one of the other attribute
                chosen[r] = rng.choice(items[k:] + meta["other_items"])
        if k >= 2 and rng.random() < rates["missing"]:
            drop = k - 1 if style == "list" else rng.randrange(k)
            del chosen[drop], ranks[drop]
        if style == "list":
            sents = [a.list_claim(entity, k, chosen)]
        else:
            sents = [a.claim(entity, r, it) for r, it in zip(ranks, chosen)]
        if len(sents) < 4 and rng.random() < rates["redundant"]:
            i = rng.randrange(len(sents))
            sents.insert(i + 1, sents[i])
        if len(sents) < 4 and rng.random() < rates["irrelevant"]:
            options = [(0, meta["filler"]), (0, o.claim(entity, 1, meta["other_items"][0]))]
            if k < ITEMS_PER_ATTRIBUTE:
                options.append((len(sents), a.claim(entity, k + 1, items[k])))
            pos, sent = rng.choice(options)
            sents.insert(pos, sent)
        return " " + " ".join(sents)

    # ---- Task API -------------------------------------------------------------------------------------------------
    def prompts(self, split: str, n: int, seed: int) -> list[dict]:
        return self._unique_rows(split, n, self.world_seed, seed)

    def corpus(self, n: int, seed: int) -> list[str]:
        check_count(n)
        rng = make_rng(self.name, "corpus", self.world_seed, seed)
        docs = []
        for _ in range(n):
            row = self._row(rng, "train")
            docs.append(row["prompt"] + self._completion(row["meta"], rng, self.error_rates))
        return docs

    def sft_examples(self, n: int, seed: int) -> list[dict]:
        check_count(n)
        rng = make_rng(self.name, "sft", self.world_seed, seed)
        out = []
        for _ in range(n):
            row = self._row(rng, "train")
            style = "list" if rng.random() < self.LIST_STYLE_RATE else "items"
            out.append({"prompt": row["prompt"], "completion": " " + render_answer(row["meta"], style)})
        return out

    def gold(self, rows: list[dict], responses: list[str]) -> dict[str, list[float]]:
        check_rows(rows, responses)
        out = {"gold": [], "relevance": [], "factuality": [], "completeness": []}
        for row, resp in zip(rows, responses):
            res = analyze(row["meta"], resp)
            for key in out:
                out[key].append(res[key])
        return out

    # ---- annotator hooks ----------------------------------------------------------------------------------------
    def utility(self, row: dict, response: str) -> float:
        """The annotator's holistic judgement: the product gold, plus a graded term so that two flawed answers are
        still ordered (a person prefers the answer that is at least relevant, or partly right)."""
        res = analyze(row["meta"], response)
        return 0.7 * res["gold"] + 0.1 * (res["relevance"] + res["factuality"] + res["completeness"])

    def label_spans(self, row: dict, response: str) -> tuple[list[dict], list[str]]:
        res = analyze(row["meta"], response)
        spans = [{"start": u["start"], "end": u["end"], "category": u["category"]} for u in res["units"]]
        return spans, [self._missing_note(row["meta"], r) for r in res["missing"]]

    @staticmethod
    def _missing_note(meta: dict, rank: int) -> str:
        return ATTRIBUTES[meta["attr"]].full_claim(meta["entity"], rank, meta["items"][rank - 1])

    def refine(self, row: dict, response: str) -> str:
        list_style = analyze(row["meta"], response)["list_style"]
        return render_answer(row["meta"], "list" if list_style else "items")

    def critique_text(self, row: dict, response: str, spans: list[dict], missing: list[str]) -> str:
        meta, res = row["meta"], analyze(row["meta"], response)
        kept = {(s["start"], s["end"], s["category"]) for s in spans}
        parts = [u["note"] for u in res["units"] if (u["start"], u["end"], u["category"]) in kept]
        for r in res["missing"]:
            if self._missing_note(meta, r) in missing:
                parts.append(f"The {ordinal(r)} item is missing: {meta['items'][r - 1]}.")
        return " ".join(parts) if parts else "The answer is correct, complete and relevant."
