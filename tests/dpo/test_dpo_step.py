import pytest
import torch

from langrl.feedback import read_rows
from langrl.train.dpo.data import build_units
from langrl.train.dpo.objectives import OBJECTIVES
from langrl.train.dpo.step import all_row_logps, row_logps, train_step

ROWS = ([{"prompt": f"Q: {a} + 4 = ? A:", "chosen": " the movie was great.", "rejected": " bad"} for a in range(3)]
        + [{"prompt": "the cat", "responses": [" sat on the mat.", " sat", " a b c"], "ranking": [[0], [1], [2]]},
           {"prompt": "a b", "responses": [" c d", " d c", " e"], "ranking": [[0], [1, 2]]},
           {"prompt": "the movie", "response": " was great and i loved it.", "rating": True},
           {"prompt": "the", "response": " bad", "rating": False}])
KWARGS = {"dpo": {"beta": 0.5, "rpo_alpha": 0.3}, "cdpo": {"beta": 0.5, "label_smoothing": 0.2},
          "ipo": {"beta": 0.5}, "pl": {"beta": 0.5}, "kto": {"beta": 0.5}}


def test_padding_does_not_change_a_rows_log_prob(toy_lm, toy_tokenizer):
    data = build_units(read_rows(ROWS).records, toy_tokenizer, shape="list", max_length=64)
    pad = toy_tokenizer.pad_token_id
    with torch.no_grad():
        alone = torch.stack([row_logps(toy_lm, data, [i], pad)[0] for i in range(len(data.prompts))])
        together = row_logps(toy_lm, data, list(range(len(data.prompts))), pad)
        batched = all_row_logps(toy_lm, data, list(range(len(data.prompts))), pad, batch_size=3)
    assert torch.allclose(alone, together, atol=1e-5) and torch.allclose(alone, batched, atol=1e-5)
    assert (alone < 0).all()


def grads(model, data, units, ref, pad, name, micro):
    model.zero_grad(set_to_none=True)
    parts = train_step(model, data, units, len(units), ref, pad, objective=OBJECTIVES[name](**KWARGS[name]),
                       micro_batch_size=micro)
    return torch.cat([p.grad.flatten() for p in model.parameters()]), parts


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_accumulating_micro_batches_gives_the_big_batch_gradient(toy_lm, toy_tokenizer, name):
    data = build_units(read_rows(ROWS).records, toy_tokenizer, shape=OBJECTIVES[name].shape, max_length=64)
    pad = toy_tokenizer.pad_token_id
    torch.manual_seed(0)
    ref = all_row_logps(toy_lm, data, list(range(len(data.prompts))), pad, 8) + 0.3 * torch.randn(len(data.prompts))
    units = data.units
    g_all, p_all = grads(toy_lm, data, units, ref, pad, name, micro=len(units))
    g_one, p_one = grads(toy_lm, data, units, ref, pad, name, micro=1)
    assert g_all.abs().sum() > 0
    assert (g_all - g_one).abs().max() <= 1e-5 * g_all.abs().max(), (g_all - g_one).abs().max()
    assert p_all["loss"] == pytest.approx(p_one["loss"], rel=1e-5)
