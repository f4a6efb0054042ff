"""``langrl annotate ...``: load, add-annotator, export (read back by langrl.feedback), stats, and bad input."""
from __future__ import annotations

import json

import pytest

from langrl.annotate.cli import main
from langrl.annotate.store import Storage
from langrl.annotate.validate import check_feedback


def _write_items(path, items):
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return str(path)


def _judge(storage, who, item_id, kind, cid, payload):
    item = storage.get_item(item_id)
    indices, fields = check_feedback(kind, payload, item["responses"])
    storage.submit(who, item, kind, cid, indices, fields)


def test_load_annotate_export_and_read_back(tmp_path, items_data, sqlite_url, capsys):
    items = _write_items(tmp_path / "items.jsonl", items_data)
    assert main(["load", "--db", sqlite_url, "--items", items]) == 0
    assert capsys.readouterr().out.strip() == f"loaded 3 items (0 already present) into {sqlite_url}"
    assert main(["load", "--db", sqlite_url, "--items", items, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"added": 0, "already_present": 3, "db": sqlite_url}
    tokens = []
    for name in ("alice", "bob"):
        assert main(["add-annotator", "--db", sqlite_url, "--name", name]) == 0
        tokens.append(capsys.readouterr().out.strip().splitlines()[-1])  # the token, alone on the last line
    s = Storage(sqlite_url)
    assert [s.annotator_for_token(t)["name"] for t in tokens] == ["alice", "bob"]
    for who, pref in ((1, 0), (2, "tie")):
        _judge(s, who, "boil", "comparison", "c", {"preferred": pref})
        _judge(s, who, "gases", "ranking", "r", {"ranking": [[2], [1], [0, 3]]})
        _judge(s, who, "one", "rating", "g", {"rating": 1 if who == 1 else -1})
        _judge(s, who, "gases", "spans", "s", {"indices": [0], "spans": [{"start": 0, "end": 3,
                                                                           "category": "irrelevant"}],
                                               "missing": ["argon"], "corrected": "Nitrogen, oxygen, argon."})
        _judge(s, who, "one", "critique", "k", {"critique": "Remove the <script>.", "refinement": "Hi!"})
    s.close()

    from langrl.feedback import read_feedback  # the project's reader and validator of feedback files

    for kind in ("comparison", "ranking", "rating", "spans", "critique"):
        out = tmp_path / f"{kind}.jsonl"
        assert main(["export", "--db", sqlite_url, "--kind", kind, "--out", str(out)]) == 0
        assert capsys.readouterr().out.strip() == f"wrote 2 {kind} records to {out}"
        strict = read_feedback(out, kind=kind)            # validates every record of the kind
        assert len(strict) == 2 and {r.kind for r in strict} == {kind}
        assert read_feedback(out).by_kind() == {kind: 2}  # and the kind is told from the fields alone
    recs = read_feedback(tmp_path / "comparison.jsonl").records
    assert [r.tie for r in recs] == [False, True]
    assert recs[0].chosen == "It takes longer. Water boils at a lower temperature higher up."
    [r0, _] = read_feedback(tmp_path / "ranking.jsonl").records
    assert r0.tiers == [[2], [1], [0, 3]]

    assert main(["stats", "--db", sqlite_url]) == 0
    text = capsys.readouterr().out
    assert "3 items, 2 annotators" in text
    # one +1 and one -1 on the same response: alpha = 1 - (n - 1) * 2 / (n^2 - 2) with n = 2, i.e. 0
    assert "rating          2 judgements (alice 1, bob 1); 1 shared units, alpha 0.000, pairwise 0.000" in text
    assert main(["stats", "--db", sqlite_url, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    # identical rankings whose 6 pairs take several values (first, second, tie): perfect agreement
    assert stats["kinds"]["ranking"]["agreement"] == {"units": 1, "pair_units": 6, "alpha": 1.0, "pairwise": 1.0}


def test_bad_input_is_one_line_and_exit_2(tmp_path, sqlite_url, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "responses": ["a"]}\n{"prompt": "p", "responses": "a"}\n')
    assert main(["load", "--db", sqlite_url, "--items", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}:2: field 'responses': expected a list of 1..26 response strings\n"
    assert main(["load", "--db", sqlite_url, "--items", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read the items file" in capsys.readouterr().err
    assert main(["load", "--db", "mysql://x/y", "--items", str(bad)]) == 2
    assert "field 'db': expected a sqlite:/// or postgresql:// URL" in capsys.readouterr().err
    assert main(["serve", "--db", sqlite_url, "--select", "uncertainty"]) == 2
    assert "--select uncertainty needs --rm DIR" in capsys.readouterr().err
    assert main(["serve", "--db", sqlite_url, "--overlap", "1.5"]) == 2
    assert "field 'overlap'" in capsys.readouterr().err
    assert main(["add-annotator", "--db", sqlite_url, "--name", "a"]) == 0
    assert main(["add-annotator", "--db", sqlite_url, "--name", "a"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["disable-annotator", "--db", sqlite_url, "--name", "zed"]) == 2
    with pytest.raises(SystemExit) as e:                # argparse: unknown kind
        main(["export", "--db", sqlite_url, "--kind", "vibes", "--out", "x"])
    assert e.value.code == 2


def test_langrl_command_dispatches_to_annotate(sqlite_url, capsys):
    from langrl.cli import main as langrl_main

    assert langrl_main(["annotate", "add-annotator", "--db", sqlite_url, "--name", "zoe"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()[-1]) >= 30


def test_load_from_policy_samples_candidates(tmp_path, sqlite_url, toy_model_dir, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "p1", "prompt": "the cat"}\n{"prompt": "the movie was"}\n')
    rc = main(["load", "--db", sqlite_url, "--from-policy", str(toy_model_dir), "--prompts", str(prompts),
               "--n", "3", "--max-new-tokens", "6", "--json"])
    assert rc == 0
    added = json.loads(capsys.readouterr().out)["added"]
    s = Storage(sqlite_url)
    got = [s.get_item(i) for i in ("p1", "2")]
    s.close()
    assert added == sum(g is not None for g in got) >= 1
    for g in got:
        if g is not None:
            assert 1 <= len(g["responses"]) <= 3 and len(set(g["responses"])) == len(g["responses"])
    assert main(["load", "--db", sqlite_url, "--from-policy", str(toy_model_dir)]) == 2
    assert "--from-policy needs --prompts FILE" in capsys.readouterr().err


def test_serve_command_runs_a_server(tmp_path, sqlite_url, items_data):
    """``langrl annotate serve`` in a subprocess: it answers on its port, then stops on SIGINT."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import socket

    import httpx

    items = _write_items(tmp_path / "items.jsonl", items_data)
    assert main(["load", "--db", sqlite_url, "--items", items]) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-m", "langrl.annotate.cli", "serve", "--db", sqlite_url,
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, r = time.time() + 30, None
        while time.time() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r is not None and r.status_code == 200 and "Log in" in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/api/next?kind=rating").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and f"http://127.0.0.1:{port}/" in err


def test_export_trains_a_reward_model_that_then_picks_questions(tmp_path, sqlite_url, toy_model_dir, capsys):
    """The whole loop: judgements → export → ``langrl rm train`` → ``--select uncertainty --rm DIR``."""
    from fastapi.testclient import TestClient

    from langrl.annotate.select import load_scorer, scorer_name
    from langrl.annotate.server import create_app
    from langrl.cli import main as langrl_main

    s = Storage(sqlite_url)
    s.add_items([{"id": f"q{i}", "prompt": "the movie was", "responses": ["great and i loved it.",
                                                                          "bad and i hated it.", "a b c"]}
                 for i in range(6)])
    token = s.add_annotator("alice")
    for i in range(6):
        _judge(s, 1, f"q{i}", "comparison", f"c{i}", {"indices": [0, 1], "preferred": 0})
    out = tmp_path / "prefs.jsonl"
    assert main(["export", "--db", sqlite_url, "--kind", "comparison", "--out", str(out)]) == 0
    rm = tmp_path / "rm"
    assert langrl_main(["rm", "train", "--data", str(out), "--base", str(toy_model_dir), "--out", str(rm),
                        "--max-steps", "2", "--batch-size", "2", "--micro-batch-size", "2", "--ensemble", "2",
                        "--eval-fraction", "0", "--stats-samples", "8", "--json"]) == 0
    capsys.readouterr()
    client = TestClient(create_app(s, select="uncertainty", scorer=load_scorer(str(rm)),
                                   scorer_name=scorer_name(str(rm))))
    r = client.get("/api/next?kind=comparison", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["indices"] in ([0, 2], [1, 2])  # (0, 1) of every item is judged
    s.close()
