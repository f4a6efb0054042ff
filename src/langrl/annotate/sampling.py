"""``annotate load --from-policy``: candidate responses sampled from a policy with the project's sampler.

Each prompt becomes one item whose responses are the policy's samples; identical and empty samples are dropped (a
comparison of a response with itself teaches nothing), so an item may have fewer than ``n`` responses, and a prompt
whose samples are all empty is left out.
"""
from __future__ import annotations

from langrl.errors import InputError


def read_prompts(path: str) -> list[dict]:
    """Prompts as ``{"id", "prompt"}``: JSONL with ``"prompt"`` (and optional ``"id"``) per line, or one per line of a
    ``.txt`` file; ids default to the line number. Read by :mod:`langrl.jsonl` (UTF-8, lines split at ``\\n`` only,
    the line-size limit, a regular file)."""
    from langrl.jsonl import iter_jsonl, iter_text_lines, text_field

    rows = []
    if path.endswith(".txt"):
        rows = [{"id": str(n), "prompt": text} for n, text in iter_text_lines(path, "prompts file")]
    for row in () if path.endswith(".txt") else iter_jsonl(path, "prompts file"):
        if not row.ok:
            raise row.error()
        obj = row.value
        if not isinstance(obj, dict):
            raise InputError("expected a JSON object per line", path=path, line=row.line)
        text_field(obj, "prompt", path, row.line)
        item_id = obj.get("id", row.line)
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or not str(item_id).strip():
            raise InputError("expected a non-empty string", path=path, line=row.line, field="id")
        rows.append({"id": str(item_id), "prompt": obj["prompt"]})
    if not rows:
        raise InputError("expected at least one prompt, found none", path=path)
    return rows


def group_samples(prompts: list[dict], responses: list[str], n: int) -> list[dict]:
    """Sampler output rows ``[p0]*n + [p1]*n + ...`` → items, dropping empty and repeated samples."""
    items = []
    for k, row in enumerate(prompts):
        seen: list[str] = []
        for text in responses[k * n:(k + 1) * n]:
            if text.strip() and text not in seen:
                seen.append(text)
        if seen:
            items.append({"id": row["id"], "prompt": row["prompt"], "responses": seen})
    return items


def sample_items(policy: str, prompts: list[dict], *, n: int = 4, max_new_tokens: int = 64,
                 temperature: float = 1.0, seed: int = 0, batch: int = 16, chat_template: bool = True,
                 system: str | None = None) -> list[dict]:
    """Sample ``n`` responses per prompt from ``policy`` (any model spec); items for :meth:`Storage.add_items`.
    A chat model's prompts go through its chat template (``chat_template=False``: the text as is)."""
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample_prompts

    model, tokenizer = load_causal_lm(policy, quiet=True)
    responses: list[str] = []
    for s in range(0, len(prompts), batch):
        chunk = [r["prompt"] for r in prompts[s:s + batch]]
        ro = sample_prompts(model, tokenizer, chunk, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                            seed=seed + s, chat_template=chat_template, system=system)
        responses += list(ro.responses)
    return group_samples(prompts, responses, n)
