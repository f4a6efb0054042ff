"""Sentiment rewards: VADER's compound score (vaderSentiment) and any local HF sequence classifier.

``vader`` returns ``SentimentIntensityAnalyzer().polarity_scores(text)[field]`` (compound in [-1, 1] by default), the
library's own number. ``classifier:path=DIR,label=POSITIVE`` returns the softmax probability of one label of a
``transformers`` sequence-classification model saved in DIR (the IMDb-sentiment setting of RL4LMs and TRL), batched,
truncated to ``max_length`` tokens; ``logit=true`` returns the label's logit instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from langrl.errors import InputError
from langrl.rewards.protocol import RewardError, RewardOutput, map_samples, single

VADER_FIELDS = ("compound", "pos", "neg", "neu")


class VaderReward:
    """VADER polarity of the response: ``compound`` (default), ``pos``, ``neg`` or ``neu``."""

    def __init__(self, field: str = "compound", name: str = "vader"):
        if field not in VADER_FIELDS:
            raise InputError(f"vader: field must be one of {', '.join(VADER_FIELDS)}, got {field!r}", field="field")
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.name, self.field = name, field
        self.analyzer = SentimentIntensityAnalyzer()

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        return single(self.name, map_samples(self.name, lambda t: self.analyzer.polarity_scores(t)[self.field],
                                             responses))


class ClassifierReward:
    """Probability (or logit) of ``label`` under a local ``AutoModelForSequenceClassification`` directory.

    ``label`` is a name from the model config's ``id2label`` or an integer index.
    """

    def __init__(self, path: str, label: str = "POSITIVE", logit: bool = False, batch_size: int = 32,
                 max_length: int = 512, device: str = "cpu", name: str = "classifier"):
        if not (Path(path) / "config.json").is_file():
            raise InputError("classifier: expected a model directory with config.json", path=path, field="path")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name, self.logit, self.batch_size, self.max_length, self.device = (
            name, logit, int(batch_size), int(max_length), device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).to(device).eval()
        id2label = {int(i): str(l) for i, l in self.model.config.id2label.items()}
        names = {l.lower(): i for i, l in id2label.items()}
        if str(label).lower() in names:
            self.label_index = names[str(label).lower()]
        elif str(label).isdigit() and int(label) in id2label:
            self.label_index = int(label)
        else:
            raise InputError(f"classifier: label {label!r} not in the model's labels "
                             f"{', '.join(id2label[i] for i in sorted(id2label))}", path=path, field="label")
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise InputError("classifier: the tokenizer has no pad or eos token to pad batches with", path=path)
            self.tokenizer.pad_token = self.tokenizer.eos_token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    @torch.no_grad()
    def scores(self, texts: list[str]) -> torch.Tensor:
        """(b,) label probabilities (or logits) for ``texts``."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(list(texts[i:i + self.batch_size]), return_tensors="pt", padding=True,
                                 truncation=True, max_length=self.max_length).to(self.device)
            logits = self.model(**enc).logits.float()  # (b, labels)
            out.append(logits[:, self.label_index] if self.logit else logits.softmax(-1)[:, self.label_index])
        return torch.cat(out).cpu() if out else torch.zeros(0)

    def __call__(self, prompts: list[str], responses: list[str], **columns: Any) -> RewardOutput:
        try:
            values = self.scores(responses)
        except Exception as e:  # noqa: BLE001 - named and re-raised
            raise RewardError(f"reward {self.name!r} failed: {type(e).__name__}: {e}", reward=self.name) from e
        return single(self.name, values.tolist())
