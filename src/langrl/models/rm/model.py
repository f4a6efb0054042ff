"""Reward models: a backbone (any causal-LM spec or an encoder such as ``minilm``) with scalar and per-category heads.

- **Sequence reward**: a linear head on the last non-pad token's hidden state for causal LMs (left or right padding
  both handled), or on the mean of the hidden states for encoders (``mean``: all tokens, as sentence-transformers
  pools MiniLM; ``response-mean``: the response tokens only, the prompt acting as context through attention).
  ``n_heads > 1`` gives an ensemble of heads on one backbone; :class:`RewardEnsemble` joins whole models. Scores are
  (S, E): sequences x heads.
- **Fine-grained reward** (Wu et al. 2023): a token head with one logit per category per head, read at the last token
  of each segment; the logit is "this segment has an error of category c".
- A learned tie parameter (Davidson's log nu or Rao-Kupper's raw theta) when the training data holds ties.

A saved reward model is a directory: the backbone as a Hugging Face model (``save_pretrained``) + tokenizer,
``reward_heads.safetensors`` and ``reward_config.json`` (pooling, categories, per-head training score mean/std for
normalisation). :func:`load_reward_model` reloads it (or an ensemble directory) with one call.

Normalisation: Bradley-Terry and Plackett-Luce fix scores only up to a shift per head, so the std across raw heads
would mostly measure arbitrary offsets. ``score`` therefore standardises every head with its own training mean/std
first; the ensemble mean and std are taken over the standardised heads (std is 0 for a single head).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from langrl.errors import InputError
from langrl.models.rm.data import Encoded, collate, encode_pair

CONFIG_FILE = "reward_config.json"
HEADS_FILE = "reward_heads.safetensors"
FORMAT = "langrl-reward-model"
TIE_MODELS = ("davidson", "rao-kupper")
POOLINGS = ("last", "mean", "response-mean")


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Position of the last non-pad token of each row, for left- or right-padded batches.

    Shapes: ``mask`` (b, L) 0/1 -> (b,) long. ``mask * position`` grows along the real tokens, so its argmax is the
    last of them whatever side the padding is on.
    """
    pos = torch.arange(mask.shape[1], device=mask.device)
    return (mask.long() * (pos + 1)).argmax(dim=1)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over real tokens. Shapes: ``hidden`` (b, L, h), ``mask`` (b, L) -> (b, h)."""
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


def is_causal_config(config) -> bool:
    """Whether a HF config describes a causal LM (read the last token) rather than an encoder (mean-pool)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES as CAUSAL
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES as MASKED

    archs = getattr(config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return True
    if any(a.endswith(("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification")) for a in archs):
        return False
    mt = config.model_type
    return mt in CAUSAL and mt not in MASKED


class RewardModel(nn.Module):
    """Backbone + heads. ``meta`` holds everything saved in ``reward_config.json`` (see :meth:`config`)."""

    def __init__(self, backbone, tokenizer, *, pooling: str, n_heads: int = 1, categories: list[str] | tuple = (),
                 tie_model: str | None = None, max_length: int = 512, segment: str = "sentence",
                 causal: bool | None = None, meta: dict | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; expected one of {', '.join(POOLINGS)}", field="pooling")
        if tie_model is not None and tie_model not in TIE_MODELS:
            raise InputError(f"unknown tie model {tie_model!r}; expected one of {', '.join(TIE_MODELS)}",
                             field="tie_model")
        self.backbone, self.tokenizer = backbone, tokenizer
        self.pooling, self.n_heads, self.categories = pooling, int(n_heads), list(categories)
        self.tie_model, self.max_length, self.segment = tie_model, int(max_length), segment
        self.causal = pooling == "last" if causal is None else bool(causal)  # framing: EOS-terminated, or [CLS]/[SEP]
        hidden = backbone.config.get_text_config().hidden_size
        self.score_head = nn.Linear(hidden, self.n_heads)
        self.token_head = nn.Linear(hidden, self.n_heads * len(self.categories)) if self.categories else None
        # Davidson: log nu (nu = 0.5 to start); Rao-Kupper: raw with log theta = softplus(raw) (theta ~ 1.7)
        self.tie_param = nn.Parameter(torch.tensor(-0.69 if tie_model == "davidson" else -0.4)) if tie_model else None
        self.meta = {"score_mean": [0.0] * self.n_heads, "score_std": [1.0] * self.n_heads, **(meta or {})}

    @property
    def encoder(self) -> bool:
        return not self.causal

    def config(self) -> dict:
        """What ``reward_config.json`` holds."""
        return {"format": FORMAT, "pooling": self.pooling, "n_heads": self.n_heads, "categories": self.categories,
                "tie_model": self.tie_model, "max_length": self.max_length, "segment": self.segment,
                "causal": self.causal, **self.meta}

    # ---- forward ---------------------------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor | None = None,
                tokens: bool = False) -> dict:
        """``scores`` (S, E); with ``tokens`` and category heads, ``token_logits`` (S, L, E, C).

        Shapes: ``input_ids``, ``attention_mask``, ``response_mask`` (S, L) — S sequences, L tokens, E heads,
        C categories. ``response_mask`` (1 on response tokens) is needed by ``response-mean`` pooling only.
        """
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (S, L, h)
        hidden = hidden.float()
        if self.pooling == "last":
            pooled = hidden[torch.arange(hidden.shape[0]), last_token_index(attention_mask)]  # (S, h)
        elif self.pooling == "response-mean":
            if response_mask is None:
                raise ValueError("response-mean pooling needs response_mask")
            pooled = mean_pool(hidden, response_mask)  # the prompt is context (through attention), not pooled
        else:
            pooled = mean_pool(hidden, attention_mask)
        out = {"scores": self.score_head(pooled)}  # (S, E)
        if tokens and self.token_head is not None:
            S, L, _ = hidden.shape
            out["token_logits"] = self.token_head(hidden).view(S, L, self.n_heads, len(self.categories))
        return out

    def encode(self, prompt, response: str, with_segments: bool = False) -> Encoded:
        return encode_pair(self.tokenizer, prompt, response, max_length=self.max_length, encoder=self.encoder,
                           segment=self.segment if with_segments else None)

    def collate(self, seqs: list[Encoded]) -> dict:
        return collate(seqs, self.tokenizer.pad_token_id)

    # ---- scoring ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _run(self, prompts, responses, batch_size: int, tokens: bool):
        """Per pair: (head scores (E,), segments, segment logits (s, E, C) or None), in input order."""
        if len(prompts) != len(responses):
            raise InputError(f"{len(prompts)} prompts for {len(responses)} responses")
        was_training = self.training
        self.eval()
        seqs = [self.encode(p, r, tokens) for p, r in zip(prompts, responses)]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i].input_ids))  # similar lengths batch together
        out: list = [None] * len(seqs)
        device = self.score_head.weight.device
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            batch = {key: v.to(device) for key, v in self.collate([seqs[i] for i in idx]).items()}
            res = {key: v.cpu() for key, v in self(**batch, tokens=tokens).items()}
            for j, i in enumerate(idx):
                seg = res["token_logits"][j, seqs[i].label_pos] if "token_logits" in res else None
                out[i] = (res["scores"][j], seqs[i].segments, seg)
        self.train(was_training)
        return out

    def score_heads(self, prompts, responses, batch_size: int = 32, normalize: bool = False) -> torch.Tensor:
        """(b, E) scores of every head; standardised per head with the training statistics when ``normalize``."""
        if not responses:
            return torch.zeros(0, self.n_heads)
        s = torch.stack([r[0] for r in self._run(list(prompts), list(responses), batch_size, False)])
        if normalize:
            mean = torch.tensor(self.meta["score_mean"], dtype=s.dtype)
            std = torch.tensor(self.meta["score_std"], dtype=s.dtype).clamp_min(1e-6)
            s = (s - mean) / std
        return s

    def score(self, prompts, responses, batch_size: int = 32, normalize: bool = True):
        """``(mean, std)`` lists over heads, one value per (prompt, response) (see the module docstring)."""
        s = self.score_heads(prompts, responses, batch_size, normalize)
        return s.mean(1).tolist(), s.std(1, unbiased=False).tolist()

    def segment_probs(self, prompts, responses, batch_size: int = 32) -> list[dict]:
        """Per pair: ``{"segments": [(start, end)], "probs": [[P(category c) per c] per segment], "std": ...}``,
        P = sigmoid(logit) averaged over heads (std over heads). Needs category heads."""
        if self.token_head is None:
            raise InputError("this reward model has no category heads (it was not trained on span feedback)")
        out = []
        for _, segs, logits in self._run(list(prompts), list(responses), batch_size, True):
            p = torch.sigmoid(logits)  # (s, E, C); s = 0 for a response with no segment (empty)
            mean = p.mean(1)
            std = (p - mean[:, None]).pow(2).mean(1).sqrt()  # population std over heads (torch.std warns at s = 0)
            out.append({"segments": list(segs), "probs": mean.tolist(), "std": std.tolist()})
        return out

    # ---- saving ----------------------------------------------------------------------------------------------------
    def head_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.state_dict().items()
                if not k.startswith("backbone.")}

    def extra_files(self) -> dict:
        """The files beside the backbone: head weights and ``reward_config.json`` (for ``save_checkpoint``)."""
        from safetensors.torch import save

        return {HEADS_FILE: save(self.head_state()), CONFIG_FILE: self.config()}

    def save(self, out: str | Path) -> None:
        """Write a complete reward-model directory atomically (no trainer state)."""
        from langrl.io import atomic_dir, atomic_write_json

        with atomic_dir(out) as tmp:
            self.backbone.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)
            files = self.extra_files()
            (tmp / HEADS_FILE).write_bytes(files[HEADS_FILE])
            atomic_write_json(tmp / CONFIG_FILE, files[CONFIG_FILE])


class RewardEnsemble:
    """Several reward models as one: heads of all members pooled (each standardised with its own statistics)."""

    def __init__(self, members: list[RewardModel], meta: dict | None = None):
        if not members:
            raise InputError("an ensemble needs at least one member")
        self.members = members
        self.meta = {"sequence_head": members[0].meta.get("sequence_head", True), **(meta or {})}
        self.categories = members[0].categories
        self.n_heads = sum(m.n_heads for m in members)

    def score_heads(self, prompts, responses, batch_size: int = 32, normalize: bool = False) -> torch.Tensor:
        return torch.cat([m.score_heads(prompts, responses, batch_size, normalize) for m in self.members], dim=1)

    def score(self, prompts, responses, batch_size: int = 32, normalize: bool = True):
        s = self.score_heads(prompts, responses, batch_size, normalize)
        return s.mean(1).tolist(), s.std(1, unbiased=False).tolist()

    def segment_probs(self, prompts, responses, batch_size: int = 32) -> list[dict]:
        per = [m.segment_probs(prompts, responses, batch_size) for m in self.members]
        out = []
        for parts in zip(*per):
            p = torch.stack([torch.tensor(x["probs"]).reshape(len(x["segments"]), -1) for x in parts])  # (M, s, C)
            out.append({"segments": parts[0]["segments"], "probs": p.mean(0).tolist(),
                        "std": p.std(0, unbiased=False).tolist()})
        return out

    def eval(self):
        for m in self.members:
            m.eval()
        return self


def _tokenizer(path, causal: bool):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if causal else tok.unk_token
    if causal and tok.eos_token_id is None:
        raise InputError(f"model {path}: the tokenizer has no EOS token to read the reward at")
    return tok


def build_reward_model(base: str, *, pooling: str = "auto", n_heads: int = 1, categories=(), tie_model=None,
                       max_length: int = 512, segment: str = "sentence", seed: int = 0, quiet: bool = False,
                       dtype=torch.float32) -> RewardModel:
    """A fresh reward model on the backbone of ``base`` (any model spec; ``minilm`` for the MiniLM encoder)."""
    from transformers import AutoConfig, AutoModel

    from langrl.models.specs import resolve_model_dir

    path = resolve_model_dir(base, quiet=quiet)
    causal = is_causal_config(AutoConfig.from_pretrained(path))
    if pooling == "auto":
        pooling = "last" if causal else "mean"
    backbone = AutoModel.from_pretrained(path, dtype=dtype)
    torch.manual_seed(seed)
    model = RewardModel(backbone, _tokenizer(path, causal), pooling=pooling, n_heads=n_heads,
                        categories=categories, tie_model=tie_model, max_length=max_length, segment=segment,
                        causal=causal, meta={"base": base})
    return model


def check_reward_model_dir(path: str | Path) -> Path:
    """The directory's reward-model config file, or a clear error: a cheap check before any data or weights are read."""
    cfg_file = Path(path) / CONFIG_FILE
    if not cfg_file.is_file():
        raise InputError(f"{path}: not a reward-model directory (no {CONFIG_FILE}); train one with `langrl rm train`")
    return cfg_file


def load_reward_model(path: str | Path, dtype=torch.float32) -> RewardModel | RewardEnsemble:
    """Reload a reward-model (or ensemble) directory written by ``langrl rm train``; in eval mode."""
    from safetensors.torch import load_file
    from transformers import AutoModel

    from langrl.models.specs import quiet_transformers

    quiet_transformers()
    path = Path(path)
    cfg_file = check_reward_model_dir(path)
    try:
        cfg = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON ({e.msg})", path=str(cfg_file), line=e.lineno) from None
    if cfg.get("members"):
        members = [load_reward_model(path / m, dtype) for m in cfg["members"]]
        return RewardEnsemble(members, meta=cfg)  # type: ignore[arg-type]
    fixed = ("format", "pooling", "n_heads", "categories", "tie_model", "max_length", "segment", "causal")
    causal = cfg.get("causal", cfg["pooling"] == "last")
    backbone = AutoModel.from_pretrained(path, dtype=dtype)
    model = RewardModel(backbone, _tokenizer(path, causal), pooling=cfg["pooling"], causal=causal,
                        n_heads=cfg["n_heads"], categories=cfg.get("categories", []), tie_model=cfg.get("tie_model"),
                        max_length=cfg.get("max_length", 512), segment=cfg.get("segment", "sentence"),
                        meta={k: v for k, v in cfg.items() if k not in fixed})
    missing, unexpected = model.load_state_dict(load_file(path / HEADS_FILE), strict=False)
    bad = [k for k in missing if not k.startswith("backbone.")] + list(unexpected)
    if bad:
        raise InputError(f"{path / HEADS_FILE}: head weights do not match {CONFIG_FILE} ({', '.join(bad[:3])})")
    return model.eval()
