"""A simulated annotator that writes critiques in varied natural language, with partial or wrong critiques at a rate.

The default annotator (:class:`langrl.tasks.annotator.Annotator`) writes one fixed sentence per problem. This one
phrases each :class:`~langrl.tasks.issues.Issue` with one of several paraphrase templates, names the thing it is
about in one of several ways (quoting the sentence, "the second sentence", "step 2", the wrong item's name), adds a
hedge ("I think", "probably") at a rate, and joins the sentences in a shuffled order. Knobs:

- ``noise`` (default 0.1): probability that a critique is corrupted. A corrupted critique is **partial** (one real
  issue left out) or **wrong** (one issue replaced by a made-up one: another sentence or step blamed, or a category
  changed), half each; a response without issues can only get a wrong critique (a made-up issue).
- ``hedge`` (default 0.3): probability that each sentence of a critique carries a hedge.

Randomness is drawn per critique from a generator seeded by ``(seed, prompt, response)``, so the same annotator
writes the same critique for the same question whatever the order of calls. Output records have the annotation
app's critique export shape ``{"prompt", "response", "critique", "refinement", "annotator"}``; :meth:`spans` gives
the same annotator's span marks for the same response (what it *believes*, so they agree with its critique, noise
included): a (critique, spans) pair is what a critique reader is trained on.
"""
from __future__ import annotations

import math

from langrl.errors import InputError
from langrl.tasks.base import ordinal, sentences
from langrl.tasks.issues import Issue, task_issues
from langrl.tasks.rng import make_rng

HEDGES = ("I think ", "Probably ", "It seems that ", "If I read it right, ")
# Words that stay capitalised after a hedge (names and quotes keep their case; these template words do not).
_LOWER_AFTER_HEDGE = ("The ", "You ", "In ", "It ", "This ", "Check ", "Step ", "Nothing ", "End ", "So ", "All ")

FACTQA = {
    "wrong_rank": ["The {ord} item is wrong: it is {should}, not {said}.",
                   "{said} is not the {ord} {singular}; the passage says {should}.",
                   "You list {said} as the {ord} one, but it should be {should}.",
                   "In the {unit_ord} sentence, {said} should be {should}.",
                   "{said} is wrong there; the {ord} is {should}."],
    "not_member": ["{said} is not one of the {plural}.",
                   "{said} does not appear in that list.",
                   "The passage never names {said} among the {plural}."],
    "off_topic": ['"{quote}" is irrelevant to the question.',
                  "The {unit_ord} sentence is off-topic.",
                  '"{quote}" does not answer the question; drop it.',
                  "The {unit_ord} sentence is not needed."],
    "not_asked": ['"{quote}" is not asked for.',
                  "The {unit_ord} sentence goes beyond what was asked.",
                  '"{quote}" is irrelevant to the question.'],
    "repeat": ["The {unit_ord} sentence repeats an earlier one.",
               'You repeat yourself: "{quote}" appears twice.',
               '"{quote}" is said twice.'],
    "item": ["The {ord} item is missing: {should}.",
             "You forgot {should}, the {ord} {singular}.",
             "It should also mention {should}.",
             "{should} is missing."],
    "ok": ["The answer is correct, complete and relevant.", "Looks right to me.", "Good answer: nothing to fix.",
           "This is correct."],
}
ARITHMETIC = {
    "slip": ["Step {rank}: {eq} is {should}, not {z}.",
             "In step {rank}, {eq} should give {should}.",
             "{eq} does not equal {z}.",
             "The {ord} step has a slip: it should be {should}.",
             "Check the {ord} calculation; {z} is wrong."],
    "bad_op": ["Step {rank} ({said}) is not an operation from the problem.",
               "The {ord} step uses an operation the problem never asks for.",
               "In step {rank}, {eq} is not what the problem says to do."],
    "bad_start": ["Step {rank} starts from {x}, which is not a value we have.",
                  "In step {rank}, where does {x} come from?"],
    "answer": ["The final answer should be {should}, not {said}.", "The answer {said} is wrong.",
               "The result after #### is off; it is {should}.", "So the final answer is wrong: it should be {should}."],
    "step": ['The step for "{should}" is missing.', 'You never account for "{should}".',
             'Nothing handles "{should}".'],
    "answer_line": ["The final answer line is missing (#### {should}).", "End with the answer line (#### {should})."],
    "ok": ["The solution is correct.", "All steps check out.", "Correct."],
}
PHRASINGS = {"factqa": FACTQA, "arithmetic": ARITHMETIC}


def _fields(task: str, row: dict, response: str, issue: Issue) -> dict:
    f = {"said": issue.said, "should": issue.should, "rank": issue.rank,
         "ord": ordinal(issue.rank) if 1 <= issue.rank <= 5 else "next",
         "unit_ord": ordinal(issue.unit + 1) if 0 <= issue.unit < 5 else f"number {issue.unit + 1}",
         "quote": response[issue.start:issue.end] if issue.located else ""}
    if task == "factqa":
        from langrl.tasks.factqa_world import ATTRIBUTES

        a = ATTRIBUTES[row["meta"]["attr"]]
        f.update(singular=a.singular, plural=a.plural)
    elif issue.category == "wrong_step":
        x, op, b, z = issue.said.split()[0], issue.said.split()[1], issue.said.split()[2], issue.said.split()[-1]
        f.update(eq=f"{x} {op} {b}", x=x, z=z)
    return f


def phrase(task: str, row: dict, response: str, issue: Issue, template: int) -> str:
    """Issue ``issue`` written with paraphrase number ``template`` (modulo the number of paraphrases of its kind)."""
    options = PHRASINGS[task][issue.kind]
    return options[template % len(options)].format(**_fields(task, row, response, issue))


def hedged(sentence: str, hedge: str) -> str:
    """``hedge`` + ``sentence``, lower-casing a leading template word ("The" -> "the"), never a name or a quote."""
    if sentence.startswith(_LOWER_AFTER_HEDGE):
        sentence = sentence[0].lower() + sentence[1:]
    return hedge + sentence


class LanguageAnnotator:
    """Critiques in varied language for ``task`` (``factqa`` or ``arithmetic``); see the module docstring."""

    def __init__(self, task, seed: int = 0, noise: float = 0.1, hedge: float = 0.3):
        if task.name not in PHRASINGS:
            raise InputError(f"language critiques exist for {', '.join(PHRASINGS)}, not {task.name!r}", field="task")
        for name, value in (("noise", noise), ("hedge", hedge)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value) or not 0 <= value <= 1:
                raise InputError(f"expected a probability in [0, 1], got {value!r}", field=name)
        self.task, self.seed, self.noise, self.hedge = task, seed, float(noise), float(hedge)

    def __repr__(self) -> str:
        return f"LanguageAnnotator(task={self.task.name!r}, seed={self.seed}, noise={self.noise}, hedge={self.hedge})"

    def _rng(self, row: dict, response: str):
        return make_rng("language-annotator", self.task.name, self.seed, row["prompt"], response)

    def believed(self, row: dict, response: str) -> tuple[list[Issue], str]:
        """(the issues this annotator reports, how the critique was corrupted: ``""``, ``"partial"``, ``"wrong"``)."""
        issues = task_issues(self.task.name, row, response)
        rng = self._rng(row, response)
        u_noise, u_mode, u_which = rng.random(), rng.random(), rng.random()  # always three draws: stable streams
        if u_noise >= self.noise:
            return issues, ""
        j = int(u_which * len(issues)) if issues else 0
        if issues and u_mode < 0.5:
            return issues[:j] + issues[j + 1:], "partial"
        fake = self._made_up(row, response, issues, rng)
        if fake is None:  # nothing can be made up (no sentence to blame): the critique stays partial if it can
            return (issues[:j] + issues[j + 1:], "partial") if issues else (issues, "")
        return (issues[:j] + [fake] + issues[j + 1:]) if issues else [fake], "wrong"

    def _made_up(self, row: dict, response: str, issues: list[Issue], rng) -> Issue | None:
        """An issue the response does not have: a sentence / step with no real issue blamed for something."""
        taken = {i.unit for i in issues if i.located}
        units = sentences(response)
        if self.task.name == "arithmetic":
            from langrl.tasks.arithmetic import _STEP

            steps = [m for m in _STEP.finditer(response)]
            free = [(k, m) for k, m in enumerate(steps) if k not in taken]
            if not free:
                return None
            k, m = free[int(rng.random() * len(free))]
            z = int(m.group(4))
            wrong = z + rng.choice([-2, -1, 1, 2])
            return Issue("wrong_step", "slip", m.start(), m.end(), k, k + 1,
                         said=f"{m.group(1)} {m.group(2)} {m.group(3)} = {z}", should=str(wrong))
        from langrl.tasks.factqa import _NAME
        from langrl.tasks.factqa_world import is_name

        free = [k for k in range(len(units)) if k not in taken]
        if not free:
            return None
        k = free[int(rng.random() * len(free))]
        s, e = units[k]
        text = response[s:e]
        names = [m.group() for m in _NAME.finditer(text) if is_name(m.group()) and m.group() != row["meta"]["entity"]]
        if names and rng.random() < 0.5:
            from langrl.tasks.critique_parse import factqa_span

            s, e, _ = factqa_span(response, names[-1], k)
            return Issue("untruthful", "not_member", s, e, k, said=names[-1])
        return Issue("irrelevant", "off_topic", s, e, k, said=text)

    def critique(self, row: dict, response: str) -> dict:
        """One critique record in the annotation app's export shape (see the module docstring)."""
        issues, _ = self.believed(row, response)
        return {"prompt": row["prompt"], "response": response, "critique": self.write(row, response, issues),
                "refinement": self.task.refine(row, response), "annotator": f"simulated-language-{self.seed}"}

    def spans(self, row: dict, response: str) -> dict:
        """This annotator's span marks for the same response, agreeing with its critique (a spans record)."""
        issues, _ = self.believed(row, response)
        missing_notes = {"factqa": "The {ord} item is missing: {should}.", "arithmetic": "{should}"}
        spans = sorted(({"start": i.start, "end": i.end, "category": i.category} for i in issues if i.located),
                       key=lambda s: (s["start"], s["end"]))
        missing = [missing_notes[self.task.name].format(ord=ordinal(i.rank) if 1 <= i.rank <= 5 else "", should=i.should)
                   for i in issues if not i.located]
        return {"prompt": row["prompt"], "response": response, "spans": spans, "missing": missing,
                "corrected": self.task.refine(row, response), "annotator": f"simulated-language-{self.seed}"}

    def write(self, row: dict, response: str, issues: list[Issue]) -> str:
        """The critique text for ``issues``: one paraphrased (maybe hedged) sentence each, in a shuffled order."""
        rng = make_rng("language-annotator-text", self.task.name, self.seed, row["prompt"], response)
        table = PHRASINGS[self.task.name]
        if not issues:
            return table["ok"][int(rng.random() * len(table["ok"]))]
        parts = []
        for issue in issues:
            text = phrase(self.task.name, row, response, issue, int(rng.random() * len(table[issue.kind])))
            if rng.random() < self.hedge:
                text = hedged(text, HEDGES[int(rng.random() * len(HEDGES))])
            parts.append(text)
        rng.shuffle(parts)
        return " ".join(parts)
