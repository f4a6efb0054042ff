import pytest
import torch

from langrl.train.dpo import ref_cache


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGRL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def model_dir(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text('{"a": 1}')
    (d / "model.safetensors").write_bytes(b"weights-v1")
    (d / "README.md").write_text("not hashed")
    return d


PROMPTS, RESPONSES = [[1, 2], [1, 2]], [[3, 4], [5]]


def test_second_call_hits_and_skips_compute(home, model_dir):
    calls = []

    def compute():
        calls.append(1)
        return torch.tensor([-1.0, -2.0])

    a, info_a = ref_cache.reference_logps(PROMPTS, RESPONSES, compute, model_dir=model_dir)
    b, info_b = ref_cache.reference_logps(PROMPTS, RESPONSES, compute, model_dir=model_dir)
    assert calls == [1] and not info_a["hit"] and info_b["hit"]
    assert torch.equal(a, b) and (home / "ref_logps" / f"{info_a['key']}.pt").is_file()


def test_key_changes_with_weights_rows_and_dtype_not_with_other_files(model_dir):
    fp = ref_cache.model_fingerprint(model_dir)
    rows = ref_cache.rows_fingerprint(PROMPTS, RESPONSES)
    key = ref_cache.cache_key(fp, rows, "float32")
    (model_dir / "README.md").write_text("edited")
    assert ref_cache.model_fingerprint(model_dir) == fp
    assert ref_cache.cache_key(fp, rows, "bfloat16") != key
    # moving a token between prompt and response is different data (lengths are hashed)
    assert ref_cache.rows_fingerprint([[1, 2, 3], [1, 2]], [[4], [5]]) != rows
    (model_dir / "model.safetensors").write_bytes(b"weights-v2")
    assert ref_cache.model_fingerprint(model_dir) != fp


def test_damaged_or_wrong_length_cache_is_a_miss(home, model_dir):
    _, info = ref_cache.reference_logps(PROMPTS, RESPONSES, lambda: torch.zeros(2), model_dir=model_dir)
    path = home / "ref_logps" / f"{info['key']}.pt"
    assert ref_cache.load(info["key"], 3) is None  # wrong length
    path.write_bytes(b"garbage")
    assert ref_cache.load(info["key"], 2) is None
    _, again = ref_cache.reference_logps(PROMPTS, RESPONSES, lambda: torch.ones(2), model_dir=model_dir)
    assert not again["hit"] and torch.equal(ref_cache.load(info["key"], 2), torch.ones(2))


def test_cache_off_never_writes(home, model_dir):
    _, info = ref_cache.reference_logps(PROMPTS, RESPONSES, lambda: torch.zeros(2), model_dir=model_dir,
                                        use_cache=False)
    assert not info["hit"] and not (home / "ref_logps").exists()


def test_compute_must_return_one_value_per_row(home, model_dir):
    with pytest.raises(ValueError, match="expected 2 log-probs"):
        ref_cache.reference_logps(PROMPTS, RESPONSES, lambda: torch.zeros(3), model_dir=model_dir)
