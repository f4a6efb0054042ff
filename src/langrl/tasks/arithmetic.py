"""``arithmetic``: multi-step word problems with a verifiable answer (the RLVR-style task).

    Q: Ann has 3 apples. She buys 4 more and gives away 2. How many apples does she have now?
    A: 3 + 4 = 7. 7 - 2 = 5. #### 5

Rows carry ``"answer"`` (the number as a string) and ``"reference"`` (the worked solution). A problem is a start value
and 2-3 operations (+, -, and at most one doubling/tripling), kept between 0 and 200; it belongs to the train or eval
split by a stable hash of its numbers and operations (not of the names), so an eval problem's arithmetic never
appears in training data. The corpus contains these errors at ``ERROR_RATES``: an arithmetic slip (later steps carry
the wrong value), a wrong operation (+ for -), a skipped step, and a final answer that differs from the last step.

Gold: ``correct`` = the number after the first ``####`` equals the answer; ``steps`` = valid steps / max(written,
needed), where a step ``x op y = z`` is valid when it is true, ``(op, y)`` is one of the problem's operations and
``x`` is the start value or an earlier step's result. **gold = correct.** The simulated annotator ranks by
``0.8 * correct + 0.2 * steps`` so two wrong answers are still ordered by their working.
"""
from __future__ import annotations

import re

from langrl.tasks.base import ANSWER_DELIMITER, Task, check_count, check_rows, make_rng, merge_rates, split_of

NAMES = [("Ann", "she"), ("Bob", "he"), ("Cal", "he"), ("Dee", "she"), ("Eve", "she"), ("Fay", "she"), ("Gus", "he"),
         ("Hal", "he"), ("Ivy", "she"), ("Jon", "he"), ("Kim", "she"), ("Max", "he"), ("Ned", "he"), ("Pam", "she"),
         ("Ray", "he"), ("Sam", "he"), ("Tom", "he"), ("Una", "she"), ("Val", "she"), ("Zoe", "she")]
ITEMS = ["apples", "pens", "coins", "books", "cards", "stamps", "shells", "marbles", "eggs", "stickers"]
PHRASES = {"+": ["buys {b} more", "finds {b} more", "gets {b} more", "wins {b} more"],
           "-": ["gives away {b}", "loses {b}", "sells {b}", "gives {b} to a friend"],
           "*": {2: "doubles them", 3: "triples them"}}
MAX_VALUE = 200
_STEP = re.compile(r"(-?\d+)\s*([-+*x×])\s*(-?\d+)\s*=\s*(-?\d+)")
_ANSWER = re.compile(r"####\s*(-?\d+)")


def _apply(x: int, op: str, b: int) -> int:
    return x + b if op == "+" else x - b if op == "-" else x * b


def solution(start: int, ops: list[dict]) -> tuple[str, int]:
    """The worked solution ``"3 + 4 = 7. 7 - 2 = 5. #### 5"`` (no leading space) and the answer."""
    x, steps = start, []
    for o in ops:
        y = _apply(x, o["op"], o["b"])
        steps.append(f"{x} {o['op']} {o['b']} = {y}.")
        x = y
    return " ".join(steps + [f"#### {x}"]), x


def analyze(meta: dict, answer: str, response: str) -> dict:
    """Parse a response: ``{"correct", "steps", "got", "answer_span", "bad_steps": [(start, end, note)],
    "missing_ops": [op dicts]}`` (see the module docstring for the rules)."""
    ops = meta["ops"]
    allowed = {(o["op"], o["b"]) for o in ops}
    available, used, bad, n_written, n_valid = {meta["start"]}, set(), [], 0, 0
    m_ans = _ANSWER.search(response)
    body = response[:m_ans.start()] if m_ans else response
    for i, m in enumerate(_STEP.finditer(body), start=1):
        n_written += 1
        x, op, b, z = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
        op = "*" if op in "x×" else op
        true = _apply(x, op, b) == z
        if true and (op, b) in allowed and x in available:
            n_valid += 1
            used.add((op, b))
        elif not true:
            bad.append((m.start(), m.end(), f"Step {i}: {x} {op} {b} is {_apply(x, op, b)}, not {z}."))
        elif (op, b) not in allowed:
            bad.append((m.start(), m.end(), f"Step {i} ({m.group(0)}) is not an operation from the problem."))
        else:
            bad.append((m.start(), m.end(), f"Step {i} starts from {x}, which is not a value we have."))
        available.add(z)
    got = int(m_ans.group(1)) if m_ans else None
    return {"correct": float(got is not None and str(got) == answer),
            "steps": n_valid / max(n_written, len(ops)) if n_written else 0.0, "got": got,
            "answer_span": (m_ans.start(), m_ans.end()) if m_ans else None, "bad_steps": bad,
            "missing_ops": [o for o in ops if (o["op"], o["b"]) not in used]}


class Arithmetic(Task):
    """Multi-step word arithmetic with a verifiable answer; see the module docstring."""

    name = "arithmetic"
    rating_threshold = 0.5
    #: Per-document probability of each error type in ``corpus``.
    ERROR_RATES = {"slip": 0.1, "wrong_op": 0.05, "skip": 0.05, "answer_mismatch": 0.05}

    def __init__(self, error_rates: dict | None = None):
        self.error_rates = merge_rates(error_rates, self.ERROR_RATES)

    # ---- problems -----------------------------------------------------------------------------------------------
    @staticmethod
    def _problem(rng) -> tuple[int, list[dict]]:
        while True:
            x = start = rng.randint(2, 20)
            ops, multiplied = [], False
            for _ in range(rng.choice([2, 2, 3])):
                choices = ["+", "-"] + (["*"] if not multiplied and x <= 30 else [])
                op = rng.choice(choices)
                b = rng.choice([2, 3]) if op == "*" else rng.randint(1, 12 if op == "+" else max(1, x))
                phrases = PHRASES[op]
                phrase = phrases[b] if op == "*" else rng.choice(phrases).format(b=b)
                multiplied |= op == "*"
                ops.append({"op": op, "b": b, "phrase": phrase})
                x = _apply(x, op, b)
            if 0 <= x <= MAX_VALUE and len({(o["op"], o["b"]) for o in ops}) == len(ops):
                return start, ops

    def _row(self, rng, split: str) -> dict:
        while True:
            start, ops = self._problem(rng)
            if split_of("arithmetic|" + str(start) + "|" + ",".join(f"{o['op']}{o['b']}" for o in ops)) == split:
                break
        name, pron = rng.choice(NAMES)
        items = rng.choice(ITEMS)
        phrases = [o["phrase"] for o in ops]
        acts = " and ".join(phrases) if len(phrases) == 2 else f"{phrases[0]}, {phrases[1]} and then {phrases[2]}"
        question = (f"{name} has {start} {items}. {pron.capitalize()} {acts}. "
                    f"How many {items} does {pron} have now?")
        reference, answer = solution(start, ops)
        return {"prompt": f"Q: {question}{ANSWER_DELIMITER}", "answer": str(answer), "reference": reference,
                "meta": {"start": start, "ops": ops}}

    def _completion(self, meta: dict, rng) -> str:
        """A worked solution with each error type injected at its rate (leading space)."""
        rates, ops = self.error_rates, list(meta["ops"])
        if rng.random() < rates["skip"]:
            del ops[rng.randrange(len(ops))]
        if rng.random() < rates["wrong_op"]:
            i = rng.randrange(len(ops))
            if ops[i]["op"] in "+-":
                ops[i] = {**ops[i], "op": "+" if ops[i]["op"] == "-" else "-"}
        slip_at = rng.randrange(len(ops)) if rng.random() < rates["slip"] else -1
        x, steps = meta["start"], []
        for i, o in enumerate(ops):
            y = _apply(x, o["op"], o["b"])
            if i == slip_at:
                y = max(0, y + rng.choice([-2, -1, 1, 2]))
            steps.append(f"{x} {o['op']} {o['b']} = {y}.")
            x = y
        if rng.random() < rates["answer_mismatch"]:
            x = max(0, x + rng.choice([-3, -2, -1, 1, 2, 3]))
        return " " + " ".join(steps + [f"#### {x}"])

    # ---- Task API -------------------------------------------------------------------------------------------------
    def prompts(self, split: str, n: int, seed: int) -> list[dict]:
        return self._unique_rows(split, n, seed)

    def corpus(self, n: int, seed: int) -> list[str]:
        check_count(n)
        rng = make_rng(self.name, "corpus", seed)
        docs = []
        for _ in range(n):
            row = self._row(rng, "train")
            docs.append(row["prompt"] + self._completion(row["meta"], rng))
        return docs

    def sft_examples(self, n: int, seed: int) -> list[dict]:
        check_count(n)
        rng = make_rng(self.name, "sft", seed)
        return [{"prompt": row["prompt"], "completion": " " + row["reference"]}
                for row in (self._row(rng, "train") for _ in range(n))]

    def gold(self, rows: list[dict], responses: list[str]) -> dict[str, list[float]]:
        check_rows(rows, responses)
        out = {"gold": [], "correct": [], "steps": []}
        for row, resp in zip(rows, responses):
            res = analyze(row["meta"], row["answer"], resp)
            out["gold"].append(res["correct"])
            out["correct"].append(res["correct"])
            out["steps"].append(res["steps"])
        return out

    # ---- annotator hooks ----------------------------------------------------------------------------------------
    def utility(self, row: dict, response: str) -> float:
        res = analyze(row["meta"], row["answer"], response)
        return 0.8 * res["correct"] + 0.2 * res["steps"]

    def _labels(self, row: dict, response: str) -> tuple[list[tuple[int, int, str, str]], list[str]]:
        res = analyze(row["meta"], row["answer"], response)
        labels = [(a, b, "wrong_step", note) for a, b, note in res["bad_steps"]]
        if res["answer_span"] and not res["correct"]:
            a, b = res["answer_span"]
            labels.append((a, b, "wrong_answer", f"The final answer should be {row['answer']}, not {res['got']}."))
        missing = [f'The step for "{o["phrase"]}" is missing.' for o in res["missing_ops"]]
        if res["answer_span"] is None:
            missing.append(f"The final answer line is missing: #### {row['answer']}")
        return labels, missing

    def label_spans(self, row: dict, response: str) -> tuple[list[dict], list[str]]:
        labels, missing = self._labels(row, response)
        return [{"start": a, "end": b, "category": c} for a, b, c, _ in labels], missing

    def refine(self, row: dict, response: str) -> str:
        return row["reference"]

    def critique_text(self, row: dict, response: str, spans: list[dict], missing: list[str]) -> str:
        labels, _ = self._labels(row, response)
        kept = {(s["start"], s["end"], s["category"]) for s in spans}
        parts = [note for a, b, c, note in labels if (a, b, c) in kept] + list(missing)
        return " ".join(parts) if parts else "The solution is correct."
