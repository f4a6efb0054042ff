"""The refinement prompt: the policy sees the question, its answer and the critique, and answers again.

Every built-in task's prompt ends with the answer delimiter ``"\\nA:"`` and its answers start with a space, so the
refinement prompt keeps that shape and asks the question again after the critique::

    {prompt}{response}
    Critique: {critique}
    Q: Answer again and fix what the critique says.
    A:

e.g. (factqa, the passage cut short here)::

    The largest cities of Vorland, in order, are Kelm, Ardo, Pim and Sorv. ...
    Q: What are the 3 largest cities of Vorland?
    A: The largest city of Vorland is Kelm. The second largest is Pim.
    Critique: The second item is wrong: it is Ardo, not Pim.
    Q: Answer again and fix what the critique says.
    A:

The refinement is sampled after it (cut at the first newline); ILF fine-tunes the policy on (prompt, refinement),
without the critique, so the feedback is not needed at inference.
"""
from __future__ import annotations

from langrl.errors import InputError

ANSWER_DELIMITER = "\nA:"
REFINE_TEMPLATE = "{prompt}{response}\nCritique: {critique}\nQ: Answer again and fix what the critique says.\nA:"


def refinement_prompt(prompt: str, response: str, critique: str) -> str:
    """The refinement prompt for one (prompt, response, critique); ``prompt`` must end with ``"\\nA:"``."""
    if not isinstance(prompt, str) or not prompt.endswith(ANSWER_DELIMITER):
        raise InputError(f"a refinement prompt needs a text prompt ending with {ANSWER_DELIMITER!r}", field="prompt")
    return REFINE_TEMPLATE.format(prompt=prompt, response=response, critique=" ".join(critique.split()))
