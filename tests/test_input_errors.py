"""Every malformed input is one clear error, the same in every command: exit 2, ``path:line: field``, what was expected.

Each command reads its data through :mod:`langrl.jsonl`; here each of ``sft``, ``rm train``, ``dpo``, ``rl --prompts``,
``reward score`` and ``annotate load`` gets the same malformed files, in-process through the CLI's ``main``. Model
loading is replaced by a function raising :class:`ModelLoaded`, so a rejected file proves it was rejected *before* any
model loaded, and an accepted one (a BOM, a raw U+2028, CRLF) proves the reader let it through.
"""
from __future__ import annotations

import json
import os
import threading

import pytest

from langrl.cli import main
from langrl.errors import InputError
from langrl.jsonl import MAX_LINE_BYTES, iter_json_list, iter_jsonl, read_jsonl


class ModelLoaded(Exception):
    """Raised instead of loading a model: the data was read and accepted."""


@pytest.fixture(autouse=True)
def no_models(monkeypatch):
    def loaded(*args, **kwargs):
        raise ModelLoaded()

    import langrl.models.rm.model as reward_model
    import langrl.models.specs as specs
    import langrl.rewards.registry as registry

    monkeypatch.setattr(specs, "load_causal_lm", loaded)
    monkeypatch.setattr(reward_model, "build_reward_model", loaded)
    monkeypatch.setattr(registry, "build_rewards", loaded)


# command -> (good record, the field that takes a number, argv builder, what the file is called in errors)
COMMANDS = {
    "sft": ({"prompt": "p", "completion": " c"}, "weight", "data file",
            lambda f, tmp: ["sft", "--model", "tiny", "--data", f, "--out", str(tmp / "o")]),
    "rm train": ({"prompt": "p", "chosen": " a", "rejected": " b"}, "margin", "feedback file",
                 lambda f, tmp: ["rm", "train", "--base", "tiny", "--data", f, "--out", str(tmp / "o")]),
    "dpo": ({"prompt": "p", "chosen": " a", "rejected": " b"}, "margin", "feedback file",
            lambda f, tmp: ["dpo", "--policy", "tiny", "--data", f, "--out", str(tmp / "o")]),
    "rl": ({"prompt": "p", "answer": 1}, "answer", "data file",
           lambda f, tmp: ["rl", "--policy", "tiny", "--prompts", f, "--reward", "regex:pattern=a",
                           "--out", str(tmp / "o")]),
    "reward score": ({"prompt": "p", "response": "r", "reference": "ref"}, "reference", "data file",
                     lambda f, tmp: ["reward", "score", "--reward", "length", "--data", f]),
    "annotate load": ({"prompt": "p", "responses": ["a", "b"], "meta": {"score": 1}}, "meta.score", "items file",
                      lambda f, tmp: ["annotate", "load", "--db", f"sqlite:///{tmp / 'a.db'}", "--items", f]),
}


def number_line(cmd: str, literal: str) -> bytes:
    """The command's good record with its number field set to the JSON text ``literal``."""
    good, field, _, _ = COMMANDS[cmd]
    rec = json.loads(json.dumps(good))
    *outer, last = field.split(".")
    target = rec
    for key in outer:
        target = target[key]
    target[last] = "@@"
    return json.dumps(rec).replace('"@@"', literal).encode()


# command -> the flag its file is given with (file-level errors name it: issue 20)
FLAGS = {"sft": "--data", "rm train": "--data", "dpo": "--data", "rl": "--prompts", "reward score": "--data",
         "annotate load": "--items"}


def run(capsys, cmd: str, tmp_path, path) -> tuple[int, str]:
    code = main(COMMANDS[cmd][3](str(path), tmp_path))
    return code, capsys.readouterr().err


def good_line(cmd: str) -> bytes:
    return json.dumps(COMMANDS[cmd][0]).encode()


# ------------------------------------------------------------------------------------------- every command, same file
# name -> (file bytes given the command, the error after "error: PATH" with {field} for the command's number field)
LINE_CASES = {
    "invalid UTF-8": (lambda c: good_line(c) + b"\n" + good_line(c)[:-1] + b', "x": "\xff\xfe"}\n',
                      ":2: expected UTF-8 text, got the byte 0xff"),
    "binary file": (lambda c: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, ":1: expected UTF-8 text, got the byte 0x89 at byte 1"),
    "5000-digit integer": (lambda c: good_line(c) + b"\n" + number_line(c, "9" * 5000) + b"\n",
                           ":2: field '{field}': expected an integer of at most 300 digits, got 5000 digits"),
    "401-digit number": (lambda c: good_line(c) + b"\n" + number_line(c, "1" + "0" * 400) + b"\n",
                         ":2: field '{field}': expected an integer of at most 300 digits, got 401 digits"),
    "NaN": (lambda c: good_line(c) + b"\n" + number_line(c, "NaN") + b"\n",
            ":2: field '{field}': expected a finite number, got NaN"),
    "-Infinity": (lambda c: good_line(c) + b"\n" + number_line(c, "-Infinity") + b"\n",
                  ":2: field '{field}': expected a finite number, got -Infinity"),
    "1e999": (lambda c: good_line(c) + b"\n" + number_line(c, "1e999") + b"\n",
              ":2: field '{field}': expected a finite number, got 1e999 (it overflows a float)"),
    "oversize line": (lambda c: good_line(c) + b"\n" + good_line(c)[:-1] + b', "pad": "' + b"x" * MAX_LINE_BYTES
                      + b'"}\n' + good_line(c) + b"\n", None),  # the expected size is worked out in the test
    "invalid JSON": (lambda c: good_line(c) + b"\n" + good_line(c)[:-1] + b"\n",
                     ":2: invalid JSON"),
}


# what the old readers already got right (the feedback reader refused NaN; two readers named invalid JSON's line)
HANDLED_BEFORE = {("rm train", "NaN"), ("rm train", "-Infinity"), ("rl", "invalid JSON"), ("annotate load", "invalid JSON")}


@pytest.mark.parametrize("cmd,case", [(c, k) for c in COMMANDS for k in LINE_CASES if (c, k) not in HANDLED_BEFORE])
def test_malformed_file_is_exit_2_with_path_line_field(capsys, tmp_path, cmd, case):
    make, expected = LINE_CASES[case]
    data = make(cmd)
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    if case == "oversize line":  # line 2: the good line less its "}", then ', "pad": "', 1 MiB of x, '"}'
        size = len(good_line(cmd)) - 1 + len(b', "pad": "') + MAX_LINE_BYTES + 2
        expected = f":2: expected a line of at most {MAX_LINE_BYTES} bytes, got {size} bytes"
    code, err = run(capsys, cmd, tmp_path, path)
    prefix = f"error: {path}" + expected.format(field=COMMANDS[cmd][1])
    if cmd == "annotate load" and case == "invalid JSON":
        prefix = f"error: {path}:2: expected a JSON object, got invalid JSON"
    assert code == 2 and err.startswith(prefix), err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


# name -> file bytes; the command reads past it and loads the model (annotate load, which has none, exits 0)
ACCEPTED = {
    "UTF-8 BOM": lambda c: b"\xef\xbb\xbf" + good_line(c) + b"\n" + good_line(c) + b"\n",
    "raw U+2028 in a string": lambda c: good_line(c) + b"\n" + good_line(c).replace(b'"p"', '"p\u2028q"'.encode()) + b"\n",
    "CRLF line ends": lambda c: good_line(c) + b"\r\n" + good_line(c) + b"\r\n",
}


@pytest.mark.parametrize("cmd,case", [("rl", "UTF-8 BOM"), ("annotate load", "UTF-8 BOM"),
                                      ("annotate load", "raw U+2028 in a string")])
def test_valid_but_unusual_files_are_read(capsys, tmp_path, cmd, case):
    # before: these refused a BOM, and annotate load split lines at U+2028 (test_reader_rules: CRLF)
    path = tmp_path / "in.jsonl"
    path.write_bytes(ACCEPTED[case](cmd))
    if cmd == "annotate load":
        code, err = run(capsys, cmd, tmp_path, path)
        assert code == 0, err
        return
    with pytest.raises(ModelLoaded):
        main(COMMANDS[cmd][3](str(path), tmp_path))


def test_sft_and_reward_score_loaders_accept_a_bom(tmp_path):
    # before, both read with encoding="utf-8" and json.loads refused the BOM (after loading their models, so the
    # CLI-level test above cannot tell): their loaders, called directly
    from langrl.commands.reward import _read
    from langrl.train.data import sft_records

    path = tmp_path / "in.jsonl"
    path.write_bytes(ACCEPTED["UTF-8 BOM"]("sft"))
    assert sft_records(str(path)) == [{"prompt": "p", "completion": " c"}] * 2
    path.write_bytes(ACCEPTED["UTF-8 BOM"]("reward score"))
    assert _read(str(path)) == ([1, 2], ["p", "p"], ["r", "r"], {"reference": ["ref", "ref"]})


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_directory_and_missing_file(capsys, tmp_path, cmd):
    what = COMMANDS[cmd][2]
    code, err = run(capsys, cmd, tmp_path, tmp_path)
    assert code == 2 and err == f"error: {FLAGS[cmd]}: {tmp_path}: is a directory (expected the {what}, a file)\n"
    missing = tmp_path / "nope.jsonl"
    code, err = run(capsys, cmd, tmp_path, missing)
    assert code == 2 and err.startswith(f"error: {FLAGS[cmd]}: ") and str(missing) in err
    assert "not found" in err or "no such file" in err


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_fifo_is_refused_without_blocking(capsys, tmp_path, cmd):
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("code", main(COMMANDS[cmd][3](str(fifo), tmp_path))),
                              daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # the old readers opened the FIFO and blocked: unblock them, then fail
        with open(fifo, "wb"):
            pass
        worker.join(timeout=5)
        pytest.fail(f"{cmd} blocked on a FIFO")
    err = capsys.readouterr().err
    what = COMMANDS[cmd][2]
    assert result["code"] == 2 and err == (f"error: {FLAGS[cmd]}: {fifo}: is not a regular file (a FIFO; expected the "
                                           f"{what}, a file)\n")


# -------------------------------------------------------------------------------------------- field checks per command
@pytest.mark.parametrize("cmd,record,field,words", [
    ("rl", {"prompt": ""}, "prompt", "expected a non-empty string"),
    ("rl", {"prompt": "  \n "}, "prompt", "expected a non-empty string"),
    ("rl", {"prompt": "p", "reference": ""}, "reference", "expected a non-empty string"),
    ("reward score", {"prompt": "p", "response": "", "reference": "ref"}, "response", "expected a non-empty string"),
    ("reward score", {"prompt": "p", "response": "r", "reference": " "}, "reference", "expected a non-empty string"),
    ("reward score", {"prompt": "p", "response": "r", "reference": 5}, "reference", "expected a non-empty string"),
    ("reward score", {"prompt": "p", "response": "r", "reference": ["a", ""]}, "reference[1]",
     'expected a non-empty string, got ""'),
    ("annotate load", {"prompt": " ", "responses": ["a"]}, "prompt", "expected a non-empty string"),
    ("dpo", {"prompt": "p", "chosen": "", "rejected": "b"}, "chosen", "expected a non-empty string"),
])
def test_empty_required_text_is_refused_with_its_field(capsys, tmp_path, cmd, record, field, words):
    path = tmp_path / "in.jsonl"
    first = dict(COMMANDS[cmd][0])
    if cmd == "reward score":
        first = {"prompt": "p", "response": "r", "reference": "ref"}
    path.write_text(json.dumps(first) + "\n" + json.dumps(record) + "\n")
    code, err = run(capsys, cmd, tmp_path, path)
    assert code == 2 and err.startswith(f"error: {path}:2: field '{field}': {words}"), err


def test_nan_reference_names_the_line_not_the_reward(capsys, tmp_path):
    # before: "reward 'bleu' failed: TypeError ..." with no line
    path = tmp_path / "in.jsonl"
    path.write_text('{"response": "r", "reference": "a"}\n{"response": "r", "reference": NaN}\n')
    code, err = run(capsys, "reward score", tmp_path, path)
    assert code == 2 and err == f"error: {path}:2: field 'reference': expected a finite number, got NaN\n"


def test_dpo_on_error_skip_reports_each_bad_record(capsys, tmp_path):
    path = tmp_path / "fb.jsonl"
    good = json.dumps({"prompt": "p", "chosen": " a", "rejected": " b"})
    path.write_text("\n".join([good, '{"prompt": "p", "chosen": " a", "rejected": " b", "margin": NaN}', good,
                               '{"prompt": "p", "chosen": ""}', good]) + "\n")
    with pytest.raises(ModelLoaded):  # the good records are read, then the policy would load
        main(["dpo", "--policy", "tiny", "--data", str(path), "--out", str(tmp_path / "o"), "--on-error", "skip"])
    err = capsys.readouterr().err
    assert f"{path}:2: field 'margin': expected a finite number, got NaN\n" in err
    assert f"{path}:4: field 'chosen': expected a non-empty string" in err
    assert "3 records (comparison 3)" in err and "skipped 2 bad line(s)" in err
    assert (tmp_path / "fb.rejects.jsonl").read_text().count("\n") == 2
    code = main(["dpo", "--policy", "tiny", "--data", str(path), "--out", str(tmp_path / "o")])
    assert code == 2 and f"{path}:2: field 'margin'" in capsys.readouterr().err  # the default stops at the first


# --------------------------------------------------------------------------------------------------- the reader itself
def test_reader_rules(tmp_path, monkeypatch):
    path = tmp_path / "a.jsonl"
    # a 300-digit integer is read and still converts to a float (9.99e299; a 309-digit one would overflow);
    # 301 digits are refused; nested fields are named
    path.write_text('{"n": %s}\n\n{"a": {"b": [1, %s]}}\n' % ("9" * 300, "9" * 301))
    rows = list(iter_jsonl(path))
    assert rows[0].ok and rows[0].value["n"] == int("9" * 300) and float(rows[0].value["n"]) < float("inf")
    assert (rows[1].line, rows[1].field, rows[1].code) == (3, "a.b[1]", "number")
    # CRLF line ends are dropped with the "\n"; a lone "\r" inside a line is JSON whitespace
    path.write_bytes(b'{"a": 1}\r\n{"b":\r 2}\n')
    assert read_jsonl(path) == [(1, {"a": 1}), (2, {"b": 2})]
    # U+0085, U+2028 and U+2029 inside a line do not split it (str.splitlines, the old annotate reader, splits at all)
    path.write_text('{"t": "x\u2028y\u2029z\u0085w"}\n')
    assert read_jsonl(path) == [(1, {"t": "x\u2028y\u2029z\u0085w"})]
    # the limit counts the line's bytes without its line end, and the environment variable changes it
    monkeypatch.setenv("LANGRL_MAX_LINE_BYTES", "10")
    path.write_bytes(b'{"a": 123}\r\n{"a": 1234}\n')  # 10 bytes (+ CRLF), then 11 bytes
    rows = list(iter_jsonl(path))
    assert rows[0].value == {"a": 123} and rows[1].reason.startswith("expected a line of at most 10 bytes, got 11")
    monkeypatch.setenv("LANGRL_MAX_LINE_BYTES", "lots")
    with pytest.raises(InputError, match="field 'LANGRL_MAX_LINE_BYTES': expected a positive number"):
        read_jsonl(path)


def test_json_list_reader_names_element_lines_and_fields(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf[\n {"a": 1},\n {"a": [NaN]},\n {"a": "' + b"x" * 40 + b'"}\n]\n')
    monkeypatch.setenv("LANGRL_MAX_LINE_BYTES", "30")
    rows = list(iter_json_list(path))
    assert [r.line for r in rows] == [2, 3, 4] and rows[0].value == {"a": 1}
    assert (rows[1].field, rows[1].reason) == ("a[0]", "expected a finite number, got NaN")
    assert rows[2].code == "size" and rows[2].raw is None  # 49 bytes > 30
    path.write_bytes(b'[\n {"a": 1},\n {"a": "\xff"}\n]\n')
    with pytest.raises(InputError, match=r"a.json:3: expected UTF-8 text, got the byte 0xff"):
        list(iter_json_list(path))


def test_rl_reads_its_prompts_before_building_rewards(capsys, tmp_path, monkeypatch):
    # before: train/online.py built the rewards (an `rm:` reward loads a model) and only then read --prompts
    import langrl.train.rl.loop as online

    def built(*args, **kwargs):
        raise ModelLoaded()

    monkeypatch.setattr(online, "_build_rewards", built)
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "p"}\n{"prompt": ""}\n')
    code = main(["rl", "--policy", "tiny", "--prompts", str(path), "--reward", "rm:/nowhere", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {path}:2: field 'prompt': expected a non-empty string"), err


@pytest.mark.parametrize("sub", ["eval", "score"])
def test_rm_eval_and_score_read_their_data_before_the_weights(capsys, tmp_path, monkeypatch, sub):
    # before: `rm eval` loaded the reward model's weights and only then read --data
    import langrl.models.rm.model as reward_model

    def loaded(*args, **kwargs):
        raise ModelLoaded()

    monkeypatch.setattr(reward_model, "load_reward_model", loaded)
    rm_dir = tmp_path / "rm"
    rm_dir.mkdir()
    (rm_dir / reward_model.CONFIG_FILE).write_text("{}")
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "p", "response": "r", "chosen": "a", "rejected": "b"}\n\xff\xfe\n')
    code = main(["rm", sub, "--model", str(rm_dir), "--data", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {path}:2:"), err
    code = main(["rm", sub, "--model", str(tmp_path / "nowhere"), "--data", str(path)])
    assert code == 2 and "not a reward-model directory" in capsys.readouterr().err
