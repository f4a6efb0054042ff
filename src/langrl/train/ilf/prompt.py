"""The refinement prompt: the policy reads its answer and the critique as context, then answers the question again.

Every built-in task's prompt is ``{context}\\nQ: {question}\\nA:`` (arithmetic: no context, ``Q: {question}\\nA:``),
and a small policy answers best in that shape, so the refinement prompt puts the previous answer and the critique
into the context, before the question, and keeps the question and the answer delimiter as they were::

    {context}
    Previous answer:{response}
    Critique: {critique}
    Q: {question}
    A:

e.g. (factqa)::

    Vorland is a small country. The largest cities of Vorland, in order, are Kelm, Ardo, Pim and Sorv.
    Previous answer: The largest city of Vorland is Pim.
    Critique: The first item is wrong: it is Kelm, not Pim.
    Q: What is the largest city of Vorland?
    A:

(measured by ``scripts/lf-refine-formats`` on the seed-0 factqa SFT policy, 48 prompts x 4 samples: the gold of refinements is 0.17 with this shape
and 0.02 with the critique after the answer followed by a new instruction, the shape a large instruction-following
LM would take; plain answers score 0.40). The refinement is sampled after it and cut at the first newline; ILF
fine-tunes on (prompt, refinement), without the critique, so the feedback is not needed at inference.
"""
from __future__ import annotations

from langrl.errors import InputError

ANSWER_DELIMITER = "\nA:"
REFINE_TEMPLATE = "{context}Previous answer:{response}\nCritique: {critique}\nQ: {question}\nA:"


def split_prompt(prompt: str) -> tuple[str, str]:
    """(context, question) of a task prompt ``{context}\\nQ: {question}\\nA:`` (or ``Q: {question}\\nA:``)."""
    if not isinstance(prompt, str) or not prompt.endswith(ANSWER_DELIMITER):
        raise InputError(f"a refinement prompt needs a text prompt ending with {ANSWER_DELIMITER!r}", field="prompt")
    body = prompt[:-len(ANSWER_DELIMITER)]
    if body.startswith("Q: ") and "\nQ: " not in body:
        return "", body[3:]
    context, sep, question = body.rpartition("\nQ: ")
    if not sep:
        raise InputError("a refinement prompt needs a task prompt with a 'Q: ' line before the answer", field="prompt")
    return context, question


def refinement_prompt(prompt: str, response: str, critique: str) -> str:
    """The refinement prompt for one (prompt, response, critique); see the module docstring."""
    context, question = split_prompt(prompt)
    return REFINE_TEMPLATE.format(context=context + "\n" if context else "", response=response,
                                  critique=" ".join(critique.split()), question=question)
