"""A learned critique reader: (critique, response) -> per-sentence labels and a count of missing items.

Language feedback as a source of dense rewards: an annotator writes a critique; the reader turns it into the labels a
fine-grained reward model trains on (Wu et al. 2023): which sentence of the response is irrelevant or untruthful
(arithmetic: a wrong step or a wrong answer), and how many items are missing. It is trained on the (critique, span
marks) pairs an annotator gives for the same responses (`langrl critique annotate --spans-out`, or the annotation
app's critique and span pages), and it reads critiques that come without span marks.

The reader *is* a span reward model (:mod:`langrl.models.rm`), trained by ``rm train``'s loop on critique-conditioned
records: the prompt is :data:`READER_PROMPT` with the critique filled in, the response is the critiqued response,

- a spans record carries the annotator's marks (each category's label sits on the last token of every sentence the
  marks overlap: ``segment_classification_loss``);
- a graded rating ``1 - 2 n / K`` (n missing items, K the most in the training pairs) trains the sequence head: the
  binary loss's target probability is (rating + 1) / 2 = 1 - n / K; reading rounds K (1 - sigma(head)) to a count.

Departures: the original prompt (the passage) is not shown to the reader, only the critique and the response, so it
must learn to find what the critique points at; sentence-level labels (a list-style sentence with one wrong name is
marked whole).
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

from langrl.config import arg
from langrl.errors import InputError
from langrl.train.rm.loop import RMConfig

#: The reader's input: the critique, then the response it is about (encoders see ``[CLS] prompt [SEP] response``).
READER_PROMPT = "Critique: {critique}\nResponse:"
READER_FILE = "critique_reader.json"


def reader_prompt(critique: str) -> str:
    """``READER_PROMPT`` with ``critique`` filled in."""
    return READER_PROMPT.format(critique=critique)


@dataclass
class ReaderConfig(RMConfig):
    out: str = arg("runs/critique-reader", "output directory (a span reward model that reads critiques)")
    data: list[str] = arg([], "critique file(s): prompt, response, critique per line (repeat for several)")
    spans: list[str] = arg([], "the same annotators' span marks for those responses (spans records; paired by "
                               "prompt and response)")
    task: str = arg("factqa", "task whose label categories the reader learns: factqa or arithmetic",
                    choices=("factqa", "arithmetic"))
    epochs: float = arg(3.0, "passes over the training pairs (0: one pass unless --max-steps is given)")
    learning_rate: float = arg(5e-5, "backbone learning rate (AdamW, warm-up then cosine)")

    def validate(self) -> None:
        if not self.spans:
            raise InputError("critique train: --spans FILE is required (the span marks paired with the critiques)",
                             field="spans")
        super().validate()


def _read(path: str, need: tuple[str, ...], flag: str) -> list[tuple[int, dict]]:
    from langrl.jsonl import input_flag, read_jsonl, text_field

    with input_flag(flag):
        rows = read_jsonl(path)
    for line, rec in rows:
        for key in need:
            text_field(rec, key, path, line, empty_ok=key == "response")
    return rows


def reader_records(critique_paths: list[str], span_paths: list[str], task: str) -> tuple[list[dict], int, int]:
    """(reader training records, critiques without a span mark to pair with, K the most missing items of a pair):
    two records per paired critique (see the module docstring)."""
    from langrl.tasks.issues import CATEGORIES

    marks = {}
    for path in span_paths:
        for line, rec in _read(path, ("prompt", "response"), "--spans"):
            if not isinstance(rec.get("spans", []), list) or not isinstance(rec.get("missing", []), list):
                raise InputError("expected a spans record (spans and missing lists)", path=path, line=line,
                                 field="spans")
            marks[(rec["prompt"], rec["response"])] = rec
    located = [c for c in CATEGORIES[task] if c != "missing"]
    pairs, unpaired = [], 0
    for path in critique_paths:
        for _, rec in _read(path, ("prompt", "response", "critique"), "--data"):
            m = marks.get((rec["prompt"], rec["response"]))
            if m is None:
                unpaired += 1
                continue
            pairs.append((reader_prompt(rec["critique"]), rec["response"],
                          [s for s in m.get("spans", []) if s.get("category") in located], list(m.get("missing", []))))
    k = max([len(miss) for *_, miss in pairs] + [1])
    out = []
    for p, r, spans, missing in pairs:
        out.append({"prompt": p, "response": r, "spans": spans, "missing": missing})
        out.append({"prompt": p, "response": r, "rating": 1.0 - 2.0 * len(missing) / k})
    return out, unpaired, k


def train_reader(cfg: ReaderConfig, quiet: bool = False) -> dict:
    """Build the reader's records, train a span reward model on them (``rm train``'s loop), mark it as a reader."""
    from langrl.io import atomic_write_json
    from langrl.tasks.issues import CATEGORIES
    from langrl.train.rm.loop import run_rm_train

    records, unpaired, k = reader_records(cfg.data, cfg.spans, cfg.task)
    if not records:
        raise InputError("no critique could be paired with a span mark (same prompt and response)", field="spans")
    rm_fields = {f.name for f in fields(RMConfig)}
    with tempfile.TemporaryDirectory(prefix="langrl-reader-") as tmp:
        data = Path(tmp) / "reader.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in records))
        rm_cfg = RMConfig(**{k: v for k, v in vars(cfg).items() if k in rm_fields})
        rm_cfg.data = [str(data)]
        rm_cfg.categories = [c for c in CATEGORIES[cfg.task] if c != "missing"]
        rm_cfg.loss, rm_cfg.segment = "auto", "sentence"
        summary = run_rm_train(rm_cfg, quiet=quiet)
    if summary.get("finished", True):
        atomic_write_json(Path(cfg.out) / READER_FILE, {"task": cfg.task, "prompt": READER_PROMPT,
                                                         "categories": rm_cfg.categories, "max_missing": k})
    summary.update(command="critique train", pairs=len(records) // 2, unpaired_critiques=unpaired)
    return summary


# ---- reading -----------------------------------------------------------------------------------------------------

class Reader:
    """A trained reader (``read``) or the hand-written rule parser (``Reader("rules", task)``)."""

    def __init__(self, path: str, task: str | None = None, threshold: float = 0.5, batch_size: int = 32):
        self.path, self.threshold, self.batch_size = path, threshold, batch_size
        if path == "rules":
            if task is None:
                raise InputError("the rule parser needs --task", field="task")
            self.task, self.model, self.categories = task, None, None
            return
        meta_file = Path(path) / READER_FILE
        if not meta_file.is_file():
            raise InputError(f"{path}: not a critique reader (no {READER_FILE}; train one with `langrl critique "
                             "train`)", field="model")
        meta = json.loads(meta_file.read_text())
        if task is not None and task != meta["task"]:
            raise InputError(f"{path}: a reader for {meta['task']!r}, not {task!r}", field="task")
        from langrl.models.rm.model import load_reward_model

        self.task, self.categories, self.max_missing = meta["task"], meta["categories"], meta["max_missing"]
        self.model = load_reward_model(path)
        self.model.eval()

    def read(self, responses: list[str], critiques: list[str]) -> list[tuple[list[dict], int]]:
        """Per (response, critique): (located labels ``[{"start", "end", "category"}]``, number of missing items)."""
        if self.model is None:
            from langrl.tasks.critique_parse import parse_critique

            out = []
            for r, c in zip(responses, critiques):
                issues = parse_critique(self.task, r, c)
                # two issues of one category in one sentence (a wrong entity and a wrong item) label it once: a
                # span record may not repeat a (start, end, category)
                located = dict.fromkeys((i.start, i.end, i.category) for i in issues if i.located)
                out.append(([{"start": a, "end": b, "category": k} for a, b, k in located],
                            sum(not i.located for i in issues)))
            return out
        import torch

        prompts = [reader_prompt(c) for c in critiques]
        seg = self.model.segment_probs(prompts, responses, self.batch_size)
        heads = self.model.score_heads(prompts, responses, self.batch_size)  # (b, E) raw logits
        out = []
        for s, logit in zip(seg, heads.mean(1)):
            spans = [{"start": a, "end": b, "category": c} for (a, b), probs in zip(s["segments"], s["probs"])
                     for c, p in zip(self.categories, probs) if p >= self.threshold]
            n = self.max_missing * (1.0 - float(torch.sigmoid(logit)))  # sigma(head) ~ 1 - n / K
            out.append((spans, int(math.floor(n + 0.5))))
        return out


@dataclass
class LabelConfig:
    model: str = arg("runs/critique-reader", "critique reader directory (`langrl critique train`), or rules (the "
                                             "hand-written parser)")
    data: str = arg("", "critique file: prompt, response, critique per line (other columns are kept)")
    out: str = arg("", "span-feedback records written here (for `langrl rm train --loss spans`)")
    completeness_out: str | None = arg(None, "also write comparisons between responses to one prompt with fewer "
                                             "missing items preferred (for a completeness reward model)")
    task: str | None = arg(None, "factqa or arithmetic (default: the reader's; required with --model rules)")
    threshold: float = arg(0.5, "a sentence gets a category when the reader's probability is at least this")
    batch_size: int = arg(32, "sequences per forward pass")

    def validate(self) -> None:
        if not self.data or not self.out:
            raise InputError("critique label: --data FILE and --out FILE are required", field="data")
        if not 0 < self.threshold < 1:
            raise InputError("critique label: field 'threshold': expected a number in (0, 1)", field="threshold")


def completeness_pairs(records: list[dict]) -> list[dict]:
    """Comparisons between responses to one prompt whose missing counts differ, the one missing less preferred."""
    by_prompt: dict = {}
    for r in records:
        by_prompt.setdefault(r["prompt"], []).append(r)
    out = []
    for prompt, group in by_prompt.items():
        for a in range(len(group)):
            for b in range(a + 1, len(group)):
                ma, mb = len(group[a]["missing"]), len(group[b]["missing"])
                if ma != mb and group[a]["response"] != group[b]["response"]:
                    win, lose = (group[a], group[b]) if ma < mb else (group[b], group[a])
                    out.append({"prompt": prompt, "chosen": win["response"], "rejected": lose["response"]})
    return out


def label_critiques(cfg: LabelConfig, quiet: bool = False) -> dict:
    """Read every critique of ``cfg.data`` into a spans record; write them (and completeness pairs) atomically."""
    from langrl.io import atomic_write_jsonl

    rows = [rec for _, rec in _read(cfg.data, ("prompt", "response", "critique"), "--data")]
    reader = Reader(cfg.model, cfg.task, cfg.threshold, cfg.batch_size)
    read = reader.read([r["response"] for r in rows], [r["critique"] for r in rows])
    drop = ("critique", "refinement", "spans", "missing", "corrected")
    out = []
    for rec, (spans, n_missing) in zip(rows, read):
        cols = {k: v for k, v in rec.items() if k not in drop and k not in ("prompt", "response")}
        out.append({"prompt": rec["prompt"], "response": rec["response"], "spans": spans,
                    "missing": [f"missing item {i + 1} (read from the critique)" for i in range(n_missing)], **cols})
    atomic_write_jsonl(cfg.out, out)
    summary = {"command": "critique label", "model": cfg.model, "records": len(out),
               "labelled_sentences": sum(len(o["spans"]) for o in out),
               "missing_items": sum(len(o["missing"]) for o in out), "out": cfg.out}
    if cfg.completeness_out:
        pairs = completeness_pairs(out)
        atomic_write_jsonl(cfg.completeness_out, pairs)
        summary.update(completeness_pairs=len(pairs), completeness_out=cfg.completeness_out)
    return summary


@dataclass
class ReaderEvalConfig:
    model: str = arg("runs/critique-reader", "critique reader directory, or rules (the hand-written parser)")
    data: str = arg("", "critique file whose records carry the task's meta (the gold is computed from it)")
    spans: str | None = arg(None, "the annotator's own span marks for the same responses: also score agreement "
                                  "with what each critique says (noise excluded)")
    task: str | None = arg(None, "factqa or arithmetic (default: the reader's; required with --model rules)")
    threshold: float = arg(0.5, "a sentence gets a category when the reader's probability is at least this")
    batch_size: int = arg(32, "sequences per forward pass")

    def validate(self) -> None:
        if not self.data:
            raise InputError("critique eval: --data FILE is required", field="data")


def sentence_labels(response: str, spans: list[dict]) -> set:
    """``{(sentence index, category)}`` of located labels (the level the span reward model learns at)."""
    from langrl.tasks.issues import sentence_index

    return {(sentence_index(response, s["start"]), s["category"]) for s in spans}


def label_scores(pred: list[tuple[set, int]], truth: list[tuple[set, int]], categories: list[str],
                 prefix: str) -> dict:
    """Per-category sentence-level precision / recall / F1, their macro F1, the missing-count accuracy and the share
    of responses read exactly right (every sentence label and the missing count)."""
    out, f1s = {}, []
    for c in categories:
        tp = sum(len({x for x in p if x[1] == c} & {x for x in t if x[1] == c}) for (p, _), (t, _) in zip(pred, truth))
        n_pred = sum(sum(1 for x in p if x[1] == c) for p, _ in pred)
        n_true = sum(sum(1 for x in t if x[1] == c) for t, _ in truth)
        prec = tp / n_pred if n_pred else float("nan")
        rec = tp / n_true if n_true else float("nan")
        f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else float("nan")
        out.update({f"{prefix}{c}_precision": prec, f"{prefix}{c}_recall": rec, f"{prefix}{c}_f1": f1})
        if not math.isnan(f1):
            f1s.append(f1)
    out[f"{prefix}macro_f1"] = sum(f1s) / len(f1s) if f1s else float("nan")
    out[f"{prefix}missing_accuracy"] = sum(p[1] == t[1] for p, t in zip(pred, truth)) / max(1, len(pred))
    out[f"{prefix}exact"] = sum(p == t for p, t in zip(pred, truth)) / max(1, len(pred))
    return out


def eval_reader(cfg: ReaderEvalConfig, quiet: bool = False) -> dict:
    """Score a reader's labels against the task's gold (and, with ``--spans``, against the annotator's marks)."""
    from langrl.tasks.issues import CATEGORIES, task_issues

    lines = _read(cfg.data, ("prompt", "response", "critique"), "--data")
    reader = Reader(cfg.model, cfg.task, cfg.threshold, cfg.batch_size)
    for line, rec in lines:
        if not isinstance(rec.get("meta"), dict):
            raise InputError("expected the task's meta (gold labels are computed from it)", path=cfg.data,
                             line=line, field="meta")
    rows = [rec for _, rec in lines]
    read = reader.read([r["response"] for r in rows], [r["critique"] for r in rows])
    pred = [(sentence_labels(r["response"], s), n) for r, (s, n) in zip(rows, read)]
    gold = []
    for r in rows:
        issues = task_issues(reader.task, r, r["response"])
        gold.append((sentence_labels(r["response"], [{"start": i.start, "category": i.category}
                                                     for i in issues if i.located]),
                     sum(not i.located for i in issues)))
    cats = [c for c in CATEGORIES[reader.task] if c != "missing"]
    summary = {"command": "critique eval", "model": cfg.model, "task": reader.task, "records": len(rows),
               **label_scores(pred, gold, cats, "gold_")}
    if cfg.spans:
        marks = {(m["prompt"], m["response"]): m for _, m in _read(cfg.spans, ("prompt", "response"), "--spans")}
        keep = [i for i, r in enumerate(rows) if (r["prompt"], r["response"]) in marks]
        stated = [(sentence_labels(rows[i]["response"], marks[(rows[i]["prompt"], rows[i]["response"])]["spans"]),
                   len(marks[(rows[i]["prompt"], rows[i]["response"])].get("missing", []))) for i in keep]
        summary.update(label_scores([pred[i] for i in keep], stated, cats, "stated_"))
        summary["stated_records"] = len(keep)
    return summary
