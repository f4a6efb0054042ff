"""Prompts the way users bring them: plain text or TRL's conversational format, through the model's chat template.

A prompt is either a string or a non-empty list of ``{"role", "content"}`` messages (TRL's conversational format,
``roles`` system/user/assistant/tool). :func:`render_prompt` turns one into the text the model continues:

- with a chat template (``tokenizer.chat_template``) and ``use_template`` on: a string becomes one user message, a
  ``system`` prompt (when given, and the messages do not start with one) goes first, and the template is applied with
  the generation prompt (``add_generation_prompt=True``), so an Instruct model answers as the assistant. Tokenising
  the rendered text with ``add_special_tokens=False`` gives exactly ``apply_chat_template(..., tokenize=True)``'s ids
  (tested), which is how the sampler encodes prompts;
- without one (or with ``use_template=False``): a string is used as is (with the system prompt on a line before it, when
  given); messages become ``role: content`` lines ending in ``assistant:`` (the convention SFT, DPO and reward-model
  data use for chat records on a model without a template).

:func:`prompt_text` is what reward functions and logs see as the prompt (the user's text, not the template's markup);
the responses they score are the decoded assistant tokens only (special tokens such as ``<|im_end|>`` dropped).
"""
from __future__ import annotations

from langrl.errors import InputError

ROLES = ("system", "user", "assistant", "tool")


def check_prompt(value, path=None, line: int | None = None, field: str = "prompt"):
    """``value`` if it is a non-empty string or a non-empty list of ``{role, content}`` messages (roles in
    :data:`ROLES`, contents strings, the last one non-empty); else ``path:line: field 'prompt': expected ...``."""
    where = dict(path=None if path is None else str(path), line=line)
    if isinstance(value, str):
        if not value.strip():
            raise InputError("expected a non-empty string", field=field, **where)
        return value
    if not isinstance(value, list) or not value:
        got = type(value).__name__ if value is not None else "nothing"
        raise InputError(f"expected a string or a non-empty list of {{role, content}} messages, got {got}",
                         field=field, **where)
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise InputError("expected a message {\"role\": ..., \"content\": \"...\"}", field=f"{field}[{i}]",
                             **where)
        if m.get("role") not in ROLES:
            raise InputError(f"expected a role in {', '.join(ROLES)}, got {m.get('role')!r}",
                             field=f"{field}[{i}].role", **where)
    if not value[-1]["content"].strip():
        raise InputError("expected non-empty content in the last message", field=f"{field}[{len(value) - 1}]",
                         **where)
    return value


def has_chat_template(tokenizer) -> bool:
    """Whether the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def as_messages(prompt, system: str | None = None) -> list[dict]:
    """The prompt as a message list: a string is one user turn; ``system`` goes first unless one is there already."""
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


def render_prompt(tokenizer, prompt, *, system: str | None = None, use_template: bool = True) -> str:
    """The text the model continues for ``prompt`` (a string or messages; see the module docstring)."""
    if use_template and has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(as_messages(prompt, system), tokenize=False, add_generation_prompt=True)
    if isinstance(prompt, str):
        return f"{system}\n{prompt}" if system else prompt
    return "".join(f"{m['role']}: {m['content']}\n" for m in as_messages(prompt, system)) + "assistant:"


def render_prompts(tokenizer, prompts: list, *, system: str | None = None, use_template: bool = True) -> list[str]:
    """:func:`render_prompt` over a list."""
    return [render_prompt(tokenizer, p, system=system, use_template=use_template) for p in prompts]


def prompt_text(prompt) -> str:
    """The prompt as rewards and logs see it: a string as is; for messages, the last user message's content."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    return users[-1] if users else prompt[-1]["content"]
