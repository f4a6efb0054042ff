"""``langrl critique annotate`` end to end: writes varied critiques in the export shape, and clear errors."""
import json

import pytest

from langrl.cli import main
from langrl.tasks import get_task
from langrl.tasks.critique_parse import parse_critique
from langrl.tasks.issues import label_key


def _responses(path, name, n=40):
    task = get_task(name)
    rows = task.prompts("train", n, 0)
    with open(path, "w") as f:
        for i, row in enumerate(rows):
            # half the responses are the reference, half drop its last sentence (a missing item / step)
            resp = " " + row["reference"] if i % 2 else " " + row["reference"].rsplit(". ", 1)[0] + "."
            f.write(json.dumps({"prompt": row["prompt"], "response": resp,
                                **{k: v for k, v in row.items() if k != "prompt"}}) + "\n")
    return rows


@pytest.mark.parametrize("name", ["factqa", "arithmetic"])
def test_annotate_writes_critiques_and_their_span_marks(tmp_path, capsys, name):
    _responses(tmp_path / "r.jsonl", name)
    argv = ["critique", "annotate", "--task", name, "--data", str(tmp_path / "r.jsonl"), "--out",
            str(tmp_path / "c.jsonl"), "--spans-out", str(tmp_path / "s.jsonl"), "--noise", "0", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["critiques"] == 40 and summary["clean"] == 40
    crit = [json.loads(x) for x in open(tmp_path / "c.jsonl")]
    spans = [json.loads(x) for x in open(tmp_path / "s.jsonl")]
    assert list(crit[0])[:5] == ["prompt", "response", "critique", "refinement", "annotator"] and "meta" in crit[0]
    assert len({c["critique"] for c in crit}) > 10  # varied wording, not one sentence per problem type
    for c, s in zip(crit, spans):
        assert c["response"] == s["response"]
        parsed = parse_critique(name, c["response"], c["critique"])
        assert label_key(c["response"], parsed)[1] == len(s["missing"])


def test_annotate_refuses_records_without_a_response(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"}) + "\n")
    assert main(["critique", "annotate", "--data", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1: field 'response'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
