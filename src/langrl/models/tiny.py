"""The embedded default model ``tiny``: built, tokenised and pretrained in-process on the built-in tasks' corpora.

A byte-level BPE tokenizer is trained with the ``tokenizers`` library on the corpus, then a small Llama-architecture
causal LM (~1–2 M parameters) is pretrained on the same corpus, packed into fixed-length blocks. The result is a normal
Hugging Face model directory cached under ``$LANGRL_HOME/models/`` (default ``~/.cache/langrl``), keyed by a hash of every
setting below, so changing one rebuilds it. Given the same settings and torch version the build is deterministic.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langrl.home import langrl_home  # noqa: F401  (re-exported for old callers)
from langrl.io import atomic_dir, atomic_write_json, remove_stale_temps

SPECIAL_TOKENS = {"bos": "<|bos|>", "eos": "<|eos|>", "pad": "<|pad|>", "unk": "<|unk|>"}
BUILD_VERSION = 2  # bump when the build procedure changes, so caches rebuild


@dataclass(frozen=True)
class TinySettings:
    """Every knob of the tiny model's build; the cache key is a hash of these."""

    tasks: tuple[str, ...] = ("factqa", "reviews", "arithmetic")
    seed: int = 0
    vocab_size: int = 2048
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    max_position: int = 512
    corpus_docs: int = 12000
    block_size: int = 128
    batch_size: int = 16
    steps: int = 1200
    learning_rate: float = 3e-3
    warmup: int = 50
    version: int = field(default=BUILD_VERSION)

    def key(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tiny_path(settings: TinySettings) -> Path:
    return langrl_home() / "models" / f"tiny-{'+'.join(settings.tasks)}-{settings.key()}"


def task_corpus(tasks: tuple[str, ...], n: int, seed: int) -> list[str]:
    """Pretraining documents: a mixture of the built-in tasks' corpora."""
    from langrl.tasks import mixture_corpus

    return mixture_corpus(list(tasks), n, seed)


def train_tokenizer(corpus: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``corpus``, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL_TOKENS["bos"], eos_token=SPECIAL_TOKENS["eos"],
                                   pad_token=SPECIAL_TOKENS["pad"], unk_token=SPECIAL_TOKENS["unk"],
                                   model_max_length=512, padding_side="left", clean_up_tokenization_spaces=False)


def _packed_blocks(tokenizer, corpus: list[str], block: int):
    import torch

    ids: list[int] = []
    for doc in corpus:
        ids.extend(tokenizer(doc, add_special_tokens=False)["input_ids"])
        ids.append(tokenizer.eos_token_id)
    n = len(ids) // block
    return torch.tensor(ids[: n * block], dtype=torch.long).view(n, block)


def build_tiny(settings: TinySettings, out: Path, progress=None) -> dict:
    """Train the tokenizer and pretrain the model into ``out``; return build metrics."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    t0 = time.time()
    rng = random.Random(settings.seed)
    torch.manual_seed(settings.seed)
    corpus = task_corpus(settings.tasks, settings.corpus_docs, settings.seed)
    tokenizer = train_tokenizer(corpus, settings.vocab_size)
    blocks = _packed_blocks(tokenizer, corpus, settings.block_size)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=settings.hidden_size,
                         num_hidden_layers=settings.num_layers, num_attention_heads=settings.num_heads,
                         num_key_value_heads=settings.num_heads, intermediate_size=settings.intermediate_size,
                         max_position_embeddings=settings.max_position, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, rope_theta=10000.0)
    model = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, betas=(0.9, 0.95), weight_decay=0.01)

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10%
        if step < settings.warmup:
            return (step + 1) / settings.warmup
        frac = (step - settings.warmup) / max(1, settings.steps - settings.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    order = list(range(len(blocks)))
    model.train()
    loss_val = float("nan")
    for step in range(settings.steps):
        if step % max(1, len(order) // settings.batch_size) == 0:
            rng.shuffle(order)
        start = (step * settings.batch_size) % max(1, len(order) - settings.batch_size)
        batch = blocks[order[start:start + settings.batch_size]]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss_val = loss.item()
        if progress is not None:
            progress(step + 1, settings.steps, loss_val)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    metrics = {"final_loss": loss_val, "params": sum(p.numel() for p in model.parameters()),
               "tokens_seen": settings.steps * settings.batch_size * settings.block_size,
               "corpus_blocks": len(blocks), "seconds": round(time.time() - t0, 1)}
    atomic_write_json(out / "langrl_tiny.json", {"settings": asdict(settings), "metrics": metrics})
    return metrics


def ensure_tiny(settings: TinySettings | None = None, quiet: bool = False) -> Path:
    """Return the cached tiny model directory, building it first if needed (atomic: a failed build leaves nothing,
    and what a killed one left is removed by the next build; a process waiting for another's build says so)."""
    settings = settings or TinySettings()
    path = tiny_path(settings)
    if (path / "langrl_tiny.json").is_file():
        return path
    from langrl.logging import progress_bar
    from langrl.models._lock import file_lock

    with file_lock(path.parent / f".{path.name}.lock"):
        if (path / "langrl_tiny.json").is_file():  # built by another process while we waited
            return path
        # the half-built temporaries of killed builds: with the lock held no build of this model is running
        remove_stale_temps(path.parent, path.name, ownerless=True)
        with progress_bar(f"building tiny model ({'+'.join(settings.tasks)})", total=settings.steps,
                          quiet=quiet) as bar:
            with atomic_dir(path) as tmp:
                build_tiny(settings, tmp, progress=lambda s, n, loss: bar.update(s, loss=loss))
    return path
