"""``annotate load --from-policy``: candidate responses sampled from a policy with the project's sampler.

Each prompt becomes one item whose responses are the policy's samples; identical and empty samples are dropped (a
comparison of a response with itself teaches nothing), so an item may have fewer than ``n`` responses, and a prompt
whose samples are all empty is left out.
"""
from __future__ import annotations

import json
from pathlib import Path

from langrl.errors import InputError


def read_prompts(path: str) -> list[dict]:
    """Prompts as ``{"id", "prompt"}``: JSONL with ``"prompt"`` (and optional ``"id"``) per line, or one per line of a
    ``.txt`` file; ids default to the line number."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"cannot read the prompts file: {e.strerror}", path=path) from e
    rows = []
    for line_no, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if path.endswith(".txt"):
            rows.append({"id": str(line_no), "prompt": text})
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"expected a JSON object, got invalid JSON ({e.msg})", path=path, line=line_no) from e
        if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str):
            raise InputError("expected a string", path=path, line=line_no, field="prompt")
        item_id = obj.get("id", line_no)
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or not str(item_id).strip():
            raise InputError("expected a non-empty string", path=path, line=line_no, field="id")
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
                 temperature: float = 1.0, seed: int = 0, batch: int = 16) -> list[dict]:
    """Sample ``n`` responses per prompt from ``policy`` (any model spec); items for :meth:`Storage.add_items`."""
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample

    model, tokenizer = load_causal_lm(policy, quiet=True)
    responses: list[str] = []
    for s in range(0, len(prompts), batch):
        chunk = [r["prompt"] for r in prompts[s:s + batch]]
        ro = sample(model, tokenizer, chunk, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                    seed=seed + s)
        responses += list(ro.responses)
    return group_samples(prompts, responses, n)
