"""The critique reader: its training records, reading with the rule parser and a trained model, label and eval."""
import json

import pytest
import torch

from langrl.cli import main
from langrl.errors import InputError
from langrl.train.critique_reader import (READER_PROMPT, Reader, completeness_pairs, label_scores, reader_records,
                                          sentence_labels)

META = {"entity": "Vorland", "kind": "country", "attr": "cities", "k": 3, "items": ["Kelm", "Ardo", "Pim", "Sorv"],
        "other_attr": "rivers", "other_items": ["Sul", "Varo", "Tesk", "Mool"], "filler": "Vorland is a small country."}
PROMPT = "The largest cities of Vorland, in order, are Kelm, Ardo, Pim and Sorv.\nQ: What are the 3 largest cities " \
         "of Vorland?\nA:"
# sentences (1, 37) "The largest city of Vorland is Kelm.", (38, 64) "The second largest is Pim.",
# (65, 92) "Vorland is a small country."
RESP = " The largest city of Vorland is Kelm. The second largest is Pim. Vorland is a small country."
GOOD = " The largest city of Vorland is Kelm. The second largest is Ardo. The third largest is Pim."
CRITIQUES = [
    (RESP, "I think the third sentence is off-topic. Pim is not the second city; the passage says Ardo. You forgot "
           "Pim, the third city."),
    (GOOD, "Looks right to me."),
]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _crit_rows():
    return [{"prompt": PROMPT, "response": r, "critique": c, "meta": META} for r, c in CRITIQUES]


def test_reader_records_pair_critiques_with_marks_and_grade_the_missing_count(tmp_path):
    crit = _write(tmp_path / "c.jsonl", _crit_rows() + [{"prompt": "other", "response": " x", "critique": "Bad."}])
    marks = _write(tmp_path / "s.jsonl", [
        {"prompt": PROMPT, "response": RESP, "spans": [{"start": 38, "end": 64, "category": "untruthful"},
                                                        {"start": 65, "end": 92, "category": "irrelevant"}],
         "missing": ["The second item is missing: Ardo.", "The third item is missing: Pim."]},
        {"prompt": PROMPT, "response": GOOD, "spans": [], "missing": []}])
    records, unpaired, k = reader_records([crit], [marks], "factqa")
    assert unpaired == 1 and k == 2 and len(records) == 4
    assert records[0]["prompt"] == READER_PROMPT.format(critique=CRITIQUES[0][1])
    assert records[0]["prompt"].startswith("Critique: I think the third") and records[0]["prompt"].endswith(
        "\nResponse:")
    assert [s["category"] for s in records[0]["spans"]] == ["untruthful", "irrelevant"]
    # rating = 1 - 2 n / K: n = 2 of K = 2 -> -1.0; the good answer n = 0 -> 1.0
    assert records[1]["rating"] == -1.0 and records[3]["rating"] == 1.0


def test_rule_reader_and_label_scores():
    read = Reader("rules", "factqa").read([r for r, _ in CRITIQUES], [c for _, c in CRITIQUES])
    assert read[0] == ([{"start": 65, "end": 92, "category": "irrelevant"},
                        {"start": 38, "end": 64, "category": "untruthful"}], 1)
    assert read[1] == ([], 0)
    pred = [(sentence_labels(RESP, read[0][0]), 1), (set(), 0)]
    truth = [({(1, "untruthful")}, 2), (set(), 0)]
    s = label_scores(pred, truth, ["irrelevant", "untruthful"], "g_")
    # untruthful: 1 predicted, 1 true, 1 shared -> P = R = F1 = 1; irrelevant: 1 predicted, 0 true -> P = 0, F1 = 0
    assert s["g_untruthful_f1"] == 1.0 and s["g_irrelevant_precision"] == 0.0 and s["g_irrelevant_f1"] == 0.0
    assert s["g_macro_f1"] == 0.5 and s["g_missing_accuracy"] == 0.5 and s["g_exact"] == 0.5


def test_completeness_pairs_prefer_fewer_missing_items():
    recs = [{"prompt": "p", "response": " a", "missing": ["x"]}, {"prompt": "p", "response": " b", "missing": []},
            {"prompt": "p", "response": " c", "missing": ["x"]}, {"prompt": "q", "response": " d", "missing": []}]
    assert completeness_pairs(recs) == [{"prompt": "p", "chosen": " b", "rejected": " a"},
                                        {"prompt": "p", "chosen": " b", "rejected": " c"}]


def test_label_and_eval_with_the_rule_parser(tmp_path, capsys):
    crit = _write(tmp_path / "c.jsonl", _crit_rows())
    out, comp = tmp_path / "spans.jsonl", tmp_path / "comp.jsonl"
    assert main(["critique", "label", "--model", "rules", "--task", "factqa", "--data", crit, "--out", str(out),
                 "--completeness-out", str(comp), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 2 and summary["labelled_sentences"] == 2 and summary["completeness_pairs"] == 1
    recs = [json.loads(x) for x in open(out)]
    assert recs[0]["spans"] == [{"start": 65, "end": 92, "category": "irrelevant"},
                                {"start": 38, "end": 64, "category": "untruthful"}]
    assert len(recs[0]["missing"]) == 1 and recs[0]["meta"] == META and "critique" not in recs[0]
    assert [json.loads(x) for x in open(comp)] == [{"prompt": PROMPT, "chosen": GOOD, "rejected": RESP}]
    assert main(["critique", "eval", "--model", "rules", "--task", "factqa", "--data", crit, "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    # gold of RESP: sentence 1 untruthful (Pim is not second), sentence 2 off-topic, Ardo and Pim missing (2);
    # the critique names both sentences but only one missing item -> labels right, missing count wrong
    assert ev["gold_untruthful_f1"] == 1.0 and ev["gold_irrelevant_f1"] == 1.0
    assert ev["gold_missing_accuracy"] == 0.5 and ev["gold_exact"] == 0.5


@pytest.mark.slow
def test_train_a_reader_end_to_end_on_a_tiny_budget(tmp_path, capsys):
    from langrl.models.rm.model import load_reward_model
    from langrl.models.specs import resolve_model_dir

    crit = _write(tmp_path / "c.jsonl", _crit_rows() * 4)
    marks = _write(tmp_path / "s.jsonl", [
        {"prompt": PROMPT, "response": RESP, "spans": [{"start": 38, "end": 64, "category": "untruthful"}],
         "missing": ["Ardo"]}, {"prompt": PROMPT, "response": GOOD, "spans": [], "missing": []}])
    out = tmp_path / "reader"
    assert main(["critique", "train", "--data", crit, "--spans", marks, "--out", str(out), "--max-steps", "2",
                 "--epochs", "0", "--batch-size", "4", "--micro-batch-size", "4", "--eval-fraction", "0",
                 "--stats-samples", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2 and summary["pairs"] == 8
    meta = json.loads((out / "critique_reader.json").read_text())
    assert meta == {"task": "factqa", "prompt": READER_PROMPT, "categories": ["irrelevant", "untruthful"],
                    "max_missing": 1}
    trained = load_reward_model(out)
    from transformers import AutoModel

    base = AutoModel.from_pretrained(resolve_model_dir("minilm", build=False))
    moved = [not torch.equal(p, trained.backbone.state_dict()[n]) for n, p in base.state_dict().items()
             if n in trained.backbone.state_dict() and p.dtype.is_floating_point]
    assert sum(moved) > len(moved) // 2  # the backbone was trained, not only the heads
    read = Reader(str(out)).read([RESP], [CRITIQUES[0][1]])
    spans, n_missing = read[0]
    assert all(s["category"] in ("irrelevant", "untruthful") for s in spans) and n_missing in (0, 1)
    assert main(["critique", "label", "--model", str(out), "--data", crit, "--out", str(tmp_path / "o.jsonl")]) == 0


def test_bad_reader_inputs_are_refused(tmp_path, capsys):
    crit = _write(tmp_path / "c.jsonl", _crit_rows())
    assert main(["critique", "train", "--data", crit, "--out", str(tmp_path / "r")]) == 2
    assert "--spans FILE is required" in capsys.readouterr().err
    with pytest.raises(InputError, match="not a critique reader"):
        Reader(str(tmp_path))
    with pytest.raises(InputError, match="needs --task"):
        Reader("rules")
    _write(tmp_path / "bad.jsonl", [{"prompt": PROMPT, "response": RESP}])
    assert main(["critique", "label", "--model", "rules", "--task", "factqa", "--data", str(tmp_path / "bad.jsonl"),
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "bad.jsonl:1: field 'critique'" in capsys.readouterr().err


def test_rule_reader_labels_a_sentence_once_when_the_critique_names_two_errors_in_it():
    # sentence (1, 37) "The largest city of Vorland is Sorv." has one error (Sorv for Kelm); "Sorv is not the first
    # city" and "In the first sentence, Sorv should be Kelm" both name it: one untruthful label, not two (a span
    # record repeating (1, 37, untruthful) is refused by `rm train --loss spans`)
    resp = " The largest city of Vorland is Sorv. The second largest is Ardo. The third largest is Pim."
    crit = "Sorv is not the first city; the passage says Kelm. In the first sentence, Sorv should be Kelm."
    assert Reader("rules", "factqa").read([resp], [crit]) == [([{"start": 1, "end": 37, "category": "untruthful"}], 0)]
