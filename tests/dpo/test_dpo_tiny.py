"""Integration: every offline loss trains the real ``tiny`` model from the CLI (slow: builds tiny on first use)."""
import json

import pytest

from langrl.cli import main as cli_main

pytestmark = pytest.mark.slow

NEGATIVE = [" It was dull and I hated every minute.", " The plot was a mess and the acting was awful.",
            " I walked out early; a waste of time."]
NEUTRAL = " It was a film."


def reviews(n, seed):
    from langrl.tasks import get_task

    return get_task("reviews").sft_examples(n, seed)


@pytest.fixture(scope="module")
def tiny_dir():
    from langrl.models.specs import resolve_model_dir

    return resolve_model_dir("tiny", quiet=True)


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("loss", ["dpo", "ipo", "cdpo", "pl", "kto"])
def test_every_loss_trains_tiny_and_recovers_a_reward(tiny_dir, tmp_path, monkeypatch, capsys, loss):
    monkeypatch.setenv("LANGRL_HOME", str(tmp_path / "home"))  # reference cache only; tiny is already resolved
    train = reviews(48, 0)
    rows = {
        "dpo": [{"prompt": r["prompt"], "chosen": r["completion"], "rejected": NEGATIVE[i % 3]}
                for i, r in enumerate(train)],
        "pl": [{"prompt": r["prompt"], "responses": [NEGATIVE[i % 3], r["completion"], NEUTRAL],
                "ranking": [[1], [2], [0]]} for i, r in enumerate(train)],
        "kto": [{"prompt": r["prompt"], "response": r["completion"] if i % 2 else NEGATIVE[i % 3],
                 "rating": bool(i % 2)} for i, r in enumerate(train + reviews(48, 2))],
    }
    data = write(tmp_path / "train.jsonl", rows.get(loss, rows["dpo"]))
    held_out = write(tmp_path / "held_out.jsonl", [{"prompt": r["prompt"], "chosen": r["completion"],
                                                   "rejected": NEGATIVE[i % 3]} for i, r in enumerate(reviews(24, 1))])
    out = tmp_path / "run"
    assert cli_main(["dpo", "--loss", loss, "--policy", str(tiny_dir), "--data", str(data), "--out", str(out),
                     "--max-steps", "20", "--batch-size", "8", "--micro-batch-size", "8", "--learning-rate", "5e-4", "--warmup-steps", "2",
                     "--eval-fraction", "0", "--json"]) == 0
    capsys.readouterr()
    assert cli_main(["dpo", "reward", "--policy", str(out), "--data", str(held_out), "--json"]) == 0
    rewards = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rewards["pairwise_accuracy"] > 0.9, rewards["pairwise_accuracy"]
