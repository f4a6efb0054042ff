"""Hugging Face ``datasets`` inputs through the one reader: save_to_disk directories (Dataset and DatasetDict with
--split), parquet and CSV files, a hub dataset already in the local cache (never downloaded), --column renames; the
same validators and exact ``SOURCE:ROW: field`` errors as JSON lines."""
from __future__ import annotations

import json

import pytest

datasets = pytest.importorskip("datasets")

from langrl.cli import main  # noqa: E402
from langrl.errors import InputError  # noqa: E402
from langrl.hf_data import use_data_options  # noqa: E402
from langrl.train.data import load_prompts, sft_records  # noqa: E402

ROWS = [{"question": "Describe your favourite food.", "answer": "7"}, {"question": "Name a fruit.", "answer": "8"}]


@pytest.fixture(autouse=True)
def reset_options():
    use_data_options()
    yield
    use_data_options()


def _save(tmp_path, rows, name="ds"):
    path = tmp_path / name
    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def test_save_to_disk_dir_with_column_mapping(tmp_path):
    path = _save(tmp_path, ROWS)
    use_data_options(columns={"prompt": "question"})
    assert load_prompts(str(path)) == [{"prompt": "Describe your favourite food.", "answer": "7"},
                                       {"prompt": "Name a fruit.", "answer": "8"}]
    use_data_options()
    with pytest.raises(InputError, match=rf"^{path}:1: field 'prompt': expected a string or a non-empty list"):
        load_prompts(str(path))  # no mapping: the first row has no prompt


def test_dataset_dict_split_and_exact_row_errors(tmp_path):
    path = tmp_path / "dd"
    good = datasets.Dataset.from_list([{"prompt": "a"}, {"prompt": "b"}])
    bad = datasets.Dataset.from_list([{"prompt": "a"}, {"prompt": "  "}])
    datasets.DatasetDict({"train": good, "test": bad}).save_to_disk(str(path))
    assert [r["prompt"] for r in load_prompts(str(path))] == ["a", "b"]  # default: train
    use_data_options(split="test")
    with pytest.raises(InputError, match=rf"^{path}:2: field 'prompt': expected a non-empty string$"):
        load_prompts(str(path))
    use_data_options(split="validation")
    with pytest.raises(InputError, match=rf"^{path}: expected --split one of train, test, got validation$"):
        load_prompts(str(path))


def test_parquet_and_csv_files(tmp_path):
    ds = datasets.Dataset.from_list([{"prompt": "p1", "score": 1.5}, {"prompt": "p2", "score": float("nan")}])
    ds.to_parquet(str(tmp_path / "d.parquet"))
    use_data_options()
    with pytest.raises(InputError, match=r"d.parquet:2: field 'score': expected a finite number, got NaN"):
        load_prompts(str(tmp_path / "d.parquet"))  # the JSON reader's number rule holds for datasets rows too
    datasets.Dataset.from_list(ROWS).to_csv(str(tmp_path / "d.csv"), index=False)
    use_data_options(columns={"prompt": "question"})
    assert [r["prompt"] for r in load_prompts(str(tmp_path / "d.csv"))] == ["Describe your favourite food.",
                                                                          "Name a fruit."]


def test_conversational_rows_and_sft_messages(tmp_path):
    conv = _save(tmp_path, [{"prompt": [{"role": "user", "content": "hi"}]},
                            {"prompt": [{"role": "robot", "content": "hi"}]}], "conv")
    with pytest.raises(InputError, match=rf"^{conv}:2: field 'prompt\[0\].role': expected a role in"):
        load_prompts(str(conv))
    msgs = _save(tmp_path, [{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant",
                                                                               "content": "4"}]}], "msgs")
    assert sft_records(str(msgs)) == [{"messages": [{"role": "user", "content": "2+2?"},
                                                    {"role": "assistant", "content": "4"}]}]


def test_feedback_from_a_dataset_same_errors(tmp_path):
    from langrl.feedback import read_feedback

    path = _save(tmp_path, [{"prompt": "p", "chosen": " a", "rejected": " b"},
                            {"prompt": "p", "chosen": " a", "rejected": ""}], "prefs")
    with pytest.raises(InputError, match=rf"^{path}:2: "):
        read_feedback(str(path))
    fb = read_feedback(str(path), on_error="skip")
    assert len(fb.records) == 1 and fb.skipped


def test_column_mapping_applies_to_jsonl_too(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"question": "q1"}) + "\n")
    use_data_options(columns={"prompt": "question"})
    assert load_prompts(str(f)) == [{"prompt": "q1"}]


def _fake_hub_cache(cache, tmp_path):
    """A hub dataset as `load_dataset` caches it (OWNER___NAME/CONFIG/VERSION/HASH/), built offline."""
    from datasets.packaged_modules.parquet.parquet import Parquet

    src = tmp_path / "src.parquet"
    datasets.Dataset.from_list([{"question": "Q1"}, {"question": "Q2"}]).to_parquet(str(src))
    b = Parquet(cache_dir=str(tmp_path / "build"), dataset_name="tiny-prompts", data_files={"train": str(src)})
    b.download_and_prepare()
    target = cache / "someone___tiny-prompts" / "default" / "0.0.0" / "abc123"
    target.mkdir(parents=True)
    from pathlib import Path

    for f in Path(b.cache_dir).iterdir():
        f.rename(target / f.name)


def test_hub_dataset_from_the_local_cache_only(tmp_path, monkeypatch):
    cache = tmp_path / "hf-datasets"
    _fake_hub_cache(cache, tmp_path)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)  # nothing may be downloaded
    use_data_options(columns={"prompt": "question"})
    assert [r["prompt"] for r in load_prompts("hf:someone/tiny-prompts")] == ["Q1", "Q2"]
    assert [r["prompt"] for r in load_prompts("someone/tiny-prompts")] == ["Q1", "Q2"]
    with pytest.raises(InputError, match="hub dataset 'someone/absent' is not in the local Hugging Face cache"):
        load_prompts("hf:someone/absent")


def test_cli_sample_and_flag_errors(tmp_path, toy_model_dir, capsys):
    path = _save(tmp_path, ROWS)
    assert main(["sample", "--model", str(toy_model_dir), "--prompts", str(path), "--column", "prompt=question",
                 "--max-new-tokens", "3", "--json"]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [o["prompt"] for o in out] == ["Describe your favourite food.", "Name a fruit."]
    assert main(["sample", "--model", str(toy_model_dir), "--prompts", str(path), "--column", "prompt"]) == 2
    assert "field 'column': expected NEW=OLD (e.g. prompt=question), got 'prompt'" in capsys.readouterr().err
