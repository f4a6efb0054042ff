"""``langrl critique annotate|train|label|eval``: critiques in natural language, and reading them into dense labels.

    langrl critique annotate --task factqa --data runs/demo/feedback/critiques.jsonl --out lf/critiques.jsonl \\
        --spans-out lf/spans.jsonl --noise 0.1
    langrl critique train --data lf/critiques.jsonl --spans lf/spans.jsonl --out lf/reader
    langrl critique label --model lf/reader --data lf/critiques.jsonl --out lf/read-spans.jsonl
    langrl critique eval  --model lf/reader --data lf/critiques.jsonl --json
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from langrl.commands._common import finish
from langrl.config import arg, parse_config
from langrl.errors import InputError

USAGE = """usage: langrl critique {annotate,train,label,eval,critic-data} [--key value ...] [--json]

  annotate  a simulated annotator writes varied natural-language critiques (partial or wrong at --noise) of the
            responses in a JSONL file (the annotation app's critique export shape), and its span marks
  train     train a critique reader, (critique, response) -> per-sentence labels (irrelevant / untruthful, or
            wrong_step / wrong_answer) and a count of missing items, from (critique, span marks) pairs
  label     read critiques into span-feedback records (for `langrl rm train --loss spans`) and completeness pairs
  eval      a critique reader (or the rule parser: --model rules) against the task's gold labels
  critic-data  SFT records (critic prompt -> critique) for a critique model, the reward `critic:path=DIR`

`langrl critique SUBCOMMAND --help` lists every option."""


@dataclass
class AnnotateConfig:
    task: str = arg("factqa", "built-in task whose gold the annotator sees: factqa or arithmetic",
                    choices=("factqa", "arithmetic"))
    data: str = arg("", "JSONL of responses: prompt, response and the task's meta (the demo's feedback files)")
    out: str = arg("", "critique records written here (JSONL, the annotation app's critique export shape)")
    spans_out: str | None = arg(None, "also write the same annotator's span marks for each response here")
    seed: int = arg(0, "annotator seed (the same seed writes the same critiques)")
    noise: float = arg(0.1, "probability that a critique is partial (an issue left out) or wrong (one made up)")
    hedge: float = arg(0.3, "probability that a critique sentence carries a hedge (I think, probably, ...)")

    def validate(self) -> None:
        if not self.data or not self.out:
            raise InputError("critique annotate: --data FILE and --out FILE are required", field="data")


def read_rows(path: str, task: str) -> list[dict]:
    """Rows ``{"prompt", "response", "meta", ...}`` of a JSONL file, each checked (``path:line: field``)."""
    from langrl.jsonl import input_flag, read_jsonl, text_field

    with input_flag("--data"):
        lines = read_jsonl(path)
    rows = []
    for line, rec in lines:
        text_field(rec, "prompt", path, line)
        text_field(rec, "response", path, line, empty_ok=True)
        if not isinstance(rec.get("meta"), dict):
            raise InputError(f"expected the {task} task's meta object (the demo's feedback records carry it)",
                             path=path, line=line, field="meta")
        need = ("entity", "attr", "items", "k") if task == "factqa" else ("start", "ops")
        for key in need:
            if key not in rec["meta"]:
                raise InputError(f"expected a {task} meta with {', '.join(need)}", path=path, line=line,
                                 field=f"meta.{key}")
        if task == "arithmetic":
            text_field(rec, "answer", path, line)
        rows.append(rec)
    return rows


def annotate(cfg: AnnotateConfig) -> dict:
    from langrl.io import atomic_write_jsonl
    from langrl.tasks import get_task
    from langrl.tasks.language import LanguageAnnotator

    task = get_task(cfg.task)
    ann = LanguageAnnotator(task, seed=cfg.seed, noise=cfg.noise, hedge=cfg.hedge)
    rows = read_rows(cfg.data, cfg.task)
    kept = ("prompt", "response", "critique", "refinement", "spans", "missing", "corrected", "annotator")
    crit, spans, modes = [], [], {"": 0, "partial": 0, "wrong": 0}
    for rec in rows:
        cols = {k: v for k, v in rec.items() if k not in kept and k not in ("chosen", "rejected", "responses")}
        modes[ann.believed(rec, rec["response"])[1]] += 1
        crit.append({**ann.critique(rec, rec["response"]), **cols})
        spans.append({**ann.spans(rec, rec["response"]), **cols})
    atomic_write_jsonl(cfg.out, crit)
    if cfg.spans_out:
        atomic_write_jsonl(cfg.spans_out, spans)
    return {"command": "critique annotate", "task": cfg.task, "critiques": len(crit), "clean": modes[""],
            "partial": modes["partial"], "wrong": modes["wrong"], "out": cfg.out, "spans_out": cfg.spans_out}


@dataclass
class CriticDataConfig:
    data: list[str] = arg([], "critique file(s): prompt, response, critique per line (repeat for several)")
    out: str = arg("", "SFT records {prompt, completion} written here (train the critic with `langrl sft --data`)")

    def validate(self) -> None:
        if not self.data or not self.out:
            raise InputError("critique critic-data: --data FILE and --out FILE are required", field="data")


def critic_data(cfg: CriticDataConfig) -> dict:
    from langrl.io import atomic_write_jsonl
    from langrl.jsonl import input_flag, read_jsonl, text_field
    from langrl.rewards.critic import critic_prompt

    out = []
    for path in cfg.data:
        with input_flag("--data"):
            lines = read_jsonl(path)
        for line, rec in lines:
            prompt, critique = text_field(rec, "prompt", path, line), text_field(rec, "critique", path, line)
            response = text_field(rec, "response", path, line, empty_ok=True)
            out.append({"prompt": critic_prompt(prompt, response), "completion": " " + " ".join(critique.split())})
    atomic_write_jsonl(cfg.out, out)
    return {"command": "critique critic-data", "records": len(out), "out": cfg.out}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "annotate":
        cfg, flags = parse_config(AnnotateConfig, rest, prog="langrl critique annotate",
                                  summary="A simulated annotator writes natural-language critiques of responses.")
        return finish(annotate(cfg), flags["json"], "critique annotate")
    if sub == "critic-data":
        cfg, flags = parse_config(CriticDataConfig, rest, prog="langrl critique critic-data",
                                  summary="SFT records for a critique model (the reward critic:path=DIR).")
        return finish(critic_data(cfg), flags["json"], "critique critic-data")
    if sub in ("train", "label", "eval"):
        from langrl.train import critique_reader as reader

        configs = {"train": reader.ReaderConfig, "label": reader.LabelConfig, "eval": reader.ReaderEvalConfig}
        runs = {"train": reader.train_reader, "label": reader.label_critiques, "eval": reader.eval_reader}
        cfg, flags = parse_config(configs[sub], rest, prog=f"langrl critique {sub}",
                                  summary=[x for x in USAGE.splitlines() if x.strip().startswith(sub)][0].strip())
        return finish(runs[sub](cfg, quiet=flags["json"]), flags["json"], f"critique {sub}")
    print(f"error: unknown subcommand {sub!r}\n{USAGE}", file=sys.stderr)
    return 2
