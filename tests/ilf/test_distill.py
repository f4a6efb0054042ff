"""Critique-conditioned self-distillation: the losses by hand, (1, 0) reproduces plain SFT, both targets train tiny."""
import json

import pytest
import torch

from langrl.cli import main
from langrl.losses.distill import mixture_loss, teacher_kl


def test_teacher_kl_by_hand():
    # teacher logits (0, 0): p_T = (.5, .5); student logits (0, ln 3): p_S = (.25, .75)
    # KL = .5 ln(.5/.25) + .5 ln(.5/.75) = .5 (0.693147 - 0.405465) = 0.143841
    kl, parts = teacher_kl(torch.tensor([[0.0, 1.0986123]]), torch.tensor([[0.0, 0.0]]))  # ln 3 = 1.0986123
    assert abs(kl.item() - 0.143841) < 1e-5 and abs(parts["kl_mean"].item() - 0.143841) < 1e-5
    same, _ = teacher_kl(torch.tensor([[1.0, 2.0], [3.0, -1.0]]), torch.tensor([[1.0, 2.0], [3.0, -1.0]]))
    assert abs(same.item()) < 1e-6  # KL of a distribution to itself is 0
    with pytest.raises(ValueError, match="expected two"):
        teacher_kl(torch.zeros(2, 3), torch.zeros(2, 4))


def test_mixture_loss_by_hand():
    # a = .5, b = 2: .5 * 6 / 3 + 2 * 4 / 8 = 1 + 1 = 2
    assert mixture_loss(torch.tensor(6.0), 3, torch.tensor(4.0), 8, 0.5, 2.0).item() == 2.0
    # (1, 0): the SFT per-token mean, the distillation term ignored even when given
    assert mixture_loss(torch.tensor(6.0), 3, torch.tensor(4.0), 8, 1.0, 0.0).item() == 2.0


@pytest.fixture(scope="module")
def tiny_dir():
    from langrl.models.specs import resolve_model_dir

    return resolve_model_dir("tiny", quiet=True)


def _sft_file(tmp_path):
    from langrl.tasks import get_task

    rows = get_task("factqa").sft_examples(12, 3)
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


COMMON = ["--max-steps", "3", "--batch-size", "4", "--micro-batch-size", "2", "--learning-rate", "1e-3",
          "--warmup-steps", "1", "--max-length", "256", "--seed", "0", "--json"]


@pytest.mark.slow
def test_a_one_zero_mixture_reproduces_plain_sft(tiny_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    data = _sft_file(tmp_path)
    assert main(["sft", "--model", str(tiny_dir), "--data", data, "--eval-fraction", "0", "--out",
                 str(tmp_path / "sft")] + COMMON) == 0
    assert main(["distill", "--model", str(tiny_dir), "--sft-data", data, "--sft-weight", "1", "--distill-weight",
                 "0", "--out", str(tmp_path / "mix")] + COMMON) == 0
    capsys.readouterr()
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "sft").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "mix").state_dict()
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    assert any(not torch.equal(a[k], base[k]) for k in a)  # SFT moved the weights ...
    assert all(torch.equal(a[k], b[k]) for k in a)  # ... and the (1, 0) mixture moved them identically
    assert not (tmp_path / "mix" / "teacher.jsonl").exists()  # no teacher was consulted


@pytest.mark.slow
@pytest.mark.parametrize("target", ["samples", "kl"])
def test_distillation_trains_on_the_teacher(tiny_dir, tmp_path, capsys, target):
    from transformers import AutoModelForCausalLM

    out = tmp_path / target
    argv = ["distill", "--model", str(tiny_dir), "--sft-data", _sft_file(tmp_path), "--prompts", "6", "--target",
            target, "--max-new-tokens", "12", "--sft-weight", "0.5", "--out", str(out)] + COMMON
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    teach = [json.loads(x) for x in open(out / "teacher.jsonl")]
    assert summary["teacher_examples"] == len(teach) > 0 and summary["annotator_actions"] == 6
    from langrl.train.ilf.prompt import refinement_prompt

    # the teacher read the critique of an answer to the same question; the student is trained on the plain prompt
    assert all(t["teacher_prompt"].endswith(t["prompt"].rpartition("\nQ: ")[2]) and
               t["teacher_prompt"] != t["prompt"] and f"\nCritique: {t['critique']}\n" in t["teacher_prompt"]
               for t in teach)
    assert refinement_prompt(teach[0]["prompt"], " x", teach[0]["critique"]).endswith(
        teach[0]["prompt"].rpartition("\nQ: ")[2])
    assert summary["loss_distill"] > 0 and summary["loss_sft"] > 0
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert any(not torch.equal(base[k], tuned[k]) for k in base)


@pytest.mark.slow
def test_distill_resumes_exactly(tiny_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    argv = ["distill", "--model", str(tiny_dir), "--sft-data", _sft_file(tmp_path), "--prompts", "4",
            "--max-new-tokens", "12", "--target", "kl"] + COMMON
    assert main(argv + ["--out", str(tmp_path / "straight")]) == 0
    assert main(argv + ["--out", str(tmp_path / "split"), "--stop-at", "1"]) == 0
    assert main(argv + ["--out", str(tmp_path / "split"), "--resume", str(tmp_path / "split")]) == 0
    capsys.readouterr()
    a = AutoModelForCausalLM.from_pretrained(tmp_path / "straight").state_dict()
    b = AutoModelForCausalLM.from_pretrained(tmp_path / "split").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # 3 steps straight = 1 + resume + 2
    assert (tmp_path / "split" / "teacher.jsonl").read_text() == (tmp_path / "straight" / "teacher.jsonl").read_text()


def test_distill_refuses_bad_weights(capsys):
    assert main(["distill", "--model", "tiny", "--sft-weight", "0", "--distill-weight", "0"]) == 2
    assert "not both 0" in capsys.readouterr().err
