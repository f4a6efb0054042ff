"""Reading training data: JSONL (through :mod:`langrl.jsonl`, errors naming path:line:field), built-in tasks,
tokenised SFT examples."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from langrl.errors import InputError
from langrl.jsonl import read_jsonl, text_field  # noqa: F401  (read_jsonl: the shared reader, re-exported)


def sft_records(data: str, n_task: int = 2000, seed: int = 0) -> list[dict]:
    """SFT records from ``task:NAME`` (the task's SFT examples: demonstrations of the asked behaviour),
    ``task:NAME:corpus`` (the task's corpus split into prompt/completion at the answer delimiter: the domain's natural
    distribution, errors included, as a warm start that RL still has something to improve on) or a JSONL file of
    ``prompt``/``completion``, ``text`` or ``messages`` records. Returns dicts with ``prompt``+``completion``, ``text``
    or ``messages``."""
    if data.startswith("task:"):
        from langrl.tasks import get_task
        from langrl.tasks.base import ANSWER_DELIMITER

        name, _, source = data[5:].partition(":")
        if source not in ("", "corpus"):
            raise InputError(f"expected task:NAME or task:NAME:corpus, got {data!r}", field="data")
        task = get_task(name)
        if not source:
            return task.sft_examples(n_task, seed)
        out = []
        for doc in task.corpus(n_task, seed):
            prompt, delim, completion = doc.rpartition(ANSWER_DELIMITER)
            if not delim or not completion.strip():
                raise InputError(f"task {name!r}: a corpus document has no answer after {ANSWER_DELIMITER!r}",
                                 field="data")
            out.append({"prompt": prompt + delim, "completion": completion})
        return out
    out = []
    for line, rec in read_jsonl(data):
        if "messages" in rec:
            msgs = rec["messages"]
            if not isinstance(msgs, list) or not msgs or not all(
                    isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                    for m in msgs):
                raise InputError("expected a non-empty list of {role, content} messages", path=data, line=line,
                                 field="messages")
            out.append({"messages": msgs})
        elif isinstance(rec.get("prompt"), list) or isinstance(rec.get("completion"), list):
            out.append({"messages": _conversational_pair(rec, data, line)})
        elif "prompt" in rec or "completion" in rec:
            out.append({"prompt": text_field(rec, "prompt", data, line, empty_ok=True),
                        "completion": text_field(rec, "completion", data, line)})
        elif "text" in rec:
            out.append({"text": text_field(rec, "text", data, line)})
        else:
            raise InputError("expected fields prompt+completion, text, or messages", path=data, line=line)
    return out


def _conversational_pair(rec: dict, path, line: int) -> list[dict]:
    """TRL's conversational prompt-completion record (``prompt``: messages, ``completion``: the assistant message(s)
    or a string) as one message list whose last message is the assistant's reply (the loss is on it)."""
    from langrl.chat import check_prompt

    prompt = rec.get("prompt")
    prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else check_prompt(prompt, path, line)
    completion = rec.get("completion")
    if isinstance(completion, str):
        completion = [{"role": "assistant", "content": completion}]
    completion = check_prompt(completion, path, line, field="completion")
    if len(completion) != 1 or completion[0]["role"] != "assistant":
        raise InputError("expected one assistant message", path=path, line=line, field="completion")
    return list(prompt) + list(completion)


@dataclass
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # -100 where no loss (prompt tokens)


def tokenize_sft(tokenizer, rec: dict, max_length: int) -> tuple[TokenizedExample, bool]:
    """Tokenise one SFT record: loss on completion (or assistant) tokens only, EOS appended.

    Over-long examples keep the whole completion and cut the prompt from the left; a completion longer than
    ``max_length`` is cut on the right. Returns (example, truncated?).
    """
    eos = [tokenizer.eos_token_id]
    if "messages" in rec:
        msgs = rec["messages"]
        if getattr(tokenizer, "chat_template", None):
            prompt = tokenizer.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        else:
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in msgs[:-1]) + f"{msgs[-1]['role']}:"
        completion = msgs[-1]["content"] if getattr(tokenizer, "chat_template", None) else " " + msgs[-1]["content"]
    elif "text" in rec:
        prompt, completion = "", rec["text"]
    else:
        prompt, completion = rec["prompt"], rec["completion"]
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    c_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + eos
    truncated = False
    if len(c_ids) > max_length:
        c_ids, p_ids, truncated = c_ids[:max_length], [], True
    elif len(p_ids) + len(c_ids) > max_length:
        p_ids, truncated = p_ids[len(p_ids) + len(c_ids) - max_length:], True
    return TokenizedExample(p_ids + c_ids, [-100] * len(p_ids) + c_ids), truncated


def collate(examples: list[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch: input_ids, attention_mask, labels (b, L)."""
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """A deterministic permutation of ``range(n)`` for ``epoch`` (so a resumed run sees the same data order)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def global_batch_indices(n: int, batch_size: int, step: int, seed: int) -> list[int]:
    """Indices of the ``step``-th global batch, walking epoch permutations; depends only on (n, batch, step, seed)."""
    start = step * batch_size
    out = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        order = epoch_order(n, seed, epoch)
        take = min(batch_size - len(out), n - offset)
        out.extend(order[offset: offset + take])
    return out


def split_eval(n: int, frac: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, eval indices) of ``n`` records: a seeded permutation, ``frac`` of it held out (none under 20)."""
    g = torch.Generator().manual_seed(seed + 17)
    perm = torch.randperm(n, generator=g).tolist()
    k = int(n * frac) if n >= 20 else 0
    return perm[k:], perm[:k]


def load_prompts(spec: str, num: int = 0, split: str = "eval", seed: int = 0) -> list[dict]:
    """Prompt rows (dicts with 'prompt' + columns) from ``task:NAME`` or a JSONL file (:mod:`langrl.jsonl`: a
    ``prompt`` per line, a non-empty string or TRL's conversational list of ``{role, content}`` messages
    (:func:`langrl.chat.check_prompt`); ``reference``/``references``, when given, non-empty strings)."""
    if spec.startswith("task:"):
        from langrl.tasks import get_task

        return get_task(spec[5:]).prompts(split, num or 64, seed)
    from langrl.chat import check_prompt
    from langrl.jsonl import check_references, read_jsonl

    rows = []
    for line, rec in read_jsonl(spec):
        check_prompt(rec.get("prompt"), spec, line)
        check_references(rec, spec, line)
        rows.append(rec)
    return rows[:num] if num else rows
